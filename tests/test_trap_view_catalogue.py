"""The trap layer (GEN-6) and the views (GEN-7) can fail their checks: each broken
layer of ``tests/catalogue_views.py`` diverges on its witness (results compared, views of
every environment compared after every step), the real kernel does not, and ``exo
check``'s default budget catches each one. Also: the trap and the views agree between
the model and ``exo.impl`` over seeded random programs, and over the wire."""

from __future__ import annotations

import random
from typing import Any

import pytest

from exo.impl import Kernel
from exo.interface import OPERATIONS, TRAPS, Cap, Config
from exo.kit import run_check
from exo.kit.coverage import Coverage
from exo.kit.lockstep import Lockstep, Step
from exo.kit.views import view_differences
from exo.kit.witnesses import sweep
from exo.model.kernel import ModelImplementation
from tests.catalogue_views import CATALOGUE

NAMES = sorted(CATALOGUE)


def replay(factory: Any, cfg: Config, steps: tuple[Step, ...]) -> str | None:
    """The steps in lockstep, the integrity of each observed change (NI-2) and every
    environment's view compared after each; the first failure as text, or None."""
    ls = Lockstep(factory, cfg)
    for n, (name, args) in enumerate(steps):
        ls.conforms(invariants=False)
        before = ls.seen
        failure = (ls.call(name, args) or ls.conforms(integrity=(before, name, args))
                   or ls.views(range(cfg.n_envs)))
        if failure is not None:
            return f"step {n} ({failure.kind}): {failure.message}"
    return None


@pytest.mark.parametrize("name", NAMES)
def test_witness_diverges_on_the_broken_layer_only(name: str) -> None:
    cls = CATALOGUE[name]
    assert cls.CLAUSE in (cls.__doc__ or ""), name
    assert replay(Kernel, Config(), cls.WITNESS) is None
    assert replay(ModelImplementation, Config(), cls.WITNESS) is None
    found = replay(cls, Config(), cls.WITNESS)
    assert found is not None, f"{name}: its witness shows nothing"
    assert found.startswith(f"step {len(cls.WITNESS) - 1} "), found
    if cls.CLAUSE == "NI-2":  # named for the authority it oversteps, not a plain difference
        assert "(integrity)" in found and "NI-2" in found, found


@pytest.mark.parametrize("name", NAMES)
def test_the_witness_sweep_alone_catches(name: str) -> None:
    """Every run of ``exo check`` starts with the witness sweep, so a layer the sweep
    catches is caught whatever the seed."""
    assert sweep(CATALOGUE[name], Coverage()) is not None, name


@pytest.mark.parametrize("name", NAMES)
def test_the_kit_catches(name: str) -> None:
    report = run_check(CATALOGUE[name], None, steps=50, examples=200, seed=1)
    assert not report.passed, f"{name} escaped the kit"


def test_a_view_difference_names_the_entry() -> None:
    m = ModelImplementation(Config())
    for name, args in CATALOGUE["ViewShowsEveryWord"].WITNESS:
        if name == "trap":
            m.trap(*args)
        else:
            m.apply(name, *args)
    got = m.observe_as(1)
    assert got is not None and view_differences(m.state, 1, got) == []
    leaky = {**got, "word": {(2, 0): 9}}
    assert view_differences(m.state, 1, leaky) == [
        "word[(2, 0)]: model nothing (boot value, or outside the view), implementation 9"]
    assert view_differences(m.state, 1, {"word": 3})[0].startswith(
        "observe_as(1) is malformed")


def _arg(rng: random.Random, kind: str, caps: list[Cap]) -> Any:
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "cap":
        return rng.choice(caps) if caps and rng.random() < 0.8 else Cap(rng.randrange(9), 0, 2)
    if kind == "program":
        return ((6, 0, 0, rng.randrange(2)),)
    if kind == "packet":
        return bytes([rng.randrange(3)])
    return rng.choice([-1, 0, 1, 2, 3, 4, 0x1000])


@pytest.mark.parametrize("seed", range(40))
def test_model_and_impl_agree_on_traps_and_views(seed: int) -> None:
    """Seeded random programs mixing traps, events and kernel operations: the same
    results, and every environment's view the same after every step (``Lockstep``)."""
    rng = random.Random(seed)
    cfg = Config()
    ls = Lockstep(Kernel, cfg)
    boot: list[Step] = []
    for e in range(3):
        boot += [("env_create", (e, e)), ("slice_alloc", (e, e)),
                 ("set_interrupt_context", (e, 0, 0x20)),
                 ("set_protected_entry", (e, 0, 0x30)), ("set_protected_entry", (e, 1, 0x40))]
    caps: list[Cap] = []
    steps: list[Step] = list(boot)
    for _ in range(60):
        r = rng.random()
        if r < 0.6:
            name = rng.choice(sorted(TRAPS))
            steps.append(("trap", (name, *(_arg(rng, k, caps) for _, k in TRAPS[name].args))))
        elif r < 0.8:
            steps.append(("timer_tick", ()))
        else:
            name = rng.choice(["load", "store", "set_reg", "raise_exception"])
            steps.append((name, tuple(_arg(rng, k, caps) for _, k in OPERATIONS[name].args)))
    for name, args in steps:
        failure = ls.call(name, args) or ls.conforms() or ls.views(range(cfg.n_envs))
        assert failure is None, failure.message
        res = ls.result
        if res is not None and type(res.value) is Cap and res.status == 0:
            caps.append(res.value)
