"""The declarative text of PCT-1 and PCT-2 (spec/pct.md), with the transfer of PCT-3 as
the step both are built from."""

from __future__ import annotations

from typing import Any

from exo.interface import NO_ENTRY, Resource, Status, Vector
from exo.logic import And, BoolV, If, IntV, Not, in_range
from exo.model.state import State
from exo.spec.declarative.text import A, Case, Cite, Requirement, Text, View, always, branch
from exo.spec.declarative.vocabulary import live, under_revocation

# --------------------------------------------------------------------------- PCT-3


def transferred(v: Any, callee: IntV, vector: Vector) -> View:
    """PCT-3 "Does", as a step: control moves to ``callee``'s entry point ``vector``; the
    three things a transfer changes, and nothing else."""
    view: View = v.given(
        Cite("PCT-3", "A transfer changes exactly three things: the running environment "
                      "(`cur_env`); the hardware context-id register (`hw_cid`, set to the "
                      "callee's context id); the program counter (`pc`, set to the callee's "
                      "entry point)."),
        cur_env=callee,
        hw_cid=v.env_cid[callee],
        pc=v.entry[callee, int(vector)],
    )
    return view


def _caller_owns(s: Any) -> BoolV:
    """PCT-1: the caller owns the slice in progress."""
    return s.slice_owner[s.cur_slice] == s.cur_env


def _requires(clause: str, vector: Vector, what: str, busy: bool) -> tuple[Requirement, ...]:
    running = "an environment is running" + (" (`cur_env` is live)" if busy else "")
    first = (
        Requirement("callee-in-range", Cite(clause, "`callee` in `[0, n_envs)`"),
                    lambda s, a: Not(in_range(a[0], s.cfg.n_envs)), Status.INVALID_ARGUMENT),
        Requirement("running", Cite(clause, running),
                    lambda s, a: Not(live(s, s.cur_env)), Status.NOT_RUNNING),
        Requirement("callee-alive", Cite(clause, "`callee` is alive"),
                    lambda s, a: Not(s.env_alive[a[0]]), Status.NO_SUCH_ENV),
        Requirement("callee-entry", Cite(clause, f"`callee` has {what} entry point"),
                    lambda s, a: s.entry[a[0], int(vector)] == NO_ENTRY, Status.NO_ENTRY),
    )
    revoked = (
        Requirement("slice-not-revoked",
                    Cite(clause, "the slice in progress is not both owned by the caller and "
                                 "named by a pending slice revocation request of the "
                                 "caller"),
                    lambda s, a: And(_caller_owns(s), under_revocation(
                        s, s.cur_env, Resource.SLICE, s.cur_slice)),
                    Status.BUSY),
    ) if busy else ()
    time_left = (
        Requirement("time-left", Cite(clause, "the slice in progress has time left "
                                              "(`slice_left > 0`)"),
                    lambda s, a: Not(s.slice_left > 0), Status.NO_TIME),
    )
    return (*first, *revoked, *time_left)


# --------------------------------------------------------------------------- PCT-1


_DONATED = Cite("PCT-1", "If the caller owns the slice in progress, ownership of that slice "
                        "passes to the callee, and a record that the slice was repossessed "
                        "from the callee is cleared. If the caller runs in a slice it does "
                        "not own, the ownership of slices does not change.")


def _called_sync(pre: State, a: A) -> View:
    callee = a[0]
    q = pre.cur_slice
    owns = branch(_DONATED, "caller-owns-slice", _caller_owns(pre))
    return transferred(View(pre), callee, Vector.PCT_SYNC).given(
        _DONATED,
        slice_owner=lambda x: If(And(owns, x == q), callee, pre.slice_owner[x]),
        repo_slice=lambda x, y: And(pre.repo_slice[x, y],
                                    Not(And(owns, x == callee, y == q))),
    )


SCALL = Text(
    "scall",
    _requires("PCT-1", Vector.PCT_SYNC, "a synchronous", busy=True),
    (Case("transferred", Cite("PCT-1", "`OK` with the value 0."), always, _called_sync,
          lambda s, a: 0),),
)

# --------------------------------------------------------------------------- PCT-2


def _called_async(pre: State, a: A) -> View:
    return transferred(View(pre), a[0], Vector.PCT_ASYNC)


ACALL = Text(
    "acall",
    _requires("PCT-2", Vector.PCT_ASYNC, "an asynchronous", busy=False),
    (Case("transferred", Cite("PCT-2", "`OK` with the value 0."), always, _called_async,
          lambda s, a: 0),),
)

TEXTS: dict[str, Text] = {t.op: t for t in (SCALL, ACALL)}
