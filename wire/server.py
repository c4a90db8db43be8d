"""The wire server (WIRE-1..WIRE-5) for any Python implementation (``exo serve --impl
…``): the reference peer the tests and a new kernel's author can compare transcripts
with."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from exo.interface import OPERATIONS, Config
from exo.wire.codec import VERSION, Foreign, decode, encode_result, encode_state, short

__all__ = ["serve"]


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
                reply = {"type": "ready", "features": ["observe"]}
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
            if msg.get("observe") is True:  # WIRE-3: the state after the call, with it
                reply["fields"] = encode_state(impl.observe())
        elif kind == "observe":
            reply = {"type": "state", "fields": encode_state(impl.observe())}
        else:
            reply = {"type": "error", "message": f"cannot handle {short(msg)}"}
        write(json.dumps(reply, separators=(",", ":")))
    return 0
