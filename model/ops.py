"""How a model operation is declared, and the predicates every subsystem shares.

Every operation is ``op(state, *args) -> (new_state, Result)`` (GEN-1). ``transition``
registers it under its name in the shared interface and adds the one check Python values
need before any logic runs (GEN-1, ``exo.interface.admit``, shared with the
implementation): an argument that is not exactly of its kind gives INVALID_ARGUMENT, and
the project's enum members are handed on as plain ints. Z3 terms are a kind only inside
the proofs' symbolic mode.
``finish`` implements GEN-2: with any status but OK, the old state is returned unchanged.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeAlias

from exo.interface import (
    NO_ENTRY,
    NULL_CAP,
    OPERATIONS,
    Cap,
    OpSig,
    Result,
    Rights,
    Status,
    admit,
    null_value,
)
from exo.logic import And, BoolV, If, IntV, Or, in_range, symbolic_mode
from exo.model.state import State

Transition: TypeAlias = Callable[..., tuple[State, Result]]

REGISTRY: dict[str, Transition] = {}
"""Every model operation by its interface name, in declaration order."""


def transition(name: str) -> Callable[[Transition], Transition]:
    """GEN-1: declare the model's transition for the interface operation ``name``. Before
    any logic runs, ``admit`` checks the arguments by exact type: anything it refuses — a
    subclass, a look-alike, a wrong count — gives INVALID_ARGUMENT with the null value
    and the state passed in, never an exception. Z3 terms are admitted only in the
    proofs' symbolic mode (``exo.logic.strict_symbolic``); called anywhere else, the
    model refuses a Z3 term by its type, as the implementation does, without reading it
    (a term of a deleted context would crash the process the moment Z3 read it)."""
    sig: OpSig = OPERATIONS[name]
    invalid = Result(Status.INVALID_ARGUMENT, null_value(sig))

    def deco(fn: Transition) -> Transition:
        @functools.wraps(fn)
        def op(state: State, *args: Any) -> tuple[State, Result]:
            plain = admit(sig, args, symbolic=symbolic_mode())
            if plain is None:  # a fact about Python types, never about model values
                return state, invalid
            return fn(state, *plain)

        REGISTRY[name] = op
        return op

    return deco


def finish(old: State, new: State, status: IntV, value: Any = 0, on_failure: Any = None
           ) -> tuple[State, Result]:
    """GEN-2: the new state and value only if ``status`` is OK; else the old state (and
    ``on_failure`` as the value, by default the null value)."""
    ok = status == Status.OK
    null = on_failure if on_failure is not None else NULL_CAP if isinstance(value, Cap) else 0
    return If(ok, new, old), Result(status, If(ok, value, null))


# --------------------------------------------------------------------------- shared predicates


def live(s: State, e: IntV) -> BoolV:
    """ENV-1: ``e`` names a live environment."""
    return And(in_range(e, s.cfg.n_envs), s.env_alive[e])


def rights_ok(r: IntV) -> BoolV:
    """MEM-6: ``r`` is READ or READWRITE, a right a capability may carry."""
    return And(r >= Rights.READ, r <= Rights.READWRITE)


def cap_valid(s: State, e: IntV, cap: Cap) -> BoolV:
    """MEM-6: ``cap`` is current and held: right generation, and ``e`` holds its rights."""
    return And(
        in_range(cap.page, s.cfg.n_pages),
        cap.gen == s.gen[cap.page],
        rights_ok(cap.rights),
        s.rights[e, cap.page] >= cap.rights,
    )


def needed(write: BoolV) -> IntV:
    """MEM-6: the right an access or mapping needs: READWRITE to write, READ otherwise."""
    return If(write, int(Rights.READWRITE), int(Rights.READ))


def entry_ok(s: State, entry: IntV) -> BoolV:
    """GEN-3: an entry address is NO_ENTRY (-1, unregister) or below ``addr_limit``."""
    return Or(entry == NO_ENTRY, in_range(entry, s.cfg.addr_limit))
