"""Exceptions raised by the running code, and how any exception is delivered
(spec/exceptions.md)."""

from __future__ import annotations

from exo.impl.env import destroy_env
from exo.impl.ops import fail
from exo.impl.state import KernelState
from exo.interface import NO_ENTRY, ExcKind, Outcome, Result, Status

RAISABLE = frozenset(int(x) for x in (ExcKind.UNALIGNED, ExcKind.OVERFLOW, ExcKind.COPROC,
                                      ExcKind.PROTECTION))
"""EXC-1: the kinds running code can raise itself."""


def deliver(k: KernelState, exc: int, badvpage: int) -> int:
    """EXC-2: deliver ``exc`` to the running environment's handler (DELIVERED), or destroy
    the environment if it has none (KILLED). Callers check that an environment runs."""
    e = k.cur_env
    handler = k.entry_of(e, exc)
    if handler != NO_ENTRY:
        k.epc, k.cause, k.badvpage, k.pc = k.pc, exc, badvpage, handler
        return int(Outcome.DELIVERED)
    destroy_env(k, e)
    return int(Outcome.KILLED)


def raise_exception(k: KernelState, exc: int) -> Result:
    """EXC-1: the running code raises ``exc``; delivered by EXC-2."""
    if exc not in RAISABLE:
        return fail(Status.INVALID_ARGUMENT)
    if not k.live(k.cur_env):
        return fail(Status.NOT_RUNNING)
    return Result(Status.OK, deliver(k, exc, k.badvpage))
