"""A kernel process that breaks the wire protocol on purpose (tests/test_protocol.py):
it serves ``exo.impl.Kernel`` correctly until the ``N``-th ``apply`` after a ``reset``
(so a failing program fails the same way in a fresh process), then

    crash N      exits with status 3 (a crash)
    hang N       stops answering (a hang)
    garbage N    answers a line that is not JSON
    shape N      answers a result with a status that is no status
    false N      answers ``false`` where the value 0 is due (``true`` for 1)
    upper N      answers a hex value (a packet, an OVERLAP witness) in upper case
    plain N      serves correctly but lists no features in ``ready`` (WIRE-2), and exits
                 with status 4 if an ``apply`` asks for the state anyway (WIRE-3)
    stale N      leaves out of each reply to an ``apply`` asking for the changed fields
                 only (WIRE-3) the first field that changed

Run as ``python tests/wire_faults.py MODE N``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from typing import Any

from exo.impl import Kernel
from exo.wire.server import serve


def main(mode: str, limit: int) -> int:
    applies = 0
    asked_changed = False  # the request being answered asked for the changed fields

    def write(line: str) -> None:
        nonlocal applies
        kind = json.loads(line).get("type")
        if kind == "ready":  # count the applies of each program (from its reset)
            applies = 0
            if mode == "plain":
                line = json.dumps({"type": "ready"})
        if mode == "plain":
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
            return
        if kind == "result":
            applies += 1
            if applies >= limit:
                if mode == "stale" and asked_changed:
                    reply = json.loads(line)
                    fields = reply.get("fields") or {}
                    if fields:
                        del fields[next(iter(fields))]
                    line = json.dumps(reply)
                if mode == "crash":
                    sys.stderr.write("wire_faults: crashing now\n")
                    sys.stderr.flush()
                    sys.exit(3)
                if mode == "hang":
                    time.sleep(3600)
                if mode == "garbage":
                    line = "this is not json"
                if mode == "shape":
                    line = json.dumps({**json.loads(line), "status": "FINE", "value": 0})
                reply = json.loads(line) if mode in ("false", "upper") else None
                value = reply.get("value") if type(reply) is dict else None
                if mode == "false" and type(value) is int and value in (0, 1):
                    line = json.dumps({**(reply or {}), "value": bool(value)})
                if mode == "upper" and type(value) is dict and "hex" in value:
                    line = json.dumps({**(reply or {}), "value": {"hex": value["hex"].upper()}})
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def factory(cfg: Any) -> Kernel:
        return Kernel(cfg)

    def requests() -> Iterator[str]:
        nonlocal asked_changed
        for line in iter(sys.stdin.readline, ""):
            asked_changed = '"changed":true' in line.replace(" ", "")
            if mode == "plain" and '"observe":true' in line.replace(" ", "") and (
                    '"apply"' in line):
                sys.stderr.write("wire_faults: an apply asked for the state\n")
                sys.exit(4)
            yield line

    return serve(factory, requests(), write)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
