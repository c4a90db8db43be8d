"""Secure bindings for memory: TLB, STLB, guaranteed mappings, context ids (spec/tlb.md).

Paper, "Secure bindings", Aegis "Address translation" (TLBwr, TLBvadelete, CIDswitch, the STLB) and
Aegis "Processor environments" (addressing context, guaranteed mappings).
"""

from __future__ import annotations

from exo.interface import FREE, Cap, Resource, Result, Status, stlb_index, tlb_index
from exo.logic import (
    And,
    BoolV,
    If,
    IntV,
    Not,
    exists,
    find,
    first_failure,
    hashed,
    in_range,
)
from exo.model.ops import cap_valid, finish, live, needed, transition
from exo.model.state import State

# --------------------------------------------------------------------------- lookups (TLB-6/7)


def tlb_slot(s: State, cid: IntV, vpage: IntV) -> IntV:
    """TLB-6: the one hardware TLB slot that may hold ``(cid, vpage)``."""
    return hashed("tlb", tlb_index, cid, vpage, s.cfg.tlb_size)


def stlb_slot(s: State, cid: IntV, vpage: IntV) -> IntV:
    """TLB-7: the one STLB slot that may hold ``(cid, vpage)``."""
    return hashed("stlb", stlb_index, cid, vpage, s.cfg.stlb_size)


def tlb_hit(s: State, cid: IntV, vpage: IntV) -> tuple[BoolV, IntV]:
    """TLB-6: is ``(cid, vpage)`` in the TLB, and at which slot."""
    i = tlb_slot(s, cid, vpage)
    return And(s.tlb_valid[i], s.tlb_cid[i] == cid, s.tlb_vpage[i] == vpage), i


def stlb_hit(s: State, cid: IntV, vpage: IntV) -> tuple[BoolV, IntV]:
    """TLB-7: is ``(cid, vpage)`` cached in the STLB, and at which slot."""
    j = stlb_slot(s, cid, vpage)
    return And(s.stlb_valid[j], s.stlb_cid[j] == cid, s.stlb_vpage[j] == vpage), j


def tlb_put(s: State, cid: IntV, vpage: IntV, page: IntV, write: BoolV) -> State:
    """TLB-6: write the binding into its TLB slot, evicting whatever was there."""
    i = tlb_slot(s, cid, vpage)
    return s.replace(
        tlb_valid=s.tlb_valid.set(i, True),
        tlb_cid=s.tlb_cid.set(i, cid),
        tlb_vpage=s.tlb_vpage.set(i, vpage),
        tlb_page=s.tlb_page.set(i, page),
        tlb_write=s.tlb_write.set(i, write),
    )


def stlb_put(s: State, cid: IntV, vpage: IntV, page: IntV, write: BoolV) -> State:
    """TLB-7: cache the binding in its STLB slot, evicting whatever was there."""
    j = stlb_slot(s, cid, vpage)
    return s.replace(
        stlb_valid=s.stlb_valid.set(j, True),
        stlb_cid=s.stlb_cid.set(j, cid),
        stlb_vpage=s.stlb_vpage.set(j, vpage),
        stlb_page=s.stlb_page.set(j, page),
        stlb_write=s.stlb_write.set(j, write),
    )


def guaranteed_slot(s: State, e: IntV, vpage: IntV) -> IntV:
    """TLB-8: the first valid guaranteed mapping of ``e`` for ``vpage``, or -1."""
    return find(
        s.cfg.n_guaranteed,
        lambda g: And(s.gm_valid[e, g], s.gm_vpage[e, g] == vpage),
        name="gm",
    )


# --------------------------------------------------------------------------- authority (TLB-9)


def authorized(s: State, cid: IntV, page: IntV, write: BoolV) -> BoolV:
    """TLB-9: the live env using context id ``cid`` holds ``page`` with the needed right."""
    e = s.cid_env[cid]
    return And(
        in_range(cid, s.cfg.n_cids),
        live(s, e),
        s.env_cid[e] == cid,
        in_range(page, s.cfg.n_pages),
        s.rights[e, page] >= needed(write),
    )


def revalidate(s: State) -> State:
    """TLB-9: break every secure binding whose authority is gone.

    Applied after every operation that takes authority away (Dealloc, destroy, abort,
    CIDswitch): a TLB or STLB entry survives only if ``authorized`` in the new state, a
    guaranteed mapping only if its environment still owns the page.
    """
    return s.replace(
        tlb_valid=s.tlb_valid.map(
            lambda i, v: And(v, authorized(s, s.tlb_cid[i], s.tlb_page[i], s.tlb_write[i]))
        ),
        stlb_valid=s.stlb_valid.map(
            lambda j, v: And(v, authorized(s, s.stlb_cid[j], s.stlb_page[j], s.stlb_write[j]))
        ),
        gm_valid=s.gm_valid.map(
            lambda e, g, v: And(v, live(s, e), s.owner[s.gm_page[e, g]] == e)
        ),
    )


def revocation_target(s: State, e: IntV, page: IntV) -> BoolV:
    """REV-5: ``page`` is named by a pending page revocation of ``e``."""
    return And(s.rev_pending[e], s.rev_kind[e] == Resource.PAGE, s.rev_target[e] == page)


def guaranteed_page(s: State, e: IntV, page: IntV) -> BoolV:
    """REV-5: some guaranteed mapping of ``e`` binds ``page``."""
    return exists(
        s.cfg.n_guaranteed,
        lambda g: And(s.gm_valid[e, g], s.gm_page[e, g] == page),
        name="gmp",
    )


# --------------------------------------------------------------------------- operations


@transition("tlbwr")
def tlbwr(s: State, env: IntV, vpage: IntV, cap: Cap, writable: BoolV) -> tuple[State, Result]:
    """TLB-1 (paper: Aegis TLBwr): install ``vpage → cap.page`` for ``env``'s context id.

    The secure binding is authorized here, once: the capability must be current and held
    by ``env`` with at least the rights the mapping grants. The binding goes into the
    hardware TLB and is cached in the STLB.
    """
    cfg = s.cfg
    status = first_failure(
        [
            (Not(in_range(env, cfg.n_envs)), Status.INVALID_ARGUMENT),
            (Not(in_range(vpage, cfg.addr_limit)), Status.INVALID_ARGUMENT),
            (Not(in_range(cap.page, cfg.n_pages)), Status.INVALID_ARGUMENT),
            (Not(s.env_alive[env]), Status.NO_SUCH_ENV),
            (Not(cap_valid(s, env, cap)), Status.BAD_CAPABILITY),
            (cap.rights < needed(writable), Status.NO_PERMISSION),
        ],
        Status.OK,
    )
    cid = s.env_cid[env]
    new = tlb_put(s, cid, vpage, cap.page, writable)
    new = stlb_put(new, cid, vpage, cap.page, writable)
    return finish(s, new, status)


@transition("tlbvadelete")
def tlbvadelete(s: State, env: IntV, vpage: IntV) -> tuple[State, Result]:
    """TLB-2 (paper: Aegis TLBvadelete): remove ``env``'s binding of ``vpage``.

    Removed from the TLB and the STLB both; a guaranteed mapping of ``vpage`` stays (it is
    removed with ``gm_clear``) and will refill the TLB on the next miss.
    """
    cfg = s.cfg
    status = first_failure(
        [
            (Not(in_range(env, cfg.n_envs)), Status.INVALID_ARGUMENT),
            (Not(in_range(vpage, cfg.addr_limit)), Status.INVALID_ARGUMENT),
            (Not(s.env_alive[env]), Status.NO_SUCH_ENV),
        ],
        Status.OK,
    )
    cid = s.env_cid[env]
    hit_t, i = tlb_hit(s, cid, vpage)
    hit_s, j = stlb_hit(s, cid, vpage)
    new = s.replace(
        tlb_valid=s.tlb_valid.set(i, And(s.tlb_valid[i], Not(hit_t))),
        stlb_valid=s.stlb_valid.set(j, And(s.stlb_valid[j], Not(hit_s))),
    )
    return finish(s, new, status)


@transition("cid_switch")
def cid_switch(s: State, env: IntV, cid: IntV) -> tuple[State, Result]:
    """TLB-3 (paper: Aegis CIDswitch): give ``env``'s addressing context the id ``cid``.

    The old context id is released and every binding tagged with it is broken; if ``env``
    is running, the hardware context-id register follows.
    """
    cfg = s.cfg
    status = first_failure(
        [
            (Not(in_range(env, cfg.n_envs)), Status.INVALID_ARGUMENT),
            (Not(in_range(cid, cfg.n_cids)), Status.INVALID_ARGUMENT),
            (Not(s.env_alive[env]), Status.NO_SUCH_ENV),
            (And(s.cid_env[cid] != FREE, s.cid_env[cid] != env), Status.IN_USE),
        ],
        Status.OK,
    )
    old = s.env_cid[env]
    new = s.replace(
        cid_env=s.cid_env.set(old, FREE).set(cid, env),
        env_cid=s.env_cid.set(env, cid),
        hw_cid=If(s.cur_env == env, cid, s.hw_cid),
    )
    return finish(s, revalidate(new), status)


@transition("gm_set")
def gm_set(
    s: State, env: IntV, slot: IntV, vpage: IntV, cap: Cap, writable: BoolV
) -> tuple[State, Result]:
    """TLB-4 (paper: Processor environments, addressing context): set guaranteed mapping ``slot``
    of ``env``.

    A guaranteed mapping binds one of ``env``'s *own* pages; the kernel refills the TLB
    from it on a miss, and the page is never repossessed (REV-5), so a page named by a
    pending revocation cannot become guaranteed.
    """
    cfg = s.cfg
    status = first_failure(
        [
            (Not(in_range(env, cfg.n_envs)), Status.INVALID_ARGUMENT),
            (Not(in_range(slot, cfg.n_guaranteed)), Status.INVALID_ARGUMENT),
            (Not(in_range(vpage, cfg.addr_limit)), Status.INVALID_ARGUMENT),
            (Not(in_range(cap.page, cfg.n_pages)), Status.INVALID_ARGUMENT),
            (Not(s.env_alive[env]), Status.NO_SUCH_ENV),
            (Not(cap_valid(s, env, cap)), Status.BAD_CAPABILITY),
            (s.owner[cap.page] != env, Status.NOT_OWNER),
            (cap.rights < needed(writable), Status.NO_PERMISSION),
            (revocation_target(s, env, cap.page), Status.BUSY),
        ],
        Status.OK,
    )
    new = s.replace(
        gm_valid=s.gm_valid.set((env, slot), True),
        gm_vpage=s.gm_vpage.set((env, slot), vpage),
        gm_page=s.gm_page.set((env, slot), cap.page),
        gm_write=s.gm_write.set((env, slot), writable),
    )
    return finish(s, new, status)


@transition("gm_clear")
def gm_clear(s: State, env: IntV, slot: IntV) -> tuple[State, Result]:
    """TLB-5: remove guaranteed mapping ``slot`` of ``env`` (TLB entries made from it stay:
    they remain authorized, ``env`` still owns the page)."""
    cfg = s.cfg
    status = first_failure(
        [
            (Not(in_range(env, cfg.n_envs)), Status.INVALID_ARGUMENT),
            (Not(in_range(slot, cfg.n_guaranteed)), Status.INVALID_ARGUMENT),
            (Not(s.env_alive[env]), Status.NO_SUCH_ENV),
        ],
        Status.OK,
    )
    new = s.replace(gm_valid=s.gm_valid.set((env, slot), False))
    return finish(s, new, status)

