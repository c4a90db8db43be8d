"""Shared helpers for the model's unit tests: apply operations, check GEN-2, build states.

Every state built here comes from ``exo.model.initial`` by applying model operations only;
each setup step must return Status.OK and leave every invariant holding (``check == {}``).
The builders are cached: a ``State`` is immutable, so tests can share them safely.

Clauses: GEN-1 (statuses, ill-typed arguments give INVALID_ARGUMENT), GEN-2 (on any status
but OK the state is unchanged and the value is the null value).
"""

from __future__ import annotations

import dataclasses
import functools

from exo.interface import (
    FREE,
    NO_ENTRY,
    OPERATIONS,
    Cap,
    Config,
    Interrupt,
    Outcome,
    Result,
    Rights,
    Status,
    Vector,
    null_value,
)
from exo.model import REGISTRY, State, initial
from exo.spec.invariants import check

CFG = Config(
    n_envs=3,
    n_pages=4,
    page_words=2,
    tlb_size=4,
    stlb_size=8,
    n_cids=4,
    n_slices=3,
    n_guaranteed=2,
    n_regs=2,
    slice_ticks=3,
    excess_limit=2,
    addr_limit=1024,
)
"""A small configuration: three environments, four pages, three slices."""

RW = int(Rights.READWRITE)
RO = int(Rights.READ)


def entry(env: int, vector: Vector) -> int:
    """The entry address the builders register for ``vector`` of ``env`` (distinct, valid)."""
    return 100 * (env + 1) + int(vector)


# --------------------------------------------------------------------------- applying operations


def do(state: State, name: str, *args: object) -> tuple[State, Result]:
    """Apply the model operation ``name``; nothing checked."""
    return REGISTRY[name](state, *args)


def ok(state: State, name: str, *args: object) -> tuple[State, Result]:
    """Apply ``name``; it must succeed (OK) and every invariant must hold afterwards."""
    new, res = do(state, name, *args)
    assert res.status == Status.OK, f"{name}{args!r} gave {res!r}"
    problems = check(new)
    assert problems == {}, f"{name}{args!r} broke invariants: {problems}"
    return new, res


def step(state: State, name: str, *args: object) -> State:
    """``ok`` and keep only the new state."""
    return ok(state, name, *args)[0]


def rejected(state: State, name: str, args: tuple[object, ...], status: Status) -> None:
    """GEN-2: ``name(*args)`` fails with exactly ``status``, changes nothing, returns null."""
    new, res = do(state, name, *args)
    assert res.status == status, f"{name}{args!r}: expected {status.name}, got {res!r}"
    assert new == state, f"{name}{args!r} failed with {status.name} but changed the state"
    assert res.value == null_value(OPERATIONS[name])


def ticks(state: State, n: int) -> tuple[State, list[int]]:
    """``n`` timer ticks (each OK, invariants holding); the state and every outcome."""
    outcomes: list[int] = []
    for _ in range(n):
        state, res = ok(state, "timer_tick")
        outcomes.append(res.value)
    return state, outcomes


# --------------------------------------------------------------------------- argument variants

BAD_INTS: tuple[object, ...] = ("1", None, 1.0, True, False, [1])
"""Values of the wrong Python type where an int is expected (a bool is not an int here)."""

BAD_BOOLS: tuple[object, ...] = (1, 0, "True", None, 1.0)
"""Values of the wrong Python type where a bool is expected."""

BAD_CAPS: tuple[object, ...] = (
    None,
    0,
    (0, 0, RW),
    Cap("0", 0, RW),
    Cap(0, None, RW),
    Cap(0, 0, float(RW)),
    Cap(0, False, RW),
    Cap(True, 0, RW),
)
"""Values that are not a capability of three ints."""

EXTREME_INTS: tuple[int, ...] = (-1, -2, -(2**63), -(2**200), 2**31, 2**63, 2**64, 2**200)
"""Huge and negative ints: they must never raise."""


def ill_typed(name: str, good: tuple[object, ...]) -> list[tuple[str, tuple[object, ...]]]:
    """GEN-1: every call that differs from the well-typed ``good`` by one ill-typed argument,
    or by the number of arguments; each labelled for assertion messages."""
    sig = OPERATIONS[name]
    assert len(good) == len(sig.args)
    pools = {"int": BAD_INTS, "bool": BAD_BOOLS, "cap": BAD_CAPS}
    out: list[tuple[str, tuple[object, ...]]] = []
    for i, (arg, kind) in enumerate(sig.args):
        for bad in pools[kind]:
            out.append((f"{arg}={bad!r}", (*good[:i], bad, *good[i + 1 :])))
    if good:
        out.append(("one argument too few", good[:-1]))
        out.append(("no arguments", ()))
    out.append(("one argument too many", (*good, 0)))
    out.append(("two arguments too many", (*good, None, None)))
    return out


def extreme(name: str, good: tuple[object, ...]) -> list[tuple[object, ...]]:
    """Every call that differs from ``good`` by one huge or negative int, in an int argument
    or in an int field of a capability."""
    sig = OPERATIONS[name]
    out: list[tuple[object, ...]] = []
    for i, (_, kind) in enumerate(sig.args):
        for big in EXTREME_INTS:
            if kind == "int":
                out.append((*good[:i], big, *good[i + 1 :]))
            elif kind == "cap":
                cap = good[i]
                assert isinstance(cap, Cap)
                for field in ("page", "gen", "rights"):
                    fields = {"page": cap.page, "gen": cap.gen, "rights": cap.rights}
                    fields[field] = big
                    out.append((*good[:i], Cap(**fields), *good[i + 1 :]))
    return out


def check_ill_typed(state: State, name: str, good: tuple[object, ...]) -> None:
    """GEN-1/GEN-2: ``good`` succeeds on ``state``; every ill-typed variant of it gives
    INVALID_ARGUMENT, the null value and the unchanged state."""
    ok(state, name, *good)
    for label, args in ill_typed(name, good):
        new, res = do(state, name, *args)
        assert res.status == Status.INVALID_ARGUMENT, f"{name} with {label}: {res!r}"
        assert new == state, f"{name} with {label} changed the state"
        assert res.value == null_value(OPERATIONS[name]), f"{name} with {label}: {res!r}"


def check_extreme(state: State, name: str, good: tuple[object, ...]) -> None:
    """GEN-1/GEN-2: huge and negative ints never raise; the status is a Status; a failure
    leaves the state unchanged and a success keeps every invariant."""
    for args in extreme(name, good):
        new, res = do(state, name, *args)
        status = Status(res.status)
        if status == Status.OK:
            assert check(new) == {}, f"{name}{args!r} broke invariants"
        else:
            assert new == state, f"{name}{args!r} failed with {status.name} but changed state"
            assert res.value == null_value(OPERATIONS[name])


def ops_of(module_name: str) -> list[str]:
    """The names of the operations the model module ``exo.model.<module_name>`` defines."""
    return [
        name
        for name, fn in REGISTRY.items()
        if getattr(fn, "__module__", "") == f"exo.model.{module_name}"
    ]


def op_id(name: str) -> str:
    """A pytest id showing the operation's clause: ``MEM-1-alloc``."""
    return f"{OPERATIONS[name].clause}-{name}"


# --------------------------------------------------------------------------- states


@functools.cache
def fresh(cfg: Config = CFG) -> State:
    """INV-0: the boot state."""
    s = initial(cfg)
    assert check(s) == {}
    return s


@functools.cache
def with_envs(n: int = 2, cfg: Config = CFG) -> State:
    """Environments 0..n-1 live, environment i with context id i."""
    s = fresh(cfg)
    for e in range(n):
        s, res = ok(s, "env_create", e, e)
        assert res.value == e
    return s


def register_all(state: State, env: int) -> State:
    """Every entry point of ``env`` registered at ``entry(env, vector)``."""
    s = state
    for v in Vector:
        if v <= Vector.REPOSSESSION:
            s = step(s, "set_exception_context", env, int(v), entry(env, v))
        elif v <= Vector.SLICE_END:
            s = step(s, "set_interrupt_context", env, int(v) - int(Vector.SLICE_START),
                     entry(env, v))
        else:
            s = step(s, "set_protected_entry", env, int(v) - int(Vector.PCT_SYNC), entry(env, v))
    for v in Vector:
        assert s.entry[env, int(v)] == entry(env, v)
    return s


@functools.cache
def owning() -> tuple[State, dict[int, Cap]]:
    """Envs 0 and 1 live; env 0 owns pages 0 and 1, env 1 owns page 2; page 3 is free.
    Returns the state and the owners' READWRITE capabilities by page."""
    s = with_envs(2)
    caps: dict[int, Cap] = {}
    for env, page in ((0, 0), (0, 1), (1, 2)):
        s, res = ok(s, "alloc", env, page)
        caps[page] = res.value
        assert res.value == Cap(page, s.gen[page], RW)
    return s, caps


def run(state: State, env: int) -> State:
    """Give ``env`` a slice and let the timer start it (nothing may be running).

    ``env`` takes the slice after the one in progress, registers a start-of-slice entry if
    it has none, and the timer ticks until it runs.
    """
    assert state.cur_env == FREE
    s = state
    q = (s.cur_slice + 1) % s.cfg.n_slices
    if s.slice_owner[q] != env:
        s = step(s, "slice_alloc", env, q)
    if s.entry[env, int(Vector.SLICE_START)] == NO_ENTRY:
        s = step(s, "set_interrupt_context", env, int(Interrupt.SLICE_START),
                 entry(env, Vector.SLICE_START))
    for _ in range(s.cfg.n_slices * (s.cfg.slice_ticks + 1) + 1):
        if s.cur_env == env:
            break
        s, _ = ok(s, "timer_tick")
    assert s.cur_env == env
    assert s.hw_cid == s.env_cid[env]
    return s


@functools.cache
def running_world() -> tuple[State, dict[int, Cap]]:
    """``owning()`` with every entry point of envs 0 and 1 registered, and env 0 running on
    slice 1 (a fresh slice: ``slice_ticks`` ticks left)."""
    s, caps = owning()
    s = register_all(s, 0)
    s = register_all(s, 1)
    s = run(s, 0)
    assert s.cur_slice == 1 and s.slice_owner[1] == 0
    assert s.slice_left == s.cfg.slice_ticks
    assert s.pc == entry(0, Vector.SLICE_START)
    return s, caps


@functools.cache
def running_bare() -> tuple[State, dict[int, Cap]]:
    """``owning()`` with env 0 running on slice 1 and no entry point but its start-of-slice
    one: every exception it meets kills it."""
    s, caps = owning()
    s = run(s, 0)
    return s, caps


def outcome(res: Result) -> Outcome:
    """The outcome of an event's OK result."""
    assert res.status == Status.OK
    return Outcome(res.value)


def changed(old: State, new: State) -> set[str]:
    """The names of the state fields that differ between ``old`` and ``new`` (frame checks)."""
    return {
        f.name for f in dataclasses.fields(State) if getattr(old, f.name) != getattr(new, f.name)
    }
