"""Random walks over the model: the invariant checks ``exo verify`` runs on Python values.

A walk applies operations with arguments drawn mostly from their meaningful ranges (and
sometimes hostile: negative, huge, stale capabilities) and checks after every step that
every invariant holds, that a failed operation left the state unchanged (GEN-2) and that
nothing raised (GEN-1). The Hypothesis stateful test does the same with shrinking.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from exo.interface import NUM_EXCEPTIONS, OPERATIONS, Cap, Config, Result, Status
from exo.model import REGISTRY, State, initial
from exo.spec.invariants import check

HOSTILE = (-1, -(2**63), 2**64, 10**9)


def _first_byte_is(v: int) -> tuple[tuple[int, int, int, int], ...]:
    return ((0x30, 0, 0, 0), (0x15, 0, 1, v), (0x06, 0, 0, 0xFFFF), (0x06, 0, 0, 0))


PROGRAMS: tuple[tuple[tuple[int, int, int, int], ...], ...] = (
    *(_first_byte_is(v) for v in range(4)),
    ((0x06, 0, 0, 1),),  # accept everything
    ((0x06, 0, 0, 0),),  # accept nothing
    ((0x30, 0, 0, 1), (0x15, 0, 1, 7), (0x06, 0, 0, 0xFFFF), (0x06, 0, 0, 0)),  # 2nd byte 7
    ((0x05, 0, 0, 0),),  # refused by the verifier: jumps out of the program
)
"""Filters the walk installs: disjoint ones, overlapping ones, and a refused one."""


def _range_for(arg: str, s: State) -> int:
    c = s.cfg
    sizes: dict[str, int] = {
        "env": c.n_envs,
        "grantee": c.n_envs,
        "callee": c.n_envs,
        "page": c.n_pages,
        "vpage": 4,
        "offset": c.page_words,
        "reg": c.n_regs,
        "cid": c.n_cids,
        "slot": c.n_guaranteed,
        "slice": c.n_slices,
        "exc": NUM_EXCEPTIONS,
        "which": 2,
        "rights": 3,
        "resource": 3,
        "filter": c.n_filters,
    }
    return sizes.get(arg, 8)


def draw_args(rng: random.Random, name: str, s: State, caps: list[Cap]) -> list[Any]:
    """Arguments for operation ``name`` in state ``s``: usually in range, sometimes not."""
    args: list[Any] = []
    for arg, kind in OPERATIONS[name].args:
        hostile = rng.random() < 0.05
        if kind == "bool":
            args.append(rng.random() < 0.5)
        elif kind == "program":
            args.append(rng.choice(PROGRAMS))
        elif kind == "packet":
            args.append(bytes([rng.randrange(5)]) + rng.randbytes(rng.randrange(4)))
        elif kind == "cap":
            if caps and not hostile and rng.random() < 0.85:
                args.append(rng.choice(caps))
            else:
                page = rng.choice([*HOSTILE, rng.randrange(s.cfg.n_pages)])
                args.append(Cap(page, rng.randrange(3), rng.randrange(4)))
        elif hostile:
            args.append(rng.choice(HOSTILE))
        elif arg == "entry":
            args.append(rng.choice([-1, 0x100, 0x200, 0x300]))
        elif arg == "target" and name == "yield_to":
            args.append(rng.choice([-1, rng.randrange(s.cfg.n_envs)]))
        elif arg == "target":
            args.append(rng.randrange(max(s.cfg.n_pages, s.cfg.n_slices)))
        elif arg == "deadline":
            args.append(s.now + rng.randrange(-1, 4))
        elif arg == "value":
            args.append(rng.randrange(-5, 1000))
        else:
            args.append(rng.randrange(_range_for(arg, s)))
    return _aim(rng, name, s, args)


def _aim(rng: random.Random, name: str, s: State, args: list[Any]) -> list[Any]:
    """Often point the caller at the resource it names, so deep paths get exercised."""
    if rng.random() < 0.3:
        return args
    names = [a for a, _ in OPERATIONS[name].args]
    if "cap" in names and "env" in names:
        cap = args[names.index("cap")]
        owner = s.owner[cap.page] if isinstance(cap.page, int) else -1
        if isinstance(owner, int) and owner >= 0:
            args[names.index("env")] = owner
    if name == "revoke_request":
        pages = [(o, p, 0) for p, o in _items(s.owner) if o >= 0]
        slices = [(o, q, 1) for q, o in _items(s.slice_owner) if o >= 0]
        if pages or slices:
            env, target, kind = rng.choice(pages + slices)
            args[0], args[1], args[2] = env, kind, target
            args[3] = s.now + rng.randrange(1, 4)
    return args


def _items(m: Any) -> list[tuple[Any, Any]]:
    return list(m.items())


def two_running_envs() -> list[tuple[str, list[Any]]]:
    """The operations that create environments 0 and 1 (context ids 0 and 1) with every
    entry point registered and a slice each, then tick so env 0 runs: the common start of
    the walks and state machines that need running code early."""
    steps: list[tuple[str, list[Any]]] = [("env_create", [0, 0]), ("env_create", [1, 1])]
    for env in (0, 1):
        steps += [("set_exception_context", [env, k, 0x1000 + k])
                  for k in range(NUM_EXCEPTIONS)]
        steps += [("set_interrupt_context", [env, w, 0x2000 + w]) for w in (0, 1)]
        steps += [("set_protected_entry", [env, w, 0x3000 + w]) for w in (0, 1)]
    return [*steps, ("slice_alloc", [1, 0]), ("slice_alloc", [0, 1]), ("timer_tick", [])]


@dataclass
class Walk:
    """What a random walk did and the first thing that went wrong, if anything."""

    steps: int = 0
    statuses: Counter[tuple[str, str]] = field(default_factory=Counter)
    failure: str | None = None
    trace: list[str] = field(default_factory=list)


# Operations the walk favours: the ones that build up state for the rest to act on.
WEIGHTS: dict[str, float] = {
    "env_create": 4, "alloc": 4, "tlbwr": 3, "slice_alloc": 3, "timer_tick": 4,
    "set_interrupt_context": 3, "set_exception_context": 2, "set_protected_entry": 3,
    "load": 3, "store": 3, "grant": 2, "revoke_request": 2, "abort": 2,
    "scall": 2, "acall": 2, "yield_to": 2, "set_reg": 2, "env_destroy": 0.3,
}


def random_walk(
    cfg: Config,
    steps: int,
    seed: int,
    on_step: Callable[[int], None] | None = None,
) -> Walk:
    """Apply ``steps`` random operations from the boot state, checking every step."""
    rng = random.Random(seed)
    names = list(REGISTRY)
    weights = [WEIGHTS.get(n, 1) for n in names]
    s = initial(cfg)
    caps: list[Cap] = []
    walk = Walk()
    for step in range(steps):
        name = rng.choices(names, weights)[0]
        args = draw_args(rng, name, s, caps)
        new, res = REGISTRY[name](s, *args)
        walk.steps = step + 1
        line = f"{step}: {name}({', '.join(map(repr, args))}) -> {res!r}"
        walk.trace = [*walk.trace[-19:], line]
        walk.statuses[(name, _status_name(res))] += 1
        if res.status != Status.OK and new != s:
            walk.failure = f"step {line}: failed but changed the state (GEN-2)"
            return walk
        broken = check(new)
        if broken:
            detail = "; ".join(f"{k} at {', '.join(v)}" for k, v in broken.items())
            walk.failure = f"step {line}: invariant violated: {detail}"
            return walk
        if res.status == Status.OK and isinstance(res.value, Cap):
            caps.append(res.value)
        s = new
        if on_step is not None:
            on_step(step + 1)
    return walk


def _status_name(res: Result) -> str:
    try:
        return Status(res.status).name
    except ValueError:
        return f"?{res.status}"
