"""Protected control transfer: Scall and Acall (spec/pct.md)."""

from __future__ import annotations

from exo.impl.ops import OK, fail, in_range
from exo.impl.state import KernelState
from exo.interface import NO_ENTRY, Resource, Result, Status, Vector


def _transfer(k: KernelState, callee: int, vector: int, donate: bool) -> Result:
    """PCT-1/PCT-2/PCT-3: control moves from the running environment to ``callee``'s
    entry point; only the addressing context switches."""
    caller = k.cur_env
    q = k.cur_slice
    if not in_range(callee, k.cfg.n_envs):
        return fail(Status.INVALID_ARGUMENT)
    if not k.live(caller):
        return fail(Status.NOT_RUNNING)
    if not k.env_alive[callee]:
        return fail(Status.NO_SUCH_ENV)
    target = k.entry[callee][vector]
    if target == NO_ENTRY:
        return fail(Status.NO_ENTRY)
    owns = k.slice_owner[q] == caller
    if donate and owns and k.rev_pending[caller] and k.rev_kind[caller] == Resource.SLICE \
            and k.rev_target[caller] == q:
        return fail(Status.BUSY)
    if k.slice_left <= 0:  # PCT-1/PCT-2: the caller's overrun stays its own (THM-7)
        return fail(Status.NO_TIME)
    k.cur_env = callee
    k.hw_cid = k.env_cid[callee]
    k.pc = target
    if donate and owns:
        k.slice_owner[q] = callee
        k.slices[caller].discard(q)
        k.slices[callee].add(q)
        k.repo_slice[callee].discard(q)
    return OK


def scall(k: KernelState, callee: int) -> Result:
    """PCT-1: synchronous transfer; the current slice (this instance and every future one)
    is donated to ``callee`` if the caller owns it (BUSY if it is being revoked)."""
    return _transfer(k, callee, int(Vector.PCT_SYNC), donate=True)


def acall(k: KernelState, callee: int) -> Result:
    """PCT-2: asynchronous transfer for the rest of the current slice only."""
    return _transfer(k, callee, int(Vector.PCT_ASYNC), donate=False)
