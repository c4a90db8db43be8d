"""Processor time: the time-slice vector, Yield, the timer, excess time (spec/cpu.md)."""

from __future__ import annotations

from exo.impl.env import destroy_env
from exo.impl.ops import OK, fail, in_range
from exo.impl.state import KernelState
from exo.interface import FREE, NO_ENTRY, ExcKind, Outcome, Resource, Result, Status, Vector


def runnable(k: KernelState, e: int) -> bool:
    """CPU-5: ``e`` is live and has a start-of-slice entry point."""
    return k.live(e) and k.entry[e][Vector.SLICE_START] != NO_ENTRY


def clear_processor(k: KernelState) -> None:
    """CPU-7: registers, ``epc``, ``cause`` and ``badvpage`` back to their boot values."""
    regs = k.regs
    for r in range(len(regs)):
        regs[r] = 0
    k.epc = 0
    k.cause = -1
    k.badvpage = 0


def start(k: KernelState, e: int) -> None:
    """CPU-5/CPU-7/REV-4: give the CPU to ``e`` with a cleared processor state (CPU-7) at
    its start-of-slice entry — or at its repossession handler, with ``epc`` the
    start-of-slice entry, if a repossession exception awaits delivery and it has one
    (without one the waiting exception is dropped)."""
    vectors = k.entry[e]
    handler = vectors[Vector.REPOSSESSION]
    k.cur_env = e
    k.hw_cid = k.env_cid[e]
    clear_processor(k)
    if k.repo_exc[e] and handler != NO_ENTRY:
        k.pc = handler
        k.epc = vectors[Vector.SLICE_START]
        k.cause = int(ExcKind.REPOSSESSION)
    else:
        k.pc = vectors[Vector.SLICE_START]
    k.repo_exc[e] = False


def next_slice(k: KernelState) -> None:
    """CPU-5: the next slice of the vector (round robin, O(1)) begins: its runnable owner
    gets ``slice_ticks`` less the excess it owes (CPU-4); a slice the debt consumes
    entirely is paid, not run, and the CPU idles through it, as it does when the owner
    is not runnable."""
    c = k.cfg
    q = k.cur_slice + 1
    if q >= c.n_slices:
        q = 0
    o = k.slice_owner[q]
    ok = runnable(k, o)
    charge = min(k.excess[o], c.slice_ticks) if ok else 0
    left = c.slice_ticks - charge
    k.cur_slice = q
    k.slice_left = left
    if ok:
        k.excess[o] -= charge
    if ok and left > 0:
        start(k, o)
    else:
        k.cur_env = FREE
        k.hw_cid = FREE


def slice_alloc(k: KernelState, env: int, slice: int) -> Result:
    """CPU-1: ``env`` takes the free time slice ``slice``."""
    c = k.cfg
    if not in_range(env, c.n_envs) or not in_range(slice, c.n_slices):
        return fail(Status.INVALID_ARGUMENT)
    if not k.env_alive[env]:
        return fail(Status.NO_SUCH_ENV)
    if k.slice_owner[slice] != FREE:
        return fail(Status.IN_USE)
    k.slice_owner[slice] = env
    k.slices[env].add(slice)
    k.repo_slice[env].discard(slice)
    return OK


def slice_free(k: KernelState, env: int, slice: int) -> Result:
    """CPU-2/REV-2: the owner gives ``slice`` back; it counts as the release a pending
    slice revocation asks for."""
    c = k.cfg
    if not in_range(env, c.n_envs) or not in_range(slice, c.n_slices):
        return fail(Status.INVALID_ARGUMENT)
    if not k.env_alive[env]:
        return fail(Status.NO_SUCH_ENV)
    if k.slice_owner[slice] != env:
        return fail(Status.NOT_OWNER)
    k.slice_owner[slice] = FREE
    k.slices[env].discard(slice)
    if k.rev_kind[env] == Resource.SLICE:
        k.rev_pending[env] = False
    return OK


def yield_to(k: KernelState, target: int) -> Result:
    """CPU-3: the running environment gives the rest of its slice to ``target``; FREE
    ends the slice and the next one begins — as does a yield after the slice ran out."""
    named = target != FREE
    if named and not in_range(target, k.cfg.n_envs):
        return fail(Status.INVALID_ARGUMENT)
    if not k.live(k.cur_env):
        return fail(Status.NOT_RUNNING)
    if named and not k.env_alive[target]:
        return fail(Status.NO_SUCH_ENV)
    if named and not runnable(k, target):
        return fail(Status.NO_ENTRY)
    if named and k.slice_left > 0:
        start(k, target)
        return Result(Status.OK, int(Outcome.NONE))
    next_slice(k)
    return Result(Status.OK, int(Outcome.NEXT_SLICE))


def timer_tick(k: KernelState) -> Result:
    """CPU-4: one tick. Inside a slice it counts down (the end calls the end-of-slice
    entry, or begins the next slice); past the end, the running environment is charged
    excess time and destroyed beyond ``excess_limit``; an idle CPU moves on."""
    e = k.cur_env
    running = k.live(e)
    k.now += 1
    if k.slice_left > 0:
        k.slice_left -= 1
        if k.slice_left > 0:
            return Result(Status.OK, int(Outcome.TICK))
        epilogue = k.entry_of(e, Vector.SLICE_END)
        if running and epilogue != NO_ENTRY:
            k.pc = epilogue
            return Result(Status.OK, int(Outcome.SLICE_END))
        next_slice(k)
        return Result(Status.OK, int(Outcome.NEXT_SLICE))
    if running:
        owed = k.excess[e] + 1
        if owed > k.cfg.excess_limit:
            destroy_env(k, e)
            next_slice(k)
            return Result(Status.OK, int(Outcome.KILLED))
        k.excess[e] = owed
        return Result(Status.OK, int(Outcome.EXCESS))
    next_slice(k)
    return Result(Status.OK, int(Outcome.NEXT_SLICE))


def set_reg(k: KernelState, reg: int, value: int) -> Result:
    """CPU-6: the running code computes ``value`` into register ``reg``."""
    if not in_range(reg, k.cfg.n_regs):
        return fail(Status.INVALID_ARGUMENT)
    if not k.live(k.cur_env):
        return fail(Status.NOT_RUNNING)
    k.regs[reg] = value
    return OK
