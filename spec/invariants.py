"""The invariants: predicates over model state, one per clause of spec/invariants.md.

Each invariant is a list of *parts*, every part a universally quantified body over index
domains taken from the configuration (``forall`` in ``exo.logic``): enumerated on Python
values, a ``ForAll`` on Z3 terms, and — for the proofs — a body that can be instantiated at
a fresh index to find the offending one. Nothing here depends on particular sizes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from exo.interface import FREE, Config, Resource, Rights
from exo.logic import And, BoolV, Implies, IntV, Not, Or, forall, in_range
from exo.model.net import overlaps, verified
from exo.model.ops import live, needed
from exo.model.state import State
from exo.model.tlb import authorized

Body = Callable[..., BoolV]


@dataclass(frozen=True)
class Part:
    """``∀ indices in domains(cfg): body(state, *indices)``."""

    index_names: tuple[str, ...]
    domains: Callable[[Config], tuple[IntV, ...]]
    body: Body


@dataclass(frozen=True)
class Invariant:
    """An invariant: its id (also its clause in spec/invariants.md), title and parts."""

    id: str
    title: str
    parts: tuple[Part, ...]

    def holds(self, s: State) -> BoolV:
        """The invariant on ``s`` (a bool on Python values, a formula on Z3 terms)."""
        return And(*[forall(p.domains(s.cfg), lambda *ks, p=p: p.body(s, *ks)) for p in self.parts])

    def violations(self, s: State, limit: int = 5) -> list[str]:
        """Concrete states only: up to ``limit`` offending indices, as readable text."""
        found: list[str] = []
        for p in self.parts:
            for ks in itertools.product(*map(range, p.domains(s.cfg))):
                if p.body(s, *ks) is not True:
                    found.append(", ".join(f"{n}={k}" for n, k in zip(p.index_names, ks,
                                                                       strict=True)))
                    if len(found) >= limit:
                        return found
        return found


def _part(names: str, domains: Callable[[Config], tuple[Any, ...]], body: Body) -> Part:
    return Part(tuple(names.split()), domains, body)


# --------------------------------------------------------------------------- bodies


def tlb_isolated(s: State, i: IntV) -> BoolV:
    """INV-1: a valid TLB entry is authorized by rights its environment holds now."""
    return Implies(s.tlb_valid[i], authorized(s, s.tlb_cid[i], s.tlb_page[i], s.tlb_write[i]))


def stlb_isolated(s: State, j: IntV) -> BoolV:
    """INV-2: a valid STLB entry is authorized by rights its environment holds now."""
    return Implies(
        s.stlb_valid[j], authorized(s, s.stlb_cid[j], s.stlb_page[j], s.stlb_write[j])
    )


def gm_isolated(s: State, e: IntV, g: IntV) -> BoolV:
    """INV-3: a valid guaranteed mapping is authorized by rights its environment holds."""
    p = s.gm_page[e, g]
    return Implies(
        s.gm_valid[e, g],
        And(live(s, e), in_range(p, s.cfg.n_pages), s.rights[e, p] >= needed(s.gm_write[e, g])),
    )


def cid_of_live_env(s: State, e: IntV) -> BoolV:
    """INV-4 (envs): a live environment's context id is in range and maps back to it."""
    c = s.env_cid[e]
    return Implies(s.env_alive[e], And(in_range(c, s.cfg.n_cids), s.cid_env[c] == e))


def cid_in_use(s: State, c: IntV) -> BoolV:
    """INV-4 (ids): a context id in use belongs to a live environment that has it."""
    e = s.cid_env[c]
    return Implies(e != FREE, And(live(s, e), s.env_cid[e] == c))


def holders_consistent(s: State, e: IntV, p: IntV) -> BoolV:
    """INV-5 (holders): rights are NONE, READ or READWRITE; only a live environment holds
    rights, only on an owned page; the owner holds READWRITE."""
    r = s.rights[e, p]
    return And(
        r >= Rights.NONE,
        r <= Rights.READWRITE,
        Implies(r != Rights.NONE, And(live(s, e), s.owner[p] != FREE)),
        Implies(s.owner[p] == e, r == Rights.READWRITE),
    )


def page_conserved(s: State, p: IntV) -> BoolV:
    """INV-6: every page is free or owned by exactly one live environment."""
    o = s.owner[p]
    return Or(o == FREE, live(s, o))


def slice_owned(s: State, q: IntV) -> BoolV:
    """INV-7: every slice is free or owned by one live environment."""
    o = s.slice_owner[q]
    return Or(o == FREE, live(s, o))


def repossessed_page_gone(s: State, e: IntV, p: IntV) -> BoolV:
    """INV-8 (pages): a page repossessed from ``e`` is not held by ``e`` (hence not bound,
    INV-1..3)."""
    return Implies(s.repo_page[e, p], s.rights[e, p] == Rights.NONE)


def repossessed_slice_gone(s: State, e: IntV, q: IntV) -> BoolV:
    """INV-8 (slices): a slice repossessed from ``e`` is not owned by ``e``."""
    return Implies(s.repo_slice[e, q], s.slice_owner[q] != e)


def repossessed_filter_gone(s: State, e: IntV, f: IntV) -> BoolV:
    """INV-8 (filters): a filter repossessed from ``e`` is not installed for ``e``."""
    return Implies(s.repo_filter[e, f], Not(And(s.filter_valid[f], s.filter_owner[f] == e)))


def gm_own_page(s: State, e: IntV, g: IntV) -> BoolV:
    """INV-9: a guaranteed mapping binds a page its environment owns."""
    return Implies(s.gm_valid[e, g], s.owner[s.gm_page[e, g]] == e)


def cpu_consistent(s: State) -> BoolV:
    """INV-10: the running environment is live and the hardware context id is its own;
    the slice in progress is in the vector and its ticks left within a slice."""
    return And(
        Or(s.cur_env == FREE, And(live(s, s.cur_env), s.hw_cid == s.env_cid[s.cur_env])),
        in_range(s.cur_slice, s.cfg.n_slices),
        s.slice_left >= 0,
        s.slice_left <= s.cfg.slice_ticks,
    )


def excess_counted(s: State, e: IntV) -> BoolV:
    """INV-10 (excess): excess time still owed is never negative and never more than
    ``excess_limit`` (a tick past the limit destroys the environment, CPU-4)."""
    return And(s.excess[e] >= 0, s.excess[e] <= s.cfg.excess_limit)


def request_well_formed(s: State, e: IntV) -> BoolV:
    """INV-11 (requests): a pending request is held by a live environment and names a
    resource that environment owns."""
    t = s.rev_target[e]
    kind = s.rev_kind[e]
    return Implies(
        s.rev_pending[e],
        And(
            live(s, e),
            Or(kind == Resource.PAGE, kind == Resource.SLICE, kind == Resource.FILTER),
            Implies(kind == Resource.PAGE, And(in_range(t, s.cfg.n_pages), s.owner[t] == e)),
            Implies(
                kind == Resource.SLICE, And(in_range(t, s.cfg.n_slices), s.slice_owner[t] == e)
            ),
            Implies(kind == Resource.FILTER, And(in_range(t, s.cfg.n_filters),
                                                 s.filter_valid[t], s.filter_owner[t] == e)),
        ),
    )


def request_not_guaranteed(s: State, e: IntV, g: IntV) -> BoolV:
    """INV-11 (guaranteed): a page named by a pending request is not bound by a guaranteed
    mapping, so the abort protocol never repossesses a guaranteed page (REV-5)."""
    return Implies(
        And(s.rev_pending[e], s.rev_kind[e] == Resource.PAGE, s.gm_valid[e, g]),
        s.gm_page[e, g] != s.rev_target[e],
    )


def filter_installed_well(s: State, f: IntV) -> BoolV:
    """INV-12: an installed filter belongs to a live environment and passed the verifier."""
    return Implies(s.filter_valid[f], And(live(s, s.filter_owner[f]),
                                          verified(s.filter_code[f])))


def filters_disjoint(s: State, f: IntV, g: IntV) -> BoolV:
    """INV-13: installed filters of different environments accept no common packet — no
    library OS can take another's packets."""
    return Implies(
        And(s.filter_valid[f], s.filter_valid[g], s.filter_owner[f] != s.filter_owner[g]),
        Not(overlaps(s.filter_code[f], s.filter_code[g])))


def ring_bounded(s: State, e: IntV) -> BoolV:
    """INV-14: a receive ring holds between 0 and ``ring_size`` packets, its head inside it,
    and drop counters never go negative."""
    return And(s.rx_count[e] >= 0, s.rx_count[e] <= s.cfg.ring_size,
               in_range(s.rx_head[e], s.cfg.ring_size), s.rx_drops[e] >= 0)


# --------------------------------------------------------------------------- the list

INVARIANTS: tuple[Invariant, ...] = (
    Invariant("INV-1", "binding isolation: TLB", (
        _part("slot", lambda c: (c.tlb_size,), tlb_isolated),)),
    Invariant("INV-2", "binding isolation: STLB", (
        _part("slot", lambda c: (c.stlb_size,), stlb_isolated),)),
    Invariant("INV-3", "binding isolation: guaranteed mappings", (
        _part("env slot", lambda c: (c.n_envs, c.n_guaranteed), gm_isolated),)),
    Invariant("INV-4", "context ids unique among live environments", (
        _part("env", lambda c: (c.n_envs,), cid_of_live_env),
        _part("cid", lambda c: (c.n_cids,), cid_in_use))),
    Invariant("INV-5", "page ownership consistent", (
        _part("env page", lambda c: (c.n_envs, c.n_pages), holders_consistent),)),
    Invariant("INV-6", "conservation: every page free or owned by a live environment", (
        _part("page", lambda c: (c.n_pages,), page_conserved),)),
    Invariant("INV-7", "each time slice has at most one, live, owner", (
        _part("slice", lambda c: (c.n_slices,), slice_owned),)),
    Invariant("INV-8", "repossessed resources neither held nor bound by the loser", (
        _part("env page", lambda c: (c.n_envs, c.n_pages), repossessed_page_gone),
        _part("env slice", lambda c: (c.n_envs, c.n_slices), repossessed_slice_gone),
        _part("env filter", lambda c: (c.n_envs, c.n_filters), repossessed_filter_gone))),
    Invariant("INV-9", "guaranteed mappings point only at their environment's own pages", (
        _part("env slot", lambda c: (c.n_envs, c.n_guaranteed), gm_own_page),)),
    Invariant("INV-10", "CPU state consistent with the running environment", (
        _part("", lambda c: (), lambda s: cpu_consistent(s)),
        _part("env", lambda c: (c.n_envs,), excess_counted))),
    Invariant("INV-11", "revocation requests well formed, never on a guaranteed page", (
        _part("env", lambda c: (c.n_envs,), request_well_formed),
        _part("env slot", lambda c: (c.n_envs, c.n_guaranteed), request_not_guaranteed))),
    Invariant("INV-12", "installed filters are verified and owned by live environments", (
        _part("filter", lambda c: (c.n_filters,), filter_installed_well),)),
    Invariant("INV-13", "filters of different environments are disjoint", (
        _part("filter other", lambda c: (c.n_filters, c.n_filters), filters_disjoint),)),
    Invariant("INV-14", "receive rings within bounds", (
        _part("env", lambda c: (c.n_envs,), ring_bounded),
        _part("", lambda c: (), lambda s: s.kernel_drops >= 0))),
)

BY_ID: dict[str, Invariant] = {inv.id: inv for inv in INVARIANTS}


def all_hold(s: State) -> BoolV:
    """Every invariant on ``s``."""
    return And(*[inv.holds(s) for inv in INVARIANTS])


def check(s: State) -> dict[str, list[str]]:
    """Concrete states only: the violated invariants and their offending indices."""
    return {inv.id: v for inv in INVARIANTS if (v := inv.violations(s))}


__all__ = ["BY_ID", "INVARIANTS", "Invariant", "Part", "all_hold", "check"]
