"""A witness program moved to other sizes (``exo check --config``).

The shipped witness programs (``exo.kit.witnesses``) were made on the kit's own
configurations. On the user's sizes the same calls mostly mean the same thing, except
where an argument was chosen *outside* its range to reach a requirement's failure: page 7
is past the end of three pages but inside eight. ``transplant`` keeps such an argument
outside by the same distance (past the end stays past the end, by as much; a negative
index stays as it is), so the failure cell the witness was made for is still what the
call reaches. Arguments inside their range are kept: the model decides on the new sizes
what they do, and the coverage table reports what the moved programs reached.

The range of an argument is the size it indexes, by its name in ``exo.interface.OPERATIONS``
(``SIZE_OF``); ``revoke_request``'s ``target`` indexes the size of the resource it names.
"""

from __future__ import annotations

from typing import Any

from exo.interface import OPERATIONS, Cap, Config, Resource
from exo.kit.lockstep import Step

__all__ = ["SIZE_OF", "transplant"]

SIZE_OF: dict[str, str] = {
    "env": "n_envs", "grantee": "n_envs", "callee": "n_envs", "cid": "n_cids",
    "page": "n_pages", "offset": "page_words", "reg": "n_regs", "slot": "n_guaranteed",
    "slice": "n_slices", "filter": "n_filters",
}
"""The configuration size an integer argument indexes, by the argument's name (a ``cap``'s
``page`` too). ``target`` is ``n_envs`` for ``yield_to`` and the resource's size for
``revoke_request`` (``_size``)."""

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


def _size(op: str, name: str, args: tuple[Any, ...]) -> str | None:
    if name == "target":
        if op == "yield_to":
            return "n_envs"
        if op == "revoke_request" and len(args) > 1 and type(args[1]) is int:
            return _RESOURCE_SIZE.get(args[1])
        return None
    return SIZE_OF.get(name)


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
        for (name, kind), a in zip(sig.args, args, strict=True):
            if kind == "cap" and type(a) is Cap:
                moved.append(Cap(_moved(a.page, "n_pages", old, new), a.gen, a.rights))
            elif kind == "int":
                moved.append(_moved(a, _size(op, name, args), old, new))
            else:
                moved.append(a)
        out.append((op, tuple(moved)))
    return out
