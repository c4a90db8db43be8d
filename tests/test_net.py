"""Packet filters in the exokernel (NET-1..NET-4) and the link between the proofs'
oracles and the real functions: the facts the proofs assume about ``overlaps`` and
``accepts`` hold of the Z3 check and the interpreter, and the fast overlap search agrees
with trying each filter in turn."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from exo.cli import main
from exo.interface import Config, Outcome, Resource, Status
from exo.model import REGISTRY, State, filters, initial
from exo.model.net import _overlaps_concrete, accepts, first_clash
from exo.spec.invariants import check

CORPUS = json.loads((Path(__file__).parent / "data" / "bpf_corpus.json").read_text())
PROGS: dict[str, filters.Program] = {e["expr"]: filters.parse_ddd(e["ddd"]) for e in CORPUS}
CFG = Config(n_envs=3, n_filters=6, ring_size=2)


def ok(s: State, name: str, *args: object) -> State:
    new, res = REGISTRY[name](s, *args)
    assert res.status == Status.OK, (name, res)
    assert check(new) == {}
    return new


def world() -> State:
    s = initial(CFG)
    for e in range(3):
        s = ok(s, "env_create", e, e)
    return s


def frame(dport: int, proto: str = "tcp") -> bytes:
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.l2 import Ether

    layer = TCP(dport=dport) if proto == "tcp" else UDP(dport=dport)
    return bytes(Ether() / IP(src="10.0.0.9", dst="10.0.0.2") / layer)


def test_install_refuses_overlap_with_a_replayed_witness_NET_1() -> None:
    thief = PROGS["host 10.0.0.1 and (tcp port 80 or udp port 53)"]
    s = ok(world(), "filter_install", 0, PROGS["tcp port 80"])
    new, res = REGISTRY["filter_install"](s, 1, thief)
    assert res.status == Status.OVERLAP and new == s
    witness = bytes.fromhex(res.value)
    assert filters.evaluate(PROGS["tcp port 80"], witness) != 0
    assert filters.evaluate(thief, witness) != 0


def test_same_environment_may_overlap_and_disjoint_ones_install_NET_1() -> None:
    s = ok(world(), "filter_install", 0, PROGS["tcp port 80"])
    s = ok(s, "filter_install", 0, PROGS["tcp dst port 443"])
    s = ok(s, "filter_install", 0, PROGS["tcp portrange 8000-8080"])
    s = ok(s, "filter_install", 1, PROGS["udp port 53"])
    assert [s.filter_owner[f] for f in range(4)] == [0, 0, 0, 1]


def test_install_refuses_bad_programs_and_full_tables_NET_1() -> None:
    s = world()
    _, res = REGISTRY["filter_install"](s, 0, ((0x05, 0, 0, 7), (0x06, 0, 0, 0)))
    assert res.status == Status.BAD_PROGRAM
    _, res = REGISTRY["filter_install"](s, 0, ())
    assert res.status == Status.BAD_PROGRAM
    for port in range(CFG.n_filters):
        s = ok(s, "filter_install", 0, filters.parse_ddd(
            f"4\n48 0 0 0\n21 0 1 {port}\n6 0 0 65535\n6 0 0 0\n"))
    _, res = REGISTRY["filter_install"](s, 1, PROGS["udp port 53"])
    assert res.status == Status.NO_SPACE


def test_packets_go_to_the_unique_owner_or_are_counted_NET_3() -> None:
    s = ok(world(), "filter_install", 0, PROGS["tcp port 80"])
    s = ok(s, "filter_install", 1, PROGS["udp port 53"])
    web, dns = frame(80), frame(53, "udp")
    for pkt, owner in ((web, 0), (dns, 1), (web, 0)):
        s, res = REGISTRY["packet_arrive"](s, pkt)
        assert res.value == Outcome.RX_DELIVERED and s.rx_count[owner] >= 1
    s, res = REGISTRY["packet_arrive"](s, web)  # env 0's ring (size 2) is full
    assert res.value == Outcome.RX_RING_FULL and s.rx_drops[0] == 1
    s, res = REGISTRY["packet_arrive"](s, frame(9999))
    assert res.value == Outcome.RX_NO_MATCH and s.kernel_drops == 1
    s, res = REGISTRY["packet_take"](s, 0)
    assert res.status == Status.OK and res.value == web and s.rx_count[0] == 1
    assert check(s) == {}


def test_destroy_and_abort_remove_filters_NET_2() -> None:
    s = ok(world(), "filter_install", 0, PROGS["tcp port 80"])
    s = ok(s, "filter_install", 1, PROGS["udp port 53"])
    s = ok(s, "env_destroy", 0)
    assert not s.filter_valid[0] and s.filter_valid[1]
    s = ok(s, "revoke_request", 1, int(Resource.FILTER), 1, s.now + 1)
    s = ok(s, "timer_tick")
    s = ok(s, "timer_tick")
    s = ok(s, "abort", 1)
    assert not s.filter_valid[1] and s.repo_filter[1, 1]
    s = ok(s, "filter_install", 1, PROGS["udp port 53"])  # reinstalling clears the record
    assert not s.repo_filter[1, 0] or s.filter_owner[0] != 1


# --------------------------------------------------------------------------- oracle facts

PAIRS = list(itertools.combinations(sorted(PROGS)[:14], 2))


@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_overlap_is_symmetric_and_sound(a: str, b: str) -> None:
    """The two axioms the proofs assume of ``overlaps`` (NET-1), on real corpus filters:
    it is symmetric, and filters that both accept some packet overlap."""
    pa, pb = PROGS[a], PROGS[b]
    ab, ba = _overlaps_concrete(pa, pb), _overlaps_concrete(pb, pa)
    assert ab == ba
    rng = random.Random(hash((a, b)) & 0xFFFF)
    packets = [frame(p, t) for p in (22, 53, 67, 80, 443, 8000) for t in ("tcp", "udp")]
    packets += [rng.randbytes(rng.randrange(80)) for _ in range(30)]
    for pkt in packets:
        if accepts(pa, pkt) and accepts(pb, pkt):
            assert ab, f"{a!r} and {b!r} both accept {pkt.hex()} but were found disjoint"


def test_fast_clash_search_agrees_with_trying_each_filter() -> None:
    """``first_clash``'s one-query fast path gives the same answer as ``find`` over the
    per-filter predicate (what the proofs reason about)."""
    s = world()
    names = ["tcp port 80", "udp port 53", "icmp or arp", "tcp dst port 443", "ip6"]
    for i, name in enumerate(names):
        s, _ = REGISTRY["filter_install"](s, i % 2, PROGS[name])
    for name in ["port 22", "udp and (port 67 or port 68)", "tcp portrange 8000-8080",
                 "host 192.168.1.1", "arp"]:
        for env in (0, 1, 2):
            slow = next((j for j in range(CFG.n_filters) if s.filter_valid[j]
                         and s.filter_owner[j] != env
                         and _overlaps_concrete(PROGS[name], s.filter_code[j])), -1)
            assert first_clash(s, env, PROGS[name]) == slow, (name, env)


# --------------------------------------------------------------------------- exo filter


@pytest.fixture
def progfiles(tmp_path: Path) -> dict[str, Path]:
    entry = next(e for e in CORPUS if e["expr"] == "udp and (port 67 or port 68)")
    files = {"opt": tmp_path / "opt.bpf", "unopt": tmp_path / "unopt.bpf",
             "web": tmp_path / "web.raw", "bad": tmp_path / "bad.bpf"}
    files["opt"].write_text(entry["ddd"])
    files["unopt"].write_text(entry["ddd_unoptimized"])
    files["web"].write_bytes(filters.to_raw(PROGS["tcp port 80"]))
    files["bad"].write_text("2\n6 0 0 1\n")
    return files


def test_cli_filter_commands(progfiles: dict[str, Path]) -> None:
    r = CliRunner()
    res = r.invoke(main, ["filter", "verify", str(progfiles["web"])])
    assert res.exit_code == 0 and "accepted" in res.output
    res = r.invoke(main, ["filter", "eval", str(progfiles["web"]), "--packet", frame(80).hex()])
    assert res.exit_code == 0 and int(res.output) > 0
    res = r.invoke(main, ["filter", "overlap", str(progfiles["web"]), str(progfiles["opt"])])
    assert res.exit_code == 0 and res.output.strip() == "disjoint"
    res = r.invoke(main, ["filter", "equiv", str(progfiles["opt"]), str(progfiles["opt"])])
    assert res.exit_code == 0 and "equivalent" in res.output


def test_cli_equiv_shows_libpcap_issue_430(progfiles: dict[str, Path]) -> None:
    res = CliRunner().invoke(main, ["filter", "equiv", str(progfiles["unopt"]),
                                    str(progfiles["opt"])])
    assert res.exit_code == 1 and "differ on" in res.output
    pkt = bytes.fromhex(res.output.split()[2].rstrip(":"))
    assert filters.evaluate(PROGS["udp and (port 67 or port 68)"], pkt) != filters.evaluate(
        filters.parse_ddd(next(e for e in CORPUS if e["expr"] == "udp and (port 67 or port 68)")
                          ["ddd_unoptimized"]), pkt)


@pytest.mark.parametrize("content", [b"2\n6 0 0 1\n", b"hello world\n", b"{ 0x6, 0, 0 },",
                                     b"\x06\x00\x00"])
def test_cli_bad_program_files_are_one_line_exit_2(tmp_path: Path, content: bytes) -> None:
    f = tmp_path / "p"
    f.write_bytes(content)
    res = CliRunner().invoke(main, ["filter", "eval", str(f), "--packet", "00"])
    assert res.exit_code == 2 and res.output.count("\n") == 1 and str(f) in res.output


def test_cli_refused_program_and_stdin(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["filter", "verify", "-"], input="2\n5 0 0 9\n6 0 0 0\n")
    assert res.exit_code == 1 and "FLT-2.6" in res.output


def test_the_same_overlap_question_gets_the_same_witness() -> None:
    """FLT-6/NET-1: the model is a function of its state. Z3 may pick another model for a
    repeated query (seen: four different witnesses in six calls), so answers are cached
    per question; other questions in between do not change the answer."""
    from exo.kit.bpf_samples import SAMPLES

    a, b, c = SAMPLES["tcp_port_80"], SAMPLES["not_port_22"], SAMPLES["dhcp_opt"]
    first = filters.overlap(a, [b])
    assert first is not None
    for _ in range(3):
        filters.overlap(c, [a, b])
        filters.overlap(b, [a])
        assert filters.overlap(a, [b]) == first
    state = initial(Config())
    for name, args in (("env_create", (0, 0)), ("env_create", (1, 1)),
                       ("filter_install", (0, b))):
        state, res = REGISTRY[name](state, *args)
        assert res.status == Status.OK
    results = {REGISTRY["filter_install"](state, 1, a)[1].value for _ in range(3)}
    assert len(results) == 1 and isinstance(results.pop(), str)
