"""The wire: kernels in any language, tested by the same lockstep machine as a Python
implementation (spec/protocol.md, WIRE-1..WIRE-6). It stands on the conformance kit
(``exo.kit``) and is never imported by it.

* ``exo.wire.codec``: values, results and states as they go over the wire;
* ``exo.wire.client``: ``WireKernel``, the conformance contract over a kernel process;
* ``exo.wire.server``: ``serve``, the server side for any Python implementation;
* ``exo.wire.fixtures``: fixture files any kernel can be run on without the kit;
* ``exo.wire.loader``: ``load_factory`` for ``package.module:Factory`` or ``cmd: COMMAND``.
"""

from exo.wire.client import WireKernel
from exo.wire.codec import WireError
from exo.wire.loader import CMD_PREFIX, load_factory
from exo.wire.server import serve

__all__ = ["CMD_PREFIX", "WireError", "WireKernel", "load_factory", "serve"]
