"""The mutable state of the optimized kernel: Python lists indexed by id, plus reverse maps.

Where the model recomputes a whole table (``revalidate`` maps every TLB slot), the
implementation keeps the index that names exactly the entries affected:

* page -> the TLB slots, STLB slots and guaranteed mappings that bind it;
* context id -> the TLB and STLB slots tagged with it;
* env -> the pages it owns, the pages it holds rights on, its slices and its filters;
* page -> the environments holding rights on it.

So Dealloc, destroy, abort and CIDswitch cost O(bindings broken), not O(table size).
The round-robin next slice is ``cur_slice + 1`` (mod the vector length): O(1).
``observe`` renders the state in the model's vocabulary (``exo.kit.conformance``).
"""

from __future__ import annotations

from typing import Any

from exo.impl.demux import Demux
from exo.impl.filtercheck import check_source, declarative_form, merge_problem
from exo.interface import FREE, NO_ENTRY, NUM_VECTORS, Config


class Table:
    """GEN-4: a direct-mapped binding table (the hardware TLB or the STLB) with reverse maps
    from physical page and from context id to the valid slots."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.valid = [False] * size
        self.cid = [FREE] * size
        self.vpage = [0] * size
        self.page = [FREE] * size
        self.write = [False] * size
        self.by_page: dict[int, set[int]] = {}
        self.by_cid: dict[int, set[int]] = {}

    def hit(self, i: int, cid: int, vpage: int) -> bool:
        """TLB-6/TLB-7: slot ``i`` holds ``(cid, vpage)``."""
        return self.valid[i] and self.cid[i] == cid and self.vpage[i] == vpage

    def put(self, i: int, cid: int, vpage: int, page: int, write: bool) -> None:
        """TLB-6/TLB-7: write a binding into slot ``i``, evicting whatever was there."""
        self.drop(i)
        self.valid[i] = True
        self.cid[i], self.vpage[i], self.page[i], self.write[i] = cid, vpage, page, write
        self.by_page.setdefault(page, set()).add(i)
        self.by_cid.setdefault(cid, set()).add(i)

    def drop(self, i: int) -> None:
        """TLB-9: invalidate slot ``i`` (and forget it in the reverse maps)."""
        if not self.valid[i]:
            return
        self.valid[i] = False
        _discard(self.by_page, self.page[i], i)
        _discard(self.by_cid, self.cid[i], i)

    def drop_page(self, page: int) -> None:
        """TLB-9: break every binding of ``page``."""
        for i in list(self.by_page.get(page, ())):
            self.drop(i)

    def drop_cid(self, cid: int) -> None:
        """TLB-9: break every binding tagged with context id ``cid``."""
        for i in list(self.by_cid.get(cid, ())):
            self.drop(i)

    def observe(self, prefix: str) -> dict[str, dict[Any, Any]]:
        """The valid slots in the model's vocabulary (invalid slots carry no meaning)."""
        out: dict[str, dict[Any, Any]] = {
            f"{prefix}_{f}": {} for f in ("valid", "cid", "vpage", "page", "write")}
        for i in range(self.size):
            if self.valid[i]:
                out[f"{prefix}_valid"][i] = True
                out[f"{prefix}_cid"][i] = self.cid[i]
                out[f"{prefix}_vpage"][i] = self.vpage[i]
                out[f"{prefix}_page"][i] = self.page[i]
                out[f"{prefix}_write"][i] = self.write[i]
        return out


def _discard(index: dict[int, set[int]], key: int, item: int) -> None:
    bucket = index.get(key)
    if bucket is not None:
        bucket.discard(item)
        if not bucket:
            del index[key]


class KernelState:
    """INV-0: the boot state, mutable: no environment, every page free, empty TLB and STLB,
    slice 0 in progress with no ticks left."""

    def __init__(self, cfg: Config, check_demux: bool = True) -> None:
        problem = cfg.problem()
        if problem is not None:
            raise ValueError(f"bad configuration: {problem}")
        self.cfg = cfg
        E, P, W = cfg.n_envs, cfg.n_pages, cfg.page_words
        # processor environments (ENV-1..ENV-5)
        self.env_alive = [False] * E
        self.env_cid = [FREE] * E
        self.cid_env = [FREE] * cfg.n_cids
        self.entry = [[NO_ENTRY] * NUM_VECTORS for _ in range(E)]
        # physical memory (MEM-1..MEM-6)
        self.owner = [FREE] * P
        self.gen = [0] * P
        self.held: list[dict[int, int]] = [{} for _ in range(E)]  # env -> page -> rights > 0
        self.holders: list[set[int]] = [set() for _ in range(P)]  # page -> envs with rights
        self.owned: list[set[int]] = [set() for _ in range(E)]
        self.word = [[0] * W for _ in range(P)]
        # bindings (TLB-1..TLB-9)
        self.tlb = Table(cfg.tlb_size)
        self.stlb = Table(cfg.stlb_size)
        G = cfg.n_guaranteed
        self.gm_valid = [[False] * G for _ in range(E)]
        self.gm_vpage = [[0] * G for _ in range(E)]
        self.gm_page = [[FREE] * G for _ in range(E)]
        self.gm_write = [[False] * G for _ in range(E)]
        self.gm_by_page: dict[int, set[tuple[int, int]]] = {}
        # CPU (CPU-1..CPU-6)
        self.cur_env = FREE
        self.hw_cid = FREE
        self.pc = 0
        self.epc = 0
        self.cause = -1
        self.badvpage = 0
        self.regs = [0] * cfg.n_regs
        self.now = 0
        self.slice_owner = [FREE] * cfg.n_slices
        self.slices: list[set[int]] = [set() for _ in range(E)]
        self.cur_slice = 0
        self.slice_left = 0
        self.excess = [0] * E
        # revocation (REV-1..REV-5)
        self.rev_pending = [False] * E
        self.rev_kind = [0] * E
        self.rev_target = [FREE] * E
        self.rev_deadline = [0] * E
        self.repo_page: list[set[int]] = [set() for _ in range(E)]
        self.repo_slice: list[set[int]] = [set() for _ in range(E)]
        self.repo_exc = [False] * E
        self.repo_filter: list[set[int]] = [set() for _ in range(E)]
        # packet filters and the network interface (NET-1..NET-4)
        F = cfg.n_filters
        self.filter_valid = [False] * F
        self.filter_owner = [FREE] * F
        self.filter_code: list[tuple[tuple[int, int, int, int], ...]] = [()] * F
        self.filters: list[set[int]] = [set() for _ in range(E)]
        # FLT-8: every generated demultiplexer is proved equal to the reference when the
        # filter set changes, under a budget; if it is not, the filters of this table are
        # interpreted. packet_arrive never runs the check.
        # A recognized program is merged as its FLT-9 DFilter (the same check covers it).
        # FLT-8 by parts: a change proves only its own filter; INV-13 (filters of
        # different environments are disjoint) lets a proved filter's packet skip the
        # interpreted ones.
        self.demux = Demux(check=self.check_demux if check_demux else None,
                           table=self.filter_table, declarative=declarative_form,
                           merge=merge_problem, disjoint=True)
        self.rx_head = [0] * E
        self.rx_count = [0] * E
        self.rx_pkt = [[b""] * cfg.ring_size for _ in range(E)]
        self.rx_drops = [0] * E
        self.kernel_drops = 0

    def filter_table(self) -> list[tuple[int, int, tuple[tuple[int, int, int, int], ...]]]:
        """NET-1: the installed filters as (slot, owner, program), in slot order."""
        return [(j, self.filter_owner[j], self.filter_code[j])
                for j in range(self.cfg.n_filters) if self.filter_valid[j]]

    def check_demux(self, source: str,
                    filters: list[tuple[int, int, tuple[tuple[int, int, int, int], ...]]]
                    ) -> object:
        """FLT-8: ``source`` against ``filters``, which the demux takes from the kernel's
        own filter table (``table``) — not from its copy of it, so a demux that mangles a
        program when it is added is caught too: the whole table, or one slot's entry for
        that filter's part — within ``CHECK_RLIMIT``. None if proved, else the finding
        (an exception here is a failed check too: the demux falls back)."""
        return check_source(source, filters)

    # ------------------------------------------------------------------ small predicates

    def live(self, e: int) -> bool:
        """ENV-1: ``e`` names a live environment."""
        return 0 <= e < self.cfg.n_envs and self.env_alive[e]

    def entry_of(self, e: int, vector: int) -> int:
        """ENV-3..ENV-5: ``e``'s entry point ``vector`` (NO_ENTRY for no such env)."""
        if 0 <= e < self.cfg.n_envs:
            return self.entry[e][vector]
        return NO_ENTRY

    def rights(self, e: int, page: int) -> int:
        """MEM-6: the rights ``e`` holds on ``page`` (0 for any id out of range)."""
        if 0 <= e < self.cfg.n_envs:
            return self.held[e].get(page, 0)
        return 0

    def set_rights(self, e: int, page: int, r: int) -> None:
        """MEM-3/MEM-6: ``e`` holds ``page`` with ``r`` (0: not at all)."""
        if r > 0:
            self.held[e][page] = r
            self.holders[page].add(e)
        else:
            self.held[e].pop(page, None)
            self.holders[page].discard(e)

    def gm_put(self, e: int, g: int, vpage: int, page: int, write: bool) -> None:
        """TLB-4: set guaranteed mapping ``g`` of ``e``."""
        self.gm_drop(e, g)
        self.gm_valid[e][g] = True
        self.gm_vpage[e][g], self.gm_page[e][g], self.gm_write[e][g] = vpage, page, write
        self.gm_by_page.setdefault(page, set()).add((e, g))

    def gm_drop(self, e: int, g: int) -> None:
        """TLB-5/TLB-9: invalidate guaranteed mapping ``g`` of ``e``."""
        if not self.gm_valid[e][g]:
            return
        self.gm_valid[e][g] = False
        bucket = self.gm_by_page.get(self.gm_page[e][g])
        if bucket is not None:
            bucket.discard((e, g))
            if not bucket:
                del self.gm_by_page[self.gm_page[e][g]]

    # ------------------------------------------------------------------ observation

    def observe(self) -> dict[str, Any]:
        """The state in the model's field vocabulary (``exo.kit.conformance``)."""
        c = self.cfg
        E = c.n_envs
        out: dict[str, Any] = {
            "env_alive": dict(enumerate(self.env_alive)),
            "env_cid": dict(enumerate(self.env_cid)),
            "cid_env": dict(enumerate(self.cid_env)),
            "entry": {(e, v): x for e in range(E) for v, x in enumerate(self.entry[e])
                      if x != NO_ENTRY},
            "owner": dict(enumerate(self.owner)),
            "gen": dict(enumerate(self.gen)),
            "rights": {(e, p): r for e in range(E) for p, r in self.held[e].items()},
            "word": {(p, w): x for p in range(c.n_pages) if self.owner[p] != FREE
                     for w, x in enumerate(self.word[p]) if x != 0},
            **self.tlb.observe("tlb"),
            **self.stlb.observe("stlb"),
            "gm_valid": {}, "gm_vpage": {}, "gm_page": {}, "gm_write": {},
            "cur_env": self.cur_env, "hw_cid": self.hw_cid, "pc": self.pc, "epc": self.epc,
            "cause": self.cause, "badvpage": self.badvpage,
            "regs": dict(enumerate(self.regs)), "now": self.now,
            "slice_owner": dict(enumerate(self.slice_owner)),
            "cur_slice": self.cur_slice, "slice_left": self.slice_left,
            "excess": dict(enumerate(self.excess)),
            "rev_pending": dict(enumerate(self.rev_pending)),
            "rev_kind": {e: self.rev_kind[e] for e in range(E) if self.rev_pending[e]},
            "rev_target": {e: self.rev_target[e] for e in range(E) if self.rev_pending[e]},
            "rev_deadline": {e: self.rev_deadline[e] for e in range(E)
                             if self.rev_pending[e]},
            "repo_page": {(e, p): True for e in range(E) for p in self.repo_page[e]},
            "repo_slice": {(e, q): True for e in range(E) for q in self.repo_slice[e]},
            "repo_exc": dict(enumerate(self.repo_exc)),
            "repo_filter": {(e, f): True for e in range(E) for f in self.repo_filter[e]},
            "filter_valid": dict(enumerate(self.filter_valid)),
            "filter_owner": {f: self.filter_owner[f] for f in range(c.n_filters)
                             if self.filter_valid[f]},
            "filter_code": {f: self.filter_code[f] for f in range(c.n_filters)
                            if self.filter_valid[f]},
            "rx_head": dict(enumerate(self.rx_head)),
            "rx_count": dict(enumerate(self.rx_count)),
            "rx_pkt": {(e, (self.rx_head[e] + i) % c.ring_size):
                       self.rx_pkt[e][(self.rx_head[e] + i) % c.ring_size]
                       for e in range(E) for i in range(self.rx_count[e])},
            "rx_drops": dict(enumerate(self.rx_drops)),
            "kernel_drops": self.kernel_drops,
        }
        for e in range(E):
            for g in range(c.n_guaranteed):
                if self.gm_valid[e][g]:
                    out["gm_valid"][e, g] = True
                    out["gm_vpage"][e, g] = self.gm_vpage[e][g]
                    out["gm_page"][e, g] = self.gm_page[e][g]
                    out["gm_write"][e, g] = self.gm_write[e][g]
        return out
