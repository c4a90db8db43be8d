"""THM-7: each environment pays for the time it used (spec/theorems.md, PCT-1, PCT-2).

The reported attack: after its own slice ran out, an honest environment `acall`s a passive
victim; the victim was charged the caller's overrun and destroyed for excess time three
ticks later, with no end-of-slice upcall. Now a transfer on excess time is refused with
NO_TIME (model and implementation alike, state unchanged) and the caller pays.
"""

from __future__ import annotations

import pytest

from exo.interface import Outcome, Status
from exo.kit.conformance import abstract, differences, same_result
from exo.model import REGISTRY
from tests.test_switch import ATTACKER, CFG, VICTIM, Both, world


def _refused(b: Both, name: str, *args: int) -> Status:
    """Apply to both; the call must fail identically and leave both states unchanged."""
    before_model, before_impl = b.s, b.k.observe()
    new, res = REGISTRY[name](b.s, *args)
    got = b.k.apply(name, *args)
    assert same_result(res, got), f"{name}{args}: model {res!r}, impl {got!r}"
    assert res.status != Status.OK
    assert new is before_model and b.k.observe() == before_impl
    return Status(res.status)


def _to_attacker(b: Both) -> None:
    """The victim gives its slice up when it ends (a well-behaved environment) until the
    attacker's slice starts."""
    for _ in range(20):
        if b.s.cur_env == ATTACKER:
            return
        if b.s.cur_env == VICTIM and b.s.slice_left <= 0:
            b.do("yield_to", -1)
        else:
            b.do("timer_tick")
    raise AssertionError("the attacker never ran")


def _attacker_out_of_time() -> Both:
    """The attacker runs its own slice to the end (its end-of-slice upcall delivered)."""
    b = world()
    _to_attacker(b)
    assert b.s.env_alive[VICTIM]
    outs = [b.do("timer_tick") for _ in range(CFG.slice_ticks)]
    assert outs[-1] == int(Outcome.SLICE_END) and b.s.cur_env == ATTACKER
    assert b.s.slice_left == 0
    return b


@pytest.mark.parametrize("transfer", ["acall", "scall"])
def test_transfer_after_the_slice_ran_out_is_refused_THM_7(transfer: str) -> None:
    b = _attacker_out_of_time()
    assert _refused(b, transfer, VICTIM) == Status.NO_TIME


def test_the_overrun_is_charged_to_the_env_that_ran_over_THM_7() -> None:
    b = _attacker_out_of_time()
    assert _refused(b, "acall", VICTIM) == Status.NO_TIME
    assert b.do("timer_tick") == int(Outcome.EXCESS)
    assert b.s.excess[ATTACKER] == 1 and b.s.excess[VICTIM] == 0
    assert differences(b.s, abstract(CFG, b.k.observe())) == []


def test_a_transfer_with_time_left_still_runs_the_callee_PCT_2() -> None:
    """The control case: inside the slice the transfer works as before."""
    b = world()
    _to_attacker(b)
    assert b.s.slice_left > 0
    b.do("acall", VICTIM)
    assert b.s.cur_env == VICTIM
