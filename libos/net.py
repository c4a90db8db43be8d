"""Networking at application level (paper: downloaded packet filters, "secure
bindings" for the network): a datagram socket. The library writes the packet filter
for its port itself, a cBPF program generated here, and downloads it (NET-1). The
kernel verifies it and proves it claims no packet another environment's filter claims;
a second library asking for the same port gets OVERLAP with a witness packet. Packets
the filter accepts wait in the environment's receive ring (NET-3) until the library
takes them (NET-4)."""

from __future__ import annotations

from exo.interface import Status
from exo.libos.core import KernelError, LibOSError
from exo.libos.vm import Process

Program = tuple[tuple[int, int, int, int], ...]

# classic BPF opcodes (linux/filter.h): class | size | mode
LDH_ABS, LDB_ABS, LDH_IND, LDXB_MSH = 0x28, 0x30, 0x48, 0xB1
JEQ_K, JSET_K, RET_K = 0x15, 0x45, 0x06
ETHERTYPE_IPV4, IPPROTO_UDP = 0x0800, 17


def udp_port_program(port: int) -> Program:
    """The filter of "IPv4 UDP datagrams to ``port``": the EtherType, the protocol, not
    a later fragment, then the destination port past an IP header of any length."""
    reject, accept = 10, 9  # the two return instructions, by index
    code: list[tuple[int, int, int, int]] = [
        (LDH_ABS, 0, 0, 12),                 # 0: EtherType
        (JEQ_K, 0, 0, ETHERTYPE_IPV4),       # 1: jf -> reject
        (LDB_ABS, 0, 0, 23),                 # 2: IP protocol
        (JEQ_K, 0, 0, IPPROTO_UDP),          # 3: jf -> reject
        (LDH_ABS, 0, 0, 20),                 # 4: flags and fragment offset
        (JSET_K, 0, 0, 0x1FFF),              # 5: jt -> reject (a later fragment)
        (LDXB_MSH, 0, 0, 14),                # 6: X = IP header length
        (LDH_IND, 0, 0, 16),                 # 7: the UDP destination port
        (JEQ_K, 0, 0, port),                 # 8: jt -> accept, jf -> reject
        (RET_K, 0, 0, 0xFFFF),               # 9: accept the whole packet
        (RET_K, 0, 0, 0),                    # 10: reject
    ]

    def to(frm: int, target: int) -> int:  # jump offsets count from the next instruction
        return target - frm - 1

    code[1] = (JEQ_K, 0, to(1, reject), ETHERTYPE_IPV4)
    code[3] = (JEQ_K, 0, to(3, reject), IPPROTO_UDP)
    code[5] = (JSET_K, to(5, reject), 0, 0x1FFF)
    code[8] = (JEQ_K, to(8, accept), to(8, reject), port)
    return tuple(code)


def udp_frame(dport: int, payload: bytes, sport: int = 4000) -> bytes:
    """An Ethernet/IPv4/UDP frame to ``dport`` (checksums zero, as a test network may)."""
    eth = b"\xff" * 6 + b"\x02" + b"\x00" * 5 + ETHERTYPE_IPV4.to_bytes(2, "big")
    ip = (bytes([0x45, 0]) + (28 + len(payload)).to_bytes(2, "big") + b"\x00\x00\x40\x00"
          + bytes([64, IPPROTO_UDP]) + b"\x00\x00" + bytes([10, 0, 0, 1, 10, 0, 0, 2]))
    udp = (sport.to_bytes(2, "big") + dport.to_bytes(2, "big")
           + (8 + len(payload)).to_bytes(2, "big") + b"\x00\x00")
    return eth + ip + udp + payload


def udp_payload(frame: bytes) -> bytes:
    """The data of a frame ``udp_port_program`` accepted."""
    ihl = (frame[14] & 0x0F) * 4
    return frame[14 + ihl + 8:]


class PortInUse(LibOSError):
    """NET-1 OVERLAP: another environment's filter already claims packets of the port;
    ``witness`` is a packet both filters accept (hex)."""

    def __init__(self, port: int, witness: str) -> None:
        super().__init__(f"port {port} is claimed by another environment "
                         f"(a packet both accept: {witness[:40]}...)")
        self.port, self.witness = port, witness


class Socket:
    """A datagram socket of process ``proc`` bound to UDP ``port``."""

    def __init__(self, proc: Process, port: int) -> None:
        self.proc, self.port = proc, port
        res = proc.lib.sys(proc.env, "filter_install", udp_port_program(port))
        if res.status == Status.OVERLAP:
            raise PortInUse(port, str(res.value))
        if res.status != Status.OK:
            raise KernelError("filter_install", (proc.env, port), res)
        self.slot = int(res.value)

    def recv(self) -> bytes | None:
        """NET-4: the oldest datagram's data waiting in the ring, or None."""
        res = self.proc.lib.sys(self.proc.env, "packet_take")
        if res.status == Status.EMPTY:
            return None
        if res.status != Status.OK:
            raise KernelError("packet_take", (self.proc.env,), res)
        return udp_payload(res.value)

    def close(self) -> None:
        """NET-2: the filter goes; the port is free for anyone."""
        self.proc.lib.sys_ok(self.proc.env, "filter_remove", self.slot)
