"""Campaign shards on a Dask distributed cluster (``exo check --scheduler ADDRESS``; the
optional extra ``exo-reference[cluster]``).

The shards are the same ``exo.kit.campaign.Shard`` values a local campaign runs, handed
to the cluster's workers as tasks (``Client.submit``), at most two per worker thread
outstanding; each worker builds the implementation itself (``exo.wire.campaign.run_named``:
a Python factory imported there, or a kernel process started there). The scheduler and
workers are the user's: ``dask scheduler`` on one machine, ``dask worker ADDRESS
--nthreads 1 --nworkers N`` on each of the others. A worker runs one shard at a time
whatever its thread count (a shard's Hypothesis run changes the process's global
state), so give each worker one thread and as many worker processes as cores.

When ``on_result`` returns False (a shard failed), shards not yet handed out are never
submitted and the outstanding ones are cancelled; Dask cannot interrupt a task already
running, so those finish their (small) budget on the worker and their results are
dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from exo.kit.campaign import Runner, Shard, ShardResult

__all__ = ["EXTRA", "map_unordered", "missing_extra", "run_dask"]

T = TypeVar("T")
R = TypeVar("R")

EXTRA = "exo-reference[cluster]"
"""The optional extra that brings dask.distributed."""

CONNECT_TIMEOUT = 20.0
"""Seconds to wait for the scheduler to answer before giving up (a usage error)."""


def missing_extra() -> str | None:
    """None if dask.distributed can be imported here, else the one-line reason."""
    try:
        import distributed  # noqa: F401 (only whether it imports)
    except ImportError:
        return (f"--scheduler needs dask.distributed, which is not installed: "
                f"pip install '{EXTRA}'")
    return None


def run_dask(address: str, shards: Iterable[Shard], runner: Runner,
             on_result: Callable[[ShardResult], bool],
             on_connect: Callable[[int], None] | None = None) -> None:
    """Run ``shards`` with ``runner`` on the Dask cluster whose scheduler listens at
    ``address``; ``on_result`` as in ``exo.kit.campaign.run_local``. ``on_connect(n)``
    is told how many worker threads the cluster has. ``ValueError`` (one line) if the
    scheduler cannot be reached or has no workers; ``RuntimeError`` if a shard raised
    on a worker (an implementation that cannot be imported there, say)."""
    map_unordered(address, runner, shards, on_result, on_connect=on_connect, label=Shard.label)


def map_unordered(address: str, fn: Callable[[T], R], items: Iterable[T],
                  on_result: Callable[[R], bool],
                  on_connect: Callable[[int], None] | None = None,
                  label: Callable[[T], str] = repr) -> None:
    """``fn`` over ``items`` on the Dask cluster at ``address``, two tasks per worker
    thread outstanding, each result to ``on_result`` as it arrives (False: stop; the
    rest is cancelled).
    The engine of ``run_dask`` and of ``exo prove --scheduler`` (whose items are groups
    of proof obligations)."""
    import distributed

    make: Any = distributed.Client
    try:
        client: Any = make(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ValueError(f"--scheduler {address}: cannot reach the scheduler: "
                         f"{type(exc).__name__}: {exc}".splitlines()[0]) from None
    try:
        threads = _threads(client)
        if on_connect is not None:
            on_connect(threads)
        source = iter(items)
        by_future: dict[Any, T] = {}
        completed: Any = distributed.as_completed
        pending: Any = completed(loop=client.loop)

        def submit() -> bool:
            item = next(source, None)
            if item is None:
                return False
            future = client.submit(fn, item, pure=False, key=f"exo-{time.time_ns()}")
            by_future[future] = item
            pending.add(future)
            return True

        while len(by_future) < 2 * threads and submit():
            pass
        for future in pending:
            item = by_future.pop(future)
            if future.status != "finished":
                problem = future.exception()
                raise RuntimeError(f"{label(item)} could not run on the cluster: "
                                   f"{type(problem).__name__}: {problem}")
            if not on_result(future.result()):
                client.cancel(list(by_future))
                return
            while len(by_future) < 2 * threads and submit():
                pass
    finally:
        client.close()


def _threads(client: Any) -> int:
    """The cluster's worker threads (at least one worker must have joined)."""
    deadline = time.monotonic() + CONNECT_TIMEOUT
    while True:
        threads = sum(client.nthreads().values())
        if threads > 0:
            return int(threads)
        if time.monotonic() >= deadline:
            raise ValueError("--scheduler: the scheduler has no workers (start some: "
                             "dask worker ADDRESS --nthreads 1 --nworkers N)")
        time.sleep(0.2)
