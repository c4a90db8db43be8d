"""Processor environments: create, destroy, and the contexts they register (spec/env.md)."""

from __future__ import annotations

from exo.impl.ops import OK, entry_ok, fail, in_range
from exo.impl.state import KernelState
from exo.impl.tlb import break_cid, break_page
from exo.interface import FREE, NO_ENTRY, NUM_EXCEPTIONS, NUM_VECTORS, Result, Status, Vector


def release_page(k: KernelState, page: int) -> None:
    """MEM-2: ``page`` becomes free: no owner, no holder, a new generation, and every
    binding of it broken (TLB-9)."""
    o = k.owner[page]
    if o != FREE:
        k.owned[o].discard(page)
    k.owner[page] = FREE
    k.gen[page] += 1
    for h in k.holders[page]:
        k.held[h].pop(page, None)
    k.holders[page] = set()
    break_page(k, page)


def destroy_env(k: KernelState, e: int) -> None:
    """ENV-2: return every resource of the live env ``e`` and break every binding that
    depended on them: its pages are freed (new generation, holders lose their rights),
    its rights, slices, filters, context id, guaranteed mappings, entry points, request,
    ring and repossession vector go; if it was running the CPU idles."""
    k.env_alive[e] = False
    cid = k.env_cid[e]
    k.env_cid[e] = FREE
    if in_range(cid, k.cfg.n_cids):
        k.cid_env[cid] = FREE
    k.entry[e] = [NO_ENTRY] * NUM_VECTORS
    for p in list(k.owned[e]):
        release_page(k, p)
    for p in k.held[e]:
        k.holders[p].discard(e)
    k.held[e] = {}
    for g in range(k.cfg.n_guaranteed):
        k.gm_drop(e, g)
    for q in k.slices[e]:
        k.slice_owner[q] = FREE
    k.slices[e] = set()
    k.excess[e] = 0
    k.rev_pending[e] = False
    k.repo_page[e] = set()
    k.repo_slice[e] = set()
    k.repo_exc[e] = False
    k.repo_filter[e] = set()
    for f in k.filters[e]:
        k.filter_valid[f] = False
        k.demux.remove(f)
    k.filters[e] = set()
    k.rx_head[e] = 0
    k.rx_count[e] = 0
    k.rx_drops[e] = 0
    if k.cur_env == e:
        k.cur_env = FREE
        k.hw_cid = FREE
    break_cid(k, cid)


def env_create(k: KernelState, env: int, cid: int) -> Result:
    """ENV-1: make ``env`` live with context id ``cid``, owning and holding nothing."""
    c = k.cfg
    if not in_range(env, c.n_envs) or not in_range(cid, c.n_cids):
        return fail(Status.INVALID_ARGUMENT)
    if k.env_alive[env]:
        return fail(Status.ENV_EXISTS)
    if k.cid_env[cid] != FREE:
        return fail(Status.IN_USE)
    k.env_alive[env] = True
    k.env_cid[env] = cid
    k.cid_env[cid] = env
    k.entry[env] = [NO_ENTRY] * NUM_VECTORS
    for g in range(c.n_guaranteed):
        k.gm_drop(env, g)
    k.excess[env] = 0
    k.rev_pending[env] = False
    k.repo_page[env] = set()
    k.repo_slice[env] = set()
    k.repo_exc[env] = False
    k.repo_filter[env] = set()
    k.rx_head[env] = 0
    k.rx_count[env] = 0
    k.rx_drops[env] = 0
    return Result(Status.OK, env)


def env_destroy(k: KernelState, env: int) -> Result:
    """ENV-2: destroy ``env``; see ``destroy_env``."""
    if not in_range(env, k.cfg.n_envs):
        return fail(Status.INVALID_ARGUMENT)
    if not k.env_alive[env]:
        return fail(Status.NO_SUCH_ENV)
    destroy_env(k, env)
    return OK


def _set_vector(k: KernelState, env: int, base: int, count: int, which: int, entry: int
                ) -> Result:
    """ENV-3..ENV-5: register ``entry`` as vector ``base + which`` of ``env``."""
    if not in_range(env, k.cfg.n_envs) or not in_range(which, count) \
            or not entry_ok(k, entry):
        return fail(Status.INVALID_ARGUMENT)
    if not k.env_alive[env]:
        return fail(Status.NO_SUCH_ENV)
    k.entry[env][base + which] = entry
    return OK


def set_exception_context(k: KernelState, env: int, exc: int, entry: int) -> Result:
    """ENV-3: the handler of exception kind ``exc``; NO_ENTRY unregisters it."""
    return _set_vector(k, env, int(Vector.TLB_MISS), NUM_EXCEPTIONS, exc, entry)


def set_interrupt_context(k: KernelState, env: int, which: int, entry: int) -> Result:
    """ENV-4: the start- or end-of-slice entry point."""
    return _set_vector(k, env, int(Vector.SLICE_START), 2, which, entry)


def set_protected_entry(k: KernelState, env: int, which: int, entry: int) -> Result:
    """ENV-5: the synchronous or asynchronous protected entry point."""
    return _set_vector(k, env, int(Vector.PCT_SYNC), 2, which, entry)
