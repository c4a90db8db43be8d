"""Protected control transfer: Scall and Acall (spec/pct.md).

Paper, Aegis "Protected control transfers" (Aegis protected control transfer: control lands on the
callee's registered
entry point; the kernel saves no registers and switches only the addressing context;
a synchronous call donates the current and future instances of the time slice, an
asynchronous one only the rest of the current instance).
"""

from __future__ import annotations

from exo.interface import NO_ENTRY, Resource, Result, Status, Vector
from exo.logic import And, If, IntV, Not, first_failure, in_range
from exo.model.ops import finish, live, transition
from exo.model.state import State


def _transfer(s: State, callee: IntV, vector: int, donate: bool) -> tuple[State, Result]:
    """PCT-1/PCT-2/PCT-3: move control from the running environment to ``callee``."""
    caller = s.cur_env
    q = s.cur_slice
    owns = s.slice_owner[q] == caller
    revoking = And(s.rev_pending[caller], s.rev_kind[caller] == Resource.SLICE,
                   s.rev_target[caller] == q)
    target = s.entry[callee, vector]
    checks = [
        (Not(in_range(callee, s.cfg.n_envs)), Status.INVALID_ARGUMENT),
        (Not(live(s, caller)), Status.NOT_RUNNING),
        (Not(s.env_alive[callee]), Status.NO_SUCH_ENV),
        (target == NO_ENTRY, Status.NO_ENTRY),
    ]
    if donate:
        checks.append((And(owns, revoking), Status.BUSY))
    # PCT-1/PCT-2: no time is handed on once the slice has run out; the caller's overrun
    # stays the caller's excess time (CPU-4, THM-7)
    checks.append((s.slice_left <= 0, Status.NO_TIME))
    status = first_failure(checks, Status.OK)
    new = s.replace(cur_env=callee, hw_cid=s.env_cid[callee], pc=target)
    if donate:  # a fact about which operation this is, not about model values
        new = new.replace(
            slice_owner=new.slice_owner.set(q, If(owns, callee, s.slice_owner[q])),
            repo_slice=new.repo_slice.set((callee, q), And(s.repo_slice[callee, q], Not(owns))),
        )
    return finish(s, new, status)


@transition("scall")
def scall(s: State, callee: IntV) -> tuple[State, Result]:
    """PCT-1 (paper: Aegis PCT, synchronous protected control transfer): control jumps to
    ``callee``'s synchronous entry point and the current slice — this instance and every
    future one — is donated to it, if the caller owns it. A slice the caller is being asked
    to give back (REV-1) cannot be donated: BUSY."""
    return _transfer(s, callee, int(Vector.PCT_SYNC), donate=True)


@transition("acall")
def acall(s: State, callee: IntV) -> tuple[State, Result]:
    """PCT-2 (paper: Aegis PCT, asynchronous protected control transfer): control jumps to
    ``callee``'s asynchronous entry point for the rest of the current slice only."""
    return _transfer(s, callee, int(Vector.PCT_ASYNC), donate=False)
