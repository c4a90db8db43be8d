"""Processor time: the time-slice vector, Yield, the timer, excess time (spec/cpu.md).

Paper, Aegis "Processor environments" (interrupt context: start and end of a time slice) and Aegis
CPU multiplexing (Aegis CPU
multiplexing: a linear vector of time slices served round robin; a slice's position in the
vector is its place in the schedule; time used past the end of a slice is excess time
charged against later slices).
"""

from __future__ import annotations

from exo.interface import (
    FREE,
    NO_ENTRY,
    Config,
    ExcKind,
    Outcome,
    Resource,
    Result,
    Status,
    Vector,
)
from exo.logic import And, BoolV, If, IntV, Min, Not, first_failure, in_range
from exo.model.env import destroy_env
from exo.model.ops import finish, live, transition
from exo.model.state import SCALARS, State


def runnable(s: State, e: IntV) -> BoolV:
    """CPU-5: ``e`` is live and has a start-of-slice entry point to receive the CPU at."""
    return And(live(s, e), s.entry[e, int(Vector.SLICE_START)] != NO_ENTRY)


def clear_processor(s: State) -> State:
    """CPU-7: the register file, ``epc``, ``cause`` and ``badvpage`` take their boot values
    (every register 0, ``epc`` 0, ``cause`` -1, ``badvpage`` 0), so an environment that
    starts sees nothing its predecessor left in them."""
    return s.replace(
        regs=s.regs.map(lambda r, old: 0),  # a register's boot value (state.layout)
        epc=SCALARS["epc"],
        cause=SCALARS["cause"],
        badvpage=SCALARS["badvpage"],
    )


def start(s: State, e: IntV) -> State:
    """CPU-5/CPU-7/REV-4: give the CPU to ``e``: its context id goes into the hardware
    register, the processor state another environment may have left (registers, ``epc``,
    ``cause``, ``badvpage``) is cleared (CPU-7), and control lands on its start-of-slice
    entry — or, if a repossession exception awaits delivery and ``e`` has a repossession
    handler, on that handler with ``epc`` set to the start-of-slice entry (where it
    resumes). A waiting repossession exception without a handler is dropped (the
    repossession vector still records the loss)."""
    repo_handler = s.entry[e, int(Vector.REPOSSESSION)]
    repossessed = And(s.repo_exc[e], repo_handler != NO_ENTRY)
    clean = clear_processor(s)
    return clean.replace(
        cur_env=e,
        hw_cid=s.env_cid[e],
        pc=If(repossessed, repo_handler, s.entry[e, int(Vector.SLICE_START)]),
        epc=If(repossessed, s.entry[e, int(Vector.SLICE_START)], clean.epc),
        cause=If(repossessed, int(ExcKind.REPOSSESSION), clean.cause),
        repo_exc=s.repo_exc.set(e, False),
    )


def next_slice(s: State) -> State:
    """CPU-5: the next slice of the vector (round robin) begins.

    Its owner, if runnable, gets the CPU for ``slice_ticks`` less the excess time it still
    owes (CPU-4); a slice the debt consumes entirely is skipped (paid, not run). Otherwise
    the CPU idles through the slice.
    """
    cfg = s.cfg
    q = If(s.cur_slice + 1 >= cfg.n_slices, 0, s.cur_slice + 1)
    o = s.slice_owner[q]
    owner_runnable = runnable(s, o)
    charge = If(owner_runnable, Min(s.excess[o], cfg.slice_ticks), 0)
    left = cfg.slice_ticks - charge
    runs = And(owner_runnable, left > 0)
    moved = s.replace(
        cur_slice=q,
        slice_left=left,
        excess=s.excess.set(o, s.excess[o] - charge),
    )
    idle = moved.replace(cur_env=FREE, hw_cid=FREE)
    result: State = If(runs, start(moved, o), idle)
    return result


@transition("slice_alloc")
def slice_alloc(s: State, env: IntV, slice: IntV) -> tuple[State, Result]:
    """CPU-1 (paper: Aegis CPU multiplexing): ``env`` takes the free time slice ``slice`` of the
    vector
    (its position is its place in the round-robin order); a repossession record of the
    slice for ``env`` is cleared."""
    status = first_failure(
        [
            (Not(in_range(env, s.cfg.n_envs)), Status.INVALID_ARGUMENT),
            (Not(in_range(slice, s.cfg.n_slices)), Status.INVALID_ARGUMENT),
            (Not(s.env_alive[env]), Status.NO_SUCH_ENV),
            (s.slice_owner[slice] != FREE, Status.IN_USE),
        ],
        Status.OK,
    )
    new = s.replace(
        slice_owner=s.slice_owner.set(slice, env),
        repo_slice=s.repo_slice.set((env, slice), False),
    )
    return finish(s, new, status)


@transition("slice_free")
def slice_free(s: State, env: IntV, slice: IntV) -> tuple[State, Result]:
    """CPU-2/REV-2: the owner gives ``slice`` back (the current instance, if running, runs out).
    It counts as the release a pending slice revocation of ``env`` asks for (REV-2)."""
    status = first_failure(
        [
            (Not(in_range(env, s.cfg.n_envs)), Status.INVALID_ARGUMENT),
            (Not(in_range(slice, s.cfg.n_slices)), Status.INVALID_ARGUMENT),
            (Not(s.env_alive[env]), Status.NO_SUCH_ENV),
            (s.slice_owner[slice] != env, Status.NOT_OWNER),
        ],
        Status.OK,
    )
    new = s.replace(
        slice_owner=s.slice_owner.set(slice, FREE),
        rev_pending=s.rev_pending.set(
            env, And(s.rev_pending[env], s.rev_kind[env] != Resource.SLICE)
        ),
    )
    return finish(s, new, status)


@transition("yield_to")
def yield_to(s: State, target: IntV) -> tuple[State, Result]:
    """CPU-3 (paper: Aegis Yield): the running environment gives the rest of its slice to
    ``target``, which starts at its start-of-slice entry; ``target`` = FREE (-1) ends the
    slice now and the next one of the vector begins — and so does a yield after the slice
    has run out (there is nothing left to donate, and the target must not be charged
    excess time it did not use)."""
    named = target != FREE
    status = first_failure(
        [
            (And(named, Not(in_range(target, s.cfg.n_envs))), Status.INVALID_ARGUMENT),
            (Not(live(s, s.cur_env)), Status.NOT_RUNNING),
            (And(named, Not(s.env_alive[target])), Status.NO_SUCH_ENV),
            (And(named, Not(runnable(s, target))), Status.NO_ENTRY),
        ],
        Status.OK,
    )
    donates = And(named, s.slice_left > 0)
    new = If(donates, start(s, target), next_slice(s))
    outcome = If(donates, int(Outcome.NONE), int(Outcome.NEXT_SLICE))
    return finish(s, new, status, outcome)


def overrun(cfg: Config, owed: IntV) -> BoolV:
    """CPU-4: owing ``owed`` ticks of excess time is past the limit that destroys the
    environment (INV-10 keeps what is owed within ``excess_limit``)."""
    return owed > cfg.excess_limit


@transition("timer_tick")
def timer_tick(s: State) -> tuple[State, Result]:
    """CPU-4 (hardware event): one tick of the timer.

    Inside a slice it counts down; when the slice runs out the running environment's
    end-of-slice entry is called (no entry: the next slice begins at once). A tick after
    the end of the slice, while the environment has not yielded, is excess time; past
    ``excess_limit`` the environment is destroyed and the next slice begins. An idle CPU
    moves to the next slice when its slice runs out.
    """
    cfg = s.cfg
    e = s.cur_env
    running = live(s, e)
    s1 = s.replace(now=s.now + 1)
    # inside the slice
    left = s1.slice_left - 1
    counted = s1.replace(slice_left=left)
    epilogue = s1.entry[e, int(Vector.SLICE_END)]
    ends = counted.replace(pc=epilogue)
    inside = If(
        left > 0,
        counted,
        If(And(running, epilogue != NO_ENTRY), ends, next_slice(counted)),
    )
    inside_outcome = If(
        left > 0,
        int(Outcome.TICK),
        If(And(running, epilogue != NO_ENTRY), int(Outcome.SLICE_END), int(Outcome.NEXT_SLICE)),
    )
    # past the end of the slice
    owed = s1.excess[e] + 1
    over = overrun(cfg, owed)
    charged = s1.replace(excess=s1.excess.set(e, owed))
    past = If(running, If(over, next_slice(destroy_env(s1, e)), charged), next_slice(s1))
    past_outcome = If(
        running, If(over, int(Outcome.KILLED), int(Outcome.EXCESS)), int(Outcome.NEXT_SLICE)
    )
    in_slice = s.slice_left > 0
    new = If(in_slice, inside, past)
    return finish(s, new, Status.OK, If(in_slice, inside_outcome, past_outcome))


@transition("set_reg")
def set_reg(s: State, reg: IntV, value: IntV) -> tuple[State, Result]:
    """CPU-6 (hardware event): the running code computes ``value`` into register ``reg``
    (the data a store writes; the kernel never saves or clears registers, PCT-3)."""
    status = first_failure(
        [
            (Not(in_range(reg, s.cfg.n_regs)), Status.INVALID_ARGUMENT),
            (Not(live(s, s.cur_env)), Status.NOT_RUNNING),
        ],
        Status.OK,
    )
    return finish(s, s.replace(regs=s.regs.set(reg, value)), status)
