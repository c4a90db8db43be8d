"""Generation for the conformance kit: rules that build state the way a library OS does,
swarm selection of rule groups, and the configurations a run is spread over.

The per-operation rules of ``exo.testing`` draw arguments mostly at random, which almost
never builds the preconditions of the interesting paths: a mapped page to load through, a
grantee holding an STLB entry when the owner deallocates, a slice run past its end. The
rules here read the model's state to choose arguments a library OS would choose (its own
pages, capabilities of their current generation, virtual pages it has mapped, the slice in
progress) and then make ordinary calls through ``LockstepMachine._apply``: model and
implementation see exactly the same calls as with any other rule.

*Swarm testing*: each example enables a random subset of rule ``GROUPS`` (every group is
enabled in about half the examples), so some examples concentrate on, say, memory and the
TLB with nothing else interfering.

*Configurations*: ``KIT_CONFIGS`` are the sizes a run is spread over when the user does not
fix one: the default sizes and colliding ones (a TLB of one slot, an STLB of two, one to
three environments and pages), where evictions, refills, full rings and kills happen in a
few steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from exo.interface import NO_ENTRY, NUM_EXCEPTIONS, OPERATIONS, Cap, Config, Resource, Rights

if TYPE_CHECKING:
    from exo.model import State

GROUPS = ("env", "memory", "tlb", "cpu", "pct", "revocation", "net", "hostile")
"""Rule groups for swarm testing; an operation's group is its clause prefix's."""

PREFIX_GROUP = {"ENV": "env", "MEM": "memory", "TLB": "tlb", "CPU": "cpu", "PCT": "pct",
                "EXC": "cpu", "REV": "revocation", "NET": "net"}

KIT_CONFIGS: tuple[Config, ...] = (
    Config(),
    Config(n_envs=2, n_pages=2, page_words=2, tlb_size=1, stlb_size=2, n_cids=3,
           n_slices=2, n_guaranteed=1, n_regs=2, slice_ticks=2, excess_limit=1,
           n_filters=2, ring_size=1),
    Config(n_envs=3, n_pages=3, page_words=2, tlb_size=2, stlb_size=2, n_cids=4,
           n_slices=3, n_guaranteed=2, n_regs=2, slice_ticks=2, excess_limit=2,
           n_filters=3, ring_size=2),
    Config(n_envs=1, n_pages=1, page_words=1, tlb_size=1, stlb_size=1, n_cids=1,
           n_slices=1, n_guaranteed=1, n_regs=1, slice_ticks=1, excess_limit=0,
           n_filters=1, ring_size=1),
)
"""The configurations a run is spread over (the first gets the largest share)."""

ACCEPT_ALL: tuple[tuple[int, int, int, int], ...] = ((0x06, 0, 0, 1),)

DIVISION_CHAIN: tuple[tuple[int, int, int, int], ...] = (
    (0x20, 0, 0, 0), (0x07, 0, 0, 0), (0x20, 0, 0, 4), *[(0x3C, 0, 0, 0)] * 64,
    (0x15, 0, 1, 0), (0x06, 0, 0, 1), (0x06, 0, 0, 0))
"""A = P[4..8] divided 64 times by X = P[0..4]: its overlap with any filter is past the
budget of FLT-6 (``tests/test_fail_closed.py``'s ``division_chain(64)``)."""


def _accepts(code: Any, packet: bytes) -> bool:
    """FLT-4 on the model's interpreter: ``code`` (a program the model installed, so one
    the verifier admitted; ``()`` for a slot never used) accepts ``packet``."""
    from exo.model.filters import evaluate
    return bool(code) and evaluate(code, packet) != 0


def _first_byte_is(v: int, at: int = 0) -> tuple[tuple[int, int, int, int], ...]:
    """Accept the packets whose byte ``at`` is ``v`` (a packet too short to have it is
    rejected: FLT-4's bounds check decides)."""
    return ((0x30, 0, 0, at), (0x15, 0, 1, v), (0x06, 0, 0, 0xFFFF), (0x06, 0, 0, 0))


F = TypeVar("F", bound=Callable[..., Any])


def on(group: str) -> Callable[[F], F]:
    """A precondition: the rule runs only in examples whose swarm enabled ``group``."""
    def enabled(machine: Any) -> bool:
        return group in machine.enabled
    decorate: Callable[[F], F] = precondition(enabled)
    return decorate


def _live(s: State) -> list[int]:
    return [e for e in range(s.cfg.n_envs) if s.env_alive[e]]


def _pick(items: list[int], i: int) -> int | None:
    return items[i % len(items)] if items else None


def _cap(s: State, page: int, rights: int = int(Rights.READWRITE)) -> Cap:
    """The capability a holder of ``page`` presents: its current generation."""
    return Cap(page, s.gen[page], rights)


class LibosRules:
    """Directed rules, mixed into ``exo.testing.LockstepMachine``. Each reads the model
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
        if not _live(self.model):
            self.libos_boot_env(pick=pick, cid=pick, missing=-1)
        live = _live(self.model)
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

    # ---------------------------------------------------------------- environments

    @rule(pick=st.integers(0, 7), cid=st.integers(0, 7), missing=st.integers(-1, 9))
    def libos_boot_env(self, pick: int, cid: int, missing: int) -> None:
        """ENV-1..ENV-5, CPU-1: create a dead environment with a free context id, register
        its entry points (all but vector ``missing``) and give it a free slice."""
        s = self.model
        dead = [e for e in range(s.cfg.n_envs) if not s.env_alive[e]]
        free_cids = [c for c in range(s.cfg.n_cids) if s.cid_env[c] < 0]
        env, c = _pick(dead, pick), _pick(free_cids, cid)
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
        env = _pick(_live(self.model), pick)
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
        target = _pick(_live(self.model), pick)
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
            env = _pick(_live(s), pick)
        if env is None:
            return
        owned = [p for p in range(s.cfg.n_pages) if s.owner[p] == env]
        free = [p for p in range(s.cfg.n_pages) if s.owner[p] < 0]
        if (fresh or not owned) and free:
            page = free[pick % len(free)]
            self._apply("alloc", (env, page))
            owned = [page]
        page_or_none = _pick(owned, pick)
        if page_or_none is None:
            return
        self._apply("tlbwr", (env, vpage, _cap(self.model, page_or_none), writable))

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
            env = _pick(_live(s), pick)
        owned = [p for p in range(s.cfg.n_pages) if env is not None and s.owner[p] == env]
        page = _pick(owned, pick)
        if env is None or page is None:
            return
        self._apply("gm_set", (env, slot % s.cfg.n_guaranteed, vpage, _cap(s, page), writable))

    @on("memory")
    @rule(pick=st.integers(0, 7), grantee=st.integers(0, 7), rights=st.integers(1, 2),
          vpage=st.integers(0, 5))
    def libos_share(self, pick: int, grantee: int, rights: int, vpage: int) -> None:
        """MEM-3, TLB-1: an owner grants a page to another environment, which maps it."""
        s = self.model
        pages = [p for p in range(s.cfg.n_pages) if s.owner[p] >= 0]
        page = _pick(pages, pick)
        live = _live(s)
        if page is None or not live:
            return
        owner = s.owner[page]
        others = [e for e in live if e != owner] or live
        g = others[grantee % len(others)]
        res = self._apply("grant", (owner, _cap(s, page), g, rights))
        cap = res.value if isinstance(res.value, Cap) else _cap(self.model, page, rights)
        self._apply("tlbwr", (g, vpage, cap, rights == int(Rights.READWRITE)))

    @on("memory")
    @rule(pick=st.integers(0, 7))
    def libos_free(self, pick: int) -> None:
        """MEM-2: an owner deallocates one of its pages with a current capability (breaking
        the bindings of every holder)."""
        s = self.model
        pages = [p for p in range(s.cfg.n_pages) if s.owner[p] >= 0]
        page = _pick(pages, pick)
        if page is not None:
            self._apply("dealloc", (s.owner[page], _cap(s, page)))

    @on("tlb")
    @rule(pick=st.integers(0, 7), cid=st.integers(0, 7))
    def libos_new_context(self, pick: int, cid: int) -> None:
        """TLB-3: a live environment moves to another context id (its bindings stay with
        the old one)."""
        s = self.model
        env = _pick(_live(s), pick)
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
        live = [e for e in _live(self.model) if e != running] or _live(self.model)
        callee = _pick(live, pick)
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
        pending = [e for e in _live(s) if s.rev_pending[e]]
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
            owner = env if env is not None else _pick(_live(s), pick)
            if owner is not None:
                self._apply("filter_install", (owner, _first_byte_is(pick % 4)))
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
        env = _pick(_live(self.model), pick)
        if env is None:
            return
        program = ACCEPT_ALL if kind == 0 else _first_byte_is(byte % 2, at if kind == 2 else 0)
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
        accepted = [p for p in pool if _accepts(code, p)] or pool[:1]
        for i in range(packets):
            self._apply("packet_arrive", (accepted[i % len(accepted)],))

    # ---------------------------------------------------------------- whole scenarios
    # Each runs a short sequence a library OS would, so that paths needing several
    # preconditions at once (a guaranteed refill, a grantee's binding broken by the owner,
    # a protection fault, a kill for lack of a handler) are reached in one rule.

    def _owned_page(self, env: int, pick: int) -> int | None:
        s = self.model
        owned = [p for p in range(s.cfg.n_pages) if s.owner[p] == env]
        free = [p for p in range(s.cfg.n_pages) if s.owner[p] < 0]
        if not owned and free:
            page = free[pick % len(free)]
            self._apply("alloc", (env, page))
            return page
        return _pick(owned, pick)

    @on("tlb")
    @rule(vpage=st.integers(0, 5), slot=st.integers(0, 1), store=st.booleans(),
          writable=st.booleans(), pick=st.integers(0, 7))
    def scenario_guaranteed_refill(self, vpage: int, slot: int, store: bool,
                                   writable: bool, pick: int) -> None:
        """TLB-4, TLB-8: a guaranteed mapping, its TLB/STLB binding dropped, an access:
        the TLB is refilled from the guaranteed mapping (or a protection fault)."""
        found = self._running_page(pick, pick)
        if found is None:
            return
        env, page = found
        s = self.model
        rights = int(Rights.READWRITE)
        if pick % 4 == 0:  # a read-only capability asked for a writable mapping
            rights, writable = int(Rights.READ), True
        self._apply("gm_set", (env, slot % s.cfg.n_guaranteed, vpage,
                               _cap(s, page, rights), writable))
        self._apply("tlbvadelete", (env, vpage))
        self._apply("store" if store else "load", (vpage, 0, 0))

    @on("memory")
    @rule(pick=st.integers(0, 7), vpage=st.integers(0, 5), rights=st.integers(1, 2),
          store=st.booleans(), stale=st.integers(0, 3))
    def scenario_grantee(self, pick: int, vpage: int, rights: int, store: bool,
                         stale: int) -> None:
        """MEM-2, MEM-3, TLB-1, TLB-8: an owner grants a page; the grantee maps it (asking
        for write access it may not have), runs and accesses it; the owner deallocates
        (breaking the grantee's bindings) and the stale capability is presented again."""
        s = self.model
        live = _live(s)
        owner = self._running()
        if owner is None:
            owner = _pick(live, pick)
        if owner is None or len(live) < 2:
            return
        page = self._owned_page(owner, pick)
        if page is None:
            return
        g = [e for e in live if e != owner][pick % (len(live) - 1)]
        res = self._apply("grant", (owner, _cap(self.model, page), g, rights))
        cap = res.value if isinstance(res.value, Cap) else _cap(self.model, page, rights)
        self._apply("tlbwr", (g, vpage, cap, store))
        self._apply("grant", (owner, _cap(self.model, page), g, 1))  # less: rights stay
        self._apply("grant", (g, cap, owner, int(Rights.READWRITE)))  # more than it holds
        self._apply("gm_set", (g, 0, vpage, cap, False))  # not the owner
        self._apply("yield_to", (g,))
        if self._running() == g:
            self._apply("store" if store else "load", (vpage, 0, 0))
        old = _cap(self.model, page)
        self._apply("dealloc", (self.model.owner[page], old))
        self._apply("alloc", (owner, page))  # the page again, of a new generation
        calls = [("dealloc", (owner, old)), ("grant", (owner, old, g, 1)),
                 ("tlbwr", (owner, vpage, old, False)), ("gm_set", (owner, 0, vpage, old, False))]
        for name, args in calls[stale:] + calls[:stale]:  # each refused: BAD_CAPABILITY
            self._apply(name, args)

    @on("cpu")
    @rule(vector=st.integers(0, 4), vpage=st.integers(0, 5))
    def scenario_no_handler(self, vector: int, vpage: int) -> None:
        """EXC-1, EXC-2, MEM-4/MEM-5: the running environment has no handler for a TLB
        miss, a protection fault or another exception, and meets one: it is destroyed."""
        env = self._running()
        if env is None:
            return
        self._apply("set_exception_context", (env, vector, NO_ENTRY))
        if vector in (1, 2, 3):
            self._apply("raise_exception", (vector,))
        elif vector == 4:
            page = self._owned_page(env, vpage)
            if page is None:
                return
            self._apply("tlbwr", (env, vpage, _cap(self.model, page), False))
            self._apply("store", (vpage, 0, 0))
        else:
            self._apply("tlbvadelete", (env, vpage))
            self._apply("load", (vpage, 0, 0))

    @on("cpu")
    @rule(extra=st.integers(1, 4), how=st.integers(0, 2))
    def scenario_overrun(self, extra: int, how: int) -> None:
        """CPU-4, CPU-5, PCT-1/PCT-2: the running environment keeps the CPU past the end of
        its slice (excess time, perhaps a kill), then gives it up: the next slice of a
        debtor starts in debt; a protected call after the slice ran out gets NO_TIME."""
        env = self._scheduled(0)
        if env is None:
            return
        for _ in range(self.model.slice_left + extra):
            self._apply("timer_tick", ())
        others = [e for e in _live(self.model) if e != env]
        if how == 0 or not others:
            self._apply("yield_to", (-1,))
        else:
            self._apply("scall" if how == 1 else "acall", (others[0],))
        for _ in range(self.model.cfg.slice_ticks * self.model.cfg.n_slices + 1):
            self._apply("timer_tick", ())

    @on("revocation")
    @rule(pick=st.integers(0, 7), slot=st.integers(0, 1), vpage=st.integers(0, 5))
    def scenario_revoke_guarded(self, pick: int, slot: int, vpage: int) -> None:
        """REV-1, REV-5, TLB-4, PCT-1: the kernel asks for a page bound by a guaranteed
        mapping (GUARANTEED), for another page (then gm_set on it is BUSY), and for the
        slice in progress while its owner calls another environment (BUSY)."""
        found = self._running_page(pick, pick)
        if found is None:
            return
        env, page = found
        s = self.model
        self._apply("gm_set", (env, slot % s.cfg.n_guaranteed, vpage, _cap(s, page), True))
        self._apply("revoke_request", (env, int(Resource.PAGE), page, s.now + 2))
        self._apply("gm_clear", (env, slot % s.cfg.n_guaranteed))
        self._apply("revoke_request", (env, int(Resource.PAGE), page, self.model.now + 2))
        self._apply("gm_set", (env, slot % s.cfg.n_guaranteed, vpage,
                               _cap(self.model, page), True))
        self._apply("abort", (env,))  # too early
        others = [e for e in _live(self.model) if e != env]
        if others and self.model.slice_owner[self.model.cur_slice] == env:
            self._apply("gm_clear", (env, slot % s.cfg.n_guaranteed))
            self._apply("abort", (env,))
            self._apply("revoke_request", (env, int(Resource.SLICE), self.model.cur_slice,
                                           self.model.now + 3))
            self._apply("scall", (others[0],))

    @on("pct")
    @rule(pick=st.integers(0, 7), sync=st.booleans(), which=st.integers(0, 1))
    def scenario_call_without_entry(self, pick: int, sync: bool, which: int) -> None:
        """PCT-1/PCT-2: a callee without the protected entry point: NO_ENTRY."""
        env = self._running()
        others = [e for e in _live(self.model) if e != env]
        if env is None or not others:
            return
        callee = others[pick % len(others)]
        self._apply("set_protected_entry", (callee, which, NO_ENTRY))
        self._apply("scall" if sync else "acall", (callee,))
        if self._running() == env:
            self._apply("set_interrupt_context", (callee, 0, NO_ENTRY))
            self._apply("yield_to", (callee,))

    @on("cpu")
    @rule(pick=st.integers(0, 7), other=st.booleans(), current=st.booleans())
    def scenario_slices(self, pick: int, other: bool, current: bool) -> None:
        """CPU-1/CPU-2: an environment frees a slice it owns, or one it does not own; or
        (``current``) the running environment gives up the slice in progress, whose
        current instance still runs out, and the clock goes on."""
        if current:
            env = self._scheduled(pick)
            if env is not None and self.model.slice_owner[self.model.cur_slice] == env:
                self._apply("slice_free", (env, self.model.cur_slice))
                for _ in range(self.model.slice_left + 1):
                    self._apply("timer_tick", ())
                return
        s = self.model
        owned = [q for q in range(s.cfg.n_slices) if s.slice_owner[q] >= 0]
        q = _pick(owned, pick)
        live = _live(s)
        if q is None or not live:
            return
        owner = s.slice_owner[q]
        env = next((e for e in live if e != owner), owner) if other else owner
        self._apply("slice_free", (env, q))

    @on("env")
    @rule(pick=st.integers(0, 7))
    def scenario_taken(self, pick: int) -> None:
        """ENV-1, MEM-1, REV-1, NET-2: asking for what another environment holds (a context
        id, a page, a filter) or naming a dead environment."""
        s = self.model
        live = _live(s)
        env = _pick(live, pick)
        if env is None:
            return
        dead = [e for e in range(s.cfg.n_envs) if not s.env_alive[e]]
        if dead:
            self._apply("env_create", (dead[0], s.env_cid[env]))
            self._apply("revoke_request", (dead[0], int(Resource.PAGE), 0, s.now + 1))
        pages = [p for p in range(s.cfg.n_pages) if s.owner[p] >= 0]
        if pages:
            self._apply("alloc", (env, pages[pick % len(pages)]))
        theirs = [p for p in pages if s.owner[p] != env]
        if theirs:
            self._apply("dealloc", (env, _cap(s, theirs[0])))
            self._apply("revoke_request", (env, int(Resource.PAGE), theirs[0], s.now + 1))
        slices = [q for q in range(s.cfg.n_slices) if s.slice_owner[q] >= 0]
        if slices:
            self._apply("slice_alloc", (env, slices[pick % len(slices)]))
        filters = [f for f in range(s.cfg.n_filters)
                   if s.filter_valid[f] and s.filter_owner[f] != env]
        if filters:
            self._apply("filter_remove", (env, filters[0]))

    @on("net")
    @rule(pick=st.integers(0, 7), rounds=st.integers(1, 3))
    def scenario_ring(self, pick: int, rounds: int) -> None:
        """NET-1..NET-4: every filter slot filled with disjoint filters (one more gets
        NO_SPACE); packets for one environment arrive past its ring's size, it takes some,
        more arrive: the ring fills, drops and wraps."""
        s = self.model
        live = _live(s)
        env = _pick(live, pick)
        if env is None:
            return
        for byte in range(s.cfg.n_filters + 1):
            owner = live[(pick + byte) % len(live)]
            self._apply("filter_install", (owner, _first_byte_is(byte)))
        for r in range(rounds):
            for i in range(s.cfg.ring_size + 1):  # different packets: the order shows
                self._apply("packet_arrive", (bytes([pick % 4, 1, r, i]),))
            self._apply("packet_take", (self.model.filter_owner[0]
                                        if self.model.filter_valid[0] else env,))

    @on("tlb")
    @rule(vpage=st.integers(0, 5), step=st.integers(1, 4), store=st.booleans())
    def scenario_refill(self, vpage: int, step: int, store: bool) -> None:
        """TLB-6..TLB-8: the running environment maps two virtual pages writable, so the
        second may evict the first from the small TLB; accessing the first again refills
        the TLB from the STLB."""
        found = self._running_page(vpage, vpage)
        if found is None:
            return
        env, page = found
        for v in (vpage, vpage + step):
            self._apply("tlbwr", (env, v, _cap(self.model, page), True))
        self._apply("set_reg", (0, vpage))
        self._apply("store" if store else "load", (vpage, 0, 0))
        free = [c for c in range(self.model.cfg.n_cids) if self.model.cid_env[c] < 0]
        if free and step % 2:  # TLB-3: a new context id while the STLB holds the old one's
            self._apply("cid_switch", (env, free[0]))

    @on("tlb")
    @rule(vpage=st.integers(0, 5), pick=st.integers(0, 7), store=st.booleans())
    def scenario_replace_page(self, vpage: int, pick: int, store: bool) -> None:
        """TLB-4, TLB-7, TLB-9, MEM-2: a pager replaces a page: the running environment
        maps ``vpage`` to one of its pages, unmaps it (tlbvadelete), maps the virtual page
        that shares its STLB slot to a second page, frees the first page and touches the
        second mapping, whose binding the Dealloc of the first must leave alone."""
        found = self._running_page(pick, pick)
        if found is None:
            return
        env, first = found
        s = self.model
        free = [p for p in range(s.cfg.n_pages) if s.owner[p] < 0]
        others = [p for p in range(s.cfg.n_pages) if s.owner[p] == env and p != first]
        if free:
            second = free[pick % len(free)]
            self._apply("alloc", (env, second))
        elif others:
            second = others[pick % len(others)]
        else:
            return
        self._apply("tlbwr", (env, vpage, _cap(self.model, first), True))
        self._apply("tlbvadelete", (env, vpage))
        far = vpage + self.model.cfg.stlb_size  # the same STLB slot (TLB-7), same context
        self._apply("tlbwr", (env, far, _cap(self.model, second), True))
        self._apply("dealloc", (env, _cap(self.model, first)))
        self._apply("set_reg", (0, far))
        self._apply("store" if store else "load", (far, 0, 0))

    @on("net")
    @rule(pick=st.integers(0, 7))
    def scenario_hard_filter(self, pick: int) -> None:
        """NET-1, FLT-6: a filter whose overlap with another environment's cannot be
        decided within the budget (64 chained divisions): UNDECIDED, state unchanged.
        The answer is cached per question, so only the first costs solver time."""
        live = _live(self.model)
        if len(live) < 2:
            return
        a, b = live[pick % len(live)], live[(pick + 1) % len(live)]
        self._apply("filter_install", (a, ACCEPT_ALL))
        s = self.model
        if any(s.filter_valid[f] and s.filter_owner[f] == a and s.filter_code[f] == ACCEPT_ALL
               for f in range(s.cfg.n_filters)):  # never installed alone: FLT-8 would
            self._apply("filter_install", (b, DIVISION_CHAIN))  # have to prove it

    @on("hostile")
    @rule(pick=st.integers(0, 7))
    def scenario_dead_env(self, pick: int) -> None:
        """GEN-1, ENV-2: every operation that names an environment, with a dead one in
        range and every other argument valid: NO_SUCH_ENV from each."""
        s = self.model
        dead = [e for e in range(s.cfg.n_envs) if not s.env_alive[e]]
        d = _pick(dead, pick)
        if d is None:
            return
        live = _live(s)
        other = live[0] if live else d
        pages = [p for p in range(s.cfg.n_pages) if s.owner[p] >= 0]
        page = pages[pick % len(pages)] if pages else 0
        cap = _cap(s, page)
        calls: list[tuple[str, tuple[Any, ...]]] = [
            ("env_destroy", (d,)), ("set_exception_context", (d, 0, 0x100)),
            ("set_interrupt_context", (d, 0, 0x100)), ("set_protected_entry", (d, 0, 0x100)),
            ("alloc", (d, page)), ("dealloc", (d, cap)), ("grant", (d, cap, other, 1)),
            ("grant", (s.owner[page] if pages else d, cap, d, 1)),
            ("tlbwr", (d, 0, cap, False)), ("tlbvadelete", (d, 0)), ("cid_switch", (d, 0)),
            ("gm_set", (d, 0, 0, cap, False)), ("gm_clear", (d, 0)), ("slice_alloc", (d, 0)),
            ("slice_free", (d, 0)), ("yield_to", (d,)), ("scall", (d,)), ("acall", (d,)),
            ("revoke_request", (d, int(Resource.PAGE), page, s.now + 1)), ("abort", (d,)),
            ("filter_install", (d, ACCEPT_ALL)), ("filter_remove", (d, 0)),
            ("packet_take", (d,)),
        ]
        for name, args in calls:
            self._apply(name, args)

    @on("hostile")
    @rule(vpage=st.integers(0, 3))
    def scenario_idle(self, vpage: int) -> None:
        """CPU-3..CPU-6, MEM-4/MEM-5, PCT-1/PCT-2, EXC-1: while no environment runs, the
        events and calls that need a running one: NOT_RUNNING from each."""
        if self._running() is not None:
            return
        for name, args in (("load", (vpage, 0, 0)), ("store", (vpage, 0, 0)),
                           ("set_reg", (0, 1)), ("raise_exception", (1,)),
                           ("yield_to", (-1,)), ("scall", (0,)), ("acall", (0,))):
            self._apply(name, args)

    @on("pct")
    @rule(pick=st.integers(0, 7), sync=st.booleans())
    def scenario_busy_call(self, pick: int, sync: bool) -> None:
        """PCT-1, REV-1: the kernel asks the running environment for the slice in
        progress; while that request is pending it may not donate the slice (scall: BUSY);
        acall hands on only the current instance and is allowed."""
        s = self.model
        env = self._running()
        others = [e for e in _live(s) if e != env]
        if env is None or not others or s.slice_owner[s.cur_slice] != env:
            return
        self._apply("revoke_request", (env, int(Resource.SLICE), s.cur_slice, s.now + 3))
        self._apply("scall" if sync else "acall", (others[pick % len(others)],))

    @on("memory")
    @rule(vpage=st.integers(0, 5), pick=st.integers(0, 7))
    def scenario_protection(self, vpage: int, pick: int) -> None:
        """MEM-5, EXC-2: the running environment maps a page read-only and stores to it: a
        protection fault, delivered to its handler (or a kill without one)."""
        found = self._running_page(pick, pick)
        if found is None:
            return
        env, page = found
        self._apply("tlbwr", (env, vpage, _cap(self.model, page), False))
        self._apply("store", (vpage, 0, 0))

    @on("hostile")
    @rule(below=st.booleans())
    def scenario_edges(self, below: bool) -> None:
        """GEN-1, GEN-3: every operation, with every other argument valid in the current
        state and one integer argument at a time exactly at the end of its range (``n``:
        INVALID_ARGUMENT) and (``below``) just inside it (``n - 1``): off-by-one range
        checks show here."""
        for name in OPERATIONS:
            self._edges(name, below)

    def _edges(self, name: str, below: bool) -> None:
        s = self.model
        c = s.cfg
        env = self._running()
        if env is None:
            env = _pick(_live(s), 0)
        if env is None:
            return
        pages = [p for p in range(c.n_pages) if s.owner[p] == env]
        page = pages[0] if pages else 0
        valid: dict[str, Any] = {
            "env": env, "grantee": env, "callee": env, "page": page, "vpage": 0,
            "offset": 0, "reg": 0, "cid": s.env_cid[env], "slot": 0, "slice": s.cur_slice,
            "exc": 1, "which": 0, "rights": 1, "resource": int(Resource.PAGE), "filter": 0,
            "target": env if name == "yield_to" else page, "entry": 0x100, "value": 1,
            "deadline": s.now + 1, "cap": _cap(s, page), "writable": False,
            "program": ACCEPT_ALL, "packet": bytes(1)}
        ends = {"env": c.n_envs, "grantee": c.n_envs, "callee": c.n_envs,
                "page": c.n_pages, "vpage": c.addr_limit, "offset": c.page_words,
                "reg": c.n_regs, "cid": c.n_cids, "slot": c.n_guaranteed,
                "slice": c.n_slices, "exc": NUM_EXCEPTIONS, "which": 2, "rights": 3,
                "resource": 3, "filter": c.n_filters, "entry": c.addr_limit,
                "target": c.n_envs if name == "yield_to" else c.n_pages}
        sig = OPERATIONS[name]
        for i, (arg, _) in enumerate(sig.args):
            if arg not in ends:
                continue
            for end in (ends[arg], ends[arg] - 1) if below else (ends[arg],):
                args = [valid[a] for a, _ in sig.args]
                args[i] = end
                self._apply(name, tuple(args))
