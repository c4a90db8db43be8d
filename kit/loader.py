"""A Python implementation named on the command line: ``"package.module:Factory"``
resolved to the factory it names (``exo check --impl``). Kernels in other processes
(``cmd: COMMAND``) are the wire's (``exo.wire.loader.load_factory`` takes both)."""

from __future__ import annotations

import importlib
from typing import Any

from exo.kit.lockstep import Factory
from exo.kit.text import message_line

__all__ = ["import_factory"]


def import_factory(spec: str) -> Factory:
    """Resolve ``"package.module:Factory"`` (the attribute may be dotted) to the factory
    it names. Any problem is a ``ValueError`` with a one-line message saying what to
    fix."""
    if not isinstance(spec, str) or spec.count(":") != 1:
        raise ValueError(f"--impl must look like 'package.module:Factory', got {spec!r}")
    module_name, _, attr = spec.partition(":")
    module_name, attr = module_name.strip(), attr.strip()
    if not module_name or not attr:
        raise ValueError(f"--impl must look like 'package.module:Factory', got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ValueError(f"cannot import {module_name!r}: {exc} (is it installed, or on "
                         f"PYTHONPATH?)") from exc
    except Exception as exc:
        raise ValueError(f"importing {module_name!r} failed: {type(exc).__name__}: "
                         f"{message_line(exc)}") from exc
    obj: Any = module
    for part in attr.split("."):
        if not part.isidentifier() or not hasattr(obj, part):
            raise ValueError(f"module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"{spec} is a {type(obj).__name__}, not a class or function "
                         "taking a Config")
    factory: Factory = obj
    return factory
