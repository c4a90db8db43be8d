"""The declarative text of MEM-1..MEM-5 (spec/memory.md), with translation as TLB-8
(spec/tlb.md) orders it."""

from __future__ import annotations

from typing import Any

from exo.interface import FREE, Cap, ExcKind, Outcome, Resource, Rights, Status
from exo.logic import And, BoolV, If, IntV, Max, Not, Or, exists, find, in_range
from exo.model.state import State
from exo.spec.declarative.exceptions import delivered, delivery_outcome
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
    shared,
)
from exo.spec.declarative.vocabulary import (
    current_and_held,
    in_stlb,
    in_tlb,
    is_right,
    page_freed,
    running,
    stlb_slot_of,
    tlb_slot_of,
)

# --------------------------------------------------------------------------- MEM-1


_MEM1_REPO = Cite("MEM-1", "If `page` had been repossessed from `env`, that record is cleared "
                           "(`repo_page[env, page] = false`).")


def _allocated(pre: State, a: A) -> View:
    env, page = a
    branch(_MEM1_REPO, "was-repossessed", pre.repo_page[env, page])
    return View(pre).given(
        Cite("MEM-1", "`owner[page] = env` and `rights[env, page] = READWRITE`."),
        owner=lambda p: If(p == page, env, pre.owner[p]),
        rights=lambda e, p: If(And(e == env, p == page), int(Rights.READWRITE),
                               pre.rights[e, p]),
    ).given(
        Cite("MEM-1", "Every word of the page becomes 0, so nothing written by an earlier "
                      "owner can be read."),
        word=lambda p, w: If(p == page, 0, pre.word[p, w]),
    ).given(
        _MEM1_REPO,
        repo_page=lambda e, p: And(Not(And(e == env, p == page)), pre.repo_page[e, p]),
    )


ALLOC = Text(
    "alloc",
    (
        env_in_range("MEM-1"),
        Requirement("page-in-range", Cite("MEM-1", "`page` in `[0, n_pages)`"),
                    lambda s, a: Not(in_range(a[1], s.cfg.n_pages)),
                    Status.INVALID_ARGUMENT),
        env_alive("MEM-1"),
        Requirement("page-free", Cite("MEM-1", "`page` is free (`owner[page] == FREE`)"),
                    lambda s, a: s.owner[a[1]] != FREE, Status.IN_USE),
    ),
    (Case("allocated",
          Cite("MEM-1", "`OK` with the capability `Cap(page, gen[page], READWRITE)`."),
          always, _allocated,
          lambda s, a: Cap(a[1], s.gen[a[1]], int(Rights.READWRITE))),),
)

# --------------------------------------------------------------------------- MEM-2


_PAGE_REQUEST = Cite("MEM-2", "If `env` has a pending revocation request of kind `PAGE`, the "
                              "request is satisfied and cleared, whichever page it named "
                              "(REV-2). A pending request of kind `SLICE` stays.")


def _deallocated(pre: State, a: A) -> View:
    env, cap = a
    branch(_PAGE_REQUEST, "page-request-satisfied",
           And(pre.rev_pending[env], pre.rev_kind[env] == int(Resource.PAGE)))
    released = View(pre).given(
        _PAGE_REQUEST,
        rev_pending=lambda e: And(pre.rev_pending[e],
                                  Not(And(e == env, pre.rev_kind[e] == int(Resource.PAGE)))),
    )
    freed: View = page_freed(released, cap.page, Cite(
        "MEM-2", "The page becomes free (`owner = FREE`), its generation increases by one "
                 "(so every capability for it goes stale), and every environment's rights "
                 "on it drop to `NONE`."))
    return freed


DEALLOC = Text(
    "dealloc",
    (
        env_in_range("MEM-2"),
        Requirement("page-in-range", Cite("MEM-2", "`cap.page` in `[0, n_pages)`"),
                    lambda s, a: Not(in_range(a[1].page, s.cfg.n_pages)),
                    Status.INVALID_ARGUMENT),
        env_alive("MEM-2"),
        Requirement("owner", Cite("MEM-2", "`env` owns `cap.page`"),
                    lambda s, a: s.owner[a[1].page] != a[0], Status.NOT_OWNER),
        Requirement("cap-valid", Cite("MEM-2", "`cap` is valid for `env` (MEM-6)"),
                    lambda s, a: Not(current_and_held(s, a[0], a[1])),
                    Status.BAD_CAPABILITY),
    ),
    (Case("deallocated", Cite("MEM-2", "`OK` with the value 0."), always, _deallocated,
          lambda s, a: 0),),
)

# --------------------------------------------------------------------------- MEM-3


_MEM3_RIGHTS = Cite("MEM-3", "`rights[grantee, page]` becomes the larger of its old value "
                             "and `rights`. A grant never lowers anyone's rights.")
_MEM3_REPO = Cite("MEM-3", "If `page` had been repossessed from `grantee`, that record is "
                           "cleared.")


def _granted(pre: State, a: A) -> View:
    _env, cap, grantee, rights = a

    def granted_to(e: IntV, p: IntV) -> BoolV:
        return And(e == grantee, p == cap.page)

    branch(_MEM3_RIGHTS, "raises-rights", rights > pre.rights[grantee, cap.page])
    branch(_MEM3_REPO, "was-repossessed", pre.repo_page[grantee, cap.page])
    return View(pre).given(
        _MEM3_RIGHTS,
        rights=lambda e, p: If(granted_to(e, p), Max(pre.rights[e, p], rights),
                               pre.rights[e, p]),
    ).given(
        _MEM3_REPO,
        repo_page=lambda e, p: And(Not(granted_to(e, p)), pre.repo_page[e, p]),
    )


GRANT = Text(
    "grant",
    (
        env_in_range("MEM-3"),
        Requirement("grantee-in-range", Cite("MEM-3", "`grantee` in `[0, n_envs)`"),
                    lambda s, a: Not(in_range(a[2], s.cfg.n_envs)), Status.INVALID_ARGUMENT),
        Requirement("page-in-range", Cite("MEM-3", "`cap.page` in `[0, n_pages)`"),
                    lambda s, a: Not(in_range(a[1].page, s.cfg.n_pages)),
                    Status.INVALID_ARGUMENT),
        Requirement("rights-kind", Cite("MEM-3", "`rights` is `READ` or `READWRITE`"),
                    lambda s, a: Not(is_right(a[3])), Status.INVALID_ARGUMENT),
        env_alive("MEM-3"),
        Requirement("grantee-alive", Cite("MEM-3", "`grantee` is alive"),
                    lambda s, a: Not(s.env_alive[a[2]]), Status.NO_SUCH_ENV),
        Requirement("cap-valid", Cite("MEM-3", "`cap` is valid for `env` (MEM-6)"),
                    lambda s, a: Not(current_and_held(s, a[0], a[1])),
                    Status.BAD_CAPABILITY),
        Requirement("rights-within", Cite("MEM-3", "`rights` is not greater than "
                                                   "`cap.rights`"),
                    lambda s, a: a[3] > a[1].rights, Status.NO_PERMISSION),
    ),
    (Case("granted", Cite("MEM-3", "`OK` with `Cap(page, gen[page], rights)`, a capability "
                                   "for the grantee with exactly the rights granted."),
          always, _granted, lambda s, a: Cap(a[1].page, s.gen[a[1].page], a[3])),),
)

# --------------------------------------------------------------------------- TLB-8

_HIT = ("*Hardware TLB.* If the entry for `(hw_cid, vpage)` is present, that binding is "
        "used. Outcome `ACCESS`.")
_STLB = ("*STLB.* Otherwise, if the STLB entry for `(hw_cid, vpage)` is present, it is "
         "copied into the TLB (replacing that TLB slot) and used. Outcome `REFILL_STLB`.")
_GUARANTEED = ("*Guaranteed mappings.* Otherwise, if `e` has a valid guaranteed mapping of "
               "`vpage`, the lowest-numbered such slot is copied into the TLB under `hw_cid` "
               "and used. Outcome `REFILL_GUARANTEED`. The STLB is not filled from it.")
_MISS = ("*Miss.* Otherwise a `TLB_MISS` exception is delivered to `e` (EXC-2) with "
         "`badvpage = vpage`, and nothing is refilled.")


def guaranteed_of(s: Any, vpage: IntV) -> IntV:
    """TLB-8 (and TLB-4 "Translation then uses the lowest-numbered valid slot"): the
    lowest-numbered valid guaranteed-mapping slot of the running environment that maps
    ``vpage``, or -1 if there is none."""
    e = s.cur_env
    return find(s.cfg.n_guaranteed,
                lambda g: And(s.gm_valid[e, g], s.gm_vpage[e, g] == vpage),
                name="first_gm")


class Translation:
    """TLB-8 for virtual page ``vpage`` in the pre-state ``s``: which source holds the
    binding, and the binding each source gives (its physical page and writable bit)."""

    def __init__(self, s: Any, vpage: IntV) -> None:
        self.s, self.vpage = s, vpage
        self.cid = s.hw_cid
        self.i = tlb_slot_of(s, self.cid, vpage)
        self.j = stlb_slot_of(s, self.cid, vpage)
        self.g = guaranteed_of(s, vpage)
        e = s.cur_env
        # the sources, each tried only when every earlier one failed (TLB-8, 1..3)
        self.hit = in_tlb(s, self.cid, vpage)
        self.from_stlb = And(Not(self.hit), in_stlb(s, self.cid, vpage))
        self.from_gm = And(Not(self.hit), Not(in_stlb(s, self.cid, vpage)), self.g >= 0)
        self.found = Or(self.hit, self.from_stlb, self.from_gm)
        self.tlb_binding = (s.tlb_page[self.i], s.tlb_write[self.i])
        self.stlb_binding = (s.stlb_page[self.j], s.stlb_write[self.j])
        self.gm_binding = (s.gm_page[e, self.g], s.gm_write[e, self.g])

    def refill(self, v: Any, cite: Cite, when: BoolV, binding: tuple[IntV, BoolV]) -> View:
        """``v`` with the TLB slot of ``(hw_cid, vpage)`` holding ``binding`` when
        ``when`` (TLB-6: writing an entry replaces whatever that slot held)."""
        page, write = binding
        i, cid, vpage = self.i, self.cid, self.vpage

        def here(k: IntV) -> BoolV:
            return And(when, k == i)

        refilled: View = v.given(
            cite,
            tlb_valid=lambda k: If(here(k), True, v.tlb_valid[k]),
            tlb_cid=lambda k: If(here(k), cid, v.tlb_cid[k]),
            tlb_vpage=lambda k: If(here(k), vpage, v.tlb_vpage[k]),
            tlb_page=lambda k: If(here(k), page, v.tlb_page[k]),
            tlb_write=lambda k: If(here(k), write, v.tlb_write[k]),
        )
        return refilled

    def lowest_slot(self) -> BoolV:
        """TLB-8 "the lowest-numbered such slot": the sentence chooses only when another,
        later slot maps the same virtual page too (the branch, where a guaranteed mapping
        is used)."""
        s, g, e, vpage = self.s, self.g, self.s.cur_env, self.vpage
        return branch(Cite("TLB-8", _GUARANTEED), "later-slot-maps-too",
                      exists(s.cfg.n_guaranteed,
                             lambda h: And(h > g, s.gm_valid[e, h], s.gm_vpage[e, h] == vpage),
                             name="later_gm"),
                      within=self.from_gm)

    def translated(self) -> View:
        """The state after any refill translation made (TLB-8 "Returns")."""
        self.lowest_slot()
        after_stlb = self.refill(View(self.s), Cite("TLB-8", _STLB), self.from_stlb,
                                 self.stlb_binding)
        return self.refill(after_stlb, Cite("TLB-8", _GUARANTEED), self.from_gm,
                           self.gm_binding)


def translation(s: Any, vpage: IntV) -> Translation:
    """TLB-8 for ``vpage`` in ``s``, built once for the cases of one call (``shared``: every
    case speaks of the very same "first" guaranteed mapping)."""
    t: Translation = shared(("TLB-8", id(s), id(vpage)), lambda: Translation(s, vpage))
    return t


# --------------------------------------------------------------------------- MEM-4, MEM-5

_MEM4_FOUND = ("If a binding is found, `regs[reg] = word[page, offset]`, where `page` is the "
               "physical page the binding names. Any refill of the TLB made during "
               "translation is kept.")
_MEM5_FOUND = ("If a binding is found and it is writable, `word[page, offset] = regs[reg]`. "
               "Any TLB refill is kept.")
_MEM5_FAULT = ("If a binding is found but it is read-only, a `PROTECTION` exception is "
               "delivered (EXC-2) with `badvpage = vpage`. Any refill made while "
               "translating is kept: the TLB now holds the read-only entry.")


def _requires(clause: str, running_words: str) -> tuple[Requirement, ...]:
    return (
        Requirement("vpage-in-range", Cite(clause, "`vpage` in `[0, addr_limit)`"),
                    lambda s, a: Not(in_range(a[0], s.cfg.addr_limit)),
                    Status.INVALID_ARGUMENT),
        Requirement("offset-in-range", Cite(clause, "`offset` in `[0, page_words)`"),
                    lambda s, a: Not(in_range(a[1], s.cfg.page_words)),
                    Status.INVALID_ARGUMENT),
        Requirement("reg-in-range", Cite(clause, "`reg` in `[0, n_regs)`"),
                    lambda s, a: Not(in_range(a[2], s.cfg.n_regs)), Status.INVALID_ARGUMENT),
        Requirement("running", Cite(clause, running_words),
                    lambda s, a: Not(running(s)), Status.NOT_RUNNING),
    )


def _loaded(v: View, a: A, binding: tuple[IntV, BoolV]) -> View:
    _vpage, offset, reg = a
    page = binding[0]
    return v.given(Cite("MEM-4", _MEM4_FOUND),
                   regs=lambda r: If(r == reg, v.word[page, offset], v.regs[r]))


def _stored(v: View, a: A, binding: tuple[IntV, BoolV]) -> View:
    _vpage, offset, reg = a
    page = binding[0]
    return v.given(Cite("MEM-5", _MEM5_FOUND),
                   word=lambda p, w: If(And(p == page, w == offset), v.regs[reg],
                                        v.word[p, w]))


def _access_cases(write: bool) -> tuple[Case, ...]:
    """The cases of a load (``write`` false) or a store, in the order of TLB-8."""
    clause = "MEM-5" if write else "MEM-4"
    access = _stored if write else _loaded

    def permits(binding: tuple[IntV, BoolV]) -> BoolV:
        # MEM-4: a load needs only READ, which every binding grants; MEM-5: a store needs
        # the binding's writable bit
        return binding[1] if write else True

    def hit_when(s: State, a: A) -> BoolV:
        t = translation(s, a[0])
        return And(t.hit, permits(t.tlb_binding))

    def hit_post(s: State, a: A) -> View:
        t = translation(s, a[0])
        return access(View(s), a, t.tlb_binding)

    def stlb_when(s: State, a: A) -> BoolV:
        t = translation(s, a[0])
        return And(t.from_stlb, permits(t.stlb_binding))

    def stlb_post(s: State, a: A) -> View:
        t = translation(s, a[0])
        return access(t.refill(View(s), Cite("TLB-8", _STLB), True, t.stlb_binding), a,
                      t.stlb_binding)

    def gm_when(s: State, a: A) -> BoolV:
        t = translation(s, a[0])
        return And(t.from_gm, permits(t.gm_binding))

    def gm_post(s: State, a: A) -> View:
        t = translation(s, a[0])
        t.lowest_slot()
        return access(t.refill(View(s), Cite("TLB-8", _GUARANTEED), True, t.gm_binding), a,
                      t.gm_binding)

    def returns(item: str) -> Cite:
        # MEM-5 returns "an `Outcome`, as for MEM-4": the list is MEM-4's
        return Cite("MEM-4", item)

    cases = [
        Case("tlb-hit", returns("`ACCESS`: TLB hit"), hit_when, hit_post,
             lambda s, a: int(Outcome.ACCESS)),
        Case("stlb-refill", returns("`REFILL_STLB`: the TLB was refilled from the STLB"),
             stlb_when, stlb_post, lambda s, a: int(Outcome.REFILL_STLB)),
        Case("guaranteed-refill",
             returns("`REFILL_GUARANTEED`: the TLB was refilled from a guaranteed mapping"),
             gm_when, gm_post, lambda s, a: int(Outcome.REFILL_GUARANTEED)),
    ]
    if write:
        # reached only when the binding found is read-only: every writable one is an
        # earlier case
        cases.append(Case(
            "protection",
            Cite("MEM-5", f"{_MEM5_FAULT} A protection fault gives `DELIVERED`, or "
                          f"`KILLED` when there is no `PROTECTION` handler."),
            lambda s, a: translation(s, a[0]).found,
            lambda s, a: delivered(translation(s, a[0]).translated(),
                                   int(ExcKind.PROTECTION), a[0]),
            lambda s, a: delivery_outcome(s, int(ExcKind.PROTECTION))))
    miss_does = ("If no binding is found, a `TLB_MISS` exception is delivered as for a load, "
                 "with no refill." if write else
                 "If no binding is found anywhere, a `TLB_MISS` exception is delivered to "
                 "the running environment (EXC-2) with `badvpage = vpage`. The TLB is not "
                 "touched.")
    cases.append(Case(
        "miss",
        Cite(clause, f"{miss_does} `OK` with `DELIVERED` (the miss went to the handler) or "
                     f"`KILLED` (there was no handler, and the environment was destroyed)."),
        always,
        lambda s, a: delivered(View(s), int(ExcKind.TLB_MISS), a[0]),
        lambda s, a: delivery_outcome(s, int(ExcKind.TLB_MISS))))
    return tuple(cases)


LOAD = Text("load",
            _requires("MEM-4", "an environment is running (`cur_env` is live)"),
            _access_cases(write=False))
STORE = Text("store",
             _requires("MEM-5", "an environment is running"),
             _access_cases(write=True))

TEXTS: dict[str, Text] = {t.op: t for t in (ALLOC, DEALLOC, GRANT, LOAD, STORE)}
