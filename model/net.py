"""Downloaded packet filters and the network interface (spec/net.md).

Paper: "Secure bindings" (downloading code into the kernel: a library OS installs a packet
filter and the kernel runs it on every incoming packet to decide whose packet it is). A
filter must not harm the kernel (FLT-2..FLT-5: verified, terminates, reads only the packet)
and must not take packets that belong to another library OS: Exo refuses any overlap with
another environment's filters, with a witness packet (NET-1), where Xok refused only
structurally identical filters.

The filters' meaning enters the transitions through three oracles (``exo.logic.oracle``):
``verified``, ``accepts``, ``overlaps`` (the check does not prove the two disjoint) and
``undecided`` (it ran out of budget). On Python values they run the verifier, the
reference interpreter and NET-1's pair check (``exo.model.dfilter.program_overlap``:
FLT-9's exact overlap when both programs are recognized, else FLT-6's budgeted Z3
check); in the proofs they are uninterpreted, constrained by the facts the tests check
of the real ones.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import z3

from exo.interface import Outcome, Resource, Result, Status
from exo.logic import (
    And,
    BoolV,
    If,
    IntV,
    Not,
    SymbolicContext,
    find,
    first_failure,
    in_range,
    oracle,
)
from exo.model import dfilter, filters
from exo.model.ops import finish, transition
from exo.model.state import State


def _overlap_axioms(ctx: SymbolicContext) -> list[Any]:
    """NET-1: what the proofs know of ``overlaps``: it is symmetric, and two filters that
    both accept some packet overlap (the check is sound: it never proves disjoint two
    filters that overlap). ``undecided`` needs no axiom: it only chooses the status."""
    ov = ctx.function("overlaps", 2, z3.BoolSort())
    acc = ctx.function("accepts", 2, z3.BoolSort())
    a, b, p = z3.Ints("ov_a ov_b ov_p")
    return [
        z3.ForAll([a, b], ov(a, b) == ov(b, a), patterns=[ov(a, b)]),
        z3.ForAll([a, b, p], z3.Implies(z3.And(acc(a, p), acc(b, p)), ov(a, b)),
                  patterns=[z3.MultiPattern(acc(a, p), acc(b, p))]),
    ]


def verified(code: Any) -> BoolV:
    """FLT-2/FLT-3: the verifier accepts ``code``."""
    return oracle("verified", _runnable, (code,), z3.BoolSort())


def accepts(code: Any, packet: Any) -> BoolV:
    """FLT-4: ``code`` returns non-zero on ``packet`` (an empty program accepts nothing)."""
    return oracle("accepts", lambda c, p: len(c) > 0 and filters.evaluate(c, p) != 0,
                  (code, packet), z3.BoolSort(), _overlap_axioms)


def overlaps(a: Any, b: Any) -> BoolV:
    """FLT-6: the overlap check does not prove ``a`` and ``b`` disjoint: it found a packet
    both accept, or it was not decided within its budget (``undecided``)."""
    return oracle("overlaps", _overlaps_concrete, (a, b), z3.BoolSort(), _overlap_axioms)


def undecided(a: Any, b: Any) -> BoolV:
    """FLT-6, NET-1: the overlap check of ``a`` and ``b`` was not decided: the pair was
    too heavy for the solver or Z3 ran out of its budget (``dfilter.PAIR_WEIGHT``,
    ``dfilter.PAIR_RLIMIT``): no packet found, and not proved disjoint."""
    return oracle("undecided", _undecided_concrete, (a, b), z3.BoolSort())


@lru_cache(maxsize=4096)
def _runnable(c: filters.Program) -> bool:
    return len(c) > 0 and not filters.verify(c)


@lru_cache(maxsize=65536)
def _pair(a: filters.Program, b: filters.Program) -> filters.Overlap:
    """NET-1's check of two verified programs (``dfilter.program_overlap``: FLT-9 when both
    are recognized, else FLT-6), asked in one order (the smaller tuple first) whichever
    way round the question comes, so ``overlaps`` and ``undecided`` are symmetric; None
    (disjoint) if either is not runnable."""
    if not (_runnable(a) and _runnable(b)):
        return None
    return dfilter.program_overlap(a, b)


def _overlaps_concrete(a: filters.Program, b: filters.Program) -> bool:
    return _pair(a, b) is not None


def _undecided_concrete(a: filters.Program, b: filters.Program) -> bool:
    return isinstance(_pair(a, b), filters.Undecided)


def _witness_hex(a: filters.Program, b: filters.Program) -> str:
    found = _pair(a, b)
    return found[1].hex() if isinstance(found, tuple) else ""


def first_clash(s: State, env: IntV, program: Any, ready: BoolV = True) -> IntV:
    """NET-1: the first installed filter of *another* environment that the overlap check
    does not prove disjoint from ``program`` (it overlaps, or the check is undecided), or
    -1. Also -1 when ``ready`` is false: an earlier precondition of NET-1 already decides
    the status, and on Python values no solver runs at all. On Python values the filters
    are checked pair by pair in slot order, each pair's answer cached."""
    def clashes(j: IntV) -> BoolV:
        return And(ready, s.filter_valid[j], s.filter_owner[j] != env,
                   overlaps(program, s.filter_code[j]))

    fast = None
    if (isinstance(program, tuple) and isinstance(s.cfg.n_filters, int)
            and isinstance(ready, bool)):
        def fast() -> int:
            if not ready:
                return -1
            return next((j for j in range(s.cfg.n_filters)
                         if s.filter_valid[j] and s.filter_owner[j] != env
                         and _pair(program, s.filter_code[j]) is not None), -1)

    return find(s.cfg.n_filters, clashes, name="clash", fast=fast)


@transition("filter_install")
def filter_install(s: State, env: IntV, program: Any) -> tuple[State, Result]:
    """NET-1 (paper: Secure bindings, downloaded packet filters): install ``program`` as a
    filter claiming packets for ``env``.

    The program must pass the verifier (BAD_PROGRAM); a free filter slot must exist
    (NO_SPACE, the lowest is taken); and no packet may be accepted both by it and by an
    installed filter of another environment (OVERLAP: the result's value is then the
    witness packet in hex, replayed on the reference interpreter). If the first filter of
    another environment that the check does not prove disjoint is one whose check ran out
    of its budget, the status is UNDECIDED. Filters of the same environment may overlap.
    Returns the filter's slot.
    """
    cfg = s.cfg
    slot = find(cfg.n_filters, lambda j: Not(s.filter_valid[j]), name="free_filter")
    env_ok = in_range(env, cfg.n_envs)
    is_verified = verified(program)
    # the cheap preconditions first: the solver runs only when all of them hold
    clash = first_clash(s, env, program,
                        ready=And(env_ok, s.env_alive[env], is_verified, slot >= 0))
    clash_code = s.filter_code[clash]
    status = first_failure(
        [
            (Not(env_ok), Status.INVALID_ARGUMENT),
            (Not(s.env_alive[env]), Status.NO_SUCH_ENV),
            (Not(is_verified), Status.BAD_PROGRAM),
            (slot < 0, Status.NO_SPACE),
            (And(clash >= 0, undecided(program, clash_code)), Status.UNDECIDED),
            (clash >= 0, Status.OVERLAP),
        ],
        Status.OK,
    )
    new = s.replace(
        filter_valid=s.filter_valid.set(slot, True),
        filter_owner=s.filter_owner.set(slot, env),
        filter_code=s.filter_code.set(slot, program),
        repo_filter=s.repo_filter.set((env, slot), False),
    )
    witness = oracle("overlap_witness", _witness_hex, (program, clash_code), z3.IntSort())
    return finish(s, new, status, slot, on_failure=If(status == Status.OVERLAP, witness, 0))


def remove_filter(s: State, slot: IntV) -> State:
    """NET-2: the filter in ``slot`` is gone (the slot is free)."""
    return s.replace(filter_valid=s.filter_valid.set(slot, False))


@transition("filter_remove")
def filter_remove(s: State, env: IntV, filter: IntV) -> tuple[State, Result]:
    """NET-2/REV-2: ``env`` removes its filter ``filter``; it counts as the release a
    pending filter revocation of ``env`` asks for."""
    cfg = s.cfg
    status = first_failure(
        [
            (Not(in_range(env, cfg.n_envs)), Status.INVALID_ARGUMENT),
            (Not(in_range(filter, cfg.n_filters)), Status.INVALID_ARGUMENT),
            (Not(s.env_alive[env]), Status.NO_SUCH_ENV),
            (Not(And(s.filter_valid[filter], s.filter_owner[filter] == env)),
             Status.NOT_OWNER),
        ],
        Status.OK,
    )
    new = remove_filter(s, filter).replace(
        rev_pending=s.rev_pending.set(
            env, And(s.rev_pending[env], s.rev_kind[env] != Resource.FILTER)))
    return finish(s, new, status)


def ring_slot(s: State, e: IntV) -> IntV:
    """NET-3: where the next packet for ``e`` goes: ``(head + count) mod ring_size``."""
    at = s.rx_head[e] + s.rx_count[e]
    return If(at >= s.cfg.ring_size, at - s.cfg.ring_size, at)


def matching_filter(s: State, packet: Any) -> IntV:
    """NET-3: the first installed filter that accepts ``packet``, or -1."""
    return find(s.cfg.n_filters,
                lambda j: And(s.filter_valid[j], accepts(s.filter_code[j], packet)),
                name="match")


@transition("packet_arrive")
def packet_arrive(s: State, packet: Any) -> tuple[State, Result]:
    """NET-3 (hardware event): a packet arrives at the network interface.

    The kernel runs the installed filters on it; the owner of an accepting filter — the
    only environment with one, by INV-13 — gets it in its receive ring (RX_DELIVERED), or,
    if the ring is full, it is dropped and counted against that environment
    (RX_RING_FULL). If no filter accepts it, the kernel drops and counts it (RX_NO_MATCH).
    Any bytes up to MAX_PACKET are a packet; nothing makes it fail.
    """
    k = matching_filter(s, packet)
    e = s.filter_owner[k]
    full = s.rx_count[e] >= s.cfg.ring_size
    delivered = s.replace(
        rx_pkt=s.rx_pkt.set((e, ring_slot(s, e)), packet),
        rx_count=s.rx_count.set(e, s.rx_count[e] + 1),
    )
    dropped = s.replace(rx_drops=s.rx_drops.set(e, s.rx_drops[e] + 1))
    unmatched = s.replace(kernel_drops=s.kernel_drops + 1)
    new = If(k < 0, unmatched, If(full, dropped, delivered))
    outcome = If(k < 0, int(Outcome.RX_NO_MATCH),
                 If(full, int(Outcome.RX_RING_FULL), int(Outcome.RX_DELIVERED)))
    return finish(s, new, Status.OK, outcome)


@transition("packet_take")
def packet_take(s: State, env: IntV) -> tuple[State, Result]:
    """NET-4: ``env`` takes the oldest packet from its receive ring (EMPTY if none);
    returns it."""
    cfg = s.cfg
    status = first_failure(
        [
            (Not(in_range(env, cfg.n_envs)), Status.INVALID_ARGUMENT),
            (Not(s.env_alive[env]), Status.NO_SUCH_ENV),
            (s.rx_count[env] <= 0, Status.EMPTY),
        ],
        Status.OK,
    )
    head = s.rx_head[env]
    nxt = If(head + 1 >= cfg.ring_size, 0, head + 1)
    new = s.replace(rx_head=s.rx_head.set(env, nxt),
                    rx_count=s.rx_count.set(env, s.rx_count[env] - 1))
    return finish(s, new, status, s.rx_pkt[env, head])

