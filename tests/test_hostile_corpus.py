"""The CLI contract on the hostile corpus of scripts/hostile_corpus.py.

Every case of the corpus that takes a few seconds (``Case.slow`` ones are left to the
script) runs as a child process in a session of its own under ``RLIMIT_AS`` = 500 MB,
and must: exit with the code README.md's contract gives it (0 passed, 1 a check failed,
2 bad usage or input, 4 ``exo check`` incomplete); print no "Traceback" on standard
output or error; on exit 2, print exactly one non-empty line on standard error; print no
raw terminal control bytes (ESC, BEL); and leave no process behind (its session, or
anything carrying the case's environment marker, such as a kernel in its own session).

A case whose ``known`` lists contract items is a product finding, not fixed here: it is
an expected failure (strict) that must break exactly those items and nothing else, so
both a new break and a fix are reported. No test asserts a time: the machine may be
loaded; the wall-clock guard (``GUARD``) only stops a hang, and a case it kills fails
with a message saying so. The last tests show that the harness itself sees a traceback,
a process left behind (in the session or escaped from it), a hang and the memory limit.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # scripts/ is a folder of the repository, not installed
    sys.path.insert(0, str(ROOT))

from scripts import hostile_corpus as hc  # noqa: E402

GUARD = 300.0
"""Wall-clock seconds after which a case is killed: a guard against a hang, never a
verdict on speed (the cases here take seconds)."""


class KnownDeviation(Exception):
    """A case broke exactly the contract items it is known to break (a product finding)."""


def _param(case: hc.Case) -> object:
    marks = [pytest.mark.xfail(strict=True, raises=KnownDeviation,
                               reason=f"known: {', '.join(case.known)}: {case.note}")
             ] if case.known else []
    return pytest.param(case, id=case.name, marks=marks)


CASES = [c for c in hc.cases() if not c.slow]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[hc.Workspace]:
    yield hc.Workspace(tmp_path_factory.mktemp("hostile"))


def _describe(r: hc.Result, ws: hc.Workspace) -> str:
    return (f"\n  $ {hc.short(r.command, ws.root)}\n  exit {r.exit}, "
            f"{r.stderr_lines} lines on stderr, first: {r.stderr_first!r}, "
            f"last: {r.stderr_last!r}")


def test_corpus_names_are_unique() -> None:
    names = [c.name for c in hc.cases()]
    assert len(names) == len(set(names))
    assert all(set(c.known) <= set(hc.KNOWN_KINDS) for c in hc.cases())


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_hostile_case(case: hc.Case, workspace: hc.Workspace) -> None:
    r = hc.run_case(case, workspace, guard=GUARD)
    if r.guard_killed:
        pytest.fail(f"killed by the {GUARD:.0f} s wall-clock guard (a hang, or a machine "
                    f"far slower than expected): {_describe(r, workspace)}")
    broken = hc.violations(r)
    new = {k: v for k, v in broken.items() if k not in case.known}
    assert not new, f"off the contract: {new}{_describe(r, workspace)}"
    fixed = [k for k in case.known if k not in broken]
    assert not fixed, (f"known deviation(s) {fixed} no longer seen: update the case's "
                       f"`known` in scripts/hostile_corpus.py{_describe(r, workspace)}")
    if case.known:
        raise KnownDeviation(f"{broken}{_describe(r, workspace)}")


# --- the harness can fail -----------------------------------------------------------------

PY = sys.executable


def _gone(pids: list[int]) -> bool:
    """Wait (at most GUARD seconds, a guard) until none of ``pids`` is alive."""
    deadline = time.monotonic() + GUARD
    while any(hc.session_of(pid) is not None for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_harness_sees_a_traceback() -> None:
    r = hc.run_command([PY, "-c", "raise ValueError('boom')"], expected=1)
    assert r.exit == 1 and r.traceback
    assert "traceback" in hc.violations(r)


def test_harness_sees_a_wrong_exit_and_extra_lines() -> None:
    r = hc.run_command([PY, "-c", "import sys; print('a\\nb', file=sys.stderr); "
                                  "raise SystemExit(2)"], expected=1)
    assert r.exit == 2 and r.stderr_lines == 2 and not r.traceback
    assert set(hc.violations(r)) == {"exit", "stderr-lines"}


def test_harness_sees_a_process_left_in_the_session() -> None:
    r = hc.run_command(["sh", "-c", "sleep 1000 & exit 2"], expected=2)
    try:
        assert r.exit == 2
        assert r.left_behind == 1, r.left_pids
        assert "left-behind" in hc.violations(r)
    finally:
        hc.kill_all(r.left_pids)
    assert _gone(r.left_pids), f"left-behind processes survived SIGKILL: {r.left_pids}"


def test_harness_sees_a_process_escaped_from_the_session() -> None:
    code = ("import subprocess; subprocess.Popen(['sleep', '1000'], start_new_session=True, "
            "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)")
    r = hc.run_command([PY, "-c", code], expected=0)
    try:
        assert r.exit == 0 and r.left_behind == 1, r.left_pids
        assert all(hc.session_of(pid) in (pid, None) for pid in r.left_pids)
    finally:
        hc.kill_all(r.left_pids)
    assert _gone(r.left_pids)


def test_harness_guard_kills_a_hang() -> None:
    r = hc.run_command(["sh", "-c", "sleep 1000"], guard=1.0, expected=0)
    assert r.guard_killed and r.exit == -9
    assert "hang" in hc.violations(r)
    assert r.left_behind == 0


def test_harness_limits_memory() -> None:
    """The child's peak counts the copy of this (pytest worker) process made at the fork
    (and the few pages the child touches before its exec: SLACK_MB), so the bound is the
    larger of the limit and that copy; the allocation asked for is larger than the bound,
    so the bound fails whenever RLIMIT_AS is not in force."""
    slack_mb = 32
    own_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10
    ask_mb = max(600, own_mb, hc.MEMORY_LIMIT >> 20) + 4 * slack_mb
    r = hc.run_command([PY, "-c", f"b = b'x' * ({ask_mb} << 20)"], expected=0)  # resident
    assert r.exit == 1 and r.traceback  # MemoryError: RLIMIT_AS is in force
    assert r.fork_mb >= own_mb
    assert r.peak_mb <= max(hc.MEMORY_LIMIT >> 20, r.fork_mb) + slack_mb < ask_mb


def test_harness_sees_raw_escapes() -> None:
    r = hc.run_command([PY, "-c", "print('\\x1b]0;title\\x07')"], expected=0)
    assert r.exit == 0 and r.raw_escapes
    assert set(hc.violations(r)) == {"escapes"}


def test_harness_counts_the_child_only() -> None:
    """The harness's own process is never counted as left behind."""
    r = hc.run_command([PY, "-c", "pass"], expected=0)
    assert r.left_behind == 0 and os.getpid() not in r.left_pids
    assert hc.violations(r) == {}
