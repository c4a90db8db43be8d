"""The declarative text of CPU-1..CPU-7 (spec/cpu.md), with the start of an environment
(CPU-5, CPU-7, and REV-4 for a waiting repossession exception) and the start of the next
slice (CPU-5) as steps that Yield (CPU-3) and the timer tick (CPU-4) are built from."""

from __future__ import annotations

from typing import Any

from exo.interface import FREE, NO_ENTRY, ExcKind, Outcome, Resource, Status, Vector
from exo.logic import And, BoolV, If, IntV, Min, Not, Or, in_range
from exo.model.state import State
from exo.spec.declarative.env import destroyed
from exo.spec.declarative.text import (
    A,
    Case,
    Cite,
    Requirement,
    Text,
    View,
    always,
    branch,
    env_alive,
    env_in_range,
)
from exo.spec.declarative.vocabulary import (
    following_slice,
    has_entry,
    live,
    runnable,
)

# --------------------------------------------------------------------------- CPU-5/CPU-7

_BOOT_EPC = 0  # CPU-7: "`epc` becomes 0"
_BOOT_CAUSE = -1  # CPU-7: "`cause` becomes -1 (no exception)"


_PC = Cite("CPU-5", "If a repossession exception awaits `e` and `e` has a repossession "
                   "handler, `pc` becomes that handler (REV-4). Otherwise `pc` becomes "
                   "`e`'s start-of-slice entry.")
_CLEARED = Cite("CPU-5", "Either way the pending repossession exception of `e` is cleared.")


def started(v: Any, e: IntV, when: BoolV = True) -> View:
    """CPU-5 "Start" (with CPU-7 and REV-4), as a step: the state ``v`` with environment
    ``e`` given the CPU. With ``when`` false the step changes nothing (the start of a slice
    whose owner does not start, CPU-5)."""
    start_entry = v.entry[e, int(Vector.SLICE_START)]
    handler = v.entry[e, int(Vector.REPOSSESSION)]
    waiting = branch(_CLEARED, "repossession-waiting", v.repo_exc[e], within=when)
    registered = branch(_PC, "repossession-handler", handler != NO_ENTRY,
                        within=And(when, waiting))
    delivered = And(waiting, registered)
    view: View = v.given(
        Cite("CPU-5", "`cur_env = e` and `hw_cid = env_cid[e]`."),
        cur_env=If(when, e, v.cur_env),
        hw_cid=If(when, v.env_cid[e], v.hw_cid),
    ).given(
        _PC,
        pc=If(when, If(delivered, handler, start_entry), v.pc),
    ).given(
        Cite("CPU-7", "`epc` becomes 0 and `cause` becomes -1 (no exception), unless a "
                      "waiting repossession exception is delivered at this start: then "
                      "`epc` is the environment's own start-of-slice entry and `cause` is "
                      "`REPOSSESSION` (CPU-5, REV-4)."),
        epc=If(when, If(delivered, start_entry, _BOOT_EPC), v.epc),
        cause=If(when, If(delivered, int(ExcKind.REPOSSESSION), _BOOT_CAUSE), v.cause),
    ).given(
        _CLEARED,
        repo_exc=lambda x: And(v.repo_exc[x], Not(And(when, x == e))),
    ).given(
        Cite("CPU-7", "Every register becomes 0; `badvpage` becomes 0."),
        regs=lambda r: If(when, 0, v.regs[r]),
        badvpage=If(when, 0, v.badvpage),
    )
    return view


_NEXT = Cite("CPU-5", "The next slice is `cur_slice + 1`, wrapping to 0 after the last. It "
                     "becomes `cur_slice`, and its owner `o` (possibly `FREE`) is "
                     "considered.")
_CHARGED = Cite("CPU-5", "If `o` is runnable, it is charged `c = min(excess[o], slice_ticks)`: "
                         "`slice_left` becomes `slice_ticks - c` and `excess[o]` decreases "
                         "by `c`.")
_SKIPPED = Cite("CPU-5", "If time is left, `o` starts; if the debt took the whole slice, the "
                         "slice is skipped: `slice_left = 0`, the CPU idles, and the next "
                         "tick begins the next slice.")


def next_slice_begun(v: Any) -> View:
    """CPU-5 "Next slice", as a step: on the state ``v`` the next slice of the vector
    begins; its owner starts if it is runnable and its debt leaves time, and the CPU idles
    otherwise."""
    ticks = v.cfg.slice_ticks
    q = following_slice(v, v.cur_slice)
    branch(_NEXT, "wraps", v.cur_slice + 1 >= v.cfg.n_slices)
    o = v.slice_owner[q]
    ok = branch(_CHARGED, "owner-runnable", runnable(v, o))
    branch(_CHARGED, "owner-in-debt", v.excess[o] > 0, within=ok)
    c = Min(v.excess[o], ticks)
    turned = v.given(_NEXT, cur_slice=q)
    charged = turned.given(
        _CHARGED,
        slice_left=If(ok, ticks - c, turned.slice_left),
        excess=lambda x: If(And(ok, x == o), turned.excess[x] - c, turned.excess[x]),
    )
    runs = And(ok, Not(branch(_SKIPPED, "debt-takes-slice", charged.slice_left <= 0,
                              within=ok)))
    begun = started(charged, o, when=runs)
    unowned = begun.given(
        Cite("CPU-5", "If `o` is not runnable, `slice_left = slice_ticks`, `cur_env` and "
                      "`hw_cid` become `FREE`, and the CPU idles through the slice. Excess "
                      "owed by `o` is kept for later."),
        slice_left=If(ok, begun.slice_left, ticks),
        cur_env=If(ok, begun.cur_env, FREE),
        hw_cid=If(ok, begun.hw_cid, FREE),
    )
    skipped: View = unowned.given(
        _SKIPPED,
        cur_env=If(And(ok, Not(runs)), FREE, unowned.cur_env),
        hw_cid=If(And(ok, Not(runs)), FREE, unowned.hw_cid),
    )
    return skipped


# --------------------------------------------------------------------------- CPU-1, CPU-2


def _env_slice_requires(clause: str) -> tuple[Requirement, ...]:
    return (
        env_in_range(clause),
        Requirement("slice-in-range", Cite(clause, "`slice` in `[0, n_slices)`"),
                    lambda s, a: Not(in_range(a[1], s.cfg.n_slices)),
                    Status.INVALID_ARGUMENT),
        env_alive(clause),
    )


def _allocated(pre: State, a: A) -> View:
    env, q = a
    return View(pre).given(
        Cite("CPU-1", "`slice_owner[slice] = env`."),
        slice_owner=lambda x: If(x == q, env, pre.slice_owner[x]),
    ).given(
        Cite("CPU-1", "A record that this slice was repossessed from `env` is cleared."),
        repo_slice=lambda x, y: And(pre.repo_slice[x, y], Not(And(x == env, y == q))),
    )


SLICE_ALLOC = Text(
    "slice_alloc",
    (
        *_env_slice_requires("CPU-1"),
        Requirement("slice-free", Cite("CPU-1", "`slice` is free"),
                    lambda s, a: s.slice_owner[a[1]] != FREE, Status.IN_USE),
    ),
    (Case("allocated", Cite("CPU-1", "`OK` with the value 0."), always, _allocated,
          lambda s, a: 0),),
)


_SLICE_REQUEST = Cite("CPU-2", "If `env` has a pending revocation request of kind `SLICE`, "
                               "the request is satisfied and cleared, whichever slice it "
                               "named (REV-2: `rev_pending[env] = false`). A pending page "
                               "request stays.")


def _freed(pre: State, a: A) -> View:
    env, q = a
    branch(_SLICE_REQUEST, "slice-request-satisfied",
           And(pre.rev_pending[env], pre.rev_kind[env] == int(Resource.SLICE)))
    return View(pre).given(
        Cite("CPU-2", "`slice_owner[slice] = FREE`."),
        slice_owner=lambda x: If(x == q, FREE, pre.slice_owner[x]),
    ).given(
        _SLICE_REQUEST,
        rev_pending=lambda x: And(
            pre.rev_pending[x], Not(And(x == env, pre.rev_kind[x] == int(Resource.SLICE)))),
    )


SLICE_FREE = Text(
    "slice_free",
    (
        *_env_slice_requires("CPU-2"),
        Requirement("env-owns", Cite("CPU-2", "`env` owns `slice`"),
                    lambda s, a: s.slice_owner[a[1]] != a[0], Status.NOT_OWNER),
    ),
    (Case("freed", Cite("CPU-2", "`OK` with the value 0."), always, _freed, lambda s, a: 0),),
)

# --------------------------------------------------------------------------- CPU-3


def _named(a: A) -> BoolV:
    return a[0] != FREE


YIELD_TO = Text(
    "yield_to",
    (
        Requirement("target-in-range", Cite("CPU-3", "`target` is `FREE` (-1) or in "
                                                     "`[0, n_envs)`"),
                    lambda s, a: Not(Or(a[0] == FREE, in_range(a[0], s.cfg.n_envs))),
                    Status.INVALID_ARGUMENT),
        Requirement("running", Cite("CPU-3", "an environment is running (`cur_env` is live)"),
                    lambda s, a: Not(live(s, s.cur_env)), Status.NOT_RUNNING),
        Requirement("target-alive", Cite("CPU-3", "if `target` is not `FREE`: `target` is "
                                                  "alive"),
                    lambda s, a: And(_named(a), Not(s.env_alive[a[0]])), Status.NO_SUCH_ENV),
        Requirement("target-runnable", Cite("CPU-3", "if `target` is not `FREE`: `target` is "
                                                     "runnable (it has a start-of-slice "
                                                     "entry)"),
                    lambda s, a: And(_named(a), Not(runnable(s, a[0]))), Status.NO_ENTRY),
    ),
    (
        Case("ended", Cite("CPU-3", "`OK` with `Outcome.NEXT_SLICE` when the slice was "
                                    "ended."),
             lambda s, a: Or(Not(_named(a)), s.slice_left == 0),
             lambda s, a: next_slice_begun(View(s)),
             lambda s, a: int(Outcome.NEXT_SLICE)),
        Case("donated", Cite("CPU-3", "`OK` with `Outcome.NONE` for a named target."),
             always,
             lambda s, a: started(View(s), a[0]),
             lambda s, a: int(Outcome.NONE)),
    ),
)

# --------------------------------------------------------------------------- CPU-4


def _ticked(pre: State) -> View:
    return View(pre).given(Cite("CPU-4", "The clock `now` increases by one."), now=pre.now + 1)


def _counted(pre: State) -> View:
    v = _ticked(pre)
    return v.given(Cite("CPU-4", "Inside a slice (`slice_left > 0`): `slice_left` decreases "
                                 "by one."),
                   slice_left=v.slice_left - 1)


def _inside(s: State, a: A) -> BoolV:
    return s.slice_left > 0


def _running(s: State) -> BoolV:
    return live(s, s.cur_env)


def _debt(s: State) -> IntV:
    """CPU-4: the debt of the running environment with this tick charged."""
    return s.excess[s.cur_env] + 1


def _slice_end(s: State, a: A) -> View:
    v = _counted(s)
    return v.given(
        Cite("CPU-4", "If the slice has just run out and a live environment is running that "
                      "has an end-of-slice entry, `pc` becomes that entry. `epc`, `cause` and "
                      "the registers are not touched, and the environment keeps the CPU."),
        pc=v.entry[v.cur_env, int(Vector.SLICE_END)],
    )


def _charged(s: State, a: A) -> View:
    v = _ticked(s)
    e = v.cur_env
    return v.given(
        Cite("CPU-4", "If the debt `excess[cur_env] + 1` is at most `excess_limit`, the debt "
                      "is recorded and the environment keeps running."),
        excess=lambda x: If(x == e, v.excess[x] + 1, v.excess[x]),
    )


TIMER_TICK = Text(
    "timer_tick",
    (),
    (
        Case("tick", Cite("CPU-4", "If ticks remain, nothing else happens. Outcome `TICK`."),
             lambda s, a: And(_inside(s, a), s.slice_left - 1 > 0),
             lambda s, a: _counted(s),
             lambda s, a: int(Outcome.TICK)),
        Case("slice-end", Cite("CPU-4", "This is the end-of-slice interrupt. Outcome "
                                        "`SLICE_END`."),
             lambda s, a: And(_inside(s, a), _running(s),
                              has_entry(s, s.cur_env, Vector.SLICE_END)),
             _slice_end,
             lambda s, a: int(Outcome.SLICE_END)),
        Case("slice-out", Cite("CPU-4", "If the slice has just run out and no environment is "
                                        "running, or the running one has no end-of-slice "
                                        "entry, the next slice begins at once (CPU-5). "
                                        "Outcome `NEXT_SLICE`."),
             _inside,
             lambda s, a: next_slice_begun(_counted(s)),
             lambda s, a: int(Outcome.NEXT_SLICE)),
        Case("excess", Cite("CPU-4", "Past the end of a slice, a running environment's debt "
                                     "at most `excess_limit`: Outcome `EXCESS`."),
             lambda s, a: And(_running(s), _debt(s) <= s.cfg.excess_limit),
             _charged,
             lambda s, a: int(Outcome.EXCESS)),
        Case("killed", Cite("CPU-4", "If it is greater, the environment is destroyed (ENV-2) "
                                     "and the next slice begins. Outcome `KILLED`."),
             lambda s, a: _running(s),
             lambda s, a: next_slice_begun(destroyed(_ticked(s), s.cur_env)),
             lambda s, a: int(Outcome.KILLED)),
        Case("idle", Cite("CPU-4", "If the CPU is idle, the next slice begins. Outcome "
                                   "`NEXT_SLICE`."),
             always,
             lambda s, a: next_slice_begun(_ticked(s)),
             lambda s, a: int(Outcome.NEXT_SLICE)),
    ),
)

# --------------------------------------------------------------------------- CPU-6


def _register_set(pre: State, a: A) -> View:
    reg, value = a
    return View(pre).given(
        Cite("CPU-6", "`regs[reg] = value`, for any integer `value`. Nothing else changes."),
        regs=lambda r: If(r == reg, value, pre.regs[r]),
    )


SET_REG = Text(
    "set_reg",
    (
        Requirement("reg-in-range", Cite("CPU-6", "`reg` in `[0, n_regs)`"),
                    lambda s, a: Not(in_range(a[0], s.cfg.n_regs)), Status.INVALID_ARGUMENT),
        Requirement("running", Cite("CPU-6", "an environment is running"),
                    lambda s, a: Not(live(s, s.cur_env)), Status.NOT_RUNNING),
    ),
    (Case("set", Cite("CPU-6", "`OK` with the value 0."), always, _register_set,
          lambda s, a: 0),),
)

TEXTS: dict[str, Text] = {t.op: t for t in (SLICE_ALLOC, SLICE_FREE, YIELD_TO, TIMER_TICK,
                                              SET_REG)}
