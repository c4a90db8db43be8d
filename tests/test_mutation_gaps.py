"""Directed model-vs-implementation checks for gaps that mutation testing found
(scripts/mutation.sh, scripts/mutation-report.md).

Each scenario below let a mutant of ``impl/`` survive the rest of the fast suite: the
random lockstep walks rarely or never build the situation (a slice freed and taken by
another environment before its old owner dies, a revocation aimed at someone else's
filter, a packet ring longer than two, a stored non-zero word). Every step goes to the
model and to ``Kernel`` side by side; results and states must agree after every step,
and the statuses are pinned too, so a scenario cannot pass vacuously.
"""

from __future__ import annotations

from typing import Any

import pytest

from exo.impl import Kernel
from exo.interface import Cap, Config, Resource, Result, Rights, Status
from exo.kit.conformance import abstract, differences, same_result
from exo.model import REGISTRY, initial
from tests.builders import byte_filter
from tests.test_impl import SMALL, boot_script


class Pair:
    """The model and the implementation, driven in lockstep."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.state = initial(cfg)
        self.kernel = Kernel(cfg)

    def do(self, name: str, *args: Any, expect: Status | None = Status.OK) -> Result:
        new, want = REGISTRY[name](self.state, *args)
        got = self.kernel.apply(name, *args)
        assert same_result(want, got), f"{name}{args}: model {want!r}, impl {got!r}"
        diff = differences(new, abstract(self.cfg, self.kernel.observe()))
        assert diff == [], f"after {name}{args}:\n" + "\n".join(diff)
        if expect is not None:
            assert want.status == expect, f"{name}{args} -> {want!r}, wanted {expect.name}"
        self.state = new
        return want


def test_freed_slice_stays_with_its_new_owner_when_the_old_owner_dies() -> None:
    """CPU-2 then ENV-2: a slice env 0 freed and env 1 then took is env 1's; destroying
    env 0 must not free it again (the implementation keeps a per-env slice index)."""
    p = Pair(SMALL)
    p.do("env_create", 0, 0)
    p.do("env_create", 1, 1)
    p.do("slice_alloc", 0, 2)
    p.do("slice_free", 0, 2)
    p.do("slice_alloc", 1, 2)
    p.do("env_destroy", 0)
    p.do("slice_alloc", 0, 2, expect=Status.NO_SUCH_ENV)
    p.do("env_create", 0, 0)
    p.do("slice_alloc", 0, 2, expect=Status.IN_USE)
    p.do("slice_free", 1, 2)


@pytest.mark.parametrize(("kind", "size"), [(Resource.PAGE, "n_pages"),
                                            (Resource.SLICE, "n_slices"),
                                            (Resource.FILTER, "n_filters")])
def test_revoke_request_target_out_of_range(kind: Resource, size: str) -> None:
    """REV-1: a target outside its kind's table is INVALID_ARGUMENT, for every kind."""
    p = Pair(SMALL)
    p.do("env_create", 0, 0)
    n = getattr(SMALL, size)
    for target in (-1, n, n + 1):
        p.do("revoke_request", 0, int(kind), target, 5, expect=Status.INVALID_ARGUMENT)


def test_revoke_request_filter_needs_a_live_filter_of_ones_own() -> None:
    """REV-1: only the owner of a *valid* filter may be asked to give it back; another
    environment's filter, and a removed slot, are NOT_OWNER."""
    p = Pair(SMALL)
    p.do("env_create", 0, 0)
    p.do("env_create", 1, 1)
    slot = p.do("filter_install", 0, byte_filter(7)).value
    p.do("revoke_request", 1, int(Resource.FILTER), slot, 5, expect=Status.NOT_OWNER)
    p.do("filter_remove", 0, slot)
    p.do("revoke_request", 0, int(Resource.FILTER), slot, 5, expect=Status.NOT_OWNER)
    slot = p.do("filter_install", 0, byte_filter(7)).value
    p.do("revoke_request", 0, int(Resource.FILTER), slot, 5)


def test_packet_ring_longer_than_two_keeps_arrival_order() -> None:
    """NET-3/NET-4 with ring_size 4: packets queue behind one another and come out in
    arrival order (with a ring of 2, ``head + count`` and ``head - count`` coincide)."""
    cfg = Config(ring_size=4)
    p = Pair(cfg)
    p.do("env_create", 0, 0)
    p.do("filter_install", 0, byte_filter(7))
    packets = [bytes([7, i, 0, 0]) for i in range(3)]
    for pkt in packets:
        p.do("packet_arrive", pkt)
    taken = [p.do("packet_take", 0).value for _ in packets]
    p.do("packet_take", 0, expect=None)
    assert len(set(map(repr, taken))) == len(packets)


def test_a_stored_word_is_part_of_the_observed_state() -> None:
    """MEM-5: after a store of a non-zero register through a writable binding, the page's
    word is part of the state both sides report."""
    p = Pair(SMALL)
    for name, args in boot_script(SMALL):
        p.do(name, *args, expect=None)
    assert p.state.cur_env == 0
    cap = p.do("alloc", 0, 0).value
    assert isinstance(cap, Cap) and cap.rights == Rights.READWRITE
    p.do("tlbwr", 0, 3, cap, True)
    p.do("set_reg", 1, 1234)
    p.do("store", 3, 1, 1)
    p.do("load", 3, 1, 0)
    assert p.kernel.observe()["word"].get((0, 1)) == 1234


def test_tlbvadelete_breaks_a_binding_cached_in_the_hardware_tlb() -> None:
    """TLB-2: a load puts the binding in the hardware TLB; tlbvadelete must take it out of
    there as well as out of the STLB, so the next load misses (TLB_MISS) on both sides."""
    p = Pair(SMALL)
    for name, args in boot_script(SMALL):
        p.do(name, *args, expect=None)
    cap = p.do("alloc", 0, 1).value
    p.do("tlbwr", 0, 2, cap, False)
    p.do("load", 2, 0, 0)
    hit = p.do("load", 2, 0, 0)
    p.do("tlbvadelete", 0, 2)
    miss = p.do("load", 2, 0, 0, expect=None)
    assert miss != hit


def test_rights_beyond_the_capability_are_refused() -> None:
    """MEM-3 and TLB-4: a read-only capability can neither grant write nor back a
    writable guaranteed mapping (NO_PERMISSION, nothing changes)."""
    p = Pair(SMALL)
    p.do("env_create", 0, 0)
    p.do("env_create", 1, 1)
    cap = p.do("alloc", 0, 1).value
    read = p.do("grant", 0, cap, 1, int(Rights.READ)).value
    assert isinstance(read, Cap) and read.rights == Rights.READ
    p.do("grant", 1, read, 0, int(Rights.READWRITE), expect=Status.NO_PERMISSION)
    p.do("gm_set", 0, 0, 3, Cap(cap.page, cap.gen, int(Rights.READ)), True,
         expect=Status.NO_PERMISSION)
    p.do("gm_set", 0, 0, 3, cap, True)


def test_full_ring_drops_against_its_owner() -> None:
    """NET-3: with the ring full, a matching packet is dropped (RX_RING_FULL) and counted
    against the owner; taking one makes room again."""
    p = Pair(SMALL)
    p.do("env_create", 0, 0)
    p.do("filter_install", 0, byte_filter(1))
    for _ in range(SMALL.ring_size):
        assert p.do("packet_arrive", b"\x01x").value == 10  # RX_DELIVERED
    assert p.do("packet_arrive", b"\x01y").value == 11  # RX_RING_FULL
    assert p.do("packet_take", 0).value == b"\x01x"
    assert p.do("packet_arrive", b"\x01z").value == 10


def test_removing_a_filter_answers_a_filter_request_only() -> None:
    """REV-2 through NET-2: removing any filter of the environment clears its pending
    FILTER request (whatever filter it named); a pending PAGE request stays."""
    p = Pair(SMALL)
    p.do("env_create", 0, 0)
    p.do("filter_install", 0, byte_filter(1))
    p.do("filter_install", 0, byte_filter(2))
    cap = p.do("alloc", 0, 1).value
    assert isinstance(cap, Cap)
    p.do("revoke_request", 0, int(Resource.PAGE), 1, 5)
    p.do("filter_remove", 0, 1)
    assert p.state.rev_pending[0]
    p.do("dealloc", 0, cap)
    p.do("revoke_request", 0, int(Resource.FILTER), 0, 5)
    assert p.state.rev_pending[0]
    p.do("filter_remove", 0, 0)
    assert not p.state.rev_pending[0]
