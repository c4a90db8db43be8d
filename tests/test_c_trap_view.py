"""The C kernel of examples/c-kernel speaks WIRE-7 (``trap``, GEN-6) and WIRE-8
(``observe_as``, GEN-7): driven with JSON lines directly, on seeded random walks that mix
``apply`` (environments, slices, slice-start entries, the timer, hardware events) with
``trap`` (every system call, with arguments in and out of range and of the wrong kind or
count, and names that are not system calls), every result must be the model's
(``ModelImplementation.trap`` / ``apply``, encoded as ``exo.wire.codec.encode_result``), the
state sent with a result the model's, and after every step the view of every environment
slot (and of slots that are not one) the model's ``observe_as``, compared in sparse form
(entries at their boot value dropped) with nothing outside the view sent at all.

Skipped where no C compiler or Jansson is installed, except in CI (``CI`` set), where a
missing toolchain is a failure, as in tests/test_c_kernel.py."""

from __future__ import annotations

import json
import random
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

import pytest

from exo.interface import OPERATIONS, TRAPS, Cap, Config, ExcKind, Interrupt, Result, Status
from exo.kit.bpf_samples import SAMPLES
from exo.kit.conformance import abstract, differences
from exo.model.kernel import ModelImplementation
from exo.model.state import SCALARS, State, layout
from exo.model.view import sees
from exo.wire.codec import (
    config_json,
    decode_state,
    encode,
    encode_int,
    encode_result,
    request,
)
from tests.c_tools import SRC, needs_kernel_tools

pytestmark = needs_kernel_tools

CFG = Config(n_envs=3, n_pages=3, page_words=2, tlb_size=2, stlb_size=2, n_cids=4,
             n_slices=3, n_guaranteed=2, n_regs=2, slice_ticks=2, excess_limit=2,
             n_filters=3, ring_size=2)
"""A small machine (one of the kit's sizes): collisions, kills and full rings come soon."""

SEEDS = 100
STEPS = 40

PROGRAMS: tuple[Any, ...] = (
    ((6, 0, 0, 1),),             # accepts every packet (FLT-9: one empty conjunction)
    ((6, 0, 0, 0),),             # accepts none
    SAMPLES["arp"],
    SAMPLES["tcp_synack"],
    SAMPLES["udp_port_53"],
    ((0x99, 0, 0, 0),),          # refused by the verifier (FLT-2)
    (),                          # refused: no instruction
)
"""Programs FLT-9 recognizes or the verifier refuses: the C kernel decides these without a
solver, as the model does (README, *Overlap without a solver*)."""

NOT_TRAPS: tuple[str, ...] = tuple(n for n in OPERATIONS if n not in TRAPS)
"""Hardware events and kernel operations: a trap of one is INVALID_ARGUMENT (GEN-6)."""

BAD_VIEW_ENVS: tuple[Any, ...] = (-1, CFG.n_envs, 2**64, -(2**70), True, False, 1.0, "0",
                                  None, [0], {"env": 0})
"""``observe_as`` arguments that name no environment slot: FIELDS is null (WIRE-8). An
integer goes as WIRE-6 says (``{"int": ...}`` past 64 bits), anything else as the JSON
value it is (``1.0`` a JSON real)."""


# --------------------------------------------------------------------------- the process


class Process:
    """The C kernel as a process: one JSON request a line in, one reply a line out."""

    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen([str(path)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def ask(self, req: Any) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"the kernel closed its output after {req!r}"
        return json.loads(line)

    def close(self) -> None:
        try:
            assert self.ask(request("goodbye")) == {"type": "bye"}
            self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


def _build(out: Path, broken: str | None = None) -> Path:
    target = out / ("exo-c-kernel" + (f"-broken-{broken}" if broken else ""))
    subprocess.run(["make", "-s", "-C", str(SRC), f"TARGET={target}",
                    *([f"BROKEN={broken}"] if broken else [])], check=True)
    assert target.exists()
    return target


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("c-kernel"))


# --------------------------------------------------------------------------- views


def _tag(v: Any) -> tuple[str, Any]:
    """A value with its kind, so that ``True`` and ``1`` differ (GEN-5: exact types); an
    enum member stands for its ``int``."""
    if type(v) is bool:
        return ("bool", v)
    if isinstance(v, IntEnum) or type(v) is int:
        return ("int", int(v))
    return (type(v).__name__, v)


def sparse(cfg: Config, view: dict[str, Any]) -> dict[str, Any]:
    """``view`` without the entries at their boot value (``SCALARS``, ``layout``), and
    without maps left empty. A field the model does not have is kept as it is."""
    shapes = layout(cfg)
    out: dict[str, Any] = {}
    for name, value in view.items():
        if name in SCALARS:
            if _tag(value) != _tag(SCALARS[name]):
                out[name] = value
        elif name in shapes and type(value) is dict:
            boot = _tag(shapes[name][1])
            rows = {k: v for k, v in value.items() if _tag(v) != boot}
            if rows:
                out[name] = rows
        else:
            out[name] = value
    return out


def view_differences(cfg: Config, expected: dict[str, Any] | None,
                     got: dict[str, Any] | None) -> list[str]:
    """Where two views differ once both are in sparse form: one line per entry."""
    if expected is None or got is None:
        return [] if expected is got else [f"expected {expected!r}, got {got!r}"]
    want, have = sparse(cfg, expected), sparse(cfg, got)
    out: list[str] = []
    for name in sorted(set(want) | set(have)):
        a, b = want.get(name, {}), have.get(name, {})
        if type(a) is not dict or type(b) is not dict:
            if name not in want or name not in have or _tag(a) != _tag(b):
                out.append(f"{name}: expected {want.get(name, '<boot>')!r}, "
                           f"got {have.get(name, '<boot>')!r}")
            continue
        for key in sorted(set(a) | set(b), key=repr):
            if key not in a or key not in b or _tag(a[key]) != _tag(b[key]):
                out.append(f"{name}[{key!r}]: expected {a.get(key, '<boot>')!r}, "
                           f"got {b.get(key, '<boot>')!r}")
    return out


def outside_view(s: State, e: int, got: dict[str, Any]) -> list[str]:
    """The entries of ``got`` (a decoded view of ``e``) that are not in ``e``'s view of
    ``s`` (``exo.model.view.sees``), boot values included: WIRE-8 says they must be left
    out. Also a field or key the state does not have."""
    shapes = layout(s.cfg)
    out: list[str] = []
    for name, value in got.items():
        if name in SCALARS:
            if not sees(s, e, name):
                out.append(name)
            continue
        if name not in shapes or type(value) is not dict:
            out.append(f"{name} (not a map of the state)")
            continue
        dom = shapes[name][0]
        for k in value:
            key = k if type(k) is tuple else (k,)
            if len(key) != len(dom) or not all(type(i) is int and 0 <= i < n
                                               for i, n in zip(key, dom, strict=True)):
                out.append(f"{name}[{k!r}] (no such key)")
            elif not sees(s, e, name, key):
                out.append(f"{name}[{k!r}]")
    return out


def c_view(proc: Process, cfg: Config, env: Any) -> tuple[dict[str, Any] | None, list[str]]:
    """The C kernel's ``observe_as(env)`` decoded, or None for ``"fields": null``; and
    what is wrong with the reply's shape."""
    wire = encode_int(env) if type(env) is int else env  # a JSON real, string, ... as is
    reply = proc.ask(request("observe_as", env=wire))
    if type(reply) is not dict or reply.get("type") != "view" or set(reply) != {"type",
                                                                              "fields"}:
        return None, [f"observe_as({env!r}): reply out of shape: {reply!r}"]
    if reply["fields"] is None:
        return None, []
    try:
        return decode_state(cfg, {"type": "state", "fields": reply["fields"]}), []
    except ValueError as exc:
        return None, [f"observe_as({env!r}): {exc}"]


# --------------------------------------------------------------------------- the walks


@dataclass
class Walk:
    """What one or more walks found: the problems (at most a few a walk) and the count of
    each (trap name, status) seen."""

    problems: list[str] = field(default_factory=list)
    traps: Counter[tuple[str, str]] = field(default_factory=Counter)
    views: int = 0
    nonempty_views: int = 0


def _int(rng: random.Random) -> int:
    """An integer argument: mostly small (in range for CFG or just outside it), sometimes
    huge (WIRE-6's ``{"int": ...}``) or past 64 bits."""
    r = rng.random()
    if r < 0.8:
        return rng.randrange(0, 3)
    if r < 0.9:
        return rng.choice([-1, 3, 4, 5])
    if r < 0.95:
        return rng.choice([16, 32, 2**32, 2**63 - 1])
    return rng.choice([2**64, -(2**70), 2**63])


def _packet(rng: random.Random) -> bytes:
    if rng.random() < 0.5:  # an ARP frame, mostly long enough for the arp filter
        body = bytes(rng.randrange(256) for _ in range(12)) + b"\x08\x06"
        return body + bytes(rng.randrange(256) for _ in range(rng.randrange(0, 30)))
    return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40)))


def _arg(rng: random.Random, kind: str, caps: list[Cap]) -> Any:
    if kind == "int":
        return _int(rng)
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "cap":
        if caps and rng.random() < 0.8:
            return rng.choice(caps)
        return Cap(rng.randrange(-1, 4), rng.randrange(0, 2), rng.randrange(0, 3))
    if kind == "program":
        return rng.choice(PROGRAMS)
    return _packet(rng)


_BAD: tuple[Any, ...] = (True, False, 1.5, "1", None, Cap(0, 0, 2), b"\x00", ((6, 0, 0, 1),))
"""Values an argument may be that are not of its kind (each of some kind's)."""


def _args(rng: random.Random, sig: Any, caps: list[Cap]) -> list[Any]:
    """Arguments for ``sig`` (an ``OpSig``); one time in eight of the wrong kind or
    count."""
    args = [_arg(rng, kind, caps) for _, kind in sig.args]
    r = rng.random()
    if r < 0.06 and args:
        args[rng.randrange(len(args))] = rng.choice(_BAD)
    elif r < 0.09:
        args.append(_int(rng))
    elif r < 0.125 and args:
        args.pop()
    return args


def _setup(rng: random.Random) -> list[tuple[str, str, list[Any]]]:
    """The loader's work at the start of a walk (raw calls for each new environment):
    environments with a slice-start entry and handlers for the faults a load or a store
    raises, the slices shared among them, then (mostly) a tick to run the first. So that
    traps have a caller most of the time."""
    out: list[tuple[str, str, list[Any]]] = []
    envs = rng.sample(range(CFG.n_envs), rng.randrange(1, CFG.n_envs + 1))
    for e in envs:
        out += [("apply", "env_create", [e, rng.randrange(CFG.n_cids)]),
                ("apply", "set_interrupt_context",
                 [e, int(Interrupt.SLICE_START), 16 * (e + 1)]),
                *[("apply", "set_exception_context", [e, int(x), 16 * (e + 1) + 4])
                  for x in (ExcKind.TLB_MISS, ExcKind.PROTECTION)]]
    for q in range(CFG.n_slices):
        if rng.random() < 0.8:
            out.append(("apply", "slice_alloc", [rng.choice(envs), q]))
    if rng.random() < 0.9:
        out.append(("apply", "timer_tick", []))
    return out


_APPLY: tuple[tuple[str, int], ...] = (
    ("timer_tick", 6), ("env_create", 3), ("slice_alloc", 3), ("set_interrupt_context", 3),
    ("set_reg", 2), ("load", 2), ("store", 2), ("raise_exception", 1), ("packet_arrive", 3),
    ("alloc", 2), ("env_destroy", 1), ("revoke_request", 1), ("abort", 1), ("grant", 1))
"""Operations sent as ``apply`` (the kernel's, the hardware's and a few raw system calls
for another environment), with weights."""


def _step(rng: random.Random, caps: list[Cap]) -> tuple[str, str, list[Any]]:
    """One random request: (type, op, args)."""
    if rng.random() < 0.55:
        if rng.random() < 0.05:  # not a system call: refused whatever its arguments
            name = rng.choice(NOT_TRAPS)
            return ("trap", name, _args(rng, OPERATIONS[name], caps))
        name = rng.choice(sorted(TRAPS))
        return ("trap", name, _args(rng, TRAPS[name], caps))
    names = [n for n, _ in _APPLY]
    name = rng.choices(names, weights=[w for _, w in _APPLY])[0]
    args = _args(rng, OPERATIONS[name], caps)
    if name == "set_interrupt_context" and len(args) == 3 and rng.random() < 0.7:
        args[1] = int(Interrupt.SLICE_START)
    return ("apply", name, args)


def _shown_differences(cfg: Config, model: State, shown: dict[str, Any]) -> list[str]:
    """The state the kernel sent with its results (put together from changed fields) as
    against the model's, in meaning (``conformance.differences``)."""
    try:
        impl = abstract(cfg, decode_state(cfg, {"type": "state", "fields": shown}))
    except (KeyError, ValueError) as exc:
        return [f"fields out of shape: {exc}"]
    return differences(model, impl)


def walk(proc: Process, seed: int, steps: int, out: Walk) -> None:
    """One seeded walk on a fresh ``reset``, ``steps`` random steps after the loader's
    (``_setup``): every result, the state sent with it, and
    every view after it against the model. Stops at the first step with a problem."""
    rng = random.Random(seed)
    ready = proc.ask(request("reset", config=config_json(CFG)))
    features = ready.get("features") if type(ready) is dict else None
    if type(features) is not list or not {"trap", "view"} <= set(features):
        out.problems.append(f"seed {seed}: ready without trap and view: {ready!r}")
        return
    model = ModelImplementation(CFG)
    caps: list[Cap] = []
    shown: dict[str, Any] | None = None
    plan = _setup(rng)
    for i in range(len(plan) + steps):
        kind, name, args = plan[i] if i < len(plan) else _step(rng, caps)
        body: dict[str, Any] = {"op": name, "args": [encode(a) for a in args]}
        mode = rng.randrange(3)  # no state, the whole state, only the changed fields
        if mode:
            body["observe"] = True
        if mode == 2:
            body["changed"] = True
        reply = proc.ask(request(kind, **body))
        res: Result = (model.trap if kind == "trap" else model.apply)(name, *args)
        if type(res.value) is Cap and res.status == Status.OK:
            caps.append(res.value)
        where = f"seed {seed} step {i}: {kind} {name}{tuple(args)!r}"
        if kind == "trap":
            out.traps[name, Status(res.status).name] += 1
        problems: list[str] = []
        want = encode_result(name, res)
        if type(reply) is not dict or {k: reply.get(k) for k in want} != want or set(
                reply) != set(want) | ({"fields"} if mode else set()):
            problems.append(f"{where}: expected {want!r}{' with fields' if mode else ''}, "
                            f"got {reply!r}")
        elif mode:
            fields = reply["fields"]
            if type(fields) is not dict:
                problems.append(f"{where}: fields {fields!r}")
            else:
                shown = {**shown, **fields} if mode == 2 and shown is not None else fields
                problems += [f"{where}: state: {d}" for d in
                             _shown_differences(CFG, model.state, shown)]
        envs: list[Any] = [*range(CFG.n_envs), rng.choice(BAD_VIEW_ENVS[:4]),
                           rng.choice(BAD_VIEW_ENVS[4:])]
        for e in envs:
            got, shape = c_view(proc, CFG, e)
            problems += [f"{where}: {p}" for p in shape]
            expected = model.observe_as(e)
            problems += [f"{where}: view of {e!r}: {d}"
                         for d in view_differences(CFG, expected, got)]
            if got is not None and type(e) is int:
                problems += [f"{where}: view of {e}: sent outside it: {d}"
                             for d in outside_view(model.state, e, got)]
            out.views += 1
            out.nonempty_views += bool(expected)
        if problems:
            out.problems += problems[:5]
            return


# --------------------------------------------------------------------------- the tests


def test_traps_and_views_agree_with_the_model_on_random_walks(kernel: Path) -> None:
    proc = Process(kernel)
    found = Walk()
    try:
        for seed in range(SEEDS):
            walk(proc, seed, STEPS, found)
    finally:
        proc.close()
    assert not found.problems, "\n".join(found.problems[:10])
    ok = {name: n for (name, status), n in found.traps.items() if status == "OK"}
    # the walks reach the interesting cases: traps that run, from every system call
    # that can succeed here, and each failure of the trap layer itself
    assert sum(ok.values()) >= 300, ok
    assert len(ok) >= 15, sorted(set(TRAPS) - set(ok))
    statuses = {status for (_, status) in found.traps}
    assert {"OK", "INVALID_ARGUMENT", "NOT_RUNNING"} <= statuses, statuses
    assert found.nonempty_views > found.views // 2


def test_a_wrong_view_is_reported() -> None:
    """The comparison can fail: one entry changed, added or dropped, a scalar of the
    wrong kind, or a null against a view, is reported; boot values listed or not are
    the same view."""
    model = ModelImplementation(CFG)
    for name, args in [("env_create", (0, 1)), ("env_create", (1, 2)),
                       ("slice_alloc", (0, 1)),
                       ("set_interrupt_context", (0, int(Interrupt.SLICE_START), 16)),
                       ("timer_tick", ()), ("set_reg", (1, 7))]:
        assert model.apply(name, *args).status == Status.OK, name
    assert model.trap("alloc", 2).status == Status.OK
    view = model.observe_as(0)
    assert view is not None and view["regs"] == {1: 7} and view["rights"] == {(0, 2): 2}
    assert view_differences(CFG, view, dict(view)) == []
    padded = {**view, "pc": view.get("pc", 0), "gm_valid": {(0, 0): False}}
    assert view_differences(CFG, view, padded) == []
    changed = {**view, "regs": {1: 8}}
    assert view_differences(CFG, view, changed) == ["regs[1]: expected 7, got 8"]
    extra = {**view, "rights": {(0, 2): 2, (1, 2): 1}}
    assert len(view_differences(CFG, view, extra)) == 1
    dropped = {k: v for k, v in view.items() if k != "owner"}
    assert view_differences(CFG, view, dropped) == ["owner[2]: expected 0, got '<boot>'"]
    kinds = {**view, "env_alive": {0: 1, 1: True}}
    assert view_differences(CFG, view, kinds) == ["env_alive[0]: expected True, got 1"]
    assert view_differences(CFG, view, None) != []
    assert view_differences(CFG, None, None) == []
    # an entry of another environment, even at its boot value, is outside env 0's view
    assert outside_view(model.state, 0, {"rights": {(1, 2): 0}, "kernel_drops": 0}) == [
        "rights[(1, 2)]", "kernel_drops"]
    assert outside_view(model.state, 1, view) != []  # env 1 does not run: no regs, pc


def test_trap_requests_out_of_shape_and_the_trap_layer_s_own_failures(kernel: Path) -> None:
    """WIRE-7: a name that is no operation, or args that are not a list, is an error; a
    name of an operation that is not a system call is INVALID_ARGUMENT with 0 (an
    outcome's 0 goes as "NONE", WIRE-6); an idle CPU is NOT_RUNNING with the null value,
    after the argument check. WIRE-8: a request without "env" is an error. None of
    these changes the state."""
    proc = Process(kernel)
    try:
        ready = proc.ask(request("reset", config=config_json(CFG)))
        assert ready == {"type": "ready",
                         "features": ["observe", "changed", "trap", "view"]}
        before = proc.ask(request("observe"))
        bodies: list[dict[str, Any]] = [
            {"op": "no_such_op", "args": []}, {"op": 3, "args": []},
            {"op": "alloc", "args": 0}, {"op": "alloc"}, {"args": [0]},
            {"op": "load", "args": {"0": 1}}]
        for body in bodies:
            reply = proc.ask(request("trap", **body))
            assert reply.get("type") == "error", (body, reply)
        cases: list[tuple[str, list[Any], str, Any]] = [
            ("env_create", [0, 0], "INVALID_ARGUMENT", 0),
            ("load", [0, 0, 0], "INVALID_ARGUMENT", "NONE"),
            ("timer_tick", [], "INVALID_ARGUMENT", "NONE"),
            ("abort", [0], "INVALID_ARGUMENT", 0),
            ("alloc", [0, 1], "INVALID_ARGUMENT", {"cap": [-1, -1, 0]}),  # env given
            ("alloc", [True], "INVALID_ARGUMENT", {"cap": [-1, -1, 0]}),
            ("alloc", [1], "NOT_RUNNING", {"cap": [-1, -1, 0]}),
            ("alloc", [2**64], "NOT_RUNNING", {"cap": [-1, -1, 0]}),
            ("yield_to", [7], "NOT_RUNNING", "NONE"),
            ("packet_take", [], "NOT_RUNNING", 0),
            ("packet_take", [0], "INVALID_ARGUMENT", 0),
        ]
        for name, args, status, value in cases:
            model = ModelImplementation(CFG)
            assert Status(model.trap(name, *args).status).name == status, name
            reply = proc.ask(request("trap", op=name, args=[encode(a) for a in args]))
            assert reply == {"type": "result", "status": status, "value": value}, (name, args)
        assert proc.ask(request("observe_as")).get("type") == "error"
        assert proc.ask(request("observe")) == before
    finally:
        proc.close()


@pytest.mark.parametrize("broken", ["1", "filter", "demux"])
def test_the_broken_builds_still_build(tmp_path: Path, broken: str) -> None:
    path = _build(tmp_path, broken)
    proc = Process(path)
    try:
        ready = proc.ask(request("reset", config=config_json(CFG)))
        assert {"trap", "view"} <= set(ready["features"])
    finally:
        proc.close()


def test_the_broken_tlb_build_is_caught_through_traps_and_views(tmp_path: Path) -> None:
    """``make BROKEN=1`` keeps a hardware TLB binding of a deallocated page: the walks,
    whose system calls go through the trap, see it (in a result, the state or a view)."""
    proc = Process(_build(tmp_path, "1"))
    found = Walk()
    try:
        for seed in range(SEEDS):
            walk(proc, seed, STEPS, found)
            if found.problems:
                break
    finally:
        proc.close()
    assert found.problems
    assert any("tlb_" in p for p in found.problems), found.problems
