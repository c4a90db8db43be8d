"""Counterexamples in model terms: made concrete, replayed on the executable model, saved.

A counterexample found by Z3 on a small instance is turned into a concrete ``State`` and
concrete arguments, the operation is run on Python values, and the violation is checked
again with the same invariant or property — so a red run always comes with a witness the
executable model confirms. The witness is saved as JSON; ``exo replay FILE`` runs it again
and prints the trace, once ``exo.proofs.record`` has checked the whole file (its format,
sizes and maxima are documented there).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import z3

from exo.interface import OPERATIONS, Cap, Config, Result, Status
from exo.logic import ConMap
from exo.model import REGISTRY, State, Transition, initial
from exo.model.state import OPAQUE, SCALARS, layout
from exo.proofs.declarative import describe, failing
from exo.proofs.record import FORMAT as FORMAT
from exo.proofs.record import OPAQUE_OPS as OPAQUE_OPS
from exo.proofs.record import ReplayError as ReplayError
from exo.proofs.record import read_record, saved_unreplayable, shown_path
from exo.spec.invariants import BY_ID, check

# --------------------------------------------------------------------------- from a Z3 model


def _py(v: Any) -> Any:
    if z3.is_true(v):
        return True
    if z3.is_false(v):
        return False
    if z3.is_int_value(v):
        return v.as_long()
    raise ReplayError(f"cannot read Z3 value {v}")


def concrete_state(pre: State, cfg: Config, model: z3.ModelRef) -> State:
    """The concrete state a Z3 model assigns to the symbolic state ``pre`` (sizes ``cfg``)."""
    changes: dict[str, Any] = {"cfg": cfg}
    for name, (dom, default, _) in layout(cfg).items():
        sym = getattr(pre, name)
        probe = ConMap(dom, default)
        data = {k: _py(model.eval(sym[k], model_completion=True)) for k, _ in probe.items()}
        changes[name] = ConMap(dom, default, data)
    for name in SCALARS:
        changes[name] = _py(model.eval(getattr(pre, name), model_completion=True))
    return initial(cfg).replace(**changes)


def concrete_arg(a: Any, model: z3.ModelRef) -> Any:
    """A concrete argument from a Z3 model."""
    if isinstance(a, Cap):
        return Cap(*(concrete_arg(getattr(a, f), model) for f in ("page", "gen", "rights")))
    return _py(model.eval(a, model_completion=True))


def concretize(ob: Any, cfg: Config, query: Any, model: z3.ModelRef,
               op: Transition | None = None) -> dict[str, Any]:
    """The replayed, JSON-ready counterexample of obligation ``ob`` from a Z3 model."""
    if ob.kind == "init":
        return replay_record(ob.name, cfg, None, [], op)
    if ob.name.endswith("/complete"):
        return open_text(ob, cfg, query, model)
    if ob.op in OPAQUE_OPS or any(k in ("program", "packet") for _, k in
                                  OPERATIONS[ob.op].args):
        return _unreplayable(ob, cfg, query, model)
    pre = concrete_state(query.pre, cfg, model)
    if any(pre.filter_valid[f] for f in range(cfg.n_filters)):
        return _unreplayable(ob, cfg, query, model)
    # with no filter installed, programs and packets play no part: boot values for them
    boot = initial(cfg)
    pre = pre.replace(**{name: getattr(boot, name) for name in OPAQUE})
    args = [concrete_arg(a, model) for a in query.args]
    if _violates(ob.name, pre, args, op):
        pre = minimize(ob.name, pre, args, op)
    return replay_record(ob.name, cfg, pre, args, op)


def open_text(ob: Any, cfg: Config, query: Any, model: z3.ModelRef) -> dict[str, Any]:
    """A ``post/OP/complete`` counterexample: one pre-state and arguments, and two results
    and post-states that both satisfy OP's text yet differ. Confirmed on Python values:
    both concrete post-states are checked against every conjunct again, and the fields
    where they differ are named with the conjuncts of the case that speak of them."""
    from exo.proofs.declarative import build_complete

    _, _, pre_sym, alt = build_complete(ob.op, cfg, query.args)
    if any(model.eval(pre_sym.filter_valid[f], model_completion=True) == z3.BoolVal(True)
           for f in range(cfg.n_filters)):
        return _unreplayable(ob, cfg, query, model)
    boot = initial(cfg)
    keep = {name: getattr(boot, name) for name in OPAQUE}
    pre = concrete_state(query.pre, cfg, model).replace(**keep)
    posts = [concrete_state(alt[k], cfg, model).replace(**keep) for k in ("one", "two")]
    results = [Result(concrete_arg(alt[k].status, model), concrete_arg(alt[k].value, model))
               for k in ("r1", "r2")]
    args = [concrete_arg(a, model) for a in query.args]
    both_hold = not check(pre) and all(
        not failing(ob.op, pre, tuple(args), r, p) for r, p in zip(results, posts, strict=True))
    apart = diff(posts[0], posts[1])
    if results[0].status != results[1].status or results[0].value != results[1].value:
        apart.insert(0, f"result: {results[0]!r} vs {results[1]!r}")
    open_fields = sorted({line.split("[")[0].split(":")[0] for line in apart})
    record = replay_record(ob.name, cfg, pre, args)
    record.update(
        replayed=both_hold and bool(apart), violations=[f"{ob.clause}: the text leaves "
                                                        f"{f} open" for f in open_fields],
        summary=f"{ob.op}({', '.join(map(repr, args))}): two outcomes satisfy the text and "
                f"differ in {', '.join(open_fields)}: {'; '.join(apart[:4])}")
    return record


def _unreplayable(ob: Any, cfg: Config, query: Any, model: z3.ModelRef) -> dict[str, Any]:
    args = {str(d.name()): str(model[d]) for d in model.decls()
            if d.arity() == 0 and d.name().startswith("arg_")}
    return {"format": FORMAT, "obligation": ob.name, "kind": ob.kind, "clause": ob.clause,
            "config": dataclasses.asdict(cfg), "replayed": False, "violations": [ob.clause],
            "summary": f"{ob.op}({args}): Z3 model on a state with packet filters, whose "
                       "programs are opaque ids in the proofs (not replayable)"}


def _violates(name: str, pre: State, args: list[Any], op: Transition | None) -> bool:
    """Does the step from ``pre`` (which satisfies every invariant) break obligation
    ``name`` on Python values?"""
    from exo.proofs.obligations import BY_NAME, PROPERTIES

    ob = BY_NAME[name]
    assert ob.op is not None
    if check(pre):
        return False
    post, res = (op or REGISTRY[ob.op])(pre, *args)
    if ob.kind == "step":
        assert ob.invariant is not None
        return bool(BY_ID[ob.invariant].violations(post, limit=1))
    if name.endswith("/sound"):
        return bool(failing(ob.op, pre, tuple(args), res, post))
    return PROPERTIES[name].holds(pre, tuple(args), res, post) is not True


def minimize(name: str, pre: State, args: list[Any], op: Transition | None = None) -> State:
    """Reset every entry of ``pre`` that the violation does not need to its boot value.

    Greedy, one pass per entry: an entry stays only if resetting it makes the pre-state
    break an invariant or the step stop violating the obligation. What is left is the
    part of the state that matters.
    """
    boot = initial(pre.cfg)
    s = pre
    for name_ in SCALARS:
        if getattr(s, name_) != getattr(boot, name_):
            trial = s.replace(**{name_: getattr(boot, name_)})
            if _violates(name, trial, args, op):
                s = trial
    for field in layout(pre.cfg):
        m, b = getattr(s, field), getattr(boot, field)
        for k, v in list(m.items()):
            if v == b[k]:
                continue
            trial = s.replace(**{field: getattr(s, field).set(k, b[k])})
            if _violates(name, trial, args, op):
                s = trial
    return s


# --------------------------------------------------------------------------- replay


def replay_record(name: str, cfg: Config, pre: State | None, args: list[Any],
                  op: Transition | None = None) -> dict[str, Any]:
    """Run the step on Python values and check the obligation's claim there.

    The record says whether the violation ``replayed`` (the executable model confirms it)
    and holds everything needed to run it again: configuration, pre-state, arguments.
    """
    from exo.proofs.obligations import BY_NAME, PROPERTIES

    ob = BY_NAME.get(name)
    if ob is None:
        raise ReplayError(f"unknown obligation {name!r}")
    record: dict[str, Any] = {"format": FORMAT, "obligation": name, "kind": ob.kind,
                              "clause": ob.clause, "config": dataclasses.asdict(cfg)}
    if ob.kind == "init":
        assert ob.invariant is not None
        bad = BY_ID[ob.invariant].violations(initial(cfg))
        record.update(replayed=bool(bad), violations=bad,
                      summary=f"boot state violates {ob.invariant} at {', '.join(bad) or '-'}")
        return record
    assert ob.op is not None and pre is not None
    transition = op or REGISTRY[ob.op]
    post, res = transition(pre, *args)
    pre_broken = check(pre)
    if ob.kind == "step":
        assert ob.invariant is not None
        bad = BY_ID[ob.invariant].violations(post)
        what = (f"{ob.invariant} violated at {', '.join(bad)}"
                f"{contradicted(ob.op, pre, args, res, post)}" if bad else "invariant holds")
    elif name.endswith("/complete"):
        wrong = failing(ob.op, pre, tuple(args), res, post)
        bad = [f"{c.cite.clause} {c.name}: {c.cite.sentence}" for c in wrong]
        what = (f"the model's own step fails the text: {describe(wrong)}" if bad else
                "the model's step satisfies the text (the other outcome the text allows is "
                "found by the proof, not stored)")
    elif name.endswith("/sound"):
        wrong = failing(ob.op, pre, tuple(args), res, post)
        bad = [f"{c.cite.clause} {c.name}: {c.cite.sentence}" for c in wrong]
        what = f"{name} fails: {describe(wrong)}" if bad else "the text holds"
    else:
        holds = PROPERTIES[name].holds(pre, tuple(args), res, post)
        bad = [] if holds is True else [PROPERTIES[name].clause]
        what = (f"{name} fails ({PROPERTIES[name].clause})"
                f"{contradicted(ob.op, pre, args, res, post)}" if bad else "property holds")
    record.update(
        op=ob.op, args=[_arg_json(a) for a in args], result=_result_json(res),
        pre_state=state_json(pre), post_changes=diff(pre, post),
        pre_invariants_hold=not pre_broken, violations=bad,
        replayed=bool(bad) and not pre_broken,
        summary=f"{ob.op}({', '.join(map(repr, args))}) -> {res!r}: {what}",
    )
    return record


def contradicted(op: str, pre: State, args: list[Any], res: Result, post: State) -> str:
    """What a violating step contradicts in ``op``'s declarative text, in clause terms
    (``describe``: conjunct, clause, sentence): '; the step contradicts …', or '' when the
    step satisfies the text (the obligation's own clause is named already)."""
    try:
        wrong = failing(op, pre, tuple(args), res, post)
    except Exception:  # a pre-state outside the invariants may leave a term unevaluable
        return ""
    return f"; the step contradicts {describe(wrong)}" if wrong else ""


def _arg_json(a: Any) -> Any:
    if isinstance(a, Cap):
        return {"cap": [a.page, a.gen, a.rights]}
    return a


def _arg_from_json(a: Any) -> Any:
    if isinstance(a, dict) and "cap" in a:
        return Cap(*a["cap"])
    return a


def _result_json(res: Result) -> dict[str, Any]:
    v = res.value
    return {"status": Status(res.status).name, "value": _arg_json(v)}


def state_json(s: State) -> dict[str, Any]:
    """The entries of ``s`` that differ from the boot state (the parts that matter)."""
    boot = initial(s.cfg)
    maps: dict[str, list[list[Any]]] = {}
    for name in layout(s.cfg):
        m, b = getattr(s, name), getattr(boot, name)
        rows = [[*(k if isinstance(k, tuple) else (k,)), v] for k, v in m.items() if v != b[k]]
        if rows:
            maps[name] = rows
    scalars = {n: getattr(s, n) for n in SCALARS if getattr(s, n) != getattr(boot, n)}
    return {"scalars": scalars, "maps": maps}


def state_from_json(cfg: Config, data: dict[str, Any]) -> State:
    """The state ``state_json`` describes (rows checked by ``exo.proofs.record``: map and
    scalar names real, keys in their domains, each given once)."""
    s = initial(cfg)
    changes: dict[str, Any] = dict(data.get("scalars", {}))
    for name, rows in data.get("maps", {}).items():
        m = getattr(s, name)
        assert isinstance(m, ConMap)
        entries = dict(m.items())  # rows are checked (exo.proofs.record): keys in the domain
        for *key, value in rows:
            entries[tuple(key) if len(key) > 1 else key[0]] = value
        changes[name] = ConMap(m.sizes, m.default, entries)
    return s.replace(**changes)


def diff(pre: State, post: State) -> list[str]:
    """Readable lines for every field entry that changed."""
    lines: list[str] = []
    for name in layout(pre.cfg):
        a, b = getattr(pre, name), getattr(post, name)
        for k, v in b.items():
            if a[k] != v:
                lines.append(f"{name}[{_key(k)}]: {a[k]} -> {v}")
    for n in SCALARS:
        if getattr(pre, n) != getattr(post, n):
            lines.append(f"{n}: {getattr(pre, n)} -> {getattr(post, n)}")
    return lines


def _key(k: Any) -> str:
    return ", ".join(map(str, k)) if isinstance(k, tuple) else str(k)


# --------------------------------------------------------------------------- files


def save(record: dict[str, Any], directory: Path) -> Path:
    """Write the record as ``directory/<obligation with / as __>.json``."""
    directory.mkdir(parents=True, exist_ok=True)
    name = str(record["obligation"]).replace("/", "__")
    path = directory / f"{name}.json"
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path


def load(path: Path) -> dict[str, Any]:
    """Read a counterexample file and check the whole record (``exo.proofs.record``)."""
    return read_record(path)


def replay_file(path: Path) -> tuple[dict[str, Any], list[str]]:
    """Replay a saved counterexample on today's model: the new record and a trace.

    Nothing runs before the whole file is checked; a record saved as not replayable (a
    Z3 model over packet filters) is reported as such."""
    data = load(path)
    if saved_unreplayable(data):
        summary = " ".join(str(data.get("summary", "")).split())[:300]
        raise ReplayError(f"{shown_path(path)}: saved as not replayable (Z3 values only): "
                          f"{summary}")
    cfg = Config(**data["config"])
    pre = state_from_json(cfg, data["pre_state"]) if data["kind"] != "init" else None
    args = [_arg_from_json(a) for a in data.get("args", [])]
    record = replay_record(data["obligation"], cfg, pre, args)
    return record, render(record)


def render(record: dict[str, Any]) -> list[str]:
    """The counterexample as lines a person reads: state, step, violation."""
    from exo.proofs.obligations import BY_NAME

    ob = BY_NAME[record["obligation"]]
    title = BY_ID[ob.invariant].title if ob.invariant else record["clause"]
    cfg = record["config"]
    lines = [f"obligation {record['obligation']} ({ob.clause}: {title})",
             "sizes: " + ", ".join(f"{k}={v}" for k, v in cfg.items())]
    if record["kind"] != "init":
        lines.append("pre-state (entries that differ from boot):")
        pre = record["pre_state"]
        for n, v in pre["scalars"].items():
            lines.append(f"  {n} = {v}")
        for n, rows in pre["maps"].items():
            for row in rows:
                lines.append(f"  {n}[{', '.join(map(str, row[:-1]))}] = {row[-1]}")
        args = ", ".join(json.dumps(a) for a in record["args"])
        res = record["result"]
        lines.append(f"step: {record['op']}({args}) -> {res['status']} {res['value']}")
        lines.append("changes:")
        lines += [f"  {c}" for c in record["post_changes"]] or ["  (none)"]
    verdict = "VIOLATED" if record["violations"] else "holds"
    lines.append(f"{verdict}: {record['summary']}")
    if record["kind"] != "init" and not record["pre_invariants_hold"]:
        lines.append("note: the pre-state itself breaks an invariant on today's model")
    return lines


def replayable(record: dict[str, Any]) -> bool:
    """Does ``record`` describe a model step ``exo replay`` can run (not a filter lemma or
    a state with opaque programs)?"""
    return record.get("format") == FORMAT and (record.get("kind") == "init"
                                               or "pre_state" in record)
