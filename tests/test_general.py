"""Unit tests of the conventions every operation shares (spec/general.md): GEN-1 (statuses;
ill-typed arguments give INVALID_ARGUMENT; nothing raises) and GEN-2 (on any status but OK
the state is unchanged and the value is the null value), for each of the operations in
``exo.interface.OPERATIONS``, starting from the successful call ``good_call`` gives."""

from __future__ import annotations

import pytest

from exo.interface import OPERATIONS, Status
from exo.spec.invariants import check
from tests.builders import check_extreme, check_ill_typed, do, good_call, op_id

ALL_OPS = list(OPERATIONS)


@pytest.mark.parametrize("name", ALL_OPS, ids=op_id)
def test_good_call_succeeds_GEN_1(name: str) -> None:
    """GEN-1: the well-typed call the GEN-1 checks start from really succeeds (OK) with
    every invariant holding, so the failures below are caused by the variant alone."""
    s, good = good_call(name)
    assert len(good) == len(OPERATIONS[name].args)
    new, res = do(s, name, *good)
    assert res.status == Status.OK, f"{name}{good!r} gave {res!r}"
    assert check(new) == {}


@pytest.mark.parametrize("name", ALL_OPS, ids=op_id)
def test_ill_typed_arguments_GEN_1(name: str) -> None:
    """GEN-1/GEN-2: a str, None, a float or a bool for an int, an int for a bool (such as
    ``writable``), a malformed capability, or a wrong number of arguments (any argument to
    timer_tick) gives INVALID_ARGUMENT, the null value and the unchanged state."""
    s, good = good_call(name)
    check_ill_typed(s, name, good)


@pytest.mark.parametrize("name", ALL_OPS, ids=op_id)
def test_extreme_ints_never_raise_GEN_1(name: str) -> None:
    """GEN-1/GEN-2: huge and negative ints (also inside capabilities) never raise; the
    status is a Status, a failure changes nothing and a success keeps every invariant."""
    s, good = good_call(name)
    check_extreme(s, name, good)
