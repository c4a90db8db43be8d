"""``exo check --workload exos``: library-OS traffic for the lockstep kit.

Random programs rarely look like what a library OS does: a miss, then an allocation,
then a binding, then the access again; a grant, then a protection fault, then a copy.
With this workload the kit's machine also runs ExOS-lite services (``exo.libos``:
virtual memory, revocation, IPC, a datagram socket) on fresh environments. Every
kernel call a service makes is one lockstep step: it runs on the model and on the
implementation, and results and states are compared as for any other step. A failure
shrinks and replays like any other.

The library calls the kernel as its running environment through the trap layer
(GEN-6: a trap step of the kit, its result and the caller's view compared like any
other step) and reads the model's view of its own environment (GEN-7). A library error
(``exo.libos.core.LibOSError``: no free page, no free slot, an operation left out by
``--ops``) ends the service quietly. A difference between model and implementation
fails the example.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import rule

from exo.interface import FREE, Resource, Result, trap_call
from exo.kit.lockstep import TRAP
from exo.libos.core import LibOS, LibOSError, Machine
from exo.libos.ipc import LRPC, Pipe
from exo.libos.net import Socket, udp_frame
from exo.libos.pagetable import Hashed, TwoLevel
from exo.libos.revoke import Pager
from exo.libos.vm import Process
from exo.model.state import State
from exo.model.view import view

WORKLOADS = ("exos",)
"""The workloads ``exo check --workload`` accepts."""


def _trap_by_apply(apply: Callable[[str, tuple[Any, ...]], Result], model: State,
                   name: str, args: tuple[Any, ...]) -> Result:
    """GEN-6 over raw ``apply`` for an implementation that offers no trap layer: its
    checks (``exo.interface.trap_call``) with the model's running environment as the
    caller, then the raw system call, one lockstep step."""
    call = trap_call(name, args, model.cur_env)
    return call if isinstance(call, Result) else apply(*call)


def _view(model: State, env: int) -> dict[str, Any] | None:
    """GEN-7: the model's view of ``env``, None for anything but an environment slot."""
    if type(env) is not int or not 0 <= env < model.cfg.n_envs:
        return None
    return view(env, model)


class _Lockstep:
    """The kernel contract over the lockstep machine: ``apply`` and ``trap`` are each one
    lockstep step; ``observe_as`` is the model's view of an environment (the library
    reads no more)."""

    def __init__(self, machine: Any) -> None:
        self.machine = machine

    def apply(self, name: str, *args: Any) -> Result:
        result: Result = self.machine._apply(name, args)
        return result

    def trap(self, name: str, *args: Any) -> Result:
        result: Result = self.machine._trap(name, tuple(args))
        return result

    def observe_as(self, env: int) -> dict[str, Any] | None:
        return _view(self.machine.model, env)


def _free(s: State, count: int) -> list[tuple[int, int, int]] | None:
    """``count`` (env, cid, slice) triples nobody uses, or None."""
    envs = [e for e in range(s.cfg.n_envs) if not s.env_alive[e]]
    cids = [c for c in range(s.cfg.n_cids) if s.cid_env[c] == FREE]
    slices = [q for q in range(s.cfg.n_slices) if s.slice_owner[q] == FREE]
    if min(len(envs), len(cids), len(slices)) < count:
        return None
    return list(zip(envs, cids, slices, strict=False))[:count]


def _processes(m: Machine, s: State, count: int, vary: int) -> list[Process] | None:
    free = _free(s, count)
    if free is None:
        return None
    lib = LibOS(m, "exos", page_order=range(s.cfg.n_pages - 1, -1, -1) if vary & 1 else None)
    tables = (TwoLevel, Hashed)
    return [Process(lib, env, cid, q, tables[(vary + i) % 2]())
            for i, (env, cid, q) in enumerate(free)]


def _vm(m: Machine, s: State, n: int) -> bool:
    """Demand paging, dirty bits, protection and copy-on-write."""
    procs = _processes(m, s, 2 if n % 2 else 1, n)
    if procs is None:
        return False
    a = procs[0]
    for v in range(n):
        a.store(v, v % s.cfg.page_words, 100 + v)
        a.load(v, 0)
    a.protect(range(n), writable=False)
    a.protect(range(n), writable=True)
    if len(procs) == 2:
        b = procs[1]
        a.share_cow(0, b, 1)
        b.load(1, 0)
        b.store(1, 0, 7)
        a.store(0, 0, 8)
    return True


def _revocation(m: Machine, s: State, n: int) -> bool:
    """A request the pager answers, then one it ignores (abort, repair)."""
    procs = _processes(m, s, 1, n)
    if procs is None:
        return False
    p = procs[0]
    pager = Pager(p)
    for v in range(max(n, 2)):
        p.store(v, 0, v + 1)
    for answered in (True, False):
        pte = next(iter(p.table.entries()), None)
        if pte is None:
            return True
        now = m.state(p.env).get("now")
        m.ok("revoke_request", p.env, int(Resource.PAGE), pte[1].page, now + 1)
        if answered:
            pager.answer()
            p.load(pte[0], 0)
        else:
            m.tick()
            m.tick()
            m.ok("abort", p.env)
            pager.repair()
    return True


def _ipc(m: Machine, s: State, n: int) -> bool:
    """A pipe and an LRPC between two processes."""
    procs = _processes(m, s, 2, n)
    if procs is None:
        return False
    a, b = procs
    pipe = Pipe(a, b, vpage=n)
    for v in range(min(n, pipe.size)):
        pipe.write(v)
    while pipe.read() is not None:
        pass
    LRPC(a, b, lambda args: sum(args)).call(n, 1)
    return True


def _net(m: Machine, s: State, n: int) -> bool:
    """A datagram socket: its generated filter downloaded, datagrams to it and to
    another port, the ring read, the filter removed."""
    procs = _processes(m, s, 1, n)
    if procs is None:
        return False
    port = 7000 + n
    sock = Socket(procs[0], port)
    for dport in (port, port + 100, port):
        m.call("packet_arrive", udp_frame(dport, bytes([n])))
    while sock.recv() is not None:
        pass
    sock.close()
    return True


SERVICES: dict[str, Callable[[Machine, State, int], bool]] = {
    "vm": _vm, "revocation": _revocation, "ipc": _ipc, "net": _net}


RUNS: Counter[str] = Counter()
"""How each service ended, over the process's runs: ``SERVICE/done``,
``SERVICE/stopped: ERROR`` (a library error), ``SERVICE/skipped`` (no free
environment, context id or slice). Tests and ``exo check`` read it to show the workload
really ran."""


class ExosWorkload:
    """The rule the kit's machine gains with ``--workload exos``."""

    cfg: Any
    model: State

    @rule(service=st.sampled_from(sorted(SERVICES)), n=st.integers(1, 3))
    def exos(self, service: str, n: int) -> None:
        """Run one ExOS-lite service on fresh environments, every call in lockstep."""
        m = Machine(_Lockstep(self), self.cfg)
        try:
            ran = SERVICES[service](m, self.model, n)
        except LibOSError as exc:
            RUNS[f"{service}/stopped: {type(exc).__name__}"] += 1
            return
        RUNS[f"{service}/{'done' if ran else 'skipped'}"] += 1


class _Diverged(Exception):
    """Model and implementation parted; the service stops (``run_service``)."""


class _Checked:
    """The kernel contract over ``exo.kit.lockstep.Lockstep``: every call is run on both
    sides and the states compared after it; after a trap, the caller's view too (when
    the implementation offers ``observe_as``). ``observe_as`` is the model's view."""

    def __init__(self, ls: Any) -> None:
        self.ls = ls

    def _step(self, name: str, args: tuple[Any, ...]) -> Result:
        failure = self.ls.call(name, args) or self.ls.conforms(invariants=False)
        if failure is not None:
            raise _Diverged(failure.message)
        result: Result = self.ls.result
        return result

    def apply(self, name: str, *args: Any) -> Result:
        return self._step(name, args)

    def trap(self, name: str, *args: Any) -> Result:
        if not self.ls.offers("trap"):  # the raw call for the running environment
            return _trap_by_apply(self._step, self.ls.model, name, tuple(args))
        caller = self.ls.model.cur_env
        result = self._step(TRAP, (name, *args))
        failure = self.ls.views([caller]) if caller != FREE else None
        if failure is not None:
            raise _Diverged(failure.message)
        return result

    def observe_as(self, env: int) -> dict[str, Any] | None:
        return _view(self.ls.model, env)


def run_service(factory: Callable[[Any], Any], cfg: Any, service: str, n: int
                ) -> str | None:
    """Run one service (``SERVICES``) from boot on ``factory(cfg)`` in lockstep with the
    model: the first difference as text, or None."""
    from exo.kit.lockstep import Lockstep

    ls = Lockstep(factory, cfg)
    if ls.failure is not None:
        return ls.failure.message
    m = Machine(_Checked(ls), cfg)
    try:
        SERVICES[service](m, ls.model, n)
    except _Diverged as exc:
        return str(exc)
    except LibOSError:
        return None
    return None
