"""Hostile peers on the wire (WIRE-1's limits): ``exo serve`` answers every line of a
corpus of hostile input with exactly one reply and keeps serving with its state unchanged;
the client bounds what it reads from a kernel (reply lines, nesting, standard error) and
leaves no process of the kernel's behind.

The server runs as a subprocess (``exo serve``, as tests/test_protocol.py runs it) under
an address-space limit of 500 MB, so a configuration that would build a huge state fails
the test instead of the machine. No wall-clock time is asserted: work is bounded by
sizes, bytes and counts.
"""

from __future__ import annotations

import json
import os
import resource
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from exo.interface import Config
from exo.limits import MAX_DEPTH, MAX_LINE_BYTES, MAX_SIZE
from exo.wire.codec import config_json, request
from exo.wire.server import MAX_STATE_ENTRIES, state_entries

ROOT = Path(__file__).resolve().parent.parent
SERVE = [sys.executable, "-c", "from exo.cli import main; main()", "serve"]
AS_LIMIT = 500 * 10**6
"""The address space the server may use (bytes)."""


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))


def _line(message: Any) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


CFG = config_json(Config())
RESET = _line(request("reset", config=CFG))
OBSERVE = _line(request("observe"))


class Server:
    """One ``exo serve`` process under ``AS_LIMIT``; replies read one line at a time."""

    def __init__(self, *extra: str) -> None:
        self.proc = subprocess.Popen([*SERVE, *extra], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     preexec_fn=_limited)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin: IO[bytes] = self.proc.stdin
        self.stdout: IO[bytes] = self.proc.stdout

    def send(self, data: bytes) -> None:
        self.stdin.write(data)
        self.stdin.flush()

    def reply(self) -> Any:
        line = self.stdout.readline()
        assert line.endswith(b"\n"), (line[:200], self.finish())
        return json.loads(line)

    def ask(self, data: bytes) -> Any:
        self.send(data)
        return self.reply()

    def finish(self) -> tuple[int, bytes]:
        """Close the input; the exit status and everything on standard error."""
        self.stdin.close()
        assert self.proc.stderr is not None
        err = self.proc.stderr.read()
        self.stdout.read()
        return self.proc.wait(), err


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[Server, Any]]:
    """A server after a ``reset`` of the default configuration and one ``env_create``,
    and the state it then reports (each case must leave it so)."""
    s = Server()
    assert s.ask(RESET)["type"] == "ready"
    assert s.ask(_line(request("apply", op="env_create", args=[0, 0])))["status"] == "OK"
    baseline = s.ask(OBSERVE)
    assert baseline["type"] == "state"
    yield s, baseline
    code, err = s.finish()
    assert code == 0 and not err, err.decode(errors="replace")[-2000:]


def _apply(**body: Any) -> dict[str, Any]:
    return {"exo": 1, "type": "apply", **body}


def _reset_with(**fields: Any) -> bytes:
    return _line(request("reset", config={**CFG, **fields}))


DEEP = 5000

# (name, request line without its newline, the reply type due, words of its message)
CORPUS: list[tuple[str, bytes, str, str]] = [
    # framing: bytes, text, JSON
    ("empty line", b"", "error", "not JSON"),
    ("blanks", b"   \t ", "error", "not JSON"),
    ("truncated object", b'{"exo":1,"type":"obs', "error", "not JSON"),
    ("two values", OBSERVE[:-1] + OBSERVE[:-1], "error", "not JSON"),
    ("invalid UTF-8", b"\xff\xfe", "error", "not valid utf-8"),
    ("truncated UTF-8 in a string", b'{"exo":1,"type":"observe","x":"\xc3"}', "error",
     "not valid utf-8"),
    ("overlong UTF-8 encoding", b'{"exo":1,"type":"\xc0\xaf"}', "error", "not valid utf-8"),
    ("UTF-8 of a surrogate", b'{"exo":1,"type":"\xed\xa0\x80"}', "error", "not valid utf-8"),
    ("NUL byte", b'{"exo":1,"type":"observe"}\x00', "error", "not JSON"),
    ("arrays nested 5,000 deep", b"[" * DEEP + b"]" * DEEP, "error", "nested too deeply"),
    ("objects nested 5,000 deep", b'{"a":' * DEEP + b"1" + b"}" * DEEP, "error",
     "nested too deeply"),
    ("unclosed arrays 5,000 deep", b"[" * DEEP, "error", "nested too deeply"),
    ("nested one level past MAX_DEPTH",
     b'{"exo":1,"type":"observe","x":' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"}",
     "error", "nested too deeply"),
    ("deep argument", _line(_apply(op="alloc", args=[0, "DEEP"]))[:-1].replace(
        b'"DEEP"', b"[" * DEEP + b"]" * DEEP), "error", "nested too deeply"),
    ("NaN", b'{"exo":1,"type":"observe","x":NaN}', "error", "not usable JSON"),
    ("Infinity", b'{"exo":1,"type":"observe","x":-Infinity}', "error", "not usable JSON"),
    ("duplicate key", b'{"exo":1,"type":"observe","type":"reset"}', "error", "duplicate"),
    ("number of 5,000 digits", b'{"exo":1,"type":"observe","x":' + b"9" * 5000 + b"}",
     "error", "not usable JSON"),
    # the request's object
    ("a list", b"[1,2]", "error", "not a version 1 request"),
    ("a string", b'"observe"', "error", "not a version 1 request"),
    ("null", b"null", "error", "not a version 1 request"),
    ("no version", b'{"type":"observe"}', "error", "not a version 1 request"),
    ("version true", b'{"exo":true,"type":"observe"}', "error", "not a version 1 request"),
    ("version 1.0", b'{"exo":1.0,"type":"observe"}', "error", "not a version 1 request"),
    ("version text", b'{"exo":"1","type":"observe"}', "error", "not a version 1 request"),
    ("version 2", b'{"exo":2,"type":"observe"}', "error", "not a version 1 request"),
    ("type a list", b'{"exo":1,"type":["observe"]}', "error", "cannot handle"),
    ("type an object", b'{"exo":1,"type":{"observe":1}}', "error", "cannot handle"),
    ("type null", b'{"exo":1,"type":null}', "error", "cannot handle"),
    ("no type", b'{"exo":1}', "error", "cannot handle"),
    ("unknown type", b'{"exo":1,"type":"shutdown"}', "error", "cannot handle"),
    # apply: op, args, flags
    ("op a list", _line(_apply(op=["alloc"], args=[]))[:-1], "error", "not the name"),
    ("op an object", _line(_apply(op={"alloc": 1}, args=[]))[:-1], "error", "not the name"),
    ("op null", _line(_apply(op=None, args=[]))[:-1], "error", "not the name"),
    ("op a number", _line(_apply(op=3, args=[]))[:-1], "error", "not the name"),
    ("op true", _line(_apply(op=True, args=[]))[:-1], "error", "not the name"),
    ("op unknown", _line(_apply(op="__class__", args=[]))[:-1], "error", "not the name"),
    ("no op", _line(_apply(args=[]))[:-1], "error", "not the name"),
    ("args an object", _line(_apply(op="alloc", args={"0": 0}))[:-1], "error", "not a list"),
    ("args a string", _line(_apply(op="alloc", args="01"))[:-1], "error", "not a list"),
    ("args null", _line(_apply(op="alloc", args=None))[:-1], "error", "not a list"),
    ("no args", _line(_apply(op="alloc"))[:-1], "error", "not a list"),
    ("observe 1", _line(_apply(op="alloc", args=[0, 1], observe=1))[:-1], "error",
     "not true or false"),
    ("observe text", _line(_apply(op="alloc", args=[0, 1], observe="true"))[:-1], "error",
     "not true or false"),
    ("changed null", _line(_apply(op="alloc", args=[0, 1], observe=True,
                                  changed=None))[:-1], "error", "not true or false"),
    ("changed a list", _line(_apply(op="alloc", args=[0, 1], changed=[]))[:-1], "error",
     "not true or false"),
    # arguments of no kind: INVALID_ARGUMENT (GEN-1), nothing changes
    ("args nested 60 deep", _line(_apply(op="alloc", args=[0, "X"]))[:-1].replace(
        b'"X"', b"[" * 60 + b"]" * 60), "result", "INVALID_ARGUMENT"),
    ("arg a float", _line(_apply(op="alloc", args=[0.5, 1]))[:-1], "result",
     "INVALID_ARGUMENT"),
    ("arg a string", _line(_apply(op="alloc", args=["0", 1]))[:-1], "result",
     "INVALID_ARGUMENT"),
    ("arg null", _line(_apply(op="alloc", args=[None, 1]))[:-1], "result",
     "INVALID_ARGUMENT"),
    ("arg an int of 4,000 digits", _line(_apply(op="alloc", args=[
        {"int": "9" * 4000}, 1]))[:-1], "result", "INVALID_ARGUMENT"),
    ("arg an int of 5,000 digits", _line(_apply(op="alloc", args=[
        {"int": "9" * 5000}, 1]))[:-1], "result", "INVALID_ARGUMENT"),
    ("arg a cap of lists", _line(_apply(op="grant", args=[
        0, 1, {"cap": [[], {}, None]}, 1]))[:-1], "result", "INVALID_ARGUMENT"),
    ("arg a bad program", _line(_apply(op="filter_install", args=[
        0, {"program": "zz"}]))[:-1], "result", "INVALID_ARGUMENT"),
    ("too many args", _line(_apply(op="alloc", args=[0] * 100_000))[:-1], "result",
     "INVALID_ARGUMENT"),
    ("observe before the args are checked", _line(_apply(op="alloc", args=[0],
                                                         observe=True))[:-1], "result",
     "INVALID_ARGUMENT"),
    # reset: every field of Config, JSON integers, inside the maxima
    ("config missing", _line(request("reset"))[:-1], "error", "without config"),
    ("config a list", _line(request("reset", config=[1, 2]))[:-1], "error",
     "must be an object"),
    ("config null", _line(request("reset", config=None))[:-1], "error", "must be an object"),
    ("config without a field", _line(request("reset", config={
        k: v for k, v in CFG.items() if k != "n_regs"}))[:-1], "error", "n_regs is missing"),
    ("config with an unknown field", _reset_with(n_cpus=2)[:-1], "error", "no field"),
    ("config field true", _reset_with(n_envs=True)[:-1], "error", "n_envs must be"),
    ("config field 4.0", _reset_with(n_envs=4.0)[:-1], "error", "n_envs must be"),
    ("config field text", _reset_with(n_envs="4")[:-1], "error", "n_envs must be"),
    ("config field null", _reset_with(n_envs=None)[:-1], "error", "n_envs must be"),
    ("config field an object", _reset_with(n_envs={"int": "4"})[:-1], "error",
     "n_envs must be"),
    ("config field 0", _reset_with(n_envs=0)[:-1], "error", "outside 1..4096"),
    ("config field -1", _reset_with(excess_limit=-1)[:-1], "error", "outside 0.."),
    ("n_pages 10**8", _reset_with(n_pages=10**8)[:-1], "error", "n_pages is 100000000"),
    ("n_regs 2**64", _reset_with(n_regs=2**64)[:-1], "error", "outside 1..4096"),
    ("n_envs of 4,000 digits", _reset_with(n_envs=10**3999)[:-1], "error",
     "4000-digit number"),
    ("addr_limit 2**64 + 1", _reset_with(addr_limit=2**64 + 1)[:-1], "error",
     f"outside 1..{2**64}"),
    ("sizes each allowed, state too large", _reset_with(n_envs=MAX_SIZE,
                                                        n_pages=MAX_SIZE)[:-1],
     "error", "MAX_STATE_ENTRIES"),
    ("entries one past the bound", b"ENTRIES", "error", "MAX_STATE_ENTRIES"),
]


def _one_past_the_bound() -> bytes:
    """A reset whose state has just more than ``MAX_STATE_ENTRIES`` entries (found by
    walking ``n_envs`` up with 64 pages, entries grow with it)."""
    n = 1
    while state_entries(Config(n_envs=n + 1, n_pages=64)) <= MAX_STATE_ENTRIES:
        n += 1
    assert state_entries(Config(n_envs=n, n_pages=64)) <= MAX_STATE_ENTRIES
    return _reset_with(n_envs=n + 1, n_pages=64)[:-1]


@pytest.mark.parametrize(("name", "line", "kind", "words"), CORPUS,
                         ids=[c[0] for c in CORPUS])
def test_every_hostile_line_gets_one_reply_and_changes_nothing(
        server: tuple[Server, Any], name: str, line: bytes, kind: str, words: str) -> None:
    """WIRE-1's limits: one reply of the due type (its message naming the problem), and
    the next request is answered with the very state of before."""
    s, baseline = server
    if line == b"ENTRIES":
        line = _one_past_the_bound()
    assert b"\n" not in line
    s.send(line + b"\n" + OBSERVE)
    reply = s.reply()
    after = s.reply()
    assert reply.get("type") == kind, (name, reply)
    assert words in (reply.get("message", "") if kind == "error" else reply["status"]), (
        name, reply)
    assert after == baseline, (name, after)


def test_a_line_of_max_line_bytes_is_read_and_one_byte_more_is_refused(
        server: tuple[Server, Any]) -> None:
    """WIRE-1's limits: a request padded with blanks to exactly ``MAX_LINE_BYTES`` is
    answered; one byte more is discarded as it arrives and answered with ``error``."""
    s, baseline = server
    body = OBSERVE[:-1]
    exact = body + b" " * (MAX_LINE_BYTES - len(body))
    assert s.ask(exact + b"\n") == baseline
    reply = s.ask(exact + b" \n")
    assert reply["type"] == "error" and f"{MAX_LINE_BYTES + 1:,} bytes" in reply["message"]
    assert s.ask(OBSERVE) == baseline


def test_a_line_of_200_mib_is_never_held_whole(server: tuple[Server, Any]) -> None:
    """WIRE-1's limits: 200 MiB without a newline is read (under the 500 MB address-space
    limit, so it cannot have been held whole together with its copies) and refused."""
    s, baseline = server
    block = b"x" * (1 << 20)
    for _ in range(200):
        s.stdin.write(block)
    reply = s.ask(b"\n")
    assert reply["type"] == "error" and "209,715,200 bytes" in reply["message"], reply
    assert s.ask(OBSERVE) == baseline


def test_a_refused_reset_keeps_the_session() -> None:
    """WIRE-2 with WIRE-1's limits: after a refused reset the server still holds the
    earlier state (the environment created before it is alive), and a good reset after
    it starts afresh."""
    s = Server()
    assert s.ask(RESET)["type"] == "ready"
    assert s.ask(_line(request("apply", op="env_create", args=[0, 0])))["status"] == "OK"
    assert s.ask(_reset_with(n_pages=10**8))["type"] == "error"
    state = s.ask(OBSERVE)
    assert [0, True] in state["fields"]["env_alive"]
    assert s.ask(RESET)["type"] == "ready"
    assert [0, True] not in s.ask(OBSERVE)["fields"]["env_alive"]
    code, err = s.finish()
    assert code == 0 and not err


def test_hostile_lines_before_any_reset_are_answered() -> None:
    """WIRE-1: before a reset, apply and observe get ``error`` (no reset yet), and a
    last line without a newline is still a request."""
    s = Server()
    assert "no reset yet" in s.ask(OBSERVE)["message"]
    s.send(b"[" * DEEP + b"\n")
    assert "nested too deeply" in s.reply()["message"]
    s.send(_line(request("goodbye"))[:-1])
    s.stdin.close()
    assert s.reply() == {"type": "bye"}
    code, err = s.finish()
    assert code == 0 and not err


@pytest.mark.parametrize("impl", ["exo.impl:Kernel", "exo.kit:ModelImplementation"])
def test_the_largest_allowed_configurations_fit_in_500_mb(impl: str) -> None:
    """WIRE-1's limits: configurations at ``MAX_STATE_ENTRIES`` (4,096 environments;
    64 environments and as many pages as fit) are served under the 500 MB limit, by the
    implementation and by the model (which builds every entry)."""
    n = 1
    while state_entries(Config(n_envs=64, n_pages=n + 1)) <= MAX_STATE_ENTRIES:
        n += 1
    s = Server("--impl", impl)
    for fields in ({"n_envs": MAX_SIZE}, {"n_envs": 64, "n_pages": n}):
        assert state_entries(Config(**fields)) <= MAX_STATE_ENTRIES
        assert s.ask(_reset_with(**fields)) == {"type": "ready",
                                                "features": ["observe", "changed",
                                                             "trap", "view"]}
        assert s.ask(_line(request("apply", op="env_create", args=[63, 0])))[
            "status"] == "OK"
        assert s.ask(OBSERVE)["type"] == "state"
    code, err = s.finish()
    assert code == 0 and not err, err[-2000:]


def test_an_implementation_that_raises_is_an_error_reply(tmp_path: Path) -> None:
    """WIRE-1: ``exo serve`` serves code it does not know; an exception from it (at
    start or in a call) is an ``error`` reply, and the server goes on."""
    (tmp_path / "raising.py").write_text(
        "from exo.impl import Kernel\n"
        "class Raising(Kernel):\n"
        "    def apply(self, name, *args):\n"
        "        if name == 'alloc':\n"
        "            raise RuntimeError('boom')\n"
        "        return super().apply(name, *args)\n"
        "def broken(cfg):\n"
        "    raise ValueError('no')\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    for impl, first, words in (("raising:Raising", "ready", "RuntimeError: boom"),
                               ("raising:broken", "error", "could not start: ValueError")):
        proc = subprocess.run([*SERVE, "--impl", impl], input=RESET + _line(request(
            "apply", op="alloc", args=[0, 1])) + OBSERVE, capture_output=True, env=env,
            check=False)
        replies = [json.loads(x) for x in proc.stdout.splitlines()]
        assert proc.returncode == 0 and not proc.stderr, proc.stderr[-2000:]
        assert replies[0]["type"] == first, replies
        text = json.dumps(replies)
        assert words in text, replies
        assert len(replies) == 3


# --------------------------------------------------------------------------- the client

FAULTS = [sys.executable, str(ROOT / "tests" / "wire_faults.py")]
SMALL = Config(n_envs=2, n_pages=3, page_words=2, tlb_size=2, stlb_size=2, n_cids=3,
               n_slices=2, n_guaranteed=1, n_regs=2, slice_ticks=2, excess_limit=1,
               addr_limit=16, n_filters=2, ring_size=2)


def _gone(pid: int) -> bool:
    """``pid`` no longer runs: no such process, or a zombie (exited, not yet reaped by
    its new parent)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def _hung_kernel(mode: str, limit: int, timeout: float, wrapped: bool = False) -> Any:
    from exo.wire.client import WireKernel

    argv = [*FAULTS, mode, str(limit)]
    command = ["sh", "-c", f"{shlex.join(argv)}; echo the shell went on"] if wrapped else argv
    return WireKernel(command, SMALL, timeout)


def _fail_at(kernel: Any, applies: int) -> str:
    """Apply ``env_create`` until the kernel fails; its ``WireError`` message."""
    from exo.wire.codec import WireError

    with pytest.raises(WireError) as info:
        for _ in range(applies):
            kernel.apply("env_create", 0, 0)
    return str(info.value)


def test_a_hung_kernel_behind_a_shell_leaves_nothing_behind() -> None:
    """WIRE-1: the kernel runs in its own session; when the client gives up on it (here a
    hang behind ``sh -c '...; echo'``, so the direct child is the shell), the shell, the
    kernel and its two children (one in a process group of its own) are all ended."""
    from exo.wire.client import session_members

    kernel = _hung_kernel("orphan", 2, 1.0, wrapped=True)
    members = session_members(kernel.wire.proc.pid)
    assert members is not None and len(members) >= 4, members  # sh, python, 2 sleeps
    message = _fail_at(kernel, 2)
    assert "hung; killed" in message, message
    children = next(line for line in kernel.wire.stderr_tail if "children" in line)
    kids = [int(x) for x in children.split()[-2:]]
    assert set(kids) <= set(members)
    assert all(_gone(p) for p in members), [p for p in members if not _gone(p)]


def test_goodbye_ends_what_the_kernel_left_running() -> None:
    """WIRE-5: after ``bye`` the kernel exits by itself; the children it left running
    are ended with it (``close_all``)."""
    from exo.wire.client import WireKernel, session_members

    kernel = WireKernel([*FAULTS, "orphan", "1000"], SMALL, 5.0)
    assert kernel.apply("env_create", 0, 0).status == 0
    members = session_members(kernel.wire.proc.pid)
    assert members is not None and len(members) == 3, members
    WireKernel.close_all()
    assert kernel.wire.proc.returncode == 0
    assert all(_gone(p) for p in members)


def test_interpreter_exit_ends_every_kernel_session(tmp_path: Path) -> None:
    """WIRE-1: a program that starts a kernel and exits without ending it leaves nothing
    running (the client's exit handler kills every session)."""
    script = tmp_path / "leave.py"
    script.write_text(
        "import json, sys\n"
        "from exo.wire.client import Wire, session_members\n"
        "from exo.wire.codec import request, config_json\n"
        "from exo.interface import Config\n"
        f"w = Wire({[*FAULTS, 'orphan', '1000']!r})\n"
        "assert w.ask(request('reset', config=config_json(Config())))['type'] == 'ready'\n"
        "print(json.dumps(session_members(w.proc.pid)))\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    members = json.loads(proc.stdout)
    assert len(members) == 3, members
    assert all(_gone(p) for p in members), [p for p in members if not _gone(p)]


def test_ten_mib_of_standard_error_without_a_newline_keeps_64_kib() -> None:
    """The client reads the kernel's standard error in blocks and keeps its last
    ``STDERR_BYTES``: 10 MiB without a newline, then 4 KiB per apply, all read, at most
    64 KiB kept, the report's lines bounded too."""
    from exo.wire.client import STDERR_BYTES, STDERR_LINES, WireKernel

    kernel = WireKernel([*FAULTS, "flood", "1000"], SMALL, 5.0)
    for _ in range(10):
        assert kernel.apply("env_create", 0, 0) is not None
    WireKernel.close_all()
    wire = kernel.wire
    assert wire.stderr_bytes == 10 * (1 << 20) + 10 * 4096
    assert len(wire.stderr_kept()) == STDERR_BYTES
    assert len(wire.stderr_tail) <= STDERR_LINES


@pytest.mark.parametrize(("mode", "words"), [
    ("deep", "nested too deeply"),
    ("long", "longer than 16,777,216 bytes"),
    ("latin", "not JSON"),
])
def test_replies_past_the_limits_are_protocol_failures(mode: str, words: str) -> None:
    """WIRE-1's limits on the client: a reply nested past ``MAX_DEPTH``, longer than
    ``MAX_LINE_BYTES`` or not UTF-8 is a ``WireError`` (a failure of the kernel), never
    an exception of another kind."""
    kernel = _hung_kernel(mode, 2, 5.0)
    message = _fail_at(kernel, 2)
    assert words in message, message


def test_a_busy_kernel_is_slow_not_hung() -> None:
    """WIRE-1: a kernel that uses 0.3 s of processor time over about 3 s of wall-clock
    time (as a busy kernel does on a loaded machine) answers within a step timeout of
    1 s: the client counts its processor time, not the clock."""
    from exo.wire.client import WireKernel

    kernel = WireKernel([*FAULTS, "slow", "2"], SMALL, 1.0)
    assert kernel.apply("env_create", 0, 0).status == 0
    assert kernel.apply("env_create", 1, 1).status == 0  # the slow one
    assert kernel.apply("env_create", 1, 1).status != 0
    WireKernel.close_all()


@pytest.mark.parametrize(("mode", "words"), [
    ("hang", "used no processor time"),
    ("spin", "s of processor time"),
    ("crawl", "of wall-clock time"),
])
def test_each_kind_of_hang_is_caught(mode: str, words: str) -> None:
    """WIRE-1: a kernel asleep (no processor time for a step timeout), one that spins (a
    step timeout of processor time) and one that runs a little now and then
    (``WALL_FACTOR`` step timeouts of wall-clock time) are each hung, killed, reported
    by the rule that caught it."""
    kernel = _hung_kernel(mode, 2, 1.0)
    pid = kernel.wire.proc.pid
    message = _fail_at(kernel, 2)
    assert words in message and "hung; killed" in message, message
    assert _gone(pid)


def test_a_kernel_that_stops_reading_is_hung_not_a_blocked_client() -> None:
    """WIRE-1: a kernel that no longer reads its input, sent a request larger than a
    pipe holds (an argument of 1 MiB), is judged as a hung one; the client does not
    block on the write."""
    kernel = _hung_kernel("deaf", 2, 1.0)
    assert kernel.apply("env_create", 0, 0).status == 0
    from exo.wire.codec import WireError

    assert kernel.apply("env_create", 1, 1).status == 0  # then it stops reading
    with pytest.raises(WireError) as info:
        kernel.apply("packet_arrive", b"\x00" * (1 << 20))
    assert "does not read its input (hung; killed)" in str(info.value), info.value
