"""The wire server (WIRE-1..WIRE-5) for any Python implementation (``exo serve --impl
…``): the reference peer the tests and a new kernel's author can compare transcripts
with.

It is total on its input (WIRE-1's limits): whatever bytes arrive, each line gets exactly
one reply line and the server goes on reading. A line longer than ``MAX_LINE_BYTES`` is
discarded as it arrives (never held whole) and answered with ``error``; so are bytes that
are not utf-8, text that is not one JSON value or nests deeper than ``MAX_DEPTH``, and a
request whose fields have the wrong JSON type. A ``reset`` whose sizes exceed
``MAX_SIZE``, ``MAX_LIMIT`` or ``MAX_STATE_ENTRIES`` is refused before anything is built,
and the state before it stays as it was.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from exo.interface import OPERATIONS, Config
from exo.kit.conformance import offers
from exo.limits import MAX_DEPTH, MAX_LIMIT, MAX_LINE_BYTES, MAX_SIZE, loads
from exo.model import initial
from exo.model.state import SCALARS, layout
from exo.wire.codec import (
    VERSION,
    Foreign,
    decode,
    encode,
    encode_result,
    encode_state,
    short,
)

__all__ = ["LIMIT_FIELDS", "MAX_STATE_ENTRIES", "READ_BLOCK", "SIZE_FIELDS", "Overlong",
           "config_problem", "read_lines", "serve", "state_entries"]

MAX_STATE_ENTRIES = 1 << 18
"""WIRE-1 limits: the most entries (the products of ``exo.model.state.layout``'s
domains, summed over the maps) the state of a configuration from a ``reset`` may have:
262,144, e.g. 4,096 environments with the other sizes at their defaults, or 64
environments x 2,000 pages. Measured at this bound (scripts/hostile_wire.py, peak
resident memory of the whole ``exo serve`` process after the reset): 86-96 MB with the
model as the implementation (it builds every entry), 67-74 MB with ``exo.impl.Kernel``,
against 66 MB idle; the reset takes 0.1-0.2 s. A state whose entries all differ from boot
is a reply of about 20 bytes an entry, 5 MB, inside ``MAX_LINE_BYTES``."""

READ_BLOCK = 1 << 16
"""Bytes asked of the input per read (64 KiB)."""

SIZE_FIELDS = ("n_envs", "n_pages", "page_words", "tlb_size", "stlb_size", "n_cids",
               "n_slices", "n_guaranteed", "n_regs", "n_filters", "ring_size")
"""WIRE-2: the fields of ``Config`` that size a map of the state: 1..``MAX_SIZE``."""

LIMIT_FIELDS = {"slice_ticks": 1, "excess_limit": 0, "addr_limit": 1}
"""WIRE-2: the other fields of ``Config`` and their least value (at most
``MAX_LIMIT``)."""


@dataclasses.dataclass(frozen=True)
class Overlong:
    """WIRE-1 limits: a line longer than ``MAX_LINE_BYTES``, discarded as it was read;
    ``size`` is its length in bytes (without the newline)."""

    size: int


def read_lines(read: Callable[[int], bytes], max_bytes: int = MAX_LINE_BYTES
               ) -> Iterator[bytes | Overlong]:
    """WIRE-1: the lines (without their newlines) of the byte stream ``read(n)`` returns
    (empty at its end), each at most ``max_bytes`` long; a longer line is an ``Overlong``,
    its bytes dropped as they arrive, so at most ``max_bytes`` + ``READ_BLOCK`` bytes are
    ever held. A last line without a newline is a line too."""
    pending = bytearray()
    skipped: int | None = None  # bytes of an overlong line dropped so far
    while True:
        chunk = read(READ_BLOCK)
        if not chunk:
            break
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            piece = memoryview(chunk)[start:end if end >= 0 else len(chunk)]
            if skipped is not None:
                skipped += len(piece)
            else:
                pending += piece
                if len(pending) > max_bytes:
                    skipped = len(pending)
                    pending = bytearray()
            if end < 0:
                break
            if skipped is not None:
                yield Overlong(skipped)
                skipped = None
            else:
                yield bytes(pending)
                pending.clear()
            start = end + 1
    if skipped is not None:
        yield Overlong(skipped)
    elif pending:
        yield bytes(pending)


def state_entries(cfg: Config) -> int:
    """The entries of every map of ``cfg``'s state (``layout``'s domains multiplied out
    and summed); the WIRE-1 limit ``MAX_STATE_ENTRIES`` bounds it."""
    return sum(math.prod(domain) for domain, _, _ in layout(cfg).values())


def config_problem(value: Any) -> str | None:
    """WIRE-2 and WIRE-1's limits: why ``value`` (the ``config`` of a ``reset``) is not a
    configuration the server takes, naming the field and the bound, or None. Checked
    before anything is built: every field of ``Config`` and no other, each a JSON integer
    (not a boolean), sizes in 1..``MAX_SIZE``, the limits from their least value to
    ``MAX_LIMIT``, and at most ``MAX_STATE_ENTRIES`` entries in the state."""
    if type(value) is not dict:
        return f"config must be an object, not {short(value, 60)}"
    names = [f.name for f in dataclasses.fields(Config)]
    unknown = [k for k in value if k not in names]
    if unknown:
        return f"config has no field {short(unknown[0], 60)}"
    for name in names:
        if name not in value:
            return f"config field {name} is missing"
        v = value[name]
        if type(v) is not int:
            return f"config field {name} must be a JSON integer, not {short(v, 60)}"
        least, most = (1, MAX_SIZE) if name in SIZE_FIELDS else (LIMIT_FIELDS[name],
                                                                   MAX_LIMIT)
        if not least <= v <= most:
            shown = str(v) if len(str(v)) <= 30 else f"a {len(str(v))}-digit number"
            return f"config field {name} is {shown}, outside {least}..{most}"
    entries = state_entries(Config(**value))
    if entries > MAX_STATE_ENTRIES:
        return (f"config sizes span {entries:,} state entries, more than the "
                f"{MAX_STATE_ENTRIES:,} of MAX_STATE_ENTRIES")
    return None


def serve(factory: Callable[[Config], Any], lines: Iterable[bytes | str | Overlong],
          write: Callable[[str], None]) -> int:
    """WIRE-1..WIRE-5, the server side: answer each request line (``read_lines`` makes
    them from bytes; a ``str`` is taken as decoded text) with one reply line, driving
    implementations made by ``factory``; returns 0 when ``goodbye`` is answered or the
    input ends. Never raises on its input: a line it cannot handle is answered with
    ``error`` (WIRE-1) and changes nothing."""
    session = _Session(factory)
    for line in lines:
        reply = session.answer(line)
        text = json.dumps(reply, separators=(",", ":"))
        if len(text) > MAX_LINE_BYTES:  # WIRE-1 limits: the peer would refuse the line
            text = json.dumps(_error(f"the reply is {len(text):,} bytes, longer than the "
                                     f"{MAX_LINE_BYTES:,} bytes a line may have"),
                              separators=(",", ":"))
        write(text)
        if reply.get("type") == "bye":
            return 0
    return 0


def _error(message: str) -> dict[str, Any]:
    return {"type": "error", "message": message}


class _Session:
    """The server's state between requests: the implementation (None before the first
    ``reset``), its configuration, and WIRE-3's ``changed`` bookkeeping."""

    def __init__(self, factory: Callable[[Config], Any]) -> None:
        self.factory = factory
        self.impl: Any = None
        self.cfg: Config | None = None
        self.sent = _Sent()

    def answer(self, line: bytes | str | Overlong) -> dict[str, Any]:
        """WIRE-1: the one reply to one request line."""
        if isinstance(line, Overlong):
            return _error(f"request line of {line.size:,} bytes, longer than the "
                          f"{MAX_LINE_BYTES:,} bytes a line may have; discarded")
        if isinstance(line, bytes):
            if len(line) > MAX_LINE_BYTES:
                return _error(f"request line of {len(line):,} bytes, longer than the "
                              f"{MAX_LINE_BYTES:,} bytes a line may have")
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                return _error(f"request is not valid utf-8 (byte {line[exc.start]:#04x} at "
                              f"offset {exc.start})")
        else:
            if len(line) > MAX_LINE_BYTES:
                return _error(f"request line of {len(line):,} characters, longer than "
                              f"the {MAX_LINE_BYTES:,} bytes a line may have")
            text = line
        try:
            msg = loads(text, MAX_DEPTH)
        except ValueError as exc:
            return _error(f"bad request: {exc}")
        if type(msg) is not dict or type(msg.get("exo")) is not int or (
                msg["exo"] != VERSION):
            return _error(f"not a version {VERSION} request")
        kind = msg.get("type")
        if kind == "goodbye":
            return {"type": "bye"}
        if kind == "reset":
            return self._reset(msg)
        if kind not in ("apply", "observe", "trap", "observe_as"):
            return _error(f"cannot handle {short(msg)}")
        if self.impl is None or self.cfg is None:
            return _error("no reset yet")
        if kind in ("trap", "observe_as") and not offers(
                self.impl, "trap" if kind == "trap" else "observe_as"):
            return _error(f"cannot handle {kind}: the implementation has no {kind}")
        if kind in ("apply", "trap"):
            return self._apply(msg)
        if kind == "observe_as":  # WIRE-8: null for anything but an int naming a slot
            if "env" not in msg:  # WIRE-1: a field missing
                return _error("observe_as without env")
            env = msg["env"]
            return self._run(lambda: {"type": "view", "fields": _view_fields(
                self.impl.observe_as(env) if type(env) is int else None)})
        return self._run(lambda: {"type": "state",
                                  "fields": self.sent.fields(encode_state(
                                      self.impl.observe()), False)})

    def _reset(self, msg: dict[str, Any]) -> dict[str, Any]:
        """WIRE-2, with WIRE-1's limits: a refused configuration leaves the session as it
        was."""
        if "config" not in msg:
            return _error("reset without config")
        problem = config_problem(msg["config"])
        if problem is not None:
            return _error(f"bad config: {problem}")
        cfg = Config(**msg["config"])
        try:
            impl = self.factory(cfg)
        except Exception as exc:  # the implementation's own failure
            return _error(f"the implementation could not start: {_raised(exc)}")
        self.impl, self.cfg, self.sent = impl, cfg, _Sent(cfg)
        extra = [name for name, method in (("trap", "trap"), ("view", "observe_as"))
                 if offers(impl, method)]  # WIRE-7, WIRE-8
        return {"type": "ready", "features": ["observe", "changed", *extra]}

    def _apply(self, msg: dict[str, Any]) -> dict[str, Any]:
        """WIRE-3 (and WIRE-7 for a ``trap``): an operation named by a string of
        ``OPERATIONS`` with a list of arguments; an argument WIRE-6 does not define goes
        to the implementation as a ``Foreign`` value (which it refuses, GEN-1). A trap of
        an operation that is not a system call is the implementation's to refuse
        (GEN-6)."""
        kind = msg["type"]
        op, raw = msg.get("op"), msg.get("args")
        if type(op) is not str or op not in OPERATIONS:
            return _error(f"{kind} of {short(op, 60)}, not the name of an operation")
        if type(raw) is not list:
            return _error(f"{kind} with args {short(raw, 60)}, not a list")
        flags = {name: msg.get(name, False) for name in ("observe", "changed")}
        for name, flag in flags.items():
            if type(flag) is not bool:
                return _error(f"apply with {name} {short(flag, 60)}, not true or false")
        args: list[Any] = []
        for a in raw:
            try:
                args.append(decode(a))
            except ValueError:
                args.append(Foreign("json"))

        call = self.impl.trap if kind == "trap" else self.impl.apply

        def run() -> dict[str, Any]:
            reply = encode_result(op, call(op, *args))
            if flags["observe"]:  # WIRE-3: the state after the call, with it
                reply["fields"] = self.sent.fields(encode_state(self.impl.observe()),
                                                   flags["changed"])
            return reply

        return self._run(run)

    @staticmethod
    def _run(step: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The reply ``step`` builds by running the implementation; an exception from the
        implementation (whatever it is: the server serves code it does not know) is an
        ``error`` reply, so the client reports it as the kernel's failure (WIRE-1)."""
        try:
            return step()
        except Exception as exc:  # the implementation's own failure
            return _error(f"the implementation raised {_raised(exc)}")


def _view_fields(view: Any) -> Any:
    """WIRE-8: a view as WIRE-4's fields, or null (the implementation answered None)."""
    if view is None:
        return None
    if type(view) is not dict:
        raise TypeError(f"observe_as returned a {type(view).__name__}, not a dict or None")
    return encode_state(view)


def _raised(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return type(exc).__name__ + (f": {text[:200]}" if text else "")


class _Sent:
    """WIRE-3's ``changed``: the fields sent last since the reset, each as its JSON text
    (None: none yet). Texts, not values: ``true`` and ``1`` are equal in Python."""

    def __init__(self, cfg: Config | None = None) -> None:
        self.cfg = cfg
        self.last: dict[str, str] | None = None

    def fields(self, now: dict[str, Any], changed: bool) -> dict[str, Any]:
        """What to send of the encoded state ``now``: all of it, or with ``changed`` (and
        something sent since the reset) the fields whose text differs from the one sent
        last, and as its boot value a field that was sent and is now left out."""
        texts = {name: json.dumps(value, separators=(",", ":")) for name, value in now.items()}
        last, self.last = self.last, texts
        if not changed or last is None or self.cfg is None:
            return now
        out = {name: value for name, value in now.items() if last.get(name) != texts[name]}
        boot = initial(self.cfg)
        for name in last.keys() - now.keys():
            out[name] = encode(getattr(boot, name)) if name in SCALARS else []
        return out
