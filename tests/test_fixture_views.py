"""Fixtures check what the caller sees after each trap step (GEN-7 in spec/fixtures.md):
a fixture built from the witness with trap steps passes on the model and on exo.impl,
fails on a kernel whose views show too much or too little (at the step, naming the
entry), and a ``view`` of the wrong shape is refused before anything runs."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from exo.impl import Kernel
from exo.interface import Cap, Config, Rights
from exo.kit.explore import two_running_envs
from exo.kit.witnesses import shipped
from exo.model.kernel import ModelImplementation
from exo.wire.fixtures import FixtureError, check, fixture, run_one
from tests.catalogue_views import ViewHidesOwnRights, ViewShowsEveryWord


def _trap_fixture() -> dict[str, Any]:
    w = next(w for w in shipped() if any(name == "trap" for name, _ in w.steps))
    return fixture("views", w.cfg, list(w.steps))


def test_trap_steps_carry_the_callers_view_and_conforming_kernels_pass() -> None:
    f = _trap_fixture()
    views = [st for st in f["steps"] if "view" in st]
    assert views and all(st.get("trap") for st in views)
    for factory in (ModelImplementation, Kernel):
        outcome = run_one(f, factory)
        assert outcome.passed, outcome.detail


def _leak_fixture() -> dict[str, Any]:
    """Environment 0 writes 9 into its page 2 and yields to environment 1, whose trap is
    then checked with its view (which must not hold the 9)."""
    rw = int(Rights.READWRITE)
    steps = [*((n, tuple(a)) for n, a in two_running_envs()),
             ("trap", ("alloc", 2)), ("set_reg", (0, 9)),
             ("trap", ("tlbwr", 1, Cap(2, 0, rw), True)), ("store", (1, 0, 0)),
             ("trap", ("yield_to", 1)), ("trap", ("alloc", 3))]
    return fixture("leak", Config(), steps)


@pytest.mark.parametrize(("broken", "make"), [(ViewHidesOwnRights, _trap_fixture),
                                              (ViewShowsEveryWord, _leak_fixture)])
def test_a_wrong_view_fails_at_its_step(broken: type, make: Any) -> None:
    f = make()
    assert run_one(f, Kernel).passed
    outcome = run_one(f, broken)
    assert not outcome.passed
    assert "view after it" in outcome.detail, outcome.detail


def test_a_view_of_the_wrong_shape_is_refused() -> None:
    f = _trap_fixture()
    i = next(i for i, st in enumerate(f["steps"]) if "view" in st)
    bad = copy.deepcopy(f)
    bad["steps"][i]["view"]["env"] = 99
    with pytest.raises(FixtureError, match=r"view\.env"):
        check(bad)
    bad = copy.deepcopy(f)
    bad["steps"][i]["view"] = {"env": 0}
    with pytest.raises(FixtureError, match="view"):
        check(bad)
