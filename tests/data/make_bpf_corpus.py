"""Regenerate ``bpf_corpus.json``: real tcpdump filters compiled for Ethernet.

Each entry is ``{"expr", "ddd", "ddd_unoptimized"}``: ``tcpdump -ddd EXPR`` (libpcap's
optimizer on) and ``tcpdump -O -ddd EXPR`` (optimizer off). Run from anywhere::

    python tests/data/make_bpf_corpus.py

The expression list below is the corpus; ``tests/test_filter_oracles.py`` checks that
recompiling each expression with the installed tcpdump gives exactly the committed text.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

CORPUS = Path(__file__).with_name("bpf_corpus.json")

EXPRESSIONS: list[str] = [
    # ports
    "tcp port 80",
    "udp port 53",
    "port 22",
    "tcp dst port 443",
    "udp src port 123",
    "dst port 53 or src port 53",
    "not port 22",
    "tcp and not (port 80 or port 443)",
    "udp and (port 67 or port 68)",
    "ip and udp and dst port 4789",
    # port ranges
    "tcp portrange 8000-8080",
    "portrange 6000-6010",
    # hosts and nets
    "host 192.168.1.1",
    "src host 10.0.0.1",
    "dst host 10.0.0.2",
    "net 10.0.0.0/8",
    "src net 192.168.0.0/16",
    "dst net 172.16.0.0/12",
    "host 10.0.0.1 and (tcp port 80 or udp port 53)",
    "src host 10.0.0.1 and dst port 8080",
    # vlan
    "vlan",
    "vlan 100",
    "vlan and tcp port 80",
    "vlan 100 and ip6",
    # IPv6
    "ip6",
    "ip6 and tcp",
    "ip6 host 2001:db8::1",
    "ip6 net 2001:db8::/32",
    "icmp6",
    "icmp6 and ip6[40] == 128",
    "ip6 and udp port 547",
    # TCP flags
    "tcp[tcpflags] & tcp-syn != 0",
    "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
    "tcp[tcpflags] & (tcp-fin|tcp-rst) != 0",
    "tcp[13] = 18",
    # ICMP types
    "icmp[icmptype] == icmp-echo",
    "icmp[icmptype] == icmp-echoreply or icmp[icmptype] == icmp-unreach",
    "icmp or arp",
    # fragments and IP header fields
    "ip[6:2] & 0x1fff != 0",
    "ip[6] & 0x20 != 0",
    "ip[0] & 0xf != 5",
    "ip[2:2] > 576",
    "ip[8] < 5",
    "ip proto 47",
    # lengths
    "greater 1000",
    "less 64",
    "len >= 100 and len <= 200",
    # ARP and Ethernet
    "arp",
    "arp and host 10.0.0.1",
    "ether host 00:11:22:33:44:55",
    "ether src 00:11:22:33:44:55 and not arp",
    "ether proto 0x88cc",
    "ether broadcast",
    "ether multicast",
    "ip multicast",
    "ip broadcast",
    "mpls",
    # arithmetic, scratch memory, indirect loads, division and modulo by X
    # (the tcpdump manual's spellings with ``<< 2`` / ``>> 2`` compile, unoptimized, to
    # shifts by X, which Exo refuses (FLT-3.2); ``* 4`` and ``/ 4`` say the same)
    "tcp[((tcp[12:1] & 0xf0) / 4):4] = 0x47455420",
    "tcp port 80 and (((ip[2:2] - ((ip[0]&0xf)*4)) - ((tcp[12]&0xf0)/4)) != 0)",
    "ip[2:2] / ip[8] > 10",
    "udp[4:2] % ip[8] == 1",
    "ip[2:2] % (ip[8] & 3) == 1",
]


def tcpdump_ddd(expr: str, optimize: bool = True) -> str:
    """``tcpdump [-O] -ddd EXPR`` for Ethernet (tcpdump's default link type offline)."""
    exe = shutil.which("tcpdump")
    if exe is None:
        raise FileNotFoundError("tcpdump is not on PATH (Debian package tcpdump)")
    args = [exe, "-ddd"] if optimize else [exe, "-O", "-ddd"]
    done = subprocess.run([*args, expr], capture_output=True, text=True, check=True)
    return done.stdout


def build() -> list[dict[str, str]]:
    return [{"expr": e, "ddd": tcpdump_ddd(e, True), "ddd_unoptimized": tcpdump_ddd(e, False)}
            for e in EXPRESSIONS]


def main() -> None:
    entries = build()
    CORPUS.write_text(json.dumps(entries, indent=1) + "\n")
    print(f"wrote {len(entries)} filters to {CORPUS}")


if __name__ == "__main__":
    main()
