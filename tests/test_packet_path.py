"""FLT-8, NET-3: no solver and no exception on the packet path.

The generated demultiplexer is validated when the filter set changes (``Demux.add`` and
``Demux.remove``), under ``CHECK_RLIMIT`` and ``MAX_SOURCE_NODES``; a module that is not
proved is never used: ``classify`` interprets the kernel's filters instead. These tests
compare the implementation with the model's interpreter (``exo.model.filters.evaluate``,
in slot order, or the model's ``packet_arrive``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
import z3

from exo.cli.bench import port_filter, udp_packet
from exo.impl import Kernel
from exo.impl.demux import MAX_PATH_ATOMS, Demux, decompose, interpret
from exo.interface import Config, Status
from exo.kit.bpf_samples import SAMPLES
from exo.model import REGISTRY, initial
from exo.model.filters import evaluate, verify
from exo.proofs.demux import (
    CHECK_RLIMIT,
    MAX_SOURCE_NODES,
    BudgetExhausted,
    UnsupportedSource,
    check_source,
)

Prog = tuple[tuple[int, int, int, int], ...]
ACCEPT_ALL: Prog = ((6, 0, 0, 1),)


def _frames() -> list[bytes]:
    """Frames the samples care about — UDP/TCP/ICMP on IPv4 to their ports, IPv4 with
    options, IPv6, ARP, another ethertype — and every cut of a few of them."""
    out: list[bytes] = []
    for port in (22, 53, 67, 68, 80, 443, 1234):
        for proto in (6, 17, 1):
            out.append(udp_packet(port, proto=proto))
    small = udp_packet(67, payload=b"", proto=17)
    out.append(small[:14] + bytes([0x46]) + small[15:34] + bytes(4) + small[34:])  # ihl 6
    out.append(small[:12] + b"\x86\xdd" + bytes([0x60, 0, 0, 0, 0, 8, 17, 64]) + bytes(32)
               + small[34:42])
    out.append(b"\xff" * 6 + bytes(6) + b"\x08\x06" + bytes([0, 1, 8, 0, 6, 4, 0, 1])
               + bytes(20))
    out.append(bytes(12) + b"\x12\x34" + bytes(8))
    for frame in (small, udp_packet(80, payload=b"", proto=6), out[-3]):
        out += [frame[:cut] for cut in range(len(frame))]
    return list(dict.fromkeys(out))


FRAMES = _frames()


@cache
def _verdict(prog: Prog, packet: bytes) -> int:
    return evaluate(prog, packet)


def _expected(filters: list[tuple[int, int, Prog]], packet: bytes) -> int:
    """The model's answer: the owner of the first filter, in slot order, accepting."""
    return next((owner for _slot, owner, prog in sorted(filters)
                 if _verdict(prog, packet) != 0), -1)


def _checked_demux(filters: list[tuple[int, int, Prog]]) -> Demux:
    """A demux validated as the kernel validates it, after each ``add``."""
    demux = Demux(check=check_source)
    for slot, owner, prog in filters:
        demux.add(slot, owner, prog)
    return demux


# --------------------------------------------------------------------------- the plain interpreter


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_interpreter_is_the_reference_on_the_samples(name: str) -> None:
    """FLT-4: the fallback returns exactly the reference's value on every frame."""
    for packet in FRAMES:
        assert interpret(SAMPLES[name], packet) == evaluate(SAMPLES[name], packet), packet.hex()


def test_interpreter_is_the_reference_on_arithmetic() -> None:
    """FLT-4: scratch memory, tax/txa, every ALU operation, division by X == 0, ret a."""
    prog: Prog = ((0x30, 0, 0, 14), (0x02, 0, 0, 3), (0x07, 0, 0, 0), (0x30, 0, 0, 15),
                  (0x0C, 0, 0, 0), (0x14, 0, 0, 5), (0x24, 0, 0, 7), (0x44, 0, 0, 9),
                  (0x54, 0, 0, 0xFF0F), (0xA4, 0, 0, 0x55), (0x64, 0, 0, 3), (0x74, 0, 0, 1),
                  (0x84, 0, 0, 0), (0x61, 0, 0, 3), (0x3C, 0, 0, 0), (0x9C, 0, 0, 0),
                  (0x87, 0, 0, 0), (0x35, 1, 0, 2), (0x16, 0, 0, 0), (0x06, 0, 0, 9))
    assert verify(prog) == []
    for packet in [*FRAMES, bytes(range(40)), b"\xff" * 40]:
        assert interpret(prog, packet) == evaluate(prog, packet), packet.hex()


# --------------------------------------------------------------------------- the generator bug


def test_accept_all_then_ip_len_div_is_proved() -> None:
    """FLT-8: the checker evaluated the right operand of an ``and`` the left one had
    already decided (``b > 1 and _f1(p)`` with ``b == 0``): the call is unreachable, its
    value is nothing, and 'truth of a non-number' was raised. Python never evaluates it."""
    filters = [(0, 0, ACCEPT_ALL), (1, 0, SAMPLES["ip_len_div"])]
    demux = _checked_demux(filters)
    assert demux.fallback_reason is None
    assert check_source(demux.source(), filters) is None
    for packet in FRAMES:
        assert demux.classify(packet) == _expected(filters, packet)


def _sets() -> list[tuple[str, ...]]:
    names = sorted(SAMPLES)
    combos = [*itertools.combinations(names, 2), *itertools.combinations(names, 3)]
    return [*combos, *(("accept_all", *c) for c in combos)]


@cache
def _validated(names: tuple[str, ...]) -> tuple[Demux, list[tuple[int, int, Prog]]]:
    progs = {**SAMPLES, "accept_all": ACCEPT_ALL}
    filters = [(slot, slot % 2, progs[name]) for slot, name in enumerate(names)]
    return _checked_demux(filters), filters


def test_the_regression_sets_are_every_pair_and_triple() -> None:
    assert len(_sets()) == 2 * (28 + 56) == len({s for chunk in CHUNKS for s in chunk})


CHUNKS = [_sets()[i::6] for i in range(6)]


@pytest.mark.parametrize("chunk", range(len(CHUNKS)))
def test_every_pair_and_triple_of_samples_is_proved_and_classifies_as_the_model(
        chunk: int) -> None:
    """FLT-8: every pair and triple of the bundled samples, each also after an accept-all
    filter (in six chunks): the merged module is proved (no set falls back) and classifies
    every frame as the model's interpreter does."""
    fallbacks = []
    for names in CHUNKS[chunk]:
        demux, filters = _validated(names)
        if demux.fallback_reason is not None:
            fallbacks.append((names, demux.fallback_reason))
        for packet in FRAMES:
            assert demux.classify(packet) == _expected(filters, packet), (names, packet.hex())
    assert fallbacks == []


# --------------------------------------------------------------------------- the kernel


def _model_and_kernel(programs: list[Prog]) -> tuple[Any, Kernel]:
    cfg = Config()
    s = initial(cfg)
    k = Kernel(cfg)
    s, res = REGISTRY["env_create"](s, 0, 1)
    assert res.status == Status.OK and k.apply("env_create", 0, 1).status == Status.OK
    for prog in programs:
        s, res = REGISTRY["filter_install"](s, 0, prog)
        assert res == k.apply("filter_install", 0, prog), res
    return s, k


def _long_filter(declarative: bool = False) -> Prog:
    """A verified 4096-instruction filter: 2047 byte tests, each branch joining the next
    (2**2047 paths for a merger, a module far over ``MAX_SOURCE_NODES``). It is the DFilter
    "at least 64 bytes" to FLT-9, unless (``declarative`` False) its last test is on
    ``ld len``, outside FLT-9's class."""
    prog = tuple(insn for i in range(2047)
                 for insn in ((0x30, 0, 0, i % 64), (0x15, 0, 0, i % 256)))
    if not declarative:
        prog = (*prog[:-2], (0x80, 0, 0, 0), (0x15, 0, 0, 0))
    prog += ((0x06, 0, 0, 1), (0x06, 0, 0, 0))
    assert len(prog) == 4096 and verify(prog) == []
    return prog


def test_a_4096_instruction_declarative_filter_is_merged_as_its_dfilter() -> None:
    """FLT-9, FLT-8: the same attack in FLT-9's class is the DFilter "at least 64 bytes"
    to the demux: one path, a small module, proved; packets classified as the model does."""
    s, k = _model_and_kernel([_long_filter(declarative=True)])
    assert k.state.demux.declarative_slots() == [0]
    assert k.state.demux.fallback_reason is None
    for packet in (udp_packet(53), bytes(63), bytes(64)):
        s, expected = REGISTRY["packet_arrive"](s, packet)
        assert k.apply("packet_arrive", packet) == expected


def test_a_4096_instruction_filter_does_not_stall_packet_arrive() -> None:
    """FLT-8, NET-3: the attack made the next packet_arrive run past 600 s. Now the
    install refuses the module by its size, before any symbolic work (the budget), and
    packets are interpreted: at most one step an instruction (no clock is read here:
    the work is bounded instead)."""
    prog = _long_filter()
    s, k = _model_and_kernel([prog])
    assert k.state.demux.declarative_slots() == []
    assert k.state.demux.fallback_reason is not None
    assert f"budget of {MAX_SOURCE_NODES}" in k.state.demux.fallback_reason
    for packet in (udp_packet(53), bytes(30), bytes(64)):  # interpreted: one step an
        s, expected = REGISTRY["packet_arrive"](s, packet)  # instruction at most
        assert k.apply("packet_arrive", packet) == expected


def test_r9_set_classifies_identically_in_model_and_kernel() -> None:
    """NET-3: accept-all then ip_len_div in one environment (was: every packet_arrive
    raised UnsupportedSource)."""
    s, k = _model_and_kernel([ACCEPT_ALL, SAMPLES["ip_len_div"]])
    assert k.state.demux.fallback_reason is None
    for packet in FRAMES:
        s, expected = REGISTRY["packet_arrive"](s, packet)
        assert k.apply("packet_arrive", packet) == expected, packet.hex()


def _broken_generator(monkeypatch: pytest.MonkeyPatch) -> None:
    """The generator emits a module that drops every 60-byte packet."""
    original: Callable[[Demux], str] = Demux._generate

    def broken(self: Demux) -> str:
        return original(self).replace("    return _OWNER.get(b, -1)",
                                      "    return _OWNER.get(b, -1) if n != 60 else -1")

    monkeypatch.setattr(Demux, "_generate", broken)


def _classify_60_byte_port_packets(check_demux: bool) -> list[tuple[int, int]]:
    k = Kernel(Config(), check_demux=check_demux)
    k.apply("env_create", 0, 1)
    k.apply("env_create", 1, 2)
    k.apply("filter_install", 0, port_filter(53))
    k.apply("filter_install", 1, port_filter(54))
    out = []
    for port, env in ((53, 0), (54, 1)):
        packet = udp_packet(port, payload=b"x" * 18)
        assert len(packet) == 60
        before = k.state.rx_count[env]
        k.apply("packet_arrive", packet)
        out.append((env, k.state.rx_count[env] - before))
    return out


def test_a_broken_merged_demux_is_caught_and_the_interpreter_classifies(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """FLT-8: a wrong module is refuted when the filter is installed and never classifies
    a packet; the interpreter delivers both packets."""
    _broken_generator(monkeypatch)
    assert _classify_60_byte_port_packets(check_demux=True) == [(0, 1), (1, 1)]
    k = Kernel(Config())
    k.apply("env_create", 0, 1)
    k.apply("filter_install", 0, port_filter(53))
    assert (k.state.demux.fallback_reason or "").startswith("FLT-8")


def test_without_validation_the_broken_demux_misclassifies(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The previous test needs the validation: skipped, the broken module drops them."""
    _broken_generator(monkeypatch)
    assert _classify_60_byte_port_packets(check_demux=False) == [(0, 0), (1, 0)]


def test_no_solver_runs_inside_packet_arrive(monkeypatch: pytest.MonkeyPatch) -> None:
    """NET-3: packet_arrive calls neither the FLT-8 check nor Z3, whatever the set."""
    calls: list[str] = []

    def counting(source: str, filters: Any) -> Any:
        calls.append(source)
        return check_source(source, filters)

    monkeypatch.setattr("exo.impl.state.check_source", counting)
    k = Kernel(Config())
    k.apply("env_create", 0, 1)
    k.apply("env_create", 1, 2)
    k.apply("filter_install", 0, SAMPLES["tcp_port_80"])
    k.apply("filter_install", 1, SAMPLES["udp_port_53"])
    installs = len(calls)
    assert installs == 2

    def no_z3(*_args: Any, **_kw: Any) -> Any:
        raise AssertionError("Z3 ran on the packet path")

    monkeypatch.setattr(z3.Solver, "check", no_z3)
    monkeypatch.setattr("exo.impl.state.check_source", no_z3)
    for packet in FRAMES:
        assert k.apply("packet_arrive", packet).status == Status.OK
    assert len(calls) == installs


def test_checker_exceptions_and_budget_fall_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """FLT-8: UnsupportedSource, budget exhaustion or any exception of the checker is
    not a pass: the interpreter classifies, and nothing raises."""
    filters = [(0, 3, SAMPLES["tcp_port_80"])]
    for exc in (UnsupportedSource("x"), BudgetExhausted("x"), RuntimeError("x")):
        def raising(_s: str, _f: object, exc: Exception = exc) -> object:
            raise exc

        demux = Demux(check=raising, table=lambda: filters)
        demux.add(0, 3, SAMPLES["tcp_port_80"])
        assert type(exc).__name__ in (demux.fallback_reason or "")
        for packet in FRAMES:
            assert demux.classify(packet) == _expected(filters, packet)


def test_budget_is_rlimit_and_too_small_a_budget_is_not_a_pass() -> None:
    """FLT-8: the budget is Z3's deterministic rlimit; exhausting it raises."""
    demux = Demux()
    for i in range(100):
        demux.add(i, i, port_filter(1000 + i))
    with pytest.raises(BudgetExhausted):
        check_source(demux.source(), demux.installed(), rlimit=10_000)
    assert check_source(demux.source(), demux.installed(), rlimit=CHECK_RLIMIT) is None


def test_a_path_of_too_many_atoms_is_not_merged() -> None:
    """FLT-8: ``decompose`` gives up on a path of more than ``MAX_PATH_ATOMS`` atoms (its
    cost grows with the square of a path's length: 4,096-instruction installs took 6 s);
    the filter still classifies as the model."""
    pairs = MAX_PATH_ATOMS // 2 + 10
    prog: Prog = tuple(insn for i in range(pairs)
                       for insn in ((0x30, 0, 0, i), (0x15, 0, 2 * pairs - 2 * i - 1, i % 3)))
    prog += ((0x06, 0, 0, 7), (0x06, 0, 0, 0))
    assert verify(prog) == []
    assert decompose(prog) is None
    filters = [(0, 4, prog)]
    demux = _checked_demux(filters)
    good = bytes(i % 3 for i in range(pairs))
    for packet in (good, good[:-1], good + b"x", bytes(pairs), *FRAMES[:5]):
        assert demux.classify(packet) == _expected(filters, packet)
