"""Application-level virtual memory (paper: "Application-level virtual memory", ExOS):
each process is an environment with its own addressing context (TLB-3) and a page table
of the library's choosing (``exo.libos.pagetable``). The kernel translates only what the
TLB, the STLB and guaranteed mappings hold (TLB-8); every other access raises a TLB-miss
upcall (EXC-2), and the library's handler walks its table and installs the binding with
``tlbwr`` and the page's capability (TLB-1). On top of that, at application level:

* demand paging: a page is allocated on the first touch (MEM-1);
* dirty bits: a clean page is mapped read-only, and its first write faults (MEM-5) and
  marks it dirty before it is mapped writable;
* protection changes (prot/unprot) on any number of pages: the table changes, and the
  bindings that allowed more are removed (TLB-2);
* copy-on-write between two processes: ``grant`` gives the other process read access
  (MEM-3); the first write by either side faults and copies the page.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

from exo.interface import ExcKind, Outcome, Rights, Status
from exo.libos.core import KernelError, Killed, LibOS, LibOSError
from exo.libos.pagetable import PTE, PageTable, Recorded

REG = 0
"""The register loads land in and stores take their value from."""

SCRATCH_VPAGE = (1 << 20) - 1
"""A virtual page the library keeps free for copying a page (copy-on-write)."""

TABLE_VPAGE = (1 << 20) - 2
"""Where ``pin_tables`` maps the page that holds the library's page-table image."""

DONE = frozenset({int(Outcome.ACCESS), int(Outcome.REFILL_STLB),
                  int(Outcome.REFILL_GUARANTEED)})


class SegFault(LibOSError):
    """An access the library's own policy refuses (a write to a page it protected, an
    upcall for an address it never mapped and cannot allocate)."""


class Process:
    """One process of a library OS: an environment, its context id, a time slice and a
    page table."""

    def __init__(self, lib: LibOS, env: int, cid: int, slice_: int, table: PageTable
                 ) -> None:
        self.lib, self.env, self.table = lib, env, table
        self.machine = lib.machine
        self.faults: Counter[str] = Counter()
        self.page_in: Callable[[int], bool] | None = None  # a pager's (exo.libos.revoke)
        self._table_stale = False  # the table changed while another process ran
        lib.boot_env(env, cid, slice_)

    # ------------------------------------------------------------------ the program

    def load(self, vpage: int, offset: int) -> int:
        """MEM-4 as the program sees it: the word, after any upcalls it took."""
        self._access(vpage, offset, write=False)
        return int(self.machine.state(self.env).get("regs", REG))  # it runs: its processor

    def store(self, vpage: int, offset: int, value: int) -> None:
        """MEM-5 as the program sees it."""
        self._access(vpage, offset, write=True, value=value)

    def _access(self, vpage: int, offset: int, write: bool, value: int | None = None
                ) -> None:
        m = self.machine
        pending = value is not None  # the value still has to go into the register
        for _ in range(8):  # a miss, then a protection fault, then the access
            if m.state(self.env).get("cur_env") != self.env:
                self.lib.run(self.env)
                pending = value is not None  # a start clears the registers (CPU-7)
                if self._table_stale and isinstance(self.table, Recorded):
                    self._table_changed(self.table.count)
            if pending:
                m.ok("set_reg", REG, value)  # upcalls leave registers alone (EXC-2)
                pending = False
            res = m.call("store" if write else "load", vpage, offset, REG)
            if res.status == Status.NOT_RUNNING:
                continue
            if res.status != Status.OK:
                raise KernelError("store" if write else "load", (vpage, offset, REG), res)
            if res.value in DONE:
                return
            if res.value == Outcome.KILLED:
                raise Killed(f"env {self.env} was destroyed by an upcall")
            s = m.state(self.env)  # DELIVERED: cause and badvpage say which upcall
            cause, bad = s.get("cause"), s.get("badvpage")
            if cause == ExcKind.TLB_MISS:
                clobbered = self.on_tlb_miss(bad)
            elif cause == ExcKind.PROTECTION:
                clobbered = self.on_protection(bad)
            else:
                raise SegFault(f"unexpected upcall {cause} at virtual page {bad}")
            if clobbered:  # the handler moved words through the register
                pending = value is not None
        raise SegFault(f"access to virtual page {vpage} does not settle")

    # ------------------------------------------------------------------ upcalls

    def on_tlb_miss(self, vpage: int) -> bool:
        """EXC-2 TLB_MISS: walk the table; allocate on first touch (or page a written-back
        page in); install the binding, read-only while the page is clean (its first
        write marks it dirty). True if the handler used the register (a page-in)."""
        self.faults["tlb_miss"] += 1
        pte = self.table.lookup(vpage)
        paged_in = pte is None and self.page_in is not None and self.page_in(vpage)
        if paged_in:
            self.faults["page_in"] += 1
            pte = self.table.lookup(vpage)
        if pte is None:
            self.faults["demand"] += 1
            page, cap = self.lib.alloc_page(self.env)
            pte = PTE(page, cap, writable=True)
            self.table.insert(vpage, pte)
        self.machine.sys_ok(self.env, "tlbwr", vpage, pte.cap,
                            pte.writable and pte.dirty and not pte.cow)
        return paged_in

    def on_protection(self, vpage: int) -> bool:
        """EXC-2 PROTECTION on a write: a shared copy-on-write page is copied; a clean
        writable page becomes dirty and writable; anything else is the program's
        fault. True if the handler used the register (a copy)."""
        self.faults["protection"] += 1
        pte = self.table.lookup(vpage)
        if pte is None or not pte.writable:
            raise SegFault(f"write to protected virtual page {vpage}")
        if pte.cow:
            self._copy(vpage, pte)
            return True
        pte.dirty = True
        self.machine.sys_ok(self.env, "tlbwr", vpage, pte.cap, True)
        return False

    # ------------------------------------------------------------------ services

    def protect(self, vpages: Iterable[int], writable: bool) -> None:
        """prot / unprot: the table says what each page allows; a binding that allows
        more than the table is removed (TLB-2), and the next access refills from the
        table. Unprotecting removes nothing: the next write faults and upgrades."""
        for v in vpages:
            pte = self.table.lookup(v)
            if pte is None:
                raise SegFault(f"protect: virtual page {v} is not mapped")
            pte.writable = writable
            if not writable:
                self.lib.sys_ok(self.env, "tlbvadelete", v)

    def pin_tables(self, slot: int = 0) -> int:
        """TLB-4: keep the page table's memory image on a page of guaranteed mapping
        ``slot`` at ``TABLE_VPAGE``: every change of the table writes its entry count
        there (word 0, through the last register). A miss on that page refills from the
        guaranteed mapping (TLB-8), so the TLB-miss handler never faults on its own
        table. Returns the physical page."""
        page = self.pin(TABLE_VPAGE, slot)
        self._table_stale = False
        self.table = Recorded(self.table, self._table_changed)
        self._table_changed(self.table.count)
        return page

    def _table_changed(self, count: int) -> None:
        """Write ``count`` into the table page, now if this process is on the CPU (else
        at its next access: the store must run in its own addressing context)."""
        m = self.machine
        if m.state(self.env).get("cur_env") != self.env:
            self._table_stale = True
            return
        reg = m.cfg.n_regs - 1
        m.ok("set_reg", reg, count)
        res = m.call("store", TABLE_VPAGE, 0, reg)
        if res.status != Status.OK or res.value not in DONE:
            raise LibOSError(f"the table page took {res!r}: it is not guaranteed")
        self._table_stale = False

    def pin(self, vpage: int, slot: int) -> int:
        """TLB-4: back ``vpage`` by a page of its own on guaranteed mapping ``slot``, for
        what the library cannot take a miss on (its handlers' stack, its page tables).
        A TLB miss on it refills from the mapping without an upcall (TLB-8), and the
        kernel never asks for the page back (REV-5). Returns the physical page."""
        self.lib.run(self.env)  # its allocation and gm_set are its own system calls
        pte = self.table.lookup(vpage)
        if pte is None:
            page, cap = self.lib.alloc_page(self.env)
            pte = PTE(page, cap, writable=True, dirty=True)
            self.table.insert(vpage, pte)
        self.lib.sys_ok(self.env, "gm_set", slot, vpage, pte.cap, True)
        pte.dirty = True
        return pte.page

    def dirty(self, vpage: int) -> bool:
        """The library's dirty bit: has the page been written since it was mapped?"""
        pte = self.table.lookup(vpage)
        return pte is not None and pte.dirty

    def share_cow(self, vpage: int, other: Process, other_vpage: int) -> None:
        """Copy-on-write: ``other`` sees this page at ``other_vpage``, read-only, through
        a capability ``grant`` makes for it (MEM-3); this side loses its write binding
        (TLB-2). The first write by either side copies (``on_protection``)."""
        pte = self.table.lookup(vpage)
        if pte is None:
            raise SegFault(f"share: virtual page {vpage} is not mapped")
        cap = self.lib.sys_ok(self.env, "grant", pte.cap, other.env, int(Rights.READ))
        pte.cow = True
        self.lib.sys_ok(self.env, "tlbvadelete", vpage)
        other.table.insert(other_vpage, PTE(pte.page, cap, writable=True, cow=True))

    def _copy(self, vpage: int, pte: PTE) -> None:
        """Copy the shared page word by word through a scratch mapping (the register
        carries each word: a load, then a store), then map the copy writable."""
        self.faults["cow_copy"] += 1
        page, cap = self.lib.alloc_page(self.env)
        self.table.insert(SCRATCH_VPAGE, PTE(page, cap, writable=True, dirty=True))
        for w in range(self.machine.cfg.page_words):
            self._access(vpage, w, write=False)
            self._access(SCRATCH_VPAGE, w, write=True)
        self.table.remove(SCRATCH_VPAGE)
        self.machine.sys_ok(self.env, "tlbvadelete", SCRATCH_VPAGE)
        self.table.insert(vpage, PTE(page, cap, writable=True, dirty=True))
        self.machine.sys_ok(self.env, "tlbwr", vpage, cap, True)
