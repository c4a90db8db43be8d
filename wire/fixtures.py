"""A conformance suite as files: fixtures generated from the model, run by any kernel
(``exo fixtures build DIR``, ``exo fixtures run DIR``; the format is spec/fixtures.md).

A fixture is one program: a configuration, its calls with the result the model gives for
each, and every meaningful entry of the model's state at the end, tagged with the clauses
and coverage cells its steps reach. The suite is the kit's witness programs (together
they reach every reachable cell of ``exo.kit.coverage``, hostile arguments, real tcpdump
filters and frames included), ``random`` seeded programs, and ``generated`` programs of
the kit's own generation run on the model (``exo.kit.programs``); the same seed writes
the same bytes. Values are encoded as the wire protocol encodes them (WIRE-6), so a runner in
another language reuses its protocol code.
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exo.interface import OPERATIONS, Cap, Config, Result, Status
from exo.kit.conformance import _meaningful, abstract, canonical, exact_kind
from exo.kit.coverage import Coverage, all_cells, cells_of
from exo.model import REGISTRY, State, initial
from exo.model.state import SCALARS, layout
from exo.wire.codec import (
    Foreign,
    WireError,
    config_json,
    decode,
    encode,
    encode_result,
)

FORMAT = "exo-fixture/2"
"""The format of a fixture file (spec/fixtures.md)."""

FORMATS = ("exo-fixture/1", FORMAT)
"""The formats ``load`` reads: 1 checks the state at the end only; 2 after every call."""

INDEX = "index.json"
"""The suite's index: every fixture's file, clauses and cells, and the counts."""


# --------------------------------------------------------------------------- build


def _expected_state(s: State) -> dict[str, Any]:
    """Every entry of ``s`` that carries meaning (``conformance.canonical``), encoded as a
    ``state`` reply's fields (WIRE-4): a runner compares these entries and only these."""
    c = canonical(s)
    out: dict[str, Any] = {}
    for name in layout(s.cfg):
        m = getattr(c, name)
        keep = _meaningful(s, name)
        rows = []
        for k, v in m.items():
            if keep is None or keep(k):
                rows.append([*(k if isinstance(k, tuple) else (k,)), encode(v)])
        out[name] = rows
    for name in SCALARS:
        out[name] = encode(getattr(c, name))
    return out


def fixture(name: str, cfg: Config, calls: Iterable[tuple[str, tuple[Any, ...]]]
            ) -> dict[str, Any]:
    """Run ``calls`` on the model from boot and write down what a kernel must answer and
    what it must show: the meaningful state at boot, and after every call the fields
    whose meaningful entries changed (``changed``: each such field's rows, whole)."""
    s = initial(cfg)
    steps: list[dict[str, Any]] = []
    cells: dict[str, None] = {}
    boot = _expected_state(s)
    shown = boot
    for op, args in calls:
        post, res = REGISTRY[op](s, *args)
        step: dict[str, Any] = {"op": op, "args": [encode(a) for a in args],
                                "expect": _expected_result(op, res)}
        now = _expected_state(post)
        step["changed"] = {k: v for k, v in now.items() if shown[k] != v}
        shown = now
        hit = cells_of(s, op, tuple(args), res, post)
        if hit:
            step["cells"] = hit
            cells.update(dict.fromkeys(hit))
        steps.append(step)
        s = post
    clause_of = {c.id: c.clause for c in all_cells()}
    clauses = sorted({clause_of[c] for c in cells if c in clause_of}
                     | {OPERATIONS[st["op"]].clause for st in steps})
    return {"format": FORMAT, "name": name, "config": config_json(cfg),
            "clauses": clauses, "cells": sorted(cells), "boot": boot, "steps": steps,
            "state": _expected_state(s)}


def _expected_result(op: str, res: Result) -> dict[str, Any]:
    wire = encode_result(op, res)
    out = {"status": wire["status"], "value": wire["value"]}
    if op == "filter_install" and res.status == Status.OVERLAP:
        out["any_witness"] = True  # NET-1: any packet both programs accept will do
    return out


def random_calls(rng: random.Random, cfg: Config, n: int,
                 only: frozenset[str] | None = None) -> list[tuple[str, tuple[Any, ...]]]:
    """``n`` calls of operations (of ``only``, if given) chosen at random with small
    arguments around the sizes of ``cfg`` (many fail; the witnesses reach the deep
    behaviours)."""
    ops = [op for op, sig in OPERATIONS.items()
           if not any(k in ("program", "packet") for _, k in sig.args)
           and (only is None or op in only)]
    calls = [("env_create", (0, 0)), ("env_create", (1, 1))]

    def small() -> int:
        picked: int = rng.choice([-1, 0, 0, 1, 1, 2, 3, cfg.n_pages - 1, cfg.n_pages])
        return picked

    for _ in range(n):
        op = rng.choice(ops)
        args: list[Any] = []
        for _, kind in OPERATIONS[op].args:
            if kind == "bool":
                args.append(rng.random() < 0.5)
            elif kind == "cap":
                args.append(Cap(small(), rng.choice([0, 0, 1]), rng.choice([1, 2, 2, 3])))
            else:
                args.append(small())
        calls.append((op, tuple(args)))
    return calls


GENERATED = 200
"""How many of the kit's generated programs a suite holds by default (``build``)."""


def build(directory: Path, seed: int = 0, extra: int = 20,
          on_progress: Callable[[int], None] | None = None,
          ops: frozenset[str] | None = None, generated: int = GENERATED,
          filters: str = "solver") -> dict[str, Any]:
    """Write the suite into ``directory``: one file per fixture and ``index.json``. The
    same ``seed``, ``extra`` and ``ops`` write the same witness and random fixtures, byte
    for byte, and the same ``generated`` programs (Hypothesis's, for ``seed``).
    The suite: the kit's witness programs, ``extra`` random
    programs, and ``generated`` programs of the kit's own generation (``exo check``'s
    swarm, targeting, scenarios and stale calls, run on the model with ``seed``: see
    ``exo.kit.programs``) spread over the kit's configurations as ``exo check`` spreads
    its examples. With ``ops`` (a kernel that implements only some operations) every
    program keeps only the calls of those operations, and the model's answers are those
    of the program so cut; generation makes only those calls. ``filters``: the filter
    profile (``exo.kit.profiles``): in "declarative" no program installs a verified
    filter FLT-9 does not recognize, for a kernel without a solver."""
    from exo.kit.configs import KIT_CONFIGS, spread
    from exo.kit.profiles import OUTSIDE, admits
    from exo.kit.programs import generate
    from exo.kit.witnesses import reach, shipped

    directory.mkdir(parents=True, exist_ok=True)
    made: list[dict[str, Any]] = []
    left_out = 0  # programs with no call of ``ops``
    for i, w in enumerate(shipped()):
        calls = [c for c in w.steps
                 if (ops is None or c[0] in ops) and admits(filters, c[0], c[1])]
        if calls:
            made.append(fixture(f"witness-{i:02d}", w.cfg, calls))
        else:
            left_out += 1
        if on_progress is not None:
            on_progress(1)
    rng = random.Random(f"exo-fixtures:{seed}")
    cfg = shipped()[0].cfg
    for i in range(extra):
        made.append(fixture(f"random-{seed}-{i:02d}", cfg,
                            random_calls(rng, cfg, 30, ops)))
        if on_progress is not None:
            on_progress(1)
    for k, (gcfg, share) in enumerate(zip(KIT_CONFIGS, spread(generated, len(KIT_CONFIGS)),
                                          strict=True)):
        if share == 0:
            continue
        programs = generate(gcfg, seed, share, ops=ops, on_program=on_progress,
                            filters=filters)
        left_out += sum(1 for p in programs if not p)
        for i, program in enumerate(p for p in programs if p):
            made.append(fixture(f"generated-{seed}-{k}-{i:03d}", gcfg, program))
    entries = []
    for f in made:
        path = directory / f"{f['name']}.json"
        path.write_text(dumps(f), encoding="utf-8")
        entries.append({"file": path.name, "clauses": f["clauses"], "cells": f["cells"],
                        "steps": len(f["steps"])})
    per_clause: dict[str, int] = {}
    for e in entries:
        for c in e["clauses"]:
            per_clause[c] = per_clause.get(c, 0) + 1
    cells = sorted({c for e in entries for c in e["cells"]})
    scope = Coverage(ops=ops, profile=filters, outside=OUTSIDE[filters])
    if ops is not None:  # as exo check --ops: what the witnesses cut to ``ops`` reach
        scope.beyond = frozenset(c.id for c in scope.in_scope()
                                 if c.id not in reach(ops, None, filters))
    unreached = [c.id for c in scope.in_scope() if c.id not in set(cells)]
    index = {"format": FORMAT, "seed": seed, "extra": extra, "generated": generated,
             "fixtures": entries,
             "ops": sorted(ops) if ops is not None else "all", "filters": filters,
             "outside_filters": sorted(scope.outside),
             "fixtures_per_clause": dict(sorted(per_clause.items())), "cells": cells,
             "unreached": unreached, "beyond_ops": sorted(scope.beyond),
             "left_out": left_out}
    (directory / INDEX).write_text(json.dumps(index, indent=1, sort_keys=True) + "\n",
                                   encoding="utf-8")
    return index


def dumps(f: dict[str, Any]) -> str:
    """A fixture as text a person can read and diff: one line per step and per state
    field, keys sorted (so the same fixture is always the same bytes)."""
    def one(v: Any) -> str:
        return json.dumps(v, sort_keys=True, separators=(",", ":"))

    lines = ["{"]
    keys = sorted(f)
    for i, key in enumerate(keys):
        end = "," if i < len(keys) - 1 else ""
        v = f[key]
        if key == "steps":
            body = ",\n".join(f"  {one(st)}" for st in v)
            lines.append(f' "steps": [\n{body}\n ]{end}')
        elif key in ("state", "boot"):
            body = ",\n".join(f"  {json.dumps(k)}: {one(v[k])}" for k in sorted(v))
            lines.append(f' {json.dumps(key)}: {{\n{body}\n }}{end}')
        else:
            lines.append(f" {json.dumps(key)}: {one(v)}{end}")
    lines.append("}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- run


@dataclass
class Outcome:
    """One fixture's verdict."""

    name: str
    passed: bool
    steps: int
    seconds: float
    detail: str = ""
    clauses: list[str] = dataclasses.field(default_factory=list)


class FixtureError(ValueError):
    """A fixture file that is not a fixture (the message names the file and the key)."""


def load(path: Path) -> dict[str, Any]:
    """Read one fixture file and check its shape."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise FixtureError(f"{path.name}: cannot read: {exc}") from None
    if type(data) is not dict or data.get("format") not in FORMATS:
        raise FixtureError(f"{path.name}: not an {FORMAT} fixture")
    if data["format"] == FORMAT and type(data.get("boot")) is not dict:
        raise FixtureError(f"{path.name}: 'boot' missing or not a dict")
    for key, kind in (("name", str), ("config", dict), ("steps", list), ("state", dict),
                      ("clauses", list)):
        if type(data.get(key)) is not kind:
            raise FixtureError(f"{path.name}: {key!r} missing or not a {kind.__name__}")
    return data


def _arg(v: Any) -> Any:
    try:
        return decode(v)
    except ValueError:
        return Foreign("json")


class _Raised(Exception):
    """An implementation call raised (GEN-1: errors are values); carries what it raised."""


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    """Call the implementation. Whatever it raises is its failure, reported as such; only
    the implementation's own calls are wrapped, so a bug in exo still surfaces. The wire
    client's ``WireError`` (crash, hang, malformed reply) is a failure of the same kind."""
    try:
        return fn(*args)
    except WireError as exc:
        raise _Raised(f"wire: {exc}") from exc
    except Exception as exc:  # the implementation broke GEN-1: errors are values
        raise _Raised(f"the implementation raised {type(exc).__name__}: {exc}") from exc


def run_one(data: dict[str, Any], factory: Callable[[Config], Any]) -> Outcome:
    """Run one fixture on an implementation: after boot and after every call, the result
    and the whole meaningful state (``exo-fixture/2``: ``boot`` and each step's
    ``changed``; an ``exo-fixture/1`` file has only the state at the end). A failure names
    the step, the call and the field. A step without ``op``, ``args`` or ``expect`` is a
    ``FixtureError``."""
    t0 = time.perf_counter()
    name = data["name"]
    try:
        cfg = Config(**data["config"])
    except TypeError as exc:
        return Outcome(name, False, 0, 0.0, f"bad config: {exc}")

    def failed(steps: int, detail: str) -> Outcome:
        return Outcome(name, False, steps, time.perf_counter() - t0, detail, data["clauses"])

    every = "boot" in data
    expected: dict[str, Any] = dict(data["boot"]) if every else {}
    try:
        impl = _call(factory, cfg)
        if every:
            problem = _state_problem(cfg, expected, _call(impl.observe))
            if problem:
                return failed(0, f"at boot: {problem}")
        for i, step in enumerate(data["steps"]):
            if type(step) is not dict or not {"op", "args", "expect"} <= step.keys() \
                    or step["op"] not in OPERATIONS or type(step["args"]) is not list \
                    or (every and type(step.get("changed")) is not dict):
                raise FixtureError(f"{name}: step {i} is not a step of {data['format']}")
            op, want = step["op"], step["expect"]
            call = f"step {i} {op}({', '.join(json.dumps(a) for a in step['args'])})"
            got = _call(impl.apply, op, *[_arg(a) for a in step["args"]])
            try:
                wire = encode_result(op, got) if type(got) is Result and exact_kind(
                    got.status) == "int" else None
            except ValueError:
                wire = None
            if wire is None or wire["status"] != want["status"] or (
                    not want.get("any_witness") and not _same_json(wire["value"],
                                                                   want["value"])):
                shown = f"{wire['status']} {json.dumps(wire['value'])}" if wire else repr(got)
                return failed(i + 1, f"{call}: expected {want['status']} "
                              f"{json.dumps(want['value'])}, got {shown}")
            if every:
                expected.update(step["changed"])
                problem = _state_problem(cfg, expected, _call(impl.observe))
                if problem:
                    return failed(i + 1, f"{call}: state after it: {problem}")
        observed = _call(impl.observe)
    except _Raised as exc:
        return failed(0, str(exc))
    problem = _state_problem(cfg, data["state"], observed)
    if problem:
        return failed(len(data["steps"]), f"state at the end: {problem}")
    return Outcome(name, True, len(data["steps"]), time.perf_counter() - t0, "",
                   data["clauses"])


def _same_json(a: Any, b: Any) -> bool:
    """Equal as JSON texts: ``false`` is not ``0`` (``False == 0`` in Python)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _state_problem(cfg: Config, expected: dict[str, Any], observed: dict[str, Any]
                   ) -> str:
    """The first expected entry the observation contradicts ('' if none)."""
    try:
        state = abstract(cfg, observed)
    except (KeyError, ValueError) as exc:
        return f"observe() is malformed: {exc}"
    for name, want in expected.items():
        have = getattr(state, name)
        if name in SCALARS:
            if not _same_json(encode(have), want):
                return f"{name}: expected {want}, observed {encode(have)}"
            continue
        for row in want:
            *key, value = row
            k = key[0] if len(key) == 1 else tuple(key)
            if not _same_json(encode(have[k]), value):
                return (f"{name}[{', '.join(map(str, key))}]: expected {json.dumps(value)}, "
                        f"observed {json.dumps(encode(have[k]))}")
    return ""


def run(directory: Path, factory: Callable[[Config], Any], keyword: str | None = None,
        on_progress: Callable[[int], None] | None = None) -> list[Outcome]:
    """Run every fixture of ``directory`` (whose name contains ``keyword``, if given)."""
    paths = sorted(p for p in directory.glob("*.json") if p.name != INDEX)
    if not paths:
        raise FixtureError(f"{directory}: no fixture files (build them with exo fixtures "
                           "build)")
    out = []
    for path in paths:
        data = load(path)
        if keyword and keyword not in data["name"]:
            continue
        out.append(run_one(data, factory))
        if on_progress is not None:
            on_progress(1)
    return out


def junit(outcomes: list[Outcome]) -> str:
    """The verdicts as JUnit XML (one test case per fixture)."""
    import xml.etree.ElementTree as ET

    suite = ET.Element("testsuite", name="exo.wire.fixtures", tests=str(len(outcomes)),
                       failures=str(sum(not o.passed for o in outcomes)))
    for o in outcomes:
        case = ET.SubElement(suite, "testcase", classname="exo.wire.fixtures", name=o.name,
                             time=f"{o.seconds:.3f}")
        if not o.passed:
            ET.SubElement(case, "failure", message=o.detail[:500]).text = o.detail
    return ET.tostring(suite, encoding="unicode")


__all__ = ["FORMAT", "GENERATED", "INDEX", "FixtureError", "Outcome", "build", "fixture", "junit",
           "load", "random_calls", "run", "run_one"]
