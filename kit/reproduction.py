"""A failure as a standalone pytest file: ``write_reproduction`` writes the steps of a
shrunk failure so that the file fails while the bug is there and passes once it is
fixed (``exo check --repro``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from exo.interface import Cap, Config
from exo.kit.lockstep import Failure, Step
from exo.kit.replay import checked_steps
from exo.kit.text import first_line, literal, plain

__all__ = ["write_reproduction"]


def _comment(text: str) -> str:
    return "\n".join(f"#   {line}".rstrip() for line in text.splitlines())


def write_reproduction(path: Path, impl: str, cfg: Config, steps: Sequence[Step],
                       failure: Failure, seed: int | None = None,
                       fields: frozenset[str] | None = None) -> Path:
    """Write a standalone pytest file replaying ``steps`` on ``impl`` (``"package.module:
    Factory"``, as given to ``exo check --impl``) with ``cfg``; it fails, printing the
    first difference, while the bug is there and passes once the implementation
    conforms. ``ValueError`` if a step's arguments cannot be written as Python source
    that gives them back. Returns ``path``."""
    plan = checked_steps(steps)
    if not isinstance(impl, str) or (impl.count(":") != 1 and not impl.startswith("cmd:")):
        raise ValueError(f"impl must look like 'package.module:Factory' or 'cmd: COMMAND', "
                         f"got {impl!r}")
    lines: list[str] = []
    for name, args in plan:
        text = literal(tuple(plain(a) for a in args))
        lines.append(f"    ({name!r}, {text}),  # {len(lines)}")
    source_steps = "[\n" + "\n".join(lines) + ("\n]" if lines else "]")
    namespace: dict[str, Any] = {"__builtins__": {}, "Cap": Cap, "bytes": bytes,
                                 "float": float}
    try:  # the file must mean the same steps
        back = eval(source_steps, namespace)
    except Exception as exc:
        raise ValueError(f"the steps cannot be written as Python source: "
                         f"{first_line(exc)}") from exc
    expected = [(n, tuple(plain(a) for a in a_)) for n, a_ in plan]
    if back != expected and not ("float(" in source_steps
                                 and literal(back) == literal(expected)):  # NaN
        raise ValueError("the steps cannot be written as Python source that gives them back")
    cfg_text = "Config(" + ", ".join(
        f"{f.name}={literal(getattr(cfg, f.name))}" for f in dataclasses.fields(cfg)) + ")"
    first = failure.message.splitlines()[0] if failure.message else ""
    path = Path(path)
    path.write_text(f'''\
# A conformance failure of {impl} against the exo model, found by the conformance kit
# (`exo check --impl {impl}`{f", seed {seed}" if seed is not None else ""});
# written by exo.kit.write_reproduction.
# The {len(plan)} steps below are replayed in lockstep with the model (exo.kit.replay);
# the first difference ({failure.kind}, after step {failure.index}) was:
{_comment(first)}
#
# Run it with:  pytest {path.name}
# It fails while the bug is there and passes once {impl} conforms.

import pytest

from exo.interface import Cap, Config  # noqa: F401
from exo.kit import replay
from exo.wire import load_factory

IMPL = {impl!r}
CFG = {cfg_text}
FIELDS = {("frozenset(" + repr(sorted(fields)) + ")") if fields is not None else None}
STEPS = {source_steps}


def test_reproduction() -> None:
    failure = replay(load_factory(IMPL), CFG, STEPS, FIELDS)
    if failure is not None:
        pytest.fail(f"step {{failure.index}} ({{failure.kind}}): {{failure.message}}",
                    pytrace=False)
''')
    return path
