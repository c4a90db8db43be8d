"""The optimized implementation of the exokernel interface: concrete, mutable, indexed.

``Kernel(cfg)`` offers ``apply(name, *args)`` and ``observe()`` (``exo.kit.conformance``); it
imports the shared interface only, never the model — except the packet-filter verifier
and Z3 overlap check, shared deliberately through ``exo.impl.filtercheck``.
``Kernel`` is loaded on first use, so importing a helper module (``exo.impl.demux``) does
not pull in the whole kernel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exo.impl.kernel import Kernel

__all__ = ["Kernel"]


def __getattr__(name: str) -> Any:
    if name == "Kernel":
        from exo.impl.kernel import Kernel

        return Kernel
    raise AttributeError(f"module 'exo.impl' has no attribute {name!r}")
