"""FLT-8 by parts (``exo.proofs.demux_merge``): a merged demultiplexer decides exactly what
its filters' own modules decide, checked with no solver.

Merged modules of random corpus sets and of port-filter sets agree with their parts.
Broken merged modules — a bound one byte short or long, a wrong constant, a table entry
in another slot, owners swapped, a site dropped or added, a byte read before its bound, an
``elif`` on another field, a division in a field, an unknown call, a per-filter function
changed — are each refused or reported. In the kernel, a change costs one part's proof
(its own filter) plus the merge check, whatever the other filters are.
"""

from __future__ import annotations

import random
import re
from typing import Any

import pytest

import exo.impl.demux
import exo.impl.state
from exo.cli.bench import port_filter, udp_packet
from exo.impl import Kernel
from exo.impl.demux import Demux
from exo.impl.filtercheck import declarative_form
from exo.interface import Config, Status
from exo.model.filters import Program, parse_ddd
from exo.proofs.demux import check_source, reference
from exo.proofs.demux_merge import MergeRefused, decisions, merge_problem
from tests.test_demux import BY_EXPR, PROGRAMS

CORPUS = [p for _, p in PROGRAMS]


def _built(progs: list[Program]) -> tuple[str, dict[int, str], dict[int, int]]:
    """The merged module of ``progs`` (slot i, owner i % 3), each slot's part, the owners."""
    dm = Demux(declarative=declarative_form)
    for slot, prog in enumerate(progs):
        dm.add(slot, slot % 3, prog)
    parts = {slot: dm.part_source(slot) for slot in range(len(progs))}
    return dm.source(), parts, {slot: slot % 3 for slot in range(len(progs))}


def _wrong(source: str, parts: dict[int, str], owners: dict[int, int]) -> str:
    """The merge check must not accept ``source``: a difference, or a refusal."""
    try:
        problem = merge_problem(source, parts, owners)
    except MergeRefused as exc:
        return f"refused: {exc}"
    assert problem is not None, "a broken merged module was accepted"
    return problem


@pytest.mark.parametrize("seed", range(8))
def test_random_corpus_sets_merge_as_their_parts(seed: int) -> None:
    rng = random.Random(seed)
    source, parts, owners = _built(rng.sample(CORPUS, rng.randint(1, 20)))
    assert merge_problem(source, parts, owners) is None


def test_port_sets_with_repeats_merge_as_their_parts() -> None:
    """A repeated filter's leaf keeps the lower slot only: the higher one's site is
    redundant (same conditions, larger slot), and the check knows it."""
    progs = [port_filter(1000 + i % 50) for i in range(120)]
    source, parts, owners = _built(progs)
    assert merge_problem(source, parts, owners) is None
    assert len(decisions(source).sites) == 50


def test_the_parts_are_what_the_check_proves() -> None:
    """Each part is a module of one filter in its slot, returning the slot when the
    filter accepts (its owner is the slot), proved by ``check_source``."""
    progs = random.Random(3).sample(CORPUS, 4)
    _, parts, _owners = _built(progs)
    for slot, part in parts.items():
        assert check_source(part, [(slot, slot, progs[slot])]) is None
        assert {s for s, _ in decisions(part).sites} <= {slot}


def _ipv4_tcp80_and_ports() -> tuple[str, dict[int, str], dict[int, int]]:
    tcp80 = parse_ddd(BY_EXPR["tcp port 80"]["ddd"])
    return _built([tcp80, *(port_filter(2000 + i) for i in range(6)),
                   parse_ddd(BY_EXPR["ip[2:2] / ip[8] > 10"]["ddd"])])


MUTATIONS: list[tuple[str, str, str]] = [
    ("a bound one byte short", "if n >= 14:", "if n >= 13:"),
    ("a bound one byte long", "if n >= 14:", "if n >= 15:"),
    ("a wrong constant", "== 2048", "== 2049"),
    ("owners swapped", "_OWNER = {0: 0, 1: 1", "_OWNER = {0: 1, 1: 0"),
    ("a table entry in another slot", "2000: 1", "2000: 2"),
    ("a table entry added", "2000: 1", "2000: 1, 9999: 3"),
    ("a table entry dropped", "2000: 1, ", ""),
    ("a site's slot changed", "b = 0", "b = 5"),
    ("a byte read before its bound", "v0 = (p[12] << 8 | p[13])", "v0 = (p[12] << 8 | p[14])"),
    ("a negative index", "v0 = (p[12] << 8", "v0 = (p[12 - n] << 8"),
    ("a division in a field", "v0 = (p[12] << 8 | p[13])", "v0 = (p[12] << 8 | p[13]) // 1"),
    ("an unknown call", "v0 = (p[12] << 8 | p[13])", "v0 = int(p[12] << 8 | p[13])"),
    ("a per-filter function changed", "if X == 0: return 0", "pass"),
    ("a fallback filter called in another slot", "_f7(p):\n        b = 7",
     "_f7(p):\n        b = 6"),
]


@pytest.mark.parametrize(("name", "old", "new"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_a_broken_merged_module_is_not_accepted(name: str, old: str, new: str) -> None:
    source, parts, owners = _ipv4_tcp80_and_ports()
    assert merge_problem(source, parts, owners) is None
    assert old in source, f"{old!r} is not in the merged module"
    _wrong(source.replace(old, new, 1), parts, owners)


def test_a_read_moved_before_its_bound_is_refused() -> None:
    """The same conditions, in another order: the field is read before the length is
    tested (an IndexError on a short packet). Only the read check sees it."""
    source, parts, owners = _ipv4_tcp80_and_ports()
    old = "    if n >= 14:\n        v0 = (p[12] << 8 | p[13])\n"
    assert old in source
    moved = source.replace(old, "    v0 = (p[12] << 8 | p[13])\n    if n >= 14:\n", 1)
    assert "refused" in _wrong(moved, parts, owners)


def test_an_elif_on_another_field_is_refused() -> None:
    source, parts, owners = _ipv4_tcp80_and_ports()
    chain = re.search(r"\n(\s+)elif (v\d+) == (\d+):", source)
    assert chain is not None
    other = chain.group(0).replace(f"elif {chain.group(2)} ", "elif n ")
    _wrong(source.replace(chain.group(0), other, 1), parts, owners)


def test_a_missing_part_or_an_extra_one_is_reported() -> None:
    source, parts, owners = _ipv4_tcp80_and_ports()
    fewer = dict(parts)
    del fewer[3]
    assert merge_problem(source, fewer, owners) is not None
    more = {**parts, 9: _built([port_filter(7)] * 10)[1][9]}
    assert merge_problem(source, more, owners) is not None


# --------------------------------------------------------------------------- in the kernel


def test_a_change_proves_only_its_own_filter(monkeypatch: pytest.MonkeyPatch) -> None:
    """With 40 filters of environment 0 installed, environment 1's install and removal
    each run the solver on one part — its own filter's — and never on the merged
    module; the merged module is used (proved by parts)."""
    seen: list[list[Any]] = []
    real = check_source

    def spy(source: str, filters: list[Any]) -> Any:
        seen.append(filters)
        return real(source, filters)

    monkeypatch.setattr(exo.impl.state, "check_source", spy)
    k = Kernel(Config(n_filters=48))
    assert k.apply("env_create", 0, 0).status == Status.OK
    assert k.apply("env_create", 1, 1).status == Status.OK
    for i in range(40):
        assert k.apply("filter_install", 0, port_filter(3000 + i)).status == Status.OK
    assert len(seen) == 40 and all(len(f) == 1 for f in seen)
    seen.clear()
    victim = parse_ddd(BY_EXPR["tcp port 80"]["ddd"])
    assert k.apply("filter_install", 1, victim).status == Status.OK
    assert seen == [[(40, 40, victim)]]
    assert k.state.demux.fallback_reason is None
    seen.clear()
    assert k.apply("filter_remove", 1, 40).status == Status.OK
    assert seen == []  # every remaining part was proved already
    assert k.state.demux.fallback_reason is None


def test_a_part_that_is_wrong_keeps_the_module_out_of_use() -> None:
    """A part the solver refutes is not used, nor is the merged module made with it:
    the kernel's table decides (the demux's copy of the program is not trusted)."""
    real = parse_ddd(BY_EXPR["tcp port 80"]["ddd"])
    other = parse_ddd(BY_EXPR["udp port 53"]["ddd"])
    dm = Demux(check=lambda source, filters: check_source(source, filters),
               table=lambda: [(0, 1, real)], declarative=declarative_form,
               merge=merge_problem)
    dm.add(0, 1, other)  # the demux's copy differs from the table's program
    assert dm.fallback_reason is not None


def _hostile() -> Program:
    """A verified filter far over ``MAX_SOURCE_NODES`` (its part is not proved, so it is
    interpreted), outside FLT-9's class (``ld len``), accepting exactly the packets of at
    least 64 bytes whose first byte is 0xEE."""
    prog = tuple(insn for i in range(2000) for insn in ((0x30, 0, 0, i % 64), (0x15, 0, 0, i)))
    prog += ((0x80, 0, 0, 0), (0x15, 0, 0, 0), (0x30, 0, 0, 0), (0x15, 0, 1, 0xEE),
             (0x06, 0, 0, 1), (0x06, 0, 0, 0))
    return prog


def _with_hostile(disjoint: bool, monkeypatch: pytest.MonkeyPatch
                  ) -> tuple[Demux, list[Any], list[int]]:
    hostile, victim = _hostile(), port_filter(4242)
    table = [(0, 7, hostile), (1, 8, victim)]
    calls: list[int] = []
    real = exo.impl.demux.interpret

    def counted(prog: Program, packet: bytes) -> int:
        calls.append(len(prog))
        return real(prog, packet)

    dm = Demux(check=lambda source, filters: check_source(source, filters),
               table=lambda: table, declarative=declarative_form, merge=merge_problem,
               disjoint=disjoint)
    dm.add(0, 7, hostile)
    dm.add(1, 8, victim)
    monkeypatch.setattr(exo.impl.demux, "interpret", counted)
    return dm, table, calls


@pytest.mark.parametrize("disjoint", [True, False])
def test_an_unproved_filter_is_interpreted_alone(disjoint: bool,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The hostile filter's part is over budget: that slot alone is interpreted, the
    victim's filter stays compiled. With ``disjoint`` (INV-13, as the kernel runs it) the
    victim's packets never run the interpreter; without it, first-match order runs the
    lower slot first. Either way the answers are the reference's."""
    dm, table, calls = _with_hostile(disjoint, monkeypatch)
    assert dm.fallback_reason is not None and "slot(s) [0] interpreted" in dm.fallback_reason
    assert "budget" in dm.fallback_reason
    assert dm.merged_slots() == [1]
    victim_packet = udp_packet(4242)
    hostile_packet = b"\xee" + bytes(70)
    for packet, owner in ((victim_packet, 8), (hostile_packet, 7), (bytes(80), -1)):
        calls.clear()
        assert dm.classify(packet) == owner == reference(table, packet)
        assert calls == ([] if disjoint and owner == 8 else [len(table[0][2])])
