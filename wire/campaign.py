"""The worker side of a campaign (``exo.kit.campaign``): build the implementation a
shard is run against where the shard runs — a Python factory, or a kernel process
speaking the wire protocol started on that worker — and end those kernel processes
when the worker stops or is told to stop."""

from __future__ import annotations

import os
import signal
import sys
import threading
import weakref
from multiprocessing import util
from types import FrameType

from exo.interface import Config
from exo.kit.campaign import Shard, ShardResult, report_progress, run_shard
from exo.kit.exhaustive import ExhaustiveReport, explore
from exo.wire import client
from exo.wire.loader import load_factory

__all__ = ["explore_named", "run_named", "worker_init"]

_ONE_AT_A_TIME = threading.Lock()
"""A shard's run changes process-wide state (Hypothesis's forced seed and clock, the
kernel-process timeout): a worker with several threads (a Dask worker) runs its shards
one after another."""


def run_named(impl_spec: str, path: str | None, step_timeout: float | None,
              shard: Shard) -> ShardResult:
    """Run ``shard`` against the implementation ``impl_spec`` names (``--impl`` or
    ``cmd: COMMAND``), resolved in this process; ``path`` (the folder ``exo check`` ran
    in) goes first on ``sys.path`` as it did there, if it exists here; a kernel process
    gets ``step_timeout`` (``exo check --step-timeout``)."""
    with _ONE_AT_A_TIME:
        if path is not None and os.path.isdir(path) and path not in sys.path:
            sys.path.insert(0, path)
        if step_timeout is not None:
            client.STEP_TIMEOUT = step_timeout
        return run_shard(shard, load_factory(impl_spec))


def explore_named(impl_spec: str, path: str | None, step_timeout: float | None,
                  cfg: Config, depth: int, ops: frozenset[str] | None, filters: str,
                  job: tuple[int, int]) -> ExhaustiveReport:
    """Shard ``shard`` of ``of`` (``job``) of the exhaustive run of ``depth`` calls at ``cfg``
    (``exo.kit.exhaustive.explore``) against the implementation ``impl_spec`` names,
    resolved here as ``run_named`` resolves it; its progress to the campaign."""
    shard, of = job
    with _ONE_AT_A_TIME:
        if path is not None and os.path.isdir(path) and path not in sys.path:
            sys.path.insert(0, path)
        if step_timeout is not None:
            client.STEP_TIMEOUT = step_timeout
        return explore(load_factory(impl_spec), cfg, depth, shard=shard, of=of, ops=ops,
                       filters=filters,
                       on_progress=lambda n: report_progress(shard, n, 0))


def worker_init() -> None:
    """In a local worker process (``exo.kit.campaign.run_local``): forget the kernel
    processes of the parent (a forked worker inherits their records, not the right to
    use them), say goodbye to its own kernels when it ends, and on SIGTERM — the
    campaign stopping it — kill them and leave at once."""
    client._RUNNING = weakref.WeakSet()
    client.WireKernel._live = {}

    def goodbye() -> None:
        client.WireKernel.close_all()
        client._kill_running()

    util.Finalize(None, goodbye, exitpriority=10)

    def stop(signum: int, frame: FrameType | None) -> None:
        client._kill_running()
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
