"""The executable reference model of an exokernel (Aegis, SOSP 1995).

Every operation is a pure transition ``op(state, *args) -> (new_state, Result)``, written
once over ``exo.logic`` so the same text runs on Python values and on Z3 terms. The
operations by name: ``REGISTRY``; their signatures and clauses: ``exo.interface.OPERATIONS``.
"""

from exo.model import cpu, env, exceptions, filters, memory, net, pct, revocation, tlb
from exo.model.ops import REGISTRY, Transition
from exo.model.state import State, initial, lift, symbolic

SUBSYSTEMS = (env, memory, tlb, cpu, pct, exceptions, revocation, net, filters)

__all__ = ["REGISTRY", "SUBSYSTEMS", "State", "Transition", "initial", "lift", "symbolic"]
