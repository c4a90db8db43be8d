"""Broken variants of TLB-1..TLB-5 that keep every invariant and the older postconditions."""

from __future__ import annotations

from typing import Any

from exo.interface import Result, Status
from exo.logic import And, BoolV, Not, Or
from exo.model import REGISTRY
from exo.model.tlb import tlb_slot


def _ok(res: Result) -> BoolV:
    """The call succeeded (a failing call is left as the model makes it: unchanged)."""
    return res.status == int(Status.OK)


def _tlbwr_flushes_own_tag(s: Any, env: Any, vpage: Any, cap: Any, writable: Any) -> Any:
    """TLB-1 leaves every other TLB slot alone; this TLBwr also drops every other TLB entry
    tagged with the environment's context id."""
    post, res = REGISTRY["tlbwr"](s, env, vpage, cap, writable)
    cid = s.env_cid[env]
    i0 = tlb_slot(s, cid, vpage)
    flushed = post.tlb_valid.map(
        lambda i, v: And(v, Or(Not(_ok(res)), i == i0, post.tlb_cid[i] != cid)))
    return post.replace(tlb_valid=flushed), res


def _tlbvadelete_ignores_tag(s: Any, env: Any, vpage: Any) -> Any:
    """TLB-2 leaves an entry with another tag in the same slot alone; this TLBvadelete
    invalidates the TLB slot whatever its tag."""
    post, res = REGISTRY["tlbvadelete"](s, env, vpage)
    i0 = tlb_slot(s, s.env_cid[env], vpage)
    cleared = post.tlb_valid.map(lambda i, v: And(v, Or(Not(_ok(res)), i != i0)))
    return post.replace(tlb_valid=cleared), res


def _cid_switch_drops_gm(s: Any, env: Any, cid: Any) -> Any:
    """TLB-3 keeps the guaranteed mappings (they belong to the environment, not the id);
    this CIDswitch invalidates them."""
    post, res = REGISTRY["cid_switch"](s, env, cid)
    cleared = post.gm_valid.map(lambda e, g, v: And(v, Or(Not(_ok(res)), e != env)))
    return post.replace(gm_valid=cleared), res


def _gm_set_dedupes_vpage(s: Any, env: Any, slot: Any, vpage: Any, cap: Any,
                          writable: Any) -> Any:
    """TLB-4 changes only slot `slot` (two slots may map the same virtual page); this one
    also invalidates the environment's other slots mapping `vpage`."""
    post, res = REGISTRY["gm_set"](s, env, slot, vpage, cap, writable)
    deduped = post.gm_valid.map(lambda e, g, v: And(v, Not(And(
        _ok(res), e == env, g != slot, post.gm_vpage[e, g] == vpage))))
    return post.replace(gm_valid=deduped), res


def _gm_clear_clears_all(s: Any, env: Any, slot: Any) -> Any:
    """TLB-5 invalidates slot `slot` only; this one clears every slot of `env`."""
    post, res = REGISTRY["gm_clear"](s, env, slot)
    cleared = post.gm_valid.map(lambda e, g, v: And(v, Or(Not(_ok(res)), e != env)))
    return post.replace(gm_valid=cleared), res


BROKEN: dict[str, list[tuple[str, Any]]] = {
    "tlbwr": [("tlbwr flushes the other TLB entries of its tag", _tlbwr_flushes_own_tag)],
    "tlbvadelete": [("tlbvadelete invalidates the slot whatever its tag",
                     _tlbvadelete_ignores_tag)],
    "cid_switch": [("cid_switch drops the guaranteed mappings", _cid_switch_drops_gm)],
    "gm_set": [("gm_set invalidates other slots mapping the same vpage",
                _gm_set_dedupes_vpage)],
    "gm_clear": [("gm_clear clears every slot of env", _gm_clear_clears_all)],
}
