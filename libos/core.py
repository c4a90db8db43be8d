"""The machine library OSes share, and what every library OS does: boot its
environments, register its handlers, get onto the CPU, and take its upcalls.

A library OS is user code: it calls the kernel through the trap layer (GEN-6,
``Machine.sys``), as the environment that runs, and it reads the machine through its own
environment's view (GEN-7, ``Machine.state(env)``), never the whole state. What it may
read of others is what the kernel exposes to everyone: owners, generations, the slice
vector, the filter slots, who runs, the clock and the translation caches. Hardware events
(a load, a store, a register set, a timer tick, a packet) and the kernel's own decisions
(``env_create``, ``revoke_request``, ``abort``...) keep their own entry, ``apply``
(``Machine.call``); so does the loader that sets up a new environment before it can run
(``LibOS.boot_env``, the kernel's own use of the raw system calls, GEN-6).

Every kernel call is counted by name (``Machine.calls``; a trap under its system call's
name); reads of a view are counted apart (``Machine.observes``), since on hardware they
are loads of registers or of kernel pages mapped read-only, not kernel calls.
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
    TRAPS,
    Cap,
    Config,
    ExcKind,
    Interrupt,
    Outcome,
    Result,
    Rights,
    Status,
    acts_for_caller,
)
from exo.model.state import SCALARS, layout
from exo.model.view import RUNNING_SCALARS


class Kernel(Protocol):
    """What a library OS may use of a kernel: ``trap`` for its system calls (GEN-6),
    ``observe_as`` for its own environment's view (GEN-7), and ``apply`` for hardware
    events and the kernel's own operations (GEN-3). The whole state (``observe``) is
    not the library's to read."""

    def apply(self, name: str, *args: Any) -> Result: ...
    def trap(self, name: str, *args: Any) -> Result: ...
    def observe_as(self, env: int) -> dict[str, Any] | None: ...


class LibOSError(Exception):
    """Something a library OS could not do. Every error of ``exo.libos`` is one: a
    library meets them in states it did not build (no free page, no time left), and a
    workload that drives a library through the kit (``exo.kit.exos``) stops on them."""


class KernelError(LibOSError):
    """A kernel call the library needed failed: the operation (``name``), its arguments
    (``call_args``) and the result it answered (``result``). Its text names all three,
    the arguments by their names in the interface: ``load(vpage=3, offset=0, reg=0) ->
    NOT_MAPPED``. A system call made through the trap layer is shown with the caller the
    layer supplied: ``alloc(env=0, page=3) -> IN_USE``."""

    def __init__(self, name: str, args: tuple[Any, ...], res: Result) -> None:
        super().__init__(describe_failure(name, args, res))
        self.name, self.call_args, self.result = name, args, res


class NotRunning(LibOSError):
    """A system call made as an environment that is not on the CPU: the trap layer acts
    for the running environment only (GEN-6), so this is the library's own mistake (it
    must get onto the CPU first, ``LibOS.run``)."""


class OutsideView(LibOSError):
    """A read of an entry outside the environment's view (GEN-7): another environment's
    records, the words of a page it holds no right to, the processor while another runs.
    The view leaves such entries out, so reading one would give a made-up boot value."""


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

LOADER_CALLS = frozenset({"set_exception_context", "set_interrupt_context",
                          "set_protected_entry", "slice_alloc"})
"""The system calls the loader makes raw, with an explicit ``env``, for an environment
that cannot run yet (``LibOS.boot_env``; GEN-6: the kernel's own use)."""

_OWN_ROWS = frozenset({
    "entry", "rights", "repo_page", "repo_slice", "repo_filter", "excess", "rev_pending",
    "repo_exc", "rx_head", "rx_count", "rx_drops", "rev_kind", "rev_target",
    "rev_deadline", "gm_valid", "gm_vpage", "gm_page", "gm_write", "rx_pkt"})
"""Maps whose first key is an environment: only its own rows are in its view (GEN-7)."""


class State:
    """Environment ``env``'s view (GEN-7) with the sparse form filled in:
    ``s.get("owner", 3)`` is the boot value when the kernel left the entry out (GEN-5).
    Asking for an entry the view cannot hold (another environment's row, the words of a
    page ``env`` holds no right to, the processor while another environment runs, the
    kernel's own counts) raises ``OutsideView`` instead of answering a boot value."""

    def __init__(self, cfg: Config, fields: dict[str, Any], env: int) -> None:
        self.cfg, self.fields, self.env = cfg, fields, env
        self._boot = {name: boot for name, (_, boot, _) in layout(cfg).items()}

    def _raw(self, name: str, key: Any = None) -> Any:
        if name in SCALARS:
            return self.fields.get(name, SCALARS[name])
        return self.fields.get(name, {}).get(key, self._boot[name])

    def visible(self, name: str, key: Any = None) -> bool:
        """Can entry ``key`` of ``name`` be in this view at all (GEN-7)?"""
        if name in RUNNING_SCALARS or name == "regs":
            return bool(self._raw("cur_env") == self.env)
        if name == "kernel_drops":
            return False
        if name in _OWN_ROWS:
            return bool(key == self.env or (type(key) is tuple and key[:1] == (self.env,)))
        if name == "word":
            page = key[0] if type(key) is tuple else key
            return bool(self._raw("rights", (self.env, page)) >= int(Rights.READ))
        if name == "filter_code":
            return bool(self._raw("filter_valid", key)
                        and self._raw("filter_owner", key) == self.env)
        return True

    def get(self, name: str, key: Any = None) -> Any:
        if not self.visible(name, key):
            where = name if key is None else f"{name}[{key!r}]"
            raise OutsideView(f"{where} is outside environment {self.env}'s view (GEN-7)")
        return self._raw(name, key)


class Machine:
    """One kernel, shared by every library OS on it; counts the calls they make."""

    def __init__(self, kernel: Kernel, cfg: Config) -> None:
        self.kernel, self.cfg = kernel, cfg
        self.calls: Counter[str] = Counter()
        self.observes = 0
        self.owners: dict[int, LibOS] = {}  # env -> the library OS it belongs to
        self.trace: list[str] | None = None  # each call and its answer, when a list
        self._seen: dict[int, State] = {}  # views read since the last call, by env

    def _traced(self, shown: str, name: str, args: tuple[Any, ...], res: Result) -> None:
        if self.trace is not None:
            said = (f"{Status(res.status).name}:{Outcome(res.value).name}"
                    if name in OUTCOME_OPS and res.status == Status.OK else repr(res))
            self.trace.append(f"{shown}({', '.join(map(repr, args))}) -> {said}")

    def call(self, name: str, *args: Any) -> Result:
        """A hardware event or a kernel operation (``apply``). A system call is not made
        here: user code traps (``sys``), the loader has ``loader``."""
        if OPERATIONS.get(name) is not None and OPERATIONS[name].kind == "syscall":
            raise LibOSError(f"{name} is a system call: a library makes it through the trap "
                             "layer (Machine.sys), the loader through Machine.loader")
        return self._apply(name, args)

    def _apply(self, name: str, args: tuple[Any, ...]) -> Result:
        self.calls[name] += 1
        self._seen.clear()
        res = self.kernel.apply(name, *args)
        self._traced(name, name, args, res)
        return res

    def ok(self, name: str, *args: Any) -> Any:
        """``call`` ``name``; its value if OK, else ``KernelError``."""
        res = self.call(name, *args)
        if res.status != Status.OK:
            raise KernelError(name, args, res)
        return res.value

    def loader(self, name: str, env: int, *args: Any) -> Any:
        """The kernel's loader (GEN-6, "for the kernel's own use"): system call ``name``
        for ``env``, raw with the explicit ``env``, while ``env`` cannot run yet. Only the
        set-up calls of ``LOADER_CALLS``; its value if OK, else ``KernelError``."""
        if name not in LOADER_CALLS:
            raise LibOSError(f"{name} is not a loader call ({', '.join(sorted(LOADER_CALLS))})")
        res = self._apply(name, (env, *args))
        if res.status != Status.OK:
            raise KernelError(name, (env, *args), res)
        return res.value

    def sys(self, env: int, name: str, *args: Any) -> Result:
        """GEN-6: system call ``name`` with ``args`` (without ``env``) made by ``env``
        through the trap layer. ``env`` must be the running environment, as its own view
        says (else ``NotRunning``: the kernel would act for whoever runs)."""
        if name not in TRAPS:
            raise LibOSError(f"{name} is not a system call (exo.interface.TRAPS)")
        cur = self.state(env).get("cur_env")
        if cur != env:
            raise NotRunning(f"{name}: env {env} is not on the CPU (env {cur} runs)")
        self.calls[name] += 1
        self._seen.clear()
        res = self.kernel.trap(name, *args)
        self._traced(f"trap {name}", name, args, res)
        return res

    def sys_ok(self, env: int, name: str, *args: Any) -> Any:
        """``sys``; its value if OK, else ``KernelError`` (the call shown with ``env``
        where the system call names its caller)."""
        res = self.sys(env, name, *args)
        if res.status != Status.OK:
            raise KernelError(name, (env, *args) if acts_for_caller(name) else args, res)
        return res.value

    def state(self, env: int) -> State:
        """Environment ``env``'s view (GEN-7, ``observe_as``). Only a kernel call changes
        it, so a view is kept until the next call."""
        seen = self._seen.get(env)
        if seen is None:
            self.observes += 1
            fields = self.kernel.observe_as(env)
            if fields is None:
                raise LibOSError(f"the kernel gives no view of env {env!r}")
            seen = self._seen[env] = State(self.cfg, fields, env)
        return seen

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
        and entry points, and give it time slice ``slice_``.

        This is the kernel's loader, not the library: ``env_create`` is a kernel
        operation, and the handlers, protected entries and first slice of an environment
        that has never run are set up with the raw system calls and an explicit ``env``
        (``Machine.loader``; GEN-6 keeps them "for the kernel's own use"). From here on
        every system call of the environment goes through the trap layer while it runs."""
        m = self.machine
        m.ok("env_create", env, cid)
        for kind, entry in ((ExcKind.TLB_MISS, TLB_MISS_HANDLER),
                            (ExcKind.PROTECTION, PROTECTION_HANDLER),
                            (ExcKind.REPOSSESSION, REPOSSESSION_HANDLER)):
            m.loader("set_exception_context", env, int(kind), entry)
        m.loader("set_interrupt_context", env, int(Interrupt.SLICE_START), SLICE_START)
        m.loader("set_protected_entry", env, 0, PCT_SYNC_ENTRY)
        m.loader("set_protected_entry", env, 1, PCT_ASYNC_ENTRY)
        m.loader("slice_alloc", env, slice_)
        self.envs.append(env)
        m.owners[env] = self

    def run(self, env: int) -> None:
        """CPU-3..CPU-5: get ``env`` onto the CPU. If another environment of this
        library runs with time left, it yields the rest of its slice to ``env`` (a trap
        it makes); otherwise the clock runs until a slice of ``env`` begins. Reads the
        public scalars of ``env``'s view only."""
        m = self.machine
        limit = m.cfg.n_slices * (m.cfg.slice_ticks + m.cfg.excess_limit + 2) + 2
        for _ in range(limit):
            s = m.state(env)
            cur = s.get("cur_env")
            if cur == env:
                return
            if cur in self.envs and s.get("slice_left") > 0:
                m.sys_ok(cur, "yield_to", env)
                continue
            res = m.tick()
            if res.value == Outcome.KILLED and cur in self.envs:
                raise Killed(f"{self.name}: env {cur} ran past its excess limit")
        raise KernelError("run", (env,), Result(Status.NOT_RUNNING, 0))

    def sys(self, env: int, name: str, *args: Any) -> Result:
        """System call ``name`` made by ``env`` (GEN-6), which gets onto the CPU first
        (``run``) if it is not there: for a service the library starts on its own (a
        protection change, a grant, a socket), not for an upcall handler, which runs
        on the CPU already (``Machine.sys``)."""
        self.run(env)
        return self.machine.sys(env, name, *args)

    def sys_ok(self, env: int, name: str, *args: Any) -> Any:
        """``sys``; its value if OK, else ``KernelError``."""
        self.run(env)
        return self.machine.sys_ok(env, name, *args)

    # ------------------------------------------------------------------ physical pages

    def alloc_page(self, env: int) -> tuple[int, Any]:
        """MEM-1: a free physical page for ``env``, chosen by the library's own order
        (physical names and owners are public: the library reads them in ``env``'s view
        and asks for a specific page). ``env`` must be on the CPU: the allocation is its
        system call."""
        m = self.machine
        s = m.state(env)
        for p in self.page_order:
            if s.get("owner", p) == FREE:
                res = m.sys(env, "alloc", p)
                if res.status == Status.OK:
                    return p, res.value
        raise KernelError("alloc", (env,), Result(Status.IN_USE, 0))
