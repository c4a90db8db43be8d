"""The modules that moved out of ``exo/`` into the kit, the wire and the command line
(issue 21), still importable under their old names with a ``DeprecationWarning``.

``import exo.testing`` or ``from exo.protocol import WireKernel`` keeps working: the old
name is a module made on first import that holds every name of its new homes (the first
home that defines a name wins), so a kernel or a reproduction file written against the
old names runs unchanged. Nothing in Exo imports the old names; new code imports the new
ones (``MOVED`` says where each went).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from collections.abc import Sequence

MOVED: dict[str, tuple[str, ...]] = {
    # the conformance kit (exo.kit)
    "exo.testing": ("exo.kit.machine", "exo.kit.check", "exo.kit.values", "exo.model.kernel",
                    "exo.wire.loader", "exo.kit.lockstep", "exo.kit"),
    "exo.lockstep": ("exo.kit.lockstep", "exo.kit.replay", "exo.kit.reproduction",
                     "exo.kit.text", "exo.interface"),
    "exo.conformance": ("exo.kit.conformance",),
    "exo.coverage": ("exo.kit.coverage", "exo.spec.cells"),
    "exo.witnesses": ("exo.kit.witnesses",),
    "exo.lastfailure": ("exo.kit.lastfailure",),
    "exo.bringup": ("exo.kit.bringup",),
    "exo.explore": ("exo.kit.explore",),
    "exo.kit_exos": ("exo.kit.exos",),
    "exo.bpf_samples": ("exo.kit.bpf_samples",),
    "exo.kitgen": ("exo.kit.scenarios", "exo.kit.rules", "exo.kit.configs"),
    # the wire (exo.wire)
    "exo.protocol": ("exo.wire.codec", "exo.wire.client", "exo.wire.server",
                     "exo.interface"),
    "exo.fixtures": ("exo.wire.fixtures",),
    # the command line (exo.cli)
    "exo.console": ("exo.cli.console",),
    "exo.verification": ("exo.cli.verification",),
    "exo.bench": ("exo.cli.bench",),
    "exo.bench_wire": ("exo.cli.bench_wire",),
}
"""Each old module name and the modules its names now live in, in the order searched."""


def merged(old: str, homes: Sequence[str]) -> types.ModuleType:
    """A module named ``old`` holding every public and private name of ``homes`` (dunder
    names excepted); where two homes define a name, the earlier home's value."""
    module = types.ModuleType(old, f"Moved: {', '.join(homes)} (see exo._moved).")
    public: list[str] = []
    for home in reversed(homes):
        new = importlib.import_module(home)
        for name, value in vars(new).items():
            if not (name.startswith("__") and name.endswith("__")):
                setattr(module, name, value)
        public += [n for n in getattr(new, "__all__", ()) if n not in public]
    setattr(module, "__all__", sorted(public))  # noqa: B010 (a fresh module has no __all__)
    return module


class _Loader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        homes = MOVED[spec.name]
        warnings.warn(f"{spec.name} has moved: import from {homes[0]} instead "
                      f"({', '.join(homes)})", DeprecationWarning, stacklevel=2)
        return merged(spec.name, homes)

    def exec_module(self, module: types.ModuleType) -> None:
        """Nothing to run: ``create_module`` filled the module in."""


class _Finder(importlib.abc.MetaPathFinder):
    """Finds exactly the names of ``MOVED``; every other import goes on as usual."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: types.ModuleType | None = None
                  ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, _Loader())


def install() -> None:
    """Put the finder on ``sys.meta_path`` once (``import exo`` does)."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.append(_Finder())
