"""The declarative text (spec/declarative.md): written apart from the model, naming its
clause sentences, agreeing with the model on Python values, and able to fail.

The proofs of ``post/OP/sound`` and ``post/OP/complete`` are in tests/test_proofs.py
(every obligation); here: the text's own properties.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from exo.interface import OPERATIONS, admit
from exo.kit.lockstep import as_called
from exo.kit.witnesses import shipped
from exo.model import REGISTRY, initial
from exo.model.trap import trap
from exo.proofs.declarative import conjunct_index, failing
from exo.proofs.discharge import discharge
from exo.proofs.obligations import BY_NAME
from exo.spec.clauses import index
from exo.spec.declarative import SUBSYSTEMS, TEXTS
from exo.spec.declarative.text import Case, Text

ROOT = Path(__file__).resolve().parent.parent
TEXT_DIR = ROOT / "spec" / "declarative"


def test_every_operation_has_a_text() -> None:
    assert sorted(TEXTS) == sorted(OPERATIONS)


@pytest.mark.parametrize("path", sorted(TEXT_DIR.glob("*.py")), ids=lambda p: p.name)
def test_the_text_uses_no_function_of_the_model(path: Path) -> None:
    """The second entry is written from the clauses: nothing of ``exo.model`` but the
    ``State`` type (its fields) and ``domains`` (their sizes) may be imported."""
    allowed = {("exo.model.state", "State"), ("exo.model.state", "domains")}
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            bad = [a.name for a in node.names if a.name.startswith(("exo.model", "model"))]
            assert not bad, f"{path.name} imports {bad}"
        elif (isinstance(node, ast.ImportFrom) and node.module is not None
              and node.module.startswith(("exo.model", "model"))):
            names = {(node.module, a.name) for a in node.names}
            assert names <= allowed, f"{path.name} imports {sorted(names - allowed)}"


def test_subsystem_modules_are_named_as_in_the_model() -> None:
    model_modules = {p.stem for p in (ROOT / "model").glob("*.py")}
    assert set(SUBSYSTEMS) <= model_modules


def _section_text() -> dict[str, str]:
    """Each clause's section of spec/*.md, normalized (no backticks, asterisks or line
    breaks; one space between words)."""
    out: dict[str, str] = {}
    for c in index():
        lines = (ROOT / "spec" / c.file).read_text(encoding="utf-8").splitlines()
        body: list[str] = []
        for line in lines[c.line:]:
            if line.startswith("## "):
                break
            body.append(line)
        out[c.id] = _norm(" ".join(body))
    return out


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[`*]", "", text)).strip().lower()


def test_every_conjunct_cites_a_clause_and_its_words() -> None:
    """Every conjunct cites an existing clause, and the sentence it cites is that clause's
    own words: at least three quarters of its words occur in the clause's section."""
    sections = _section_text()
    problems: list[str] = []
    for clause, conjuncts in conjunct_index().items():
        if clause not in sections:
            problems.append(f"{clause}: no such clause ({conjuncts[0].name})")
            continue
        words_there = set(re.findall(r"[a-z0-9_]+", sections[clause]))
        for c in conjuncts:
            for cite in c.cites:
                if cite.clause != clause:
                    continue
                words = re.findall(r"[a-z0-9_]+", _norm(cite.sentence))
                found = sum(w in words_there for w in words)
                if words and found < 0.75 * len(words):
                    problems.append(f"{c.name}: {cite.clause} does not say {cite.sentence!r}")
    assert not problems, "\n".join(sorted(set(problems))[:20])


def test_conjunct_names_are_unique_and_cover_every_behaviour_clause() -> None:
    by_clause = conjunct_index()
    names = [c.name for cs in by_clause.values() for c in cs]
    assert names
    for sig in OPERATIONS.values():
        assert sig.clause in by_clause, f"no conjunct states {sig.clause} ({sig.name})"


def test_the_model_satisfies_the_text_on_every_witness_step() -> None:
    """The Python interpretation of the text: every step of the kit's witness programs
    (1,500 calls hitting every reachable coverage cell) satisfies every conjunct of its
    operation's text."""
    steps = 0
    for w in shipped():
        s = initial(w.cfg)
        for step in w.steps:
            name, args = as_called(s, *step)  # a trap step (GEN-6): the call it makes
            if name == "trap":  # refused by the trap layer: no operation ran
                s, steps = trap(s, *args)[0], steps + 1
                continue
            post, res = REGISTRY[name](s, *args)
            plain = admit(OPERATIONS[name], tuple(args))
            if name in TEXTS and plain is not None:  # else refused by type (GEN-1)
                wrong = failing(name, s, tuple(plain), res, post)
                assert not wrong, f"{name}{args} -> {res}: {[c.name for c in wrong]}"
            s, steps = post, steps + 1
    assert steps > 1000


def test_a_broken_transition_is_refuted_with_the_conjunct_named() -> None:
    from tests.double_entry.env import BROKEN

    (description, broken), = BROKEN["env_destroy"]
    res = discharge(BY_NAME["post/env_destroy/sound"], op=broken)
    assert res.verdict == "counterexample", description
    assert res.counterexample["replayed"]
    assert any("env_destroy/destroyed/rx_drops" in v and "ENV-2" in v
               for v in res.counterexample["violations"])


def test_a_text_missing_a_case_is_refuted_by_completeness(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    text = TEXTS["env_destroy"]
    only = text.cases[0]
    partial = Text(text.op, text.requires, (Case(only.label, only.cite,
                                                 lambda s, a: s.now > 0, only.post,
                                                 only.value),))
    monkeypatch.setitem(TEXTS, "env_destroy", partial)
    res = discharge(BY_NAME["post/env_destroy/complete"])
    assert res.verdict == "counterexample"
    assert res.counterexample["replayed"], res.detail
    assert "two outcomes satisfy the text" in res.detail


def test_exo_spec_lists_the_conjuncts_of_a_clause() -> None:
    import json

    from click.testing import CliRunner

    from exo.cli import main

    res = CliRunner().invoke(main, ["spec", "ENV-2", "--conjuncts"])
    assert res.exit_code == 0, res.output
    assert "env_destroy/destroyed/rx_drops" in res.output
    assert "env_destroy/requires/env-alive" in res.output
    res = CliRunner().invoke(main, ["spec", "TLB-9", "--conjuncts", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    names = {c["name"] for row in rows for c in row["conjuncts"]}
    assert "env_destroy/destroyed/tlb_valid" in names and "dealloc/deallocated/tlb_valid" in names
