"""Broken variants of CPU-1..CPU-7 that keep every invariant and the older postconditions
(failure, frame, effect, the step invariants and the theorems), so that only the double
entry (``post/OP/sound``) refutes them."""

from __future__ import annotations

from typing import Any

from exo.interface import FREE, Outcome, Result, Status, Vector
from exo.logic import And, If, Not
from exo.model import REGISTRY
from exo.model.cpu import next_slice, runnable, start
from exo.model.env import destroy_env
from exo.model.ops import live


def _alloc_clears_all_records(s: Any, env: Any, q: Any) -> Any:
    """CPU-1 clears the record that ``slice`` was repossessed from ``env`` only (REV-4: a
    record is cleared only when ``env`` gets the resource back); this one clears the
    slice's record for every environment."""
    post, res = REGISTRY["slice_alloc"](s, env, q)
    ok = res.status == int(Status.OK)
    repo = post.repo_slice.map(lambda x, y, old: And(old, Not(And(ok, y == q))))
    return post.replace(repo_slice=repo), res


def _free_clears_page_request(s: Any, env: Any, q: Any) -> Any:
    """CPU-2: "A pending page request stays"; this Slice free clears a request of any
    kind."""
    post, res = REGISTRY["slice_free"](s, env, q)
    ok = res.status == int(Status.OK)
    pending = post.rev_pending.map(lambda x, old: And(old, Not(And(ok, x == env))))
    return post.replace(rev_pending=pending), res


def _yield_drops_repossession(s: Any, target: Any) -> Any:
    """CPU-3/CPU-5/REV-4: a yield naming a target delivers its waiting repossession
    exception at its handler; this one drops it even when the handler exists and lands on
    the start-of-slice entry with a cleared ``epc`` and ``cause``."""
    post, res = REGISTRY["yield_to"](s, target)
    donated = And(res.status == int(Status.OK), res.value == int(Outcome.NONE))
    return post.replace(
        pc=If(donated, s.entry[target, int(Vector.SLICE_START)], post.pc),
        epc=If(donated, 0, post.epc),
        cause=If(donated, -1, post.cause),
    ), res


def _kill_at_the_limit(s: Any) -> Any:
    """CPU-4: the debt ``excess[cur_env] + 1`` is recorded while it is *at most*
    ``excess_limit``; this tick kills an environment whose debt reaches the limit (an
    off-by-one: ``>=`` for ``>``)."""
    post, res = REGISTRY["timer_tick"](s)
    e = s.cur_env
    at_limit = And(s.slice_left == 0, live(s, e), s.excess[e] + 1 == s.cfg.excess_limit)
    killed = next_slice(destroy_env(s.replace(now=s.now + 1), e))
    return (If(at_limit, killed, post),
            Result(res.status, If(at_limit, int(Outcome.KILLED), res.value)))


def _debt_slice_started(s: Any) -> Any:
    """CPU-5: "if the debt took the whole slice, the slice is skipped: ``slice_left = 0``,
    the CPU idles". This tick, when the environment that was running owns the next slice
    and its debt takes it all, starts it anyway with no time left (the environment keeps
    the CPU: no other environment is handed an empty slice, which THM-7 would see)."""
    post, res = REGISTRY["timer_tick"](s)
    o = post.slice_owner[post.cur_slice]
    consumed = And(res.value == int(Outcome.NEXT_SLICE), post.cur_env == FREE,
                   post.slice_left == 0, o == s.cur_env, runnable(post, o))
    return If(consumed, start(post, o), post), res


def _set_reg_clobbers(s: Any, reg: Any, value: Any) -> Any:
    """CPU-6: "`regs[reg] = value` ... Nothing else changes"; this one zeroes every other
    register."""
    post, res = REGISTRY["set_reg"](s, reg, value)
    ok = res.status == int(Status.OK)
    regs = post.regs.map(lambda r, old: If(And(ok, r != reg), 0, old))
    return post.replace(regs=regs), res


BROKEN: dict[str, list[tuple[str, Any]]] = {
    "slice_alloc": [("slice alloc clears every environment's record of the slice",
                     _alloc_clears_all_records)],
    "slice_free": [("slice free clears a pending page request too", _free_clears_page_request)],
    "yield_to": [("yield drops a waiting repossession exception despite a handler",
                  _yield_drops_repossession)],
    "timer_tick": [("excess limit off by one: killed when the debt reaches the limit",
                    _kill_at_the_limit),
                   ("a slice consumed by debt started anyway", _debt_slice_started)],
    "set_reg": [("set_reg zeroes the other registers", _set_reg_clobbers)],
}

