"""Deterministic lockstep replay of the conformance kit, outside Hypothesis.

``Lockstep`` holds the model and an implementation side by side and makes, for one
operation call, every check ``exo check`` makes (``exo.testing``): the implementation's
``Result`` against the model's (``exo.conformance.same_outcome``), its observation against
the model's state (``abstract`` and ``differences``), and the model's invariants
(``exo.spec.invariants.check``). A check that fails gives a ``Failure`` value — never an
exception — whose message names statuses and outcomes (``OK ACCESS``, not ``OK:1``).

On top of it:

* ``replay(factory, cfg, steps)``: run a list of ``(name, args)`` steps, the first
  failure or None;
* ``minimize(factory, cfg, steps, failure)``: delete steps while the same kind of failure
  remains;
* ``describe(name, args)``: a call as runnable Python text;
* ``write_reproduction(path, impl, cfg, steps, failure)``: a standalone pytest file that
  fails while the bug is there and passes once it is fixed.

Steps hold plain arguments: ``int``, ``bool``, ``Cap``, programs (a ``tuple`` of
``(code, jt, jf, k)`` int tuples), packets (``bytes``), or — for the hostile calls — any
other value, handed on as it is.
"""

from __future__ import annotations

import dataclasses
import math
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

from exo.conformance import Implementation, abstract, differences, same_outcome
from exo.interface import NULL_CAP, OPERATIONS, Cap, Config, Outcome, Result, Status
from exo.model import REGISTRY, State, initial
from exo.spec.invariants import check

Factory = Callable[[Config], Implementation]
Step = tuple[str, tuple[Any, ...]]
"""One operation call: its name and its plain arguments."""

OUTCOME_OPS: frozenset[str] = frozenset(
    {"load", "store", "yield_to", "timer_tick", "raise_exception", "packet_arrive"})
"""The operations whose value, when the status is OK, is an ``Outcome`` (the model:
MEM-4/MEM-5 translate and deliver, CPU-3 yield_to, CPU-4 timer_tick, EXC-1 deliver,
NET-3 packet_arrive). Every other operation's value is a plain int, a ``Cap`` (alloc,
grant), a hex string (an OVERLAP witness) or a packet (packet_take)."""

KINDS = ("result", "state", "raised", "observe", "invariant", "factory")
"""The kinds of ``Failure``, one per check the kit makes."""

__all__ = [
    "KINDS",
    "OUTCOME_OPS",
    "Failure",
    "Lockstep",
    "Step",
    "describe",
    "minimize",
    "replay",
    "show_result",
    "write_reproduction",
]


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


# --------------------------------------------------------------------------- rendering


def _name_of(enum: type[IntEnum], value: Any) -> str | None:
    """The member name of ``value`` in ``enum``, if it is exactly an int (or a member)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    try:
        return enum(value).name
    except ValueError:
        return None


def _value_text(value: Any) -> str:
    if type(value) is Cap:
        return _cap_text(value)
    if isinstance(value, bytes):
        return f"bytes.fromhex('{bytes(value).hex()}')"
    return repr(value)


def show_result(op_name: str, result: Any) -> str:
    """A result as text: the status by name; the value an ``Outcome`` by name for the
    operations of ``OUTCOME_OPS``, a ``Cap`` as ``Cap(page, gen, rights)``, anything else
    by its repr. The null value of a failing status is left out (``NOT_OWNER``); anything
    that is not a ``Result`` is shown as what it is."""
    if not isinstance(result, Result):
        return f"{result!r} (not a Result)"
    status, value = result.status, result.value
    st = _name_of(Status, status)
    st_text = st if st is not None else f"{status!r} (not a Status)"
    if st == "OK" and op_name in OUTCOME_OPS:
        outcome = _name_of(Outcome, value)
        return f"{st_text} {outcome}" if outcome is not None else (
            f"{st_text} {value!r} (not an Outcome)")
    if st != "OK" and st is not None and (
            (type(value) is Cap and value == NULL_CAP)
            or (type(value) is int and value == 0)):
        return st_text
    return f"{st_text} {_value_text(value)}"


def _cap_text(cap: Cap) -> str:
    fields = (getattr(cap, f, None) for f in ("page", "gen", "rights"))
    return f"Cap({', '.join(_literal(f) for f in fields)})"


def _literal(value: Any) -> str:
    """``value`` as Python source that evaluates to an equal plain value."""
    if value is None or type(value) in (bool, str):
        return repr(value)
    if isinstance(value, int):
        return repr(int(value))  # enum members as the plain int they stand for
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else f"float('{value!r}')"
    if type(value) is Cap:
        return _cap_text(value)
    if isinstance(value, bytes):
        return f"bytes.fromhex('{bytes(value).hex()}')"
    if isinstance(value, tuple):
        inner = ", ".join(_literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return f"[{', '.join(_literal(v) for v in value)}]"
    return repr(value)


def describe(name: str, args: Sequence[Any]) -> str:
    """The call ``name(*args)`` as runnable Python text: packets as
    ``bytes.fromhex('...')``, programs as tuples of tuples, capabilities as
    ``Cap(page, gen, rights)``, enum members as plain ints."""
    return f"{name}({', '.join(_literal(a) for a in args)})"


def _label(value: Any) -> str:
    """A labelled program or packet of the kit (``exo.testing.Program``/``Packet``) by
    its label and its value; anything else as ``_literal``."""
    label = getattr(value, "name", None)
    if isinstance(label, str) and isinstance(value, tuple | bytes) and (
            type(value) not in (tuple, bytes)):
        return f"{label}={_literal(_plain(value))}"
    return _literal(value)


def _call_text(name: str, args: Sequence[Any]) -> str:
    return f"{name}({', '.join(_label(a) for a in args)})"


def _plain(arg: Any) -> Any:
    """A labelled program or packet (a subclass of ``tuple``/``bytes``, such as the kit's
    ``Program`` and ``Packet``) as the plain ``tuple``/``bytes`` it holds: operations admit
    exact types only (GEN-1). Anything else is handed on as it is."""
    if isinstance(arg, tuple) and type(arg) is not tuple:
        return tuple(arg)
    if isinstance(arg, bytes) and type(arg) is not bytes:
        return bytes(arg)
    return arg


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


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
                 fields: frozenset[str] | None = None) -> None:
        """``fields``: compare only these ``observe()`` fields (``exo check --ops``: the
        fields the chosen operations can change, ``exo.bringup.fields_for``); None: all."""
        self.cfg = cfg
        self.fields = fields
        self.model: State = initial(cfg)
        self.impl: Implementation | None = None
        self.result: Result | None = None
        self.failure: Failure | None = None
        self.steps = 0
        self.recent: list[str] = []  # calls since the last ``conforms``
        self.checked: State | None = None  # the model state whose invariants hold
        self.on_step: Callable[[State, str, tuple[Any, ...], Result, State, str], Any] | None
        self.on_step = None
        try:
            self.impl = factory(cfg)
        except Exception as exc:
            label = getattr(factory, "__qualname__", None) or repr(factory)
            self.failure = Failure(
                -1, "factory",
                f"the implementation's factory {label} raised with {cfg!r}: "
                f"{_first_line(exc)}\n{_traceback(exc)}")

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
        if type(name) is not str or name not in REGISTRY:
            raise ValueError(f"unknown operation {name!r}: not one of exo.interface.OPERATIONS")
        if not isinstance(args, tuple | list):
            raise ValueError(f"arguments of {name} must be a tuple, not {type(args).__name__}")
        assert self.impl is not None
        call = _call_text(name, args)
        self.recent.append(call)
        self.steps += 1
        plain = tuple(_plain(a) for a in args)
        try:
            new, expected = REGISTRY[name](self.model, *plain)
        except Exception as exc:
            raise ValueError(f"{call}: the model raised {_first_line(exc)} (a bug in exo, "
                             "not in the implementation)") from exc
        self.result = expected
        if self.on_step is not None:
            self.on_step(self.model, name, plain, expected, new, call)
        want = show_result(name, expected)
        try:
            got = self.impl.apply(name, *plain)
        except Exception as exc:
            return self._fail(
                "raised",
                f"{call}: the implementation raised {_first_line(exc)} (the model returns "
                f"{want}; GEN-1: errors are values, never exceptions)\n{_traceback(exc)}")
        try:
            same = same_outcome(self.model, name, plain, expected, got)
        except Exception:
            same = False
        if not same:
            return self._fail(
                "result",
                f"{call}: model returns {want}, implementation returns "
                f"{show_result(name, got)} (statuses and values must match exactly)")
        self.model = new
        return None

    def conforms(self, invariants: bool = True) -> Failure | None:
        """The observation means the model's state (``observe``, then ``state``); with
        ``invariants``, the model also keeps every invariant (``model_holds``). The kit's
        generated programs pass ``invariants=False`` and call ``model_holds`` once at the
        end of each program (the check costs about ten model steps; a broken invariant is
        then found step by step when the failing program is replayed)."""
        if self.failure is not None:
            return self.failure
        assert self.impl is not None
        after = self._after()
        self.recent = []
        try:
            observation = self.impl.observe()
        except Exception as exc:
            return self._fail(
                "observe", f"after {after}: observe() raised {_first_line(exc)}\n"
                f"{_traceback(exc)}")
        if self.fields is not None and type(observation) is dict:
            observation = {k: v for k, v in observation.items() if k in self.fields}
        try:  # abstract checks the shape first (exo.conformance.malformed)
            seen = abstract(self.cfg, observation)
        except (KeyError, ValueError) as exc:
            return self._fail("observe", f"after {after}: observe() is malformed: "
                              f"{exc.args[0] if exc.args else exc} (spec/observe.md, GEN-5)")
        if seen != self.model:  # equal states need no canonical comparison
            try:
                diff = differences(self.model, seen)
            except Exception as exc:  # an observation of values of the wrong type
                return self._fail(
                    "observe", f"after {after}: observe() is malformed: {_first_line(exc)}")
            if diff:
                return self._fail("state", f"after {after}: state differs: "
                                  + "; ".join(diff))
        return self.model_holds(after) if invariants else None

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

    def step(self, name: str, args: Sequence[Any]) -> Failure | None:
        """One step of the kit: ``call``, then ``conforms``."""
        return self.call(name, args) or self.conforms()


def _traceback(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()


# --------------------------------------------------------------------------- replay


def _checked_steps(steps: Sequence[Any]) -> list[Step]:
    """The steps as ``(name, args)`` pairs; ``ValueError`` naming the first bad one."""
    out: list[Step] = []
    for i, s in enumerate(steps):
        if not (isinstance(s, tuple | list) and len(s) == 2):
            raise ValueError(f"step {i}: expected (name, args), got {s!r}")
        name, args = s
        if type(name) is not str or name not in OPERATIONS:
            raise ValueError(f"step {i}: unknown operation {name!r}: not one of "
                             "exo.interface.OPERATIONS")
        if not isinstance(args, tuple | list):
            raise ValueError(f"step {i}: arguments of {name} must be a tuple, not "
                             f"{type(args).__name__}")
        out.append((name, tuple(args)))
    return out


MINIMIZE_SECONDS = 15.0
"""How long ``minimize`` may delete steps (a failing program of hundreds of calls would
otherwise cost minutes of replays); it keeps the shortest program found by then."""


def replay(factory: Factory, cfg: Config, steps: Sequence[Step],
           fields: frozenset[str] | None = None, invariants: bool | None = True
           ) -> Failure | None:
    """Run ``steps`` in lockstep from boot, checking after boot and after every step;
    the first failure, or None. ``fields`` as for ``Lockstep``. ``invariants``: True,
    the model's invariants after every step; False, once at the end (the check costs
    about ten steps, and Z3 questions when filters are installed); None, not at all
    (``minimize`` keeping a failure that is not a broken invariant). ``ValueError`` for
    a malformed step (unknown operation, arguments not a tuple) or configuration,
    before anything runs."""
    problem = cfg.problem() if isinstance(cfg, Config) else "not an exo.interface.Config"
    if problem is not None:
        raise ValueError(f"bad configuration: {problem}")
    plan = _checked_steps(steps)
    ls = Lockstep(factory, cfg, fields)
    every = invariants is True
    failure = ls.conforms(every)
    for name, args in plan:
        if failure is not None:
            break
        failure = ls.call(name, args) or ls.conforms(every)
    if failure is None and invariants is False:
        failure = ls.model_holds()
    return failure


def minimize(factory: Factory, cfg: Config, steps: Sequence[Step], failure: Failure,
             max_replays: int = 2000, fields: frozenset[str] | None = None,
             max_seconds: float = MINIMIZE_SECONDS) -> tuple[list[Step], Failure]:
    """A shorter program failing the same way (the same ``kind``): cut everything after
    ``failure.index``, delete chunks of steps (halves, quarters, ... from the end), then
    single steps (from the last to the first, repeatedly) and then pairs of steps, while
    a replay still fails with that kind. At most
    ``max_replays`` replays and ``max_seconds`` seconds; the shortest program found and
    its failure. The model's invariants are checked after every step only when the
    failure is a broken invariant."""
    every: bool | None = True if failure.kind == "invariant" else None
    best = _checked_steps(steps)[: failure.index + 1]
    found = replay(factory, cfg, best, fields, invariants=every)
    if found is None or found.kind != failure.kind:  # not reproducible as given
        return list(steps), failure
    budget = [max_replays]
    deadline = time.perf_counter() + max_seconds

    def attempt(candidate: list[Step]) -> Failure | None:
        if budget[0] <= 0 or time.perf_counter() > deadline:
            budget[0] = 0
            return None
        budget[0] -= 1
        f = replay(factory, cfg, candidate, fields, invariants=every)
        return f if f is not None and f.kind == failure.kind else None

    best = best[: found.index + 1]
    # chunks first (halves, quarters, ...: a long program loses most of its steps in a
    # few replays), then single steps and pairs
    size = len(best) // 2
    while size >= 2 and budget[0] > 0:
        i = len(best) - size
        while i >= 0 and budget[0] > 0:
            candidate = best[:i] + best[i + size:]
            f = attempt(candidate)
            if f is not None:
                best, found = candidate[: f.index + 1], f
            i = min(i - size, len(best) - size)
        size //= 2
    changed = True
    while changed and budget[0] > 0:
        changed = False
        i = len(best) - 1
        while i >= 0 and budget[0] > 0:
            candidate = best[:i] + best[i + 1:]
            f = attempt(candidate)
            if f is not None:
                best, found, changed = candidate[: f.index + 1], f, True
            i = min(i - 1, len(best) - 1)
        if changed:
            continue
        # pairs: two steps that only matter together (e.g. alloc then dealloc)
        for i in range(len(best) - 1, 0, -1):
            for j in range(i - 1, -1, -1):
                if budget[0] <= 0 or i >= len(best):
                    break
                candidate = best[:j] + best[j + 1:i] + best[i + 1:]
                f = attempt(candidate)
                if f is not None:
                    best, found, changed = candidate[: f.index + 1], f, True
                    break
            if changed:
                break
    return best, found


# --------------------------------------------------------------------------- reproduction


def _comment(text: str) -> str:
    return "\n".join(f"#   {line}".rstrip() for line in text.splitlines())


def write_reproduction(path: Path, impl: str, cfg: Config, steps: Sequence[Step],
                       failure: Failure, seed: int | None = None,
                       fields: frozenset[str] | None = None) -> Path:
    """Write a standalone pytest file replaying ``steps`` on ``impl`` (``"package.module:
    Factory"``, as given to ``exo check --impl``) with ``cfg``; it fails, printing the
    first difference, while the bug is there and passes once the implementation
    conforms. ``ValueError`` if a step's arguments cannot be written as Python source
    that gives them back. Returns ``path``."""
    plan = _checked_steps(steps)
    if not isinstance(impl, str) or (impl.count(":") != 1 and not impl.startswith("cmd:")):
        raise ValueError(f"impl must look like 'package.module:Factory' or 'cmd: COMMAND', "
                         f"got {impl!r}")
    lines: list[str] = []
    for name, args in plan:
        text = _literal(tuple(_plain(a) for a in args))
        lines.append(f"    ({name!r}, {text}),  # {len(lines)}")
    source_steps = "[\n" + "\n".join(lines) + ("\n]" if lines else "]")
    namespace: dict[str, Any] = {"__builtins__": {}, "Cap": Cap, "bytes": bytes,
                                 "float": float}
    try:  # the file must mean the same steps
        back = eval(source_steps, namespace)
    except Exception as exc:
        raise ValueError(f"the steps cannot be written as Python source: "
                         f"{_first_line(exc)}") from exc
    expected = [(n, tuple(_plain(a) for a in a_)) for n, a_ in plan]
    if back != expected and not ("float(" in source_steps
                                 and _literal(back) == _literal(expected)):  # NaN
        raise ValueError("the steps cannot be written as Python source that gives them back")
    cfg_text = "Config(" + ", ".join(
        f"{f.name}={_literal(getattr(cfg, f.name))}" for f in dataclasses.fields(cfg)) + ")"
    first = failure.message.splitlines()[0] if failure.message else ""
    path = Path(path)
    path.write_text(f'''\
# A conformance failure of {impl} against the exo model, found by the conformance kit
# (`exo check --impl {impl}`{f", seed {seed}" if seed is not None else ""});
# written by exo.lockstep.write_reproduction.
# The {len(plan)} steps below are replayed in lockstep with the model (exo.lockstep.replay);
# the first difference ({failure.kind}, after step {failure.index}) was:
{_comment(first)}
#
# Run it with:  pytest {path.name}
# It fails while the bug is there and passes once {impl} conforms.

import pytest

from exo.interface import Cap, Config  # noqa: F401
from exo.lockstep import replay
from exo.testing import load_factory

IMPL = {impl!r}
CFG = {cfg_text}
FIELDS = {("frozenset(" + repr(sorted(fields)) + ")") if fields is not None else None}
STEPS = {source_steps}


def test_reproduction() -> None:
    failure = replay(load_factory(IMPL), CFG, STEPS, FIELDS)
    if failure is not None:
        pytest.fail(f"step {{failure.index}} ({{failure.kind}}): {{failure.message}}",
                    pytrace=False)
''')
    return path
