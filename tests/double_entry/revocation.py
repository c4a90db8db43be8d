"""Broken variants of REV-1 and REV-3/REV-4 that keep every invariant and the older
postconditions (failure, frame, effect)."""

from __future__ import annotations

from typing import Any

from exo.interface import FREE, NO_ENTRY, ExcKind, Resource, Result, Status, Vector
from exo.logic import And, If, IntV
from exo.model import REGISTRY
from exo.model.memory import free_page
from exo.model.net import remove_filter
from exo.model.ops import finish
from exo.model.state import State


def _revoke_owner_before_busy(s: Any, env: Any, resource: Any, target: Any,
                              deadline: Any) -> Any:
    """REV-1 checks "no request pending" (BUSY) before ownership (NOT_OWNER); this one
    answers NOT_OWNER for a page the busy environment does not own."""
    post, res = REGISTRY["revoke_request"](s, env, resource, target, deadline)
    swap = And(res.status == int(Status.BUSY), resource == int(Resource.PAGE),
               s.owner[target] != env)
    return post, Result(If(swap, int(Status.NOT_OWNER), res.status), res.value)


def _abort_with(deliver_at_once: Any, in_progress: Any) -> Any:
    """The model's abort (exo.model.revocation.abort) with two of its decisions replaced:
    when the exception is delivered at once, and when the slice taken is the one the
    CPU is running for ``env``."""

    def raise_repossession(s: State, env: IntV) -> State:
        handler = s.entry[env, int(Vector.REPOSSESSION)]
        now = deliver_at_once(s, env, handler)
        delivered = s.replace(epc=s.pc, cause=int(ExcKind.REPOSSESSION), pc=handler)
        waiting = s.replace(repo_exc=s.repo_exc.set(env, True))
        result: State = If(now, delivered, waiting)
        return result

    def abort(s: State, env: Any) -> Any:
        _post, res = REGISTRY["abort"](s, env)  # the status, as the model decides it
        kind, target = s.rev_kind[env], s.rev_target[env]
        cleared = s.replace(rev_pending=s.rev_pending.set(env, False))
        page_taken = free_page(cleared, target).replace(
            repo_page=cleared.repo_page.set((env, target), True))
        here = in_progress(s, env, target)
        slice_taken = cleared.replace(
            slice_owner=cleared.slice_owner.set(target, FREE),
            repo_slice=cleared.repo_slice.set((env, target), True),
            cur_env=If(here, FREE, cleared.cur_env),
            hw_cid=If(here, FREE, cleared.hw_cid),
        )
        filter_taken = remove_filter(cleared, target).replace(
            repo_filter=cleared.repo_filter.set((env, target), True))
        taken = If(kind == Resource.PAGE, page_taken,
                   If(kind == Resource.SLICE, slice_taken, filter_taken))
        return finish(s, raise_repossession(taken, env), res.status)

    return abort


def _right_env(s: Any, env: Any, handler: Any) -> Any:
    return And(s.cur_env == env, handler != NO_ENTRY)


def _any_running_env(s: Any, env: Any, handler: Any) -> Any:
    """REV-3 delivers at once only if ``env`` itself is running; this delivers ``env``'s
    handler into whichever environment is running."""
    return And(s.cur_env != FREE, handler != NO_ENTRY)


def _env_running_there(s: Any, env: Any, target: Any) -> Any:
    return And(s.cur_env == env, s.cur_slice == target)


def _anyone_running_there(s: Any, env: Any, target: Any) -> Any:
    """REV-3: "If another environment is running in that slice (after a yield or a
    transfer), it keeps the CPU"; this one idles the CPU whoever runs in the slice."""
    return s.cur_slice == target


BROKEN: dict[str, list[tuple[str, Any]]] = {
    "revoke_request": [("NOT_OWNER checked before BUSY", _revoke_owner_before_busy)],
    "abort": [
        ("repossession delivered into the wrong environment",
         _abort_with(_any_running_env, _env_running_there)),
        ("taking the slice in progress stops another environment running in it",
         _abort_with(_right_env, _anyone_running_there)),
    ],
}
