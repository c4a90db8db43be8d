"""The shared interface: what the model and every implementation agree on.

Operation names and argument kinds, the status codes, the observable result values, the
configuration of sizes, and the two slot-index functions of the TLB and STLB. ``exo.model``
and ``exo.impl`` both import this module and nothing of each other (design brief, layers).
Spec clause GEN-1..GEN-4 (spec/general.md) describe the conventions fixed here.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Literal, cast, overload

import z3

MAX_PACKET = 65535
"""Longest packet the network interface delivers (NET-3)."""

FREE = -1
"""Owner of a free page or slice; context id of a dead environment; 'no environment'."""

NO_ENTRY = -1
"""Entry-point value meaning 'no handler registered' (GEN-3)."""


class Status(IntEnum):
    """GEN-1: every operation's status. On any status but OK the state is unchanged (GEN-2)."""

    OK = 0
    INVALID_ARGUMENT = 1  # a number outside its range, or a value of the wrong type
    NO_SUCH_ENV = 2  # the environment named is not alive
    ENV_EXISTS = 3  # env_create on an environment slot that is alive
    NOT_OWNER = 4  # the caller does not own the page or slice
    BAD_CAPABILITY = 5  # stale capability, or one its presenter does not hold
    NO_PERMISSION = 6  # the capability's rights are smaller than the request
    IN_USE = 7  # page, slice, context id or slot already taken
    NOT_RUNNING = 8  # a CPU operation or hardware event while no environment runs
    NO_ENTRY = 9  # the callee has no registered entry point of that kind
    BUSY = 10  # a pending revocation forbids this
    GUARANTEED = 11  # the page is bound by a guaranteed mapping
    NO_REQUEST = 12  # abort without a pending revocation request
    TOO_EARLY = 13  # abort before the request's deadline
    BAD_PROGRAM = 14  # a packet filter the verifier refuses (FLT-2, FLT-3)
    OVERLAP = 15  # a packet filter that would accept another environment's packets
    NO_SPACE = 16  # every filter slot is taken
    EMPTY = 17  # no packet waiting in the receive ring
    UNDECIDED = 18  # the filter overlap check ran out of its Z3 budget: not decided
    NO_TIME = 19  # a protected control transfer after the slice in progress has run out


class Rights(IntEnum):
    """Access rights, ordered: a right includes every smaller one (MEM-6)."""

    NONE = 0
    READ = 1
    READWRITE = 2


class ExcKind(IntEnum):
    """Exceptions delivered to an environment's exception context (EXC-1)."""

    TLB_MISS = 0
    UNALIGNED = 1
    OVERFLOW = 2
    COPROC = 3
    PROTECTION = 4
    REPOSSESSION = 5


class Vector(IntEnum):
    """The entry points of a processor environment (ENV-3..ENV-5), one number each."""

    TLB_MISS = 0
    UNALIGNED = 1
    OVERFLOW = 2
    COPROC = 3
    PROTECTION = 4
    REPOSSESSION = 5
    SLICE_START = 6
    SLICE_END = 7
    PCT_SYNC = 8
    PCT_ASYNC = 9


NUM_EXCEPTIONS = len(ExcKind)
NUM_VECTORS = len(Vector)


class Interrupt(IntEnum):
    """The interrupt context's two entries (ENV-4)."""

    SLICE_START = 0
    SLICE_END = 1


class EntryKind(IntEnum):
    """The protected entry context's two entries (ENV-5)."""

    SYNC = 0
    ASYNC = 1


class Mode(IntEnum):
    """The processor mode (CPU-5): user code of the running environment, or the kernel.

    Kernel operations are atomic steps of the model, so between steps the CPU is in kernel
    mode only while it idles (no environment runs)."""

    KERNEL = 0
    USER = 1


class Resource(IntEnum):
    """Kinds of revocable resources (REV-1)."""

    PAGE = 0
    SLICE = 1
    FILTER = 2


class Outcome(IntEnum):
    """What a hardware event or scheduling step did (its result value when OK)."""

    NONE = 0
    ACCESS = 1  # TLB hit, access performed
    REFILL_STLB = 2  # TLB refilled from the STLB, access performed
    REFILL_GUARANTEED = 3  # TLB refilled from a guaranteed mapping, access performed
    DELIVERED = 4  # an exception was delivered to the environment's handler
    KILLED = 5  # the environment was destroyed (no handler, or excess time over limit)
    TICK = 6  # timer tick inside a slice
    SLICE_END = 7  # the end-of-slice interrupt was delivered
    NEXT_SLICE = 8  # the next slice of the vector started
    EXCESS = 9  # a tick past the end of the slice, charged as excess time
    RX_DELIVERED = 10  # a packet went into the receive ring of its filter's owner
    RX_RING_FULL = 11  # the owner's receive ring was full: dropped and counted
    RX_NO_MATCH = 12  # no filter accepted the packet: the kernel dropped and counted it


@dataclass(frozen=True)
class Cap:
    """The model's form of Aegis's self-authenticating capability for a physical page.

    ``gen`` is the page's generation when the capability was made: Dealloc and
    repossession bump it, so every older capability goes stale (MEM-6).
    """

    page: Any
    gen: Any
    rights: Any

    def __repr__(self) -> str:
        return f"Cap(p{self.page}, g{self.gen}, r{self.rights})"


NULL_CAP = Cap(FREE, FREE, int(Rights.NONE))


@dataclass(frozen=True)
class Result:
    """An operation's answer: a status and a value (an int, or a ``Cap``)."""

    status: Any
    value: Any = 0

    def __repr__(self) -> str:
        try:
            st = Status(self.status).name
        except (ValueError, TypeError):
            st = str(self.status)
        return f"{st}:{self.value}"


@dataclass(frozen=True)
class Config:
    """GEN-4: sizes and limits. Nothing in the model depends on particular values."""

    n_envs: Any = 4
    n_pages: Any = 8
    page_words: Any = 4
    tlb_size: Any = 4
    stlb_size: Any = 8
    n_cids: Any = 6
    n_slices: Any = 4
    n_guaranteed: Any = 2
    n_regs: Any = 4
    slice_ticks: Any = 3
    excess_limit: Any = 2
    addr_limit: Any = 2**32
    n_filters: Any = 4
    ring_size: Any = 2

    def problem(self) -> str | None:
        """None if every field is a usable concrete value, else what is wrong."""
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, int) or isinstance(v, bool):
                return f"{f.name} must be an integer, not {type(v).__name__}"
            least = 0 if f.name == "excess_limit" else 1
            if v < least:
                return f"{f.name} must be at least {least}, got {v}"
        return None

    @staticmethod
    def symbolic() -> Config:
        """Every size an unconstrained Z3 integer (see ``size_constraints``)."""
        return Config(**{f.name: z3.Int(f.name) for f in dataclasses.fields(Config)})

    def size_constraints(self) -> Any:
        """What a symbolic configuration assumes: every size positive, the limit >= 0."""
        cs = []
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            cs.append(v >= (0 if f.name == "excess_limit" else 1))
        return z3.And(*cs)


@overload
def tlb_index(cid: int, vpage: int, n: int) -> int: ...
@overload
def tlb_index(cid: Any, vpage: Any, n: int) -> Any: ...
def tlb_index(cid: Any, vpage: Any, n: int) -> Any:
    """The hardware TLB slot of ``(cid, vpage)``: the model's TLB is direct-mapped (TLB-6).

    Plain arithmetic, so it is also a Z3 term when ``cid``/``vpage`` are (bounded proofs
    and counterexamples use the real function; unbounded proofs use any function)."""
    return (vpage + 3 * cid) % n


@overload
def stlb_index(cid: int, vpage: int, n: int) -> int: ...
@overload
def stlb_index(cid: Any, vpage: Any, n: int) -> Any: ...
def stlb_index(cid: Any, vpage: Any, n: int) -> Any:
    """The STLB slot of ``(cid, vpage)``: direct-mapped like Aegis's 4096-entry STLB (TLB-7)."""
    return (vpage + 7 * cid + 1) % n


ArgKind = Literal["int", "bool", "cap", "program", "packet"]


@dataclass(frozen=True)
class OpSig:
    """An operation's name, clause, argument names and kinds, and result kind."""

    name: str
    clause: str
    args: tuple[tuple[str, ArgKind], ...]
    result: Literal["int", "cap"] = "int"
    kind: Literal["syscall", "event", "kernel"] = "syscall"


def _sig(name: str, clause: str, *args: str, result: Literal["int", "cap"] = "int",
         kind: Literal["syscall", "event", "kernel"] = "syscall") -> OpSig:
    parsed: list[tuple[str, ArgKind]] = []
    for a in args:
        n, _, k = a.partition(":")
        parsed.append((n, cast(ArgKind, k or "int")))
    return OpSig(name, clause, tuple(parsed), result, kind)


OPERATIONS: dict[str, OpSig] = {
    s.name: s
    for s in [
        # environments (spec/env.md)
        _sig("env_create", "ENV-1", "env", "cid", kind="kernel"),
        _sig("env_destroy", "ENV-2", "env", kind="kernel"),
        _sig("set_exception_context", "ENV-3", "env", "exc", "entry"),
        _sig("set_interrupt_context", "ENV-4", "env", "which", "entry"),
        _sig("set_protected_entry", "ENV-5", "env", "which", "entry"),
        # physical memory (spec/memory.md)
        _sig("alloc", "MEM-1", "env", "page", result="cap"),
        _sig("dealloc", "MEM-2", "env", "cap:cap"),
        _sig("grant", "MEM-3", "env", "cap:cap", "grantee", "rights", result="cap"),
        _sig("load", "MEM-4", "vpage", "offset", "reg", kind="event"),
        _sig("store", "MEM-5", "vpage", "offset", "reg", kind="event"),
        # secure bindings for memory (spec/tlb.md)
        _sig("tlbwr", "TLB-1", "env", "vpage", "cap:cap", "writable:bool"),
        _sig("tlbvadelete", "TLB-2", "env", "vpage"),
        _sig("cid_switch", "TLB-3", "env", "cid"),
        _sig("gm_set", "TLB-4", "env", "slot", "vpage", "cap:cap", "writable:bool"),
        _sig("gm_clear", "TLB-5", "env", "slot"),
        # processor time (spec/cpu.md)
        _sig("slice_alloc", "CPU-1", "env", "slice"),
        _sig("slice_free", "CPU-2", "env", "slice"),
        _sig("yield_to", "CPU-3", "target"),
        _sig("timer_tick", "CPU-4", kind="event"),
        _sig("set_reg", "CPU-6", "reg", "value", kind="event"),
        # protected control transfer (spec/pct.md)
        _sig("scall", "PCT-1", "callee"),
        _sig("acall", "PCT-2", "callee"),
        # exceptions (spec/exceptions.md)
        _sig("raise_exception", "EXC-1", "exc", kind="event"),
        # revocation and the abort protocol (spec/revocation.md)
        _sig("revoke_request", "REV-1", "env", "resource", "target", "deadline", kind="kernel"),
        _sig("abort", "REV-3", "env", kind="kernel"),
        # downloaded packet filters and the network interface (spec/net.md)
        _sig("filter_install", "NET-1", "env", "program:program"),
        _sig("filter_remove", "NET-2", "env", "filter"),
        _sig("packet_arrive", "NET-3", "packet:packet", kind="event"),
        _sig("packet_take", "NET-4", "env"),
    ]
}

def _trap_sig(sig: OpSig) -> OpSig:
    """A system call as user code makes it through the trap layer (GEN-6): without the
    ``env`` argument, which the layer supplies (the running environment)."""
    args = sig.args[1:] if sig.args[:1] == (("env", "int"),) else sig.args
    return OpSig(sig.name, sig.clause, args, sig.result, sig.kind)


TRAPS: dict[str, OpSig] = {
    name: _trap_sig(sig) for name, sig in OPERATIONS.items() if sig.kind == "syscall"}
"""GEN-6: the system calls user code makes through the trap layer, by name, each with
the arguments it gives (every argument of the operation but ``env``, which the layer
takes from ``cur_env``). Hardware events and the kernel's own operations are not traps."""


def acts_for_caller(name: str) -> bool:
    """GEN-6: does system call ``name`` name the environment it acts for as its first
    argument (so the trap layer supplies it)? ``yield_to``, ``scall`` and ``acall`` act
    for the running environment already and take no ``env``."""
    return OPERATIONS[name].args[:1] == (("env", "int"),)


def trap_call(name: object, args: tuple[object, ...], caller: int
              ) -> Result | tuple[str, tuple[Any, ...]]:
    """GEN-6's own checks, in order, for a trap of ``name`` with ``args`` made while
    ``caller`` runs (``FREE``: the CPU idles): the ``Result`` that ends the trap there —
    INVALID_ARGUMENT for a name that is no system call (value 0) or arguments not exactly
    of their kinds (the null value), NOT_RUNNING with the CPU idle — or the raw call it
    makes: the system call and its arguments, ``caller`` first where the call names its
    caller. ``exo.impl``'s trap layer and the kit's stand-in for a kernel without one
    share it; the model states the same checks in its own text (``exo.model.trap``)."""
    sig = TRAPS.get(name) if type(name) is str else None
    if sig is None:
        return Result(Status.INVALID_ARGUMENT, 0)
    plain = admit(sig, args)
    if plain is None:
        return Result(Status.INVALID_ARGUMENT, null_value(sig))
    if caller == FREE:
        return Result(Status.NOT_RUNNING, null_value(sig))
    return sig.name, ((caller, *plain) if acts_for_caller(sig.name) else plain)


OUTCOME_OPS: frozenset[str] = frozenset(
    {"load", "store", "yield_to", "timer_tick", "raise_exception", "packet_arrive"})
"""The operations whose value, when the status is OK, is an ``Outcome`` (MEM-4/MEM-5
translate and deliver, CPU-3 yield_to, CPU-4 timer_tick, EXC-1 deliver, NET-3
packet_arrive; WIRE-6 sends it by name). Every other operation's value is a plain int, a
``Cap`` (alloc, grant), a hex string (an OVERLAP witness) or a packet (packet_take)."""


ENUMS: tuple[type[IntEnum], ...] = (
    Status, Rights, ExcKind, Vector, Interrupt, EntryKind, Mode, Resource, Outcome)
"""GEN-1: the project's own enumerations; a member of one is accepted where an integer is
expected and handed to the operation as the plain ``int`` it stands for."""

_ENUM_IDS: frozenset[int] = frozenset(id(e) for e in ENUMS)
# Types are matched by identity (``id``/``is``), never by ``==`` or ``in``: a class whose
# metaclass defines a raising ``__eq__`` must not get to run it (GEN-1).

_REFUSED = object()
"""What the one-value checks below return for a value that is not admitted."""

_INSN_BOUNDS = (0xFFFF, 0xFF, 0xFF, 0xFFFFFFFF)
"""Largest value of each field of a BPF instruction ``(code, jt, jf, k)``: u16, u8, u8, u32."""


def _z3_own(value: object, t: type) -> bool:
    """Is ``value`` a term of class ``t`` that Z3 itself could have built in its main
    context? Judged from the instance's own dictionary only (an exact Z3 class has no
    ``__getattr__`` and no slots), so no Z3 function reads the term: a term of another
    context (Z3 raises when it meets one of the main context), of a deleted context or
    without a pointer (Z3 reads freed or no memory: the process crashes) is refused
    here. A forged pointer inside an exact term of the main context cannot be told
    from a real one without reading it; symbolic mode trusts the proofs' own terms."""
    if type(value) is not t:
        return False
    fields = vars(value)
    ctx = fields.get("ctx")
    return (type(fields.get("ast")) is z3.z3types.Ast and ctx is z3.main_ctx()
            and type(vars(ctx).get("ctx")) is z3.z3types.ContextObj)


def _z3_int(value: object) -> bool:
    """Is ``value`` exactly a Z3 integer term (``ArithRef`` or ``IntNumRef`` of sort Int)
    of the main context?"""
    if not (_z3_own(value, z3.ArithRef) or _z3_own(value, z3.IntNumRef)):
        return False
    try:  # a pointer that passed ``_z3_own`` may still name no term of the context:
        # z3 then raises Z3Exception or ctypes.ArgumentError; either means "not a term"
        # (GEN-1: admitting never raises)
        return bool(cast(z3.ArithRef, value).is_int())
    except Exception:
        return False


def _admit_int(value: object, symbolic: bool) -> object:
    t = type(value)
    if t is int:
        return value
    if id(t) in _ENUM_IDS:  # a member of Status, Rights, ...: its plain int value
        return int.__int__(cast(int, value))
    if symbolic and _z3_int(value):
        return value
    return _REFUSED


def _admit_cap(value: object, symbolic: bool) -> object:
    if type(value) is not Cap:
        return _REFUSED
    # an exact Cap runs no code of its own on attribute reads (a dataclass, no
    # __getattr__): a field removed from a forged instance reads as refused
    fields = (getattr(value, "page", _REFUSED), getattr(value, "gen", _REFUSED),
              getattr(value, "rights", _REFUSED))
    page, gen, rights = (_admit_int(f, symbolic) for f in fields)
    if page is _REFUSED or gen is _REFUSED or rights is _REFUSED:
        return _REFUSED
    return Cap(page, gen, rights)  # a fresh Cap: plain fields, nothing else attached


def _admit_program(value: object, symbolic: bool) -> object:
    if symbolic and _z3_int(value):  # proofs: a program is an opaque Z3 integer (NET-1)
        return value
    if type(value) is not tuple:
        return _REFUSED
    for insn in value:
        if type(insn) is not tuple or len(insn) != 4:
            return _REFUSED
        for f, top in zip(insn, _INSN_BOUNDS, strict=True):
            if type(f) is not int or not 0 <= f <= top:
                return _REFUSED
    return value


def _admit_packet(value: object, symbolic: bool) -> object:
    if symbolic and _z3_int(value):  # proofs: a packet is an opaque Z3 integer (NET-1)
        return value
    if type(value) is bytes and len(value) <= MAX_PACKET:
        return value
    return _REFUSED


def _admit_bool(value: object, symbolic: bool) -> object:
    if type(value) is bool or (symbolic and _z3_own(value, z3.BoolRef)):
        return value
    return _REFUSED


_ADMIT = {"int": _admit_int, "bool": _admit_bool, "cap": _admit_cap,
          "program": _admit_program, "packet": _admit_packet}


def admit(sig: OpSig, args: tuple[object, ...], symbolic: bool = False
          ) -> tuple[Any, ...] | None:
    """GEN-1: the arguments of a call of ``sig`` as the operation receives them, or None
    when the call is INVALID_ARGUMENT before any logic runs. The one check model and
    implementation share.

    Types are checked exactly (``type(v) is T``), so subclasses and objects that fake
    ``__class__`` are refused, and nothing of a value is called (no ``==``, ``hash``,
    ``len``, ``bool``, ``int()``) before its exact type is known to be a plain one:

    * the number of arguments must equal the signature's (checked first);
    * ``int``: exactly ``int`` (not ``bool``), or a member of one of ``ENUMS``, which is
      handed on as its plain ``int``;
    * ``bool``: exactly ``bool``;
    * ``cap``: exactly ``Cap``, with three fields that are integers as above (handed on
      as a fresh ``Cap`` of plain fields);
    * ``program``: exactly a ``tuple`` of exactly ``tuple`` s of four exact ``int`` s
      ``(code, jt, jf, k)`` with u16, u8, u8 and u32 values;
    * ``packet``: exactly ``bytes``, at most ``MAX_PACKET`` long.

    With ``symbolic`` (the model inside the proofs' symbolic mode,
    ``exo.logic.symbolic_mode``) Z3 terms of the main context pass too: ``ArithRef`` or
    ``IntNumRef`` of sort Int for an integer (also inside a ``Cap``), a program or a
    packet (opaque ids, NET-1), ``BoolRef`` for a bool; a term of any other context, a
    deleted one included, is refused before Z3 reads it. Without ``symbolic`` (the
    implementation, and the model outside symbolic mode) a Z3 term is refused like any
    other foreign value, by its type alone: nothing of it runs.
    """
    if type(args) is not tuple or len(args) != len(sig.args):
        return None
    out: list[Any] = []
    for (_, kind), a in zip(sig.args, args, strict=True):
        v = _ADMIT[kind](a, symbolic)
        if v is _REFUSED:
            return None
        out.append(v)
    return tuple(out)


def null_value(sig: OpSig) -> Any:
    """The value an operation returns with a failing status."""
    return NULL_CAP if sig.result == "cap" else 0


# --------------------------------------------------------------------------- the public API

__all__ = [
    "ENUMS", "FREE", "MAX_PACKET", "NO_ENTRY", "NULL_CAP", "NUM_EXCEPTIONS", "NUM_VECTORS",
    "OPERATIONS", "OUTCOME_OPS", "TRAPS", "Cap", "Config", "EntryKind", "ExcKind",
    "Interrupt", "Mode", "OpSig", "Outcome", "Resource", "Result", "Rights", "Status",
    "Vector", "acts_for_caller", "admit", "null_value", "stlb_index", "tlb_index",
    "trap_call",
]
"""The names a kernel may import from here; they stay (README, "The public API"). A name
taken out or renamed stays importable, with a ``DeprecationWarning``, until the version
``DEPRECATED`` gives."""


def _arg_ok(kind: ArgKind, value: object) -> bool:
    """The old one-argument check: does ``value`` have the kind an argument needs? Now
    judged as ``admit`` judges it (exact types, GEN-1), on Python values."""
    return _ADMIT[kind](value, False) is not _REFUSED


DEPRECATED: dict[str, tuple[Any, str, str]] = {
    "arg_ok": (_arg_ok, "exo.interface.admit(sig, args), which checks a whole call", "0.2.0"),
}
"""A public name taken out: (what it still gives, what to use instead, the version that
removes it)."""


def __getattr__(name: str) -> Any:
    if name in DEPRECATED:
        value, instead, until = DEPRECATED[name]
        warnings.warn(f"exo.interface.{name} is deprecated and goes in {until}; use "
                      f"{instead}", DeprecationWarning, stacklevel=2)
        return value
    raise AttributeError(f"module 'exo.interface' has no attribute {name!r}")
