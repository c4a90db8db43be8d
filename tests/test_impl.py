"""The optimized implementation (``exo.impl``) against the model, step by step.

A quick lockstep check: random operations drawn like ``exo.kit.explore.random_walk`` (hostile
arguments included) go to the model and to ``Kernel`` side by side; after every step the
results must be equal (``same_result``) and the states equal in meaning
(``differences(model, abstract(kernel.observe())) == []``). The Hypothesis lockstep kit
(``exo.kit.machine``) is the thorough one; this one is fast and deterministic.
Also: ``impl/`` never imports the model except through ``impl/filtercheck.py``.
"""

from __future__ import annotations

import ast
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import z3

from exo.impl import Kernel
from exo.interface import NULL_CAP, NUM_EXCEPTIONS, OPERATIONS, Cap, Config, Result, Status
from exo.kit.conformance import abstract, differences, same_result
from exo.kit.explore import WEIGHTS, draw_args
from exo.model import REGISTRY, initial

SMALL = Config(n_envs=3, n_pages=4, page_words=2, tlb_size=2, stlb_size=4, n_cids=4,
               n_slices=3, n_guaranteed=2, n_regs=2, slice_ticks=2, excess_limit=1,
               addr_limit=1 << 16, n_filters=3, ring_size=2)
CONFIGS = {"default": Config(), "small": SMALL}
IMPL = Path(__file__).resolve().parent.parent / "impl"


def boot_script(cfg: Config) -> list[tuple[str, tuple[Any, ...]]]:
    """Two environments with every entry point registered, each owning a slice, so the
    walk reaches deep states (running code, PCT, repossession delivery) early."""
    ops: list[tuple[str, tuple[Any, ...]]] = []
    for e in range(2):
        ops.append(("env_create", (e, e)))
        for exc in range(NUM_EXCEPTIONS):
            ops.append(("set_exception_context", (e, exc, 0x1000 * (e + 1) + exc)))
        for which in range(2):
            ops.append(("set_interrupt_context", (e, which, 0x1100 * (e + 1) + which)))
            ops.append(("set_protected_entry", (e, which, 0x1200 * (e + 1) + which)))
        ops.append(("slice_alloc", (e, e + 1)))
    ops.append(("timer_tick", ()))
    return ops


def lockstep(cfg: Config, seed: int, steps: int,
             script: list[tuple[str, tuple[Any, ...]]] | None = None
             ) -> Counter[tuple[str, str]]:
    """Run ``steps`` random operations on model and kernel; fail at the first difference."""
    rng = random.Random(seed)
    names = list(REGISTRY)
    weights = [WEIGHTS.get(n, 1) for n in names]
    s = initial(cfg)
    kernel = Kernel(cfg)
    caps: list[Cap] = []
    trace: list[str] = []
    seen: Counter[tuple[str, str]] = Counter()
    if script is None:
        script = boot_script(cfg) if seed % 2 == 0 else []
    for step in range(steps):
        if step < len(script):
            name, boot_args = script[step]
            args = list(boot_args)
        else:
            name = rng.choices(names, weights)[0]
            args = draw_args(rng, name, s, caps)
        new, expected = REGISTRY[name](s, *args)
        got = kernel.apply(name, *args)
        trace = [*trace[-11:], f"{step}: {name}{tuple(args)!r} -> model {expected!r}, "
                               f"impl {got!r}"]
        history = "\n".join(trace)
        assert same_result(expected, got), f"results differ:\n{history}"
        diff = differences(new, abstract(cfg, kernel.observe()))
        assert diff == [], "states differ:\n" + "\n".join(diff) + f"\n{history}"
        seen[(name, Status(expected.status).name)] += 1
        if expected.status == Status.OK and isinstance(expected.value, Cap):
            caps.append(expected.value)
        s = new
    return seen


DEEP = [("abort", "OK"), ("tlbwr", "OK"), ("load", "OK"), ("store", "OK"),
        ("timer_tick", "OK"), ("filter_install", "OK"), ("filter_install", "OVERLAP"),
        ("packet_arrive", "OK"), ("dealloc", "OK"), ("acall", "OK"),
        ("revoke_request", "OK"), ("yield_to", "OK")]
"""Paths every booted walk reaches, so its agreement is not vacuous."""


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_lockstep_random_walk(config: str, seed: int) -> None:
    seen = lockstep(CONFIGS[config], seed, 1200)
    if seed % 2 == 0:
        missed = [f"{op} -> {status}" for op, status in DEEP if not seen[(op, status)]]
        assert missed == [], f"walk never reached {missed}"


def test_lockstep_directed_pct_and_repossession() -> None:
    """Scall donating the slice only when the caller owns it, Acall, yield after the slice
    ran out, a slice repossessed by abort and the repossession delivered at slice start
    (epc = the start-of-slice entry), excess time up to the kill."""
    tick = ("timer_tick", ())
    script = [*boot_script(SMALL),  # env 0 runs in slice 1; env 1 owns slice 2
              ("acall", (1,)), ("acall", (0,)),
              ("revoke_request", (0, 1, 1, 3)), ("scall", (1,)),  # BUSY: being revoked
              tick, tick, ("yield_to", (1,)),  # yield after the slice ran out
              tick, ("abort", (0,)),  # slice 1 taken; the exception waits
              ("slice_alloc", (0, 0)), tick, ("yield_to", (-1,)),  # env 0 starts slice 0
              ("scall", (1,)),  # donates slice 0 (env 0 owns it)
              tick, tick, tick, tick, ("yield_to", (0,)), tick, tick, tick, tick, tick]
    seen = lockstep(SMALL, 0, len(script), script)
    for op, status in [("scall", "OK"), ("scall", "BUSY"), ("acall", "OK"), ("abort", "OK"),
                       ("yield_to", "OK"), ("revoke_request", "OK")]:
        assert seen[(op, status)] > 0, (op, status, seen)


def test_bad_arguments_are_values() -> None:
    """GEN-1: unknown names, wrong arity, wrong kinds and Z3 terms never raise."""
    k = Kernel(SMALL)
    before = k.observe()
    assert k.apply("no_such_op") == Result(Status.INVALID_ARGUMENT, 0)
    assert k.apply("alloc", 0).status == Status.INVALID_ARGUMENT
    assert k.apply("alloc", 0, "page") == Result(Status.INVALID_ARGUMENT, NULL_CAP)
    assert k.apply("alloc", True, 0).status == Status.INVALID_ARGUMENT
    assert k.apply("env_create", z3.Int("e"), 0).status == Status.INVALID_ARGUMENT
    assert k.apply("packet_arrive", "not bytes").status == Status.INVALID_ARGUMENT
    for name, sig in OPERATIONS.items():
        if not sig.args:
            continue
        hostile = [2**64 if kind == "int" else None for _, kind in sig.args]
        assert k.apply(name, *hostile).status in set(Status)
    assert k.observe() == before


def test_impl_never_imports_the_model() -> None:
    """Layers: impl/ imports the shared interface only; the model's filter verifier and
    overlap check, and the FLT-8 demux check (exo.proofs, which imports the model), come
    in through impl/filtercheck.py alone."""
    offenders = []
    for path in sorted(IMPL.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mods = [node.module or ""]
                if node.module == "exo":
                    mods += [f"exo.{a.name}" for a in node.names]
            else:
                continue
            for m in mods:
                bad = m in ("model", "exo.model", "proofs", "exo.proofs") or m.startswith(
                    ("model.", "exo.model.", "proofs.", "exo.proofs."))
                if bad and path.name != "filtercheck.py":
                    offenders.append(f"{path.name}:{node.lineno} imports {m}")
    assert offenders == []
    text = (IMPL / "filtercheck.py").read_text()
    assert ("from exo.model.filters import Overlap, Undecided, overlap, solver_weight, "
            "verdict_term, verify") in text
    assert "from exo.proofs.demux import check_source" in text
