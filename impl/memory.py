"""Physical memory: Alloc, Dealloc, sharing grants, and the load/store hardware events
(spec/memory.md)."""

from __future__ import annotations

from exo.impl.env import release_page
from exo.impl.exceptions import deliver
from exo.impl.ops import OK, cap_valid, fail, in_range, rights_ok
from exo.impl.state import KernelState
from exo.impl.tlb import guaranteed_slot, stlb_slot, tlb_slot
from exo.interface import FREE, NULL_CAP, Cap, ExcKind, Outcome, Resource, Result, Rights, Status


def alloc(k: KernelState, env: int, page: int) -> Result:
    """MEM-1: ``env`` takes the free page ``page`` (READWRITE, zeroed); returns its cap."""
    c = k.cfg
    if not in_range(env, c.n_envs) or not in_range(page, c.n_pages):
        return fail(Status.INVALID_ARGUMENT, NULL_CAP)
    if not k.env_alive[env]:
        return fail(Status.NO_SUCH_ENV, NULL_CAP)
    if k.owner[page] != FREE:
        return fail(Status.IN_USE, NULL_CAP)
    k.owner[page] = env
    k.owned[env].add(page)
    k.set_rights(env, page, int(Rights.READWRITE))
    k.word[page] = [0] * c.page_words
    k.repo_page[env].discard(page)
    return Result(Status.OK, Cap(page, k.gen[page], int(Rights.READWRITE)))


def free_page(k: KernelState, page: int) -> None:
    """MEM-2: ``page`` becomes free and every binding of it breaks (TLB-9)."""
    release_page(k, page)


def dealloc(k: KernelState, env: int, cap: Cap) -> Result:
    """MEM-2/REV-2: the owner gives page ``cap.page`` back; it counts as the release a
    pending page revocation asks for."""
    c = k.cfg
    page = cap.page
    if not in_range(env, c.n_envs) or not in_range(page, c.n_pages):
        return fail(Status.INVALID_ARGUMENT)
    if not k.env_alive[env]:
        return fail(Status.NO_SUCH_ENV)
    if k.owner[page] != env:
        return fail(Status.NOT_OWNER)
    if not cap_valid(k, env, cap):
        return fail(Status.BAD_CAPABILITY)
    if k.rev_kind[env] == Resource.PAGE:
        k.rev_pending[env] = False
    free_page(k, page)
    return OK


def grant(k: KernelState, env: int, cap: Cap, grantee: int, rights: int) -> Result:
    """MEM-3: ``env`` gives ``grantee`` ``rights`` (no more than the cap's) on ``cap.page``."""
    c = k.cfg
    page = cap.page
    if not in_range(env, c.n_envs) or not in_range(grantee, c.n_envs) \
            or not in_range(page, c.n_pages) or not rights_ok(rights):
        return fail(Status.INVALID_ARGUMENT, NULL_CAP)
    if not k.env_alive[env] or not k.env_alive[grantee]:
        return fail(Status.NO_SUCH_ENV, NULL_CAP)
    if not cap_valid(k, env, cap):
        return fail(Status.BAD_CAPABILITY, NULL_CAP)
    if rights > cap.rights:
        return fail(Status.NO_PERMISSION, NULL_CAP)
    old = k.rights(grantee, page)
    k.set_rights(grantee, page, max(old, rights))
    k.repo_page[grantee].discard(page)
    return Result(Status.OK, Cap(page, k.gen[page], rights))


def translate(k: KernelState, vpage: int) -> tuple[int, int, bool, int]:
    """TLB-8: look ``vpage`` up for the running environment: the hardware TLB, then the
    STLB, then its guaranteed mappings. Returns (source, slot, writable, page) with source
    ACCESS / REFILL_STLB / REFILL_GUARANTEED, or NONE if nothing binds it. Refills nothing
    (``refill`` does, once the access is known to proceed to its outcome)."""
    e, cid = k.cur_env, k.hw_cid
    i = tlb_slot(k, cid, vpage)
    if k.tlb.hit(i, cid, vpage):
        return int(Outcome.ACCESS), i, k.tlb.write[i], k.tlb.page[i]
    j = stlb_slot(k, cid, vpage)
    if k.stlb.hit(j, cid, vpage):
        return int(Outcome.REFILL_STLB), j, k.stlb.write[j], k.stlb.page[j]
    g = guaranteed_slot(k, e, vpage)
    if g >= 0:
        return int(Outcome.REFILL_GUARANTEED), g, k.gm_write[e][g], k.gm_page[e][g]
    return int(Outcome.NONE), -1, False, FREE


def _access(k: KernelState, vpage: int, offset: int, reg: int, write: bool) -> Result:
    """MEM-4/MEM-5: a load or store by the running environment at ``(vpage, offset)``."""
    c = k.cfg
    if not in_range(vpage, c.addr_limit) or not in_range(offset, c.page_words) \
            or not in_range(reg, c.n_regs):
        return fail(Status.INVALID_ARGUMENT)
    if not k.live(k.cur_env):
        return fail(Status.NOT_RUNNING)
    source, _, writable, page = translate(k, vpage)
    if source == Outcome.NONE:
        return Result(Status.OK, deliver(k, int(ExcKind.TLB_MISS), vpage))
    if source != Outcome.ACCESS:  # refill the hardware TLB (TLB-8)
        cid = k.hw_cid
        k.tlb.put(tlb_slot(k, cid, vpage), cid, vpage, page, writable)
    if write and not writable:
        return Result(Status.OK, deliver(k, int(ExcKind.PROTECTION), vpage))
    if write:
        k.word[page][offset] = k.regs[reg]
    else:
        k.regs[reg] = k.word[page][offset]
    return Result(Status.OK, source)


def load(k: KernelState, vpage: int, offset: int, reg: int) -> Result:
    """MEM-4: the running environment loads word ``offset`` of ``vpage`` into ``reg``."""
    return _access(k, vpage, offset, reg, write=False)


def store(k: KernelState, vpage: int, offset: int, reg: int) -> Result:
    """MEM-5: the running environment stores ``reg`` into word ``offset`` of ``vpage``."""
    return _access(k, vpage, offset, reg, write=True)
