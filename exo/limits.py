"""The limits every input boundary shares (a line from a kernel process or to ``exo serve``,
a saved file: counterexample, manifest, fixture), and the bounded JSON readers that
enforce them. Floor layer: nothing of the model, so every layer may use it.

Sizes of a configuration arriving from outside (a ``reset``, a saved record, a fixture)
are bounded by ``MAX_SIZE`` and ``MAX_LIMIT``; the work of one state built from it by the
callers' own bound on its entries (``exo.proofs.record.MAX_STATE_WORK``).
"""

from __future__ import annotations

import gc
import json
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

MAX_LINE_BYTES = 16 * 1024 * 1024
"""The longest protocol line read or accepted (16 MiB): a state of the largest
configurations fits."""

MAX_DEPTH = 64
"""The deepest JSON nesting accepted anywhere (a protocol state is at most 5 levels deep,
a fixture or a record about 8): Python's parser would recurse past its limit near 1,000."""

MAX_FILE_BYTES = 8 << 20
"""The largest saved file read (8 MiB). JSON text of small lists costs about 27 bytes of
memory per byte when parsed, so this keeps parsing under 300 MB and 2 s; measured on the
worst case (8 MiB of ``[0],``): 1 s and 280 MB for the whole process."""

MAX_SIZE = 4096
"""Largest value of each size field of a configuration from outside (``n_envs``,
``n_pages``, …): Aegis's own STLB has 4,096 entries."""

MAX_LIMIT = 1 << 64
"""Largest ``slice_ticks``, ``addr_limit`` and ``excess_limit`` from outside (limits, not
sizes: nothing is allocated or enumerated by them)."""

__all__ = ["MAX_DEPTH", "MAX_FILE_BYTES", "MAX_LIMIT", "MAX_LINE_BYTES", "MAX_SIZE",
           "depth_problem", "described", "loads", "number_text", "one_line", "read_file",
           "read_json", "short", "shown_path"]


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_SQUARE = bytes.maketrans(b"{}", b"[]")


def depth_problem(text: str, max_depth: int = MAX_DEPTH) -> str | None:
    """Why ``text`` nests deeper than ``max_depth`` (brackets outside strings), or None.
    Fast path, at C speed: strings removed, brackets kept, and the innermost pairs removed
    ``max_depth`` times: a balanced text nesting at most that deep is then empty. Anything
    left (too deep, or brackets that do not balance, which the parser refuses anyway) is
    decided by ``_depth_scan``, one pass character by character."""
    raw = text.encode("utf-8", "surrogatepass")  # no byte of a multi-byte character is ASCII
    brackets = _STRING.sub(b"", raw).translate(_SQUARE, _NOT_BRACKETS)
    for _ in range(max_depth):
        if not brackets:
            return None
        shorter = brackets.replace(b"[]", b"")
        if shorter == brackets:
            break
        brackets = shorter
    if not brackets:
        return None
    return _depth_scan(text, max_depth)


def _depth_scan(text: str, max_depth: int) -> str | None:
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > max_depth:
                return f"JSON nested too deeply (more than {max_depth} levels)"
        elif ch in "]}":
            depth -= 1
    return None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {short(k)}")
        out[k] = v
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads(text: str, max_depth: int = MAX_DEPTH) -> Any:
    """One JSON value, strictly: ``ValueError`` (one line) for text that is not exactly one
    JSON value, nests deeper than ``max_depth``, repeats an object key, holds NaN or
    Infinity, or a number of more than 4,300 digits."""
    problem = depth_problem(text, max_depth)
    if problem is not None:
        raise ValueError(problem)
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
                         ) from None
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    except ValueError as exc:  # duplicate keys, NaN, numbers of more than 4,300 digits
        raise ValueError(f"not usable JSON ({one_line(str(exc))})") from None


def shown_path(path: Path) -> str:
    """``path`` for a one-line message (quoted if it holds a newline or another control
    character)."""
    text = str(path)
    return text if text.isprintable() else repr(text)


def read_file(path: Path, max_bytes: int, error: Callable[[str], Exception],
              what: str) -> bytes:
    """The bytes of the regular file ``path``; anything else raises ``error(one line
    naming path)``: a missing or unreadable file, a folder, anything not a regular file (a
    device, a pipe: never opened in a way that waits), more than ``max_bytes`` (checked
    before reading, and the read itself is bounded). ``what`` names the expected content
    in messages ("counterexample", "manifest", "fixture", "program")."""
    name = shown_path(path)
    try:
        st = path.stat()
        if stat.S_ISDIR(st.st_mode):
            raise error(f"{name}: is a folder, not a {what} file")
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{name}: not a regular file, not a {what} file")
        if st.st_size > max_bytes:
            raise error(f"{name}: {st.st_size:,} bytes, larger than the {max_bytes:,} bytes "
                        f"a {what} may have")
        # the file may have been swapped since the stat (a FIFO would block the open and
        # the read): open without blocking, then judge what was opened
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
        with os.fdopen(fd, "rb") as f:
            opened = os.fstat(f.fileno())
            if not stat.S_ISREG(opened.st_mode):
                raise error(f"{name}: not a regular file, not a {what} file")
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise error(f"cannot read {what} {name}: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:
        raise error(f"{name}: larger than the {max_bytes:,} bytes a {what} may have")
    return data


def read_json(path: Path, max_bytes: int, error: Callable[[str], Exception],
              what: str) -> Any:
    """The JSON value in ``path``; anything else raises ``error(one line naming path)``.

    Refused: what ``read_file`` refuses (a missing, unreadable or non-regular file, more
    than ``max_bytes``), bytes that are not UTF-8, text that is not exactly one JSON
    value, duplicate keys, NaN/Infinity, nesting deeper than ``MAX_DEPTH``. ``what`` names
    the expected content in messages ("counterexample", "manifest", "fixture").
    """
    name = shown_path(path)
    data = read_file(path, max_bytes, error, what)
    if not data.strip():
        raise error(f"{name}: empty file, not a {what}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{name}: not UTF-8 text (byte {data[exc.start]:#04x} at offset "
                    f"{exc.start}); a {what} is JSON") from exc
    problem = depth_problem(text)
    if problem is not None:
        raise error(f"{name}: unreadable {what}, {problem}")
    enabled = gc.isenabled()
    gc.disable()  # parsing creates many containers and no cycles: no collections needed
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise error(f"{name}:{exc.lineno}:{exc.colno}: unreadable {what}, not JSON "
                    f"({exc.msg})") from exc
    except ValueError as exc:  # duplicate keys, NaN, numbers of more than 4,300 digits
        raise error(f"{name}: unreadable {what}, not usable JSON ({one_line(str(exc))})"
                    ) from exc
    except RecursionError as exc:
        raise error(f"{name}: unreadable {what}, JSON nested too deeply") from exc
    finally:
        if enabled:
            gc.enable()


def short(v: Any) -> str:
    """``repr`` cut to one short line (for messages)."""
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def number_text(v: int) -> str:
    """An integer for a message: itself, or its number of digits when it is long."""
    digits = len(str(abs(v)))
    return str(v) if digits <= 24 else f"a {digits}-digit number"


def one_line(text: str) -> str:
    """``text`` with its whitespace runs as single spaces, cut at 200 characters."""
    return " ".join(text.split())[:200]


def described(v: Any) -> str:
    """A parsed JSON value described in a few words, for a one-line message (by exact
    type: a bool is not an integer)."""
    if type(v) is bool:
        return f"{str(v).lower()} (a bool)"
    if type(v) is int:
        return f"{number_text(v)} (an integer)"
    if type(v) is float:
        return f"{short(v)} (a fraction)"
    if type(v) is str:
        return f"{short(v)} (a string)"
    if type(v) is list:
        return f"a list of {len(v)}"
    if type(v) is dict:
        return "an object"
    return "null"
