"""Exo: a formally checked reference model of the exokernel architecture.

Layout (installed under this one package): ``exo.spec`` the guarantees, ``exo.model`` the
reference state machine, ``exo.impl`` the optimized implementation, ``exo.proofs`` the Z3
obligations; ``exo.logic`` the logic layer the model is written in, ``exo.interface`` what
model and implementations share.
"""

__version__ = "0.1.0"
