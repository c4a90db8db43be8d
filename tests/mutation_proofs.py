"""The proofs alone, grouped by operation: the test selection of
``scripts/mutation.sh model --proofs`` (issue 12: how many mutants of model/ the proof
obligations kill without any other test).

Not collected by the suite (the file name does not start with ``test_``); CI discharges
the same obligations through ``exo prove``. Each test states every obligation of one
operation (``step/OP/*``, ``post/OP/*``, ``thm/*/OP``) or one operation-free obligation
(``init/*``, ``flt/*``) for every size, with the manifest's budget, and fails unless Z3
answers unsat. No counterexample search: a mutant only has to be refuted.
"""

from __future__ import annotations

import os

import pytest
import z3

from exo.interface import Config
from exo.proofs.building import caching_steps
from exo.proofs.discharge import discharge
from exo.proofs.obligations import Obligation, build, obligations, solve
from exo.proofs.runner import default_manifest_path, load_manifest

OBLIGATIONS = [ob for ob in obligations()
               if not (os.environ.get("EXO_MUTATION_SINGLE_ENTRY")
                       and ob.name.endswith(("/sound", "/complete")))]
"""Every obligation; with ``EXO_MUTATION_SINGLE_ENTRY=1`` in the environment, all but the
double entry's (``post/OP/sound``, ``post/OP/complete``): the before/after comparison of
scripts/mutation-report.md."""
MANIFEST = load_manifest(default_manifest_path())


def _key(ob: Obligation) -> str:
    return ob.op if ob.op is not None else ob.name


KEYS = sorted({_key(ob) for ob in OBLIGATIONS})


@pytest.mark.parametrize("key", KEYS)
def test_proved(key: str) -> None:
    with caching_steps():  # one operation's step built once (emptied on exit)
        _prove(key)


def _prove(key: str) -> None:
    for ob in OBLIGATIONS:
        if _key(ob) != key:
            continue
        if ob.kind == "flt":
            result = discharge(ob, MANIFEST.budget(ob.name))
            assert result.ok, f"{ob.name}: {result.verdict}"
            continue
        q = build(ob, Config.symbolic())
        answer, _, _ = solve([*q.hypotheses, q.goal], MANIFEST.budget(ob.name))
        assert answer == z3.unsat, f"{ob.name}: {answer}"
