"""The last failure of ``exo check``, kept in Hypothesis's example database, so that
``exo check --replay`` can run it again after a fix.

Every ``exo check`` that finds a failure stores one record under the key ``KEY`` of the
database Hypothesis would use in this folder (``hypothesis.settings().database``: by
default the directory ``.hypothesis/examples``, the one pytest runs with Hypothesis
share). The record replaces the previous one. It holds what is needed to run the failure
again without a search: the implementation (``--impl``), the configuration, the bring-up
operations (``--ops``), the seed and budget of the run, the first line of the failure and
the failing calls after shrinking and step deletion (arguments encoded as in
``exo.kit.witnesses``). When Hypothesis's program could not be turned into plain calls the
calls are absent, and a replay runs the same seeded search again.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from hypothesis import settings
from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase

from exo.interface import Config
from exo.kit.lockstep import Step
from exo.kit.witnesses import decode, encode

KEY = b"exo check: last failure"
"""The database key of the record (one record: each failure replaces the last)."""

VERSION = 1


@dataclass(frozen=True)
class LastFailure:
    """One failed ``exo check`` run, as ``--replay`` needs it."""

    impl: str  # MODULE:FACTORY
    cfg: Config | None  # the configuration of the failing program (None: unknown)
    ops: tuple[str, ...] | None  # --ops, as the operation names; None: all of them
    seed: int | None
    steps: int
    examples: int
    error: str  # first line of the failure
    calls: tuple[Step, ...] | None  # the failing calls; None: only the seeded search
    config_given: bool  # the run was limited to ``cfg`` by --config
    when: float  # seconds since the epoch
    filters: str = "solver"  # --filters: the filter profile (exo.kit.profiles)

    def ops_set(self) -> frozenset[str] | None:
        return frozenset(self.ops) if self.ops is not None else None

    def to_bytes(self) -> bytes:
        record = {
            "version": VERSION, "impl": self.impl,
            "config": _config_json(self.cfg), "config_given": self.config_given,
            "ops": list(self.ops) if self.ops is not None else None,
            "seed": self.seed, "steps": self.steps, "examples": self.examples,
            "error": self.error, "when": self.when, "filters": self.filters,
            "calls": None if self.calls is None else
            [[name, [encode(a) for a in args]] for name, args in self.calls],
        }
        return json.dumps(record, sort_keys=True).encode()

    @staticmethod
    def from_bytes(data: bytes) -> LastFailure:
        """``ValueError`` if ``data`` is not a record this version wrote."""
        try:
            r = json.loads(data.decode())
            if not isinstance(r, dict) or r.get("version") != VERSION:
                raise ValueError(f"not a version-{VERSION} record")
            calls = r["calls"]
            return LastFailure(
                impl=str(r["impl"]),
                cfg=Config(**r["config"]) if r["config"] is not None else None,
                ops=tuple(r["ops"]) if r["ops"] is not None else None,
                seed=r["seed"], steps=int(r["steps"]), examples=int(r["examples"]),
                error=str(r["error"]),
                calls=None if calls is None else tuple(
                    (str(n), tuple(decode(a) for a in args)) for n, args in calls),
                config_given=bool(r["config_given"]), when=float(r["when"]),
                filters=str(r.get("filters", "solver")))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"the stored failure cannot be read ({exc}); run exo check "
                             "again") from exc


def _config_json(cfg: Config | None) -> dict[str, Any] | None:
    if cfg is None:
        return None
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}


def database() -> ExampleDatabase:
    """The database Hypothesis uses here, or its default directory if that is off."""
    db = settings().database
    return db if db is not None else DirectoryBasedExampleDatabase(".hypothesis/examples")


def save(record: LastFailure, db: ExampleDatabase | None = None) -> None:
    """Store ``record`` as the last failure (the previous one is deleted). ``OSError`` if
    the database cannot be written."""
    db = db if db is not None else database()
    for old in list(db.fetch(KEY)):
        db.delete(KEY, old)
    db.save(KEY, record.to_bytes())


def load(db: ExampleDatabase | None = None) -> LastFailure | None:
    """The last failure stored, or None. ``ValueError`` if the stored record is damaged or
    from another version."""
    db = db if db is not None else database()
    found = [LastFailure.from_bytes(v) for v in db.fetch(KEY)]
    if not found:
        return None
    return max(found, key=lambda r: r.when)
