"""Unit tests of exceptions (exo.model.exceptions): EXC-1 raise_exception (the kinds
running code may raise), EXC-2 delivery (epc, cause, badvpage, handler; no handler: the
environment is destroyed); with GEN-1/GEN-2."""

from __future__ import annotations

import pytest

from exo.interface import FREE, NO_ENTRY, ExcKind, Outcome, Status, Vector
from exo.model.exceptions import RAISABLE
from tests.builders import (
    changed,
    entry,
    ok,
    ops_of,
    outcome,
    owning,
    rejected,
    running_bare,
    running_world,
    step,
)

EXC_OPS = ["raise_exception"]
RAISABLE_IDS = [k.name for k in RAISABLE]


def test_exception_ops_registered_GEN_1() -> None:
    """GEN-1: the exceptions module defines exactly EXC-1."""
    assert ops_of("exceptions") == EXC_OPS


def test_raisable_kinds_EXC_1() -> None:
    """EXC-1: running code raises unaligned, overflow, coprocessor and protection."""
    assert set(RAISABLE) == {ExcKind.UNALIGNED, ExcKind.OVERFLOW, ExcKind.COPROC,
                             ExcKind.PROTECTION}


# --------------------------------------------------------------------------- errors


def test_raise_kernel_only_kinds_invalid_EXC_1() -> None:
    """EXC-1: TLB misses and repossessions come from the kernel, and numbers outside
    ExcKind are not exceptions: INVALID_ARGUMENT, checked before NOT_RUNNING."""
    for s in (running_world()[0], owning()[0]):
        for exc in (int(ExcKind.TLB_MISS), int(ExcKind.REPOSSESSION), -1, len(ExcKind),
                    2**64, -(2**64)):
            rejected(s, "raise_exception", (exc,), Status.INVALID_ARGUMENT)


@pytest.mark.parametrize("exc", RAISABLE, ids=RAISABLE_IDS)
def test_raise_not_running_EXC_1(exc: ExcKind) -> None:
    """EXC-1: with no environment running, raise_exception is NOT_RUNNING."""
    s, _ = owning()
    rejected(s, "raise_exception", (int(exc),), Status.NOT_RUNNING)
    killed = step(running_world()[0], "env_destroy", 0)
    rejected(killed, "raise_exception", (int(exc),), Status.NOT_RUNNING)


# --------------------------------------------------------------------------- delivery


@pytest.mark.parametrize("exc", RAISABLE, ids=RAISABLE_IDS)
def test_raise_delivers_to_handler_EXC_2(exc: ExcKind) -> None:
    """EXC-1/EXC-2: with a handler, epc takes pc, cause the kind, control jumps to the
    handler (DELIVERED); badvpage, registers and everything else stay."""
    s, _ = running_world()
    s = step(s, "set_reg", 0, 99)
    new, res = ok(s, "raise_exception", int(exc))
    assert outcome(res) == Outcome.DELIVERED
    assert new.epc == s.pc
    assert new.cause == exc
    assert new.pc == entry(0, Vector(int(exc)))
    assert new.badvpage == s.badvpage
    assert new.regs == s.regs and new.cur_env == 0 and new.env_alive[0]
    assert changed(s, new) <= {"epc", "cause", "pc"}


def test_raise_keeps_badvpage_of_last_miss_EXC_2() -> None:
    """EXC-2: badvpage is set by a TLB miss and left alone by a raised exception."""
    s, _ = running_world()
    s, res = ok(s, "load", 33, 0, 0)
    assert outcome(res) == Outcome.DELIVERED and s.badvpage == 33
    handler_pc = s.pc
    new = step(s, "raise_exception", int(ExcKind.COPROC))
    assert new.badvpage == 33 and new.epc == handler_pc


@pytest.mark.parametrize("exc", RAISABLE, ids=RAISABLE_IDS)
def test_raise_without_handler_kills_EXC_2(exc: ExcKind) -> None:
    """EXC-2: with no handler the environment is destroyed (KILLED): its pages and slices
    return, and the CPU idles."""
    s, _ = running_bare()
    new, res = ok(s, "raise_exception", int(exc))
    assert outcome(res) == Outcome.KILLED
    assert new.env_alive[0] is False
    assert new.cur_env == FREE and new.hw_cid == FREE
    assert new.owner[0] == FREE and new.owner[1] == FREE
    assert new.slice_owner[1] == FREE
    assert new.env_alive[1] is True and new.owner[2] == 1
    rejected(new, "raise_exception", (int(exc),), Status.NOT_RUNNING)


def test_unregistered_handler_kills_EXC_2() -> None:
    """ENV-3/EXC-2: unregistering one handler makes only that exception fatal."""
    s, _ = running_world()
    s = step(s, "set_exception_context", 0, int(ExcKind.OVERFLOW), NO_ENTRY)
    _fine, res = ok(s, "raise_exception", int(ExcKind.UNALIGNED))
    assert outcome(res) == Outcome.DELIVERED
    dead, res = ok(s, "raise_exception", int(ExcKind.OVERFLOW))
    assert outcome(res) == Outcome.KILLED and dead.env_alive[0] is False


def test_nested_exceptions_EXC_2() -> None:
    """EXC-2: an exception inside a handler records the handler's pc as epc."""
    s, _ = running_world()
    s = step(s, "raise_exception", int(ExcKind.OVERFLOW))
    new = step(s, "raise_exception", int(ExcKind.UNALIGNED))
    assert new.epc == entry(0, Vector.OVERFLOW)
    assert new.pc == entry(0, Vector.UNALIGNED)
    assert new.cause == ExcKind.UNALIGNED


def test_exception_after_yield_goes_to_current_env_EXC_2() -> None:
    """EXC-2: exceptions go to the environment running now, in whosever slice."""
    s, _ = running_world()
    s = step(s, "yield_to", 1)
    new = step(s, "raise_exception", int(ExcKind.PROTECTION))
    assert new.pc == entry(1, Vector.PROTECTION)
    assert new.cur_env == 1
