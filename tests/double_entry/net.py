"""Broken variants of NET-1..NET-4 (and REV-2 for filter removal) that keep every
invariant and the older postconditions (failure, frame, effect)."""

from __future__ import annotations

from typing import Any

from exo.interface import Outcome, Status
from exo.logic import If
from exo.model import REGISTRY
from exo.model.net import matching_filter
from exo.model.ops import finish


def _install_clears_every_record(s: Any, env: Any, program: Any) -> Any:
    """NET-1 clears the record that slot ``f`` was repossessed from ``env`` (REV-4: only
    when ``env`` gets the resource back); this one clears every environment's record of
    the slot."""
    post, res = REGISTRY["filter_install"](s, env, program)
    ok = res.status == int(Status.OK)
    f = res.value
    cleared = post.replace(repo_filter=post.repo_filter.map(
        lambda x, j, old: If(j == f, False, old)))
    return If(ok, cleared, post), res


def _remove_answers_any_kind(s: Any, env: Any, filter: Any) -> Any:
    """REV-2: a filter removal clears a pending request of kind FILTER only; this one
    also answers a page or slice revocation (a release of another kind)."""
    post, res = REGISTRY["filter_remove"](s, env, filter)
    ok = res.status == int(Status.OK)
    cleared = post.replace(rev_pending=post.rev_pending.set(env, False))
    return If(ok, cleared, post), res


def _arrive_wraps_to_one(s: Any, packet: Any) -> Any:
    """NET-3 puts the packet in slot ``(rx_head + rx_count) mod ring_size``; this ring
    wraps one slot too far (to 1, not 0)."""
    post, res = REGISTRY["packet_arrive"](s, packet)
    delivered = res.value == int(Outcome.RX_DELIVERED)
    e = s.filter_owner[matching_filter(s, packet)]
    at = s.rx_head[e] + s.rx_count[e]
    wrong = If(at >= s.cfg.ring_size, at - s.cfg.ring_size + 1, at)
    shifted = s.replace(rx_pkt=s.rx_pkt.set((e, wrong), packet),
                        rx_count=s.rx_count.set(e, s.rx_count[e] + 1))
    return If(delivered, shifted, post), res


def _take_wraps_early(s: Any, env: Any) -> Any:
    """NET-4 moves the head to the next slot, wrapping to 0 after ``ring_size - 1``; this
    one wraps one slot early, after ``ring_size - 2`` (an off-by-one in the wrap)."""
    _post, res = REGISTRY["packet_take"](s, env)
    head = s.rx_head[env]
    nxt = If(head + 2 >= s.cfg.ring_size, 0, head + 1)
    new = s.replace(rx_head=s.rx_head.set(env, nxt),
                    rx_count=s.rx_count.set(env, s.rx_count[env] - 1))
    return finish(s, new, res.status, res.value)


BROKEN: dict[str, list[tuple[str, Any]]] = {
    "filter_install": [
        ("install clears every environment's repossession record of the slot",
         _install_clears_every_record),
    ],
    "filter_remove": [("a filter removal answers a revocation of another kind",
                       _remove_answers_any_kind)],
    "packet_arrive": [("off-by-one in the ring wrap: the packet lands one slot past 0",
                       _arrive_wraps_to_one)],
    "packet_take": [("off-by-one in the ring wrap: the head wraps one slot early",
                     _take_wraps_early)],
}
