"""The DPF-style demux (``exo.impl.demux``) against the reference interpreter.

``Demux.classify`` must be the owner of the first filter, in slot order, that
``exo.model.filters.evaluate`` accepts, or -1 — checked for every corpus program alone
(optimized and unoptimized), for sets of 10, 50 and 1000 hand-assembled port filters
mixed with unmergeable corpus programs, for random programs of the mergeable instruction
subset, on scapy frames, every truncation of them, and random bytes. The per-filter
compiled code must return exactly the reference's value. libpcap issue #430: the
optimized and unoptimized ``udp and (port 67 or port 68)`` keep their own verdicts on the
short witness packet, merged together or alone.
"""

from __future__ import annotations

import json
import random
from functools import cache
from pathlib import Path

import pytest
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_RR
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6
from scapy.layers.l2 import ARP, GRE, Dot1Q, Ether
from scapy.packet import Raw

from exo.impl.demux import Demux, compile_program, decompose
from exo.model.filters import Program, evaluate, parse_ddd, verify

CORPUS = json.loads((Path(__file__).parent / "data" / "bpf_corpus.json").read_text())
BY_EXPR: dict[str, dict[str, str]] = {e["expr"]: e for e in CORPUS}
PROGRAMS: list[tuple[str, Program]] = [
    (f"{e['expr']} [{form}]", parse_ddd(e[form]))
    for e in CORPUS for form in ("ddd", "ddd_unoptimized")
]

WITNESS_430 = bytes.fromhex(
    "00000000000000000000000086dd0b0000000000111000000000000000000000000000000000000000"
    "000000000000000000000000000044")

UNICAST = "02:00:00:00:00:01"
PORTS = [22, 53, 67, 68, 80, 123, 443, 547, 4789, 6005, 8000, 8080, 9000, 9001]


def _frames() -> list[bytes]:
    mac = "00:11:22:33:44:55"
    out = []
    for sport, dport in [(1234, 80), (80, 1234), (53, 5353), (5353, 53), (68, 67), (443, 22),
                         (123, 123), (4789, 4789), (8000, 6005), (9000, 9001), (547, 9001)]:
        for l4 in (TCP(sport=sport, dport=dport, flags="S"), UDP(sport=sport, dport=dport)):
            ip4 = IP(src="10.0.0.1", dst="10.0.0.2")
            out.append(Ether(src=mac, dst=UNICAST) / ip4 / l4 / b"GET x")
            out.append(Ether(dst=UNICAST) / IPv6(src="2001:db8::1", dst="2001:db8::2") / l4)
    out += [
        Ether(dst=UNICAST) / IP(src="192.168.1.1", options=[IPOption_RR()]) / UDP(dport=53),
        Ether(dst=UNICAST) / IP(dst="192.168.1.1", ihl=15, options=[IPOption_RR(length=39)])
        / TCP(dport=80),
        Ether(dst=UNICAST) / IP(frag=3, flags="MF") / UDP(sport=67, dport=68),
        Ether(dst=UNICAST) / Dot1Q(vlan=100) / IP() / TCP(dport=80),
        Ether(dst=UNICAST) / Dot1Q(vlan=100) / IPv6() / UDP(dport=547),
        Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(psrc="10.0.0.1", pdst="10.0.0.9"),
        Ether(dst="01:00:5e:00:00:01") / IP(dst="224.0.0.1") / ICMP(type=8),
        Ether(dst=UNICAST) / IP(dst="255.255.255.255") / ICMP(type=3),
        Ether(dst=UNICAST) / IPv6(dst="2001:db8::1") / ICMPv6EchoRequest(),
        Ether(dst=UNICAST) / IP(src="172.16.5.5", dst="10.1.2.3") / GRE() / IP() / UDP(dport=123),
        Ether(dst=UNICAST, type=0x88CC) / Raw(b"\x02\x07\x04" + bytes(20)),
        Ether(dst=UNICAST) / MPLS(label=5) / IP() / UDP(dport=4789),
        Ether(dst=UNICAST) / IP(len=600, ttl=3) / TCP(dport=80, flags="SA") / (b"x" * 20),
    ]
    return [bytes(f) for f in out]


FRAMES = _frames()
BIG = bytes(Ether(dst=UNICAST) / IP() / UDP(dport=53) / (b"\x00" * 1000))


def _packets() -> list[bytes]:
    """Every frame with every truncation of it, a big frame truncated at the lengths that
    matter, mutated frames and random bytes; no duplicates."""
    rng = random.Random(430)
    out = [WITNESS_430, *(WITNESS_430[:i] for i in range(len(WITNESS_430)))]
    for frame in FRAMES:
        out += [frame[:i] for i in range(len(frame) + 1)]
    out += [BIG[:i] for i in (*range(0, 100, 7), 63, 64, 65, 99, 100, 199, 200, 201,
                               999, 1000, 1001, len(BIG))]
    for frame in rng.sample(FRAMES, 20):
        mutated = bytearray(frame)
        for _ in range(3):
            mutated[rng.randrange(len(mutated))] = rng.choice([0, 6, 17, 0x45, 0xFF])
        out.append(bytes(mutated))
    out += [bytes(rng.randrange(256) for _ in range(rng.randrange(80))) for _ in range(100)]
    return list(dict.fromkeys(out))


PACKETS = _packets()


@cache
def _ref(prog: Program, packet: bytes) -> int:
    return evaluate(prog, packet)


def _expected(filters: dict[int, tuple[int, Program]], packet: bytes) -> int:
    for slot in sorted(filters):
        owner, prog = filters[slot]
        if _ref(prog, packet):
            return owner
    return -1


def _check(filters: dict[int, tuple[int, Program]], packets: list[bytes]) -> Demux:
    dm = Demux()
    for slot, (owner, prog) in filters.items():
        dm.add(slot, owner, prog)
    bad = [(p.hex(), dm.classify(p), _expected(filters, p))
           for p in packets if dm.classify(p) != _expected(filters, p)]
    assert not bad, f"{len(bad)} mismatches, first: {bad[0]}\n{dm.source()}"
    return dm


# --------------------------------------------------------------------------- corpus


def test_corpus_programs_verify_and_most_merge() -> None:
    for name, prog in PROGRAMS:
        assert verify(prog) == [], name
    merged = [name for name, prog in PROGRAMS if decompose(prog) is not None]
    assert len(merged) >= 90, merged
    for expr in ("tcp port 80", "udp port 53", "tcp dst port 443", "host 192.168.1.1",
                 "ether proto 0x88cc", "ip proto 47", "udp and (port 67 or port 68)"):
        for form in ("ddd", "ddd_unoptimized"):
            assert decompose(parse_ddd(BY_EXPR[expr][form])) is not None, (expr, form)
    assert decompose(parse_ddd(BY_EXPR["ip[2:2] / ip[8] > 10"]["ddd"])) is None


@pytest.mark.parametrize(("name", "prog"), PROGRAMS, ids=[n for n, _ in PROGRAMS])
def test_each_corpus_program_alone(name: str, prog: Program) -> None:
    dm = _check({3: (11, prog)}, PACKETS)
    compiled = compile_program(prog)
    for packet in PACKETS:
        assert compiled(packet) == _ref(prog, packet), (name, packet.hex())
    assert "def classify(p):" in dm.source()


def test_corpus_accepts_something() -> None:
    """The packets exercise the filters: most corpus programs accept one of them."""
    accepting = [n for n, prog in PROGRAMS if any(_ref(prog, p) for p in PACKETS)]
    assert len(accepting) >= 100


def test_whole_corpus_in_one_demux() -> None:
    filters = {slot: (1000 + slot, prog) for slot, (_, prog) in enumerate(PROGRAMS)}
    dm = _check(filters, PACKETS)
    for slot in range(0, len(PROGRAMS), 3):
        dm.remove(slot)
        del filters[slot]
    bad = [p for p in PACKETS if dm.classify(p) != _expected(filters, p)]
    assert not bad


# --------------------------------------------------------------------------- #430


def test_libpcap_430_each_program_keeps_its_verdict() -> None:
    entry = BY_EXPR["udp and (port 67 or port 68)"]
    opt, unopt = parse_ddd(entry["ddd"]), parse_ddd(entry["ddd_unoptimized"])
    v_opt, v_unopt = evaluate(opt, WITNESS_430), evaluate(unopt, WITNESS_430)
    assert (v_opt == 0) != (v_unopt == 0), "the witness no longer separates the programs"
    for prog, verdict in ((opt, v_opt), (unopt, v_unopt)):
        dm = Demux()
        dm.add(0, 5, prog)
        assert dm.merged_slots() == [0], "the #430 programs must exercise the merged trie"
        assert dm.classify(WITNESS_430) == (5 if verdict else -1)
        assert compile_program(prog)(WITNESS_430) == verdict
    for first, second in ((opt, unopt), (unopt, opt)):
        dm = Demux()
        dm.add(0, 1, first)
        dm.add(1, 2, second)
        assert dm.merged_slots() == [0, 1]
        want = 1 if evaluate(first, WITNESS_430) else 2 if evaluate(second, WITNESS_430) else -1
        assert want != -1
        assert dm.classify(WITNESS_430) == want
    _check({0: (1, opt), 1: (2, unopt)}, PACKETS)
    _check({0: (1, unopt), 1: (2, opt)}, PACKETS)


# --------------------------------------------------------------------------- port sets

PORT_TEMPLATES = {
    "tcp port 80": 80, "udp port 53": 53, "port 22": 22, "tcp dst port 443": 443,
    "udp src port 123": 123, "ip and udp and dst port 4789": 4789,
}
UNMERGEABLE = ["tcp port 80 and (((ip[2:2] - ((ip[0]&0xf)*4)) - ((tcp[12]&0xf0)/4)) != 0)",
               "ip[2:2] / ip[8] > 10", "udp[4:2] % ip[8] == 1", "ip[2:2] % (ip[8] & 3) == 1",
               "tcp[((tcp[12:1] & 0xf0) / 4):4] = 0x47455420"]


def port_filter(template: str, port: int, optimized: bool = True) -> Program:
    """tcpdump's program for ``template`` with its port replaced by ``port``, as tcpdump
    would emit it (the port appears only in ``jeq #port`` instructions)."""
    old = PORT_TEMPLATES[template]
    prog = parse_ddd(BY_EXPR[template]["ddd" if optimized else "ddd_unoptimized"])
    return tuple((c, jt, jf, port if c == 0x15 and k == old else k) for c, jt, jf, k in prog)


def port_set(size: int, seed: int, mixed: bool = True) -> dict[int, tuple[int, Program]]:
    rng = random.Random(seed)
    slots = rng.sample(range(size * 3), size)
    filters: dict[int, tuple[int, Program]] = {}
    for i, slot in enumerate(slots):
        port = rng.choice(PORTS) if rng.random() < 0.5 else rng.randrange(1, 65536)
        prog = port_filter(rng.choice(sorted(PORT_TEMPLATES)), port, rng.random() < 0.8)
        filters[slot] = (i, prog)
    if mixed:
        free = sorted(set(range(size * 3)) - set(slots))
        for expr in [*UNMERGEABLE, "udp and (port 67 or port 68)", "tcp[13] = 18"]:
            form = rng.choice(["ddd", "ddd_unoptimized"])
            slot = free.pop(rng.randrange(len(free)))
            filters[slot] = (100_000 + len(filters), parse_ddd(BY_EXPR[expr][form]))
    return filters


def test_port_filters_verify() -> None:
    for template in PORT_TEMPLATES:
        for optimized in (True, False):
            prog = port_filter(template, 9001, optimized)
            assert verify(prog) == []
            assert decompose(prog) is not None, template


@pytest.mark.parametrize(("size", "seed"), [(10, 1), (10, 2), (50, 3), (50, 4)])
def test_port_sets(size: int, seed: int) -> None:
    filters = port_set(size, seed)
    dm = _check(filters, PACKETS)
    assert len(dm.merged_slots()) >= size
    hits = {dm.classify(p) for p in PACKETS}
    assert len(hits) > 3, "the packets should reach several owners"
    rng = random.Random(seed)
    for slot in rng.sample(sorted(filters), len(filters) // 3):
        dm.remove(slot)
        del filters[slot]
    slot = rng.choice(sorted(filters))
    filters[slot] = (77, port_filter("tcp port 80", 80))
    dm.add(slot, 77, filters[slot][1])
    bad = [p.hex() for p in PACKETS if dm.classify(p) != _expected(filters, p)]
    assert not bad


def test_1000_port_filters_against_per_filter_code() -> None:
    """1000 filters: the reference on a sample, per-filter compiled code on everything."""
    filters = port_set(1000, 5, mixed=True)
    dm = Demux()
    for slot, (owner, prog) in filters.items():
        dm.add(slot, owner, prog)
    compiled = [(filters[s][0], compile_program(filters[s][1])) for s in sorted(filters)]
    for packet in PACKETS:
        want = next((owner for owner, fn in compiled if fn(packet)), -1)
        assert dm.classify(packet) == want, packet.hex()
    for packet in random.Random(6).sample(PACKETS, 15):
        assert dm.classify(packet) == _expected(filters, packet)


# --------------------------------------------------------------------------- random programs

ALPHABET = [0, 1, 2, 0x45, 0xFF]


def _random_program(rng: random.Random, mergeable: bool) -> Program:
    """A random verified program: the mergeable instruction subset, or anything."""
    n = rng.randrange(2, 14)
    first = (rng.choice([0x20, 0x28, 0x30]), 0, 0, rng.randrange(24))
    out: list[tuple[int, int, int, int]] = [first]
    for pc in range(1, n - 1):
        room = n - pc - 2
        const = rng.choice([*ALPHABET, 0x0102, 0x4500, 0x1FF, rng.randrange(1 << 32)])
        choice = rng.random()
        if choice < 0.3:
            out.append((rng.choice([0x20, 0x28, 0x30]), 0, 0, rng.randrange(24)))
        elif choice < 0.4:
            out.append((0xB1, 0, 0, rng.randrange(24)))
        elif choice < 0.5 and any(code == 0xB1 for code, _, _, _ in out):
            out.append((rng.choice([0x40, 0x48, 0x50]), 0, 0, rng.randrange(12)))
        elif choice < 0.55:
            out.append((0x80, 0, 0, 0))
        elif choice < 0.62:
            out.append((0x54, 0, 0, rng.choice([0xF, 0xFF, 0x1FFF, const])))
        elif choice < 0.9:
            out.append((rng.choice([0x15, 0x25, 0x35, 0x45]), rng.randrange(room + 1),
                        rng.randrange(room + 1), const))
        elif choice < 0.93:
            out.append((0x05, 0, 0, rng.randrange(room + 1)))
        elif mergeable:
            out.append((0x06, 0, 0, rng.choice([0, 1, 0xFFFF])))
        else:
            op = rng.choice([0x04, 0x0C, 0x14, 0x1C, 0x24, 0x2C, 0x34, 0x3C, 0x44, 0x4C, 0x64,
                             0x74, 0x84, 0x94, 0x9C, 0xA4, 0xAC, 0x01, 0x07, 0x87, 0x16,
                             0x00, 0x02, 0x03, 0x60, 0x61, 0x1D, 0x2D, 0x3D, 0x4D, 0x81])
            k = rng.randrange(1, 32) if op in (0x64, 0x74, 0x34, 0x94) else const
            if op in (0x02, 0x03, 0x60, 0x61):
                k = rng.randrange(4)
            if op & 0x07 == 0x05:
                out.append((op, rng.randrange(room + 1), rng.randrange(room + 1), 0))
            else:
                out.append((op, 0, 0, k))
    out.append((0x06, 0, 0, rng.choice([0, 1, 0x40000])))
    return tuple(out)


def _small_packets(rng: random.Random, count: int) -> list[bytes]:
    return [bytes(rng.choice(ALPHABET) for _ in range(rng.randrange(30))) for _ in range(count)]


@pytest.mark.parametrize("seed", range(4))
def test_random_mergeable_programs(seed: int) -> None:
    """Random programs of the mergeable subset: decomposition is exact, alone and merged."""
    rng = random.Random(seed)
    progs: list[Program] = []
    while len(progs) < 40:
        prog = _random_program(rng, mergeable=True)
        if verify(prog) == []:
            progs.append(prog)
    packets = _small_packets(rng, 150) + [f[:i] for f in FRAMES[:4] for i in range(0, 40, 3)]
    merged = 0
    for prog in progs:
        dm = _check({0: (1, prog)}, packets)
        merged += len(dm.merged_slots())
    assert merged >= 25
    _check({i: (i, prog) for i, prog in enumerate(progs)}, packets)
    _check({i: (i, prog) for i, prog in enumerate(reversed(progs))}, packets)


@pytest.mark.parametrize("seed", range(4))
def test_random_programs_per_filter_code(seed: int) -> None:
    """Any verified program: the compiled function returns the reference's value."""
    rng = random.Random(100 + seed)
    progs: list[Program] = []
    while len(progs) < 60:
        prog = _random_program(rng, mergeable=False)
        if verify(prog) == []:
            progs.append(prog)
    packets = _small_packets(rng, 80)
    for prog in progs:
        fn = compile_program(prog)
        for packet in packets:
            assert fn(packet) == _ref(prog, packet), (prog, packet.hex())
    _check({i: (i, prog) for i, prog in enumerate(progs)}, packets)


def test_replace_and_remove_slots() -> None:
    dm = Demux()
    tcp80, udp53 = port_filter("tcp port 80", 80), port_filter("udp port 53", 53)
    frame = next(f for f in FRAMES if _ref(tcp80, f))
    dm.add(4, 1, tcp80)
    assert dm.classify(frame) == 1
    dm.add(2, 2, tcp80)
    assert dm.classify(frame) == 2
    dm.add(2, 3, udp53)
    assert dm.classify(frame) == 1
    dm.remove(4)
    dm.remove(4)
    assert dm.classify(frame) == -1
    assert dm.classify(b"") == -1
