"""FLT-8: the Z3 check of every generated demultiplexer (``exo.proofs.demux``).

The bundled generator's output is proved equal to the reference for every corpus program
alone, for random programs of every instruction kind (per-filter code, value for value),
and for mixed sets of merged and fallback filters. Broken modules — a bounds check one
byte short, a wrong constant, first-match order lost, a guard against division by zero
dropped, a negative index, loads moved across another disjunct's abort (libpcap #430) —
are each refuted with a packet that replays. Source outside the interpreted subset is
refused, and a counterexample that does not replay is an error, never a verdict. The
kernel runs the check before the demux classifies a packet.
"""

from __future__ import annotations

import random
import re
from typing import Any

import pytest

import exo.impl.state
from exo.impl import Kernel
from exo.impl.demux import Demux, DemuxCheckFailed, program_source
from exo.interface import Config, Status
from exo.model.filters import Program, evaluate, parse_ddd, verify
from exo.proofs import demux as check
from exo.proofs.demux import (
    Mismatch,
    UnsupportedSource,
    ValidationError,
    check_function,
    check_source,
    reference,
    run_source,
)
from tests.test_demux import BY_EXPR, PROGRAMS, _random_program, port_set


def _demux(filters: dict[int, tuple[int, Program]]) -> tuple[str, list[Any]]:
    dm = Demux()
    for slot, (owner, prog) in filters.items():
        dm.add(slot, owner, prog)
    return dm.source(), dm.installed()


def _refuted(source: str, filters: list[Any]) -> Mismatch:
    """The check must refute ``source``, and its packet must show the difference."""
    found = check_source(source, filters)
    assert found is not None, "a broken module was proved correct"
    assert run_source(source, found.packet) == found.got
    assert reference(filters, found.packet) == found.expected != found.got
    return found


def _mutate(source: str, old: str, new: str, count: int = 1) -> str:
    assert old in source, f"{old!r} is not in the generated source"
    return source.replace(old, new, count)


# --------------------------------------------------------------------------- proved


@pytest.mark.parametrize(("name", "prog"), PROGRAMS, ids=[n for n, _ in PROGRAMS])
def test_each_corpus_program_alone_is_proved(name: str, prog: Program) -> None:
    source, filters = _demux({0: (7, prog)})
    assert check_source(source, filters) is None


@pytest.mark.parametrize("seed", range(3))
def test_random_programs_per_filter_code_is_proved(seed: int) -> None:
    """Every instruction kind the generator emits (ALU with X and k, scratch memory,
    tax/txa, ret a, indirect loads) is interpreted exactly: value for value."""
    rng = random.Random(300 + seed)
    done = 0
    while done < 25:
        prog = _random_program(rng, mergeable=False)
        if verify(prog):
            continue
        assert check_function(program_source(prog, "f"), "f", prog) is None, prog
        done += 1


@pytest.mark.parametrize(("size", "seed"), [(10, 1), (30, 3)])
def test_mixed_port_sets_are_proved(size: int, seed: int) -> None:
    source, filters = _demux(port_set(size, seed))
    assert check_source(source, filters) is None


def test_empty_demux_is_proved() -> None:
    source, filters = _demux({})
    assert check_source(source, filters) is None


# --------------------------------------------------------------------------- refuted


def _ipv4_tcp80() -> tuple[str, list[Any]]:
    return _demux({0: (1, parse_ddd(BY_EXPR["tcp port 80"]["ddd"]))})


def test_bounds_check_one_byte_short_is_refuted() -> None:
    source, filters = _ipv4_tcp80()
    found = _refuted(_mutate(source, "if n >= 14:", "if n >= 13:"), filters)
    assert "IndexError" in str(found.got) and len(found.packet) == 13


def test_bounds_check_one_byte_long_is_refuted() -> None:
    prog = parse_ddd(BY_EXPR["ether proto 0x88cc"]["ddd"])
    source, filters = _demux({0: (1, prog)})
    found = _refuted(_mutate(source, "if n >= 14:", "if n >= 15:"), filters)
    assert found.got == -1 and found.expected == 1 and len(found.packet) == 14


def test_wrong_constant_is_refuted() -> None:
    source, filters = _ipv4_tcp80()
    found = _refuted(_mutate(source, "== 2048", "== 2049"), filters)
    assert found.packet[12:14] in (b"\x08\x00", b"\x08\x01")


def test_first_match_order_is_kept() -> None:
    """Two filters accepting the same packets: the lower slot must win."""
    prog = parse_ddd(BY_EXPR["tcp port 80"]["ddd"])
    source, filters = _demux({0: (1, prog), 1: (2, prog)})
    assert check_source(source, filters) is None
    swapped = _mutate(source, "_OWNER = {0: 1, 1: 2}", "_OWNER = {0: 2, 1: 1}")
    assert _refuted(swapped, filters).got == 2


def test_dropped_division_guard_is_refuted() -> None:
    prog = parse_ddd(BY_EXPR["ip[2:2] / ip[8] > 10"]["ddd"])
    source, filters = _demux({0: (1, prog)})
    assert "if X == 0: return 0" in source, "the program must use the fallback code"
    found = _refuted(_mutate(source, "if X == 0: return 0", "pass"), filters)
    assert "ZeroDivisionError" in str(found.got)


def test_negative_index_is_refuted() -> None:
    """Python wraps a negative index silently: ``p[12 - n]`` *is* ``p[12]`` on bytes, so the
    answers never differ — the check still refuses the read outside the packet, and the
    replay (on bytes that refuse negative indices) shows it."""
    source, filters = _ipv4_tcp80()
    broken = _mutate(source, "v0 = (p[12] << 8", "v0 = (p[12 - n] << 8")
    found = _refuted(broken, filters)
    assert "inside the packet" in found.reason
    assert str(found.got).startswith("IndexError: negative index")


def test_loads_moved_across_an_abort_are_refuted() -> None:
    """libpcap #430: the optimized ``udp and (port 67 or port 68)`` loads the source port
    where the unoptimized one first aborts on the destination port; code generated for one
    is not code for the other, and the check finds a packet that shows it."""
    entry = BY_EXPR["udp and (port 67 or port 68)"]
    opt, unopt = parse_ddd(entry["ddd"]), parse_ddd(entry["ddd_unoptimized"])
    for made_from, claimed in ((opt, unopt), (unopt, opt)):
        source, _ = _demux({0: (5, made_from)})
        found = _refuted(source, [(0, 5, claimed)])
        assert (evaluate(made_from, found.packet) == 0) != (evaluate(claimed, found.packet) == 0)


def test_per_filter_value_is_checked_not_only_acceptance() -> None:
    prog = parse_ddd(BY_EXPR["tcp port 80"]["ddd"])
    source = program_source(prog, "f")
    keep = re.search(r"return (\d{3,})", source)
    assert keep is not None
    found = check_function(source.replace(keep.group(0), "return 1"), "f", prog)
    assert found is not None and found.got == 1 and found.expected == int(keep.group(1))


# --------------------------------------------------------------------------- refused


@pytest.mark.parametrize("source", [
    "def classify(p):\n    for i in p:\n        return 1\n    return -1\n",
    "def classify(p):\n    print(p)\n    return -1\n",
    "def classify(p):\n    return p.hex()\n",
    "def classify(p):\n    x = p[0] << 100\n    y = x * x * x\n    return -1\n",
    "def classify(p):\n    if len(p) > 3:\n        return 1\n",
    "import os\ndef classify(p):\n    return -1\n",
    "def classify(p):\n    return unknown\n",
])
def test_source_outside_the_subset_is_refused(source: str) -> None:
    with pytest.raises(UnsupportedSource):
        check_source(source, [])


def test_a_counterexample_that_does_not_replay_is_an_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    source, filters = _ipv4_tcp80()
    broken = _mutate(source, "== 2048", "== 2049")
    monkeypatch.setattr(check, "run_source",
                        lambda src, packet, name="classify": reference(filters, packet))
    with pytest.raises(ValidationError, match="does not replay"):
        check_source(broken + "\n", filters)  # a new text: not answered from the cache


# --------------------------------------------------------------------------- in the kernel


TCP80 = parse_ddd(BY_EXPR["tcp port 80"]["ddd"])


def _kernel_with_filter(kernel: Kernel) -> None:
    assert kernel.apply("env_create", 0, 1).status == Status.OK
    assert kernel.apply("filter_install", 0, TCP80).status == Status.OK
    assert kernel.apply("packet_arrive", b"\x00" * 60).status == Status.OK


def test_kernel_checks_each_generated_module(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, list[Any]]] = []

    def spy(source: str, filters: list[Any]) -> Mismatch | None:
        seen.append((source, filters))
        return check_source(source, filters)

    monkeypatch.setattr(exo.impl.state, "check_source", spy)
    _kernel_with_filter(Kernel(Config()))
    assert len(seen) == 1 and seen[0][1] == [(0, 0, TCP80)]
    unchecked: list[Any] = []
    monkeypatch.setattr(exo.impl.state, "check_source", unchecked.append)
    _kernel_with_filter(Kernel(Config(), check_demux=False))
    assert unchecked == []


def test_a_finding_stops_the_module_from_being_used() -> None:
    """FLT-8: a finding keeps the module out of use: ``classify`` interprets the filters
    (no exception on the packet path), ``source()`` reports the finding."""
    dm = Demux(check=lambda source, filters: "FLT-8: found a packet")
    dm.add(0, 1, TCP80)
    assert dm.fallback_reason == "FLT-8: found a packet"
    assert dm.classify(b"") == -1
    with pytest.raises(DemuxCheckFailed, match="found a packet"):
        dm.source()


def test_bundled_samples_are_the_corpus_programs() -> None:
    """exo.kit.bpf_samples (what the lockstep kit installs) is copied from the corpus that
    tests/test_filter_oracles.py recompiles with tcpdump."""
    from exo.kit.bpf_samples import EXPRESSIONS, SAMPLES

    assert set(SAMPLES) == set(EXPRESSIONS)
    for name, (expr, optimized) in EXPRESSIONS.items():
        text = BY_EXPR[expr]["ddd" if optimized else "ddd_unoptimized"]
        assert SAMPLES[name] == parse_ddd(text), name
        assert verify(SAMPLES[name]) == []
