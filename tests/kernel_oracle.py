"""The Linux kernel as an unprivileged classic-BPF oracle (design brief, "Packet filters").

A program is attached with ``setsockopt(SOL_SOCKET, SO_ATTACH_FILTER)`` to the receiving
end of ``socketpair(AF_UNIX, SOCK_DGRAM)``: the attach succeeding or failing is Linux's
``bpf_check_classic`` verdict, and a datagram sent through the pair is run through the
filter (in the sender's ``unix_dgram_sendmsg``): dropped when the filter returns 0, else
trimmed to ``min(value, len)`` bytes. No privileges are needed.

``getsockopt(SO_GET_FILTER)`` is never called (it crashed Python on this machine).
"""

from __future__ import annotations

import ctypes
import socket
import sys
from types import TracebackType

Insn = tuple[int, int, int, int]
Program = tuple[Insn, ...]

SO_ATTACH_FILTER = 26
"""``SO_ATTACH_FILTER`` from ``asm-generic/socket.h``."""

RECV_MAX = 1 << 17
"""Receive buffer: longer than any packet the tests send (at most 65535 bytes)."""

ON_LINUX = sys.platform == "linux"


class SockFilter(ctypes.Structure):
    """``struct sock_filter {u16 code; u8 jt; u8 jf; u32 k}``."""

    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]


class SockFprog(ctypes.Structure):
    """``struct sock_fprog {unsigned short len; struct sock_filter *filter}``."""

    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]


def _attach(sock: socket.socket, prog: Program) -> None:
    """Attach ``prog`` to ``sock``; raises OSError (EINVAL: refused by the verifier)."""
    array = (SockFilter * max(len(prog), 1))()
    for i, (code, jt, jf, k) in enumerate(prog):
        array[i] = SockFilter(code, jt, jf, k)
    fprog = SockFprog(len(prog), ctypes.cast(array, ctypes.POINTER(SockFilter)))
    # ``bytes(fprog)`` holds the raw pointer into ``array``, which stays alive until the
    # call returns (the kernel copies the instructions during the setsockopt).
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, bytes(fprog))
    del array


def kernel_attach_errno(prog: Program) -> int | None:
    """None if Linux accepts ``prog``, else the errno of the refused attach."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        _attach(b, prog)
    except OSError as e:
        return e.errno if e.errno is not None else -1
    finally:
        a.close()
        b.close()
    return None


def kernel_accepts_program(prog: Program) -> bool:
    """Linux's verdict on ``prog`` (attach succeeds vs EINVAL or any other OSError)."""
    return kernel_attach_errno(prog) is None


class KernelFilter:
    """One socket pair with ``prog`` attached to the receiving end; run many packets.

    Use as a context manager (the sockets are closed on exit). Raises OSError if the
    kernel refuses the program.
    """

    def __init__(self, prog: Program) -> None:
        self.prog = prog
        self.sender, self.receiver = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            _attach(self.receiver, prog)
            self.receiver.setblocking(False)
            # large enough for any single datagram the tests send
            self.sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
            self.receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        except OSError:
            self.close()
            raise

    def run(self, packet: bytes) -> int | None:
        """None if the filter drops ``packet``, else the number of bytes delivered
        (``min(value, len(packet))``). The delivered bytes must be a prefix of the packet."""
        sent = self.sender.send(packet)
        if sent != len(packet):
            raise RuntimeError(f"short send: {sent} of {len(packet)} bytes")
        try:
            got = self.receiver.recv(RECV_MAX)
        except BlockingIOError:
            return None
        if got != packet[:len(got)]:
            raise RuntimeError("kernel delivered bytes that are not a prefix of the packet")
        return len(got)

    def close(self) -> None:
        self.sender.close()
        self.receiver.close()

    def __enter__(self) -> KernelFilter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def kernel_run(prog: Program, packet: bytes) -> int | None:
    """Run ``packet`` through ``prog`` in the kernel: None if dropped, else the received
    length, ``min(return value, len(packet))``."""
    with KernelFilter(prog) as kf:
        return kf.run(packet)


def expected_delivery(value: int, packet: bytes) -> int | None:
    """What the kernel should deliver for a filter returning ``value`` on ``packet``."""
    return None if value == 0 else min(value, len(packet))


__all__ = ["ON_LINUX", "KernelFilter", "expected_delivery", "kernel_accepts_program",
           "kernel_attach_errno", "kernel_run"]
