"""The declarative text of every operation: the second entry of the double-entry
specification (spec/declarative.md). One module per subsystem, named as in ``exo.model``;
``TEXTS`` maps each operation to its text."""

from __future__ import annotations

import importlib

from exo.spec.declarative.text import Text

SUBSYSTEMS = ("env", "memory", "tlb", "cpu", "pct", "exceptions", "revocation", "net")
"""The modules of texts, in the order of spec/README.md."""


def _collect() -> dict[str, Text]:
    out: dict[str, Text] = {}
    for name in SUBSYSTEMS:
        try:
            module = importlib.import_module(f"exo.spec.declarative.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"exo.spec.declarative.{name}":
                raise
            continue
        out.update(module.TEXTS)
    return out


TEXTS: dict[str, Text] = _collect()
"""Each operation's declarative text."""
