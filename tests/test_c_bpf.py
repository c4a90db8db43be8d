"""The C kernel's classic BPF (examples/c-kernel/bpf.c) against the model's: ``bpf_verify``
accepts exactly the programs ``exo.model.filters.verify`` accepts (FLT-2, FLT-3), and
``bpf_run`` returns what ``exo.model.filters.evaluate`` returns (FLT-4), on the tcpdump
corpus, the kit's samples and thousands of random programs (valid and invalid) on random
packets, short ones included. A build with a planted difference (``-DEXO_BPF_PLANTED``)
is reported, so the comparison can fail.

Then the kernel's packet filters over the wire (NET-1..NET-4, FLT-9): it passes the kit
in the solver-free profile (``filters="declarative"``), answers ``UNDECIDED`` for a pair
outside FLT-9's class, and its planted filter bug (``make BROKEN=filter``) is caught.

The driver ``examples/c-kernel/bpf_test.c`` is built with cc into a temporary directory.
Skipped where no C compiler is installed (the kernel's tests: no make or Jansson), except
in CI (``CI`` set), where a missing toolchain is a failure."""

from __future__ import annotations

import functools
import json
import os
import random
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest

from exo.interface import Config, Outcome, Status
from exo.kit.bpf_samples import SAMPLES
from exo.kit.bringup import parse_ops
from exo.kit.check import run_check
from exo.model.dfilter import recognized
from exo.model.filters import VALID_CODES, Insn, Program, evaluate, parse_ddd, verify
from exo.wire.client import WireKernel
from tests.test_filter_oracles import (
    mutate,  # edits aimed at the verifier's rules
    scratch_program,  # FLT-2.8's scratch-read pass
)

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "examples" / "c-kernel"
CORPUS = ROOT / "tests" / "data" / "bpf_corpus.json"
SEED = 20260107

_TOOLS = shutil.which("cc") is not None
_KERNEL_TOOLS = _TOOLS and shutil.which("make") is not None and Path(
    "/usr/include/jansson.h").exists()

if not _KERNEL_TOOLS and os.environ.get("CI"):
    raise RuntimeError("CI must install make, cc and libjansson-dev (see .ci/run)")
pytestmark = pytest.mark.skipif(not _TOOLS, reason="needs cc")
needs_kernel = pytest.mark.skipif(not _KERNEL_TOOLS, reason="needs make and libjansson-dev")
ALL_OPS = parse_ops("ENV,MEM,TLB,CPU,PCT,EXC,REV,NET")

Case = tuple[Program, tuple[bytes, ...]]

# ------------------------------------------------------------------ building the driver

CFLAGS = ["-std=c11", "-O2", "-Wall", "-Wextra", "-Wpedantic", "-Werror"]


def _build(out: Path, planted: bool) -> Path:
    exe = out / ("bpf_test_planted" if planted else "bpf_test")
    subprocess.run(["cc", *CFLAGS, *(["-DEXO_BPF_PLANTED"] if planted else []),
                    "-o", str(exe), str(SRC / "bpf_test.c"), str(SRC / "bpf.c")], check=True)
    return exe


@pytest.fixture(scope="module")
def drivers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("c-bpf")
    return {"good": _build(out, False), "planted": _build(out, True)}


def _program_hex(prog: Program) -> str:
    """WIRE-6's layout: per instruction code (2 bytes), jt, jf, k (4), big-endian."""
    text = b"".join(c.to_bytes(2, "big") + bytes([jt, jf]) + k.to_bytes(4, "big")
                    for c, jt, jf, k in prog).hex()
    return text or "-"


def run_c(driver: Path, cases: list[Case]) -> list[tuple[int, list[int]]]:
    """The driver's verdict and return values, one per case."""
    text = "".join(" ".join([_program_hex(p), *(pkt.hex() or "-" for pkt in pkts)]) + "\n"
                   for p, pkts in cases)
    out = subprocess.run([str(driver)], input=text, capture_output=True, text=True,
                         check=True, timeout=600).stdout.splitlines()
    assert len(out) == len(cases)
    got = []
    for line in out:
        first, *rest = line.split()
        got.append((int(first), [int(v) for v in rest]))
    return got


def run_py(cases: list[Case]) -> list[tuple[int, list[int]]]:
    """The model's verdict (FLT-2, FLT-3) and return values (FLT-4)."""
    out = []
    for prog, pkts in cases:
        ok = not verify(prog)
        out.append((int(ok), [evaluate(prog, p) for p in pkts] if ok else []))
    return out


def differences(driver: Path, cases: list[Case]) -> list[str]:
    """Every case where the C verifier or interpreter and the model's disagree."""
    bad = []
    for (prog, pkts), c, py in zip(cases, run_c(driver, cases), run_py(cases), strict=True):
        if c[0] != py[0]:
            bad.append(f"verify {describe(prog)}: C says {c[0]}, the model {py[0]}")
            continue
        for pkt, cv, pv in zip(pkts if py[0] else (), c[1], py[1], strict=True):
            if cv != pv:
                shown = pkt.hex() if len(pkt) <= 40 else pkt[:40].hex() + f"... ({len(pkt)} bytes)"
                bad.append(f"run {describe(prog)} on {shown or '(empty)'}: "
                           f"C returns {cv}, the model {pv}")
    return bad


def describe(prog: Program) -> str:
    return "(" + ", ".join(f"({c:#x}, {jt}, {jf}, {k:#x})" for c, jt, jf, k in prog) + ")"


# ------------------------------------------------------------------ packets

def frame(rng: random.Random) -> bytes:
    """An Ethernet frame of the kind the corpus filters test: IPv4 (header length 20 to
    60, maybe a fragment), IPv6 or ARP, TCP or UDP with ports they name."""
    ports = [22, 53, 67, 68, 80, 443, 4789, rng.randrange(65536)]
    kind = rng.choice(["ip", "ip", "ip", "ip6", "arp", "other"])
    eth = bytes(6) + bytes([2, 0, 0, 0, 0, 1])
    proto = rng.choice([6, 17, 17, 1, 132, rng.randrange(256)])
    l4 = (rng.choice(ports).to_bytes(2, "big") + rng.choice(ports).to_bytes(2, "big")
          + rng.randbytes(rng.choice([4, 16, 30])))
    if kind == "ip":
        ihl = rng.choice([5, 5, 5, 6, 15, rng.randrange(16)])
        frag = rng.choice([0, 0, 0, 0x2000, 0x0010, rng.randrange(0x10000)])
        hdr = (bytes([0x40 | ihl, 0]) + (20 + len(l4)).to_bytes(2, "big") + bytes(2)
               + frag.to_bytes(2, "big") + bytes([64, proto]) + bytes(2) + rng.randbytes(8)
               + bytes(max(0, 4 * ihl - 20)))
        body = b"\x08\x00" + hdr + l4
    elif kind == "ip6":
        body = (b"\x86\xdd" + bytes([0x60, 0, 0, 0]) + len(l4).to_bytes(2, "big")
                + bytes([rng.choice([6, 17, 44, 0]), 64]) + rng.randbytes(32) + l4)
    elif kind == "arp":
        body = b"\x08\x06" + rng.randbytes(28)
    else:
        body = rng.randbytes(2) + rng.randbytes(rng.randrange(60))
    whole = eth + body
    if rng.random() < 0.3:  # cut: the out-of-bounds aborts decide the verdict
        whole = whole[:rng.randrange(len(whole) + 1)]
    return whole


def packets(rng: random.Random, count: int) -> tuple[bytes, ...]:
    out = []
    for _ in range(count):
        r = rng.random()
        if r < 0.45:
            out.append(frame(rng))
        elif r < 0.75:
            out.append(rng.randbytes(rng.randrange(16)))  # short
        elif r < 0.95:
            out.append(rng.randbytes(rng.randrange(16, 90)))
        else:
            out.append(rng.randbytes(rng.randrange(90, 1600)))
    return tuple(out)


# ------------------------------------------------------------------ programs

LD_MEM, LDX_MEM, ST, STX, JA, RET_K, RET_A = 0x60, 0x61, 0x02, 0x03, 0x05, 0x06, 0x16
CODES = sorted(VALID_CODES)
EDGE_K = [0, 1, 2, 3, 4, 7, 8, 12, 14, 15, 16, 20, 23, 31, 32, 33, 64, 255, 256, 1500,
          2048, 0x7FFFFFFF, 0x80000000, 0xFFF00000, 0xFFFFF000, 0xFFFFFFF0, 0xFFFFFFFC,
          0xFFFFFFFF]


def rand_k(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.4:
        return rng.choice(EDGE_K)
    if r < 0.85:
        return rng.randrange(64)
    return rng.getrandbits(32)


def valid_insn(rng: random.Random, pc: int, n: int, written: set[int]) -> Insn:
    """An instruction at ``pc`` that the verifier's per-instruction rules admit."""
    room = n - pc - 2  # jump offsets that stay in the program
    while True:
        code = rng.choice(CODES)
        cls, op, by_x = code & 7, code & 0xF0, code & 0x08
        k = rand_k(rng)
        jt = jf = 0
        if cls == 4 and op in (0x60, 0x70):  # shifts: by a constant below 32 only
            if by_x:
                continue
            k %= 32
        if cls == 4 and op in (0x30, 0x90) and not by_x and k == 0:
            k = rng.choice([1, 2, 3, 7, 0xFFFFFFFF])
        if code in (LD_MEM, LDX_MEM):
            if not written:
                continue
            k = rng.choice(sorted(written))
        if code in (ST, STX):
            k = rng.randrange(16)
            written.add(k)
        if code in (0x20, 0x28, 0x30, 0x40, 0x48, 0x50, 0xB1):
            k = rng.choice([rng.randrange(64), rng.randrange(64), rng.choice(EDGE_K[:21])])
        if cls == 5:
            if room < 0:
                continue
            if code == JA:
                k = rng.randint(0, room)
            else:
                jt, jf = rng.randint(0, min(room, 255)), rng.randint(0, min(room, 255))
        if cls == 6:
            k = rng.choice([0, 1, 0xFFFF, 0x40000, rand_k(rng)])
        return (code, jt, jf, k)


def valid_program(rng: random.Random) -> Program:
    """A program meant to pass the verifier: forward jumps in range, stores before scratch
    loads (on straight-line paths; jumps around a store still make FLT-2.8 refuse some),
    no division by a constant 0, constant shifts below 32, a return at the end."""
    n = rng.randint(1, 24)
    written: set[int] = set()
    prog = [valid_insn(rng, pc, n, written) for pc in range(n - 1)]
    prog.append((rng.choice([RET_K, RET_A]), 0, 0, rng.choice([0, 1, 0xFFFF, 0x40000])))
    return tuple(prog)


def offsets_program(rng: random.Random) -> Program:
    """An indirect load after ``ldx #K`` whose X + k may reach or pass 2**32 (libpcap:
    out of bounds; Linux wraps), or an ``ldxb`` then ``txa``; the value is returned."""
    if rng.random() < 0.3:
        return ((0xB1, 0, 0, rng.randrange(24)), (0x87, 0, 0, 0), (RET_A, 0, 0, 0))
    x = rng.choice([0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFF0, 0x80000000, 0x7FFFFFFF, 1, 0])
    size = rng.choice([0x00, 0x08, 0x10])
    return ((0x01, 0, 0, x), (0x40 | size, 0, 0, rng.randrange(24)),
            (0x04, 0, 0, 1), (RET_A, 0, 0, 0))


def random_program(rng: random.Random) -> Program:
    """Fields drawn with no regard for the rules: mostly refused."""
    n = rng.randint(1, 12)
    prog = [(rng.choice(CODES) if rng.random() < 0.8 else rng.getrandbits(16),
             rng.randrange(n + 1), rng.randrange(n + 1), rand_k(rng)) for _ in range(n)]
    if rng.random() < 0.8:
        prog[-1] = (rng.choice([RET_K, RET_A]), 0, 0, 1)
    return tuple(prog)


@functools.cache
def corpus_programs() -> tuple[Program, ...]:
    entries = json.loads(CORPUS.read_text())
    return tuple(parse_ddd(e[key]) for e in entries for key in ("ddd", "ddd_unoptimized"))


def limits() -> Iterable[Program]:
    """FLT-2.1's edges and the last instruction (FLT-2.7)."""
    yield ()
    yield ((RET_K, 0, 0, 1),) * 4096
    yield ((RET_K, 0, 0, 1),) * 4097
    yield ((0x00, 0, 0, 1),)
    yield ((0x00, 0, 0, 1), (0x07, 0, 0, 0))
    yield ((JA, 0, 0, 0), (RET_A, 0, 0, 0))
    yield ((JA, 0, 0, 1), (RET_A, 0, 0, 0))


@functools.cache
def cases() -> list[Case]:
    rng = random.Random(SEED)
    out: list[Case] = []
    for prog in corpus_programs():
        out.append((prog, packets(rng, 24)))
    for prog in SAMPLES.values():
        out.append((prog, packets(rng, 24)))
    corpus = corpus_programs()
    for _ in range(4000):
        out.append((valid_program(rng), packets(rng, 6)))
    for _ in range(1500):
        out.append((mutate(rng, rng.choice(corpus)), packets(rng, 4)))
    for _ in range(1000):
        out.append((mutate(rng, valid_program(rng)), packets(rng, 4)))
    for _ in range(1500):
        out.append((random_program(rng), packets(rng, 3)))
    for _ in range(1000):
        out.append((scratch_program(rng), packets(rng, 2)))
    for _ in range(300):
        out.append((offsets_program(rng), tuple(rng.randbytes(rng.randrange(24))
                                                for _ in range(3))))
    out += [(prog, packets(rng, 2)) for prog in limits()]
    return out


# ------------------------------------------------------------------ the tests

def test_the_cases_reach_both_verdicts_and_both_answers() -> None:
    """The comparison means something: many programs pass and many fail the verifier,
    and the passing ones accept some packets and drop others (aborts included)."""
    py = run_py(cases())
    accepted = sum(ok for ok, _ in py)
    values = [v for ok, vs in py if ok for v in vs]
    assert accepted > 3000 and len(py) - accepted > 2000, (accepted, len(py))
    assert sum(v != 0 for v in values) > 3000 and sum(v == 0 for v in values) > 3000
    assert all(not verify(p) for p in corpus_programs())


def test_bpf_verify_and_bpf_run_agree_with_the_model(drivers: dict[str, Path]) -> None:
    """FLT-2, FLT-3: the same verdict on every program; FLT-4: the same return value on
    every packet of every accepted program."""
    bad = differences(drivers["good"], cases())
    assert not bad, f"{len(bad)} differences, first: {bad[:5]}"


def test_a_planted_difference_is_reported(drivers: dict[str, Path]) -> None:
    """``-DEXO_BPF_PLANTED`` makes an indirect load add X + k in 32 bits (Linux) instead
    of without wrap-around (libpcap, FLT-4): the comparison must report it."""
    bad = differences(drivers["planted"], cases())
    assert bad and all(b.startswith("run ") for b in bad), bad[:5]


# ------------------------------------------------------------------ the kernel's filters


@pytest.fixture(scope="module")
def kernels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("c-kernel-net")
    built = {}
    for name, flags in (("good", []), ("broken-filter", ["BROKEN=filter"])):
        target = out / f"exo-c-kernel-{name}"
        subprocess.run(["make", "-s", "-C", str(SRC), f"TARGET={target}", *flags],
                       check=True)
        built[name] = target
    return built


@needs_kernel
def test_the_kernel_passes_the_kit_in_the_solver_free_profile(kernels: dict[str, Path]
                                                               ) -> None:
    report = run_check(WireKernel.factory(str(kernels["good"])), None, steps=30,
                       examples=40, seed=3, ops=ALL_OPS, filters="declarative")
    WireKernel.close_all()
    assert report.passed, report.error


@needs_kernel
def test_the_planted_filter_bug_is_caught(kernels: dict[str, Path]) -> None:
    """``make BROKEN=filter``: the overlap check skips slot 0, so a filter that clashes
    with the one there is installed (or refused with a witness that filter rejects)."""
    report = run_check(WireKernel.factory(str(kernels["broken-filter"])), None, steps=30,
                       examples=40, seed=3, ops=ALL_OPS, filters="declarative")
    WireKernel.close_all()
    assert not report.passed
    assert "filter_install" in (report.error or "")
    assert report.program


ACCEPT_ALL: Program = ((0x06, 0, 0, 1),)


def first_byte_is(v: int) -> Program:
    """FLT-9's class: accept the packets whose byte 0 is ``v``."""
    return ((0x30, 0, 0, 0), (0x15, 0, 1, v), (0x06, 0, 0, 0xFFFF), (0x06, 0, 0, 0))


@needs_kernel
def test_filters_and_rings_over_the_wire(kernels: dict[str, Path]) -> None:
    """NET-1..NET-4 and ENV-2 on one small run: the lowest free slot, OVERLAP with a
    witness both programs accept, UNDECIDED for a program outside FLT-9's class (the
    kernel has no solver), arrival in slot order, the ring's wrap, and destroy."""
    outside = SAMPLES["ip_len_div"]
    assert recognized(outside) is None and not verify(outside)
    k = WireKernel([str(kernels["good"])], Config(n_envs=3, n_filters=3, ring_size=2))
    try:
        assert k.apply("packet_take", 0).status == Status.NO_SUCH_ENV
        for env in (0, 1):
            assert k.apply("env_create", env, env).status == Status.OK
        assert k.apply("filter_install", 0, first_byte_is(1)).value == 0
        clash = k.apply("filter_install", 1, ACCEPT_ALL)
        assert clash.status == Status.OVERLAP and type(clash.value) is str
        witness = bytes.fromhex(clash.value)
        assert evaluate(ACCEPT_ALL, witness) and evaluate(first_byte_is(1), witness)
        assert k.apply("filter_install", 1, outside).status == Status.UNDECIDED
        assert k.apply("filter_install", 0, outside).value == 1  # same env: no pair
        # a declarative program against another env's filter outside the class
        assert k.apply("filter_install", 1, first_byte_is(2)).status == Status.UNDECIDED
        assert k.apply("filter_remove", 0, 1).status == Status.OK
        assert k.apply("filter_install", 1, first_byte_is(2)).value == 1
        assert k.apply("filter_install", 1, first_byte_is(3)).value == 2
        assert k.apply("filter_install", 0, first_byte_is(4)).status == Status.NO_SPACE
        arrivals = [k.apply("packet_arrive", bytes([b, 9])).value for b in (2, 2, 2, 1, 5)]
        assert arrivals == [Outcome.RX_DELIVERED, Outcome.RX_DELIVERED,
                            Outcome.RX_RING_FULL, Outcome.RX_DELIVERED,
                            Outcome.RX_NO_MATCH]
        assert k.apply("packet_take", 1).value == bytes([2, 9])
        assert k.apply("packet_arrive", bytes([2, 7])).value == Outcome.RX_DELIVERED
        assert [k.apply("packet_take", 1).value for _ in range(2)] == [bytes([2, 9]),
                                                                       bytes([2, 7])]
        assert k.apply("packet_take", 1).status == Status.EMPTY
        seen = k.observe()
        assert seen["rx_head"][1] == 1 and seen["rx_drops"][1] == 1
        assert seen["kernel_drops"] == 1 and seen["filter_code"][1] == first_byte_is(2)
        assert k.apply("env_destroy", 1).status == Status.OK
        seen = k.observe()
        assert [bool(seen["filter_valid"].get(f)) for f in range(3)] == [True, False, False]
        assert not seen["rx_drops"].get(1) and not seen["rx_head"].get(1)
    finally:
        WireKernel.close_all()
