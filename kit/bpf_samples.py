"""Real tcpdump programs for the lockstep kit and ``exo verify`` (packet filters, NET-1..NET-3).

Each is the ``tcpdump -ddd`` output for its expression on a Debian machine with tcpdump 4.99
(libpcap 1.10), copied from the test corpus ``tests/data/bpf_corpus.json`` — a test keeps
the two equal. ``dhcp_opt`` and ``dhcp_unopt`` are libpcap issue #430: the same expression
optimized and not, which disagree on short packets; ``ip_len_div`` divides, so the
implementation's demux runs it as per-filter code rather than in the merged trie;
``not_port_22`` accepts what it cannot parse, so a demux that reads past the end of a
short packet as zeros (instead of aborting) accepts where the reference drops.
"""

from __future__ import annotations

from exo.model.filters import Program, parse_ddd

EXPRESSIONS: dict[str, tuple[str, bool]] = {
    'tcp_port_80': ('tcp port 80', True),
    'udp_port_53': ('udp port 53', True),
    'arp': ('arp', True),
    'dhcp_opt': ('udp and (port 67 or port 68)', True),
    'dhcp_unopt': ('udp and (port 67 or port 68)', False),
    'tcp_synack': ('tcp[13] = 18', True),
    'ip_len_div': ('ip[2:2] / ip[8] > 10', True),
    'not_port_22': ('not port 22', True),
}
"""Sample name -> (tcpdump expression, compiled with the optimizer)."""

_DDD: dict[str, str] = {
    'tcp_port_80': (
        '20\n40 0 0 12\n21 0 6 34525\n48 0 0 20\n21 0 15 6\n40 0 0 54\n21 12 0 80\n40 0 0 56\n'
        '21 10 11 80\n21 0 10 2048\n48 0 0 23\n21 0 8 6\n40 0 0 20\n69 6 0 8191\n177 0 0 14\n'
        '72 0 0 14\n21 2 0 80\n72 0 0 16\n21 0 1 80\n6 0 0 262144\n6 0 0 0\n'
    ),
    'udp_port_53': (
        '20\n40 0 0 12\n21 0 6 34525\n48 0 0 20\n21 0 15 17\n40 0 0 54\n21 12 0 53\n40 0 0 56\n'
        '21 10 11 53\n21 0 10 2048\n48 0 0 23\n21 0 8 17\n40 0 0 20\n69 6 0 8191\n177 0 0 14\n'
        '72 0 0 14\n21 2 0 53\n72 0 0 16\n21 0 1 53\n6 0 0 262144\n6 0 0 0\n'
    ),
    'arp': (
        '4\n40 0 0 12\n21 0 1 2054\n6 0 0 262144\n6 0 0 0\n'
    ),
    'dhcp_opt': (
        '23\n40 0 0 12\n21 0 10 2048\n48 0 0 23\n21 0 18 17\n40 0 0 20\n69 16 0 8191\n177 0 0 14\n'
        '72 0 0 14\n21 12 0 67\n21 11 0 68\n72 0 0 16\n21 9 8 67\n21 0 9 34525\n48 0 0 20\n'
        '21 0 7 17\n40 0 0 54\n21 4 0 67\n21 3 0 68\n'
        '40 0 0 56\n21 1 0 67\n21 0 1 68\n6 0 0 262144\n'
        '6 0 0 0\n'
    ),
    'dhcp_unopt': (
        '118\n40 0 0 12\n21 0 2 2048\n48 0 0 23\n21 8 0 17\n40 0 0 12\n21 0 111 34525\n48 0 0 20\n'
        '21 4 0 17\n48 0 0 20\n21 0 107 44\n48 0 0 54\n21 0 105 17\n40 0 0 12\n21 0 18 34525\n'
        '48 0 0 20\n21 0 4 132\n40 0 0 54\n21 98 0 67\n40 0 0 56\n21 96 0 67\n48 0 0 20\n'
        '21 0 4 6\n40 0 0 54\n21 92 0 67\n40 0 0 56\n21 90 0 67\n48 0 0 20\n21 0 4 17\n40 0 0 54\n'
        '21 86 0 67\n40 0 0 56\n21 84 0 67\n40 0 0 12\n21 0 30 2048\n48 0 0 23\n21 0 8 132\n'
        '40 0 0 20\n69 6 0 8191\n177 0 0 14\n72 0 0 14\n21 75 0 67\n177 0 0 14\n72 0 0 16\n'
        '21 72 0 67\n48 0 0 23\n21 0 8 6\n40 0 0 20\n69 6 0 8191\n177 0 0 14\n72 0 0 14\n'
        '21 65 0 67\n177 0 0 14\n72 0 0 16\n21 62 0 67\n48 0 0 23\n21 0 8 17\n40 0 0 20\n'
        '69 6 0 8191\n177 0 0 14\n72 0 0 14\n21 55 0 67\n177 0 0 14\n72 0 0 16\n21 52 0 67\n'
        '40 0 0 12\n21 0 18 34525\n48 0 0 20\n21 0 4 132\n40 0 0 54\n21 46 0 68\n40 0 0 56\n'
        '21 44 0 68\n48 0 0 20\n21 0 4 6\n40 0 0 54\n21 40 0 68\n40 0 0 56\n21 38 0 68\n'
        '48 0 0 20\n21 0 4 17\n40 0 0 54\n21 34 0 68\n40 0 0 56\n21 32 0 68\n40 0 0 12\n'
        '21 0 31 2048\n48 0 0 23\n21 0 8 132\n40 0 0 20\n69 6 0 8191\n177 0 0 14\n72 0 0 14\n'
        '21 23 0 68\n177 0 0 14\n72 0 0 16\n21 20 0 68\n48 0 0 23\n21 0 8 6\n40 0 0 20\n'
        '69 6 0 8191\n177 0 0 14\n72 0 0 14\n21 13 0 68\n177 0 0 14\n72 0 0 16\n21 10 0 68\n'
        '48 0 0 23\n21 0 9 17\n40 0 0 20\n69 7 0 8191\n177 0 0 14\n72 0 0 14\n21 3 0 68\n'
        '177 0 0 14\n72 0 0 16\n21 0 1 68\n6 0 0 262144\n6 0 0 0\n'
    ),
    'tcp_synack': (
        '11\n40 0 0 12\n21 0 8 2048\n48 0 0 23\n21 0 6 6\n40 0 0 20\n69 4 0 8191\n177 0 0 14\n'
        '80 0 0 27\n21 0 1 18\n6 0 0 262144\n6 0 0 0\n'
    ),
    'ip_len_div': (
        '11\n40 0 0 12\n21 0 8 2048\n40 0 0 16\n2 0 0 1\n48 0 0 22\n7 0 0 3\n96 0 0 1\n60 0 0 0\n'
        '37 0 1 10\n6 0 0 262144\n6 0 0 0\n'
    ),
    'not_port_22': (
        '24\n40 0 0 12\n21 0 8 34525\n48 0 0 20\n21 2 0 132\n21 1 0 6\n21 0 17 17\n'
        '40 0 0 54\n21 14 0 22\n40 0 0 56\n21 12 13 22\n21 0 12 2048\n48 0 0 23\n21 2 0 132\n'
        '21 1 0 6\n21 0 8 17\n40 0 0 20\n69 6 0 8191\n177 0 0 14\n72 0 0 14\n21 2 0 22\n'
        '72 0 0 16\n21 0 1 22\n6 0 0 0\n6 0 0 262144\n'
    ),
}

SAMPLES: dict[str, Program] = {name: parse_ddd(text, name) for name, text in _DDD.items()}
"""Sample name -> the parsed program (every one passes the verifier)."""
