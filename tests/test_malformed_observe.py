"""GEN-5: a malformed ``observe()`` is a failure that names the field (and the key), not
a confusing state difference or a traceback from inside the kit (issue 11)."""

from __future__ import annotations

from typing import Any

import pytest

from exo.impl import Kernel
from exo.interface import Config
from exo.kit.conformance import abstract, malformed
from exo.kit.lockstep import Lockstep

CFG = Config()

CASES: list[tuple[str, Any, str]] = [
    # (field, bad value, words the message must contain)
    ("tlb_valid", {0: 1}, "'tlb_valid'[0]: 1 is an int; its values are bools"),
    ("tlb_valid", {True: True}, "'tlb_valid': key True; its keys are an int in [0, 4)"),
    ("word", {(0, 9): 0}, "'word': key (0, 9)"),
    ("word", {0: 0}, "'word': key 0; its keys are a tuple (i, j)"),
    ("gen", [0], "'gen': a list; a map field is a dict"),
    ("now", "3", "'now': '3' is a str; a scalar field is an int"),
    ("now", True, "'now': True is a bool"),
    ("bogus", 1, "a field the model does not: 'bogus'"),
    ("rx_pkt", {(0, 0): "00"}, "'rx_pkt'[(0, 0)]: '00' is a str; its values are bytes"),
]


class Reports(Kernel):
    """The shipped kernel, with one field of its observation replaced."""

    def __init__(self, cfg: Config, field: str, value: Any) -> None:
        super().__init__(cfg)
        self.field, self.value = field, value

    def observe(self) -> dict[str, Any]:
        out = super().observe()
        out[self.field] = self.value
        return out


@pytest.mark.parametrize(("field", "value", "words"), CASES)
def test_the_kit_names_the_malformed_field(field: str, value: Any, words: str) -> None:
    ls = Lockstep(lambda cfg: Reports(cfg, field, value), CFG)
    failure = ls.conforms()
    assert failure is not None and failure.kind == "observe"
    assert words in failure.message, failure.message
    assert "GEN-5" in failure.message and "Traceback" not in failure.message


@pytest.mark.parametrize(("field", "value", "words"), CASES)
def test_abstract_refuses_it_with_the_same_words(field: str, value: Any, words: str) -> None:
    with pytest.raises((KeyError, ValueError)) as info:
        abstract(CFG, {field: value})
    assert words in info.value.args[0]


def test_not_a_dict() -> None:
    assert malformed(CFG, None) == "observe() returned a NoneType, not a dict"
    assert malformed(CFG, [("now", 1)]) == "observe() returned a list, not a dict"


def test_well_formed_observations_pass() -> None:
    k = Kernel(CFG)
    assert malformed(CFG, k.observe()) is None
    assert malformed(CFG, {}) is None  # the sparse form of the boot state
    k.apply("env_create", 0, 0)
    k.apply("alloc", 0, 3)
    assert malformed(CFG, k.observe()) is None
