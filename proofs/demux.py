"""FLT-8: translation validation of the generated demultiplexer (spec/filters.md).

``exo.impl.demux`` turns the installed filters into Python source and compiles it. This
module proves, with Z3, that *that source* computes what the reference says, on every
packet of at most ``MAX_PACKET`` bytes:

    classify(p) == owner of the first filter, in slot order, whose reference program
                   (``exo.model.filters.run``) returns non-zero on p, or -1

and that it never raises on the way (no index outside the packet, no negative index —
Python would wrap it — no division by zero, no unbound name, no call of ``None``).

The source is not trusted and not re-derived: it is parsed with ``ast`` and executed
symbolically, statement by statement, by a small interpreter for exactly the subset of
Python the generator emits (assignments, ``if``/``elif``/``else``, ``return``, ``and``/
``or``/``not``, ``:=``, integer arithmetic and comparisons, ``len(p)``, ``p[i]``, calls of
module functions, ``dict.get`` on module-level tables). Both sides of every ``if`` are run
and the variables merged with ``If`` terms, so one Z3 query covers every path. Anything
outside the subset is refused (``UnsupportedSource``), never approximated.

Python integers are unbounded; the interpreter uses 128-bit bit-vectors and keeps a
static interval for every value. An operation whose interval could leave ±2**120 is
refused, so the bit-vector arithmetic is exactly Python's on every value that occurs.

If Z3 finds a packet on which the two differ (or the source would raise), the packet is
replayed: the compiled source and the reference interpreter must really disagree on it,
otherwise the interpreter here is wrong and ``ValidationError`` is raised rather than a
false alarm reported.
"""

from __future__ import annotations

import ast
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

import z3

from exo.interface import MAX_PACKET
from exo.model.filters import SYMBOLIC_PACKET, Program, Question, evaluate, verdict_term

WIDTH = 128
"""Bit width standing in for Python's unbounded integers."""
LIMIT = 1 << 120
"""Every value's static interval must stay inside (-LIMIT, LIMIT)."""

Filter = tuple[int, int, Program]
"""An installed filter as the demultiplexer sees it: (slot, owner, program)."""


CHECK_RLIMIT = 20_000_000
"""FLT-8: Z3's resource budget (``rlimit``, Z3's own deterministic step count, not
seconds) for proving one generated module. Measured: 10 / 100 / 1,000 port filters need
about 0.02 / 0.6 / 15.8 million (``exo bench``'s FLT-8 row prints the count)."""

MAX_SOURCE_NODES = 20_000
"""FLT-8: the largest generated module (in ``ast`` nodes) that is interpreted at all: the
symbolic interpretation runs before Z3 and is not counted by ``rlimit``. Measured: 1,000
port filters are about 4,100 nodes; 14,500 nodes interpret in about 2.5 s."""


class UnsupportedSource(ValueError):
    """The generated source uses a construct this interpreter does not model."""


class ValidationError(RuntimeError):
    """Z3 gave no answer, or a counterexample that does not replay (a bug here)."""


class BudgetExhausted(ValidationError):
    """FLT-8: the module is larger than ``MAX_SOURCE_NODES`` or Z3 used up its ``rlimit``
    without an answer: not proved (never a pass)."""


@dataclass(frozen=True)
class Num:
    """An integer: a concrete ``int`` or a ``WIDTH``-bit term, with a static interval."""

    term: Any
    lo: int
    hi: int

    @staticmethod
    def const(v: int) -> Num:
        return Num(v, v, v)

    def bv(self) -> Any:
        return z3.BitVecVal(self.term, WIDTH) if isinstance(self.term, int) else self.term


@dataclass(frozen=True)
class Func:
    """A function defined in the generated module."""

    node: ast.FunctionDef


@dataclass(frozen=True)
class Choice:
    """A non-numeric value that depends on the packet: ``(condition, value)`` pairs whose
    conditions are disjoint and cover every case."""

    options: tuple[tuple[Any, Any], ...]


@dataclass(frozen=True)
class Partial:
    """A variable bound only on the paths where ``defined`` holds."""

    value: Any
    defined: Any


class Builtin:
    """``len``."""


LEN = Builtin()
Value = Any  # Num | bool | z3.BoolRef | None | Func | Choice | dict | Builtin | str


def _checked(lo: int, hi: int) -> tuple[int, int]:
    if not (-LIMIT < lo <= hi < LIMIT):
        raise UnsupportedSource(f"value interval [{lo}, {hi}] leaves the exact range")
    return lo, hi


def _bool(b: Any) -> Any:
    """Simplify a Z3 condition; Python bools stay as they are."""
    if isinstance(b, bool):
        return b
    s = z3.simplify(b)
    if z3.is_true(s):
        return True
    if z3.is_false(s):
        return False
    return s


def _z3bool(x: Any) -> Any:
    return z3.BoolVal(x) if isinstance(x, bool) else x


def _and(*xs: Any) -> Any:
    if any(x is False for x in xs):
        return False
    rest = [x for x in xs if x is not True]
    return True if not rest else rest[0] if len(rest) == 1 else z3.And(*rest)


def _or(*xs: Any) -> Any:
    if any(x is True for x in xs):
        return True
    rest = [x for x in xs if x is not False]
    return False if not rest else rest[0] if len(rest) == 1 else z3.Or(*rest)


def _not(x: Any) -> Any:
    return (not x) if isinstance(x, bool) else z3.Not(x)


def _ite(c: Any, a: Value, b: Value) -> Value:
    """The value ``a`` where ``c`` holds, else ``b``."""
    if c is True or a is b:
        return a
    if c is False:
        return b
    if isinstance(a, Partial) or isinstance(b, Partial):
        da = a.defined if isinstance(a, Partial) else True
        db = b.defined if isinstance(b, Partial) else True
        va = a.value if isinstance(a, Partial) else a
        vb = b.value if isinstance(b, Partial) else b
        return Partial(_ite(c, va, vb), _bool(z3.If(c, _z3bool(da), _z3bool(db))))
    if isinstance(a, Num) and isinstance(b, Num):
        if isinstance(a.term, int) and isinstance(b.term, int) and a.term == b.term:
            return a
        return Num(z3.If(c, a.bv(), b.bv()), min(a.lo, b.lo), max(a.hi, b.hi))
    if isinstance(a, bool | z3.BoolRef) and isinstance(b, bool | z3.BoolRef):
        return _bool(z3.If(c, a, b))
    if isinstance(a, Num | bool | z3.BoolRef) or isinstance(b, Num | bool | z3.BoolRef):
        raise UnsupportedSource("a variable is a number on one path and not on another")
    opts: list[tuple[Any, Any]] = []
    for cond, v in (a.options if isinstance(a, Choice) else ((True, a),)):
        opts.append((_and(c, cond), v))
    for cond, v in (b.options if isinstance(b, Choice) else ((True, b),)):
        opts.append((_and(_not(c), cond), v))
    return Choice(tuple(o for o in opts if o[0] is not False))


class _Returned(Exception):
    """Raised inside a block when every path through it has returned."""


class Interpreter:
    """Symbolic execution of one generated module on ``SYMBOLIC_PACKET``."""

    def __init__(self, source: str) -> None:
        try:
            tree = ast.parse(source)
        except SyntaxError as e:
            raise UnsupportedSource(f"not Python: {e}") from e
        self.globals: dict[str, Value] = {"len": LEN}
        self.obligations: list[tuple[Any, str]] = []
        pkt = SYMBOLIC_PACKET
        self.n = Num(z3.ZeroExt(WIDTH - 32, pkt.length), 0, MAX_PACKET)
        self.data = pkt.data
        for stmt in tree.body:
            if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                continue  # docstring
            if isinstance(stmt, ast.FunctionDef):
                self.globals[stmt.name] = Func(stmt)
            elif (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                  and isinstance(stmt.targets[0], ast.Name)):
                self.globals[stmt.targets[0].id] = self._module_value(stmt.value)
            else:
                raise UnsupportedSource(f"line {stmt.lineno}: module-level {type(stmt).__name__}")

    # ------------------------------------------------------------------ module constants

    def _module_value(self, node: ast.expr) -> Value:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return Num.const(node.value)
        if isinstance(node, ast.Dict):
            table: dict[int, Value] = {}
            for k, v in zip(node.keys, node.values, strict=True):
                if not (isinstance(k, ast.Constant) and type(k.value) is int):
                    raise UnsupportedSource(f"line {node.lineno}: table key")
                if isinstance(v, ast.Constant) and type(v.value) is int:
                    table[k.value] = Num.const(v.value)
                elif isinstance(v, ast.Name) and isinstance(self.globals.get(v.id), Func):
                    table[k.value] = self.globals[v.id]
                else:
                    raise UnsupportedSource(f"line {node.lineno}: table value")
            return table
        raise UnsupportedSource(f"line {node.lineno}: module-level value")

    # ------------------------------------------------------------------ entry point

    def call(self, name: str, args: list[Value], active: Any = True) -> Value:
        fn = self.globals.get(name)
        if not isinstance(fn, Func):
            raise UnsupportedSource(f"no function {name}")
        return self._call(fn, args, active)

    def _call(self, fn: Func, args: list[Value], active: Any) -> Value:
        params = [a.arg for a in fn.node.args.args]
        if len(params) != len(args) or fn.node.args.vararg or fn.node.args.kwarg:
            raise UnsupportedSource(f"call of {fn.node.name} with {len(args)} arguments")
        frame = _Frame(dict(zip(params, args, strict=True)), active)
        with contextlib.suppress(_Returned):
            self._block(fn.node.body, frame)
        if frame.active is not False:
            raise UnsupportedSource(f"{fn.node.name} may end without a return")
        return frame.result

    # ------------------------------------------------------------------ statements

    def _block(self, body: list[ast.stmt], frame: _Frame) -> None:
        for stmt in body:
            if frame.active is False:
                raise _Returned
            self._stmt(stmt, frame)

    def _stmt(self, stmt: ast.stmt, frame: _Frame) -> None:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(
                stmt.targets[0], ast.Name):
            frame.env[stmt.targets[0].id] = self._expr(stmt.value, frame, frame.active)
        elif isinstance(stmt, ast.Return):
            if stmt.value is None:
                raise UnsupportedSource(f"line {stmt.lineno}: bare return")
            value = self._expr(stmt.value, frame, frame.active)
            frame.result = value if frame.result is None else _ite(frame.active, value,
                                                                    frame.result)
            frame.active = False
        elif isinstance(stmt, ast.If):
            self._if(stmt, frame)
        elif isinstance(stmt, ast.Pass) or (isinstance(stmt, ast.Expr)
                                            and isinstance(stmt.value, ast.Constant)):
            pass
        else:
            raise UnsupportedSource(f"line {stmt.lineno}: statement {type(stmt).__name__}")

    def _if(self, stmt: ast.If, frame: _Frame) -> None:
        cond = self._truth(stmt.test, frame, frame.active)
        if cond is True or cond is False:
            branch = stmt.body if cond else stmt.orelse
            try:
                self._block(branch, frame)
            except _Returned:
                frame.active = False
            return
        before = frame.active
        arms: list[_Frame] = []
        for guard, branch in ((cond, stmt.body), (_not(cond), stmt.orelse)):
            sub = _Frame(dict(frame.env), _bool(_and(before, guard)), frame.result)
            try:
                self._block(branch, sub)
            except _Returned:
                sub.active = False
            arms.append(sub)
        then, other = arms
        env: dict[str, Value] = {}
        for name in then.env.keys() | other.env.keys():
            a, b = then.env.get(name), other.env.get(name)
            if name not in other.env:
                env[name] = Partial(a, cond) if name in then.env else b
            elif name not in then.env:
                env[name] = Partial(b, _not(cond))
            else:
                env[name] = _ite(cond, a, b)
        frame.env = env
        frame.result = (then.result if other.result is None else other.result
                        if then.result is None else _ite(cond, then.result, other.result))
        frame.active = _bool(_or(then.active, other.active))

    # ------------------------------------------------------------------ expressions

    def _oblige(self, active: Any, ok: Any, what: str) -> None:
        if active is not False and ok is not True:
            self.obligations.append((z3.Implies(z3.BoolVal(True) if active is True else active,
                                                z3.BoolVal(ok) if isinstance(ok, bool) else ok),
                                     what))

    def _truth(self, node: ast.expr, frame: _Frame, active: Any) -> Any:
        """``node`` as a condition (Python truthiness)."""
        if isinstance(node, ast.BoolOp):
            parts: list[Any] = []
            reach = active
            for operand in node.values:
                if reach is False:
                    break  # short-circuited on every path: Python never evaluates the rest
                t = self._truth(operand, frame, reach)
                parts.append(t)
                reach = _bool(_and(reach, t if isinstance(node.op, ast.And) else _not(t)))
            return _bool(_and(*parts) if isinstance(node.op, ast.And) else _or(*parts))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return _not(self._truth(node.operand, frame, active))
        v = self._expr(node, frame, active)
        return self._as_bool(v, node)

    def _as_bool(self, v: Value, node: ast.AST) -> Any:
        if isinstance(v, bool | z3.BoolRef):
            return v
        if isinstance(v, Num):
            if isinstance(v.term, int):
                return v.term != 0
            return _bool(v.term != 0)
        raise UnsupportedSource(f"line {getattr(node, 'lineno', '?')}: truth of a non-number")

    def _expr(self, node: ast.expr, frame: _Frame, active: Any) -> Value:
        if isinstance(node, ast.Constant):
            if type(node.value) is int:
                return Num.const(node.value)
            if node.value is None or isinstance(node.value, bool):
                return node.value
            raise UnsupportedSource(f"line {node.lineno}: constant {node.value!r}")
        if isinstance(node, ast.Name):
            return self._name(node, frame, active)
        if isinstance(node, ast.NamedExpr):
            value = self._expr(node.value, frame, active)
            frame.env[node.target.id] = Partial(value, active) if active is not True else value
            return value
        if isinstance(node, ast.BinOp):
            return self._binop(node, self._num(node.left, frame, active),
                               self._num(node.right, frame, active), active)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            a = self._num(node.operand, frame, active)
            lo, hi = _checked(-a.hi, -a.lo)
            return Num(-a.term if isinstance(a.term, int) else -a.bv(), lo, hi)
        if isinstance(node, ast.Compare):
            return self._compare(node, frame, active)
        if isinstance(node, ast.BoolOp | ast.UnaryOp):
            return self._truth(node, frame, active)
        if isinstance(node, ast.Subscript):
            return self._subscript(node, frame, active)
        if isinstance(node, ast.Call):
            return self._call_expr(node, frame, active)
        raise UnsupportedSource(f"line {node.lineno}: expression {type(node).__name__}")

    def _name(self, node: ast.Name, frame: _Frame, active: Any) -> Value:
        if node.id in frame.env:
            v = frame.env[node.id]
            while isinstance(v, Partial):
                self._oblige(active, v.defined, f"line {node.lineno}: {node.id} is bound")
                v = v.value
            return v
        if node.id in self.globals:
            return self.globals[node.id]
        raise UnsupportedSource(f"line {node.lineno}: unknown name {node.id}")

    def _num(self, node: ast.expr, frame: _Frame, active: Any) -> Num:
        v = self._expr(node, frame, active)
        if not isinstance(v, Num):
            raise UnsupportedSource(f"line {node.lineno}: arithmetic on a non-number")
        return v

    def _binop(self, node: ast.BinOp, a: Num, b: Num, active: Any) -> Num:
        op = node.op
        both = isinstance(a.term, int) and isinstance(b.term, int)
        where = f"line {node.lineno}"
        if isinstance(op, ast.FloorDiv | ast.Mod):
            if a.lo < 0 or b.lo < 0:
                raise UnsupportedSource(f"{where}: division of a possibly negative value")
            self._oblige(active, _bool(b.bv() != 0), f"{where}: division by zero")
        if isinstance(op, ast.LShift | ast.RShift) and not (isinstance(b.term, int)
                                                              and 0 <= b.term < 64):
            raise UnsupportedSource(f"{where}: shift by a non-constant")
        if both and not (isinstance(op, ast.FloorDiv | ast.Mod) and b.term == 0):
            v = _PY[type(op)](a.term, b.term)
            return Num(v, *_checked(v, v))
        lo, hi = _interval(op, a, b, where)
        x, y = a.bv(), b.bv()
        term: Any
        if isinstance(op, ast.Add):
            term = x + y
        elif isinstance(op, ast.Sub):
            term = x - y
        elif isinstance(op, ast.Mult | ast.FloorDiv | ast.Mod) and a.lo >= 0 and b.lo >= 0:
            # non-negative operands: compute at the narrowest width that holds the exact
            # result (bit-blasting a 128-bit division costs Z3 minutes, a 32-bit one
            # milliseconds), then widen — the same value
            term = _narrow(op, x, y, max(a.hi, b.hi, hi).bit_length())
        elif isinstance(op, ast.Mult):
            term = x * y
        elif isinstance(op, ast.BitAnd):
            term = x & y
        elif isinstance(op, ast.BitOr):
            term = x | y
        elif isinstance(op, ast.BitXor):
            term = x ^ y
        elif isinstance(op, ast.LShift):
            term = x << y
        else:
            term = x >> y  # arithmetic shift, as Python's
        return Num(z3.simplify(term), lo, hi)

    def _compare(self, node: ast.Compare, frame: _Frame, active: Any) -> Any:
        if len(node.ops) != 1:
            raise UnsupportedSource(f"line {node.lineno}: chained comparison")
        op, right = node.ops[0], node.comparators[0]
        if isinstance(op, ast.Is | ast.IsNot):
            if not (isinstance(right, ast.Constant) and right.value is None):
                raise UnsupportedSource(f"line {node.lineno}: 'is' other than with None")
            v = self._expr(node.left, frame, active)
            options = v.options if isinstance(v, Choice) else ((True, v),)
            is_none = _bool(_or(*[c for c, o in options if o is None]))
            return is_none if isinstance(op, ast.Is) else _bool(_not(is_none))
        a, b = self._num(node.left, frame, active), self._num(right, frame, active)
        if isinstance(a.term, int) and isinstance(b.term, int):
            return _PYCMP[type(op)](a.term, b.term)
        x, y = a.bv(), b.bv()
        cmps: dict[type, Callable[[Any, Any], Any]] = {
            ast.Eq: lambda p, q: p == q, ast.NotEq: lambda p, q: p != q,
            ast.Lt: lambda p, q: p < q, ast.LtE: lambda p, q: p <= q,
            ast.Gt: lambda p, q: p > q, ast.GtE: lambda p, q: p >= q}
        if type(op) not in cmps:
            raise UnsupportedSource(f"line {node.lineno}: comparison {type(op).__name__}")
        return _bool(cmps[type(op)](x, y))  # signed, exact inside the checked range

    def _subscript(self, node: ast.Subscript, frame: _Frame, active: Any) -> Num:
        base = node.value
        if not (isinstance(base, ast.Name) and base.id == "p"
                and self._name(base, frame, active) == "packet"):
            raise UnsupportedSource(f"line {node.lineno}: subscript of something else than p")
        i = self._num(node.slice, frame, active)
        self._oblige(active, _bool(z3.And(i.bv() >= 0, i.bv() < self.n.bv())),
                     f"line {node.lineno}: p[{ast.unparse(node.slice)}] inside the packet")
        byte = z3.Select(self.data, z3.Extract(31, 0, i.bv()))
        return Num(z3.ZeroExt(WIDTH - 8, byte), 0, 255)

    def _call_expr(self, node: ast.Call, frame: _Frame, active: Any) -> Value:
        if node.keywords:
            raise UnsupportedSource(f"line {node.lineno}: keyword arguments")
        f = node.func
        if isinstance(f, ast.Attribute) and f.attr == "get":
            table = self._expr(f.value, frame, active)
            if not isinstance(table, dict) or not 1 <= len(node.args) <= 2:
                raise UnsupportedSource(f"line {node.lineno}: .get on a non-table")
            key = self._num(node.args[0], frame, active)
            default = self._expr(node.args[1], frame, active) if len(node.args) == 2 else None
            return _lookup(table, key, default)
        callee = self._expr(f, frame, active)
        args = [self._expr(a, frame, active) for a in node.args]
        if callee is LEN:
            if args != ["packet"]:
                raise UnsupportedSource(f"line {node.lineno}: len of something else than p")
            return self.n
        options = callee.options if isinstance(callee, Choice) else ((True, callee),)
        result: Value = None
        for cond, fn in options:
            reach = _bool(_and(active, cond))
            if reach is False:
                continue
            if not isinstance(fn, Func):
                self._oblige(reach, False, f"line {node.lineno}: call of a non-function")
                continue
            value = self._call(fn, args, reach)
            result = value if result is None else _ite(cond, value, result)
        return result


@dataclass
class _Frame:
    env: dict[str, Value]
    active: Any
    result: Value = None


_PY: dict[type, Callable[[int, int], int]] = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
    ast.FloorDiv: lambda a, b: a // b, ast.Mod: lambda a, b: a % b,
    ast.BitAnd: lambda a, b: a & b, ast.BitOr: lambda a, b: a | b,
    ast.BitXor: lambda a, b: a ^ b, ast.LShift: lambda a, b: a << b,
    ast.RShift: lambda a, b: a >> b}
_PYCMP: dict[type, Callable[[int, int], bool]] = {
    ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b, ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b, ast.Gt: lambda a, b: a > b, ast.GtE: lambda a, b: a >= b}


def _narrow(op: ast.operator, x: Any, y: Any, bits: int) -> Any:
    """``x op y`` for non-negative ``x``, ``y`` and result below ``2**bits``."""
    w = next((w for w in (32, 64) if bits <= w), WIDTH)
    if w == WIDTH:
        return x * y if isinstance(op, ast.Mult) else (
            z3.UDiv(x, y) if isinstance(op, ast.FloorDiv) else z3.URem(x, y))
    xs, ys = z3.Extract(w - 1, 0, x), z3.Extract(w - 1, 0, y)
    r = xs * ys if isinstance(op, ast.Mult) else (
        z3.UDiv(xs, ys) if isinstance(op, ast.FloorDiv) else z3.URem(xs, ys))
    return z3.ZeroExt(WIDTH - w, r)


def _interval(op: ast.operator, a: Num, b: Num, where: str) -> tuple[int, int]:
    """A static interval containing ``a op b`` (Python semantics)."""
    if isinstance(op, ast.Add):
        return _checked(a.lo + b.lo, a.hi + b.hi)
    if isinstance(op, ast.Sub):
        return _checked(a.lo - b.hi, a.hi - b.lo)
    if isinstance(op, ast.Mult):
        ends = [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi]
        return _checked(min(ends), max(ends))
    if isinstance(op, ast.FloorDiv):
        return _checked(0, a.hi)
    if isinstance(op, ast.Mod):
        return _checked(0, min(a.hi, b.hi))
    if isinstance(op, ast.LShift | ast.RShift):
        k = cast(int, b.term)
        return _checked(a.lo << k, a.hi << k) if isinstance(op, ast.LShift) else (
            a.lo >> k, a.hi >> k)
    if isinstance(op, ast.BitAnd):
        if a.lo >= 0 or b.lo >= 0:
            return _checked(0, min(x.hi for x in (a, b) if x.lo >= 0))
    elif isinstance(op, ast.BitOr | ast.BitXor) and a.lo >= 0 and b.lo >= 0:
        return _checked(0, (1 << max(a.hi, b.hi).bit_length()) - 1)
    if isinstance(op, ast.BitAnd | ast.BitOr | ast.BitXor):
        m = 1 << max(abs(a.lo), abs(a.hi), abs(b.lo), abs(b.hi)).bit_length()
        return _checked(-m, m)
    raise UnsupportedSource(f"{where}: operator {type(op).__name__}")


def _lookup(table: dict[int, Value], key: Num, default: Value) -> Value:
    """``table.get(key, default)`` for a possibly symbolic key."""
    if isinstance(key.term, int):
        return table.get(key.term, default)
    result = default
    for k in sorted(table, reverse=True):
        result = _ite(_bool(key.bv() == z3.BitVecVal(k, WIDTH)), table[k], result)
    return result


# ---------------------------------------------------------------------- the check


def reference_term(filters: Sequence[Filter]) -> Any:
    """The reference answer for every packet: the owner of the first filter in slot order
    whose program returns non-zero (``verdict_term``, the model's interpreter), or -1."""
    ref: Any = z3.BitVecVal(-1, WIDTH)
    for _slot, owner, prog in sorted(filters, reverse=True):
        ref = z3.If(verdict_term(prog) != 0, z3.BitVecVal(owner, WIDTH), ref)
    return ref


def reference(filters: Sequence[Filter], packet: bytes) -> int:
    """The reference answer on one concrete packet."""
    for _slot, owner, prog in sorted(filters):
        if evaluate(prog, packet) != 0:
            return owner
    return -1


class StrictBytes(bytes):
    """Packet bytes that refuse a negative index (plain ``bytes`` would silently read
    from the end), so that a replay observes every read outside the packet."""

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, int) and i < 0:
            raise IndexError(f"negative index {i} into the packet")
        return super().__getitem__(i)


def run_source(source: str, packet: bytes, name: str = "classify") -> int | str:
    """Function ``name`` of the compiled source on ``packet``, or the exception it
    raised (as text)."""
    ns: dict[str, object] = {}
    exec(compile(source, "<demux>", "exec"), ns)
    try:
        return cast(Callable[[bytes], int], ns[name])(StrictBytes(packet))
    except Exception as e:  # an exception here *is* the finding
        return f"{type(e).__name__}: {e}"


@dataclass(frozen=True)
class Mismatch:
    """A packet on which the generated ``classify`` differs from the reference."""

    packet: bytes
    got: int | str
    expected: int
    reason: str

    def __str__(self) -> str:
        return (f"FLT-8: generated demux gives {self.got!r}, reference {self.expected} "
                f"({self.reason}) on packet {self.packet.hex() or '(empty)'}")


def check_source(source: str, filters: Sequence[Filter], rlimit: int = CHECK_RLIMIT
                 ) -> Mismatch | None:
    """FLT-8: prove that ``classify`` in ``source`` equals the reference for ``filters`` on
    every packet of at most ``MAX_PACKET`` bytes and never raises; None if proved, else
    the replayed counterexample. Raises ``UnsupportedSource`` for source outside the
    interpreted subset, ``BudgetExhausted`` for a module over ``MAX_SOURCE_NODES`` or a
    query over ``rlimit``, and ``ValidationError`` if Z3 has no answer or its
    counterexample does not replay."""
    return _check_cached(source, tuple(sorted(filters)), rlimit)


@lru_cache(maxsize=1024)
def _check_cached(source: str, filters: tuple[Filter, ...], rlimit: int) -> Mismatch | None:
    return _prove(source, "classify", lambda: reference_term(filters),
                  lambda packet: reference(filters, packet), rlimit)


def check_function(source: str, name: str, prog: Program) -> Mismatch | None:
    """FLT-8 for one per-filter function: ``name`` in ``source`` returns exactly what the
    reference returns for ``prog`` (the value, not only accept or drop) on every packet,
    and never raises; None if proved, else the replayed counterexample."""
    return _prove(source, name, lambda: z3.ZeroExt(WIDTH - 32, verdict_term(prog)),
                  lambda packet: evaluate(prog, packet), CHECK_RLIMIT)


def source_size(source: str) -> int:
    """The size of a module in ``ast`` nodes (what ``MAX_SOURCE_NODES`` bounds)."""
    try:
        return sum(1 for _ in ast.walk(ast.parse(source)))
    except SyntaxError as e:
        raise UnsupportedSource(f"not Python: {e}") from e


def _prove(source: str, name: str, reference_of: Callable[[], Any],
           concrete: Callable[[bytes], int], rlimit: int) -> Mismatch | None:
    """Prove ``name(p) == reference_of()`` without exceptions within the budget; replay a
    counterexample."""
    size = source_size(source)
    if size > MAX_SOURCE_NODES:
        raise BudgetExhausted(f"FLT-8: module of {size} nodes is over the budget of "
                              f"{MAX_SOURCE_NODES}")
    interp = Interpreter(source)
    got = interp.call(name, ["packet"])
    if not isinstance(got, Num):
        raise UnsupportedSource(f"{name} does not return a number")
    ref = reference_of()
    wrong = [(got.bv() != ref, "different answer")] + [
        (z3.Not(ok), what) for ok, what in interp.obligations]
    q = Question([z3.Or(*[w for w, _ in wrong])], rlimit)
    verdict = q.check()
    if verdict == z3.unsat:
        return None
    if verdict != z3.sat:
        why = q.solver.reason_unknown()
        if "resource" in why or "canceled" in why:
            raise BudgetExhausted(f"FLT-8: Z3 answered {verdict} within rlimit {rlimit} "
                                  f"({why})")
        raise ValidationError(f"FLT-8: Z3 answered {verdict} ({why})")
    model = q.solver.model()
    packet = q.witness(model)
    # an exception on the way is the first thing a replay meets: name it before the answer
    reason = next(what for w, what in [*wrong[1:], wrong[0]] if q.holds(model, w))
    actual, expected = run_source(source, packet, name), concrete(packet)
    if actual == expected:
        raise ValidationError(f"FLT-8: counterexample ({reason}) does not replay on "
                              f"{packet.hex()}")
    return Mismatch(packet, actual, expected, reason)
