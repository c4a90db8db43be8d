"""Unit tests of physical memory (exo.model.memory): MEM-1 alloc, MEM-2 dealloc, MEM-3
grant, MEM-4 load, MEM-5 store, MEM-6 capabilities; translation order TLB-8, exception
delivery EXC-2, revocation release REV-2; with GEN-1/GEN-2."""

from __future__ import annotations

import pytest

from exo.interface import (
    FREE,
    NO_ENTRY,
    Cap,
    ExcKind,
    Outcome,
    Resource,
    Status,
    Vector,
    stlb_index,
    tlb_index,
)
from exo.spec.invariants import check
from tests.builders import (
    CFG,
    PAGE,
    RO,
    RW,
    VP_RO,
    VP_RW,
    changed,
    entry,
    mapped,
    ok,
    op_id,
    ops_of,
    outcome,
    owning,
    rejected,
    repossess,
    running_world,
    step,
    ticks,
    with_envs,
)

MEM_OPS = ["alloc", "dealloc", "grant", "load", "store"]

A = CFG.addr_limit


def tlb_partner(cid: int, vpage: int) -> int:
    """A vpage that shares ``vpage``'s TLB slot but not its STLB slot (for eviction)."""
    for v in range(vpage + 1, A):
        same_tlb = tlb_index(cid, v, CFG.tlb_size) == tlb_index(cid, vpage, CFG.tlb_size)
        if same_tlb and stlb_index(cid, v, CFG.stlb_size) != stlb_index(cid, vpage,
                                                                       CFG.stlb_size):
            return v
    raise AssertionError("no partner vpage")


def test_memory_ops_registered_GEN_1() -> None:
    """GEN-1: the memory module defines exactly MEM-1..MEM-5."""
    assert sorted(ops_of("memory")) == sorted(MEM_OPS)


# --------------------------------------------------------------------------- MEM-1 alloc


@pytest.mark.parametrize("args", [(-1, 3), (3, 3), (2**64, 3), (1, -1), (1, 4), (1, 2**64)])
def test_alloc_out_of_range_MEM_1(args: tuple[int, int]) -> None:
    """MEM-1: env or page out of range is INVALID_ARGUMENT."""
    s, _ = owning()
    rejected(s, "alloc", args, Status.INVALID_ARGUMENT)


def test_alloc_dead_env_MEM_1() -> None:
    """MEM-1: a dead env is NO_SUCH_ENV (checked before IN_USE)."""
    s, _ = owning()
    rejected(s, "alloc", (2, 3), Status.NO_SUCH_ENV)
    rejected(s, "alloc", (2, 0), Status.NO_SUCH_ENV)


def test_alloc_in_use_MEM_1() -> None:
    """MEM-1: a page owned by anyone, the caller included, is IN_USE."""
    s, _ = owning()
    rejected(s, "alloc", (1, 0), Status.IN_USE)
    rejected(s, "alloc", (0, 0), Status.IN_USE)
    rejected(s, "alloc", (0, 2), Status.IN_USE)


def test_alloc_success_MEM_1() -> None:
    """MEM-1: the env owns the page with READWRITE and gets Cap(page, gen, READWRITE)."""
    s, _ = owning()
    new, res = ok(s, "alloc", 1, 3)
    assert res.value == Cap(3, s.gen[3], RW)
    assert new.owner[3] == 1
    assert new.rights[1, 3] == RW
    assert all(new.rights[e, 3] == 0 for e in (0, 2))
    assert all(new.word[3, w] == 0 for w in range(CFG.page_words))
    assert changed(s, new) <= {"owner", "rights", "word", "repo_page"}


def test_alloc_zeroes_the_page_MEM_1() -> None:
    """MEM-1: a page reads as zeros to its new owner (nothing leaks from the last one)."""
    s, caps = mapped()
    s = step(s, "set_reg", 0, 42)
    s = step(s, "store", VP_RW, 1, 0)
    assert s.word[0, 1] == 42
    s = step(s, "dealloc", 0, caps[0])
    assert s.word[0, 1] == 42  # the old contents stay until the next alloc
    new, res = ok(s, "alloc", 1, 0)
    assert res.value == Cap(0, caps[0].gen + 1, RW)
    assert all(new.word[0, w] == 0 for w in range(CFG.page_words))


def test_alloc_clears_repossession_record_MEM_1() -> None:
    """MEM-1: allocating a page again clears its repossession record for the env."""
    s, _ = owning()
    s = repossess(s, 1, PAGE, 2)
    assert s.repo_page[1, 2] is True
    new = step(s, "alloc", 1, 2)
    assert new.repo_page[1, 2] is False
    assert new.owner[2] == 1


# --------------------------------------------------------------------------- MEM-2 dealloc


def test_dealloc_out_of_range_MEM_2() -> None:
    """MEM-2: env or cap.page out of range is INVALID_ARGUMENT."""
    s, caps = owning()
    for env in (-1, 3, 2**64):
        rejected(s, "dealloc", (env, caps[0]), Status.INVALID_ARGUMENT)
    for page in (-1, 4, 2**64):
        rejected(s, "dealloc", (0, Cap(page, 0, RW)), Status.INVALID_ARGUMENT)


def test_dealloc_dead_env_MEM_2() -> None:
    """MEM-2: a dead env is NO_SUCH_ENV."""
    s, caps = owning()
    rejected(s, "dealloc", (2, caps[0]), Status.NO_SUCH_ENV)
    rejected(s, "dealloc", (2, Cap(3, 0, RW)), Status.NO_SUCH_ENV)


def test_dealloc_not_owner_MEM_2() -> None:
    """MEM-2: a page of another env, a free page, or one merely granted is NOT_OWNER
    (checked before the capability)."""
    s, caps = owning()
    rejected(s, "dealloc", (1, caps[0]), Status.NOT_OWNER)
    rejected(s, "dealloc", (0, Cap(3, 0, RW)), Status.NOT_OWNER)
    s, r = ok(s, "grant", 0, caps[0], 1, RW)
    rejected(s, "dealloc", (1, r.value), Status.NOT_OWNER)


def test_dealloc_bad_capability_MEM_2() -> None:
    """MEM-2/MEM-6: a stale generation or a capability whose rights are not READ or
    READWRITE is BAD_CAPABILITY."""
    s, caps = owning()
    c = caps[0]
    for bad in (Cap(0, c.gen + 1, RW), Cap(0, c.gen - 1, RW), Cap(0, c.gen, 0),
                Cap(0, c.gen, 3), Cap(0, c.gen, -1)):
        rejected(s, "dealloc", (0, bad), Status.BAD_CAPABILITY)
    # A capability that went stale by a real dealloc/alloc cycle.
    s = step(s, "dealloc", 0, c)
    s, fresh_cap = ok(s, "alloc", 0, 0)
    assert fresh_cap.value.gen == c.gen + 1
    rejected(s, "dealloc", (0, c), Status.BAD_CAPABILITY)
    step(s, "dealloc", 0, fresh_cap.value)


def test_dealloc_with_read_cap_MEM_2() -> None:
    """MEM-2/MEM-6: the owner may present a READ capability of the current generation."""
    s, caps = owning()
    new = step(s, "dealloc", 0, Cap(0, caps[0].gen, RO))
    assert new.owner[0] == FREE


def test_dealloc_breaks_everything_MEM_2() -> None:
    """MEM-2: the page is free, its generation bumped, every holder's rights cleared, and
    every TLB entry, STLB entry and guaranteed mapping of the page gone; bindings of
    other pages stay."""
    s, caps = mapped()
    vp = 4  # env 1 binds the granted page here: no TLB or STLB slot shared with VP_RW/VP_RO
    for own in (VP_RW, VP_RO):
        assert tlb_index(1, vp, CFG.tlb_size) != tlb_index(0, own, CFG.tlb_size)
        assert stlb_index(1, vp, CFG.stlb_size) != stlb_index(0, own, CFG.stlb_size)
    s, r = ok(s, "grant", 0, caps[0], 1, RO)
    s = step(s, "tlbwr", 1, vp, r.value, False)
    s = step(s, "gm_set", 0, 0, 30, caps[0], True)
    s = step(s, "gm_set", 0, 1, 31, caps[1], False)
    new = step(s, "dealloc", 0, caps[0])
    assert new.owner[0] == FREE
    assert new.gen[0] == s.gen[0] + 1
    assert all(new.rights[e, 0] == 0 for e in range(CFG.n_envs))
    assert not any(new.tlb_valid[i] and new.tlb_page[i] == 0 for i in range(CFG.tlb_size))
    assert not any(new.stlb_valid[j] and new.stlb_page[j] == 0 for j in range(CFG.stlb_size))
    assert new.gm_valid[0, 0] is False
    assert new.gm_valid[0, 1] is True
    assert any(new.stlb_valid[j] and new.stlb_page[j] == 1 for j in range(CFG.stlb_size))
    _ro, res = ok(new, "load", VP_RO, 0, 0)  # the binding of page 1 still serves
    assert outcome(res) in (Outcome.ACCESS, Outcome.REFILL_STLB)
    assert new.rights[0, 1] == RW and new.owner[2] == 1
    # every capability for the page is stale now
    rejected(new, "tlbwr", (1, vp, r.value, False), Status.BAD_CAPABILITY)
    rejected(new, "grant", (0, caps[0], 1, RO), Status.BAD_CAPABILITY)
    # the running env's access to the page misses now
    new2, res = ok(new, "load", VP_RW, 0, 0)
    assert outcome(res) == Outcome.DELIVERED and new2.cause == ExcKind.TLB_MISS


def test_dealloc_satisfies_page_request_REV_2() -> None:
    """MEM-2/REV-2: releasing *any* page satisfies a pending page request; the target
    stays owned and abort then finds no request."""
    s, caps = owning()
    s = step(s, "revoke_request", 0, int(Resource.PAGE), 0, s.now + 1)
    new = step(s, "dealloc", 0, caps[1])
    assert new.rev_pending[0] is False
    assert new.owner[0] == 0
    later, _ = ticks(new, 3)
    rejected(later, "abort", (0,), Status.NO_REQUEST)


def test_dealloc_does_not_satisfy_slice_request_REV_2() -> None:
    """MEM-2/REV-2: a page release does not satisfy a slice request."""
    s, caps = owning()
    s = step(s, "slice_alloc", 0, 2)
    s = step(s, "revoke_request", 0, int(Resource.SLICE), 2, s.now + 1)
    new = step(s, "dealloc", 0, caps[1])
    assert new.rev_pending[0] is True
    assert new.rev_kind[0] == Resource.SLICE


# --------------------------------------------------------------------------- MEM-3 grant


def test_grant_out_of_range_MEM_3() -> None:
    """MEM-3: env, grantee, page or rights out of range is INVALID_ARGUMENT."""
    s, caps = owning()
    c = caps[0]
    for args in [(-1, c, 1, RO), (3, c, 1, RO), (0, c, -1, RO), (0, c, 3, RO),
                 (0, Cap(4, 0, RW), 1, RO), (0, Cap(-1, 0, RW), 1, RO),
                 (0, c, 1, 0), (0, c, 1, 3), (0, c, 1, -1), (0, c, 1, 2**64)]:
        rejected(s, "grant", args, Status.INVALID_ARGUMENT)


def test_grant_dead_env_MEM_3() -> None:
    """MEM-3: a dead granting env or a dead grantee is NO_SUCH_ENV."""
    s, caps = owning()
    rejected(s, "grant", (2, caps[0], 1, RO), Status.NO_SUCH_ENV)
    rejected(s, "grant", (0, caps[0], 2, RO), Status.NO_SUCH_ENV)


def test_grant_bad_capability_MEM_3() -> None:
    """MEM-3/MEM-6: a capability the env does not hold, a stale one, or one with bad
    rights is BAD_CAPABILITY."""
    s, caps = owning()
    c = caps[0]
    rejected(s, "grant", (1, c, 0, RO), Status.BAD_CAPABILITY)  # env 1 holds nothing on p0
    rejected(s, "grant", (0, Cap(0, c.gen + 1, RW), 1, RO), Status.BAD_CAPABILITY)
    rejected(s, "grant", (0, Cap(0, c.gen, 0), 1, RO), Status.BAD_CAPABILITY)
    rejected(s, "grant", (0, Cap(0, c.gen, 3), 1, RO), Status.BAD_CAPABILITY)
    rejected(s, "grant", (0, Cap(3, 0, RW), 1, RO), Status.BAD_CAPABILITY)  # free page
    s, _r = ok(s, "grant", 0, c, 1, RO)
    # env 1 holds only READ: a READWRITE capability is not held.
    rejected(s, "grant", (1, Cap(0, c.gen, RW), 0, RO), Status.BAD_CAPABILITY)


def test_grant_no_permission_MEM_3() -> None:
    """MEM-3: granting more rights than the capability carries is NO_PERMISSION."""
    s, caps = owning()
    c = caps[0]
    rejected(s, "grant", (0, Cap(0, c.gen, RO), 1, RW), Status.NO_PERMISSION)
    s, r = ok(s, "grant", 0, c, 1, RO)
    rejected(s, "grant", (1, r.value, 0, RW), Status.NO_PERMISSION)


def test_grant_success_MEM_3() -> None:
    """MEM-3: the grantee holds the rights and gets Cap(page, gen, rights); only the
    grantee's rights (and repossession record) change."""
    s, caps = owning()
    new, res = ok(s, "grant", 0, caps[0], 1, RO)
    assert res.value == Cap(0, s.gen[0], RO)
    assert new.rights[1, 0] == RO
    assert new.rights[0, 0] == RW and new.owner[0] == 0
    assert changed(s, new) == {"rights"}
    # the grantee can bind read-only, not writable
    step(new, "tlbwr", 1, 7, res.value, False)
    rejected(new, "tlbwr", (1, 7, res.value, True), Status.NO_PERMISSION)


def test_grant_keeps_larger_rights_MEM_3() -> None:
    """MEM-3: the grantee's rights become the larger of old and new: never lowered."""
    s, caps = owning()
    s, _rw = ok(s, "grant", 0, caps[0], 1, RW)
    assert s.rights[1, 0] == RW
    new, res = ok(s, "grant", 0, caps[0], 1, RO)
    assert new.rights[1, 0] == RW
    assert res.value == Cap(0, s.gen[0], RO)
    # granting to the owner itself never lowers its READWRITE
    own = step(s, "grant", 0, caps[0], 0, RO)
    assert own.rights[0, 0] == RW


def test_grant_is_transitive_MEM_3() -> None:
    """MEM-3: a grantee may pass on rights no greater than its capability's."""
    s = step(with_envs(3), "alloc", 0, 0)
    c = Cap(0, s.gen[0], RW)
    s, r1 = ok(s, "grant", 0, c, 1, RW)
    s, r2 = ok(s, "grant", 1, r1.value, 2, RO)
    assert s.rights[2, 0] == RO
    assert r2.value == Cap(0, s.gen[0], RO)


def test_grant_clears_repossession_record_MEM_3() -> None:
    """MEM-3: a grant clears the grantee's repossession record of the page (INV-8)."""
    s, _caps = owning()
    s = repossess(s, 1, PAGE, 2)
    assert s.repo_page[1, 2] is True
    s, c = ok(s, "alloc", 0, 2)
    new = step(s, "grant", 0, c.value, 1, RO)
    assert new.repo_page[1, 2] is False
    assert new.rights[1, 2] == RO


# --------------------------------------------------------------------------- MEM-4/5 errors


@pytest.mark.parametrize("name", ["load", "store"], ids=op_id)
def test_access_out_of_range_MEM_4_5(name: str) -> None:
    """MEM-4/MEM-5: vpage, offset or register out of range is INVALID_ARGUMENT."""
    s, _ = mapped()
    for args in [(-1, 0, 0), (A, 0, 0), (2**64, 0, 0), (VP_RW, -1, 0),
                 (VP_RW, CFG.page_words, 0), (VP_RW, 0, -1), (VP_RW, 0, CFG.n_regs)]:
        rejected(s, name, args, Status.INVALID_ARGUMENT)


@pytest.mark.parametrize("name", ["load", "store"], ids=op_id)
def test_access_not_running_MEM_4_5(name: str) -> None:
    """MEM-4/MEM-5: with no environment running the event is NOT_RUNNING (range checks
    still come first)."""
    s, _ = owning()
    rejected(s, name, (VP_RW, 0, 0), Status.NOT_RUNNING)
    rejected(s, name, (-1, 0, 0), Status.INVALID_ARGUMENT)
    killed = step(mapped()[0], "env_destroy", 0)
    rejected(killed, name, (VP_RW, 0, 0), Status.NOT_RUNNING)


# --------------------------------------------------------------------------- MEM-4/5 success


def test_load_store_tlb_hit_MEM_4_5() -> None:
    """MEM-4/MEM-5: on a TLB hit a store writes the register into the word and a load
    reads the word into the register (Outcome.ACCESS)."""
    s, _ = mapped()
    s = step(s, "set_reg", 0, 42)
    s, res = ok(s, "store", VP_RW, 1, 0)
    assert outcome(res) == Outcome.ACCESS
    assert s.word[0, 1] == 42 and s.word[0, 0] == 0
    s, res = ok(s, "load", VP_RW, 1, 1)
    assert outcome(res) == Outcome.ACCESS
    assert s.regs[1] == 42
    # a load leaves memory alone; a store leaves registers alone
    s2, _ = ok(s, "load", VP_RW, 0, 1)
    assert s2.regs[1] == 0 and s2.word == s.word


def test_load_read_only_binding_MEM_4() -> None:
    """MEM-4: a read-only binding permits loads."""
    s, _ = mapped()
    new, res = ok(s, "load", VP_RO, 0, 0)
    assert outcome(res) == Outcome.ACCESS
    assert changed(s, new) <= {"regs"}


def test_load_refills_from_stlb_TLB_8() -> None:
    """MEM-4/TLB-8: a TLB miss that hits the STLB refills the TLB without an exception
    (Outcome.REFILL_STLB); the next access hits the TLB."""
    s, _ = mapped()
    other = tlb_partner(0, VP_RW)
    s = step(s, "tlbwr", 0, other, Cap(1, s.gen[1], RW), False)  # evicts VP_RW from the TLB
    i = tlb_index(0, VP_RW, CFG.tlb_size)
    assert s.tlb_vpage[i] == other
    s, res = ok(s, "load", VP_RW, 0, 0)
    assert outcome(res) == Outcome.REFILL_STLB
    assert s.tlb_valid[i] and s.tlb_vpage[i] == VP_RW and s.tlb_page[i] == 0
    assert s.tlb_write[i] is True and s.tlb_cid[i] == 0
    s, res = ok(s, "load", VP_RW, 0, 0)
    assert outcome(res) == Outcome.ACCESS


def test_store_refills_from_stlb_TLB_8() -> None:
    """MEM-5/TLB-8: a store through an STLB-only writable binding refills and writes."""
    s, _ = mapped()
    s = step(s, "tlbwr", 0, tlb_partner(0, VP_RW), Cap(1, s.gen[1], RW), False)
    s = step(s, "set_reg", 1, 9)
    s, res = ok(s, "store", VP_RW, 0, 1)
    assert outcome(res) == Outcome.REFILL_STLB
    assert s.word[0, 0] == 9


def test_load_refills_from_guaranteed_mapping_TLB_8() -> None:
    """MEM-4/TLB-8: missing TLB and STLB, a guaranteed mapping refills the TLB
    (Outcome.REFILL_GUARANTEED)."""
    s, caps = running_world()
    s = step(s, "gm_set", 0, 1, 20, caps[1], True)
    s = step(s, "set_reg", 0, 5)
    s, res = ok(s, "store", 20, 1, 0)
    assert outcome(res) == Outcome.REFILL_GUARANTEED
    assert s.word[1, 1] == 5
    i = tlb_index(0, 20, CFG.tlb_size)
    assert s.tlb_valid[i] and s.tlb_vpage[i] == 20 and s.tlb_page[i] == 1
    s, res = ok(s, "load", 20, 1, 1)
    assert outcome(res) == Outcome.ACCESS and s.regs[1] == 5


def test_miss_raises_tlb_miss_EXC_2() -> None:
    """MEM-4/EXC-2: a miss everywhere delivers TLB_MISS: epc = pc, cause, badvpage, and
    control at the handler; memory and registers are untouched."""
    s, _ = mapped()
    for name in ("load", "store"):
        new, res = ok(s, name, 30, 0, 0)
        assert outcome(res) == Outcome.DELIVERED
        assert new.pc == entry(0, Vector.TLB_MISS)
        assert new.epc == s.pc
        assert new.cause == ExcKind.TLB_MISS
        assert new.badvpage == 30
        assert new.cur_env == 0 and new.env_alive[0]
        assert new.word == s.word and new.regs == s.regs
        assert new.tlb_valid == s.tlb_valid


def test_miss_is_per_context_TLB_6() -> None:
    """MEM-4/TLB-6: another env's binding of the same vpage does not serve the running env."""
    s, caps = running_world()
    s = step(s, "tlbwr", 1, 40, caps[2], True)
    new, res = ok(s, "load", 40, 0, 0)
    assert outcome(res) == Outcome.DELIVERED and new.cause == ExcKind.TLB_MISS


@pytest.mark.parametrize("name", ["load", "store"], ids=op_id)
def test_miss_without_handler_kills_EXC_2(name: str) -> None:
    """MEM-4/MEM-5/EXC-2: a miss with no TLB_MISS handler destroys the env (KILLED)."""
    s, _ = mapped(bare=True)
    new, res = ok(s, name, 30, 0, 0)
    assert outcome(res) == Outcome.KILLED
    assert new.env_alive[0] is False
    assert new.cur_env == FREE
    assert new.owner[0] == FREE and new.owner[1] == FREE


def test_store_read_only_raises_protection_MEM_5() -> None:
    """MEM-5/EXC-2: a store on a read-only binding delivers PROTECTION and writes
    nothing."""
    s, _ = mapped()
    s = step(s, "set_reg", 0, 77)
    new, res = ok(s, "store", VP_RO, 1, 0)
    assert outcome(res) == Outcome.DELIVERED
    assert new.cause == ExcKind.PROTECTION
    assert new.badvpage == VP_RO
    assert new.pc == entry(0, Vector.PROTECTION)
    assert new.epc == s.pc
    assert new.word == s.word


def test_store_read_only_guaranteed_raises_protection_MEM_5() -> None:
    """MEM-5: a read-only guaranteed mapping refills but the store faults (PROTECTION)."""
    s, caps = running_world()
    s = step(s, "gm_set", 0, 0, 21, caps[1], False)
    new, res = ok(s, "store", 21, 0, 0)
    assert outcome(res) == Outcome.DELIVERED
    assert new.cause == ExcKind.PROTECTION and new.word == s.word


def test_store_read_only_without_handler_kills_MEM_5() -> None:
    """MEM-5/EXC-2: a protection fault with no handler destroys the env."""
    s, _ = mapped(bare=True)
    new, res = ok(s, "store", VP_RO, 0, 0)
    assert outcome(res) == Outcome.KILLED
    assert new.env_alive[0] is False and new.cur_env == FREE


def test_unregistered_handler_kills_EXC_2() -> None:
    """MEM-4/ENV-3/EXC-2: unregistering the TLB_MISS handler makes a miss fatal."""
    s, _ = mapped()
    s = step(s, "set_exception_context", 0, int(ExcKind.TLB_MISS), NO_ENTRY)
    new, res = ok(s, "load", 30, 0, 0)
    assert outcome(res) == Outcome.KILLED
    assert new.env_alive[0] is False
    assert check(new) == {}
