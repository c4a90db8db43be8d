"""Unit tests of processor time (exo.model.cpu): CPU-1 slice_alloc, CPU-2 slice_free,
CPU-3 yield_to, CPU-4 timer_tick (countdown, end of slice, excess time), CPU-5 the
round-robin vector, CPU-6 set_reg; REV-2 (releasing a slice satisfies a slice request);
with GEN-1/GEN-2."""

from __future__ import annotations

import dataclasses
import itertools

from exo.interface import FREE, Interrupt, Outcome, Resource, Status, Vector
from tests.builders import (
    CFG,
    SLICE,
    changed,
    entry,
    ok,
    ops_of,
    outcome,
    owning,
    register_all,
    rejected,
    repossess,
    run,
    running_bare,
    running_world,
    step,
    ticks,
    with_envs,
)

CPU_OPS = ["slice_alloc", "slice_free", "yield_to", "timer_tick", "set_reg"]

T = CFG.slice_ticks
L = CFG.excess_limit


def test_cpu_ops_registered_GEN_1() -> None:
    """GEN-1: the cpu module defines exactly CPU-1..CPU-4 and CPU-6."""
    assert sorted(ops_of("cpu")) == sorted(CPU_OPS)


# --------------------------------------------------------------------------- CPU-1 slice_alloc


def test_slice_alloc_out_of_range_CPU_1() -> None:
    """CPU-1: env or slice out of range is INVALID_ARGUMENT."""
    s = with_envs(2)
    for args in [(-1, 0), (3, 0), (2**64, 0), (0, -1), (0, CFG.n_slices), (0, 2**64)]:
        rejected(s, "slice_alloc", args, Status.INVALID_ARGUMENT)


def test_slice_alloc_dead_env_CPU_1() -> None:
    """CPU-1: a dead env is NO_SUCH_ENV."""
    rejected(with_envs(2), "slice_alloc", (2, 0), Status.NO_SUCH_ENV)


def test_slice_alloc_in_use_CPU_1() -> None:
    """CPU-1: a slice owned by anyone, the caller included, is IN_USE."""
    s = step(with_envs(2), "slice_alloc", 0, 1)
    rejected(s, "slice_alloc", (1, 1), Status.IN_USE)
    rejected(s, "slice_alloc", (0, 1), Status.IN_USE)


def test_slice_alloc_success_CPU_1() -> None:
    """CPU-1: the env owns the slice; nothing else changes."""
    s = with_envs(2)
    new = step(s, "slice_alloc", 1, 2)
    assert new.slice_owner[2] == 1
    assert changed(s, new) == {"slice_owner"}


def test_slice_alloc_clears_repossession_record_CPU_1() -> None:
    """CPU-1: taking a slice clears its repossession record for the env (INV-8)."""
    s = step(with_envs(2), "slice_alloc", 1, 2)
    s = repossess(s, 1, SLICE, 2)
    assert s.repo_slice[1, 2] is True and s.slice_owner[2] == FREE
    new = step(s, "slice_alloc", 1, 2)
    assert new.repo_slice[1, 2] is False and new.slice_owner[2] == 1


# --------------------------------------------------------------------------- CPU-2 slice_free


def test_slice_free_out_of_range_CPU_2() -> None:
    """CPU-2: env or slice out of range is INVALID_ARGUMENT."""
    s, _ = running_world()
    for args in [(-1, 1), (3, 1), (0, -1), (0, CFG.n_slices), (0, 2**64)]:
        rejected(s, "slice_free", args, Status.INVALID_ARGUMENT)


def test_slice_free_dead_env_CPU_2() -> None:
    """CPU-2: a dead env is NO_SUCH_ENV."""
    s, _ = running_world()
    rejected(s, "slice_free", (2, 1), Status.NO_SUCH_ENV)


def test_slice_free_not_owner_CPU_2() -> None:
    """CPU-2: a free slice or another env's is NOT_OWNER."""
    s, _ = running_world()
    rejected(s, "slice_free", (1, 1), Status.NOT_OWNER)
    rejected(s, "slice_free", (0, 2), Status.NOT_OWNER)


def test_slice_free_success_current_instance_runs_out_CPU_2() -> None:
    """CPU-2: the slice is free; if it is in progress the env keeps running to its end,
    and the next instance of it idles."""
    s, _ = running_bare()
    new = step(s, "slice_free", 0, 1)
    assert new.slice_owner[1] == FREE
    assert changed(s, new) == {"slice_owner"}
    assert new.cur_env == 0 and new.slice_left == s.slice_left
    after, outs = ticks(new, T)
    assert outs == [Outcome.TICK] * (T - 1) + [Outcome.NEXT_SLICE]
    assert after.cur_env == FREE
    # a whole round of the vector later, slice 1 starts again but nobody runs on it
    later, _ = ticks(after, (CFG.n_slices - 1) * T)
    assert later.cur_slice == 1 and later.cur_env == FREE


def test_slice_free_satisfies_slice_request_REV_2() -> None:
    """CPU-2/REV-2: releasing any slice satisfies a pending slice request."""
    s, _ = running_world()
    s = step(s, "slice_alloc", 0, 2)
    s = step(s, "revoke_request", 0, int(Resource.SLICE), 2, s.now + 1)
    new = step(s, "slice_free", 0, 1)
    assert new.rev_pending[0] is False and new.slice_owner[2] == 0
    later, _ = ticks(new, 2)
    rejected(later, "abort", (0,), Status.NO_REQUEST)


def test_slice_free_does_not_satisfy_page_request_REV_2() -> None:
    """CPU-2/REV-2: a slice release does not satisfy a page request."""
    s, _ = running_world()
    s = step(s, "revoke_request", 0, int(Resource.PAGE), 0, s.now + 1)
    new = step(s, "slice_free", 0, 1)
    assert new.rev_pending[0] is True and new.rev_kind[0] == Resource.PAGE


# --------------------------------------------------------------------------- CPU-3 yield_to


def test_yield_to_out_of_range_CPU_3() -> None:
    """CPU-3: a target that is neither FREE nor an env is INVALID_ARGUMENT, checked
    before NOT_RUNNING."""
    s, _ = running_world()
    for target in (-2, 3, 2**64, -(2**64)):
        rejected(s, "yield_to", (target,), Status.INVALID_ARGUMENT)
        rejected(owning()[0], "yield_to", (target,), Status.INVALID_ARGUMENT)


def test_yield_to_not_running_CPU_3() -> None:
    """CPU-3: with no environment running, yield is NOT_RUNNING (also to FREE)."""
    s, _ = owning()
    rejected(s, "yield_to", (0,), Status.NOT_RUNNING)
    rejected(s, "yield_to", (FREE,), Status.NOT_RUNNING)


def test_yield_to_dead_target_CPU_3() -> None:
    """CPU-3: a target that is not alive is NO_SUCH_ENV."""
    s, _ = running_world()
    rejected(s, "yield_to", (2,), Status.NO_SUCH_ENV)


def test_yield_to_target_without_entry_CPU_3() -> None:
    """CPU-3: a target with no start-of-slice entry is NO_ENTRY."""
    s, _ = running_bare()
    rejected(s, "yield_to", (1,), Status.NO_ENTRY)
    s = step(s, "set_interrupt_context", 1, int(Interrupt.SLICE_END), 55)
    rejected(s, "yield_to", (1,), Status.NO_ENTRY)


def test_yield_to_named_target_CPU_3() -> None:
    """CPU-3: the target gets the rest of the slice at its start-of-slice entry; the slice
    itself (owner, position, ticks left) do not change; the target starts with cleared
    registers (CPU-7)."""
    s, _ = running_world()
    s = step(s, "set_reg", 0, 8)
    s, _ = ticks(s, 1)
    new, res = ok(s, "yield_to", 1)
    assert outcome(res) == Outcome.NONE
    assert new.cur_env == 1 and new.hw_cid == new.env_cid[1]
    assert new.pc == entry(1, Vector.SLICE_START)
    assert new.slice_owner == s.slice_owner
    assert (new.cur_slice, new.slice_left) == (s.cur_slice, s.slice_left)
    assert s.regs[0] == 8 and all(new.regs[r] == 0 for r in range(s.cfg.n_regs))
    # the rest of the slice runs out under env 1, which gets env 1's end-of-slice entry
    end, outs = ticks(new, s.slice_left)
    assert outs[-1] == Outcome.SLICE_END and end.pc == entry(1, Vector.SLICE_END)
    assert end.cur_env == 1


def test_yield_to_self_restarts_CPU_3() -> None:
    """CPU-3: yielding to oneself lands on one's own start-of-slice entry again."""
    s, _ = running_world()
    s = step(s, "raise_exception", 2)  # move pc away from the start entry
    new = step(s, "yield_to", 0)
    assert new.cur_env == 0 and new.pc == entry(0, Vector.SLICE_START)


def test_yield_after_the_slice_ran_out_starts_the_next_slice_CPU_3() -> None:
    """CPU-3: once the slice has run out there is nothing left to donate: a yield to a named
    environment starts the next slice, so the target is never charged excess time it did
    not use."""
    s, _ = running_world()
    s, outs = ticks(s, s.slice_left + 1)  # run out the slice, then one excess tick
    assert outs[-2:] == [Outcome.SLICE_END, Outcome.EXCESS] and s.slice_left == 0
    new, res = ok(s, "yield_to", 1)
    assert outcome(res) == Outcome.NEXT_SLICE
    assert new.cur_slice == (s.cur_slice + 1) % s.cfg.n_slices
    assert new.excess[1] == 0


def test_yield_to_free_ends_slice_CPU_3() -> None:
    """CPU-3: yield to FREE ends the slice now and the next one begins (NEXT_SLICE)."""
    s, _ = running_world()
    new, res = ok(s, "yield_to", FREE)
    assert outcome(res) == Outcome.NEXT_SLICE
    assert new.cur_slice == 2 and new.slice_left == T
    assert new.cur_env == FREE and new.hw_cid == FREE
    # env 1 owning the next slice gets the CPU at once
    s2 = step(s, "slice_alloc", 1, 2)
    new2 = step(s2, "yield_to", FREE)
    assert new2.cur_env == 1 and new2.pc == entry(1, Vector.SLICE_START)


# --------------------------------------------------------------------------- CPU-4/5 timer_tick


def test_timer_tick_idle_CPU_4() -> None:
    """CPU-4/CPU-5: an idle CPU counts down and moves to the next slice when it runs out;
    the clock advances by one per tick."""
    s = with_envs(2)
    s, outs = ticks(s, 1 + T)
    assert outs == [Outcome.NEXT_SLICE] + [Outcome.TICK] * (T - 1) + [Outcome.NEXT_SLICE]
    assert s.now == 1 + T
    assert s.cur_slice == 2 and s.cur_env == FREE


def test_timer_tick_counts_down_CPU_4() -> None:
    """CPU-4: inside a slice a tick counts down (TICK) and changes only the clock and the
    ticks left."""
    s, _ = running_world()
    new, res = ok(s, "timer_tick")
    assert outcome(res) == Outcome.TICK
    assert new.slice_left == s.slice_left - 1 and new.now == s.now + 1
    assert changed(s, new) == {"slice_left", "now"}


def test_timer_tick_delivers_slice_end_CPU_4() -> None:
    """CPU-4: when the slice runs out the running env's end-of-slice entry is called."""
    s, _ = running_world()
    new, outs = ticks(s, T)
    assert outs == [Outcome.TICK] * (T - 1) + [Outcome.SLICE_END]
    assert new.pc == entry(0, Vector.SLICE_END)
    assert new.cur_env == 0 and new.slice_left == 0 and new.cur_slice == 1


def test_timer_tick_no_slice_end_entry_next_slice_CPU_4() -> None:
    """CPU-4: with no end-of-slice entry the next slice begins at once."""
    s, _ = running_bare()
    new, outs = ticks(s, T)
    assert outs[-1] == Outcome.NEXT_SLICE
    assert new.cur_slice == 2 and new.cur_env == FREE and new.slice_left == T


def test_timer_tick_excess_then_killed_CPU_4() -> None:
    """CPU-4: ticks past the end of the slice while the env has not yielded are charged
    as excess (EXCESS); past excess_limit the env is destroyed (KILLED) and the next
    slice begins."""
    s, _ = running_world()
    s, _ = ticks(s, T)
    for k in range(1, L + 1):
        s, res = ok(s, "timer_tick")
        assert outcome(res) == Outcome.EXCESS
        assert s.excess[0] == k and s.cur_env == 0
    new, res = ok(s, "timer_tick")
    assert outcome(res) == Outcome.KILLED
    assert new.env_alive[0] is False
    assert new.owner[0] == FREE and new.slice_owner[1] == FREE
    assert new.cur_slice == 2 and new.cur_env == FREE and new.slice_left == T
    assert new.now == s.now + 1


def test_timer_tick_excess_limit_zero_CPU_4() -> None:
    """CPU-4 (GEN-4: any sizes): with excess_limit 0 the first tick past the slice kills."""
    cfg = dataclasses.replace(CFG, excess_limit=0)
    s = run(with_envs(2, cfg), 0)
    s = step(s, "set_interrupt_context", 0, int(Interrupt.SLICE_END), 50)
    s, outs = ticks(s, cfg.slice_ticks + 1)
    assert outs[-2:] == [Outcome.SLICE_END, Outcome.KILLED]
    assert s.env_alive[0] is False


def test_excess_charged_against_next_slice_CPU_4() -> None:
    """CPU-4/CPU-5: excess time owed is taken off the env's next slice."""
    s, _ = running_world()
    s, _ = ticks(s, T + 1)
    assert s.excess[0] == 1
    s = step(s, "yield_to", FREE)
    assert s.excess[0] == 1  # not charged while others' slices run
    while s.cur_env != 0:
        s, _ = ticks(s, 1)
    assert s.cur_slice == 1
    assert s.slice_left == T - 1 and s.excess[0] == 0
    assert s.pc == entry(0, Vector.SLICE_START)


def test_slice_consumed_by_debt_is_skipped_CPU_5() -> None:
    """CPU-4/CPU-5: a slice whose whole length goes to paying excess time is skipped, not
    started with no time left (which would charge new excess at once)."""
    cfg = dataclasses.replace(CFG, slice_ticks=1, excess_limit=2)
    s = run(register_all(with_envs(2, cfg), 0), 0)
    s, outs = ticks(s, 3)  # end of slice, then two excess ticks: owes 2
    assert outs == [Outcome.SLICE_END, Outcome.EXCESS, Outcome.EXCESS] and s.excess[0] == 2
    s = step(s, "yield_to", FREE)
    for _ in range(cfg.n_slices):  # a full round: env 0's slice comes and is paid
        assert s.cur_env != 0
        s, _ = ticks(s, 1)
    assert s.excess[0] == 1 and s.env_alive[0]
    while s.cur_slice != 1 or s.cur_env != 0:  # the next round pays the rest and runs
        s, _ = ticks(s, 1)
        assert s.env_alive[0]
    assert s.excess[0] == 0


def test_round_robin_vector_CPU_5() -> None:
    """CPU-5: slices are served in vector order; an owner without a start entry, or a
    free slice, idles."""
    s = with_envs(3)
    for env, q in ((0, 1), (1, 2), (2, 0)):
        s = step(s, "slice_alloc", env, q)
    for env in (0, 1):
        s = step(s, "set_interrupt_context", env, int(Interrupt.SLICE_START),
                 entry(env, Vector.SLICE_START))
    seen: list[tuple[int, int]] = []
    for _ in range(2 * CFG.n_slices * T + 1):
        s, _ = ticks(s, 1)
        seen.append((s.cur_slice, s.cur_env))
    firsts = [seen[0]] + [b for a, b in itertools.pairwise(seen) if a[0] != b[0]]
    assert firsts[:6] == [(1, 0), (2, 1), (0, FREE), (1, 0), (2, 1), (0, FREE)]


# --------------------------------------------------------------------------- CPU-6 set_reg


def test_set_reg_out_of_range_CPU_6() -> None:
    """CPU-6: a register out of range is INVALID_ARGUMENT."""
    s, _ = running_world()
    for reg in (-1, CFG.n_regs, 2**64):
        rejected(s, "set_reg", (reg, 1), Status.INVALID_ARGUMENT)


def test_set_reg_not_running_CPU_6() -> None:
    """CPU-6: with no environment running, set_reg is NOT_RUNNING."""
    s, _ = owning()
    rejected(s, "set_reg", (0, 1), Status.NOT_RUNNING)


def test_set_reg_success_CPU_6() -> None:
    """CPU-6: the register takes any int value (huge and negative too); nothing else
    changes."""
    s, _ = running_world()
    for value in (0, 1, -1, 2**64, -(2**100)):
        new = step(s, "set_reg", 1, value)
        assert new.regs[1] == value and new.regs[0] == s.regs[0]
        assert changed(s, new) <= {"regs"}
