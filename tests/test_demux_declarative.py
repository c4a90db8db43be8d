"""NET-3, FLT-8, FLT-9: exo.impl's demultiplexer merges a recognized program as its
declarative filter (DPF's form: conjunctions of atoms), and FLT-8's check covers the trie
built from it.

Every corpus program FLT-9 recognizes, and the 1,000 port filters of the benchmark, go
into the trie from their DFilter (``Demux.declarative_slots``); the modules are proved
equal to the reference interpreter and classify as it does. Translations of the DFilter
broken on purpose (a length atom dropped, a mask ignored, a value changed) are refuted
by the check with a packet that replays, and the kernel then does not use the module.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

import exo.impl.demux as demux_module
from exo.cli.bench import packets_for, port_filter
from exo.impl.demux import Demux, declarative_paths, decompose
from exo.impl.filtercheck import declarative_form
from exo.model.dfilter import accepts, recognized
from exo.model.filters import Program, evaluate
from exo.proofs.demux import check_source, reference, run_source
from tests.test_demux import PROGRAMS

LENGTHY: Program = ((0x30, 0, 0, 40), (0x28, 0, 0, 12), (0x15, 0, 1, 0x0800),
                    (0x06, 0, 0, 0xFFFF), (0x06, 0, 0, 0))
"""``ldb [40]`` (its value unused: the packet must have 41 bytes), then EtherType IPv4:
a DFilter with a length atom (``mask == 0``)."""
RECOGNIZED = [(name, prog) for name, prog in [*PROGRAMS, ("lengthy", LENGTHY)]
              if declarative_form(prog) is not None]
OUTSIDE = [(name, prog) for name, prog in PROGRAMS if declarative_form(prog) is None]


def _demux(progs: list[Program], **kw: Any) -> Demux:
    dm = Demux(declarative=declarative_form, **kw)
    for slot, prog in enumerate(progs):
        dm.add(slot, 10 + slot, prog)
    return dm


def _narrow(prog: Program) -> bool:
    """The program's DFilter is no wider than the demux's own reading of it."""
    form = declarative_form(prog)
    paths = declarative_paths(form) if form is not None else None
    read = decompose(prog)
    return paths is not None and (read is None or len(paths) <= len(read))


DECLARATIVE = [(name, prog) for name, prog in RECOGNIZED if _narrow(prog)]


def test_the_corpus_has_every_kind() -> None:
    """Recognized and narrow, recognized but wider than the reading (the IHL-indirect
    port filters), and outside FLT-9's class."""
    assert len(DECLARATIVE) >= 40 and len(RECOGNIZED) - len(DECLARATIVE) >= 30
    assert len(OUTSIDE) >= 20
    assert [n for n, _ in DECLARATIVE if n == "lengthy"]


@pytest.mark.parametrize(("name", "prog"), RECOGNIZED, ids=[n for n, _ in RECOGNIZED])
def test_a_recognized_program_is_merged_and_proved(name: str, prog: Program) -> None:
    """As its DFilter when that is no wider than the reading, else as read; proved."""
    dm = _demux([prog])
    assert dm.merged_slots() == [0]
    assert dm.declarative_slots() == ([0] if _narrow(prog) else [])
    assert check_source(dm.source(), dm.installed()) is None


def test_the_paths_are_the_dfilter() -> None:
    """One path per conjunction (after exact simplification), each atom on its field."""
    prog = port_filter(1234)
    form = declarative_form(prog)
    assert form == ((((12, 2, 0xFFFF, 0x0800), (23, 1, 0xFF, 17), (36, 2, 0xFFFF, 1234)),))
    paths = declarative_paths(form)
    assert paths == [frozenset({((0, 12, 2, 0, 0xFFFF), "eq", 0x0800),
                                ((0, 23, 1, 0, 0xFF), "eq", 17),
                                ((0, 36, 2, 0, 0xFFFF), "eq", 1234)})]


def test_programs_outside_the_class_keep_the_demux_reading() -> None:
    """Mixed with recognized ones, in slot order, still proved and still first-match."""
    rng = random.Random(4)
    progs = [p for _, p in rng.sample(DECLARATIVE, 6)] + [
        p for _, p in rng.sample(OUTSIDE, 4)]
    rng.shuffle(progs)
    dm = _demux(progs)
    declarative = [s for s, p in enumerate(progs) if _narrow(p)]
    assert dm.declarative_slots() == declarative and len(declarative) == 6
    assert check_source(dm.source(), dm.installed()) is None


def test_the_benchmark_port_filters_go_in_from_their_dfilters() -> None:
    """The 1,000 port filters of ``exo bench`` are all merged from DFilters, and the module
    classifies the benchmark's packets as the filters do (FLT-8's proof of 1,000 filters
    is measured by ``exo bench``; here 100 are proved)."""
    progs = [port_filter(1000 + i) for i in range(1000)]
    dm = _demux(progs)
    assert dm.declarative_slots() == list(range(1000))
    for packet in packets_for(1000, 300, seed=5):
        want = next((10 + s for s, p in enumerate(progs) if evaluate(p, packet)), -1)
        assert dm.classify(packet) == want
    small = _demux(progs[:100])
    assert check_source(small.source(), small.installed()) is None


# --------------------------------------------------------------------------- refuted


def _broken(translate: Callable[[tuple[int, int, int, int]], tuple[int, int, int, int] | None]
            ) -> Callable[[Any], Any]:
    """``declarative_paths`` with each atom passed through ``translate`` first (None:
    dropped)."""
    def paths(form: Any) -> Any:
        changed = tuple(tuple(b for b in (translate(a) for a in conj) if b is not None)
                        for conj in form)
        return declarative_paths(changed)
    return paths


BROKEN = {
    "a length atom dropped": _broken(lambda a: None if a[2] == 0 else a),
    "a mask ignored": _broken(
        lambda a: (a[0], a[1], {1: 0xFF, 2: 0xFFFF, 4: 0xFFFFFFFF}[a[1]], a[3])
        if a[2] not in (0, 0xFF, 0xFFFF, 0xFFFFFFFF) else a),
    "a value off by one": _broken(lambda a: (a[0], a[1], a[2], (a[3] + 1) & a[2])
                                  if a[2] and a[3] == 0x0800 else a),
}
"""Each breaks the translation of some DFilter merged as such (``lengthy`` has a length
atom, ``ether multicast`` a masked atom, every IPv4 filter the EtherType 0x0800)."""


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_translation_is_refuted(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demux_module, "declarative_paths", BROKEN[name])
    refuted = 0
    for prog_name, prog in DECLARATIVE:
        dm = _demux([prog])
        if not dm.declarative_slots():
            continue  # the break made the DFilter wider than the reading
        form = declarative_form(prog)
        assert form is not None
        if demux_module.declarative_paths(form) == declarative_paths(form):
            continue  # this program's translation is not touched by the break
        found = check_source(dm.source(), dm.installed())
        assert found is not None, f"{name}: {prog_name} proved"
        assert run_source(dm.source(), found.packet) == found.got
        assert reference(dm.installed(), found.packet) == found.expected != found.got
        refuted += 1
    assert refuted >= 1, name


def test_the_kernel_does_not_use_a_refuted_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the kernel's checker the broken module is not used: the filters are
    interpreted, and the packet the length break gets wrong is classified right."""
    monkeypatch.setattr(demux_module, "declarative_paths", BROKEN["a length atom dropped"])
    installed = [(0, 3, LENGTHY)]
    dm = Demux(check=lambda source, _: check_source(source, installed),
               table=lambda: installed, declarative=declarative_form)
    dm.add(0, 3, LENGTHY)
    assert dm.declarative_slots() == [0] and dm.fallback_reason is not None
    unchecked = Demux(declarative=declarative_form)
    unchecked.add(0, 3, LENGTHY)
    short = bytes(12) + b"\x08\x00" + bytes(10)  # IPv4, 24 bytes: too short to accept
    assert unchecked.classify(short) == 3  # the broken module is wrong on it
    assert dm.classify(short) == -1 == (3 if evaluate(LENGTHY, short) else -1)


def test_the_dfilter_and_the_program_agree_on_the_packets() -> None:
    """The form merged is FLT-9's, whose agreement with the program FLT-7 proves; here,
    on sampled packets, for every recognized corpus program."""
    rng = random.Random(9)
    for _, prog in RECOGNIZED:
        df = recognized(prog)
        assert df is not None
        for _ in range(40):
            packet = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 80)))
            assert accepts(df, packet) == (evaluate(prog, packet) != 0)
