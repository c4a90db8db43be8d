"""The wire protocol's messages (spec/protocol.md, WIRE-1..WIRE-6): values encoded by
kind (``encode``/``decode``, integers outside 64 bits as ``{"int": DIGITS}``), results
and states as the peer sends them, and the requests. The client is
``exo.wire.client``, the server ``exo.wire.server``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from enum import IntEnum
from typing import Any

from exo.interface import (
    MAX_PACKET,
    OPERATIONS,
    OUTCOME_OPS,
    Cap,
    Config,
    Outcome,
    Result,
    Status,
)
from exo.kit.conformance import HEX
from exo.model.state import SCALARS, layout

VERSION = 1
"""WIRE-1: the protocol version every request carries."""

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
            raise ValueError(f"not WIRE-6 integer digits: {short(text)}")
        n = int(text)
        if INT64_MIN <= n <= INT64_MAX:
            raise ValueError(f"{n} fits in 64 bits: it goes as a JSON number")
        return n
    raise ValueError(f"not a WIRE-6 integer: {short(v)}")


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
    if HEX.fullmatch(text) is None:
        raise ValueError("a program is lower-case hex, two digits a byte")
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
        if tag == "hex" and type(body) is str and HEX.fullmatch(body):
            return bytes.fromhex(body)
        if tag == "program" and type(body) is str:
            return decode_program(body)
        if tag == "foreign" and type(body) is str:
            return Foreign(body)
    raise ValueError(f"not a WIRE-6 value: {short(v)}")


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
    expect(reply, "result", ("status", "value"))
    status = reply["status"]
    if type(status) is not str or status not in Status.__members__:
        raise ValueError(f"status {short(status)} is not a status name")
    value = reply["value"]
    if op in OUTCOME_OPS:
        if type(value) is not str or value not in Outcome.__members__:
            raise ValueError(f"{op}'s value {short(value)} is not an outcome name")
        return Result(Status[status], int(Outcome[value]))
    if op == "filter_install" and type(value) is dict and set(value) == {"hex"}:
        text = value["hex"]
        if type(text) is not str or HEX.fullmatch(text) is None:
            raise ValueError(f"witness {short(value)} is not lower-case hex, two digits a "
                             "byte (WIRE-6)")
        return Result(Status[status], text)
    decoded = decode(value)
    if OPERATIONS[op].result == "cap" and type(decoded) is not Cap:
        raise ValueError(f"{op}'s value {short(value)} is not a capability")
    if isinstance(decoded, Foreign):
        raise ValueError(f"{op}'s value {short(value)} is foreign")
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
    expect(reply, "state", ("fields",))
    fields = reply["fields"]
    if type(fields) is not dict:
        raise ValueError(f"fields {short(fields)} is not an object")
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
            raise ValueError(f"field {name!r}: {short(value)} is not a list of rows")
        rows: dict[Any, Any] = {}
        for row in value:
            if type(row) is not list or len(row) != arity + 1:
                raise ValueError(f"field {name!r}: row {short(row)} is not [key, value] "
                                 f"with {arity} key part(s)")
            key = row[0] if arity == 1 else tuple(row[:arity])
            rows[key] = decode(row[arity])
        out[name] = rows
    return out


def expect(reply: Any, kind: str, keys: tuple[str, ...]) -> None:
    if type(reply) is not dict:
        raise ValueError(f"reply {short(reply)} is not an object")
    if reply.get("type") == "error":
        raise ValueError(f"the process answered error: {short(reply.get('message'))}")
    if reply.get("type") != kind:
        raise ValueError(f"expected a {kind!r} reply, got {short(reply)}")
    missing = [k for k in keys if k not in reply]
    if missing:
        raise ValueError(f"{kind!r} reply without {', '.join(missing)}: {short(reply)}")


def short(v: Any, n: int = 120) -> str:
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


def trap_request(op: str, args: tuple[Any, ...] | list[Any]) -> dict[str, Any]:
    """WIRE-7: a ``trap`` request: system call ``op`` made by the running environment,
    with the trap's arguments (the operation's without ``env``, GEN-6) encoded as WIRE-6
    says."""
    return request("trap", op=op, args=[encode(a) for a in args])


def config_json(cfg: Config) -> dict[str, int]:
    """WIRE-2: a configuration's fields."""
    return {f.name: int(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}


__all__ = ["MAX_PACKET", "VERSION", "Foreign", "WireError", "config_json", "decode",
           "decode_int", "decode_program", "decode_result", "decode_state", "encode",
           "encode_int", "encode_result", "encode_state", "expect", "request", "short"]
