"""The declarative text of EXC-1 (spec/exceptions.md), and of delivery as EXC-2 states it
(also used by MEM-4 and MEM-5, which deliver TLB misses and protection faults the same
way)."""

from __future__ import annotations

from typing import Any

import z3

from exo.interface import FREE, NO_ENTRY, ExcKind, Outcome, Status
from exo.logic import BoolV, If, IntV, Not, Or
from exo.spec.declarative.env import destroyed
from exo.spec.declarative.text import Case, Cite, Requirement, Text, View, always, branch

# --------------------------------------------------------------------------- EXC-2

_WITH = ("With a handler (`entry[e, exc] != NO_ENTRY`): `epc` receives the current `pc`; "
         "`cause` becomes `exc`; `badvpage` becomes `v`; `pc` becomes the handler. `e` keeps "
         "the CPU.")
_WITHOUT = "Without a handler, `e` is destroyed (ENV-2)."


def has_handler(v: Any, exc: IntV) -> BoolV:
    """EXC-2: the running environment registered a handler for ``exc``
    (``entry[e, exc] != NO_ENTRY``)."""
    return v.entry[v.cur_env, exc] != NO_ENTRY


def delivered(v: Any, exc: IntV, badvpage: IntV) -> View:
    """EXC-2 "Does", as a step: exception ``exc`` with faulting virtual page ``badvpage``
    delivered to the running environment of the state ``v``."""
    e = v.cur_env
    handler = v.entry[e, exc]
    handled = branch(Cite("EXC-2", _WITH), "handler", has_handler(v, exc))
    killed = destroyed(v, e)

    def kept_or_killed(name: str) -> Any:
        before, after = getattr(v, name), getattr(killed, name)
        if isinstance(after, bool | int | z3.ExprRef):  # a scalar (cur_env, hw_cid)
            return If(handled, before, after)
        return lambda *k: If(handled, before[k], after[k])

    # every field ENV-2 describes: as in ``v`` with a handler, as destroyed without one
    earlier = v.described() if isinstance(v, View) else {}
    without = killed.given(
        Cite("EXC-2", _WITHOUT),
        **{name: kept_or_killed(name) for name, cites in killed.described().items()
           if cites != earlier.get(name)},
    )
    return without.given(
        Cite("EXC-2", _WITH),
        epc=If(handled, v.pc, v.epc),
        cause=If(handled, exc, v.cause),
        badvpage=If(handled, badvpage, v.badvpage),
        pc=If(handled, handler, v.pc),
    )


def delivery_outcome(v: Any, exc: IntV) -> IntV:
    """EXC-2: the outcome of delivering ``exc`` in the state ``v``: ``DELIVERED`` with a
    handler, ``KILLED`` without one."""
    handled = branch(Cite("EXC-2", _WITH), "handler", has_handler(v, exc))
    return If(handled, int(Outcome.DELIVERED), int(Outcome.KILLED))


# --------------------------------------------------------------------------- EXC-1

RAISABLE = (ExcKind.UNALIGNED, ExcKind.OVERFLOW, ExcKind.COPROC, ExcKind.PROTECTION)
"""EXC-1: the kinds running code can raise itself."""

_RAISED = Cite("EXC-1", "The exception is delivered to the running environment as described "
                        "in EXC-2. `badvpage` keeps its current value.")

RAISE_EXCEPTION = Text(
    "raise_exception",
    (
        Requirement("raisable", Cite("EXC-1", "`exc` is one of the kinds running code can "
                                              "raise itself: `UNALIGNED`, `OVERFLOW`, "
                                              "`COPROC` or `PROTECTION`."),
                    lambda s, a: Not(Or(*[a[0] == int(k) for k in RAISABLE])),
                    Status.INVALID_ARGUMENT),
        Requirement("running", Cite("EXC-1", "an environment is running (`cur_env` is not "
                                             "`FREE`)"),
                    lambda s, a: s.cur_env == FREE, Status.NOT_RUNNING),
    ),
    (Case("delivered",
          Cite("EXC-1", "`OK` with `Outcome.DELIVERED`, or `Outcome.KILLED` if the "
                        "environment had no handler for `exc`."),
          always,
          lambda s, a: delivered(View(s).given(_RAISED, badvpage=s.badvpage), a[0],
                                 s.badvpage),
          lambda s, a: delivery_outcome(s, a[0])),),
)

TEXTS: dict[str, Text] = {t.op: t for t in (RAISE_EXCEPTION,)}
