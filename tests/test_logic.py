"""The logic layer is trusted code: both interpretations must agree on every primitive.

Each test computes a primitive on Python values and on Z3 numerals standing for the same
values, and checks that the Z3 term simplifies to the Python answer (design brief: the
Hyperkernel merge-helper bug class).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import z3
from hypothesis import given
from hypothesis import strategies as st

from exo import logic
from exo.logic import And, ConMap, If, Implies, Max, Min, Not, Or, SymMap, lift, strict_symbolic

ints = st.integers(min_value=-5, max_value=5)


def num(x: Any) -> Any:
    if isinstance(x, bool):
        return z3.BoolVal(x)
    return z3.IntVal(x)


def value(t: Any) -> Any:
    """A Z3 term's Python value (it must simplify to a literal); Python values pass."""
    if isinstance(t, bool | int):
        return t
    t = z3.simplify(t)
    if z3.is_true(t):
        return True
    if z3.is_false(t):
        return False
    assert z3.is_int_value(t), f"not a literal: {t}"
    return t.as_long()


@given(st.booleans(), ints, ints)
def test_if_agrees(c: bool, a: int, b: int) -> None:
    assert value(If(num(c), num(a), num(b))) == If(c, a, b)


@given(st.lists(st.booleans(), min_size=1, max_size=4))
def test_connectives_agree(xs: list[bool]) -> None:
    zs = [num(x) for x in xs]
    assert value(And(*zs)) == And(*xs)
    assert value(Or(*zs)) == Or(*xs)
    assert value(Not(zs[0])) == Not(xs[0])
    assert value(Implies(zs[0], zs[-1])) == Implies(xs[0], xs[-1])


@given(ints, ints)
def test_min_max_agree(a: int, b: int) -> None:
    assert value(Min(num(a), num(b))) == Min(a, b) == min(a, b)
    assert value(Max(num(a), num(b))) == Max(a, b) == max(a, b)


@given(st.lists(st.tuples(st.booleans(), st.integers(1, 9)), max_size=4), st.integers(0, 3))
def test_first_failure_agrees(checks: list[tuple[bool, int]], ok: int) -> None:
    concrete = logic.first_failure(checks, ok)
    expected = next((status for failed, status in checks if failed), ok)
    assert concrete == expected
    symbolic = logic.first_failure([(num(f), s) for f, s in checks], ok)
    assert value(symbolic) == expected


@dataclasses.dataclass(frozen=True)
class Pair:
    left: Any
    right: Any


@given(st.booleans(), ints, ints, st.booleans(), st.booleans())
def test_merge_of_dataclasses_and_tuples_is_fieldwise(c: bool, a: int, b: int, x: bool,
                                                       y: bool) -> None:
    merged = If(num(c), Pair(num(a), (num(x), num(a))), Pair(num(b), (num(y), num(b))))
    expected = If(c, Pair(a, (x, a)), Pair(b, (y, b)))
    assert value(merged.left) == expected.left
    assert [value(t) for t in merged.right] == list(expected.right)


sizes = st.tuples(st.integers(1, 3), st.integers(1, 3))
keys = st.tuples(st.integers(-1, 3), st.integers(-1, 3))


@given(sizes, st.lists(st.tuples(keys, ints), max_size=5), st.booleans(), ints)
def test_maps_agree_on_set_map_and_merge(dims: tuple[int, int],
                                         writes: list[tuple[tuple[int, int], int]],
                                         c: bool, d: int) -> None:
    con = ConMap(dims, 0)
    sym: SymMap = lift(con)
    for k, v in writes:
        con = con.set(k, v)
        sym = sym.set(tuple(map(z3.IntVal, k)), num(v))
    con2 = con.map(lambda i, j, old: If(i == j, old + d, old))
    sym2 = sym.map(lambda i, j, old: z3.If(i == j, old + d, old))
    merged_c = If(c, con2, con)
    merged_s = If(num(c), sym2, sym)
    for i in range(dims[0]):
        for j in range(dims[1]):
            assert value(sym[z3.IntVal(i), z3.IntVal(j)]) == con[i, j]
            assert value(sym2[z3.IntVal(i), z3.IntVal(j)]) == con2[i, j]
            assert value(merged_s[z3.IntVal(i), z3.IntVal(j)]) == merged_c[i, j]


def test_concrete_map_ignores_writes_outside_its_domain() -> None:
    m = ConMap((2,), 7)
    assert m.set(-1, 1) == m and m.set(2, 1) == m and m.set("x", 1) == m
    assert m[-1] == 7 and m[99] == 7 and m[True] == 7


@given(st.lists(st.booleans(), max_size=5))
def test_find_exists_forall_agree(bits: list[bool]) -> None:
    n = len(bits)
    expected = next((k for k, b in enumerate(bits) if b), -1)
    assert logic.find(n, lambda k: bits[k]) == expected
    assert logic.exists(n, lambda k: bits[k]) == (expected >= 0)
    assert logic.forall((n,), lambda k: bits[k]) == all(bits)
    # concrete size, symbolic predicate: an If-chain
    zbits = [num(b) for b in bits]
    assert value(logic.find(n, lambda k: zbits[k])) == expected
    assert value(logic.forall((n,), lambda k: zbits[k])) == all(bits)


@given(st.lists(st.booleans(), min_size=1, max_size=5))
def test_symbolic_find_axiom_pins_the_least_index(bits: list[bool]) -> None:
    """With a symbolic size, ``find`` is a fresh constant whose axiom forces the answer."""
    n = z3.Int("n")
    table = z3.Function("bits", z3.IntSort(), z3.BoolSort())
    with strict_symbolic() as ctx:
        k = logic.find(n, lambda i: table(i))
    solver = z3.Solver()
    solver.add(ctx.assumption(), n == len(bits))
    solver.add(*[table(i) == b for i, b in enumerate(bits)])
    expected = next((i for i, b in enumerate(bits) if b), -1)
    solver.add(k != expected)
    assert solver.check() == z3.unsat


def test_symbolic_hash_is_constrained_to_its_range() -> None:
    n = z3.Int("n")
    with strict_symbolic() as ctx:
        h = logic.hashed("t", lambda a, b, m: 0, z3.Int("a"), z3.Int("b"), n)
    solver = z3.Solver()
    solver.add(ctx.assumption(), n >= 1, z3.Or(h < 0, h >= n))
    assert solver.check() == z3.unsat


def test_concrete_hash_uses_the_interface_function() -> None:
    assert logic.hashed("t", lambda a, b, m: (a + b) % m, 5, 6, 4) == 3
    # with a concrete size the same function builds a Z3 term on symbolic arguments
    term = logic.hashed("t", lambda a, b, m: (a + b) % m, z3.Int("a"), 6, 4)
    assert z3.simplify(z3.substitute(term, (z3.Int("a"), z3.IntVal(5)))).as_long() == 3


def test_strict_symbolic_forbids_python_branching_on_terms() -> None:
    """The trap of the brief: z3py answers ``bool(x == y)`` structurally, silently."""
    x, y = z3.Ints("x y")
    assert bool(x == y) is False  # plain z3py: silently 'False'
    with strict_symbolic(), pytest.raises(TypeError, match="branched in Python"):
        bool(x == y)
    with strict_symbolic(), pytest.raises(TypeError):
        _ = 1 if x == y else 0
    assert bool(x == y) is False  # restored afterwards


def test_symbolic_code_outside_a_context_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="strict_symbolic"):
        logic.find(z3.Int("n"), lambda i: i > 0)


def test_if_rejects_a_non_boolean_condition() -> None:
    with pytest.raises(TypeError):
        If(1, 2, 3)  # an int is not a condition: the model must compare explicitly
