"""What every obligation is built from: one Z3 constant per argument of an operation
(``symbolic_args``), and the block inside which what is built once is shared
(``caching_steps``: an operation's step in ``exo.proofs.obligations``, an arbitrary
state's invariants in ``exo.proofs.declarative``; each registers how it forgets with
``on_cache_exit``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from exo.model.state import symbolic_args

__all__ = ["caching", "caching_steps", "on_cache_exit", "symbolic_args"]  # the last: model.state


_ON_EXIT: list[Callable[[], None]] = []
"""How each cache forgets, called when the outermost ``caching_steps`` block ends."""


def on_cache_exit(forget: Callable[[], None]) -> None:
    """Call ``forget`` whenever the outermost ``caching_steps`` block ends."""
    _ON_EXIT.append(forget)


_CACHING: list[bool] = []


@contextmanager
def caching_steps() -> Iterator[None]:
    """Within this block, an operation's step (and an arbitrary state's invariants) is
    built once and shared by every obligation about it; both caches are emptied on exit.
    The proof runner discharges inside it. Outside it nothing is cached, so code that
    replaces a model function in this process (the sensitivity tests patch them) is
    always the code the next proof sees."""
    _CACHING.append(True)
    try:
        yield
    finally:
        _CACHING.pop()
        if not _CACHING:
            for forget in _ON_EXIT:
                forget()


def caching() -> bool:
    """Is a ``caching_steps`` block active?"""
    return bool(_CACHING)
