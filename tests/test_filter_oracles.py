"""Classic BPF against two outside oracles: tcpdump/libpcap and the Linux kernel.

- The corpus (``tests/data/bpf_corpus.json``, made by ``tests/data/make_bpf_corpus.py``) is
  real tcpdump output for Ethernet, optimized and unoptimized: every program parses, passes
  ``verify`` (FLT-1..FLT-3), and is exactly what the installed tcpdump compiles today.
- FLT-4: ``evaluate`` agrees with the kernel (``tests/kernel_oracle.py``) for every corpus
  program on well-formed frames, every truncation of some of them, mutated and random bytes.
- FLT-2/FLT-3: ``verify`` agrees with the kernel's ``bpf_check_classic`` on random and mutated
  programs, except for Exo's documented stricter rules (FLT-3.1, FLT-3.2), and never
  accepts a program the kernel refuses.
- FLT-7: libpcap issue #430: the optimizer changes ``udp and (port 67 or port 68)`` on a
  short packet; ``difference`` finds the packet and the kernel confirms it.
"""

from __future__ import annotations

import functools
import json
import random
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_RR
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6, IPv6ExtHdrFragment
from scapy.layers.l2 import ARP, GRE, LLC, Dot1Q, Ether
from scapy.packet import Packet as ScapyPacket
from scapy.packet import Raw

from exo.model.filters import (
    VALID_CODES,
    Insn,
    Program,
    Rejection,
    difference,
    evaluate,
    parse_ddd,
    parse_raw,
    to_ddd,
    to_raw,
    verify,
)
from tests.kernel_oracle import (
    KernelFilter,
    expected_delivery,
    kernel_attach_errno,
    kernel_run,
)

CORPUS_PATH = Path(__file__).parent / "data" / "bpf_corpus.json"
DHCP = "udp and (port 67 or port 68)"
STRICTER_RULES = frozenset({"FLT-3.1", "FLT-3.2"})
"""Exo's documented rules stricter than Linux: a kernel-accepted program may fail only these."""

SEED = 20240430

linux_only = pytest.mark.skipif(
    sys.platform != "linux",
    reason="the kernel oracle needs Linux (SO_ATTACH_FILTER on an AF_UNIX socketpair)")
needs_tcpdump = pytest.mark.skipif(
    shutil.which("tcpdump") is None,
    reason="tcpdump is not on PATH (Debian package tcpdump; CI installs it)")


# --------------------------------------------------------------------------- the corpus


@functools.cache
def corpus() -> list[dict[str, str]]:
    entries: list[dict[str, str]] = json.loads(CORPUS_PATH.read_text())
    return entries


@functools.cache
def corpus_programs() -> list[tuple[str, Program]]:
    """Every corpus program, labelled ``EXPR [opt]`` or ``EXPR [unopt]``."""
    out: list[tuple[str, Program]] = []
    for e in corpus():
        out.append((f"{e['expr']} [opt]", parse_ddd(e["ddd"], e["expr"])))
        out.append((f"{e['expr']} [unopt]", parse_ddd(e["ddd_unoptimized"], e["expr"])))
    return out


def corpus_entry(expr: str) -> dict[str, str]:
    return next(e for e in corpus() if e["expr"] == expr)


def test_corpus_is_large_and_distinct() -> None:
    exprs = [e["expr"] for e in corpus()]
    assert len(exprs) >= 40
    assert len(set(exprs)) == len(exprs)
    assert all(set(e) == {"expr", "ddd", "ddd_unoptimized"} for e in corpus())


@pytest.mark.parametrize("entry", corpus(), ids=lambda e: str(e["expr"]))
def test_corpus_entry_parses_and_verifies(entry: dict[str, str]) -> None:
    """FLT-1..FLT-3: tcpdump's programs are read, round-trip, and are accepted."""
    for key in ("ddd", "ddd_unoptimized"):
        prog = parse_ddd(entry[key], entry["expr"])
        assert len(prog) >= 2
        assert to_ddd(prog) == entry[key]
        assert parse_raw(to_raw(prog)) == prog
        assert verify(prog) == [], f"{entry['expr']} ({key}): {verify(prog)}"


def tcpdump_ddd(expr: str, optimize: bool) -> str:
    exe = shutil.which("tcpdump")
    assert exe is not None
    args = [exe, "-ddd"] if optimize else [exe, "-O", "-ddd"]
    return subprocess.run([*args, expr], capture_output=True, text=True, check=True).stdout


@needs_tcpdump
def test_corpus_matches_installed_tcpdump() -> None:
    """Recompiling every expression gives exactly the committed programs."""
    for e in corpus():
        assert tcpdump_ddd(e["expr"], True) == e["ddd"], e["expr"]
        assert tcpdump_ddd(e["expr"], False) == e["ddd_unoptimized"], e["expr"]


# --------------------------------------------------------------------------- packets

MAC_A, MAC_B = "00:11:22:33:44:55", "02:00:00:00:00:0b"
MACS = [MAC_A, MAC_B, "ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01", "33:33:00:00:00:01",
        "00:11:22:33:44:56"]
V4_PAIRS = [("192.168.1.1", "10.0.0.2"), ("10.0.0.1", "192.168.1.1"), ("10.0.0.1", "10.0.0.2"),
            ("172.16.5.4", "8.8.8.8"), ("192.168.7.7", "172.31.255.255"),
            ("1.2.3.4", "224.0.0.1"), ("10.9.8.7", "255.255.255.255"),
            ("11.0.0.1", "172.32.0.1"), ("192.169.0.1", "9.255.255.255")]
V6_PAIRS = [("2001:db8::1", "2001:db8::2"), ("fe80::1", "2001:db8::1"),
            ("2001:db9::1", "ff02::1"), ("2001:db8:ffff::7", "2001:db7::1")]
PORTS = [80, 53, 22, 443, 123, 67, 68, 4789, 8000, 8080, 8081, 7999, 6000, 6010, 6011, 547,
         1234, 0, 65535]
TCP_FLAGS = ["S", "SA", "A", "F", "R", "PA", "FA", "RA", "U", ""]
GET = b"GET / HTTP/1.0\r\n\r\n"


def ether(dst: str = MAC_B, src: str = MAC_A) -> ScapyPacket:
    return Ether(dst=dst, src=src)


def ipv4_payloads(rng: random.Random) -> list[ScapyPacket]:
    """IPv4 datagrams (from the IP header up) touching what the corpus asks about."""
    out: list[ScapyPacket] = []

    def v4(**kw: Any) -> ScapyPacket:
        src, dst = V4_PAIRS[len(out) % len(V4_PAIRS)]
        fields: dict[str, Any] = {"src": src, "dst": dst}
        fields.update(kw)
        return IP(**fields)

    for i, port in enumerate(PORTS):
        other = PORTS[(i * 7 + 3) % len(PORTS)]
        flags = TCP_FLAGS[i % len(TCP_FLAGS)]
        out.append(v4() / TCP(sport=other, dport=port, flags=flags))
        out.append(v4() / TCP(sport=port, dport=other, flags=flags, dataofs=8) / Raw(GET))
        out.append(v4() / TCP(sport=port, dport=other, flags="PA") / Raw(GET))
        out.append(v4() / UDP(sport=other, dport=port) / Raw(b"x" * (i % 5)))
        out.append(v4() / UDP(sport=port, dport=other))
    for pair in V4_PAIRS:
        out.append(IP(src=pair[0], dst=pair[1]) / TCP(sport=1234, dport=80, flags="S"))
        out.append(IP(src=pair[0], dst=pair[1]) / UDP(sport=68, dport=67) / Raw(b"\x01" * 20))
        out.append(IP(src=pair[0], dst=pair[1]) / ICMP(type=8))
    for icmp_type in (0, 3, 5, 8, 11, 13):
        out.append(v4() / ICMP(type=icmp_type))
    # fragments: first (MF), middle, last, and the fragment of a DHCP datagram
    out.append(v4(flags="MF") / UDP(sport=68, dport=67) / Raw(b"\x00" * 30))
    out.append(v4(flags="MF", frag=100, proto=17) / Raw(b"\x00\x43\x00\x44" + b"\x00" * 20))
    out.append(v4(frag=185, proto=6) / Raw(b"\x00\x50\x00\x50" + b"\x02" * 20))
    out.append(v4(flags="DF") / TCP(dport=80, flags="S"))
    # IP options (header length 6 words), ttl and proto variants, lengths
    out.append(v4(options=[IPOption_RR()]) / TCP(sport=443, dport=80, flags="S"))
    out.append(v4(options=[IPOption_RR()]) / UDP(sport=67, dport=68))
    for ttl in (0, 1, 3, 4, 5, 7, 64, 255):
        out.append(v4(ttl=ttl) / UDP(sport=1000 + ttl, dport=53) / Raw(b"\x00" * ttl))
    out.append(v4() / GRE() / IP(src="10.0.0.1", dst="10.0.0.2") / ICMP())
    out.append(v4(proto=47) / Raw(b"\x00" * 8))
    out.append(v4() / UDP(sport=4789, dport=4789) / Raw(b"\x08" + b"\x00" * 7))
    out.append(v4(len=600) / Raw(b"\x00" * 10))
    out.append(v4(len=576) / TCP(dport=80))
    for size in (60, 150, 580, 1000, 1100):
        out.append(v4() / UDP(sport=53, dport=rng.choice(PORTS)) / Raw(b"\xab" * size))
    return out


def ipv6_payloads() -> list[ScapyPacket]:
    out: list[ScapyPacket] = []
    for i, (src, dst) in enumerate(V6_PAIRS):
        port = PORTS[(i * 5) % len(PORTS)]
        out.append(IPv6(src=src, dst=dst) / TCP(sport=port, dport=80, flags="S"))
        out.append(IPv6(src=src, dst=dst) / TCP(sport=22, dport=port, flags="A") / Raw(GET))
        out.append(IPv6(src=src, dst=dst) / UDP(sport=546, dport=547) / Raw(b"\x01" * 10))
        out.append(IPv6(src=src, dst=dst) / UDP(sport=68, dport=67))
        out.append(IPv6(src=src, dst=dst) / UDP(sport=port, dport=53))
        out.append(IPv6(src=src, dst=dst) / ICMPv6EchoRequest())
        out.append(IPv6(src=src, dst=dst) / ICMPv6EchoReply())
        out.append(IPv6(src=src, dst=dst) / IPv6ExtHdrFragment(m=1) / UDP(dport=53))
    out.append(IPv6(src=V6_PAIRS[0][0], dst=V6_PAIRS[0][1], nh=0) / Raw(b"\x06\x00" + b"\0" * 6))
    return out


def other_frames() -> list[ScapyPacket]:
    """ARP, LLDP, MPLS, 802.3/LLC, broadcast and multicast Ethernet frames."""
    out: list[ScapyPacket] = []
    for op, (psrc, pdst) in zip((1, 2, 1, 2), V4_PAIRS, strict=False):
        out.append(ether("ff:ff:ff:ff:ff:ff") / ARP(op=op, psrc=psrc, pdst=pdst, hwsrc=MAC_A))
    out.append(ether() / ARP(op=1, psrc="10.0.0.1", pdst="10.0.0.9"))
    out.append(Ether(dst="01:80:c2:00:00:0e", src=MAC_A, type=0x88CC) / Raw(b"\x02\x07" * 8))
    out.append(Ether(dst="01:80:c2:00:00:0e", src=MAC_B, type=0x88CD) / Raw(b"\x00" * 30))
    out.append(ether() / MPLS(label=16, s=1) / IP(src="10.0.0.1", dst="10.0.0.2") / ICMP())
    out.append(ether() / LLC(dsap=0x42, ssap=0x42, ctrl=3) / Raw(b"\x00" * 35))
    for dst in MACS:
        for src in (MAC_A, MAC_B):
            out.append(ether(dst, src) / IP(src="10.0.0.1", dst="224.0.0.1") / UDP(dport=5353))
            out.append(ether(dst, src) / IP(src="10.0.0.3", dst="255.255.255.255")
                       / UDP(sport=68, dport=67))
    return out


def frames(rng: random.Random) -> list[bytes]:
    """Well-formed Ethernet frames: plain, VLAN-tagged (100, 200, QinQ) and MPLS."""
    l3 = ipv4_payloads(rng) + ipv6_payloads()
    out: list[bytes] = []
    for i, p in enumerate(l3):
        dst, src = MACS[i % len(MACS)], (MAC_A, MAC_B)[i % 2]
        out.append(bytes(ether(dst, src) / p))
        if i % 3 == 0:
            out.append(bytes(ether(dst, src) / Dot1Q(vlan=100) / p))
        if i % 5 == 1:
            out.append(bytes(ether(dst, src) / Dot1Q(vlan=200) / p))
        if i % 11 == 2:
            out.append(bytes(ether(dst, src) / Dot1Q(vlan=100) / Dot1Q(vlan=7) / p))
    out += [bytes(f) for f in other_frames()]
    return out


TRUNCATED = [
    ether() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=68, dport=67) / Raw(b"\x01" * 8),
    ether() / IP(src="192.168.1.1", dst="10.0.0.2", options=[IPOption_RR()])
    / TCP(sport=80, dport=8080, flags="PA") / Raw(GET),
    ether() / IP(src="10.0.0.1", dst="10.0.0.2", flags="MF", frag=7, proto=17) / Raw(b"\x00" * 8),
    ether() / IP(src="10.0.0.1", dst="172.16.0.1") / ICMP(type=8),
    ether() / IPv6(src="2001:db8::1", dst="ff02::1") / UDP(sport=546, dport=547),
    ether() / IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(dport=80, flags="S"),
    ether() / IPv6(src="2001:db8::1", dst="2001:db8::2") / ICMPv6EchoRequest(),
    ether() / Dot1Q(vlan=100) / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(dport=80, flags="S"),
    ether() / Dot1Q(vlan=100) / IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(dport=53),
    ether("ff:ff:ff:ff:ff:ff") / ARP(op=1, psrc="10.0.0.1", pdst="10.0.0.2"),
    ether() / MPLS(label=3) / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(dport=53),
]
"""Frames whose every truncation is tried: short packets are where libpcap #430 lives."""


@functools.cache
def generated_packets() -> tuple[bytes, ...]:
    rng = random.Random(SEED)
    whole = frames(rng)
    out: list[bytes] = list(whole)
    for f in TRUNCATED:
        raw = bytes(f)
        out += [raw[:n] for n in range(len(raw))]
    # mutated frames: a few bytes of the headers changed
    for _ in range(250):
        changed = bytearray(rng.choice(whole))
        for _ in range(rng.randint(1, 3)):
            changed[rng.randrange(min(len(changed), 64))] = rng.randrange(256)
        out.append(bytes(changed))
    # random bytes: any length, or an Ethernet header with an interesting type
    for _ in range(150):
        out.append(rng.randbytes(rng.choice([rng.randrange(0, 16), rng.randrange(0, 128),
                                             rng.randrange(0, 1600)])))
    for ethertype in (b"\x08\x00", b"\x86\xdd", b"\x81\x00", b"\x08\x06", b"\x88\x47"):
        for _ in range(20):
            n = rng.randrange(0, 90)
            out.append(bytes(ether())[:12] + ethertype + rng.randbytes(n))
    return tuple(out)


def test_packet_set_covers_the_corpus() -> None:
    """Every corpus program (optimized) accepts some generated packet and drops another."""
    pkts = generated_packets()
    assert len(pkts) > 1000
    for label, prog in corpus_programs():
        if label.endswith("[opt]"):
            assert any(evaluate(prog, p) for p in pkts), f"no generated packet matches {label}"
            assert not all(evaluate(prog, p) for p in pkts), f"every packet matches {label}"


# --------------------------------------------------------------------------- FLT-4 vs Linux


@linux_only
def test_corpus_runs_like_the_kernel(record_property: Callable[[str, object], None]) -> None:
    """FLT-4: for every corpus program and packet, the kernel delivers exactly
    ``min(evaluate(prog, pkt), len(pkt))`` bytes, or drops the packet when it is 0."""
    pkts = generated_packets()
    pairs, accepted = 0, 0
    bad: list[tuple[int, str, bytes, int, int | None]] = []
    for label, prog in corpus_programs():
        with KernelFilter(prog) as kf:
            for pkt in pkts:
                value = evaluate(prog, pkt)
                got = kf.run(pkt)
                pairs += 1
                accepted += value != 0
                if got != expected_delivery(value, pkt):
                    bad.append((len(pkt), label, pkt, value, got))
    record_property("filter_packet_pairs", pairs)
    print(f"\nFLT-4 vs Linux: {pairs} (filter, packet) pairs, {accepted} accepted, "
          f"{pairs - len(bad)} agree ({100 * (pairs - len(bad)) / pairs:.2f}%)")
    assert pairs >= len(corpus()) * 2 * 1000
    if bad:
        n, label, pkt, value, got = min(bad, key=lambda b: (b[0], b[1]))
        pytest.fail(f"{len(bad)} disagreements of {pairs}; smallest: {label} on "
                    f"{pkt.hex()} ({n} bytes): evaluate {value}, kernel delivered {got}")


# --------------------------------------------------------------------------- FLT-7: #430


@linux_only
def test_libpcap_430_optimizer_changes_dhcp_filter() -> None:
    """libpcap #430: the optimized ``udp and (port 67 or port 68)`` differs from the
    unoptimized one on a short packet; Z3 finds it, the interpreter and the kernel agree."""
    e = corpus_entry(DHCP)
    opt, unopt = parse_ddd(e["ddd"]), parse_ddd(e["ddd_unoptimized"])
    witness = difference(unopt, opt)
    assert isinstance(witness, bytes)
    v_unopt, v_opt = evaluate(unopt, witness), evaluate(opt, witness)
    assert v_unopt != v_opt
    k_unopt, k_opt = kernel_run(unopt, witness), kernel_run(opt, witness)
    assert k_unopt == expected_delivery(v_unopt, witness)
    assert k_opt == expected_delivery(v_opt, witness)
    assert k_unopt != k_opt
    print(f"\n#430 witness ({len(witness)} bytes): {witness.hex()}; unoptimized "
          f"{v_unopt} (kernel {k_unopt}), optimized {v_opt} (kernel {k_opt})")


# --------------------------------------------------------------------------- FLT-2/3 vs Linux

EDGE_K = [0, 1, 2, 3, 4, 7, 8, 12, 14, 15, 16, 17, 20, 23, 31, 32, 33, 63, 64, 255, 256, 1500,
          2048, 0x7FFFFFFF, 0x80000000, 0xFFE00000, 0xFFF00000, 0xFFFFF000, 0xFFFFF004,
          0xFFFFF00C, 0xFFFFF024, 0xFFFFF038, 0xFFFFF03C, 0xFFFFF040, 0xFFFFF0FF, 0xFFFFFFFF]
SORTED_CODES = sorted(VALID_CODES)
LD_MEM, LDX_MEM, ST, STX, JA, RET_K, RET_A = 0x60, 0x61, 0x02, 0x03, 0x05, 0x06, 0x16


def rand_k(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.5:
        return rng.choice(EDGE_K)
    if r < 0.8:
        return rng.randrange(64)
    return rng.getrandbits(32)


def rand_code(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.7:
        return rng.choice(SORTED_CODES)
    if r < 0.95:
        return rng.randrange(0x100)
    return rng.getrandbits(16)


def rand_off(rng: random.Random, room: int) -> int:
    """A jump offset near the edge of the program (``room`` instructions follow)."""
    return rng.randrange(max(room + 2, 1)) if rng.random() < 0.9 else rng.randrange(256)


def random_program(rng: random.Random) -> Program:
    n = rng.randint(1, 16)
    prog: list[Insn] = []
    for pc in range(n):
        room = n - pc - 1
        prog.append((rand_code(rng), rand_off(rng, room), rand_off(rng, room), rand_k(rng)))
    if rng.random() < 0.85:
        prog[-1] = (rng.choice([RET_K, RET_A]), 0, 0, rng.choice([0, 1, 0xFFFF, 0x40000]))
    return tuple(prog)


def scratch_program(rng: random.Random) -> Program:
    """Stores, loads, jumps and returns only: exercises the scratch-read rule (FLT-2.8)."""
    n = rng.randint(2, 10)
    prog: list[Insn] = []
    for pc in range(n - 1):
        room = n - pc - 1
        kind = rng.choice(["st", "st", "ld", "ld", "jmp", "jmp", "ja", "ret", "alu"])
        slot = rng.randrange(3)
        if kind == "st":
            prog.append((rng.choice([ST, STX]), 0, 0, slot))
        elif kind == "ld":
            prog.append((rng.choice([LD_MEM, LDX_MEM]), 0, 0, slot))
        elif kind == "jmp":
            prog.append((0x15, rng.randrange(room), rng.randrange(room), rng.randrange(3)))
        elif kind == "ja":
            prog.append((JA, 0, 0, rng.randrange(room)))
        elif kind == "ret":
            prog.append((RET_K, 0, 0, 1))
        else:
            prog.append((0x04, 0, 0, 1))
    prog.append((rng.choice([RET_K, RET_A]), 0, 0, 1))
    return tuple(prog)


def insert(prog: Program, pos: int, insn: Insn) -> Program:
    """``insn`` inserted before index ``pos``; jumps across the point still reach their
    old targets when the offset fits in its field."""
    out: list[Insn] = []
    for pc, (code, jt, jf, k) in enumerate(prog):
        if pc < pos and code & 0x07 == 0x05:
            if code == JA:
                k = k + 1 if pc + 1 + k >= pos and k < 0xFFFFFFFF else k
            else:
                jt = jt + 1 if pc + 1 + jt >= pos and jt < 255 else jt
                jf = jf + 1 if pc + 1 + jf >= pos and jf < 255 else jf
        out.append((code, jt, jf, k))
    out.insert(pos, insn)
    return tuple(out)


def mutate(rng: random.Random, prog: Program) -> Program:
    """One to three edits of a corpus program, aimed at the verifier's rules."""
    p = list(prog)
    for _ in range(rng.randint(1, 3)):
        n = len(p)
        i = rng.randrange(n)
        code, jt, jf, k = p[i]
        what = rng.randrange(14)
        if what == 0:  # flip an opcode bit
            p[i] = (code ^ (1 << rng.randrange(16 if rng.random() < 0.2 else 8)), jt, jf, k)
        elif what == 1:  # branch offsets
            p[i] = (code, rand_off(rng, n - i - 1), rand_off(rng, n - i - 1), k)
        elif what == 2:  # constant
            p[i] = (code, jt, jf, rand_k(rng))
        elif what == 3:  # truncate
            p = p[: rng.randint(0, n - 1)] or [p[0]]
        elif what == 4:  # read scratch memory, maybe before any write
            p = list(insert(tuple(p), i, (rng.choice([LD_MEM, LDX_MEM]), 0, 0,
                                          rng.choice([0, 1, 2, 15, 16]))))
        elif what == 5:  # write scratch memory
            p = list(insert(tuple(p), i, (rng.choice([ST, STX]), 0, 0, rng.choice([0, 1, 16]))))
        elif what == 6:  # division or modulo by a constant, maybe 0
            p = list(insert(tuple(p), i, (rng.choice([0x34, 0x94]), 0, 0, rng.choice([0, 1, 7]))))
        elif what == 7:  # constant shift, maybe 32 or more
            p = list(insert(tuple(p), i, (rng.choice([0x64, 0x74]), 0, 0,
                                          rng.choice([0, 1, 31, 32, 33, 0xFFFFFFFF]))))
        elif what == 8:  # shift or divide by X
            p = list(insert(tuple(p), i, (rng.choice([0x6C, 0x7C, 0x3C, 0x9C]), 0, 0, 0)))
        elif what == 9:  # unconditional jump, maybe out of range
            p = list(insert(tuple(p), i, (JA, 0, 0, rng.choice([0, 1, n - i - 1, n - i,
                                                                 n - i + 1, 0xFFFFFFFF]))))
        elif what == 10:  # negative / ancillary offsets
            ld = rng.choice([0x20, 0x28, 0x30, 0x40, 0x48, 0x50])
            p = list(insert(tuple(p), i, (ld, 0, 0, rng.choice(EDGE_K[-12:]))))
        elif what == 11:  # a return in the middle (dead code follows)
            p = list(insert(tuple(p), i, (rng.choice([RET_K, RET_A]), 0, 0, 0)))
        elif what == 12:  # drop an instruction
            if n > 1:
                del p[i]
        else:  # replace the last instruction
            p[-1] = (rand_code(rng), 0, 0, rand_k(rng))
    return tuple(p)


def opcode_scan(rng: random.Random) -> Iterable[Program]:
    """Every code below 0x200 (and 2000 random others) between a store and a return."""
    codes = list(range(0x200)) + [rng.randrange(0x200, 0x10000) for _ in range(2000)]
    for code in codes:
        for k in (0, 1):
            yield ((ST, 0, 0, 0), (code, 0, 0, k), (RET_A, 0, 0, 0))


def offset_program(rng: random.Random) -> Program:
    """Packet loads at offsets past 2**31: ``LDX MSH`` with any constant, or an indirect
    load after ``ldx #K`` (X + k may reach 2**31 or wrap); the result is returned."""
    size = rng.choice([0x00, 0x08, 0x10])
    tail: tuple[Insn, ...] = ((0x04, 0, 0, rng.choice([0, 1])), (RET_A, 0, 0, 0))
    if rng.random() < 0.3:
        return ((0xB1, 0, 0, rand_k(rng)), (0x87, 0, 0, 0), *tail)
    x = rng.choice(EDGE_K) if rng.random() < 0.7 else rng.getrandbits(32)
    return ((0x01, 0, 0, x), (0x40 | size, 0, 0, rand_k(rng)), *tail)


@functools.cache
def program_suite() -> tuple[tuple[str, Program], ...]:
    rng = random.Random(SEED)
    out: list[tuple[str, Program]] = [("opcode scan", p) for p in opcode_scan(rng)]
    out += [("random", random_program(rng)) for _ in range(4000)]
    out += [("scratch", scratch_program(rng)) for _ in range(3000)]
    progs = [p for _, p in corpus_programs()]
    out += [("mutated", mutate(rng, rng.choice(progs))) for _ in range(4000)]
    out += [("offsets", offset_program(rng)) for _ in range(600)]
    out.append(("empty", ()))
    out.append(("4097 returns", ((RET_K, 0, 0, 1),) * 4097))
    return tuple(out)


def describe(prog: Program) -> str:
    return "(" + ", ".join(f"({c:#x}, {jt}, {jf}, {k:#x})" for c, jt, jf, k in prog) + ")"


@linux_only
def test_verifier_agrees_with_the_kernel(record_property: Callable[[str, object], None]
                                         ) -> None:
    """FLT-2/FLT-3: Linux accepts => Exo accepts or refuses by FLT-3.1/FLT-3.2 only;
    Linux refuses => Exo refuses."""
    suite = program_suite()
    verdicts: Counter[str] = Counter()
    stricter: Counter[str] = Counter()
    exo_only_for_other_rules: list[tuple[Program, list[Rejection]]] = []
    exo_accepts_kernel_refuses: list[tuple[str, Program, int]] = []
    errnos: Counter[int] = Counter()
    for kind, prog in suite:
        err = kernel_attach_errno(prog)
        rejections = verify(prog)
        if err is not None:
            errnos[err] += 1
        if err is None and not rejections:
            verdicts["both accept"] += 1
        elif err is not None and rejections:
            verdicts["both refuse"] += 1
        elif err is None:
            verdicts["only Exo refuses"] += 1
            rules = {r.rule for r in rejections}
            if rules <= STRICTER_RULES:
                stricter[" + ".join(sorted(rules))] += 1
            else:
                exo_only_for_other_rules.append((prog, rejections))
        else:
            verdicts["only Linux refuses"] += 1
            exo_accepts_kernel_refuses.append((kind, prog, err))
    record_property("programs", len(suite))
    record_property("only_flt3_rejections", sum(stricter.values()))
    print(f"\nFLT-2/3 vs Linux: {len(suite)} programs: {dict(verdicts)}; refused only by "
          f"FLT-3: {sum(stricter.values())} {dict(stricter)}; kernel errnos {dict(errnos)}")
    assert verdicts["both accept"] > 1000 and verdicts["both refuse"] > 1000
    assert sum(stricter.values()) > 0
    if exo_only_for_other_rules:
        prog, rej = min(exo_only_for_other_rules, key=lambda x: len(x[0]))
        pytest.fail(f"{len(exo_only_for_other_rules)} kernel-accepted programs refused by "
                    f"rules other than FLT-3.1/3.2; smallest {describe(prog)}: {rej}")
    if exo_accepts_kernel_refuses:
        kind, prog, err = min(exo_accepts_kernel_refuses, key=lambda x: len(x[1]))
        pytest.fail(f"Exo accepts {len(exo_accepts_kernel_refuses)} programs Linux refuses; "
                    f"smallest ({kind}): {describe(prog)} (errno {err})")


def test_verifier_limits() -> None:
    """FLT-2.1 at the boundary (the kernel accepts 4096 returns and refuses 4097)."""
    assert verify(((RET_K, 0, 0, 1),) * 4096) == []
    assert [r.rule for r in verify(((RET_K, 0, 0, 1),) * 4097)] == ["FLT-2.1"]
    assert [r.rule for r in verify(())] == ["FLT-2.1"]


@linux_only
def test_verifier_limits_in_the_kernel() -> None:
    assert kernel_attach_errno(((RET_K, 0, 0, 1),) * 4096) is None
    assert kernel_attach_errno(((RET_K, 0, 0, 1),) * 4097) is not None
    assert kernel_attach_errno(()) is not None


SCRATCH_AFTER_RETURN: list[Program] = [
    # ret #0; ld M[0]; ret a: the load is dead code, but Linux's linear scan carries the
    # (empty) set of written slots across the return and refuses it
    ((RET_K, 0, 0, 0), (LD_MEM, 0, 0, 0), (RET_A, 0, 0, 0)),
    # M[0] is written on the only path to the load, but the instruction before it is a
    # return: Linux intersects the fall-through state (nothing written) and refuses
    ((0x00, 0, 0, 0), (0x15, 0, 2, 0), (ST, 0, 0, 0), (JA, 0, 0, 1), (RET_K, 0, 0, 0),
     (LD_MEM, 0, 0, 0), (RET_A, 0, 0, 0)),
]


@linux_only
@pytest.mark.parametrize("prog", SCRATCH_AFTER_RETURN, ids=["dead-load", "load-after-ret"])
def test_scratch_reads_after_a_return_are_refused_like_linux(prog: Program) -> None:
    """FLT-2.8 must be at least as strict as Linux's ``check_load_and_stores``: a program
    Exo accepts must attach in Linux."""
    assert kernel_attach_errno(prog) is not None
    assert [r.rule for r in verify(prog)] == ["FLT-2.8"]


# ------------------------------------------------------------------ FLT-4 on random programs

RUN_PACKETS: list[bytes] = [
    b"",
    b"\x05",
    bytes(range(1, 65)),
    bytes(TRUNCATED[0]),
    bytes(TRUNCATED[4]),
    bytes(TRUNCATED[0])[:30],
]


def trace(prog: Program, pkt: bytes) -> tuple[int, bool]:
    """An independent concrete libpcap-semantics interpreter for verified programs: the
    return value, and whether the run reached a packet load at an offset of 2**31 or more
    (``LDX|B|MSH`` with such a ``k``, or ``LD|IND`` with ``X + k`` that large): the cases
    spec/filters.md (FLT-3, "Not covered yet") lists as read differently by Linux."""
    a = x = 0
    mem = [0] * 16
    pc, n, big = 0, len(pkt), False
    while True:
        code, jt, jf, k = prog[pc]
        cls, pc = code & 0x07, pc + 1
        if cls == 0x06:
            return (k if code == RET_K else a), big
        if cls in (0x00, 0x01):
            mode, size = code & 0xE0, {0x00: 4, 0x08: 2, 0x10: 1}[code & 0x18]
            if mode in (0x20, 0x40, 0xA0):
                off = k + x if mode == 0x40 else k
                big = big or off >= 1 << 31
                if off + size > n:
                    return 0, big
                v = int.from_bytes(pkt[off:off + size], "big")
                if mode == 0xA0:
                    x = (v & 0xF) * 4
                else:
                    a = v
                continue
            v = k if mode == 0x00 else n if mode == 0x80 else mem[k]
            if cls == 0x00:
                a = v
            else:
                x = v
        elif cls in (0x02, 0x03):
            mem[k] = a if cls == 0x02 else x
        elif cls == 0x07:
            a, x = (a, a) if code == 0x07 else (x, x)
        elif cls == 0x04:
            op, b = code & 0xF0, x if code & 0x08 else k
            if op in (0x30, 0x90) and b == 0:
                return 0, big
            ops: dict[int, Callable[[int, int], int]] = {
                0x00: lambda p, q: p + q, 0x10: lambda p, q: p - q,
                0x20: lambda p, q: p * q, 0x30: lambda p, q: p // q,
                0x40: lambda p, q: p | q, 0x50: lambda p, q: p & q,
                0x60: lambda p, q: p << q, 0x70: lambda p, q: p >> q,
                0x80: lambda p, q: -p, 0x90: lambda p, q: p % q, 0xA0: lambda p, q: p ^ q}
            a = ops[op](a, b) & 0xFFFFFFFF
        elif code == JA:
            pc += k
        else:
            op, b = code & 0xF0, x if code & 0x08 else k
            taken = (a == b if op == 0x10 else a > b if op == 0x20 else a >= b if op == 0x30
                     else a & b != 0)
            pc += jt if taken else jf


@linux_only
def test_verified_programs_run_like_the_kernel(record_property: Callable[[str, object], None]
                                               ) -> None:
    """FLT-4 on arbitrary programs both verifiers accept: ``evaluate`` equals an independent
    libpcap interpreter, and the kernel delivers ``min(evaluate, len)`` bytes or drops when
    it is 0, except where the run loads at an offset of 2**31 or more (the documented gap
    of spec/filters.md FLT-3, counted and printed)."""
    rng = random.Random(SEED + 1)
    progs = [p for _, p in program_suite() if p and not verify(p)]
    pairs, gap_runs = 0, 0
    gap: list[tuple[int, Program, bytes, int, int | None]] = []
    bad: list[tuple[int, Program, bytes, int, int | None]] = []
    for prog in progs:
        try:
            kf = KernelFilter(prog)
        except OSError:
            continue  # refused by Linux: test_verifier_agrees_with_the_kernel reports it
        with kf:
            for pkt in [*RUN_PACKETS, rng.randbytes(rng.randrange(80))]:
                value = evaluate(prog, pkt)
                independent, big_offset = trace(prog, pkt)
                assert value == independent, (describe(prog), pkt.hex())
                got = kf.run(pkt)
                pairs += 1
                gap_runs += big_offset
                if got != expected_delivery(value, pkt):
                    row = (len(prog) * 1000 + len(pkt), prog, pkt, value, got)
                    (gap if big_offset else bad).append(row)
    record_property("random_program_packet_pairs", pairs)
    record_property("documented_gap_disagreements", len(gap))
    print(f"\nFLT-4 on random verified programs: {pairs} pairs, {len(bad)} disagree; "
          f"{gap_runs} load at offsets >= 2**31, of which {len(gap)} disagree with Linux "
          f"(documented, spec/filters.md FLT-3)")
    assert pairs > 5000
    assert gap, "the offsets family no longer reaches the documented gap"
    if bad:
        _, prog, pkt, value, got = min(bad, key=lambda b: b[0])
        pytest.fail(f"{len(bad)} of {pairs} disagree; smallest: {describe(prog)} on "
                    f"{pkt.hex()!r}: evaluate {value}, kernel delivered {got}")


DOCUMENTED_GAP: list[tuple[Program, bytes]] = [
    # ldx #0xffffffff; ldb [x + 1]; ret a: Linux adds X + k in 32 bits (offset 0, loads 5)
    (((0x01, 0, 0, 0xFFFFFFFF), (0x50, 0, 0, 1), (RET_A, 0, 0, 0)), b"\x05"),
    # ldx #0xfff00000 (SKF_NET_OFF); ldb [x]; ret a: Linux reads the network header (5)
    (((0x01, 0, 0, 0xFFF00000), (0x50, 0, 0, 0), (RET_A, 0, 0, 0)), b"\x05"),
]


@linux_only
@pytest.mark.parametrize("case", DOCUMENTED_GAP, ids=["ind-wraps-to-0", "ind-skf-net-off"])
def test_documented_gap_indirect_offsets_past_2_31(case: tuple[Program, bytes]) -> None:
    """spec/filters.md FLT-3 "Not covered yet": an indirect load whose run-time X + k
    reaches 2**31 or wraps passes the verifier (X is not known statically); Linux loads
    (from the packet or its network header) while the model follows libpcap and returns
    0. This pins the disagreement: when FLT-3/FLT-4 close it, change the test."""
    prog, pkt = case
    assert verify(prog) == []
    assert kernel_run(prog, pkt) == 1
    assert evaluate(prog, pkt) == 0
    assert trace(prog, pkt) == (0, True)


MSH_NEGATIVE: Program = ((0xB1, 0, 0, 0xFFF00000), (0x87, 0, 0, 0), (RET_A, 0, 0, 0))
"""ldxb 4*([0xfff00000]&0xf); txa; ret a: Linux reads the byte at the network header."""


@linux_only
def test_msh_with_negative_offset_is_refused() -> None:
    """FLT-3.1 covers ``LDX|B|MSH`` too: Linux accepts it and, on b"\\x05", loads 5 from
    the network header (X = 20, one byte delivered) where libpcap returns 0."""
    assert kernel_attach_errno(MSH_NEGATIVE) is None
    assert kernel_run(MSH_NEGATIVE, b"\x05") == 1
    assert [r.rule for r in verify(MSH_NEGATIVE)] == ["FLT-3.1"]
