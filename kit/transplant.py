"""A witness program moved to other sizes (``exo check --config``).

The shipped witness programs (``exo.kit.witnesses``) were made on the kit's own
configurations. On the user's sizes the same calls mostly mean the same thing, except
where an argument was chosen *outside* its range to reach a requirement's failure: page 7
is past the end of three pages but inside eight. ``transplant`` keeps such an argument
outside by the same distance (past the end stays past the end, by as much; a negative
index stays as it is), so the failure cell the witness was made for is still what the
call reaches. Arguments inside their range are kept: the model decides on the new sizes
what they do, and the coverage table reports what the moved programs reached.

The size an argument indexes is read from its range in the spec (spec/signatures.md,
``sizes_of``); ``revoke_request``'s ``target`` indexes the size of the resource it names.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from exo.interface import OPERATIONS, Cap, Config, Resource
from exo.kit.lockstep import Step
from exo.spec.signatures import arg_ranges

__all__ = ["sizes_of", "transplant"]

_SIZE = re.compile(r"`\[0, ([a-z_]+)\)`")


@cache
def sizes_of(op: str) -> tuple[str | None, ...]:
    """The configuration size each argument of ``op`` indexes, read from its range in
    the spec (``exo.spec.signatures.arg_ranges``: "`env` in `[0, n_envs)`"); None for an
    argument with no single size (``revoke_request``'s ``target``: see ``_size``)."""
    out: list[str | None] = []
    for _, _, text in arg_ranges(op):
        found = set(_SIZE.findall(text))
        out.append(found.pop() if len(found) == 1 else None)
    return tuple(out)


_RESOURCE_SIZE = {int(Resource.PAGE): "n_pages", int(Resource.SLICE): "n_slices",
                  int(Resource.FILTER): "n_filters"}


def _moved(v: Any, size: str | None, old: Config, new: Config) -> Any:
    """``v`` past the end of ``size`` on ``old`` is as far past its end on ``new``."""
    if size is None or type(v) is not int:
        return v
    before, after = getattr(old, size), getattr(new, size)
    if type(before) is not int or type(after) is not int or v < before:
        return v
    return after + (v - before)


def _size(op: str, k: int, args: tuple[Any, ...]) -> str | None:
    if op == "revoke_request" and OPERATIONS[op].args[k][0] == "target":
        # REV-1: the target's range is the size of the resource the request names
        return _RESOURCE_SIZE.get(args[1]) if type(args[1]) is int else None
    return sizes_of(op)[k]


def transplant(steps: list[Step], old: Config, new: Config) -> list[Step]:
    """``steps`` (made on ``old``) for ``new``: every out-of-range index argument as far
    out of range on the new sizes; everything else as it is."""
    if old == new:
        return list(steps)
    out: list[Step] = []
    for op, args in steps:
        sig = OPERATIONS.get(op)
        if sig is None or len(args) != len(sig.args):
            out.append((op, args))
            continue
        moved: list[Any] = []
        for k, ((_, kind), a) in enumerate(zip(sig.args, args, strict=True)):
            if kind == "cap" and type(a) is Cap:
                moved.append(Cap(_moved(a.page, _size(op, k, args), old, new), a.gen,
                                 a.rights))
            elif kind == "int":
                moved.append(_moved(a, _size(op, k, args), old, new))
            else:
                moved.append(a)
        out.append((op, tuple(moved)))
    return out
