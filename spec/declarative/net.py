"""The declarative text of NET-1..NET-4 (spec/net.md), with REV-2 for filter removal.

*The one vocabulary shared with the model, by design.* What a packet filter means is its
own specification (spec/filters.md, FLT-*), not a clause of NET. So the four facts NET
asks about filters — "``program`` passes the verifier" (FLT-2, FLT-3), "``program``
accepts ``packet``" (FLT-4, a non-zero return), "the overlap check does not prove ``a``
and ``b`` disjoint" and "that check ran out of its budget" (FLT-6) — are read here
through ``exo.logic.oracle`` under the same names and argument order as the model's
transitions (``verified(program)``, ``accepts(program, packet)``, ``overlaps(a, b)``,
``undecided(a, b)``, and ``overlap_witness(a, b)`` for the witness of NET-1). In the
proofs, programs and packets are opaque ids and these are the very same uninterpreted
functions, constrained only by the axioms spec/net.md states (which the model's module
registers; this text adds none: ``axioms=None``). On Python values they run the public
filter tools of ``exo.filters`` (the verifier, the interpreter, the budgeted overlap
check), never a function of ``exo.model``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import z3

from exo import filters
from exo.interface import Outcome, Resource, Status
from exo.logic import And, BoolV, If, IntV, Not, Or, find, in_range, oracle
from exo.model.state import State
from exo.spec.declarative.text import (
    A,
    Case,
    Cite,
    Requirement,
    Text,
    View,
    always,
    env_alive,
    env_in_range,
)

# --------------------------------------------------------------------------- the FLT oracles


@lru_cache(maxsize=4096)
def _passes_verifier(program: Any) -> bool:
    """FLT-2, FLT-3: the verifier finds no reason to refuse ``program``."""
    return not filters.verify(program)


@lru_cache(maxsize=65536)
def _check(a: Any, b: Any) -> Any:
    """NET-1.5 on the pair, asked in one order whatever the order of the question (the
    smaller program tuple first, NET-1 "Choice"): FLT-9 when both programs are
    recognized (a packet both DFilters accept, or ``None``), else FLT-6. Asked only of
    two programs that passed the verifier; of any other pair nothing overlaps
    (``None``)."""
    if not (_passes_verifier(a) and _passes_verifier(b)):
        return None
    first, second = (a, b) if a <= b else (b, a)
    d_first, d_second = filters.recognize(first), filters.recognize(second)
    if d_first is None or d_second is None:
        return filters.overlap(first, [second])
    packet = filters.dfilter_overlap(d_first, d_second)
    return None if packet is None else (0, packet)


def _witness(a: Any, b: Any) -> str:
    found = _check(a, b)
    return found[1].hex() if isinstance(found, tuple) else ""


def verified(program: Any) -> BoolV:
    """FLT-2, FLT-3: ``program`` passes the verifier."""
    return oracle("verified", _passes_verifier, (program,), z3.BoolSort())


def accepts(program: Any, packet: Any) -> BoolV:
    """FLT-4, NET-3: ``program`` returns non-zero on ``packet`` (the semantics is that of
    a verified program; an unverified one is never installed and accepts nothing)."""
    return oracle("accepts",
                  lambda c, p: _passes_verifier(c) and filters.evaluate(c, p) != 0,
                  (program, packet), z3.BoolSort())


def overlaps(a: Any, b: Any) -> BoolV:
    """FLT-6: the overlap check does not prove ``a`` and ``b`` disjoint (it found a packet
    both accept, or it ran out of its budget)."""
    return oracle("overlaps", lambda x, y: _check(x, y) is not None, (a, b), z3.BoolSort())


def undecided(a: Any, b: Any) -> BoolV:
    """FLT-6: the overlap check of ``a`` and ``b`` ran out of its budget (``UNDECIDED``)."""
    return oracle("undecided", lambda x, y: isinstance(_check(x, y), filters.Undecided),
                  (a, b), z3.BoolSort())


def overlap_witness(a: Any, b: Any) -> Any:
    """FLT-6, NET-1: the witness packet, in hex, that both ``a`` and ``b`` accept."""
    return oracle("overlap_witness", _witness, (a, b), z3.IntSort())


# --------------------------------------------------------------------------- NET-1


def free_slot(s: Any) -> IntV:
    """NET-1: the lowest free filter slot, or -1 when none is free."""
    return find(s.cfg.n_filters, lambda j: Not(s.filter_valid[j]), name="net_free")


def first_clash(s: Any, env: IntV, program: Any) -> IntV:
    """NET-1.5: the first installed filter of another environment, in slot order, that
    the overlap check does not prove disjoint from ``program``, or -1."""
    return find(s.cfg.n_filters,
                lambda j: And(s.filter_valid[j], s.filter_owner[j] != env,
                              overlaps(program, s.filter_code[j])),
                name="net_clash")


def _clash_undecided(s: State, a: A) -> BoolV:
    env, program = a
    j = first_clash(s, env, program)
    return And(j >= 0, undecided(program, s.filter_code[j]))


def _installed(pre: State, a: A) -> View:
    env, program = a
    f = free_slot(pre)
    return View(pre).given(
        Cite("NET-1", "The lowest free slot `f` gets the filter: `filter_valid[f] = true`, "
                      "`filter_owner[f] = env`, `filter_code[f] = program`."),
        filter_valid=lambda j: Or(j == f, pre.filter_valid[j]),
        filter_owner=lambda j: If(j == f, env, pre.filter_owner[j]),
        filter_code=lambda j: If(j == f, program, pre.filter_code[j]),
    ).given(
        Cite("NET-1", "A record that slot `f` was repossessed from `env` is cleared "
                      "(`repo_filter[env, f] = false`)."),
        repo_filter=lambda x, j: And(Not(And(x == env, j == f)), pre.repo_filter[x, j]),
    )


def _witness_value(s: State, a: A) -> Any:
    """NET-1 "Returns": on OVERLAP, the witness packet in hex that both ``program`` and the
    first clashing filter accept."""
    env, program = a
    return overlap_witness(program, s.filter_code[first_clash(s, env, program)])


FILTER_INSTALL = Text(
    "filter_install",
    (
        env_in_range("NET-1"),
        env_alive("NET-1"),
        Requirement("verified", Cite("NET-1", "`program` passes the verifier (FLT-2, FLT-3)"),
                    lambda s, a: Not(verified(a[1])), Status.BAD_PROGRAM),
        Requirement("slot-free", Cite("NET-1", "a filter slot is free"),
                    lambda s, a: free_slot(s) < 0, Status.NO_SPACE),
        Requirement("undecided", Cite("NET-1", "The first of those filters, in slot order, "
                                               "that it does not prove disjoint gives the "
                                               "status: `UNDECIDED` if the check of that "
                                               "pair was decided neither way"),
                    _clash_undecided, Status.UNDECIDED),
        Requirement("disjoint", Cite("NET-1", "the pair check proves `program` disjoint "
                                              "from every installed filter of *another* "
                                              "environment, else `OVERLAP`; on `OVERLAP` "
                                              "the value is the witness packet in hex"),
                    lambda s, a: first_clash(s, a[0], a[1]) >= 0, Status.OVERLAP,
                    value=_witness_value),
    ),
    (Case("installed", Cite("NET-1", "`OK` with the value `f`, the filter's slot."), always,
          _installed, lambda s, a: free_slot(s)),),
)

# --------------------------------------------------------------------------- NET-2, REV-2


def _removed(pre: State, a: A) -> View:
    env, f = a
    return View(pre).given(
        Cite("NET-2", "The filter is gone: `filter_valid[filter] = false`."),
        filter_valid=lambda j: And(j != f, pre.filter_valid[j]),
    ).given(
        Cite("REV-2", "A successful filter removal by `env` clears a pending request of "
                      "kind `FILTER` in the same way, whatever filter the request named. A "
                      "release of the other kind leaves the request pending."),
        rev_pending=lambda x: And(pre.rev_pending[x],
                                  Not(And(x == env,
                                          pre.rev_kind[x] == int(Resource.FILTER)))),
    )


FILTER_REMOVE = Text(
    "filter_remove",
    (
        env_in_range("NET-2"),
        Requirement("filter-in-range", Cite("NET-2", "`filter` in `[0, n_filters)`"),
                    lambda s, a: Not(in_range(a[1], s.cfg.n_filters)),
                    Status.INVALID_ARGUMENT),
        env_alive("NET-2"),
        Requirement("owner", Cite("NET-2", "the slot holds an installed filter of `env` "
                                           "(`filter_valid[filter]` and "
                                           "`filter_owner[filter] = env`)"),
                    lambda s, a: Not(And(s.filter_valid[a[1]], s.filter_owner[a[1]] == a[0])),
                    Status.NOT_OWNER),
    ),
    (Case("removed", Cite("NET-2", "`OK` with the value 0."), always, _removed,
          lambda s, a: 0),),
)

# --------------------------------------------------------------------------- NET-3


def accepting_filter(s: Any, packet: Any) -> IntV:
    """NET-3: the lowest installed filter that accepts ``packet``, or -1."""
    return find(s.cfg.n_filters,
                lambda j: And(s.filter_valid[j], accepts(s.filter_code[j], packet)),
                name="net_accepting")


def _owner_of_match(s: State, a: A) -> IntV:
    return s.filter_owner[accepting_filter(s, a[0])]


def _has_room(s: State, a: A) -> BoolV:
    e = _owner_of_match(s, a)
    return s.rx_count[e] < s.cfg.ring_size


def _matched(s: State, a: A) -> BoolV:
    return accepting_filter(s, a[0]) >= 0


def _delivered(pre: State, a: A) -> View:
    (packet,) = a
    e = _owner_of_match(pre, a)
    slot = (pre.rx_head[e] + pre.rx_count[e]) % pre.cfg.ring_size
    return View(pre).given(
        Cite("NET-3", "The packet goes into slot `(rx_head[e] + rx_count[e]) mod ring_size` "
                      "of `e`'s ring, and `rx_count[e]` increases by one."),
        rx_pkt=lambda x, i: If(And(x == e, i == slot), packet, pre.rx_pkt[x, i]),
        rx_count=lambda x: If(x == e, pre.rx_count[x] + 1, pre.rx_count[x]),
    )


def _ring_full(pre: State, a: A) -> View:
    e = _owner_of_match(pre, a)
    return View(pre).given(
        Cite("NET-3", "The packet is dropped and `rx_drops[e]` increases by one."),
        rx_drops=lambda x: If(x == e, pre.rx_drops[x] + 1, pre.rx_drops[x]),
    )


def _no_match(pre: State, a: A) -> View:
    return View(pre).given(
        Cite("NET-3", "The kernel drops it, and `kernel_drops` increases by one."),
        kernel_drops=pre.kernel_drops + 1,
    )


PACKET_ARRIVE = Text(
    "packet_arrive",
    (),
    (
        Case("delivered", Cite("NET-3", "Outcome `RX_DELIVERED`."),
             lambda s, a: And(_matched(s, a), _has_room(s, a)), _delivered,
             lambda s, a: int(Outcome.RX_DELIVERED)),
        Case("ring-full", Cite("NET-3", "Outcome `RX_RING_FULL`."), _matched, _ring_full,
             lambda s, a: int(Outcome.RX_RING_FULL)),
        Case("no-match", Cite("NET-3", "Outcome `RX_NO_MATCH`."), always, _no_match,
             lambda s, a: int(Outcome.RX_NO_MATCH)),
    ),
)

# --------------------------------------------------------------------------- NET-4


def _taken(pre: State, a: A) -> View:
    (env,) = a
    return View(pre).given(
        Cite("NET-4", "The oldest packet leaves the ring: `rx_head[env]` moves to the next "
                      "slot (wrapping to 0 after `ring_size - 1`) and `rx_count[env]` "
                      "decreases by one."),
        rx_head=lambda x: If(x == env, (pre.rx_head[x] + 1) % pre.cfg.ring_size,
                             pre.rx_head[x]),
        rx_count=lambda x: If(x == env, pre.rx_count[x] - 1, pre.rx_count[x]),
    )


PACKET_TAKE = Text(
    "packet_take",
    (
        env_in_range("NET-4"),
        env_alive("NET-4"),
        Requirement("waiting", Cite("NET-4", "a packet is waiting (`rx_count[env] > 0`)"),
                    lambda s, a: Not(s.rx_count[a[0]] > 0), Status.EMPTY),
    ),
    (Case("taken", Cite("NET-4", "`OK` with the packet, `rx_pkt[env, rx_head[env]]` before "
                                 "the step."), always, _taken,
          lambda s, a: s.rx_pkt[a[0], s.rx_head[a[0]]]),),
)

TEXTS: dict[str, Text] = {t.op: t for t in (FILTER_INSTALL, FILTER_REMOVE, PACKET_ARRIVE,
                                              PACKET_TAKE)}
