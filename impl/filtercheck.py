"""NET-1, FLT-2/FLT-3, FLT-6: the packet-filter verifier and the Z3 overlap check, for the
implementation.

This adapter is the *only* place ``exo.impl`` touches ``exo.model``: the verifier
(``verify``) and the Z3 overlap check (``overlap``) are shared with the model deliberately —
the same code, not re-implemented — so the implementation refuses exactly the programs the
model refuses and reports exactly the same overlap witnesses. Everything else in
``exo.impl`` (the demultiplexer that classifies packets included) is the implementation's
own. A test scans the sources of ``impl/`` to keep it that way.
"""

from __future__ import annotations

from exo.model.filters import overlap, verify

__all__ = ["overlap", "verify"]
