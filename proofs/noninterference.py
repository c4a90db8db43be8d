"""Integrity and noninterference obligations (spec/noninterference.md, NI-2..NI-5).

Each runs the model's own transition (through the trap layer for a system call,
``exo.spec.flows.run``) on Z3 terms — on two arbitrary states for the noninterference
obligations, one for integrity — for every size, assuming the invariants of the states
before the step, and states what ``exo.spec.flows`` and ``exo.model.view`` say:

* ``int/OP`` (NI-2): every entry the step changes lies in its actor's authority;
* ``ni/OP/output`` (NI-3, output consistency): two states its actor sees alike (and
  that agree on what the action may read, ``declared_inputs``) give the same result;
* ``ni/OP/respect`` (NI-4, local respect as step respect): for an environment the action
  may not affect, two states it sees alike stay alike, unless the public state after
  the step differs;
* ``ni/OP/consistency`` (NI-5, weak step consistency): two states both an observer and
  the actor see alike stay alike for the observer, unless the public state after the
  step differs.

A failed proof is searched for on small instances (``exo.proofs.discharge``); a
counterexample is made concrete — two states, the arguments, the observer — and replayed
on the executable model as two traces: the action run on each state, the observer's views
before and after, and the first field where they part (``replay``). ``unknown`` is a
failure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import z3

from exo.interface import OPERATIONS, TRAPS, Cap, Config, OpSig, Result
from exo.logic import And, BoolV, Implies, Not, forall, strict_symbolic
from exo.model.state import SCALARS, State, layout, symbolic, symbolic_args
from exo.model.view import same_public, same_view, view
from exo.spec.flows import (
    ACTIONS,
    KERNEL_ACTIONS,
    actor,
    authority,
    declared_inputs,
    may_affect,
    outside_authority,
    run,
)
from exo.spec.invariants import all_hold

Runner = Callable[[State, str, tuple[Any, ...]], tuple[State, Result]]
"""How an action is run (``exo.spec.flows.run``; the tests pass broken ones)."""

CLAUSES = {"int": "NI-2", "output": "NI-3", "respect": "NI-4", "consistency": "NI-5"}
"""The clause each kind of obligation states."""



def names() -> list[tuple[str, str, str]]:
    """Every obligation as (name, clause, action), in a stable order."""
    out: list[tuple[str, str, str]] = []
    for op in ACTIONS:
        env_action = op not in KERNEL_ACTIONS
        if env_action:
            out.append((f"int/{op}", CLAUSES["int"], op))
            out.append((f"ni/{op}/output", CLAUSES["output"], op))
            out.append((f"ni/{op}/respect", CLAUSES["respect"], op))
        out.append((f"ni/{op}/consistency", CLAUSES["consistency"], op))
    return out


def _sig_args(op: str) -> list[Any]:
    return symbolic_args(TRAPS.get(op) or OPERATIONS[op])


def _same_result(a: Result, b: Result) -> BoolV:
    if isinstance(a.value, Cap) or isinstance(b.value, Cap):
        va, vb = a.value, b.value
        return And(a.status == b.status, va.page == vb.page, va.gen == vb.gen,
                   va.rights == vb.rights)
    return And(a.status == b.status, a.value == b.value)


@dataclass
class TwoQuery:
    """The formulas of one obligation, and the terms a counterexample is read from."""

    hypotheses: list[Any]
    goal: Any
    s: State
    t: State | None
    args: list[Any]
    observer: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


def build(name: str, cfg: Config, runner: Runner = run, signature: OpSig | None = None
          ) -> TwoQuery:
    """The hypotheses and negated goal of obligation ``name`` on ``cfg``. ``signature``:
    the arguments the action is called with, if not its own (the tests call a trap with
    the raw operation's arguments, to show a layer that reads the caller from one)."""
    kind, op = _parse(name)
    with strict_symbolic() as ctx:
        s = symbolic(cfg, "s_")
        args = symbolic_args(signature) if signature is not None else _sig_args(op)
        post_s, res_s = runner(s, op, tuple(args))
        d = actor(s, op)
        if kind == "int":
            goal = Not(_within_authority(s, post_s, op, tuple(args)))
            return TwoQuery([cfg.size_constraints(), all_hold(s), ctx.assumption()], goal,
                            s, None, args)
        t = symbolic(cfg, "t_")
        post_t, res_t = runner(t, op, tuple(args))
        hyps: list[Any] = [cfg.size_constraints(), all_hold(s), all_hold(t),
                           same_public(s, t), declared_inputs(s, t, op, tuple(args))]
        u = z3.Int("observer")
        if kind == "output":
            more, goal = output_consistency(d, s, t, res_s, res_t)
            u = d
        elif kind == "consistency":
            more, goal = weak_step_consistency(u, d, s, t, post_s, post_t)
        else:
            more, goal = local_respect(u, s, t, post_s, post_t, op, tuple(args))
        hyps += [*more, u >= 0, u < cfg.n_envs] if kind != "output" else more
        hyps.append(ctx.assumption())
    return TwoQuery(hyps, goal, s, t, args, u)


def output_consistency(d: Any, s: State, t: State, res_s: Result, res_t: Result
                       ) -> tuple[list[BoolV], BoolV]:
    """NI-3 (hypotheses, negated conclusion): the actor ``d`` sees ``s`` and ``t`` alike;
    then the results are the same."""
    return [same_view(d, s, t)], Not(_same_result(res_s, res_t))


def local_respect(u: Any, s: State, t: State, post_s: State, post_t: State, op: str,
                  args: tuple[Any, ...]) -> tuple[list[BoolV], BoolV]:
    """NI-4 (hypotheses, negated conclusion): the action may not affect ``u``, ``u``
    sees ``s`` and ``t`` alike and the public states after agree; then ``u`` sees the
    states after alike."""
    return ([Not(may_affect(s, op, args, u)), same_view(u, s, t),
             same_public(post_s, post_t)], Not(same_view(u, post_s, post_t)))


def weak_step_consistency(u: Any, d: Any, s: State, t: State, post_s: State, post_t: State
                          ) -> tuple[list[BoolV], BoolV]:
    """NI-5 (hypotheses, negated conclusion): ``u`` and the actor ``d`` see ``s`` and
    ``t`` alike and the public states after agree; then ``u`` sees the states after
    alike."""
    return ([same_view(u, s, t), same_view(d, s, t), same_public(post_s, post_t)],
            Not(same_view(u, post_s, post_t)))


def _within_authority(s: State, post: State, op: str, args: tuple[Any, ...]) -> BoolV:
    """NI-2: every entry that differs between ``s`` and ``post`` is in the authority."""
    parts: list[BoolV] = [Implies(getattr(s, n) != getattr(post, n),
                                  authority(s, post, op, args, n)) for n in SCALARS]
    for name, (dom, _, _) in layout(s.cfg).items():
        before, after = getattr(s, name), getattr(post, name)

        def body(*k: Any, name: str = name, before: Any = before, after: Any = after
                 ) -> BoolV:
            key = k if len(k) > 1 else k[0]
            return Implies(before[key] != after[key], authority(s, post, op, args, name, k))

        parts.append(forall(dom, body, name=f"auth_{name}"))
    return And(*parts)


def _parse(name: str) -> tuple[str, str]:
    """(kind, action) of an obligation name."""
    parts = name.split("/")
    if parts[0] == "int" and len(parts) == 2 and parts[1] in ACTIONS:
        return "int", parts[1]
    if parts[0] == "ni" and len(parts) == 3 and parts[1] in ACTIONS and parts[2] in CLAUSES:
        return parts[2], parts[1]
    raise KeyError(f"not a noninterference or integrity obligation: {name!r}")


# --------------------------------------------------------------------------- counterexamples


def no_filters(q: TwoQuery, cfg: Config) -> list[Any]:
    """No installed filter in either state: a replayable counterexample (programs and
    packets are opaque ids in the proofs)."""
    out = [z3.Not(q.s.filter_valid[f]) for f in range(cfg.n_filters)]
    if q.t is not None:
        out += [z3.Not(q.t.filter_valid[f]) for f in range(cfg.n_filters)]
    return out


def replay(name: str, cfg: Config, s: State, t: State | None, args: tuple[Any, ...],
           observer: int, runner: Runner = run) -> dict[str, Any]:
    """Run the action of ``name`` on the concrete states ``s`` (and ``t``) with the
    executable model: the two traces, and whether they show the violation — for
    integrity, an entry changed outside the authority; for output consistency, two
    results; otherwise the first field where the observer's views part after the step
    (its views before agree)."""
    kind, op = _parse(name)
    post_s, res_s = runner(s, op, args)
    record: dict[str, Any] = {
        "obligation": name, "kind": kind, "clause": CLAUSES[kind], "action": op,
        "args": [_json(a) for a in args],
        "config": {f: getattr(cfg, f) for f in Config.__dataclass_fields__},
        "observer": observer,
        "traces": [_trace(s, op, args, res_s, post_s, observer)]}
    if kind == "int" or t is None:
        outside = outside_authority(s, post_s, op, args)
        record["outside"] = outside
        record["replayed"] = bool(outside)
        record["summary"] = (f"{op}{tuple(args)} changes {outside[0]} outside its actor's "
                             "authority" if outside else f"{op} stayed within its authority")
        return record
    post_t, res_t = runner(t, op, args)
    record["traces"].append(_trace(t, op, args, res_t, post_t, observer))
    record["states_differ"] = _differ(s, t)
    if kind == "output":
        same = res_s.status == res_t.status and res_s.value == res_t.value
        record["parted"] = [] if same else [f"result: {res_s!r} and {res_t!r}"]
    else:
        before = _parted(view(observer, s), view(observer, t))
        record["parted_before"] = before
        record["parted"] = _parted(view(observer, post_s), view(observer, post_t))
    record["replayed"] = bool(record["parted"]) and not record.get("parted_before")
    who = f"environment {observer}"
    record["summary"] = (
        f"{op}{tuple(args)} from two states {who} cannot tell apart: "
        + (record["parted"][0] if record["parted"] else "no difference on replay"))
    return record


def _json(v: Any) -> Any:
    """A value as JSON (a capability as ``{"cap": [...]}``, bytes as hex)."""
    if type(v) is Cap:
        return {"cap": [v.page, v.gen, v.rights]}
    if isinstance(v, bytes):
        return {"hex": v.hex()}
    if isinstance(v, tuple):
        return [_json(x) for x in v]
    return v


def _trace(pre: State, op: str, args: tuple[Any, ...], res: Result, post: State,
           observer: int) -> dict[str, Any]:
    """One trace of a counterexample: the state before (what differs from boot), the
    call, its result, and the observer's view before and after."""
    def shown(v: dict[str, Any]) -> dict[str, Any]:
        return {k: ({repr(kk): _json(x) for kk, x in val.items()} if isinstance(val, dict)
                    else _json(val)) for k, val in v.items()}

    out: dict[str, Any] = {"pre_state": _rows(pre),
                           "call": f"{op}({', '.join(repr(a) for a in args)})",
                           "result": {"status": int(res.status), "value": _json(res.value)}}
    if observer >= 0:
        out["view_before"] = shown(view(observer, pre))
        out["view_after"] = shown(view(observer, post))
    return out


def _rows(s: State) -> dict[str, Any]:
    """The entries of ``s`` that differ from boot, as JSON (scalars, and map rows
    ``[key..., value]``)."""
    from exo.model import initial

    boot = initial(s.cfg)
    out: dict[str, Any] = {n: getattr(s, n) for n in SCALARS if getattr(s, n) != getattr(boot, n)}
    for name in layout(s.cfg):
        m, b = getattr(s, name), getattr(boot, name)
        rows = [[*(k if type(k) is tuple else (k,)), _json(v)] for k, v in m.items() if v != b[k]]
        if rows:
            out[name] = rows
    return out


def _differ(s: State, t: State, limit: int = 8) -> list[str]:
    """Where two states differ (entries, at most ``limit``): what the observer must not
    see, since its views agree."""
    out = [f"{n}: {getattr(s, n)!r} and {getattr(t, n)!r}" for n in SCALARS
           if getattr(s, n) != getattr(t, n)]
    for name in layout(s.cfg):
        a, b = getattr(s, name), getattr(t, name)
        out += [f"{name}[{k}]: {v!r} and {b[k]!r}" for k, v in a.items() if b[k] != v]
        if len(out) >= limit:
            break
    return out[:limit]


def _parted(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """The entries where two views differ, as lines (``field[key]: x and y``)."""
    out: list[str] = []
    for name in sorted({*a, *b}):
        x, y = a.get(name), b.get(name)
        if x == y:
            continue
        if isinstance(x, dict) or isinstance(y, dict):
            x, y = x or {}, y or {}
            out += [f"{name}[{k}]: {x.get(k)!r} and {y.get(k)!r}"
                    for k in sorted({*x, *y}, key=repr) if x.get(k) != y.get(k)]
        else:
            out.append(f"{name}: {x!r} and {y!r}")
    return out


# --------------------------------------------------------------------------- two traces


def private_view(e: int, s: State) -> dict[str, Any]:
    """``e``'s view without its public part (GEN-7): what only ``e`` (or, for shared
    pages, the environments holding them) sees."""
    from exo.model.view import PUBLIC_MAPS, PUBLIC_SCALARS

    public = {*PUBLIC_SCALARS, *PUBLIC_MAPS, "filter_owner",
              *(f"{p}_{f}" for p in ("tlb", "stlb") for f in ("cid", "vpage", "page", "write"))}
    return {k: v for k, v in view(e, s).items() if k not in public}


def run_trace(cfg: Config, steps: list[tuple[str, tuple[Any, ...]]], observer: int
              ) -> list[dict[str, Any]]:
    """Run ``steps`` from boot on the executable model: a ``trap`` step's first argument
    names the system call (GEN-6), any other step is the operation's own entry. After
    each step: the call, its result (when the observer made it: the observer's output),
    and the observer's private view."""
    from exo.model import REGISTRY, initial
    from exo.model.trap import trap

    s = initial(cfg)
    out: list[dict[str, Any]] = []
    for name, args in steps:
        mine = s.cur_env == observer
        if name == "trap":
            s, res = trap(s, *args)
        else:
            s, res = REGISTRY[name](s, *args)
        out.append({"call": f"{name}{tuple(args)!r}",
                    "result": (int(res.status), _json(res.value)) if mine else None,
                    "view": private_view(observer, s)})
    return out


def two_traces(cfg: Config, first: list[tuple[str, tuple[Any, ...]]],
               second: list[tuple[str, tuple[Any, ...]]], observer: int
               ) -> dict[str, Any] | None:
    """NI-6 on two concrete traces that differ only in what ``observer`` must not see
    (another environment's values): the first step after which the observer's results or
    private views part, with the field, or None if they never do."""
    a, b = run_trace(cfg, first, observer), run_trace(cfg, second, observer)
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if x["result"] != y["result"]:
            return {"step": i, "calls": (x["call"], y["call"]),
                    "parted": [f"result: {x['result']!r} and {y['result']!r}"]}
        parted = _parted(x["view"], y["view"])
        if parted:
            return {"step": i, "calls": (x["call"], y["call"]), "parted": parted}
    return None


def render(record: dict[str, Any]) -> list[str]:
    """A noninterference or integrity counterexample as lines: the configuration, the
    observer, each trace (the state before, the call, its result) and where the
    observer's views part (or what changed outside the authority)."""
    lines = [f"obligation: {record['obligation']} ({record['clause']})",
             f"observer: environment {record['observer']}"
             if record.get("observer", -1) >= 0 else "observer: the actor's result"]
    for i, tr in enumerate(record.get("traces", [])):
        lines.append(f"trace {i + 1}: state before (entries off boot): "
                     f"{_short(tr['pre_state'])}")
        lines.append(f"  then {tr['call']} -> {tr['result']}")
    for line in record.get("states_differ", []):
        lines.append(f"the two states differ at {line}")
    for line in record.get("outside", []):
        lines.append(f"outside the authority: {line}")
    for line in record.get("parted", [])[:6]:
        lines.append(f"views part at {line}")
    return lines


def _short(v: Any, n: int = 400) -> str:
    text = repr(v)
    return text if len(text) <= n else text[: n - 3] + "..."
