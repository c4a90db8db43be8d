"""The behaviour cells the spec's text names, read from the clauses themselves (GEN-6):
every (operation, status) pair a clause's **Requires.** and **Returns.** paragraphs name,
and every ``Outcome`` its **Returns.** paragraph names (following "as for MEM-4" to the
clause it points at); and, from the declarative text (spec/declarative/), every
requirement, every case and both sides of every branch a sentence introduces
(``sentence_cells``), with ``sentences_of`` telling which of them one call exercises.
The conformance kit counts what a run hit of them (``exo.kit.coverage``); the proofs
decide which of them no state allows (``exo.proofs.coverage``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from exo.interface import OPERATIONS, Config, Outcome, Status, admit
from exo.logic import strict_symbolic
from exo.model.state import State, symbolic, symbolic_args
from exo.spec.clauses import paragraph, sections
from exo.spec.declarative import TEXTS
from exo.spec.declarative.text import Branch, is_true, recording

__all__ = ["SENTENCE_KINDS", "Cell", "branch_id", "branch_sites", "sentence_cells",
           "sentences_of", "spec_cells"]


@dataclass(frozen=True)
class Cell:
    """One behaviour the spec names: ``id`` like ``load/REFILL_STLB`` or
    ``case/MEM-2/grantee-binding-broken``, the clause, and a short description."""

    id: str
    clause: str
    kind: str  # "status" | "outcome" | "named" (kit.coverage.CASES) | SENTENCE_KINDS
    text: str


# --------------------------------------------------------------------------- from the spec


_NAME = re.compile(r"`(?:Outcome\.|Status\.)?([A-Z_]+)`")
_AS_FOR = re.compile(r"as for ([A-Z]{2,4}-\d+)")


def _outcomes(texts: dict[str, str], clause: str, seen: frozenset[str] = frozenset()
              ) -> list[str]:
    returns = paragraph(texts.get(clause, ""), "Returns")
    names = [n for n in _NAME.findall(returns) if n in Outcome.__members__]
    for other in _AS_FOR.findall(returns):
        if other not in seen:
            names += _outcomes(texts, other, seen | {clause})
    return sorted(set(names), key=lambda n: Outcome[n].value)


@lru_cache(maxsize=1)
def spec_cells() -> tuple[Cell, ...]:
    """The status and outcome cells, read from each operation's clause."""
    texts = sections()
    cells: list[Cell] = []
    for name, sig in OPERATIONS.items():
        section = texts.get(sig.clause, "")
        named = _NAME.findall(paragraph(section, "Requires") + paragraph(section, "Returns"))
        statuses = sorted({n for n in named if n in Status.__members__} | {"OK"},
                          key=lambda n: Status[n].value)
        for st in statuses:
            cells.append(Cell(f"{name}/{st}", sig.clause, "status",
                              f"{name} returns {st}"))
        for out in _outcomes(texts, sig.clause):
            cells.append(Cell(f"{name}/OK/{out}", sig.clause, "outcome",
                              f"{name} returns OK with outcome {out}"))
    return tuple(cells)


# --------------------------------------------------------------------------- the sentences

SENTENCE_KINDS = ("requires", "case", "branch")
"""The cells the declarative text names (spec/declarative/): a requirement that fails,
a case that applies, and each side of a branch a sentence introduces inside a case."""


def _requires_id(op: str, label: str) -> str:
    return f"{op}/requires/{label}"


def _case_id(op: str, label: str) -> str:
    return f"{op}/case/{label}"


def branch_id(op: str, label: str, side: bool) -> str:
    """The cell of one side of a branch: ``load/branch/repossession-handler=no``."""
    return f"{op}/branch/{label}={'yes' if side else 'no'}"


def _branches_of(op: str) -> list[tuple[int, Branch]]:
    """Every branch the cases of ``op``'s text can take, with the case it is met in (the
    text bound to an arbitrary state and arguments; nothing is solved)."""
    text = TEXTS[op]
    out: list[tuple[int, Branch]] = []
    with strict_symbolic():
        pre = symbolic(Config.symbolic())
        args = tuple(symbolic_args(OPERATIONS[op]))
        for k, case in enumerate(text.cases):
            with recording() as taken:
                case.post(pre, args)
                case.value(pre, args)
            out += [(k, b) for b, _, _ in taken]
    return out


@lru_cache(maxsize=1)
def sentence_cells() -> tuple[Cell, ...]:
    """Every requirement, case and branch side of every operation's declarative text, in
    the text's order, each with the clause and the sentence it states."""
    cells: list[Cell] = []
    for op, text in TEXTS.items():
        for req in text.requires:
            cells.append(Cell(_requires_id(op, req.label), req.cite.clause, "requires",
                              f"{op} fails {req.cite.sentence} -> {req.status.name}"))
        for case in text.cases:
            cells.append(Cell(_case_id(op, case.label), case.cite.clause, "case",
                              f"{op}: {case.cite.sentence}"))
        seen: set[str] = set()
        for _, b in _branches_of(op):
            if b.label in seen:
                continue
            seen.add(b.label)
            for side in (True, False):
                cells.append(Cell(branch_id(op, b.label, side), b.cite.clause, "branch",
                                  f"{op}: {b.cite.sentence} [{b.label}: "
                                  f"{'yes' if side else 'no'}]"))
    return tuple(cells)


def branch_sites(op: str, label: str) -> list[tuple[int, Branch]]:
    """The cases of ``op`` in which the branch ``label`` is met (for the proofs that a
    side no state reaches is unreachable)."""
    return [(k, b) for k, b in _branches_of(op) if b.label == label]


def sentences_of(pre: State, op: str, args: tuple[Any, ...]) -> list[str]:
    """The sentence cells one call exercises on a concrete state: the first requirement
    that fails, or else the case that applies and every branch side it took (a branch
    counts only where its sentence speaks: ``within``). Arguments the operation does not
    admit (GEN-1) exercise no sentence of its text."""
    text = TEXTS.get(op) if type(op) is str else None
    plain = admit(OPERATIONS[op], args) if text is not None else None
    if text is None or plain is None:
        return []
    with recording() as taken:
        for req in text.requires:
            if is_true(req.failed(pre, plain)):
                return [_requires_id(op, req.label)]
        for case in text.cases:
            if is_true(case.when(pre, plain)):
                taken.clear()
                case.post(pre, plain)
                case.value(pre, plain)
                return [_case_id(op, case.label)] + [
                    branch_id(op, b.label, is_true(cond))
                    for b, cond, within in taken if is_true(within)]
    return []
