"""How the kit writes calls, results and errors: one home for each of these helpers.

``describe`` and ``literal`` give runnable Python source (a reproduction file replays
what they write); ``call_text`` is the same with the kit's labelled programs and packets
shown by name; ``show_result`` names statuses and outcomes (``OK ACCESS``, not ``OK:1``);
``plain`` turns a labelled program or packet back into the exact ``tuple``/``bytes`` that
operations admit (GEN-1); ``first_line``/``message_line``/``traceback_text`` turn an
exception into one line or its whole traceback.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Sequence
from enum import IntEnum
from typing import Any

from exo.interface import NULL_CAP, OUTCOME_OPS, Cap, Outcome, Result, Status

__all__ = [
    "call_text",
    "describe",
    "first_line",
    "from_harness",
    "label",
    "literal",
    "message_line",
    "plain",
    "show_result",
    "traceback_text",
    "traced",
]


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
    return f"Cap({', '.join(literal(f) for f in fields)})"


def literal(value: Any) -> str:
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
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return f"[{', '.join(literal(v) for v in value)}]"
    return repr(value)


def describe(name: str, args: Sequence[Any]) -> str:
    """The call ``name(*args)`` as runnable Python text: packets as
    ``bytes.fromhex('...')``, programs as tuples of tuples, capabilities as
    ``Cap(page, gen, rights)``, enum members as plain ints."""
    return f"{name}({', '.join(literal(a) for a in args)})"


def label(value: Any) -> str:
    """A labelled program or packet of the kit (``exo.kit.values.Program``/``Packet``) by
    its label and its value; anything else as ``literal``."""
    name = getattr(value, "name", None)
    if isinstance(name, str) and isinstance(value, tuple | bytes) and (
            type(value) not in (tuple, bytes)):
        return f"{name}={literal(plain(value))}"
    return literal(value)


def call_text(name: str, args: Sequence[Any]) -> str:
    return f"{name}({', '.join(label(a) for a in args)})"


def plain(arg: Any) -> Any:
    """A labelled program or packet (a subclass of ``tuple``/``bytes``, such as the kit's
    ``Program`` and ``Packet``) as the plain ``tuple``/``bytes`` it holds: operations admit
    exact types only (GEN-1). Anything else is handed on as it is."""
    if isinstance(arg, tuple) and type(arg) is not tuple:
        return tuple(arg)
    if isinstance(arg, bytes) and type(arg) is not bytes:
        return bytes(arg)
    return arg


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


# --------------------------------------------------------------------------- the checks


_HARNESS = ("exo.kit.", "exo.wire.")
"""The modules of the harness itself: frames of theirs say nothing about an implementation."""


def from_harness(exc: BaseException) -> bool:
    """Every frame of the exception's traceback is the harness's: not raised by an
    implementation's code but by the wire client about a kernel process (``WireError``:
    it hung, crashed or answered something that is no reply)."""
    frames = [frame for frame, _ in traceback.walk_tb(exc.__traceback__)]
    return all(str(f.f_globals.get("__name__", "")).startswith(_HARNESS) for f in frames)


def traceback_text(exc: BaseException) -> str:
    """The exception's whole traceback, as Python prints it, when a frame of it is the
    implementation's (a Python implementation's own bug, shown where it is); "" when it
    is ``from_harness``: its message says everything, and exo's own frames would read as
    exo crashing."""
    if from_harness(exc):
        return ""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip()


def traced(exc: BaseException) -> str:
    """``traceback_text`` on a line of its own after a message ("" when it is empty)."""
    text = traceback_text(exc)
    return f"\n{text}" if text else ""


def message_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name if it has none): a
    report's one-line error, where ``first_line`` would repeat the type."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
