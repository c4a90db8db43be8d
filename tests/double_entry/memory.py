"""Broken variants of MEM-1..MEM-5 that keep every invariant and the older postconditions."""

from __future__ import annotations

from typing import Any

from exo.interface import Outcome, Resource, Status
from exo.logic import And, If
from exo.model import REGISTRY

_TLB = ("tlb_valid", "tlb_cid", "tlb_vpage", "tlb_page", "tlb_write")


def _alloc_clears_every_record(s: Any, env: Any, page: Any) -> Any:
    """MEM-1 clears only `env`'s repossession record of the page; this Alloc clears every
    environment's record of it."""
    post, res = REGISTRY["alloc"](s, env, page)
    ok = res.status == int(Status.OK)
    return post.replace(repo_page=post.repo_page.map(
        lambda e, p, old: If(And(ok, p == page), False, old))), res


def _dealloc_drops_slice_request(s: Any, env: Any, cap: Any) -> Any:
    """MEM-2: "A pending request of kind `SLICE` stays"; this Dealloc drops it too."""
    post, res = REGISTRY["dealloc"](s, env, cap)
    ok = res.status == int(Status.OK)
    return post.replace(rev_pending=post.rev_pending.map(
        lambda e, old: If(And(ok, e == env, s.rev_kind[e] == int(Resource.SLICE)), False,
                          old))), res


def _grant_clears_every_record(s: Any, env: Any, cap: Any, grantee: Any, rights: Any
                               ) -> Any:
    """MEM-3 clears the grantee's repossession record of the granted page only; this Grant
    clears its records of every page."""
    post, res = REGISTRY["grant"](s, env, cap, grantee, rights)
    ok = res.status == int(Status.OK)
    return post.replace(repo_page=post.repo_page.map(
        lambda e, p, old: If(And(ok, e == grantee), False, old))), res


def _load_forgets_stlb_refill(s: Any, vpage: Any, offset: Any, reg: Any) -> Any:
    """MEM-4: "Any refill of the TLB made during translation is kept"; this Load reads
    through the STLB entry but leaves the TLB as it was."""
    post, res = REGISTRY["load"](s, vpage, offset, reg)
    undo = And(res.status == int(Status.OK), res.value == int(Outcome.REFILL_STLB))
    return post.replace(**{f: If(undo, getattr(s, f), getattr(post, f)) for f in _TLB}), res


def _load_guaranteed_as_hit(s: Any, vpage: Any, offset: Any, reg: Any) -> Any:
    """TLB-8: a refill from a guaranteed mapping gives `REFILL_GUARANTEED`; this Load
    reports it as a TLB hit (`ACCESS`)."""
    post, res = REGISTRY["load"](s, vpage, offset, reg)
    wrong = And(res.status == int(Status.OK), res.value == int(Outcome.REFILL_GUARANTEED))
    return post, type(res)(res.status, If(wrong, int(Outcome.ACCESS), res.value))


def _store_fault_forgets_refill(s: Any, vpage: Any, offset: Any, reg: Any) -> Any:
    """MEM-5: on a protection fault "Any refill made while translating is kept"; this
    Store delivers the fault with the TLB as it was before translation."""
    post, res = REGISTRY["store"](s, vpage, offset, reg)
    undo = And(res.status == int(Status.OK), res.value == int(Outcome.DELIVERED))
    return post.replace(**{f: If(undo, getattr(s, f), getattr(post, f)) for f in _TLB}), res


BROKEN: dict[str, list[tuple[str, Any]]] = {
    "alloc": [("alloc clears every environment's repossession record of the page",
               _alloc_clears_every_record)],
    "dealloc": [("dealloc drops a pending slice revocation request",
                 _dealloc_drops_slice_request)],
    "grant": [("grant clears the grantee's repossession records of every page",
               _grant_clears_every_record)],
    "load": [("load does not keep the STLB refill", _load_forgets_stlb_refill),
             ("load reports a guaranteed refill as ACCESS", _load_guaranteed_as_hit)],
    "store": [("store drops the refill on a protection fault", _store_fault_forgets_refill)],
}
