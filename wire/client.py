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
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import IO, Any, ClassVar

from exo.interface import (
    Config,
    Result,
)
from exo.kit.conformance import abstract
from exo.model.state import SCALARS, layout
from exo.wire.codec import (
    WireError,
    config_json,
    decode_result,
    decode_state,
    encode,
    expect,
    request,
)

STEP_TIMEOUT = 5.0
"""WIRE-1: seconds the client waits for one reply before it calls the process hung."""

START_GRACE = 30.0
"""WIRE-1: seconds the first reply of a fresh process may take beyond the step timeout
(starting a process, an interpreter and its imports, is not a step)."""

MAX_LINE = 16 * 1024 * 1024
"""The longest reply line read (16 MiB): a state of the largest configurations fits."""

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


__all__ = ["FULL_EVERY", "MAX_LINE", "POLL_SECONDS", "START_GRACE", "STEP_TIMEOUT", "Wire", "WireKernel", "command_line",
           "goodbye"]


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


class Wire:
    """WIRE-1: one process under test: requests on its standard input, one reply line per
    request on its standard output, its standard error kept (the last lines) for reports.
    Every failure to get a reply in shape raises ``WireError``."""

    def __init__(self, command: list[str], timeout: float | None = None) -> None:
        self.command = command
        self.timeout = timeout if timeout is not None else STEP_TIMEOUT
        self.stderr_tail: deque[str] = deque(maxlen=20)
        try:
            assigned, argv = command_line(command)
        except ValueError as exc:
            raise WireError(f"cannot start {shlex.join(command)}: {exc}") from None
        try:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, bufsize=0,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **assigned})
        except OSError as exc:
            raise WireError(f"cannot start {shlex.join(command)}: {exc.strerror or exc}"
                            ) from exc
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._out = self.proc.stdout.fileno()
        os.set_blocking(self._out, False)
        self._poll = POLL_SECONDS if _processors() > 1 else 0.0
        self._pending = bytearray()  # read from the process, not yet a whole line
        self._replies = 0  # replies read so far: the first one may take START_GRACE more
        threading.Thread(target=self._drain, args=(self.proc.stderr,), daemon=True).start()

    def _drain(self, stream: IO[bytes]) -> None:
        try:
            for line in stream:
                self.stderr_tail.append(line.decode("utf-8", "replace").rstrip("\n"))
        except (OSError, ValueError):
            pass

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _readline(self) -> bytes | None:
        """One reply line (without its newline), None at end of output; raises
        ``TimeoutError`` after the step timeout. The pipe is read here, with ``select``,
        not by a thread: a step costs one pipe round trip (two without WIRE-3's observe
        feature) and no thread hand-off."""
        deadline = time.monotonic() + self.timeout + (START_GRACE if not self._replies else 0)
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
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self._out], [], [], left)[0]:
                    raise TimeoutError
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
            assert self.proc.stdin is not None
            self.proc.stdin.write(line.encode() + b"\n")
        except (BrokenPipeError, OSError, ValueError) as exc:
            raise WireError(self._died(f"could not send {what}: {exc}")) from exc
        return self._reply(what)

    def _reply(self, what: str) -> Any:
        try:
            reply = self._readline()
        except TimeoutError:
            self.kill()
            raise WireError(self._with_stderr(
                f"no reply within {self.timeout:g} s to {what} (hung; killed)")) from None
        except (OSError, ValueError) as exc:
            raise WireError(self._died(f"no reply to {what}: {exc}")) from None
        if reply is None:
            raise WireError(self._died(f"no reply to {what}: end of output"))
        if len(reply) > MAX_LINE:
            raise WireError(f"reply to {what} longer than {MAX_LINE} bytes")
        try:
            return json.loads(reply)
        except ValueError:
            raise WireError(self._with_stderr(
                f"reply to {what} is not JSON: "
                f"{reply.strip()[:200].decode('utf-8', 'replace')!r}")) from None

    def _died(self, text: str) -> str:
        try:
            code = self.proc.wait(timeout=1)
            text += f" (the process exited with status {code})"
        except subprocess.TimeoutExpired:
            pass
        return self._with_stderr(text)

    def _with_stderr(self, text: str) -> str:
        tail = list(self.stderr_tail)[-5:]
        return text + ("; its standard error ends: " + " | ".join(tail) if tail else "")

    def close(self) -> None:
        """Say goodbye (``goodbye``) and end the process."""
        goodbye(self)

    def kill(self) -> None:
        """End the process: close its input (a well-behaved kernel exits on end of
        input), wait a moment, then kill it."""
        for stream in (self.proc.stdin,):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass


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

    def apply(self, name: str, *args: Any) -> Result:
        """WIRE-3. To a process whose ``ready`` listed the ``observe`` feature the request
        asks for the state too (``"observe": true``): the kit observes after every call,
        and one round trip then does both; ``observe`` returns those fields. To one that
        also listed ``changed``, most requests ask for the changed fields only, which are
        put together with the earlier ones here (``_absorb``)."""
        self._state = None
        message = request("apply", op=name, args=[encode(a) for a in args])
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
            raise WireError(f"apply {name}: {exc}") from None

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
