"""A catalogue of broken implementations of the exokernel interface.

Each entry is ``exo.impl.Kernel`` with one realistic mistake, the kind an outside
implementer makes: a forgotten reverse-map update, a flush of one table but not the
other, an off-by-one at a bound, a check in the wrong order. Each class names the spec
clause it violates in its docstring and carries

* ``WITNESS``: a short program (``(operation, args)`` steps) on which a plain lockstep
  replay against the model shows the divergence (``tests/test_catalogue.py`` checks that
  it does, and that the unbroken ``Kernel`` does not diverge on it);
* ``CONFIG``: keyword arguments for ``exo.interface.Config`` (empty: the defaults).

Every entry conforms on the empty program (no bug shows at boot). ``CATALOGUE`` maps a
name to the class; ``replay`` is the lockstep replay the tests and the benchmark use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from exo.impl import Kernel
from exo.impl import cpu as icpu
from exo.impl import memory as imem
from exo.impl import net as inet
from exo.impl.env import destroy_env
from exo.impl.exceptions import deliver
from exo.impl.filtercheck import Undecided
from exo.impl.ops import OK, cap_valid, fail, in_range, needed, rights_ok
from exo.impl.revocation import raise_repossession
from exo.impl.state import KernelState, Table, _discard
from exo.impl.tlb import guaranteed_page, stlb_slot, tlb_slot
from exo.interface import (
    FREE,
    NO_ENTRY,
    NULL_CAP,
    OPERATIONS,
    Cap,
    Config,
    ExcKind,
    Outcome,
    Resource,
    Result,
    Rights,
    Status,
    Vector,
    admit,
    null_value,
    trap_call,
)
from exo.kit.conformance import abstract, differences, same_outcome
from exo.model import REGISTRY, initial

Step = tuple[str, tuple[Any, ...]]
Handler = Callable[..., Result]

# --------------------------------------------------------------------------- shared pieces

RW = int(Rights.READWRITE)
CAP0 = Cap(0, 0, RW)  # the capability alloc returns for page 0 at boot generation
CAP1 = Cap(1, 0, RW)

RUN0: tuple[Step, ...] = (
    ("env_create", (0, 0)),
    ("set_interrupt_context", (0, 0, 0x2000)),
    ("slice_alloc", (0, 1)),
    ("timer_tick", ()),
)
"""Env 0 (context id 0) runs in slice 1 with ``slice_ticks`` ticks left."""

RUN01: tuple[Step, ...] = (
    ("env_create", (0, 0)),
    ("env_create", (1, 1)),
    ("set_interrupt_context", (0, 0, 0x2000)),
    ("set_interrupt_context", (1, 0, 0x2100)),
    ("set_protected_entry", (1, 0, 0x3100)),
    ("set_protected_entry", (1, 1, 0x3101)),
    ("slice_alloc", (0, 1)),
    ("timer_tick", ()),
)
"""Envs 0 and 1 (context ids 0 and 1) live, both runnable, 1 with protected entries;
env 0 runs in slice 1."""

# A cBPF program that loads the byte at offset 0 and accepts iff it is 0x45.
ACCEPT_45 = ((0x30, 0, 0, 0), (0x15, 0, 1, 0x45), (0x06, 0, 0, 0xFFFF), (0x06, 0, 0, 0))
# ... and one that accepts iff that byte is 0x60 (disjoint from the first).
ACCEPT_60 = ((0x30, 0, 0, 0), (0x15, 0, 1, 0x60), (0x06, 0, 0, 0xFFFF), (0x06, 0, 0, 0))
# Loads the byte at offset 2 and accepts iff it is 0 (reads the packet's third byte).
ACCEPT_B2_ZERO = ((0x30, 0, 0, 2), (0x15, 0, 1, 0), (0x06, 0, 0, 0xFFFF), (0x06, 0, 0, 0))


class Broken(Kernel):
    """``Kernel`` with some operations replaced: a method ``op_<name>(k, *args)`` runs
    instead of the shipped handler, after the same argument admission."""

    WITNESS: ClassVar[tuple[Step, ...]] = ()
    CONFIG: ClassVar[dict[str, int]] = {}
    CLAUSE: ClassVar[str] = ""

    def apply(self, name: str, *args: Any) -> Result:
        sig = OPERATIONS.get(name) if type(name) is str else None
        fn: Handler | None = getattr(self, "op_" + name, None) if sig is not None else None
        if sig is None or fn is None:
            return super().apply(name, *args)
        plain = admit(sig, args)
        if plain is None:
            return Result(Status.INVALID_ARGUMENT, null_value(sig))
        return fn(self.state, *plain)

    def trap(self, name: str, *args: Any) -> Result:
        """GEN-6 in front of the same replaced handlers: a real kernel's trap layer runs
        the handlers its raw entry runs, so a library that traps meets the bug too."""
        call = trap_call(name, args, self.state.cur_env)
        if isinstance(call, Result):
            return call
        fn: Handler | None = getattr(self, "op_" + call[0], None)
        return fn(self.state, *call[1]) if fn is not None else super().trap(name, *args)


def _release_cid_only(k: KernelState, page: int, cid: int, tlb: bool, stlb: bool) -> None:
    """``release_page`` whose binding flush keeps every entry of another context id in the
    tables named (``tlb``/``stlb`` False: that table is flushed completely)."""
    o = k.owner[page]
    if o != FREE:
        k.owned[o].discard(page)
    k.owner[page] = FREE
    k.gen[page] += 1
    for h in k.holders[page]:
        k.held[h].pop(page, None)
    k.holders[page] = set()
    for table, partial in ((k.tlb, tlb), (k.stlb, stlb)):
        for i in list(table.by_page.get(page, ())):
            if not partial or table.cid[i] == cid:
                table.drop(i)
    for e, g in list(k.gm_by_page.get(page, ())):
        k.gm_drop(e, g)


def _dealloc_checks(k: KernelState, env: int, cap: Cap) -> Result | None:
    c = k.cfg
    if not in_range(env, c.n_envs) or not in_range(cap.page, c.n_pages):
        return fail(Status.INVALID_ARGUMENT)
    if not k.env_alive[env]:
        return fail(Status.NO_SUCH_ENV)
    if k.owner[cap.page] != env:
        return fail(Status.NOT_OWNER)
    if not cap_valid(k, env, cap):
        return fail(Status.BAD_CAPABILITY)
    return None


# --------------------------------------------------------------------------- reverse maps


class _StaleReplaceTable(Table):
    def put(self, i: int, cid: int, vpage: int, page: int, write: bool) -> None:
        # bug: overwrites a valid slot without dropping it from the reverse maps
        self.valid[i] = True
        self.cid[i], self.vpage[i], self.page[i], self.write[i] = cid, vpage, page, write
        self.by_page.setdefault(page, set()).add(i)
        self.by_cid.setdefault(cid, set()).add(i)


class TlbReplaceKeepsStaleIndex(Broken):
    """TLB-9: a TLB slot overwritten by tlbwr stays indexed under its old page, so a later
    Dealloc of that page drops the slot's new, unrelated binding."""

    CLAUSE = "TLB-9"
    WITNESS = (*RUN0, ("alloc", (0, 0)), ("alloc", (0, 1)),
               ("tlbwr", (0, 0, CAP0, True)), ("tlbwr", (0, 4, CAP1, True)),
               ("dealloc", (0, CAP0)))

    def __init__(self, cfg: Config | None = None, check_demux: bool = True) -> None:
        super().__init__(cfg, check_demux)
        self.state.tlb = _StaleReplaceTable(self.cfg.tlb_size)


class _DropKeepsPageIndex(Table):
    def drop(self, i: int) -> None:
        if not self.valid[i]:
            return
        self.valid[i] = False
        _discard(self.by_cid, self.cid[i], i)  # bug: by_page keeps the slot


class StlbDropKeepsPageIndex(Broken):
    """TLB-9: an STLB slot invalidated by tlbvadelete stays in the page -> slots map; once
    the slot is reused for another page, a Dealloc of the old page drops the new binding."""

    CLAUSE = "TLB-9"
    WITNESS = (*RUN0, ("alloc", (0, 0)), ("alloc", (0, 1)),
               ("tlbwr", (0, 0, CAP0, True)), ("tlbvadelete", (0, 0)),
               ("tlbwr", (0, 8, CAP1, True)), ("dealloc", (0, CAP0)))

    def __init__(self, cfg: Config | None = None, check_demux: bool = True) -> None:
        super().__init__(cfg, check_demux)
        self.state.stlb = _DropKeepsPageIndex(self.cfg.stlb_size)


class GrantSkipsHolders(Broken):
    """MEM-2: grant records the grantee's rights but not the page -> holders map, so
    Dealloc leaves the grantee holding rights on a free page."""

    CLAUSE = "MEM-2"
    WITNESS = (("env_create", (0, 0)), ("env_create", (1, 1)), ("alloc", (0, 0)),
               ("grant", (0, CAP0, 1, RW)), ("dealloc", (0, CAP0)))

    def op_grant(self, k: KernelState, env: int, cap: Cap, grantee: int, rights: int
                 ) -> Result:
        r = imem.grant(k, env, cap, grantee, rights)
        if r.status == Status.OK:
            k.holders[cap.page].discard(grantee)
        return r


class GmSetSkipsIndex(Broken):
    """TLB-9/THM-2: gm_set does not index the mapping by page, so Dealloc of the page
    leaves the guaranteed mapping behind."""

    CLAUSE = "TLB-9"
    WITNESS = (("env_create", (0, 0)), ("alloc", (0, 0)),
               ("gm_set", (0, 0, 5, CAP0, True)), ("dealloc", (0, CAP0)))

    def op_gm_set(self, k: KernelState, env: int, slot: int, vpage: int, cap: Cap,
                  writable: bool) -> Result:
        from exo.impl.tlb import gm_set
        r = gm_set(k, env, slot, vpage, cap, writable)
        if r.status == Status.OK:
            bucket = k.gm_by_page.get(cap.page)
            if bucket is not None:
                bucket.discard((env, slot))
                if not bucket:
                    del k.gm_by_page[cap.page]
        return r


class AllocSkipsOwned(Broken):
    """ENV-2: alloc does not add the page to the env -> owned pages map, so destroying the
    env leaves the page owned by a dead environment."""

    CLAUSE = "ENV-2"
    WITNESS = (("env_create", (0, 0)), ("alloc", (0, 3)), ("env_destroy", (0,)))

    def op_alloc(self, k: KernelState, env: int, page: int) -> Result:
        r = imem.alloc(k, env, page)
        if r.status == Status.OK:
            k.owned[env].discard(page)
        return r


# --------------------------------------------------------------------------- STLB / TLB


class RefillNotWrittenBack(Broken):
    """TLB-8: a TLB miss that hits the STLB performs the access but never writes the
    binding back into the hardware TLB (the next access refills again)."""

    CLAUSE = "TLB-8"
    WITNESS = (*RUN0, ("alloc", (0, 0)), ("alloc", (0, 1)),
               ("tlbwr", (0, 0, CAP0, True)), ("tlbwr", (0, 4, CAP1, True)),
               ("load", (0, 0, 0)))

    def op_load(self, k: KernelState, vpage: int, offset: int, reg: int) -> Result:
        return _access_no_writeback(k, vpage, offset, reg, write=False)

    def op_store(self, k: KernelState, vpage: int, offset: int, reg: int) -> Result:
        return _access_no_writeback(k, vpage, offset, reg, write=True)


def _access_no_writeback(k: KernelState, vpage: int, offset: int, reg: int, write: bool
                         ) -> Result:
    c = k.cfg
    if not in_range(vpage, c.addr_limit) or not in_range(offset, c.page_words) \
            or not in_range(reg, c.n_regs):
        return fail(Status.INVALID_ARGUMENT)
    if not k.live(k.cur_env):
        return fail(Status.NOT_RUNNING)
    source, _, writable, page = imem.translate(k, vpage)
    if source == Outcome.NONE:
        return Result(Status.OK, deliver(k, int(ExcKind.TLB_MISS), vpage))
    if source == Outcome.REFILL_GUARANTEED:  # bug: only guaranteed refills are written
        cid = k.hw_cid
        k.tlb.put(tlb_slot(k, cid, vpage), cid, vpage, page, writable)
    if write and not writable:
        return Result(Status.OK, deliver(k, int(ExcKind.PROTECTION), vpage))
    if write:
        k.word[page][offset] = k.regs[reg]
    else:
        k.regs[reg] = k.word[page][offset]
    return Result(Status.OK, source)


class StlbWrongSlot(Broken):
    """TLB-7: tlbwr puts the STLB copy in the slot of the hardware TLB's index function
    (``tlb_index``) instead of ``stlb_index``."""

    CLAUSE = "TLB-7"
    WITNESS = (("env_create", (0, 0)), ("alloc", (0, 0)), ("tlbwr", (0, 0, CAP0, True)))

    def op_tlbwr(self, k: KernelState, env: int, vpage: int, cap: Cap, writable: bool
                 ) -> Result:
        from exo.impl.tlb import tlbwr
        r = tlbwr(k, env, vpage, cap, writable)
        if r.status == Status.OK:
            cid = k.env_cid[env]
            j = stlb_slot(k, cid, vpage)
            k.stlb.drop(j)
            k.stlb.put(tlb_slot(k, cid, vpage), cid, vpage, cap.page, writable)
        return r


class TlbvadeleteKeepsStlb(Broken):
    """TLB-2: tlbvadelete removes the binding from the hardware TLB only; the STLB copy
    survives (and a later access refills from it)."""

    CLAUSE = "TLB-2"
    WITNESS = (("env_create", (0, 0)), ("alloc", (0, 0)), ("tlbwr", (0, 0, CAP0, True)),
               ("tlbvadelete", (0, 0)))

    def op_tlbvadelete(self, k: KernelState, env: int, vpage: int) -> Result:
        c = k.cfg
        if not in_range(env, c.n_envs) or not in_range(vpage, c.addr_limit):
            return fail(Status.INVALID_ARGUMENT)
        if not k.env_alive[env]:
            return fail(Status.NO_SUCH_ENV)
        cid = k.env_cid[env]
        i = tlb_slot(k, cid, vpage)
        if k.tlb.hit(i, cid, vpage):
            k.tlb.drop(i)
        return OK


class CidSwitchKeepsStlb(Broken):
    """TLB-3/TLB-9: cid_switch flushes the old context id's hardware TLB entries but not
    its STLB entries."""

    CLAUSE = "TLB-3"
    WITNESS = (("env_create", (0, 0)), ("alloc", (0, 0)), ("tlbwr", (0, 0, CAP0, True)),
               ("cid_switch", (0, 2)))

    def op_cid_switch(self, k: KernelState, env: int, cid: int) -> Result:
        c = k.cfg
        if not in_range(env, c.n_envs) or not in_range(cid, c.n_cids):
            return fail(Status.INVALID_ARGUMENT)
        if not k.env_alive[env]:
            return fail(Status.NO_SUCH_ENV)
        if k.cid_env[cid] != FREE and k.cid_env[cid] != env:
            return fail(Status.IN_USE)
        old = k.env_cid[env]
        if in_range(old, c.n_cids):
            k.cid_env[old] = FREE
        k.cid_env[cid] = env
        k.env_cid[env] = cid
        if k.cur_env == env:
            k.hw_cid = cid
        if old != cid:
            k.tlb.drop_cid(old)
        return OK


class DeallocKeepsStlb(Broken):
    """MEM-2/THM-2: Dealloc flushes the hardware TLB but forgets the STLB, so a stale
    software binding of the freed page survives."""

    CLAUSE = "MEM-2"
    WITNESS = (("env_create", (0, 0)), ("alloc", (0, 0)), ("tlbwr", (0, 0, CAP0, True)),
               ("dealloc", (0, CAP0)))

    def op_dealloc(self, k: KernelState, env: int, cap: Cap) -> Result:
        bad = _dealloc_checks(k, env, cap)
        if bad is not None:
            return bad
        if k.rev_kind[env] == Resource.PAGE:
            k.rev_pending[env] = False
        _release_cid_only(k, cap.page, -2, tlb=False, stlb=True)
        return OK


# --------------------------------------------------------------------------- grantees


class DeallocLeavesGranteeStlb(Broken):
    """MEM-2: Dealloc leaves a grantee's STLB entries (it flushes only the entries tagged
    with the owner's context id from the STLB)."""

    CLAUSE = "MEM-2"
    WITNESS = (("env_create", (0, 0)), ("env_create", (1, 1)), ("alloc", (0, 0)),
               ("grant", (0, CAP0, 1, RW)), ("tlbwr", (1, 0, CAP0, True)),
               ("dealloc", (0, CAP0)))

    def op_dealloc(self, k: KernelState, env: int, cap: Cap) -> Result:
        bad = _dealloc_checks(k, env, cap)
        if bad is not None:
            return bad
        if k.rev_kind[env] == Resource.PAGE:
            k.rev_pending[env] = False
        _release_cid_only(k, cap.page, k.env_cid[env], tlb=False, stlb=True)
        return OK


class DeallocLeavesGranteeTlb(Broken):
    """MEM-2: Dealloc leaves a grantee's hardware TLB entries (only the owner's context id
    is flushed from the TLB)."""

    CLAUSE = "MEM-2"
    WITNESS = DeallocLeavesGranteeStlb.WITNESS

    def op_dealloc(self, k: KernelState, env: int, cap: Cap) -> Result:
        bad = _dealloc_checks(k, env, cap)
        if bad is not None:
            return bad
        if k.rev_kind[env] == Resource.PAGE:
            k.rev_pending[env] = False
        _release_cid_only(k, cap.page, k.env_cid[env], tlb=True, stlb=False)
        return OK


class GrantTooLargeRights(Broken):
    """MEM-3: grant does not compare the requested rights with the capability's, so a READ
    capability grants READWRITE."""

    CLAUSE = "MEM-3"
    WITNESS = (("env_create", (0, 0)), ("env_create", (1, 1)), ("alloc", (0, 0)),
               ("grant", (0, CAP0, 1, 1)), ("grant", (1, Cap(0, 0, 1), 1, RW)))

    def op_grant(self, k: KernelState, env: int, cap: Cap, grantee: int, rights: int
                 ) -> Result:
        c = k.cfg
        page = cap.page
        if not in_range(env, c.n_envs) or not in_range(grantee, c.n_envs) \
                or not in_range(page, c.n_pages) or not rights_ok(rights):
            return fail(Status.INVALID_ARGUMENT, NULL_CAP)
        if not k.env_alive[env] or not k.env_alive[grantee]:
            return fail(Status.NO_SUCH_ENV, NULL_CAP)
        if not cap_valid(k, env, cap):
            return fail(Status.BAD_CAPABILITY, NULL_CAP)
        old = k.rights(grantee, page)
        k.set_rights(grantee, page, max(old, rights))
        k.repo_page[grantee].discard(page)
        return Result(Status.OK, Cap(page, k.gen[page], rights))


class GrantDowngrades(Broken):
    """MEM-3: grant overwrites the grantee's rights instead of keeping the larger, so
    granting READ to a READWRITE holder takes its write right away."""

    CLAUSE = "MEM-3"
    WITNESS = (("env_create", (0, 0)), ("env_create", (1, 1)), ("alloc", (0, 0)),
               ("grant", (0, CAP0, 1, RW)), ("grant", (0, CAP0, 1, 1)))

    def op_grant(self, k: KernelState, env: int, cap: Cap, grantee: int, rights: int
                 ) -> Result:
        r = imem.grant(k, env, cap, grantee, rights)
        if r.status == Status.OK:
            k.set_rights(grantee, cap.page, rights)
        return r


# --------------------------------------------------------------------------- rings


def _arrive(k: KernelState, packet: bytes, capacity: int, count_full: bool) -> Result:
    e = k.demux.classify(packet)
    if e < 0:
        k.kernel_drops += 1
        return Result(Status.OK, int(Outcome.RX_NO_MATCH))
    n = k.cfg.ring_size
    if k.rx_count[e] >= capacity:
        if count_full:
            k.rx_drops[e] += 1
        return Result(Status.OK, int(Outcome.RX_RING_FULL))
    k.rx_pkt[e][(k.rx_head[e] + k.rx_count[e]) % n] = packet
    k.rx_count[e] += 1
    return Result(Status.OK, int(Outcome.RX_DELIVERED))


_RING = (("env_create", (0, 0)), ("filter_install", (0, ACCEPT_45)))
P1, P2, P3 = b"\x45\x01", b"\x45\x02", b"\x45\x03"


class RingFullNotCounted(Broken):
    """NET-3: a packet dropped on a full receive ring is not counted in ``rx_drops``."""

    CLAUSE = "NET-3"
    WITNESS = (*_RING, ("packet_arrive", (P1,)), ("packet_arrive", (P2,)),
               ("packet_arrive", (P3,)))

    def op_packet_arrive(self, k: KernelState, packet: bytes) -> Result:
        return _arrive(k, packet, k.cfg.ring_size, count_full=False)


class RingOneShort(Broken):
    """NET-3: the ring counts itself full one packet early (``count >= size - 1``)."""

    CLAUSE = "NET-3"
    WITNESS = (*_RING, ("packet_arrive", (P1,)), ("packet_arrive", (P2,)))

    def op_packet_arrive(self, k: KernelState, packet: bytes) -> Result:
        return _arrive(k, packet, k.cfg.ring_size - 1, count_full=True)


class RingOrderReversed(Broken):
    """NET-4: packet_take returns the newest packet of the ring, not the oldest."""

    CLAUSE = "NET-4"
    WITNESS = (*_RING, ("packet_arrive", (P1,)), ("packet_arrive", (P2,)),
               ("packet_take", (0,)))

    def op_packet_take(self, k: KernelState, env: int) -> Result:
        if not in_range(env, k.cfg.n_envs):
            return fail(Status.INVALID_ARGUMENT)
        if not k.env_alive[env]:
            return fail(Status.NO_SUCH_ENV)
        if k.rx_count[env] <= 0:
            return fail(Status.EMPTY)
        n = k.cfg.ring_size
        last = (k.rx_head[env] + k.rx_count[env] - 1) % n
        packet = k.rx_pkt[env][last]
        k.rx_pkt[env][last] = k.rx_pkt[env][k.rx_head[env]]
        k.rx_head[env] = (k.rx_head[env] + 1) % n
        k.rx_count[env] -= 1
        return Result(Status.OK, packet)


class PacketTakeEmptyOk(Broken):
    """NET-4: packet_take on an empty ring returns OK with an empty packet instead of
    EMPTY."""

    CLAUSE = "NET-4"
    WITNESS = (("env_create", (0, 0)), ("packet_take", (0,)))

    def op_packet_take(self, k: KernelState, env: int) -> Result:
        if in_range(env, k.cfg.n_envs) and k.env_alive[env] and k.rx_count[env] <= 0:
            return Result(Status.OK, b"")
        return inet.packet_take(k, env)


# --------------------------------------------------------------------------- slices, debt


def _next_slice_no_charge(k: KernelState) -> None:
    c = k.cfg
    q = (k.cur_slice + 1) % c.n_slices
    o = k.slice_owner[q]
    k.cur_slice = q
    k.slice_left = c.slice_ticks  # bug: the excess owed is never charged
    if icpu.runnable(k, o):
        icpu.start(k, o)
    else:
        k.cur_env = FREE
        k.hw_cid = FREE


class ExcessNotCharged(Broken):
    """CPU-4: excess time is recorded but never charged: a slice begins with the full
    ``slice_ticks`` whatever its owner owes."""

    CLAUSE = "CPU-4"
    WITNESS = (*RUN0, ("slice_alloc", (0, 2)), ("set_interrupt_context", (0, 1, 0x2001)),
               ("timer_tick", ()), ("timer_tick", ()), ("timer_tick", ()),
               ("timer_tick", ()), ("yield_to", (-1,)))

    def op_timer_tick(self, k: KernelState) -> Result:
        saved = icpu.next_slice
        icpu.next_slice = _next_slice_no_charge
        try:
            return icpu.timer_tick(k)
        finally:
            icpu.next_slice = saved

    def op_yield_to(self, k: KernelState, target: int) -> Result:
        saved = icpu.next_slice
        icpu.next_slice = _next_slice_no_charge
        try:
            return icpu.yield_to(k, target)
        finally:
            icpu.next_slice = saved


def _tick_limit(k: KernelState, kill_at: int, charge_owner: bool) -> Result:
    e = k.cur_env
    running = k.live(e)
    k.now += 1
    if k.slice_left > 0:
        k.slice_left -= 1
        if k.slice_left > 0:
            return Result(Status.OK, int(Outcome.TICK))
        epilogue = k.entry_of(e, Vector.SLICE_END)
        if running and epilogue != NO_ENTRY:
            k.pc = epilogue
            return Result(Status.OK, int(Outcome.SLICE_END))
        icpu.next_slice(k)
        return Result(Status.OK, int(Outcome.NEXT_SLICE))
    if running:
        payer = e
        if charge_owner:
            o = k.slice_owner[k.cur_slice]
            payer = o if k.live(o) else e
        owed = k.excess[payer] + 1
        if owed > k.cfg.excess_limit + kill_at:
            destroy_env(k, payer)
            icpu.next_slice(k)
            return Result(Status.OK, int(Outcome.KILLED))
        k.excess[payer] = owed
        return Result(Status.OK, int(Outcome.EXCESS))
    icpu.next_slice(k)
    return Result(Status.OK, int(Outcome.NEXT_SLICE))


_OVERRUN = (*RUN0, ("set_interrupt_context", (0, 1, 0x2001)), ("timer_tick", ()),
            ("timer_tick", ()), ("timer_tick", ()))
"""Env 0 ran its slice to the end and sits in its end-of-slice handler."""


class KillOneTickEarly(Broken):
    """CPU-4: the env is destroyed when its excess reaches ``excess_limit`` rather than
    when it would exceed it (``>=`` for ``>``)."""

    CLAUSE = "CPU-4"
    WITNESS = (*_OVERRUN, ("timer_tick", ()), ("timer_tick", ()))

    def op_timer_tick(self, k: KernelState) -> Result:
        return _tick_limit(k, -1, charge_owner=False)


class ExcessChargedToSliceOwner(Broken):
    """CPU-4/THM-7: a tick past the end of the slice is charged to the slice's owner, not
    to the environment that is running (after a yield or acall they differ)."""

    CLAUSE = "CPU-4"
    WITNESS = (*RUN01, ("set_interrupt_context", (1, 1, 0x2101)), ("yield_to", (1,)),
               ("timer_tick", ()), ("timer_tick", ()), ("timer_tick", ()),
               ("timer_tick", ()))

    def op_timer_tick(self, k: KernelState) -> Result:
        return _tick_limit(k, 0, charge_owner=True)


class SliceFreeEndsRunningSlice(Broken):
    """CPU-2: slice_free of the slice in progress also ends it now (``slice_left = 0``);
    the model lets the current instance run out."""

    CLAUSE = "CPU-2"
    WITNESS = (*RUN0, ("slice_free", (0, 1)))

    def op_slice_free(self, k: KernelState, env: int, slice: int) -> Result:
        r = icpu.slice_free(k, env, slice)
        if r.status == Status.OK and slice == k.cur_slice and k.cur_env == env:
            k.slice_left = 0
        return r


# --------------------------------------------------------------------------- aborts


def _abort(k: KernelState, env: int, early: bool, unschedule: bool, record: bool,
           notify: bool) -> Result:
    if not in_range(env, k.cfg.n_envs):
        return fail(Status.INVALID_ARGUMENT)
    if not k.env_alive[env]:
        return fail(Status.NO_SUCH_ENV)
    if not k.rev_pending[env]:
        return fail(Status.NO_REQUEST)
    if k.now < k.rev_deadline[env] or (not early and k.now == k.rev_deadline[env]):
        return fail(Status.TOO_EARLY)
    k.rev_pending[env] = False
    kind, target = k.rev_kind[env], k.rev_target[env]
    if kind == Resource.PAGE:
        imem.free_page(k, target)
        if record:
            k.repo_page[env].add(target)
    elif kind == Resource.SLICE:
        o = k.slice_owner[target]
        if o != FREE:
            k.slices[o].discard(target)
        k.slice_owner[target] = FREE
        if record:
            k.repo_slice[env].add(target)
        if unschedule and k.cur_env == env and k.cur_slice == target:
            k.cur_env = FREE
            k.hw_cid = FREE
    else:
        inet.remove_filter(k, target)
        if record:
            k.repo_filter[env].add(target)
    if notify:
        raise_repossession(k, env)
    return OK


_SLICE_REVOKED = (*RUN0, ("revoke_request", (0, int(Resource.SLICE), 1, 2)),
                  ("timer_tick", ()), ("timer_tick", ()))
"""Env 0 runs in slice 1, which is being revoked; its deadline (2) has passed."""


class AbortLeavesOwnerRunning(Broken):
    """REV-3: aborting the slice in progress takes it away but leaves its owner on the
    CPU."""

    CLAUSE = "REV-3"
    WITNESS = (*_SLICE_REVOKED, ("abort", (0,)))

    def op_abort(self, k: KernelState, env: int) -> Result:
        return _abort(k, env, early=False, unschedule=False, record=True, notify=True)


class AbortAtDeadline(Broken):
    """REV-3: abort is accepted when the clock equals the deadline (``now < deadline`` is
    tested for TOO_EARLY instead of ``now <= deadline``)."""

    CLAUSE = "REV-3"
    WITNESS = (*RUN0, ("alloc", (0, 0)), ("revoke_request", (0, int(Resource.PAGE), 0, 2)),
               ("timer_tick", ()), ("abort", (0,)))

    def op_abort(self, k: KernelState, env: int) -> Result:
        return _abort(k, env, early=True, unschedule=True, record=True, notify=True)


class AbortSkipsRepoVector(Broken):
    """REV-3/REV-4: abort takes the page but does not record the loss in the repossession
    vector."""

    CLAUSE = "REV-4"
    WITNESS = (("env_create", (0, 0)), ("alloc", (0, 0)),
               ("revoke_request", (0, int(Resource.PAGE), 0, 1)), ("timer_tick", ()),
               ("timer_tick", ()), ("abort", (0,)))

    def op_abort(self, k: KernelState, env: int) -> Result:
        return _abort(k, env, early=False, unschedule=True, record=False, notify=True)


class AbortNoRepossessionException(Broken):
    """REV-4: abort records the loss but raises no repossession exception (none is left
    waiting for the env's next slice)."""

    CLAUSE = "REV-4"
    WITNESS = AbortSkipsRepoVector.WITNESS

    def op_abort(self, k: KernelState, env: int) -> Result:
        return _abort(k, env, early=False, unschedule=True, record=True, notify=False)


# --------------------------------------------------------------------------- PCT


def _transfer(k: KernelState, callee: int, vector: int, donate: bool, clear: bool,
              check_time: bool) -> Result:
    caller = k.cur_env
    q = k.cur_slice
    if not in_range(callee, k.cfg.n_envs):
        return fail(Status.INVALID_ARGUMENT)
    if not k.live(caller):
        return fail(Status.NOT_RUNNING)
    if not k.env_alive[callee]:
        return fail(Status.NO_SUCH_ENV)
    target = k.entry[callee][vector]
    if target == NO_ENTRY:
        return fail(Status.NO_ENTRY)
    owns = k.slice_owner[q] == caller
    if donate and owns and k.rev_pending[caller] and k.rev_kind[caller] == Resource.SLICE \
            and k.rev_target[caller] == q:
        return fail(Status.BUSY)
    if check_time and k.slice_left <= 0:
        return fail(Status.NO_TIME)
    k.cur_env = callee
    k.hw_cid = k.env_cid[callee]
    if clear:
        icpu.clear_processor(k)
    k.pc = target
    if donate and owns:
        k.slice_owner[q] = callee
        k.slices[caller].discard(q)
        k.slices[callee].add(q)
        k.repo_slice[callee].discard(q)
    return OK


class ScallNoDonation(Broken):
    """PCT-1: scall transfers control but does not donate the caller's slice to the
    callee."""

    CLAUSE = "PCT-1"
    WITNESS = (*RUN01, ("scall", (1,)))

    def op_scall(self, k: KernelState, callee: int) -> Result:
        return _transfer(k, callee, int(Vector.PCT_SYNC), False, False, True)


class AcallDonates(Broken):
    """PCT-2: acall donates the current slice like scall, so its future instances (and
    their time) are charged to the callee instead of the caller."""

    CLAUSE = "PCT-2"
    WITNESS = (*RUN01, ("acall", (1,)))

    def op_acall(self, k: KernelState, callee: int) -> Result:
        return _transfer(k, callee, int(Vector.PCT_ASYNC), True, False, True)


class PctClearsRegisters(Broken):
    """PCT-3/THM-3: a protected control transfer clears the registers (as a context switch
    does), so no argument is passed in them."""

    CLAUSE = "PCT-3"
    WITNESS = (*RUN01, ("set_reg", (0, 7)), ("scall", (1,)))

    def op_scall(self, k: KernelState, callee: int) -> Result:
        return _transfer(k, callee, int(Vector.PCT_SYNC), True, True, True)

    def op_acall(self, k: KernelState, callee: int) -> Result:
        return _transfer(k, callee, int(Vector.PCT_ASYNC), False, True, True)


class AcallIgnoresNoTime(Broken):
    """PCT-2/THM-7: acall hands the CPU on after the caller's slice has run out instead of
    refusing with NO_TIME."""

    CLAUSE = "PCT-2"
    WITNESS = (*RUN01, ("set_interrupt_context", (0, 1, 0x2001)), ("timer_tick", ()),
               ("timer_tick", ()), ("timer_tick", ()), ("acall", (1,)))

    def op_acall(self, k: KernelState, callee: int) -> Result:
        return _transfer(k, callee, int(Vector.PCT_ASYNC), False, False, False)


# --------------------------------------------------------------------------- exceptions


def _deliver_with(k: KernelState, exc: int, badvpage: int, set_bad: bool,
                  kill: bool) -> int:
    e = k.cur_env
    handler = k.entry_of(e, exc)
    if handler != NO_ENTRY:
        k.epc, k.cause, k.pc = k.pc, exc, handler
        if set_bad:
            k.badvpage = badvpage
        return int(Outcome.DELIVERED)
    if kill:
        destroy_env(k, e)
        return int(Outcome.KILLED)
    return int(Outcome.DELIVERED)


def _access_custom(k: KernelState, vpage: int, offset: int, reg: int, write: bool,
                   prot_kind: int, set_bad: bool, kill: bool) -> Result:
    c = k.cfg
    if not in_range(vpage, c.addr_limit) or not in_range(offset, c.page_words) \
            or not in_range(reg, c.n_regs):
        return fail(Status.INVALID_ARGUMENT)
    if not k.live(k.cur_env):
        return fail(Status.NOT_RUNNING)
    source, _, writable, page = imem.translate(k, vpage)
    if source == Outcome.NONE:
        return Result(Status.OK, _deliver_with(k, int(ExcKind.TLB_MISS), vpage, set_bad,
                                               kill))
    if source != Outcome.ACCESS:
        cid = k.hw_cid
        k.tlb.put(tlb_slot(k, cid, vpage), cid, vpage, page, writable)
    if write and not writable:
        return Result(Status.OK, _deliver_with(k, prot_kind, vpage, set_bad, kill))
    if write:
        k.word[page][offset] = k.regs[reg]
    else:
        k.regs[reg] = k.word[page][offset]
    return Result(Status.OK, source)


class ProtectionAsTlbMiss(Broken):
    """EXC-2/MEM-5: a store through a read-only binding is delivered as a TLB_MISS
    exception instead of PROTECTION."""

    CLAUSE = "MEM-5"
    WITNESS = (*RUN0, ("set_exception_context", (0, int(ExcKind.TLB_MISS), 0x1000)),
               ("set_exception_context", (0, int(ExcKind.PROTECTION), 0x1004)),
               ("alloc", (0, 0)), ("tlbwr", (0, 0, CAP0, False)), ("store", (0, 0, 0)))

    def op_store(self, k: KernelState, vpage: int, offset: int, reg: int) -> Result:
        return _access_custom(k, vpage, offset, reg, True, int(ExcKind.TLB_MISS), True,
                              True)


class BadvpageNotSet(Broken):
    """EXC-2: a TLB miss or protection fault is delivered without setting ``badvpage``."""

    CLAUSE = "EXC-2"
    WITNESS = (*RUN0, ("set_exception_context", (0, int(ExcKind.TLB_MISS), 0x1000)),
               ("load", (9, 0, 0)))

    def op_load(self, k: KernelState, vpage: int, offset: int, reg: int) -> Result:
        return _access_custom(k, vpage, offset, reg, False, int(ExcKind.PROTECTION), False,
                              True)

    def op_store(self, k: KernelState, vpage: int, offset: int, reg: int) -> Result:
        return _access_custom(k, vpage, offset, reg, True, int(ExcKind.PROTECTION), False,
                              True)


class NoHandlerNotKilled(Broken):
    """EXC-2: an exception with no registered handler is reported DELIVERED and ignored
    instead of destroying the environment (KILLED)."""

    CLAUSE = "EXC-2"
    WITNESS = (*RUN0, ("raise_exception", (int(ExcKind.OVERFLOW),)))

    def op_raise_exception(self, k: KernelState, exc: int) -> Result:
        from exo.impl.exceptions import RAISABLE
        if exc not in RAISABLE:
            return fail(Status.INVALID_ARGUMENT)
        if not k.live(k.cur_env):
            return fail(Status.NOT_RUNNING)
        return Result(Status.OK, _deliver_with(k, exc, k.badvpage, True, False))


class RaiseAcceptsTlbMiss(Broken):
    """EXC-1: raise_exception lets running code raise TLB_MISS itself (only UNALIGNED,
    OVERFLOW, COPROC and PROTECTION are raisable)."""

    CLAUSE = "EXC-1"
    WITNESS = (*RUN0, ("set_exception_context", (0, int(ExcKind.TLB_MISS), 0x1000)),
               ("raise_exception", (int(ExcKind.TLB_MISS),)))

    def op_raise_exception(self, k: KernelState, exc: int) -> Result:
        from exo.impl.exceptions import raise_exception
        if exc == ExcKind.TLB_MISS and k.live(k.cur_env):
            return Result(Status.OK, deliver(k, exc, k.badvpage))
        return raise_exception(k, exc)


# --------------------------------------------------------------------------- filters


class FilterHighestSlot(Broken):
    """NET-1: filter_install takes the highest free slot instead of the lowest."""

    CLAUSE = "NET-1"
    WITNESS = (("env_create", (0, 0)), ("filter_install", (0, ACCEPT_45)))

    def op_filter_install(self, k: KernelState, env: int, program: Any) -> Result:
        c = k.cfg
        if not in_range(env, c.n_envs):
            return fail(Status.INVALID_ARGUMENT)
        if not k.env_alive[env]:
            return fail(Status.NO_SUCH_ENV)
        if not inet.runnable(program):
            return fail(Status.BAD_PROGRAM)
        slot = next((j for j in reversed(range(c.n_filters)) if not k.filter_valid[j]), -1)
        if slot < 0:
            return fail(Status.NO_SPACE)
        _, found = inet.first_clash(k, env, program)
        if isinstance(found, Undecided):
            return fail(Status.UNDECIDED)
        if found is not None:
            return fail(Status.OVERLAP, found[1].hex())
        k.filter_valid[slot] = True
        k.filter_owner[slot] = env
        k.filter_code[slot] = program
        k.filters[env].add(slot)
        k.repo_filter[env].discard(slot)
        k.demux.add(slot, env, program)
        return Result(Status.OK, slot)


class FilterRemoveStaleDemux(Broken):
    """NET-2: filter_remove frees the slot in the filter table but not in the demux, so
    packets still reach the removed filter's owner."""

    CLAUSE = "NET-2"
    WITNESS = (*_RING, ("filter_remove", (0, 0)), ("packet_arrive", (P1,)))

    def op_filter_remove(self, k: KernelState, env: int, filter: int) -> Result:
        c = k.cfg
        if not in_range(env, c.n_envs) or not in_range(filter, c.n_filters):
            return fail(Status.INVALID_ARGUMENT)
        if not k.env_alive[env]:
            return fail(Status.NO_SUCH_ENV)
        if not (k.filter_valid[filter] and k.filter_owner[filter] == env):
            return fail(Status.NOT_OWNER)
        k.filter_valid[filter] = False
        k.filters[env].discard(filter)
        if k.rev_kind[env] == Resource.FILTER:
            k.rev_pending[env] = False
        return OK


class PacketBoundsOffByOne(Broken):
    """FLT-4/NET-3: the packet bounds check lets a filter read one byte past the end of
    the packet (read as 0) instead of rejecting the packet."""

    CLAUSE = "NET-3"
    WITNESS = (("env_create", (0, 0)), ("filter_install", (0, ACCEPT_B2_ZERO)),
               ("packet_arrive", (b"\x00\x00",)))

    def op_packet_arrive(self, k: KernelState, packet: bytes) -> Result:
        e = k.demux.classify(packet + b"\x00")
        if e < 0 or k.demux.classify(packet) == e:
            return inet.packet_arrive(k, packet)
        n = k.cfg.ring_size
        if k.rx_count[e] >= n:
            k.rx_drops[e] += 1
            return Result(Status.OK, int(Outcome.RX_RING_FULL))
        k.rx_pkt[e][(k.rx_head[e] + k.rx_count[e]) % n] = packet
        k.rx_count[e] += 1
        return Result(Status.OK, int(Outcome.RX_DELIVERED))


class FilterInstallSkipsOverlap(Broken):
    """NET-1/THM-5: filter_install skips the overlap check when the other filter belongs to
    an environment with a lower id (the loop starts at the installer's own id)."""

    CLAUSE = "NET-1"
    WITNESS = (("env_create", (0, 0)), ("env_create", (1, 1)),
               ("filter_install", (0, ACCEPT_45)), ("filter_install", (1, ACCEPT_45)))

    def op_filter_install(self, k: KernelState, env: int, program: Any) -> Result:
        hidden = [j for j in range(k.cfg.n_filters)
                  if k.filter_valid[j] and k.filter_owner[j] < env]
        saved = {j: k.filter_owner[j] for j in hidden}
        for j in hidden:
            k.filter_owner[j] = env  # the clash search treats them as the caller's own
        try:
            return inet.filter_install(k, env, program)
        finally:
            for j, o in saved.items():
                k.filter_owner[j] = o


# --------------------------------------------------------------------------- stateless


class SetRegChecksRunningFirst(Broken):
    """GEN-1/CPU-6: set_reg tests for a running environment before the register's range,
    so an out-of-range register on an idle CPU gives NOT_RUNNING, not INVALID_ARGUMENT."""

    CLAUSE = "CPU-6"
    WITNESS = (("set_reg", (4, 1)),)

    def op_set_reg(self, k: KernelState, reg: int, value: int) -> Result:
        if not k.live(k.cur_env):
            return fail(Status.NOT_RUNNING)
        return icpu.set_reg(k, reg, value)


class EntryAtAddrLimit(Broken):
    """GEN-3/ENV-3: an entry address equal to ``addr_limit`` is accepted (``<=`` for
    ``<``)."""

    CLAUSE = "GEN-3"
    WITNESS = (("env_create", (0, 0)), ("set_exception_context", (0, 0, 2**32)))

    def op_set_exception_context(self, k: KernelState, env: int, exc: int, entry: int
                                 ) -> Result:
        from exo.impl.env import set_exception_context
        if entry == k.cfg.addr_limit and in_range(env, k.cfg.n_envs) \
                and in_range(exc, len(ExcKind)) and k.env_alive[env]:
            k.entry[env][int(Vector.TLB_MISS) + exc] = entry
            return OK
        return set_exception_context(k, env, exc, entry)


class TlbwrVpageAtLimit(Broken):
    """GEN-1/TLB-1: tlbwr accepts ``vpage == addr_limit`` (an off-by-one range check)."""

    CLAUSE = "TLB-1"
    WITNESS = (("env_create", (0, 0)), ("alloc", (0, 0)),
               ("tlbwr", (0, 2**32, CAP0, True)))

    def op_tlbwr(self, k: KernelState, env: int, vpage: int, cap: Cap, writable: bool
                 ) -> Result:
        from exo.impl.tlb import tlbwr
        c = k.cfg
        if vpage != c.addr_limit:
            return tlbwr(k, env, vpage, cap, writable)
        if not in_range(env, c.n_envs) or not in_range(cap.page, c.n_pages):
            return fail(Status.INVALID_ARGUMENT)
        if not k.env_alive[env]:
            return fail(Status.NO_SUCH_ENV)
        if not cap_valid(k, env, cap):
            return fail(Status.BAD_CAPABILITY)
        if cap.rights < needed(writable):
            return fail(Status.NO_PERMISSION)
        cid = k.env_cid[env]
        k.tlb.put(tlb_slot(k, cid, vpage), cid, vpage, cap.page, writable)
        k.stlb.put(stlb_slot(k, cid, vpage), cid, vpage, cap.page, writable)
        return OK


class RevokeDeadlineNow(Broken):
    """REV-1: revoke_request accepts a deadline equal to the current time (it must lie in
    the future)."""

    CLAUSE = "REV-1"
    WITNESS = (("env_create", (0, 0)), ("alloc", (0, 0)),
               ("revoke_request", (0, int(Resource.PAGE), 0, 0)))

    def op_revoke_request(self, k: KernelState, env: int, resource: int, target: int,
                          deadline: int) -> Result:
        from exo.impl.revocation import revoke_request
        if deadline != k.now:
            return revoke_request(k, env, resource, target, deadline)
        r = revoke_request(k, env, resource, target, deadline + 1)
        if r.status == Status.OK:
            k.rev_deadline[env] = deadline
        return r


class YieldToOutOfRange(Broken):
    """GEN-1/CPU-3: yield_to with ``target == n_envs`` gives NO_SUCH_ENV instead of
    INVALID_ARGUMENT (the range test is ``<=``; the liveness test catches it)."""

    CLAUSE = "CPU-3"
    WITNESS = (*RUN0, ("yield_to", (4,)))

    def op_yield_to(self, k: KernelState, target: int) -> Result:
        if target == k.cfg.n_envs and k.live(k.cur_env):
            return fail(Status.NO_SUCH_ENV)
        return icpu.yield_to(k, target)


class GmSetIgnoresRevocation(Broken):
    """REV-5/TLB-4: gm_set maps a page that a pending revocation names (BUSY expected)."""

    CLAUSE = "REV-5"
    WITNESS = (("env_create", (0, 0)), ("alloc", (0, 0)),
               ("revoke_request", (0, int(Resource.PAGE), 0, 5)),
               ("gm_set", (0, 0, 3, CAP0, True)))

    def op_gm_set(self, k: KernelState, env: int, slot: int, vpage: int, cap: Cap,
                  writable: bool) -> Result:
        from exo.impl.tlb import gm_set
        pending = k.rev_pending[env] if in_range(env, k.cfg.n_envs) else False
        if in_range(env, k.cfg.n_envs):
            k.rev_pending[env] = False
        try:
            return gm_set(k, env, slot, vpage, cap, writable)
        finally:
            if in_range(env, k.cfg.n_envs):
                k.rev_pending[env] = pending


class RevokeGuaranteedPage(Broken):
    """REV-5: revoke_request accepts a page bound by one of the env's guaranteed mappings
    (GUARANTEED expected)."""

    CLAUSE = "REV-5"
    WITNESS = (("env_create", (0, 0)), ("alloc", (0, 0)), ("gm_set", (0, 0, 3, CAP0, True)),
               ("revoke_request", (0, int(Resource.PAGE), 0, 5)))

    def op_revoke_request(self, k: KernelState, env: int, resource: int, target: int,
                          deadline: int) -> Result:
        from exo.impl.revocation import revoke_request
        if resource == Resource.PAGE and in_range(env, k.cfg.n_envs) \
                and in_range(target, k.cfg.n_pages) and guaranteed_page(k, env, target):
            saved = k.gm_by_page.pop(target)
            try:
                return revoke_request(k, env, resource, target, deadline)
            finally:
                k.gm_by_page[target] = saved
        return revoke_request(k, env, resource, target, deadline)


# --------------------------------------------------------------------------- registry

CATALOGUE: dict[str, type[Broken]] = {
    cls.__name__: cls
    for cls in (
        TlbReplaceKeepsStaleIndex, StlbDropKeepsPageIndex, GrantSkipsHolders,
        GmSetSkipsIndex, AllocSkipsOwned,
        RefillNotWrittenBack, StlbWrongSlot, TlbvadeleteKeepsStlb, CidSwitchKeepsStlb,
        DeallocKeepsStlb,
        DeallocLeavesGranteeStlb, DeallocLeavesGranteeTlb, GrantTooLargeRights,
        GrantDowngrades,
        RingFullNotCounted, RingOneShort, RingOrderReversed, PacketTakeEmptyOk,
        ExcessNotCharged, KillOneTickEarly, ExcessChargedToSliceOwner,
        SliceFreeEndsRunningSlice,
        AbortLeavesOwnerRunning, AbortAtDeadline, AbortSkipsRepoVector,
        AbortNoRepossessionException,
        ScallNoDonation, AcallDonates, PctClearsRegisters, AcallIgnoresNoTime,
        ProtectionAsTlbMiss, BadvpageNotSet, NoHandlerNotKilled, RaiseAcceptsTlbMiss,
        FilterHighestSlot, FilterRemoveStaleDemux, PacketBoundsOffByOne,
        FilterInstallSkipsOverlap,
        SetRegChecksRunningFirst, EntryAtAddrLimit, TlbwrVpageAtLimit, RevokeDeadlineNow,
        YieldToOutOfRange, GmSetIgnoresRevocation, RevokeGuaranteedPage,
    )
}
"""Every broken implementation by name."""

KNOWN_ESCAPES = ("DeallocLeavesGranteeStlb", "RefillNotWrittenBack", "AbortLeavesOwnerRunning")
"""The three bugs known to escape the kit before issue 11."""


def clause(cls: type) -> str:
    """The spec clause an entry violates (its ``CLAUSE``)."""
    return str(getattr(cls, "CLAUSE", ""))


def summary(cls: type) -> str:
    """The first line of an entry's docstring."""
    return (cls.__doc__ or "").strip().splitlines()[0]


def replay(factory: Callable[[Config], Any], cfg: Config,
           steps: tuple[Step, ...] | list[Step]) -> str | None:
    """Run ``steps`` on the model and on ``factory(cfg)`` in lockstep; the first
    divergence (result or observed state) as text, or None if there is none."""
    impl = factory(cfg)
    state = initial(cfg)
    diffs = differences(state, abstract(cfg, impl.observe()))
    if diffs:
        return f"at boot: {diffs}"
    for n, (name, args) in enumerate(steps):
        before = state
        state, want = REGISTRY[name](state, *args)
        got = impl.apply(name, *args)
        if not same_outcome(before, name, args, want, got):
            return f"step {n} {name}{args}: model {want}, implementation {got}"
        diffs = differences(state, abstract(cfg, impl.observe()))
        if diffs:
            return f"step {n} {name}{args}: state differs: {diffs}"
    return None


from tests.catalogue_optimizer import OPTIMIZER  # noqa: E402  (issue 22: optimizer bugs)

CATALOGUE.update(OPTIMIZER)
