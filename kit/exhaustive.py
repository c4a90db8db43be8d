"""Exhaustive small-scope checking, as TLC does for TLA+ specs (issue 27).

``explore(factory, TINY, depth)`` runs *every* program of up to ``depth`` calls, over the
small argument domains below, against ``factory(cfg)`` in lockstep with the model,
breadth first. Random generation finds a bug when it happens to build the bug's
preconditions; here, under the small-scope hypothesis (most bugs show on small
instances), every state within ``depth`` calls of boot at ``TINY`` is visited and every
call of the domains is made in it.

**What a program is checked for.** Every call is one ``exo.kit.lockstep.Lockstep`` step:
the implementation's result against the model's and its observation against the model's
state (GEN-5); a trap step (GEN-6) also has its change checked against its actor's
authority (NI-2) and its caller's view (GEN-7). After every program that changed the
model's state, the model's invariants (``Lockstep.model_holds``) and every environment's
view (``Lockstep.views``) are checked, as the kit's machine does at the end of a
program. The first failing program of a run is the shortest (breadth-first order),
then minimized (``exo.kit.replay.minimize``).

**Pruning.** A program is only extended when it reaches a state not seen before. States
are compared by their canonical key: the sha256 digest of the *model's* observation
(``exo.model.kernel.observation``, GEN-5), taken in its least form over the symmetries
below. The implementation's observation is compared with the model's after every call,
so within the observation the two agree; but state an implementation keeps and does not
show (an index, a cache, a cursor) may differ between two paths to the same observed
state, and only the first path is extended. A bug that needs such hidden state built by
the second path is found only if some other path builds it too: this is the limit of
pruning by observation, as of any model checker that hashes only visible state.

**Symmetry reduction.** A permutation of environment ids, of physical page numbers and
— when the TLB and the STLB have one slot each, so that ``tlb_index`` and
``stlb_index`` do not depend on the context id — of context ids, applied to every field
that holds such a name (as a key or as a value: ``owner``, ``env_cid``, ``cid_env``,
``tlb_page``, ``rev_target`` of a page request, ...), maps a reachable state to a
reachable state and the argument domains below onto themselves: nothing in the model
orders environments or pages (scheduling follows the slice vector, which is not
permuted; a capability's page is a name). Slots are *not* permuted beyond that: the
model takes the lowest free filter slot (NET-1), the first valid guaranteed mapping
(TLB-8) and the slices round robin (CPU-5), so their numbers matter; at ``TINY`` the
TLB, STLB and guaranteed mappings have one slot each, where the question does not
arise. ``tests/test_exhaustive.py`` checks the reduction loses no state: the canonical
images of the states an unreduced run reaches are exactly the states the reduced run
reaches.

**Argument domains** (``calls``), a function of the model's state so that two paths to
one state are extended by the same calls (pruning would otherwise lose programs). Each
argument has a few in-range values and, where a clause has a boundary, one hostile
value; a call takes every combination of in-range values, plus each hostile value in
one argument at a time (the environment, page and context-id arguments beside it still
ranging over all their values, so the domain stays closed under the symmetries):

* environments (``env``, ``grantee``, ``callee``): every id, hostile ``n_envs`` (GEN-1:
  the first id out of range, where an off-by-one range test shows); ``yield_to`` also
  ``-1`` (CPU-3: the next slice);
* context ids and slices: every one, hostile the first out of range; pages for
  ``alloc``: every one, hostile ``n_pages``;
* capabilities (MEM-6): for every page the capability of its current generation with
  full rights (the owner's, or a forged one for a free page) and, for a page in use,
  with read rights only (what ``grant`` hands out: NO_PERMISSION for a write), and the
  one of the previous generation when the page was ever freed (stale); hostile a
  capability of page ``n_pages``;
* virtual pages 0 and 1 (they share the one TLB slot: eviction and refill), hostile
  ``addr_limit`` (TLB-1); offsets and registers every one, hostile the first out of
  range (MEM-4, CPU-6); the value stored 7;
* exception kinds: TLB_MISS, OVERFLOW, PROTECTION, REPOSSESSION (the kinds the kernel
  or user code can raise; UNALIGNED and COPROC behave as OVERFLOW), hostile
  ``NUM_EXCEPTIONS`` (EXC-1); interrupt and protected entries 0 and 1, hostile 2;
  entry addresses ``0x100`` and ``NO_ENTRY`` (unregister), hostile ``addr_limit``
  (GEN-3);
* ``grant`` rights READ and READWRITE, hostile 3 (MEM-3); ``revoke_request`` every
  resource kind, targets 0 and 1, deadline ``now + 1``; hostile resource 3, target 2
  (out of range for pages, slices and filters at ``TINY``) and deadline ``now`` (REV-1:
  it must lie in the future);
* filters (NET-1): "byte 0 is 0", "byte 0 is 1" (disjoint from it) and "accept all"
  (overlaps both), hostile a program the verifier refuses (FLT-2); filter slots every
  one, hostile ``n_filters``; packets ``00`` and ``01`` (each accepted by one filter),
  hostile the empty packet (FLT-4: the load is out of bounds);
* traps (GEN-6), when the implementation offers ``trap``: with an environment running,
  every system call with the domains above less ``env``; while the CPU idles, one
  (``alloc``) — every trap then ends at NOT_RUNNING after the same kind checks; and
  always a trap of a hardware event and one naming its caller (both INVALID_ARGUMENT);
* GEN-1: ``alloc`` with a string for the environment, ``timer_tick`` with an argument,
  ``env_create`` with one argument short and ``packet_arrive`` with a string.

**Sharding.** ``shards(cfg, k, depth)`` splits a run into ``k`` independent shards from
the model alone. Every shard first searches the first ``split_level(depth)`` levels
(``depth - 1``) on the model alone, which tells it every state of those levels and the
programs that reach them (the model alone is several times cheaper than the lockstep
run: about 3 s for depth 4 at ``TINY``, against 15 s); the programs of those levels go to
shard ``i % k`` by their index in breadth-first order, and the new states of the last
of them (the roots of the last level) by their index too. Each shard then runs its
programs in lockstep and extends its roots by every call. No program runs in two shards
and no state is extended twice: the shards' programs add up to the unsharded run's, and
the union of their states is its set of states. A shard's programs do not depend on
which process runs it.

**Cost.** Implementation state cannot be copied in general (a wire kernel lives in
another process), so a state is extended by replaying its path on a fresh
``factory(cfg)`` (every replayed call checked again, and counted in ``steps``). A call
that leaves the model's state as it was (a refused call: GEN-2) leaves the
implementation where it was too, its observation just compared equal, so the next call
is made on the same implementation without a replay. When a failure then shows, the
short program (path and call) is replayed alone first; if it passes, the failing program
is the whole sequence of calls that implementation received.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from exo.interface import (
    FREE,
    NO_ENTRY,
    NUM_EXCEPTIONS,
    OPERATIONS,
    TRAPS,
    Cap,
    Config,
    ExcKind,
    Resource,
    Rights,
    acts_for_caller,
)
from exo.kit.bringup import fields_for
from exo.kit.coverage import UNREACHABLE, Coverage
from exo.kit.explore import PROGRAMS
from exo.kit.lockstep import TRAP, Factory, Failure, Lockstep, Step
from exo.kit.profiles import OUTSIDE, admits
from exo.kit.profiles import problem as profile_problem
from exo.kit.replay import minimize, replay
from exo.model import REGISTRY, State, initial
from exo.model.kernel import observation
from exo.model.state import SCALARS
from exo.model.trap import trap

__all__ = [
    "TINY",
    "ExhaustiveReport",
    "Shard",
    "calls",
    "canonical",
    "explore",
    "merge",
    "model_step",
    "reach",
    "shards",
    "split_level",
    "within_domains",
]

TINY = Config(n_envs=2, n_pages=2, page_words=1, tlb_size=1, stlb_size=1, n_cids=2,
              n_slices=2, n_guaranteed=1, n_regs=1, slice_ticks=1, excess_limit=0,
              n_filters=2, ring_size=1)
"""The configuration ``exo check --exhaustive`` runs by default. Two environments (the
least for isolation: a grantee, a callee, another filter's owner), two pages and two
context ids (sharing, reuse after Dealloc; one of each would make every binding
trivially its page's), one TLB slot and one STLB slot (every binding evicts the last:
eviction and refill in two calls, and context ids become symmetric), two slices of one
tick (a slice ends, the next begins and excess is charged within a few ticks; with
``excess_limit`` 0 the first overrun kills), one word per page and one register (the
data path, with the first index out of range hostile), one guaranteed mapping each, two
filter slots (two environments' filters side by side, the NET-1 overlap refusal, the
lowest free slot) and a receive ring of one packet (full at the second)."""

def split_level(depth: int) -> int:
    """The level at which ``shards`` cuts a run of ``depth`` (see the module's docstring):
    ``depth - 1``, so that only the last level is extended from roots (at ``TINY``, 176
    roots for depth 4 and 1447 for depth 5: even shares for any ``k`` of a few), and
    every state of the levels before is known to every shard (none is extended twice)."""
    return max(1, depth - 1)

ENTRY = 0x100
"""The entry address the domains register (any address below ``addr_limit``)."""

VALUE = 7
"""The value ``set_reg`` writes (what a store then carries to memory)."""

FILTERS: tuple[tuple[tuple[int, int, int, int], ...], ...] = (PROGRAMS[0], PROGRAMS[1],
                                                              PROGRAMS[4])
"""NET-1's programs: byte 0 is 0, byte 0 is 1 (disjoint), accept all (overlaps both)."""

BAD_PROGRAM: tuple[tuple[int, int, int, int], ...] = PROGRAMS[7]
"""A program the verifier refuses: its jump leaves the program (FLT-2)."""

PACKETS: tuple[bytes, ...] = (b"\x00", b"\x01")
"""Packets each accepted by one of the byte filters (NET-3)."""

EXC_KINDS: tuple[int, ...] = (int(ExcKind.TLB_MISS), int(ExcKind.OVERFLOW),
                              int(ExcKind.PROTECTION), int(ExcKind.REPOSSESSION))
"""Exception kinds: the ones the kernel raises (a miss, a protection fault, a
repossession) and one user code raises."""

GEN1_CALLS: tuple[Step, ...] = (
    ("alloc", ("x", 2**64)),  # a string where an environment goes
    ("timer_tick", (0,)),  # one argument too many
    ("env_create", (2**64,)),  # one argument too few
    ("packet_arrive", ("x",)),  # a string where a packet goes
)
"""GEN-1: calls refused by kind or count (INVALID_ARGUMENT, nothing changes). Their
values name no environment or page, so the symmetries leave them as they are."""


# --------------------------------------------------------------------------- domains


@dataclass(frozen=True)
class _Arg:
    """One argument's domain: in-range values, hostile values, and whether the
    symmetries act on it (then it ranges over all its values beside a hostile one)."""

    valid: tuple[Any, ...]
    hostile: tuple[Any, ...] = ()
    named: bool = False


def _caps(s: State) -> tuple[Cap, ...]:
    """MEM-6: the capabilities a program may present in ``s`` (see the module's
    docstring)."""
    rw, read = int(Rights.READWRITE), int(Rights.READ)
    out: list[Cap] = []
    for p in range(s.cfg.n_pages):
        g = s.gen[p]
        out.append(Cap(p, g, rw))
        if s.owner[p] != FREE:
            out.append(Cap(p, g, read))
        if g > 0:
            out.append(Cap(p, g - 1, rw))
    return tuple(out)


def _domains(s: State, name: str) -> list[_Arg]:
    """The domain of each argument of operation ``name`` in state ``s``."""
    c = s.cfg
    envs = _Arg(tuple(range(c.n_envs)), (c.n_envs,), True)
    kinds: dict[str, _Arg] = {
        "env": envs, "grantee": envs, "callee": envs,
        "cid": _Arg(tuple(range(c.n_cids)), (c.n_cids,), True),
        "page": _Arg(tuple(range(c.n_pages)), (c.n_pages,), True),
        "cap": _Arg(_caps(s), (Cap(c.n_pages, 0, int(Rights.READWRITE)),), True),
        "vpage": _Arg((0, 1), (c.addr_limit,)),
        "offset": _Arg(tuple(range(c.page_words)), (c.page_words,)),
        "reg": _Arg(tuple(range(c.n_regs)), (c.n_regs,)),
        "value": _Arg((VALUE,)),
        "exc": _Arg(EXC_KINDS, (NUM_EXCEPTIONS,)),
        "which": _Arg((0, 1), (2,)),
        "entry": _Arg((ENTRY, NO_ENTRY), (c.addr_limit,)),
        "writable": _Arg((True, False)),
        "slot": _Arg(tuple(range(c.n_guaranteed)), (c.n_guaranteed,)),
        "slice": _Arg(tuple(range(c.n_slices)), (c.n_slices,)),
        "rights": _Arg((int(Rights.READ), int(Rights.READWRITE)), (3,)),
        "resource": _Arg((int(Resource.PAGE), int(Resource.SLICE), int(Resource.FILTER)),
                         (3,)),
        "target": _Arg(tuple(range(max(c.n_pages, c.n_slices, c.n_filters))),
                       (max(c.n_pages, c.n_slices, c.n_filters),)),
        "deadline": _Arg((s.now + 1,), (s.now,)),
        "filter": _Arg(tuple(range(c.n_filters)), (c.n_filters,)),
        "program": _Arg(FILTERS, (BAD_PROGRAM,)),
        "packet": _Arg(PACKETS, (b"",)),
    }
    if name == "yield_to":
        return [_Arg((-1, *range(c.n_envs)), (c.n_envs,), True)]
    return [kinds[arg] for arg, _ in OPERATIONS[name].args]


def _combinations(args: list[_Arg]) -> Iterator[tuple[Any, ...]]:
    """Every combination of in-range values, then each hostile value in one argument at
    a time (the named arguments beside it over all their values, the others at their
    first)."""
    yield from itertools.product(*(a.valid for a in args))
    for i, a in enumerate(args):
        for h in a.hostile:
            rest = [b.valid if b.named else b.valid[:1] for b in args]
            rest[i] = (h,)
            yield from itertools.product(*rest)


def calls(s: State, traps: bool = True, ops: frozenset[str] | None = None,
          filters: str = "solver") -> list[Step]:
    """Every call the exhaustive search makes in state ``s``, in a fixed order: each
    operation of ``OPERATIONS`` over its domains, then (``traps``) the trap steps
    (GEN-6), then ``GEN1_CALLS``. ``ops``: only these operations (``--ops``; a trap step
    needs ``trap`` and its system call); ``filters``: the profile's calls only
    (``exo.kit.profiles.admits``)."""
    out: list[Step] = []
    for name in OPERATIONS:
        if ops is not None and name not in ops:
            continue
        for args in _combinations(_domains(s, name)):
            if admits(filters, name, args):
                out.append((name, args))
    if traps and (ops is None or TRAP in ops):
        out += _trap_calls(s, ops, filters)
    out += [(n, a) for n, a in GEN1_CALLS if ops is None or n in ops]
    return out


def _trap_calls(s: State, ops: frozenset[str] | None, filters: str) -> list[Step]:
    """GEN-6's trap steps in ``s`` (see the module's docstring)."""
    out: list[Step] = []
    running = s.cur_env != FREE
    for name in TRAPS:
        if ops is not None and name not in ops:
            continue
        if not running and name != "alloc":
            continue
        doms = _domains(s, name)
        if acts_for_caller(name):
            doms = doms[1:]
        for args in _combinations(doms):
            raw = (s.cur_env, *args) if acts_for_caller(name) else args
            if admits(filters, name, raw):
                out.append((TRAP, (name, *args)))
            if not running:
                break
    if ops is None or "set_reg" in ops:
        out.append((TRAP, ("set_reg", 0, VALUE)))  # a hardware event is no system call
    if ops is None or "alloc" in ops:
        out.append((TRAP, ("alloc", 0, 0)))  # names a caller: one argument too many
    return out


# --------------------------------------------------------------------------- symmetry

_ENV, _PAGE, _CID = "env", "page", "cid"

_KEYS: dict[str, tuple[str | None, ...]] = {
    "env_alive": (_ENV,), "env_cid": (_ENV,), "cid_env": (_CID,), "entry": (_ENV, None),
    "owner": (_PAGE,), "gen": (_PAGE,), "rights": (_ENV, _PAGE), "word": (_PAGE, None),
    "tlb_valid": (None,), "tlb_cid": (None,), "tlb_vpage": (None,), "tlb_page": (None,),
    "tlb_write": (None,), "stlb_valid": (None,), "stlb_cid": (None,),
    "stlb_vpage": (None,), "stlb_page": (None,), "stlb_write": (None,),
    "gm_valid": (_ENV, None), "gm_vpage": (_ENV, None), "gm_page": (_ENV, None),
    "gm_write": (_ENV, None), "regs": (None,), "slice_owner": (None,), "excess": (_ENV,),
    "rev_pending": (_ENV,), "rev_kind": (_ENV,), "rev_target": (_ENV,),
    "rev_deadline": (_ENV,), "repo_page": (_ENV, _PAGE), "repo_slice": (_ENV, None),
    "repo_exc": (_ENV,), "repo_filter": (_ENV, None), "filter_valid": (None,),
    "filter_owner": (None,), "filter_code": (None,), "rx_head": (_ENV,),
    "rx_count": (_ENV,), "rx_pkt": (_ENV, None), "rx_drops": (_ENV,),
}
"""What names each map field's key holds (per axis: an environment, a page, a context
id, or None: a slot, an offset, a vector, ... that the symmetries leave alone)."""

_VALUES: dict[str, str] = {
    "env_cid": _CID, "cid_env": _ENV, "owner": _ENV, "tlb_cid": _CID, "tlb_page": _PAGE,
    "stlb_cid": _CID, "stlb_page": _PAGE, "gm_page": _PAGE, "slice_owner": _ENV,
    "filter_owner": _ENV, "cur_env": _ENV, "hw_cid": _CID,
}
"""The fields (maps and scalars) whose values are names. ``rev_target`` names a page
only for a page request: ``canonical`` reads ``rev_kind`` for it."""

Perm = dict[str, dict[Any, Any]]


def _perms(cfg: Config, symmetry: bool) -> list[Perm]:
    """The symmetry group at ``cfg`` (see the module's docstring): every permutation of
    environments and pages, and of context ids when both TLBs have one slot; the
    identity alone without ``symmetry``."""
    def group(n: int) -> list[dict[Any, Any]]:
        return [dict(enumerate(p)) for p in itertools.permutations(range(n))]
    ident: Perm = {_ENV: {}, _PAGE: {}, _CID: {}}
    if not symmetry:
        return [ident]
    cids = (group(cfg.n_cids) if cfg.tlb_size == 1 and cfg.stlb_size == 1
            else [{}])
    return [{_ENV: e, _PAGE: p, _CID: c}
            for e in group(cfg.n_envs) for p in group(cfg.n_pages) for c in cids]


def _image(obs: dict[str, Any], perm: Perm) -> str:
    """The text of observation ``obs`` with the names permuted by ``perm``."""
    out: list[Any] = []
    for name in SCALARS:
        v = obs[name]
        kind = _VALUES.get(name)
        out.append(perm[kind].get(v, v) if kind is not None else v)
    kinds = obs["rev_kind"]
    for name, axes in _KEYS.items():
        table = obs[name]
        if not table:
            out.append(())
            continue
        vkind = _VALUES.get(name)
        vmap = perm[vkind] if vkind is not None else None
        items = []
        for k, v in table.items():
            if type(k) is tuple:
                nk: Any = tuple(perm[a].get(x, x) if a is not None else x
                                for a, x in zip(axes, k, strict=True))
            else:
                a = axes[0]
                nk = perm[a].get(k, k) if a is not None else k
            if vmap is not None:
                v = vmap.get(v, v)
            elif name == "rev_target" and kinds.get(k, int(Resource.PAGE)) == Resource.PAGE:
                v = perm[_PAGE].get(v, v)
            items.append((nk, v))
        items.sort(key=repr)
        out.append(tuple(items))
    return repr(out)


_CHECKED: set[tuple[str, ...]] = set()


def _check_fields(obs: dict[str, Any]) -> None:
    """Every observed field is one ``canonical`` knows (a new field of the model must say
    what names it holds before the symmetries may act on it)."""
    names = tuple(obs)
    if names in _CHECKED:
        return
    unknown = set(obs) - set(SCALARS) - set(_KEYS)
    if unknown:
        raise ValueError(f"exhaustive: observation fields {sorted(unknown)} are not in "
                         "exo.kit.exhaustive._KEYS: say which names they hold")
    _CHECKED.add(names)


def canonical(s: State, symmetry: bool = True) -> bytes:
    """The key of model state ``s`` for pruning: the sha256 digest of the least text of
    its observation (GEN-5) over the symmetry group (``symmetry``; else of the text
    itself)."""
    obs = observation(s)
    _check_fields(obs)
    text = min(_image(obs, p) for p in _perms_of(s.cfg, symmetry))
    return hashlib.sha256(text.encode()).digest()


_PERMS: dict[tuple[Config, bool], list[Perm]] = {}


def _perms_of(cfg: Config, symmetry: bool) -> list[Perm]:
    key = (cfg, symmetry)
    if key not in _PERMS:
        _PERMS[key] = _perms(cfg, symmetry)
    return _PERMS[key]


# --------------------------------------------------------------------------- the report


@dataclass
class ExhaustiveReport:
    """What an exhaustive run (or one shard of it, or several merged) did.

    ``programs``: calls run as the last call of a program (each program once; its prefix
    is a program of its own, counted at its own level); ``steps``: lockstep calls made in
    all, replays of prefixes included; ``states``: canonical keys of the distinct states
    seen; ``first``: the level at which each was first seen; ``per_depth``: (programs,
    new distinct states) at each level 1..``depth``; ``failure``: the first failing
    program (minimized) and its failure, or None; ``caught_at``: the level at which it
    showed (the length of the shortest failing program, before minimization);
    ``stopped``: the run returned early (``stop()`` said so, or a failure ended it)."""

    depth: int
    cfg: Config = field(default_factory=lambda: TINY)
    shard: int = 0
    of: int = 1
    programs: int = 0
    steps: int = 0
    states: set[bytes] = field(default_factory=set)
    first: dict[bytes, int] = field(default_factory=dict)
    level_programs: list[int] = field(default_factory=list)
    coverage: Coverage = field(default_factory=Coverage)
    failure: tuple[list[Step], Failure] | None = None
    caught_at: int | None = None
    stopped: bool = False
    symmetry: bool = True
    traps: bool = True

    @property
    def per_depth(self) -> list[tuple[int, int]]:
        """(programs, new distinct states) at each level 1..``depth``."""
        new = [0] * (self.depth + 1)
        for level in self.first.values():
            if 0 <= level <= self.depth:
                new[level] += 1
        progs = self.level_programs + [0] * (self.depth - len(self.level_programs))
        return [(progs[d - 1], new[d]) for d in range(1, self.depth + 1)]

    @property
    def passed(self) -> bool:
        """No failure found (a run that stopped early passed only what it ran)."""
        return self.failure is None

    def merge(self, other: ExhaustiveReport) -> None:
        """Add ``other`` (another shard of the same run): programs, steps and coverage
        add up, states are the union (each at the least level either saw it), and the
        failure kept is the shorter program (the first shard's on a tie)."""
        self.depth = max(self.depth, other.depth)
        self.programs += other.programs
        self.steps += other.steps
        self.states |= other.states
        for key, level in other.first.items():
            if key not in self.first or level < self.first[key]:
                self.first[key] = level
        n = max(len(self.level_programs), len(other.level_programs))
        self.level_programs = [
            (self.level_programs[i] if i < len(self.level_programs) else 0)
            + (other.level_programs[i] if i < len(other.level_programs) else 0)
            for i in range(n)]
        self.coverage.merge(other.coverage)
        if other.failure is not None and (
                self.failure is None or len(other.failure[0]) < len(self.failure[0])):
            self.failure = other.failure
        if other.caught_at is not None and (
                self.caught_at is None or other.caught_at < self.caught_at):
            self.caught_at = other.caught_at
        self.stopped = self.stopped or other.stopped
        self.of = max(self.of, other.of)


def merge(reports: Sequence[ExhaustiveReport]) -> ExhaustiveReport:
    """One report for the shards ``reports`` (``ExhaustiveReport.merge`` in order)."""
    if not reports:
        raise ValueError("merge: no reports")
    first = reports[0]
    out = ExhaustiveReport(depth=first.depth, cfg=first.cfg, shard=0, of=first.of,
                           coverage=Coverage(ops=first.coverage.ops,
                                             unreachable=first.coverage.unreachable,
                                             profile=first.coverage.profile,
                                             outside=first.coverage.outside),
                           symmetry=first.symmetry, traps=first.traps)
    for r in reports:
        out.merge(r)
    return out


# --------------------------------------------------------------------------- sharding


@dataclass(frozen=True)
class Shard:
    """One shard of an exhaustive run: the programs of the first ``split_level(depth)``
    levels it runs (``programs``: each a prefix path, its last call and its level) and
    the states of that level it extends by one more call (``roots``: their paths)."""

    index: int
    of: int
    programs: tuple[tuple[tuple[Step, ...], Step, int], ...]
    roots: tuple[tuple[Step, ...], ...]


def reach(cfg: Config, depth: int, traps: bool = True, symmetry: bool = True,
          ops: frozenset[str] | None = None, filters: str = "solver") -> dict[bytes, State]:
    """The model's states within ``depth`` calls of boot over the domains of ``calls``,
    by canonical key (one representative each), breadth first on the model alone: the
    search ``explore`` makes, without an implementation. With ``symmetry`` False, every
    state (``tests/test_exhaustive.py`` compares the two)."""
    boot = initial(cfg)
    seen = {canonical(boot, symmetry): boot}
    frontier = [boot]
    for _ in range(depth):
        new: list[State] = []
        for s in frontier:
            for step in calls(s, traps, ops, filters):
                after = model_step(s, step)
                if after is s:
                    continue
                key = canonical(after, symmetry)
                if key not in seen:
                    seen[key] = after
                    new.append(after)
        frontier = new
    return seen


def within_domains(program: Sequence[Step], cfg: Config = TINY, traps: bool = True,
                   ops: frozenset[str] | None = None, filters: str = "solver") -> bool:
    """Is every call of ``program`` one the exhaustive search makes at the state the
    calls before it reach (``calls``)? (Then a failing ``program`` is within reach of a
    run of depth ``len(program)``.) Arguments are compared as plain values (a
    ``exo.kit.values.Program`` as its tuple)."""
    s = initial(cfg)
    for name, args in program:
        step = (name, tuple(args))
        if step not in calls(s, traps, ops, filters):
            return False
        s = model_step(s, step)
    return True


def model_step(s: State, step: Step) -> State:
    """The model's state after ``step`` in ``s`` (a trap step runs through GEN-6)."""
    name, args = step
    if name == TRAP:
        return trap(s, *args)[0]
    return REGISTRY[name](s, *args)[0]


@dataclass
class _Plan:
    """The model-only breadth-first search of the first levels, shared by all shards."""

    programs: list[tuple[tuple[Step, ...], Step, int]]  # (prefix, call, level)
    first: dict[bytes, int]  # key -> level, of every state of those levels
    roots: list[tuple[tuple[Step, ...], State]]  # the new states of the last level


def _plan(cfg: Config, levels: int, traps: bool, ops: frozenset[str] | None,
          filters: str, symmetry: bool) -> _Plan:
    boot = initial(cfg)
    first = {canonical(boot, symmetry): 0}
    frontier: list[tuple[tuple[Step, ...], State]] = [((), boot)]
    programs: list[tuple[tuple[Step, ...], Step, int]] = []
    for level in range(1, levels + 1):
        new: list[tuple[tuple[Step, ...], State]] = []
        for path, s in frontier:
            for step in calls(s, traps, ops, filters):
                programs.append((path, step, level))
                after = model_step(s, step)
                if after is s:
                    continue
                key = canonical(after, symmetry)
                if key not in first:
                    first[key] = level
                    new.append(((*path, step), after))
        frontier = new
    return _Plan(programs, first, frontier)


def shards(cfg: Config, k: int, depth: int = 4, *, traps: bool = True,
           ops: frozenset[str] | None = None, filters: str = "solver",
           symmetry: bool = True) -> list[Shard]:
    """How an exhaustive run of ``depth`` splits into ``k`` independent shards (computed
    on the model alone): shard ``i`` runs the programs of the first ``split_level(depth)``
    levels whose breadth-first index is ``i`` modulo ``k``, and extends the new states of
    that level whose index is ``i`` modulo ``k``. ``traps``: whether the implementation
    offers ``trap`` (GEN-6; ``exo.kit.conformance.offers``)."""
    if k < 1:
        raise ValueError(f"shards: k must be at least 1, got {k}")
    levels = min(split_level(depth), depth)
    plan = _plan(cfg, levels, traps, ops, filters, symmetry)
    return [Shard(i, k, tuple(p for j, p in enumerate(plan.programs) if j % k == i),
                  tuple(path for j, (path, _) in enumerate(plan.roots)
                        if j % k == i and depth > levels))
            for i in range(k)]


# --------------------------------------------------------------------------- the search


class _Found(Exception):
    """A failure ended the search (carried to ``explore``)."""

    def __init__(self, program: list[Step], history: list[Step], failure: Failure
                 ) -> None:
        super().__init__(failure.message)
        self.program = program
        self.history = history
        self.failure = failure


class _Stopped(Exception):
    """``stop()`` asked the search to end."""


class _Search:
    """One shard's lockstep search (``explore``)."""

    def __init__(self, factory: Factory, cfg: Config, report: ExhaustiveReport,
                 fields: frozenset[str] | None, traps: bool, ops: frozenset[str] | None,
                 filters: str, on_progress: Callable[[int], None] | None,
                 stop: Callable[[], bool] | None) -> None:
        self.factory = factory
        self.cfg = cfg
        self.report = report
        self.fields = fields
        self.traps = traps
        self.ops = ops
        self.filters = filters
        self.on_progress = on_progress
        self.stop = stop
        self.recording = False
        self.envs = range(cfg.n_envs)

    def _record(self, pre: State, name: str, args: tuple[Any, ...], res: Any,
                post: State, call: str) -> None:
        if self.recording:
            self.report.coverage.record(pre, name, args, res, post, call)

    def fresh(self, path: Sequence[Step]) -> Lockstep:
        """A new implementation in lockstep, brought to the end of ``path`` (every call
        checked again)."""
        ls = Lockstep(self.factory, self.cfg, self.fields, blame=False)
        ls.on_step = self._record
        failure = ls.failure or ls.conforms(invariants=False)
        done: list[Step] = []
        for step in path:
            if failure is not None:
                break
            done.append(step)
            failure = self.checked(ls, step)
        self.report.steps += ls.steps
        if failure is not None:
            raise _Found(done, done, failure)
        return ls

    def checked(self, ls: Lockstep, step: Step) -> Failure | None:
        """One call and its comparison, as ``exo.kit.replay.replay`` makes it."""
        name, args = step
        if name != TRAP:
            return ls.call(name, args) or ls.conforms(invariants=False)
        caller, before = ls.model.cur_env, ls.seen
        return (ls.call(TRAP, args)
                or ls.conforms(invariants=False, integrity=(before, TRAP, args))
                or (ls.views([caller]) if caller != FREE else None))

    def tick(self) -> None:
        self.report.programs += 1
        if self.on_progress is not None and self.report.programs % 64 == 0:
            self.on_progress(self.report.programs)
        if self.stop is not None and self.stop():
            raise _Stopped

    def expand(self, path: tuple[Step, ...], steps: Sequence[Step], level: int,
               new: list[tuple[tuple[Step, ...], State]] | None) -> None:
        """Run each of ``steps`` after ``path`` (a program of ``level`` calls each); the
        paths and model states of the new states they reach go to ``new`` (None: not
        kept)."""
        report = self.report
        while len(report.level_programs) < level:
            report.level_programs.append(0)
        ls: Lockstep | None = None
        history: list[Step] = []
        for step in steps:
            if ls is None:
                ls = self.fresh(path)
                history = list(path)
            before, done = ls.model, ls.steps
            self.recording = True
            try:
                failure = self.checked(ls, step)
            finally:
                self.recording = False
            report.steps += ls.steps - done
            report.level_programs[level - 1] += 1
            history.append(step)
            if failure is not None:
                raise _Found([*path, step], history, failure)
            after = ls.model
            if after is not before:
                key = canonical(after, report.symmetry)
                if key not in report.first:
                    report.first[key] = level
                    report.states.add(key)
                    if new is not None:
                        new.append(((*path, step), after))
                failure = ls.model_holds() or ls.views(self.envs)
                if failure is not None:
                    raise _Found([*path, step], history, failure)
                ls = None  # the implementation moved on: replay for the next call
            self.tick()


def explore(factory: Factory, cfg: Config = TINY, depth: int = 4, *, shard: int = 0,
            of: int = 1, ops: frozenset[str] | None = None, filters: str = "solver",
            on_progress: Callable[[int], None] | None = None,
            stop: Callable[[], bool] | None = None,
            symmetry: bool = True) -> ExhaustiveReport:
    """Run every program of up to ``depth`` calls over the domains of ``calls`` against
    ``factory(cfg)`` in lockstep with the model, breadth first, pruning states seen
    before (by ``canonical`` key, with the symmetry reduction unless ``symmetry`` is
    False); shard ``shard`` of ``of`` (``shards``). ``ops``: only these operations'
    calls, and only the ``observe()`` fields they can change compared (``exo check
    --ops``); ``filters``: the filter profile (``exo.kit.profiles``).
    ``on_progress(programs)`` is told how many programs have run, every 64;
    ``stop()`` is asked after every program (another shard found a bug: return what
    was done). The first failing program ends the run, minimized, in
    ``report.failure``. Raises ``ValueError`` for a bad configuration, profile, depth or
    shard (before anything runs)."""
    why = profile_problem(filters)
    if why is not None:
        raise ValueError(why)
    problem = cfg.problem() if isinstance(cfg, Config) else "not an exo.interface.Config"
    if problem is not None:
        raise ValueError(f"bad configuration: {problem}")
    if type(depth) is not int or depth < 1:
        raise ValueError(f"exhaustive depth must be a positive integer, got {depth!r}")
    if not (type(of) is int and of >= 1 and type(shard) is int and 0 <= shard < of):
        raise ValueError(f"shard must be in 0..of-1 with of >= 1, got {shard} of {of}")
    fields = fields_for(ops) if ops is not None else None
    probe = Lockstep(factory, cfg, fields, blame=False)
    traps = probe.offers("trap")
    coverage = Coverage(ops=ops, unreachable=UNREACHABLE, profile=filters,
                        outside=OUTSIDE[filters])
    report = ExhaustiveReport(depth=depth, cfg=cfg, shard=shard, of=of, coverage=coverage,
                              symmetry=symmetry, traps=traps)
    search = _Search(factory, cfg, report, fields, traps, ops, filters, on_progress, stop)
    levels = min(split_level(depth), depth)
    plan = _plan(cfg, levels, traps, ops, filters, symmetry)
    report.first.update(plan.first)
    report.states.update(plan.first)
    report.level_programs = [0] * depth
    try:
        search.fresh(())  # boot (GEN-5 at INV-0), checked by every shard
        mine = [p for j, p in enumerate(plan.programs) if j % of == shard]
        for (path, level), group in itertools.groupby(mine, key=lambda p: (p[0], p[2])):
            search.expand(path, [step for _, step, _ in group], level, None)
        frontier = [root for j, root in enumerate(plan.roots) if j % of == shard]
        for level in range(levels + 1, depth + 1):
            new: list[tuple[tuple[Step, ...], State]] = []
            for path, s in frontier:
                search.expand(path, calls(s, traps, ops, filters), level,
                              new if level < depth else None)
            frontier = new
    except _Found as found:
        report.caught_at = len(found.program)
        report.failure = _shortest(factory, cfg, found, fields)
        report.stopped = True
    except _Stopped:
        report.stopped = True
    if on_progress is not None:
        on_progress(report.programs)
    return report


def _shortest(factory: Factory, cfg: Config, found: _Found,
              fields: frozenset[str] | None) -> tuple[list[Step], Failure]:
    """The failing program to report, minimized: the short one (path and call) if it
    fails alone from boot, else the whole sequence of calls the implementation had
    received (a refused call left hidden state behind)."""
    for program in (found.program, found.history):
        failure = replay(factory, cfg, program, fields, invariants=False)
        if failure is not None:
            return minimize(factory, cfg, program, failure, fields=fields)
    return list(found.history), found.failure
