"""A reproduction file (``exo check --repro``) runs with the plain install, from any folder.

``pip install .`` installs no pytest, so the file must run as ``python FILE``: exit 1,
naming the difference, while the bug is there, 0 once it is gone. It is run here from
another folder than the one ``exo check`` ran in, by the same interpreter with pytest
made unimportable (a ``pytest.py`` first on ``PYTHONPATH`` that raises ImportError). A
kernel command given with a relative program (``--impl-cmd ./run-kernel``) is stored
with that program made absolute; a module given with ``--impl`` is imported from the
folder ``exo check`` ran in.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from exo.interface import Config
from exo.kit.lockstep import Failure
from exo.kit.replay import replay
from exo.kit.reproduction import absolute_command, write_reproduction
from tests.catalogue import AllocSkipsOwned

ROOT = Path(__file__).resolve().parent.parent
CPU_SECONDS = 120
"""A hang guard for the child processes: RLIMIT_CPU counts the child's own CPU time (not
the machine's load); each run here needs a few seconds of it."""
WAIT_SECONDS = 900
"""The last guard, for a child blocked without using CPU (never reached by a working
run, however loaded the machine)."""


def _alloc_skips_owned() -> tuple[Config, list[Any], Failure]:
    """The default configuration, the witness steps of ``AllocSkipsOwned`` and the
    failure they replay to on it."""
    cfg = Config()
    steps = list(AllocSkipsOwned.WITNESS)
    failure = replay(AllocSkipsOwned, cfg, steps)
    assert failure is not None
    return cfg, steps, failure


def _cpu_limited() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))


@pytest.fixture
def no_pytest(tmp_path: Path) -> dict[str, str]:
    """An environment in which ``import pytest`` fails, as after ``pip install .``."""
    folder = tmp_path / "no-pytest"
    folder.mkdir()
    (folder / "pytest.py").write_text('raise ImportError("pytest is not installed")\n')
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(folder)
    return env


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=WAIT_SECONDS, preexec_fn=_cpu_limited)


def test_pytest_is_unimportable_in_the_plain_environment(no_pytest: dict[str, str],
                                                         tmp_path: Path) -> None:
    """The premise of the tests below: in ``no_pytest`` the interpreter has no pytest
    (the reproduction file would otherwise be tested with it)."""
    done = run([sys.executable, "-c", "import pytest"], tmp_path, no_pytest)
    assert done.returncode == 1 and "pytest is not installed" in done.stderr


def _kernel_script(folder: Path, impl: str) -> Path:
    """``folder/run-kernel``: ``exo serve`` of ``impl`` (``tests.catalogue`` importable),
    whichever folder it is started from."""
    script = folder / "run-kernel"
    script.write_text(f"#!/bin/sh\nPYTHONPATH={ROOT} exec {sys.executable} -m exo.cli "
                      f"serve --impl {impl}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_a_command_reproduction_runs_from_another_folder_without_pytest(
        tmp_path: Path, no_pytest: dict[str, str]) -> None:
    """``exo check --impl-cmd ./run-kernel`` on a kernel with a bug writes a file that,
    run with ``python`` elsewhere, exits 1 naming the difference; once ``run-kernel``
    serves a correct kernel, the same file exits 0."""
    kernel = tmp_path / "kernel"
    elsewhere = tmp_path / "elsewhere"
    kernel.mkdir()
    elsewhere.mkdir()
    script = _kernel_script(kernel, "tests.catalogue:AllocSkipsOwned")
    repro = tmp_path / "test_repro.py"
    check = run([sys.executable, "-m", "exo.cli", "check", "--impl-cmd", "./run-kernel",
                 "--steps", "10", "--examples", "5", "--seed", "1",
                 "--step-timeout", "60", "--repro", str(repro)], kernel)
    assert check.returncode == 1, check.stdout[-2000:] + check.stderr[-2000:]
    text = repro.read_text()
    assert f"IMPL = 'cmd: {script}'" in text, text[:2000]
    assert "\nSTEP_TIMEOUT = 60.0  # exo check --step-timeout\n" in text, text[:2000]

    failing = run([sys.executable, str(repro)], elsewhere, no_pytest)
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert failing.stderr.startswith("still failing: step "), failing.stderr
    assert "(state): " in failing.stderr and "owner[" in failing.stderr, failing.stderr

    _kernel_script(kernel, "exo.impl:Kernel")  # the fix
    passing = run([sys.executable, str(repro)], elsewhere, no_pytest)
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert "no difference" in passing.stdout


def test_a_module_reproduction_imports_from_the_folder_of_the_check(
        tmp_path: Path, no_pytest: dict[str, str]) -> None:
    """``--impl tests.catalogue:AllocSkipsOwned`` as ``exo check`` runs it from the
    repository: the file, run from another folder with no PYTHONPATH to the repository,
    still finds the module (exit 1, the difference); a file naming a module that is not
    there says so in one line (exit 2)."""
    cfg, steps, failure = _alloc_skips_owned()
    repro = write_reproduction(tmp_path / "test_module.py", "tests.catalogue:AllocSkipsOwned",
                               cfg, steps, failure, cwd=ROOT)
    failing = run([sys.executable, str(repro)], tmp_path, no_pytest)
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert failing.stderr.startswith(f"still failing: step {failure.index} "), failing.stderr

    lost = write_reproduction(tmp_path / "test_lost.py", "tests.catalogue:AllocSkipsOwned",
                              cfg, steps, failure, cwd=tmp_path)
    missing = run([sys.executable, str(lost)], tmp_path, no_pytest)
    assert missing.returncode == 2, missing.stdout + missing.stderr
    assert missing.stderr.count("\n") == 1 and "cannot import 'tests.catalogue'" in \
        missing.stderr, missing.stderr


def test_the_reproduction_is_still_a_pytest_file(tmp_path: Path) -> None:
    """With pytest there, ``pytest FILE`` fails on the difference too."""
    cfg, steps, failure = _alloc_skips_owned()
    repro = write_reproduction(tmp_path / "test_module.py", "tests.catalogue:AllocSkipsOwned",
                               cfg, steps, failure, cwd=ROOT)
    done = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(repro)],
               tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed" in done.stdout and f"step {failure.index} " in done.stdout


@pytest.mark.parametrize(("typed", "expected"), [
    ("./run-kernel --quiet", "{cwd}/run-kernel --quiet"),
    ("sub/run-kernel 'two words'", "{cwd}/sub/run-kernel 'two words'"),
    ("EXO_BUG=1 ./run-kernel", "EXO_BUG=1 {cwd}/run-kernel"),
    ("./nosuch --x", "./nosuch --x"),  # not there: kept, loading it says so
    ("run-kernel", "run-kernel"),  # no '/': looked up on PATH, kept
    ("/bin/true", "/bin/true"),
    ("python3 sub/run-kernel", "python3 sub/run-kernel"),  # only the program changes
    ("'unbalanced", "'unbalanced"),
])
def test_absolute_command(tmp_path: Path, typed: str, expected: str) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("run-kernel", "sub/run-kernel"):
        (tmp_path / name).write_text("")
    assert absolute_command(typed, tmp_path) == expected.replace("{cwd}", str(tmp_path))


@pytest.mark.parametrize("stored", [12.5, None])
def test_the_reproduction_judges_a_hang_with_the_checks_step_timeout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stored: float | None) -> None:
    """``exo check --step-timeout 12.5 --impl-cmd ...`` stores the timeout in the file,
    which sets the wire client's before it replays (so a kernel the run did not call hung
    is not called hung by the file); without one the client's default stays. The replay
    is replaced by a probe that records the timeout it would run with."""
    import importlib.util

    from exo.wire import client

    cfg, steps, failure = _alloc_skips_owned()
    repro = write_reproduction(tmp_path / "test_timeout.py", "cmd: ./run-kernel", cfg, steps,
                               failure, cwd=tmp_path, step_timeout=stored)
    spec = importlib.util.spec_from_file_location("repro_timeout", repro)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.STEP_TIMEOUT == stored
    monkeypatch.setattr(client, "STEP_TIMEOUT", 5.0)
    seen: list[float] = []
    monkeypatch.setattr(module, "load_factory", lambda impl: impl)
    monkeypatch.setattr(module, "replay",
                        lambda *args: seen.append(client.STEP_TIMEOUT))
    assert module.difference() is None
    assert seen == [12.5 if stored is not None else 5.0]


@pytest.mark.parametrize("bad", [0, -1.0, float("inf"), float("nan"), True, "5"])
def test_a_step_timeout_that_is_no_positive_number_is_refused(tmp_path: Path,
                                                              bad: object) -> None:
    cfg, steps, failure = _alloc_skips_owned()
    with pytest.raises(ValueError, match="step_timeout must be a positive number"):
        write_reproduction(tmp_path / "t.py", "cmd: ./run-kernel", cfg, steps, failure,
                           step_timeout=bad)  # type: ignore[arg-type]
