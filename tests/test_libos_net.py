"""ExOS-lite networking and guaranteed mappings, on the reference model and on the
bundled implementation in the same test."""

from __future__ import annotations

from typing import Any

import pytest

from exo import filters
from exo.interface import Config, Outcome, Resource, Status
from exo.libos.core import LibOS, Machine
from exo.libos.net import PortInUse, Socket, udp_frame, udp_port_program
from exo.libos.pagetable import Hashed, TwoLevel
from exo.libos.vm import Process
from tests.test_libos_vm import both

CFG = Config(n_envs=4, n_pages=16, page_words=4, tlb_size=4, stlb_size=8, n_slices=4,
             slice_ticks=50, n_filters=4, ring_size=4)


@pytest.mark.parametrize("port", [53, 7000, 65535])
def test_the_generated_program_accepts_its_port_only(port: int) -> None:
    prog = udp_port_program(port)
    assert filters.evaluate(prog, udp_frame(port, b"x")) == 0xFFFF
    assert filters.evaluate(prog, udp_frame(port ^ 1, b"x")) == 0
    tcp = bytearray(udp_frame(port, b"x"))
    tcp[23] = 6
    assert filters.evaluate(prog, bytes(tcp)) == 0
    fragment = bytearray(udp_frame(port, b"x"))
    fragment[21] = 8  # a fragment offset: no UDP header in this one
    assert filters.evaluate(prog, bytes(fragment)) == 0


def test_two_libraries_get_their_own_datagrams_and_not_each_others_port() -> None:
    """NET-1: a second filter for a claimed port is refused with a witness; NET-3/NET-4:
    each datagram reaches only the library whose filter claims it."""
    def program(m: Machine) -> Any:
        a = Process(LibOS(m, "A"), env=0, cid=0, slice_=1, table=TwoLevel())
        b = Process(LibOS(m, "B"), env=1, cid=1, slice_=2, table=Hashed())
        sa, sb = Socket(a, 7000), Socket(b, 7001)
        try:
            Socket(b, 7000)
            refused = None
        except PortInUse as exc:
            refused = filters.evaluate(udp_port_program(7000), bytes.fromhex(exc.witness))
        arrivals = [m.call("packet_arrive", udp_frame(port, data)).value
                    for port, data in ((7000, b"to A"), (7001, b"to B"), (7002, b"nobody"))]
        got = (sa.recv(), sb.recv(), sa.recv())
        sa.close()
        again = Socket(b, 7000).slot
        return refused, arrivals, got, again

    refused, arrivals, got, again = both(program, CFG)
    assert refused == 0xFFFF  # the witness really is a packet for port 7000
    assert arrivals == [Outcome.RX_DELIVERED, Outcome.RX_DELIVERED, Outcome.RX_NO_MATCH]
    assert got == (b"to A", b"to B", None)
    assert again == 0  # A's slot, free again


def test_a_pinned_page_refills_without_an_upcall_and_is_never_asked_for() -> None:
    """TLB-4/TLB-8: after its TLB binding goes, an access to a pinned page refills from
    the guaranteed mapping (no upcall); REV-5: the kernel cannot name it."""
    def program(m: Machine) -> Any:
        p = Process(LibOS(m, "A"), env=0, cid=0, slice_=1, table=TwoLevel())
        page = p.pin(2, slot=0)
        p.store(2, 1, 17)
        m.sys_ok(0, "tlbvadelete", 2)
        before = dict(p.faults)
        m.trace = []
        value = p.load(2, 1)
        loads = [line for line in m.trace if line.startswith("load")]
        asked = m.call("revoke_request", 0, int(Resource.PAGE), page, 100).status
        return before == dict(p.faults), loads, asked, value

    quiet, loads, asked, value = both(program, CFG)
    assert quiet and loads == ["load(2, 1, 0) -> OK:REFILL_GUARANTEED"]
    assert asked == Status.GUARANTEED and value == 17


def test_the_page_table_image_lives_on_a_guaranteed_mapping() -> None:
    """TLB-4/TLB-8: the table page never takes a TLB-miss upcall, even after its
    binding is removed; it holds the entry count; REV-5: the kernel cannot ask for it."""
    from exo.libos.vm import TABLE_VPAGE

    def program(m: Machine) -> Any:
        p = Process(LibOS(m, "A"), env=0, cid=0, slice_=1, table=TwoLevel())
        p.load(0, 0)
        page = p.pin_tables(slot=1)
        m.trace = []
        for v in range(1, 4):
            p.store(v, 0, v)
            m.sys_ok(0, "tlbvadelete", TABLE_VPAGE)
        table_stores = [line for line in m.trace if line.startswith(f"store({TABLE_VPAGE}")]
        asked = m.call("revoke_request", 0, int(Resource.PAGE), page, 100).status
        return table_stores, p.load(TABLE_VPAGE, 0), asked, dict(p.faults)

    stores, count, asked, faults = both(program, CFG)
    assert stores and all(s.endswith(("ACCESS", "REFILL_GUARANTEED")) for s in stores)
    assert any(s.endswith("REFILL_GUARANTEED") for s in stores)
    assert count == 5  # virtual pages 0..3 and the table page itself
    assert asked == Status.GUARANTEED
    assert faults["tlb_miss"] == 4  # pages 0..3 only: the table page never missed
