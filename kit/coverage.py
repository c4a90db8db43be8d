"""Behaviour coverage of the conformance kit: which of the spec's behaviours a run exercised.

The coverage space is read from the spec, not written by hand twice:

* ``status`` cells: every (operation, status) pair its clause names in its **Requires.**
  and **Returns.** paragraphs (``alloc`` / ``IN_USE`` from MEM-1, …);
* ``outcome`` cells: every ``Outcome`` its clause's **Returns.** paragraph names,
  following "as for MEM-4" to the clause it points at (``load`` / ``REFILL_STLB``, …);
* ``case`` cells: the named situations the clauses describe that no status or outcome
  shows on its own: a grantee's binding broken by the owner's Dealloc (MEM-2), abort of
  the slice in progress (REV-3), a repossession exception delivered later (REV-4), a
  slice begun in debt (CPU-5), … — each a predicate on one step
  ``(pre, operation, args, result, post)`` of the model, listed in ``CASES``.

Every cell carries its clause id. ``Coverage.record`` classifies one lockstep step; the
kit prints ``Coverage.table()`` at the end of ``exo check`` and writes ``as_json()``.
Which cells are reachable is shown, not assumed: ``exo.kit.witnesses`` holds a
concrete program for every cell, and a test replays each one on the model (spec GEN-6).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from exo.interface import (
    FREE,
    OPERATIONS,
    TRAPS,
    Cap,
    ExcKind,
    Outcome,
    Resource,
    Result,
    Status,
    acts_for_caller,
    admit,
)
from exo.model import State
from exo.model.exceptions import RAISABLE
from exo.model.filters import evaluate
from exo.spec.cells import Cell, sentence_cells, sentences_of, spec_cells
from exo.spec.clauses import ORDER

Predicate = Callable[[State, str, tuple[Any, ...], Result, State], bool]


# --------------------------------------------------------------------------- named cases


def _ok(res: Result) -> bool:
    return type(res.status) in (int, Status) and res.status == Status.OK


def _outcome(res: Result, *which: Outcome) -> bool:
    return _ok(res) and res.value in [int(w) for w in which]


def _page_of(arg: Any, s: State) -> int:
    page = arg.page if type(arg) is Cap else -1
    return page if type(page) is int and 0 <= page < s.cfg.n_pages else -1


def _holders(s: State, page: int) -> set[int]:
    """Context ids with a TLB or STLB entry for ``page``."""
    out: set[int] = set()
    for slot in range(s.cfg.tlb_size):
        if s.tlb_valid[slot] and s.tlb_page[slot] == page:
            out.add(s.tlb_cid[slot])
    for slot in range(s.cfg.stlb_size):
        if s.stlb_valid[slot] and s.stlb_page[slot] == page:
            out.add(s.stlb_cid[slot])
    return out


def _grantee_binding_broken(pre: State, name: str, args: tuple[Any, ...], res: Result,
                            post: State) -> bool:
    if name not in ("dealloc", "abort") or not _ok(res):
        return False
    if name == "dealloc":
        page, env = _page_of(args[1], pre), args[0]
    else:
        env = args[0]
        if pre.rev_kind[env] != Resource.PAGE:
            return False
        page = pre.rev_target[env]
    if page < 0:
        return False
    own_cid = pre.env_cid[env]
    return any(c != own_cid for c in _holders(pre, page))


def _grantee_maps(pre: State, name: str, args: tuple[Any, ...], res: Result,
                  post: State) -> bool:
    if name not in ("tlbwr", "gm_set") or not _ok(res):
        return False
    page = _page_of(args[-2], pre)
    return page >= 0 and pre.owner[page] != args[0]


def _grantee_access(pre: State, name: str, args: tuple[Any, ...], res: Result,
                    post: State) -> bool:
    """A load or store that went through a binding of a page the running env does not own."""
    if name not in ("load", "store") or not _outcome(
            res, Outcome.ACCESS, Outcome.REFILL_STLB, Outcome.REFILL_GUARANTEED):
        return False
    env = pre.cur_env
    return any(post.tlb_valid[t] and post.tlb_cid[t] == pre.hw_cid
               and post.tlb_vpage[t] == args[0] and post.owner[post.tlb_page[t]] != env
               for t in range(pre.cfg.tlb_size))


def _eviction(table: str) -> Predicate:
    """A valid entry of ``table`` (``tlb`` or ``stlb``) for another (context, virtual page)
    was overwritten."""
    def pred(pre: State, name: str, args: tuple[Any, ...], res: Result, post: State) -> bool:
        valid, cid, vpage = (getattr(pre, f"{table}_{f}") for f in ("valid", "cid", "vpage"))
        now_valid, now_cid, now_vpage = (getattr(post, f"{table}_{f}")
                                         for f in ("valid", "cid", "vpage"))
        size = pre.cfg.tlb_size if table == "tlb" else pre.cfg.stlb_size
        return _ok(res) and any(
            valid[t] and now_valid[t] and (cid[t], vpage[t]) != (now_cid[t], now_vpage[t])
            for t in range(size))
    return pred


def _cause(kind: ExcKind) -> Predicate:
    def pred(pre: State, name: str, args: tuple[Any, ...], res: Result, post: State) -> bool:
        return (name in ("load", "store") and _outcome(res, Outcome.DELIVERED)
                and post.cause == kind)
    return pred


def _abort_at_deadline(pre: State, name: str, args: tuple[Any, ...], res: Result,
                       post: State) -> bool:
    """REV-3: abort on the deadline's own tick is refused (the deadline has not passed
    until ``now > rev_deadline``): the requirement's boundary."""
    if name != "abort" or res.status != Status.TOO_EARLY:
        return False
    env = args[0]
    return bool(pre.rev_pending[env] and pre.now == pre.rev_deadline[env])


def _destroy_after_page_reused(pre: State, name: str, args: tuple[Any, ...], res: Result,
                               post: State) -> bool:
    """REV-3, MEM-1, ENV-2: an environment is destroyed after a page was repossessed from
    it and another environment has allocated that page since; the page is not the
    destroyed environment's to free."""
    if name != "env_destroy" or not _ok(res):
        return False
    env = args[0]
    return any(pre.repo_page[env, p] and pre.owner[p] not in (FREE, env)
               for p in range(pre.cfg.n_pages))


def _abort_running_slice(pre: State, name: str, args: tuple[Any, ...], res: Result,
                         post: State) -> bool:
    if name != "abort" or not _ok(res):
        return False
    env = args[0]
    return bool(pre.rev_kind[env] == Resource.SLICE and pre.rev_target[env] == pre.cur_slice
                and pre.cur_env == env)


def _abort_kind(kind: Resource) -> Predicate:
    def pred(pre: State, name: str, args: tuple[Any, ...], res: Result, post: State) -> bool:
        return name == "abort" and _ok(res) and pre.rev_kind[args[0]] == kind
    return pred


def _repossession_delivered(pre: State, name: str, args: tuple[Any, ...], res: Result,
                            post: State) -> bool:
    """A repossession exception that waited was delivered when its env ran again."""
    return name != "abort" and any(
        pre.repo_exc[e] and not post.repo_exc[e] and post.env_alive[e]
        for e in range(pre.cfg.n_envs))


def _slice_in_debt(pre: State, name: str, args: tuple[Any, ...], res: Result,
                   post: State) -> bool:
    """A slice began for an environment with excess time to repay (CPU-5)."""
    return any(pre.excess[e] > post.excess[e] and post.env_alive[e]
               for e in range(pre.cfg.n_envs))


def _destroy_running(pre: State, name: str, args: tuple[Any, ...], res: Result,
                     post: State) -> bool:
    return name == "env_destroy" and _ok(res) and pre.cur_env == args[0]


def _ring_wraps(pre: State, name: str, args: tuple[Any, ...], res: Result,
                post: State) -> bool:
    """A packet was delivered into a ring slot after the ring's head had moved."""
    return (name == "packet_arrive" and _outcome(res, Outcome.RX_DELIVERED)
            and any(post.rx_count[e] > pre.rx_count[e] and pre.rx_head[e] > 0
                    for e in range(pre.cfg.n_envs)))


def _pct_to_other(kind: str) -> Predicate:
    def pred(pre: State, name: str, args: tuple[Any, ...], res: Result, post: State) -> bool:
        return name == kind and _ok(res) and args[0] != pre.cur_env
    return pred


def _grant_to_other(pre: State, name: str, args: tuple[Any, ...], res: Result,
                    post: State) -> bool:
    return name == "grant" and _ok(res) and args[0] != args[2]


def _filter_packet_delivered_to_other(pre: State, name: str, args: tuple[Any, ...],
                                      res: Result, post: State) -> bool:
    """With filters of two environments installed, a packet went to one of them."""
    owners = {pre.filter_owner[f] for f in range(pre.cfg.n_filters) if pre.filter_valid[f]}
    return (name == "packet_arrive" and _outcome(res, Outcome.RX_DELIVERED)
            and len(owners) >= 2)


def _cid_switch_with_bindings(pre: State, name: str, args: tuple[Any, ...], res: Result,
                              post: State) -> bool:
    if name != "cid_switch" or not _ok(res):
        return False
    old = pre.env_cid[args[0]]
    return any(pre.stlb_valid[t] and pre.stlb_cid[t] == old
               for t in range(pre.cfg.stlb_size))


def _removed_filter_match(pre: State, name: str, args: tuple[Any, ...], res: Result,
                          post: State) -> bool:
    """A packet that only the last program of a free filter slot accepts arrived: the
    removed (or aborted, or destroyed) filter no longer receives it, so the kernel drops
    it (RX_NO_MATCH)."""
    if (name != "packet_arrive" or not isinstance(args[0], bytes | bytearray)
            or not _outcome(res, Outcome.RX_NO_MATCH)):
        return False
    packet = bytes(args[0])
    for f in range(pre.cfg.n_filters):
        code = pre.filter_code[f]
        if pre.filter_valid[f] or not isinstance(code, tuple) or not code:
            continue
        if evaluate(code, packet) != 0:  # filter_code only holds verified programs
            return True
    return False


def _take_from_several(pre: State, name: str, args: tuple[Any, ...], res: Result,
                       post: State) -> bool:
    """A packet was taken from a ring holding two or more packets that differ, so the
    order of the ring (oldest first) decides which one is returned."""
    if name != "packet_take" or not _ok(res):
        return False
    env, c = args[0], pre.cfg
    count = pre.rx_count[env]
    waiting = {pre.rx_pkt[env, (pre.rx_head[env] + i) % c.ring_size] for i in range(count)}
    return count >= 2 and len(waiting) >= 2


def _free_slice_in_progress(pre: State, name: str, args: tuple[Any, ...], res: Result,
                            post: State) -> bool:
    """The running environment freed the slice in progress (its instance runs out)."""
    return (name == "slice_free" and _ok(res) and args[1] == pre.cur_slice
            and args[0] == pre.cur_env)


def _raise_kernel_kind(kind: ExcKind) -> Predicate:
    def pred(pre: State, name: str, args: tuple[Any, ...], res: Result,
             post: State) -> bool:
        """Running code asked to raise ``kind``, which only the kernel raises (EXC-1)."""
        return (name == "raise_exception" and pre.cur_env >= 0 and type(args[0]) is int
                and args[0] == kind and kind not in RAISABLE)
    return pred


_ARG_TYPES = (int, bool, bytes, tuple, Cap)


def _wrong_type(pre: State, name: str, args: tuple[Any, ...], res: Result,
                post: State) -> bool:
    """GEN-1: an argument of no type the interface takes (a str, a float, None, ...) was
    refused with INVALID_ARGUMENT."""
    return (res.status == Status.INVALID_ARGUMENT
            and any(type(a) not in _ARG_TYPES for a in args))


def _trap_case(which: str) -> Predicate:
    """GEN-6: a trap step (``name`` "trap", ``args`` the system call and its arguments
    without ``env``) that ended as ``which`` says."""

    def pred(pre: State, name: str, args: tuple[Any, ...], res: Result, post: State) -> bool:
        if name != "trap" or not args or type(args[0]) is not str:
            return False
        op, known = args[0], args[0] in TRAPS
        status = res.status
        if which == "not-a-system-call":
            return not known and status == Status.INVALID_ARGUMENT
        if not known or admit(TRAPS[op], tuple(args[1:])) is None:
            return False
        if which == "idle":
            return bool(pre.cur_env == FREE and status == Status.NOT_RUNNING)
        if pre.cur_env == FREE:
            return False
        if which == "refused-by-the-call":
            return bool(status != Status.OK)
        return status == Status.OK and (acts_for_caller(op) == (which == "for-the-caller"))

    return pred


CASES: tuple[tuple[Cell, Predicate], ...] = (
    (Cell("case/GEN-6/not-a-system-call", "GEN-6", "named",
          "a trap names a hardware event or a kernel operation: INVALID_ARGUMENT"),
     _trap_case("not-a-system-call")),
    (Cell("case/GEN-6/idle", "GEN-6", "named",
          "a trap while the CPU idles: NOT_RUNNING, there is no caller"), _trap_case("idle")),
    (Cell("case/GEN-6/for-the-caller", "GEN-6", "named",
          "a system call that names its caller, made through the trap: it acts for cur_env"),
     _trap_case("for-the-caller")),
    (Cell("case/GEN-6/transfer", "GEN-6", "named",
          "yield_to, scall or acall made through the trap"), _trap_case("transfer")),
    (Cell("case/GEN-6/refused-by-the-call", "GEN-6", "named",
          "a trap the system call itself refuses (its own checks, for the running caller)"),
     _trap_case("refused-by-the-call")),
    (Cell("case/GEN-1/wrong-type", "GEN-1", "named",
          "an argument of a type the interface never takes (str, float, None) is refused"),
     _wrong_type),
    (Cell("case/MEM-2/grantee-binding-broken", "MEM-2", "named",
          "the owner's dealloc (or an abort of the page) breaks another context's TLB or "
          "STLB entry for the page"), _grantee_binding_broken),
    (Cell("case/MEM-3/grant-to-other", "MEM-3", "named",
          "an owner grants a page to another environment"), _grant_to_other),
    (Cell("case/TLB-1/grantee-maps", "TLB-1", "named",
          "a grantee binds a page it does not own (tlbwr or gm_set)"), _grantee_maps),
    (Cell("case/TLB-8/grantee-access", "TLB-8", "named",
          "a load or store goes through a binding of a page the running env does not own"),
     _grantee_access),
    (Cell("case/TLB-6/tlb-eviction", "TLB-6", "named",
          "a valid TLB entry of another (context, virtual page) is overwritten"),
     _eviction("tlb")),
    (Cell("case/TLB-7/stlb-eviction", "TLB-7", "named",
          "a valid STLB entry of another (context, virtual page) is overwritten"),
     _eviction("stlb")),
    (Cell("case/TLB-3/cid-switch-with-bindings", "TLB-3", "named",
          "an environment changes context id while the STLB holds its entries"),
     _cid_switch_with_bindings),
    (Cell("case/EXC-2/tlb-miss-delivered", "EXC-2", "named",
          "a load or store misses everywhere and the TLB_MISS handler gets it"),
     _cause(ExcKind.TLB_MISS)),
    (Cell("case/MEM-5/protection-fault", "MEM-5", "named",
          "a store through a read-only binding is a protection fault delivered"),
     _cause(ExcKind.PROTECTION)),
    (Cell("case/ENV-2/destroy-running", "ENV-2", "named",
          "the running environment is destroyed"), _destroy_running),
    (Cell("case/REV-3/abort-running-slice", "REV-3", "named",
          "abort takes the slice in progress from the environment running it"),
     _abort_running_slice),
    (Cell("case/REV-3/abort-at-deadline", "REV-3", "named",
          "abort on the deadline's own tick is too early (the deadline has not passed)"),
     _abort_at_deadline),
    (Cell("case/ENV-2/destroy-after-page-reused", "ENV-2", "named",
          "an environment is destroyed after a page repossessed from it went to another "
          "environment"), _destroy_after_page_reused),
    (Cell("case/REV-3/abort-page", "REV-3", "named", "abort takes a page"),
     _abort_kind(Resource.PAGE)),
    (Cell("case/REV-3/abort-slice", "REV-3", "named", "abort takes a slice"),
     _abort_kind(Resource.SLICE)),
    (Cell("case/REV-3/abort-filter", "REV-3", "named", "abort takes a packet filter"),
     _abort_kind(Resource.FILTER)),
    (Cell("case/REV-4/repossession-delivered-later", "REV-4", "named",
          "a repossession exception that waited is delivered when its environment runs"),
     _repossession_delivered),
    (Cell("case/CPU-5/slice-in-debt", "CPU-5", "named",
          "a slice begins for an environment with excess time to repay"), _slice_in_debt),
    (Cell("case/EXC-1/raise-tlb-miss", "EXC-1", "named",
          "running code raises TLB_MISS, which only the kernel raises"),
     _raise_kernel_kind(ExcKind.TLB_MISS)),
    (Cell("case/EXC-1/raise-repossession", "EXC-1", "named",
          "running code raises REPOSSESSION, which only the kernel raises"),
     _raise_kernel_kind(ExcKind.REPOSSESSION)),
    (Cell("case/CPU-2/free-slice-in-progress", "CPU-2", "named",
          "the running environment frees the slice in progress"), _free_slice_in_progress),
    (Cell("case/PCT-1/scall-other", "PCT-1", "named",
          "a synchronous protected call to another environment"), _pct_to_other("scall")),
    (Cell("case/PCT-2/acall-other", "PCT-2", "named",
          "an asynchronous protected call to another environment"), _pct_to_other("acall")),
    (Cell("case/NET-3/two-owners-demux", "NET-3", "named",
          "a packet is demultiplexed among filters of two or more environments"),
     _filter_packet_delivered_to_other),
    (Cell("case/NET-2/removed-filter-match", "NET-2", "named",
          "a packet that only a removed filter's program accepts arrives (dropped)"),
     _removed_filter_match),
    (Cell("case/NET-4/take-oldest", "NET-4", "named",
          "a packet is taken from a ring holding two or more different packets"),
     _take_from_several),
    (Cell("case/NET-4/ring-wraps", "NET-4", "named",
          "a packet lands in a receive ring whose head has moved (the ring wraps)"),
     _ring_wraps),
)
"""The named situations of the clauses, each with the predicate that recognizes it."""


UNREACHABLE: frozenset[str] = frozenset({
    "set_exception_context/NO_ENTRY",
    "set_interrupt_context/NO_ENTRY",
    "set_protected_entry/NO_ENTRY",
    # the environment an exception or the timer kills is the one running (EXC-2, CPU-4)
    "load/branch/was-running=no",
    "store/branch/was-running=no",
    "raise_exception/branch/was-running=no",
    "timer_tick/branch/was-running=no",
})
"""Cells of the space that no state satisfying the invariants can produce, for any size and
any arguments: proved by ``exo.proofs.coverage.decide`` (Z3 on the model's transition)
or ``decide_sentence`` (on the declarative text), and the proofs are re-run by
``tests/test_coverage.py``, which also shows every other cell possible. ENV-3..ENV-5
name ``NO_ENTRY`` as the value that unregisters an entry point, not as a status they
return."""


@lru_cache(maxsize=1)
def all_cells() -> tuple[Cell, ...]:
    """The whole coverage space: the spec's status and outcome cells, the named cases,
    then every requirement, case and branch side of the declarative text."""
    return spec_cells() + tuple(c for c, _ in CASES) + sentence_cells()


def cells_of(pre: State, name: str, args: tuple[Any, ...], res: Result,
             post: State) -> list[str]:
    """The cells one model step hits (``args`` as the model received them). A step with
    arguments the model refused by type hits only its status cell."""
    st = res.status
    try:
        status = Status(st).name
    except (ValueError, TypeError):
        return []
    if name == "trap":  # GEN-6: the trap's own cells, then the system call's if it ran
        hit = [c.id for c, pred in CASES[:len(_TRAP_CELLS)] if pred(pre, name, args, res, post)]
        op = args[0] if args and type(args[0]) is str else None
        if op in TRAPS and pre.cur_env != FREE and admit(TRAPS[op], tuple(args[1:])
                                                         ) is not None:
            call = (pre.cur_env, *args[1:]) if acts_for_caller(op) else tuple(args[1:])
            hit += cells_of(pre, op, call, res, post)
        return hit
    hit = [f"{name}/{status}", *sentences_of(pre, name, args)]
    if status == "OK" and name in _OUTCOME_OPS and type(res.value) is int and (
            res.value in _OUTCOME_NAMES):
        hit.append(f"{name}/OK/{_OUTCOME_NAMES[res.value]}")
    if status in ("OK", "INVALID_ARGUMENT") or name in _CASES_ON_FAILURE:
        for cell, pred in CASES:
            try:
                if pred(pre, name, args, res, post):
                    hit.append(cell.id)
            except (TypeError, KeyError, IndexError, AttributeError):
                continue  # a hostile argument the predicate cannot read: not that case
    return hit


_TRAP_CELLS = ("not-a-system-call", "idle", "for-the-caller", "transfer",
               "refused-by-the-call")
"""The GEN-6 cells, the first entries of ``CASES``."""
_CASES_ON_FAILURE = frozenset({"dealloc", "abort", "raise_exception"})
"""Operations whose failed steps can still be a named case (besides GEN-1's
INVALID_ARGUMENT, the others' cases all need OK)."""
_OUTCOME_NAMES = {o.value: o.name for o in Outcome}
_OUTCOME_OPS = frozenset(c.id.split("/")[0] for c in spec_cells() if c.kind == "outcome")


def ops_of(cell: Cell) -> frozenset[str]:
    """The operations a cell belongs to: its first part for an operation's cell
    (``alloc/IN_USE``, ``load/branch/handler=no``), the operations of its clause for a
    named case (``case/MEM-2/...``)."""
    head = cell.id.split("/", 1)[0]
    if head in OPERATIONS:
        return frozenset({head})
    if cell.clause == "GEN-6":  # the trap layer (``--ops trap``)
        return frozenset({"trap"})
    return frozenset(op for op, sig in OPERATIONS.items() if sig.clause == cell.clause)


@dataclass
class Coverage:
    """Counts of each cell hit over a run; the first call that hit it.

    ``ops``: the operations the run calls (``exo check --ops``); a cell of no such
    operation is *excluded*, neither missing nor counted as reachable. ``unreachable``:
    the cells no state can produce (``UNREACHABLE``, plus those proved for the run's
    sizes when it fixes them)."""

    counts: dict[str, int] = field(default_factory=dict)
    first: dict[str, str] = field(default_factory=dict)
    ops: frozenset[str] | None = None
    unreachable: frozenset[str] = UNREACHABLE
    beyond: frozenset[str] = frozenset()
    profile: str = "solver"
    outside: frozenset[str] = frozenset()

    def excluded(self, cell: Cell) -> bool:
        """The cell is outside the run's operations (``ops``), or (``beyond``) it is a
        cell of one of them that the witness programs cut to them do not reach: setting
        it up needs another operation (``exo.kit.witnesses.reach``); or (``outside``) the
        run's filter profile leaves it out (``exo.kit.profiles``)."""
        return cell.id in self.outside or (self.ops is not None and (
            not (ops_of(cell) & self.ops) or cell.id in self.beyond))

    def in_scope(self) -> list[Cell]:
        """The reachable cells of the run's scope: the space minus the unreachable and
        the excluded ones."""
        return [c for c in all_cells()
                if c.id not in self.unreachable and not self.excluded(c)]

    def record(self, pre: State, name: str, args: tuple[Any, ...], res: Result,
               post: State, call: str = "") -> list[str]:
        hit = cells_of(pre, name, args, res, post)
        for cid in hit:
            if cid not in self.counts:
                self.first[cid] = call
            self.counts[cid] = self.counts.get(cid, 0) + 1
        return hit

    def merge(self, other: Coverage) -> None:
        for cid, n in other.counts.items():
            if cid not in self.counts:
                self.first[cid] = other.first.get(cid, "")
            self.counts[cid] = self.counts.get(cid, 0) + n

    def missing(self, cells: Iterable[Cell] | None = None) -> list[Cell]:
        """The reachable cells of the scope not hit (proved-unreachable and excluded
        cells are not missing)."""
        return [c for c in (cells if cells is not None else all_cells())
                if c.id not in self.counts and c.id not in self.unreachable
                and not self.excluded(c)]

    def summary(self) -> tuple[int, int]:
        """(reachable cells of the scope hit, reachable cells of the scope)."""
        space = self.in_scope()
        return sum(1 for c in space if c.id in self.counts), len(space)

    def state_of(self, cell: Cell) -> str:
        """The table's word for a cell: its hit count, MISSING, excluded or unreachable."""
        if cell.id in self.unreachable:
            return "unreachable (proved)"
        if cell.id in self.outside:
            return f"outside --filters {self.profile}"
        if self.excluded(cell):
            return "beyond --ops" if cell.id in self.beyond else "excluded (--ops)"
        n = self.counts.get(cell.id, 0)
        return str(n) if n else "MISSING"

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(clause, cell id, kind, hits or MISSING or excluded or unreachable) for every
        cell."""
        return [(c.clause, c.id, c.kind, self.state_of(c)) for c in all_cells()]

    def clauses(self) -> list[tuple[str, int, int, int, int]]:
        """Per clause, in the spec's order: (clause, cells hit, reachable cells of the
        scope, cells proved unreachable, cells excluded by ``--ops``)."""
        table: dict[str, list[int]] = {}
        for c in all_cells():
            row = table.setdefault(c.clause, [0, 0, 0, 0])
            if c.id in self.unreachable:
                row[2] += 1
            elif self.excluded(c):
                row[3] += 1
            else:
                row[1] += 1
                row[0] += c.id in self.counts
        return [(k, v[0], v[1], v[2], v[3])
                for k, v in sorted(table.items(), key=lambda kv: _clause_key(kv[0]))]

    def as_json(self) -> dict[str, Any]:
        hit, total = self.summary()
        return {
            "hit": hit,
            "reachable": total,
            "cells": len(all_cells()),
            "ops": sorted(self.ops) if self.ops is not None else None,
            "filters": self.profile,
            "outside_filters": sorted(self.outside),
            "clauses": [{"clause": k, "hit": h, "reachable": r, "unreachable": u,
                         "excluded": x} for k, h, r, u, x in self.clauses()],
            "table": [{"clause": c.clause, "cell": c.id, "kind": c.kind, "text": c.text,
                       "hits": self.counts.get(c.id, 0),
                       "reachable": c.id not in self.unreachable,
                       "excluded": self.excluded(c)} for c in all_cells()],
            "missing": [c.id for c in self.missing()],
            "excluded": [c.id for c in all_cells() if self.excluded(c)],
            "beyond_ops": sorted(self.beyond),
            "unreachable": sorted(self.unreachable),
        }


def _clause_key(clause: str) -> tuple[int, str, int]:
    """A clause id in the spec's reading order (``exo.spec.clauses.ORDER``)."""
    prefix, _, number = clause.partition("-")
    rank = ORDER.index(prefix) if prefix in ORDER else len(ORDER)
    return rank, prefix, int(number) if number.isdigit() else 0
