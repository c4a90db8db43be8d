"""How ``--impl-cmd`` starts a kernel (WIRE-1, "Starting the process"): words split as a
POSIX shell splits them, leading ``NAME=VALUE`` words added to the environment, nothing
else of a shell; ``sh -c`` for the rest."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from exo.cli import main
from exo.wire import fixtures
from exo.wire.client import WireKernel, command_line

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = f"""
import os, sys
sys.path.insert(0, {str(ROOT)!r})
from exo.cli import main
planted = os.environ.get("EXO_PLANT") == "1"
main(["serve", "--impl", "tests.catalogue:GrantSkipsHolders" if planted else "exo.impl:Kernel"])
"""
"""A kernel process whose bug is switched on by its environment (``EXO_PLANT=1``)."""


def test_leading_assignments_are_the_environment() -> None:
    assert command_line(["EXO_BUG=1", "A_2=x=y", "python3", "k.py", "B=3"]) == (
        {"EXO_BUG": "1", "A_2": "x=y"}, ["python3", "k.py", "B=3"])
    assert command_line(["./k", "--flag"]) == ({}, ["./k", "--flag"])
    assert command_line(["=1", "k"]) == ({}, ["=1", "k"])  # not a name: the program
    for words in ([], ["EXO_BUG=1"]):
        with pytest.raises(ValueError, match="no program"):
            command_line(words)


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("fx")
    fixtures.build(d, seed=0, extra=0, generated=0)
    return d


def _run(suite: Path, command: str) -> tuple[int, str]:
    res = CliRunner().invoke(main, ["fixtures", "run", str(suite), "-k", "witness-0",
                                    "--impl-cmd", command])
    WireKernel.close_all()
    return res.exit_code, res.output


def test_an_assignment_reaches_the_kernel_and_sh_c_works_too(suite: Path,
                                                              tmp_path: Path) -> None:
    script = tmp_path / "k.py"
    script.write_text(SCRIPT)
    python = shlex.quote(sys.executable)
    plain, _ = _run(suite, f"{python} {script}")
    assert plain == 0
    planted, out = _run(suite, f"EXO_PLANT=1 {python} {script}")
    assert planted == 1 and "FAILED" in out, out
    shell, out = _run(suite, f"sh -c 'EXO_PLANT=1 exec {python} {script}'")
    assert shell == 1 and "FAILED" in out, out


def test_a_command_of_assignments_only_is_a_usage_error(suite: Path) -> None:
    code, out = _run(suite, "EXO_PLANT=1")
    assert code == 2 and "no program" in out and "Traceback" not in out, out
    code, out = _run(suite, "EXO_PLANT=1 /no/such/kernel")
    assert code == 2 and "cannot start" in out and "Traceback" not in out, out


def test_a_step_timeout_lasts_one_command() -> None:
    """``--step-timeout`` is this run's: a later run in the same process (CliRunner, or a
    program calling main()) is back to the default (it once leaked, and a later test's
    slow Z3 question over the wire was called hung after 2 s)."""
    from exo.wire import client

    default = client.STEP_TIMEOUT
    res = CliRunner().invoke(main, ["check", "--impl-cmd", "/nonexistent/kernel",
                                    "--step-timeout", "2"])
    assert res.exit_code == 2
    assert client.STEP_TIMEOUT == default
