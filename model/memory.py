"""Physical memory: Alloc, Dealloc, sharing grants, and the load/store hardware events
(spec/memory.md).

Paper, "Design principles" (exposing physical names: a library OS asks for a *specific* physical
page),
"Secure bindings" (self-authenticating capabilities, checked at bind time) and Aegis "Address
translation" (Alloc, Dealloc).
"""

from __future__ import annotations

from exo.interface import FREE, Cap, ExcKind, Outcome, Resource, Result, Rights, Status
from exo.logic import And, BoolV, If, IntV, Not, Or, first_failure, in_range
from exo.model.exceptions import deliver
from exo.model.ops import cap_valid, finish, live, rights_ok, transition
from exo.model.state import State
from exo.model.tlb import guaranteed_slot, revalidate, stlb_hit, tlb_hit, tlb_put


@transition("alloc")
def alloc(s: State, env: IntV, page: IntV) -> tuple[State, Result]:
    """MEM-1 (paper: exposing physical names; Aegis Alloc): ``env`` takes the free physical page
    ``page``.

    ``env`` becomes its owner with READWRITE; the page reads as zeros (no data leaks from a
    previous owner); a repossession record of this page for ``env`` is cleared. Returns the
    capability ``Cap(page, gen, READWRITE)``.
    """
    cfg = s.cfg
    status = first_failure(
        [
            (Not(in_range(env, cfg.n_envs)), Status.INVALID_ARGUMENT),
            (Not(in_range(page, cfg.n_pages)), Status.INVALID_ARGUMENT),
            (Not(s.env_alive[env]), Status.NO_SUCH_ENV),
            (s.owner[page] != FREE, Status.IN_USE),
        ],
        Status.OK,
    )
    new = s.replace(
        owner=s.owner.set(page, env),
        rights=s.rights.set((env, page), int(Rights.READWRITE)),
        word=s.word.map(lambda p, w, old: If(p == page, 0, old)),
        repo_page=s.repo_page.set((env, page), False),
    )
    return finish(s, new, status, Cap(page, s.gen[page], int(Rights.READWRITE)))


def free_page(s: State, page: IntV) -> State:
    """MEM-2: ``page`` becomes free: no owner, no holder, a new generation; then every
    binding without authority is broken (TLB-9)."""
    new = s.replace(
        owner=s.owner.set(page, FREE),
        gen=s.gen.set(page, s.gen[page] + 1),
        rights=s.rights.map(lambda e, p, old: If(p == page, 0, old)),
    )
    return revalidate(new)


@transition("dealloc")
def dealloc(s: State, env: IntV, cap: Cap) -> tuple[State, Result]:
    """MEM-2/REV-2 (paper: Aegis Dealloc): the owner gives page ``cap.page`` back; any
    current capability of the owner for the page names it (ownership is the authority).

    Every capability for the page goes stale, every holder loses its rights, and every
    TLB entry, STLB entry and guaranteed mapping of the page is broken. It counts as the
    release a pending page revocation of ``env`` asks for (REV-2).
    """
    cfg = s.cfg
    page = cap.page
    status = first_failure(
        [
            (Not(in_range(env, cfg.n_envs)), Status.INVALID_ARGUMENT),
            (Not(in_range(page, cfg.n_pages)), Status.INVALID_ARGUMENT),
            (Not(s.env_alive[env]), Status.NO_SUCH_ENV),
            (s.owner[page] != env, Status.NOT_OWNER),
            (Not(cap_valid(s, env, cap)), Status.BAD_CAPABILITY),
        ],
        Status.OK,
    )
    released = s.replace(
        rev_pending=s.rev_pending.set(
            env, And(s.rev_pending[env], s.rev_kind[env] != Resource.PAGE)
        )
    )
    return finish(s, free_page(released, page), status)


@transition("grant")
def grant(s: State, env: IntV, cap: Cap, grantee: IntV, rights: IntV) -> tuple[State, Result]:
    """MEM-3 (paper: Secure bindings, sharing between library OSes): ``env`` gives ``grantee``
    access
    to ``cap.page`` with ``rights`` no greater than the capability's.

    The grantee's rights become the larger of what it had and ``rights``; a repossession
    record of the page for the grantee is cleared. Returns the grantee's capability.
    """
    cfg = s.cfg
    page = cap.page
    status = first_failure(
        [
            (Not(in_range(env, cfg.n_envs)), Status.INVALID_ARGUMENT),
            (Not(in_range(grantee, cfg.n_envs)), Status.INVALID_ARGUMENT),
            (Not(in_range(page, cfg.n_pages)), Status.INVALID_ARGUMENT),
            (Not(rights_ok(rights)), Status.INVALID_ARGUMENT),
            (Not(s.env_alive[env]), Status.NO_SUCH_ENV),
            (Not(s.env_alive[grantee]), Status.NO_SUCH_ENV),
            (Not(cap_valid(s, env, cap)), Status.BAD_CAPABILITY),
            (rights > cap.rights, Status.NO_PERMISSION),
        ],
        Status.OK,
    )
    old = s.rights[grantee, page]
    new = s.replace(
        rights=s.rights.set((grantee, page), If(old >= rights, old, rights)),
        repo_page=s.repo_page.set((grantee, page), False),
    )
    return finish(s, new, status, Cap(page, s.gen[page], rights))


def translate(s: State, vpage: IntV, write: BoolV) -> tuple[State, BoolV, BoolV, IntV, IntV]:
    """TLB-8: translate ``vpage`` for the running environment.

    Order: the hardware TLB; on a miss the STLB (refilling the TLB without asking the
    library OS); then the environment's guaranteed mappings (refilling the TLB). Returns
    the state after any refill, whether a binding was found, whether it permits the
    access, the physical page and the outcome of the translation.
    """
    e, cid = s.cur_env, s.hw_cid
    hit_t, i = tlb_hit(s, cid, vpage)
    hit_s, j = stlb_hit(s, cid, vpage)
    g = guaranteed_slot(s, e, vpage)
    hit_g = g >= 0
    page = If(hit_t, s.tlb_page[i], If(hit_s, s.stlb_page[j], s.gm_page[e, g]))
    writable = If(hit_t, s.tlb_write[i], If(hit_s, s.stlb_write[j], s.gm_write[e, g]))
    refilled = If(
        hit_t,
        s,
        If(
            hit_s,
            tlb_put(s, cid, vpage, s.stlb_page[j], s.stlb_write[j]),
            If(hit_g, tlb_put(s, cid, vpage, s.gm_page[e, g], s.gm_write[e, g]), s),
        ),
    )
    outcome = If(
        hit_t,
        int(Outcome.ACCESS),
        If(hit_s, int(Outcome.REFILL_STLB), int(Outcome.REFILL_GUARANTEED)),
    )
    found = Or(hit_t, hit_s, hit_g)
    permits = Or(Not(write), writable)
    return refilled, found, permits, page, outcome


def _access(s: State, vpage: IntV, offset: IntV, reg: IntV, write: bool
            ) -> tuple[State, Result]:
    """MEM-4/MEM-5: a load or store by the running environment at ``(vpage, offset)``."""
    cfg = s.cfg
    status = first_failure(
        [
            (Not(in_range(vpage, cfg.addr_limit)), Status.INVALID_ARGUMENT),
            (Not(in_range(offset, cfg.page_words)), Status.INVALID_ARGUMENT),
            (Not(in_range(reg, cfg.n_regs)), Status.INVALID_ARGUMENT),
            (Not(live(s, s.cur_env)), Status.NOT_RUNNING),
        ],
        Status.OK,
    )
    refilled, found, permits, page, outcome = translate(s, vpage, write)
    if write:
        accessed = refilled.replace(word=refilled.word.set((page, offset), refilled.regs[reg]))
    else:
        accessed = refilled.replace(regs=refilled.regs.set(reg, refilled.word[page, offset]))
    missed, miss_outcome = deliver(s, int(ExcKind.TLB_MISS), vpage)
    faulted, fault_outcome = deliver(refilled, int(ExcKind.PROTECTION), vpage)
    new = If(found, If(permits, accessed, faulted), missed)
    value = If(found, If(permits, outcome, fault_outcome), miss_outcome)
    return finish(s, new, status, value)


@transition("load")
def load(s: State, vpage: IntV, offset: IntV, reg: IntV) -> tuple[State, Result]:
    """MEM-4 (hardware event): the running environment loads word ``offset`` of virtual
    page ``vpage`` into register ``reg``; a miss everywhere raises TLB_MISS (EXC-2)."""
    return _access(s, vpage, offset, reg, write=False)


@transition("store")
def store(s: State, vpage: IntV, offset: IntV, reg: IntV) -> tuple[State, Result]:
    """MEM-5 (hardware event): the running environment stores register ``reg`` into word
    ``offset`` of ``vpage``; a read-only binding raises PROTECTION (EXC-2)."""
    return _access(s, vpage, offset, reg, write=True)


__all__ = ["alloc", "dealloc", "free_page", "grant", "load", "store", "translate"]
