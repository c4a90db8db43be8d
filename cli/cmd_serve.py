"""``exo serve``: a Python implementation behind the wire protocol."""

from __future__ import annotations

import sys

import click

from exo.cli.common import (
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
    itself.

    \b
    Examples:
      exo serve
      printf '%s\\n' '{"exo":1,"type":"reset","config":{...}}' | exo serve
      exo check --impl-cmd 'exo serve --impl exo.kit:ModelImplementation'
    """
    from exo.wire.server import serve

    factory = load_implementation(impl_spec)

    def write(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    sys.exit(serve(factory, iter(sys.stdin.readline, ""), write))
