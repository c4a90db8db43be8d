"""Broken variants of PCT-1..PCT-3 that keep every invariant and the older postconditions
(failure, frame, effect, the step invariants and the theorems), so that only the double
entry (``post/OP/sound``) refutes them."""

from __future__ import annotations

from typing import Any

from exo.interface import Resource, Result, Status
from exo.logic import And, If, Not
from exo.model import REGISTRY


def _scall_clears_record_without_donation(s: Any, callee: Any) -> Any:
    """PCT-1: the callee's record that the slice was repossessed from it is cleared only
    when the slice is donated to it (REV-4); this scall clears it when the caller does not
    own the slice and nothing is donated."""
    post, res = REGISTRY["scall"](s, callee)
    q = s.cur_slice
    ok = res.status == int(Status.OK)
    repo = post.repo_slice.map(lambda x, y, old: And(old, Not(And(ok, x == callee, y == q))))
    return post.replace(repo_slice=repo), res


def _acall_blocked_by_revocation(s: Any, callee: Any) -> Any:
    """PCT-2 has no BUSY precondition ("A pending slice revocation does not block an
    asynchronous transfer"); this acall refuses with BUSY when the caller is asked to give
    back the slice in progress."""
    post, res = REGISTRY["acall"](s, callee)
    e, q = s.cur_env, s.cur_slice
    busy = And(res.status == int(Status.OK), s.rev_pending[e],
               s.rev_kind[e] == int(Resource.SLICE), s.rev_target[e] == q,
               s.slice_owner[q] == e)
    return (If(busy, s, post),
            Result(If(busy, int(Status.BUSY), res.status), If(busy, 0, res.value)))


BROKEN: dict[str, list[tuple[str, Any]]] = {
    "scall": [("scall clears the callee's repossession record without a donation",
               _scall_clears_record_without_donation)],
    "acall": [("acall refused (BUSY) under a pending slice revocation",
               _acall_blocked_by_revocation)],
}
