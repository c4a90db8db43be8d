"""The public API a kernel may import (README, "The public API"): the names below stay;
a name taken out stays importable with a DeprecationWarning until the version its module's
``DEPRECATED`` gives (issue 23: renaming ``arg_ok`` to ``admit`` broke an outside
kernel)."""

from __future__ import annotations

import importlib
import warnings
from importlib.metadata import version

import pytest

PUBLIC: dict[str, list[str]] = {
    "exo.interface": [
        "ENUMS", "FREE", "MAX_PACKET", "NO_ENTRY", "NULL_CAP", "NUM_EXCEPTIONS",
        "NUM_VECTORS", "OPERATIONS", "OUTCOME_OPS", "TRAPS", "Cap", "Config", "EntryKind",
        "ExcKind", "Interrupt", "Mode", "OpSig", "Outcome", "Resource", "Result", "Rights",
        "Status", "Vector", "acts_for_caller", "admit", "null_value", "stlb_index",
        "tlb_index", "trap_call",
    ],
    "exo.filters": [
        "FILTER_RLIMIT", "MAX_INSNS", "MAX_PACKET", "PAIR_RLIMIT", "PAIR_WEIGHT", "UNDECIDED",
        "Atom", "DFilter", "FilterSyntaxError", "Overlap", "Program", "Rejection",
        "Undecided", "check_source", "dfilter_overlap", "difference", "evaluate", "overlap",
        "parse_any", "parse_dd", "parse_ddd", "parse_packet_hex", "program_overlap",
        "recognize", "solver_weight", "verify",
    ],
    "exo.kit": [
        "CheckReport", "Failure", "Implementation", "ModelImplementation", "Step",
        "lockstep_machine", "minimize", "replay", "run_check", "write_reproduction",
    ],
}
"""Each public module and its names: a change here is a change of the public API."""


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_the_public_names_are_declared_and_importable(module: str) -> None:
    m = importlib.import_module(module)
    assert sorted(m.__all__) == sorted(PUBLIC[module])
    for name in PUBLIC[module]:
        assert getattr(m, name) is not None, name


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".")[:3])


def test_a_name_taken_out_still_imports_with_a_warning_until_its_version() -> None:
    import exo.interface as interface

    assert interface.DEPRECATED, "nothing deprecated: drop this test's expectations"
    now = _version(version("exo-reference"))
    for name, (_, instead, until) in interface.DEPRECATED.items():
        assert now < _version(until), f"{name} was to go in {until}: remove it"
        assert name not in interface.__all__
        with pytest.warns(DeprecationWarning, match=f"exo.interface.{name} is deprecated"):
            getattr(interface, name)
        assert instead


def test_arg_ok_judges_as_admit_does() -> None:
    from exo.interface import Cap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from exo.interface import arg_ok
    assert arg_ok("int", 3) and not arg_ok("int", True) and not arg_ok("int", 3.0)
    assert arg_ok("cap", Cap(1, 0, 2)) and not arg_ok("cap", (1, 0, 2))
    assert arg_ok("packet", b"\x00") and not arg_ok("packet", bytearray(b"\x00"))


def test_an_unknown_name_is_still_an_attribute_error() -> None:
    import exo.interface as interface

    with pytest.raises(AttributeError, match="no attribute 'arg_okay'"):
        interface.arg_okay  # noqa: B018
