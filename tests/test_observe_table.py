"""GEN-5 (spec/observe.md): the table of every observed field is the model's own.

The table is parsed from the spec text and checked against the model: it lists exactly
the fields of ``SCALARS`` and ``layout``; each key shape, value type and boot value is the
model's; every change an operation makes on seeded random walks is listed for that
operation (so the table cannot silently go stale when an operation starts writing a new
field); the *no meaning when* column is what ``exo.kit.conformance.canonical`` erases; and
the example observation is what the model (and ``exo.impl``) reach.
"""

from __future__ import annotations

import ast
import random
import re
from collections import defaultdict
from functools import cache
from pathlib import Path
from typing import Any

import pytest

import exo.interface as interface
from exo.interface import OPERATIONS, Cap, Config, Status
from exo.kit.conformance import abstract, abstract_changes, canonical, differences, stale_fields
from exo.kit.explore import WEIGHTS, _first_byte_is, draw_args, two_running_envs
from exo.model import REGISTRY, State, initial
from exo.model.state import SCALARS, layout

SPEC = Path(__file__).resolve().parent.parent / "spec" / "observe.md"

DISTINCT = Config(n_envs=2, n_pages=3, page_words=5, tlb_size=7, stlb_size=11, n_cids=13,
                  n_slices=6, n_guaranteed=9, n_regs=8, n_filters=12, ring_size=14)
"""A configuration whose sizes all differ, so a key shape naming the wrong size shows."""


def clause_text() -> str:
    text = SPEC.read_text(encoding="utf-8")
    start = text.index("## GEN-5 Observation")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def _tables(text: str) -> list[list[list[str]]]:
    """Every Markdown table of ``text``: rows of cells, the header first, no rule row."""
    tables: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r"-+", c) for c in cells):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    return tables


def _table(header0: str) -> list[list[str]]:
    found = [t for t in _tables(clause_text()) if t[0][0] == header0]
    assert len(found) == 1, f"one table headed {header0!r} in GEN-5"
    return found[0]


def _spans(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


@cache
def ranges() -> dict[str, str]:
    """Index name → the name of its bound (a Config field or an exo.interface constant)."""
    out: dict[str, str] = {}
    for row in _table("index")[1:]:
        (name,) = _spans(row[0])
        m = re.fullmatch(r"`\[0, (\w+)\)`", row[1])
        assert m, f"range of {name}: {row[1]!r}"
        out[name] = m.group(1)
    return out


def bound(name: str, cfg: Config) -> int:
    b = ranges()[name]
    return int(getattr(cfg, b) if hasattr(cfg, b) else getattr(interface, b))


@cache
def rows() -> dict[str, dict[str, Any]]:
    """Field → its parsed row: key (tuple of index names, () for a scalar), value type,
    boot, changed-by operations, meaning condition ('always' or the text)."""
    table = _table("field")
    assert table[0] == ["field", "key", "value", "boot", "changed by", "no meaning when"]
    out: dict[str, dict[str, Any]] = {}
    for cells in table[1:]:
        (name,) = _spans(cells[0])
        assert name not in out, f"{name} listed twice"
        key: tuple[str, ...] = ()
        if cells[1] != "—":
            (shape,) = _spans(cells[1])
            key = tuple(k.strip() for k in shape.strip("()").split(","))
        value_type = _spans(cells[2])[0] if cells[2].startswith("`") else cells[2].split(":")[0]
        (boot,) = _spans(cells[3])
        ops = _spans(cells[4]) if cells[4] != "—" else []
        out[name] = {"key": key, "type": value_type, "boot": ast.literal_eval(boot),
                     "ops": set(ops), "meaning": cells[5]}
    return out


# --------------------------------------------------------------------------- (a), (b), (d)


def test_table_lists_exactly_the_model_fields() -> None:
    assert set(rows()) == set(SCALARS) | set(layout(Config()))


def test_boot_values_are_the_models() -> None:
    for cfg in (Config(), DISTINCT):
        boot = initial(cfg)
        for name, row in rows().items():
            if name in SCALARS:
                expected = SCALARS[name]
                assert getattr(boot, name) == expected
            else:
                expected = layout(cfg)[name][1]
                assert all(v == expected and type(v) is type(expected)
                           for _, v in getattr(boot, name).items()), name
            assert row["boot"] == expected and type(row["boot"]) is type(expected), name


def test_value_types_agree_with_boot_values_and_sorts() -> None:
    types = {"int": int, "bool": bool, "bytes": bytes, "program": tuple}
    for name, row in rows().items():
        assert row["type"] in types, f"{name}: unknown value type {row['type']!r}"
        assert type(row["boot"]) is types[row["type"]], name
        if name not in SCALARS:
            sort = layout(Config())[name][2]
            assert (sort == "bool") == (row["type"] == "bool"), name


def test_key_shapes_match_layout() -> None:
    for cfg in (Config(), DISTINCT):
        lay = layout(cfg)
        for name, row in rows().items():
            if name in SCALARS:
                assert row["key"] == (), f"{name} is a scalar"
                continue
            dom = lay[name][0]
            assert tuple(bound(k, cfg) for k in row["key"]) == dom, name
            keys = [k for k, _ in getattr(initial(cfg), name).items()]
            if len(dom) == 1:
                assert all(type(k) is int for k in keys), name
            else:
                assert all(type(k) is tuple and len(k) == len(dom) for k in keys), name


def test_changed_by_names_real_operations() -> None:
    for name, row in rows().items():
        assert row["ops"] <= set(OPERATIONS), f"{name}: {row['ops'] - set(OPERATIONS)}"


# --------------------------------------------------------------------------- (c)


def changed_fields(a: State, b: State) -> set[str]:
    out = {n for n in SCALARS if getattr(a, n) != getattr(b, n)}
    for n in layout(a.cfg):
        ma, mb = getattr(a, n), getattr(b, n)
        if ma is not mb and any(mb[k] != v for k, v in ma.items()):
            out.add(n)
    return out


def _run(s: State, steps: list[tuple[str, list[Any]]]) -> State:
    for name, args in steps:
        s, res = REGISTRY[name](s, *args)
        assert res.status == Status.OK, (name, args, res)
    return s


def _busy() -> list[tuple[str, list[Any]]]:
    """Two running environments holding pages, mappings, a filter each and a request."""
    return [
        *two_running_envs(),
        ("alloc", [0, 0]), ("alloc", [1, 1]), ("alloc", [0, 2]),
        ("tlbwr", [0, 1, Cap(0, 0, 2), True]), ("tlbwr", [1, 2, Cap(1, 0, 2), False]),
        ("gm_set", [0, 0, 3, Cap(2, 0, 2), True]),
        ("filter_install", [0, _first_byte_is(0)]), ("filter_install", [1, _first_byte_is(1)]),
        ("packet_arrive", [b"\x00"]), ("revoke_request", [1, 0, 1, 2]),
    ]


SETUPS: dict[str, list[tuple[str, list[Any]]]] = {
    "boot": [], "two_running_envs": two_running_envs(), "busy": _busy()}
SEEDS = (1, 2, 3)
STEPS = 250  # 3 set-ups x 3 seeds x 250 = 2,250 steps


@cache
def observed_changes() -> tuple[dict[str, set[str]], int]:
    """Operation → every field its steps changed, over the seeded walks; and the step count."""
    names = list(REGISTRY)
    weights = [WEIGHTS.get(n, 1) for n in names]
    seen: dict[str, set[str]] = defaultdict(set)
    total = 0
    for setup in SETUPS.values():
        for seed in SEEDS:
            rng = random.Random(seed)
            s = _run(initial(Config()), setup)
            caps = [a for _, args in setup for a in args if isinstance(a, Cap)]
            for _ in range(STEPS):
                name = rng.choices(names, weights)[0]
                args = draw_args(rng, name, s, caps)
                new, res = REGISTRY[name](s, *args)
                total += 1
                if res.status == Status.OK and isinstance(res.value, Cap):
                    caps.append(res.value)
                seen[name] |= changed_fields(s, new)
                s = new
    return dict(seen), total


def test_walks_are_long_and_varied_enough() -> None:
    seen, total = observed_changes()
    assert total >= 2000
    # the walks reach deep paths (destruction by fatal exceptions, refills, aborts)
    assert sum(len(v) for v in seen.values()) >= 120, seen
    assert len(seen) >= 25


def test_every_observed_change_is_listed_for_its_operation() -> None:
    seen, _ = observed_changes()
    listed = {f: row["ops"] for f, row in rows().items()}
    missing = sorted((op, f) for op, fields in seen.items() for f in fields
                     if op not in listed[f])
    assert missing == [], f"changes the GEN-5 table does not list: {missing}"


# --------------------------------------------------------------------------- meaning


def _other(value: Any) -> Any:
    """A value of the same type as ``value`` but different."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 7
    if isinstance(value, bytes):
        return value + b"x"
    return ((6, 0, 0, 1),)


@pytest.mark.parametrize("name", sorted(layout(Config())))
def test_no_meaning_column_is_what_canonical_erases(name: str) -> None:
    """At boot every condition of the column holds (nothing valid, nothing owned, nothing
    pending, no packet waiting): a field marked ``always`` keeps a changed entry through
    ``canonical``, any other field has it erased."""
    boot = initial(Config())
    m = getattr(boot, name)
    key, value = next(iter(m.items()))
    s = boot.replace(**{name: m.set(key, _other(value))})
    kept = getattr(canonical(s), name)[key] != value
    assert kept == (rows()[name]["meaning"] == "always"), name


def test_scalars_always_carry_meaning() -> None:
    for name in SCALARS:
        assert rows()[name]["meaning"] == "always"
        s = initial(Config()).replace(**{name: SCALARS[name] + 7})
        assert getattr(canonical(s), name) == SCALARS[name] + 7


def _reference_differences(a: State, b: State) -> list[str]:
    """The definition ``differences`` speeds up: every key of every map field whose
    ``canonical`` values differ, in field and domain order, then the scalars."""
    ca, cb = canonical(a), canonical(b)
    out = [f"{name}[{k}]: model {v!r}, implementation {getattr(cb, name)[k]!r}"
           for name in layout(a.cfg) for k, v in getattr(ca, name).items()
           if getattr(cb, name)[k] != v]
    out += [f"{name}: model {getattr(a, name)!r}, implementation {getattr(b, name)!r}"
            for name in SCALARS if getattr(a, name) != getattr(b, name)]
    return out


def _perturbed(rng: random.Random, s: State, fields: list[str]) -> State:
    """``s`` with a few entries of ``fields`` changed (guards such as ``tlb_valid``
    included, so the two sides may keep different keys)."""
    for _ in range(rng.randrange(1, 4)):
        name = rng.choice(fields)
        m = getattr(s, name)
        items = list(m.items())  # the first keys half the time: guard and guarded meet
        key, value = rng.choice(items[:2] if rng.random() < 0.5 else items)
        boot = getattr(initial(s.cfg), name)[key]
        s = s.replace(**{name: m.set(key, _other(value) if rng.random() < 0.7 else boot)})
    return s


def _guards() -> dict[str, list[str]]:
    """Each field whose *no meaning when* column names other fields: those fields (read
    from the spec text, not from ``exo.kit.conformance``)."""
    fields = set(layout(Config()))
    return {name: sorted(set(re.findall(r"[a-z_]+", row["meaning"])) & fields)
            for name, row in rows().items() if row["meaning"] != "always"}


def _guarded_pair(rng: random.Random, a: State, b: State) -> tuple[State, State]:
    """Both sides with one entry of a guarded field changed alike, then one side with the
    guard of that entry changed: raw values equal, meaning possibly not."""
    guards = _guards()
    name = rng.choice(sorted(guards))
    m = getattr(a, name)
    key, value = rng.choice(list(m.items()))
    a = a.replace(**{name: m.set(key, _other(value))})
    b = b.replace(**{name: getattr(b, name).set(key, _other(value))})
    guard = rng.choice(guards[name])
    g = getattr(b, guard)
    gkey = key[0] if isinstance(key, tuple) and len(g.sizes) == 1 else key
    flipped = _other(g[gkey]) if rng.random() < 0.5 else getattr(initial(b.cfg), guard)[gkey]
    return a, b.replace(**{guard: g.set(gkey, flipped)})


def test_differences_is_the_comparison_of_canonical_forms() -> None:
    """GEN-5: the fast comparison (only raw differences where both sides keep the same
    keys) reports exactly what comparing the canonical forms reports, on walk states
    perturbed on either side, guard fields included."""
    names = list(REGISTRY)
    fields = sorted(layout(Config()))
    rng = random.Random(5)
    s = _run(initial(Config()), SETUPS[sorted(SETUPS)[0]])
    compared = differing = 0
    for _ in range(1500):
        name = rng.choice(names)
        s, _res = REGISTRY[name](s, *draw_args(rng, name, s, []))
        base = _perturbed(rng, s, fields) if rng.random() < 0.5 else s  # both sides
        a = _perturbed(rng, base, fields) if rng.random() < 0.5 else base
        b = _perturbed(rng, base, fields)
        if rng.random() < 0.3:
            a, b = _guarded_pair(rng, a, b)
        want = _reference_differences(a, b)
        assert differences(a, b, limit=10**6) == want
        assert differences(a, b) == want[:8]
        compared += 1
        differing += bool(want)
    assert compared == 1500 and differing > 700


def test_only_the_stale_fields_need_comparing_again() -> None:
    """``stale_fields`` (the kit's shortcut for WIRE-3's ``changed`` replies): after a
    model state and an observed one agreed, comparing only the fields whose objects
    moved on either side, and those they guard, reports what comparing everything does;
    the observed side takes the model's changes as the changed fields of an observation
    (``abstract_changes``), sometimes missing one, sometimes perturbed, guards
    included."""
    names = list(REGISTRY)
    fields = sorted(layout(Config()))
    rng = random.Random(7)
    cfg = Config()
    m = _run(initial(cfg), SETUPS["busy"])
    agreed = (m, abstract(cfg, sparse(m)))
    compared = differing = 0
    for _ in range(1500):
        name = rng.choice(names)
        new, _res = REGISTRY[name](m, *draw_args(rng, name, m, []))
        moved = {f for f in (*SCALARS, *fields) if getattr(new, f) is not getattr(m, f)}
        if moved and rng.random() < 0.2:  # an implementation that missed a change
            moved.discard(rng.choice(sorted(moved)))
        seen_now = sparse(new)
        seen = abstract_changes(cfg, agreed[1], {
            f: seen_now.get(f, {} if f in fields else getattr(initial(cfg), f))
            for f in moved})
        if rng.random() < 0.3:
            seen = _perturbed(rng, seen, fields)
        if rng.random() < 0.2:
            new, seen = _guarded_pair(rng, new, seen)
        want = differences(new, seen, limit=10**6)
        assert differences(new, seen, limit=10**6,
                           fields=stale_fields(new, seen, agreed)) == want
        compared += 1
        differing += bool(want)
        m = new  # go on from an agreeing pair
        agreed = (new, seen) if not want else (m, abstract(cfg, sparse(m)))
    assert compared == 1500 and differing > 300


# --------------------------------------------------------------------------- the example


EXAMPLE_STEPS: list[tuple[str, list[Any]]] = [
    ("env_create", [0, 0]), ("env_create", [1, 1]), ("alloc", [0, 3]),
    ("tlbwr", [0, 5, Cap(3, 0, 2), True]),
]


def sparse(s: State) -> dict[str, Any]:
    """The sparse observation of ``s``: every field and key that differs from boot."""
    boot = initial(s.cfg)
    out: dict[str, Any] = {n: getattr(s, n) for n in SCALARS
                           if getattr(s, n) != getattr(boot, n)}
    for n in layout(s.cfg):
        d = {k: v for k, v in getattr(s, n).items() if getattr(boot, n)[k] != v}
        if d:
            out[n] = d
    return out


def example() -> dict[str, Any]:
    m = re.search(r"```python\n(.*?)```", clause_text(), re.S)
    assert m, "GEN-5 has an example observation"
    value = ast.literal_eval(m.group(1))
    assert isinstance(value, dict)
    return value


def _arg(a: Any) -> str:
    return f"Cap({a.page}, {a.gen}, {a.rights})" if isinstance(a, Cap) else repr(a)


def test_example_steps_are_the_ones_the_spec_names() -> None:
    text = " ".join(clause_text().split())
    for name, args in EXAMPLE_STEPS:
        assert f"`{name}({', '.join(map(_arg, args))})`" in text, name


def test_example_is_the_models_observation() -> None:
    s = _run(initial(Config()), EXAMPLE_STEPS)
    assert example() == sparse(s)
    assert differences(s, abstract(Config(), example())) == []


def test_example_is_what_the_implementation_observes() -> None:
    from exo.impl import Kernel

    k = Kernel(Config())
    for name, args in EXAMPLE_STEPS:
        assert k.apply(name, *args).status == Status.OK
    model = _run(initial(Config()), EXAMPLE_STEPS)
    assert differences(model, abstract(Config(), k.observe())) == []
