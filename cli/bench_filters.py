"""What one environment's filters cost another environment's calls on exo.impl (NET-1,
NET-3, FLT-8 by parts, FLT-9 *What one pair can cost*): the attack programs, the
measurements, and ``exo bench``'s rows of them. ``benchmarks/filter_cost.py`` prints
the same measurements with their details.

Environment 0 installs its filters first (not timed: it pays for its own). Then the
victim, environment 1, installs a new port filter, ``repeat`` times (each install
proves its own filter's part, FLT-8, and asks its own pairs, NET-1: the victim's own
cost), and removes the port filters it installed before environment 0's. Where
environment 0's filters leave the victim no install (every pair with them is
``UNDECIDED``), the victim cannot hold a filter beside them either (it would have made
environment 0's installs ``UNDECIDED``), so no removal is timed there.

Rows of ``exo bench`` (seconds of one call, medians; target 0.5 s each, and 10x for the
packet): the victim's install and removal with 1,000 port filters of environment 0 (100
in a quick run), its install with two budget-filling filters (16 chained divisions:
``solver_weight`` 64, Z3 runs out of ``PAIR_RLIMIT``) and with two filters of 570 chained
divisions (the attack of issue 24; a full run only: their owner's installs prove their
parts for about 30 s), and the victim's packet with three 4,094-instruction filters of
environment 0 against none.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from exo.cli.bench import port_filter, row, udp_packet
from exo.impl import Kernel
from exo.interface import Config, Status
from exo.model.dfilter import PAIR_WEIGHT
from exo.model.filters import SOLVER_WEIGHTS, Program, solver_weight, verify

STAGES = ("filter cost to another environment",)
"""The part of an ``exo bench`` run these rows are (progress)."""

CALL_TARGET = 0.5
"""Seconds one victim call may take in a full run (issue 24's figure)."""
PACKET_TARGET = 10.0
"""How many times its cost without them a victim's packet may take."""

VICTIM = port_filter(40_000)


def divisions(k: int, first: int) -> Program:
    """``ldb [first]; tax; ldb [first+1]; div x`` k times; ``ret a``: each division guarded
    against X == 0 in its generated code."""
    return ((0x30, 0, 0, first), (0x07, 0, 0, 0), (0x30, 0, 0, first + 1),
            *((0x3C, 0, 0, 0),) * k, (0x16, 0, 0, 0))


def budget_filling(first: int) -> Program:
    """16 chained divisions: weight 64 (``PAIR_WEIGHT``), so its pair with a port filter
    (weight 0) is asked, and Z3 runs out of ``PAIR_RLIMIT`` on it."""
    prog = divisions(PAIR_WEIGHT // SOLVER_WEIGHTS[0x3C], first)
    assert verify(prog) == [] and solver_weight(prog) == PAIR_WEIGHT
    return prog


def guarded(first: int) -> Program:
    """``budget_filling`` behind ``ldh [12]; jeq #0x88B5``: weight 64, disjoint from every
    IPv4 filter, which Z3 shows within its budget."""
    body = budget_filling(first)
    prog = ((0x28, 0, 0, 12), (0x15, 0, len(body), 0x88B5), *body, (0x06, 0, 0, 0))
    assert verify(prog) == [] and solver_weight(prog) == PAIR_WEIGHT
    return prog


def attack(first: int) -> Program:
    """570 chained divisions, the attack's size: then the whole module of two of them was
    just under ``MAX_SOURCE_NODES`` and every change re-proved it (about 19 CPU s each),
    and each pair with it ran Z3 to ``FILTER_RLIMIT`` (about 5 s)."""
    prog = divisions(570, first)
    assert verify(prog) == []
    return prog


def long_filter(tag: int) -> Program:
    """4,094 instructions, outside FLT-9's class (``ld len``), accepting packets of at
    least 64 bytes of EtherType 0x88B5 (local experimental) whose first byte is ``tag``
    (so no IPv4 filter overlaps it, NET-1): its part is over the budget."""
    prog = tuple(insn for i in range(2043) for insn in ((0x30, 0, 0, i % 64), (0x15, 0, 0, i)))
    prog += ((0x80, 0, 0, 0), (0x15, 0, 0, 0), (0x28, 0, 0, 12), (0x15, 0, 3, 0x88B5),
             (0x30, 0, 0, 0), (0x15, 0, 1, tag), (0x06, 0, 0, 1), (0x06, 0, 0, 0))
    assert len(prog) == 4094 and verify(prog) == []
    return prog


def kernel(others: list[Program], own: int = 0) -> Kernel:
    """Environments 0 and 1; environment 1 (the victim) installs ``own`` port filters
    first, then environment 0 installs ``others`` (paying for its own pairs)."""
    k = Kernel(Config(n_envs=2, n_filters=len(others) + own + 2))
    assert k.apply("env_create", 0, 0).status == Status.OK
    assert k.apply("env_create", 1, 1).status == Status.OK
    for i in range(own):
        assert k.apply("filter_install", 1, port_filter(41_000 + i)).status == Status.OK
    for prog in others:
        res = k.apply("filter_install", 0, prog)
        assert res.status == Status.OK, res
    return k


def median_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def install_remove(k: Kernel, repeat: int, own: int) -> tuple[float, float | None, str]:
    """Medians of the victim's install of a new port filter each time (so each install
    proves its own part and asks its own pairs: the victim's own cost), and of its
    removal of the ``own`` port filters it installed before the others (slots 0 ..
    own-1; None when it has none); the last install's status. An install NET-1 refuses
    (``UNDECIDED``) is timed like any other."""
    ins: list[float] = []
    rem: list[float] = []
    status = ""
    for r in range(repeat):
        t0 = time.perf_counter()
        res = k.apply("filter_install", 1, port_filter(40_001 + r))
        ins.append(time.perf_counter() - t0)
        status = Status(res.status).name
        if res.status == Status.OK:
            assert k.apply("filter_remove", 1, int(res.value)).status == Status.OK
    for slot in range(own):
        t0 = time.perf_counter()
        assert k.apply("filter_remove", 1, slot).status == Status.OK
        rem.append(time.perf_counter() - t0)
    return statistics.median(ins), (statistics.median(rem) if rem else None), status


def packet_cost(k: Kernel, repeat: int) -> float:
    res = k.apply("filter_install", 1, VICTIM)
    assert res.status == Status.OK, res
    packet = udp_packet(40_000)

    def burst() -> None:
        for _ in range(200):
            k.apply("packet_arrive", packet)
            k.apply("packet_take", 1)

    return median_time(burst, repeat) / 200



def measure(others: list[Program], own: int, repeat: int) -> dict[str, Any]:
    """Environment 0 installs ``others`` after the victim's ``own`` port filters; the
    victim's install and removal medians (``install_remove``), its last install's status,
    and the seconds environment 0's installs took."""
    t0 = time.perf_counter()
    k = kernel(others, own)
    setup = time.perf_counter() - t0
    ins, rem, status = install_remove(k, repeat, own)
    return {"install_status": status, "install_s": ins, "remove_s": rem,
            "others_setup_s": setup}


def rows(repeat: int, quick: bool) -> list[dict[str, Any]]:
    """``exo bench``'s rows (module docstring); ``quick``: 100 port filters, no attack
    row."""
    n = 100 if quick else 1000
    ports = measure([port_filter(1000 + i) for i in range(n)], repeat, repeat)
    filling = measure([budget_filling(0), budget_filling(2)], 0, repeat)
    out = [
        row(f"victim filter_install, {n} port filters of another env (s)",
            ports["install_s"], f"<= {CALL_TARGET}", ports["install_s"] <= CALL_TARGET,
            status=ports["install_status"]),
        row(f"victim filter_remove, {n} port filters of another env (s)",
            ports["remove_s"], f"<= {CALL_TARGET}", ports["remove_s"] <= CALL_TARGET),
        row("victim filter_install, 2 budget-filling filters of another env (s)",
            filling["install_s"], f"<= {CALL_TARGET}", filling["install_s"] <= CALL_TARGET,
            status=filling["install_status"]),
    ]
    if not quick:
        attacked = measure([attack(0), attack(2)], 0, repeat)
        out.append(row("victim filter_install, 2 570-division filters of another env (s)",
                       attacked["install_s"], f"<= {CALL_TARGET}",
                       attacked["install_s"] <= CALL_TARGET,
                       status=attacked["install_status"]))
    base = packet_cost(kernel([]), repeat)
    hostile = packet_cost(kernel([long_filter(0xE0 + i) for i in range(3)]), repeat)
    out.append(row("victim packet: 3 4,094-insn filters of another env / none (x)",
                   hostile / base, f"<= {PACKET_TARGET:g}", hostile / base <= PACKET_TARGET,
                   packet_us=hostile * 1e6, alone_us=base * 1e6))
    return out
