"""The wire protocol (spec/protocol.md, WIRE-1..WIRE-6): kernels in any language, tested
by the same lockstep machine as a Python implementation.

* ``encode`` / ``decode``: values by kind (WIRE-6);
* ``WireKernel``: the client. It implements the conformance contract (``apply``,
  ``observe``) by talking to a process, so ``exo check --impl-cmd CMD`` is ``exo check``
  with ``WireKernel.factory(CMD)`` as the factory. A process that crashes, hangs past the
  step timeout, or answers out of shape makes ``apply``/``observe`` raise ``WireError``,
  which the lockstep machine reports as a failure with the shrunk program; the process is
  then started afresh;
* ``serve``: the server side for any Python implementation (``exo serve --impl …``): the
  reference peer the tests and a new kernel's author can compare transcripts with.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import json
import os
import re
import select
import shlex
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from enum import IntEnum
from typing import IO, Any, ClassVar

from exo.interface import MAX_PACKET, OPERATIONS, Cap, Config, Outcome, Result, Status
from exo.model.state import SCALARS, layout

VERSION = 1
"""WIRE-1: the protocol version every request carries."""

STEP_TIMEOUT = 5.0
"""WIRE-1: seconds the client waits for one reply before it calls the process hung."""

OUTCOME_OPS = frozenset(
    {"load", "store", "yield_to", "timer_tick", "raise_exception", "packet_arrive"})
"""WIRE-6: the operations whose value is an outcome, sent by name."""

MAX_LINE = 16 * 1024 * 1024
"""The longest reply line read (16 MiB): a state of the largest configurations fits."""


class WireError(Exception):
    """The process under test broke the protocol: it crashed, hung, or replied out of
    shape (WIRE-1). The message says which, with the request and the last lines of the
    process's standard error."""


# --------------------------------------------------------------------------- WIRE-6


def _exact_int(v: Any) -> bool:
    return type(v) is int or isinstance(v, IntEnum)


_FIELDS = ((0xFFFF, 2), (0xFF, 1), (0xFF, 1), (0xFFFFFFFF, 4))


def _program_hex(v: tuple[Any, ...]) -> str | None:
    """The BPF binary layout of ``v`` in hex, or None if ``v`` is not a program of
    in-range fields (GEN-1)."""
    out = bytearray()
    for ins in v:
        if type(ins) is not tuple or len(ins) != 4:
            return None
        for x, (top, width) in zip(ins, _FIELDS, strict=True):
            if type(x) is not int or not 0 <= x <= top:
                return None
            out += x.to_bytes(width, "big")
    return out.hex()


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
"""WIRE-6: the integers that go as JSON numbers; any other goes as ``{"int": DIGITS}``."""

_DIGITS = re.compile(r"-?[1-9][0-9]*")
"""WIRE-6: the form of DIGITS (ASCII digits only: ``int()`` alone would also take ``+``,
``_``, spaces and other scripts' digits)."""


def encode_int(v: int) -> Any:
    """WIRE-6: an integer as a JSON number if it fits in 64 bits, else as its decimal
    text in ``{"int": ...}`` (one encoding per integer)."""
    v = int(v)
    return v if INT64_MIN <= v <= INT64_MAX else {"int": str(v)}


def decode_int(v: Any) -> int:
    """WIRE-6: the integer ``v`` encodes (raises ValueError for anything else, also for
    a JSON number outside 64 bits or an ``{"int": ...}`` that fits in them)."""
    if type(v) is int:
        if not INT64_MIN <= v <= INT64_MAX:
            raise ValueError(f"{v} is outside 64 bits: it goes as {{\"int\": \"{v}\"}}")
        return v
    if type(v) is dict and len(v) == 1 and type(v.get("int")) is str:
        text = v["int"]
        if _DIGITS.fullmatch(text) is None:
            raise ValueError(f"not WIRE-6 integer digits: {_short(text)}")
        n = int(text)
        if INT64_MIN <= n <= INT64_MAX:
            raise ValueError(f"{n} fits in 64 bits: it goes as a JSON number")
        return n
    raise ValueError(f"not a WIRE-6 integer: {_short(v)}")


def encode(v: Any) -> Any:
    """WIRE-6: a Python value as JSON, by its exact type (an argument of the wrong kind
    still goes, so the kernel can refuse it)."""
    if type(v) is bool:
        return v
    if _exact_int(v):
        return encode_int(v)
    if type(v) is Cap and all(_exact_int(getattr(v, f)) for f in ("page", "gen", "rights")):
        return {"cap": [encode_int(v.page), encode_int(v.gen), encode_int(v.rights)]}
    if type(v) is bytes:
        return {"hex": v.hex()}
    if type(v) is tuple:
        text = _program_hex(v)
        if text is not None:
            return {"program": text}
    return {"foreign": type(v).__name__}


def decode_program(text: str) -> tuple[tuple[int, int, int, int], ...]:
    """WIRE-6: a program from its hex form (raises ValueError if it is not one)."""
    raw = bytes.fromhex(text)
    if len(raw) % 8:
        raise ValueError("a program is 8 bytes per instruction")
    return tuple((int.from_bytes(raw[i:i + 2], "big"), raw[i + 2], raw[i + 3],
                  int.from_bytes(raw[i + 4:i + 8], "big")) for i in range(0, len(raw), 8))


def decode(v: Any) -> Any:
    """WIRE-6: a JSON value as the Python value it encodes (raises ValueError for
    something WIRE-6 does not define; a ``foreign`` value decodes to a ``Foreign``)."""
    if type(v) is bool:
        return v
    if type(v) is int:
        return decode_int(v)
    if type(v) is dict and len(v) == 1:
        (tag, body), = v.items()
        if tag == "int":
            return decode_int(v)
        if tag == "cap" and type(body) is list and len(body) == 3:
            return Cap(*(decode_int(x) for x in body))
        if tag == "hex" and type(body) is str:
            return bytes.fromhex(body)
        if tag == "program" and type(body) is str:
            return decode_program(body)
        if tag == "foreign" and type(body) is str:
            return Foreign(body)
    raise ValueError(f"not a WIRE-6 value: {_short(v)}")


@dataclasses.dataclass(frozen=True)
class Foreign:
    """WIRE-6: an argument of a type the interface does not have (``{"foreign": T}``);
    every operation refuses it (GEN-1)."""

    type_name: str


def encode_result(op: str, res: Result) -> dict[str, Any]:
    """WIRE-3: the reply to an ``apply`` of ``op`` that answered ``res``."""
    value: Any = res.value
    if op in OUTCOME_OPS and _exact_int(value):
        value = Outcome(value).name if res.status == Status.OK else Outcome.NONE.name
    elif type(value) is str:  # NET-1's witness packet, as hex
        value = {"hex": value}
    else:
        value = encode(value)
    return {"type": "result", "status": Status(res.status).name, "value": value}


def decode_result(op: str, reply: Any) -> Result:
    """WIRE-3: the ``Result`` a ``result`` reply to an ``apply`` of ``op`` states (raises
    ValueError for a reply out of shape)."""
    _expect(reply, "result", ("status", "value"))
    status = reply["status"]
    if type(status) is not str or status not in Status.__members__:
        raise ValueError(f"status {_short(status)} is not a status name")
    value = reply["value"]
    if op in OUTCOME_OPS:
        if type(value) is not str or value not in Outcome.__members__:
            raise ValueError(f"{op}'s value {_short(value)} is not an outcome name")
        return Result(Status[status], int(Outcome[value]))
    if op == "filter_install" and type(value) is dict and set(value) == {"hex"}:
        text = value["hex"]
        if type(text) is not str:
            raise ValueError(f"witness {_short(value)} is not hex")
        bytes.fromhex(text)  # must be hex
        return Result(Status[status], text)
    decoded = decode(value)
    if OPERATIONS[op].result == "cap" and type(decoded) is not Cap:
        raise ValueError(f"{op}'s value {_short(value)} is not a capability")
    if isinstance(decoded, Foreign):
        raise ValueError(f"{op}'s value {_short(value)} is foreign")
    return Result(Status[status], decoded)


def encode_state(observation: dict[str, Any]) -> dict[str, Any]:
    """WIRE-4: an observation (``observe()``'s dict) as the ``fields`` of a ``state``
    reply."""
    fields: dict[str, Any] = {}
    for name, value in observation.items():
        if type(value) is dict:
            fields[name] = [[*(k if type(k) is tuple else (k,)), encode(v)]
                            for k, v in value.items()]
        else:
            fields[name] = encode(value)
    return fields


def decode_state(cfg: Config, reply: Any) -> dict[str, Any]:
    """WIRE-4: the observation a ``state`` reply states, in ``observe()``'s form (raises
    ValueError for a reply out of shape; ``conformance.malformed`` then judges the
    values)."""
    _expect(reply, "state", ("fields",))
    fields = reply["fields"]
    if type(fields) is not dict:
        raise ValueError(f"fields {_short(fields)} is not an object")
    shapes = layout(cfg)
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if name in SCALARS:
            out[name] = decode(value)
            continue
        if name not in shapes:
            out[name] = value  # an unknown field: conformance.malformed names it
            continue
        arity = len(shapes[name][0])
        if type(value) is not list:
            raise ValueError(f"field {name!r}: {_short(value)} is not a list of rows")
        rows: dict[Any, Any] = {}
        for row in value:
            if type(row) is not list or len(row) != arity + 1:
                raise ValueError(f"field {name!r}: row {_short(row)} is not [key, value] "
                                 f"with {arity} key part(s)")
            key = row[0] if arity == 1 else tuple(row[:arity])
            rows[key] = decode(row[arity])
        out[name] = rows
    return out


def _expect(reply: Any, kind: str, keys: tuple[str, ...]) -> None:
    if type(reply) is not dict:
        raise ValueError(f"reply {_short(reply)} is not an object")
    if reply.get("type") == "error":
        raise ValueError(f"the process answered error: {_short(reply.get('message'))}")
    if reply.get("type") != kind:
        raise ValueError(f"expected a {kind!r} reply, got {_short(reply)}")
    missing = [k for k in keys if k not in reply]
    if missing:
        raise ValueError(f"{kind!r} reply without {', '.join(missing)}: {_short(reply)}")


def _short(v: Any, n: int = 120) -> str:
    text = json.dumps(v) if _jsonable(v) else repr(v)
    return text if len(text) <= n else text[:n - 3] + "..."


def _jsonable(v: Any) -> bool:
    try:
        json.dumps(v)
    except (TypeError, ValueError):
        return False
    return True


# --------------------------------------------------------------------------- requests


def request(kind: str, **body: Any) -> dict[str, Any]:
    """WIRE-1: a request of ``kind`` (reset, apply, observe, goodbye)."""
    return {"exo": VERSION, "type": kind, **body}


def config_json(cfg: Config) -> dict[str, int]:
    """WIRE-2: a configuration's fields."""
    return {f.name: int(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}


# --------------------------------------------------------------------------- the client


class Wire:
    """WIRE-1: one process under test: requests on its standard input, one reply line per
    request on its standard output, its standard error kept (the last lines) for reports.
    Every failure to get a reply in shape raises ``WireError``."""

    def __init__(self, command: list[str], timeout: float | None = None) -> None:
        self.command = command
        self.timeout = timeout if timeout is not None else STEP_TIMEOUT
        self.stderr_tail: deque[str] = deque(maxlen=20)
        try:
            self.proc = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, bufsize=0,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        except OSError as exc:
            raise WireError(f"cannot start {shlex.join(command)}: {exc.strerror or exc}"
                            ) from exc
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._out = self.proc.stdout.fileno()
        self._pending = bytearray()  # read from the process, not yet a whole line
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
        not by a thread: a step costs two pipe round trips and no thread hand-off."""
        deadline = time.monotonic() + self.timeout
        while True:
            end = self._pending.find(b"\n")
            if end >= 0:
                line = bytes(self._pending[:end])
                del self._pending[:end + 1]
                return line
            if len(self._pending) > MAX_LINE:
                return bytes(self._pending)
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._out], [], [], left)[0]:
                raise TimeoutError
            chunk = os.read(self._out, 1 << 16)
            if not chunk:
                return None
            self._pending += chunk

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
        self._call(request("reset", config=config_json(cfg)), "ready", ())
        self._live[self.command] = wire

    @classmethod
    def factory(cls, command: str | list[str], timeout: float | None = None
                ) -> Callable[[Config], WireKernel]:
        """``exo check``'s factory for ``--impl-cmd`` (a shell-like command line)."""
        try:
            argv = shlex.split(command) if isinstance(command, str) else list(command)
        except ValueError as exc:
            raise ValueError(f"--impl-cmd {command!r}: {exc}") from None
        if not argv:
            raise ValueError("--impl-cmd is empty")
        atexit.register(cls.close_all)

        def make(cfg: Config) -> WireKernel:
            return cls(argv, cfg, timeout)

        return make

    def _call(self, message: dict[str, Any], kind: str, keys: tuple[str, ...]) -> Any:
        """The reply to ``message``, of type ``kind`` with ``keys``; a process that
        breaks the protocol is killed."""
        try:
            reply = self.wire.ask(message)
            _expect(reply, kind, keys)
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
        """WIRE-3."""
        reply = self._call(request("apply", op=name, args=[encode(a) for a in args]),
                           "result", ("status", "value"))
        try:
            return decode_result(name, reply)
        except (ValueError, KeyError) as exc:
            self._broken()
            raise WireError(f"apply {name}: {exc}") from None

    def observe(self) -> dict[str, Any]:
        """WIRE-4."""
        reply = self._call(request("observe"), "state", ("fields",))
        try:
            return decode_state(self.cfg, reply)
        except ValueError as exc:
            self._broken()
            raise WireError(f"observe: {exc}") from None

    @classmethod
    def close_all(cls) -> None:
        """WIRE-5: say goodbye to every process kept alive."""
        while cls._live:
            _, wire = cls._live.popitem()
            wire.close()


# --------------------------------------------------------------------------- the server


def serve(factory: Callable[[Config], Any], lines: Iterator[str],
          write: Callable[[str], None]) -> int:
    """WIRE-1..WIRE-5, the server side: answer each request line with one reply line,
    driving implementations made by ``factory``; returns when ``goodbye`` is answered or
    the input ends."""
    impl: Any = None
    cfg: Config | None = None
    for line in lines:
        reply: dict[str, Any]
        try:
            msg = json.loads(line)
        except ValueError:
            write(json.dumps({"type": "error", "message": "not JSON"}, separators=(",", ":")))
            continue
        kind = msg.get("type") if type(msg) is dict else None
        if type(msg) is not dict or msg.get("exo") != VERSION:
            reply = {"type": "error", "message": f"not a version {VERSION} request"}
        elif kind == "goodbye":
            write(json.dumps({"type": "bye"}, separators=(",", ":")))
            return 0
        elif kind == "reset":
            try:
                cfg = Config(**msg["config"])
                if cfg.problem() is not None:
                    raise ValueError(cfg.problem())
                impl = factory(cfg)
                reply = {"type": "ready"}
            except (KeyError, TypeError, ValueError) as exc:
                reply = {"type": "error", "message": f"bad config: {exc}"}
        elif impl is None or cfg is None:
            reply = {"type": "error", "message": "no reset yet"}
        elif kind == "apply" and msg.get("op") in OPERATIONS and type(msg.get("args")) is list:
            args = []
            for a in msg["args"]:
                try:
                    args.append(decode(a))
                except ValueError:
                    args.append(Foreign("json"))
            op = msg["op"]
            reply = encode_result(op, impl.apply(op, *args))
        elif kind == "observe":
            reply = {"type": "state", "fields": encode_state(impl.observe())}
        else:
            reply = {"type": "error", "message": f"cannot handle {_short(msg)}"}
        write(json.dumps(reply, separators=(",", ":")))
    return 0


__all__ = ["MAX_PACKET", "STEP_TIMEOUT", "VERSION", "Foreign", "Wire", "WireError",
           "WireKernel", "decode", "decode_int", "decode_result", "decode_state", "encode",
           "encode_int",
           "encode_result", "encode_state", "goodbye", "request", "serve"]
