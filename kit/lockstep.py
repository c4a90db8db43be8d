"""The lockstep step machine of the conformance kit, outside Hypothesis.

``Lockstep`` holds the model and an implementation side by side and makes, for one
operation call, every check ``exo check`` makes: the implementation's ``Result`` against
the model's (``exo.kit.conformance.same_outcome``), its observation against the model's
state (``abstract`` and ``differences``), and the model's invariants
(``exo.spec.invariants.check``). A check that fails gives a ``Failure`` value — never an
exception — whose message names statuses and outcomes (``OK ACCESS``, not ``OK:1``).
A result or state difference also names what it contradicts (``exo.kit.blame``): the
clause of the call and the sentences of its declarative text the implementation's value
makes false, or, when several calls ran since the last comparison, their clauses.

Plain replay and minimization are ``exo.kit.replay``; the reproduction file is
``exo.kit.reproduction``; the Hypothesis machine that drives this one is
``exo.kit.machine``.

Steps hold plain arguments: ``int``, ``bool``, ``Cap``, programs (a ``tuple`` of
``(code, jt, jf, k)`` int tuples), packets (``bytes``), or — for the hostile calls — any
other value, handed on as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from exo.interface import OPERATIONS, TRAPS, Config, Result, acts_for_caller, admit
from exo.kit.blame import blame_calls, blame_result, blame_state
from exo.kit.conformance import (
    Implementation,
    abstract,
    abstract_changes,
    differences,
    offers,
    same_outcome,
    stale_fields,
)
from exo.kit.text import (
    call_text,
    first_line,
    from_harness,
    plain,
    show_result,
    traced,
)
from exo.kit.views import view_differences
from exo.model import REGISTRY, State, initial
from exo.model.trap import trap
from exo.spec.flows import RUNNING_EVENTS, outside_authority
from exo.spec.invariants import check

Factory = Callable[[Config], Implementation]
Step = tuple[str, tuple[Any, ...]]
"""One operation call: its name and its plain arguments. A step named ``TRAP`` is a
system call through the trap layer (GEN-6): its first argument names the system call,
the others are its arguments without ``env`` (``implementation.trap(*args)``)."""

TRAP = "trap"
"""The name of a trap step (GEN-6)."""


def as_called(before: State, name: str, args: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
    """The operation a step runs and its arguments as that operation receives them: a
    trap step (GEN-6) of a system call that names its caller runs it with the running
    environment of ``before`` first; any other step is itself. (Only for reading results:
    a trap the layer refused never reached the operation.)"""
    if name != TRAP or not args or type(args[0]) is not str or args[0] not in TRAPS:
        return name, args
    op = args[0]
    return op, ((before.cur_env, *args[1:]) if acts_for_caller(op) else args[1:])

KINDS = ("result", "state", "raised", "observe", "invariant", "factory", "view",
         "integrity")
"""The kinds of ``Failure``, one per check the kit makes."""

__all__ = ["KINDS", "TRAP", "Factory", "Failure", "Lockstep", "Step", "as_called"]


@dataclass(frozen=True)
class Failure:
    """The first difference between model and implementation.

    ``index``: the step after which it showed (-1: at boot, or in the factory); ``kind``:
    one of ``KINDS``; ``message``: the call, what the model expected and what the
    implementation did (for ``raised``, with the implementation's full traceback)."""

    index: int
    kind: str
    message: str

    def __str__(self) -> str:
        return f"step {self.index} ({self.kind}): {self.message}"


# --------------------------------------------------------------------------- the checks


class Lockstep:
    """Model and implementation side by side; one method per check the kit makes.

    ``call`` runs one operation on both and compares the results; ``conforms`` compares
    the observation with the model's state and checks the model's invariants; ``step``
    is both. Each returns a ``Failure`` or None. The first failure sticks (``failure``):
    later steps return it without running anything, since the two sides no longer
    stand for the same state.

    Attributes: ``model`` (the model's ``State``), ``impl`` (the implementation, None if
    the factory raised), ``result`` (the model's ``Result`` of the last call),
    ``steps`` (calls made so far), ``on_step`` (an optional hook called with the state
    before, the call's name, plain args, the model's result, the state after and the call
    text — the kit's coverage recording)."""

    def __init__(self, factory: Factory, cfg: Config,
                 fields: frozenset[str] | None = None, blame: bool = True) -> None:
        """``fields``: compare only these ``observe()`` fields (``exo check --ops``: the
        fields the chosen operations can change, ``exo.kit.bringup.fields_for``); None: all.
        ``blame``: a result or state difference names what it contradicts
        (``exo.kit.blame``; ``exo.kit.replay.minimize`` leaves it out of its trials)."""
        self.cfg = cfg
        self.blame = blame
        self.fields = fields
        self.model: State = initial(cfg)
        self.impl: Implementation | None = None
        self.result: Result | None = None
        self.failure: Failure | None = None
        self.steps = 0
        self.compared = -1  # ``steps`` when the observation was last compared
        self.recent: list[str] = []  # calls since the last ``conforms``
        self._since: list[tuple[str, tuple[Any, ...]]] = []  # their names and plain args
        self._last: tuple[State, str, tuple[Any, ...], Result] | None = None  # the last
        # call: the model's state before it, its name, plain args, the model's result
        self.checked: State | None = None  # the model state whose invariants hold
        self._agreed: tuple[State | None, State | None] = (None, None)  # last that agreed
        self._seen: State | None = None  # the state the last observation stood for
        self.on_step: Callable[[State, str, tuple[Any, ...], Result, State, str], Any] | None
        self.on_step = None
        try:
            self.impl = factory(cfg)
        except Exception as exc:
            label = getattr(factory, "__qualname__", None) or repr(factory)
            self.failure = Failure(
                -1, "factory",
                f"the implementation's factory {label} raised with {cfg!r}: "
                f"{first_line(exc)}{traced(exc)}")

    def _fail(self, kind: str, message: str) -> Failure:
        self.failure = Failure(self.steps - 1, kind, message)
        return self.failure

    def call(self, name: str, args: Sequence[Any]) -> Failure | None:
        """Run ``name(*args)`` on the model and the implementation; a ``result`` failure
        if they answer differently (``same_outcome``), a ``raised`` one if the
        implementation raised (GEN-1: errors are values). Raises ``ValueError`` for a
        name that is not an operation or arguments that are not a sequence (a bad step,
        not a conformance failure)."""
        if self.failure is not None:
            return self.failure
        if type(name) is not str or (name not in REGISTRY and name != TRAP):
            raise ValueError(f"unknown operation {name!r}: not one of exo.interface.OPERATIONS"
                             f" nor {TRAP!r}")
        if not isinstance(args, tuple | list):
            raise ValueError(f"arguments of {name} must be a tuple, not {type(args).__name__}")
        if name == TRAP and (not args or type(args[0]) is not str):
            raise ValueError(f"a {TRAP} step's first argument names the system call, not "
                             f"{args[0] if args else None!r}")
        assert self.impl is not None
        call = call_text(name, args)
        self.recent.append(call)
        self.steps += 1
        plain_args = tuple(plain(a) for a in args)
        self._since.append((name, plain_args))
        try:
            if name == TRAP:  # GEN-6: the system call args[0], made by cur_env
                new, expected = trap(self.model, *plain_args)
            else:
                new, expected = REGISTRY[name](self.model, *plain_args)
        except Exception as exc:
            raise ValueError(f"{call}: the model raised {first_line(exc)} (a bug in exo, "
                             "not in the implementation)") from exc
        self.result = expected
        self._last = (self.model, name, plain_args, expected)
        if self.on_step is not None:
            self.on_step(self.model, name, plain_args, expected, new, call)
        op, op_args = as_called(self.model, name, plain_args)
        want = show_result(op, expected)
        try:
            if name == TRAP:
                got = self.impl.trap(*plain_args)  # type: ignore[attr-defined]
            else:
                got = self.impl.apply(name, *plain_args)
        except Exception as exc:
            if from_harness(exc):  # the kernel process failed: no raise of its own
                said = str(exc).strip() or type(exc).__name__  # with its stderr's tail
                return self._fail("raised", f"{call}: the kernel process failed (the model "
                                            f"returns {want}): {said}")
            return self._fail(
                "raised",
                f"{call}: the implementation raised {first_line(exc)} (the model returns "
                f"{want}; GEN-1: errors are values, never exceptions){traced(exc)}")
        try:
            same = same_outcome(self.model, op, op_args, expected, got)
        except Exception:
            same = False
        if not same:
            blame = (f"; {blame_result(self.model, name, plain_args, expected, got)}"
                     if self.blame else "")
            return self._fail(
                "result",
                f"{call}: model returns {want}, implementation returns "
                f"{show_result(op, got)} (statuses and values must match exactly){blame}")
        self.model = new
        return None

    def conforms(self, invariants: bool = True,
                 integrity: tuple[State | None, str, Sequence[Any]] | None = None
                 ) -> Failure | None:
        """The observation means the model's state (``observe``, then ``state``); with
        ``invariants``, the model also keeps every invariant (``model_holds``). The kit's
        generated programs pass ``invariants=False`` and call ``model_holds`` once at the
        end of each program (the check costs about ten model steps; a broken invariant is
        then found step by step when the failing program is replayed).

        An implementation may offer ``observe_changes() -> (observation, changed)`` besides
        ``observe``, as exo's wire client does for a kernel with WIRE-3's ``changed``
        feature: ``changed`` names the fields that may differ from the last observation
        it returned, or is None. The fields not named are then neither checked nor
        compared again: the client vouches that they are the very values it returned
        before (and compares its put-together state with a complete one every 16th call).

        ``integrity`` (the state observed before the last call, the call's name and
        arguments): before the comparison, the observed change must keep to the authority
        of the call's actor (NI-2, ``integrity``), so a kernel that changes what its caller
        has no authority over is named for that."""
        if self.failure is not None:
            return self.failure
        if self.compared == self.steps and not invariants:
            return None  # nothing called since the last comparison
        assert self.impl is not None
        self.compared = self.steps
        after = self._after()
        since, self.recent, self._since = self._since, [], []
        changed: frozenset[str] | None = None
        try:
            observe_changes = getattr(self.impl, "observe_changes", None)
            if callable(observe_changes):  # exo's wire client (see conforms' doc)
                observation, changed = observe_changes()
            else:
                observation = self.impl.observe()
        except Exception as exc:
            return self._fail(
                "observe", f"after {after}: observe() raised {first_line(exc)}{traced(exc)}")
        if self.fields is not None and type(observation) is dict:
            observation = {k: v for k, v in observation.items() if k in self.fields}
        try:  # abstract checks the shape first (exo.kit.conformance.malformed)
            if changed is not None and self._seen is not None and type(observation) is dict:
                seen = abstract_changes(self.cfg, self._seen, {
                    k: observation[k] for k in changed if k in observation})
            else:
                seen = abstract(self.cfg, observation)
        except (KeyError, ValueError) as exc:
            return self._fail("observe", f"after {after}: observe() is malformed: "
                              f"{exc.args[0] if exc.args else exc} (spec/observe.md, GEN-5)")
        self._seen = seen
        if integrity is not None:
            broken = self.integrity(*integrity)
            if broken is not None:
                return broken
        agreed_m, agreed_s = self._agreed
        stale: set[str] | None = None
        if changed is not None and agreed_m is not None and agreed_s is not None:
            stale = stale_fields(self.model, seen, (agreed_m, agreed_s))
            same = not stale
        else:  # equal states need no canonical comparison, nor does a repeat
            same = seen == self.model or (self.model is agreed_m and seen == agreed_s)
        if same and stale is not None:
            self._agreed = (self.model, seen)
        if not same:
            try:
                diff = differences(self.model, seen, fields=stale)
            except Exception as exc:  # an observation of values of the wrong type
                return self._fail(
                    "observe", f"after {after}: observe() is malformed: {first_line(exc)}")
            if diff:
                return self._fail("state", f"after {after}: state differs: "
                                  + "; ".join(diff) + self._blame(since, seen))
            # the same model state and the same (well-formed, so exactly typed) observed
            # state as now agree again: a call that changed nothing is not compared twice
            self._agreed = (self.model, seen)
        return self.model_holds(after) if invariants else None

    def _blame(self, since: list[tuple[str, tuple[Any, ...]]], seen: State) -> str:
        """What the observed state ``seen`` contradicts (``exo.kit.blame``), after the
        calls ``since`` the last comparison: for one call, its clause and the sentences
        of its text; for several, their clauses; '' at boot."""
        if not since or not self.blame:
            return ""
        if len(since) == 1 and self._last is not None:
            pre, name, args, result = self._last
            return f"; {blame_state(pre, name, args, result, self.model, seen, self.fields)}"
        return f"; {blame_calls(since)}"

    def _after(self) -> str:
        shown = self.recent[-8:]  # every call since the last check, up to eight
        after = "; ".join(shown) or "boot"
        if len(self.recent) > len(shown):
            after = f"{len(self.recent)} calls, the last {len(shown)}: {after}"
        return after

    def model_holds(self, after: str | None = None) -> Failure | None:
        """The model's state keeps every invariant of spec/invariants.py (checked only
        when it changed since the last check)."""
        if self.failure is not None:
            return self.failure
        if self.model is self.checked:  # unchanged since the last check
            return None
        self.checked = self.model
        broken = check(self.model)
        if broken:
            where = after if after is not None else f"{self.steps} calls"
            return self._fail("invariant", f"after {where}: model invariant violated: "
                              + "; ".join(f"{k} at {', '.join(v)}" for k, v in broken.items()))
        return None

    def offers(self, feature: str) -> bool:
        """Does the implementation offer ``trap`` (GEN-6) or ``observe_as`` (GEN-7)?
        (``exo.kit.conformance.offers``; False when the factory failed.)"""
        return self.impl is not None and offers(self.impl, feature)

    def views(self, envs: Sequence[int]) -> Failure | None:
        """GEN-7: the implementation's ``observe_as(e)`` against the model's view, for each
        ``e`` of ``envs``; a ``view`` failure at the first that differs. Nothing is asked
        of an implementation that offers no ``observe_as``."""
        if self.failure is not None:
            return self.failure
        if not self.offers("observe_as"):
            return None
        assert self.impl is not None
        after = "; ".join(self.recent[-8:]) or f"{self.steps} calls"
        for e in envs:
            try:
                got = self.impl.observe_as(e)  # type: ignore[attr-defined]
            except Exception as exc:
                if from_harness(exc):
                    return self._fail("view", f"after {after}: observe_as({e}): the kernel "
                                      f"process failed: {str(exc).strip()}")
                return self._fail("view", f"after {after}: observe_as({e}) raised "
                                  f"{first_line(exc)}{traced(exc)}")
            diff = view_differences(self.model, e, got)
            if diff:
                return self._fail("view", f"after {after}: environment {e} sees otherwise "
                                  "than GEN-7 says: " + "; ".join(diff))
        return None

    def integrity(self, before: State | None, name: str, args: Sequence[Any]
                  ) -> Failure | None:
        """NI-2 on what the implementation shows: every entry that changed between the
        observed state ``before`` the last call and the one observed after it lies in the
        authority of the call's actor (``exo.spec.flows.outside_authority``). For a
        trap step (GEN-6) and the events the running environment causes (the actions of
        NI-2's obligations); None for anything else, or when there is no observed state
        to compare."""
        if self.failure is not None:
            return self.failure
        after = self._seen
        op, op_args = (args[0], tuple(args[1:])) if name == TRAP and args else (name, args)
        if before is None or after is None or type(op) is not str or not (
                op in TRAPS if name == TRAP else op in RUNNING_EVENTS):
            return None  # a raw call (the kernel's own use), a kernel event: not NI-2's
        plain = admit(TRAPS[op] if name == TRAP else OPERATIONS[op], tuple(op_args))
        if plain is None:  # refused by kind (GEN-1): any change is GEN-2's, compared next
            return None
        outside = outside_authority(before, after, op, plain)
        if outside:
            shown = "; ".join(self.recent[-8:]) or call_text(name, args)  # (conforms: emptied)
            return self._fail("integrity", f"after {shown}: "
                              "the step changed what its actor has no authority over "
                              "(NI-2): " + "; ".join(outside[:4]))
        return None

    @property
    def seen(self) -> State | None:
        """The implementation's state as last observed (None before any observation)."""
        return self._seen

    def step(self, name: str, args: Sequence[Any]) -> Failure | None:
        """One step of the kit: ``call``, then ``conforms``."""
        return self.call(name, args) or self.conforms()
