"""``exo serve``: a Python implementation behind the wire protocol."""

from __future__ import annotations

import os
import sys

import click

from exo.cli.common import (
    fail_usage,
    load_implementation,
)


@click.command("serve")
@click.option("--impl", "impl_spec", default="exo.impl:Kernel", show_default=True,
              metavar="MODULE:FACTORY",
              help="The Python implementation to serve (exo.kit:ModelImplementation "
                   "serves the model itself).")
def serve_cmd(impl_spec: str) -> None:
    """Serve a Python implementation over the wire protocol (spec/protocol.md).

    Reads requests on standard input and writes one reply line per request on standard
    output, until goodbye or the end of input: the reference peer for a kernel written
    in another language (compare transcripts), and a way to check the protocol client
    itself. Any input gets replies (WIRE-1's limits: a line that is too long, not UTF-8,
    not JSON, too deeply nested or out of shape gets an error reply); the exit status is
    0 at goodbye or end of input, 2 if standard input or output fails.

    \b
    Examples:
      exo serve
      printf '%s\\n' '{"exo":1,"type":"reset","config":{...}}' | exo serve
      exo check --impl-cmd 'exo serve --impl exo.kit:ModelImplementation'
    """
    from exo.wire.server import read_lines, serve

    factory = load_implementation(impl_spec)
    out = sys.stdout.fileno()

    def read(n: int) -> bytes:
        try:
            return os.read(0, n)
        except OSError as exc:
            fail_usage(f"cannot read standard input: {exc.strerror or exc}")

    def write(line: str) -> None:
        """WIRE-1: one reply line, written whole (unbuffered, so the peer has it)."""
        data = memoryview((line + "\n").encode())
        try:
            while data:
                data = data[os.write(out, data):]
        except OSError as exc:
            fail_usage(f"cannot write a reply: {exc.strerror or exc}")

    sys.exit(serve(factory, read_lines(read), write))
