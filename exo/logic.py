"""The logic layer: the small vocabulary every model transition is written in.

One model text, two interpretations (design brief). Every transition in ``exo.model`` is
written only with the names below, so the same function

* runs on Python values (``bool``/``int``): ``If`` picks a branch, maps are dictionaries —
  this is what the tests, Hypothesis and the CLI execute;
* builds Z3 terms on symbolic values: ``If`` becomes ``z3.If``, a map is a function
  (Hyperkernel style: ``set(k, v)`` is ``λx. If(x == k, v, old(x))``) — this is what the
  proofs reason about.

Rules for model code (checked: ``strict_symbolic`` makes any Python branch on a Z3 term
raise instead of silently answering):

* no ``if``/``and``/``or``/``not``/``min``/``max`` on model values — use ``If``, ``And``,
  ``Or``, ``Not``, ``Min``, ``Max``;
* a map is read with ``m[k]`` and changed with ``m.set(k, v)`` or ``m.map(fn)`` (bulk);
* a search over a size (``find``/``exists``/``forall``) goes through this module.

This module is trusted code; ``tests/test_logic.py`` checks both interpretations against
each other on every primitive, state merge included.
"""

from __future__ import annotations

import dataclasses
import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeAlias

import z3

# A model value: a Python int/bool, or a Z3 term standing for one.
Val: TypeAlias = Any
BoolV: TypeAlias = Any
IntV: TypeAlias = Any


def is_symbolic(x: object) -> bool:
    """True if ``x`` is (or contains at its top) a Z3 term."""
    return isinstance(x, z3.ExprRef)


def _concrete_bool(c: object) -> bool | None:
    if isinstance(c, bool):
        return c
    if isinstance(c, z3.ExprRef):
        return None
    raise TypeError(f"logic: condition must be a bool or a Z3 Bool term, not {type(c).__name__}")


# --------------------------------------------------------------------------- connectives


def If(c: BoolV, a: Any, b: Any) -> Any:
    """``a`` if ``c`` else ``b``, for scalars, maps, tuples and dataclasses (field-wise)."""
    cb = _concrete_bool(c)
    if cb is not None:
        return a if cb else b
    return _merge(c, a, b)


def _merge(c: z3.BoolRef, a: Any, b: Any) -> Any:
    if a is b:
        return a
    if isinstance(a, Map) or isinstance(b, Map):
        if not (isinstance(a, Map) and isinstance(b, Map)):
            raise TypeError("logic.If: cannot merge a map with a non-map")
        return SymMap.ite(c, a, b)
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        if type(a) is not type(b):
            raise TypeError(f"logic.If: cannot merge {type(a).__name__} with {type(b).__name__}")
        changes = {
            f.name: _merge(c, getattr(a, f.name), getattr(b, f.name))
            for f in dataclasses.fields(a)
        }
        return dataclasses.replace(a, **changes)
    if isinstance(a, tuple):
        if not isinstance(b, tuple) or len(a) != len(b):
            raise TypeError("logic.If: cannot merge tuples of different shapes")
        return tuple(_merge(c, x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool | z3.BoolRef) and isinstance(b, bool | z3.BoolRef):
        return z3.If(c, a, b)
    if isinstance(a, int | z3.ArithRef) and isinstance(b, int | z3.ArithRef):
        return z3.If(c, a, b)
    if isinstance(a, int | z3.BitVecRef) and isinstance(b, int | z3.BitVecRef):
        return z3.If(c, a, b)
    raise TypeError(f"logic.If: cannot merge {type(a).__name__} with {type(b).__name__}")


def And(*xs: BoolV) -> BoolV:
    """Conjunction. Every argument is evaluated (no short-circuit): write guards, not order."""
    for x in xs:  # a loop, not all(genexpr): the concrete model calls this constantly
        if type(x) is not bool:
            return z3.And(*xs)
    return all(xs)


def Or(*xs: BoolV) -> BoolV:
    """Disjunction. Every argument is evaluated (no short-circuit)."""
    for x in xs:
        if type(x) is not bool:
            return z3.Or(*xs)
    return any(xs)


def Not(x: BoolV) -> BoolV:
    """Negation."""
    if isinstance(x, bool):
        return not x
    return z3.Not(x)


def Implies(a: BoolV, b: BoolV) -> BoolV:
    """``a ⇒ b``."""
    if isinstance(a, bool) and isinstance(b, bool):
        return (not a) or b
    return z3.Implies(a, b)


def Min(a: IntV, b: IntV) -> IntV:
    """The smaller of two ints."""
    return If(a <= b, a, b)


def Max(a: IntV, b: IntV) -> IntV:
    """The larger of two ints."""
    return If(a >= b, a, b)


def in_range(k: IntV, n: IntV) -> BoolV:
    """``0 <= k < n``."""
    if type(k) is int and type(n) is int:
        return 0 <= k < n
    return And(0 <= k, k < n)


def first_failure(checks: Sequence[tuple[BoolV, int]], ok: int) -> IntV:
    """The status of the first failing check, else ``ok``.

    ``checks`` is a list of ``(failed, status)`` pairs in the order the spec clause lists
    its preconditions; the result is the nested ``If`` over them.
    """
    result: IntV = ok
    for failed, status in reversed(checks):
        result = If(failed, status, result)
    return result


# --------------------------------------------------------------------------- symbolic context


class SymbolicContext:
    """Collects the side conditions that give meaning to fresh symbols.

    ``find`` introduces a fresh index and ``hashed`` an uninterpreted index function; their
    defining axioms are recorded here, and a proof must assume them.
    """

    def __init__(self) -> None:
        self.axioms: list[z3.BoolRef] = []
        self._counter = itertools.count()
        self._functions: dict[str, z3.FuncDeclRef] = {}
        self.range_axioms: set[str] = set()
        self.oracle_axioms: set[str] = set()

    def fresh_int(self, prefix: str) -> z3.ArithRef:
        return z3.Int(f"{prefix}!{next(self._counter)}")

    def function(self, name: str, arity: int, result: z3.SortRef) -> z3.FuncDeclRef:
        f = self._functions.get(name)
        if f is None:
            f = z3.Function(name, *([z3.IntSort()] * arity), result)
            self._functions[name] = f
        return f

    def assumption(self) -> z3.BoolRef:
        return z3.And(*self.axioms) if self.axioms else z3.BoolVal(True)


_active: list[SymbolicContext] = []


def symbolic_mode() -> bool:
    """Is model code running inside ``strict_symbolic`` (the proofs' symbolic mode)? Only
    then do model operations admit Z3 terms as arguments (GEN-1, ``exo.model.ops``)."""
    return bool(_active)


def context() -> SymbolicContext:
    """The innermost active symbolic context (raises if symbolic code runs without one)."""
    if not _active:
        raise RuntimeError("symbolic model code must run inside logic.strict_symbolic()")
    return _active[-1]


def _strict_bool(self: z3.ExprRef) -> bool:
    if z3.is_true(self):
        return True
    if z3.is_false(self):
        return False
    raise TypeError(
        "model code branched in Python on a symbolic value; use logic.If/And/Or/Not "
        f"instead (term: {str(self)[:80]})"
    )


@contextmanager
def strict_symbolic(ctx: SymbolicContext | None = None) -> Iterator[SymbolicContext]:
    """Run model code on Z3 terms: collect side conditions, forbid Python branching.

    Inside this block ``bool(term)`` raises for every non-literal Z3 term — including the
    equality that plain z3py silently answers structurally (design brief, "traps").
    """
    ctx = ctx or SymbolicContext()
    saved = z3.ExprRef.__bool__
    z3.ExprRef.__bool__ = _strict_bool
    _active.append(ctx)
    try:
        yield ctx
    finally:
        _active.pop()
        z3.ExprRef.__bool__ = saved


# --------------------------------------------------------------------------- search


def _sizes_concrete(sizes: tuple[IntV, ...]) -> bool:
    return all(isinstance(n, int) and not isinstance(n, bool) for n in sizes)


def forall(sizes: tuple[IntV, ...], body: Callable[..., BoolV], name: str = "i") -> BoolV:
    """``∀ k ∈ [0,n1)×[0,n2)×…: body(k…)``; enumerated when the sizes are concrete."""
    if _sizes_concrete(sizes):
        values = [body(*ks) for ks in itertools.product(*map(range, sizes))]
        if all(isinstance(v, bool) for v in values):
            return all(values)
        return z3.And(*values) if values else z3.BoolVal(True)
    xs = [z3.Int(f"{name}{j}") for j in range(len(sizes))]
    guard = z3.And(*[z3.And(0 <= x, x < n) for x, n in zip(xs, sizes, strict=True)])
    return z3.ForAll(xs, z3.Implies(guard, body(*xs)))


def find(n: IntV, pred: Callable[[IntV], BoolV], name: str = "found",
         fast: Callable[[], int] | None = None) -> IntV:
    """The least ``k`` in ``[0, n)`` with ``pred(k)``, or ``-1`` if there is none.

    Symbolically: a fresh constant whose defining axiom is added to the context. With a
    concrete size, ``fast`` (if given) computes the same answer faster than trying
    ``pred`` on every index (tests check the two agree).
    """
    if _sizes_concrete((n,)) and fast is not None:
        return fast()
    if _sizes_concrete((n,)):
        hits = [pred(k) for k in range(n)]
        if all(isinstance(h, bool) for h in hits):
            return next((k for k, h in enumerate(hits) if h), -1)
        found: IntV = -1
        for k in reversed(range(n)):
            found = z3.If(hits[k], k, found)
        return found
    ctx = context()
    k = ctx.fresh_int(name)
    j = z3.Int(f"{name}_j")
    none_before = z3.ForAll([j], z3.Implies(z3.And(0 <= j, j < k), z3.Not(pred(j))))
    none_at_all = z3.ForAll([j], z3.Implies(z3.And(0 <= j, j < n), z3.Not(pred(j))))
    ctx.axioms.append(
        z3.Or(
            z3.And(k == -1, none_at_all),
            z3.And(0 <= k, k < n, pred(k), none_before),
        )
    )
    return k


def oracle(name: str, fn: Callable[..., Any], args: tuple[Any, ...], sort: z3.SortRef,
           axioms: Callable[[SymbolicContext], list[Any]] | None = None) -> Any:
    """A fact computed outside the logic layer (running a packet filter, asking Z3 whether
    two filters overlap). On Python values: ``fn(*args)``. On Z3 terms: an uninterpreted
    function ``name`` constrained only by ``axioms`` — facts the concrete ``fn`` is tested
    to satisfy — so a proof holds for every function with those properties.
    """
    if not any(isinstance(a, z3.ExprRef) for a in args):
        return fn(*args)
    ctx = context()
    f = ctx.function(name, len(args), sort)
    if axioms is not None and name not in ctx.oracle_axioms:
        ctx.oracle_axioms.add(name)
        ctx.axioms.extend(axioms(ctx))
    return f(*args)


def exists(n: IntV, pred: Callable[[IntV], BoolV], name: str = "found") -> BoolV:
    """``∃ k ∈ [0, n): pred(k)`` (through ``find``, so no quantifier sits in a transition)."""
    return find(n, pred, name) >= 0


def hashed(name: str, fn: Callable[[Any, Any, int], Any], a: IntV, b: IntV, n: IntV) -> IntV:
    """A slot index in ``[0, n)`` computed from ``(a, b)``.

    With a concrete size this is ``fn(a, b, n)`` — the shared interface's index function,
    which the optimized implementation uses too; it is plain arithmetic, so it also builds
    a Z3 term on symbolic ``a``/``b``. With a symbolic size it is an *uninterpreted*
    function constrained only to land in range, so a proof for all sizes holds for every
    index function.
    """
    if isinstance(n, int) and not isinstance(n, bool):
        return fn(a, b, n)
    ctx = context()
    h = ctx.function(f"index_{name}", 2, z3.IntSort())
    if name not in ctx.range_axioms:
        x, y = z3.Ints(f"{name}_x {name}_y")
        ctx.axioms.append(
            z3.ForAll([x, y], z3.And(0 <= h(x, y), h(x, y) < n), patterns=[h(x, y)])
        )
        ctx.range_axioms.add(name)
    return h(a, b)


# --------------------------------------------------------------------------- maps


class Map(ABC):
    """A total function from ``arity`` int keys to values, over a domain of sizes.

    Reading outside the domain gives the map's default concretely and an unconstrained
    value symbolically: model code guards every key with ``in_range`` first.
    """

    sizes: tuple[IntV, ...]

    @abstractmethod
    def __getitem__(self, key: Any) -> Val:
        """The value at ``key`` (an int, or a tuple of ints for arity > 1)."""

    @abstractmethod
    def set(self, key: Any, value: Val) -> Map:
        """A copy with ``key`` mapped to ``value``."""

    @abstractmethod
    def map(self, fn: Callable[..., Val]) -> Map:
        """Bulk update: every key ``k`` gets ``fn(*k, old_value)``."""

    def update(self, changes: Iterable[tuple[Any, Val]]) -> Map:
        """A copy with every ``(key, value)`` of ``changes`` set, in order (keys outside
        the domain ignored, as by ``set``)."""
        m = self
        for key, value in changes:
            m = m.set(key, value)
        return m


_ABSENT: Any = object()


def _key(key: Any) -> tuple[Any, ...]:
    return key if isinstance(key, tuple) else (key,)


class ConMap(Map):
    """The concrete interpretation: an immutable dictionary over the whole domain."""

    __slots__ = ("_data", "default", "sizes")

    def __init__(self, sizes: tuple[int, ...], default: Val, data: dict[Any, Val] | None = None):
        self.sizes = sizes
        self.default = default
        if data is None:
            data = {self._norm(ks): default for ks in itertools.product(*map(range, sizes))}
        self._data = data

    @staticmethod
    def _norm(ks: tuple[Any, ...]) -> Any:
        return ks[0] if len(ks) == 1 else ks

    def _inside(self, ks: tuple[Any, ...]) -> bool:
        sizes = self.sizes
        if len(ks) != len(sizes):
            return False
        for k, n in zip(ks, sizes, strict=True):
            if type(k) is not int and (not isinstance(k, int) or isinstance(k, bool)):
                return False
            if not 0 <= k < n:
                return False
        return True

    def _slot(self, key: Any) -> Any:
        """The key of ``_data`` that ``key`` names, or ``_ABSENT`` outside the domain."""
        kind = type(key)
        if kind is int:  # the common case, one index
            return key if len(self.sizes) == 1 and 0 <= key < self.sizes[0] else _ABSENT
        if kind is tuple and len(key) == 2 and type(key[0]) is int and type(key[1]) is int:
            sizes = self.sizes
            return key if (len(sizes) == 2 and 0 <= key[0] < sizes[0]
                           and 0 <= key[1] < sizes[1]) else _ABSENT
        ks = _key(key)
        return self._norm(ks) if self._inside(ks) else _ABSENT

    def __getitem__(self, key: Any) -> Val:
        # fast path: an in-domain key is a key of ``_data`` as it is (ints, not bools —
        # ``True == 1`` would otherwise find slot 1); an exact int or pair of ints
        # outside the domain is no key of ``_data`` either
        kind = type(key)
        if kind is int or (kind is tuple and len(key) == 2 and type(key[0]) is int
                           and type(key[1]) is int):
            return self._data.get(key, self.default)
        ks = _key(key)
        if not self._inside(ks):
            return self.default
        return self._data[self._norm(ks)]

    def set(self, key: Any, value: Val) -> ConMap:
        k = self._slot(key)
        if k is _ABSENT:
            return self
        data = dict(self._data)
        data[k] = value
        return ConMap(self.sizes, self.default, data)

    def update(self, changes: Iterable[tuple[Any, Val]]) -> ConMap:
        batch = list(changes)
        if not batch:
            return self
        data = dict(self._data)  # one copy for the whole batch
        slot = self._slot
        for key, value in batch:
            k = slot(key)
            if k is not _ABSENT:
                data[k] = value
        return ConMap(self.sizes, self.default, data)

    def overlay(self, entries: dict[Any, Val]) -> ConMap:
        """A copy with every entry of ``entries`` set in one step. Its keys must be keys of
        this map exactly as ``items`` gives them (exact ints, or tuples of exact ints, in
        range): the caller has checked them (``exo.kit.conformance.malformed``)."""
        if not entries:
            return self
        data = dict(self._data)
        data.update(entries)
        return ConMap(self.sizes, self.default, data)

    def map(self, fn: Callable[..., Val]) -> ConMap:
        # ``_data`` holds every key of the domain, in domain order (built so; ``set``,
        # ``update`` and ``overlay`` only replace values), so its items are the domain
        if len(self.sizes) == 1:
            data = {k: fn(k, v) for k, v in self._data.items()}
        else:
            data = {k: fn(*k, v) for k, v in self._data.items()}
        return ConMap(self.sizes, self.default, data)

    def items(self) -> Iterator[tuple[Any, Val]]:
        return iter(self._data.items())

    def differing(self, other: ConMap) -> list[Any]:
        """The keys at which ``other`` (a map of the same domain) holds another value, in
        domain order (a set difference of the two item views, then sorted: the domain's
        order is the sorted order of its keys)."""
        return sorted({k for k, _ in self._data.items() - other._data.items()})

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ConMap)
            and self.sizes == other.sizes
            and self._data == other._data
        )

    def __hash__(self) -> int:
        return hash((self.sizes, tuple(sorted(self._data.items()))))

    def __repr__(self) -> str:
        changed = {k: v for k, v in self._data.items() if v != self.default}
        return f"ConMap({changed})"


class SymMap(Map):
    """The symbolic interpretation: a Python function from key terms to a value term."""

    __slots__ = ("fn", "sizes")

    def __init__(self, sizes: tuple[IntV, ...], fn: Callable[..., Val]):
        self.sizes = sizes
        self.fn = fn

    @staticmethod
    def base(name: str, sizes: tuple[IntV, ...], sort: z3.SortRef) -> SymMap:
        """An arbitrary map: an uninterpreted function ``name``."""
        f = z3.Function(name, *([z3.IntSort()] * len(sizes)), sort)
        return SymMap(sizes, lambda *ks: f(*ks))

    @staticmethod
    def const(sizes: tuple[IntV, ...], value: Val) -> SymMap:
        return SymMap(sizes, lambda *ks: value)

    @staticmethod
    def ite(c: z3.BoolRef, a: Map, b: Map) -> SymMap:
        fa, fb = _as_fn(a), _as_fn(b)
        return SymMap(a.sizes, lambda *ks: z3.If(c, fa(*ks), fb(*ks)))

    def __getitem__(self, key: Any) -> Val:
        return self.fn(*_key(key))

    def set(self, key: Any, value: Val) -> SymMap:
        ks = _key(key)
        old = self.fn

        def fn(*xs: Any) -> Val:
            same = z3.And(*[x == k for x, k in zip(xs, ks, strict=True)])
            return z3.If(same, value, old(*xs))

        return SymMap(self.sizes, fn)

    def map(self, fn: Callable[..., Val]) -> SymMap:
        old = self.fn
        return SymMap(self.sizes, lambda *xs: fn(*xs, old(*xs)))


def _as_fn(m: Map) -> Callable[..., Val]:
    if isinstance(m, SymMap):
        return m.fn
    if isinstance(m, ConMap):
        return lambda *ks: _con_lookup(m, ks)
    raise TypeError("not a map")


def _con_lookup(m: ConMap, ks: tuple[Any, ...]) -> Val:
    """A concrete map read at symbolic keys: an If-chain over its domain."""
    result: Val = m.default
    for k, v in m.items():
        kt = _key(k)
        same = z3.And(*[x == y for x, y in zip(ks, kt, strict=True)])
        result = z3.If(same, v, result)
    return result


def lift(m: Map) -> SymMap:
    """A concrete map as a symbolic one (for running the model on Z3 terms)."""
    if isinstance(m, SymMap):
        return m
    return SymMap(m.sizes, _as_fn(m))


# --------------------------------------------------------------------------- 32-bit words

MASK32 = 0xFFFFFFFF


def _ints(*xs: Any) -> bool:
    return all(isinstance(x, int) and not isinstance(x, bool) for x in xs)


def wconst(v: int, like: Any) -> Any:
    """The 32-bit constant ``v`` in the interpretation of ``like``."""
    return v & MASK32 if _ints(like) else z3.BitVecVal(v & MASK32, 32)


def wadd(a: Any, b: Any) -> Any:
    """``a + b`` modulo 2**32."""
    return (a + b) & MASK32 if _ints(a, b) else a + b


def wsub(a: Any, b: Any) -> Any:
    """``a - b`` modulo 2**32."""
    return (a - b) & MASK32 if _ints(a, b) else a - b


def wmul(a: Any, b: Any) -> Any:
    """``a * b`` modulo 2**32."""
    return (a * b) & MASK32 if _ints(a, b) else a * b


def wdiv(a: Any, b: Any) -> Any:
    """Unsigned division (callers rule out ``b == 0`` first)."""
    if _ints(a, b):
        return a // b if b else 0
    return z3.UDiv(a, b)


def wmod(a: Any, b: Any) -> Any:
    """Unsigned remainder (callers rule out ``b == 0`` first)."""
    if _ints(a, b):
        return a % b if b else 0
    return z3.URem(a, b)


def wshl(a: Any, k: int) -> Any:
    """``a << k`` for a constant ``k < 32``, modulo 2**32."""
    return (a << k) & MASK32 if _ints(a) else a << k


def wshr(a: Any, k: int) -> Any:
    """Logical ``a >> k`` for a constant ``k < 32``."""
    return a >> k if _ints(a) else z3.LShR(a, k)


def wneg(a: Any) -> Any:
    """``-a`` modulo 2**32."""
    return (-a) & MASK32 if _ints(a) else -a


def wgt(a: Any, b: Any) -> BoolV:
    """Unsigned ``a > b``."""
    return a > b if _ints(a, b) else z3.UGT(a, b)


def wge(a: Any, b: Any) -> BoolV:
    """Unsigned ``a >= b``."""
    return a >= b if _ints(a, b) else z3.UGE(a, b)
