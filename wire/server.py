"""The wire server (WIRE-1..WIRE-5) for any Python implementation (``exo serve --impl
…``): the reference peer the tests and a new kernel's author can compare transcripts
with."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from exo.interface import OPERATIONS, Config
from exo.model import initial
from exo.model.state import SCALARS
from exo.wire.codec import (
    VERSION,
    Foreign,
    decode,
    encode,
    encode_result,
    encode_state,
    short,
)

__all__ = ["serve"]


def serve(factory: Callable[[Config], Any], lines: Iterator[str],
          write: Callable[[str], None]) -> int:
    """WIRE-1..WIRE-5, the server side: answer each request line with one reply line,
    driving implementations made by ``factory``; returns when ``goodbye`` is answered or
    the input ends."""
    impl: Any = None
    cfg: Config | None = None
    sent = _Sent()
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
                sent = _Sent(cfg)
                reply = {"type": "ready", "features": ["observe", "changed"]}
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
                reply["fields"] = sent.fields(encode_state(impl.observe()),
                                              msg.get("changed") is True)
        elif kind == "observe":
            reply = {"type": "state", "fields": sent.fields(encode_state(impl.observe()),
                                                            False)}
        else:
            reply = {"type": "error", "message": f"cannot handle {short(msg)}"}
        write(json.dumps(reply, separators=(",", ":")))
    return 0


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
