"""Broken variants of ENV-1..ENV-5 that keep every invariant and the older postconditions
(failure, frame, effect); each contradicts one sentence of its clause."""

from __future__ import annotations

from typing import Any

from exo.interface import NUM_EXCEPTIONS, Status, Vector
from exo.logic import If
from exo.model import REGISTRY


def _on_success(op: str, change: Any) -> Any:
    """``op`` with ``change(pre, post, *args)`` applied to its post-state when it
    succeeds."""
    def broken(s: Any, *args: Any) -> Any:
        post, res = REGISTRY[op](s, *args)
        return If(res.status == Status.OK, change(s, post, *args), post), res
    return broken


def _destroy_keeps_drops(s: Any, post: Any, env: Any) -> Any:
    """ENV-2 says the drop counter is cleared; this destroy keeps it."""
    return post.replace(rx_drops=post.rx_drops.set(env, s.rx_drops[env]))


def _create_keeps_drops(s: Any, post: Any, env: Any, cid: Any) -> Any:
    """ENV-1 says the new environment's drop counter is 0; this create keeps the slot's."""
    return post.replace(rx_drops=post.rx_drops.set(env, s.rx_drops[env]))


def _also_next_kind(s: Any, post: Any, env: Any, exc: Any, entry: Any) -> Any:
    """ENV-3 sets the handler of one kind; this one also sets the next kind's."""
    nxt = If(exc + 1 >= NUM_EXCEPTIONS, 0, exc + 1)
    return post.replace(entry=post.entry.set((env, int(Vector.TLB_MISS) + nxt), entry))


def _start_clears_end(s: Any, post: Any, env: Any, which: Any, entry: Any) -> Any:
    """ENV-4 sets one of the two entries; registering the start entry here also removes
    the end-of-slice entry."""
    end = (env, int(Vector.SLICE_END))
    return post.replace(entry=post.entry.set(end, If(which == 0, -1, post.entry[end])))


def _sync_sets_async(s: Any, post: Any, env: Any, which: Any, entry: Any) -> Any:
    """ENV-5 sets one of the two entry points; registering the synchronous one here also
    sets the asynchronous one."""
    other = (env, int(Vector.PCT_ASYNC))
    return post.replace(entry=post.entry.set(other, If(which == 0, entry, post.entry[other])))


BROKEN: dict[str, list[tuple[str, Any]]] = {
    "env_destroy": [("destroy keeps the drop counter",
                     _on_success("env_destroy", _destroy_keeps_drops))],
    "env_create": [("create keeps the slot's old drop counter",
                    _on_success("env_create", _create_keeps_drops))],
    "set_exception_context": [("the handler is also set for the next kind",
                               _on_success("set_exception_context", _also_next_kind))],
    "set_interrupt_context": [("registering the start entry removes the end entry",
                               _on_success("set_interrupt_context", _start_clears_end))],
    "set_protected_entry": [("registering the synchronous entry also sets the asynchronous",
                             _on_success("set_protected_entry", _sync_sets_async))],
}
