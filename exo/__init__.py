"""Exo: a formally checked reference model of the exokernel architecture.

Layout (installed under this one package): ``exo.spec`` the guarantees, ``exo.model`` the
reference state machine, ``exo.impl`` the optimized implementation, ``exo.proofs`` the Z3
obligations, ``exo.libos`` a library OS on the kernel contract; ``exo.kit`` the
conformance kit, ``exo.wire`` the wire protocol on top of it, ``exo.cli`` the ``exo``
command on top of both. This folder holds only the floor they stand on: ``exo.logic``
the logic layer the model is written in, ``exo.interface`` what model and
implementations share, and ``exo.filters``, the public packet-filter façade. The layers
import downward only (``tests/test_layers.py``). Modules that lived here before
(``exo.testing``, ``exo.protocol``…) still import, with a ``DeprecationWarning``
(``exo._moved``).
"""

from exo import _moved

__version__ = "0.1.0"

_moved.install()
