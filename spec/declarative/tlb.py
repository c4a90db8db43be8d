"""The declarative text of TLB-1..TLB-5 (spec/tlb.md): TLBwr, TLBvadelete, CIDswitch and
the guaranteed mappings. The slots come from TLB-6/TLB-7 (``tlb_slot_of``,
``stlb_slot_of``); CIDswitch ends with the TLB-9 revalidation step (``authority_kept``)."""

from __future__ import annotations

from exo.interface import FREE, Status
from exo.logic import And, BoolV, If, IntV, Not, in_range
from exo.model.state import State
from exo.spec.declarative.text import (
    A,
    Case,
    Cite,
    Requirement,
    Text,
    View,
    always,
    branch,
    env_alive,
    env_in_range,
)
from exo.spec.declarative.vocabulary import (
    authority_kept,
    current_and_held,
    page_revocation,
    right_for,
    stlb_slot_of,
    tlb_slot_of,
)


def _in_range(clause: str, label: str, words: str, k: int, bound: str) -> Requirement:
    return Requirement(label, Cite(clause, words),
                       lambda s, a: Not(in_range(a[k], getattr(s.cfg, bound))),
                       Status.INVALID_ARGUMENT)


def _page_in_range(clause: str, k: int) -> Requirement:
    return Requirement("cap-page-in-range", Cite(clause, "`cap.page` in `[0, n_pages)`"),
                       lambda s, a: Not(in_range(a[k].page, s.cfg.n_pages)),
                       Status.INVALID_ARGUMENT)


def _cap_valid(clause: str, k: int) -> Requirement:
    return Requirement("cap-valid", Cite(clause, "`cap` is valid for `env` (MEM-6)"),
                       lambda s, a: Not(current_and_held(s, a[0], a[k])),
                       Status.BAD_CAPABILITY)


def _cap_rights(clause: str, k: int, words: str) -> Requirement:
    return Requirement("cap-rights", Cite(clause, words),
                       lambda s, a: a[k].rights < right_for(a[k + 1]), Status.NO_PERMISSION)


def _ok(clause: str) -> Cite:
    return Cite(clause, "`OK` with the value 0.")


# --------------------------------------------------------------------------- TLB-1

_C1 = ("The binding `(env_cid[env], vpage) → cap.page`, with the given writable bit, is "
       "written into the hardware TLB and into the STLB")


_TLB1_TLB = Cite("TLB-1", _C1 + ": it goes into the one TLB slot chosen for it (TLB-6), "
                                 "replacing whatever entry was there.")
_TLB1_STLB = Cite("TLB-1", _C1 + ": it goes into the one STLB slot chosen for it (TLB-7), "
                                  "replacing whatever entry was there.")


def _installed(pre: State, a: A) -> View:
    env, vpage, cap, writable = a
    cid = pre.env_cid[env]
    i0 = tlb_slot_of(pre, cid, vpage)
    j0 = stlb_slot_of(pre, cid, vpage)

    def at_i(i: IntV) -> BoolV:
        return i == i0

    def at_j(j: IntV) -> BoolV:
        return j == j0

    branch(_TLB1_TLB, "tlb-entry-replaced", pre.tlb_valid[i0])
    branch(_TLB1_STLB, "stlb-entry-replaced", pre.stlb_valid[j0])
    return View(pre).given(
        _TLB1_TLB,
        tlb_valid=lambda i: If(at_i(i), True, pre.tlb_valid[i]),
        tlb_cid=lambda i: If(at_i(i), cid, pre.tlb_cid[i]),
        tlb_vpage=lambda i: If(at_i(i), vpage, pre.tlb_vpage[i]),
        tlb_page=lambda i: If(at_i(i), cap.page, pre.tlb_page[i]),
        tlb_write=lambda i: If(at_i(i), writable, pre.tlb_write[i]),
    ).given(
        _TLB1_STLB,
        stlb_valid=lambda j: If(at_j(j), True, pre.stlb_valid[j]),
        stlb_cid=lambda j: If(at_j(j), cid, pre.stlb_cid[j]),
        stlb_vpage=lambda j: If(at_j(j), vpage, pre.stlb_vpage[j]),
        stlb_page=lambda j: If(at_j(j), cap.page, pre.stlb_page[j]),
        stlb_write=lambda j: If(at_j(j), writable, pre.stlb_write[j]),
    )


TLBWR = Text(
    "tlbwr",
    (
        env_in_range("TLB-1"),
        _in_range("TLB-1", "vpage-in-range", "`vpage` in `[0, addr_limit)`", 1, "addr_limit"),
        _page_in_range("TLB-1", 2),
        env_alive("TLB-1"),
        _cap_valid("TLB-1", 2),
        _cap_rights("TLB-1", 2, "`cap.rights` is at least the right the mapping needs "
                                "(`READWRITE` if `writable`, else `READ`)"),
    ),
    (Case("installed", _ok("TLB-1"), always, _installed, lambda s, a: 0),),
)

# --------------------------------------------------------------------------- TLB-2

_C2 = "The operation looks up `(env_cid[env], vpage)`"


def _deleted(pre: State, a: A) -> View:
    env, vpage = a
    cid = pre.env_cid[env]
    i0 = tlb_slot_of(pre, cid, vpage)
    j0 = stlb_slot_of(pre, cid, vpage)
    return View(pre).given(
        Cite("TLB-2", _C2 + ": if the TLB slot for it holds a valid entry with exactly that "
                            "tag, the entry becomes invalid."),
        tlb_valid=lambda i: And(pre.tlb_valid[i], Not(And(
            i == i0, pre.tlb_cid[i] == cid, pre.tlb_vpage[i] == vpage))),
    ).given(
        Cite("TLB-2", "independently, the same is done in the STLB."),
        stlb_valid=lambda j: And(pre.stlb_valid[j], Not(And(
            j == j0, pre.stlb_cid[j] == cid, pre.stlb_vpage[j] == vpage))),
    )


TLBVADELETE = Text(
    "tlbvadelete",
    (
        env_in_range("TLB-2"),
        _in_range("TLB-2", "vpage-in-range", "`vpage` in `[0, addr_limit)`", 1, "addr_limit"),
        env_alive("TLB-2"),
    ),
    (Case("deleted", _ok("TLB-2"), always, _deleted, lambda s, a: 0),),
)

# --------------------------------------------------------------------------- TLB-3


_TLB3_RUNNING = Cite("TLB-3", "If `env` is running, the hardware context-id register "
                                 "`hw_cid` becomes `cid`.")


def _switched(pre: State, a: A) -> View:
    env, cid = a
    old = pre.env_cid[env]
    moved = View(pre).given(
        Cite("TLB-3", "The old context id is released, and `cid` is given to `env`: "
                      "`cid_env[old] = FREE`, then `cid_env[cid] = env` and "
                      "`env_cid[env] = cid`."),
        cid_env=lambda c: If(c == cid, env, If(c == old, FREE, pre.cid_env[c])),
        env_cid=lambda e: If(e == env, cid, pre.env_cid[e]),
    ).given(
        _TLB3_RUNNING,
        hw_cid=If(branch(_TLB3_RUNNING, "env-running", pre.cur_env == env), cid, pre.hw_cid),
    )
    kept: View = authority_kept(moved)
    return kept


CID_SWITCH = Text(
    "cid_switch",
    (
        env_in_range("TLB-3"),
        _in_range("TLB-3", "cid-in-range", "`cid` in `[0, n_cids)`", 1, "n_cids"),
        env_alive("TLB-3"),
        Requirement("cid-free-or-own", Cite("TLB-3", "`cid` is free or already `env`'s own"),
                    lambda s, a: And(s.cid_env[a[1]] != FREE, s.cid_env[a[1]] != a[0]),
                    Status.IN_USE),
    ),
    (Case("switched", _ok("TLB-3"), always, _switched, lambda s, a: 0),),
)

# --------------------------------------------------------------------------- TLB-4


def _gm_set(pre: State, a: A) -> View:
    env, slot, vpage, cap, writable = a

    def here(e: IntV, g: IntV) -> BoolV:
        return And(e == env, g == slot)

    return View(pre).given(
        Cite("TLB-4", "Guaranteed-mapping slot `slot` of `env` becomes valid, binding "
                      "`vpage → cap.page` with the given writable bit. Whatever the slot "
                      "held before is replaced."),
        gm_valid=lambda e, g: If(here(e, g), True, pre.gm_valid[e, g]),
        gm_vpage=lambda e, g: If(here(e, g), vpage, pre.gm_vpage[e, g]),
        gm_page=lambda e, g: If(here(e, g), cap.page, pre.gm_page[e, g]),
        gm_write=lambda e, g: If(here(e, g), writable, pre.gm_write[e, g]),
    )


GM_SET = Text(
    "gm_set",
    (
        env_in_range("TLB-4"),
        _in_range("TLB-4", "slot-in-range", "`slot` in `[0, n_guaranteed)`", 1,
                  "n_guaranteed"),
        _in_range("TLB-4", "vpage-in-range", "`vpage` in `[0, addr_limit)`", 2, "addr_limit"),
        _page_in_range("TLB-4", 3),
        env_alive("TLB-4"),
        _cap_valid("TLB-4", 3),
        Requirement("owner", Cite("TLB-4", "`env` owns `cap.page`"),
                    lambda s, a: s.owner[a[3].page] != a[0], Status.NOT_OWNER),
        _cap_rights("TLB-4", 3, "`cap.rights` is at least the right the mapping needs"),
        Requirement("not-revoked", Cite("TLB-4", "`cap.page` is not the target of a pending "
                                                 "page revocation request of `env`"),
                    lambda s, a: page_revocation(s, a[0], a[3].page), Status.BUSY),
    ),
    (Case("set", _ok("TLB-4"), always, _gm_set, lambda s, a: 0),),
)

# --------------------------------------------------------------------------- TLB-5


def _gm_cleared(pre: State, a: A) -> View:
    env, slot = a
    return View(pre).given(
        Cite("TLB-5", "Guaranteed-mapping slot `slot` of `env` becomes invalid. Its other "
                      "fields keep values that no longer mean anything."),
        gm_valid=lambda e, g: And(Not(And(e == env, g == slot)), pre.gm_valid[e, g]),
    )


GM_CLEAR = Text(
    "gm_clear",
    (
        env_in_range("TLB-5"),
        _in_range("TLB-5", "slot-in-range", "`slot` in `[0, n_guaranteed)`", 1,
                  "n_guaranteed"),
        env_alive("TLB-5"),
    ),
    (Case("cleared", _ok("TLB-5"), always, _gm_cleared, lambda s, a: 0),),
)

TEXTS: dict[str, Text] = {t.op: t for t in (TLBWR, TLBVADELETE, CID_SWITCH, GM_SET, GM_CLEAR)}
