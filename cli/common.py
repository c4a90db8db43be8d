"""What every ``exo`` command shares: exit codes, refusing outputs that cannot be written
before any work starts, one-line usage errors, loading ``--impl``/``--impl-cmd``, and
``--config``."""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import click

from exo.interface import Config

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_UNDECIDED, EXIT_INCOMPLETE = 0, 1, 2, 3, 4


@dataclass
class Check:
    """One row of the ``exo verify`` summary."""

    name: str
    passed: bool
    detail: str
    seconds: float


def check_output(path: Path, option: str) -> None:
    """Refuse an output file that cannot be written, before any work starts."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        fail_usage(f"{option}: cannot write {path}: it is a folder")
    if not parent.is_dir():
        fail_usage(f"{option}: cannot write {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        fail_usage(f"{option}: cannot write {path}: permission denied")


def check_output_dir(path: Path, option: str) -> None:
    """Refuse an output folder that cannot be created or written, before any work starts."""
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        fail_usage(f"{option}: cannot write into {path}: {probe} is not a folder")
    if not os.access(probe, os.W_OK):
        fail_usage(f"{option}: cannot write into {path}: permission denied on {probe}")


def load_implementation(impl_spec: str) -> Any:
    """The implementation ``--impl``/``--impl-cmd`` names; a usage error (exit 2) if it
    cannot be loaded. Like ``python -m``, the current folder comes first, so ``--impl
    mykernel:Kernel`` finds ./mykernel.py without PYTHONPATH."""
    from exo.wire.loader import load_factory

    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return load_factory(impl_spec)
    except ValueError as exc:
        fail_usage(str(exc))


def given(param: str) -> bool:
    """The option was given on the command line (not its default)."""
    source = click.get_current_context().get_parameter_source(param)
    return source is not None and source is not click.core.ParameterSource.DEFAULT


def parse_config(text: str) -> Config:
    """``n_envs=2,tlb_size=1`` as a Config (the other sizes default); a usage error names
    what is wrong."""
    fields = {f.name for f in dataclasses.fields(Config)}
    values: dict[str, int] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, eq, raw = part.partition("=")
        name = name.strip()
        if not eq or name not in fields:
            fail_usage(f"--config: {part!r} is not NAME=N with NAME one of "
                        f"{', '.join(sorted(fields))}")
        if not raw.strip().isdigit():
            fail_usage(f"--config: {name} must be a decimal integer, got {raw.strip()!r}")
        values[name] = int(raw)
    cfg = Config(**values)
    problem = cfg.problem()
    if problem is not None:
        fail_usage(f"--config: {problem}")
    return cfg


def parse_ops_option(text: str | None) -> frozenset[str] | None:
    """``--ops``: None when not given, else the operation set (``exo.kit.bringup.parse_ops``);
    a usage error names what is wrong."""
    if text is None:
        return None
    from exo.kit.bringup import parse_ops

    try:
        return parse_ops(text)
    except ValueError as exc:
        fail_usage(str(exc))


# --------------------------------------------------------------------------- exo bench


def fail_usage(message: str) -> NoReturn:
    """One line on standard error, ``exo: MESSAGE``, and exit 2. The message may quote
    text from outside (a file, a kernel's standard error, an exception): its control
    characters, newlines included, are shown as escapes (``exo.cli.console.visible``)."""
    from exo.cli.console import visible

    click.echo(f"exo: {visible(message)}", err=True)
    sys.exit(EXIT_USAGE)
