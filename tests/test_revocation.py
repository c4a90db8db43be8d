"""Unit tests of visible revocation and the abort protocol (exo.model.revocation): REV-1
revoke_request, REV-2 release by the env, REV-3 abort, REV-4 the repossession vector and
exception, REV-5 guaranteed pages are never repossessed; with GEN-1/GEN-2."""

from __future__ import annotations

import pytest

from exo.interface import FREE, Cap, ExcKind, Outcome, Status, Vector
from tests.builders import (
    CFG,
    PAGE,
    RO,
    SLICE,
    changed,
    entry,
    ok,
    ops_of,
    overdue,
    owning,
    rejected,
    repossess,
    requested,
    run,
    running_world,
    step,
    ticks,
)

REV_OPS = ["revoke_request", "abort"]


def test_revocation_ops_registered_GEN_1() -> None:
    """GEN-1: the revocation module defines exactly REV-1 and REV-3."""
    assert sorted(ops_of("revocation")) == sorted(REV_OPS)


# --------------------------------------------------------------------------- REV-1 errors


def test_revoke_request_out_of_range_REV_1() -> None:
    """REV-1: env, resource kind, target (by kind) out of range, or a deadline not in the
    future is INVALID_ARGUMENT."""
    s, _ = running_world()
    s = step(s, "slice_alloc", 0, 2)
    d = s.now + 3
    for args in [(-1, PAGE, 0, d), (3, PAGE, 0, d), (0, -1, 0, d), (0, 3, 0, d),
                 (0, 2, CFG.n_filters, d),
                 (0, PAGE, -1, d), (0, PAGE, CFG.n_pages, d), (0, SLICE, -1, d),
                 (0, SLICE, CFG.n_slices, d), (0, PAGE, 0, s.now), (0, PAGE, 0, s.now - 1),
                 (0, PAGE, 0, -(2**64)), (2, SLICE, CFG.n_slices, d)]:
        rejected(s, "revoke_request", args, Status.INVALID_ARGUMENT)


def test_revoke_request_dead_env_REV_1() -> None:
    """REV-1: a dead env is NO_SUCH_ENV."""
    s, _ = owning()
    rejected(s, "revoke_request", (2, PAGE, 3, s.now + 3), Status.NO_SUCH_ENV)


def test_revoke_request_one_at_a_time_REV_1() -> None:
    """REV-1: one request per env at a time: a second one is BUSY (whatever it names);
    another env may still be asked."""
    s = requested()
    rejected(s, "revoke_request", (0, PAGE, 1, s.now + 3), Status.BUSY)
    rejected(s, "revoke_request", (0, SLICE, 2, s.now + 3), Status.BUSY)
    rejected(s, "revoke_request", (0, PAGE, 0, s.now + 3), Status.BUSY)
    step(s, "revoke_request", 1, PAGE, 2, s.now + 3)


def test_revoke_request_not_owner_REV_1() -> None:
    """REV-1: a page or slice the env does not own (free or another's) is NOT_OWNER."""
    s, _ = running_world()
    d = s.now + 3
    rejected(s, "revoke_request", (0, PAGE, 2, d), Status.NOT_OWNER)
    rejected(s, "revoke_request", (0, PAGE, 3, d), Status.NOT_OWNER)
    rejected(s, "revoke_request", (0, SLICE, 0, d), Status.NOT_OWNER)
    s = step(s, "slice_alloc", 1, 2)
    rejected(s, "revoke_request", (0, SLICE, 2, d), Status.NOT_OWNER)


def test_revoke_request_guaranteed_page_REV_5() -> None:
    """REV-1/REV-5: a page bound by a guaranteed mapping cannot be named: GUARANTEED."""
    s, caps = owning()
    s = step(s, "gm_set", 0, 1, 9, caps[1], False)
    rejected(s, "revoke_request", (0, PAGE, 1, s.now + 3), Status.GUARANTEED)
    # once the mapping is cleared the page can be asked for
    s = step(s, "gm_clear", 0, 1)
    step(s, "revoke_request", 0, PAGE, 1, s.now + 3)


def test_revoke_request_guaranteed_by_other_env_irrelevant_REV_5() -> None:
    """REV-5: only the env's own guaranteed mappings protect a page; a READ grant held
    by another env does not."""
    s, caps = owning()
    s, _ = ok(s, "grant", 0, caps[0], 1, RO)
    step(s, "revoke_request", 0, PAGE, 0, s.now + 3)


# --------------------------------------------------------------------------- REV-1 success


@pytest.mark.parametrize(("kind", "target"), [(PAGE, 1), (SLICE, 2)], ids=["page", "slice"])
def test_revoke_request_success_REV_1(kind: int, target: int) -> None:
    """REV-1: the request is recorded (visible in the env's state): pending, kind, target,
    deadline; the resource itself is not touched yet."""
    s, _ = running_world()
    s = step(s, "slice_alloc", 0, 2)
    new = step(s, "revoke_request", 0, kind, target, s.now + 7)
    assert new.rev_pending[0] is True
    assert new.rev_kind[0] == kind
    assert new.rev_target[0] == target
    assert new.rev_deadline[0] == s.now + 7
    assert changed(s, new) <= {"rev_pending", "rev_kind", "rev_target", "rev_deadline"}


def test_revoke_request_huge_deadline_REV_1() -> None:
    """REV-1: any deadline after now is accepted, however far."""
    s, _ = owning()
    new = step(s, "revoke_request", 0, PAGE, 0, 2**80)
    assert new.rev_deadline[0] == 2**80


# --------------------------------------------------------------------------- REV-3 errors


def test_abort_out_of_range_REV_3() -> None:
    """REV-3: an env out of range is INVALID_ARGUMENT."""
    s = overdue()
    for env in (-1, 3, 2**64):
        rejected(s, "abort", (env,), Status.INVALID_ARGUMENT)


def test_abort_dead_env_REV_3() -> None:
    """REV-3: a dead env is NO_SUCH_ENV."""
    rejected(overdue(), "abort", (2,), Status.NO_SUCH_ENV)


def test_abort_without_request_REV_3() -> None:
    """REV-3: abort with no pending request is NO_REQUEST."""
    s = overdue()
    rejected(s, "abort", (1,), Status.NO_REQUEST)
    rejected(running_world()[0], "abort", (0,), Status.NO_REQUEST)


def test_abort_before_deadline_too_early_REV_3() -> None:
    """REV-3: before the deadline, and at it, abort is TOO_EARLY."""
    s = requested()
    assert s.now < s.rev_deadline[0]
    rejected(s, "abort", (0,), Status.TOO_EARLY)
    at, _ = ticks(s, 1)
    assert at.now == at.rev_deadline[0]
    rejected(at, "abort", (0,), Status.TOO_EARLY)
    after, _ = ticks(at, 1)
    step(after, "abort", 0)


# --------------------------------------------------------------------------- REV-3/4 pages


def test_abort_page_frees_and_breaks_bindings_REV_3() -> None:
    """REV-3: after the deadline the page is freed as by dealloc: generation bumped, every
    holder's rights, TLB and STLB entries broken; the request is cleared and the loss
    recorded in the repossession vector (REV-4)."""
    s, caps = running_world()
    s = step(s, "tlbwr", 0, 5, caps[0], True)
    s, r = ok(s, "grant", 0, caps[0], 1, RO)
    s = step(s, "tlbwr", 1, 7, r.value, False)
    s = step(s, "tlbwr", 0, 6, caps[1], True)
    s = step(s, "revoke_request", 0, PAGE, 0, s.now + 1)
    s, _ = ticks(s, 2)
    new = step(s, "abort", 0)
    assert new.owner[0] == FREE
    assert new.gen[0] == s.gen[0] + 1
    assert all(new.rights[e, 0] == 0 for e in range(CFG.n_envs))
    assert not any(new.tlb_valid[i] and new.tlb_page[i] == 0 for i in range(CFG.tlb_size))
    assert not any(new.stlb_valid[j] and new.stlb_page[j] == 0 for j in range(CFG.stlb_size))
    assert any(new.stlb_valid[j] and new.stlb_page[j] == 1 for j in range(CFG.stlb_size))
    assert new.rev_pending[0] is False
    assert new.repo_page[0, 0] is True
    assert all(new.repo_page[0, p] is False for p in (1, 2, 3))
    assert new.owner[1] == 0 and new.env_alive[0]
    rejected(new, "tlbwr", (1, 7, r.value, False), Status.BAD_CAPABILITY)
    rejected(new, "abort", (0,), Status.NO_REQUEST)


def test_abort_page_running_with_handler_delivers_now_REV_4() -> None:
    """REV-4: a running env with a repossession handler gets the exception at once:
    epc = pc, cause REPOSSESSION, control at the handler."""
    s = overdue()
    new, res = ok(s, "abort", 0)
    assert res.value == 0
    assert new.pc == entry(0, Vector.REPOSSESSION)
    assert new.epc == s.pc
    assert new.cause == ExcKind.REPOSSESSION
    assert new.repo_exc[0] is False
    assert new.cur_env == 0


def test_abort_page_running_without_handler_defers_REV_4() -> None:
    """REV-4: a running env without a repossession handler is not killed: the exception
    awaits delivery (repo_exc) and control does not move."""
    s = overdue(bare=True)
    new = step(s, "abort", 0)
    assert new.env_alive[0] is True and new.cur_env == 0
    assert new.pc == s.pc and new.cause == s.cause
    assert new.repo_exc[0] is True
    assert new.repo_page[0, 0] is True


def test_abort_page_not_running_delivered_at_next_start_REV_4() -> None:
    """REV-4: an env that is not running gets the repossession exception when it next
    gets the CPU (here by yield), at its repossession handler."""
    s, _ = running_world()
    s = repossess(s, 1, PAGE, 2)
    assert s.repo_exc[1] is True and s.repo_page[1, 2] is True and s.owner[2] == FREE
    assert s.cur_env == 0 and s.pc == entry(0, Vector.SLICE_START)
    new = step(s, "yield_to", 1)
    assert new.cur_env == 1
    assert new.pc == entry(1, Vector.REPOSSESSION)
    assert new.cause == ExcKind.REPOSSESSION
    assert new.epc == entry(1, Vector.SLICE_START), "resumes at its own prologue, no leak"
    assert new.repo_exc[1] is False


def test_repossession_delivered_by_timer_start_REV_4() -> None:
    """REV-4/CPU-5: the pending repossession exception is delivered when the timer
    starts the env's next slice; later starts land on the start entry again."""
    s, _ = owning()
    s = step(s, "set_exception_context", 1, int(ExcKind.REPOSSESSION),
             entry(1, Vector.REPOSSESSION))
    s = repossess(s, 1, PAGE, 2)
    s = run(s, 1)
    assert s.pc == entry(1, Vector.REPOSSESSION)
    assert s.cause == ExcKind.REPOSSESSION and s.repo_exc[1] is False
    again = step(s, "yield_to", 1)
    assert again.pc == entry(1, Vector.SLICE_START)


def test_repossessed_page_can_be_allocated_again_REV_4() -> None:
    """REV-4/MEM-1: the repossessed page is free; anyone may take it (a new generation),
    and the env's own re-alloc clears its record."""
    s = step(overdue(), "abort", 0)
    other, res = ok(s, "alloc", 1, 0)
    assert res.value == Cap(0, s.gen[0], int(res.value.rights))
    assert other.repo_page[0, 0] is True
    mine = step(s, "alloc", 0, 0)
    assert mine.repo_page[0, 0] is False


# --------------------------------------------------------------------------- REV-3/4 slices


def test_abort_slice_in_progress_idles_cpu_REV_3() -> None:
    """REV-3: a slice in progress for the env loses its owner and the CPU idles for the
    rest of it; the loss is recorded and the exception awaits the env's next slice."""
    s = overdue(SLICE, 1)
    assert s.cur_slice == 1
    new = step(s, "abort", 0)
    assert new.slice_owner[1] == FREE
    assert new.repo_slice[0, 1] is True
    assert new.cur_env == FREE and new.hw_cid == FREE
    assert new.repo_exc[0] is True
    assert new.rev_pending[0] is False and new.env_alive[0]
    # the rest of slice 1 idles; env 0's slice 2 starts at its repossession handler
    later, outs = ticks(new, new.slice_left)
    assert outs[-1] == Outcome.NEXT_SLICE
    assert later.cur_slice == 2 and later.cur_env == 0
    assert later.pc == entry(0, Vector.REPOSSESSION)
    assert later.cause == ExcKind.REPOSSESSION and later.repo_exc[0] is False


def test_abort_other_slice_while_running_REV_3() -> None:
    """REV-3/REV-4: taking a slice not in progress leaves the CPU with the env, and the
    repossession exception is delivered at once."""
    s = overdue(SLICE, 2)
    new = step(s, "abort", 0)
    assert new.slice_owner[2] == FREE and new.slice_owner[1] == 0
    assert new.repo_slice[0, 2] is True
    assert new.cur_env == 0
    assert new.pc == entry(0, Vector.REPOSSESSION)
    assert new.cause == ExcKind.REPOSSESSION and new.epc == s.pc


# --------------------------------------------------------------------------- REV-2 release


def test_release_any_page_satisfies_request_REV_2() -> None:
    """REV-2: the env may satisfy a page request by releasing any page: the target is
    then kept, and abort finds no request."""
    s, caps = running_world()
    s = step(s, "revoke_request", 0, PAGE, 0, s.now + 1)
    s = step(s, "dealloc", 0, caps[1])
    assert s.rev_pending[0] is False
    s, _ = ticks(s, 2)
    rejected(s, "abort", (0,), Status.NO_REQUEST)
    assert s.owner[0] == 0
    step(s, "revoke_request", 0, PAGE, 0, s.now + 1)  # a new request may be made


def test_release_any_slice_satisfies_request_REV_2() -> None:
    """REV-2: releasing any slice satisfies a slice request."""
    s = requested(SLICE, 2)
    new = step(s, "slice_free", 0, 1)
    assert new.rev_pending[0] is False and new.slice_owner[2] == 0


def test_guaranteed_page_never_repossessed_REV_5() -> None:
    """REV-5: a page under revocation cannot become guaranteed (BUSY), so the abort
    protocol never takes a guaranteed page; the guaranteed page survives an abort of
    another page."""
    s, caps = running_world()
    s = step(s, "gm_set", 0, 0, 9, caps[1], True)
    s = step(s, "revoke_request", 0, PAGE, 0, s.now + 1)
    rejected(s, "gm_set", (0, 1, 10, caps[0], True), Status.BUSY)
    s, _ = ticks(s, 2)
    new = step(s, "abort", 0)
    assert new.owner[1] == 0 and new.gm_valid[0, 0] is True
    assert new.owner[0] == FREE


def test_destroy_clears_request_REV_1() -> None:
    """REV-1/ENV-2: destroying the env drops its request; abort then finds no env."""
    s = step(requested(), "env_destroy", 0)
    assert s.rev_pending[0] is False
    rejected(s, "abort", (0,), Status.NO_SUCH_ENV)
