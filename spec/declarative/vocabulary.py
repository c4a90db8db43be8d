"""Words the clauses define, for the declarative text (never functions of ``exo.model``).

Each predicate here is written from the sentence of spec/*.md that defines the word. The
index functions of the TLB and the STLB are the shared interface's (TLB-6, TLB-7), read
through ``logic.hashed`` under the same names as every other user of the interface, so
that for a symbolic size they are the one uninterpreted index function.
"""

from __future__ import annotations

from typing import Any

from exo.interface import FREE, NO_ENTRY, Cap, Resource, Rights, Vector, stlb_index, tlb_index
from exo.logic import And, BoolV, If, IntV, Or, hashed, in_range
from exo.spec.declarative.text import Cite, View


def live(s: Any, e: IntV) -> BoolV:
    """ENV-1: ``e`` names an environment that was created and not destroyed."""
    return And(in_range(e, s.cfg.n_envs), s.env_alive[e])


def right_for(write: BoolV) -> IntV:
    """MEM-6: writing needs READWRITE; reading (or a read-only mapping) needs READ."""
    return If(write, int(Rights.READWRITE), int(Rights.READ))


def is_right(r: IntV) -> BoolV:
    """MEM-6: a capability carries READ or READWRITE."""
    return Or(r == int(Rights.READ), r == int(Rights.READWRITE))


def current_and_held(s: Any, e: IntV, cap: Cap) -> BoolV:
    """MEM-6: ``cap`` names a page, carries a right, is of the page's current generation,
    and ``e`` holds at least the rights it carries."""
    return And(in_range(cap.page, s.cfg.n_pages), cap.gen == s.gen[cap.page],
               is_right(cap.rights), s.rights[e, cap.page] >= cap.rights)


def entry_address(s: Any, entry: IntV) -> BoolV:
    """GEN-3: an entry point is NO_ENTRY or an address below ``addr_limit``."""
    return Or(entry == NO_ENTRY, in_range(entry, s.cfg.addr_limit))


def tlb_slot_of(s: Any, cid: IntV, vpage: IntV) -> IntV:
    """TLB-6: the one hardware TLB slot for ``(cid, vpage)``."""
    return hashed("tlb", tlb_index, cid, vpage, s.cfg.tlb_size)


def stlb_slot_of(s: Any, cid: IntV, vpage: IntV) -> IntV:
    """TLB-7: the one STLB slot for ``(cid, vpage)``."""
    return hashed("stlb", stlb_index, cid, vpage, s.cfg.stlb_size)


def in_tlb(s: Any, cid: IntV, vpage: IntV) -> BoolV:
    """TLB-6: the TLB holds a valid binding of ``vpage`` tagged ``cid``."""
    i = tlb_slot_of(s, cid, vpage)
    return And(s.tlb_valid[i], s.tlb_cid[i] == cid, s.tlb_vpage[i] == vpage)


def in_stlb(s: Any, cid: IntV, vpage: IntV) -> BoolV:
    """TLB-7: the STLB caches a valid binding of ``vpage`` tagged ``cid``."""
    j = stlb_slot_of(s, cid, vpage)
    return And(s.stlb_valid[j], s.stlb_cid[j] == cid, s.stlb_vpage[j] == vpage)


def authorized(s: Any, cid: IntV, page: IntV, write: BoolV) -> BoolV:
    """TLB-9: a binding tagged ``cid`` of ``page`` has authority when ``cid`` is the context
    id of a live environment that holds ``page`` with the right the binding needs."""
    e = s.cid_env[cid]
    return And(in_range(cid, s.cfg.n_cids), live(s, e), s.env_cid[e] == cid,
               in_range(page, s.cfg.n_pages), s.rights[e, page] >= right_for(write))


def under_revocation(s: Any, e: IntV, resource: int, target: IntV) -> BoolV:
    """REV-1: a request of ``e`` to give back ``target`` of kind ``resource`` is pending."""
    return And(s.rev_pending[e], s.rev_kind[e] == int(resource), s.rev_target[e] == target)


def page_revocation(s: Any, e: IntV, page: IntV) -> BoolV:
    """REV-5: ``page`` is named by a pending page revocation of ``e``."""
    return under_revocation(s, e, Resource.PAGE, page)


def has_entry(s: Any, e: IntV, vector: int) -> BoolV:
    """ENV-3..ENV-5: ``e`` registered an entry point for ``vector``."""
    return s.entry[e, int(vector)] != NO_ENTRY


def runnable(s: Any, e: IntV) -> BoolV:
    """CPU-5: ``e`` is live and has a start-of-slice entry to receive the CPU at."""
    return And(live(s, e), has_entry(s, e, Vector.SLICE_START))


def following_slice(s: Any, q: IntV) -> IntV:
    """CPU-5: the slice after ``q`` in the vector, round robin."""
    return If(q + 1 >= s.cfg.n_slices, 0, q + 1)


def running(s: Any) -> BoolV:
    """CPU-5: some live environment holds the CPU."""
    return And(s.cur_env != FREE, live(s, s.cur_env))


TLB9 = "Every TLB entry, STLB entry and guaranteed mapping that lost its authority is broken."


def authority_kept(v: Any) -> View:
    """TLB-9, as a step of a text: on the state ``v`` (after an operation took authority
    away), a TLB or STLB entry stays valid only if it has authority in ``v``, and a
    guaranteed mapping only if its environment is live and owns the page in ``v``."""
    kept: View = v.given(
        Cite("TLB-9", TLB9),
        tlb_valid=lambda i: And(v.tlb_valid[i],
                                authorized(v, v.tlb_cid[i], v.tlb_page[i], v.tlb_write[i])),
        stlb_valid=lambda j: And(v.stlb_valid[j],
                                 authorized(v, v.stlb_cid[j], v.stlb_page[j], v.stlb_write[j])),
        gm_valid=lambda e, g: And(v.gm_valid[e, g], live(v, e), v.owner[v.gm_page[e, g]] == e),
    )
    return kept


def page_freed(v: Any, page: IntV, cite: Cite) -> View:
    """MEM-2 "Does", as a step: ``page`` is free, a generation on, held by nobody; then
    every binding that lost its authority is broken (TLB-9). ``cite`` names the clause that
    frees it (MEM-2 for Dealloc, REV-3 for an abort)."""
    return authority_kept(v.given(
        cite,
        owner=lambda p: If(p == page, FREE, v.owner[p]),
        gen=lambda p: If(p == page, v.gen[p] + 1, v.gen[p]),
        rights=lambda e, p: If(p == page, int(Rights.NONE), v.rights[e, p]),
    ))
