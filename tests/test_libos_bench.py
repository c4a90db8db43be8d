"""benchmarks/libos.py counts what it says: the kernel calls of each library operation
agree on the model and exo.impl (``measure`` raises otherwise), and the working-set
table classifies each access once. No time is asserted."""

from __future__ import annotations

from benchmarks import libos as bench


def test_the_rows_count_the_calls_of_one_library_operation() -> None:
    rows = {name: bench.measure(name, setup, repeat=1) for name, setup in bench.ROWS}
    assert rows["page fault (application level)"]["by_operation"] == {
        "set_reg": 1, "store": 3, "alloc": 1, "tlbwr": 2}
    assert rows["prot100"]["by_operation"] == {"tlbvadelete": 100}
    assert rows["unprot100"]["kernel_calls"] == 0  # the table only; the next write upgrades
    assert rows["lrpc round trip"]["by_operation"] == {"set_reg": 2, "scall": 2}


def test_the_working_set_is_served_by_the_stlb_or_by_upcalls() -> None:
    big, tiny = bench.working_set(512), bench.working_set(1)
    assert big["stlb_refills"] == big["accesses"] and big["upcalls"] == 0
    assert tiny["upcalls"] == tiny["accesses"] and tiny["stlb_refills"] == 0


def test_the_stride_shares_are_three_two_one() -> None:
    assert bench.stride_shares(60)["shares"] == {0: 30, 1: 20, 2: 10}
