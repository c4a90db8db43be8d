"""Visible revocation and the abort protocol (spec/revocation.md)."""

from __future__ import annotations

from exo.impl.memory import free_page
from exo.impl.net import remove_filter
from exo.impl.ops import OK, fail, in_range
from exo.impl.state import KernelState
from exo.impl.tlb import guaranteed_page
from exo.interface import FREE, NO_ENTRY, ExcKind, Resource, Result, Status, Vector


def revoke_request(k: KernelState, env: int, resource: int, target: int, deadline: int
                   ) -> Result:
    """REV-1: ask ``env`` to release one resource of kind ``resource`` by ``deadline``;
    ``target`` is what the kernel takes if it does not."""
    c = k.cfg
    is_page = resource == Resource.PAGE
    is_slice = resource == Resource.SLICE
    is_filter = resource == Resource.FILTER
    if not in_range(env, c.n_envs) or not (is_page or is_slice or is_filter) \
            or (is_page and not in_range(target, c.n_pages)) \
            or (is_slice and not in_range(target, c.n_slices)) \
            or (is_filter and not in_range(target, c.n_filters)) or deadline <= k.now:
        return fail(Status.INVALID_ARGUMENT)
    if not k.env_alive[env]:
        return fail(Status.NO_SUCH_ENV)
    if k.rev_pending[env]:
        return fail(Status.BUSY)
    if (is_page and k.owner[target] != env) or (is_slice and k.slice_owner[target] != env) \
            or (is_filter and not (k.filter_valid[target] and k.filter_owner[target] == env)):
        return fail(Status.NOT_OWNER)
    if is_page and guaranteed_page(k, env, target):
        return fail(Status.GUARANTEED)
    k.rev_pending[env] = True
    k.rev_kind[env] = resource
    k.rev_target[env] = target
    k.rev_deadline[env] = deadline
    return OK


def abort(k: KernelState, env: int) -> Result:
    """REV-3: past the deadline of ``env``'s request, take its target by force, record the
    loss in the repossession vector and raise a repossession exception (REV-4)."""
    if not in_range(env, k.cfg.n_envs):
        return fail(Status.INVALID_ARGUMENT)
    if not k.env_alive[env]:
        return fail(Status.NO_SUCH_ENV)
    if not k.rev_pending[env]:
        return fail(Status.NO_REQUEST)
    if k.now <= k.rev_deadline[env]:
        return fail(Status.TOO_EARLY)
    k.rev_pending[env] = False
    kind, target = k.rev_kind[env], k.rev_target[env]
    if kind == Resource.PAGE:
        free_page(k, target)
        k.repo_page[env].add(target)
    elif kind == Resource.SLICE:
        o = k.slice_owner[target]
        if o != FREE:
            k.slices[o].discard(target)
        k.slice_owner[target] = FREE
        k.repo_slice[env].add(target)
        if k.cur_env == env and k.cur_slice == target:
            k.cur_env = FREE
            k.hw_cid = FREE
    else:
        remove_filter(k, target)
        k.repo_filter[env].add(target)
    raise_repossession(k, env)
    return OK


def raise_repossession(k: KernelState, env: int) -> None:
    """REV-4: deliver a repossession exception now if ``env`` runs and has a handler
    (``epc`` keeps where it was), else leave it waiting for its next slice start."""
    handler = k.entry[env][Vector.REPOSSESSION]
    if k.cur_env == env and handler != NO_ENTRY:
        k.epc, k.cause, k.pc = k.pc, int(ExcKind.REPOSSESSION), handler
    else:
        k.repo_exc[env] = True
