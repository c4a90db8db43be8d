"""What a difference contradicts: the clause of the call, and the sentences of its
declarative text (spec/declarative.md) the implementation's value breaks.

``Lockstep`` (``exo check``, ``exo.kit.replay``, the witness sweep) and ``exo fixtures
run`` call these only once a difference was found, with the model's state before the
call, the call, and what the implementation gave:

* ``blame_result``: a result the model does not give. The text is checked with the
  implementation's result (and, for the fields, the model's post-state, or the
  pre-state when the implementation reports a failure, as GEN-2 then requires); only
  the conjuncts about the status and the value are kept (``requires``, ``failure``,
  ``returns``).
* ``blame_state``: an observed post-state the model does not reach. The text is checked
  with the agreed result and the model's post-state with every entry the observation
  contradicts in meaning (``exo.kit.conformance.canonical``) set to the observed value.
* ``blame_calls``: several calls ran since the last comparison: their operations'
  clauses, without sentences.

Each gives a ``Blame``; ``str(blame)`` is the text a failure message appends, such as
``contradicts MEM-2 (dealloc): MEM-2 dealloc/deallocated/rights: "…"``. A call the trap layer
refuses is GEN-6's, arguments not of their kinds are GEN-1's. Where no conjunct fails
(or the operation has no text), the clause alone is named. Nothing here raises: a broken
implementation's values may be of any type, and anything unexpected falls back to the
clause.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from exo.interface import FREE, OPERATIONS, TRAPS, Result, Status, acts_for_caller, admit
from exo.logic import ConMap
from exo.model import State
from exo.model.state import SCALARS, layout
from exo.spec.declarative.text import FAILURE, FRAME, OK_CITE, Cite, Conjunct

__all__ = ["SHOWN", "Blame", "blame_calls", "blame_result", "blame_state", "clause_of",
           "observed"]

TRAP = "trap"  # as exo.kit.lockstep.TRAP (not imported: lockstep imports this module)

SHOWN = 3
"""At most this many contradicted conjuncts are quoted (the rest are counted)."""

KINDS = Cite("GEN-1", "`INVALID_ARGUMENT`: a number lies outside its range (GEN-3), or an "
                      "argument is not the right kind of Python value.")
"""What a call with arguments not of their kinds contradicts (GEN-1's list of statuses)."""

TRAP_NAME = Cite("GEN-6", "`op` is exactly a `str` naming a system call of "
                          "`exo.interface.TRAPS`, else `INVALID_ARGUMENT` with the value `0`.")
TRAP_KINDS = Cite("GEN-6", "The arguments are exactly of their kinds and count (GEN-1, "
                           "`exo.interface.admit` with the signature in `TRAPS`), else "
                           "`INVALID_ARGUMENT` with the null value.")
TRAP_IDLE = Cite("GEN-6", "An environment runs (`cur_env` is not `FREE`), else `NOT_RUNNING` "
                          "with the null value: with the CPU idle there is no caller.")
"""GEN-6's three checks, which answer a trap before any system call runs."""

_RESULT_PARTS = ("/requires/", "/failure", "/returns")
"""The conjuncts about the status and the value (``Bound.conjuncts``' names)."""


@dataclass(frozen=True)
class Blame:
    """What a difference contradicts.

    ``calls``: (clause, operation) of each operation called since the last agreement
    (one for a single call; a trap the trap layer answered is GEN-6's, ``trap OP``);
    ``conjuncts``: for a single call, the conjuncts of its declarative text the
    implementation's value makes false (empty when none does, when the operation has no
    text, or for several calls); ``cites``: sentences that decide without a conjunct of
    the text (GEN-1's argument kinds, GEN-6's trap layer, GEN-2 after a failure)."""

    calls: tuple[tuple[str, str], ...]
    conjuncts: tuple[Conjunct, ...] = ()
    cites: tuple[Cite, ...] = ()

    @property
    def clauses(self) -> tuple[str, ...]:
        """The clauses of the calls, each once."""
        return tuple(dict.fromkeys(c for c, _ in self.calls))

    @property
    def clause(self) -> str:
        """The clause of the (first) call ('' when there is none)."""
        return self.calls[0][0] if self.calls else ""

    def sentences(self) -> list[tuple[str, str, str]]:
        """Each contradicted sentence as (clause, conjunct name or '', sentence): the
        cites, then the conjuncts, those citing the call's own clause first and GEN-2's
        general ones (frame, failure, status OK) after the sentences of the clause."""
        own = set(self.clauses)
        ranked = sorted(self.conjuncts, key=lambda c: (  # stable: else the text's order
            c.cite.clause not in own, c.cite in (FRAME, FAILURE, OK_CITE)))
        return [*[(c.clause, "", c.sentence) for c in self.cites],
                *[(c.cite.clause, c.name, c.cite.sentence) for c in ranked]]

    def __str__(self) -> str:
        if not self.calls:
            return ""
        called = ", ".join(f"{c} ({op})" for c, op in self.calls)
        if len(self.calls) > 1:
            return f"contradicts one of {called}"
        quoted = self.sentences()
        if not quoted:
            return f"contradicts {called}"
        parts = [f"{clause} {name}: \"{sentence}\"" if name else f"{clause}: \"{sentence}\""
                 for clause, name, sentence in quoted[:SHOWN]]
        more = f" (and {len(quoted) - SHOWN} more)" if len(quoted) > SHOWN else ""
        return f"contradicts {called}: " + "; ".join(parts) + more


def clause_of(op: object) -> str:
    """The clause of operation ``op`` (``OPERATIONS[op].clause``); GEN-6 for ``"trap"``
    or a name that is no operation."""
    if type(op) is str and op in OPERATIONS:
        return OPERATIONS[op].clause
    return "GEN-6"


def _called(pre: State, name: str, args: Sequence[Any]) -> tuple[str, tuple[Any, ...]] | Blame:
    """The operation the call runs and its arguments as the operation's text reads them;
    or, for a call answered before any operation's own checks, the ``Blame`` naming the
    sentence that answered it: a trap the trap layer refuses (GEN-6), arguments not of
    their kinds (GEN-1)."""
    args = tuple(args)
    if name == TRAP:
        op = args[0] if args else None
        if type(op) is not str or op not in TRAPS:  # named if it is an operation at all
            shown = f"{TRAP} {op}" if type(op) is str and op in OPERATIONS else TRAP
            return Blame((("GEN-6", shown),), cites=(TRAP_NAME,))
        if admit(TRAPS[op], args[1:]) is None:
            return Blame((("GEN-6", f"{TRAP} {op}"),), cites=(TRAP_KINDS,))
        if pre.cur_env == FREE:
            return Blame((("GEN-6", f"{TRAP} {op}"),), cites=(TRAP_IDLE,))
        name, args = op, ((pre.cur_env, *args[1:]) if acts_for_caller(op) else args[1:])
    if name not in OPERATIONS:
        return Blame((("GEN-6", str(name)),), cites=(TRAP_NAME,))
    plain = admit(OPERATIONS[name], args)
    if plain is None:
        return Blame(((clause_of(name), name),), cites=(KINDS,))
    return name, tuple(plain)


def _contradicted(op: str, pre: State, args: tuple[Any, ...], res: Result, post: State,
                  keep: tuple[str, ...] | None = None) -> tuple[Conjunct, ...]:
    """The conjuncts of ``op``'s text false of this step (only those whose name holds
    one of ``keep``, if given). A conjunct that cannot be evaluated on these values
    (a value of another kind than the text's) counts as false."""
    from exo.spec.declarative import TEXTS
    from exo.spec.declarative.text import Bound, is_true

    text = TEXTS.get(op)
    if text is None:
        return ()
    out: list[Conjunct] = []
    for c, stmt in Bound(text, pre, args).conjuncts():
        if keep is not None and not any(k in c.name for k in keep):
            continue
        try:
            holds = is_true(stmt(res, post))
        except Exception:  # a value of the wrong kind: the sentence does not hold of it
            holds = False
        if not holds:
            out.append(c)
    return tuple(out)


def _status(value: Any) -> int | None:
    """An implementation's status as a plain int, if it is one (a ``Status`` or an int)."""
    if type(value) is int or isinstance(value, Status):
        return int(value)
    return None


def blame_result(pre: State, name: str, args: Sequence[Any], expected: Result, got: Any
                 ) -> Blame:
    """What the implementation's result ``got`` of the call ``name(*args)`` contradicts
    (the model, from ``pre``, answers ``expected``). Never raises."""
    try:
        return _blame_result(pre, name, args, expected, got)
    except Exception:
        return _fallback(name, args)


def _blame_result(pre: State, name: str, args: Sequence[Any], expected: Result, got: Any
                  ) -> Blame:
    called = _called(pre, name, args)
    if isinstance(called, Blame):
        return called
    op, plain = called
    at = ((clause_of(op), op),)
    status = _status(got.status) if isinstance(got, Result) else None
    if status is None:  # not a Result of an integer status: nothing of the text reads it
        return Blame(at)
    from exo.model import REGISTRY

    post = pre  # GEN-2: what a failing call leaves
    if status == int(Status.OK):
        post, _ = REGISTRY[op](pre, *plain)
    wrong = _contradicted(op, pre, plain, Result(status, got.value), post, _RESULT_PARTS)
    return Blame(at, wrong)


def blame_state(pre: State, name: str, args: Sequence[Any], result: Result, post: State,
                seen: State, fields: Collection[str] | None = None) -> Blame:
    """What the observed state ``seen`` after the call ``name(*args)`` contradicts: the
    model went from ``pre`` to ``post`` answering ``result``, as the implementation did.
    ``fields``: the fields compared (None: all). Never raises."""
    try:
        return _blame_state(pre, name, args, result, post, seen, fields)
    except Exception:
        return _fallback(name, args)


def _blame_state(pre: State, name: str, args: Sequence[Any], result: Result, post: State,
                 seen: State, fields: Collection[str] | None) -> Blame:
    called = _called(pre, name, args)
    if isinstance(called, Blame):  # refused before any operation ran: nothing changes
        return Blame(called.calls, cites=(FAILURE,))
    op, plain = called
    shown = observed(post, seen, fields)
    wrong = _contradicted(op, pre, plain, result, shown)
    return Blame(((clause_of(op), op),), wrong)


def observed(model: State, seen: State, fields: Collection[str] | None = None) -> State:
    """``model`` with every entry where ``seen`` differs from it in meaning (the two
    ``canonical`` forms differ there) set to ``seen``'s value; only in ``fields``, if
    given. So the text is read on what the implementation showed, and an entry that
    carries no meaning on either side is not held against it."""
    from exo.kit.conformance import canonical

    cm, cs = canonical(model), canonical(seen)
    changes: dict[str, Any] = {}
    for f in layout(model.cfg):
        if fields is not None and f not in fields:
            continue
        a, b = getattr(cm, f), getattr(cs, f)
        if a == b:
            continue
        mine, theirs = getattr(model, f), getattr(seen, f)
        if not (isinstance(a, ConMap) and isinstance(b, ConMap) and isinstance(mine, ConMap)
                and isinstance(theirs, ConMap)):
            continue
        keys = [k for k, v in a.items() if b[k] != v]
        changes[f] = mine.update((k, theirs[k]) for k in keys)
    for f in SCALARS:
        if (fields is None or f in fields) and getattr(cm, f) != getattr(cs, f):
            changes[f] = getattr(seen, f)
    return model.replace(**changes) if changes else model


def blame_calls(calls: Sequence[tuple[Any, Any]]) -> Blame:
    """The clauses of several calls' operations (a difference found after all of them):
    a trap step counts as the system call it names. Never raises."""
    out: list[tuple[str, str]] = []
    for call in calls:
        try:
            name, args = call
            op = args[0] if type(name) is str and name == TRAP and args else name
        except Exception:  # not a (name, args) pair, args not a sequence
            op = None
        label = op if type(op) is str and op in OPERATIONS else TRAP
        if (clause_of(label), label) not in out:
            out.append((clause_of(label), label))
    return Blame(tuple(out))


def _fallback(name: Any, args: Sequence[Any]) -> Blame:
    """The clause alone, when reading the text failed."""
    return blame_calls([(name, args)])
