"""Broken variants of ENV-1..ENV-5 that keep every invariant and the older postconditions."""

from __future__ import annotations

from typing import Any

from exo.model import REGISTRY


def _destroy_keeps_drops(s: Any, env: Any) -> Any:
    """ENV-2 says the drop counter is cleared; this destroy keeps it."""
    post, res = REGISTRY["env_destroy"](s, env)
    return post.replace(rx_drops=post.rx_drops.set(env, s.rx_drops[env])), res


BROKEN: dict[str, list[tuple[str, Any]]] = {
    "env_destroy": [("destroy keeps the drop counter", _destroy_keeps_drops)],
}
