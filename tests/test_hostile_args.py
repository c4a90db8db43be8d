"""GEN-1 against hostile arguments: exact types at the boundary (spec/general.md, GEN-1).

A pool of hostile values — ``int`` subclasses whose ``__eq__``, ``__index__``, ``__hash__``,
``__lt__``, ``__int__``, ``__bool__``... raise or lie, objects that fake ``__class__``,
subclasses of ``bytes``, ``tuple``, ``str`` and ``Cap``, capabilities with bad fields,
floats, bools where ints are wanted, lists for tuples, malformed programs — is mixed with
valid values, extreme ints and members of the project's enums, and every operation of
``exo.interface.OPERATIONS`` is driven in the model and in ``exo.impl.Kernel`` side by side
from the same non-trivial states. After every call (``drive``):

* nothing raised, in the model or in the implementation;
* a call carrying a value that is not exactly of its kind (or a wrong number of
  arguments, or an operation name that is not exactly a ``str``) is INVALID_ARGUMENT with
  the null value, in both;
* model and implementation give the same result (``exo.kit.conformance.same_outcome``);
* with any status but OK both states are unchanged: the model returns the state it was
  given (checked by identity, then by equality), the implementation's ``observe()``
  equals the observation before the call;
* after a successful call that changed the model state, the two states are equal in
  meaning (``exo.kit.conformance.differences``).

``test_hostile_pool_GEN_1`` runs 10^5 operations. The ``*_is_caught`` tests run the same
driver against deliberately broken variants (an ``isinstance`` admit, an admit that skips
the argument count, an implementation that admits bools, one that changes its state on a
refusal, one that computes a wrong register value, a model that changes its state on a
refusal) and assert the driver reports each — so every check above is shown able to fail.
"""

from __future__ import annotations

import functools
import math
import random
import sys
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import IntEnum
from fractions import Fraction
from typing import Any

import pytest
import z3

from exo.impl import Kernel
from exo.interface import (
    ENUMS,
    MAX_PACKET,
    OPERATIONS,
    Cap,
    Config,
    ExcKind,
    OpSig,
    Outcome,
    Result,
    Rights,
    Status,
    admit,
    null_value,
)
from exo.kit.conformance import abstract, differences, same_outcome
from exo.kit.explore import WEIGHTS, draw_args, two_running_envs
from exo.model import REGISTRY, State, initial
from exo.model.kernel import ModelImplementation
from tests.builders import COLLIDING

CFG = COLLIDING

NAMES = list(OPERATIONS)
NAME_WEIGHTS = [WEIGHTS.get(n, 1) for n in NAMES]
"""The random walks' weights (``exo.kit.explore.WEIGHTS``): state-building operations first."""


# --------------------------------------------------------------------------- hostile values


class Boom(Exception):
    """Raised by a hostile method: GEN-1 says it never runs."""


class EqRaises(int):
    """``==`` and ``!=`` raise (the hash is int's, so it can sit in a dict)."""

    def __eq__(self, other: object) -> bool:
        raise Boom("__eq__")

    def __ne__(self, other: object) -> bool:
        raise Boom("__ne__")

    __hash__ = int.__hash__


class EqLies(int):
    """Equal to everything, unequal to nothing, every hash 0."""

    def __eq__(self, other: object) -> bool:
        return True

    def __ne__(self, other: object) -> bool:
        return False

    def __hash__(self) -> int:
        return 0


class IndexRaises(int):
    """``__index__`` raises: used as a list index or in ``range``."""

    def __index__(self) -> int:
        raise Boom("__index__")


class HashRaises(int):
    """``hash`` raises: used as a dict or set key."""

    def __hash__(self) -> int:
        raise Boom("__hash__")


class OrderLies(int):
    """Every ordering comparison says True, so any range check passes."""

    def __lt__(self, other: object) -> bool:
        return True

    def __le__(self, other: object) -> bool:
        return True

    def __gt__(self, other: object) -> bool:
        return True

    def __ge__(self, other: object) -> bool:
        return True


class IntRaises(int):
    """``int()``, ``float()`` and ``operator.index`` raise."""

    def __int__(self) -> int:
        raise Boom("__int__")

    def __index__(self) -> int:
        raise Boom("__index__")

    def __float__(self) -> float:
        raise Boom("__float__")


class BoolRaises(int):
    """Truth testing raises."""

    def __bool__(self) -> bool:
        raise Boom("__bool__")


class ArithLies(int):
    """Arithmetic answers a huge number; ``%`` raises."""

    def __add__(self, other: object) -> int:
        return 10**30

    __radd__ = __add__

    def __mod__(self, other: object) -> int:
        raise Boom("__mod__")


class AllHostile(int):
    """Every method a checker might call raises, ``repr`` included."""

    def __eq__(self, other: object) -> bool:
        raise Boom("__eq__")

    def __ne__(self, other: object) -> bool:
        raise Boom("__ne__")

    def __hash__(self) -> int:
        raise Boom("__hash__")

    def __lt__(self, other: object) -> bool:
        raise Boom("__lt__")

    def __le__(self, other: object) -> bool:
        raise Boom("__le__")

    def __gt__(self, other: object) -> bool:
        raise Boom("__gt__")

    def __ge__(self, other: object) -> bool:
        raise Boom("__ge__")

    def __bool__(self) -> bool:
        raise Boom("__bool__")

    def __index__(self) -> int:
        raise Boom("__index__")

    def __int__(self) -> int:
        raise Boom("__int__")

    def __repr__(self) -> str:
        raise Boom("__repr__")


class HostileMeta(type):
    """A metaclass whose ``==`` and ``hash`` raise: ``type(v) in (...)`` would run them."""

    def __eq__(cls, other: object) -> bool:
        raise Boom("metaclass __eq__")

    def __hash__(cls) -> int:
        raise Boom("metaclass __hash__")


class MetaInt(int, metaclass=HostileMeta):
    """An int subclass whose class compares and hashes with a raising metaclass."""


class FakeInt:
    """Not an int at all, but ``isinstance(FakeInt(), int)`` is True (``__class__``)."""

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return int

    def __index__(self) -> int:
        return 1

    def __int__(self) -> int:
        return 1


class FakeBool:
    """Claims to be a bool; truth testing raises."""

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return bool

    def __bool__(self) -> bool:
        raise Boom("__bool__")


class ForeignEnum(IntEnum):
    """An IntEnum that is not one of the project's (exo.interface.ENUMS)."""

    A = 0
    B = 1
    C = 2


class HostileEnum(IntEnum):
    """A foreign IntEnum whose members compare by raising."""

    X = 0
    Y = 1

    def __eq__(self, other: object) -> bool:
        raise Boom("enum __eq__")

    __hash__ = IntEnum.__hash__


@dataclass(frozen=True, repr=False)
class CapSub(Cap):
    """A subclass of Cap with nothing changed."""


@dataclass(frozen=True, repr=False)
class CapGetattrRaises(Cap):
    """A subclass of Cap whose every attribute read raises."""

    def __getattribute__(self, name: str) -> Any:
        raise Boom(f"getattr {name}")


class FakeCap:
    """Looks like a capability to ``isinstance`` and to attribute reads."""

    def __init__(self, page: int, gen: int, rights: int) -> None:
        self.page, self.gen, self.rights = page, gen, rights

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return Cap


class TupleSub(tuple[Any, ...]):
    """A tuple subclass with nothing changed (like the kit's old labelled Program)."""


class HostileTuple(tuple[Any, ...]):
    """A tuple subclass whose iteration, length, indexing, hash and equality raise."""

    def __iter__(self) -> Any:
        raise Boom("__iter__")

    def __len__(self) -> int:
        raise Boom("__len__")

    def __getitem__(self, i: Any) -> Any:
        raise Boom("__getitem__")

    def __hash__(self) -> int:
        raise Boom("__hash__")

    def __eq__(self, other: object) -> bool:
        raise Boom("__eq__")


class LenLiesTuple(tuple[Any, ...]):
    """A tuple subclass that says it is empty."""

    def __len__(self) -> int:
        return 0


class FakeTuple:
    """Claims to be a tuple and iterates like the program it wraps."""

    def __init__(self, items: tuple[Any, ...]) -> None:
        self.items = items

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return tuple

    def __iter__(self) -> Any:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


class BytesSub(bytes):
    """A bytes subclass with nothing changed (like the kit's old labelled Packet)."""


class HostileBytes(bytes):
    """A bytes subclass whose length, indexing, iteration, hash and equality raise."""

    def __len__(self) -> int:
        raise Boom("__len__")

    def __getitem__(self, i: Any) -> Any:
        raise Boom("__getitem__")

    def __iter__(self) -> Any:
        raise Boom("__iter__")

    def __hash__(self) -> int:
        raise Boom("__hash__")

    def __eq__(self, other: object) -> bool:
        raise Boom("__eq__")


class FakeBytes:
    """Claims to be bytes."""

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return bytes

    def __len__(self) -> int:
        return 1


class StrSub(str):
    """A str subclass with nothing changed."""


class HostileStr(str):
    """An operation name whose hash and equality raise."""

    def __hash__(self) -> int:
        raise Boom("__hash__")

    def __eq__(self, other: object) -> bool:
        raise Boom("__eq__")


HOSTILE_INT_TYPES: tuple[Callable[[int], Any], ...] = (
    EqRaises, EqLies, IndexRaises, HashRaises, OrderLies, IntRaises, BoolRaises, ArithLies,
    AllHostile, MetaInt)


def bad_ints(v: int) -> list[Any]:
    """Values that are not an integer argument, built around the valid value ``v``."""
    return [*(t(v) for t in HOSTILE_INT_TYPES), FakeInt(), ForeignEnum.B, HostileEnum.Y,
            True, False, float(v), math.nan, math.inf, -math.inf, str(v), None, [v], (v,),
            b"\x01", 1j, Fraction(v), Decimal(v), Cap(0, 0, 2)]


def bad_bools(v: bool) -> list[Any]:
    """Values that are not a bool argument (bool itself cannot be subclassed)."""
    return [int(v), BoolRaises(int(v)), EqLies(1), AllHostile(1), FakeBool(), None, "True",
            1.0, math.nan, [v], ForeignEnum.B, Status.INVALID_ARGUMENT]


def bad_caps(c: Cap) -> list[Any]:
    """Values that are not a capability argument, most built around the valid ``c``."""
    out: list[Any] = [CapSub(c.page, c.gen, c.rights), CapGetattrRaises(c.page, c.gen, c.rights),
                      FakeCap(c.page, c.gen, c.rights), (c.page, c.gen, c.rights), None,
                      c.page, object.__new__(Cap)]
    for f in ("page", "gen", "rights"):
        fields = {"page": c.page, "gen": c.gen, "rights": c.rights}
        for bad in (*(t(fields[f]) for t in HOSTILE_INT_TYPES), FakeInt(), True,
                    float(fields[f]), None, "1", math.nan, ForeignEnum.A):
            out.append(Cap(**{**fields, f: bad}))
    return out


def bad_programs(p: tuple[Any, ...]) -> list[Any]:
    """Values that are not a program argument, most built around the valid ``p``."""
    first = p[0] if p else (6, 0, 0, 1)
    out: list[Any] = [TupleSub(p), HostileTuple(p), LenLiesTuple(p), FakeTuple(p), list(p),
                      tuple(list(i) for i in p), (TupleSub(first),), (HostileTuple(first),),
                      (FakeTuple(first),), (first[:3],), ((*first, 0),), (0,), None, "ret #1",
                      b"\x06", 7, ((6, 0, 0, -1),), ((6, 0, 0, 2**32),), ((0x10000, 0, 0, 1),),
                      ((6, 256, 0, 1),), ((6, 0, -1, 1),), ((6.0, 0, 0, 1),),
                      ((True, 0, 0, 1),), ((6, 0, 0, None),)]
    for i in range(4):
        for t in HOSTILE_INT_TYPES:
            insn = list(first)
            insn[i] = t(first[i])
            out.append((*p[:-1], tuple(insn)) if p else (tuple(insn),))
        insn = list(first)
        insn[i] = ForeignEnum.A
        out.append((tuple(insn),))
    return out


def bad_packets(b: bytes) -> list[Any]:
    """Values that are not a packet argument, most built around the valid ``b``."""
    return [BytesSub(b), HostileBytes(b), FakeBytes(), bytearray(b), memoryview(b), list(b),
            b.decode("latin-1"), None, 7, b"\x00" * (MAX_PACKET + 1), (b,)]


BAD_NAMES: tuple[Callable[[str], Any], ...] = (
    StrSub, HostileStr, lambda n: n.encode(), lambda n: None, lambda n: 7,
    lambda n: "no_such_op", lambda n: n.upper(), lambda n: [n])
"""Operation names that are not exactly a ``str`` naming an operation."""

EXTREME_INTS: tuple[int, ...] = (10**100, -(10**100), 2**64, -(2**63), -1)
"""Ints of the right type but outside every range: any status, never a raise."""


def bad_values(kind: str, valid: Any) -> list[Any]:
    """The hostile pool for an argument of ``kind`` whose valid value is ``valid``."""
    if kind == "int":
        return bad_ints(valid if type(valid) is int else 1)
    if kind == "bool":
        return bad_bools(valid if type(valid) is bool else True)
    if kind == "cap":
        return bad_caps(valid if type(valid) is Cap else Cap(0, 0, 2))
    if kind == "program":
        return bad_programs(valid if type(valid) is tuple else ((6, 0, 0, 1),))
    return bad_packets(valid if type(valid) is bytes else b"\x01")


_MEMBERS: dict[int, list[IntEnum]] = {}
for _enum in ENUMS:
    for _member in _enum:
        _MEMBERS.setdefault(int(_member), []).append(_member)


def as_enum(rng: random.Random, v: int) -> Any:
    """A member of one of the project's enums whose value is ``v``, if there is one."""
    members = _MEMBERS.get(v) if type(v) is int else None
    return rng.choice(members) if members else v


def show(v: Any) -> str:
    """A description of ``v`` that calls none of its methods (``object.__repr__`` reads the
    C-level type name only)."""
    t = type(v)
    if t is int or t is bool or t is float or t is type(None):
        r = repr(v)
        return r if len(r) <= 24 else r[:21] + "..."
    if t is str or t is bytes:
        r = repr(v)
        return r if len(r) <= 24 else r[:21] + "..."
    if any(t is e for e in ENUMS):  # a project enum instance (a member or not): its int
        return f"{t.__name__}({int.__repr__(v)})"
    if t is tuple and len(v) <= 8:
        return "(" + ", ".join(show(x) for x in v) + ")"
    if t is Cap:
        fields = (object.__getattribute__(v, "__dict__").get(f, "-")
                  for f in ("page", "gen", "rights"))
        return "Cap(" + ", ".join(show(x) for x in fields) + ")"
    text = object.__repr__(v)
    return text.split(" object at ")[0].lstrip("<").replace(f"{__name__}.", "")


# --------------------------------------------------------------------------- the set-up


def byte_filter(v: int) -> tuple[tuple[int, int, int, int], ...]:
    """NET-1: a filter accepting exactly the packets whose first byte is ``v``."""
    return ((0x30, 0, 0, 0), (0x15, 0, 1, v), (0x06, 0, 0, 0xFFFF), (0x06, 0, 0, 0))


@functools.cache
def setup() -> tuple[State, tuple[Cap, ...], tuple[tuple[str, tuple[Any, ...]], ...]]:
    """A non-trivial state: envs 0..2 live (0 and 1 with every entry point and a slice, env
    0 running), pages owned by all three, two TLB mappings, a guaranteed mapping, a shared
    read capability, two packet filters and a packet waiting, a register and a word set.
    Returns the model state, the capabilities made, and the script that reaches it."""
    s = initial(CFG)
    caps: list[Cap] = []
    script: list[tuple[str, tuple[Any, ...]]] = []

    def do(name: str, *args: Any) -> Result:
        nonlocal s
        s, res = REGISTRY[name](s, *args)
        assert res.status == Status.OK, (name, args, res)
        script.append((name, args))
        if type(res.value) is Cap:
            caps.append(res.value)
        return res

    for name, args in two_running_envs():
        do(name, *args)
    do("env_create", 2, 2)
    c0, c1, c2 = (do("alloc", e, p).value for e, p in ((0, 0), (0, 1), (1, 2)))
    do("alloc", 2, 3)
    do("tlbwr", 0, 0, c0, True)
    do("tlbwr", 0, 1, c1, False)
    do("gm_set", 1, 0, 2, c2, True)
    do("grant", 0, c1, 1, int(Rights.READ))
    do("filter_install", 0, byte_filter(1))
    do("filter_install", 1, byte_filter(2))
    do("packet_arrive", b"\x02hi")
    do("set_reg", 0, 7)
    do("store", 0, 1, 0)
    return s, tuple(caps), tuple(script)


def fresh_kernel(factory: Callable[[Config], Kernel]) -> Kernel:
    """A kernel from ``factory`` brought to the ``setup()`` state by the same script."""
    kernel = factory(CFG)
    expected, _, script = setup()
    for name, args in script:
        res = kernel.apply(name, *args)
        assert res.status == Status.OK, (name, args, res)
    assert differences(expected, abstract(CFG, kernel.observe())) == []
    return kernel


# --------------------------------------------------------------------------- the driver


@dataclass
class Call:
    """One call: the name handed over, the arguments, and what the caller knows of them."""

    name: Any
    op: str
    args: tuple[Any, ...]
    must_refuse: bool
    hostile_name: bool = False


def draw_call(rng: random.Random, s: State, caps: list[Cap], hostile_share: float) -> Call:
    """A call of a random operation: valid arguments (``exo.kit.explore.draw_args``, with some
    turned into enum members or extreme ints), and with probability ``hostile_share`` at
    least one argument from the hostile pool, a wrong argument count, or a bad name."""
    op = rng.choices(NAMES, NAME_WEIGHTS)[0]
    sig = OPERATIONS[op]
    args: list[Any] = list(draw_args(rng, op, s, caps))
    for i, (_, kind) in enumerate(sig.args):  # valid variations: enums, extremes
        a = args[i]
        if kind == "int" and type(a) is int:
            if rng.random() < 0.25:
                args[i] = as_enum(rng, a)
            elif rng.random() < 0.03:
                args[i] = rng.choice(EXTREME_INTS)
            elif rng.random() < 0.01:  # an instance of a project enum that is no member
                args[i] = int.__new__(rng.choice(ENUMS), rng.choice(EXTREME_INTS))
        elif kind == "cap" and type(a) is Cap and rng.random() < 0.25:
            args[i] = Cap(as_enum(rng, a.page), a.gen, as_enum(rng, a.rights))
    if rng.random() >= hostile_share:
        return Call(op, op, tuple(args), False)
    roll = rng.random()
    if roll < 0.03:
        name = rng.choice(BAD_NAMES)(op)
        return Call(name, op, tuple(args), True, hostile_name=True)
    if roll < 0.12 or not sig.args:  # a wrong argument count
        if args and rng.random() < 0.5:
            del args[rng.randrange(len(args))]
        else:
            args.insert(rng.randrange(len(args) + 1), rng.choice([0, True, None, AllHostile(0)]))
        return Call(op, op, tuple(args), True)
    first = rng.randrange(len(args))
    for i, (_, kind) in enumerate(sig.args):
        if i == first or rng.random() < 0.2:
            args[i] = rng.choice(bad_values(kind, args[i]))
    return Call(op, op, tuple(args), True)


@dataclass
class Report:
    """What ``drive`` saw: calls, statuses, and the failures by kind (first few shown)."""

    calls: int = 0
    refused: int = 0
    compared: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def fail(self, kind: str, call: Call, detail: str) -> None:
        self.kinds[kind] += 1
        if len(self.failures) < 12:
            self.failures.append(f"{kind}: {show(call.name)}"
                                 f"({', '.join(show(a) for a in call.args)}): {detail}")

    def text(self) -> str:
        return (f"{self.calls} calls, {self.refused} refused, failures {dict(self.kinds)}:\n"
                + "\n".join(self.failures))


def _status(res: Any) -> str:
    try:
        return Status(res.status).name
    except Exception:
        return "?"


def _refusal(sig: OpSig | None) -> Result:
    return Result(Status.INVALID_ARGUMENT, 0 if sig is None else null_value(sig))


def _is_refusal(res: Any, sig: OpSig | None) -> bool:
    """Exactly INVALID_ARGUMENT with the null value (compared on exact types only)."""
    want = _refusal(sig)
    return (type(res) is Result and (type(res.status) is int or type(res.status) is Status)
            and res.status == want.status and type(res.value) is type(want.value)
            and res.value == want.value)


def drive(steps: int, seed: int, *, hostile_share: float = 0.85,
          kernel_factory: Callable[[Config], Kernel] = Kernel,
          model_ops: Mapping[str, Callable[..., tuple[State, Result]]] = REGISTRY,
          reset_every: int = 500, max_failures: int = 40) -> Report:
    """Run ``steps`` calls on the model and the implementation side by side, from
    ``setup()`` (again every ``reset_every`` calls and after a failure); check each as the
    module doc says. Stops after ``max_failures`` failures."""
    rng = random.Random(seed)
    report = Report()
    start, start_caps, _ = setup()
    s, caps = start, list(start_caps)
    kernel = fresh_kernel(kernel_factory)
    obs = kernel.observe()
    for step in range(steps):
        if step and step % reset_every == 0:
            s, caps, kernel = start, list(start_caps), fresh_kernel(kernel_factory)
            obs = kernel.observe()
        call = draw_call(rng, s, caps, hostile_share)
        sig = OPERATIONS[call.op]
        report.calls += 1
        ok = True
        if call.hostile_name:
            new, expected = s, _refusal(None)
        else:
            try:
                new, expected = model_ops[call.op](s, *call.args)
            except Exception as exc:
                report.fail("model raised", call, f"{type(exc).__name__}: {exc}")
                new, expected, ok = s, _refusal(sig), False
        try:
            got = kernel.apply(call.name, *call.args)
        except Exception as exc:
            report.fail("impl raised", call, f"{type(exc).__name__}: {exc}")
            got, ok = _refusal(sig), False
        try:
            ok = _check(report, call, sig, s, new, expected, got, kernel, obs, ok)
        except Exception as exc:  # a checker that trips over a value that got through
            report.fail("check raised", call, f"{type(exc).__name__}: {exc}")
            ok = False
        if not ok:
            if sum(report.kinds.values()) >= max_failures:
                return report
            s, caps, kernel = start, list(start_caps), fresh_kernel(kernel_factory)
            obs = kernel.observe()
            continue
        report.statuses[_status(expected)] += 1
        if expected.status == Status.INVALID_ARGUMENT:
            report.refused += 1
        elif expected.status == Status.OK:
            obs = kernel.observe()
            if type(expected.value) is Cap:
                caps.append(expected.value)
        s = new
    return report


def _check(report: Report, call: Call, sig: OpSig, s: State, new: State, expected: Result,
           got: Result, kernel: Kernel, obs: dict[str, Any], ok: bool) -> bool:
    """The checks of one call (see the module doc); False if any failed."""
    if not ok:
        return False
    if call.must_refuse:
        if not _is_refusal(expected, None if call.hostile_name else sig):
            report.fail("not refused (model)", call, repr(expected))
            ok = False
        if not _is_refusal(got, None if call.hostile_name else sig):
            report.fail("not refused (impl)", call, repr(got))
            ok = False
    if ok and not same_outcome(s, call.op, call.args, expected, got):
        report.fail("results differ", call, f"model {expected!r}, impl {got!r}")
        ok = False
    status = expected.status
    if status != Status.OK or not ok:
        if new is not s and new != s:
            report.fail("model changed on failure", call, f"status {_status(expected)}")
            ok = False
        if kernel.observe() != obs:
            report.fail("impl changed on failure", call, f"status {_status(got)}")
            ok = False
    elif new is s:  # OK, and the model did not change: neither may the implementation
        if kernel.observe() != obs:
            report.fail("impl changed alone", call, "the model state did not change")
            ok = False
    else:
        report.compared += 1
        diff = differences(new, abstract(CFG, kernel.observe()))
        if diff:
            report.fail("states differ", call, "; ".join(diff))
            ok = False
    return ok


# --------------------------------------------------------------------------- the tests


def test_hostile_pool_GEN_1() -> None:
    """GEN-1/GEN-2: 10^5 operations (most with a hostile argument) from the same states in
    model and implementation: nothing raises, hostile calls are INVALID_ARGUMENT with the
    null value, results agree, failures change nothing, successes agree in state."""
    report = drive(100_000, seed=1)
    assert report.kinds == Counter(), report.text()
    assert report.calls == 100_000
    # not vacuous: many refusals, and the valid share reaches deep, successful paths
    assert report.refused >= 80_000, report.text()
    assert report.statuses["OK"] >= 3_000, report.statuses
    assert report.compared >= 1_000, report.compared
    assert len(report.statuses) >= 10, report.statuses


def test_admit_refuses_every_hostile_value_without_calling_it_GEN_1() -> None:
    """GEN-1: ``admit`` refuses each hostile value of the pool for its kind, in the
    implementation's mode and in the model's (Z3) mode, and none of its methods runs
    (every raising method would surface as a ``Boom``)."""
    valid = {"int": 1, "bool": True, "cap": Cap(0, 0, 2), "program": byte_filter(1),
             "packet": b"\x01"}
    for kind, good in valid.items():
        sig = OpSig("probe", "GEN-1", (("a", kind),))  # type: ignore[arg-type]
        assert admit(sig, (good,)) == (good,)
        for bad in bad_values(kind, good):
            for symbolic in (False, True):
                assert admit(sig, (bad,), symbolic) is None, (kind, show(bad), symbolic)
    sig = OPERATIONS["alloc"]
    assert admit(sig, (0,)) is None and admit(sig, (0, 0, 0)) is None
    assert admit(sig, [0, 0]) is None  # type: ignore[arg-type]  # not a tuple of arguments
    assert admit(OPERATIONS["timer_tick"], (AllHostile(0),)) is None


def test_project_enum_members_are_plain_ints_GEN_1() -> None:
    """GEN-1: a member of a project enum (also inside a Cap) is handed on as a plain int,
    and the call gives the same result and state as with the plain int, in the model and
    in the implementation (two kernels side by side); a foreign IntEnum is refused."""
    sig = OPERATIONS["grant"]
    plain = admit(sig, (Status.OK, Cap(ExcKind.UNALIGNED, 0, Rights.READWRITE), Outcome.ACCESS,
                        Rights.READ))
    assert plain == (0, Cap(1, 0, 2), 1, 1)
    assert plain is not None and all(type(a) is int for a in (plain[0], plain[2], plain[3]))
    assert type(plain[1].page) is int and type(plain[1].rights) is int
    assert admit(sig, (ForeignEnum.A, Cap(0, 0, 2), 1, 1)) is None
    # programs are exact ints throughout: not even a project enum member inside one
    assert admit(OPERATIONS["filter_install"], (0, ((Rights.NONE, 0, 0, 1),))) is None
    rng = random.Random(7)
    s, start_caps, _ = setup()
    caps = list(start_caps)
    k_plain, k_enum = fresh_kernel(Kernel), fresh_kernel(Kernel)
    enum_used = 0
    for _ in range(3000):
        op = rng.choice(NAMES)
        args = draw_args(rng, op, s, caps)
        enum_args = []
        for (_, kind), a in zip(OPERATIONS[op].args, args, strict=True):
            if kind == "int" and type(a) is int:
                a = as_enum(rng, a)
            elif kind == "cap" and type(a) is Cap:
                a = Cap(as_enum(rng, a.page), as_enum(rng, a.gen), as_enum(rng, a.rights))
            enum_args.append(a)
        enum_used += sum(type(a) is not type(b) for a, b in zip(args, enum_args, strict=True))
        new, res = REGISTRY[op](s, *args)
        new_e, res_e = REGISTRY[op](s, *enum_args)
        assert res == res_e and new == new_e, (op, args, res, res_e)
        got, got_e = k_plain.apply(op, *args), k_enum.apply(op, *enum_args)
        assert same_outcome(s, op, args, res, got) and got == got_e, (op, args, got, got_e)
        assert k_plain.observe() == k_enum.observe(), (op, args)
        if res.status == Status.OK and type(res.value) is Cap:
            caps.append(res.value)
        s = new
    assert enum_used >= 1000
    assert differences(s, abstract(CFG, k_enum.observe())) == []


def test_z3_terms_pass_for_the_model_only_GEN_1() -> None:
    """GEN-1: Z3 integer and boolean terms (also as Cap fields, and as the opaque program
    and packet ids of the proofs) are admitted in the model's mode and refused in the
    implementation's; a Z3 real is no integer; the kernel refuses Z3 terms."""
    x, b = z3.Int("x"), z3.Bool("b")
    sig = OPERATIONS["tlbwr"]
    symbolic_args = (x, z3.IntVal(3), Cap(x, x + 1, z3.IntVal(2)), b)
    assert admit(sig, symbolic_args, symbolic=True) is not None
    assert admit(sig, (x, 0, Cap(0, 0, 2), True), symbolic=True) is not None
    assert admit(sig, (0, 0, Cap(0, 0, 2), z3.BoolVal(True)), symbolic=True) is not None
    assert admit(sig, symbolic_args) is None
    assert admit(sig, (0, 0, Cap(0, x, 2), True)) is None
    assert admit(sig, (z3.Real("r"), 0, Cap(0, 0, 2), True), symbolic=True) is None
    assert admit(OPERATIONS["filter_install"], (0, x), symbolic=True) is not None
    assert admit(OPERATIONS["packet_arrive"], (x,), symbolic=True) is not None
    assert admit(OPERATIONS["packet_arrive"], (x,)) is None
    k = Kernel(CFG)
    before = k.observe()
    assert k.apply("tlbwr", *symbolic_args) == Result(Status.INVALID_ARGUMENT, 0)
    assert k.apply("env_create", z3.IntVal(0), 0) == Result(Status.INVALID_ARGUMENT, 0)
    assert k.observe() == before


def test_operation_names_must_be_exact_str_GEN_1() -> None:
    """GEN-1: an operation name that is a str subclass (a raising ``__hash__`` included),
    bytes, or no name at all is INVALID_ARGUMENT with value 0, in the kernel and in the
    kit's model wrapper, and changes nothing."""
    k, m = fresh_kernel(Kernel), ModelImplementation(CFG)
    before, model_before = k.observe(), m.state
    for make in BAD_NAMES:
        for impl in (k, m):
            assert impl.apply(make("alloc"), 2, 3) == Result(Status.INVALID_ARGUMENT, 0)
    assert k.observe() == before and m.state is model_before


# --------------------------------------------------------------------------- broken variants


def isinstance_admit(sig: OpSig, args: tuple[object, ...], symbolic: bool = False
                     ) -> tuple[Any, ...] | None:
    """BROKEN: the check by ``isinstance`` (what GEN-1 replaced): subclasses and objects
    faking ``__class__`` pass, and their methods run inside the operation."""
    def int_ok(v: object) -> bool:
        return (isinstance(v, int) and not isinstance(v, bool)) or (
            symbolic and isinstance(v, z3.ArithRef))

    def ok(kind: str, v: Any) -> bool:
        if kind == "int":
            return int_ok(v)
        if kind == "bool":
            return isinstance(v, bool) or (symbolic and isinstance(v, z3.BoolRef))
        if kind == "cap":
            return isinstance(v, Cap) and all(int_ok(getattr(v, f))
                                              for f in ("page", "gen", "rights"))
        if kind == "program":
            return isinstance(v, tuple) and all(
                isinstance(i, tuple) and len(i) == 4 and all(int_ok(f) for f in i)
                and 0 <= i[0] <= 0xFFFF and 0 <= i[1] <= 0xFF and 0 <= i[2] <= 0xFF
                and 0 <= i[3] <= 0xFFFFFFFF for i in v)
        return isinstance(v, bytes) and len(v) <= MAX_PACKET

    if len(args) != len(sig.args):
        return None
    if not all(ok(kind, a) for (_, kind), a in zip(sig.args, args, strict=True)):
        return None
    return tuple(args)


def countless_admit(sig: OpSig, args: tuple[object, ...], symbolic: bool = False
                    ) -> tuple[Any, ...] | None:
    """BROKEN: the exact-type check of each argument, but the count is never checked
    (extra arguments are ignored, missing ones reach the operation)."""
    n = min(len(args), len(sig.args))
    head = admit(OpSig(sig.name, sig.clause, sig.args[:n]), tuple(args[:n]), symbolic)
    return None if head is None else head + tuple(args[n:len(sig.args)])


def bool_int_admit(sig: OpSig, args: tuple[object, ...], symbolic: bool = False
                   ) -> tuple[Any, ...] | None:
    """BROKEN: a bool is taken for an int (``True`` as 1)."""
    widened = tuple(int(a) if type(a) is bool and k == "int" else a
                    for (_, k), a in zip(sig.args, args, strict=False))
    return admit(sig, widened + tuple(args[len(widened):]), symbolic)


class DirtyRefusalKernel(Kernel):
    """BROKEN: counts refused calls in a state field (the clock) before refusing."""

    def apply(self, name: str, *args: Any) -> Result:
        res = super().apply(name, *args)
        if res.status == Status.INVALID_ARGUMENT:
            self.state.now += 1
        return res


class OffByOneRegisterKernel(Kernel):
    """BROKEN: ``set_reg`` of register 1 answers OK like the model but stores value + 1
    (register 0, which the set-up writes, is right)."""

    def apply(self, name: str, *args: Any) -> Result:
        res = super().apply(name, *args)
        if name == "set_reg" and res.status == Status.OK and int(args[0]) == 1:
            self.state.regs[1] += 1
        return res


def _dirty_model_ops() -> dict[str, Callable[..., tuple[State, Result]]]:
    """BROKEN: a model whose refusals advance the clock."""
    def wrap(op: Callable[..., tuple[State, Result]]) -> Callable[..., tuple[State, Result]]:
        def dirty(s: State, *args: Any) -> tuple[State, Result]:
            new, res = op(s, *args)
            if res.status == Status.INVALID_ARGUMENT:
                new = s.replace(now=s.now + 1)
            return new, res
        return dirty
    return {name: wrap(op) for name, op in REGISTRY.items()}


def test_isinstance_admit_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pool catches an ``isinstance`` admit in model and implementation: hostile
    methods run inside the operations (they raise) and look-alikes are not refused."""
    monkeypatch.setattr("exo.model.ops.admit", isinstance_admit)
    monkeypatch.setattr("exo.impl.kernel.admit", isinstance_admit)
    report = drive(3000, seed=2)
    assert report.kinds["model raised"] > 0, report.text()
    assert report.kinds["impl raised"] > 0, report.text()
    assert report.kinds["not refused (model)"] > 0, report.text()


def test_countless_admit_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pool catches an admit that skips the argument count."""
    monkeypatch.setattr("exo.model.ops.admit", countless_admit)
    monkeypatch.setattr("exo.impl.kernel.admit", countless_admit)
    report = drive(3000, seed=3)
    assert report.kinds["model raised"] > 0, report.text()  # too few: TypeError
    assert report.kinds["not refused (model)"] > 0, report.text()  # too many: accepted


def test_impl_only_broken_admit_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """An implementation whose admit takes ``True`` for 1 while the model refuses: the
    implementation does not refuse, and the results differ."""
    monkeypatch.setattr("exo.impl.kernel.admit", bool_int_admit)
    report = drive(3000, seed=4)
    assert report.kinds["not refused (impl)"] > 0, report.text()
    assert report.kinds["not refused (model)"] == 0, report.text()
    monkeypatch.setattr("exo.model.ops.admit", bool_int_admit)  # both broken alike
    report = drive(3000, seed=4)
    assert report.kinds["not refused (model)"] > 0, report.text()


def test_results_differ_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """The agreement check alone catches a difference (no must-refuse involved): the
    model admits a bool for an int, the implementation does not, on calls the driver
    believes valid (so only ``same_outcome`` can tell)."""
    monkeypatch.setattr("exo.model.ops.admit", bool_int_admit)

    def bools_look_valid(rng: random.Random, s: State, caps: list[Cap], share: float) -> Call:
        op = rng.choice(["env_destroy", "packet_take", "abort", "scall"])
        return Call(op, op, (rng.choice([True, False]),), False)

    monkeypatch.setattr(sys.modules[__name__], "draw_call", bools_look_valid)
    report = drive(200, seed=5)
    assert report.kinds["results differ"] > 0, report.text()


def test_dirty_refusals_are_caught() -> None:
    """A refusal that changes the state is caught, in the implementation and the model."""
    report = drive(500, seed=6, kernel_factory=DirtyRefusalKernel)
    assert report.kinds["impl changed on failure"] > 0, report.text()
    report = drive(500, seed=6, model_ops=_dirty_model_ops())
    assert report.kinds["model changed on failure"] > 0, report.text()


def test_wrong_state_after_success_is_caught() -> None:
    """A success with the right result but the wrong state is caught by the comparison."""
    report = drive(3000, seed=7, kernel_factory=OffByOneRegisterKernel, hostile_share=0.2)
    assert report.kinds["states differ"] > 0, report.text()
