"""Secure bindings for memory: the hardware TLB, the direct-mapped STLB, guaranteed
mappings and context ids (spec/tlb.md).

The TLB and STLB are ``Table``s indexed by the shared ``tlb_index``/``stlb_index`` slot
functions. The model's ``revalidate`` re-checks every entry after an operation that takes
authority away; here each such operation breaks exactly the bindings it invalidates,
found through the reverse maps (page -> slots, context id -> slots).
"""

from __future__ import annotations

from exo.impl.ops import OK, cap_valid, fail, in_range, needed
from exo.impl.state import KernelState
from exo.interface import FREE, Cap, Resource, Result, Status, stlb_index, tlb_index


def tlb_slot(k: KernelState, cid: int, vpage: int) -> int:
    """TLB-6: the one hardware TLB slot that may hold ``(cid, vpage)``."""
    return tlb_index(cid, vpage, k.cfg.tlb_size)


def stlb_slot(k: KernelState, cid: int, vpage: int) -> int:
    """TLB-7: the one STLB slot that may hold ``(cid, vpage)``."""
    return stlb_index(cid, vpage, k.cfg.stlb_size)


def guaranteed_slot(k: KernelState, e: int, vpage: int) -> int:
    """TLB-8: the first valid guaranteed mapping of ``e`` for ``vpage``, or -1."""
    if not in_range(e, k.cfg.n_envs):
        return -1
    valid, vp = k.gm_valid[e], k.gm_vpage[e]
    for g in range(k.cfg.n_guaranteed):
        if valid[g] and vp[g] == vpage:
            return g
    return -1


def break_page(k: KernelState, page: int) -> None:
    """TLB-9: ``page`` lost every holder and its owner: break every TLB entry, STLB entry
    and guaranteed mapping that binds it."""
    k.tlb.drop_page(page)
    k.stlb.drop_page(page)
    for e, g in list(k.gm_by_page.get(page, ())):
        k.gm_drop(e, g)


def break_cid(k: KernelState, cid: int) -> None:
    """TLB-9: context id ``cid`` has no live environment: break every binding tagged
    with it."""
    k.tlb.drop_cid(cid)
    k.stlb.drop_cid(cid)


def revocation_target(k: KernelState, e: int, page: int) -> bool:
    """REV-5: ``page`` is named by a pending page revocation of ``e``."""
    return (k.rev_pending[e] and k.rev_kind[e] == Resource.PAGE
            and k.rev_target[e] == page)


def guaranteed_page(k: KernelState, e: int, page: int) -> bool:
    """REV-5: some guaranteed mapping of ``e`` binds ``page``."""
    return any(x == e for x, _ in k.gm_by_page.get(page, ()))


def tlbwr(k: KernelState, env: int, vpage: int, cap: Cap, writable: bool) -> Result:
    """TLB-1: install ``vpage -> cap.page`` for ``env``'s context id in the TLB and STLB."""
    c = k.cfg
    if not in_range(env, c.n_envs) or not in_range(vpage, c.addr_limit) \
            or not in_range(cap.page, c.n_pages):
        return fail(Status.INVALID_ARGUMENT)
    if not k.env_alive[env]:
        return fail(Status.NO_SUCH_ENV)
    if not cap_valid(k, env, cap):
        return fail(Status.BAD_CAPABILITY)
    if cap.rights < needed(writable):
        return fail(Status.NO_PERMISSION)
    cid = k.env_cid[env]
    k.tlb.put(tlb_slot(k, cid, vpage), cid, vpage, cap.page, writable)
    k.stlb.put(stlb_slot(k, cid, vpage), cid, vpage, cap.page, writable)
    return OK


def tlbvadelete(k: KernelState, env: int, vpage: int) -> Result:
    """TLB-2: remove ``env``'s binding of ``vpage`` from the TLB and the STLB."""
    c = k.cfg
    if not in_range(env, c.n_envs) or not in_range(vpage, c.addr_limit):
        return fail(Status.INVALID_ARGUMENT)
    if not k.env_alive[env]:
        return fail(Status.NO_SUCH_ENV)
    cid = k.env_cid[env]
    i, j = tlb_slot(k, cid, vpage), stlb_slot(k, cid, vpage)
    if k.tlb.hit(i, cid, vpage):
        k.tlb.drop(i)
    if k.stlb.hit(j, cid, vpage):
        k.stlb.drop(j)
    return OK


def cid_switch(k: KernelState, env: int, cid: int) -> Result:
    """TLB-3: give ``env`` the context id ``cid``; bindings tagged with the old one break."""
    c = k.cfg
    if not in_range(env, c.n_envs) or not in_range(cid, c.n_cids):
        return fail(Status.INVALID_ARGUMENT)
    if not k.env_alive[env]:
        return fail(Status.NO_SUCH_ENV)
    if k.cid_env[cid] != FREE and k.cid_env[cid] != env:
        return fail(Status.IN_USE)
    old = k.env_cid[env]
    if in_range(old, c.n_cids):
        k.cid_env[old] = FREE
    k.cid_env[cid] = env
    k.env_cid[env] = cid
    if k.cur_env == env:
        k.hw_cid = cid
    if old != cid:
        break_cid(k, old)
    return OK


def gm_set(k: KernelState, env: int, slot: int, vpage: int, cap: Cap, writable: bool
           ) -> Result:
    """TLB-4: set guaranteed mapping ``slot`` of ``env`` to one of its own pages."""
    c = k.cfg
    if not in_range(env, c.n_envs) or not in_range(slot, c.n_guaranteed) \
            or not in_range(vpage, c.addr_limit) or not in_range(cap.page, c.n_pages):
        return fail(Status.INVALID_ARGUMENT)
    if not k.env_alive[env]:
        return fail(Status.NO_SUCH_ENV)
    if not cap_valid(k, env, cap):
        return fail(Status.BAD_CAPABILITY)
    if k.owner[cap.page] != env:
        return fail(Status.NOT_OWNER)
    if cap.rights < needed(writable):
        return fail(Status.NO_PERMISSION)
    if revocation_target(k, env, cap.page):
        return fail(Status.BUSY)
    k.gm_put(env, slot, vpage, cap.page, writable)
    return OK


def gm_clear(k: KernelState, env: int, slot: int) -> Result:
    """TLB-5: remove guaranteed mapping ``slot`` of ``env``."""
    c = k.cfg
    if not in_range(env, c.n_envs) or not in_range(slot, c.n_guaranteed):
        return fail(Status.INVALID_ARGUMENT)
    if not k.env_alive[env]:
        return fail(Status.NO_SUCH_ENV)
    k.gm_drop(env, slot)
    return OK
