"""A failure as a standalone file: ``write_reproduction`` writes the steps of a shrunk
failure so that the file fails while the bug is there and passes once it is fixed
(``exo check --repro``).

The file runs with the plain install (``python FILE``: exit 1 while the failure is there,
0 once it is gone, 2 if the implementation cannot be loaded) and is a pytest test file as
well. It runs from any folder: a command (``--impl-cmd``) is stored with its program made
absolute (``absolute_command``), and for a module (``--impl``) the folder ``exo check``
ran in is put first on ``sys.path``, as ``exo check`` did."""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from exo.interface import Cap, Config
from exo.kit.lockstep import Failure, Step
from exo.kit.replay import checked_steps
from exo.kit.text import first_line, literal, plain

__all__ = ["absolute_command", "write_reproduction"]

CMD_PREFIX = "cmd:"
"""An implementation spec naming a command (``exo.wire.loader.CMD_PREFIX``: the wire layer
sits above the kit, so the prefix is repeated here)."""

_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
"""A leading ``NAME=VALUE`` word of a command (``exo.wire.client.command_line``)."""


def absolute_command(command: str, cwd: Path | None = None) -> str:
    """``command`` (``--impl-cmd``, split as a POSIX shell splits it) with its program
    made absolute when it is a relative path (it has a ``/``, so the system does not look
    it up on ``PATH``) that exists in ``cwd`` (default: the current folder); leading
    ``NAME=VALUE`` words and the arguments are kept as typed, each shell-quoted. A command
    that cannot be split, or has no program, is returned unchanged (loading it reports
    the problem)."""
    try:
        words = shlex.split(command)
    except ValueError:
        return command
    k = 0
    while k < len(words) and _ASSIGNMENT.match(words[k]):
        k += 1
    if k == len(words):
        return command
    program = words[k]
    folder = Path.cwd() if cwd is None else cwd
    if "/" in program and not os.path.isabs(program) and (folder / program).exists():
        words[k] = os.path.abspath(folder / program)
    return shlex.join(words)


def _comment(text: str) -> str:
    return "\n".join(f"#   {line}".rstrip() for line in text.splitlines())


def write_reproduction(path: Path, impl: str, cfg: Config, steps: Sequence[Step],
                       failure: Failure, seed: int | None = None,
                       fields: frozenset[str] | None = None, cwd: Path | None = None,
                       step_timeout: float | None = None) -> Path:
    """Write a standalone file replaying ``steps`` on ``impl`` (``"package.module:
    Factory"`` as given to ``exo check --impl``, or ``"cmd: COMMAND"`` for
    ``--impl-cmd``) with ``cfg``; run with ``python`` or ``pytest``, it fails, printing
    the first difference, while the bug is there and passes once the implementation
    conforms. ``cwd`` (default: the current folder) is the folder ``exo check`` ran in:
    a command's relative program is resolved against it (``absolute_command``), and the
    file puts it first on ``sys.path`` to import a module. ``step_timeout``: the seconds
    of processor time a command's step may take (``exo check --step-timeout``), stored so
    the file judges a hang as the run did (None: the wire client's default). ``ValueError``
    if a step's arguments cannot be written as Python source that gives them back, or if
    ``step_timeout`` is not a positive finite ``float``/``int``. Returns ``path``."""
    if step_timeout is not None and (type(step_timeout) not in (int, float)
                                     or not 0 < step_timeout < float("inf")):
        raise ValueError(f"step_timeout must be a positive number of seconds, "
                         f"got {step_timeout!r}")
    plan = checked_steps(steps)
    if not isinstance(impl, str) or (impl.count(":") != 1
                                     and not impl.startswith(CMD_PREFIX)):
        raise ValueError(f"impl must look like 'package.module:Factory' or 'cmd: COMMAND', "
                         f"got {impl!r}")
    folder = Path.cwd() if cwd is None else Path(cwd)
    if impl.startswith(CMD_PREFIX):
        impl = f"{CMD_PREFIX} {absolute_command(impl[len(CMD_PREFIX):].strip(), folder)}"
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
    timeout_text = repr(float(step_timeout)) if step_timeout is not None else "None"
    path = Path(path)
    path.write_text(f'''\
# A conformance failure of {impl} against the exo model, found by the conformance kit
# (`exo check --impl {impl}`{f", seed {seed}" if seed is not None else ""});
# written by exo.kit.write_reproduction.
# The {len(plan)} steps below are replayed in lockstep with the model (exo.kit.replay);
# the first difference ({failure.kind}, after step {failure.index}) was:
{_comment(first)}
#
# Run it, from any folder, with:  python {path.name}
#   exit 1 while the bug is there, 0 once {impl} conforms,
#   2 if the implementation cannot be loaded or started.
# It is a pytest test file as well:  pytest {path.name}

import sys

from exo.interface import Cap, Config  # noqa: F401
from exo.kit import replay
from exo.wire import load_factory

IMPL = {impl!r}
FOLDER = {str(folder)!r}  # where exo check ran: first on sys.path, as there
CFG = {cfg_text}
FIELDS = {("frozenset(" + repr(sorted(fields)) + ")") if fields is not None else None}
STEP_TIMEOUT = {timeout_text}  # exo check --step-timeout
STEPS = {source_steps}


def difference() -> str | None:
    \"\"\"The first difference replaying STEPS on IMPL shows, None if there is none.\"\"\"
    if FOLDER not in sys.path:
        sys.path.insert(0, FOLDER)
    if STEP_TIMEOUT is not None:
        from exo.wire import client

        client.STEP_TIMEOUT = STEP_TIMEOUT
    failure = replay(load_factory(IMPL), CFG, STEPS, FIELDS)
    if failure is None:
        return None
    return f"step {{failure.index}} ({{failure.kind}}): {{failure.message}}"


def test_reproduction() -> None:
    found = difference()
    if found is not None:
        import pytest

        pytest.fail(found, pytrace=False)


if __name__ == "__main__":
    try:
        found = difference()
    except ValueError as exc:
        print(f"{{__file__}}: cannot run: {{exc}}", file=sys.stderr)
        sys.exit(2)
    if found is not None:
        print(f"still failing: {{found}}", file=sys.stderr)
        sys.exit(1)
    print("passed: no difference from the model")
    sys.exit(0)
''')
    return path
