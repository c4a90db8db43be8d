"""Broken implementations of the kind an *optimizer* makes in ``exo.impl`` (issue 22, item 7).

``exo.impl`` keeps what the model recomputes: reverse maps (page -> slots, cid -> slots),
per-environment indexes (owned pages, slices, filters), the demultiplexer's compiled
table, the hardware context-id register, an O(1) round-robin cursor. Each entry below is
``exo.impl.Kernel`` with one mistake a person tuning that code makes: an index or cache
not updated on one path, a fast path with a boundary error, the wrong slot written on a
refill, a stale entry left after an abort or a destruction, a record cleared for the wrong
environment, a charge or a drop applied in the wrong case. Every entry was written from
``spec/*.md`` and ``impl/*.py`` alone, and has the format of ``tests/catalogue.py``: a
subclass of ``tests.catalogue.Broken`` whose docstring's first line says the mistake and
names the clause it violates (``CLAUSE``), a ``WITNESS`` program on which the lockstep
``replay`` diverges at its last step (and the real ``Kernel`` does not), and a
``CONFIG``. Every entry conforms at boot.

``OPTIMIZER`` maps a name to the class (``tests.catalogue`` merges it into its
``CATALOGUE``); ``OPTIMIZER_ESCAPES`` names the entries the kit's default budget
(``run_check(cls, None, steps=50, examples=200, seed=S)``) did not catch for some seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from exo.impl.cpu import clear_processor, runnable
from exo.impl.demux import Demux
from exo.impl.env import destroy_env, release_page
from exo.impl.exceptions import deliver
from exo.impl.filtercheck import Undecided
from exo.impl.memory import free_page
from exo.impl.net import first_clash, remove_filter
from exo.impl.net import runnable as verified
from exo.impl.ops import OK, cap_valid, fail, in_range, needed, rights_ok
from exo.impl.revocation import raise_repossession
from exo.impl.state import KernelState
from exo.impl.tlb import break_cid, break_page, guaranteed_slot, stlb_slot, tlb_slot
from exo.interface import (
    FREE,
    NO_ENTRY,
    NULL_CAP,
    NUM_VECTORS,
    Cap,
    Config,
    ExcKind,
    Outcome,
    Resource,
    Result,
    Rights,
    Status,
    Vector,
)

OPTIMIZER: dict[str, type[Broken]] = {}
"""Placeholder, rebound at the end of the module. ``tests.catalogue`` imports this module
at its own end; when this module is imported first, ``tests.catalogue`` finds it partly
initialised and reads this (still empty) dict, so the end of this module registers the
entries in ``CATALOGUE`` itself as well."""

from tests.catalogue import CATALOGUE, RUN0, RUN01, Broken  # noqa: E402

Program = tuple[tuple[int, int, int, int], ...]

# The same values as tests.catalogue's RW, CAP0, CAP1, ACCEPT_45 and ACCEPT_60, spelled out
# with their types: through the import cycle (tests.catalogue imports this module at its
# end) mypy cannot always infer those un-annotated names, depending on the order in which
# it checks the two modules.
RW: int = int(Rights.READWRITE)
CAP0: Cap = Cap(0, 0, RW)  # what alloc returns for page 0 at boot generation
CAP1: Cap = Cap(1, 0, RW)
ACCEPT_45: Program = ((0x30, 0, 0, 0), (0x15, 0, 1, 0x45), (0x06, 0, 0, 0xFFFF),
                      (0x06, 0, 0, 0))  # accepts iff the byte at offset 0 is 0x45
ACCEPT_60: Program = ((0x30, 0, 0, 0), (0x15, 0, 1, 0x60), (0x06, 0, 0, 0xFFFF),
                      (0x06, 0, 0, 0))  # ... iff it is 0x60 (disjoint from ACCEPT_45)

PAGE = int(Resource.PAGE)
SLICE = int(Resource.SLICE)
FILTER = int(Resource.FILTER)
START = 0  # set_interrupt_context: the start-of-slice entry (ENV-4)
END = 1  # ... and the end-of-slice entry
P45 = b"\x45"  # a packet ACCEPT_45 accepts (and ACCEPT_60 does not)


# --------------------------------------------------------------------------- scheduling


@dataclass(frozen=True)
class _Sched:
    """Which optimizer mistake the slice machinery (CPU-3..CPU-5) makes; all False is the
    shipped behaviour."""

    wrap_early: bool = False  # round robin wraps to 0 one slice too early
    charge_idle: bool = False  # debt charged at a slice start whose owner cannot run
    start_on_empty: bool = False  # a slice the debt consumed entirely is started anyway
    keep_undelivered: bool = False  # a waiting repossession exception survives a start
    yield_skips_repo: bool = False  # a yield's start ignores a waiting repossession
    yield_when_out: bool = False  # a named yield after the slice ran out starts the target
    epilogue_of_owner: bool = False  # end-of-slice entry looked up for the slice's owner


def _start(k: KernelState, e: int, s: _Sched, by_yield: bool = False) -> None:
    """CPU-5/CPU-7/REV-4 ``start``, with the mistakes of ``s``."""
    vectors = k.entry[e]
    handler = vectors[Vector.REPOSSESSION]
    k.cur_env = e
    k.hw_cid = k.env_cid[e]
    clear_processor(k)
    if by_yield and s.yield_skips_repo:
        k.pc = vectors[Vector.SLICE_START]
        return
    if k.repo_exc[e] and handler != NO_ENTRY:
        k.pc = handler
        k.epc = vectors[Vector.SLICE_START]
        k.cause = int(ExcKind.REPOSSESSION)
        k.repo_exc[e] = False
    else:
        k.pc = vectors[Vector.SLICE_START]
        if not s.keep_undelivered:
            k.repo_exc[e] = False


def _next_slice(k: KernelState, s: _Sched) -> None:
    """CPU-5 ``next_slice``, with the mistakes of ``s``."""
    c = k.cfg
    q = k.cur_slice + 1
    if q >= (c.n_slices - 1 if s.wrap_early else c.n_slices):
        q = 0
    o = k.slice_owner[q]
    ok = runnable(k, o)
    chargeable = o != FREE if s.charge_idle else ok
    charge = min(k.excess[o], c.slice_ticks) if chargeable else 0
    left = c.slice_ticks - charge
    k.cur_slice = q
    k.slice_left = left
    if chargeable:
        k.excess[o] -= charge
    if ok and (left >= 0 if s.start_on_empty else left > 0):
        _start(k, o, s)
    else:
        k.cur_env = FREE
        k.hw_cid = FREE


def _timer_tick(k: KernelState, s: _Sched) -> Result:
    """CPU-4 ``timer_tick``, with the mistakes of ``s``."""
    e = k.cur_env
    running = k.live(e)
    k.now += 1
    if k.slice_left > 0:
        k.slice_left -= 1
        if k.slice_left > 0:
            return Result(Status.OK, int(Outcome.TICK))
        upcalled = k.slice_owner[k.cur_slice] if s.epilogue_of_owner else e
        epilogue = k.entry_of(upcalled, Vector.SLICE_END)
        if running and epilogue != NO_ENTRY:
            k.pc = epilogue
            return Result(Status.OK, int(Outcome.SLICE_END))
        _next_slice(k, s)
        return Result(Status.OK, int(Outcome.NEXT_SLICE))
    if running:
        owed = k.excess[e] + 1
        if owed > k.cfg.excess_limit:
            destroy_env(k, e)
            _next_slice(k, s)
            return Result(Status.OK, int(Outcome.KILLED))
        k.excess[e] = owed
        return Result(Status.OK, int(Outcome.EXCESS))
    _next_slice(k, s)
    return Result(Status.OK, int(Outcome.NEXT_SLICE))


def _yield_to(k: KernelState, target: int, s: _Sched) -> Result:
    """CPU-3 ``yield_to``, with the mistakes of ``s``."""
    named = target != FREE
    if named and not in_range(target, k.cfg.n_envs):
        return fail(Status.INVALID_ARGUMENT)
    if not k.live(k.cur_env):
        return fail(Status.NOT_RUNNING)
    if named and not k.env_alive[target]:
        return fail(Status.NO_SUCH_ENV)
    if named and not runnable(k, target):
        return fail(Status.NO_ENTRY)
    if named and (k.slice_left >= 0 if s.yield_when_out else k.slice_left > 0):
        _start(k, target, s, by_yield=True)
        return Result(Status.OK, int(Outcome.NONE))
    _next_slice(k, s)
    return Result(Status.OK, int(Outcome.NEXT_SLICE))


class _SchedBroken(Broken):
    """``timer_tick`` and ``yield_to`` through ``_next_slice``/``_start`` with ``SCHED``."""

    SCHED: ClassVar[_Sched] = _Sched()

    def op_timer_tick(self, k: KernelState) -> Result:
        return _timer_tick(k, self.SCHED)

    def op_yield_to(self, k: KernelState, target: int) -> Result:
        return _yield_to(k, target, self.SCHED)


class NextSliceWrapsEarly(_SchedBroken):
    """The O(1) round-robin cursor wraps at ``n_slices - 1``: the last slice of the vector
    is never served (CPU-5: the next slice is ``cur_slice + 1``, wrapping to 0 only after
    the last)."""

    CLAUSE = "CPU-5"
    SCHED = _Sched(wrap_early=True)
    WITNESS = (("timer_tick", ()),) * 7  # idle slices 1 and 2, then 3


class DebtChargedWhileIdle(_SchedBroken):
    """The excess charge is hoisted out of the runnable test: a slice whose owner cannot
    run still repays its debt and is shortened (CPU-5: excess owed by a non-runnable owner
    is kept for later and the CPU idles through a full slice)."""

    CLAUSE = "CPU-5"
    SCHED = _Sched(charge_idle=True)
    WITNESS = (
        ("env_create", (0, 0)),
        ("set_interrupt_context", (0, START, 0x2000)),
        ("set_interrupt_context", (0, END, 0x2001)),
        ("slice_alloc", (0, 1)),
        ("slice_alloc", (0, 2)),
        ("timer_tick", ()),  # slice 1: env 0 starts
        ("timer_tick", ()),
        ("timer_tick", ()),
        ("timer_tick", ()),  # end-of-slice upcall; env 0 keeps the CPU
        ("timer_tick", ()),  # excess: env 0 owes 1
        ("set_interrupt_context", (0, START, NO_ENTRY)),  # env 0 no longer runnable
        ("yield_to", (FREE,)),  # slice 2 (env 0's): idles, the debt stays
    )


class DebtConsumedSliceStarts(_SchedBroken):
    """A slice whose whole length the debt consumed is started with no ticks left
    (``left >= 0`` for ``left > 0``) instead of skipped (CPU-5: if the debt took the whole
    slice, ``slice_left = 0`` and the CPU idles)."""

    CLAUSE = "CPU-5"
    # slices of 2 ticks: a debt of excess_limit = 2 fills one
    CONFIG: ClassVar[dict[str, int]] = {"slice_ticks": 2}
    SCHED = _Sched(start_on_empty=True)
    WITNESS = (
        ("env_create", (0, 0)),
        ("set_interrupt_context", (0, START, 0x2000)),
        ("set_interrupt_context", (0, END, 0x2001)),
        ("slice_alloc", (0, 1)),
        ("slice_alloc", (0, 2)),
        ("timer_tick", ()),  # slice 1: env 0 starts with 2 ticks
        ("timer_tick", ()),
        ("timer_tick", ()),  # end-of-slice upcall
        ("timer_tick", ()),  # excess 1
        ("timer_tick", ()),  # excess 2
        ("yield_to", (FREE,)),  # slice 2 repays 2 of 2 ticks: skipped
    )


class RepossessionKeptWithoutHandler(_SchedBroken):
    """A waiting repossession exception is cleared only when it is delivered: an
    environment that starts without a repossession handler keeps it waiting (CPU-5,
    REV-4: either way the pending exception is cleared; without a handler it is
    dropped)."""

    CLAUSE = "CPU-5"
    SCHED = _Sched(keep_undelivered=True)
    WITNESS = (
        *RUN0,
        ("alloc", (0, 0)),
        ("revoke_request", (0, PAGE, 0, 2)),
        ("timer_tick", ()),
        ("timer_tick", ()),
        ("abort", (0,)),  # env 0 runs but has no handler: the exception waits
        ("yield_to", (0,)),  # env 0 restarts: the exception is dropped
    )


class YieldSkipsRepossession(_SchedBroken):
    """The yield fast path starts its target at the start-of-slice entry without looking
    at a waiting repossession exception (CPU-3/REV-4: a ``yield_to`` naming an environment
    starts it as CPU-5 does, delivering the waiting exception to its handler)."""

    CLAUSE = "REV-4"
    SCHED = _Sched(yield_skips_repo=True)
    WITNESS = (
        *RUN01,
        ("alloc", (1, 0)),
        ("revoke_request", (1, PAGE, 0, 2)),
        ("timer_tick", ()),
        ("timer_tick", ()),
        ("abort", (1,)),  # env 1 is not running: the exception waits
        ("set_exception_context", (1, int(ExcKind.REPOSSESSION), 0x4100)),
        ("yield_to", (1,)),
    )


class YieldAfterSliceRanOut(_SchedBroken):
    """The named-yield fast path tests ``slice_left >= 0``: a yield after the slice ran
    out hands the target an empty slice instead of beginning the next one (CPU-3: a yield
    after the slice has run out ends it and starts the next slice)."""

    CLAUSE = "CPU-3"
    SCHED = _Sched(yield_when_out=True)
    WITNESS = (
        *RUN01,
        ("set_interrupt_context", (0, END, 0x2001)),
        ("timer_tick", ()),
        ("timer_tick", ()),
        ("timer_tick", ()),  # end-of-slice upcall: slice_left = 0, env 0 still runs
        ("yield_to", (1,)),
    )


class SliceEndUpcallsOwner(_SchedBroken):
    """The end-of-slice entry is looked up for the slice's owner, not for the environment
    running in it after a transfer (CPU-4: the upcall goes to the running environment's
    own end-of-slice entry)."""

    CLAUSE = "CPU-4"
    SCHED = _Sched(epilogue_of_owner=True)
    WITNESS = (
        *RUN01,
        ("set_interrupt_context", (1, END, 0x2101)),
        ("acall", (1,)),  # env 1 runs the rest of env 0's slice
        ("timer_tick", ()),
        ("timer_tick", ()),
        ("timer_tick", ()),  # env 1 has an end-of-slice entry, env 0 has none
    )


# --------------------------------------------------------------------------- memory access


@dataclass(frozen=True)
class _Mem:
    """Which optimizer mistake translation (TLB-8) and the access (MEM-4/MEM-5) make."""

    refill_at_lookup_slot: bool = False  # the refill reuses the slot the lookup found
    guaranteed_fills_stlb: bool = False  # a guaranteed refill also fills the STLB
    guaranteed_last_wins: bool = False  # a vpage -> slot index where the last slot wins
    tlb_ignores_cid: bool = False  # the TLB hit compares the vpage tag only
    store_before_check: bool = False  # the store is performed before the protection test


def _gm_lookup(k: KernelState, e: int, vpage: int, m: _Mem) -> int:
    """TLB-8: the guaranteed mapping of ``e`` for ``vpage``, or -1."""
    if m.guaranteed_last_wins and in_range(e, k.cfg.n_envs):
        index = {k.gm_vpage[e][g]: g for g in range(k.cfg.n_guaranteed) if k.gm_valid[e][g]}
        return index.get(vpage, -1)
    return guaranteed_slot(k, e, vpage)


def _access(k: KernelState, vpage: int, offset: int, reg: int, write: bool, m: _Mem
            ) -> Result:
    """MEM-4/MEM-5 with translation (TLB-8) inlined, with the mistakes of ``m``."""
    c = k.cfg
    if not in_range(vpage, c.addr_limit) or not in_range(offset, c.page_words) \
            or not in_range(reg, c.n_regs):
        return fail(Status.INVALID_ARGUMENT)
    if not k.live(k.cur_env):
        return fail(Status.NOT_RUNNING)
    e, cid = k.cur_env, k.hw_cid
    i = tlb_slot(k, cid, vpage)
    j = stlb_slot(k, cid, vpage)
    if m.tlb_ignores_cid:
        tlb_hit = k.tlb.valid[i] and k.tlb.vpage[i] == vpage
    else:
        tlb_hit = k.tlb.hit(i, cid, vpage)
    if tlb_hit:
        source, slot, writable, page = int(Outcome.ACCESS), i, k.tlb.write[i], k.tlb.page[i]
    elif k.stlb.hit(j, cid, vpage):
        source, slot = int(Outcome.REFILL_STLB), j
        writable, page = k.stlb.write[j], k.stlb.page[j]
    else:
        g = _gm_lookup(k, e, vpage, m)
        if g < 0:
            return Result(Status.OK, deliver(k, int(ExcKind.TLB_MISS), vpage))
        source, slot = int(Outcome.REFILL_GUARANTEED), g
        writable, page = k.gm_write[e][g], k.gm_page[e][g]
    if source != Outcome.ACCESS:
        at = slot % c.tlb_size if m.refill_at_lookup_slot else i
        k.tlb.put(at, cid, vpage, page, writable)
        if source == Outcome.REFILL_GUARANTEED and m.guaranteed_fills_stlb:
            k.stlb.put(j, cid, vpage, page, writable)
    if write and m.store_before_check:
        k.word[page][offset] = k.regs[reg]
    if write and not writable:
        return Result(Status.OK, deliver(k, int(ExcKind.PROTECTION), vpage))
    if write:
        k.word[page][offset] = k.regs[reg]
    else:
        k.regs[reg] = k.word[page][offset]
    return Result(Status.OK, source)


class _MemBroken(Broken):
    """``load`` and ``store`` through ``_access`` with ``MEM``."""

    MEM: ClassVar[_Mem] = _Mem()

    def op_load(self, k: KernelState, vpage: int, offset: int, reg: int) -> Result:
        return _access(k, vpage, offset, reg, False, self.MEM)

    def op_store(self, k: KernelState, vpage: int, offset: int, reg: int) -> Result:
        return _access(k, vpage, offset, reg, True, self.MEM)


class RefillAtLookupSlot(_MemBroken):
    """An STLB refill writes the TLB slot numbered like the STLB slot it was found in
    (the lookup's index, masked to the TLB size) instead of the binding's own TLB slot
    (TLB-8: the STLB entry is copied into the TLB, replacing that TLB slot; TLB-6)."""

    CLAUSE = "TLB-8"
    MEM = _Mem(refill_at_lookup_slot=True)
    WITNESS = (
        *RUN0,
        ("alloc", (0, 0)),
        ("tlbwr", (0, 0, CAP0, True)),  # TLB slot 0, STLB slot 1
        ("tlbwr", (0, 4, CAP0, True)),  # TLB slot 0 (evicts vpage 0), STLB slot 5
        ("load", (0, 0, 0)),  # refilled from STLB slot 1 into TLB slot 0
    )


class GuaranteedRefillFillsStlb(_MemBroken):
    """A refill from a guaranteed mapping fills the STLB as well as the TLB, like a
    two-level cache (TLB-8: the STLB is not filled from a guaranteed mapping)."""

    CLAUSE = "TLB-8"
    MEM = _Mem(guaranteed_fills_stlb=True)
    WITNESS = (
        *RUN0,
        ("alloc", (0, 0)),
        ("gm_set", (0, 0, 5, CAP0, True)),
        ("load", (5, 0, 0)),
    )


class GuaranteedLastSlotWins(_MemBroken):
    """Guaranteed mappings are found through a vpage -> slot index built in slot order,
    so when two slots map the same virtual page the highest one wins (TLB-8, TLB-4: the
    lowest-numbered valid slot is used)."""

    CLAUSE = "TLB-8"
    MEM = _Mem(guaranteed_last_wins=True)
    WITNESS = (
        *RUN0,
        ("alloc", (0, 0)),
        ("alloc", (0, 1)),
        ("gm_set", (0, 0, 5, CAP0, True)),
        ("gm_set", (0, 1, 5, CAP1, True)),
        ("load", (5, 0, 0)),
    )


class TlbHitIgnoresCid(_MemBroken):
    """The TLB hit test compares the virtual-page tag only, as if the TLB were flushed
    on every switch: another context's entry in the same slot is used (TLB-6: a hit means
    the slot is valid and both of its tags match)."""

    CLAUSE = "TLB-6"
    MEM = _Mem(tlb_ignores_cid=True)
    WITNESS = (
        ("env_create", (0, 0)),
        ("env_create", (1, 4)),  # cid 4: (4, vpage) has the TLB slot of (0, vpage)
        ("set_interrupt_context", (1, START, 0x2100)),
        ("alloc", (0, 0)),
        ("tlbwr", (0, 0, CAP0, True)),
        ("slice_alloc", (1, 1)),
        ("timer_tick", ()),  # env 1 runs
        ("load", (0, 0, 0)),  # env 1 has no binding of vpage 0: a miss, it is killed
    )


class StoreBeforeProtectionCheck(_MemBroken):
    """The store is issued before the writable bit is tested: a store through a read-only
    binding writes the page and then raises the protection fault (MEM-5: a read-only
    binding delivers PROTECTION and writes nothing)."""

    CLAUSE = "MEM-5"
    MEM = _Mem(store_before_check=True)
    WITNESS = (
        *RUN0,
        ("alloc", (0, 0)),
        ("set_reg", (0, 7)),
        ("tlbwr", (0, 0, CAP0, False)),
        ("set_exception_context", (0, int(ExcKind.PROTECTION), 0x5000)),
        ("store", (0, 0, 0)),
    )


# --------------------------------------------------------------------------- bindings


class TlbwrSkipsSameBinding(Broken):
    """TLBwr skips rewriting a binding already present with the same tags and page,
    ignoring that its writable bit may differ (TLB-1: the binding, with the given
    writable bit, replaces whatever the slots held)."""

    CLAUSE = "TLB-1"
    WITNESS = (
        ("env_create", (0, 0)),
        ("alloc", (0, 0)),
        ("tlbwr", (0, 0, CAP0, False)),
        ("tlbwr", (0, 0, CAP0, True)),
    )

    @staticmethod
    def op_tlbwr(k: KernelState, env: int, vpage: int, cap: Cap, writable: bool) -> Result:
        c = k.cfg
        if not in_range(env, c.n_envs) or not in_range(vpage, c.addr_limit) \
                or not in_range(cap.page, c.n_pages):
            return fail(Status.INVALID_ARGUMENT)
        if not k.env_alive[env]:
            return fail(Status.NO_SUCH_ENV)
        if not cap_valid(k, env, cap):
            return fail(Status.BAD_CAPABILITY)
        if cap.rights < needed(writable):
            return fail(Status.NO_PERMISSION)
        cid = k.env_cid[env]
        i, j = tlb_slot(k, cid, vpage), stlb_slot(k, cid, vpage)
        if k.tlb.hit(i, cid, vpage) and k.tlb.page[i] == cap.page \
                and k.stlb.hit(j, cid, vpage) and k.stlb.page[j] == cap.page:
            return OK  # "already installed"
        k.tlb.put(i, cid, vpage, cap.page, writable)
        k.stlb.put(j, cid, vpage, cap.page, writable)
        return OK


def _cid_switch(k: KernelState, env: int, cid: int, set_hw: bool, release_first: bool
                ) -> Result:
    """TLB-3 ``cid_switch``; ``set_hw``: refresh ``hw_cid``; ``release_first``: free the
    old id before taking the new one (the shipped order)."""
    c = k.cfg
    if not in_range(env, c.n_envs) or not in_range(cid, c.n_cids):
        return fail(Status.INVALID_ARGUMENT)
    if not k.env_alive[env]:
        return fail(Status.NO_SUCH_ENV)
    if k.cid_env[cid] != FREE and k.cid_env[cid] != env:
        return fail(Status.IN_USE)
    old = k.env_cid[env]
    if release_first:
        if in_range(old, c.n_cids):
            k.cid_env[old] = FREE
        k.cid_env[cid] = env
    else:
        k.cid_env[cid] = env
        if in_range(old, c.n_cids):
            k.cid_env[old] = FREE
    k.env_cid[env] = cid
    if set_hw and k.cur_env == env:
        k.hw_cid = cid
    if old != cid:
        break_cid(k, old)
    return OK


class CidSwitchStaleHwCid(Broken):
    """CIDswitch updates the environment's context id but not the hardware register that
    caches it while the environment runs (TLB-3: if ``env`` is running, ``hw_cid``
    becomes ``cid``)."""

    CLAUSE = "TLB-3"
    WITNESS = (*RUN0, ("cid_switch", (0, 1)))

    @staticmethod
    def op_cid_switch(k: KernelState, env: int, cid: int) -> Result:
        return _cid_switch(k, env, cid, set_hw=False, release_first=True)


class CidSwitchSameIdFreesIt(Broken):
    """CIDswitch takes the new id before releasing the old one (stores reordered), so
    switching to the id the environment already has leaves that id marked free (TLB-3:
    switching to the id it already has changes nothing)."""

    CLAUSE = "TLB-3"
    WITNESS = (("env_create", (0, 0)), ("cid_switch", (0, 0)))

    @staticmethod
    def op_cid_switch(k: KernelState, env: int, cid: int) -> Result:
        return _cid_switch(k, env, cid, set_hw=True, release_first=False)


class GmClearKeepsPageIndex(Broken):
    """gm_clear only clears the slot's valid bit and leaves it in the page -> guaranteed
    mappings index, so the page still counts as guaranteed and cannot be revoked (REV-1,
    TLB-5: once the slot is clear, the page may be named by a revocation request)."""

    CLAUSE = "REV-1"
    WITNESS = (
        ("env_create", (0, 0)),
        ("alloc", (0, 0)),
        ("gm_set", (0, 0, 5, CAP0, False)),
        ("gm_clear", (0, 0)),
        ("revoke_request", (0, PAGE, 0, 5)),
    )

    @staticmethod
    def op_gm_clear(k: KernelState, env: int, slot: int) -> Result:
        c = k.cfg
        if not in_range(env, c.n_envs) or not in_range(slot, c.n_guaranteed):
            return fail(Status.INVALID_ARGUMENT)
        if not k.env_alive[env]:
            return fail(Status.NO_SUCH_ENV)
        k.gm_valid[env][slot] = False  # "the other fields keep values that mean nothing"
        return OK


class GrantClearsGranterRecord(Broken):
    """Grant clears the repossession record of the granting environment instead of the
    grantee's (MEM-3/REV-4: if the page had been repossessed from the grantee, that record
    is cleared)."""

    CLAUSE = "MEM-3"
    WITNESS = (
        ("env_create", (0, 0)),
        ("env_create", (1, 1)),
        ("alloc", (1, 0)),
        ("revoke_request", (1, PAGE, 0, 1)),
        ("timer_tick", ()),
        ("timer_tick", ()),
        ("abort", (1,)),  # repo_page[1, 0]
        ("alloc", (0, 0)),  # generation 1
        ("grant", (0, Cap(0, 1, RW), 1, RW)),  # env 1 gets page 0 back
    )

    @staticmethod
    def op_grant(k: KernelState, env: int, cap: Cap, grantee: int, rights: int) -> Result:
        c = k.cfg
        page = cap.page
        if not in_range(env, c.n_envs) or not in_range(grantee, c.n_envs) \
                or not in_range(page, c.n_pages) or not rights_ok(rights):
            return fail(Status.INVALID_ARGUMENT, NULL_CAP)
        if not k.env_alive[env] or not k.env_alive[grantee]:
            return fail(Status.NO_SUCH_ENV, NULL_CAP)
        if not cap_valid(k, env, cap):
            return fail(Status.BAD_CAPABILITY, NULL_CAP)
        if rights > cap.rights:
            return fail(Status.NO_PERMISSION, NULL_CAP)
        k.set_rights(grantee, page, max(k.rights(grantee, page), rights))
        k.repo_page[env].discard(page)
        return Result(Status.OK, Cap(page, k.gen[page], rights))


# --------------------------------------------------------------------------- abort paths


@dataclass(frozen=True)
class _Abort:
    """Which optimizer mistake the abort protocol (REV-3) makes."""

    page_keeps_owned: bool = False  # inlined free leaves the page in the loser's owned set
    slice_keeps_index: bool = False  # the slice stays in the loser's slice index
    slice_idles_anyone: bool = False  # the slice in progress idles whoever runs in it
    filter_keeps_demux: bool = False  # the filter table is updated, the demux is not


def _abort(k: KernelState, env: int, a: _Abort) -> Result:
    """REV-3 ``abort``, with the mistakes of ``a``."""
    if not in_range(env, k.cfg.n_envs):
        return fail(Status.INVALID_ARGUMENT)
    if not k.env_alive[env]:
        return fail(Status.NO_SUCH_ENV)
    if not k.rev_pending[env]:
        return fail(Status.NO_REQUEST)
    if k.now <= k.rev_deadline[env]:
        return fail(Status.TOO_EARLY)
    k.rev_pending[env] = False
    kind, target = k.rev_kind[env], k.rev_target[env]
    if kind == Resource.PAGE:
        if a.page_keeps_owned:
            k.owner[target] = FREE
            k.gen[target] += 1
            for h in k.holders[target]:
                k.held[h].pop(target, None)
            k.holders[target] = set()
            break_page(k, target)
        else:
            free_page(k, target)
        k.repo_page[env].add(target)
    elif kind == Resource.SLICE:
        o = k.slice_owner[target]
        if o != FREE and not a.slice_keeps_index:
            k.slices[o].discard(target)
        k.slice_owner[target] = FREE
        k.repo_slice[env].add(target)
        if (a.slice_idles_anyone or k.cur_env == env) and k.cur_slice == target:
            k.cur_env = FREE
            k.hw_cid = FREE
    else:
        if a.filter_keeps_demux:
            if k.filter_valid[target]:
                k.filter_valid[target] = False
                k.filters[k.filter_owner[target]].discard(target)
        else:
            remove_filter(k, target)
        k.repo_filter[env].add(target)
    raise_repossession(k, env)
    return OK


class _AbortBroken(Broken):
    """``abort`` through ``_abort`` with ``ABORT``."""

    ABORT: ClassVar[_Abort] = _Abort()

    def op_abort(self, k: KernelState, env: int) -> Result:
        return _abort(k, env, self.ABORT)


class AbortPageKeepsOwnedIndex(_AbortBroken):
    """Abort frees the repossessed page inline and leaves it in the loser's owned-pages
    index, so destroying the loser later frees the page again although another environment
    has allocated it since (REV-3: the page is freed exactly as by Dealloc; ENV-2 frees
    only the pages the destroyed environment owns)."""

    CLAUSE = "REV-3"
    ABORT = _Abort(page_keeps_owned=True)
    WITNESS = (
        ("env_create", (0, 0)),
        ("env_create", (1, 1)),
        ("alloc", (0, 0)),
        ("revoke_request", (0, PAGE, 0, 1)),
        ("timer_tick", ()),
        ("timer_tick", ()),
        ("abort", (0,)),
        ("alloc", (1, 0)),
        ("env_destroy", (0,)),  # must leave env 1's page 0 alone
    )


class AbortSliceKeepsIndex(_AbortBroken):
    """Abort frees the repossessed slice in ``slice_owner`` but leaves it in the loser's
    per-environment slice index, so destroying the loser later frees the slice although
    another environment has taken it since (REV-3: the slice gets no owner; ENV-2 frees
    only the slices the destroyed environment owns)."""

    CLAUSE = "REV-3"
    ABORT = _Abort(slice_keeps_index=True)
    WITNESS = (
        ("env_create", (0, 0)),
        ("env_create", (1, 1)),
        ("slice_alloc", (0, 1)),
        ("revoke_request", (0, SLICE, 1, 1)),
        ("timer_tick", ()),
        ("timer_tick", ()),
        ("abort", (0,)),
        ("slice_alloc", (1, 1)),
        ("env_destroy", (0,)),  # must leave env 1's slice 1 alone
    )


class AbortSliceIdlesTransferee(_AbortBroken):
    """Aborting the slice in progress idles the CPU whoever runs in it, testing only
    ``cur_slice == target`` (REV-3: if another environment is running in that slice,
    after a yield or a transfer, it keeps the CPU)."""

    CLAUSE = "REV-3"
    ABORT = _Abort(slice_idles_anyone=True)
    WITNESS = (
        *RUN01,
        ("acall", (1,)),  # env 1 runs in env 0's slice 1
        ("revoke_request", (0, SLICE, 1, 2)),
        ("timer_tick", ()),
        ("timer_tick", ()),
        ("abort", (0,)),
    )


class AbortFilterKeepsDemux(_AbortBroken):
    """Abort of a filter clears the kernel's filter table but does not tell the
    demultiplexer, whose compiled table keeps delivering through the repossessed filter
    (REV-3: ``filter_valid[target]`` becomes false, so no further packet is delivered
    through it)."""

    CLAUSE = "REV-3"
    ABORT = _Abort(filter_keeps_demux=True)
    WITNESS = (
        ("env_create", (0, 0)),
        ("filter_install", (0, ACCEPT_45)),
        ("revoke_request", (0, FILTER, 0, 1)),
        ("timer_tick", ()),
        ("timer_tick", ()),
        ("abort", (0,)),
        ("packet_arrive", (P45,)),
    )


# --------------------------------------------------------------------------- transfers


class ScallKeepsCallerSliceIndex(Broken):
    """Scall's donation moves ``slice_owner`` and the callee's slice index but leaves the
    slice in the caller's index, so destroying the caller frees the donated slice (PCT-1:
    ownership passes to the callee; ENV-2 frees only the destroyed environment's
    slices)."""

    CLAUSE = "PCT-1"
    WITNESS = (*RUN01, ("scall", (1,)), ("env_destroy", (0,)))

    @staticmethod
    def op_scall(k: KernelState, callee: int) -> Result:
        caller = k.cur_env
        q = k.cur_slice
        if not in_range(callee, k.cfg.n_envs):
            return fail(Status.INVALID_ARGUMENT)
        if not k.live(caller):
            return fail(Status.NOT_RUNNING)
        if not k.env_alive[callee]:
            return fail(Status.NO_SUCH_ENV)
        target = k.entry[callee][Vector.PCT_SYNC]
        if target == NO_ENTRY:
            return fail(Status.NO_ENTRY)
        owns = k.slice_owner[q] == caller
        if owns and k.rev_pending[caller] and k.rev_kind[caller] == Resource.SLICE \
                and k.rev_target[caller] == q:
            return fail(Status.BUSY)
        if k.slice_left <= 0:
            return fail(Status.NO_TIME)
        k.cur_env = callee
        k.hw_cid = k.env_cid[callee]
        k.pc = target
        if owns:
            k.slice_owner[q] = callee
            k.slices[callee].add(q)
            k.repo_slice[callee].discard(q)
        return OK


# --------------------------------------------------------------------------- destruction


def _destroy(k: KernelState, e: int, ring_count_only: bool, stlb_by_cid: bool) -> None:
    """ENV-2 ``destroy_env``; ``ring_count_only``: only ``rx_count`` is reset (env_create
    resets the rest); ``stlb_by_cid``: the STLB entries tagged with the id are broken."""
    k.env_alive[e] = False
    cid = k.env_cid[e]
    k.env_cid[e] = FREE
    if in_range(cid, k.cfg.n_cids):
        k.cid_env[cid] = FREE
    k.entry[e] = [NO_ENTRY] * NUM_VECTORS
    for p in list(k.owned[e]):
        release_page(k, p)
    for p in k.held[e]:
        k.holders[p].discard(e)
    k.held[e] = {}
    for g in range(k.cfg.n_guaranteed):
        k.gm_drop(e, g)
    for q in k.slices[e]:
        k.slice_owner[q] = FREE
    k.slices[e] = set()
    k.excess[e] = 0
    k.rev_pending[e] = False
    k.repo_page[e] = set()
    k.repo_slice[e] = set()
    k.repo_exc[e] = False
    k.repo_filter[e] = set()
    for f in k.filters[e]:
        k.filter_valid[f] = False
        k.demux.remove(f)
    k.filters[e] = set()
    k.rx_count[e] = 0
    if not ring_count_only:
        k.rx_head[e] = 0
        k.rx_drops[e] = 0
    if k.cur_env == e:
        k.cur_env = FREE
        k.hw_cid = FREE
    if stlb_by_cid:
        break_cid(k, cid)
    else:
        k.tlb.drop_cid(cid)


class DestroyResetsRingCountOnly(Broken):
    """Destroy empties the receive ring by ``rx_count = 0`` alone, leaving ``rx_head`` and
    the drop counter for env_create to reset (ENV-2: ``rx_head = rx_count = 0`` and
    ``rx_drops = 0``)."""

    CLAUSE = "ENV-2"
    WITNESS = (
        ("env_create", (0, 0)),
        ("filter_install", (0, ACCEPT_45)),
        ("packet_arrive", (P45,)),
        ("packet_arrive", (P45,)),
        ("packet_arrive", (P45,)),  # ring of 2 full: one drop
        ("env_destroy", (0,)),
    )

    @staticmethod
    def op_env_destroy(k: KernelState, env: int) -> Result:
        if not in_range(env, k.cfg.n_envs):
            return fail(Status.INVALID_ARGUMENT)
        if not k.env_alive[env]:
            return fail(Status.NO_SUCH_ENV)
        _destroy(k, env, ring_count_only=True, stlb_by_cid=True)
        return OK


class DestroyKeepsStlbOfCid(Broken):
    """Destroy breaks the dead context id's hardware TLB entries but not its STLB
    entries, as if the STLB were reached only through a live id; a binding to a page the
    destroyed environment held by a grant survives (ENV-2, TLB-9: every TLB and STLB
    entry that lost its authority is broken)."""

    CLAUSE = "TLB-9"
    WITNESS = (
        ("env_create", (0, 0)),
        ("env_create", (1, 1)),
        ("alloc", (1, 0)),
        ("grant", (1, CAP0, 0, RW)),
        ("tlbwr", (0, 5, CAP0, True)),
        ("env_destroy", (0,)),
    )

    @staticmethod
    def op_env_destroy(k: KernelState, env: int) -> Result:
        if not in_range(env, k.cfg.n_envs):
            return fail(Status.INVALID_ARGUMENT)
        if not k.env_alive[env]:
            return fail(Status.NO_SUCH_ENV)
        _destroy(k, env, ring_count_only=False, stlb_by_cid=False)
        return OK


# --------------------------------------------------------------------------- filters, rings


class FilterRemoveKeepsOwnerIndex(Broken):
    """Filter removal clears the slot and the demux but leaves the slot in the owner's
    per-environment filter index, so destroying the old owner removes whatever filter
    another environment installed in that slot since (NET-2: the filter is gone; ENV-2
    removes only the destroyed environment's filters)."""

    CLAUSE = "NET-2"
    WITNESS = (
        ("env_create", (0, 0)),
        ("env_create", (1, 1)),
        ("filter_install", (0, ACCEPT_45)),  # slot 0
        ("filter_remove", (0, 0)),
        ("filter_install", (1, ACCEPT_60)),  # slot 0 again, env 1's
        ("env_destroy", (0,)),
    )

    @staticmethod
    def op_filter_remove(k: KernelState, env: int, filter: int) -> Result:
        c = k.cfg
        if not in_range(env, c.n_envs) or not in_range(filter, c.n_filters):
            return fail(Status.INVALID_ARGUMENT)
        if not k.env_alive[env]:
            return fail(Status.NO_SUCH_ENV)
        if not (k.filter_valid[filter] and k.filter_owner[filter] == env):
            return fail(Status.NOT_OWNER)
        k.filter_valid[filter] = False
        k.demux.remove(filter)
        if k.rev_kind[env] == Resource.FILTER:
            k.rev_pending[env] = False
        return OK


class _MemoDemux(Demux):
    """A demux that remembers each packet's classification, forgetting it when a filter
    is removed (a removal may turn a match into a miss) but not when one is added."""

    def __init__(self, check: Callable[[str, list[tuple[int, int, Program]]], object] | None,
                 table: Callable[[], list[tuple[int, int, Program]]] | None) -> None:
        super().__init__(check=check, table=table)
        self._memo: dict[bytes, int] = {}

    def classify(self, packet: bytes) -> int:
        found = self._memo.get(packet)
        if found is None:
            found = self._memo[packet] = super().classify(packet)
        return found

    def remove(self, slot: int) -> None:
        self._memo.clear()
        super().remove(slot)


class DemuxMemoSurvivesInstall(Broken):
    """The demux memoizes each packet's owner and flushes the memo when a filter is
    removed but not when one is installed, so a packet that matched nothing keeps missing
    the new filter that accepts it (NET-3: the lowest installed filter that accepts the
    packet decides)."""

    CLAUSE = "NET-3"
    WITNESS = (
        ("env_create", (0, 0)),
        ("packet_arrive", (P45,)),  # no filter: the kernel drops it
        ("filter_install", (0, ACCEPT_45)),
        ("packet_arrive", (P45,)),
    )

    def __init__(self, cfg: Config | None = None, check_demux: bool = True) -> None:
        super().__init__(cfg, check_demux)
        k = self.state
        k.demux = _MemoDemux(check=k.check_demux if check_demux else None,
                             table=k.filter_table)


class FilterSlotCursor(Broken):
    """Filter installation searches for a free slot from a cursor past the last slot it
    filled, which removal never moves back, instead of from slot 0 (NET-1: the lowest free
    slot gets the filter)."""

    CLAUSE = "NET-1"
    WITNESS = (
        ("env_create", (0, 0)),
        ("filter_install", (0, ACCEPT_45)),  # slot 0
        ("filter_remove", (0, 0)),
        ("filter_install", (0, ACCEPT_45)),  # slot 0 is the lowest free one again
    )

    def __init__(self, cfg: Config | None = None, check_demux: bool = True) -> None:
        super().__init__(cfg, check_demux)
        self.cursor = 0

    def op_filter_install(self, k: KernelState, env: int, program: Program) -> Result:
        c = k.cfg
        if not in_range(env, c.n_envs):
            return fail(Status.INVALID_ARGUMENT)
        if not k.env_alive[env]:
            return fail(Status.NO_SUCH_ENV)
        if not verified(program):
            return fail(Status.BAD_PROGRAM)
        start = self.cursor if self.cursor < c.n_filters else 0
        order = [*range(start, c.n_filters), *range(start)]
        slot = next((j for j in order if not k.filter_valid[j]), -1)
        if slot < 0:
            return fail(Status.NO_SPACE)
        _, found = first_clash(k, env, program)
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
        self.cursor = slot + 1
        return Result(Status.OK, slot)


class RingRewindsOnDrain(Broken):
    """Taking the last waiting packet rewinds the ring's head to slot 0 (keeping the ring
    contiguous) instead of moving it to the next slot (NET-4: ``rx_head`` moves to the
    next slot, wrapping only after ``ring_size - 1``)."""

    CLAUSE = "NET-4"
    WITNESS = (
        ("env_create", (0, 0)),
        ("filter_install", (0, ACCEPT_45)),
        ("packet_arrive", (P45,)),
        ("packet_take", (0,)),
    )

    @staticmethod
    def op_packet_take(k: KernelState, env: int) -> Result:
        if not in_range(env, k.cfg.n_envs):
            return fail(Status.INVALID_ARGUMENT)
        if not k.env_alive[env]:
            return fail(Status.NO_SUCH_ENV)
        if k.rx_count[env] <= 0:
            return fail(Status.EMPTY)
        head = k.rx_head[env]
        packet = k.rx_pkt[env][head]
        k.rx_count[env] -= 1
        if k.rx_count[env] == 0:
            k.rx_head[env] = 0
        else:
            k.rx_head[env] = head + 1 if head + 1 < k.cfg.ring_size else 0
        return Result(Status.OK, packet)


# --------------------------------------------------------------------------- registry

OPTIMIZER = {
    cls.__name__: cls
    for cls in (
        NextSliceWrapsEarly, DebtChargedWhileIdle, DebtConsumedSliceStarts,
        RepossessionKeptWithoutHandler, YieldSkipsRepossession, YieldAfterSliceRanOut,
        SliceEndUpcallsOwner,
        RefillAtLookupSlot, GuaranteedRefillFillsStlb, GuaranteedLastSlotWins,
        TlbHitIgnoresCid, StoreBeforeProtectionCheck,
        TlbwrSkipsSameBinding, CidSwitchStaleHwCid, CidSwitchSameIdFreesIt,
        GmClearKeepsPageIndex, GrantClearsGranterRecord,
        AbortPageKeepsOwnedIndex, AbortSliceKeepsIndex, AbortSliceIdlesTransferee,
        AbortFilterKeepsDemux, ScallKeepsCallerSliceIndex,
        DestroyResetsRingCountOnly, DestroyKeepsStlbOfCid,
        FilterRemoveKeepsOwnerIndex, DemuxMemoSurvivesInstall, FilterSlotCursor,
        RingRewindsOnDrain,
    )
}
"""Every optimizer bug by name (merged into ``tests.catalogue.CATALOGUE``)."""

CATALOGUE.update(OPTIMIZER)  # when imported first, tests.catalogue saw the placeholder

OPTIMIZER_ESCAPES: tuple[str, ...] = ()
"""Entries the kit's default budget does not catch on some seed: none now. When they were
written (2026-12-07, before the kit's sentence cells and ``exo.kit.stale``), 13 escaped on
some of seeds 1..6: AbortSliceKeepsIndex, AbortFilterKeepsDemux, DebtChargedWhileIdle,
AbortSliceIdlesTransferee, GuaranteedLastSlotWins, DestroyKeepsStlbOfCid,
DemuxMemoSurvivesInstall, DestroyResetsRingCountOnly, FilterRemoveKeepsOwnerIndex,
GrantClearsGranterRecord, ScallKeepsCallerSliceIndex, StoreBeforeProtectionCheck,
YieldSkipsRepossession. With them, each of those 13 was caught on seeds 1..10 (``python
benchmarks/catalogue.py --seeds 10 --only NAME ...``: 130 of 130, 2026-12-07)."""
