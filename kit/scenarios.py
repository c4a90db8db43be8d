"""Whole scenarios for the conformance kit: each rule builds, in one step of the machine,
a state a library OS reaches only through several calls — a guaranteed mapping refilled,
a grantee whose binding dealloc breaks, an exception with no handler, a slice overrun, a
revocation of a guarded page, a ring that fills — and then makes the call whose clause it
aims at. Built on the single steps of ``exo.kit.rules.StepRules``."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import rule

from exo.interface import NO_ENTRY, NUM_EXCEPTIONS, OPERATIONS, Cap, Resource, Rights, Vector
from exo.kit.configs import on
from exo.kit.rules import (
    ACCEPT_ALL,
    BUDGET_CHAIN,
    DIVISION_CHAIN,
    StepRules,
    current_cap,
    first_byte_is,
    live_envs,
    pick_one,
)

__all__ = ["LibosRules"]


class LibosRules(StepRules):
    """Directed rules, mixed into ``exo.kit.machine.LockstepMachine``: the library-OS
    steps of ``StepRules`` and the whole scenarios below. Each reads the model
    (``self.model``) to choose its arguments and calls ``self._apply``."""

    # ---------------------------------------------------------------- whole scenarios
    # Each runs a short sequence a library OS would, so that paths needing several
    # preconditions at once (a guaranteed refill, a grantee's binding broken by the owner,
    # a protection fault, a kill for lack of a handler) are reached in one rule.

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
                               current_cap(s, page, rights), writable))
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
        live = live_envs(s)
        owner = self._running()
        if owner is None:
            owner = pick_one(live, pick)
        if owner is None or len(live) < 2:
            return
        page = self._owned_page(owner, pick)
        if page is None:
            return
        g = [e for e in live if e != owner][pick % (len(live) - 1)]
        res = self._apply("grant", (owner, current_cap(self.model, page), g, rights))
        cap = res.value if isinstance(res.value, Cap) else current_cap(self.model, page, rights)
        self._apply("tlbwr", (g, vpage, cap, store))
        self._apply("grant", (owner, current_cap(self.model, page), g, 1))  # less: rights stay
        self._apply("grant", (g, cap, owner, int(Rights.READWRITE)))  # more than it holds
        self._apply("gm_set", (g, 0, vpage, cap, False))  # not the owner
        self._apply("yield_to", (g,))
        if self._running() == g:
            self._apply("store" if store else "load", (vpage, 0, 0))
        old = current_cap(self.model, page)
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
            self._apply("tlbwr", (env, vpage, current_cap(self.model, page), False))
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
        others = [e for e in live_envs(self.model) if e != env]
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
        self._apply("gm_set", (env, slot % s.cfg.n_guaranteed, vpage, current_cap(s, page), True))
        self._apply("revoke_request", (env, int(Resource.PAGE), page, s.now + 2))
        self._apply("gm_clear", (env, slot % s.cfg.n_guaranteed))
        self._apply("revoke_request", (env, int(Resource.PAGE), page, self.model.now + 2))
        self._apply("gm_set", (env, slot % s.cfg.n_guaranteed, vpage,
                               current_cap(self.model, page), True))
        self._apply("abort", (env,))  # too early
        others = [e for e in live_envs(self.model) if e != env]
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
        others = [e for e in live_envs(self.model) if e != env]
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
        q = pick_one(owned, pick)
        live = live_envs(s)
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
        live = live_envs(s)
        env = pick_one(live, pick)
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
            self._apply("dealloc", (env, current_cap(s, theirs[0])))
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
        live = live_envs(s)
        env = pick_one(live, pick)
        if env is None:
            return
        for byte in range(s.cfg.n_filters + 1):
            owner = live[(pick + byte) % len(live)]
            self._apply("filter_install", (owner, first_byte_is(byte)))
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
            self._apply("tlbwr", (env, v, current_cap(self.model, page), True))
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
        self._apply("tlbwr", (env, vpage, current_cap(self.model, first), True))
        self._apply("tlbvadelete", (env, vpage))
        far = vpage + self.model.cfg.stlb_size  # the same STLB slot (TLB-7), same context
        self._apply("tlbwr", (env, far, current_cap(self.model, second), True))
        self._apply("dealloc", (env, current_cap(self.model, first)))
        self._apply("set_reg", (0, far))
        self._apply("store" if store else "load", (far, 0, 0))

    @on("net")
    @rule(pick=st.integers(0, 7))
    def scenario_hard_filter(self, pick: int) -> None:
        """NET-1, FLT-6: a filter whose overlap with another environment's is not decided:
        too heavy to ask (64 chained divisions) or past the budget (16): UNDECIDED, state
        unchanged. The answer is cached per pair, so only the first costs solver time."""
        live = live_envs(self.model)
        if len(live) < 2:
            return
        a, b = live[pick % len(live)], live[(pick + 1) % len(live)]
        self._apply("filter_install", (a, ACCEPT_ALL))
        s = self.model
        if any(s.filter_valid[f] and s.filter_owner[f] == a and s.filter_code[f] == ACCEPT_ALL
               for f in range(s.cfg.n_filters)):  # never installed alone: FLT-8 would
            # have to prove it
            chain = DIVISION_CHAIN if pick % 2 else BUDGET_CHAIN
            self._apply("filter_install", (b, chain))

    @on("hostile")
    @rule(pick=st.integers(0, 7))
    def scenario_dead_env(self, pick: int) -> None:
        """GEN-1, ENV-2: every operation that names an environment, with a dead one in
        range and every other argument valid: NO_SUCH_ENV from each."""
        s = self.model
        dead = [e for e in range(s.cfg.n_envs) if not s.env_alive[e]]
        d = pick_one(dead, pick)
        if d is None:
            return
        live = live_envs(s)
        other = live[0] if live else d
        pages = [p for p in range(s.cfg.n_pages) if s.owner[p] >= 0]
        page = pages[pick % len(pages)] if pages else 0
        cap = current_cap(s, page)
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
        others = [e for e in live_envs(s) if e != env]
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
        self._apply("tlbwr", (env, vpage, current_cap(self.model, page), False))
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
            env = pick_one(live_envs(s), 0)
        if env is None:
            return
        pages = [p for p in range(c.n_pages) if s.owner[p] == env]
        page = pages[0] if pages else 0
        valid: dict[str, Any] = {
            "env": env, "grantee": env, "callee": env, "page": page, "vpage": 0,
            "offset": 0, "reg": 0, "cid": s.env_cid[env], "slot": 0, "slice": s.cur_slice,
            "exc": 1, "which": 0, "rights": 1, "resource": int(Resource.PAGE), "filter": 0,
            "target": env if name == "yield_to" else page, "entry": 0x100, "value": 1,
            "deadline": s.now + 1, "cap": current_cap(s, page), "writable": False,
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

    # ---------------------------------------------------------------- what a library OS
    # never does: the sentence branches its own set-up would never take (issue 22)

    @on("cpu")
    @rule(pick=st.integers(0, 7), which=st.integers(0, 4), extra=st.integers(1, 4))
    def scenario_unusual_start(self, pick: int, which: int, extra: int) -> None:
        """CPU-5, REV-4, REV-1 by the paths a library OS's own set-up never takes:

        * ``which == 0``: an environment with no repossession handler has a repossession
          exception waiting (it lost a page while another ran) and is started by a
          yield: the exception is dropped (CPU-5, REV-4);
        * ``which == 1``: the running environment owns the next slice too, runs past the
          end of its slice as deep into debt as it may, and yields: the next slice
          begins with its debt, which may take the whole slice (CPU-5);
        * ``which == 2``: an environment asks for a slice back that it does not own
          (REV-1: NOT_OWNER);
        * ``which == 3``: a grant and a guaranteed mapping of a capability whose page is
          out of range (MEM-3, TLB-4: INVALID_ARGUMENT, after the other arguments pass);
        * ``which == 4``: a page repossessed from one environment by an abort is
          allocated by another and granted back to the loser, then allocated by the
          loser itself (MEM-1, MEM-3: the repossession record is cleared)."""
        if which >= 3:
            self._records(pick, which)
            return
        runner = self._scheduled(pick)
        if runner is None:
            return
        s = self.model
        following = (s.cur_slice + 1) % s.cfg.n_slices
        if which == 2:
            for q in range(s.cfg.n_slices):
                if s.slice_owner[q] != runner:
                    self._apply("revoke_request", (runner, int(Resource.SLICE), q,
                                                   s.now + 1))
                    return
            return
        if which == 1:
            if s.slice_owner[following] == -1:
                self._apply("slice_alloc", (runner, following))
            for _ in range(self.model.slice_left):  # to the end of the slice
                self._apply("timer_tick", ())
            limit = self.model.cfg.excess_limit
            for _ in range(max(0, limit - self.model.excess[runner]) + (extra == 4)):
                if self.model.cur_env != runner:
                    return
                self._apply("timer_tick", ())  # as deep into debt as it may (or killed)
            if self.model.cur_env == runner:
                self._apply("yield_to", (-1,))
            return
        others = [e for e in live_envs(s) if e != runner
                  and s.entry[e, int(Vector.REPOSSESSION)] == NO_ENTRY]
        if not others:
            self.libos_boot_env(pick=pick, cid=pick, missing=int(Vector.REPOSSESSION))
            others = [e for e in live_envs(self.model) if e != runner
                      and self.model.entry[e, int(Vector.REPOSSESSION)] == NO_ENTRY
                      and self.model.env_alive[e]]
        if not others or self.model.cur_env != runner:
            return
        loser = others[pick % len(others)]
        s = self.model
        pages = [p for p in range(s.cfg.n_pages) if s.owner[p] == loser]
        if not pages:
            free = [p for p in range(s.cfg.n_pages) if s.owner[p] == -1]
            if not free:
                return
            self._apply("alloc", (loser, free[pick % len(free)]))
            pages = [p for p in range(self.model.cfg.n_pages)
                     if self.model.owner[p] == loser]
        s = self.model
        if not pages or s.rev_pending[loser]:
            return
        if s.slice_owner[following] != loser and s.slice_owner[following] == -1:
            self._apply("slice_alloc", (loser, following))
        self._apply("revoke_request", (loser, int(Resource.PAGE), pages[0], s.now + 1))
        for _ in range(2):
            if self.model.cur_env != runner:
                return
            self._apply("timer_tick", ())
        self._apply("abort", (loser,))
        if self.model.cur_env == runner and self.model.env_alive[loser]:
            self._apply("yield_to", (loser,) if pick % 2 else (-1,))

    def _records(self, pick: int, which: int) -> None:
        """``scenario_unusual_start``'s MEM-1/MEM-3/TLB-4 paths (``which`` 3 and 4)."""
        live = live_envs(self.model)
        if not live:
            self.libos_boot_env(pick=pick, cid=pick, missing=-1)
            live = live_envs(self.model)
            if not live:
                return
        loser = live[pick % len(live)]
        if len(live) < 2 and pick % 2 == 0:  # a second environment, to give the page back
            self.libos_boot_env(pick=pick + 1, cid=pick + 1, missing=-1)
        others = [e for e in live_envs(self.model) if e != loser]
        cfg = self.model.cfg
        if which == 3:
            bad = Cap(cfg.n_pages, 0, int(Rights.READWRITE))
            self._apply("grant", (loser, bad, (others or [loser])[0], int(Rights.READ)))
            self._apply("gm_set", (loser, 0, 0, bad, True))
            return
        free = [p for p in range(cfg.n_pages) if self.model.owner[p] == -1]
        if not free or self.model.rev_pending[loser]:
            return
        page = free[pick % len(free)]
        self._apply("alloc", (loser, page))
        self._apply("revoke_request", (loser, int(Resource.PAGE), page, self.model.now + 1))
        for _ in range(2):
            self._apply("timer_tick", ())
        self._apply("abort", (loser,))
        if self.model.owner[page] != -1 or not self.model.env_alive[loser]:
            return
        giver = others[pick % len(others)] if others and pick % 2 == 0 else None
        if giver is None or not self.model.env_alive[giver]:
            self._apply("alloc", (loser, page))  # MEM-1: it takes the page back itself
            return
        cap = self._apply("alloc", (giver, page)).value
        self._apply("grant", (giver, cap, loser, int(Rights.READ)))  # MEM-3
