"""The machine library OSes share, and what every library OS does: boot its
environments, register its handlers, get onto the CPU, and take its upcalls.

The library drives the kernel through ``apply``/``observe`` only (GEN-1, GEN-5). Every
kernel operation it makes is counted by name (``Machine.calls``); reads of the exposed
state are counted apart (``Machine.observes``), since on hardware they are loads of
registers or of kernel pages mapped read-only, not kernel calls.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from exo.interface import (
    FREE,
    NULL_CAP,
    OPERATIONS,
    OUTCOME_OPS,
    Cap,
    Config,
    ExcKind,
    Interrupt,
    Outcome,
    Result,
    Status,
)
from exo.model.state import SCALARS, layout


class Kernel(Protocol):
    """The conformance contract: what a library OS may use of a kernel."""

    def apply(self, name: str, *args: Any) -> Result: ...
    def observe(self) -> dict[str, Any]: ...


class LibOSError(Exception):
    """Something a library OS could not do. Every error of ``exo.libos`` is one: a
    library meets them in states it did not build (no free page, no time left), and a
    workload that drives a library through the kit (``exo.kit.exos``) stops on them."""


class KernelError(LibOSError):
    """A kernel call the library needed failed: the operation (``name``), its arguments
    (``call_args``) and the result it answered (``result``). Its text names all three,
    the arguments by their names in the interface: ``load(vpage=3, offset=0, reg=0) ->
    NOT_MAPPED``."""

    def __init__(self, name: str, args: tuple[Any, ...], res: Result) -> None:
        super().__init__(describe_failure(name, args, res))
        self.name, self.call_args, self.result = name, args, res


_STATUS_NAMES: dict[int, str] = {int(s): s.name for s in Status}


def describe_failure(name: str, args: tuple[Any, ...], res: Result) -> str:
    """``name(arg=value, ...) -> STATUS``: an argument is named by the operation's
    signature (``exo.interface.OPERATIONS``; one beyond it, or of a call that is not an
    interface operation, by position only); the status by its name (its number if it is
    none of ``Status``); a value other than the null value follows the status."""
    sig = OPERATIONS.get(name)
    names = [n for n, _ in sig.args] if sig is not None else []
    shown = [f"{n}={a!r}" for n, a in zip(names, args, strict=False)]
    shown += [repr(a) for a in args[len(names):]]
    status = res.status
    said = (_STATUS_NAMES.get(int(status), repr(status))
            if type(status) is Status or type(status) is int else repr(status))
    value = res.value
    null = (type(value) is int and value == 0) or (type(value) is Cap and value == NULL_CAP)
    tail = "" if null else f" (value {value!r})"
    return f"{name}({', '.join(shown)}) -> {said}{tail}"


class Killed(LibOSError):
    """The kernel destroyed an environment of the library (an upcall it had no handler
    for, EXC-2, or excess time past the limit, CPU-4)."""


# Entry addresses a library registers (any address below addr_limit will do: GEN-3)
TLB_MISS_HANDLER = 0x1000
PROTECTION_HANDLER = 0x1100
REPOSSESSION_HANDLER = 0x1200
SLICE_START = 0x2000
PCT_SYNC_ENTRY = 0x3000
PCT_ASYNC_ENTRY = 0x3100


class State:
    """One observation with the sparse form filled in: ``s.get("owner", 3)`` is the boot
    value when the kernel left the entry out (GEN-5)."""

    def __init__(self, cfg: Config, fields: dict[str, Any]) -> None:
        self.cfg, self.fields = cfg, fields
        self._boot = {name: boot for name, (_, boot, _) in layout(cfg).items()}

    def get(self, name: str, key: Any = None) -> Any:
        if name in SCALARS:
            return self.fields.get(name, SCALARS[name])
        return self.fields.get(name, {}).get(key, self._boot[name])


class Machine:
    """One kernel, shared by every library OS on it; counts the calls they make."""

    def __init__(self, kernel: Kernel, cfg: Config) -> None:
        self.kernel, self.cfg = kernel, cfg
        self.calls: Counter[str] = Counter()
        self.observes = 0
        self.owners: dict[int, LibOS] = {}  # env -> the library OS it belongs to
        self.trace: list[str] | None = None  # each call and its answer, when a list
        self._seen: State | None = None  # the last observation, until the next call

    def call(self, name: str, *args: Any) -> Result:
        self.calls[name] += 1
        self._seen = None
        res = self.kernel.apply(name, *args)
        if self.trace is not None:
            said = (f"{Status(res.status).name}:{Outcome(res.value).name}"
                    if name in OUTCOME_OPS and res.status == Status.OK else repr(res))
            self.trace.append(f"{name}({', '.join(map(repr, args))}) -> {said}")
        return res

    def ok(self, name: str, *args: Any) -> Any:
        """Call ``name``; its value if OK, else ``KernelError``."""
        res = self.call(name, *args)
        if res.status != Status.OK:
            raise KernelError(name, args, res)
        return res.value

    def state(self) -> State:
        """The exposed state (GEN-5). Only a kernel call changes it, so an observation
        is kept until the next call."""
        if self._seen is None:
            self.observes += 1
            self._seen = State(self.cfg, self.kernel.observe())
        return self._seen

    def kernel_ops(self) -> int:
        return sum(self.calls.values())

    def tick(self) -> Result:
        """CPU-4: one timer tick (the clock is hardware; whoever drives the machine
        moves it)."""
        return self.call("timer_tick")

    def counting(self) -> Callable[[], int]:
        """A function that says how many kernel calls were made since this call."""
        start = self.kernel_ops()
        return lambda: self.kernel_ops() - start


class LibOS:
    """A library operating system: a name, the environments (its processes) and time
    slices it was given, and its policies. Subclasses and the service modules add the
    abstractions (``exo.libos.vm`` virtual memory, ...)."""

    def __init__(self, machine: Machine, name: str, page_order: Sequence[int] | None = None
                 ) -> None:
        self.machine, self.name = machine, name
        n = machine.cfg.n_pages
        self.page_order = list(page_order) if page_order is not None else list(range(n))
        self.envs: list[int] = []

    # ------------------------------------------------------------------ environments

    def boot_env(self, env: int, cid: int, slice_: int) -> None:
        """ENV-1, ENV-3..ENV-5, CPU-1: make ``env`` live, register the library's handlers
        and entry points, and give it time slice ``slice_``."""
        m = self.machine
        m.ok("env_create", env, cid)
        for kind, entry in ((ExcKind.TLB_MISS, TLB_MISS_HANDLER),
                            (ExcKind.PROTECTION, PROTECTION_HANDLER),
                            (ExcKind.REPOSSESSION, REPOSSESSION_HANDLER)):
            m.ok("set_exception_context", env, int(kind), entry)
        m.ok("set_interrupt_context", env, int(Interrupt.SLICE_START), SLICE_START)
        m.ok("set_protected_entry", env, 0, PCT_SYNC_ENTRY)
        m.ok("set_protected_entry", env, 1, PCT_ASYNC_ENTRY)
        m.ok("slice_alloc", env, slice_)
        self.envs.append(env)
        m.owners[env] = self

    def run(self, env: int) -> None:
        """CPU-3..CPU-5: get ``env`` onto the CPU. If another environment of this
        library runs with time left, it yields the rest of its slice to ``env``;
        otherwise the clock runs until a slice of ``env`` begins."""
        m = self.machine
        limit = m.cfg.n_slices * (m.cfg.slice_ticks + m.cfg.excess_limit + 2) + 2
        for _ in range(limit):
            s = m.state()
            cur = s.get("cur_env")
            if cur == env:
                return
            if cur in self.envs and s.get("slice_left") > 0:
                m.ok("yield_to", env)
                continue
            res = m.tick()
            if res.value == Outcome.KILLED and cur in self.envs:
                raise Killed(f"{self.name}: env {cur} ran past its excess limit")
        raise KernelError("run", (env,), Result(Status.NOT_RUNNING, 0))

    # ------------------------------------------------------------------ physical pages

    def alloc_page(self, env: int) -> tuple[int, Any]:
        """MEM-1: a free physical page for ``env``, chosen by the library's own order
        (physical names are exposed: the library asks for a specific page)."""
        m = self.machine
        s = m.state()
        for p in self.page_order:
            if s.get("owner", p) == FREE:
                res = m.call("alloc", env, p)
                if res.status == Status.OK:
                    return p, res.value
        raise KernelError("alloc", (env,), Result(Status.IN_USE, 0))
