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
    slow N       answers correctly, but first runs 20 ms and sleeps 180 ms, 15 times:
                 0.3 s of processor time over about 3 s, as a busy kernel on a loaded
                 machine gets it (not hung, WIRE-1)
    spin N       runs without end and never answers (hung: its processor time)
    crawl N      runs 1 ms every 50 ms without end and never answers (hung: the
                 wall-clock bound, though it runs)
    orphan N     at start leaves two ``sleep 1000`` processes running, one in its own
                 process group, and names them on standard error
                 (``wire_faults: children PID PID``); then hangs like ``hang N``
    deaf N       answers the N-th apply, then stops reading its input (and answering)
    deep N       answers a result whose value is nested 100,000 levels deep
    long N       answers a line of 17 MiB (more than ``MAX_LINE_BYTES``)
    latin N      answers a line that is not UTF-8 (a Latin-1 byte in a string)
    flood N      at start writes 10 MiB to standard error without a newline, and 4 KiB
                 more with each ``apply``; otherwise serves correctly

Run as ``python tests/wire_faults.py MODE N``.
"""

from __future__ import annotations

import json
import subprocess
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
            if mode == "flood":
                sys.stderr.write("x" * 4096)
                sys.stderr.flush()
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
                if mode == "deaf":
                    sys.stdout.write(line + "\n")
                    sys.stdout.flush()
                    time.sleep(3600)
                if mode in ("hang", "orphan"):
                    time.sleep(3600)
                if mode == "slow" and applies == limit:
                    for _ in range(15):
                        _run_for(0.02)
                        time.sleep(0.18)
                if mode == "spin":
                    while True:
                        _run_for(1.0)
                if mode == "crawl":
                    while True:
                        _run_for(0.001)
                        time.sleep(0.05)
                if mode == "garbage":
                    line = "this is not json"
                if mode == "deep":
                    line = '{"type":"result","status":"OK","value":' + "[" * 100_000 + (
                        "]" * 100_000 + "}")
                if mode == "long":
                    line = '{"type":"result","status":"OK","value":0,"x":"' + (
                        "z" * (17 << 20)) + '"}'
                if mode == "latin":
                    sys.stdout.flush()
                    sys.stdout.buffer.write(b'{"type":"result","status":"OK","value":0,'
                                            b'"x":"\xe9"}\n')
                    sys.stdout.buffer.flush()
                    return
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

    if mode == "orphan":
        kids = [subprocess.Popen(["sleep", "1000"]),
                subprocess.Popen(["sleep", "1000"], process_group=0)]
        sys.stderr.write(f"wire_faults: children {kids[0].pid} {kids[1].pid}\n")
        sys.stderr.flush()
    if mode == "flood":
        block = "y" * (1 << 20)
        for _ in range(10):
            sys.stderr.write(block)
        sys.stderr.flush()

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


def _run_for(seconds: float) -> None:
    """Use ``seconds`` of this process's processor time."""
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
