"""The conformance kit (exo.kit.machine) checks itself: the model wrapped as an implementation
conforms, and deliberately broken implementations are caught with a short, shrunk program
naming the operation that goes wrong. Plus the ``exo check`` command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import settings

from exo.cli import main
from exo.impl import Kernel
from exo.impl.demux import Demux
from exo.interface import OPERATIONS, Cap, Config, Result, Status
from exo.kit.bpf_samples import SAMPLES
from exo.kit.check import CheckReport, run_check
from exo.kit.conformance import abstract, differences, same_outcome
from exo.kit.explore import two_running_envs
from exo.kit.machine import lockstep_machine
from exo.model import initial
from exo.model.kernel import ModelImplementation
from exo.wire.loader import load_factory
from tests.builders import COLLIDING

SMALL = COLLIDING


# --------------------------------------------------------------------------- broken variants


class KeepsStaleSTLB(ModelImplementation):
    """(a) Dealloc does not flush the STLB: after a real dealloc, the STLB entries it
    removed are put back into the observation (until the slot is reused)."""

    def __init__(self, cfg: Config | None = None) -> None:
        super().__init__(cfg)
        self.ghosts: dict[int, tuple[Any, Any, Any, Any]] = {}

    def apply(self, name: str, *args: Any) -> Result:
        before = self.state
        res = super().apply(name, *args)
        if name == "dealloc" and res.status == Status.OK:
            for j in range(self.cfg.stlb_size):
                if before.stlb_valid[j] and not self.state.stlb_valid[j]:
                    self.ghosts[j] = (before.stlb_cid[j], before.stlb_vpage[j],
                                      before.stlb_page[j], before.stlb_write[j])
        for j in [j for j in self.ghosts if self.state.stlb_valid[j]]:
            del self.ghosts[j]
        return res

    def observe(self) -> dict[str, Any]:
        out = super().observe()
        for j, (cid, vpage, page, write) in self.ghosts.items():
            out["stlb_valid"][j] = True
            out["stlb_cid"][j], out["stlb_vpage"][j] = cid, vpage
            out["stlb_page"][j], out["stlb_write"][j] = page, write
        return out


class ScallKeepsSlice(ModelImplementation):
    """(b) Scall transfers control but forgets to donate the caller's slice."""

    def apply(self, name: str, *args: Any) -> Result:
        before = self.state
        res = super().apply(name, *args)
        if name == "scall" and res.status == Status.OK:
            self.state = self.state.replace(slice_owner=before.slice_owner)
        return res


class OverflowStatus(ModelImplementation):
    """(c) A hostile argument (an int beyond 64 bits) gets a different status: the
    implementation says NO_SPACE where the model says something else."""

    def apply(self, name: str, *args: Any) -> Result:
        if any(isinstance(a, int) and not isinstance(a, bool) and abs(a) >= 2**63
               for a in args):
            return Result(Status.NO_SPACE, Cap(-1, -1, 0) if name in ("alloc", "grant") else 0)
        return super().apply(name, *args)


class RaisesOnWrongType(ModelImplementation):
    """(d) An argument of the wrong type raises instead of returning INVALID_ARGUMENT."""

    def apply(self, name: str, *args: Any) -> Result:
        for a in args:
            if isinstance(a, str | float) or a is None:
                raise TypeError(f"{name}: bad argument {a!r}")
        return super().apply(name, *args)


def _caught(impl: Any, op: str, examples: int = 300, steps: int = 25) -> CheckReport:
    report = run_check(impl, SMALL, steps=steps, examples=examples, derandomize=True)
    assert not report.passed, f"{impl.__name__} was not caught"
    lines = report.program.splitlines()
    assert lines and (lines[0].startswith("state = ") or (
        report.found_by == "sweep" and lines[0].startswith("(witness program"))), (
        report.program)
    # the operation is a rule of the shrunk program, or a call a scenario rule made (the
    # error names the last calls; the replayed and minimized calls name them all)
    calls = [name for name, _ in report.trace or []]
    assert any(op in ln for ln in lines[1:]) or op in report.error or (
        not op or op in calls), report.text()
    # what the user acts on: the replayed and minimized calls (Hypothesis shrinks for
    # SHRINK_EXAMPLES only; exo.kit.replay.minimize finishes), else Hypothesis's program
    shrunk = report.trace if report.trace is not None else lines[1:]
    assert len(shrunk) <= 8, f"not shrunk:\n{report.text()}"
    return report


# --------------------------------------------------------------------------- the kit


def test_model_implementation_conforms() -> None:
    seen: list[int] = []
    report = run_check(ModelImplementation, SMALL, steps=25, examples=60,
                       on_progress=seen.append)
    assert report.passed, report.text()
    # 60 programs on sizes of its own reach most cells, not all: no difference found, but
    # not a conformance verdict either
    assert report.verdict in ("conformant", "incomplete"), report.text()
    assert report.text().startswith(f"{report.verdict}: 60 examples x 25 steps")
    assert seen and seen[-1] == 60 and seen == sorted(seen)


def test_model_implementation_observation_round_trips() -> None:
    impl = ModelImplementation(SMALL)
    impl.apply("env_create", 0, 0)
    impl.apply("alloc", 0, 1)
    obs = impl.observe()
    assert set(obs) >= {"owner", "cur_env", "stlb_valid", "rights"}
    assert obs["owner"] == {1: 0} and obs["rights"] == {(0, 1): 2}
    assert abstract(SMALL, obs) == impl.state
    assert differences(impl.state, abstract(SMALL, obs)) == []


def test_model_implementation_never_raises_on_junk() -> None:
    impl = ModelImplementation(SMALL)
    assert impl.apply("no_such_op", 1).status == Status.INVALID_ARGUMENT
    assert impl.apply("alloc", "x", None).status == Status.INVALID_ARGUMENT
    assert impl.apply("alloc", 0).status == Status.INVALID_ARGUMENT


def test_dealloc_without_stlb_flush_is_caught() -> None:
    report = _caught(KeepsStaleSTLB, "dealloc")
    assert "stlb" in report.error and "dealloc" in report.text()


def test_scall_without_donation_is_caught() -> None:
    report = _caught(ScallKeepsSlice, "scall")
    assert "slice_owner" in report.error


def test_different_status_for_hostile_argument_is_caught() -> None:
    report = _caught(OverflowStatus, "")
    assert "NO_SPACE" in report.error and "model returns" in report.error


def test_raising_on_wrong_type_is_caught() -> None:
    report = _caught(RaisesOnWrongType, "")  # by the wrong_type rule or a witness
    assert "raised TypeError" in report.error and "GEN-1" in report.error


def test_machine_is_a_pytest_testcase() -> None:
    machine = lockstep_machine(ModelImplementation, SMALL)
    assert all(callable(getattr(machine, name)) for name in OPERATIONS)
    case = machine.TestCase
    case.settings = settings(case.settings, max_examples=3, stateful_step_count=5)
    case("runTest").runTest()


# How a user puts the kit in their own suite (here on the model itself, a small budget).
TestModelLockstep = lockstep_machine(ModelImplementation, SMALL).TestCase
TestModelLockstep.settings = settings(TestModelLockstep.settings, max_examples=10,
                                      stateful_step_count=10)


def test_factory_that_cannot_build_is_a_usage_error() -> None:
    def no_methods(cfg: Config) -> Any:
        return object()

    def broken(cfg: Config) -> Any:
        return 1 / 0

    with pytest.raises(ValueError, match="no apply"):
        run_check(no_methods, SMALL, steps=2, examples=1)
    with pytest.raises(ValueError, match="cannot build"):
        run_check(broken, SMALL, steps=2, examples=1)


def test_bad_config_is_refused() -> None:
    with pytest.raises(ValueError, match="n_envs"):
        lockstep_machine(ModelImplementation, Config(n_envs=0))
    assert initial(SMALL) == ModelImplementation(SMALL).state


# --------------------------------------------------------------------------- load_factory


def test_load_factory_resolves() -> None:
    assert load_factory("exo.kit:ModelImplementation") is ModelImplementation


@pytest.mark.parametrize("spec, message", [
    ("exo.kit", "package.module:Factory"),
    (":Kernel", "package.module:Factory"),
    ("exo.kit:", "package.module:Factory"),
    ("a:b:c", "package.module:Factory"),
    ("no_such_module_xyz:Kernel", "cannot import"),
    ("exo.kit:NoSuchThing", "has no attribute"),
    ("exo.kit.values:HOSTILE_INTS", "not a class or function"),
])
def test_load_factory_errors(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        load_factory(spec)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- exo check


def test_cli_check_model_passes() -> None:
    result = CliRunner().invoke(main, ["check", "--impl", "exo.kit:ModelImplementation",
                                       "--steps", "10", "--examples", "5"])
    assert result.exit_code == 0, result.output
    assert "conformant: 5 examples x 10 steps" in result.output


def test_cli_check_broken_fails_with_program(tmp_path: Path) -> None:
    repro = tmp_path / "test_repro.py"
    result = CliRunner().invoke(main, ["check", "--impl", f"{__name__}:RaisesOnWrongType",
                                       "--steps", "10", "--examples", "500",
                                       "--repro", str(repro)])
    assert result.exit_code == 1, result.output
    # Hypothesis's program, or the witness program that caught it (the sweep has a
    # wrong-type call, case GEN-1/wrong-type), then the replayed calls
    assert "state = " in result.output or "witness program" in result.output
    assert "raised TypeError" in result.output
    # the implementation's own traceback, and the reproduction file
    assert "Traceback (most recent call last)" in result.output, result.output
    assert f"reproduction: {repro}" in result.output and repro.is_file()


@pytest.mark.parametrize("impl", ["nonsense", "no_such_module_xyz:Kernel",
                                  "exo.kit:Nope"])
def test_cli_check_bad_impl_exits_2(impl: str) -> None:
    result = CliRunner().invoke(main, ["check", "--impl", impl])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("exo: ")
    assert "Traceback" not in result.output


def test_cli_check_help_has_examples() -> None:
    result = CliRunner().invoke(main, ["check", "--help"])
    assert result.exit_code == 0
    assert "--impl" in result.output and "exo check" in result.output


# --------------------------------------------------------------------------- broken demuxes


class PaddingDemux(Demux):
    """(e) Loads past the end of the packet read zeros instead of aborting the filter."""

    def classify(self, packet: bytes) -> int:
        return super().classify(bytes(packet) + bytes(64))


class ReorderingDemux(Demux):
    """(f) libpcap #430: the unoptimized DHCP filter is run as libpcap's optimizer
    rewrote it, which moves the source-port load across the destination port's abort."""

    def add(self, slot: int, owner: int, program: tuple[Any, ...]) -> None:
        if tuple(program) == SAMPLES["dhcp_unopt"]:
            program = SAMPLES["dhcp_opt"]
        super().add(slot, owner, program)


def _kernel_with(demux: type[Demux], check: bool) -> Any:
    class BrokenDemuxKernel(Kernel):
        def __init__(self, cfg: Config | None = None) -> None:
            super().__init__(cfg)
            self.state.demux = demux(check=self.state.check_demux if check else None,
                                     table=self.state.filter_table if check else None)

    BrokenDemuxKernel.__name__ = f"{demux.__name__}Kernel"
    return BrokenDemuxKernel


def test_demux_reading_past_the_end_is_caught() -> None:
    report = _caught(_kernel_with(PaddingDemux, check=True), "packet_arrive")
    assert "packet_arrive(" in report.error  # outcomes by name, not as integers:
    assert "implementation returns OK RX_" in report.error


def test_demux_reordering_loads_is_refused_by_flt8_and_never_classifies() -> None:
    """FLT-8: the #430 reordering is refused when the filter set changes, and the kernel
    classifies with the interpreter over its own filter table instead (no raise, no solver
    on the packet path), so the kernel still conforms."""
    impl = _kernel_with(ReorderingDemux, check=True)
    k = impl(SMALL)
    for name, args in two_running_envs():
        assert k.apply(name, *args).status == Status.OK
    assert k.apply("filter_install", 0, SAMPLES["dhcp_unopt"]).status == Status.OK
    reason = k.state.demux.fallback_reason
    assert reason is not None and reason.startswith("FLT-8"), reason
    report = run_check(impl, SMALL, steps=25, examples=100, derandomize=True)
    assert report.passed, report.text()


def test_bundled_kernel_conforms_with_real_filters() -> None:
    report = run_check(Kernel, SMALL, steps=25, examples=60, derandomize=True)
    assert report.passed, report.text()


def test_overlap_witness_may_be_any_packet_both_filters_accept() -> None:
    """NET-1 asks for *a* witness: another valid one conforms, a wrong one does not."""
    model = ModelImplementation(SMALL)
    for name, args in two_running_envs():
        model.apply(name, *args)
    before = model.state
    assert model.apply("filter_install", 0, SAMPLES["arp"]).status == Status.OK
    before = model.state
    expected = model.apply("filter_install", 1, SAMPLES["arp"])
    assert expected.status == Status.OVERLAP
    arp_frame = b"\xff" * 12 + b"\x08\x06"
    assert expected.value == (bytes(12) + b"\x08\x06").hex()  # FLT-9's witness
    for value, ok in ((arp_frame.hex(), True), ((arp_frame + b"x").hex(), True),
                      (bytes(14).hex(), False), ("zz", False), (7, False)):
        got = Result(Status.OVERLAP, value)
        assert same_outcome(before, "filter_install", (1, SAMPLES["arp"]), expected, got) is ok
    assert not same_outcome(before, "filter_install", (1, SAMPLES["arp"]), expected,
                            Result(Status.OK, 0))


def test_a_factory_that_fails_after_its_first_build_fails_the_run() -> None:
    """Only the first build is a usage question (``probe_factory``: ValueError, exit 2);
    a factory that builds the kit's first configuration and raises on a later one (a
    kernel process that hangs at its second reset) fails the run: a report naming the
    factory, not a ValueError. A factory that cannot build even the first one is still a
    usage error."""
    from exo.kit.check import probe_factory
    from exo.kit.configs import KIT_CONFIGS

    first = KIT_CONFIGS[0]

    def later_fails(cfg: Config) -> Kernel:
        if cfg != first:
            raise RuntimeError("cannot reset to this configuration")
        return Kernel(cfg)

    probe_factory(later_fails)
    report = run_check(later_fails, None, steps=5, examples=len(KIT_CONFIGS) * 2, seed=3)
    assert not report.passed and report.failure is not None
    assert report.failure.kind == "factory", report.failure
    assert "cannot reset to this configuration" in report.failure.message

    def never(cfg: Config) -> Kernel:
        raise RuntimeError("no kernel")

    with pytest.raises(ValueError, match="cannot build an implementation"):
        run_check(never, None, steps=5, examples=2, seed=3)
    with pytest.raises(ValueError, match="no kernel"):
        probe_factory(never)
