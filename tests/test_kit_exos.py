"""``exo check --workload exos`` (exo.kit.exos): library-OS traffic in the lockstep kit.
The services run in the kit's machine and finish; their traffic alone, from boot,
catches broken kernels of the catalogue that random programs need luck for; the
bundled kernel passes it. The services make their system calls through the trap layer
(GEN-6) as their running environment and read only that environment's view (GEN-7)."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from exo.cli import main
from exo.impl import Kernel
from exo.interface import (
    Config,
    Interrupt,
    Result,
)
from exo.kit import exos as kit_exos
from exo.kit.check import run_check
from tests import catalogue

CFG = Config(n_envs=4, n_pages=8, n_slices=4, slice_ticks=20)

CAUGHT = [
    (catalogue.ProtectionAsTlbMiss, "vm"), (catalogue.StlbWrongSlot, "vm"),
    (catalogue.TlbvadeleteKeepsStlb, "vm"), (catalogue.BadvpageNotSet, "vm"),
    (catalogue.DeallocKeepsStlb, "revocation"),
    (catalogue.AbortSkipsRepoVector, "revocation"),
    (catalogue.AbortNoRepossessionException, "revocation"),
    (catalogue.PctClearsRegisters, "ipc"), (catalogue.ScallNoDonation, "ipc"),
    (catalogue.FilterHighestSlot, "net"), (catalogue.PacketTakeEmptyOk, "net"),
    (catalogue.RingOneShort, "net"),
]
"""Catalogue kernels (whose broken handlers sit behind ``trap`` as behind ``apply``)
and the service whose library traffic meets the bug."""


@pytest.mark.parametrize("service", sorted(kit_exos.SERVICES))
@pytest.mark.parametrize("n", [1, 2, 3])
def test_the_bundled_kernel_runs_every_service_like_the_model(service: str, n: int) -> None:
    assert kit_exos.run_service(Kernel, CFG, service, n) is None


@pytest.mark.parametrize(("broken", "service"), CAUGHT, ids=lambda x: getattr(x, "__name__", x))
def test_library_traffic_catches_a_broken_kernel(broken: type, service: str) -> None:
    found = [kit_exos.run_service(broken, CFG, service, n) for n in (1, 2, 3)]
    assert all(found), found  # in every size of the service


def test_the_kit_runs_the_services_and_they_finish() -> None:
    kit_exos.RUNS.clear()
    report = run_check(Kernel, None, steps=30, examples=120, seed=5, workload="exos")
    assert report.passed, report.error
    done = {k.split("/")[0] for k, v in kit_exos.RUNS.items() if k.endswith("/done") and v}
    assert done == set(kit_exos.SERVICES)


def test_the_kit_with_the_workload_catches_a_broken_kernel() -> None:
    report = run_check(catalogue.PctClearsRegisters, None, steps=30, examples=60,
                       seed=5, workload="exos")
    assert not report.passed


def test_an_unknown_workload_is_a_usage_error() -> None:
    res = CliRunner().invoke(main, ["check", "--workload", "nosuch"])
    assert res.exit_code == 2
    with pytest.raises(ValueError, match="workload"):
        run_check(Kernel, None, steps=2, examples=1, workload="nosuch")


def test_the_fallback_trap_over_apply_answers_as_the_trap_layer() -> None:
    """``exo.kit.exos._trap_by_apply`` (the marked fallback for a lockstep driver with no
    trap steps) gives what ``exo.model.trap.trap`` gives: a name that is no system call,
    arguments of the wrong kind, an idle CPU, and a system call for the running
    environment, with or without the caller prepended."""
    from exo.model import REGISTRY, State, initial
    from exo.model.trap import trap

    s: State = initial(CFG)
    start = (0, int(Interrupt.SLICE_START), 0x2000)
    for op, raw in (("env_create", (0, 0)), ("set_interrupt_context", start),
                    ("slice_alloc", (0, 1)), ("timer_tick", ())):
        s, _ = REGISTRY[op](s, *raw)
    assert s.cur_env == 0  # its slice began: it runs, at its start-of-slice entry
    calls: list[tuple[str, tuple[Any, ...]]] = []

    def apply(name: str, args: tuple[Any, ...]) -> Result:
        calls.append((name, args))
        return REGISTRY[name](s, *args)[1]

    idle = initial(CFG)
    cases: list[tuple[State, str, tuple[Any, ...]]] = [
        (s, "load", (0, 0, 0)), (s, "alloc", ("3",)), (idle, "alloc", (3,)),
        (s, "alloc", (3,)), (s, "yield_to", (0,))]
    for state, name, args in cases:
        assert kit_exos._trap_by_apply(apply, state, name, args) == trap(state, name, *args)[1]
    assert calls == [("alloc", (0, 3)), ("yield_to", (0,))]
