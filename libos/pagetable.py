"""Page tables as library data structures (paper: "extensible page tables"): the kernel
has none; a library OS keeps its own and consults it when the TLB-miss upcall arrives
(TLB-8, EXC-2). Two structures behind one interface, so a library picks its own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from exo.interface import Cap
from exo.libos.core import LibOSError


@dataclass
class PTE:
    """One translation the library keeps: the physical page and its capability (MEM-6),
    what the library allows (``writable``), and its own bookkeeping: ``dirty`` (set by
    the first write fault), ``cow`` (shared copy-on-write: the first write copies)."""

    page: int
    cap: Cap
    writable: bool
    dirty: bool = False
    cow: bool = False


class PageTable(Protocol):
    """What the virtual-memory code needs of a page table."""

    def lookup(self, vpage: int) -> PTE | None: ...
    def insert(self, vpage: int, pte: PTE) -> None: ...
    def remove(self, vpage: int) -> PTE | None: ...
    def entries(self) -> Iterator[tuple[int, PTE]]: ...


class TwoLevel:
    """A two-level table: a directory of ``1 << dir_bits`` slots, each a leaf table of
    ``1 << leaf_bits`` slots, allocated on first use (a sparse address space costs one
    leaf per region in use)."""

    def __init__(self, dir_bits: int = 10, leaf_bits: int = 10) -> None:
        self.leaf_bits = leaf_bits
        self.directory: list[list[PTE | None] | None] = [None] * (1 << dir_bits)

    def _split(self, vpage: int) -> tuple[int, int]:
        hi, lo = vpage >> self.leaf_bits, vpage & ((1 << self.leaf_bits) - 1)
        if not 0 <= hi < len(self.directory):
            raise LibOSError(f"virtual page {vpage} outside the table")
        return hi, lo

    def lookup(self, vpage: int) -> PTE | None:
        hi, lo = self._split(vpage)
        leaf = self.directory[hi]
        return None if leaf is None else leaf[lo]

    def insert(self, vpage: int, pte: PTE) -> None:
        hi, lo = self._split(vpage)
        leaf = self.directory[hi]
        if leaf is None:
            leaf = self.directory[hi] = [None] * (1 << self.leaf_bits)
        leaf[lo] = pte

    def remove(self, vpage: int) -> PTE | None:
        hi, lo = self._split(vpage)
        leaf = self.directory[hi]
        if leaf is None:
            return None
        old, leaf[lo] = leaf[lo], None
        return old

    def entries(self) -> Iterator[tuple[int, PTE]]:
        for hi, leaf in enumerate(self.directory):
            if leaf is not None:
                for lo, pte in enumerate(leaf):
                    if pte is not None:
                        yield (hi << self.leaf_bits) | lo, pte


class Hashed:
    """A hashed (inverted-style) table: a fixed number of buckets, sized to physical
    memory rather than to the address space, each a chain of ``(vpage, PTE)``."""

    def __init__(self, buckets: int = 64) -> None:
        self.buckets: list[list[tuple[int, PTE]]] = [[] for _ in range(buckets)]

    def _chain(self, vpage: int) -> list[tuple[int, PTE]]:
        return self.buckets[(vpage * 2654435761) % len(self.buckets)]

    def lookup(self, vpage: int) -> PTE | None:
        for v, pte in self._chain(vpage):
            if v == vpage:
                return pte
        return None

    def insert(self, vpage: int, pte: PTE) -> None:
        chain = self._chain(vpage)
        for i, (v, _) in enumerate(chain):
            if v == vpage:
                chain[i] = (vpage, pte)
                return
        chain.append((vpage, pte))

    def remove(self, vpage: int) -> PTE | None:
        chain = self._chain(vpage)
        for i, (v, pte) in enumerate(chain):
            if v == vpage:
                del chain[i]
                return pte
        return None

    def entries(self) -> Iterator[tuple[int, PTE]]:
        for chain in self.buckets:
            yield from chain


class Recorded:
    """A page table that calls ``changed(count)`` after every insert and remove, with
    the number of entries: how a library keeps the table's memory image up to date
    (``exo.libos.vm.Process.pin_tables``)."""

    def __init__(self, inner: PageTable, changed: Callable[[int], None]) -> None:
        self.inner, self.changed = inner, changed
        self.count = sum(1 for _ in inner.entries())

    def lookup(self, vpage: int) -> PTE | None:
        return self.inner.lookup(vpage)

    def insert(self, vpage: int, pte: PTE) -> None:
        if self.inner.lookup(vpage) is None:
            self.count += 1
        self.inner.insert(vpage, pte)
        self.changed(self.count)

    def remove(self, vpage: int) -> PTE | None:
        old = self.inner.remove(vpage)
        if old is not None:
            self.count -= 1
            self.changed(self.count)
        return old

    def entries(self) -> Iterator[tuple[int, PTE]]:
        return self.inner.entries()
