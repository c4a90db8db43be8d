"""exo.kit.coverage and the kit's generation (issue 11): the coverage space read from the spec,
the named cases recognised on real model steps, and the CLI's coverage output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from exo.impl import Kernel
from exo.interface import OPERATIONS, Cap, Config, Outcome, Status
from exo.kit.check import run_check
from exo.kit.configs import KIT_CONFIGS
from exo.kit.coverage import CASES, UNREACHABLE, Coverage, all_cells, cells_of
from exo.kit.explore import two_running_envs
from exo.model import REGISTRY, State, initial
from exo.proofs.coverage import decide, decide_sentence
from exo.spec.cells import SENTENCE_KINDS, spec_cells

EXO = str(Path(sys.executable).parent / "exo")


def run(steps: list[tuple[str, tuple[object, ...]]], cfg: Config | None = None
        ) -> tuple[State, Coverage]:
    s = initial(cfg or Config())
    cov = Coverage()
    for name, args in steps:
        new, res = REGISTRY[name](s, *args)
        cov.record(s, name, tuple(args), res, new)
        s = new
    return s, cov


BOOT = [(n, tuple(a)) for n, a in two_running_envs()]


def test_every_operation_has_its_ok_and_clause_cells() -> None:
    ids = {c.id for c in spec_cells()}
    for name, sig in OPERATIONS.items():
        assert f"{name}/OK" in ids
        assert all(c.clause == sig.clause for c in spec_cells() if c.id.startswith(name + "/"))


def test_cells_are_read_from_the_spec_text() -> None:
    ids = {c.id for c in spec_cells()}
    # MEM-4's Returns list, MEM-5's "as for MEM-4", NET-1's refusals, CPU-4's outcomes
    for cell in ("load/OK/REFILL_STLB", "load/OK/REFILL_GUARANTEED", "store/OK/REFILL_STLB",
                 "filter_install/OVERLAP", "filter_install/UNDECIDED", "timer_tick/OK/KILLED",
                 "scall/NO_TIME", "abort/TOO_EARLY", "packet_arrive/OK/RX_RING_FULL"):
        assert cell in ids, cell
    assert "timer_tick/INVALID_ARGUMENT" not in ids  # CPU-4: "Requires. Nothing"
    assert len({c.id for c in all_cells()}) == len(all_cells())


def test_a_stlb_refill_and_a_grantee_binding_broken_are_recognised() -> None:
    cfg = Config(tlb_size=1)
    steps = [*BOOT, ("alloc", (0, 2)), ("tlbwr", (0, 0, Cap(2, 0, 2), True)),
             ("tlbwr", (0, 1, Cap(2, 0, 2), True)), ("load", (0, 0, 0)),
             ("grant", (0, Cap(2, 0, 2), 1, 1)), ("tlbwr", (1, 3, Cap(2, 0, 1), False)),
             ("dealloc", (0, Cap(2, 0, 2)))]
    _, cov = run(steps, cfg)
    assert cov.counts.get("load/OK/REFILL_STLB") == 1
    assert cov.counts.get("case/TLB-6/tlb-eviction", 0) >= 1
    assert cov.counts.get("case/TLB-1/grantee-maps") == 1
    assert cov.counts.get("case/MEM-2/grantee-binding-broken") == 1


def test_a_refused_or_hostile_step_hits_only_its_status() -> None:
    """A refused call hits its status cell and no case but GEN-1's wrong type; a call
    the operation admits but refuses also hits the requirement that failed (and only it:
    no case of the text, no branch)."""
    s = initial(Config())
    new, res = REGISTRY["dealloc"](s, "x", None)
    assert cells_of(s, "dealloc", ("x", None), res, new) == [
        f"dealloc/{Status(res.status).name}", "case/GEN-1/wrong-type"]
    new, res = REGISTRY["dealloc"](s, -1, Cap(0, 0, 1))
    assert cells_of(s, "dealloc", (-1, Cap(0, 0, 1)), res, new) == [
        f"dealloc/{Status(res.status).name}", "dealloc/requires/env-in-range"]


def test_every_case_predicate_can_say_no() -> None:
    s = initial(Config())
    new, res = REGISTRY["timer_tick"](s)
    assert res.value == Outcome.NEXT_SLICE
    hit = cells_of(s, "timer_tick", (), res, new)
    assert hit == ["timer_tick/OK", "timer_tick/case/idle", "timer_tick/branch/wraps=no",
                   "timer_tick/branch/owner-runnable=no", "timer_tick/OK/NEXT_SLICE"]
    assert len(CASES) >= 20


def test_run_check_spreads_over_the_kit_configurations_and_reports_coverage() -> None:
    report = run_check(Kernel, None, steps=20, examples=len(KIT_CONFIGS) * 4, seed=5)
    assert report.passed, report.text()
    assert report.coverage is not None
    hit, total = report.coverage.summary()
    assert total == len(all_cells()) - len(UNREACHABLE) and 0 < hit <= total
    again = run_check(Kernel, None, steps=20, examples=len(KIT_CONFIGS) * 4, seed=5)
    assert again.coverage is not None and again.coverage.counts == report.coverage.counts


BROKEN = '''
from exo.impl import Kernel
from exo.interface import Result, Status


class GrantTooMuch(Kernel):
    """MEM-3: a grant of more than the capability's rights is accepted."""

    def apply(self, name, *args):
        r = super().apply(name, *args)
        if name == "grant" and r.status == Status.NO_PERMISSION:
            return Result(Status.OK, 0)
        return r
'''


def test_cli_failure_writes_a_reproduction_that_fails_alone(tmp_path: Path) -> None:
    (tmp_path / "badk.py").write_text(BROKEN)
    cmd = [EXO, "check", "--impl", "badk:GrantTooMuch",
           "--examples", "40", "--steps", "30", "--seed", "3", "--json", "out.json"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "behaviour coverage:" in proc.stdout and "Traceback" not in proc.stderr
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["conformant"] is False and out["reproduction"] == "test_exo_failure.py"
    assert out["coverage"]["cells"] == len(all_cells())
    assert out["coverage"]["reachable"] == len(all_cells()) - len(UNREACHABLE)
    repro = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            "test_exo_failure.py"], cwd=tmp_path, capture_output=True,
                           text=True, timeout=300)
    assert repro.returncode == 1 and "NO_PERMISSION" in repro.stdout, repro.stdout


def test_cli_config_is_checked_before_any_work(tmp_path: Path) -> None:
    for bad in ("n_envs=0", "tlb=1", "n_envs=x", "n_envs"):
        proc = subprocess.run([EXO, "check", "--config", bad],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, (bad, proc.stderr)
        assert "--config" in proc.stderr


BY_ID = {c.id: c for c in all_cells()}


def test_the_unreachable_cells_are_proved_for_every_size() -> None:
    for cid in sorted(UNREACHABLE):
        cell = BY_ID[cid]
        answer = decide_sentence(cell) if cell.kind in SENTENCE_KINDS else decide(cell)
        assert answer.verdict == "unreachable", cid


def test_the_reachability_question_can_say_possible() -> None:
    """Sensitivity: a hit cell is not proved unreachable (so 'unreachable' is not vacuous),
    and a model that did return NO_ENTRY from set_exception_context is caught."""
    from unittest import mock

    from exo.model import REGISTRY as REG
    assert decide(BY_ID["timer_tick/OK/KILLED"]).verdict == "possible"
    real = REG["set_exception_context"]

    def broken(s: State, env: object, exc: object, entry: object) -> object:
        new, res = real(s, env, exc, entry)
        from exo.interface import Result
        from exo.logic import If
        return new, Result(If(entry == -2, int(Status.NO_ENTRY), res.status), res.value)

    with mock.patch.dict(REG, {"set_exception_context": broken}):
        assert decide(BY_ID["set_exception_context/NO_ENTRY"]).verdict == "possible"


def test_the_shipped_witnesses_hit_every_reachable_cell_on_the_model() -> None:
    from exo.kit.witnesses import shipped, sweep
    from exo.model.kernel import ModelImplementation

    for w in shipped():  # each witness hits exactly the cells it claims
        cov = Coverage()
        assert sweep(ModelImplementation, cov, witnesses=(w,)) is None
        assert tuple(sorted(cov.counts)) == w.cells
    cov = Coverage()
    assert sweep(ModelImplementation, cov) is None
    assert [c.id for c in cov.missing()] == []
    assert not UNREACHABLE & set(cov.counts)


def test_the_default_budget_hits_every_reachable_cell() -> None:
    """``exo check``'s default budget on the bundled kernel: the coverage table has no
    MISSING row (the CI gate of issue 11)."""
    report = run_check(Kernel, None, steps=50, examples=200, seed=1)
    assert report.passed, report.text()
    assert report.coverage is not None
    assert [c.id for c in report.coverage.missing()] == []


def test_witness_values_round_trip() -> None:
    from exo.kit.witnesses import decode, encode

    for value in (Cap(1, 2, 1), b"\x00\xff", ((6, 0, 0, 1),), -1, True, None, "x", 1.5, (),
                  [1, (2,)]):
        assert decode(encode(value)) == value and type(decode(encode(value))) is type(value)
