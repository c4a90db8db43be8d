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
import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exo.interface import FREE, OPERATIONS, OUTCOME_OPS, Cap, Config, Result, Status
from exo.interface import Outcome as Event
from exo.kit.conformance import _meaningful, abstract, canonical, exact_kind, malformed, offers
from exo.kit.coverage import Coverage, all_cells, cells_of
from exo.limits import (
    MAX_LIMIT,
    MAX_SIZE,
    described,
    number_text,
    one_line,
    read_json,
    short,
    shown_path,
)
from exo.model import REGISTRY, State, initial
from exo.model.state import SCALARS, layout
from exo.model.trap import trap
from exo.model.view import view
from exo.wire.codec import (
    INT64_MAX,
    INT64_MIN,
    WireError,
    config_json,
    decode,
    decode_int,
    encode,
    encode_result,
    encode_state,
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
        through = op == "trap"  # GEN-6: args[0] names the system call
        if through:
            post, res = trap(s, *args)
            op, args = args[0], tuple(args[1:])
        else:
            post, res = REGISTRY[op](s, *args)
        step: dict[str, Any] = {"op": op, "args": [encode(a) for a in args],
                                "expect": _expected_result(op, res)}
        if through:
            step["trap"] = True
            if s.cur_env != FREE:  # GEN-7: what the caller sees after its call
                step["view"] = {"env": s.cur_env,
                                "fields": encode_state(view(s.cur_env, post))}
        now = _expected_state(post)
        step["changed"] = {k: v for k, v in now.items() if shown[k] != v}
        shown = now
        hit = (cells_of(s, "trap", (op, *args), res, post) if through
               else cells_of(s, op, tuple(args), res, post))
        if hit:
            step["cells"] = hit
            cells.update(dict.fromkeys(hit))
        steps.append(step)
        s = post
    clause_of = {c.id: c.clause for c in all_cells()}
    clauses = sorted({clause_of[c] for c in cells if c in clause_of}
                     | {OPERATIONS[st["op"]].clause for st in steps}
                     | ({"GEN-6"} if any(st.get("trap") for st in steps) else set()))
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
                 if (ops is None or (c[0] in ops if c[0] != "trap"
                                     else "trap" in ops and c[1][0] in ops))
                 and (c[0] == "trap" or admits(filters, c[0], c[1]))]
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
    """A fixture file that is not a fixture: one line naming the file and the JSON path of
    the bad value (``bad.json: steps[3].args[0]: expected ...``)."""


# --------------------------------------------------------------------------- reading


MAX_FIXTURE_BYTES = 4 << 20
"""The largest fixture file read (4 MiB). The largest ``exo fixtures build`` writes with
the defaults is about 350 KB (a generated program of ~1,200 calls). Measured on the JSON
that costs the most memory to parse (4 MiB of ``[0],``): the whole ``exo fixtures run``
process peaks at 180 MB, against 70 MB for a small fixture."""

MAX_STATE_ENTRIES = 1 << 15
"""Most entries the state of a fixture's configuration may have (32,768: the map entries
of ``exo.model.state.layout``); the kit's configurations have 49 to 354. An
implementation holds the whole state, and every check observes it."""

MAX_FIXTURE_WORK = 1 << 23
"""Most state entries one fixture observes, ``(steps + 1) x`` its state's entries
(8,388,608; the largest fixture ``exo fixtures build`` writes: about 440,000). Measured
in-process on ``exo.impl.Kernel``: 2,000 steps on the default configuration (708,000
entries) run in about 10 s on a busy machine, so a fixture at the bound in about two
minutes."""

MAX_NAME = 200
"""The longest fixture name (it heads a row of the table and names the fixture in
messages)."""

_TOP = ("format", "name", "config", "clauses", "cells", "boot", "steps", "state")
_STEP = ("op", "args", "expect", "changed", "cells", "trap", "view")
_LEAST = {"excess_limit": 0, "slice_ticks": 1, "addr_limit": 1}
"""The ``Config`` fields that are limits, not sizes, and their least values; the others
are sizes in 1..``MAX_SIZE``."""


class _Problem(Exception):
    """A value of the wrong shape at a JSON path (``check`` turns it into a
    ``FixtureError``)."""

    def __init__(self, where: str, what: str) -> None:
        super().__init__(f"{where}: {what}" if where else what)


class _Missing:
    pass


_MISSING: Any = _Missing()


def load(path: Path) -> dict[str, Any]:
    """Read one fixture file and check all of it (``check``). The file must be a regular
    file (a symbolic link to one will do) of at most ``MAX_FIXTURE_BYTES``, checked
    before it is opened, and one JSON value: UTF-8, no object key twice, no NaN or
    Infinity, at most ``exo.limits.MAX_DEPTH`` levels deep. Anything else raises
    ``FixtureError``."""
    data = read_json(path, MAX_FIXTURE_BYTES, FixtureError, "fixture")
    try:
        _check(data)
    except _Problem as exc:
        raise FixtureError(f"{shown_path(path)}: {exc}") from None
    return data  # type: ignore[no-any-return]


def check(data: Any) -> None:
    """Check a fixture's shape (spec/fixtures.md, "Reading a fixture") before any of it
    runs; raise ``FixtureError`` naming the fixture and the JSON path of the first bad
    value."""
    try:
        _check(data)
    except _Problem as exc:
        name = data.get("name") if type(data) is dict else None
        shown = name if type(name) is str and _good_name(name) else "fixture"
        raise FixtureError(f"{shown}: {exc}") from None


def _check(data: Any) -> None:
    obj = _object(data, "")
    form = obj.get("format", _MISSING)
    if type(form) is not str or form not in FORMATS:
        raise _Problem("format", f"expected {FORMAT!r} (or {FORMATS[0]!r}), found "
                                 f"{_kind(form)}: not an Exo fixture")
    every = form == FORMAT
    keys = _TOP if every else tuple(k for k in _TOP if k != "boot")
    _keys(obj, "", keys, keys)
    name = obj["name"]
    if type(name) is not str or not _good_name(name):
        raise _Problem("name", f"expected a name of 1 to {MAX_NAME} printable characters, "
                               f"found {_kind(name)}")
    cfg = _config(obj["config"])
    for key in ("clauses", "cells"):
        _strings(obj[key], key)
    fields = _fields(cfg)
    entries = _entries(cfg)
    steps = _list(obj["steps"], "steps")
    work = (len(steps) + 1) * entries
    if work > MAX_FIXTURE_WORK:
        raise _Problem("steps", f"{len(steps):,} steps on a state of {entries:,} entries: "
                                f"{work:,} entries to observe, at most {MAX_FIXTURE_WORK:,}")
    if every:
        _state(fields, obj["boot"], "boot", whole=True)
    step_keys = _STEP if every else tuple(k for k in _STEP if k != "changed")
    for i, step in enumerate(steps):
        where = f"steps[{i}]"
        st = _object(step, where)
        _keys(st, where, step_keys,
              tuple(k for k in step_keys if k not in ("cells", "trap", "view")))
        if "trap" in st and st["trap"] is not True:
            raise _Problem(f"{where}.trap", f"expected true, found {_kind(st['trap'])}")
        if "view" in st:
            seen = _object(st["view"], f"{where}.view")
            _keys(seen, f"{where}.view", ("env", "fields"), ("env", "fields"))
            env = seen["env"]
            if type(env) is not int or not 0 <= env < cfg.n_envs:
                raise _Problem(f"{where}.view.env", f"expected an environment slot, found "
                                                    f"{_kind(env)}")
            _state(fields, seen["fields"], f"{where}.view.fields", whole=False)
        op = st["op"]
        if type(op) is not str or op not in OPERATIONS:
            raise _Problem(f"{where}.op", f"expected an operation name, found {_kind(op)}")
        for j, arg in enumerate(_list(st["args"], f"{where}.args")):
            _value(arg, f"{where}.args[{j}]")
        _expect(op, st["expect"], f"{where}.expect")
        if every:
            _state(fields, st["changed"], f"{where}.changed", whole=False)
        if "cells" in st:
            _strings(st["cells"], f"{where}.cells")
    _state(fields, obj["state"], "state", whole=True)


def _good_name(name: str) -> bool:
    return 0 < len(name) <= MAX_NAME and name.isprintable()


def _config(value: Any) -> Config:
    """The ``Config`` of a fixture: every field, nothing else, each an exact integer; sizes
    in 1..``MAX_SIZE``, limits in their least value..``MAX_LIMIT``; at most
    ``MAX_STATE_ENTRIES`` entries of state."""
    obj = _object(value, "config")
    names = tuple(f.name for f in dataclasses.fields(Config))
    _keys(obj, "config", names, names)
    for key in names:
        where = _path("config", key)
        v = obj[key]
        if type(v) is not int:
            raise _Problem(where, f"expected an integer, found {_kind(v)}")
        least, most = (_LEAST[key], MAX_LIMIT) if key in _LEAST else (1, MAX_SIZE)
        if not least <= v <= most:
            raise _Problem(where, f"{number_text(v)} is outside {least}..{most}")
    cfg = Config(**obj)
    entries = _entries(cfg)
    if entries > MAX_STATE_ENTRIES:
        raise _Problem("config", f"sizes too large: a state of {entries:,} entries, at most "
                                 f"{MAX_STATE_ENTRIES:,}")
    return cfg


def _entries(cfg: Config) -> int:
    """The map entries of a state of ``cfg``."""
    return sum(math.prod(dom) for dom, _, _ in layout(cfg).values())


def _fields(cfg: Config) -> dict[str, tuple[tuple[int, ...], str]]:
    """Each field of a state of ``cfg``: its keys' domains (none for a scalar) and the
    kind of its values ("bool", "int", "program", "packet")."""
    out: dict[str, tuple[tuple[int, ...], str]] = {}
    for name, (dom, _, sort) in layout(cfg).items():
        kind = {"filter_code": "program", "rx_pkt": "packet"}.get(name, sort)
        out[name] = (tuple(dom), kind)
    for name in SCALARS:
        out[name] = ((), "int")
    return out


def _state(fields: dict[str, tuple[tuple[int, ...], str]], value: Any, where: str,
           whole: bool) -> None:
    """``boot``, ``state`` (``whole``: every field) or a step's ``changed`` (some): each
    field a WIRE-6 integer (a scalar) or a list of rows ``[key..., value]``, keys within
    their domains and given once, values of the field's kind."""
    obj = _object(value, where)
    for name in obj:
        if name not in fields:
            raise _Problem(_path(where, name), "no such field of the state (spec/observe.md)")
    if whole:
        for name in fields:
            if name not in obj:
                raise _Problem(_path(where, name), "missing")
    for name, v in obj.items():
        dom, kind = fields[name]
        if not dom:
            if type(v) is not int or not INT64_MIN <= v <= INT64_MAX:
                _int(v, _path(where, name))
            continue
        rows = _list(v, _path(where, name))
        n = len(dom)
        plain = kind in ("bool", "int")
        keys: set[Any] = set()
        for r, row in enumerate(rows):  # the common case, quickly; _rows: what is wrong
            if type(row) is not list or len(row) != n + 1:
                break
            key = row[0] if n == 1 else tuple(row[:n])
            for part, size in zip(row[:n], dom, strict=True):
                if type(part) is not int or not 0 <= part < size:
                    break
            else:
                x = row[n]
                if (kind == "bool" and type(x) is bool) or (
                        kind == "int" and type(x) is int and INT64_MIN <= x <= INT64_MAX):
                    keys.add(key)
                    continue
                if not plain:
                    _entry(x, kind, f"{_path(where, name)}[{r}][{n}]")
                    keys.add(key)
                    continue
            break
        if len(keys) != len(rows):
            _rows(rows, dom, kind, _path(where, name))


def _rows(rows: list[Any], dom: tuple[int, ...], kind: str, at: str) -> None:
    """The first bad row of a field: its shape, a key outside its domain, a key given
    twice, a value of the wrong kind."""
    seen: set[tuple[int, ...]] = set()
    for r, row in enumerate(rows):
        here = f"{at}[{r}]"
        if type(row) is not list or len(row) != len(dom) + 1:
            raise _Problem(here, f"expected a row of {len(dom)} key(s) and a value, found "
                                 f"{_kind(row)}")
        for k, (part, size) in enumerate(zip(row[:-1], dom, strict=True)):
            if type(part) is not int or not 0 <= part < size:
                raise _Problem(f"{here}[{k}]", f"expected a key in 0..{size - 1}, found "
                                               f"{_kind(part)}")
        key = tuple(row[:-1])
        if key in seen:
            raise _Problem(here, f"key {list(key)} given twice")
        seen.add(key)
        _entry(row[-1], kind, f"{here}[{len(dom)}]")


def _entry(v: Any, kind: str, where: str) -> None:
    if kind == "bool":
        if type(v) is not bool:
            raise _Problem(where, f"expected true or false, found {_kind(v)}")
    elif kind == "int":
        _int(v, where)
    else:
        tag = "program" if kind == "program" else "hex"
        if type(v) is not dict or list(v) != [tag]:
            raise _Problem(where, f'expected a {kind} {{"{tag}": HEX}}, found {_kind(v)}')
        _value(v, where)


def _expect(op: str, value: Any, where: str) -> None:
    """A step's ``expect``: a status name and the value (an outcome name for the
    operations that answer one); ``any_witness: true`` only for ``filter_install``."""
    obj = _object(value, where)
    optional = ("any_witness",) if op == "filter_install" else ()
    _keys(obj, where, ("status", "value", *optional), ("status", "value"))
    status = obj["status"]
    if type(status) is not str or status not in Status.__members__:
        raise _Problem(f"{where}.status", f"expected a status name, found {_kind(status)}")
    v = obj["value"]
    if op in OUTCOME_OPS:
        if type(v) is not str or v not in Event.__members__:
            raise _Problem(f"{where}.value", f"expected an outcome name ({op}), found "
                                             f"{_kind(v)}")
    else:
        _value(v, f"{where}.value")
    if "any_witness" in obj and obj["any_witness"] is not True:
        raise _Problem(f"{where}.any_witness", f"expected true, found "
                                               f"{_kind(obj['any_witness'])}")


def _value(v: Any, where: str) -> None:
    """A value as WIRE-6 encodes it."""
    try:
        decode(v)
    except ValueError as exc:
        raise _Problem(where, f"expected a WIRE-6 value ({one_line(str(exc))})") from None


def _int(v: Any, where: str) -> None:
    try:
        decode_int(v)
    except ValueError as exc:
        raise _Problem(where, f"expected a WIRE-6 integer ({one_line(str(exc))})") from None


def _keys(obj: dict[str, Any], where: str, allowed: tuple[str, ...],
          required: tuple[str, ...]) -> None:
    for key in obj:
        if key not in allowed:
            raise _Problem(_path(where, key), f"unknown key (expected: {', '.join(allowed)})")
    for key in required:
        if key not in obj:
            raise _Problem(_path(where, key), "missing")


def _object(v: Any, where: str) -> dict[str, Any]:
    if type(v) is not dict:
        raise _Problem(where, f"expected an object, found {_kind(v)}")
    return v


def _list(v: Any, where: str) -> list[Any]:
    if type(v) is not list:
        raise _Problem(where, f"expected a list, found {_kind(v)}")
    return v


def _strings(v: Any, where: str) -> None:
    for i, s in enumerate(_list(v, where)):
        if type(s) is not str:
            raise _Problem(f"{where}[{i}]", f"expected a string, found {_kind(s)}")


def _kind(v: Any) -> str:
    """A JSON value described in a few words, for one line."""
    return "nothing" if v is _MISSING else described(v)


def _path(where: str, key: str) -> str:
    name = key if key.isidentifier() else short(key)
    return f"{where}.{name}" if where else name


def fixture_files(directory: Path) -> list[Path]:
    """The fixture files of ``directory``: every ``*.json`` but ``index.json``, by name.
    Nothing is opened here (``load`` checks each file's type before opening it)."""
    return sorted(p for p in directory.glob("*.json") if p.name != INDEX)


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
    the step, the call and the field, and what the kernel's value contradicts: the
    clause of the call and the sentence of its declarative text (``exo.kit.blame``). A
    fixture out of shape (``check``) raises
    ``FixtureError`` before anything runs."""
    check(data)
    return _run_checked(data, factory)


def _run_checked(data: dict[str, Any], factory: Callable[[Config], Any]) -> Outcome:
    t0 = time.perf_counter()
    name = data["name"]
    cfg = Config(**data["config"])

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
            op, want = step["op"], step["expect"]
            through = step.get("trap") is True  # GEN-6, WIRE-7
            call = (f"step {i} {'trap ' if through else ''}{op}("
                    f"{', '.join(json.dumps(a) for a in step['args'])})")
            if through and not offers(impl, "trap"):
                return failed(i, f"{call}: the kernel has no trap layer (GEN-6; over the "
                              "wire, its ready lists no \"trap\" feature, WIRE-7)")
            got = _call(impl.trap if through else impl.apply, op,
                        *[decode(a) for a in step["args"]])
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
                              f"{json.dumps(want['value'])}, got {shown}"
                              f"{_blame(cfg, data['steps'], i, got=got)}")
            if every:
                expected.update(step["changed"])
                observation = _call(impl.observe)
                problem = _state_problem(cfg, expected, observation)
                if problem:
                    return failed(i + 1, f"{call}: state after it: {problem}"
                                  f"{_blame(cfg, data['steps'], i, observed=observation)}")
            if "view" in step:  # GEN-7, WIRE-8: what the caller sees after its call
                env = step["view"]["env"]
                if not offers(impl, "observe_as"):
                    return failed(i + 1, f"{call}: the kernel shows no view (GEN-7; over "
                                  "the wire, its ready lists no \"view\" feature, WIRE-8)")
                problem = _view_problem(cfg, env, step["view"]["fields"],
                                        _call(impl.observe_as, env))
                if problem:
                    return failed(i + 1, f"{call}: environment {env}'s view after it: "
                                  f"{problem}")
        observed = _call(impl.observe)
    except _Raised as exc:
        return failed(0, str(exc))
    problem = _state_problem(cfg, data["state"], observed)
    if problem:
        named = "" if every else _blame_steps(data["steps"])  # format 1: all the calls
        return failed(len(data["steps"]), f"state at the end: {problem}{named}")
    return Outcome(name, True, len(data["steps"]), time.perf_counter() - t0, "",
                   data["clauses"])


def _model_call(step: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
    """A (checked) fixture step as the model's call: a trap step as ``trap`` with the
    system call's name first (GEN-6)."""
    args = tuple(decode(a) for a in step["args"])
    return ("trap", (step["op"], *args)) if step.get("trap") is True else (step["op"], args)


def _blame(cfg: Config, steps: list[dict[str, Any]], i: int, got: Any = None,
           observed: Any = None) -> str:
    """What the kernel's answer to step ``i`` contradicts (``exo.kit.blame``): its result
    ``got``, or, with ``observed``, its observation after the step. The model is run
    from boot to the step (only once a difference was found). '; contradicts …', or the
    step's clause alone if the model cannot be run on it."""
    from exo.kit.blame import blame_calls, blame_result, blame_state

    try:
        s = initial(cfg)
        for step in steps[:i]:
            name, args = _model_call(step)
            s = (trap(s, *args) if name == "trap" else REGISTRY[name](s, *args))[0]
        name, args = _model_call(steps[i])
        post, res = trap(s, *args) if name == "trap" else REGISTRY[name](s, *args)
        if observed is None:
            return f"; {blame_result(s, name, args, res, got)}"
        return f"; {blame_state(s, name, args, res, post, abstract(cfg, observed))}"
    except Exception:  # a fixture of an older model, an observation out of shape
        return f"; {blame_calls([(steps[i]['op'], ())])}"


def _blame_steps(steps: list[dict[str, Any]]) -> str:
    """The clauses of every step's operation (a difference found at the end only)."""
    from exo.kit.blame import blame_calls

    return f"; {blame_calls([(st['op'], ()) for st in steps])}" if steps else ""


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


def _view_problem(cfg: Config, env: int, expected: dict[str, Any], observed: Any) -> str:
    """The first difference between an expected view (WIRE-4 rows of the entries off
    boot) and ``observe_as(env)``'s answer, brought to the same form ('' if none): an
    entry missing or different, or one shown that is outside the view."""
    if type(observed) is not dict:
        return f"observe_as({env}) returned {_kind(observed)}, not a view"
    problem = malformed(cfg, observed)
    if problem is not None:
        return f"observe_as({env}) is malformed: {problem.replace('observe()', 'the view')}"
    boot = initial(cfg)
    have: dict[str, Any] = {}
    for name, value in observed.items():
        if name in SCALARS:
            if value != getattr(boot, name):
                have[name] = encode(value)
            continue
        b = getattr(boot, name)
        rows = {k: encode(v) for k, v in value.items() if v != b[k]}
        if rows:
            have[name] = rows
    want: dict[str, Any] = {}
    for name, value in expected.items():
        want[name] = value if name in SCALARS else {
            (row[0] if len(row) == 2 else tuple(row[:-1])): row[-1] for row in value}
    for name in sorted({*want, *have}):
        a, b2 = want.get(name), have.get(name)
        if name in SCALARS:
            if not _same_json(a, b2):
                return f"{name}: expected {json.dumps(a)}, shown {json.dumps(b2)}"
            continue
        a, b2 = a or {}, b2 or {}
        for k in sorted({*a, *b2}, key=repr):
            if k not in a:
                return f"{name}[{k}]: shown {json.dumps(b2[k])}, outside the view or at boot"
            if k not in b2 or not _same_json(a[k], b2[k]):
                return (f"{name}[{k}]: expected {json.dumps(a[k])}, shown "
                        f"{json.dumps(b2.get(k))}")
    return ""


def check_files(directory: Path, keyword: str | None = None) -> list[Path]:
    """Read and check every fixture file of ``directory`` (``fixture_files``, ``load``);
    the files of the fixtures whose name contains ``keyword`` (all, without one). A
    folder without fixture files, or any file that is not a fixture, raises
    ``FixtureError``: a damaged suite is refused before any of it runs."""
    paths = fixture_files(directory)
    if not paths:
        raise FixtureError(f"{shown_path(directory)}: no fixture files (build them with exo "
                           "fixtures build)")
    names = [load(path)["name"] for path in paths]
    return [path for path, name in zip(paths, names, strict=True)
            if not keyword or keyword in name]


def run_files(paths: Iterable[Path], factory: Callable[[Config], Any],
              on_progress: Callable[[int], None] | None = None) -> list[Outcome]:
    """Run the fixture files ``paths`` in order, each read and checked again just before
    it runs (``load``)."""
    out = []
    for path in paths:
        out.append(_run_checked(load(path), factory))
        if on_progress is not None:
            on_progress(1)
    return out


def run(directory: Path, factory: Callable[[Config], Any], keyword: str | None = None,
        on_progress: Callable[[int], None] | None = None) -> list[Outcome]:
    """Run every fixture of ``directory`` (whose name contains ``keyword``, if given),
    after checking every fixture file (``check_files``)."""
    return run_files(check_files(directory, keyword), factory, on_progress)


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


__all__ = ["FORMAT", "GENERATED", "INDEX", "MAX_FIXTURE_BYTES", "MAX_FIXTURE_WORK", "MAX_NAME",
           "MAX_STATE_ENTRIES", "FixtureError", "Outcome", "build", "check", "check_files",
           "fixture", "fixture_files", "junit", "load", "random_calls", "run", "run_files",
           "run_one"]
