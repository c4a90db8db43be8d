"""An implementation named on the command line, in this process or another: ``"cmd:
COMMAND"`` is a kernel process speaking the wire protocol (``exo check --impl-cmd``,
spec/protocol.md); anything else is ``"package.module:Factory"``
(``exo.kit.loader.import_factory``)."""

from __future__ import annotations

from exo.kit.loader import import_factory
from exo.kit.lockstep import Factory
from exo.wire.client import WireKernel

__all__ = ["CMD_PREFIX", "load_factory"]

CMD_PREFIX = "cmd:"
"""An implementation spec naming a command (``cmd: ./my-kernel --flag``) instead of a
Python factory."""


def load_factory(spec: str) -> Factory:
    """Resolve ``"package.module:Factory"`` (the attribute may be dotted), or ``"cmd:
    COMMAND"``: a kernel process speaking the wire protocol. Any problem is a
    ``ValueError`` with a one-line message saying what to fix."""
    if isinstance(spec, str) and spec.startswith(CMD_PREFIX):
        return WireKernel.factory(spec[len(CMD_PREFIX):].strip())
    return import_factory(spec)
