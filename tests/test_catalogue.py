"""The catalogue of broken implementations (tests/catalogue.py): each entry really
diverges from the model on its witness, and the conformance kit catches it.

``test_kit_catches`` runs ``exo check``'s default budget (``run_check(entry, None,
steps=50, examples=200)``: the witness sweep of ``exo.kit.witnesses``, then generation over
``exo.kit.configs.KIT_CONFIGS``) with one seed on every entry; each must be caught.
benchmarks/catalogue.py measures ten seeds.
"""

from __future__ import annotations

import pytest

from exo.impl import Kernel
from exo.interface import Config
from exo.kit.check import run_check
from tests.catalogue import CATALOGUE, KNOWN_ESCAPES, Broken, clause, replay

NAMES = sorted(CATALOGUE)

KIT_STEPS = 50
KIT_EXAMPLES = 200
"""``exo check``'s default budget (exo/cli.py), used by ``test_kit_catches``."""


def test_catalogue_size_and_docs() -> None:
    assert len(CATALOGUE) >= 32
    for name, cls in CATALOGUE.items():
        assert cls.__name__ == name
        assert issubclass(cls, Kernel)
        assert clause(cls), f"{name} names no clause"
        assert cls.__doc__ and clause(cls) in cls.__doc__, f"{name}: docstring lacks clause"
        assert cls.WITNESS, f"{name} has no witness"
    assert set(KNOWN_ESCAPES) <= set(CATALOGUE)


@pytest.mark.parametrize("name", NAMES)
def test_conforms_at_boot(name: str) -> None:
    cls = CATALOGUE[name]
    assert replay(cls, Config(**cls.CONFIG), ()) is None


@pytest.mark.parametrize("name", NAMES)
def test_witness_diverges(name: str) -> None:
    """The witness shows a divergence on the broken entry, and none on the real Kernel."""
    cls: type[Broken] = CATALOGUE[name]
    cfg = Config(**cls.CONFIG)
    assert replay(Kernel, cfg, cls.WITNESS) is None
    found = replay(cls, cfg, cls.WITNESS)
    assert found is not None, f"{name}: its witness shows no divergence"
    # the divergence shows at the witness's last step, not earlier
    assert found.startswith(f"step {len(cls.WITNESS) - 1} "), found


@pytest.mark.parametrize("name", NAMES)
def test_kit_catches(name: str) -> None:
    cls = CATALOGUE[name]
    report = run_check(cls, None, steps=KIT_STEPS, examples=KIT_EXAMPLES, seed=1)
    assert not report.passed, f"{name} escaped the kit ({clause(cls)})"
