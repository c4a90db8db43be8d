"""The declarative text of ENV-1..ENV-5 (spec/env.md), and of "destroy" as ENV-2 states it
(also used by EXC-2 and CPU-4, which destroy an environment the same way)."""

from __future__ import annotations

from typing import Any

from exo.interface import FREE, NO_ENTRY, NUM_EXCEPTIONS, Rights, Status, Vector
from exo.logic import And, BoolV, If, IntV, Not, Or, in_range
from exo.model.state import State
from exo.spec.declarative.text import (
    A,
    Case,
    Cite,
    Requirement,
    Text,
    View,
    always,
    branch,
    env_alive,
    env_in_range,
)
from exo.spec.declarative.vocabulary import authority_kept, entry_address

# --------------------------------------------------------------------------- ENV-1

_C1 = "Environment `env` becomes alive, with context id `cid`."
_C1_RESET = "The operation also resets the environment's other state."


def _created(pre: State, a: A) -> View:
    env, cid = a

    def is_new(x: IntV) -> BoolV:
        return x == env

    return View(pre).given(
        Cite("ENV-1", _C1),
        env_alive=lambda x: Or(is_new(x), pre.env_alive[x]),
        env_cid=lambda x: If(is_new(x), cid, pre.env_cid[x]),
        cid_env=lambda c: If(c == cid, env, pre.cid_env[c]),
    ).given(
        Cite("ENV-1", "Every one of its entry points becomes `NO_ENTRY`."),
        entry=lambda x, v: If(is_new(x), NO_ENTRY, pre.entry[x, v]),
    ).given(
        Cite("ENV-1", "Every guaranteed-mapping slot of `env` becomes invalid."),
        gm_valid=lambda x, g: And(Not(is_new(x)), pre.gm_valid[x, g]),
    ).given(
        Cite("ENV-1", "Its excess time becomes 0."),
        excess=lambda x: If(is_new(x), 0, pre.excess[x]),
    ).given(
        Cite("ENV-1", "No revocation request is pending."),
        rev_pending=lambda x: And(Not(is_new(x)), pre.rev_pending[x]),
    ).given(
        Cite("ENV-1", "Its repossession vector (pages, slices and filters) and its pending "
                      "repossession exception are cleared."),
        repo_page=lambda x, p: And(Not(is_new(x)), pre.repo_page[x, p]),
        repo_slice=lambda x, q: And(Not(is_new(x)), pre.repo_slice[x, q]),
        repo_filter=lambda x, f: And(Not(is_new(x)), pre.repo_filter[x, f]),
        repo_exc=lambda x: And(Not(is_new(x)), pre.repo_exc[x]),
    ).given(
        Cite("ENV-1", "Its receive ring is empty (`rx_head = rx_count = 0`) and its drop "
                      "counter `rx_drops` is 0."),
        rx_head=lambda x: If(is_new(x), 0, pre.rx_head[x]),
        rx_count=lambda x: If(is_new(x), 0, pre.rx_count[x]),
        rx_drops=lambda x: If(is_new(x), 0, pre.rx_drops[x]),
    )


ENV_CREATE = Text(
    "env_create",
    (
        env_in_range("ENV-1"),
        Requirement("cid-in-range", Cite("ENV-1", "`cid` in `[0, n_cids)`"),
                    lambda s, a: Not(in_range(a[1], s.cfg.n_cids)), Status.INVALID_ARGUMENT),
        Requirement("env-not-alive", Cite("ENV-1", "environment `env` is not alive"),
                    lambda s, a: s.env_alive[a[0]], Status.ENV_EXISTS),
        Requirement("cid-unused", Cite("ENV-1", "context id `cid` is unused"),
                    lambda s, a: s.cid_env[a[1]] != FREE, Status.IN_USE),
    ),
    (Case("created", Cite("ENV-1", "`OK` with the value `env`."), always, _created,
          lambda s, a: a[0]),),
)

# --------------------------------------------------------------------------- ENV-2


_ENV2_RUNNING = Cite("ENV-2", "If it was running, `cur_env` and `hw_cid` become `FREE`.")


def destroyed(v: Any, e: IntV) -> View:
    """ENV-2 "Does", as a step: the state ``v`` with environment ``e`` destroyed."""
    was_running = branch(_ENV2_RUNNING, "was-running", v.cur_env == e)

    def mine(p: IntV) -> BoolV:
        return v.owner[p] == e

    gone = v.given(
        Cite("ENV-2", "`env` is no longer alive. Its context id is released. All its entry "
                      "points become `NO_ENTRY`."),
        env_alive=lambda x: And(x != e, v.env_alive[x]),
        env_cid=lambda x: If(x == e, FREE, v.env_cid[x]),
        cid_env=lambda c: If(c == v.env_cid[e], FREE, v.cid_env[c]),
        entry=lambda x, w: If(x == e, NO_ENTRY, v.entry[x, w]),
    ).given(
        Cite("ENV-2", "Every page it owns becomes free, and that page's generation "
                      "increases by one; every other environment's rights on it drop to "
                      "`NONE`. Its own rights on all pages drop to `NONE`."),
        owner=lambda p: If(mine(p), FREE, v.owner[p]),
        gen=lambda p: If(mine(p), v.gen[p] + 1, v.gen[p]),
        rights=lambda x, p: If(Or(x == e, mine(p)), int(Rights.NONE), v.rights[x, p]),
    ).given(
        Cite("ENV-2", "Its guaranteed mappings become invalid."),
        gm_valid=lambda x, g: And(x != e, v.gm_valid[x, g]),
    ).given(
        Cite("ENV-2", "Every slice it owns becomes free."),
        slice_owner=lambda q: If(v.slice_owner[q] == e, FREE, v.slice_owner[q]),
    ).given(
        Cite("ENV-2", "Every packet filter it installed is removed."),
        filter_valid=lambda f: And(v.filter_valid[f], v.filter_owner[f] != e),
    ).given(
        Cite("ENV-2", "Its receive ring is cleared: `rx_head = rx_count = 0`, and "
                      "`rx_drops = 0`."),
        rx_head=lambda x: If(x == e, 0, v.rx_head[x]),
        rx_count=lambda x: If(x == e, 0, v.rx_count[x]),
        rx_drops=lambda x: If(x == e, 0, v.rx_drops[x]),
    ).given(
        Cite("ENV-2", "Its excess time becomes 0, its pending revocation request is "
                      "dropped, and its repossession vector (pages, slices and filters) and "
                      "pending repossession exception are cleared."),
        excess=lambda x: If(x == e, 0, v.excess[x]),
        rev_pending=lambda x: And(x != e, v.rev_pending[x]),
        repo_page=lambda x, p: And(x != e, v.repo_page[x, p]),
        repo_slice=lambda x, q: And(x != e, v.repo_slice[x, q]),
        repo_filter=lambda x, f: And(x != e, v.repo_filter[x, f]),
        repo_exc=lambda x: And(x != e, v.repo_exc[x]),
    ).given(
        _ENV2_RUNNING,
        cur_env=If(was_running, FREE, v.cur_env),
        hw_cid=If(was_running, FREE, v.hw_cid),
    )
    kept: View = authority_kept(gone)
    return kept


ENV_DESTROY = Text(
    "env_destroy",
    (
        env_in_range("ENV-2"),
        env_alive("ENV-2"),
    ),
    (Case("destroyed", Cite("ENV-2", "`OK` with the value 0."), always,
          lambda s, a: destroyed(View(s), a[0]), lambda s, a: 0),),
)

# --------------------------------------------------------------------------- ENV-3..ENV-5


def _vector_text(op: str, clause: str, base: int, count: int, what: str, does: str) -> Text:
    def register(pre: State, a: A) -> View:
        env, which, entry = a
        return View(pre).given(
            Cite(clause, does),
            entry=lambda x, w: If(And(x == env, w == base + which), entry, pre.entry[x, w]),
        )

    return Text(
        op,
        (
            env_in_range(clause),
            Requirement(f"{what}-in-range", Cite(clause, f"`{what}` in `[0, {count})`"),
                        lambda s, a: Not(in_range(a[1], count)), Status.INVALID_ARGUMENT),
            Requirement("entry-address", Cite(clause, "`entry` is `NO_ENTRY` or in "
                                                      "`[0, addr_limit)` (GEN-3)"),
                        lambda s, a: Not(entry_address(s, a[2])), Status.INVALID_ARGUMENT),
            env_alive(clause),
        ),
        (Case("registered", Cite(clause, "`OK` with the value 0."), always, register,
              lambda s, a: 0),),
    )


SET_EXCEPTION_CONTEXT = _vector_text(
    "set_exception_context", "ENV-3", int(Vector.TLB_MISS), NUM_EXCEPTIONS, "exc",
    "`entry[env, exc] = entry`. With `entry = NO_ENTRY` the handler is removed.")
SET_INTERRUPT_CONTEXT = _vector_text(
    "set_interrupt_context", "ENV-4", int(Vector.SLICE_START), 2, "which",
    "The start-of-slice entry or the end-of-slice entry of `env` becomes `entry`.")
SET_PROTECTED_ENTRY = _vector_text(
    "set_protected_entry", "ENV-5", int(Vector.PCT_SYNC), 2, "which",
    "The synchronous or asynchronous entry point of `env` becomes `entry`.")

TEXTS: dict[str, Text] = {t.op: t for t in (ENV_CREATE, ENV_DESTROY, SET_EXCEPTION_CONTEXT,
                                              SET_INTERRUPT_CONTEXT, SET_PROTECTED_ENTRY)}
