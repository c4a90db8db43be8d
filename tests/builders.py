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
    EntryKind,
    ExcKind,
    Interrupt,
    Outcome,
    Resource,
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

COLLIDING = Config(n_envs=3, n_pages=4, page_words=2, tlb_size=2, stlb_size=4, n_cids=4,
                   n_slices=3, n_guaranteed=2, n_regs=2, slice_ticks=2, excess_limit=1,
                   addr_limit=1 << 16, n_filters=3, ring_size=2)
"""Smaller still, so TLB and STLB slots collide and filter slots run out (the lockstep and
hostile-argument tests)."""

RW = int(Rights.READWRITE)
RO = int(Rights.READ)
PAGE = int(Resource.PAGE)
SLICE = int(Resource.SLICE)

VP_RW = 5
"""The vpage at which ``mapped()`` maps env 0's page 0 writable."""

VP_RO = 6
"""The vpage at which ``mapped()`` maps env 0's page 1 read-only."""


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

BAD_PROGRAMS: tuple[object, ...] = (
    None, "ret #1", [(6, 0, 0, 1)], ((6, 0, 0),), ((6, 0, 0, -1),), ((6, 0, 0, 2**32),),
    ((2**16, 0, 0, 1),), ((6, 256, 0, 1),), ((6.0, 0, 0, 1),), ((True, 0, 0, 1),), 7,
)
"""Values that are not a program: tuples of (code, jt, jf, k) with u16/u8/u8/u32 fields."""

BAD_PACKETS: tuple[object, ...] = (None, "abc", [1, 2], bytearray(b"a"), 7,
                                   b"x" * 65536)
"""Values that are not a packet: bytes of at most 65535."""

EXTREME_INTS: tuple[int, ...] = (-1, -2, -(2**63), -(2**200), 2**31, 2**63, 2**64, 2**200)
"""Huge and negative ints: they must never raise."""


def ill_typed(name: str, good: tuple[object, ...]) -> list[tuple[str, tuple[object, ...]]]:
    """GEN-1: every call that differs from the well-typed ``good`` by one ill-typed argument,
    or by the number of arguments; each labelled for assertion messages."""
    sig = OPERATIONS[name]
    assert len(good) == len(sig.args)
    pools = {"int": BAD_INTS, "bool": BAD_BOOLS, "cap": BAD_CAPS, "program": BAD_PROGRAMS,
             "packet": BAD_PACKETS}
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


@functools.cache
def mapped(bare: bool = False) -> tuple[State, dict[int, Cap]]:
    """Env 0 running with vpage ``VP_RW`` → page 0 (writable) and ``VP_RO`` → page 1
    (read-only). With ``bare`` env 0 has no exception handlers."""
    s, caps = running_bare() if bare else running_world()
    s = step(s, "tlbwr", 0, VP_RW, caps[0], True)
    s = step(s, "tlbwr", 0, VP_RO, caps[1], False)
    return s, caps


@functools.cache
def requested(kind: int = PAGE, target: int = 0, bare: bool = False) -> State:
    """REV-1: env 0 running on slice 1 (and owning slice 2) with a pending request for
    ``target`` (a page or slice, by ``kind``) due at the next tick."""
    s, _ = running_bare() if bare else running_world()
    s = step(s, "slice_alloc", 0, 2)
    return step(s, "revoke_request", 0, kind, target, s.now + 1)


@functools.cache
def overdue(kind: int = PAGE, target: int = 0, bare: bool = False) -> State:
    """``requested`` after two ticks: the deadline has passed, env 0 still running."""
    s, _ = ticks(requested(kind, target, bare), 2)
    assert s.now > s.rev_deadline[0] and s.cur_env == 0
    return s


def repossess(state: State, env: int, kind: int, target: int) -> State:
    """REV-1/REV-3: ``env`` is asked for ``target`` (a page or slice, by ``kind``) due at the
    next tick, two ticks pass and the kernel aborts: the resource is repossessed."""
    s = step(state, "revoke_request", env, kind, target, state.now + 1)
    s, _ = ticks(s, 2)
    s = step(s, "abort", env)
    assert s.rev_pending[env] is False
    return s


def byte_filter(v: int) -> tuple[tuple[int, int, int, int], ...]:
    """NET-1: a filter accepting exactly the packets whose first byte is ``v``."""
    return ((0x30, 0, 0, 0), (0x15, 0, 1, v), (0x06, 0, 0, 0xFFFF), (0x06, 0, 0, 0))


@functools.cache
def filtered() -> State:
    """Envs 0 and 1, env 0's filter in slot 0 (first byte 1), env 1's in slot 1 (first
    byte 2), and one packet waiting in env 1's ring."""
    s = with_envs(2)
    s = step(s, "filter_install", 0, byte_filter(1))
    s = step(s, "filter_install", 1, byte_filter(2))
    s = step(s, "packet_arrive", b"\x02hello")
    assert s.rx_count[1] == 1
    return s


def good_call(name: str) -> tuple[State, tuple[object, ...]]:
    """GEN-1: a state and well-typed arguments on which the operation ``name`` succeeds,
    for every operation of ``OPERATIONS``: the call every GEN-1 variant starts from."""
    owned, caps = owning()
    running, _ = running_world()
    calls: dict[str, tuple[State, tuple[object, ...]]] = {
        # environments (ENV-1..ENV-5)
        "env_create": (with_envs(2), (2, 2)),
        "env_destroy": (with_envs(2), (1,)),
        "set_exception_context": (with_envs(2), (0, int(ExcKind.TLB_MISS), 5)),
        "set_interrupt_context": (with_envs(2), (0, int(Interrupt.SLICE_END), 7)),
        "set_protected_entry": (with_envs(2), (1, int(EntryKind.ASYNC), 9)),
        # physical memory (MEM-1..MEM-5)
        "alloc": (owned, (1, 3)),
        "dealloc": (owned, (0, caps[0])),
        "grant": (owned, (0, caps[0], 1, RO)),
        "load": (mapped()[0], (VP_RW, 1, 0)),
        "store": (mapped()[0], (VP_RW, 1, 0)),
        # secure bindings (TLB-1..TLB-5)
        "tlbwr": (owned, (0, 5, caps[0], True)),
        "tlbvadelete": (owned, (0, 5)),
        "cid_switch": (owned, (0, 3)),
        "gm_set": (owned, (0, 1, 9, caps[1], False)),
        "gm_clear": (owned, (1, 0)),
        # processor time (CPU-1..CPU-4, CPU-6)
        "slice_alloc": (running, (1, 2)),
        "slice_free": (running, (0, 1)),
        "yield_to": (running, (1,)),
        "timer_tick": (running, ()),
        "set_reg": (running, (1, 123)),
        # protected control transfer (PCT-1, PCT-2)
        "scall": (running, (1,)),
        "acall": (running, (1,)),
        # exceptions (EXC-1)
        "raise_exception": (running, (int(ExcKind.OVERFLOW),)),
        # revocation (REV-1, REV-3)
        "revoke_request": (owned, (0, PAGE, 1, owned.now + 3)),
        "abort": (overdue(), (0,)),
        # packet filters (NET-1..NET-4)
        "filter_install": (with_envs(2), (0, byte_filter(1))),
        "filter_remove": (filtered(), (0, 0)),
        "packet_arrive": (filtered(), (b"\x01abc",)),
        "packet_take": (filtered(), (1,)),
    }
    return calls[name]


def outcome(res: Result) -> Outcome:
    """The outcome of an event's OK result."""
    assert res.status == Status.OK
    return Outcome(res.value)


def changed(old: State, new: State) -> set[str]:
    """The names of the state fields that differ between ``old`` and ``new`` (frame checks)."""
    return {
        f.name for f in dataclasses.fields(State) if getattr(old, f.name) != getattr(new, f.name)
    }
