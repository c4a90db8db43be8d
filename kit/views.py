"""GEN-7 in the kit: an implementation's ``observe_as(env)`` against the model's view.

A view is in the vocabulary of an observation (GEN-5), so its shape is checked by the
same ``malformed``; entries at their boot value may be listed or left out, so both sides
are brought to the sparse form before they are compared. The model's view is
``exo.model.view.view``; it lists only entries that carry meaning (a word of a page the
environment holds a right to, the tags of a valid cache slot, ...), so an
implementation that lists an entry outside the view — another environment's word, the
registers while another runs — differs from it there.
"""

from __future__ import annotations

from typing import Any

from exo.kit.conformance import malformed
from exo.model.state import SCALARS, State, layout
from exo.model.view import view

__all__ = ["sparse", "view_differences"]


def sparse(cfg_state: State, fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` (a well-formed view) without the entries at their boot value."""
    boots = {name: boot for name, (_, boot, _) in layout(cfg_state.cfg).items()}
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if name in SCALARS:
            if value != SCALARS[name]:
                out[name] = value
            continue
        rows = {k: v for k, v in value.items() if v != boots[name]}
        if rows:
            out[name] = rows
    return out


def view_differences(model: State, env: int, got: Any, limit: int = 8) -> list[str]:
    """Where ``got`` (an implementation's ``observe_as(env)``) departs from GEN-7 in the
    model's state: a malformed view, or entries the model's view has and ``got`` lacks
    or has otherwise, or entries ``got`` shows that are outside the view; at most
    ``limit`` lines, empty when they agree."""
    want = view(env, model)
    problem = malformed(model.cfg, got)
    if problem is not None:
        return [f"observe_as({env}) is malformed: "
                + problem.replace("observe()", f"observe_as({env})")]
    have = sparse(model, got)
    out: list[str] = []
    for name in [*SCALARS, *layout(model.cfg)]:
        a, b = want.get(name), have.get(name)
        if a == b:
            continue
        if name in SCALARS:
            out.append(f"{name}: model {_shown(a, name)}, implementation {_shown(b, name)}")
        else:
            a, b = a or {}, b or {}
            for k in sorted({*a, *b}, key=repr):
                if a.get(k) != b.get(k) or (k in a) != (k in b):
                    out.append(f"{name}[{k}]: model {_shown(a.get(k), name, k in a)}, "
                               f"implementation {_shown(b.get(k), name, k in b)}")
        if len(out) >= limit:
            break
    return out[:limit]


def _shown(value: Any, name: str, present: bool = True) -> str:
    """A value of a view entry, or what its absence means."""
    if value is None or not present:
        return "nothing (boot value, or outside the view)"
    return repr(value)
