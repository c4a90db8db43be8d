"""The behaviour cells the spec's text names, read from the clauses themselves (GEN-6):
every (operation, status) pair a clause's **Requires.** and **Returns.** paragraphs name,
and every ``Outcome`` its **Returns.** paragraph names (following "as for MEM-4" to the
clause it points at). The conformance kit counts what a run hit of them
(``exo.kit.coverage``); the proofs decide which of them no state allows
(``exo.proofs.coverage``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from exo.interface import OPERATIONS, Outcome, Status
from exo.spec.clauses import HEADING, spec_files

__all__ = ["Cell", "spec_cells"]


@dataclass(frozen=True)
class Cell:
    """One behaviour the spec names: ``id`` like ``load/REFILL_STLB`` or
    ``case/MEM-2/grantee-binding-broken``, the clause, and a short description."""

    id: str
    clause: str
    kind: str  # "status" | "outcome" | "case"
    text: str


# --------------------------------------------------------------------------- from the spec


def _sections() -> dict[str, str]:
    """Each clause id's text (heading excluded), from every spec file."""
    out: dict[str, list[str]] = {}
    for _, text in spec_files():
        cur: str | None = None
        for line in text.splitlines():
            m = HEADING.match(line)
            if m:
                cur = m.group(1)
                out[cur] = []
                continue
            if line.startswith("## "):
                cur = None
            if cur is not None:
                out[cur].append(line)
    return {k: "\n".join(v) for k, v in out.items()}


def _paragraph(section: str, head: str) -> str:
    """The ``**head.**`` paragraph of a clause (up to the next bold paragraph head)."""
    lines: list[str] = []
    on = False
    for line in section.splitlines():
        if line.startswith("**"):
            on = line.startswith(f"**{head}.**")
        if on:
            lines.append(line)
    return "\n".join(lines)


_NAME = re.compile(r"`(?:Outcome\.|Status\.)?([A-Z_]+)`")
_AS_FOR = re.compile(r"as for ([A-Z]{2,4}-\d+)")


def _outcomes(sections: dict[str, str], clause: str, seen: frozenset[str] = frozenset()
              ) -> list[str]:
    returns = _paragraph(sections.get(clause, ""), "Returns")
    names = [n for n in _NAME.findall(returns) if n in Outcome.__members__]
    for other in _AS_FOR.findall(returns):
        if other not in seen:
            names += _outcomes(sections, other, seen | {clause})
    return sorted(set(names), key=lambda n: Outcome[n].value)


@lru_cache(maxsize=1)
def spec_cells() -> tuple[Cell, ...]:
    """The status and outcome cells, read from each operation's clause."""
    sections = _sections()
    cells: list[Cell] = []
    for name, sig in OPERATIONS.items():
        section = sections.get(sig.clause, "")
        named = _NAME.findall(_paragraph(section, "Requires") + _paragraph(section, "Returns"))
        statuses = sorted({n for n in named if n in Status.__members__} | {"OK"},
                          key=lambda n: Status[n].value)
        for st in statuses:
            cells.append(Cell(f"{name}/{st}", sig.clause, "status",
                              f"{name} returns {st}"))
        for out in _outcomes(sections, sig.clause):
            cells.append(Cell(f"{name}/OK/{out}", sig.clause, "outcome",
                              f"{name} returns OK with outcome {out}"))
    return tuple(cells)
