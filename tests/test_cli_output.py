"""The `exo` command in a CI log and for a first-time user (issue: every command works).

Piped output never cuts a word, long steps report progress at least every HEARTBEAT_S
seconds on standard error, each result is printed once, output paths are refused before any
work starts, usage errors are one line, and `--impl` finds a module in the current folder.

No check here reads the clock to judge speed (the machine may be loaded): "before any work"
is shown by the work itself never starting, and a heartbeat is waited for, not timed.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console

import exo.cli.cmd_bench
import exo.cli.cmd_prove
import exo.cli.cmd_verify
import exo.cli.console
import exo.proofs.runner
from exo.cli import main
from exo.cli.console import print_table, progress, table_lines
from exo.spec.clauses import index


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


EXO = str(Path(sys.executable).parent / "exo")
"""The installed console script (not `python -m`, which would put the current folder on
sys.path by itself)."""


def _no_pythonpath() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


# --------------------------------------------------------------------------- tables


def test_piped_spec_keeps_every_row_whole(runner: CliRunner) -> None:
    res = runner.invoke(main, ["spec"])
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    for c in index():
        row = [line for line in lines if line.startswith(c.id + " ")]
        assert len(row) == 1, c.id
        assert c.title in row[0] and f"spec/{c.file}:{c.line}" in row[0]
        for home in c.homes:
            assert home.removeprefix("exo.") in row[0]
    assert any("failure_unchanged" in line for line in lines)


def test_plain_table_does_not_wrap_long_cells() -> None:
    long = "x" * 300
    lines = table_lines("t", ("a", "b"), [["[red]one[/red]", long], ["two", "y"]])
    assert lines[0] == "t"
    assert any(line.startswith("one") and line.endswith(long) for line in lines)
    assert not any("[red]" in line for line in lines)


def test_terminal_table_is_a_rich_table() -> None:
    buf = io.StringIO()
    out = Console(file=buf, force_terminal=True, width=60)
    print_table(out, "t", ("a", "b"), [["one", "two"]])
    assert "┃" in buf.getvalue() or "│" in buf.getvalue()


# --------------------------------------------------------------------------- progress


WAIT_SECONDS = 60.0
"""How long a test waits for a heartbeat before it gives up: a guard against a heartbeat
that never comes, not a measure of speed (a working one comes after ``interval``, 0.02 s,
however loaded the machine: a thousandfold margin)."""


class Lines(io.StringIO):
    """A log that lets a test wait until a line matching a pattern has been written."""

    def __init__(self) -> None:
        super().__init__()
        self.written = threading.Condition()

    def write(self, s: str) -> int:
        with self.written:
            n = super().write(s)
            self.written.notify_all()
        return n

    def wait_for(self, pattern: str) -> None:
        with self.written:
            found = self.written.wait_for(
                lambda: any(re.fullmatch(pattern, ln) for ln in self.getvalue().splitlines()),
                timeout=WAIT_SECONDS)
        assert found, f"no line {pattern!r} in {self.getvalue()!r}"


def test_progress_in_a_log_has_a_start_line_and_heartbeats() -> None:
    buf = Lines()
    out = Console(file=buf, force_terminal=False)
    with progress("long step", 10, out=out, interval=0.02) as task:
        task.update(3)
        buf.wait_for(r"long step: 3/10, \d+ s")
        task.stage("second part")
        buf.wait_for(r"second part: 3/10, \d+ s")
    text = buf.getvalue().splitlines()
    assert text[0] == "long step ..."
    assert any(re.fullmatch(r"long step: 3/10, \d+ s", line) for line in text)
    assert "second part ..." in text
    assert any(line.startswith("second part: 3/10") for line in text)
    n = len(text)
    time.sleep(0.1)
    assert len(buf.getvalue().splitlines()) == n, "the heartbeat stops with the step"


def test_progress_without_heartbeat_is_silent_between_lines() -> None:
    """The heartbeat test can fail: with a long interval only the start line appears."""
    buf = io.StringIO()
    with progress("quiet", 2, out=Console(file=buf, force_terminal=False), interval=60):
        time.sleep(0.05)
    assert buf.getvalue().splitlines() == ["quiet ..."]


def test_verify_prints_each_result_once_with_progress_on_stderr(
        runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exo.cli.console, "HEARTBEAT_S", 0.01)
    res = runner.invoke(main, ["verify", "--steps", "1500", "--no-proofs"])
    assert res.exit_code == 0, res.output
    for name in ("spec index", "random walk, default sizes", "symbolic run"):
        assert len([ln for ln in res.stdout.splitlines() if ln.startswith(name)]) == 1, name
        assert f"{name} ..." in res.stderr
    assert re.search(r"^random walk, default sizes: \d+/1500, \d+ s$", res.stderr, re.M)
    assert "all 6 checks passed" in res.stdout


# --------------------------------------------------------------------------- paths first


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every long step of ``verify``, ``prove`` and ``bench`` starts with ``progress``, and
    proving with ``run_parallel``: here each fails the test if it is called."""
    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("the work started before the output path was checked")

    for module in (exo.cli.cmd_verify, exo.cli.cmd_prove, exo.cli.cmd_bench):
        monkeypatch.setattr(module, "progress", refuse)
    monkeypatch.setattr(exo.proofs.runner, "run_parallel", refuse)


@pytest.mark.parametrize("args", [
    ["verify", "--steps", "10000000", "--json", "{tmp}/missing/v.json"],
    ["verify", "--steps", "10000000", "--json", "{tmp}"],
    ["prove", "--junit", "{tmp}/missing/p.xml"],
    ["prove", "--json", "{tmp}/missing/p.json"],
    ["prove", "--cex-dir", "{tmp}/afile/sub"],
    ["prove", "--manifest", "{tmp}/nosuch.json"],
    ["bench", "--json", "{tmp}/missing/b.json"],
])
def test_bad_output_paths_are_refused_before_any_work(
        runner: CliRunner, tmp_path: Path, no_work: None, args: list[str]) -> None:
    (tmp_path / "afile").write_text("x")
    res = runner.invoke(main, [a.replace("{tmp}", str(tmp_path)) for a in args])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert res.exit_code == 2, res.output
    assert res.stdout == ""
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("exo: "), res.stderr
    assert str(tmp_path) in lines[0]


def test_usage_errors_are_one_line(runner: CliRunner, tmp_path: Path) -> None:
    for args in (["prove", "--json", str(tmp_path)], ["nosuch"], ["verify", "--steps", "x"],
                 ["check", "--examples", "0"]):
        res = runner.invoke(main, args)
        assert res.exit_code == 2, args
        lines = res.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("exo: ") and "--help" in lines[0], args


def test_bare_exo_prints_help_and_exits_0(runner: CliRunner) -> None:
    res = runner.invoke(main, [])
    assert res.exit_code == 0 and "Commands:" in res.stdout


# --------------------------------------------------------------------------- --impl from cwd


def test_check_impl_is_imported_from_the_current_folder(tmp_path: Path) -> None:
    (tmp_path / "mykernel.py").write_text(
        "from exo.impl import Kernel as _K\n\nclass Kernel(_K):\n    pass\n")
    proc = subprocess.run(
        [EXO, "check", "--impl", "mykernel:Kernel",
         "--steps", "5", "--examples", "3"],
        cwd=tmp_path, env=_no_pythonpath(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "conformant: 3 examples x 5 steps" in proc.stdout


def test_check_impl_missing_module_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [EXO, "check", "--impl", "nokernel:Kernel"],
        cwd=tmp_path, env=_no_pythonpath(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1 and "nokernel" in proc.stderr


MARKUP_KERNEL = '''
from exo.impl import Kernel


class Loud(Kernel):
    """Raises with rich markup in its message on every alloc."""

    def apply(self, name, *args):
        if name == "alloc":
            raise RuntimeError("broke [/x] here [bold]")
        return super().apply(name, *args)
'''


def test_a_kernel_error_with_markup_is_printed_as_text(tmp_path: Path) -> None:
    """The first line of a failure comes from the kernel: printed as it is, never read as
    rich markup (``[/x]`` would otherwise end the run with a MarkupError)."""
    (tmp_path / "loudk.py").write_text(MARKUP_KERNEL)
    exo = str(Path(sys.executable).parent / "exo")
    proc = subprocess.run([exo, "check", "--impl", "loudk:Loud", "--seed", "1",
                           "--examples", "5", "--steps", "5"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert "broke [/x] here [bold]" in proc.stdout
