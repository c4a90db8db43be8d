"""spec/signatures.md (issue 23): one table of every operation's signature, generated
from ``exo.interface.OPERATIONS`` and the clause texts; it and every clause's
**Signature.** line are what ``scripts/signatures.py`` writes, and the value kinds and
null values it states are what the model answers."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import exo.spec.signatures as signatures
from exo.interface import NULL_CAP, OPERATIONS, Cap, OpSig, Outcome, Result, Status
from exo.kit.lockstep import as_called
from exo.kit.witnesses import shipped
from exo.model import REGISTRY, initial
from exo.model.trap import trap

ROOT = Path(__file__).resolve().parent.parent


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("signatures_script",
                                                  ROOT / "scripts" / "signatures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_files_are_what_the_script_writes() -> None:
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "signatures.py"), "--check"],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr


def test_a_signature_changed_in_the_source_makes_the_table_stale(monkeypatch: pytest.MonkeyPatch
                                                                  ) -> None:
    """The check can fail: ``grant`` with two arguments swapped in ``OPERATIONS``, or a
    clause without its line, is not what the files say."""
    script = _script()
    table = (ROOT / "spec" / signatures.FILE).read_text(encoding="utf-8")
    assert script.table() == table
    grant = OPERATIONS["grant"]
    swapped = OpSig(grant.name, grant.clause, (grant.args[0], grant.args[2], grant.args[1],
                                               grant.args[3]), grant.result, grant.kind)
    monkeypatch.setitem(OPERATIONS, "grant", swapped)
    assert script.table() != table
    assert "`grant(env, grantee, cap, rights) -> Cap`" in script.table()
    monkeypatch.setitem(OPERATIONS, "grant", grant)
    memory = (ROOT / "spec" / "memory.md").read_text(encoding="utf-8")
    assert script.with_signature_lines(memory) == memory
    without = memory.replace(signatures.clause_line("grant") + "\n\n", "", 1)
    assert without != memory
    assert script.with_signature_lines(without) == memory


def test_every_operation_has_a_row_an_anchor_and_a_clause_line() -> None:
    table = (ROOT / "spec" / signatures.FILE).read_text(encoding="utf-8")
    spec = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "spec").glob("*.md"))
    for op in OPERATIONS:
        assert f'<a id="op-{op}"></a>`{op}`' in table, op
        assert signatures.clause_line(op) in spec, op


def test_every_int_argument_has_its_range_from_the_text() -> None:
    """An integer argument without a range sentence would read as "any integer": only
    ``set_reg``'s ``value`` is one (CPU-6: the data a store writes)."""
    unbounded = [(op, name) for op in OPERATIONS
                 for name, kind, rng in signatures.arg_ranges(op)
                 if kind == "int" and rng == "any integer"]
    assert unbounded == [("set_reg", "value")]
    assert signatures.arg_ranges("grant")[2] == ("grantee", "int",
                                                 "`grantee` in `[0, n_envs)`")


def _kind_of(value: Any) -> str:
    if type(value) is Cap:
        return "Cap"
    if type(value) is bytes:
        return "packet"
    if type(value) is str:
        return "witness"
    return "int" if type(value) is int else type(value).__name__


def test_value_kinds_and_null_values_are_the_model_s() -> None:
    """Over every call of the witness programs on the model: an OK value has the kind
    the table states (an Outcome is an int naming one), a failure's value is the null
    value, exactly (filter_install's OVERLAP witness excepted, NET-1)."""
    seen: set[tuple[str, str]] = set()
    for w in shipped():
        s = initial(w.cfg)
        for step in w.steps:
            op, args = as_called(s, *step)  # a trap step (GEN-6): the call it makes
            if op == "trap":  # refused by the trap layer: no operation ran
                s = trap(s, *args)[0]
                continue
            s, res = REGISTRY[op](s, *args)
            assert type(res) is Result
            got = _kind_of(res.value)
            want = signatures.value_kind(op)
            if res.status == Status.OK:
                if want == "Outcome":
                    assert got == "int" and res.value in {int(o) for o in Outcome}, (op, res)
                elif want == "slot or witness":
                    assert got == "int", (op, res)
                else:
                    assert got == want, (op, res)
                seen.add((op, "ok"))
            elif op == "filter_install" and res.status == Status.OVERLAP:
                assert got == "witness", res
            else:
                null = NULL_CAP if OPERATIONS[op].result == "cap" else 0
                assert type(res.value) is type(null) and res.value == null, (op, res)
                seen.add((op, "failed"))
    assert {op for op, how in seen if how == "ok"} == set(OPERATIONS)
