"""Unit tests of protected control transfer (exo.model.pct): PCT-1 scall (synchronous:
donates the slice), PCT-2 acall (asynchronous: donates nothing), PCT-3 (the kernel saves
and clears no registers, switches only the addressing context); with GEN-1/GEN-2."""

from __future__ import annotations

import pytest

from exo.interface import FREE, EntryKind, Resource, Status, Vector
from exo.model import State
from tests.builders import (
    CFG,
    SLICE,
    changed,
    entry,
    op_id,
    ops_of,
    owning,
    rejected,
    repossess,
    running_bare,
    running_world,
    step,
    ticks,
)

PCT_OPS = ["scall", "acall"]
VECTOR = {"scall": Vector.PCT_SYNC, "acall": Vector.PCT_ASYNC}
T = CFG.slice_ticks


def test_pct_ops_registered_GEN_1() -> None:
    """GEN-1: the pct module defines exactly PCT-1 and PCT-2."""
    assert sorted(ops_of("pct")) == sorted(PCT_OPS)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("name", PCT_OPS, ids=op_id)
def test_callee_out_of_range_PCT_1_2(name: str) -> None:
    """PCT-1/PCT-2: a callee out of range is INVALID_ARGUMENT (FREE included), checked
    before NOT_RUNNING."""
    s, _ = running_world()
    for callee in (FREE, -2, 3, 2**64):
        rejected(s, name, (callee,), Status.INVALID_ARGUMENT)
        rejected(owning()[0], name, (callee,), Status.INVALID_ARGUMENT)


@pytest.mark.parametrize("name", PCT_OPS, ids=op_id)
def test_not_running_PCT_1_2(name: str) -> None:
    """PCT-1/PCT-2: with no environment running the call is NOT_RUNNING."""
    s, _ = owning()
    rejected(s, name, (1,), Status.NOT_RUNNING)
    killed = step(running_world()[0], "env_destroy", 0)
    rejected(killed, name, (1,), Status.NOT_RUNNING)


@pytest.mark.parametrize("name", PCT_OPS, ids=op_id)
def test_dead_callee_PCT_1_2(name: str) -> None:
    """PCT-1/PCT-2: a callee that is not alive is NO_SUCH_ENV."""
    s, _ = running_world()
    rejected(s, name, (2,), Status.NO_SUCH_ENV)


@pytest.mark.parametrize("name", PCT_OPS, ids=op_id)
def test_callee_without_entry_PCT_1_2(name: str) -> None:
    """PCT-1/PCT-2: a callee with no entry point of that kind is NO_ENTRY, even if it has
    the other kind."""
    s, _ = running_bare()
    rejected(s, name, (1,), Status.NO_ENTRY)
    other = EntryKind.ASYNC if name == "scall" else EntryKind.SYNC
    s = step(s, "set_protected_entry", 1, int(other), 60)
    rejected(s, name, (1,), Status.NO_ENTRY)


def _slice_revoked() -> State:
    """Env 0 running on slice 1 with a pending request to give slice 1 back."""
    s, _ = running_world()
    return step(s, "revoke_request", 0, int(Resource.SLICE), 1, s.now + 5)


def test_scall_slice_under_revocation_busy_PCT_1() -> None:
    """PCT-1/REV-1: the caller cannot donate a slice it is asked to give back: BUSY."""
    rejected(_slice_revoked(), "scall", (1,), Status.BUSY)
    rejected(_slice_revoked(), "scall", (0,), Status.BUSY)


def test_acall_slice_under_revocation_ok_PCT_2() -> None:
    """PCT-2: acall donates nothing, so a pending slice request does not forbid it."""
    s = _slice_revoked()
    new = step(s, "acall", 1)
    assert new.cur_env == 1 and new.slice_owner[1] == 0 and new.rev_pending[0] is True


def test_scall_other_slice_under_revocation_ok_PCT_1() -> None:
    """PCT-1: a request for another slice of the caller does not forbid the call."""
    s, _ = running_world()
    s = step(s, "slice_alloc", 0, 2)
    s = step(s, "revoke_request", 0, int(Resource.SLICE), 2, s.now + 5)
    new = step(s, "scall", 1)
    assert new.slice_owner[1] == 1 and new.slice_owner[2] == 0


# --------------------------------------------------------------------------- success


@pytest.mark.parametrize("name", PCT_OPS, ids=op_id)
def test_transfer_lands_on_entry_PCT_1_2(name: str) -> None:
    """PCT-1/PCT-2: control lands on the callee's entry point of the call's kind, in the
    callee's addressing context; the slice position and ticks left stay."""
    s, _ = running_world()
    new = step(s, name, 1)
    assert new.cur_env == 1
    assert new.hw_cid == new.env_cid[1] == 1
    assert new.pc == entry(1, VECTOR[name])
    assert (new.cur_slice, new.slice_left, new.now) == (s.cur_slice, s.slice_left, s.now)


@pytest.mark.parametrize("name", PCT_OPS, ids=op_id)
def test_registers_unchanged_PCT_3(name: str) -> None:
    """PCT-3: the kernel neither saves nor clears registers (nor epc/cause): the callee
    sees exactly the caller's registers."""
    s, _ = running_world()
    s = step(s, "set_reg", 0, 7)
    s = step(s, "set_reg", 1, -(2**40))
    new = step(s, name, 1)
    assert new.regs == s.regs
    assert (new.epc, new.cause, new.badvpage) == (s.epc, s.cause, s.badvpage)
    expected = {"cur_env", "hw_cid", "pc"} | ({"slice_owner"} if name == "scall" else set())
    assert changed(s, new) == expected
    back = step(new, name, 0)
    assert back.regs == s.regs


def test_scall_donates_slice_PCT_1() -> None:
    """PCT-1: scall donates the current slice, this instance and every future one: the
    slice's owner becomes the callee, who runs in it next round."""
    s, _ = running_world()
    new = step(s, "scall", 1)
    assert new.slice_owner[1] == 1
    s2, _ = ticks(new, T)  # end of this instance: env 1's end-of-slice entry
    assert s2.pc == entry(1, Vector.SLICE_END)
    s2 = step(s2, "yield_to", FREE)
    while s2.cur_slice != 1:
        s2, _ = ticks(s2, 1)
    assert s2.cur_env == 1 and s2.pc == entry(1, Vector.SLICE_START)


def test_acall_does_not_donate_PCT_2() -> None:
    """PCT-2: acall gives only the rest of this instance: the owner stays, and the next
    instance goes back to the caller."""
    s, _ = running_world()
    new = step(s, "acall", 1)
    assert new.slice_owner == s.slice_owner
    s2, _ = ticks(new, T)
    s2 = step(s2, "yield_to", FREE)
    while s2.cur_slice != 1:
        s2, _ = ticks(s2, 1)
    assert s2.cur_env == 0 and s2.pc == entry(0, Vector.SLICE_START)


def test_scall_from_non_owner_keeps_owner_PCT_1() -> None:
    """PCT-1: a caller that does not own the current slice donates nothing (and a
    revocation of the owner's slice does not make the caller BUSY)."""
    s, _ = running_world()
    s = step(s, "revoke_request", 0, int(Resource.SLICE), 1, s.now + 5)
    s = step(s, "yield_to", 1)  # env 1 runs in env 0's slice 1
    new = step(s, "scall", 0)
    assert new.cur_env == 0 and new.pc == entry(0, Vector.PCT_SYNC)
    assert new.slice_owner[1] == 0


def test_scall_clears_callee_repossession_record_PCT_1() -> None:
    """PCT-1/INV-8: a slice donated to a callee it was once repossessed from is owned by
    the callee again, and that record is cleared."""
    s, _ = owning()
    s = step(s, "slice_alloc", 1, 1)
    s = repossess(s, 1, SLICE, 1)
    assert s.repo_slice[1, 1] is True and s.slice_owner[1] == FREE
    for env in (0, 1):
        s = step(s, "set_protected_entry", env, int(EntryKind.SYNC), entry(env, Vector.PCT_SYNC))
    s = step(s, "set_interrupt_context", 0, 0, entry(0, Vector.SLICE_START))
    s = step(s, "slice_alloc", 0, 1)
    while s.cur_env != 0:
        s, _ = ticks(s, 1)
    assert s.cur_slice == 1
    new = step(s, "scall", 1)
    assert new.slice_owner[1] == 1
    assert new.repo_slice[1, 1] is False


def test_scall_to_self_PCT_1() -> None:
    """PCT-1: a call to oneself lands on one's own entry and keeps the slice."""
    s, _ = running_world()
    new = step(s, "scall", 0)
    assert new.cur_env == 0 and new.pc == entry(0, Vector.PCT_SYNC)
    assert new.slice_owner == s.slice_owner
