"""Terminal and log output for the ``exo`` command: tables and progress.

On a terminal, tables are rich tables and progress is a transient bar. Anywhere else (a
pipe, a file, a CI log) nothing may be cut to a terminal width, so:

- a table is printed as plain rows: every cell whole on one line, columns padded to the
  widest cell, markup removed (``exo spec | grep failure_unchanged`` finds its row);
- progress is a line when a long step starts and then a line at least every
  ``HEARTBEAT_S`` seconds (what is done so far, seconds elapsed) until it ends, so a
  CI log never goes quiet for long.

Progress goes to standard error, results to standard output.

Text from outside (a kernel's replies and standard error, a file, a fixture, a manifest,
an exception's message, a name) is shown through ``visible`` (control characters as
visible escapes) or, inside rich markup, ``outside`` (that, and markup escaped): it can
neither break the markup nor drive the terminal.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import IO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

HEARTBEAT_S = 10.0
"""Longest quiet interval of a long step in a log (seconds)."""


def console(stderr: bool = False) -> Console:
    """The ``exo`` console: no syntax highlighting, no emoji codes (``:x:`` stays as
    written), long lines never wrapped."""
    return Console(stderr=stderr, highlight=False, soft_wrap=True, emoji=False)


_CONTROLS = r"\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff"
_UNSAFE = re.compile(r"[\x00-\x1f" + _CONTROLS + "]")
"""What ``visible`` replaces: C0 controls (ESC included), DEL, C1 controls, the Unicode
line and paragraph separators, the bidirectional overrides and isolates, lone surrogates
(a JSON file can hold them; they cannot be written as UTF-8) and the two non-characters
XML 1.0 forbids."""

_UNSAFE_IN_BLOCK = re.compile(r"[\x00-\x08\x0b-\x1f" + _CONTROLS + "]")
"""``_UNSAFE`` less tab and newline (``visible(text, block=True)``)."""

_MARKUP_TAG = re.compile(r"\[[a-z#/@][^[]*?]")
"""What rich reads as a tag (``rich.markup.RE_TAGS`` without the backslashes before it)."""

_BRACKET = re.compile(r"(\\*)\[")
"""An opening bracket and the backslashes before it."""

_OPEN_AT_END = re.compile(r"\[[^[\]]*\Z")
"""An opening bracket near the end with no closing one after it: a ``]`` written after
the text would close it into a tag."""


def _escape_one(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str, block: bool = False) -> str:
    """``text`` from outside, safe to write to a terminal, a log, JSON or XML: every
    control character (``_UNSAFE``) written as a visible escape (ESC as ``\\x1b``, a
    line separator as ``\\u2028``). ``block``: a multi-line block is intended, so tab and
    newline stay; otherwise the text stays on one line (a newline shows as ``\\x0a``)."""
    return (_UNSAFE_IN_BLOCK if block else _UNSAFE).sub(_escape_one, text)


def outside(text: str, block: bool = False) -> str:
    """``text`` from outside, to embed in rich markup: ``visible(text, block)`` with its
    brackets and backslashes escaped, so ``Text.from_markup(before + outside(t) +
    after)`` shows ``visible(t)`` whatever ``t`` holds and whatever markup surrounds it.

    Rich reads ``[`` after n backslashes as n/2 backslashes and a tag if n is even (the
    tag escaped if odd) and, where no tag follows, reads ``\\[`` as ``[``. So a tag's
    backslashes are doubled and one added, other brackets' backslashes get one more,
    and an end that could join what follows (backslashes, doubled; an unclosed bracket)
    is closed with an empty ``[none][/none]``. (``rich.markup.escape`` handles tags only:
    it loses a backslash before a bracket that opens no tag and mishandles trailing
    backslashes.)"""
    shown = visible(text, block)

    def bracket(m: re.Match[str]) -> str:
        n = len(m.group(1))
        if _MARKUP_TAG.match(shown, m.end() - 1):
            return "\\" * (2 * n + 1) + "["
        return "\\" * (n + 1 if n else 0) + "["

    shown = _BRACKET.sub(bracket, shown)
    run = len(shown) - len(shown.rstrip("\\"))
    if run or _OPEN_AT_END.search(shown):
        shown += "\\" * run + "[none][/none]"
    return shown


def plain(cell: str) -> str:
    """A cell without rich markup, on one line."""
    return Text.from_markup(cell, emoji=False).plain.replace("\n", ", ")


def table_lines(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """The table as plain text lines: a title, a header, one line per row, never cut
    (the title and the cells are rich markup, shown without it)."""
    cells = [[plain(c) for c in r] for r in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    return [plain(title), line(columns), line(["-" * w for w in widths]), *map(line, cells)]


def print_table(out: Console, title: str, columns: Sequence[str],
                rows: Sequence[Sequence[str]]) -> None:
    """A rich table on a terminal, plain rows anywhere else. The title and the cells are
    rich markup: text from outside goes in through ``outside``."""
    if out.is_terminal:
        table = Table(title=title)
        for col in columns:
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(*r)
        out.print(table)
        return
    for text in table_lines(title, columns, rows):
        out.file.write(text + "\n")
    out.file.flush()


class Task:
    """One long step's progress: ``advance`` and ``update`` may be called from callbacks."""

    def __init__(self, description: str, bar: Progress | None, task_id: TaskID | None,
                 total: int | None, stream: IO[str] | None = None) -> None:
        self.description = description
        self.completed = 0
        self.total = total
        self._bar = bar
        self._id = task_id
        self._stream = stream

    def advance(self, n: int = 1) -> None:
        self.update(self.completed + n)

    def update(self, completed: int) -> None:
        self.completed = completed
        if self._bar is not None and self._id is not None:
            self._bar.update(self._id, completed=completed)

    def stage(self, text: str) -> None:
        """Name the part of the step now running (a bar's label, or a line in a log);
        ``text`` is shown as written, never read as markup (``visible``)."""
        text = visible(text)
        self.description = text
        if self._bar is not None and self._id is not None:
            self._bar.update(self._id, description=text)
        elif self._stream is not None:
            _emit(self._stream, f"{text} ...")

    def describe(self, text: str) -> None:
        """Replace the label without a line of its own: a bar's, or what the log's next
        heartbeat line says (``text`` shown as written, never read as markup)."""
        self.description = visible(text)
        if self._bar is not None and self._id is not None:
            self._bar.update(self._id, description=self.description)

    def status(self) -> str:
        return f"{self.completed}/{self.total}" if self.total is not None else ""


@contextmanager
def progress(description: str, total: int | None = None, out: Console | None = None,
             interval: float | None = None) -> Iterator[Task]:
    """Show the progress of a long step (see the module docstring); in a log, a line every
    ``interval`` seconds (default ``HEARTBEAT_S``). ``description`` is shown as written,
    never read as markup (``visible``): it may name a path or a command."""
    description = visible(description)
    err = out or console(stderr=True)
    every = HEARTBEAT_S if interval is None else interval
    if err.is_terminal:
        with Progress(TextColumn("{task.description}", markup=False), BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), console=err,
                      transient=True) as bar:
            task_id = bar.add_task(description, total=total)
            yield Task(description, bar, task_id, total)
        return
    stream: IO[str] = err.file if err.file is not None else sys.stderr
    task = Task(description, None, None, total, stream)
    t0 = time.monotonic()
    _emit(stream, f"{description} ...")
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            done = task.status()
            _emit(stream, f"{task.description}: {done + ', ' if done else ''}"
                          f"{time.monotonic() - t0:.0f} s")

    thread = threading.Thread(target=beat, name="exo-heartbeat", daemon=True)
    thread.start()
    try:
        yield task
    finally:
        stop.set()
        thread.join()


def _emit(stream: IO[str], text: str) -> None:
    try:
        stream.write(text + "\n")
        stream.flush()
    except (OSError, ValueError):  # a closed pipe must not stop the work
        pass
