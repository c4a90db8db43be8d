"""Postconditions: what each operation does, not only what it preserves.

For every operation three two-state properties, each an obligation proved for the
model's transition for all sizes (assuming the invariants of the pre-state):

* ``post/OP/failure`` (GEN-2): any status but OK leaves every field unchanged;
* ``post/OP/frame`` (GEN-2): on success, every field outside ``MODIFIES[OP]`` is unchanged;
* ``post/OP/effect`` (the operation's clause): what it changes, which value it returns, and
  which status a failed precondition gives — see the docstring of each ``effect_*``.

Invariant preservation alone misses an operation that does the wrong thing while keeping
every invariant (design brief: a create that reuses an env id still owning pages); the
effects catch it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from exo.interface import (
    FREE,
    NO_ENTRY,
    NUM_EXCEPTIONS,
    OPERATIONS,
    Outcome,
    Resource,
    Result,
    Rights,
    Status,
    Vector,
)
from exo.logic import And, BoolV, If, Implies, Max, Not, Or, forall, in_range
from exo.model.net import overlaps, undecided, verified
from exo.model.ops import needed
from exo.model.state import State
from exo.model.tlb import stlb_hit, tlb_hit
from exo.spec.twostate import (
    TwoState,
    no_binding_of_page,
    no_binding_tagged,
    ok,
    same,
    unchanged,
    when_ok,
)

A = tuple[Any, ...]

_DESTROY = ["env_alive", "env_cid", "cid_env", "entry", "owner", "gen", "rights", "gm_valid",
            "slice_owner", "excess", "rev_pending", "repo_page", "repo_slice", "repo_exc",
            "cur_env", "hw_cid", "tlb_valid", "stlb_valid", "repo_filter", "filter_valid",
            "rx_head", "rx_count", "rx_drops"]
_TLB = ["tlb_valid", "tlb_cid", "tlb_vpage", "tlb_page", "tlb_write"]
_STLB = ["stlb_valid", "stlb_cid", "stlb_vpage", "stlb_page", "stlb_write"]
_DELIVER = ["epc", "cause", "badvpage", "pc", *_DESTROY]
_START = ["cur_env", "hw_cid", "pc", "epc", "cause", "repo_exc", "regs", "badvpage"]
_NEXT = ["cur_slice", "slice_left", "excess", *_START]

MODIFIES: dict[str, list[str]] = {
    "env_create": ["env_alive", "env_cid", "cid_env", "entry", "gm_valid", "excess",
                   "rev_pending", "repo_page", "repo_slice", "repo_exc", "repo_filter",
                   "rx_head", "rx_count", "rx_drops"],
    "env_destroy": _DESTROY,
    "set_exception_context": ["entry"],
    "set_interrupt_context": ["entry"],
    "set_protected_entry": ["entry"],
    "alloc": ["owner", "rights", "word", "repo_page"],
    "dealloc": ["owner", "gen", "rights", "rev_pending", "tlb_valid", "stlb_valid", "gm_valid"],
    "grant": ["rights", "repo_page"],
    "load": ["regs", *_TLB, *_DELIVER],
    "store": ["word", *_TLB, *_DELIVER],
    "tlbwr": [*_TLB, *_STLB],
    "tlbvadelete": ["tlb_valid", "stlb_valid"],
    "cid_switch": ["cid_env", "env_cid", "hw_cid", "tlb_valid", "stlb_valid", "gm_valid"],
    "gm_set": ["gm_valid", "gm_vpage", "gm_page", "gm_write"],
    "gm_clear": ["gm_valid"],
    "slice_alloc": ["slice_owner", "repo_slice"],
    "slice_free": ["slice_owner", "rev_pending"],
    "yield_to": _NEXT,
    "timer_tick": ["now", "slice_left", *_NEXT, *_DESTROY],
    "set_reg": ["regs"],
    "scall": ["cur_env", "hw_cid", "pc", "slice_owner", "repo_slice"],
    "acall": ["cur_env", "hw_cid", "pc"],
    "raise_exception": _DELIVER,
    "revoke_request": ["rev_pending", "rev_kind", "rev_target", "rev_deadline"],
    "abort": ["rev_pending", "owner", "gen", "rights", "tlb_valid", "stlb_valid", "gm_valid",
              "repo_page", "slice_owner", "repo_slice", "cur_env", "hw_cid", "epc", "cause",
              "pc", "repo_exc", "filter_valid", "repo_filter"],
    "filter_install": ["filter_valid", "filter_owner", "filter_code", "repo_filter"],
    "filter_remove": ["filter_valid", "rev_pending"],
    "packet_arrive": ["rx_pkt", "rx_count", "rx_drops", "kernel_drops"],
    "packet_take": ["rx_head", "rx_count"],
}
"""GEN-2: the fields each operation may change when it succeeds."""


def all_fields() -> list[str]:
    """Every field of the state but the configuration."""
    return [f.name for f in dataclasses.fields(State) if f.name != "cfg"]


def failure_unchanged(pre: State, args: A, res: Result, post: State) -> BoolV:
    """GEN-2: a failed operation leaves the state unchanged."""
    return Implies(Not(ok(res)), unchanged(pre, post, all_fields()))


def frame(op: str) -> Any:
    """GEN-2: a successful ``op`` changes nothing outside ``MODIFIES[op]``."""
    keep = [f for f in all_fields() if f not in MODIFIES[op]]

    def holds(pre: State, args: A, res: Result, post: State) -> BoolV:
        return when_ok(res, unchanged(pre, post, keep))

    return holds


def _cap_is(value: Any, page: Any, gen: Any, rights: Any) -> BoolV:
    return And(value.page == page, value.gen == gen, value.rights == rights)


def owns_nothing(s: State, e: Any) -> BoolV:
    """ENV-1/ENV-2: ``e`` owns and holds no page, owns no slice, has no guaranteed mapping."""
    c = s.cfg
    return And(
        forall((c.n_pages,), lambda p: And(s.owner[p] != e, s.rights[e, p] == Rights.NONE)),
        forall((c.n_slices,), lambda q: s.slice_owner[q] != e),
        forall((c.n_guaranteed,), lambda g: Not(s.gm_valid[e, g])),
    )


# --------------------------------------------------------------------------- effects


def effect_env_create(pre: State, a: A, res: Result, post: State) -> BoolV:
    """ENV-1: the new environment is live with its context id and owns nothing, has no entry
    point, no request, no excess, no repossession record; a live id gives ENV_EXISTS."""
    env, cid = a
    c = pre.cfg
    ids_ok = And(in_range(env, c.n_envs), in_range(cid, c.n_cids))
    return And(
        Implies(And(ids_ok, pre.env_alive[env]), res.status == Status.ENV_EXISTS),
        when_ok(res, And(
            post.env_alive[env], post.env_cid[env] == cid, post.cid_env[cid] == env,
            res.value == env, owns_nothing(post, env),
            forall((NUM_EXCEPTIONS + 4,), lambda v: post.entry[env, v] == NO_ENTRY),
            Not(post.rev_pending[env]), post.excess[env] == 0, Not(post.repo_exc[env]),
            forall((c.n_pages,), lambda p: Not(post.repo_page[env, p])),
        )),
    )


def effect_env_destroy(pre: State, a: A, res: Result, post: State) -> BoolV:
    """ENV-2: the environment is dead, its pages free with a new generation and no holder,
    its slices free, its context id released, and it is not running."""
    (env,) = a
    c = pre.cfg
    return when_ok(res, And(
        Not(post.env_alive[env]), owns_nothing(post, env),
        post.cid_env[pre.env_cid[env]] == FREE, post.cur_env != env,
        forall((c.n_pages,), lambda p: Implies(pre.owner[p] == env, And(
            post.owner[p] == FREE, post.gen[p] == pre.gen[p] + 1,
            forall((c.n_envs,), lambda e: post.rights[e, p] == Rights.NONE, name="e")))),
    ))


def _effect_vector(base: int) -> Any:
    def holds(pre: State, a: A, res: Result, post: State) -> BoolV:
        env, which, entry = a
        return when_ok(res, post.entry[env, base + which] == entry)
    return holds


def effect_alloc(pre: State, a: A, res: Result, post: State) -> BoolV:
    """MEM-1: succeeds exactly when the caller is live and the named page free; the caller
    then owns it with READWRITE, it reads as zeros, and the capability is returned."""
    env, page = a
    c = pre.cfg
    can = And(in_range(env, c.n_envs), in_range(page, c.n_pages), pre.env_alive[env],
              pre.owner[page] == FREE)
    return And(
        ok(res) == can,
        when_ok(res, And(
            post.owner[page] == env, post.rights[env, page] == Rights.READWRITE,
            forall((c.page_words,), lambda w: post.word[page, w] == 0),
            _cap_is(res.value, page, pre.gen[page], Rights.READWRITE),
            forall((c.n_pages,), lambda p: Implies(p != page, post.owner[p] == pre.owner[p])),
        )),
    )


def effect_dealloc(pre: State, a: A, res: Result, post: State) -> BoolV:
    """MEM-2: only the owner; the page is then free, a generation on, held by nobody and
    bound by nothing; a live non-owner gets NOT_OWNER."""
    env, cap = a
    c = pre.cfg
    page = cap.page
    ids_ok = And(in_range(env, c.n_envs), in_range(page, c.n_pages), pre.env_alive[env])
    return And(
        Implies(And(ids_ok, pre.owner[page] != env), res.status == Status.NOT_OWNER),
        when_ok(res, And(
            pre.owner[page] == env, post.owner[page] == FREE,
            post.gen[page] == pre.gen[page] + 1,
            forall((c.n_envs,), lambda e: post.rights[e, page] == Rights.NONE),
            no_binding_of_page(post, page),
        )),
    )


def effect_grant(pre: State, a: A, res: Result, post: State) -> BoolV:
    """MEM-3: rights no greater than the capability's, which the granter holds; only the
    grantee's rights on that page change, to the larger of old and granted."""
    env, cap, grantee, rights = a
    c = pre.cfg
    page = cap.page
    return when_ok(res, And(
        rights <= cap.rights, pre.rights[env, page] >= cap.rights,
        cap.gen == pre.gen[page],
        post.rights[grantee, page] == Max(pre.rights[grantee, page], rights),
        forall((c.n_envs, c.n_pages), lambda e, p: Implies(
            Or(e != grantee, p != page), post.rights[e, p] == pre.rights[e, p])),
        _cap_is(res.value, page, pre.gen[page], rights),
    ))


_ACCESS = (Outcome.ACCESS, Outcome.REFILL_STLB, Outcome.REFILL_GUARANTEED)


def accessed(res: Result) -> BoolV:
    """MEM-4/MEM-5: the event performed the access (no exception)."""
    return And(ok(res), Or(*[res.value == int(o) for o in _ACCESS]))


def effect_load(pre: State, a: A, res: Result, post: State) -> BoolV:
    """MEM-4: with no running environment NOT_RUNNING; an access writes only the target
    register."""
    vpage, offset, reg = a
    c = pre.cfg
    args_ok = And(in_range(vpage, c.addr_limit), in_range(offset, c.page_words),
                  in_range(reg, c.n_regs))
    return And(
        Implies(And(args_ok, pre.cur_env == FREE), res.status == Status.NOT_RUNNING),
        Implies(accessed(res), forall((c.n_regs,), lambda r: Implies(
            r != reg, post.regs[r] == pre.regs[r]))),
    )


def effect_store(pre: State, a: A, res: Result, post: State) -> BoolV:
    """MEM-5: an access changes at most one word, at the given offset, to the register's
    value."""
    _vpage, offset, reg = a
    c = pre.cfg
    return Implies(accessed(res), forall((c.n_pages, c.page_words), lambda p, w: Implies(
        post.word[p, w] != pre.word[p, w], And(w == offset, post.word[p, w] == pre.regs[reg]))))


def effect_tlbwr(pre: State, a: A, res: Result, post: State) -> BoolV:
    """TLB-1: authorized at bind time (current capability, held, enough rights); the
    binding is then in the TLB and the STLB with the page and permission given."""
    env, vpage, cap, writable = a
    cid = pre.env_cid[env]
    hit_t, i = tlb_hit(post, cid, vpage)
    hit_s, j = stlb_hit(post, cid, vpage)
    return when_ok(res, And(
        cap.gen == pre.gen[cap.page], pre.rights[env, cap.page] >= cap.rights,
        cap.rights >= needed(writable),
        hit_t, post.tlb_page[i] == cap.page, post.tlb_write[i] == writable,
        hit_s, post.stlb_page[j] == cap.page, post.stlb_write[j] == writable,
    ))


def effect_tlbvadelete(pre: State, a: A, res: Result, post: State) -> BoolV:
    """TLB-2: afterwards neither the TLB nor the STLB holds the binding."""
    env, vpage = a
    cid = pre.env_cid[env]
    return when_ok(res, And(Not(tlb_hit(post, cid, vpage)[0]),
                            Not(stlb_hit(post, cid, vpage)[0])))


def effect_cid_switch(pre: State, a: A, res: Result, post: State) -> BoolV:
    """TLB-3: the environment has the new id; a changed id is released and no binding
    tagged with it survives (the two-state lemma: a binding whose context changed is gone)."""
    env, cid = a
    old = pre.env_cid[env]
    return when_ok(res, And(
        post.env_cid[env] == cid, post.cid_env[cid] == env,
        Implies(old != cid, And(post.cid_env[old] == FREE, no_binding_tagged(post, old))),
    ))


def effect_gm_set(pre: State, a: A, res: Result, post: State) -> BoolV:
    """TLB-4: only on an own page not under revocation; the slot then binds it."""
    env, slot, vpage, cap, writable = a
    return when_ok(res, And(
        pre.owner[cap.page] == env,
        Not(And(pre.rev_pending[env], pre.rev_kind[env] == Resource.PAGE,
                pre.rev_target[env] == cap.page)),
        post.gm_valid[env, slot], post.gm_vpage[env, slot] == vpage,
        post.gm_page[env, slot] == cap.page, post.gm_write[env, slot] == writable,
    ))


def effect_gm_clear(pre: State, a: A, res: Result, post: State) -> BoolV:
    """TLB-5: the slot is empty afterwards."""
    env, slot = a
    return when_ok(res, Not(post.gm_valid[env, slot]))


def effect_slice_alloc(pre: State, a: A, res: Result, post: State) -> BoolV:
    """CPU-1: a free slice becomes the caller's."""
    env, q = a
    return when_ok(res, And(pre.slice_owner[q] == FREE, post.slice_owner[q] == env))


def effect_slice_free(pre: State, a: A, res: Result, post: State) -> BoolV:
    """CPU-2: the owner's slice becomes free."""
    env, q = a
    return when_ok(res, And(pre.slice_owner[q] == env, post.slice_owner[q] == FREE))


def effect_yield_to(pre: State, a: A, res: Result, post: State) -> BoolV:
    """CPU-3/CPU-7: a named target gets the rest of a slice that has time left, in the same
    slice, with no register or ``badvpage`` of the yielder; otherwise the next slice
    begins."""
    (target,) = a
    donate = And(target != FREE, pre.slice_left > 0)
    following = If(pre.cur_slice + 1 >= pre.cfg.n_slices, 0, pre.cur_slice + 1)
    return when_ok(res, If(
        donate,
        And(post.cur_env == target, post.cur_slice == pre.cur_slice,
            post.slice_left == pre.slice_left, post.badvpage == 0,
            forall((pre.cfg.n_regs,), lambda r: post.regs[r] == 0)),
        post.cur_slice == following,
    ))


def effect_timer_tick(pre: State, a: A, res: Result, post: State) -> BoolV:
    """CPU-4: always OK; the clock advances by one."""
    return And(ok(res), post.now == pre.now + 1)


def effect_set_reg(pre: State, a: A, res: Result, post: State) -> BoolV:
    """CPU-6: the register holds the value."""
    reg, value = a
    return when_ok(res, post.regs[reg] == value)


def effect_scall(pre: State, a: A, res: Result, post: State) -> BoolV:
    """PCT-1: the callee runs, and the slice the caller owned is now the callee's."""
    (callee,) = a
    q = pre.cur_slice
    return when_ok(res, And(
        post.cur_env == callee,
        pre.slice_left > 0,  # PCT-1 item 6: no transfer on excess time (NO_TIME)
        Implies(pre.slice_owner[q] == pre.cur_env, post.slice_owner[q] == callee),
    ))


def effect_acall(pre: State, a: A, res: Result, post: State) -> BoolV:
    """PCT-2: the callee runs; no slice changes hands."""
    (callee,) = a
    return when_ok(res, And(post.cur_env == callee, pre.slice_left > 0,  # PCT-2 item 5
                            same(pre, post, "slice_owner")))


def effect_raise_exception(pre: State, a: A, res: Result, post: State) -> BoolV:
    """EXC-1/EXC-2: with a handler, control is at the handler, ``epc`` at the raising pc
    and ``cause`` the kind; without one, the raiser is destroyed."""
    (exc,) = a
    e = pre.cur_env
    handler = pre.entry[e, exc]
    return when_ok(res, If(
        handler != NO_ENTRY,
        And(post.pc == handler, post.epc == pre.pc, post.cause == exc, post.cur_env == e,
            res.value == int(Outcome.DELIVERED)),
        And(Not(post.env_alive[e]), res.value == int(Outcome.KILLED)),
    ))


def effect_revoke_request(pre: State, a: A, res: Result, post: State) -> BoolV:
    """REV-1: a future deadline on an own resource, recorded; never a guaranteed page."""
    env, resource, target, deadline = a
    c = pre.cfg
    is_page = resource == Resource.PAGE
    return when_ok(res, And(
        deadline > pre.now,
        post.rev_pending[env], post.rev_kind[env] == resource,
        post.rev_target[env] == target, post.rev_deadline[env] == deadline,
        Implies(is_page, And(pre.owner[target] == env, forall(
            (c.n_guaranteed,),
            lambda g: Not(And(pre.gm_valid[env, g], pre.gm_page[env, g] == target))))),
        Implies(resource == Resource.SLICE, pre.slice_owner[target] == env),
        Implies(resource == Resource.FILTER,
                And(pre.filter_valid[target], pre.filter_owner[target] == env)),
    ))


def effect_abort(pre: State, a: A, res: Result, post: State) -> BoolV:
    """REV-3/REV-4: only after the deadline; the target is taken, recorded in the
    repossession vector, every binding of a taken page broken, and the exception raised."""
    (env,) = a
    t = pre.rev_target[env]
    is_page = pre.rev_kind[env] == Resource.PAGE
    handler = pre.entry[env, int(Vector.REPOSSESSION)]
    return when_ok(res, And(
        pre.rev_pending[env], pre.now > pre.rev_deadline[env], Not(post.rev_pending[env]),
        Implies(is_page, And(post.owner[t] == FREE, post.repo_page[env, t],
                             no_binding_of_page(post, t))),
        Implies(pre.rev_kind[env] == Resource.SLICE,
                And(post.slice_owner[t] == FREE, post.repo_slice[env, t])),
        Implies(pre.rev_kind[env] == Resource.FILTER,
                And(Not(post.filter_valid[t]), post.repo_filter[env, t])),
        Or(post.repo_exc[env], And(post.pc == handler, post.cause == int(Vector.REPOSSESSION))),
    ))


def effect_filter_install(pre: State, a: A, res: Result, post: State) -> BoolV:
    """NET-1: only a verified program that the overlap check proves disjoint from every
    other environment's installed filter is installed, in a slot that was free, for the
    caller. UNDECIDED only for a live caller, a verified program and a free slot, when the
    check against some other environment's installed filter ran out of its budget;
    OVERLAP only when the check against one of them is not proved disjoint and was
    decided (it found a packet both accept)."""
    env, program = a
    c = pre.cfg
    f = res.value

    def others(j: Any) -> BoolV:
        return And(pre.filter_valid[j], pre.filter_owner[j] != env)

    def some_other(pred: Any) -> BoolV:
        return Not(forall((c.n_filters,), lambda j: Not(And(others(j), pred(j)))))

    return And(
        when_ok(res, And(
            verified(program), in_range(f, c.n_filters), Not(pre.filter_valid[f]),
            post.filter_valid[f], post.filter_owner[f] == env, post.filter_code[f] == program,
            forall((c.n_filters,), lambda j: Implies(
                others(j), Not(overlaps(program, pre.filter_code[j])))),
        )),
        Implies(res.status == Status.UNDECIDED, And(
            in_range(env, c.n_envs), pre.env_alive[env], verified(program),
            Not(forall((c.n_filters,), lambda j: pre.filter_valid[j])),
            some_other(lambda j: undecided(program, pre.filter_code[j])))),
        Implies(res.status == Status.OVERLAP, some_other(lambda j: And(
            overlaps(program, pre.filter_code[j]), Not(undecided(program, pre.filter_code[j]))))),
    )


def effect_filter_remove(pre: State, a: A, res: Result, post: State) -> BoolV:
    """NET-2: only the owner; the filter is gone."""
    env, f = a
    return when_ok(res, And(pre.filter_valid[f], pre.filter_owner[f] == env,
                            Not(post.filter_valid[f])))


def effect_packet_arrive(pre: State, a: A, res: Result, post: State) -> BoolV:
    """NET-3: always OK; exactly one counter moves: the owner's ring, the owner's drops, or
    the kernel's drops."""
    c = pre.cfg
    same_count = forall((c.n_envs,), lambda e: post.rx_count[e] == pre.rx_count[e])
    same_drops = forall((c.n_envs,), lambda e: post.rx_drops[e] == pre.rx_drops[e])
    same_kernel = post.kernel_drops == pre.kernel_drops
    return And(ok(res), If(
        res.value == int(Outcome.RX_NO_MATCH),
        And(same_count, same_drops, post.kernel_drops == pre.kernel_drops + 1),
        And(same_kernel, If(res.value == int(Outcome.RX_RING_FULL), same_count, same_drops))))


def effect_packet_take(pre: State, a: A, res: Result, post: State) -> BoolV:
    """NET-4: the oldest packet comes out and the ring shrinks by one."""
    (env,) = a
    return when_ok(res, And(res.value == pre.rx_pkt[env, pre.rx_head[env]],
                            post.rx_count[env] == pre.rx_count[env] - 1))


EFFECTS: dict[str, Any] = {
    "env_create": effect_env_create,
    "env_destroy": effect_env_destroy,
    "set_exception_context": _effect_vector(int(Vector.TLB_MISS)),
    "set_interrupt_context": _effect_vector(int(Vector.SLICE_START)),
    "set_protected_entry": _effect_vector(int(Vector.PCT_SYNC)),
    "alloc": effect_alloc,
    "dealloc": effect_dealloc,
    "grant": effect_grant,
    "load": effect_load,
    "store": effect_store,
    "tlbwr": effect_tlbwr,
    "tlbvadelete": effect_tlbvadelete,
    "cid_switch": effect_cid_switch,
    "gm_set": effect_gm_set,
    "gm_clear": effect_gm_clear,
    "slice_alloc": effect_slice_alloc,
    "slice_free": effect_slice_free,
    "yield_to": effect_yield_to,
    "timer_tick": effect_timer_tick,
    "set_reg": effect_set_reg,
    "scall": effect_scall,
    "acall": effect_acall,
    "raise_exception": effect_raise_exception,
    "revoke_request": effect_revoke_request,
    "abort": effect_abort,
    "filter_install": effect_filter_install,
    "filter_remove": effect_filter_remove,
    "packet_arrive": effect_packet_arrive,
    "packet_take": effect_packet_take,
}


def postconditions() -> list[TwoState]:
    """Every postcondition obligation: failure, frame and effect for each operation."""
    out: list[TwoState] = []
    for op, sig in OPERATIONS.items():
        out.append(TwoState(f"post/{op}/failure", "GEN-2", op, failure_unchanged))
        out.append(TwoState(f"post/{op}/frame", "GEN-2", op, frame(op)))
        out.append(TwoState(f"post/{op}/effect", sig.clause, op, EFFECTS[op]))
    return out

