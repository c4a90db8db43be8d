"""FLT-8, incrementally: a merged demultiplexer is the union of its filters' own modules.

``exo.proofs.demux.check_source`` proves a generated module equal to the reference with Z3,
at a cost that grows with every filter in it. A change of one filter must not cost every
other environment's filters again (NET-1, FLT-8). So the kernel proves each filter's
*part* — the module the same generator makes from that filter alone, in its slot — with
``check_source`` once (cached per program), and checks here, with no solver, that the
merged module decides exactly what its parts decide:

* ``decisions(source)`` reads a module of the generator's subset and returns its
  *decision sites*: each place where ``b`` may become a slot ``S``, with the conditions
  on the packet under which it does (every ``if`` on the way, with the variables they
  read replaced by their definitions, so each condition stands alone), and the text of
  every per-filter function a site calls. Such a module returns ``_OWNER[b]`` for the
  least ``b`` of a site whose conditions all hold, or -1 when none does: its statements
  only lower ``b``, never raise (checked: every byte read is inside a bound tested
  before it on its path) and have no other effect.
* ``merge_problem(source, parts, owners)``: None when the merged module's sites are
  exactly the union of the parts' sites, its per-filter functions are the parts' own,
  and its owner table is ``owners``; else what differs.

Why that is FLT-8 again: two modules of this form with the same sites and the same owner
table compute the same function of the packet (the least slot over the sites whose
conditions hold). Each part is proved equal to the reference for its one filter, so the
least slot over the union is the first filter, in slot order, that accepts — the
reference classification. An ``elif`` on the same field as an earlier ``if`` with another
constant adds no condition (``v == b`` implies ``v != a``); anything outside the subset
makes ``decisions`` refuse (``MergeRefused``), and the kernel then proves the merged
module whole with ``check_source``: never a pass by default.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

__all__ = ["Decisions", "MergeRefused", "Site", "decisions", "merge_problem"]


class MergeRefused(ValueError):
    """The module is not of the generator's subset, or may read outside the packet."""


Site = tuple[int, frozenset[str]]
"""A decision site: the slot ``b`` becomes, and the conditions (source text over ``p``
and ``n``) under which it does."""


@dataclass(frozen=True)
class Decisions:
    """What ``decisions`` reads from a module."""

    sites: frozenset[Site]
    functions: Mapping[str, str]  # per-filter function name -> its source text
    owners: Mapping[int, int]  # the module's _OWNER table


NONE_MIN = 1 << 40
"""``b``'s starting value must be at least this (larger than any slot)."""


def decisions(source: str) -> Decisions:
    """The decision sites of a generated module (module docstring); ``MergeRefused`` for
    anything outside the subset. Cached per text (a filter's part is read once)."""
    return _decisions(source)


@lru_cache(maxsize=8192)
def _decisions(source: str) -> Decisions:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise MergeRefused(f"not parsed: {type(exc).__name__}") from None
    reader = _Reader(source)
    for stmt in tree.body:
        reader.top(stmt)
    if reader.classify is None or reader.owners is None:
        raise MergeRefused("no classify or no _OWNER")
    reader.run_classify(reader.classify)
    return Decisions(frozenset(reader.sites), MappingProxyType(reader.called),
                     MappingProxyType(reader.owners))


def merge_problem(source: str, parts: Mapping[int, str], owners: Mapping[int, int]
                  ) -> str | None:
    """None when the merged ``source`` decides exactly what its ``parts`` (slot -> that
    filter's own module) decide, with the owner table ``owners``; else the first
    difference, in words. ``MergeRefused`` when a module is outside the subset."""
    merged = decisions(source)
    if dict(merged.owners) != dict(owners):
        return f"owner table {dict(merged.owners)!r} is not {dict(owners)!r}"
    union: set[Site] = set()
    functions: dict[str, str] = {}
    for slot, part in sorted(parts.items()):
        d = decisions(part)
        if any(s != slot for s, _ in d.sites):
            return f"the part of slot {slot} decides another slot"
        union |= d.sites
        functions.update(d.functions)
    have, want = _irredundant(merged.sites), _irredundant(frozenset(union))
    if have != want:
        extra = sorted(have - want, key=repr)
        missing = sorted(want - have, key=repr)
        if extra:
            return f"slot {extra[0][0]} is decided where its filter does not decide it"
        return f"slot {missing[0][0]} is not decided where its filter decides it"
    if dict(merged.functions) != functions:
        return "a per-filter function differs from its part's"
    return None


def _irredundant(sites: frozenset[Site]) -> frozenset[Site]:
    """``sites`` without those another site makes redundant: the same conditions with a
    smaller slot (the least slot of such a group is what the module returns; a merged
    leaf keeps only it)."""
    least: dict[frozenset[str], int] = {}
    for slot, conds in sites:
        if conds not in least or slot < least[conds]:
            least[conds] = slot
    return frozenset((slot, conds) for conds, slot in least.items())


# --------------------------------------------------------------------------- reading


@dataclass
class _Path:
    """What holds on the way to a statement: the conditions, the variables' definitions
    (as source text over ``p`` and ``n``), the packet length known (``n >= known``), and
    the offset variables with the bytes known to lie after them."""

    conds: frozenset[str]
    defs: dict[str, ast.expr]
    known: int
    offsets: dict[str, int]  # offset variable -> bytes known in the packet after it

    def fork(self) -> _Path:
        return _Path(self.conds, dict(self.defs), self.known, dict(self.offsets))


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tables_d: dict[str, dict[int, int]] = {}
        self.tables_t: dict[str, dict[int, str]] = {}
        self.nodes: dict[str, ast.FunctionDef] = {}
        self.filters: dict[str, ast.FunctionDef] = {}
        self.owners: dict[int, int] | None = None
        self.classify: ast.FunctionDef | None = None
        self.sites: set[Site] = set()
        self.called: dict[str, str] = {}
        self.none = 0

    # ----------------------------------------------------------------- module level

    def top(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(
                stmt.value.value, str):
            return  # the docstring
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(
                stmt.targets[0], ast.Name) and isinstance(stmt.value, ast.Dict):
            name = stmt.targets[0].id
            keys = [_int(k) for k in stmt.value.keys]
            if name == "_OWNER":
                self.owners = dict(zip(keys, (_int(v) for v in stmt.value.values),
                                       strict=True))
            elif name.startswith("_D"):
                self.tables_d[name] = dict(zip(keys, (_int(v) for v in stmt.value.values),
                                               strict=True))
            elif name.startswith("_T"):
                self.tables_t[name] = dict(zip(keys, (_name(v) for v in stmt.value.values),
                                               strict=True))
            else:
                raise MergeRefused(f"unknown table {name}")
            if len(set(keys)) != len(keys):
                raise MergeRefused(f"table {name} repeats a key")
            return
        if isinstance(stmt, ast.FunctionDef) and not stmt.decorator_list:
            params = [a.arg for a in stmt.args.args]
            if stmt.args.vararg or stmt.args.kwarg or stmt.args.kwonlyargs or (
                    stmt.args.defaults or stmt.args.posonlyargs):
                raise MergeRefused(f"function {stmt.name} has unusual parameters")
            if stmt.name == "classify" and params == ["p"]:
                self.classify = stmt
            elif stmt.name.startswith("_n") and params == ["p", "n", "b"]:
                self.nodes[stmt.name] = stmt
            elif stmt.name.startswith("_f") and params == ["p"]:
                self.filters[stmt.name] = stmt
            else:
                raise MergeRefused(f"unknown function {stmt.name}")
            return
        raise MergeRefused(f"line {stmt.lineno}: a statement outside the subset")

    # ----------------------------------------------------------------- classify

    def run_classify(self, fn: ast.FunctionDef) -> None:
        body = fn.body
        if len(body) < 3 or ast.unparse(body[0]) != "n = len(p)":
            raise MergeRefused("classify does not start with n = len(p)")
        first = body[1]
        if not (isinstance(first, ast.Assign) and ast.unparse(first.targets[0]) == "b"
                and len(first.targets) == 1):
            raise MergeRefused("classify does not set b second")
        self.none = _int(first.value)
        if self.none < NONE_MIN:
            raise MergeRefused("b does not start above every slot")
        last = body[-1]
        if ast.unparse(last) != "return _OWNER.get(b, -1)":
            raise MergeRefused("classify does not end with return _OWNER.get(b, -1)")
        self.block(body[2:-1], _Path(frozenset(), {}, 0, {}), in_node=False)

    def block(self, stmts: list[ast.stmt], path: _Path, in_node: bool) -> None:
        """Read a block under ``path`` (definitions made in it stay in it)."""
        path = path.fork()
        i = 0
        while i < len(stmts):
            stmt = stmts[i]
            nxt = stmts[i + 1] if i + 1 < len(stmts) else None
            if isinstance(stmt, ast.Assign):
                used = self.assign(stmt, nxt, path)
                i += used
                continue
            if isinstance(stmt, ast.If):
                self.if_(stmt, path, in_node)
                i += 1
                continue
            raise MergeRefused(f"line {stmt.lineno}: a statement outside the subset")

    def assign(self, stmt: ast.Assign, nxt: ast.stmt | None, path: _Path) -> int:
        """A variable definition (1 statement) or a table lookup with its use (2)."""
        if len(stmt.targets) != 1 or not isinstance(stmt.targets[0], ast.Name):
            raise MergeRefused(f"line {stmt.lineno}: an assignment outside the subset")
        name = stmt.targets[0].id
        value = stmt.value
        if name == "s":  # s = _D.get(v, NONE); if s < b: b = s
            self.d_lookup(value, nxt, path)
            return 2
        if name == "f":  # f = _T.get(v); if f is not None: b = f(p, n, b)
            self.t_lookup(value, nxt, path)
            return 2
        if name.startswith("ov"):  # ov = ((p[m] & 15) << 2) + off
            m, _off = _nibble_offset(value)
            if m >= path.known:
                raise MergeRefused(f"line {stmt.lineno}: p[{m}] read before n > {m}")
            path.defs[name] = value
            path.offsets.pop(name, None)
            return 1
        if name.startswith("v"):
            self.safe(value, path)
            path.defs[name] = _substituted(value, path.defs)
            return 1
        raise MergeRefused(f"line {stmt.lineno}: assignment to {name}")

    def d_lookup(self, value: ast.expr, nxt: ast.stmt | None, path: _Path) -> None:
        if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute)
                and value.func.attr == "get" and isinstance(value.func.value, ast.Name)
                and len(value.args) == 2 and not value.keywords
                and isinstance(value.args[0], ast.Name) and _int(value.args[1]) == self.none):
            raise MergeRefused("a lookup outside the subset")
        table = self.tables_d.get(value.func.value.id)
        var = value.args[0].id
        if table is None or var not in path.defs or nxt is None or ast.unparse(
                nxt) != "if s < b:\n    b = s":
            raise MergeRefused("a slot table lookup outside the subset")
        field = ast.unparse(path.defs[var])
        for key, slot in table.items():
            self.site(slot, path.conds | {f"{field} == {key}"})

    def t_lookup(self, value: ast.expr, nxt: ast.stmt | None, path: _Path) -> None:
        if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute)
                and value.func.attr == "get" and isinstance(value.func.value, ast.Name)
                and len(value.args) == 1 and not value.keywords
                and isinstance(value.args[0], ast.Name)):
            raise MergeRefused("a lookup outside the subset")
        table = self.tables_t.get(value.func.value.id)
        var = value.args[0].id
        if table is None or var not in path.defs or nxt is None or ast.unparse(
                nxt) != "if f is not None:\n    b = f(p, n, b)":
            raise MergeRefused("a function table lookup outside the subset")
        field = ast.unparse(path.defs[var])
        for key, fname in table.items():
            node = self.nodes.get(fname)
            if node is None:
                raise MergeRefused(f"table entry {fname} is not a node function")
            body = node.body
            if not body or ast.unparse(body[-1]) != "return b":
                raise MergeRefused(f"{fname} does not end with return b")
            inner = _Path(path.conds | {f"{field} == {key}"}, {}, path.known, {})
            self.block(body[:-1], inner, in_node=True)

    def if_(self, stmt: ast.If, path: _Path, in_node: bool) -> None:
        test = stmt.test
        # a site: if b > S and CONDS...: b = S   (or: if b > S and _fS(p): b = S)
        if len(stmt.body) == 1 and not stmt.orelse and ast.unparse(stmt.body[0]).startswith(
                "b = "):
            self.site_if(stmt, path)
            return
        # a bound: if n >= K: ...   or   if n > m: ...   or   if n >= ov + size: ...
        bound = _bound(test, path)
        if bound is not None and not stmt.orelse:
            inner = path.fork()
            kind, value = bound
            if kind == "len":
                inner.known = max(inner.known, value)
            else:
                inner.offsets[kind] = max(inner.offsets.get(kind, 0), value)
            inner.conds = inner.conds | {ast.unparse(_substituted(test, path.defs))}
            self.block(stmt.body, inner, in_node)
            return
        # an if/elif chain on one field: if v == a: ... elif v == b: ...
        self.chain(stmt, path, in_node, set())

    def chain(self, stmt: ast.If, path: _Path, in_node: bool, seen: set[int]) -> None:
        var, const = _eq_const(stmt.test)
        if var is None or var not in path.defs or const in seen:
            raise MergeRefused(f"line {stmt.lineno}: a test outside the subset")
        seen.add(const)
        field = ast.unparse(path.defs[var])
        inner = path.fork()
        inner.conds = inner.conds | {f"{field} == {const}"}
        self.block(stmt.body, inner, in_node)
        if stmt.orelse:
            other = stmt.orelse
            if len(other) != 1 or not isinstance(other[0], ast.If):
                raise MergeRefused(f"line {stmt.lineno}: an else outside the subset")
            other_var, _ = _eq_const(other[0].test)
            if other_var != var:
                raise MergeRefused(f"line {stmt.lineno}: an elif on another field")
            self.chain(other[0], path, in_node, seen)

    def site_if(self, stmt: ast.If, path: _Path) -> None:
        target = stmt.body[0]
        if not (isinstance(target, ast.Assign) and len(target.targets) == 1
                and ast.unparse(target.targets[0]) == "b"):
            raise MergeRefused(f"line {stmt.lineno}: an assignment outside the subset")
        slot = _int(target.value)
        test = stmt.test
        parts = test.values if isinstance(test, ast.BoolOp) and isinstance(
            test.op, ast.And) else [test]
        if ast.unparse(parts[0]) != f"b > {slot}":
            raise MergeRefused(f"line {stmt.lineno}: a site that does not compare b first")
        rest = parts[1:]
        if len(rest) == 1 and isinstance(rest[0], ast.Call) and ast.unparse(
                rest[0]) == f"_f{slot}(p)":
            fn = self.filters.get(f"_f{slot}")
            if fn is None:
                raise MergeRefused(f"_f{slot} is not defined")
            text = ast.get_source_segment(self.source, fn)
            if text is None:
                raise MergeRefused(f"_f{slot} has no source text")
            self.called[f"_f{slot}"] = text
            self.site(slot, path.conds | {f"_f{slot}(p)"})
            return
        conds = set(path.conds)
        for cond in rest:
            self.residual_safe(cond, path)
            conds.add(ast.unparse(_substituted(cond, path.defs)))
        self.site(slot, frozenset(conds))

    def site(self, slot: int, conds: frozenset[str]) -> None:
        if not 0 <= slot < self.none:
            raise MergeRefused(f"slot {slot} out of range")
        self.sites.add((slot, conds))

    # ----------------------------------------------------------------- reads

    def safe(self, expr: ast.expr, path: _Path) -> None:
        """Every byte ``expr`` reads is inside what ``path`` knows of the packet."""
        _plain(expr, walrus=False)
        for node in ast.walk(expr):
            if isinstance(node, ast.Name) and node.id not in ("p",) and not (
                    node.id in path.offsets or node.id in path.defs):
                raise MergeRefused(f"an unknown name {node.id}")
            if isinstance(node, ast.Subscript):
                self.index_ok(node.slice, path.known, path.offsets)

    def index_ok(self, index: ast.expr, known: int, offsets: Mapping[str, int]) -> None:
        if isinstance(index, ast.Constant) and type(index.value) is int:
            if not 0 <= index.value < known:
                raise MergeRefused(f"p[{index.value}] read before n > {index.value}")
            return
        base, extra = _offset_index(index)
        if base is None or extra >= offsets.get(base, 0):
            raise MergeRefused(f"p[{ast.unparse(index)}] read outside the bound tested")

    def residual_safe(self, cond: ast.expr, path: _Path) -> None:
        """A residual atom: ``(BOUNDS and VALUE op c)``, ``(BOUNDS)`` or ``(n & m) op c``
        / ``True``, its bounds before its reads."""
        if isinstance(cond, ast.Constant) and cond.value is True:
            return
        terms = cond.values if isinstance(cond, ast.BoolOp) and isinstance(
            cond.op, ast.And) else [cond]
        known, offsets = path.known, dict(path.offsets)
        for term in terms:
            if isinstance(term, ast.Compare) and len(term.ops) == 1 and isinstance(
                    term.left, ast.Name) and term.left.id == "n":
                right = term.comparators[0]
                if isinstance(term.ops[0], ast.Gt | ast.GtE) and isinstance(
                        right, ast.Constant) and type(right.value) is int:
                    known = max(known, right.value + isinstance(term.ops[0], ast.Gt))
                    continue
                if isinstance(term.ops[0], ast.GtE) and isinstance(right, ast.BinOp) and (
                        isinstance(right.op, ast.Add) and isinstance(right.left, ast.NamedExpr)):
                    named = right.left
                    m, _off = _nibble_offset(named.value)
                    if m >= known:
                        raise MergeRefused(f"p[{m}] read before n > {m}")
                    offsets[named.target.id] = _int(right.right)
                    continue
            # a comparison of a field (or of n) with a constant
            if not isinstance(term, ast.Compare) or len(term.ops) != 1:
                raise MergeRefused("a residual term outside the subset")
            _plain(term, walrus=False)
            for node in ast.walk(term):
                if isinstance(node, ast.Name) and node.id not in ("p", "n") and (
                        node.id not in offsets):
                    raise MergeRefused(f"an unknown name {node.id}")
                if isinstance(node, ast.Subscript):
                    self.index_ok(node.slice, known, offsets)


# --------------------------------------------------------------------------- helpers

_NODES = (ast.Name, ast.Constant, ast.Subscript, ast.BinOp, ast.Compare, ast.BoolOp,
          ast.Load, ast.Store, ast.BitAnd, ast.BitOr, ast.LShift, ast.Add, ast.And, ast.Eq,
          ast.NotEq, ast.Gt, ast.GtE, ast.Lt, ast.LtE)
"""The expression nodes a field or a residual test may hold: reads of the packet, the
masks, shifts and sums that assemble a field, comparisons with constants. No call, no
division (which could raise), no attribute."""


def _plain(expr: ast.expr, walrus: bool) -> None:
    for node in ast.walk(expr):
        if not isinstance(node, _NODES) and not (walrus and isinstance(node, ast.NamedExpr)):
            raise MergeRefused(f"{type(node).__name__} in a test: outside the subset")
        if isinstance(node, ast.Constant) and type(node.value) is not int:
            raise MergeRefused("a constant that is not an int")




def _int(node: ast.expr | None) -> int:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(
            node.operand, ast.Constant) and type(node.operand.value) is int:
        return -node.operand.value
    raise MergeRefused("a constant that is not an int")


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    raise MergeRefused("a table entry that is not a name")


def _nibble_offset(value: ast.expr) -> tuple[int, int]:
    """``((p[m] & 15) << 2) + off`` -> (m, off)."""
    text = ast.unparse(value)
    if not (isinstance(value, ast.BinOp) and isinstance(value.op, ast.Add)):
        raise MergeRefused(f"an offset outside the subset: {text}")
    off = _int(value.right)
    shift = value.left
    if not (isinstance(shift, ast.BinOp) and isinstance(shift.op, ast.LShift)
            and _int(shift.right) == 2 and isinstance(shift.left, ast.BinOp)
            and isinstance(shift.left.op, ast.BitAnd) and _int(shift.left.right) == 15
            and isinstance(shift.left.left, ast.Subscript)
            and ast.unparse(shift.left.left.value) == "p"):
        raise MergeRefused(f"an offset outside the subset: {text}")
    m = _int(shift.left.left.slice)
    if m < 0 or off < 0:
        raise MergeRefused(f"an offset outside the subset: {text}")
    return m, off


def _offset_index(index: ast.expr) -> tuple[str | None, int]:
    """``name`` -> (name, 0); ``name + k`` -> (name, k)."""
    if isinstance(index, ast.Name):
        return index.id, 0
    if isinstance(index, ast.BinOp) and isinstance(index.op, ast.Add) and isinstance(
            index.left, ast.Name):
        k = _int(index.right)
        return (index.left.id, k) if k >= 0 else (None, 0)
    return None, 0


def _bound(test: ast.expr, path: _Path) -> tuple[str, int] | None:
    """``n >= K`` / ``n > m`` -> ("len", least length); ``n >= ov + size`` -> (ov, size)."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(
            test.left, ast.Name) and test.left.id == "n"):
        return None
    op, right = test.ops[0], test.comparators[0]
    if isinstance(right, ast.Constant) and type(right.value) is int and isinstance(
            op, ast.GtE | ast.Gt):
        return "len", right.value + isinstance(op, ast.Gt)
    if isinstance(op, ast.GtE) and isinstance(right, ast.BinOp) and isinstance(
            right.op, ast.Add) and isinstance(right.left, ast.Name) and (
            right.left.id in path.defs and right.left.id.startswith("ov")):
        return right.left.id, _int(right.right)
    return None


def _eq_const(test: ast.expr) -> tuple[str | None, int]:
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(
            test.ops[0], ast.Eq) and isinstance(test.left, ast.Name):
        return test.left.id, _int(test.comparators[0])
    return None, 0


class _Substitute(ast.NodeTransformer):
    def __init__(self, defs: Mapping[str, ast.expr]) -> None:
        self.defs = defs

    def visit_Name(self, node: ast.Name) -> ast.expr:
        return self.defs.get(node.id, node)


def _substituted(expr: ast.expr, defs: Mapping[str, ast.expr]) -> ast.expr:
    """``expr`` with each defined variable replaced by its definition (already
    substituted itself)."""
    return _Substitute(defs).visit(copy.deepcopy(expr))  # type: ignore[no-any-return]
