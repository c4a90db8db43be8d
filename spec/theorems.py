"""The theorems users care about (spec/theorems.md), as two-state properties.

THM-1 memory isolation, THM-2 lost pages leave no binding behind, THM-3 protected control
transfer lands only on the registered entry point, THM-4 conservation of pages, THM-5
demultiplexing to the owner, THM-6 nothing of one environment is visible to the next. Each is an
obligation per operation it speaks of, proved for the model's transition for all sizes.
"""

from __future__ import annotations

from typing import Any

from exo.interface import (
    FREE,
    NO_ENTRY,
    OPERATIONS,
    ExcKind,
    Resource,
    Result,
    Rights,
    Vector,
)
from exo.logic import And, BoolV, Implies, Not, Or, forall
from exo.model.memory import translate
from exo.model.net import accepts, matching_filter
from exo.model.ops import needed
from exo.model.state import State
from exo.spec.postconditions import accessed
from exo.spec.twostate import (
    TwoState,
    no_binding_of_page,
    no_binding_tagged,
    ok,
    same,
    when_ok,
)

A = tuple[Any, ...]


def isolation_store(pre: State, a: A, res: Result, post: State) -> BoolV:
    """THM-1 (stores): a word changes only on a page the running environment holds with
    READWRITE — a store succeeds only with the authority it needs."""
    c = pre.cfg
    return forall((c.n_pages, c.page_words), lambda p, w: Implies(
        post.word[p, w] != pre.word[p, w],
        pre.rights[pre.cur_env, p] == Rights.READWRITE))


def isolation_load(pre: State, a: A, res: Result, post: State) -> BoolV:
    """THM-1 (loads): a load that performs its access reads the word of a page the running
    environment holds with at least READ. The page is the existential witness, taken from
    the translation (MEM-4, TLB-8) of the same pre-state."""
    vpage, offset, reg = a
    _, _, _, page, _ = translate(pre, vpage, False)
    return Implies(accessed(res), And(
        pre.rights[pre.cur_env, page] >= Rights.READ,
        post.regs[reg] == pre.word[page, offset]))


def translation_authorized(pre: State, a: A, res: Result, post: State) -> BoolV:
    """THM-1 (translation): whatever the TLB, STLB or guaranteed mappings answer for the
    running environment, it holds the page with the rights the access needs."""
    vpage, _offset, _reg = a
    out = []
    for write in (False, True):
        _, found, permits, page, _ = translate(pre, vpage, write)
        out.append(Implies(And(ok(res), found, permits),
                           pre.rights[pre.cur_env, page] >= needed(write)))
    return And(*out)


def lost_page_unbound_dealloc(pre: State, a: A, res: Result, post: State) -> BoolV:
    """THM-2 (Dealloc): no TLB, STLB or guaranteed mapping refers to the page given back."""
    _env, cap = a
    return when_ok(res, no_binding_of_page(post, cap.page))


def lost_page_unbound_abort(pre: State, a: A, res: Result, post: State) -> BoolV:
    """THM-2 (abort): no binding refers to a repossessed page."""
    (env,) = a
    return when_ok(res, Implies(pre.rev_kind[env] == Resource.PAGE,
                                no_binding_of_page(post, pre.rev_target[env])))


def lost_pages_unbound_destroy(pre: State, a: A, res: Result, post: State) -> BoolV:
    """THM-2 (destroy): no binding refers to a page the destroyed environment owned, none
    carries its context id, and it has no guaranteed mapping."""
    (env,) = a
    c = pre.cfg

    def was_mine(p: Any) -> BoolV:
        return pre.owner[p] == env

    return when_ok(res, And(
        forall((c.tlb_size,),
               lambda i: Implies(post.tlb_valid[i], Not(was_mine(post.tlb_page[i])))),
        forall((c.stlb_size,),
               lambda j: Implies(post.stlb_valid[j], Not(was_mine(post.stlb_page[j])))),
        forall((c.n_envs, c.n_guaranteed),
               lambda e, g: Implies(post.gm_valid[e, g], Not(was_mine(post.gm_page[e, g])))),
        no_binding_tagged(post, pre.env_cid[env]),
        forall((c.n_guaranteed,), lambda g: Not(post.gm_valid[env, g])),
    ))


def lands_on_entry(vector: Vector) -> Any:
    """THM-3: the property for the transfer whose entry point is ``vector``."""

    def holds(pre: State, a: A, res: Result, post: State) -> BoolV:
        """Control lands on the callee's registered entry point of that kind, only the
        addressing context switches with it, and no register changes."""
        (callee,) = a
        return when_ok(res, And(
            post.pc == pre.entry[callee, int(vector)], post.pc != NO_ENTRY,
            post.cur_env == callee, post.hw_cid == pre.env_cid[callee],
            same(pre, post, "regs"), same(pre, post, "epc"), same(pre, post, "cause")))
    return holds


def conservation(pre: State, a: A, res: Result, post: State) -> BoolV:
    """THM-4: no page changes hands directly: an owned page stays with its owner or becomes
    free; with INV-6 no page is ever lost or owned twice."""
    c = pre.cfg
    return forall((c.n_pages,), lambda p: Implies(
        And(pre.owner[p] != FREE, post.owner[p] != FREE), post.owner[p] == pre.owner[p]))


def demux_to_owner(pre: State, a: A, res: Result, post: State) -> BoolV:
    """THM-5: a packet goes into the ring of an environment only if one of its installed
    filters accepts it, and then no filter of any other environment accepts it."""
    (packet,) = a
    c = pre.cfg
    k = matching_filter(pre, packet)

    def got_it(e: Any) -> BoolV:
        return post.rx_count[e] != pre.rx_count[e]

    return forall((c.n_envs,), lambda e: Implies(got_it(e), And(
        k >= 0, pre.filter_owner[k] == e,
        forall((c.n_filters,), lambda j: Implies(
            And(pre.filter_valid[j], accepts(pre.filter_code[j], packet)),
            pre.filter_owner[j] == e), name="j")
    )))


def starts_clean(pre: State, a: A, res: Result, post: State) -> BoolV:
    """THM-6: when the step gives the CPU to another environment (other than by a protected
    control transfer), that environment starts with every register 0, ``badvpage`` 0, and
    ``epc``/``cause`` at their boot values (0, -1) — or, if a repossession exception was
    delivered as it started, its own start-of-slice entry and REPOSSESSION. No value
    another environment left in the processor is visible to it."""
    c = pre.cfg
    e = post.cur_env
    boot_exc = And(post.epc == 0, post.cause == -1)
    own_exc = And(post.cause == int(ExcKind.REPOSSESSION),
                  post.epc == post.entry[e, int(Vector.SLICE_START)])
    return Implies(And(e != pre.cur_env, e != FREE), And(
        forall((c.n_regs,), lambda r: post.regs[r] == 0, name="r"),
        post.badvpage == 0,
        Or(boot_exc, own_exc),
    ))


def pays_own_time(pre: State, a: A, res: Result, post: State) -> BoolV:
    """THM-7: an environment pays only for time it used itself. The only step that adds
    excess time adds it to the environment that was running after its own slice had run
    out; and no step hands the CPU to another environment with no time left in the slice
    (which would make it pay for the time past the end that its predecessor used)."""
    c = pre.cfg
    e = post.cur_env
    return And(
        forall((c.n_envs,), lambda x: Implies(
            post.excess[x] > pre.excess[x],
            And(x == pre.cur_env, pre.slice_left <= 0)), name="x"),
        Implies(And(e != pre.cur_env, e != FREE), post.slice_left > 0),
    )


TRANSFERS = ("scall", "acall")
"""PCT-3: the operations that hand the processor state to the callee on purpose (THM-6
is about every other operation)."""


def theorems() -> list[TwoState]:
    """Every theorem obligation."""
    out = [
        TwoState("thm/THM-1/store", "THM-1", "store", isolation_store),
        TwoState("thm/THM-1/load", "THM-1", "load", isolation_load),
        TwoState("thm/THM-1/translate", "THM-1", "load", translation_authorized),
        TwoState("thm/THM-2/dealloc", "THM-2", "dealloc", lost_page_unbound_dealloc),
        TwoState("thm/THM-2/abort", "THM-2", "abort", lost_page_unbound_abort),
        TwoState("thm/THM-2/env_destroy", "THM-2", "env_destroy", lost_pages_unbound_destroy),
        TwoState("thm/THM-3/scall", "THM-3", "scall", lands_on_entry(Vector.PCT_SYNC)),
        TwoState("thm/THM-3/acall", "THM-3", "acall", lands_on_entry(Vector.PCT_ASYNC)),
        TwoState("thm/THM-5/packet_arrive", "THM-5", "packet_arrive", demux_to_owner),
    ]
    out += [TwoState(f"thm/THM-4/{op}", "THM-4", op, conservation) for op in OPERATIONS]
    out += [TwoState(f"thm/THM-6/{op}", "THM-6", op, starts_clean)
            for op in OPERATIONS if op not in TRANSFERS]
    out += [TwoState(f"thm/THM-7/{op}", "THM-7", op, pays_own_time) for op in OPERATIONS]
    return out
