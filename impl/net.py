"""Downloaded packet filters and the network interface (spec/net.md).

Installed filters live in a ``Demux`` (``exo.impl.demux``) that classifies a packet in one
pass; verification and the Z3 overlap check are the shared ones (``exo.impl.filtercheck``).
"""

from __future__ import annotations

from functools import lru_cache

from exo.impl.filtercheck import Overlap, Undecided, prepare_pairs, program_overlap, verify
from exo.impl.ops import OK, fail, in_range
from exo.impl.state import KernelState
from exo.interface import Outcome, Resource, Result, Status

Program = tuple[tuple[int, int, int, int], ...]


@lru_cache(maxsize=4096)
def runnable(program: Program) -> bool:
    """FLT-2/FLT-3: the verifier accepts ``program`` (an empty program is refused)."""
    return len(program) > 0 and not verify(program)


@lru_cache(maxsize=65536)
def _pair(a: Program, b: Program) -> Overlap:
    """NET-1's check of two verified programs, the shared one (``program_overlap``: FLT-9
    when both are recognized, else FLT-6), so the same cached answer as the model's."""
    return program_overlap(a, b)


def first_clash(k: KernelState, env: int, program: Program) -> tuple[int, Overlap]:
    """NET-1: the first installed filter of another environment, in slot order, that the
    overlap check does not prove disjoint from ``program``, with that check's answer (an
    overlap or ``Undecided``); (-1, None) if there is none."""
    for j in range(k.cfg.n_filters):
        if k.filter_valid[j] and k.filter_owner[j] != env:
            found = _pair(program, k.filter_code[j])
            if found is not None:
                return j, found
    return -1, None


def filter_install(k: KernelState, env: int, program: Program) -> Result:
    """NET-1: install ``program`` for ``env`` in the lowest free slot; OVERLAP (value: the
    witness packet in hex) if it accepts a packet another environment's filter accepts;
    UNDECIDED if the first such check that is not "disjoint" ran out of its budget. Every
    cheap check comes before the solver."""
    c = k.cfg
    if not in_range(env, c.n_envs):
        return fail(Status.INVALID_ARGUMENT)
    if not k.env_alive[env]:
        return fail(Status.NO_SUCH_ENV)
    if not runnable(program):
        return fail(Status.BAD_PROGRAM)
    slot = next((j for j in range(c.n_filters) if not k.filter_valid[j]), -1)
    if slot < 0:
        return fail(Status.NO_SPACE)
    _, found = first_clash(k, env, program)
    if isinstance(found, Undecided):
        return fail(Status.UNDECIDED)
    if found is not None:
        return fail(Status.OVERLAP, found[1].hex())
    k.filter_valid[slot] = True
    k.filter_owner[slot] = env
    k.filter_code[slot] = program
    k.filters[env].add(slot)
    k.repo_filter[env].discard(slot)
    k.demux.add(slot, env, program)
    prepare_pairs(program)
    return Result(Status.OK, slot)


def remove_filter(k: KernelState, slot: int) -> None:
    """NET-2: the filter in ``slot`` is gone (the slot is free)."""
    if k.filter_valid[slot]:
        k.filter_valid[slot] = False
        k.filters[k.filter_owner[slot]].discard(slot)
        k.demux.remove(slot)


def filter_remove(k: KernelState, env: int, filter: int) -> Result:
    """NET-2/REV-2: ``env`` removes its filter; it counts as the release a pending filter
    revocation asks for."""
    c = k.cfg
    if not in_range(env, c.n_envs) or not in_range(filter, c.n_filters):
        return fail(Status.INVALID_ARGUMENT)
    if not k.env_alive[env]:
        return fail(Status.NO_SUCH_ENV)
    if not (k.filter_valid[filter] and k.filter_owner[filter] == env):
        return fail(Status.NOT_OWNER)
    remove_filter(k, filter)
    if k.rev_kind[env] == Resource.FILTER:
        k.rev_pending[env] = False
    return OK


def packet_arrive(k: KernelState, packet: bytes) -> Result:
    """NET-3: the demultiplexer finds the owner of the first accepting filter; the packet
    goes into its ring (RX_DELIVERED) or is dropped against it (RX_RING_FULL), or the
    kernel drops it (RX_NO_MATCH)."""
    e = k.demux.classify(packet)
    if e < 0:
        k.kernel_drops += 1
        return Result(Status.OK, int(Outcome.RX_NO_MATCH))
    n = k.cfg.ring_size
    if k.rx_count[e] >= n:
        k.rx_drops[e] += 1
        return Result(Status.OK, int(Outcome.RX_RING_FULL))
    k.rx_pkt[e][(k.rx_head[e] + k.rx_count[e]) % n] = packet
    k.rx_count[e] += 1
    return Result(Status.OK, int(Outcome.RX_DELIVERED))


def packet_take(k: KernelState, env: int) -> Result:
    """NET-4: ``env`` takes the oldest packet of its receive ring; returns its bytes."""
    if not in_range(env, k.cfg.n_envs):
        return fail(Status.INVALID_ARGUMENT)
    if not k.env_alive[env]:
        return fail(Status.NO_SUCH_ENV)
    if k.rx_count[env] <= 0:
        return fail(Status.EMPTY)
    head = k.rx_head[env]
    packet = k.rx_pkt[env][head]
    k.rx_head[env] = head + 1 if head + 1 < k.cfg.ring_size else 0
    k.rx_count[env] -= 1
    return Result(Status.OK, packet)
