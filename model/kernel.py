"""The model behind the kernel contract (GEN-5): ``ModelImplementation`` runs
``exo.model.REGISTRY`` on a ``State`` through ``apply`` (and ``trap``, GEN-6) and answers
``observe`` with ``observation`` (and ``observe_as`` with ``view``, GEN-7), so the model
can stand wherever an implementation is expected (the kit's self-test, the library OS's
demo). ``exo.impl.kernel.Kernel`` is the optimized
counterpart."""

from __future__ import annotations

from typing import Any

from exo.interface import Config, Result, Status
from exo.model.ops import REGISTRY
from exo.model.state import SCALARS, State, initial, layout
from exo.model.trap import trap
from exo.model.view import view

__all__ = ["ModelImplementation", "observation"]


def observation(s: State) -> dict[str, Any]:
    """GEN-5 for a model state: scalars as they are; each map as a dict of the entries
    that differ from boot (the sparse form the contract allows)."""
    out: dict[str, Any] = {name: getattr(s, name) for name in SCALARS}
    for name, (_, boot, _) in layout(s.cfg).items():
        out[name] = {k: v for k, v in getattr(s, name).items() if v != boot}
    return out


class ModelImplementation:
    """The reference model behind the implementation interface: ``apply`` runs
    ``exo.model.REGISTRY`` on an internal ``State``; ``observe`` returns every field."""

    def __init__(self, cfg: Config | None = None) -> None:
        self.cfg = cfg if cfg is not None else Config()
        self.state: State = initial(self.cfg)

    def apply(self, name: str, *args: Any) -> Result:
        op = REGISTRY.get(name) if type(name) is str else None  # GEN-1: exact str only
        if op is None:
            return Result(Status.INVALID_ARGUMENT, 0)
        self.state, res = op(self.state, *args)
        return res

    def trap(self, name: str, *args: Any) -> Result:
        """GEN-6: system call ``name`` made by the running environment."""
        self.state, res = trap(self.state, name, *args)
        return res

    def observe(self) -> dict[str, Any]:
        """Every field (``observation``)."""
        return observation(self.state)

    def observe_as(self, env: int) -> dict[str, Any] | None:
        """GEN-7: what environment ``env`` sees (``exo.model.view.view``); None when
        ``env`` is not exactly an ``int`` naming an environment slot."""
        if type(env) is not int or not 0 <= env < self.cfg.n_envs:
            return None
        return view(env, self.state)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
