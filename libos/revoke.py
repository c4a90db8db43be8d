"""Visible revocation and the abort protocol from the library's side (REV-1..REV-4).

A revocation request is in the environment's own view (GEN-7; REV-1: ``rev_pending``,
``rev_kind``, ``rev_deadline``). ``Pager`` is a library policy that answers it: it
releases a page of its own choosing, a clean one first, else it writes a dirty one back
to its backing store (the words read through its own mapping), and deallocates it
before the deadline (REV-2). The page leaves the page table, so the next touch faults
and pages the data back in. A library that ignores requests meets the abort protocol
(REV-3): the kernel takes the named page by force, its bindings are broken, and the loss
is recorded in the repossession vector (``repo_page``). ``repair`` reads that vector
(its own) and the owners and generations of the pages its table maps (public), and drops
the lost pages from the table, as often as a page is lost.
"""

from __future__ import annotations

from exo.interface import FREE, Resource
from exo.libos.pagetable import PTE
from exo.libos.vm import Process


class Pager:
    """The revocation policy of one process: ``backing`` holds the words of pages it
    wrote back, by virtual page."""

    def __init__(self, proc: Process) -> None:
        self.proc = proc
        self.backing: dict[int, list[int]] = {}
        self.released: list[tuple[int, bool]] = []  # (virtual page, was dirty)
        self.lost: list[int] = []  # virtual pages the abort protocol took, each time
        proc.page_in = self.page_in

    def pending(self) -> bool:
        """REV-1: is a page revocation request of this environment outstanding?"""
        env = self.proc.env
        s = self.proc.machine.state(env)
        return bool(s.get("rev_pending", env)) and s.get("rev_kind", env) == Resource.PAGE

    def answer(self) -> int | None:
        """REV-2: release one page (clean first), writing a dirty one back first. The
        virtual page released, or None if there was no request or nothing to release."""
        if not self.pending():
            return None
        p = self.proc
        mapped = [(v, e) for v, e in p.table.entries() if not e.cow]
        if not mapped:
            return None
        vpage, pte = min(mapped, key=lambda ve: (ve[1].dirty, ve[0]))
        if pte.dirty:
            self.backing[vpage] = [p.load(vpage, w) for w in range(p.machine.cfg.page_words)]
        p.table.remove(vpage)
        p.lib.sys_ok(p.env, "dealloc", pte.cap)  # MEM-2: its bindings go with it (TLB-9)
        self.released.append((vpage, pte.dirty))
        return vpage

    def page_in(self, vpage: int) -> bool:
        """Bring a written-back page back: a fresh page, its words restored. False if
        ``vpage`` was never written back."""
        words = self.backing.pop(vpage, None)
        if words is None:
            return False
        p = self.proc
        page, cap = p.lib.alloc_page(p.env)
        p.table.insert(vpage, PTE(page, cap, writable=True, dirty=True))
        for w, value in enumerate(words):
            p.store(vpage, w, value)
        return True

    def repair(self) -> list[int]:
        """REV-3/REV-4: drop from the page table every entry whose page was taken (its
        contents are gone); the next touch pages a fresh one in. An entry is lost when
        the repossession vector records its page as taken from this environment and the
        environment does not own it, or when its capability has gone stale (the page's
        generation moved on: the page was taken and, before this repair, allocated again,
        which clears the record, MEM-1). Both are read from the kernel's state each
        time, so a page lost again after it came back is dropped again, however often.
        The virtual pages lost, in table order."""
        p = self.proc
        s = p.machine.state(p.env)  # its own records; owners and generations are public
        lost = []
        for vpage, pte in list(p.table.entries()):
            taken = s.get("repo_page", (p.env, pte.page)) and s.get("owner", pte.page) != p.env
            stale = pte.cap.gen != s.get("gen", pte.page)
            if taken or stale:
                p.table.remove(vpage)
                lost.append(vpage)
        self.lost += lost
        return lost


def free_pages(proc: Process) -> list[int]:
    """The physical pages no environment owns (MEM-1: exposed physical names)."""
    s = proc.machine.state(proc.env)
    return [q for q in range(proc.machine.cfg.n_pages) if s.get("owner", q) == FREE]
