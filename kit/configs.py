"""What a kit run is spread over: the configurations (sizes) of ``KIT_CONFIGS``, and the
rule ``GROUPS`` of swarm testing — each example enables a random subset of them (every
group in about half the examples), so some examples concentrate on, say, memory and the
TLB with nothing else interfering.

``KIT_CONFIGS`` are the default sizes and colliding ones (a TLB of one slot, an STLB of
two, one to three environments and pages), where evictions, refills, full rings and kills
happen in a few steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis.stateful import precondition

from exo.interface import Config

__all__ = ["GROUPS", "KIT_CONFIGS", "PREFIX_GROUP", "on", "spread"]

GROUPS = ("env", "memory", "tlb", "cpu", "pct", "revocation", "net", "hostile", "trap")
"""Rule groups for swarm testing; an operation's group is its clause prefix's ("trap":
the system calls made through the trap layer, GEN-6)."""

PREFIX_GROUP = {"ENV": "env", "MEM": "memory", "TLB": "tlb", "CPU": "cpu", "PCT": "pct",
                "EXC": "cpu", "REV": "revocation", "NET": "net"}

KIT_CONFIGS: tuple[Config, ...] = (
    Config(),
    Config(n_envs=2, n_pages=2, page_words=2, tlb_size=1, stlb_size=2, n_cids=3,
           n_slices=2, n_guaranteed=1, n_regs=2, slice_ticks=2, excess_limit=1,
           n_filters=2, ring_size=1),
    Config(n_envs=3, n_pages=3, page_words=2, tlb_size=2, stlb_size=2, n_cids=4,
           n_slices=3, n_guaranteed=2, n_regs=2, slice_ticks=2, excess_limit=2,
           n_filters=3, ring_size=2),
    Config(n_envs=1, n_pages=1, page_words=1, tlb_size=1, stlb_size=1, n_cids=1,
           n_slices=1, n_guaranteed=1, n_regs=1, slice_ticks=1, excess_limit=0,
           n_filters=1, ring_size=1),
)
"""The configurations a run is spread over (the first gets the largest share)."""


def spread(examples: int, n: int) -> list[int]:
    """``examples`` spread over ``n`` configurations: half to the first (the user's sizes
    or the defaults), the rest evenly; every configuration gets at least one if it can."""
    if examples <= 0:
        return [0] * n
    if n == 1:
        return [examples]
    first = max(1, examples // 2)
    rest = examples - first
    return [first] + [rest // (n - 1) + (1 if k < rest % (n - 1) else 0) for k in range(n - 1)]


F = TypeVar("F", bound=Callable[..., Any])


def on(group: str) -> Callable[[F], F]:
    """A precondition: the rule runs only in examples whose swarm enabled ``group``."""
    def enabled(machine: Any) -> bool:
        return group in machine.enabled
    decorate: Callable[[F], F] = precondition(enabled)
    return decorate
