"""exo.kit.lockstep: deterministic lockstep replay, step deletion and reproduction files."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from exo.impl import Kernel
from exo.interface import OUTCOME_OPS, Cap, Config, ExcKind, Outcome, Result, Rights, Status
from exo.kit.explore import two_running_envs
from exo.kit.lockstep import Failure, Lockstep, Step
from exo.kit.replay import minimize, replay
from exo.kit.reproduction import write_reproduction
from exo.kit.text import describe, show_result
from exo.kit.values import NAMED_PROGRAMS, Packet
from exo.model import REGISTRY

CFG = Config()

# --------------------------------------------------------------------------- broken kernels


class StaleOwner(Kernel):
    """dealloc answers OK but the page stays with its owner (a state bug)."""

    def apply(self, name: str, *args: Any) -> Result:
        owners = list(self.state.owner)
        res = super().apply(name, *args)
        if name == "dealloc" and res.status == Status.OK:
            self.state.owner[:] = owners
        return res


class WrongOutcome(Kernel):
    """A TLB hit reported as a refill from the STLB (a result bug)."""

    def apply(self, name: str, *args: Any) -> Result:
        res = super().apply(name, *args)
        if name == "load" and res.status == Status.OK and res.value == Outcome.ACCESS:
            return Result(Status.OK, int(Outcome.REFILL_STLB))
        return res


class RaisesOnGrant(Kernel):
    """grant divides by zero (GEN-1: apply must never raise)."""

    def apply(self, name: str, *args: Any) -> Result:
        if name == "grant":
            return Result(Status.OK, 1 // 0)
        return super().apply(name, *args)


def boot() -> list[Step]:
    return [(n, tuple(a)) for n, a in two_running_envs()]


def mapped() -> list[Step]:
    """Two running envs; env 0 owns page 2, mapped writable at virtual page 0."""
    return [*boot(), ("alloc", (0, 2)), ("tlbwr", (0, 0, Cap(2, 0, 2), True))]


PADDING: list[Step] = [
    *[("set_reg", (r, 100 + r)) for r in range(4)],
    *[("packet_arrive", (bytes([9, i]),)) for i in range(4)],
    ("env_create", (3, 3)), ("slice_alloc", (3, 2)), ("set_exception_context", (3, 1, 7)),
    ("alloc", (1, 5)), ("alloc", (1, 6)), ("grant", (1, Cap(5, 0, 2), 0, 1)),
    ("cid_switch", (9, 9)), ("tlbvadelete", (1, 3)), ("gm_clear", (1, 0)),
    ("filter_remove", (0, 0)), ("packet_take", (1,)), ("abort", (2,)),
]
assert len(PADDING) == 20


# --------------------------------------------------------------------------- replay


def test_conforming_program_replays_clean() -> None:
    steps = [*mapped(), ("store", (0, 1, 0)), ("load", (0, 1, 2)), *PADDING,
             ("dealloc", (0, Cap(2, 0, 2))), ("load", (0, 0, 0)), ("timer_tick", ())]
    assert replay(Kernel, CFG, steps) is None


def test_lockstep_exposes_model_impl_and_result() -> None:
    ls = Lockstep(Kernel, CFG)
    assert ls.conforms() is None
    for name, args in mapped():
        assert ls.step(name, args) is None
    assert ls.step("load", (0, 0, 0)) is None
    assert ls.result == Result(Status.OK, int(Outcome.ACCESS))
    assert ls.model.owner[2] == 0
    assert isinstance(ls.impl, Kernel) and ls.impl.state.owner[2] == 0


def test_state_difference() -> None:
    steps = [*mapped(), ("dealloc", (0, Cap(2, 0, 2)))]
    f = replay(StaleOwner, CFG, steps)
    assert f is not None and f.kind == "state" and f.index == len(steps) - 1
    assert "owner[2]: model -1, implementation 0" in f.message
    assert "dealloc(0, Cap(2, 0, 2))" in f.message


def test_result_difference_names_outcomes() -> None:
    steps = [*mapped(), ("load", (0, 0, 0))]
    f = replay(WrongOutcome, CFG, steps)
    assert f is not None and f.kind == "result" and f.index == len(steps) - 1
    assert "model returns OK ACCESS" in f.message
    assert "implementation returns OK REFILL_STLB" in f.message
    assert "OK:" not in f.message and ":1" not in f.message


def test_raised_carries_traceback() -> None:
    steps = [*mapped(), ("grant", (0, Cap(2, 0, 2), 1, 1))]
    f = replay(RaisesOnGrant, CFG, steps)
    assert f is not None and f.kind == "raised" and f.index == len(steps) - 1
    assert "ZeroDivisionError" in f.message
    assert "Traceback (most recent call last)" in f.message
    assert "1 // 0" in f.message  # the offending line of the implementation
    assert "the model returns OK Cap(2, 0, 1)" in f.message


def test_factory_and_observe_failures() -> None:
    def broken_factory(cfg: Config) -> Kernel:
        raise RuntimeError("no kernel today")

    f = replay(broken_factory, CFG, boot())
    assert f is not None and (f.kind, f.index) == ("factory", -1)
    assert "no kernel today" in f.message

    class BadObserve(Kernel):
        def observe(self) -> dict[str, Any]:
            return {"no_such_field": 1}

    f = replay(BadObserve, CFG, [])
    assert f is not None and (f.kind, f.index) == ("observe", -1)
    assert "no_such_field" in f.message


def test_invariant_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    import exo.kit.lockstep

    monkeypatch.setattr(exo.kit.lockstep, "check", lambda s: {"INV-1": ["i=0"]})
    f = replay(Kernel, CFG, [("env_create", (0, 0))])
    assert f is not None and (f.kind, f.index) == ("invariant", -1)
    assert "model invariant violated: INV-1 at i=0" in f.message


def test_failure_sticks() -> None:
    ls = Lockstep(WrongOutcome, CFG)
    for name, args in mapped():
        assert ls.step(name, args) is None
    first = ls.step("load", (0, 0, 0))
    assert first is not None
    assert ls.step("timer_tick", ()) is first


# --------------------------------------------------------------------------- minimize


def test_minimize_deletes_irrelevant_steps() -> None:
    base = mapped()
    steps: list[Step] = [*base[:5], *PADDING[:10], *base[5:], *PADDING[10:],
                         ("load", (0, 0, 0)), ("timer_tick", ()), ("set_reg", (0, 1))]
    f = replay(WrongOutcome, CFG, steps)
    assert f is not None and f.kind == "result"
    short, g = minimize(WrongOutcome, CFG, steps, f)
    assert g.kind == "result"
    assert replay(WrongOutcome, CFG, short) == g
    assert short[-1] == ("load", (0, 0, 0))
    assert not [s for s in short if s in PADDING]
    assert len(short) <= len(steps) - 23
    # what remains: a running env, alloc, tlbwr, load — far below the 27 steps of mapped()
    assert len(short) < len(base)


def test_minimize_factory_failure_is_empty() -> None:
    def broken_factory(cfg: Config) -> Kernel:
        raise RuntimeError("no")

    f = replay(broken_factory, CFG, mapped())
    assert f is not None
    short, g = minimize(broken_factory, CFG, mapped(), f)
    assert short == [] and g.kind == "factory"


# --------------------------------------------------------------------------- rendering


def test_show_result() -> None:
    assert show_result("load", Result(Status.OK, int(Outcome.ACCESS))) == "OK ACCESS"
    assert show_result("timer_tick", Result(0, 7)) == "OK SLICE_END"
    assert show_result("load", Result(Status.NOT_RUNNING, 0)) == "NOT_RUNNING"
    assert show_result("alloc", Result(Status.OK, Cap(1, 0, 2))) == "OK Cap(1, 0, 2)"
    assert show_result("load", Result(0, 99)) == "OK 99 (not an Outcome)"
    assert show_result("env_create", Result(0, 2)) == "OK 2"
    assert show_result("load", Result(77, 0)) == "77 (not a Status) 0"
    assert show_result("load", None) == "None (not a Result)"
    assert show_result("filter_install", Result(Status.OVERLAP, "0a0b")) == "OVERLAP '0a0b'"


def test_outcome_ops_are_the_models() -> None:
    """Every operation of OUTCOME_OPS returns an Outcome when it succeeds; the others
    tested here do not (a smoke check against the model)."""
    assert OUTCOME_OPS <= set(REGISTRY)
    assert {"load", "store", "timer_tick", "raise_exception", "packet_arrive",
            "yield_to"} == OUTCOME_OPS


def test_describe_is_runnable() -> None:
    program = NAMED_PROGRAMS[0]
    packet = Packet("two bytes", b"\x01\xff")
    args = (ExcKind.OVERFLOW, Cap(1, Rights.READ, 2), program, packet, True, b"",
            (), None, 1.5, "x")
    text = describe("call", args)
    assert "bytes.fromhex('01ff')" in text and "Cap(1, 1, 2)" in text
    assert "OVERFLOW" not in text and "two bytes" not in text
    back = eval(text.replace("call(", "("), {"Cap": Cap})
    assert back == (2, Cap(1, 1, 2), tuple(program), b"\x01\xff", True, b"", (), None, 1.5,
                    "x")
    assert type(back[2]) is tuple and type(back[3]) is bytes
    assert describe("packet_arrive", (b"\x00",)) == "packet_arrive(bytes.fromhex('00'))"
    assert describe("filter_install", (0, ((6, 0, 0, 1),))) == (
        "filter_install(0, ((6, 0, 0, 1),))")


# --------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize("steps", [
    [("frobnicate", ())],
    [("load", 5)],
    ["load"],
    [(3, ())],
])
def test_bad_steps_are_value_errors(steps: Any) -> None:
    with pytest.raises(ValueError) as info:
        replay(Kernel, CFG, steps)
    assert "\n" not in str(info.value) and str(info.value).startswith("step 0")


def test_bad_step_and_config_one_line() -> None:
    ls = Lockstep(Kernel, CFG)
    with pytest.raises(ValueError, match="unknown operation 'nope'"):
        ls.step("nope", ())
    with pytest.raises(ValueError, match="bad configuration"):
        replay(Kernel, Config(n_envs=0), [])


def test_hostile_arguments_conform() -> None:
    steps: list[Step] = [("load", ("x",)), ("alloc", (None, 1.5)), ("grant", ()),
                         ("tlbwr", (0, 0, Cap("p", 0, 1), 1)),
                         ("packet_arrive", (bytes(70000),)), ("yield_to", (-(2**70),))]
    assert replay(Kernel, CFG, steps) is None


# --------------------------------------------------------------------------- reproduction


def _run(file: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(file)], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_reproduction_fails_then_passes(tmp_path: Path) -> None:
    module = tmp_path / "broken_kernel.py"
    module.write_text("from typing import Any\n\nfrom exo.impl import Kernel\n"
                      "from exo.interface import Outcome, Result, Status\n\n\n"
                      + inspect.getsource(WrongOutcome))
    steps = [*mapped(), *PADDING[:3], ("load", (0, 0, 0))]
    f = replay(WrongOutcome, CFG, steps)
    assert f is not None
    short, g = minimize(WrongOutcome, CFG, steps, f)
    repro = write_reproduction(tmp_path / "test_repro.py", "broken_kernel:WrongOutcome", CFG,
                               short, g, seed=7)
    text = repro.read_text()
    assert "pytest test_repro.py" in text and "seed 7" in text
    assert "Config(n_envs=4, n_pages=8" in text
    failed = _run(repro, tmp_path)
    assert failed.returncode != 0, failed.stdout + failed.stderr
    assert "model returns OK ACCESS, implementation returns OK REFILL_STLB" in failed.stdout

    fixed = write_reproduction(tmp_path / "test_fixed.py", "exo.impl:Kernel", CFG, short, g)
    passed = _run(fixed, tmp_path)
    assert passed.returncode == 0, passed.stdout + passed.stderr


def test_reproduction_of_every_kind_of_argument(tmp_path: Path) -> None:
    steps: list[Step] = [*boot(), ("filter_install", (0, tuple(NAMED_PROGRAMS[0]))),
                         ("packet_arrive", (Packet("p", b"\x00\x01"),)),
                         ("alloc", (None, 1.5)), ("load", ("x",)),
                         ("tlbwr", (0, 0, Cap(ExcKind.OVERFLOW, 0, 1), True))]
    f = Failure(len(steps) - 1, "result", "made up")
    repro = write_reproduction(tmp_path / "test_args.py", "exo.impl:Kernel", CFG, steps, f)
    done = _run(repro, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_reproduction_refuses_unwritable_arguments(tmp_path: Path) -> None:
    f = Failure(0, "result", "x")
    with pytest.raises(ValueError, match="Python source"):
        write_reproduction(tmp_path / "t.py", "exo.impl:Kernel", CFG,
                           [("load", (object(), 0, 0))], f)
    with pytest.raises(ValueError, match=r"package\.module:Factory"):
        write_reproduction(tmp_path / "t.py", "exo.impl.Kernel", CFG, [], f)
