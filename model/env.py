"""Processor environments: create, destroy, and the contexts they register (spec/env.md).

Paper, Aegis "Processor environments" (Aegis processor environments: exception, interrupt,
protected entry and
addressing contexts). The addressing context's operations (CIDswitch, guaranteed mappings)
live in ``exo.model.tlb``.
"""

from __future__ import annotations

from exo.interface import FREE, NO_ENTRY, NUM_EXCEPTIONS, Result, Status, Vector
from exo.logic import And, BoolV, If, IntV, Not, Or, first_failure, in_range
from exo.model.ops import entry_ok, finish, transition
from exo.model.state import State
from exo.model.tlb import revalidate


def destroy_env(s: State, e: IntV) -> State:
    """ENV-2: return every resource of ``e`` and break every binding that depended on them.

    Its pages become free (their generation moves on, so every capability for them goes
    stale, and every holder loses its rights), its held rights, slices and packet filters
    go (NET-2), its context id is released, its guaranteed mappings, entry points,
    revocation request, receive ring and repossession vector are cleared, and if it was
    running the CPU idles for the rest of the slice. Then every TLB and STLB entry
    without authority is broken (TLB-9).
    Callers check that ``e`` is live.
    """

    def mine(p: IntV) -> BoolV:
        return s.owner[p] == e

    new = s.replace(
        env_alive=s.env_alive.set(e, False),
        env_cid=s.env_cid.set(e, FREE),
        cid_env=s.cid_env.set(s.env_cid[e], FREE),
        entry=s.entry.map(lambda x, v, old: If(x == e, NO_ENTRY, old)),
        owner=s.owner.map(lambda p, old: If(mine(p), FREE, old)),
        gen=s.gen.map(lambda p, old: If(mine(p), old + 1, old)),
        rights=s.rights.map(lambda x, p, old: If(Or(x == e, mine(p)), 0, old)),
        gm_valid=s.gm_valid.map(lambda x, g, old: And(old, x != e)),
        slice_owner=s.slice_owner.map(lambda q, old: If(old == e, FREE, old)),
        excess=s.excess.set(e, 0),
        rev_pending=s.rev_pending.set(e, False),
        repo_page=s.repo_page.map(lambda x, p, old: And(old, x != e)),
        repo_slice=s.repo_slice.map(lambda x, q, old: And(old, x != e)),
        repo_exc=s.repo_exc.set(e, False),
        repo_filter=s.repo_filter.map(lambda x, f, old: And(old, x != e)),
        filter_valid=s.filter_valid.map(lambda f, old: And(old, s.filter_owner[f] != e)),
        rx_head=s.rx_head.set(e, 0),
        rx_count=s.rx_count.set(e, 0),
        rx_drops=s.rx_drops.set(e, 0),
        cur_env=If(s.cur_env == e, FREE, s.cur_env),
        hw_cid=If(s.cur_env == e, FREE, s.hw_cid),
    )
    return revalidate(new)


@transition("env_create")
def env_create(s: State, env: IntV, cid: IntV) -> tuple[State, Result]:
    """ENV-1 (paper: Processor environments): make environment ``env`` live with context id ``cid``.

    The new environment owns and holds nothing, has no entry points, no guaranteed
    mappings, no slices, no excess time, no revocation request and an empty repossession
    vector.
    """
    cfg = s.cfg
    status = first_failure(
        [
            (Not(in_range(env, cfg.n_envs)), Status.INVALID_ARGUMENT),
            (Not(in_range(cid, cfg.n_cids)), Status.INVALID_ARGUMENT),
            (s.env_alive[env], Status.ENV_EXISTS),
            (s.cid_env[cid] != FREE, Status.IN_USE),
        ],
        Status.OK,
    )
    new = s.replace(
        env_alive=s.env_alive.set(env, True),
        env_cid=s.env_cid.set(env, cid),
        cid_env=s.cid_env.set(cid, env),
        entry=s.entry.map(lambda x, v, old: If(x == env, NO_ENTRY, old)),
        gm_valid=s.gm_valid.map(lambda x, g, old: And(old, x != env)),
        excess=s.excess.set(env, 0),
        rev_pending=s.rev_pending.set(env, False),
        repo_page=s.repo_page.map(lambda x, p, old: And(old, x != env)),
        repo_slice=s.repo_slice.map(lambda x, q, old: And(old, x != env)),
        repo_exc=s.repo_exc.set(env, False),
        repo_filter=s.repo_filter.map(lambda x, f, old: And(old, x != env)),
        rx_head=s.rx_head.set(env, 0),
        rx_count=s.rx_count.set(env, 0),
        rx_drops=s.rx_drops.set(env, 0),
    )
    return finish(s, new, status, env)


@transition("env_destroy")
def env_destroy(s: State, env: IntV) -> tuple[State, Result]:
    """ENV-2 (paper: Processor environments): destroy ``env``; see ``destroy_env``."""
    status = first_failure(
        [
            (Not(in_range(env, s.cfg.n_envs)), Status.INVALID_ARGUMENT),
            (Not(s.env_alive[env]), Status.NO_SUCH_ENV),
        ],
        Status.OK,
    )
    return finish(s, destroy_env(s, env), status)


def _set_vector(s: State, env: IntV, base: int, count: int, which: IntV, entry: IntV
                ) -> tuple[State, Result]:
    """Register ``entry`` as vector ``base + which`` of ``env`` (``which`` < ``count``)."""
    status = first_failure(
        [
            (Not(in_range(env, s.cfg.n_envs)), Status.INVALID_ARGUMENT),
            (Not(in_range(which, count)), Status.INVALID_ARGUMENT),
            (Not(entry_ok(s, entry)), Status.INVALID_ARGUMENT),
            (Not(s.env_alive[env]), Status.NO_SUCH_ENV),
        ],
        Status.OK,
    )
    new = s.replace(entry=s.entry.set((env, base + which), entry))
    return finish(s, new, status)


@transition("set_exception_context")
def set_exception_context(s: State, env: IntV, exc: IntV, entry: IntV) -> tuple[State, Result]:
    """ENV-3 (paper: Processor environments, exception context): the handler of exception kind
    ``exc``
    (an ``ExcKind``); ``entry`` = NO_ENTRY unregisters it."""
    return _set_vector(s, env, int(Vector.TLB_MISS), NUM_EXCEPTIONS, exc, entry)


@transition("set_interrupt_context")
def set_interrupt_context(s: State, env: IntV, which: IntV, entry: IntV) -> tuple[State, Result]:
    """ENV-4 (paper: Processor environments, interrupt context): the start- or end-of-slice entry
    point
    (an ``Interrupt``)."""
    return _set_vector(s, env, int(Vector.SLICE_START), 2, which, entry)


@transition("set_protected_entry")
def set_protected_entry(s: State, env: IntV, which: IntV, entry: IntV) -> tuple[State, Result]:
    """ENV-5 (paper: Processor environments, protected entry context): the synchronous or
    asynchronous entry
    point (an ``EntryKind``) that protected control transfers land on."""
    return _set_vector(s, env, int(Vector.PCT_SYNC), 2, which, entry)
