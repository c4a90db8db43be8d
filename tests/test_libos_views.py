"""What one library OS can see of another (GEN-7), and how a library OS calls the kernel
(GEN-6), on the reference model and on exo.impl.Kernel.

Two library OSes share one kernel. A keeps distinctive secret values in its pages (its
own, a pipe between its two processes, a page it gives back under revocation and one the
abort protocol takes from it), in its registers (stores, an LRPC between its processes,
registers set outright) and in a datagram waiting in its receive ring. B runs a mixed
workload on the same kernel at the same time: demand paging over the pages A gave up, a
pipe, an LRPC into A, a socket, a stride scheduler, and forgeries with A's capabilities.
After every kernel call either library makes, each of B's environments' views
(``observe_as``) is checked: no secret value anywhere in it (words, registers, packets,
any other field), and no word of a page that environment holds no right to. The same
checker catches three deliberately leaky kernels (a view that is the whole state, the
running environment's processor shown to everyone, every page's words shown to
everyone), so the check can fail.

The source of ``exo.libos`` is scanned too: no library module reads the whole state
(``.observe(``), and every system call goes through the trap layer except the loader's
set-up calls in ``LibOS.boot_env`` (also checked at run time, over the whole demo).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from exo.impl import Kernel
from exo.interface import OPERATIONS, TRAPS, Config, Resource, Result, Rights, Status
from exo.libos import demo
from exo.libos.core import LOADER_CALLS, LibOS, Machine, NotRunning
from exo.libos.ipc import LRPC, Pipe
from exo.libos.net import Socket, udp_frame
from exo.libos.pagetable import Hashed, TwoLevel
from exo.libos.revoke import Pager
from exo.libos.sched import StrideScheduler, Task
from exo.libos.vm import Process
from exo.model.kernel import ModelImplementation
from tests.test_libos_vm import entry

CFG = Config(n_envs=4, n_pages=20, page_words=4, tlb_size=4, stlb_size=8, n_cids=6,
             n_slices=4, slice_ticks=12, n_filters=4, ring_size=4)
A_ENVS, B_ENVS = (0, 1), (2, 3)

SECRET = 0x5EC12E70
SECRETS = frozenset(SECRET + i for i in range(64))
"""Every value A keeps private; B's workload never uses one of them."""
_SECRET_BYTES = tuple(s.to_bytes(4, "big") for s in SECRETS)

KERNELS: list[Callable[[Config], Any]] = [ModelImplementation, Kernel]
LIBOS = Path(__file__).resolve().parent.parent / "libos"


# --------------------------------------------------------------------------- the checker


def _values(x: Any) -> Iterator[Any]:
    """Every value in ``x``, through dicts (keys and values), tuples and lists."""
    if isinstance(x, dict):
        for k, v in x.items():
            yield from _values(k)
            yield from _values(v)
    elif isinstance(x, tuple | list):
        for v in x:
            yield from _values(v)
    else:
        yield x


def leaks(view: dict[str, Any] | None, truth: dict[str, Any], env: int) -> list[str]:
    """What ``view`` (``observe_as(env)``) shows that it must not: a secret value
    anywhere (an int equal to one, bytes or text holding one), or a word of a page
    ``env`` holds no right to (by ``truth``, the whole state)."""
    if view is None:
        return [f"no view of env {env}"]
    found = []
    for name, field in view.items():
        for v in _values(field):
            if type(v) is int and v in SECRETS:
                found.append(f"{name} holds the secret {v:#x}")
            elif isinstance(v, bytes | bytearray) and any(s in v for s in _SECRET_BYTES):
                found.append(f"{name} holds a packet with a secret in it")
            elif isinstance(v, str) and any(s.hex() in v for s in _SECRET_BYTES):
                found.append(f"{name} holds text with a secret in it")
    rights = truth.get("rights", {})
    for (page, w) in view.get("word", {}):
        if rights.get((env, page), 0) < int(Rights.READ):
            found.append(f"word[{page}, {w}] of a page env {env} holds no right to")
    return found


class Watched:
    """A kernel whose every call is followed by the check of the watched environments'
    views (``leaks``); the first leak fails with the call that made it."""

    def __init__(self, kernel: Any, watched: tuple[int, ...]) -> None:
        self.kernel, self.watched = kernel, watched
        self.checked = 0

    def _check(self, call: str) -> None:
        truth = self.kernel.observe()
        for e in self.watched:
            found = leaks(self.kernel.observe_as(e), truth, e)
            if found:
                raise AssertionError(f"after {call}: env {e} sees " + "; ".join(found[:4]))
        self.checked += 1

    def apply(self, name: str, *args: Any) -> Result:
        res: Result = self.kernel.apply(name, *args)
        self._check(name)
        return res

    def trap(self, name: str, *args: Any) -> Result:
        res: Result = self.kernel.trap(name, *args)
        self._check(f"trap {name}")
        return res

    def observe_as(self, env: int) -> dict[str, Any] | None:
        view: dict[str, Any] | None = self.kernel.observe_as(env)
        return view

    def observe(self) -> dict[str, Any]:
        """For the checker of a kernel wrapped twice; no library reads it."""
        whole: dict[str, Any] = self.kernel.observe()
        return whole


class Leaky:
    """A kernel whose ``observe_as`` adds what ``leak(observe(), env)`` returns."""

    def __init__(self, kernel: Any, leak: Callable[[dict[str, Any], int], dict[str, Any]]
                 ) -> None:
        self.kernel, self.leak = kernel, leak

    def apply(self, name: str, *args: Any) -> Result:
        res: Result = self.kernel.apply(name, *args)
        return res

    def trap(self, name: str, *args: Any) -> Result:
        res: Result = self.kernel.trap(name, *args)
        return res

    def observe(self) -> dict[str, Any]:
        whole: dict[str, Any] = self.kernel.observe()
        return whole

    def observe_as(self, env: int) -> dict[str, Any] | None:
        view: dict[str, Any] | None = self.kernel.observe_as(env)
        if view is None:
            return None
        return {**view, **self.leak(self.kernel.observe(), env)}


def _whole(whole: dict[str, Any], env: int) -> dict[str, Any]:
    return whole


def _processor(whole: dict[str, Any], env: int) -> dict[str, Any]:
    return {k: whole[k] for k in ("regs", "pc", "epc", "cause", "badvpage") if k in whole}


def _words(whole: dict[str, Any], env: int) -> dict[str, Any]:
    return {"word": whole.get("word", {})}


LEAKY = [(_whole, "secret"), (_processor, "regs holds the secret"),
         (_words, "of a page env 2 holds no right to")]


# --------------------------------------------------------------------------- the workload


def workload(m: Machine) -> dict[str, Any]:
    """A and B side by side; what each saw, for the assertions."""
    lib_a, lib_b = LibOS(m, "A"), LibOS(m, "B")  # the same page order: B reuses A's pages
    a1 = Process(lib_a, env=0, cid=0, slice_=0, table=TwoLevel())
    a2 = Process(lib_a, env=1, cid=1, slice_=1, table=Hashed())
    b1 = Process(lib_b, env=2, cid=2, slice_=2, table=Hashed())
    b2 = Process(lib_b, env=3, cid=3, slice_=3, table=TwoLevel())
    secrets = iter(sorted(SECRETS))
    out: dict[str, Any] = {"b_reads": []}

    # A fills four pages with secrets; B touches the same virtual pages
    for v in range(4):
        for w in range(CFG.page_words):
            a1.store(v, w, next(secrets))
    out["b_reads"] += [b1.load(v, w) for v in range(4) for w in range(CFG.page_words)]
    for v in range(4):
        b1.store(v, 1, 10 + v)

    # A's registers hold secrets outright; then B takes the CPU (CPU-7: a start clears)
    lib_a.run(a1.env)
    for r in range(CFG.n_regs):
        m.ok("set_reg", r, next(secrets))
    out["b_reads"].append(b2.load(0, 0))

    # pipes inside each library; A's words are secrets
    pipe_a, pipe_b = Pipe(a1, a2, vpage=8), Pipe(b1, b2, vpage=8)
    sent = [next(secrets) for _ in range(2)]
    for v in sent:
        pipe_a.write(v)
    pipe_b.write(5)
    out["a_pipe"] = [pipe_a.read(), pipe_a.read()]
    out["b_reads"].append(pipe_b.read())
    out["a_sent"] = sent

    # an LRPC inside A with secret arguments, and one from B into A
    secret_args = (next(secrets), next(secrets))
    out["a_rpc"] = LRPC(a1, a2, lambda args: args[0] ^ args[1]).call(*secret_args)
    out["a_rpc_want"] = secret_args[0] ^ secret_args[1]
    out["b_rpc"] = LRPC(b1, a1, lambda args: args[0] + 1).call(41)

    # datagrams: A's carries a secret and waits in A's ring while B works
    sock_a, sock_b = Socket(a1, 7000), Socket(b1, 7001)
    payload = next(secrets).to_bytes(4, "big")
    m.call("packet_arrive", udp_frame(7000, payload))
    m.call("packet_arrive", udp_frame(7001, b"plain"))
    out["b_packet"] = sock_b.recv()
    out["b_reads"].append(b1.load(0, 1))

    # A gives a secret page back under revocation, and loses another to the abort
    pager = Pager(a1)
    m.ok("revoke_request", a1.env, int(Resource.PAGE), entry(a1.table, 0).page,
         m.state(a1.env).get("now") + 50)
    out["a_released"] = pager.answer()
    taken = entry(a1.table, 2).page
    m.ok("revoke_request", a1.env, int(Resource.PAGE), taken, m.state(a1.env).get("now") + 1)
    m.tick()
    m.tick()
    m.ok("abort", a1.env)
    out["a_lost"] = pager.repair()

    # B demand-pages every free page it can: it gets the ones A gave up, zeroed (MEM-1)
    for v in range(10, 16):
        out["b_reads"] += [b2.load(v, w) for w in range(CFG.page_words)]
    out["b_pages"] = sorted(entry(b2.table, v).page for v in range(10, 16))
    out["a_gave_up"] = taken

    # copy-on-write inside A; B's scheduler runs its slices (A's start and stop between)
    a1.share_cow(1, a2, 5)
    a2.store(5, 0, next(secrets))
    StrideScheduler(lib_b, [Task(b1.env, 2), Task(b2.env, 1)]).run(4)

    # forgeries with A's capabilities, trapped by B's process
    forged = set()
    for v in (1, 3):
        cap = entry(a1.table, v).cap
        forged.add(lib_b.sys(b1.env, "tlbwr", 30, cap, False).status)
        forged.add(lib_b.sys(b1.env, "grant", cap, b2.env, int(Rights.READ)).status)
        forged.add(lib_b.sys(b1.env, "gm_set", 0, 31, cap, False).status)
        forged.add(lib_b.sys(b1.env, "dealloc", cap).status)
    out["forged"] = sorted(forged)

    # A's data is still there, and its datagram
    out["a_page_3"] = [a1.load(3, w) for w in range(CFG.page_words)]
    out["a_page_3_want"] = [SECRET + 3 * CFG.page_words + w for w in range(CFG.page_words)]
    out["a_packet"] = sock_a.recv()
    out["a_payload"] = payload
    return out


# --------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("make", KERNELS, ids=["model", "impl"])
def test_b_never_sees_a_secret_of_a_nor_a_page_it_holds_no_right_to(
        make: Callable[[Config], Any]) -> None:
    kernel = Watched(make(CFG), B_ENVS)
    out = workload(Machine(kernel, CFG))
    assert kernel.checked > 500  # every call of the workload was followed by the check
    # the workload did what it says: A's secrets were in play, B worked beside them
    assert out["a_pipe"] == out["a_sent"] and out["a_rpc"] == out["a_rpc_want"]
    assert out["a_page_3"] == out["a_page_3_want"]
    assert out["a_packet"] == out["a_payload"] and out["b_packet"] == b"plain"
    assert out["b_rpc"] == 42 and out["a_released"] is not None and out["a_lost"] == [2]
    assert out["a_gave_up"] in out["b_pages"]  # B got the page the abort took from A
    assert not SECRETS & set(out["b_reads"]) and all(v in (0, 5, 10) for v in out["b_reads"])
    assert out["forged"] == sorted({Status.BAD_CAPABILITY, Status.NOT_OWNER})


def test_the_workload_gives_the_same_results_on_both_kernels() -> None:
    outs = []
    for make in KERNELS:
        m = Machine(make(CFG), CFG)
        outs.append((workload(m), dict(m.calls)))
    assert outs[0] == outs[1]


@pytest.mark.parametrize(("leak", "said"), LEAKY, ids=[f.__name__ for f, _ in LEAKY])
@pytest.mark.parametrize("make", KERNELS, ids=["model", "impl"])
def test_the_checker_catches_a_leaky_kernel(
        make: Callable[[Config], Any], leak: Callable[[dict[str, Any], int], dict[str, Any]],
        said: str) -> None:
    kernel = Watched(Leaky(make(CFG), leak), B_ENVS)
    with pytest.raises(AssertionError, match=said):
        workload(Machine(kernel, CFG))


def test_the_checker_reads_every_kind_of_value() -> None:
    truth: dict[str, Any] = {"rights": {(2, 5): int(Rights.READ)}}
    assert leaks({"word": {(5, 0): 7}}, truth, 2) == []
    assert leaks({"word": {(6, 0): 0}}, truth, 2) == [
        "word[6, 0] of a page env 2 holds no right to"]
    assert leaks({"regs": {0: SECRET}}, truth, 2) == [f"regs holds the secret {SECRET:#x}"]
    assert leaks({"rx_pkt": {(2, 0): b"xx" + SECRET.to_bytes(4, "big")}}, truth, 2)
    assert leaks({"filter_code": {0: ((6, 0, 0, SECRET),)}}, truth, 2)
    assert leaks(None, truth, 2) == ["no view of env 2"]


def test_a_library_traps_only_as_the_running_environment() -> None:
    """``Machine.sys`` refuses a system call of an environment that is not on the CPU
    (the kernel would act for whoever runs); ``LibOS.sys`` gets it onto the CPU first;
    ``Machine.call`` makes no system call at all."""
    for make in KERNELS:
        m = Machine(make(CFG), CFG)
        lib = LibOS(m, "A")
        a, b = (Process(lib, env=e, cid=e, slice_=e, table=TwoLevel()) for e in A_ENVS)
        a.load(0, 0)
        with pytest.raises(NotRunning):
            m.sys(b.env, "alloc", 9)
        with pytest.raises(Exception, match="trap layer"):
            m.call("alloc", b.env, 9)
        assert lib.sys_ok(b.env, "alloc", 9).page == 9
        assert m.state(b.env).get("owner", 9) == b.env
        assert m.state(a.env).get("cur_env") == b.env


# --------------------------------------------------------------------------- the source


def _modules() -> list[tuple[str, ast.Module]]:
    return [(p.name, ast.parse(p.read_text(), str(p))) for p in sorted(LIBOS.glob("*.py"))]


def _calls(tree: ast.AST) -> Iterator[tuple[list[str], ast.Call]]:
    """Every call in ``tree`` with the names of the classes and functions around it."""
    def walk(node: ast.AST, where: list[str]) -> Iterator[tuple[list[str], ast.Call]]:
        for child in ast.iter_child_nodes(node):
            inner = where
            if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                inner = [*where, child.name]
            if isinstance(child, ast.Call):
                yield where, child
            yield from walk(child, inner)
    return walk(tree, [])


def _method(call: ast.Call) -> str | None:
    return call.func.attr if isinstance(call.func, ast.Attribute) else None


def _on_machine(call: ast.Call) -> bool:
    """Is the call made on a ``Machine`` (``m.ok``, ``self.machine.call``, ...)?"""
    if not isinstance(call.func, ast.Attribute):
        return False
    owner = call.func.value
    return ((isinstance(owner, ast.Name) and owner.id == "m")
            or (isinstance(owner, ast.Attribute) and owner.attr == "machine"))


def _names(call: ast.Call, index: int) -> list[str]:
    """The operation names argument ``index`` can be: a literal, or either literal of
    ``"x" if c else "y"``; empty when it is anything else."""
    arg = call.args[index] if len(call.args) > index else None
    options = [arg.body, arg.orelse] if isinstance(arg, ast.IfExp) else [arg]
    names = [o.value for o in options
             if isinstance(o, ast.Constant) and isinstance(o.value, str)]
    return names if len(names) == len(options) else []


def test_no_library_module_reads_the_whole_state() -> None:
    assert _modules()
    for name, tree in _modules():
        for where, call in _calls(tree):
            assert _method(call) != "observe", f"{name}: {'.'.join(where)} calls .observe("
        assert ".observe(" not in (LIBOS / name).read_text(), name


def test_every_system_call_of_the_library_goes_through_the_trap_layer() -> None:
    """In the source: the kernel's ``trap`` and ``apply`` are called only inside
    ``Machine``; ``Machine.loader`` (raw system calls) only in ``LibOS.boot_env``, with a
    loader call's name; ``call``/``ok`` (events and kernel operations) never with a
    system call's name and always with a literal name outside ``Machine``; and every
    ``sys``/``sys_ok`` (``Machine``'s, or ``LibOS``'s that gets onto the CPU first)
    names a system call."""
    seen: set[str] = set()
    for name, tree in _modules():
        for where, call in _calls(tree):
            method, at = _method(call), f"{name}: {'.'.join(where)}"
            if method in ("trap", "apply", "observe_as"):
                assert where[:1] == ["Machine"], at
                seen.add(method)
            elif method == "loader":
                assert where == ["LibOS", "boot_env"], at
                assert _names(call, 0) and set(_names(call, 0)) <= LOADER_CALLS, at
                seen.add(method)
            elif method in ("call", "ok") and _on_machine(call) and where[:1] != ["Machine"]:
                ops = _names(call, 0)
                assert ops and set(ops) <= set(OPERATIONS), f"{at}: {ast.unparse(call)}"
                for op in ops:
                    assert OPERATIONS[op].kind != "syscall", f"{at}: {op} made raw"
                seen.add(method)
            elif method in ("sys", "sys_ok") and where not in (
                    ["Machine", "sys_ok"], ["LibOS", "sys"], ["LibOS", "sys_ok"]):
                ops = _names(call, 1)
                assert ops and set(ops) <= set(TRAPS), f"{at}: {ast.unparse(call)}"
                seen.add(method)
    assert seen == {"trap", "apply", "observe_as", "loader", "call", "ok", "sys", "sys_ok"}


class _Recording:
    """A kernel that records each call: ``("apply" | "trap", name, args)``."""

    def __init__(self, cfg: Config) -> None:
        self.kernel = ModelImplementation(cfg)
        self.log: list[tuple[str, str, tuple[Any, ...]]] = []

    def apply(self, name: str, *args: Any) -> Result:
        self.log.append(("apply", name, args))
        return self.kernel.apply(name, *args)

    def trap(self, name: str, *args: Any) -> Result:
        self.log.append(("trap", name, args))
        return self.kernel.trap(name, *args)

    def observe_as(self, env: int) -> dict[str, Any] | None:
        return self.kernel.observe_as(env)


def test_over_the_whole_demo_only_the_loader_makes_raw_system_calls() -> None:
    """Every raw system call of the demo is one of the set-up calls ``boot_env`` makes
    right after ``env_create``, for that environment, before it ever ran; every other
    system call is a trap."""
    kernels: list[_Recording] = []

    def make(cfg: Config) -> _Recording:
        kernels.append(_Recording(cfg))
        return kernels[-1]

    demo.scenes(make, calls=False)
    (log,) = [k.log for k in kernels]
    booting: int | None = None  # the environment just created, until anything else
    raw = 0
    trapped: set[str] = set()
    for kind, name, args in log:
        if kind == "apply" and OPERATIONS[name].kind == "syscall":
            assert name in LOADER_CALLS and args[0] == booting, (name, args)
            raw += 1
            continue
        if kind == "trap":
            trapped.add(name)
        booting = args[0] if name == "env_create" else None
    assert raw == 7 * 4  # four environments booted, seven set-up calls each
    assert trapped == {"alloc", "dealloc", "grant", "tlbwr", "tlbvadelete", "gm_set",
                       "yield_to", "scall", "filter_install", "packet_take"}
