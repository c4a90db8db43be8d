"""Visible revocation and the abort protocol (spec/revocation.md).

Paper, "Visible resource revocation" (visible resource revocation: the kernel asks a library OS to
give a resource
back) and "The abort protocol" (the abort protocol: if it does not comply in time the kernel breaks
its
secure bindings by force, records the loss in its repossession vector and raises a
repossession exception; a few guaranteed pages are never repossessed).
"""

from __future__ import annotations

from exo.interface import FREE, NO_ENTRY, ExcKind, Resource, Result, Status, Vector
from exo.logic import And, If, IntV, Not, Or, first_failure, in_range
from exo.model.memory import free_page
from exo.model.net import remove_filter
from exo.model.ops import finish, transition
from exo.model.state import State
from exo.model.tlb import guaranteed_page


@transition("revoke_request")
def revoke_request(
    s: State, env: IntV, resource: IntV, target: IntV, deadline: IntV
) -> tuple[State, Result]:
    """REV-1 (paper: Visible resource revocation): the kernel asks ``env`` to release one resource
    of kind
    ``resource`` (a ``Resource``) by tick ``deadline``.

    ``target`` names the page, slice or packet filter the kernel will take if ``env``
    releases none; the request is visible to ``env`` in its state, and ``env`` may satisfy
    it by releasing any resource of that kind (REV-2). One request per environment at a
    time; a page bound by a guaranteed mapping cannot be named (REV-5).
    """
    cfg = s.cfg
    is_page = resource == Resource.PAGE
    is_slice = resource == Resource.SLICE
    is_filter = resource == Resource.FILTER
    status = first_failure(
        [
            (Not(in_range(env, cfg.n_envs)), Status.INVALID_ARGUMENT),
            (Not(Or(is_page, is_slice, is_filter)), Status.INVALID_ARGUMENT),
            (And(is_page, Not(in_range(target, cfg.n_pages))), Status.INVALID_ARGUMENT),
            (And(is_slice, Not(in_range(target, cfg.n_slices))), Status.INVALID_ARGUMENT),
            (And(is_filter, Not(in_range(target, cfg.n_filters))), Status.INVALID_ARGUMENT),
            (deadline <= s.now, Status.INVALID_ARGUMENT),
            (Not(s.env_alive[env]), Status.NO_SUCH_ENV),
            (s.rev_pending[env], Status.BUSY),
            (And(is_page, s.owner[target] != env), Status.NOT_OWNER),
            (And(is_slice, s.slice_owner[target] != env), Status.NOT_OWNER),
            (And(is_filter, Not(And(s.filter_valid[target], s.filter_owner[target] == env))),
             Status.NOT_OWNER),
            (And(is_page, guaranteed_page(s, env, target)), Status.GUARANTEED),
        ],
        Status.OK,
    )
    new = s.replace(
        rev_pending=s.rev_pending.set(env, True),
        rev_kind=s.rev_kind.set(env, resource),
        rev_target=s.rev_target.set(env, target),
        rev_deadline=s.rev_deadline.set(env, deadline),
    )
    return finish(s, new, status)


@transition("abort")
def abort(s: State, env: IntV) -> tuple[State, Result]:
    """REV-3 (paper: The abort protocol): after the deadline of ``env``'s pending
    request, take its target by force.

    A page is freed as by Dealloc — every secure binding that depended on it (TLB, STLB,
    other holders) is broken — a slice loses its owner (if it is in progress for ``env``
    the CPU idles for the rest of it), a packet filter is removed (NET-2). The loss is
    recorded in ``env``'s repossession
    vector and a repossession exception is raised to it (REV-4).
    """
    cfg = s.cfg
    kind, target = s.rev_kind[env], s.rev_target[env]
    status = first_failure(
        [
            (Not(in_range(env, cfg.n_envs)), Status.INVALID_ARGUMENT),
            (Not(s.env_alive[env]), Status.NO_SUCH_ENV),
            (Not(s.rev_pending[env]), Status.NO_REQUEST),
            (s.now <= s.rev_deadline[env], Status.TOO_EARLY),
        ],
        Status.OK,
    )
    cleared = s.replace(rev_pending=s.rev_pending.set(env, False))
    page_taken = free_page(cleared, target).replace(
        repo_page=cleared.repo_page.set((env, target), True)
    )
    running_here = And(s.cur_env == env, s.cur_slice == target)
    slice_taken = cleared.replace(
        slice_owner=cleared.slice_owner.set(target, FREE),
        repo_slice=cleared.repo_slice.set((env, target), True),
        cur_env=If(running_here, FREE, cleared.cur_env),
        hw_cid=If(running_here, FREE, cleared.hw_cid),
    )
    filter_taken = remove_filter(cleared, target).replace(
        repo_filter=cleared.repo_filter.set((env, target), True))
    taken = If(kind == Resource.PAGE, page_taken,
               If(kind == Resource.SLICE, slice_taken, filter_taken))
    return finish(s, raise_repossession(taken, env), status)


def raise_repossession(s: State, env: IntV) -> State:
    """REV-4: raise a repossession exception to ``env``: delivered now if it is running and
    has a repossession handler (``epc`` keeps where it was), else left waiting and
    delivered when it next starts a slice (CPU-5)."""
    handler = s.entry[env, int(Vector.REPOSSESSION)]
    now = And(s.cur_env == env, handler != NO_ENTRY)
    delivered = s.replace(epc=s.pc, cause=int(ExcKind.REPOSSESSION), pc=handler)
    waiting = s.replace(repo_exc=s.repo_exc.set(env, True))
    result: State = If(now, delivered, waiting)
    return result
