"""The wire client (WIRE-1..WIRE-5): ``WireKernel`` implements the conformance contract
(``apply``, ``observe``) by talking to a kernel process, so ``exo check --impl-cmd CMD``
is ``exo check`` with ``WireKernel.factory(CMD)`` as the factory. A process that
crashes, hangs past the step timeout, or answers out of shape makes ``apply``/``observe``
raise ``WireError``, which the lockstep machine reports as a failure with the shrunk
program; the process is then started afresh.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import select
import shlex
import signal
import subprocess
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, ClassVar

from exo.interface import (
    Config,
    Result,
)
from exo.kit.conformance import abstract
from exo.limits import MAX_DEPTH, MAX_LINE_BYTES, loads
from exo.model.state import SCALARS, layout
from exo.wire.codec import (
    WireError,
    config_json,
    decode_result,
    decode_state,
    encode,
    expect,
    request,
    trap_request,
)

STEP_TIMEOUT = 5.0
"""WIRE-1: the step timeout, in seconds. The process is hung when, waiting for one reply,
it used this much processor time (its whole session: the kernel and anything it
started), or used none at all for this long, or the reply took ``WALL_FACTOR`` times
this long in all (``Watch``). A busy kernel on a loaded machine gets less processor time
per second but needs no more of it, so only the last rule depends on the load."""

START_GRACE = 30.0
"""WIRE-1: seconds the first reply of a fresh process may take beyond the step timeout
(starting a process, an interpreter and its imports, is not a step): added to each of
the three bounds."""

WALL_FACTOR = 12
"""WIRE-1: a reply may take at most this many step timeouts of wall-clock time (60 s by
default), however busy the process is: the bound on a process that runs a little now and
then and never replies. Twelve: a step needing the whole budget of processor time still
gets its reply when the process has a twelfth of a processor."""

CHECK_SECONDS = 1.0
"""WIRE-1: how often at most (seconds) the client reads the session's processor time
while it waits for a reply (a quarter of the step timeout when that is shorter); a
reply that comes sooner costs no check."""

MAX_LINE = MAX_LINE_BYTES
"""WIRE-1 limits: the longest reply line read (``exo.limits.MAX_LINE_BYTES``, 16 MiB): a
state of the largest configurations fits."""

KILL_ROUNDS = 100
"""WIRE-1: how many times at most (10 ms apart) ending a process sends SIGKILL to what is
left of its session before it returns (a process in uninterruptible sleep dies late)."""

STDERR_BYTES = 1 << 16
"""How much of the process's standard error is kept (its last 64 KiB), read in blocks of
up to this size: a process that writes without newlines costs no more memory."""

STDERR_LINES = 20
"""How many lines of the kept standard error a report may show at most (the last)."""

FULL_EVERY = 16
"""WIRE-3: to a process with the ``changed`` feature, every 16th apply is followed by an
``observe``, whose complete state is compared with the state put together from the
changed fields."""

POLL_SECONDS = 200e-6
"""How long the client polls the kernel's output (non-blocking reads) before it sleeps in
``select``: most replies come within it, and waking from a sleep costs more than the
reply. On a 2-core VM a trivial request's round trip took 55-80 us with ``select``
alone and 16-25 us with the poll first. With one processor the client only sleeps (its
poll would hold the processor the kernel needs)."""


__all__ = ["CHECK_SECONDS", "FULL_EVERY", "KILL_ROUNDS", "MAX_LINE", "POLL_SECONDS", "START_GRACE",
           "STDERR_BYTES", "STDERR_LINES", "STEP_TIMEOUT", "WALL_FACTOR", "Watch", "Wire",
           "WireKernel", "command_line", "goodbye", "session_cpu", "session_members"]


def _processors() -> int:
    """The processors this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


def command_line(words: list[str]) -> tuple[dict[str, str], list[str]]:
    """WIRE-1: a kernel command (``--impl-cmd``, already split as a POSIX shell splits it,
    ``shlex.split``) as the environment assignments it starts with and the program with
    its arguments: ``EXO_BUG=1 python3 k.py`` runs ``python3 k.py`` with ``EXO_BUG=1``
    added to the environment, as a shell would. Nothing else of a shell applies (no
    pipes, redirections, globbing or variable expansion): use ``sh -c '...'`` for those.
    ``ValueError`` if no program follows the assignments."""
    k = 0
    while k < len(words) and _ASSIGNMENT.match(words[k]):
        k += 1
    if k == len(words):
        raise ValueError("the command has no program to run"
                         + (" after its NAME=VALUE environment assignments" if k else ""))
    env = dict(w.split("=", 1) for w in words[:k])
    return env, list(words[k:])


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: str) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (the third field first),
    or None if the process is gone or there is no ``/proc``."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            text = f.read().decode("ascii", "replace")
    except OSError:
        return None
    return text[text.rfind(")") + 2:].split()


def _finished(pid: int) -> bool:
    """The process ``pid`` is gone or a zombie (it has exited, only not been reaped)."""
    fields = _stat_fields(str(pid))
    return fields is None or not fields or fields[0] in ("Z", "X")


def session_members(sid: int) -> list[int] | None:
    """WIRE-1: the processes of session ``sid`` (a kernel process starts its own, so
    these are the kernel and everything it started that did not leave it), zombies
    included; None where there is no ``/proc`` to read."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return None
    out = []
    for name in names:
        if name.isdigit():
            fields = _stat_fields(name)
            if fields is not None and len(fields) > 3 and fields[3] == str(sid):
                out.append(int(name))
    return out


def session_cpu(sid: int) -> float | None:
    """WIRE-1: the processor time (user and system, with that of the children they
    reaped) of the processes of session ``sid``, in seconds; None where there is no
    ``/proc`` to read."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return None
    ticks = 0
    found = False
    for name in names:
        if name.isdigit():
            fields = _stat_fields(name)
            if fields is not None and len(fields) > 14 and fields[3] == str(sid):
                ticks += sum(int(x) for x in fields[11:15])
                found = True
    return ticks / _CLOCK_TICKS if found else None


class Watch:
    """WIRE-1: whether a process that owes a reply is hung, judged by the processor time
    of its session (``session_cpu``), not by the clock alone: a busy kernel on a loaded
    machine is slow, not hung. ``check`` says the process is hung when, since the first
    check, it

    * used ``budget`` seconds of processor time (it spins),
    * or used none for ``budget`` seconds of wall-clock time (it sleeps or waits),

    or when the reply took ``ceiling`` seconds of wall-clock time in all. Where processor
    time cannot be read (no ``/proc``), only the clock counts: ``budget`` seconds."""

    def __init__(self, sid: int, budget: float, ceiling: float) -> None:
        self.sid, self.budget, self.ceiling = sid, budget, ceiling
        self.start = time.monotonic()
        self.interval = min(CHECK_SECONDS, budget / 4)
        self.last: float | None = None  # the session's processor time at the last check
        self.active = self.start  # when the session was last seen running
        self.spent = 0.0  # processor time used since the first check

    def check(self) -> str | None:
        """None while the process may still reply, else why it is hung."""
        now = time.monotonic()
        cpu = session_cpu(self.sid)
        if cpu is None:
            if now - self.start >= self.budget:
                return f"no reply within {self.budget:g} s"
            return None
        if self.last is None:
            self.active = now  # idleness counts from the first reading
        elif cpu != self.last:
            self.spent += max(0.0, cpu - self.last)
            self.active = now
        self.last = cpu
        if self.spent >= self.budget:
            return (f"no reply within {self.budget:g} s of processor time (it ran "
                    f"{self.spent:.2f} s without replying)")
        if now - self.active >= self.budget:
            return (f"no reply within {self.budget:g} s: it used no processor time for "
                    f"{now - self.active:.2f} s")
        if now - self.start >= self.ceiling:
            return (f"no reply within {self.ceiling:g} s of wall-clock time "
                    f"({WALL_FACTOR} step timeouts), though it ran {self.spent:.2f} s")
        return None


_RUNNING: weakref.WeakSet[Wire] = weakref.WeakSet()
"""Every ``Wire`` whose process may still run: killed, with its session, at exit."""


def _kill_running() -> None:
    for wire in list(_RUNNING):
        wire.kill(grace=0.0)


atexit.register(_kill_running)


class Wire:
    """WIRE-1: one process under test: requests on its standard input, one reply line per
    request on its standard output, its standard error kept (the last ``STDERR_BYTES``)
    for reports. Every failure to get a reply in shape raises ``WireError``.

    The process starts its own session and process group; ending it (a hang, a crash, a
    protocol break, ``close``, interpreter exit) kills the whole group and any other
    process left in the session, then reaps it."""

    def __init__(self, command: list[str], timeout: float | None = None) -> None:
        self.command = command
        self.timeout = timeout if timeout is not None else STEP_TIMEOUT
        self._err = bytearray()  # the last STDERR_BYTES of standard error
        self._err_lock = threading.Lock()
        self.stderr_bytes = 0  # how many bytes of standard error were read in all
        try:
            assigned, argv = command_line(command)
        except ValueError as exc:
            raise WireError(f"cannot start {shlex.join(command)}: {exc}") from None
        try:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, bufsize=0, start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **assigned})
        except OSError as exc:
            raise WireError(f"cannot start {shlex.join(command)}: {exc.strerror or exc}"
                            ) from exc
        _RUNNING.add(self)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._out = self.proc.stdout.fileno()
        os.set_blocking(self._out, False)
        assert self.proc.stdin is not None
        os.set_blocking(self.proc.stdin.fileno(), False)
        self._poll = POLL_SECONDS if _processors() > 1 else 0.0
        self._pending = bytearray()  # read from the process, not yet a whole line
        self._replies = 0  # replies read so far: the first one may take START_GRACE more
        self._reaped = False
        self._status: int | None = None  # the exit status, if it exited by itself
        self._err_fd: int | None = self.proc.stderr.fileno()
        os.set_blocking(self._err_fd, False)
        self._drainer = threading.Thread(target=self._drain, args=(self._err_fd,),
                                         daemon=True)
        self._drainer.start()

    def _drain(self, fd: int) -> None:
        """Read standard error in blocks until its end, keeping the last
        ``STDERR_BYTES``. Every read is made holding the lock (the descriptor does not
        block), so ``stderr_kept`` can take what is pending in order."""
        while True:
            try:
                select.select([fd], [], [])
            except (OSError, ValueError):
                return
            with self._err_lock:
                if self._err_fd is None or not self._take_stderr(fd):
                    return

    def _take_stderr(self, fd: int) -> bool:
        """Read what standard error holds now (the lock held); False at its end."""
        while True:
            try:
                chunk = os.read(fd, STDERR_BYTES)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not chunk:
                return False
            self.stderr_bytes += len(chunk)
            self._err += chunk
            if len(self._err) > STDERR_BYTES:
                del self._err[:len(self._err) - STDERR_BYTES]

    def stderr_kept(self) -> bytes:
        """The standard error kept: its last ``STDERR_BYTES`` at most, with whatever the
        process had written to it by now (a report after a bad reply shows the lines
        written before that reply)."""
        with self._err_lock:
            fd = self._err_fd
            if fd is not None:
                self._take_stderr(fd)
            return bytes(self._err)

    @property
    def stderr_tail(self) -> list[str]:
        """The last ``STDERR_LINES`` lines of the standard error kept (the last one may
        be incomplete), decoded leniently."""
        lines = self.stderr_kept().decode("utf-8", "replace").splitlines()
        return lines[-STDERR_LINES:]

    def alive(self) -> bool:
        """The process has not exited (it is not reaped here: see ``kill``)."""
        return not self._reaped and not self._exited()

    def _exited(self) -> bool:
        """The process exited (not reaped: its group's id stays its own)."""
        if self.proc.returncode is not None:
            return True
        try:
            return os.waitid(os.P_PID, self.proc.pid,
                             os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True
        except AttributeError:  # no waitid: Popen's poll, which reaps
            return self.proc.poll() is not None

    def _readline(self) -> bytes | None:
        """One reply line (without its newline), None at end of output; raises
        ``TimeoutError`` (saying why) when ``Watch`` calls the process hung. The pipe is
        read here, with ``select``, not by a thread: a step costs one pipe round trip (two
        without WIRE-3's observe feature) and no thread hand-off."""
        grace = START_GRACE if not self._replies else 0.0
        watch: Watch | None = None
        while True:
            end = self._pending.find(b"\n")
            if end >= 0:
                line = bytes(self._pending[:end])
                del self._pending[:end + 1]
                self._replies += 1
                return line
            if len(self._pending) > MAX_LINE:
                return bytes(self._pending)
            chunk = self._poll_read()
            if chunk is None:
                if watch is None:
                    watch = Watch(self.proc.pid, self.timeout + grace,
                                  WALL_FACTOR * self.timeout + grace)
                if not select.select([self._out], [], [], watch.interval)[0]:
                    verdict = watch.check()
                    if verdict is not None:
                        raise TimeoutError(verdict)
                    continue
                chunk = self._read()
                if chunk is None:
                    continue  # woken without data after all: wait again
            if not chunk:
                return None
            self._pending += chunk

    def _read(self) -> bytes | None:
        """What the process wrote (empty at end of output), None if nothing yet."""
        try:
            return os.read(self._out, 1 << 16)
        except BlockingIOError:
            return None

    def _poll_read(self) -> bytes | None:
        """``_read`` repeated for up to ``POLL_SECONDS`` (see there)."""
        chunk = self._read()
        if chunk is not None or not self._poll:
            return chunk
        end = time.perf_counter() + self._poll
        while chunk is None and time.perf_counter() < end:
            chunk = self._read()
        return chunk

    def ask(self, message: dict[str, Any]) -> Any:
        """Send one request and return its reply, parsed (raises ``WireError``)."""
        line = json.dumps(message, separators=(",", ":"))
        what = f"request {line[:200]}"
        try:
            self._send(line.encode() + b"\n")
        except TimeoutError as exc:
            self.kill()
            raise WireError(self._with_stderr(
                f"{exc} while it was sent {what}: it does not read its input (hung; "
                "killed)")) from None
        except (BrokenPipeError, OSError, ValueError) as exc:
            raise WireError(self._died(f"could not send {what}: {exc}")) from exc
        return self._reply(what)

    def _send(self, data: bytes) -> None:
        """Write ``data`` to the process's input. The pipe does not block: a process that
        stops reading its input is judged by ``Watch`` as one that does not reply is
        (raises ``TimeoutError``)."""
        assert self.proc.stdin is not None
        fd = self.proc.stdin.fileno()
        view = memoryview(data)
        watch: Watch | None = None
        while view:
            try:
                view = view[os.write(fd, view):]
                continue
            except BlockingIOError:
                pass
            if watch is None:
                watch = Watch(self.proc.pid, self.timeout, WALL_FACTOR * self.timeout)
            if not select.select([], [fd], [], watch.interval)[1]:
                verdict = watch.check()
                if verdict is not None:
                    raise TimeoutError(verdict)

    def _reply(self, what: str) -> Any:
        """WIRE-1 with its limits: the reply line, at most ``MAX_LINE`` bytes of utf-8
        JSON nested at most ``MAX_DEPTH`` deep, parsed."""
        try:
            reply = self._readline()
        except TimeoutError as exc:
            self.kill()
            raise WireError(self._with_stderr(f"{exc} to {what} (hung; killed)")) from None
        except (OSError, ValueError) as exc:
            raise WireError(self._died(f"no reply to {what}: {exc}")) from None
        if reply is None:
            raise WireError(self._died(f"no reply to {what}: end of output"))
        if len(reply) > MAX_LINE:
            raise WireError(f"reply to {what} longer than {MAX_LINE:,} bytes")
        try:
            return loads(reply.decode("utf-8"), MAX_DEPTH)
        except ValueError as exc:  # UnicodeDecodeError is one
            raise WireError(self._with_stderr(
                f"reply to {what} is not JSON ({' '.join(str(exc).split())[:200]}): "
                f"{reply.strip()[:200].decode('utf-8', 'replace')!r}")) from None

    def _died(self, text: str) -> str:
        """``text`` for a process that stopped replying: it is ended (``kill``, a second
        of grace), with its exit status if it exited by itself."""
        code = self._end(1.0)
        if code is not None:
            text += f" (the process exited with status {code})"
        return self._with_stderr(text)

    def _with_stderr(self, text: str) -> str:
        tail = [line[:500] for line in self.stderr_tail[-5:]]
        return text + ("; its standard error ends: " + " | ".join(tail) if tail else "")

    def close(self) -> None:
        """Say goodbye (``goodbye``) and end the process."""
        goodbye(self)

    def kill(self, grace: float = 0.5) -> None:
        """End the process (``_end``) and close the pipes."""
        self._end(grace)
        with self._err_lock:  # what is left is taken now; the descriptor is not read again
            if self._err_fd is not None:
                self._take_stderr(self._err_fd)
            self._err_fd = None
        for stream in (self.proc.stdout, self.proc.stderr):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass

    def _end(self, grace: float) -> int | None:
        """End the process: close its input (a well-behaved kernel exits on end of
        input) and give it ``grace`` seconds to exit; then kill its process group and
        whatever else is left in its session, and reap it. The process is reaped only
        after the kill, so its group's id cannot have been taken by another. Returns its
        exit status if it exited by itself, else None."""
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        except OSError:
            pass
        if self._reaped:
            return self._status
        self._await_exit(grace)
        by_itself = self._exited()
        self._kill_session()
        code = self.proc.wait()
        self._reaped = True
        self._status = code if by_itself else None
        _RUNNING.discard(self)
        self._drainer.join(timeout=1.0)  # standard error ends once the session is gone
        return self._status

    def _await_exit(self, grace: float) -> None:
        """Wait up to ``grace`` seconds for the process to exit, without reaping it."""
        if grace <= 0 or self._exited():
            return
        try:
            fd = os.pidfd_open(self.proc.pid)
        except (AttributeError, OSError):
            fd = None
        if fd is not None:
            try:
                select.select([fd], [], [], grace)
            finally:
                os.close(fd)
            return
        end = time.monotonic() + grace
        while time.monotonic() < end and not self._exited():
            time.sleep(0.01)

    def _kill_session(self) -> None:
        """SIGKILL to the process's group, then to every process still in its session
        (one that moved to a group of its own)."""
        pid = self.proc.pid
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        for _ in range(KILL_ROUNDS):  # until only zombies are left (where /proc tells)
            left = [p for p in session_members(pid) or () if not _finished(p)]
            if not left:
                return
            for other in left:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(other, signal.SIGKILL)
            time.sleep(0.01)


def _left_out(cfg: Config, view: dict[str, Any] | None, full: dict[str, Any]) -> list[str]:
    """The fields in which the state put together from ``changed`` replies (``view``)
    and the complete state (``full``) differ in value (fields left out at boot); none
    if either is out of shape (the kit reports that, from the complete state)."""
    if view is None:
        return []
    try:
        a, b = abstract(cfg, view), abstract(cfg, full)
    except (KeyError, ValueError, TypeError):
        return []
    return [name for name in (*SCALARS, *layout(cfg)) if getattr(a, name) != getattr(b, name)]


def goodbye(wire: Wire) -> None:
    """WIRE-5: send ``goodbye`` to a live process, take its ``bye``, and end it (a process
    still running after that is killed)."""
    if wire.alive():
        with contextlib.suppress(WireError):
            wire.ask(request("goodbye"))
    wire.kill()


class WireKernel:
    """WIRE-2..WIRE-4: a kernel behind the protocol, as the conformance contract wants it
    (``apply``, ``observe``). One process per command is kept alive across programs (a
    ``reset`` starts each); one that broke the protocol is killed and the next program
    starts a fresh one."""

    _live: ClassVar[dict[tuple[str, ...], Wire]] = {}

    def __init__(self, command: list[str], cfg: Config, timeout: float | None = None
                 ) -> None:
        self.cfg, self.command = cfg, tuple(command)
        timeout = timeout if timeout is not None else STEP_TIMEOUT
        wire = self._live.pop(self.command, None)
        if wire is None or not wire.alive() or wire.timeout != timeout:
            if wire is not None:
                wire.kill()
            wire = Wire(list(command), timeout)
        self.wire = wire
        ready = self._call(request("reset", config=config_json(cfg)), "ready", ())
        features = ready.get("features")
        # WIRE-2, WIRE-3: a process that lists "observe" returns the state with each result;
        # one that also lists "changed" returns only the fields that changed
        self.with_state = type(features) is list and "observe" in features
        self.changed_only = self.with_state and type(features) is list and (
            "changed" in features)
        # WIRE-7, WIRE-8: the trap layer and the views, for a process that lists them
        self.features = frozenset(f for f in features if type(f) is str) if type(
            features) is list else frozenset()
        self._state: Any = None  # the fields that came with the last result, not yet read
        self._view: dict[str, Any] | None = None  # the state put together from "changed"
        # the fields that came since the last observation (None: it may be any)
        self._delta: frozenset[str] | None = None
        self._current = False  # the state after the last call came and is in _view
        self._applies = 0
        self._live[self.command] = wire

    @classmethod
    def factory(cls, command: str | list[str], timeout: float | None = None
                ) -> Callable[[Config], WireKernel]:
        """``exo check``'s factory for ``--impl-cmd``: a command line split as a POSIX
        shell splits it, leading ``NAME=VALUE`` words added to the environment
        (``command_line``)."""
        if isinstance(command, str) and not command.strip():
            raise ValueError("--impl-cmd is empty")
        try:
            argv = shlex.split(command) if isinstance(command, str) else list(command)
            command_line(argv)
        except ValueError as exc:
            raise ValueError(f"--impl-cmd {command!r}: {exc}") from None
        atexit.register(cls.close_all)

        def make(cfg: Config) -> WireKernel:
            return cls(argv, cfg, timeout)

        return make

    def _call(self, message: dict[str, Any], kind: str, keys: tuple[str, ...]) -> Any:
        """The reply to ``message``, of type ``kind`` with ``keys``; a process that
        breaks the protocol is killed."""
        try:
            reply = self.wire.ask(message)
            expect(reply, kind, keys)
        except ValueError as exc:
            self._broken()
            raise WireError(f"{message['type']}: {exc}") from None
        except WireError:
            self._broken()
            raise
        return reply

    def _broken(self) -> None:
        self._live.pop(self.command, None)
        self.wire.kill()

    def offers(self, feature: str) -> bool:
        """Does the process answer ``trap`` (WIRE-7) or ``observe_as`` (WIRE-8)? As its
        ``ready`` said (features ``"trap"`` and ``"view"``)."""
        return {"trap": "trap", "observe_as": "view"}.get(feature, "") in self.features

    def trap(self, name: str, *args: Any) -> Result:
        """WIRE-7: system call ``name`` made by the process's running environment; the
        reply is read as ``apply``'s (with the state after it, as the process's features
        allow)."""
        if not self.offers("trap"):
            raise WireError("trap: the process did not list the \"trap\" feature (WIRE-7)")
        return self._operation("trap", name, args)

    def observe_as(self, env: int) -> dict[str, Any] | None:
        """WIRE-8: what environment ``env`` sees, in ``observe()``'s form, or None when
        the process answers ``null`` (``env`` names no environment slot)."""
        if not self.offers("observe_as"):
            raise WireError("observe_as: the process did not list the \"view\" feature "
                            "(WIRE-8)")
        reply = self._call(request("observe_as", env=encode(env)), "view", ("fields",))
        if reply["fields"] is None:
            return None
        try:
            return decode_state(self.cfg, {"type": "state", "fields": reply["fields"]})
        except ValueError as exc:
            self._broken()
            raise WireError(f"observe_as: {exc}") from None

    def apply(self, name: str, *args: Any) -> Result:
        """WIRE-3. To a process whose ``ready`` listed the ``observe`` feature the request
        asks for the state too (``"observe": true``): the kit observes after every call,
        and one round trip then does both; ``observe`` returns those fields. To one that
        also listed ``changed``, most requests ask for the changed fields only, which are
        put together with the earlier ones here (``_absorb``)."""
        return self._operation("apply", name, args)

    def _operation(self, kind: str, name: str, args: tuple[Any, ...]) -> Result:
        """An ``apply`` (WIRE-3) or a ``trap`` (WIRE-7) and its result."""
        self._state = None
        message = (trap_request(name, args) if kind == "trap"
                   else request(kind, op=name, args=[encode(a) for a in args]))
        if self.with_state:
            message["observe"] = True
        complete = self._view is None  # the first fields after a reset are complete
        if self.changed_only and not complete:
            message["changed"] = True
        reply = self._call(message, "result", ("status", "value", "fields")
                           if self.with_state else ("status", "value"))
        if self.changed_only:
            self._absorb(name, {"type": "state", "fields": reply.pop("fields")}, complete)
            self._applies += 1
            if self._applies % FULL_EVERY == 0:  # WIRE-3: check what was put together
                self._absorb(f"{name} (then observe)", self._call(
                    request("observe"), "state", ("fields",)), True)
        elif self.with_state:
            self._state = {"type": "state", "fields": reply.pop("fields")}
        try:
            return decode_result(name, reply)
        except (ValueError, KeyError) as exc:
            self._broken()
            raise WireError(f"{kind} {name}: {exc}") from None

    def _absorb(self, what: str, reply: dict[str, Any], complete: bool) -> None:
        """WIRE-3 with ``changed``: take the fields of a reply into the state put together
        so far (``_view``); a complete reply replaces it, after it is compared with it."""
        try:
            fields = decode_state(self.cfg, reply)
        except ValueError as exc:
            self._broken()
            raise WireError(f"{what}: {exc}") from None
        if complete:
            left_out = _left_out(self.cfg, self._view, fields)
            if left_out:
                self._broken()
                raise WireError(
                    f"{what}: the state put together from the \"changed\" replies "
                    f"differs from the complete state in {', '.join(left_out)} (WIRE-3: "
                    "a reply with \"changed\" left out a field that changed)")
            self._view, self._delta = fields, None
        else:
            assert self._view is not None
            self._view = {**self._view, **fields}
            if self._delta is not None:
                self._delta = self._delta | frozenset(fields)
        self._current = True

    def observe(self) -> dict[str, Any]:
        """WIRE-4 (the fields that came with the last result, if they did and have not
        been read)."""
        return self.observe_changes()[0]

    def observe_changes(self) -> tuple[dict[str, Any], frozenset[str] | None]:
        """``observe``, and the fields whose values may differ from the last observation
        this returned (None: any field may). A field not named holds the very value
        object it held in that observation (``exo.kit.lockstep`` then neither checks nor
        compares it again). Only a process with WIRE-3's ``changed`` feature names
        fields; each complete state it sends after the first is compared with the state
        its ``changed`` replies put together."""
        if self.changed_only:
            if not self._current:  # nothing came since the last observation: ask
                self._absorb("observe", self._call(request("observe"), "state",
                                                   ("fields",)), True)
            assert self._view is not None
            delta, self._delta, self._current = self._delta, frozenset(), False
            return dict(self._view), delta
        reply, self._state = self._state, None
        if reply is None:
            reply = self._call(request("observe"), "state", ("fields",))
        try:
            return decode_state(self.cfg, reply), None
        except ValueError as exc:
            self._broken()
            raise WireError(f"observe: {exc}") from None

    @classmethod
    def close_all(cls) -> None:
        """WIRE-5: say goodbye to every process kept alive."""
        while cls._live:
            _, wire = cls._live.popitem()
            wire.close()
