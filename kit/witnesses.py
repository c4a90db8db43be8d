"""Concrete traces that reach the kit's behaviour cells, replayed at the start of every run.

``kit/witnesses.json`` (``exo.kit``) holds a few short programs (each: a configuration and its
calls) that together hit every reachable cell of ``exo.kit.coverage``. They are the concrete
trace the coverage table's "reachable" rests on, and ``exo check`` replays them first on
the implementation (``sweep``), so every run reaches every cell whatever its seed; the
random generation that follows adds variety. Generation does not depend on the
implementation (rules read only the model), so the same file serves every kernel.

The file is written by ``scripts/witnesses.py`` (long seeded runs of the kit on the model,
the shortest prefix that first hit each cell, then a greedy cover); ``tests/test_coverage.py``
replays it on the model and checks that it covers every reachable cell. Its last two
programs are written by hand and must be kept when it is regenerated: the trap layer's
cells (GEN-6), and a real tcpdump filter (``tcp port 80``) demultiplexing a packet it
accepts (NET-3: a compiled demultiplexer that follows only part of its trie drops it,
whatever the run's seed).

Values are stored as JSON with tags for what JSON lacks: ``{"cap": [page, gen, rights]}``,
``{"bytes": "hex"}``, ``{"tuple": [...]}``; ints, bools, strings, floats and null as
themselves.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import lru_cache
from importlib import resources
from typing import Any

from exo.interface import Cap, Config
from exo.kit.coverage import Coverage
from exo.kit.lockstep import TRAP, Failure, Lockstep, Step
from exo.kit.profiles import DEFAULT, admits
from exo.kit.transplant import transplant

FILE = "witnesses.json"


@dataclass(frozen=True)
class Witness:
    """One program of the sweep: its configuration, its calls and the cells it hits."""

    cfg: Config
    steps: tuple[Step, ...]
    cells: tuple[str, ...]


def encode(value: Any) -> Any:
    """A call argument as JSON (see the module doc)."""
    if type(value) is Cap:
        return {"cap": [encode(value.page), encode(value.gen), encode(value.rights)]}
    if isinstance(value, bytes):
        return {"bytes": bytes(value).hex()}
    if isinstance(value, tuple):
        return {"tuple": [encode(v) for v in value]}
    if isinstance(value, list):
        return {"list": [encode(v) for v in value]}
    if value is None or type(value) in (int, bool, str, float):
        return value
    raise ValueError(f"cannot store a {type(value).__name__} in the witness file")


def decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "cap" in value:
            return Cap(*(decode(v) for v in value["cap"]))
        if "bytes" in value:
            return bytes.fromhex(value["bytes"])
        if "tuple" in value:
            return tuple(decode(v) for v in value["tuple"])
        if "list" in value:
            return [decode(v) for v in value["list"]]
        raise ValueError(f"unknown tag in the witness file: {sorted(value)}")
    return value


def to_json(witnesses: list[Witness]) -> str:
    return json.dumps([{"config": {f.name: getattr(w.cfg, f.name) for f in fields(Config)},
                        "cells": list(w.cells),
                        "steps": [[n, [encode(a) for a in args]] for n, args in w.steps]}
                       for w in witnesses], indent=1) + "\n"


def from_json(text: str) -> tuple[Witness, ...]:
    return tuple(Witness(Config(**w["config"]),
                         tuple((n, tuple(decode(a) for a in args)) for n, args in w["steps"]),
                         tuple(w["cells"]))
                 for w in json.loads(text))


@lru_cache(maxsize=1)
def shipped() -> tuple[Witness, ...]:
    """The witnesses shipped with the package."""
    return from_json(resources.files("exo.kit").joinpath(FILE).read_text(encoding="utf-8"))


def sweep(factory: Callable[[Config], Any], coverage: Coverage,
          configs: list[Config] | None = None,
          witnesses: tuple[Witness, ...] | None = None,
          ops: frozenset[str] | None = None,
          fields: frozenset[str] | None = None,
          filters: str = DEFAULT,
          ) -> tuple[Witness, list[Step], Failure] | None:
    """Replay each witness in lockstep on ``factory``, recording coverage; the first
    failure as (witness, the calls up to it, the failure), or None.

    The sweep is cut to the run's scope: with ``ops`` (``exo check --ops``) each witness
    keeps only the calls of those operations (and ``fields`` are the observation fields
    compared); with ``filters`` (``exo.kit.profiles``) it keeps only the calls the profile
    makes; a witness of a configuration in ``configs`` runs on its own, and every witness
    also runs on each configuration of ``configs`` that no witness was made for
    (``exo check --config``: the same calls on the user's sizes, an argument chosen out
    of range kept out of range, ``exo.kit.transplant``)."""
    pool = witnesses if witnesses is not None else shipped()
    own = {w.cfg for w in pool}
    foreign = [c for c in configs if c not in own] if configs is not None else []
    for w in pool:
        steps = [s for s in w.steps if (ops is None or _in_ops(s, ops))
                 and (s[0] == TRAP or admits(filters, s[0], s[1]))]
        if not steps:
            continue
        targets = [w.cfg] if configs is None or w.cfg in configs else []
        for cfg in [*targets, *foreign]:
            calls = transplant(steps, w.cfg, cfg)
            found = _replayed(factory, coverage, cfg, calls, fields)
            if found is not None:
                done, failure = found
                return Witness(cfg, tuple(calls), w.cells), calls[:done], failure
    return None


def _replayed(factory: Callable[[Config], Any], coverage: Coverage, cfg: Config,
              steps: list[Step], fields: frozenset[str] | None
              ) -> tuple[int, Failure] | None:
    """One witness program on ``cfg``: (calls made, the failure), or None."""
    ls = Lockstep(factory, cfg, fields)
    ls.on_step = (lambda pre, name, args, res, post, call:
                  coverage.record(pre, name, args, res, post, call))
    failure = ls.conforms()
    done = 0
    traps = ls.offers("trap")
    for name, args in steps:
        if failure is not None:
            break
        done += 1
        if name == TRAP and not traps:  # a kernel without the trap layer (WIRE-7)
            continue
        before = ls.seen
        failure = ls.call(name, args) or ls.conforms(
            invariants=False, integrity=(before, name, args) if name == TRAP else None)
    failure = failure or ls.model_holds() or ls.views(range(cfg.n_envs))
    return None if failure is None else (done, failure)


def _in_ops(step: Step, ops: frozenset[str]) -> bool:
    """Is ``step`` a call of ``ops`` (``exo check --ops``)? A trap step (GEN-6) is when
    ``ops`` has the trap layer and the system call it names."""
    name, args = step
    if name == TRAP:
        return TRAP in ops and bool(args) and args[0] in ops
    return name in ops


@lru_cache(maxsize=8)
def reach(ops: frozenset[str] | None, configs: tuple[Config, ...] | None,
          filters: str = DEFAULT) -> frozenset[str]:
    """The cells the shipped witness programs, cut to ``ops`` and run on ``configs``
    (as ``sweep`` runs them), hit on the model itself. With every operation they reach
    every reachable cell; cut to some operations, what they still reach is the kit's
    measure of what those operations reach (a cell of an operation in ``ops`` that they
    miss needs another operation to be set up, as far as the witnesses know)."""
    from exo.model.kernel import ModelImplementation

    coverage = Coverage()
    found = sweep(ModelImplementation, coverage, list(configs) if configs else None,
                  ops=ops, filters=filters)
    assert found is None, f"the model disagrees with itself on a witness: {found}"
    return frozenset(coverage.counts)
