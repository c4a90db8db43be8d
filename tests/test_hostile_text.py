"""Text from outside is shown, never obeyed (issue 24): rich markup (``[/x]``, ``[bold]``,
``[link=...]``) and terminal escapes (a window title, clear screen, a hyperlink) in a
kernel's replies and standard error, a fixture's name or a manifest's entry reach the
report as visible text. Every command keeps its documented exit code, prints no
traceback, writes its report (table, ``--json``, ``--junit``) whole, and writes no raw
ESC or BEL byte.

``exo.cli.console.outside`` and ``visible`` are also checked on their own: whatever the
text, rich shows exactly ``visible(text)`` around any markup."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.text import Text

from exo.cli import main
from exo.cli.console import outside, table_lines, visible
from exo.proofs import runner as proof_runner
from exo.proofs.obligations import obligations

EXO = str(Path(sys.executable).parent / "exo")

MARKUP = "[/x] [bold]b [link=http://x]l[/link] \\"
ESCAPES = "\x1b]0;title\x07 \x1b[2J \x1b]8;;http://x\x1b\\ \x9b1m \u202e"
HOSTILE = f"{MARKUP} {ESCAPES} end"
"""Markup that breaks rich (an unmatched closing tag, a trailing backslash), and escapes
that set the window title, clear the screen, open a hyperlink, a C1 CSI and a right-to-left
override."""

RAW = ("\x1b", "\x07", "\x9b", "\u202e")
"""Bytes (as text) none of the outputs may hold."""

KERNEL = '''
import json, sys
from exo.impl import Kernel
from exo.wire.server import serve

HOSTILE = {hostile!r}
LIMIT = int(sys.argv[1])


def main() -> int:
    applies = 0

    def write(line: str) -> None:
        nonlocal applies
        kind = json.loads(line).get("type")
        if kind == "ready":
            applies = 0
        if kind == "result":
            applies += 1
            if applies >= LIMIT:
                sys.stderr.write(HOSTILE + "\\n")
                sys.stderr.flush()
                line = "not json " + HOSTILE
        sys.stdout.write(line + "\\n")
        sys.stdout.flush()

    return serve(lambda cfg: Kernel(cfg), iter(sys.stdin.readline, ""), write)


sys.exit(main())
'''
"""A kernel that serves ``exo.impl.Kernel`` until the LIMIT-th ``apply`` after a reset,
then writes HOSTILE on its standard error and answers a line that is not JSON and
carries HOSTILE (the client quotes the reply and the end of the standard error)."""


def _kernel(tmp_path: Path, limit: int = 3) -> str:
    script = tmp_path / "hostile_kernel.py"
    script.write_text(KERNEL.format(hostile=HOSTILE))
    return f"{sys.executable} {script} {limit}"


def _exo(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([EXO, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          encoding="utf-8", errors="strict", timeout=600)


def _clean(out: str, err: str) -> None:
    """No traceback of exo's own on standard error (a failure report on standard output
    may quote the implementation's), no markup error, no raw control byte anywhere."""
    assert "Traceback" not in err, err[-2000:]
    for name, text in (("stdout", out), ("stderr", err)):
        assert "MarkupError" not in text and "rich.errors" not in text, text[-2000:]
        for raw in RAW:
            assert raw not in text, f"{name} holds {raw!r}: {text[-2000:]!r}"


# --------------------------------------------------------------------------- the functions


def test_outside_shows_exactly_the_visible_text_in_any_markup() -> None:
    """``Text.from_markup(before + outside(t) + after)`` shows ``visible(t)`` where
    ``before``/``after`` show as themselves: random texts of brackets, backslashes, tag
    names and control characters, between markup that opens and closes styles."""
    pieces = ["[", "]", "\\", "/", "=", "@", "#", " ", "a", "bold", "link", "red", "2",
              "\x1b", "\x07", "\n", "\t", "\x9b", "\u2028", "\u202e", "\ud800", ":smile:"]
    around = [("", ""), ("[red]", "[/red]"), ("[i]x ", "]y[/]"), ("[b]", "old] [/b]"),
              ("", "[dim]z[/dim]"), ("w", "\\[v")]
    rnd = random.Random(24)
    for _ in range(20_000):
        text = "".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 12)))
        shown = visible(text)
        assert not any(ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f for c in shown), repr(text)
        for before, after in around:
            want = Text.from_markup(before + "Q" + after, emoji=False).plain
            got = Text.from_markup(before + outside(text) + after, emoji=False).plain
            assert got == want.replace("Q", shown), (text, before, after)


def test_visible_keeps_tab_and_newline_only_in_a_block() -> None:
    assert visible("a\tb\nc") == "a\\x09b\\x0ac"
    assert visible("a\tb\nc\x1b", block=True) == "a\tb\nc\\x1b"
    assert visible(ESCAPES) == ("\\x1b]0;title\\x07 \\x1b[2J \\x1b]8;;http://x\\x1b\\ "
                                "\\x9b1m \\u202e")


def test_a_table_shows_outside_cells_as_written() -> None:
    lines = table_lines(f"title {outside(HOSTILE)}", ("a", "b"),
                        [[outside(HOSTILE), "[green]ok[/green]"]])
    assert lines[0] == f"title {visible(HOSTILE)}"
    assert lines[3].startswith(visible(HOSTILE)) and lines[3].endswith("ok")


def test_on_a_terminal_tables_and_progress_show_outside_text(tmp_path: Path) -> None:
    """The rich paths (a terminal): a table's title and cells, a progress bar's label
    and stage; the only escapes written are rich's own styles (SGR, ``ESC [ ... m``)."""
    import io
    import re

    from rich.console import Console

    from exo.cli.console import print_table, progress

    buffer = io.StringIO()
    out = Console(file=buffer, force_terminal=True, width=400, highlight=False, emoji=False)
    print_table(out, f"title {outside(HOSTILE)}", ("a", "b"),
                [[outside(HOSTILE), "[green]ok[/green]"]])
    with progress(f"label {HOSTILE}", 2, out=out) as task:
        task.stage(f"stage {HOSTILE}")
        task.advance()
    written = buffer.getvalue()
    assert visible(HOSTILE) in written
    others = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", written)  # rich's own control sequences
    assert visible(HOSTILE) in others
    assert "\x1b" not in others and "\x07" not in others and "\x9b" not in others


# --------------------------------------------------------------------------- exo check


def test_check_on_a_kernel_that_answers_markup_and_escapes(tmp_path: Path) -> None:
    """The failure is reported (exit 1) with the kernel's words shown, the JSON report
    written, the failure recorded; ``--replay`` shows it again the same way."""
    kernel = _kernel(tmp_path)
    proc = _exo(["check", "--impl-cmd", kernel, "--examples", "2", "--steps", "5",
                 "--seed", "1", "--json", "check.json", "--repro", "repro.py"], tmp_path)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    _clean(proc.stdout, proc.stderr)
    assert "behaviour coverage:" in proc.stdout and "not conformant" in proc.stdout
    assert visible(ESCAPES) in proc.stdout  # the standard error, as visible escapes
    assert "[/x] [bold]b" in proc.stdout  # the markup, as written
    report = json.loads((tmp_path / "check.json").read_text())
    assert report["verdict"] == "not conformant" and report["conformant"] is False
    assert visible(ESCAPES) in report["error"] + report["program"]
    assert not any(raw in report["error"] for raw in RAW)
    assert "exo check --replay" in proc.stdout  # recorded

    again = _exo(["check", "--replay", "--json", "replay.json", "--repro", "again.py"],
                 tmp_path)
    assert again.returncode == 1, again.stdout[-2000:] + again.stderr[-2000:]
    _clean(again.stdout, again.stderr)
    assert "replaying the failure recorded" in again.stdout
    replay = json.loads((tmp_path / "replay.json").read_text())
    assert replay["mode"] == "replay" and replay["verdict"] == "not conformant"
    assert replay["conformant"] is False and replay["replay"]["calls"] > 0
    assert not any(raw in replay["recorded"]["error"] for raw in RAW)


def test_check_with_markup_in_the_command_line(tmp_path: Path) -> None:
    """A kernel command (shown in the progress line and the failure) that holds markup:
    a kernel that cannot start is a usage error, one line, exit 2."""
    proc = _exo(["check", "--impl-cmd", f"{tmp_path}/no-such-kernel [/x]\x1b[2J",
                 "--examples", "1", "--steps", "1"], tmp_path)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    _clean(proc.stdout, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("exo: ")]
    assert len(lines) == 1 and "[/x]" in lines[0]


def test_check_usage_error_quoting_an_exception(tmp_path: Path) -> None:
    """An implementation that cannot be built, with markup, escapes and a newline in its
    exception's message: a usage error on one line (exit 2), the message shown."""
    (tmp_path / "hostile_factory.py").write_text(
        f"def make(cfg):\n    raise RuntimeError({HOSTILE + chr(10) + 'second line'!r})\n")
    proc = _exo(["check", "--impl", "hostile_factory:make", "--examples", "1",
                 "--steps", "1"], tmp_path)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    _clean(proc.stdout, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("exo: ")]
    assert len(lines) == 1 and visible(HOSTILE + "\nsecond line") in lines[0]
    assert "second line" not in proc.stderr.replace(lines[0], "")


# --------------------------------------------------------------------------- exo fixtures


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The witness fixtures (no random or generated programs)."""
    folder = tmp_path_factory.mktemp("fixtures") / "suite"
    proc = _exo(["fixtures", "build", str(folder), "--random", "0", "--generated", "0"],
                folder.parent)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return folder


def _one_fixture(suite: Path, where: Path, name: str) -> Path:
    """A folder holding one witness fixture, renamed ``name``."""
    where.mkdir()
    data = json.loads((suite / "witness-00.json").read_text())
    data["name"] = name
    (where / "witness-00.json").write_text(json.dumps(data))
    return where


def _junit_names(path: Path) -> list[str]:
    suite = ET.parse(path).getroot()  # parses: no character XML 1.0 forbids
    return [case.get("name", "") for case in suite.iter("testcase")]


def test_fixture_named_in_markup_passes_and_is_shown_as_written(suite: Path,
                                                                tmp_path: Path) -> None:
    name = "hostile " + MARKUP.rstrip("\\")
    folder = _one_fixture(suite, tmp_path / "one", name)
    proc = _exo(["fixtures", "run", str(folder), "--junit", "fx.xml"], tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    _clean(proc.stdout, proc.stderr)
    assert "fixtures: 1 of 1 passed" in proc.stdout and name in proc.stdout
    assert _junit_names(tmp_path / "fx.xml") == [name]


def test_fixture_named_with_escapes_is_shown_or_refused_never_obeyed(
        suite: Path, tmp_path: Path) -> None:
    """A name holding control characters: run and shown as visible escapes (exit 0, the
    JUnit file parses), or refused as a damaged fixture (exit 2, one line)."""
    name = "hostile " + HOSTILE
    folder = _one_fixture(suite, tmp_path / "one", name)
    proc = _exo(["fixtures", "run", str(folder), "--junit", "fx.xml"], tmp_path)
    _clean(proc.stdout, proc.stderr)
    assert proc.returncode in (0, 2), proc.stdout[-2000:] + proc.stderr[-2000:]
    if proc.returncode == 0:
        assert visible(name) in proc.stdout
        assert _junit_names(tmp_path / "fx.xml") == [visible(name)]
    else:
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("exo: ")]
        assert len(errors) == 1 and "name" in errors[0]
        assert not (tmp_path / "fx.xml").exists()


def test_fixtures_on_a_kernel_that_answers_markup_and_escapes(suite: Path,
                                                              tmp_path: Path) -> None:
    """Every fixture fails (exit 1) with the kernel's words in its detail: the table and
    the JUnit file show them as visible escapes, and the file parses."""
    folder = _one_fixture(suite, tmp_path / "one", "hostile " + MARKUP.rstrip("\\"))
    proc = _exo(["fixtures", "run", str(folder), "--impl-cmd", _kernel(tmp_path),
                 "--junit", "fx.xml"], tmp_path)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    _clean(proc.stdout, proc.stderr)
    # the kernel's reply reaches the detail quoted by the wire client (as Python shows a
    # string: a backslash doubled) or as it was: either way every control character is
    # a visible escape
    shown = (visible(ESCAPES), repr(ESCAPES)[1:-1])
    assert "fixtures: 0 of 1 passed" in proc.stdout
    assert any(text in proc.stdout for text in shown), proc.stdout[-2000:]
    root = ET.parse(tmp_path / "fx.xml").getroot()
    failure = root.find("testcase/failure")
    assert failure is not None and any(text in (failure.text or "") for text in shown)


# --------------------------------------------------------------------------- exo prove


def test_manifest_entry_in_markup_and_escapes(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A manifest naming an obligation that does not exist, in markup and escapes: the run
    (one obligation, standing in for all of them: the manifest is compared as for a
    complete run) fails with the entry listed (exit 1), the table, --json and --junit
    written, the name shown the same way everywhere."""
    one = [ob for ob in obligations() if ob.name == "init/INV-1"]
    monkeypatch.setattr(proof_runner, "select", lambda pattern: one)
    monkeypatch.chdir(tmp_path)
    shipped = proof_runner.load_manifest(proof_runner.default_manifest_path())
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"obligations": {
        "init/INV-1": shipped.entries["init/INV-1"],
        HOSTILE: {"expect": "proved", "rlimit": 1000}}}))
    result = CliRunner().invoke(main, ["prove", "-j", "1", "--manifest", str(manifest),
                                       "--json", "p.json", "--junit", "p.xml"])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    _clean("", result.output)
    assert "exo prove: 1 obligations" in result.output
    assert f"manifest: {visible(HOSTILE)}: in the manifest but no such obligation" \
        in result.output
    data = json.loads((tmp_path / "p.json").read_text())
    assert [m["name"] for m in data["manifest_mismatches"]] == [visible(HOSTILE)]
    assert visible(HOSTILE) in _junit_names(tmp_path / "p.xml")
