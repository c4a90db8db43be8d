"""The state of the machine and of the exokernel: every field, its meaning, its clause.

A field is either a scalar (an int or bool, or a Z3 term standing for one) or a ``Map``
(``exo.logic``) over a domain given by the configuration. ``initial`` builds the boot state
(INV-0: it satisfies every invariant, which shows them satisfiable); ``symbolic`` builds an
arbitrary state of arbitrary sizes for the proofs; ``lift`` turns a concrete state into Z3
terms so both interpretations can be compared on the same state.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import z3

from exo.interface import FREE, NO_ENTRY, NUM_VECTORS, Cap, Config, Mode, OpSig
from exo.logic import ConMap, If, IntV, Map, SymMap
from exo.logic import lift as lift_map


@dataclass(frozen=True)
class State:
    """One state of the model. Comments name the clause that gives each field meaning."""

    cfg: Config

    # -- processor environments (ENV-1..ENV-5, spec/env.md)
    env_alive: Map  # [env] -> bool
    env_cid: Map  # [env] -> context id, FREE when dead (TLB-3)
    cid_env: Map  # [cid] -> the live env using the context id, or FREE (INV-4)
    entry: Map  # [env, Vector] -> entry address, or NO_ENTRY

    # -- physical memory (MEM-1..MEM-6, spec/memory.md)
    owner: Map  # [page] -> owning env, or FREE
    gen: Map  # [page] -> generation; capabilities of older generations are stale
    rights: Map  # [env, page] -> Rights the env holds on the page (owner: READWRITE)
    word: Map  # [page, offset] -> contents

    # -- hardware TLB, direct-mapped by tlb_index (TLB-6)
    tlb_valid: Map  # [slot] -> bool
    tlb_cid: Map  # [slot] -> context id tag
    tlb_vpage: Map  # [slot] -> virtual page tag
    tlb_page: Map  # [slot] -> physical page
    tlb_write: Map  # [slot] -> bool, writable

    # -- software TLB, direct-mapped by stlb_index (TLB-7)
    stlb_valid: Map
    stlb_cid: Map
    stlb_vpage: Map
    stlb_page: Map
    stlb_write: Map

    # -- guaranteed mappings, part of the addressing context (TLB-4, TLB-5)
    gm_valid: Map  # [env, slot] -> bool
    gm_vpage: Map  # [env, slot]
    gm_page: Map  # [env, slot]
    gm_write: Map  # [env, slot] -> bool

    # -- CPU (CPU-1..CPU-6, PCT-1..PCT-3, EXC-1..EXC-2)
    cur_env: IntV  # running environment, or FREE (idle)
    hw_cid: IntV  # the hardware context-id register (ASID), FREE when idle
    pc: IntV  # program counter of the running environment
    epc: IntV  # exception program counter (where the exception was raised)
    cause: IntV  # ExcKind of the last exception delivered, or -1
    badvpage: IntV  # virtual page of the last TLB miss / protection fault
    regs: Map  # [reg] -> value; kept by PCT (PCT-3), cleared at every start (CPU-7)
    now: IntV  # ticks since boot (the clock revocation deadlines refer to)
    slice_owner: Map  # [slice] -> owning env, or FREE (CPU-1)
    cur_slice: IntV  # index of the slice in progress
    slice_left: IntV  # ticks left in the slice in progress
    excess: Map  # [env] -> excess ticks still to be charged (CPU-4)

    # -- revocation and the abort protocol (REV-1..REV-5)
    rev_pending: Map  # [env] -> bool, a revocation request is outstanding
    rev_kind: Map  # [env] -> Resource of the request
    rev_target: Map  # [env] -> the page or slice the kernel takes if the env does not comply
    rev_deadline: Map  # [env] -> tick by which the env must release
    repo_page: Map  # [env, page] -> bool, the page was repossessed from env (repossession vector)
    repo_slice: Map  # [env, slice] -> bool, the slice was repossessed from env
    repo_exc: Map  # [env] -> bool, a repossession exception awaits delivery
    repo_filter: Map  # [env, filter] -> bool, the filter was repossessed from env

    # -- downloaded packet filters and the network interface (NET-1..NET-4)
    filter_valid: Map  # [filter] -> bool
    filter_owner: Map  # [filter] -> the env whose packets the filter claims
    filter_code: Map  # [filter] -> the program (a tuple of instructions; an id in proofs)
    rx_head: Map  # [env] -> index of the oldest packet in its receive ring
    rx_count: Map  # [env] -> packets waiting in its receive ring
    rx_pkt: Map  # [env, ring slot] -> packet bytes (an id in proofs)
    rx_drops: Map  # [env] -> packets dropped because its ring was full
    kernel_drops: IntV  # packets no filter accepted

    @property
    def mode(self) -> IntV:
        """CPU-5: USER while an environment runs, KERNEL while the CPU idles (derived from
        ``cur_env``, so it can never disagree with it)."""
        return If(self.cur_env == FREE, int(Mode.KERNEL), int(Mode.USER))

    def replace(self, **changes: Any) -> State:
        """A copy with some fields changed (``dataclasses.replace`` without re-running
        ``__init__``: the model replaces states at every step)."""
        unknown = changes.keys() - _FIELDS
        if unknown:
            raise TypeError(f"State has no field {sorted(unknown)[0]!r}")
        new = object.__new__(State)
        new.__dict__.update(self.__dict__)
        new.__dict__.update(changes)
        return new


_FIELDS = frozenset(f.name for f in dataclasses.fields(State))


Layout = dict[str, tuple[tuple[Any, ...], Any, str]]
_LAYOUTS: dict[tuple[int, ...], Layout] = {}


def layout(cfg: Config) -> Layout:
    """Each map field: its domain, its value at boot, and its Z3 sort ('int' or 'bool').
    Built once per concrete configuration (the kit asks for it several times a step);
    the dict is shared: read it, never change it."""
    key = (cfg.n_envs, cfg.n_pages, cfg.page_words, cfg.tlb_size, cfg.stlb_size,
           cfg.n_cids, cfg.n_guaranteed, cfg.n_regs, cfg.n_slices, cfg.n_filters,
           cfg.ring_size)
    if all(type(x) is int for x in key):  # never a symbolic size (its == is a term)
        found = _LAYOUTS.get(key)
        if found is None:
            if len(_LAYOUTS) >= 256:
                _LAYOUTS.clear()
            found = _LAYOUTS[key] = _layout(cfg)
        return found
    return _layout(cfg)


def _layout(cfg: Config) -> Layout:
    E, P, W = cfg.n_envs, cfg.n_pages, cfg.page_words
    T, S, C = cfg.tlb_size, cfg.stlb_size, cfg.n_cids
    G, R, Q = cfg.n_guaranteed, cfg.n_regs, cfg.n_slices
    return {
        "env_alive": ((E,), False, "bool"),
        "env_cid": ((E,), FREE, "int"),
        "cid_env": ((C,), FREE, "int"),
        "entry": ((E, NUM_VECTORS), NO_ENTRY, "int"),
        "owner": ((P,), FREE, "int"),
        "gen": ((P,), 0, "int"),
        "rights": ((E, P), 0, "int"),
        "word": ((P, W), 0, "int"),
        "tlb_valid": ((T,), False, "bool"),
        "tlb_cid": ((T,), FREE, "int"),
        "tlb_vpage": ((T,), 0, "int"),
        "tlb_page": ((T,), FREE, "int"),
        "tlb_write": ((T,), False, "bool"),
        "stlb_valid": ((S,), False, "bool"),
        "stlb_cid": ((S,), FREE, "int"),
        "stlb_vpage": ((S,), 0, "int"),
        "stlb_page": ((S,), FREE, "int"),
        "stlb_write": ((S,), False, "bool"),
        "gm_valid": ((E, G), False, "bool"),
        "gm_vpage": ((E, G), 0, "int"),
        "gm_page": ((E, G), FREE, "int"),
        "gm_write": ((E, G), False, "bool"),
        "regs": ((R,), 0, "int"),
        "slice_owner": ((Q,), FREE, "int"),
        "excess": ((E,), 0, "int"),
        "rev_pending": ((E,), False, "bool"),
        "rev_kind": ((E,), 0, "int"),
        "rev_target": ((E,), FREE, "int"),
        "rev_deadline": ((E,), 0, "int"),
        "repo_page": ((E, P), False, "bool"),
        "repo_slice": ((E, Q), False, "bool"),
        "repo_exc": ((E,), False, "bool"),
        "repo_filter": ((E, cfg.n_filters), False, "bool"),
        "filter_valid": ((cfg.n_filters,), False, "bool"),
        "filter_owner": ((cfg.n_filters,), FREE, "int"),
        "filter_code": ((cfg.n_filters,), (), "int"),
        "rx_head": ((E,), 0, "int"),
        "rx_count": ((E,), 0, "int"),
        "rx_pkt": ((E, cfg.ring_size), b"", "int"),
        "rx_drops": ((E,), 0, "int"),
    }


SCALARS: dict[str, Any] = {
    "cur_env": FREE,
    "hw_cid": FREE,
    "pc": 0,
    "epc": 0,
    "cause": -1,
    "badvpage": 0,
    "now": 0,
    "cur_slice": 0,
    "slice_left": 0,
    "kernel_drops": 0,
}
"""Each scalar field and its value at boot."""


_CONFIG_FIELDS = tuple(f.name for f in dataclasses.fields(Config))


def initial(cfg: Config | None = None) -> State:
    """INV-0: the boot state: no environment, every page free, empty TLB and STLB.

    Slice 0 is in progress with no ticks left, so the first tick starts slice 1 (slice 0
    comes round last).
    With a symbolic configuration the maps are constant functions (the same boot state
    for every size: the proof of INV-0).
    """
    cfg = cfg or Config()
    concrete = not any(isinstance(getattr(cfg, f), z3.ExprRef) for f in _CONFIG_FIELDS)
    if concrete:
        return _initial_concrete(cfg)
    maps: dict[str, Map] = {
        name: SymMap.const(dom, default) for name, (dom, default, _) in layout(cfg).items()
    }
    return State(cfg=cfg, **maps, **SCALARS)


@lru_cache(maxsize=64)
def _initial_concrete(cfg: Config) -> State:
    """The boot state of a concrete configuration: built once per configuration (states
    and their maps are immutable, so sharing it is safe)."""
    if cfg.problem() is not None:
        raise ValueError(f"bad configuration: {cfg.problem()}")
    maps: dict[str, Map] = {
        name: ConMap(dom, default) for name, (dom, default, _) in layout(cfg).items()
    }
    return State(cfg=cfg, **maps, **SCALARS)


def symbolic(cfg: Config | None = None, prefix: str = "") -> State:
    """An arbitrary state: every map an uninterpreted function, every scalar a constant.

    With ``Config.symbolic()`` (the default) the sizes are unconstrained too; a proof
    assumes ``cfg.size_constraints()`` and the invariants, nothing else.
    """
    cfg = cfg or Config.symbolic()
    maps: dict[str, Any] = {}
    for name, (dom, _, sort) in layout(cfg).items():
        z3sort = z3.BoolSort() if sort == "bool" else z3.IntSort()
        maps[name] = SymMap.base(prefix + name, dom, z3sort)
    scalars = {name: z3.Int(prefix + name) for name in SCALARS}
    return State(cfg=cfg, **maps, **scalars)


def symbolic_args(sig: OpSig) -> list[Any]:
    """Arbitrary arguments for an operation: one Z3 constant per argument (a ``Cap``
    of three), as the proofs and the spec's cells bind a transition or a text to them."""
    args: list[Any] = []
    for name, kind in sig.args:
        if kind in ("int", "program", "packet"):
            args.append(z3.Int(f"arg_{name}"))
        elif kind == "bool":
            args.append(z3.Bool(f"arg_{name}"))
        else:
            args.append(Cap(z3.Int(f"arg_{name}_page"), z3.Int(f"arg_{name}_gen"),
                            z3.Int(f"arg_{name}_rights")))
    return args


def lift(state: State) -> State:
    """A concrete state as Z3 terms: maps become functions, scalars become numerals.

    The sizes stay concrete Python ints, so ``logic.find`` and ``logic.forall`` still
    enumerate; index functions become uninterpreted (``logic.hashed``) and must be pinned
    by the caller.
    """
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(State):
        v = getattr(state, f.name)
        if f.name in OPAQUE:
            continue
        if isinstance(v, Map):
            changes[f.name] = lift_map(v)
        elif isinstance(v, bool):
            changes[f.name] = z3.BoolVal(v)
        elif isinstance(v, int):
            changes[f.name] = z3.IntVal(v)
    return state.replace(**changes)


OPAQUE = frozenset({"filter_code", "rx_pkt"})
"""Fields holding programs and packets: Python values concretely, opaque ids in proofs
(their meaning comes from the oracles of NET-1..NET-3); ``lift`` leaves them concrete."""


def map_fields() -> list[str]:
    """Names of the map-valued fields, in declaration order."""
    return list(layout(Config()).keys())


def domains(cfg: Config) -> dict[str, tuple[Any, ...]]:
    """Each map field's domain (its sizes) under ``cfg``."""
    return {name: dom for name, (dom, _, _) in layout(cfg).items()}
