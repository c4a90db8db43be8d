"""``exo filter``: verify, evaluate, and compare packet filters (FLT-*)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from exo.cli.common import (
    EXIT_FAIL,
    EXIT_UNDECIDED,
    fail_usage,
)
from exo.cli.console import visible
from exo.limits import read_file


@click.group("filter")
def filter_group() -> None:
    """Classic BPF packet filters: verify, run, and compare them with Z3.

    \b
    PROG is a file holding `tcpdump -ddd` text, `tcpdump -dd` C text, or raw 8-byte
    little-endian instructions, or '-' for standard input. A bad file gets one line saying
    what and where, and exit code 2.
    Examples (tcpdump -ddd prints the optimized program, tcpdump -O -ddd the unoptimized):
      tcpdump -ddd 'udp dst port 53' > dns.bpf && exo filter verify dns.bpf
      P=ffffffffffff00000000000008004500002600010000401100007f0000017f000001
      exo filter eval dns.bpf --packet ${P}04d200350012000078787878787878787878
        prints 262144: accepted, up to 262144 bytes kept (0 would mean dropped)
      tcpdump -ddd 'tcp port 80' > web.bpf && exo filter overlap dns.bpf web.bpf
      tcpdump -O -ddd 'udp port 53' > unopt.bpf && tcpdump -ddd 'udp port 53' > opt.bpf
      exo filter equiv unopt.bpf opt.bpf
    """


MAX_PROGRAM_FILE = 1 << 20
"""Largest program file read (bytes): a 4,096-instruction program, the longest the verifier
accepts, takes under 200 KB in any of the three formats."""


class _Unreadable(Exception):
    """A program file ``read_file`` refused (its one-line message)."""


def _program(path: str) -> Any:
    """The program in the file ``path`` (``-``: standard input). A path that is not a
    regular file (a folder, a device, a pipe) is refused without waiting on it: a program
    that comes from a pipe is given on standard input."""
    from exo.model import filters

    if path == "-":
        try:
            data = sys.stdin.buffer.read(MAX_PROGRAM_FILE + 1)
        except OSError as exc:
            fail_usage(f"-: cannot read standard input: {exc.strerror or exc}")
        if len(data) > MAX_PROGRAM_FILE:
            fail_usage(f"-: larger than {MAX_PROGRAM_FILE:,} bytes; not a BPF program")
    else:
        try:
            data = read_file(Path(path), MAX_PROGRAM_FILE, _Unreadable, "program")
        except _Unreadable as exc:
            hint = "; give a piped program as '-' (standard input)" \
                if "not a regular file" in str(exc) else ""
            fail_usage(f"{exc}{hint}")
    try:
        return filters.parse_any(data, "<stdin>" if path == "-" else path)
    except filters.FilterSyntaxError as exc:
        fail_usage(str(exc))


def _verified(path: str) -> Any:
    from exo.model import filters

    prog = _program(path)
    problems = filters.verify(prog)
    if problems:
        fail_usage(f"{path}: refused by the verifier: {problems[0]}")
    return prog


@filter_group.command("verify")
@click.argument("prog")
def filter_verify(prog: str) -> None:
    """Run the verifier (FLT-2, FLT-3): 'accepted', or every rejection with its instruction
    and rule; exit 1 if refused."""
    from exo.model import filters

    program = _program(prog)
    problems = filters.verify(program)
    if not problems:
        click.echo(f"{visible(prog)}: accepted ({len(program)} instructions)")
        return
    for p in problems:
        click.echo(f"{visible(prog)}: {visible(str(p))}")
    sys.exit(EXIT_FAIL)


@filter_group.command("eval")
@click.argument("prog")
@click.option("--packet", "packet_hex", required=True, metavar="HEX",
              help="The packet's bytes in hex, two digits a byte; blanks or ':' may "
                   "separate whole bytes.")
def filter_eval(prog: str, packet_hex: str) -> None:
    """Run PROG on a packet (FLT-4, libpcap semantics) and print the return value (0: the
    packet is dropped)."""
    from exo.model import filters

    program = _verified(prog)
    try:
        packet = filters.parse_packet_hex(packet_hex)
    except filters.FilterSyntaxError as exc:
        fail_usage(str(exc))
    click.echo(str(filters.evaluate(program, packet)))


@filter_group.command("overlap")
@click.argument("a")
@click.argument("b")
def filter_overlap(a: str, b: str) -> None:
    """Is there a packet both A and B accept (FLT-6)? Prints a witness packet in hex,
    replayed on the interpreter, and exits 1; or prints 'disjoint'. If Z3 decides neither
    within its budget (FILTER_RLIMIT, spec/filters.md), prints 'undecided within budget
    (rlimit N)' and exits 3: not 'disjoint'."""
    from exo.model import filters

    found = filters.overlap(_verified(a), [_verified(b)])
    if found is None:
        click.echo("disjoint")
        return
    if isinstance(found, filters.Undecided):
        click.echo(str(found))
        sys.exit(EXIT_UNDECIDED)
    click.echo(f"overlap: both accept {found[1].hex()}")
    sys.exit(EXIT_FAIL)


@filter_group.command("equiv")
@click.argument("a")
@click.argument("b")
def filter_equiv(a: str, b: str) -> None:
    """Do A and B return the same value on every packet (FLT-7)? Prints 'equivalent', or a
    packet on which they differ with both values, and exits 1. If Z3 decides neither
    within its budget (FILTER_RLIMIT, spec/filters.md), prints 'undecided within budget
    (rlimit N)' and exits 3: not 'equivalent'."""
    from exo.model import filters

    pa, pb = _verified(a), _verified(b)
    pkt = filters.difference(pa, pb)
    if pkt is None:
        click.echo("equivalent: proved equal on every packet")
        return
    if isinstance(pkt, filters.Undecided):
        click.echo(str(pkt))
        sys.exit(EXIT_UNDECIDED)
    click.echo(f"differ on {pkt.hex()}: {visible(a)} returns {filters.evaluate(pa, pkt)}, "
               f"{visible(b)} returns {filters.evaluate(pb, pkt)}")
    sys.exit(EXIT_FAIL)
