"""Exceptions raised by the running code, and how any exception is delivered (spec/exceptions.md).

Paper, Aegis "Exceptions" (Aegis exceptions: the kernel saves a few scratch registers and jumps to
the
environment's handler; everything else is the library OS's business).
"""

from __future__ import annotations

from exo.interface import NO_ENTRY, ExcKind, Outcome, Result, Status
from exo.logic import If, IntV, Not, Or, first_failure
from exo.model.env import destroy_env
from exo.model.ops import finish, live, transition
from exo.model.state import State


def deliver(s: State, exc: IntV, badvpage: IntV) -> tuple[State, IntV]:
    """EXC-2: deliver exception ``exc`` to the running environment.

    With a registered handler: ``epc`` takes the current ``pc``, ``cause`` the kind,
    ``badvpage`` the faulting page, and control jumps to the handler (Outcome.DELIVERED).
    Without one, the environment is destroyed (Outcome.KILLED) — the model's choice for
    what the paper leaves open. Callers check that an environment is running.
    """
    e = s.cur_env
    handler = s.entry[e, exc]
    handled = handler != NO_ENTRY
    delivered = s.replace(epc=s.pc, cause=exc, badvpage=badvpage, pc=handler)
    new = If(handled, delivered, destroy_env(s, e))
    return new, If(handled, int(Outcome.DELIVERED), int(Outcome.KILLED))


RAISABLE = (ExcKind.UNALIGNED, ExcKind.OVERFLOW, ExcKind.COPROC, ExcKind.PROTECTION)
"""EXC-1: the kinds running code can raise itself (TLB misses and repossessions come from
the kernel)."""


@transition("raise_exception")
def raise_exception(s: State, exc: IntV) -> tuple[State, Result]:
    """EXC-1 (paper: Aegis exceptions): the running code raises ``exc`` (unaligned access,
    arithmetic
    overflow, coprocessor unusable, protection); delivered by EXC-2."""
    status = first_failure(
        [
            (Not(Or(*[exc == k for k in RAISABLE])), Status.INVALID_ARGUMENT),
            (Not(live(s, s.cur_env)), Status.NOT_RUNNING),
        ],
        Status.OK,
    )
    new, outcome = deliver(s, exc, s.badvpage)
    return finish(s, new, status, outcome)


__all__ = ["RAISABLE", "deliver", "raise_exception"]
