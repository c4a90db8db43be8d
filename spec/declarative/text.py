"""How the declarative text of an operation is written, and the conjuncts it stands for.

The second entry of the double-entry specification (spec/declarative.md). Each operation
is described from its clause in spec/*.md, never from the model:

* **Requires**: the preconditions in the clause's order, each with the status a failure
  gives (``Requirement``); the first that fails decides the status, and with none failing
  the status is OK.
* **Does**: one or more ``Case``s — a condition on the pre-state and the arguments, and
  the post-state described *per field and per index* as a ``View``: for a map field a
  function giving ``post.f[k]`` from ``k``, for a scalar its value. Fields a case does not
  describe keep their value (GEN-2).
* **Returns**: each case's value; a failing call returns the null value (GEN-1) and
  changes nothing (GEN-2).

A sentence that splits a case in two ("if a repossession exception awaits `e` and `e` has
a handler, ... otherwise ...") names its condition with ``branch``: the text reads the
same, and the conformance kit's coverage has a cell for each side of it
(``exo.spec.cells``). ``branch`` is called where a case's view is built, never inside the
function of a map field, so one evaluation of the view records every branch it took.

``conjuncts`` turns a text into named two-state conjuncts, each citing the clause and
the sentence it states: one per requirement, one per (case, field described), one frame
conjunct per case, one per returned value. Two obligations are proved from them
(``exo.proofs.obligations``): ``post/OP/sound`` (the model's transition satisfies every
conjunct) and ``post/OP/complete`` (the conjuncts determine the status, the value and
every field at every index).

A text may use the state's fields, the logic layer (``exo.logic``), the shared interface
(its constants, index functions and argument kinds) and the vocabulary of
``exo.spec.declarative.vocabulary`` — never a function of ``exo.model``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import z3

from exo.interface import OPERATIONS, Cap, Result, Status, null_value
from exo.logic import And, BoolV, Implies, Not, Or, forall, in_range
from exo.model.state import State, domains

A = tuple[Any, ...]
Pred = Callable[[State, A], BoolV]


@dataclass(frozen=True)
class Cite:
    """The clause and sentence a piece of the text states."""

    clause: str  # e.g. "ENV-2"
    sentence: str  # the sentence of spec/*.md (or a faithful short form of it)


FRAME = Cite("GEN-2", "A successful operation changes only what its clause says it changes: "
                     "every other field keeps its value.")
FAILURE = Cite("GEN-2", "If the status is anything but `OK`, the state returned is the state "
                       "passed in, unchanged in every field, and the value is the null value.")
OK_CITE = Cite("GEN-2", "Every operation computes its status from an ordered list of "
                       "preconditions; the first precondition that fails decides the status.")


@dataclass(frozen=True)
class Branch:
    """A condition one sentence introduces inside a case: the two sides of it are two
    behaviours a test must show (``label`` names the side where it holds)."""

    cite: Cite
    label: str  # e.g. "repossession-delivered"


Taken = tuple[Branch, Any, Any]
"""A branch as ``recording`` notes it: the branch, its condition and the condition under
which the sentence applies at all (``within``)."""

_RECORDING: list[list[Taken]] = []


def branch(cite: Cite, label: str, cond: BoolV, within: BoolV = True) -> BoolV:
    """``cond``, named as the branch ``label`` of ``cite``'s sentence, which speaks only
    when ``within`` holds (a start that happens, an owner that is runnable). Inside
    ``recording`` the branch is noted with both (Python bools on a concrete state, Z3
    terms on a symbolic one)."""
    if _RECORDING:
        _RECORDING[-1].append((Branch(cite, label), cond, within))
    return cond


@contextmanager
def recording() -> Iterator[list[Taken]]:
    """Note every ``branch`` taken while the block builds views (as ``Bound`` does, the
    cases of one call share their terms: ``shared``)."""
    _RECORDING.append([])
    _SHARED.append({})
    try:
        yield _RECORDING[-1]
    finally:
        _RECORDING.pop()
        _SHARED.pop()


class _Indexed:
    """A map field of a ``View``: ``v[k]`` is ``fn(*k)``."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn

    def __getitem__(self, key: Any) -> Any:
        return self.fn(*key) if isinstance(key, tuple) else self.fn(key)


class View:
    """A state described field by field on top of another (a ``State`` or a ``View``).

    ``View(base).given(cite, f=fn, x=value)`` is the state equal to ``base`` except that
    map field ``f`` is ``fn(*k)`` at every key ``k`` and scalar ``x`` is ``value``. Fields
    are read as on a ``State`` (``v.owner[p]``, ``v.cur_env``), so texts compose: a case
    may describe "destroy ``e``, then begin the next slice" as two ``given`` steps.
    """

    __slots__ = ("_base", "_cites", "_fields", "cfg")

    def __init__(self, base: State | View, fields: dict[str, Any] | None = None,
                 cites: dict[str, Cite] | None = None) -> None:
        self._base = base
        self._fields = fields or {}
        self._cites = cites or {}
        self.cfg: Any = base.cfg

    def given(self, cite: Cite, **fields: Any) -> View:
        """This state with ``fields`` described anew (a callable for a map field: its value
        at each key; a value for a scalar), each citing ``cite``."""
        maps = domains(self.cfg)
        for name, value in fields.items():
            if name not in _FIELDS:
                raise TypeError(f"State has no field {name!r}")
            if (name in maps) != callable(value):
                raise TypeError(f"field {name!r}: give a map field as a function of its "
                                f"key and a scalar as a value")
        return View(self, fields, {name: cite for name in fields})

    def __getattr__(self, name: str) -> Any:
        fields = object.__getattribute__(self, "_fields")
        if name in fields:
            value = fields[name]
            return _Indexed(value) if callable(value) else value
        return getattr(object.__getattribute__(self, "_base"), name)

    def described(self) -> dict[str, tuple[Cite, ...]]:
        """Every field some step describes, with the cites of the steps that did (the last
        one last)."""
        out = self._base.described() if isinstance(self._base, View) else {}
        for name, cite in self._cites.items():
            out[name] = (*[c for c in out.get(name, ()) if c != cite], cite)
        return out


_FIELDS = frozenset(f.name for f in dataclasses.fields(State)) - {"cfg"}
ALL_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(State) if f.name != "cfg")


@dataclass(frozen=True)
class Requirement:
    """A precondition: when ``failed`` (and no earlier one failed), the status is ``status``."""

    label: str
    cite: Cite
    failed: Pred
    status: Status
    value: Callable[[State, A], Any] | None = None
    """The value this failure returns when the clause names one (GEN-1 lets it: NET-1's
    witness packet on OVERLAP); else the null value."""


def env_in_range(clause: str) -> Requirement:
    """The first requirement of most clauses: `env` in `[0, n_envs)`, else INVALID_ARGUMENT
    (``env`` is the first argument)."""
    return Requirement("env-in-range", Cite(clause, "`env` in `[0, n_envs)`"),
                       lambda s, a: Not(in_range(a[0], s.cfg.n_envs)),
                       Status.INVALID_ARGUMENT)


def env_alive(clause: str) -> Requirement:
    """`env` is alive, else NO_SUCH_ENV (``env`` is the first argument, already in range)."""
    return Requirement("env-alive", Cite(clause, "`env` is alive"),
                       lambda s, a: Not(s.env_alive[a[0]]), Status.NO_SUCH_ENV)


@dataclass(frozen=True)
class Case:
    """One behaviour of a successful call: when ``when`` holds (and no earlier case's
    condition does), the post-state is ``post`` and the value ``value``."""

    label: str
    cite: Cite
    when: Pred
    post: Callable[[State, A], View]
    value: Callable[[State, A], Any]


def always(pre: State, args: A) -> BoolV:
    """A case condition that always holds (the last case of an operation)."""
    return True


@dataclass(frozen=True)
class Text:
    """The declarative text of one operation."""

    op: str
    requires: tuple[Requirement, ...]
    cases: tuple[Case, ...]


@dataclass(frozen=True)
class Conjunct:
    """One named statement of a text, citing its clause sentence (``Bound.conjuncts``
    gives its formula on a result and a post-state)."""

    name: str  # e.g. "env_destroy/destroyed/owner"
    op: str
    cite: Cite
    fields: tuple[str, ...] = ()  # the fields of the post-state it speaks of
    also: tuple[Cite, ...] = ()  # earlier steps that shaped the same field

    @property
    def cites(self) -> tuple[Cite, ...]:
        """Every clause sentence the conjunct states (its own cite last)."""
        return (*self.also, self.cite)


def equal(a: Any, b: Any) -> BoolV:
    """Two values of one kind are equal (a capability field by field)."""
    if isinstance(a, Cap) or isinstance(b, Cap):
        return And(a.page == b.page, a.gen == b.gen, a.rights == b.rights)
    return a == b


def field_equals(post: State, view: Any, name: str) -> BoolV:
    """``post.name`` equals ``view.name`` at every key of its domain (a scalar: equal)."""
    dom = domains(post.cfg).get(name)
    target, source = getattr(post, name), getattr(view, name)
    if dom is None:
        return target == source
    return forall(dom, lambda *k: target[k] == source[k], name=f"k_{name}_")


_SHARED: list[dict[Any, Any]] = []


def shared(key: Any, make: Callable[[], Any]) -> Any:
    """While one text is being bound (``Bound``), the value ``make()`` gave for ``key`` the
    first time it was asked for; so the cases of one call may share a term (the "first"
    guaranteed mapping of a translation) instead of each stating its own. Outside a
    binding, ``make()``."""
    if not _SHARED:
        return make()
    memo = _SHARED[-1]
    if key not in memo:
        memo[key] = make()
    return memo[key]


class Bound:
    """A text applied to one pre-state and arguments: its conditions and views computed
    once, so that two post-states are held to the very same terms."""

    def __init__(self, text: Text, pre: State, args: A) -> None:
        self.text, self.pre, self.args = text, pre, args
        _SHARED.append({})
        try:
            self.failed = [r.failed(pre, args) for r in text.requires]
            self.failure_values = [None if r.value is None else r.value(pre, args)
                                   for r in text.requires]
            self.when = [c.when(pre, args) for c in text.cases]
            self.views = [c.post(pre, args) for c in text.cases]
            self.values = [c.value(pre, args) for c in text.cases]
        finally:
            _SHARED.pop()

    def passes(self) -> BoolV:
        """Every precondition holds."""
        return And(*[Not(f) for f in self.failed]) if self.failed else True

    def applies(self, k: int) -> BoolV:
        """Case ``k`` is the behaviour: its condition holds and no earlier one's does."""
        return And(self.when[k], *[Not(w) for w in self.when[:k]])

    def conjuncts(self) -> Iterator[tuple[Conjunct, Stmt]]:
        """Each conjunct with its statement about a result and a post-state."""
        text, pre = self.text, self.pre
        op = text.op
        null = null_value(OPERATIONS[op])
        named: list[BoolV] = []  # the failures whose clause names a value of their own
        for k, req in enumerate(text.requires):
            cond = And(*[Not(f) for f in self.failed[:k]], self.failed[k])
            yield (Conjunct(f"{op}/requires/{req.label}", op, req.cite),
                   _status_when(cond, int(req.status), self.failure_values[k]))
            if req.value is not None:
                named.append(cond)
        yield (Conjunct(f"{op}/requires/ok", op, OK_CITE),
               _status_when(self.passes(), int(Status.OK)))
        yield (Conjunct(f"{op}/failure", op, FAILURE, ALL_FIELDS),
               _failure(pre, null, Or(*named) if named else False))
        each = [view.described() for view in self.views]
        anywhere = {name for described in each for name in described}
        untouched = tuple(f for f in ALL_FIELDS if f not in anywhere)
        yield (Conjunct(f"{op}/frame", op, FRAME, untouched), _fields_when(True, pre, untouched))
        for k, case in enumerate(text.cases):
            view, cond, described = self.views[k], self.applies(k), each[k]
            for name, cites in described.items():
                yield (Conjunct(f"{op}/{case.label}/{name}", op, cites[-1], (name,),
                                cites[:-1]),
                       _fields_when(cond, view, (name,)))
            kept = tuple(f for f in ALL_FIELDS if f in anywhere and f not in described)
            if kept:  # described by another case, unchanged in this one
                yield (Conjunct(f"{op}/{case.label}/frame", op, FRAME, kept),
                       _fields_when(cond, pre, kept))
            yield (Conjunct(f"{op}/{case.label}/returns", op, case.cite),
                   _value_when(cond, self.values[k]))


Stmt = Callable[[Result, State], BoolV]
"""A conjunct's formula about a result and a post-state (its pre-state and arguments
bound)."""


def _succeeded(res: Result) -> BoolV:
    return res.status == int(Status.OK)


def _status_when(cond: BoolV, status: int, value: Any = None) -> Stmt:
    def stmt(res: Result, post: State) -> BoolV:
        if value is None:
            return Implies(cond, res.status == status)
        return Implies(cond, And(res.status == status, equal(res.value, value)))
    return stmt


def _failure(pre: State, null: Any, named: BoolV = False) -> Stmt:
    def stmt(res: Result, post: State) -> BoolV:
        return Implies(Not(_succeeded(res)), And(
            Implies(Not(named), equal(res.value, null)),
            *[field_equals(post, pre, f) for f in ALL_FIELDS]))
    return stmt


def _fields_when(cond: BoolV, source: Any, fields: tuple[str, ...]) -> Stmt:
    def stmt(res: Result, post: State) -> BoolV:
        return Implies(And(_succeeded(res), cond),
                       And(*[field_equals(post, source, f) for f in fields]))
    return stmt


def _value_when(cond: BoolV, value: Any) -> Stmt:
    def stmt(res: Result, post: State) -> BoolV:
        return Implies(And(_succeeded(res), cond), equal(res.value, value))
    return stmt


def statements(text: Text, pre: State, args: A, res: Result, post: State
               ) -> list[tuple[Conjunct, BoolV]]:
    """Every conjunct of ``text`` with its formula (or Python bool) on these states."""
    return [(c, stmt(res, post)) for c, stmt in Bound(text, pre, args).conjuncts()]


def holds(text: Text, pre: State, args: A, res: Result, post: State) -> BoolV:
    """The whole text holds of this step."""
    return And(*[f for _, f in statements(text, pre, args, res, post)])


def is_true(x: BoolV) -> bool:
    """A concrete conjunct's truth (a Z3 literal or a Python bool)."""
    if isinstance(x, bool):
        return x
    return bool(z3.is_true(z3.simplify(x)))
