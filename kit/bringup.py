"""Bringing up an implementation a few operations at a time (``exo check --ops``).

An implementer may start with environments and memory and grow. ``parse_ops`` turns the
``--ops`` text (operation names, clause ids like ``MEM-1``, or clause prefixes like
``MEM``) into a set of operations; the kit then makes only those calls (every other call
a rule would make is skipped, on the model and the implementation alike) and compares only
the ``observe()`` fields those operations can change. Which operations change which field
is read from the table of spec clause GEN-5 (``spec/observe.md``), the same table an
implementer reads; ``tests/test_observe_table.py`` keeps it equal to what the model does.
Every other field then keeps its boot value in the model, so whatever the implementation
reports there is ignored.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

from exo.interface import OPERATIONS

_ROW = re.compile(r"^\|\s*`(\w+)`\s*\|")


@lru_cache(maxsize=1)
def changed_by() -> dict[str, frozenset[str]]:
    """Each ``observe()`` field and the operations GEN-5's table says can change it."""
    text = resources.files("exo.spec").joinpath("observe.md").read_text(encoding="utf-8")
    out: dict[str, frozenset[str]] = {}
    for line in text.splitlines():
        m = _ROW.match(line)
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if m is None or len(cells) != 6:
            continue
        ops = frozenset(re.findall(r"`(\w+)`", cells[4])) & OPERATIONS.keys()
        out[m.group(1)] = ops
    return out


def parse_ops(text: str) -> frozenset[str]:
    """``alloc,dealloc``, ``MEM-1,MEM-2`` or ``ENV,MEM`` as a set of operation names.
    ``trap`` (or ``GEN-6``) adds the trap layer: the chosen system calls are then also
    made through it (GEN-6), and its coverage cells are in scope. ValueError (one line,
    naming the item) for anything that names no operation."""
    chosen: set[str] = set()
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        if item in (TRAP_OP, "GEN-6"):
            chosen.add(TRAP_OP)
            continue
        named = {n for n, sig in OPERATIONS.items()
                 if item in (n, sig.clause, sig.clause.split("-")[0])}
        if not named:
            raise ValueError(f"--ops: {item!r} is neither an operation nor a clause id or "
                             "prefix of one (e.g. alloc, MEM-1, MEM, trap)")
        chosen |= named
    if not chosen - {TRAP_OP}:
        raise ValueError("--ops: no operation named")
    return frozenset(chosen)


TRAP_OP = "trap"
"""The name ``--ops`` gives the trap layer (GEN-6)."""


def fields_for(ops: frozenset[str]) -> frozenset[str]:
    """The ``observe()`` fields any of ``ops`` can change (the ones the kit compares)."""
    return frozenset(f for f, by in changed_by().items() if by & ops)
