"""Broken variants of EXC-1/EXC-2 that keep every invariant and the older postconditions."""

from __future__ import annotations

from typing import Any

from exo.interface import Outcome, Status
from exo.logic import And, If
from exo.model import REGISTRY


def _raise_resets_badvpage(s: Any, exc: Any) -> Any:
    """EXC-1: "`badvpage` keeps its current value"; this raise sets it to 0 when the
    exception reaches a handler."""
    post, res = REGISTRY["raise_exception"](s, exc)
    hit = And(res.status == int(Status.OK), res.value == int(Outcome.DELIVERED))
    return post.replace(badvpage=If(hit, 0, post.badvpage)), res


BROKEN: dict[str, list[tuple[str, Any]]] = {
    "raise_exception": [("raise_exception resets badvpage", _raise_resets_badvpage)],
}
