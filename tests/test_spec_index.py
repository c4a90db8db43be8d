"""The spec and the model cite each other: every clause of spec/*.md has a home in the
model, every clause id the code cites exists, every operation's signature names the clause
its model function starts with, and every invariant is a clause."""

from __future__ import annotations

import inspect

import pytest

from exo.interface import OPERATIONS
from exo.model import REGISTRY
from exo.spec.clauses import SpecError, index, parse, problems
from exo.spec.invariants import INVARIANTS


def test_spec_and_model_link_both_ways() -> None:
    assert problems() == []


def test_every_subsystem_has_its_clauses() -> None:
    prefixes = {c.id.split("-")[0] for c in index()}
    assert {"GEN", "ENV", "MEM", "TLB", "CPU", "PCT", "EXC", "REV", "INV", "THM"} <= prefixes


@pytest.mark.parametrize("name", list(OPERATIONS))
def test_operation_docstring_starts_with_its_clause(name: str) -> None:
    doc = inspect.getdoc(REGISTRY[name]) or ""
    assert doc.startswith(OPERATIONS[name].clause), f"{name}: {doc[:40]!r}"


def test_every_invariant_is_a_clause_with_its_title() -> None:
    clauses = {c.id: c for c in index()}
    for inv in INVARIANTS:
        assert inv.id in clauses, inv.id
    assert "INV-0" in clauses


def test_duplicate_clause_ids_are_refused() -> None:
    text = "# X (MEM)\n\n## MEM-1 One\n\n## MEM-1 Again\n"
    with pytest.raises(SpecError, match=r"a.md:5: clause MEM-1 already defined at a.md:3"):
        parse([("a.md", text)])


def test_headings_that_are_not_clauses_are_ignored() -> None:
    clauses = parse([("a.md", "## Overview\n## MEM-2 Two\n### MEM-3 not level two\n")])
    assert [c.id for c in clauses] == ["MEM-2"]
