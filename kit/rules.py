"""Generation for the conformance kit: rules that build state the way a library OS does.

The per-operation rules of ``exo.kit.machine`` draw arguments mostly at random, which
almost never builds the preconditions of the interesting paths: a mapped page to load
through, a grantee holding an STLB entry when the owner deallocates, a slice run past its
end. The rules here read the model's state to choose arguments a library OS would choose
(its own pages, capabilities of their current generation, virtual pages it has mapped,
the slice in progress) and then make ordinary calls through ``LockstepMachine._apply``:
model and implementation see exactly the same calls as with any other rule.

``StepRules`` are single library-OS steps (boot, map, share, call, repossess, receive);
``exo.kit.scenarios.LibosRules`` adds whole scenarios built from them. Each rule belongs
to a swarm group (``exo.kit.configs.on``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st
from hypothesis.stateful import rule

from exo.interface import NO_ENTRY, NUM_EXCEPTIONS, Cap, Config, Resource, Rights
from exo.kit.configs import on

if TYPE_CHECKING:
    from exo.model import State

__all__ = ["ACCEPT_ALL", "BUDGET_CHAIN", "DIVISION_CHAIN", "StepRules", "accepts", "current_cap",
           "first_byte_is", "live_envs", "pick_one"]


ACCEPT_ALL: tuple[tuple[int, int, int, int], ...] = ((0x06, 0, 0, 1),)

DIVISION_CHAIN: tuple[tuple[int, int, int, int], ...] = (
    (0x20, 0, 0, 0), (0x07, 0, 0, 0), (0x20, 0, 0, 4), *[(0x3C, 0, 0, 0)] * 64,
    (0x15, 0, 1, 0), (0x06, 0, 0, 1), (0x06, 0, 0, 0))
"""A = P[4..8] divided 64 times by X = P[0..4]: its overlap with any filter outside FLT-9
is never asked (``solver_weight`` 256, over NET-1's ``PAIR_WEIGHT``), and past the budget
of FLT-6 when it is (``tests/test_fail_closed.py``'s ``division_chain(64)``)."""

BUDGET_CHAIN: tuple[tuple[int, int, int, int], ...] = (
    (0x20, 0, 0, 0), (0x07, 0, 0, 0), (0x20, 0, 0, 4), *[(0x3C, 0, 0, 0)] * 16,
    (0x15, 0, 1, 0), (0x06, 0, 0, 1), (0x06, 0, 0, 0))
"""The same with 16 divisions: ``solver_weight`` 64, so NET-1 asks Z3 about its pair with
``ACCEPT_ALL``, and Z3 runs out of ``PAIR_RLIMIT`` (``tests/test_pair_budget.py``)."""


def accepts(code: Any, packet: bytes) -> bool:
    """FLT-4 on the model's interpreter: ``code`` (a program the model installed, so one
    the verifier admitted; ``()`` for a slot never used) accepts ``packet``."""
    from exo.model.filters import evaluate
    return bool(code) and evaluate(code, packet) != 0


def first_byte_is(v: int, at: int = 0) -> tuple[tuple[int, int, int, int], ...]:
    """Accept the packets whose byte ``at`` is ``v`` (a packet too short to have it is
    rejected: FLT-4's bounds check decides)."""
    return ((0x30, 0, 0, at), (0x15, 0, 1, v), (0x06, 0, 0, 0xFFFF), (0x06, 0, 0, 0))


def live_envs(s: State) -> list[int]:
    return [e for e in range(s.cfg.n_envs) if s.env_alive[e]]


def pick_one(items: list[int], i: int) -> int | None:
    return items[i % len(items)] if items else None


def current_cap(s: State, page: int, rights: int = int(Rights.READWRITE)) -> Cap:
    """The capability a holder of ``page`` presents: its current generation."""
    return Cap(page, s.gen[page], rights)


class StepRules:
    """Single library-OS steps, the base of ``exo.kit.scenarios.LibosRules``. Each reads the model
    (``self.model``) to choose its arguments and calls ``self._apply``."""

    cfg: Config
    enabled: frozenset[str]

    @property
    def model(self) -> State:
        raise NotImplementedError  # provided by LockstepMachine

    def _apply(self, name: str, args: tuple[Any, ...] | list[Any]) -> Any:
        raise NotImplementedError  # provided by LockstepMachine

    def _running(self) -> int | None:
        e = self.model.cur_env
        return e if e >= 0 and self.model.env_alive[e] else None

    def _scheduled(self, pick: int = 0) -> int | None:
        """The running environment; if none runs, make one run as a library OS's
        scheduler would: boot one if none lives, give the chosen live environment a free
        slice if it owns none, and let the clock tick until a slice of a live
        environment begins (CPU-1..CPU-4). None if no environment can run."""
        if self._running() is not None:
            return self._running()
        if not live_envs(self.model):
            self.libos_boot_env(pick=pick, cid=pick, missing=-1)
        live = live_envs(self.model)
        if not live:
            return None
        s = self.model
        target = live[pick % len(live)]
        if not any(s.slice_owner[q] == target for q in range(s.cfg.n_slices)):
            free = [q for q in range(s.cfg.n_slices) if s.slice_owner[q] < 0]
            if free:
                self._apply("slice_alloc", (target, free[pick % len(free)]))
        for _ in range(s.cfg.n_slices * (s.cfg.slice_ticks + 1) + 1):
            if self._running() is not None:
                break
            self._apply("timer_tick", ())
        return self._running()

    def _running_page(self, pick: int, page_pick: int) -> tuple[int, int] | None:
        """The running environment (``_scheduled``) and one of its pages
        (``_owned_page``), or None."""
        env = self._scheduled(pick)
        if env is None:
            return None
        page = self._owned_page(env, page_pick)
        return None if page is None else (env, page)

    def _owned_page(self, env: int, pick: int) -> int | None:
        s = self.model
        owned = [p for p in range(s.cfg.n_pages) if s.owner[p] == env]
        free = [p for p in range(s.cfg.n_pages) if s.owner[p] < 0]
        if not owned and free:
            page = free[pick % len(free)]
            self._apply("alloc", (env, page))
            return page
        return pick_one(owned, pick)

    # ---------------------------------------------------------------- environments

    @rule(pick=st.integers(0, 7), cid=st.integers(0, 7), missing=st.integers(-1, 9))
    def libos_boot_env(self, pick: int, cid: int, missing: int) -> None:
        """ENV-1..ENV-5, CPU-1: create a dead environment with a free context id, register
        its entry points (all but vector ``missing``) and give it a free slice."""
        s = self.model
        dead = [e for e in range(s.cfg.n_envs) if not s.env_alive[e]]
        free_cids = [c for c in range(s.cfg.n_cids) if s.cid_env[c] < 0]
        env, c = pick_one(dead, pick), pick_one(free_cids, cid)
        if env is None or c is None:
            return
        self._apply("env_create", (env, c))
        for k in range(NUM_EXCEPTIONS):
            if k != missing:
                self._apply("set_exception_context", (env, k, 0x1000 + k))
        for w in (0, 1):
            if NUM_EXCEPTIONS + w != missing:
                self._apply("set_interrupt_context", (env, w, 0x2000 + w))
            if NUM_EXCEPTIONS + 2 + w != missing:
                self._apply("set_protected_entry", (env, w, 0x3000 + w))
        slices = [q for q in range(self.model.cfg.n_slices) if self.model.slice_owner[q] < 0]
        if slices:
            self._apply("slice_alloc", (env, slices[pick % len(slices)]))

    @on("env")
    @rule(pick=st.integers(0, 7), vector=st.integers(0, 9))
    def libos_unregister(self, pick: int, vector: int) -> None:
        """ENV-3..ENV-5: a live environment drops one handler (later: KILLED, NO_ENTRY)."""
        env = pick_one(live_envs(self.model), pick)
        if env is None:
            return
        if vector < NUM_EXCEPTIONS:
            self._apply("set_exception_context", (env, vector, NO_ENTRY))
        elif vector < NUM_EXCEPTIONS + 2:
            self._apply("set_interrupt_context", (env, vector - NUM_EXCEPTIONS, NO_ENTRY))
        else:
            self._apply("set_protected_entry", (env, (vector - NUM_EXCEPTIONS) % 2, NO_ENTRY))

    @rule(ticks=st.integers(1, 8))
    def libos_ticks(self, ticks: int) -> None:
        """CPU-4/CPU-5: let time pass: slices end, the next begins, excess is charged."""
        for _ in range(ticks):
            self._apply("timer_tick", ())

    @on("cpu")
    @rule(pick=st.integers(0, 7))
    def libos_yield(self, pick: int) -> None:
        """CPU-3: the running environment yields to another live one, or to the next
        slice."""
        target = pick_one(live_envs(self.model), pick)
        self._apply("yield_to", (-1 if target is None or pick % 3 == 0 else target,))

    # ---------------------------------------------------------------- memory and bindings

    @rule(vpage=st.integers(0, 5), writable=st.booleans(), fresh=st.booleans(),
          pick=st.integers(0, 7))
    def libos_map(self, vpage: int, writable: bool, fresh: bool, pick: int) -> None:
        """MEM-1, TLB-1: the running environment (else a live one) maps ``vpage`` to one of
        its pages, allocating a free page first when ``fresh`` or when it owns none."""
        s = self.model
        env = self._running()
        if env is None:
            env = pick_one(live_envs(s), pick)
        if env is None:
            return
        owned = [p for p in range(s.cfg.n_pages) if s.owner[p] == env]
        free = [p for p in range(s.cfg.n_pages) if s.owner[p] < 0]
        if (fresh or not owned) and free:
            page = free[pick % len(free)]
            self._apply("alloc", (env, page))
            owned = [page]
        page_or_none = pick_one(owned, pick)
        if page_or_none is None:
            return
        self._apply("tlbwr", (env, vpage, current_cap(self.model, page_or_none), writable))

    @on("memory")
    @rule(vpage=st.integers(0, 5), offset=st.integers(0, 3), reg=st.integers(0, 3),
          store=st.booleans(), value=st.integers(-3, 300), mapped=st.booleans())
    def libos_access(self, vpage: int, offset: int, reg: int, store: bool, value: int,
                     mapped: bool) -> None:
        """MEM-4/MEM-5, TLB-8: the running environment loads or stores; with ``mapped``,
        through a virtual page some binding of its context knows (TLB, STLB or guaranteed
        mapping), so hits, refills and protection faults happen."""
        s = self.model
        env = self._running()
        if env is None:
            return
        if mapped:
            cid = s.env_cid[env]
            known = sorted({s.tlb_vpage[t] for t in range(s.cfg.tlb_size)
                            if s.tlb_valid[t] and s.tlb_cid[t] == cid}
                           | {s.stlb_vpage[t] for t in range(s.cfg.stlb_size)
                              if s.stlb_valid[t] and s.stlb_cid[t] == cid}
                           | {s.gm_vpage[env, g] for g in range(s.cfg.n_guaranteed)
                              if s.gm_valid[env, g]})
            if known:
                vpage = known[vpage % len(known)]
        offset %= s.cfg.page_words
        reg %= s.cfg.n_regs
        if store:
            self._apply("set_reg", (reg, value))
        self._apply("store" if store else "load", (vpage, offset, reg))

    @on("tlb")
    @rule(vpage=st.integers(0, 5))
    def libos_unmap(self, vpage: int) -> None:
        """TLB-2: the running environment drops its binding of ``vpage`` (TLB and STLB), so
        the next access misses or refills from a guaranteed mapping."""
        env = self._running()
        if env is not None:
            self._apply("tlbvadelete", (env, vpage))

    @on("tlb")
    @rule(slot=st.integers(0, 1), vpage=st.integers(0, 5), writable=st.booleans(),
          pick=st.integers(0, 7))
    def libos_guarantee(self, slot: int, vpage: int, writable: bool, pick: int) -> None:
        """TLB-4: an owner binds one of its pages with a guaranteed mapping."""
        s = self.model
        env = self._running()
        if env is None:
            env = pick_one(live_envs(s), pick)
        owned = [p for p in range(s.cfg.n_pages) if env is not None and s.owner[p] == env]
        page = pick_one(owned, pick)
        if env is None or page is None:
            return
        self._apply("gm_set", (env, slot % s.cfg.n_guaranteed, vpage, current_cap(s, page),
                               writable))

    @on("memory")
    @rule(pick=st.integers(0, 7), grantee=st.integers(0, 7), rights=st.integers(1, 2),
          vpage=st.integers(0, 5))
    def libos_share(self, pick: int, grantee: int, rights: int, vpage: int) -> None:
        """MEM-3, TLB-1: an owner grants a page to another environment, which maps it."""
        s = self.model
        pages = [p for p in range(s.cfg.n_pages) if s.owner[p] >= 0]
        page = pick_one(pages, pick)
        live = live_envs(s)
        if page is None or not live:
            return
        owner = s.owner[page]
        others = [e for e in live if e != owner] or live
        g = others[grantee % len(others)]
        res = self._apply("grant", (owner, current_cap(s, page), g, rights))
        cap = res.value if isinstance(res.value, Cap) else current_cap(self.model, page, rights)
        self._apply("tlbwr", (g, vpage, cap, rights == int(Rights.READWRITE)))

    @on("memory")
    @rule(pick=st.integers(0, 7))
    def libos_free(self, pick: int) -> None:
        """MEM-2: an owner deallocates one of its pages with a current capability (breaking
        the bindings of every holder)."""
        s = self.model
        pages = [p for p in range(s.cfg.n_pages) if s.owner[p] >= 0]
        page = pick_one(pages, pick)
        if page is not None:
            self._apply("dealloc", (s.owner[page], current_cap(s, page)))

    @on("tlb")
    @rule(pick=st.integers(0, 7), cid=st.integers(0, 7))
    def libos_new_context(self, pick: int, cid: int) -> None:
        """TLB-3: a live environment moves to another context id (its bindings stay with
        the old one)."""
        s = self.model
        env = pick_one(live_envs(s), pick)
        if env is not None:
            self._apply("cid_switch", (env, cid % s.cfg.n_cids))

    # ---------------------------------------------------------------- control transfer

    @on("pct")
    @rule(pick=st.integers(0, 7), sync=st.booleans(), ticks=st.integers(0, 3))
    def libos_call(self, pick: int, sync: bool, ticks: int) -> None:
        """PCT-1/PCT-2: after ``ticks`` ticks, the running environment calls another."""
        for _ in range(ticks):
            self._apply("timer_tick", ())
        running = self._running()
        live = [e for e in live_envs(self.model) if e != running] or live_envs(self.model)
        callee = pick_one(live, pick)
        if callee is not None:
            self._apply("scall" if sync else "acall", (callee,))

    @on("cpu")
    @rule(exc=st.integers(0, NUM_EXCEPTIONS), pick=st.integers(0, 7))
    def libos_fault(self, exc: int, pick: int) -> None:
        """EXC-1: the running code faults (unaligned, overflow, coprocessor, protection),
        or tries to raise a kind only the kernel raises (a TLB miss, a kind past the
        last): INVALID_ARGUMENT, nothing delivered."""
        self._scheduled(pick)
        self._apply("raise_exception", (exc,))

    # ---------------------------------------------------------------- revocation

    @on("revocation")
    @rule(kind=st.sampled_from([Resource.SLICE, Resource.PAGE, Resource.FILTER]),
          wait=st.integers(0, 2), pick=st.integers(0, 7))
    def libos_repossess(self, kind: Resource, wait: int, pick: int) -> None:
        """REV-1/REV-3: the kernel asks for a resource back (for a slice: the one in
        progress, from the environment running it), lets the deadline pass and aborts."""
        s = self.model
        env = self._running()
        pending = [e for e in live_envs(s) if s.rev_pending[e]]
        if pending:  # finish an outstanding request first: abort at its deadline (too
            e = pending[pick % len(pending)]  # early), one tick later (allowed)
            while self.model.now < self.model.rev_deadline[e] and self.model.env_alive[e]:
                self._apply("timer_tick", ())
            self._apply("abort", (e,))
            self._apply("timer_tick", ())
            self._apply("abort", (e,))
            s = self.model
        if kind == Resource.FILTER and not any(s.filter_valid[f]
                                               for f in range(s.cfg.n_filters)):
            owner = env if env is not None else pick_one(live_envs(s), pick)
            if owner is not None:
                self._apply("filter_install", (owner, first_byte_is(pick % 4)))
                s = self.model
        if (kind == Resource.SLICE and env is not None and s.slice_owner[s.cur_slice] == env
                and s.slice_left >= 3):  # two ticks to pass the deadline, one to spare
            target = s.cur_slice
        else:
            table = {Resource.PAGE: (s.owner, s.cfg.n_pages),
                     Resource.SLICE: (s.slice_owner, s.cfg.n_slices),
                     Resource.FILTER: (s.filter_owner, s.cfg.n_filters)}[kind]
            owned = [(table[0][k], k) for k in range(table[1]) if table[0][k] >= 0
                     and (kind != Resource.FILTER or s.filter_valid[k])]
            if not owned:
                return
            env, target = owned[pick % len(owned)]
        if kind == Resource.SLICE:
            wait = 1  # deadline next tick (REV-1: after now); two ticks leave the slice on
        self._apply("revoke_request", (env, int(kind), target, s.now + wait))
        for _ in range(wait + 1):
            if self.model.now > self.model.rev_deadline[env]:
                break
            self._apply("timer_tick", ())
        self._apply("abort", (env,))
        running = self._running()
        if running is not None and running != env and self.model.env_alive[env]:
            self._apply("yield_to", (env,))  # the loser runs: its repossession is delivered

    # ---------------------------------------------------------------- network

    @on("net")
    @rule(pick=st.integers(0, 7), byte=st.integers(0, 3), packets=st.integers(1, 4),
          take=st.integers(0, 2), kind=st.integers(0, 2), at=st.integers(0, 3))
    def libos_receive(self, pick: int, byte: int, packets: int, take: int,
                      kind: int, at: int) -> None:
        """NET-1..NET-4, FLT-4: a live environment installs a filter (byte ``at`` is
        ``byte``, or all packets), packets of every length around ``at`` arrive (the bounds
        check decides; the ring fills, wraps, drops) and it takes some."""
        env = pick_one(live_envs(self.model), pick)
        if env is None:
            return
        program = ACCEPT_ALL if kind == 0 else first_byte_is(byte % 2, at if kind == 2 else 0)
        s = self.model
        taken = [f for f in range(s.cfg.n_filters) if s.filter_valid[f]]
        # a slot for it: all filters removed (kind 2) or, when every slot is taken, one
        for f in taken if kind == 2 else taken[:1] if len(taken) == s.cfg.n_filters else []:
            self._apply("filter_remove", (s.filter_owner[f], f))
        self._apply("filter_install", (env, program))
        for i in range(packets):
            length = (at + i) % 5  # just short of byte ``at``, just holding it, longer
            self._apply("packet_arrive", (bytes([(byte + i) % 2] * length),))
        for _ in range(take):
            self._apply("packet_take", (env,))

    @on("net")
    @rule(pick=st.integers(0, 7), byte=st.integers(0, 3), packets=st.integers(1, 3))
    def libos_close_port(self, pick: int, byte: int, packets: int) -> None:
        """NET-2, NET-3: an environment closes a port: it removes one of its filters
        and packets that filter accepted keep arriving (the kernel drops them, or a
        filter still installed takes them)."""
        s = self.model
        slots = [f for f in range(s.cfg.n_filters) if s.filter_valid[f]]
        if not slots:
            return
        slot = slots[pick % len(slots)]
        code = s.filter_code[slot]
        self._apply("filter_remove", (s.filter_owner[slot], slot))
        pool = [bytes([(byte + v) % 4] * n) for v in range(4) for n in (1, 2, 4, 14)]
        accepted = [p for p in pool if accepts(code, p)] or pool[:1]
        for i in range(packets):
            self._apply("packet_arrive", (accepted[i % len(accepted)],))
