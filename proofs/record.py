"""The saved counterexample format (``exo-counterexample/1``), checked whole before replay.

``exo replay FILE`` runs a step someone may have edited by hand, or a file that is not a
counterexample at all. Nothing of it is replayed until every value has been checked here;
any problem raises ``ReplayError`` with one line naming the file and the JSON path of the
bad value, e.g. ``bad.json: pre_state.maps.owner[0]: expected [key, value] pair``.

Reading (``read_json``): the file must be a regular file of at most ``MAX_FILE_BYTES``
(8 MiB; checked before reading, and the read itself is bounded), UTF-8, and one JSON value
(duplicate object keys, numbers of more than 4,300 digits, NaN and nesting deeper than
Python's recursion limit are refused).

The record (``check_record``), an object with these keys and no others (unknown keys are
refused: a typo in a key name must not silently leave out what it meant to say):

* ``format``: exactly ``FORMAT``; ``obligation``: the name of a model obligation
  (``exo.proofs.obligations.BY_NAME``; ``flt/`` lemmas are not model steps);
  ``kind`` and ``clause``: the obligation's own (the clause of ``init``/``step``
  obligations is the invariant they are about, so this also pins the invariant).
* ``config``: every field of ``exo.interface.Config``, nothing else, each an integer (not a
  bool). Sizes (``SIZE_FIELDS``) lie in 1..``MAX_SIZE`` (4,096); ``slice_ticks`` and
  ``addr_limit`` in 1..``MAX_LIMIT`` (2**64), ``excess_limit`` in 0..``MAX_LIMIT``; and
  the work of one replay, ``state_work(cfg)`` (the entries of every map of the state, i.e.
  the products of ``exo.model.state.layout``'s domains, plus the index tuples every
  invariant enumerates), is at most ``MAX_STATE_WORK`` (32,768). These bound the time and
  memory of building the state and replaying the step: measured, the largest allowed
  configurations replay in about 1 s and 70 MB (the whole ``exo replay`` process).
* ``init`` obligations: nothing else but the recorded outcome (below).
* other obligations, replayable form: ``op`` (the obligation's operation; operations whose
  arguments or state hold programs or packets, ``OPAQUE_OPS``, are never replayable),
  ``args`` (the operation's arity; ``int``: an integer, ``bool``: true/false, ``cap``:
  ``{"cap": [page, gen, rights]}``), ``pre_state`` (``{"scalars": {NAME: int},
  "maps": {NAME: [[key..., value], ...]}}``, either part may be left out: each map name a
  map of ``exo.model.state.layout``, each row its domain's arity of keys, integers in the
  domain, given once, then a value of the map's sort (bool or int); the opaque maps
  ``filter_code`` and ``rx_pkt`` and a true ``filter_valid`` are refused: states with
  installed filters are not replayable).
* other obligations saved as not replayable (``"replayed": false`` and no ``pre_state``,
  what ``exo prove`` records for a Z3 model over packet filters): the outcome only; they
  are checked and then reported as not replayable.
* the recorded outcome, optional (replay computes it again) but of the right type when
  present: ``replayed``, ``pre_invariants_hold`` (bools), ``violations``,
  ``post_changes`` (lists of strings), ``summary`` (a string), ``result``
  (``{"status": STATUS NAME, "value": int or {"cap": [...]}}``).

Values (map entries, scalars, arguments) are the model's mathematical integers: no bound
beyond JSON's 4,300 digits; nothing in a replay loops over a value.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from exo.interface import OPERATIONS, Config, Status
from exo.limits import (
    MAX_FILE_BYTES,
    MAX_LIMIT,
    MAX_SIZE,
    described,
    number_text,
    read_json,
    short,
    shown_path,
)
from exo.model.state import OPAQUE, SCALARS, layout

FORMAT = "exo-counterexample/1"

# The file and configuration limits are every boundary's (``exo.limits``): a saved record
# of ``MAX_STATE_WORK`` entries, every one differing from boot, takes about 2 MB of the
# 8 MiB ``MAX_FILE_BYTES``; sizes lie in 1..``MAX_SIZE``, limits up to ``MAX_LIMIT``.

MAX_STATE_WORK = 1 << 15
"""Most entries one replay may enumerate (``state_work``): 32,768, e.g. 8 environments x
850 pages, 8 pages x 4,000 words, or 175 filter slots (the invariants compare every pair
of filters). Reading, checking, building and replaying a state whose entries all differ
from boot takes about 25 us per entry: measured, 1 s for the whole ``exo replay``
process at this bound, in 70 MB."""

SIZE_FIELDS = ("n_envs", "n_pages", "page_words", "tlb_size", "stlb_size", "n_cids",
               "n_slices", "n_guaranteed", "n_regs", "n_filters", "ring_size")
"""The fields of ``Config`` that size a map of the state."""

LIMIT_FIELDS = {"slice_ticks": 1, "excess_limit": 0, "addr_limit": 1}
"""The other fields of ``Config`` and their least value."""

OPAQUE_OPS = frozenset({"filter_install", "filter_remove", "packet_arrive", "packet_take"})
"""Operations whose arguments or state include programs and packets, which are opaque ids
in the proofs: their counterexamples are reported as Z3 values, not replayed."""

COMMON_KEYS: tuple[str, ...] = ("format", "obligation", "kind", "clause", "config")
OUTCOME_KEYS: tuple[str, ...] = ("replayed", "violations", "summary")
STEP_KEYS: tuple[str, ...] = ("op", "args", "result", "pre_state", "post_changes",
                              "pre_invariants_hold")


class ReplayError(Exception):
    """A counterexample file that cannot be read or does not describe a model step."""


class RecordProblem(ValueError):
    """What ``check_record`` raises: a problem at a JSON path (``read_record`` turns it
    into a ``ReplayError`` naming the file)."""

    def __init__(self, where: str, what: str) -> None:
        super().__init__(f"{where}: {what}" if where else what)


# --------------------------------------------------------------------------- reading


def read_record(path: Path) -> dict[str, Any]:
    """Read ``path`` and check it is a whole, consistent counterexample record."""
    data = read_json(path, MAX_FILE_BYTES, ReplayError, "counterexample")
    try:
        check_record(data)
    except RecordProblem as exc:
        raise ReplayError(f"{shown_path(path)}: {exc}") from None
    return data  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- the record


def check_record(data: Any) -> None:
    """Check a parsed record against the format (module docstring); raise ``RecordProblem``."""
    from exo.proofs.obligations import BY_NAME

    if not isinstance(data, dict):
        raise RecordProblem("", f"expected a JSON object at the top level, found {_kind(data)} "
                       f"(not an Exo counterexample)")
    if data.get("format") != FORMAT:
        found = _kind(data.get("format", _MISSING))
        raise RecordProblem("format", f"expected {FORMAT!r}, found {found} (not an Exo "
                                      "counterexample)")
    name = _string(data, "obligation")
    ob = BY_NAME.get(name)
    if ob is None:
        raise RecordProblem("obligation",
                            f"no such obligation {short(name)} (see 'exo prove -k')")
    if ob.kind == "flt":
        raise RecordProblem("obligation",
                            f"{name} is a lemma about filter programs, not a model step")
    for key, want in (("kind", ob.kind), ("clause", ob.clause)):
        got = _string(data, key)
        if got != want:
            raise RecordProblem(key, f"{short(got)} does not match obligation {name} "
                                     f"({key} {want!r})")
    unreplayable = (ob.kind != "init" and "pre_state" not in data
                    and data.get("replayed") is False
                    and not any(k in data for k in STEP_KEYS))
    allowed = COMMON_KEYS + OUTCOME_KEYS
    if ob.kind != "init" and not unreplayable:
        allowed += STEP_KEYS
    for key in data:
        if key not in allowed:
            why = "for an init obligation" if key in STEP_KEYS else "in a counterexample"
            raise RecordProblem(_path("", key),
                                f"unknown key {why} (expected: {', '.join(allowed)})")
    cfg = check_config(data.get("config", _MISSING), "config")
    _check_outcome(data)
    if ob.kind == "init" or unreplayable:
        return
    assert ob.op is not None
    op = _string(data, "op")
    if op != ob.op:
        raise RecordProblem("op", f"{short(op)} does not match obligation {name} (op {ob.op!r})")
    if op in OPAQUE_OPS:
        raise RecordProblem("op", f"{op} takes or keeps programs and packets, opaque ids in the "
                         "proofs: its counterexamples are not replayable")
    _check_args(op, data.get("args", _MISSING))
    check_state(cfg, data.get("pre_state", _MISSING), "pre_state")


def saved_unreplayable(data: dict[str, Any]) -> bool:
    """Was this (checked) record saved as not replayable (a Z3 model over filters)?"""
    return data["kind"] != "init" and "pre_state" not in data


# --------------------------------------------------------------------------- config


def state_work(cfg: Config) -> int:
    """Entries one replay on ``cfg`` enumerates: every map entry of the state, plus every
    index tuple of every invariant part (``filters_disjoint`` pairs filters, which no map
    does)."""
    from exo.spec.invariants import INVARIANTS

    maps = sum(math.prod(dom) for dom, _, _ in layout(cfg).values())
    parts = sum(math.prod(p.domains(cfg)) for inv in INVARIANTS for p in inv.parts)
    return int(maps + parts)


def check_config(value: Any, where: str) -> Config:
    """The ``Config`` a JSON object describes, every field checked against the maxima."""
    obj = _object(value, where)
    names = [f.name for f in dataclasses.fields(Config)]
    for key in obj:
        if key not in names:
            raise RecordProblem(_path(where, key), "unknown configuration field (expected: "
                                          f"{', '.join(names)})")
    for key in names:
        if key not in obj:
            raise RecordProblem(_path(where, key), "missing")
        v = _int(obj[key], _path(where, key))
        least, most = (1, MAX_SIZE) if key in SIZE_FIELDS else (LIMIT_FIELDS[key], MAX_LIMIT)
        if not least <= v <= most:
            raise RecordProblem(_path(where, key),
                                f"{number_text(v)} is outside {least}..{number_text(most)}")
    cfg = Config(**obj)
    work = state_work(cfg)
    if work > MAX_STATE_WORK:
        raise RecordProblem(where, f"sizes too large to replay: the state and its invariants span "
                          f"{work:,} entries, at most {MAX_STATE_WORK:,} (MAX_STATE_WORK)")
    return cfg


# --------------------------------------------------------------------------- step


def _check_args(op: str, value: Any) -> None:
    sig = OPERATIONS[op]
    shape = f"{op}({', '.join(n for n, _ in sig.args)})"
    args = _list(value, "args")
    if len(args) != len(sig.args):
        raise RecordProblem("args", f"{shape} takes {len(sig.args)} arguments, found {len(args)}")
    for i, ((arg_name, kind), a) in enumerate(zip(sig.args, args, strict=True)):
        where = f"args[{i}]"
        if kind == "int":
            _int(a, where, f"an integer ({arg_name})")
        elif kind == "bool":
            if not isinstance(a, bool):
                raise RecordProblem(where, f"expected true or false ({arg_name}), found {_kind(a)}")
        else:  # "cap"; program and packet arguments belong to OPAQUE_OPS
            _cap(a, where)


def _cap(value: Any, where: str) -> None:
    if not isinstance(value, dict) or list(value) != ["cap"]:
        raise RecordProblem(where, f'expected a capability {{"cap": [page, gen, rights]}}, found '
                          f"{_kind(value)}")
    fields = value["cap"]
    if not isinstance(fields, list) or len(fields) != 3:
        raise RecordProblem(f"{where}.cap", f"expected [page, gen, rights], found {_kind(fields)}")
    for j, (n, f) in enumerate(zip(("page", "gen", "rights"), fields, strict=True)):
        _int(f, f"{where}.cap[{j}]", f"an integer ({n})")


def check_state(cfg: Config, value: Any, where: str) -> None:
    """A ``state_json`` object: known scalars and maps, keys in their domains, values of
    the map's sort, no key twice."""
    obj = _object(value, where)
    for key in obj:
        if key not in ("scalars", "maps"):
            raise RecordProblem(_path(where, key), "unknown key (expected: scalars, maps)")
    scalars = _object(obj.get("scalars", {}), f"{where}.scalars")
    for key, v in scalars.items():
        if key not in SCALARS:
            raise RecordProblem(_path(f"{where}.scalars", key),
                       f"no such scalar (expected one of: {', '.join(SCALARS)})")
        _int(v, _path(f"{where}.scalars", key))
    maps = _object(obj.get("maps", {}), f"{where}.maps")
    shapes = layout(cfg)
    for key, rows in maps.items():
        at = _path(f"{where}.maps", key)
        if key not in shapes:
            raise RecordProblem(at, "no such map in the state (see exo.model.state.layout)")
        if key in OPAQUE:
            raise RecordProblem(at, "programs and packets are opaque ids in the proofs: a "
                           "replayable state keeps their boot values")
        dom, _, sort = shapes[key]
        _check_rows(key, dom, sort, _list(rows, at), at)


def _check_rows(name: str, dom: tuple[int, ...], sort: str, rows: list[Any],
                where: str) -> None:
    width = len(dom) + 1
    value_type = bool if sort == "bool" else int
    seen: set[tuple[int, ...]] = set()
    for i, row in enumerate(rows):
        # the common case in one cheap test per row; any doubt goes to the careful check
        if type(row) is list and len(row) == width and type(row[-1]) is value_type:
            key = tuple(row[:-1])
            if all(type(k) is int and 0 <= k < n for k, n in zip(key, dom, strict=True)) \
                    and key not in seen and not (name == "filter_valid" and row[-1]):
                seen.add(key)
                continue
        _row_problem(name, dom, sort, row, seen, f"{where}[{i}]")


def _row_problem(name: str, dom: tuple[int, ...], sort: str, row: Any,
                 seen: set[tuple[int, ...]], at: str) -> None:
    """Raise the problem with ``row``, the fast test in ``_check_rows`` having doubted it."""
    shape = "[key, value] pair" if len(dom) == 1 else \
        f"[{', '.join(f'key{i + 1}' for i in range(len(dom)))}, value] row"
    if not isinstance(row, list) or len(row) != len(dom) + 1:
        raise RecordProblem(at, f"expected {shape}, found {_kind(row)}")
    *keys, value = row
    for j, (k, n) in enumerate(zip(keys, dom, strict=True)):
        k = _int(k, f"{at}[{j}]", "an integer key")
        if not 0 <= k < n:
            raise RecordProblem(f"{at}[{j}]",
                                f"key {number_text(k)} is outside the domain 0..{n - 1}")
    key = tuple(keys)
    if key in seen:
        raise RecordProblem(at, f"key {', '.join(map(str, key))} given twice")
    if sort == "bool":
        if not isinstance(value, bool):
            raise RecordProblem(f"{at}[{len(dom)}]",
                                f"expected true or false, found {_kind(value)}")
        if name == "filter_valid" and value:
            raise RecordProblem(f"{at}[{len(dom)}]", "a state with an installed filter is not "
                                            "replayable (programs are opaque ids in the proofs)")
    else:
        _int(value, f"{at}[{len(dom)}]")
    raise RecordProblem(at, f"expected {shape}")  # not reached: the fast test checks the same


# --------------------------------------------------------------------------- outcome


def _check_outcome(data: dict[str, Any]) -> None:
    for key in ("replayed", "pre_invariants_hold"):
        if key in data and not isinstance(data[key], bool):
            raise RecordProblem(key, f"expected true or false, found {_kind(data[key])}")
    if "summary" in data:
        _string(data, "summary")
    for key in ("violations", "post_changes"):
        if key in data:
            for i, line in enumerate(_list(data[key], key)):
                if not isinstance(line, str):
                    raise RecordProblem(f"{key}[{i}]", f"expected a string, found {_kind(line)}")
    if "result" in data:
        res = _object(data["result"], "result")
        for key in res:
            if key not in ("status", "value"):
                raise RecordProblem(_path("result", key), "unknown key (expected: status, value)")
        status = _string(res, "status", "result.status")
        if status not in Status.__members__:
            raise RecordProblem("result.status", f"no such status {short(status)}")
        value = res.get("value", _MISSING)
        if isinstance(value, dict):
            _cap(value, "result.value")
        else:
            _int(value, "result.value", "an integer or a capability")


# --------------------------------------------------------------------------- helpers


class _Missing:
    def __repr__(self) -> str:
        return "missing"


_MISSING: Any = _Missing()


def _kind(v: Any) -> str:
    """A JSON value described in a few words, for one line."""
    return "nothing (missing)" if v is _MISSING else described(v)


def _path(where: str, key: str) -> str:
    name = key if key.isidentifier() else json.dumps(key)[:40]
    return f"{where}.{name}" if where else name


def _object(v: Any, where: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise RecordProblem(where, f"expected an object, found {_kind(v)}")
    return v


def _list(v: Any, where: str) -> list[Any]:
    if not isinstance(v, list):
        raise RecordProblem(where, f"expected a list, found {_kind(v)}")
    return v


def _int(v: Any, where: str, what: str = "an integer") -> int:
    if not isinstance(v, int) or isinstance(v, bool):
        raise RecordProblem(where, f"expected {what}, found {_kind(v)}")
    return v


def _string(obj: dict[str, Any], key: str, where: str | None = None) -> str:
    v = obj.get(key, _MISSING)
    if not isinstance(v, str):
        raise RecordProblem(where or key, f"expected a string, found {_kind(v)}")
    return v


__all__ = ["FORMAT", "MAX_FILE_BYTES", "MAX_LIMIT", "MAX_SIZE", "MAX_STATE_WORK",
           "OPAQUE_OPS", "RecordProblem", "ReplayError", "check_config", "check_record",
           "check_state", "read_json", "read_record", "saved_unreplayable", "shown_path",
           "state_work"]

