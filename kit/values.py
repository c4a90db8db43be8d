"""The argument values the kit draws: BPF programs that print as their names, Ethernet
frames cut where out-of-bounds aborts decide a filter's verdict, hostile integers and
values of the wrong type, and the strategy for each argument of each operation."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from exo.interface import NUM_EXCEPTIONS, Cap, Config
from exo.kit.bpf_samples import SAMPLES
from exo.kit.explore import PROGRAMS

__all__ = [
    "HOSTILE_INTS",
    "JUNK",
    "NAMED_PROGRAMS",
    "PACKETS",
    "SCENARIOS",
    "Packet",
    "Program",
    "arg_strategy",
    "frames",
    "index_strategy",
]


class Program(tuple[tuple[int, int, int, int], ...]):
    """A BPF program (a tuple of ``(code, jt, jf, k)``) that prints as its short name, so a
    shrunk failure reads like a program rather than a wall of numbers."""

    name: str

    def __new__(cls, name: str, instructions: tuple[Any, ...]) -> Program:
        p = super().__new__(cls, instructions)
        p.name = name
        return p

    def __repr__(self) -> str:
        return self.name


_PROGRAM_NAMES = ("byte0_is_0", "byte0_is_1", "byte0_is_2", "byte0_is_3", "accept_all",
                  "accept_none", "byte1_is_7", "bad_jump")

NAMED_PROGRAMS: tuple[Program, ...] = (
    *(Program(_PROGRAM_NAMES[i] if i < len(_PROGRAM_NAMES) else f"program{i}", p)
      for i, p in enumerate(PROGRAMS)),
    *(Program(name, prog) for name, prog in SAMPLES.items()),
    Program("empty", ()),  # refused by the verifier
    Program("div_by_zero", ((0x34, 0, 0, 0), (0x16, 0, 0, 0))),  # A /= 0: refused
    Program("field_out_of_range", ((0x10000, 0, 0, 0),)),  # not a program: wrong type
)
"""Small BPF programs (exo.kit.explore.PROGRAMS: disjoint, overlapping, refused), real tcpdump
programs (``exo.kit.bpf_samples``: ports, arp, the libpcap #430 pair, a division) and a few
hostile ones, each printing as its name."""


class Packet(bytes):
    """Packet bytes that print as a short description (``ipv4/udp 68>67 cut 32/48``)."""

    name: str

    def __new__(cls, name: str, data: bytes) -> Packet:
        p = super().__new__(cls, data)
        p.name = name
        return p

    def __repr__(self) -> str:
        return self.name


_PORTS = (53, 67, 68, 80, 443, 1234)


@st.composite
def frames(draw: st.DrawFn) -> Packet:
    """An Ethernet frame the sample filters care about — IPv4 (options and fragments
    included) or IPv6 carrying TCP/UDP/ICMP, ARP, or another ethertype — cut at a random
    length half of the time, which is where out-of-bounds aborts (libpcap #430) live."""
    kind = draw(st.sampled_from(["ipv4", "ipv4", "ipv6", "arp", "other"]))
    proto = draw(st.sampled_from([6, 17, 17, 1]))
    sport, dport = draw(st.sampled_from(_PORTS)), draw(st.sampled_from(_PORTS))
    flags = draw(st.sampled_from([0x12, 0x02, 0x10]))
    if proto == 6:
        l4 = (sport.to_bytes(2, "big") + dport.to_bytes(2, "big") + bytes(9) + bytes([flags])
              + bytes(6))
    elif proto == 17:
        l4 = sport.to_bytes(2, "big") + dport.to_bytes(2, "big") + bytes([0, 8, 0, 0])
    else:
        l4 = bytes([8, 0, 0, 0])
    label = {6: f"tcp {sport}>{dport}", 17: f"udp {sport}>{dport}", 1: "icmp"}[proto]
    if kind == "ipv4":
        words = draw(st.sampled_from([5, 5, 6, 15]))  # header length in 32-bit words
        frag = draw(st.sampled_from([0, 0, 0x2000, 3]))  # none, more-fragments, offset 3
        ip = (bytes([0x40 | words, 0]) + (4 * words + len(l4)).to_bytes(2, "big") + bytes(2)
              + frag.to_bytes(2, "big") + bytes([64, proto]) + bytes(2) + bytes([10, 0, 0, 1])
              + bytes([10, 0, 0, 2]) + bytes(4 * (words - 5)))
        body, ethertype = ip + l4, 0x0800
        label = f"ipv4/{label}" + (f" ihl {words}" if words != 5 else "") + (
            f" frag {frag:#x}" if frag else "")
    elif kind == "ipv6":
        ip = (bytes([0x60, 0, 0, 0]) + len(l4).to_bytes(2, "big") + bytes([proto, 64])
              + bytes(32))
        body, ethertype, label = ip + l4, 0x86DD, f"ipv6/{label}"
    elif kind == "arp":
        body, ethertype, label = bytes([0, 1, 8, 0, 6, 4, 0, 1]) + bytes(20), 0x0806, "arp"
    else:
        ethertype = draw(st.integers(0, 0xFFFF))
        body, label = bytes(8), f"ethertype {ethertype:#06x}"
    frame = bytes([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]) + ethertype.to_bytes(2, "big") + body
    # cut anywhere, or just inside a port field (source port in, destination port out)
    ports_at = len(frame) - len(l4) if kind in ("ipv4", "ipv6") else 14
    cut = min(len(frame), draw(st.one_of(
        st.just(len(frame)), st.integers(0, len(frame)),
        st.sampled_from([14, ports_at, ports_at + 2, ports_at + 3]))))
    if cut < len(frame):
        label += f" cut {cut}/{len(frame)}"
    return Packet(label, frame[:cut])

SCENARIOS = ("empty", "two_envs", "two_envs_mapped")
"""What ``boot`` sets up before the random steps (see ``LockstepMachine.boot``)."""

HOSTILE_INTS = (-1, -(2**63), 2**64, 10**9)
"""Ints no size allows: negative, beyond 64 bits, absurdly large."""

JUNK: tuple[Any, ...] = ("x", None, 1.5, True, (), b"", Cap("p", 0, 1))
"""Values of the wrong type for some or every argument kind (``True`` is not an int)."""


PACKETS: st.SearchStrategy[bytes] = st.one_of(st.binary(max_size=6), frames())
"""Packets: a few raw bytes (the small programs look at bytes 0 and 1), or a frame."""


def index_strategy(n: int) -> st.SearchStrategy[int]:
    """Mostly a valid index below ``n``, sometimes one just outside, sometimes absurd."""
    valid = st.integers(0, max(n - 1, 0))
    return st.one_of(*[valid] * 6, st.integers(-2, n + 1), st.sampled_from(HOSTILE_INTS))


def arg_strategy(op: str, arg: str, kind: str, cfg: Config) -> st.SearchStrategy[Any]:
    """The strategy for argument ``arg`` of operation ``op`` (not for capabilities)."""
    if kind == "bool":
        return st.booleans()
    if kind == "program":
        return st.sampled_from(NAMED_PROGRAMS)
    if kind == "packet":
        return PACKETS
    sizes = {
        "env": cfg.n_envs, "grantee": cfg.n_envs, "callee": cfg.n_envs,
        "page": cfg.n_pages, "vpage": 4, "offset": cfg.page_words, "reg": cfg.n_regs,
        "cid": cfg.n_cids, "slot": cfg.n_guaranteed, "slice": cfg.n_slices,
        "exc": NUM_EXCEPTIONS, "which": 2, "rights": 3, "resource": 3,
        "filter": cfg.n_filters,
    }
    if arg in sizes:
        return index_strategy(sizes[arg])
    if arg == "target" and op == "yield_to":
        return st.one_of(st.just(-1), index_strategy(cfg.n_envs))
    if arg == "target":
        return index_strategy(max(cfg.n_pages, cfg.n_slices))
    if arg == "entry":
        return st.sampled_from([-1, 0x100, 0x200, -7, 2**40])
    if arg == "value":
        return st.one_of(st.integers(-5, 1000), st.integers(-(2**70), 2**70))
    if arg == "deadline":
        return st.one_of(st.integers(-1, 12), st.sampled_from(HOSTILE_INTS))
    return index_strategy(8)
