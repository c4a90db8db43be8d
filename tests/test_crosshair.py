"""CrossHair, bounded: PEP 316 contracts on the implementation's small pure functions and
``crosshair diffbehavior`` between generated filter code and the reference interpreter.

The targets live in ``tests/crosshair_targets.py``. Every CrossHair run is a subprocess
(``sys.executable -m crosshair``) with tight time bounds; the runs share a pool as wide as
the machine so the whole file stays well under a minute. A run fails the test on any
counterexample, any error, or a non-zero exit. Two deliberately broken targets (a slot
function with the wrong modulus, a generated filter off by one on long packets) must be
reported, so neither check can pass vacuously. ``scripts/crosshair.sh`` runs the same
checks with longer bounds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.crosshair_targets import CONTRACTS, PAIRS, PREFIXED_PAIRS

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
MODULE = "tests.crosshair_targets"
CHECK_TIMEOUT = "3"  # seconds per contract
DIFF_TIMEOUT = "10"  # seconds per pair (no per-path bound: a path takes ~1.5 s)
PATH_TIMEOUT = "2"  # seconds per explored path of a contract
GUARD = 120  # seconds before a hung subprocess is killed


@dataclass(frozen=True)
class Run:
    returncode: int
    output: str


def _crosshair(*args: str) -> Run:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    proc = subprocess.run([sys.executable, "-m", "crosshair", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=GUARD, check=False)
    return Run(proc.returncode, proc.stdout + proc.stderr)


def _check(*targets: str) -> tuple[str, ...]:
    return ("check", "--analysis_kind=PEP316", "--report_all",
            "--per_condition_timeout", CHECK_TIMEOUT, "--per_path_timeout", PATH_TIMEOUT,
            *(f"{MODULE}.{t}" for t in targets))


def _diff(ref: str, gen: str) -> tuple[str, ...]:
    return ("diffbehavior", f"{MODULE}.{ref}", f"{MODULE}.{gen}",
            "--per_condition_timeout", DIFF_TIMEOUT)


ALL_PAIRS = (*sorted(PAIRS), *PREFIXED_PAIRS)

JOBS: dict[str, tuple[str, ...]] = {
    "contracts": _check(*CONTRACTS),
    "broken_contract": _check("broken_stlb_slot"),
    **{f"pair:{name}": _diff(f"ref_{name}", f"gen_{name}") for name in ALL_PAIRS},
    "broken_pair": _diff("ref_tcp_port_80_ipv4", "gen_broken_tcp_port_80_ipv4"),
}


@pytest.fixture(scope="module")
def runs() -> dict[str, Run]:
    workers = max(1, min(len(JOBS), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {name: pool.submit(_crosshair, *args) for name, args in JOBS.items()}
        return {name: f.result() for name, f in futures.items()}


def _differs(run: Run) -> bool:
    return "Given:" in run.output or "No differences found" not in run.output


def test_contracts_hold(runs: dict[str, Run]) -> None:
    run = runs["contracts"]
    assert run.returncode == 0, run.output
    lines = [ln for ln in run.output.splitlines() if ln.strip()]
    bad = [ln for ln in lines if "error" in ln.lower() or "unable to meet" in ln.lower()
           or "exception" in ln.lower()]
    assert not bad, run.output
    # --report_all gives one verdict per postcondition: every contract was analysed
    verdicts = [ln for ln in lines if "Confirmed over all paths" in ln or "Not confirmed" in ln]
    assert len(verdicts) >= len(CONTRACTS), run.output


def test_broken_contract_is_reported(runs: dict[str, Run]) -> None:
    run = runs["broken_contract"]
    assert run.returncode != 0, run.output
    assert "error: false when calling broken_stlb_slot" in run.output, run.output


@pytest.mark.parametrize("name", ALL_PAIRS)
def test_generated_filter_matches_reference(runs: dict[str, Run], name: str) -> None:
    run = runs[f"pair:{name}"]
    assert run.returncode == 0 and not _differs(run), f"{name}:\n{run.output}"


def test_broken_pair_is_reported(runs: dict[str, Run]) -> None:
    run = runs["broken_pair"]
    assert run.returncode != 0, run.output
    assert "Given:" in run.output and "gen_broken_tcp_port_80_ipv4 : returns" in run.output, \
        run.output
