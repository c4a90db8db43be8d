"""Unit tests of secure bindings for memory (exo.model.tlb): TLB-1 tlbwr, TLB-2
tlbvadelete, TLB-3 cid_switch, TLB-4 gm_set, TLB-5 gm_clear; direct-mapped TLB/STLB
(TLB-6/TLB-7), translation order (TLB-8), revalidation (TLB-9), guaranteed pages under
revocation (REV-5); with GEN-1/GEN-2."""

from __future__ import annotations

from exo.interface import (
    FREE,
    Cap,
    ExcKind,
    Outcome,
    Resource,
    Status,
    stlb_index,
    tlb_index,
)
from exo.model import State
from tests.builders import (
    CFG,
    RO,
    RW,
    changed,
    ok,
    ops_of,
    outcome,
    owning,
    rejected,
    running_world,
    step,
)

TLB_OPS = ["tlbwr", "tlbvadelete", "cid_switch", "gm_set", "gm_clear"]

A = CFG.addr_limit


def ti(cid: int, vpage: int) -> int:
    """TLB-6: the TLB slot of (cid, vpage)."""
    return tlb_index(cid, vpage, CFG.tlb_size)


def si(cid: int, vpage: int) -> int:
    """TLB-7: the STLB slot of (cid, vpage)."""
    return stlb_index(cid, vpage, CFG.stlb_size)


def in_tlb(s: State, cid: int, vpage: int) -> bool:
    i = ti(cid, vpage)
    return bool(s.tlb_valid[i] and s.tlb_cid[i] == cid and s.tlb_vpage[i] == vpage)


def in_stlb(s: State, cid: int, vpage: int) -> bool:
    j = si(cid, vpage)
    return bool(s.stlb_valid[j] and s.stlb_cid[j] == cid and s.stlb_vpage[j] == vpage)


def granted() -> tuple[State, dict[int, Cap], Cap]:
    """``owning()`` plus a READ grant of env 0's page 0 to env 1 (its capability last)."""
    s, caps = owning()
    s, r = ok(s, "grant", 0, caps[0], 1, RO)
    return s, caps, r.value


def test_tlb_ops_registered_GEN_1() -> None:
    """GEN-1: the tlb module defines exactly TLB-1..TLB-5."""
    assert sorted(ops_of("tlb")) == sorted(TLB_OPS)


# --------------------------------------------------------------------------- TLB-1 tlbwr


def test_tlbwr_out_of_range_TLB_1() -> None:
    """TLB-1: env, vpage or cap.page out of range is INVALID_ARGUMENT."""
    s, caps = owning()
    c = caps[0]
    for args in [(-1, 5, c, True), (3, 5, c, True), (0, -1, c, True), (0, A, c, True),
                 (0, 2**64, c, True), (0, 5, Cap(-1, 0, RW), True), (0, 5, Cap(4, 0, RW), True)]:
        rejected(s, "tlbwr", args, Status.INVALID_ARGUMENT)


def test_tlbwr_dead_env_TLB_1() -> None:
    """TLB-1: a dead env is NO_SUCH_ENV."""
    s, caps = owning()
    rejected(s, "tlbwr", (2, 5, caps[0], False), Status.NO_SUCH_ENV)


def test_tlbwr_bad_capability_TLB_1() -> None:
    """TLB-1/MEM-6: a capability not held by the env, stale, for a free page, or with
    bad rights is BAD_CAPABILITY."""
    s, caps, _rcap = granted()
    c = caps[0]
    rejected(s, "tlbwr", (1, 5, caps[1], False), Status.BAD_CAPABILITY)
    rejected(s, "tlbwr", (0, 5, Cap(0, c.gen + 1, RW), False), Status.BAD_CAPABILITY)
    rejected(s, "tlbwr", (0, 5, Cap(3, 0, RO), False), Status.BAD_CAPABILITY)
    rejected(s, "tlbwr", (0, 5, Cap(0, c.gen, 0), False), Status.BAD_CAPABILITY)
    rejected(s, "tlbwr", (0, 5, Cap(0, c.gen, 3), False), Status.BAD_CAPABILITY)
    rejected(s, "tlbwr", (1, 5, Cap(0, c.gen, RW), False), Status.BAD_CAPABILITY)


def test_tlbwr_no_permission_TLB_1() -> None:
    """TLB-1: a writable mapping with a READ capability is NO_PERMISSION."""
    s, caps, rcap = granted()
    rejected(s, "tlbwr", (1, 5, rcap, True), Status.NO_PERMISSION)
    rejected(s, "tlbwr", (0, 5, Cap(0, caps[0].gen, RO), True), Status.NO_PERMISSION)


def test_tlbwr_success_TLB_1() -> None:
    """TLB-1: the binding goes into its TLB slot and its STLB slot, tagged with the env's
    context id; nothing else changes."""
    s, caps = owning()
    for env, vpage, page, write in ((0, 5, 0, True), (1, 11, 2, False), (0, A - 1, 1, False)):
        new = step(s, "tlbwr", env, vpage, caps[page], write)
        cid = s.env_cid[env]
        i, j = ti(cid, vpage), si(cid, vpage)
        assert (new.tlb_valid[i], new.tlb_cid[i], new.tlb_vpage[i], new.tlb_page[i],
                new.tlb_write[i]) == (True, cid, vpage, page, write)
        assert (new.stlb_valid[j], new.stlb_cid[j], new.stlb_vpage[j], new.stlb_page[j],
                new.stlb_write[j]) == (True, cid, vpage, page, write)
        assert {f for f in changed(s, new)} <= {"tlb_valid", "tlb_cid", "tlb_vpage",
                                                "tlb_page", "tlb_write", "stlb_valid",
                                                "stlb_cid", "stlb_vpage", "stlb_page",
                                                "stlb_write"}


def test_tlbwr_read_only_with_readwrite_cap_TLB_1() -> None:
    """TLB-1: a READWRITE capability may install a read-only binding; a grantee's READ
    capability installs read-only bindings."""
    s, _caps, rcap = granted()
    new = step(s, "tlbwr", 1, 7, rcap, False)
    assert in_tlb(new, 1, 7) and new.tlb_write[ti(1, 7)] is False


def test_tlbwr_evicts_tlb_slot_keeps_stlb_TLB_6() -> None:
    """TLB-6/TLB-7: a binding to the same TLB slot evicts the old one from the TLB only;
    the old one stays cached in the STLB."""
    s, caps = owning()
    s = step(s, "tlbwr", 0, 5, caps[0], True)
    other = next(v for v in range(6, A) if ti(0, v) == ti(0, 5) and si(0, v) != si(0, 5))
    new = step(s, "tlbwr", 0, other, caps[1], True)
    assert not in_tlb(new, 0, 5) and in_tlb(new, 0, other)
    assert in_stlb(new, 0, 5) and in_stlb(new, 0, other)


# --------------------------------------------------------------------------- TLB-2 tlbvadelete


def test_tlbvadelete_out_of_range_TLB_2() -> None:
    """TLB-2: env or vpage out of range is INVALID_ARGUMENT."""
    s, _ = owning()
    for args in [(-1, 5), (3, 5), (0, -1), (0, A), (0, 2**64)]:
        rejected(s, "tlbvadelete", args, Status.INVALID_ARGUMENT)


def test_tlbvadelete_dead_env_TLB_2() -> None:
    """TLB-2: a dead env is NO_SUCH_ENV."""
    s, _ = owning()
    rejected(s, "tlbvadelete", (2, 5), Status.NO_SUCH_ENV)


def test_tlbvadelete_removes_from_tlb_and_stlb_TLB_2() -> None:
    """TLB-2: the env's binding of vpage goes from TLB and STLB; another env's binding of
    the same vpage and the env's other bindings stay."""
    s, caps = owning()
    s = step(s, "tlbwr", 0, 5, caps[0], True)
    s = step(s, "tlbwr", 0, 6, caps[1], True)
    s = step(s, "tlbwr", 1, 5, caps[2], True)
    new = step(s, "tlbvadelete", 0, 5)
    assert not in_tlb(new, 0, 5) and not in_stlb(new, 0, 5)
    assert in_tlb(new, 1, 5) and in_stlb(new, 1, 5)
    assert in_tlb(new, 0, 6) and in_stlb(new, 0, 6)
    assert changed(s, new) == {"tlb_valid", "stlb_valid"}


def test_tlbvadelete_unmapped_is_noop_TLB_2() -> None:
    """TLB-2: deleting a vpage that is not bound succeeds and changes nothing, even when
    its slots hold other bindings."""
    s, caps = owning()
    s = step(s, "tlbwr", 0, 5, caps[0], True)
    other = next(v for v in range(6, A) if ti(0, v) == ti(0, 5) and si(0, v) == si(0, 5))
    assert step(s, "tlbvadelete", 0, other) == s
    assert step(s, "tlbvadelete", 1, 5) == s


def test_tlbvadelete_keeps_guaranteed_mapping_TLB_2() -> None:
    """TLB-2: a guaranteed mapping of the vpage stays and refills the TLB on the next
    miss."""
    s, caps = running_world()
    s = step(s, "gm_set", 0, 0, 20, caps[0], True)
    s, res = ok(s, "load", 20, 0, 0)
    assert outcome(res) == Outcome.REFILL_GUARANTEED
    s = step(s, "tlbvadelete", 0, 20)
    assert not in_tlb(s, 0, 20)
    assert s.gm_valid[0, 0] is True
    s, res = ok(s, "load", 20, 0, 0)
    assert outcome(res) == Outcome.REFILL_GUARANTEED


# --------------------------------------------------------------------------- TLB-3 cid_switch


def test_cid_switch_out_of_range_TLB_3() -> None:
    """TLB-3: env or cid out of range is INVALID_ARGUMENT."""
    s, _ = owning()
    for args in [(-1, 3), (3, 3), (0, -1), (0, CFG.n_cids), (0, 2**64)]:
        rejected(s, "cid_switch", args, Status.INVALID_ARGUMENT)


def test_cid_switch_dead_env_TLB_3() -> None:
    """TLB-3: a dead env is NO_SUCH_ENV."""
    s, _ = owning()
    rejected(s, "cid_switch", (2, 3), Status.NO_SUCH_ENV)


def test_cid_switch_in_use_TLB_3() -> None:
    """TLB-3: a cid used by another live env is IN_USE."""
    s, _ = owning()
    rejected(s, "cid_switch", (0, 1), Status.IN_USE)
    rejected(s, "cid_switch", (1, 0), Status.IN_USE)


def test_cid_switch_success_TLB_3() -> None:
    """TLB-3: the env gets the new id, the old one is released, and every binding tagged
    with the old id is broken; other envs' bindings stay."""
    s, caps = owning()
    s = step(s, "tlbwr", 0, 5, caps[0], True)
    s = step(s, "tlbwr", 1, 6, caps[2], True)
    new = step(s, "cid_switch", 0, 3)
    assert new.env_cid[0] == 3 and new.cid_env[3] == 0 and new.cid_env[0] == FREE
    assert not any(new.tlb_valid[i] and new.tlb_cid[i] == 0 for i in range(CFG.tlb_size))
    assert not any(new.stlb_valid[j] and new.stlb_cid[j] == 0 for j in range(CFG.stlb_size))
    assert in_tlb(new, 1, 6) and in_stlb(new, 1, 6)
    assert new.hw_cid == s.hw_cid  # env 0 is not running
    # the old id is free for another env; new bindings use the new id
    step(new, "env_create", 2, 0)
    new2 = step(new, "tlbwr", 0, 5, caps[0], True)
    assert in_tlb(new2, 3, 5)


def test_cid_switch_running_env_moves_register_TLB_3() -> None:
    """TLB-3: if the env is running the hardware context-id register follows, and its
    accesses miss until it binds again under the new id."""
    s, caps = running_world()
    s = step(s, "tlbwr", 0, 5, caps[0], True)
    new = step(s, "cid_switch", 0, 3)
    assert new.hw_cid == 3
    after, res = ok(new, "load", 5, 0, 0)
    assert outcome(res) == Outcome.DELIVERED and after.cause == ExcKind.TLB_MISS
    rebound = step(new, "tlbwr", 0, 5, caps[0], True)
    after, res = ok(rebound, "load", 5, 0, 0)
    assert outcome(res) == Outcome.ACCESS


def test_cid_switch_to_own_cid_TLB_3() -> None:
    """TLB-3: switching to the id the env already has is OK and keeps its bindings."""
    s, caps = owning()
    s = step(s, "tlbwr", 0, 5, caps[0], True)
    new = step(s, "cid_switch", 0, 0)
    assert new == s


# --------------------------------------------------------------------------- TLB-4 gm_set


def test_gm_set_out_of_range_TLB_4() -> None:
    """TLB-4: env, slot, vpage or cap.page out of range is INVALID_ARGUMENT."""
    s, caps = owning()
    c = caps[0]
    G = CFG.n_guaranteed
    for args in [(-1, 0, 9, c, True), (3, 0, 9, c, True), (0, -1, 9, c, True),
                 (0, G, 9, c, True), (0, 0, -1, c, True), (0, 0, A, c, True),
                 (0, 0, 9, Cap(-1, 0, RW), True), (0, 0, 9, Cap(4, 0, RW), True)]:
        rejected(s, "gm_set", args, Status.INVALID_ARGUMENT)


def test_gm_set_dead_env_TLB_4() -> None:
    """TLB-4: a dead env is NO_SUCH_ENV."""
    s, caps = owning()
    rejected(s, "gm_set", (2, 0, 9, caps[0], True), Status.NO_SUCH_ENV)


def test_gm_set_bad_capability_TLB_4() -> None:
    """TLB-4/MEM-6: a capability not held, stale, or with bad rights is BAD_CAPABILITY."""
    s, caps = owning()
    c = caps[0]
    rejected(s, "gm_set", (1, 0, 9, c, False), Status.BAD_CAPABILITY)
    rejected(s, "gm_set", (0, 0, 9, Cap(0, c.gen + 1, RW), False), Status.BAD_CAPABILITY)
    rejected(s, "gm_set", (0, 0, 9, Cap(0, c.gen, 0), False), Status.BAD_CAPABILITY)
    rejected(s, "gm_set", (0, 0, 9, Cap(3, 0, RO), False), Status.BAD_CAPABILITY)


def test_gm_set_not_owner_TLB_4() -> None:
    """TLB-4: a guaranteed mapping binds only the env's own pages: a granted page is
    NOT_OWNER."""
    s, _caps, rcap = granted()
    rejected(s, "gm_set", (1, 0, 9, rcap, False), Status.NOT_OWNER)


def test_gm_set_no_permission_TLB_4() -> None:
    """TLB-4: a writable guaranteed mapping with a READ capability is NO_PERMISSION."""
    s, caps = owning()
    rejected(s, "gm_set", (0, 0, 9, Cap(0, caps[0].gen, RO), True), Status.NO_PERMISSION)


def test_gm_set_page_under_revocation_busy_REV_5() -> None:
    """TLB-4/REV-5: a page named by a pending revocation cannot get a guaranteed
    mapping (BUSY); the env's other pages can."""
    s, caps = owning()
    s = step(s, "revoke_request", 0, int(Resource.PAGE), 0, s.now + 3)
    rejected(s, "gm_set", (0, 0, 9, caps[0], True), Status.BUSY)
    rejected(s, "gm_set", (0, 1, 9, caps[0], False), Status.BUSY)
    step(s, "gm_set", 0, 0, 9, caps[1], True)


def test_gm_set_slice_request_not_busy_TLB_4() -> None:
    """TLB-4/REV-5: only a pending *page* request naming the page makes gm_set BUSY."""
    s, caps = owning()
    s = step(s, "slice_alloc", 0, 0)
    s = step(s, "revoke_request", 0, int(Resource.SLICE), 0, s.now + 3)
    step(s, "gm_set", 0, 0, 9, caps[0], True)


def test_gm_set_success_TLB_4() -> None:
    """TLB-4: the slot holds (vpage, page, writable); the TLB is not touched; setting a
    slot again replaces the mapping."""
    s, caps = owning()
    new = step(s, "gm_set", 0, 1, 9, caps[1], False)
    assert (new.gm_valid[0, 1], new.gm_vpage[0, 1], new.gm_page[0, 1],
            new.gm_write[0, 1]) == (True, 9, 1, False)
    assert changed(s, new) <= {"gm_valid", "gm_vpage", "gm_page", "gm_write"}
    again = step(new, "gm_set", 0, 1, 12, caps[0], True)
    assert (again.gm_valid[0, 1], again.gm_vpage[0, 1], again.gm_page[0, 1],
            again.gm_write[0, 1]) == (True, 12, 0, True)


def test_guaranteed_page_cannot_be_named_REV_5() -> None:
    """TLB-4/REV-5: a page bound by a guaranteed mapping cannot be named by a
    revocation request (GUARANTEED)."""
    s, caps = owning()
    s = step(s, "gm_set", 0, 0, 9, caps[1], True)
    rejected(s, "revoke_request", (0, int(Resource.PAGE), 1, s.now + 3), Status.GUARANTEED)
    step(s, "revoke_request", 0, int(Resource.PAGE), 0, s.now + 3)


# --------------------------------------------------------------------------- TLB-5 gm_clear


def test_gm_clear_out_of_range_TLB_5() -> None:
    """TLB-5: env or slot out of range is INVALID_ARGUMENT."""
    s, _ = owning()
    for args in [(-1, 0), (3, 0), (0, -1), (0, CFG.n_guaranteed), (0, 2**64)]:
        rejected(s, "gm_clear", args, Status.INVALID_ARGUMENT)


def test_gm_clear_dead_env_TLB_5() -> None:
    """TLB-5: a dead env is NO_SUCH_ENV."""
    s, _ = owning()
    rejected(s, "gm_clear", (2, 0), Status.NO_SUCH_ENV)


def test_gm_clear_success_TLB_5() -> None:
    """TLB-5: the mapping goes; a TLB entry made from it stays (still authorized); once
    that is deleted too, the vpage misses."""
    s, caps = running_world()
    s = step(s, "gm_set", 0, 0, 20, caps[0], True)
    s, res = ok(s, "load", 20, 0, 0)
    assert outcome(res) == Outcome.REFILL_GUARANTEED
    new = step(s, "gm_clear", 0, 0)
    assert new.gm_valid[0, 0] is False
    assert changed(s, new) == {"gm_valid"}
    assert in_tlb(new, 0, 20)
    _hit, res = ok(new, "load", 20, 0, 0)
    assert outcome(res) == Outcome.ACCESS
    gone = step(new, "tlbvadelete", 0, 20)
    miss, res = ok(gone, "load", 20, 0, 0)
    assert outcome(res) == Outcome.DELIVERED and miss.cause == ExcKind.TLB_MISS


def test_gm_clear_empty_slot_is_noop_TLB_5() -> None:
    """TLB-5: clearing an empty slot succeeds and changes nothing."""
    s, _ = owning()
    assert step(s, "gm_clear", 0, 1) == s


def test_guaranteed_mapping_follows_page_ownership_TLB_9() -> None:
    """TLB-9: when its env loses the page (dealloc) the guaranteed mapping is broken."""
    s, caps = owning()
    s = step(s, "gm_set", 0, 0, 9, caps[0], True)
    new = step(s, "dealloc", 0, caps[0])
    assert new.gm_valid[0, 0] is False
