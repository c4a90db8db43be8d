"""Scenarios aimed at what an optimized kernel keeps on the side: indexes, caches and
per-context tables that must follow a resource when it changes hands.

An optimizer's kernel answers from reverse maps (the slices or filters an environment
owns), a demultiplexer's cache, entries tagged by a context id; a path that forgets to
update one is invisible until the state it feeds is read. Each rule here makes a resource
change hands (abort, donation, removal, destruction) and then makes the call that reads
what the kernel kept: destroying the previous holder, a packet for the filter that went,
the context id given to a new environment, two guaranteed mappings of one page. Built on
``exo.kit.scenarios.LibosRules``; every call is an ordinary lockstep call.
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import rule

from exo.interface import NO_ENTRY, Resource, Rights
from exo.kit.configs import on
from exo.kit.rules import ACCEPT_ALL, first_byte_is, live_envs
from exo.kit.scenarios import LibosRules

__all__ = ["StaleStateRules"]


class StaleStateRules(LibosRules):
    """The library-OS rules and scenarios, and the stale-state scenarios below."""

    def _two(self, pick: int) -> tuple[int, int] | None:
        """Two live environments, the first running (booted and scheduled as needed)."""
        runner = self._scheduled(pick)
        if runner is None:
            return None
        others = [e for e in live_envs(self.model) if e != runner]
        if not others:
            self.libos_boot_env(pick=pick + 1, cid=pick + 1, missing=-1)
            others = [e for e in live_envs(self.model) if e != runner]
        if not others or self.model.cur_env != runner:
            return None
        return runner, others[pick % len(others)]

    def _lose(self, env: int, kind: Resource, target: int) -> None:
        """The kernel asks ``env`` for ``target`` back and aborts when the deadline
        passes (REV-1, REV-3)."""
        if self.model.rev_pending[env]:
            return
        self._apply("revoke_request", (env, int(kind), target, self.model.now + 1))
        for _ in range(2):
            self._apply("timer_tick", ())
        self._apply("abort", (env,))

    @on("revocation")
    @rule(pick=st.integers(0, 7), how=st.integers(0, 4))
    def stale_after_handover(self, pick: int, how: int) -> None:
        """REV-3, PCT-1, NET-2, then ENV-2: a slice, a filter or a page changes hands —
        taken by an abort (``how`` 0, 1, 4), donated by a synchronous call (2), removed
        and taken by another environment (3) — and the environment that had it is
        destroyed: only what it still holds may be freed."""
        pair = self._two(pick)
        if pair is None:
            return
        runner, other = pair
        s = self.model
        if how == 4:  # REV-3: a page aborted away, allocated by the other, then ENV-2
            free = [p for p in range(s.cfg.n_pages) if s.owner[p] == -1]
            if not free:
                return
            page = free[pick % len(free)]
            self._apply("alloc", (runner, page))
            if self.model.owner[page] != runner:
                return
            self._lose(runner, Resource.PAGE, page)
            if self.model.owner[page] == -1 and self.model.env_alive[other]:
                self._apply("alloc", (other, page))
            if self.model.env_alive[runner]:
                self._apply("env_destroy", (runner,))
            return
        if how == 2:  # PCT-1: the runner's slice passes to the callee
            if s.slice_owner[s.cur_slice] == runner:
                self._apply("scall", (other,))
            self._apply("env_destroy", (runner,))
            return
        if how == 1 or how == 3:
            for f in range(s.cfg.n_filters):  # alone: no other filter can overlap
                if self.model.filter_valid[f]:
                    self._apply("filter_remove", (self.model.filter_owner[f], f))
            self._apply("filter_install", (runner, first_byte_is(pick % 4)))
            slot = next((f for f in range(s.cfg.n_filters)
                         if self.model.filter_valid[f] and self.model.filter_owner[f] == runner),
                        None)
            if slot is None:
                return
            if how == 1:
                self._lose(runner, Resource.FILTER, slot)
            else:
                self._apply("filter_remove", (runner, slot))
            self._apply("packet_arrive", (bytes([pick % 4, 2, 0]),))  # for the gone filter
            self._apply("filter_install", (other, ACCEPT_ALL))  # the slot is reused
            self._apply("packet_arrive", (bytes([pick % 4, 0, 0]),))
            if self.model.env_alive[runner]:
                self._apply("env_destroy", (runner,))
            self._apply("packet_arrive", (bytes([pick % 4, 1, 0]),))
            return
        owned = [q for q in range(s.cfg.n_slices) if s.slice_owner[q] == runner]
        if not owned:
            return
        self._lose(runner, Resource.SLICE, owned[pick % len(owned)])
        free = [q for q in range(self.model.cfg.n_slices) if self.model.slice_owner[q] == -1]
        if free and self.model.env_alive[other]:
            self._apply("slice_alloc", (other, free[0]))
        if self.model.env_alive[runner]:
            self._apply("env_destroy", (runner,))

    @on("revocation")
    @rule(pick=st.integers(0, 7))
    def stale_abort_under_acall(self, pick: int) -> None:
        """PCT-2, REV-3: the owner of the slice in progress makes an asynchronous call, so
        another environment runs in its slice; the owner loses that slice by an abort
        (only the owner's own run is cut short: the callee keeps the CPU)."""
        pair = self._two(pick)
        if pair is None:
            return
        runner, other = pair
        s = self.model
        q = s.cur_slice
        if s.slice_owner[q] != runner or s.rev_pending[runner] or s.slice_left < 3:
            return
        self._apply("acall", (other,))
        self._apply("revoke_request", (runner, int(Resource.SLICE), q, self.model.now + 1))
        self._apply("timer_tick", ())
        self._apply("timer_tick", ())
        self._apply("abort", (runner,))
        self._apply("timer_tick", ())

    @on("cpu")
    @rule(pick=st.integers(0, 7))
    def stale_debt_of_the_unrunnable(self, pick: int) -> None:
        """CPU-5: an environment deep in debt owns the next slice but has dropped its
        start-of-slice entry: the slice begins, it cannot run, and its debt is kept."""
        runner = self._scheduled(pick)
        if runner is None:
            return
        s = self.model
        following = (s.cur_slice + 1) % s.cfg.n_slices
        if s.slice_owner[following] == -1:
            self._apply("slice_alloc", (runner, following))
        for _ in range(self.model.slice_left + 1):
            self._apply("timer_tick", ())
        if self.model.cur_env != runner:
            return
        self._apply("timer_tick", ())  # past the end: debt
        self._apply("set_interrupt_context", (runner, 0, NO_ENTRY))
        if self.model.cur_env == runner:
            self._apply("yield_to", (-1,))
        for _ in range(self.model.cfg.slice_ticks + 1):
            self._apply("timer_tick", ())

    @on("tlb")
    @rule(pick=st.integers(0, 7), vpage=st.integers(0, 3))
    def stale_context_of_the_dead(self, pick: int, vpage: int) -> None:
        """TLB-9, ENV-1, TLB-8: an environment with a binding in the TLB and the STLB (of
        a page it owns, or holds by a grant) is destroyed; a new environment gets its
        context id and reads the same virtual page: nothing of the dead one's bindings
        may answer."""
        pair = self._two(pick)
        if pair is None:
            return
        runner, other = pair
        s = self.model
        page = next((p for p in range(s.cfg.n_pages) if s.owner[p] == -1), None)
        if page is None:
            return
        if pick % 2:  # a page it holds by a grant: destroying it does not free the page
            owned = self._apply("alloc", (other, page)).value
            cap = self._apply("grant", (other, owned, runner, int(Rights.READWRITE))).value
        else:
            cap = self._apply("alloc", (runner, page)).value
        self._apply("tlbwr", (runner, vpage, cap, True))
        cid = self.model.env_cid[runner]
        self._apply("env_destroy", (runner,))
        self._apply("env_create", (runner, cid))
        self._apply("set_interrupt_context", (runner, 0, 0x2000))
        if self.model.cur_env == other:
            self._apply("yield_to", (runner,))
        self._apply("load", (vpage, 0, 0))

    @on("tlb")
    @rule(pick=st.integers(0, 7), vpage=st.integers(0, 3), flip=st.booleans())
    def stale_two_guaranteed(self, pick: int, vpage: int, flip: bool) -> None:
        """TLB-4, TLB-8: two guaranteed mappings of one virtual page to two pages; a miss
        in the TLB and the STLB is refilled from the first valid one, in slot order (by a
        store, then by a load)."""
        runner = self._scheduled(pick)
        if runner is None or self.model.cfg.n_guaranteed < 2:
            return
        s = self.model
        free = [p for p in range(s.cfg.n_pages) if s.owner[p] == -1][:2]
        if len(free) < 2:
            return
        caps = [self._apply("alloc", (runner, p)).value for p in free]
        if flip:
            caps.reverse()
        self._apply("gm_set", (runner, 0, vpage, caps[0], True))
        self._apply("gm_set", (runner, 1, vpage, caps[1], True))
        self._apply("tlbvadelete", (runner, vpage))
        self._apply("store", (vpage, 0, 0))
        self._apply("tlbvadelete", (runner, vpage))  # the load refills again
        self._apply("load", (vpage, 0, 1))

    @on("net")
    @rule(pick=st.integers(0, 7), byte=st.integers(0, 3))
    def stale_demux_after_install(self, pick: int, byte: int) -> None:
        """NET-1, NET-3: a packet no filter accepts arrives; a filter that accepts it is
        installed; the same packet arrives again (a classifier's memo of the first
        answer must not survive the install); then its owner drains and is destroyed
        (its ring is reset whole: head, count and drops, ENV-2)."""
        runner = self._scheduled(pick)
        if runner is None:
            return
        packet = bytes([byte, 0, 0])
        self._apply("packet_arrive", (packet,))
        s = self.model
        if not any(not s.filter_valid[f] for f in range(s.cfg.n_filters)):
            return
        self._apply("filter_install", (runner, first_byte_is(byte)))
        for _ in range(s.cfg.ring_size + 1):
            self._apply("packet_arrive", (packet,))
        self._apply("packet_take", (runner,))
        self._apply("env_destroy", (runner,))

    @on("memory")
    @rule(pick=st.integers(0, 7), vpage=st.integers(0, 3), value=st.integers(1, 9))
    def stale_store_read_only(self, pick: int, vpage: int, value: int) -> None:
        """MEM-5, MEM-6: a store of a non-zero register through a read-only mapping
        faults and writes nothing (a fast path that writes before it checks shows here,
        where the word and the register differ); the word is read back."""
        runner = self._scheduled(pick)
        if runner is None:
            return
        s = self.model
        page = next((p for p in range(s.cfg.n_pages) if s.owner[p] == -1), None)
        if page is None:
            return
        cap = self._apply("alloc", (runner, page)).value
        self._apply("tlbwr", (runner, vpage, cap, False))
        self._apply("set_reg", (0, value))
        self._apply("store", (vpage, 0, 0))
        if self.model.cur_env == runner:
            self._apply("tlbwr", (runner, vpage, cap, True))
            self._apply("load", (vpage, 0, 1))

    @rule(pick=st.integers(0, 7), abort=st.booleans())
    def stale_filter_gone(self, pick: int, abort: bool) -> None:
        """NET-1, REV-3 or NET-2, NET-3: an environment installs a filter (alone: every
        other filter is removed first), loses it to an abort or removes it, and a packet
        the filter accepted arrives: no ring may receive it through the filter that went
        (a demultiplexer's compiled table must follow the filter table)."""
        runner = self._scheduled(pick)
        if runner is None:
            return
        for f in range(self.model.cfg.n_filters):
            if self.model.filter_valid[f]:
                self._apply("filter_remove", (self.model.filter_owner[f], f))
        byte = pick % 4
        self._apply("filter_install", (runner, first_byte_is(byte)))
        slot = next((f for f in range(self.model.cfg.n_filters)
                     if self.model.filter_valid[f]), None)
        if slot is None:
            return
        self._apply("packet_arrive", (bytes([byte, 0, 0]),))
        if abort:
            self._lose(runner, Resource.FILTER, slot)
        else:
            self._apply("filter_remove", (runner, slot))
        self._apply("packet_arrive", (bytes([byte, 1, 0]),))

    @rule(pick=st.integers(0, 7))
    def stale_slice_lost_then_destroyed(self, pick: int) -> None:
        """REV-3, CPU-1, ENV-2: an environment loses a slice to an abort, another takes it,
        and the loser is destroyed: only the slices it still owns may be freed."""
        self.stale_after_handover(pick=pick, how=0)
