"""``exo bench``: the speed ratios, measured side by side in one run."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from exo.cli.common import (
    check_output,
    fail_usage,
)
from exo.cli.console import progress


@click.command("bench")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the rows as JSON to this file.")
@click.option("--plot", "plot_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the demux cost curve (10/100/1000 filters) as a PNG "
                   "(needs matplotlib: pip install 'exo-reference[bench]').")
@click.option("--quick", is_flag=True,
              help="Fewer repeats, packets and steps (seconds). Not graded: the targets "
                   "are for a full run, so the met column shows '-' (null in --json).")
@click.option("--repeat", default=5, show_default=True, type=click.IntRange(1, 1000),
              help="Runs per measurement (the median is reported); --quick uses 1.")
@click.option("--c-kernel", "c_kernel", metavar="PATH",
              help="Also measure this kernel behind the wire protocol (a built "
                   "examples/c-kernel/exo-c-kernel): lockstep steps/s over the wire, "
                   "and its own per-operation cost (PATH --bench) against exo.impl.")
def bench_cmd(json_out: Path | None, plot_out: Path | None, quick: bool, repeat: int,
              c_kernel: str | None) -> None:
    """Benchmark the optimized kernel (exo.impl) against the model; print the table.

    \b
    Rows (measured ratio, target, met): demux with 1,000 port filters model/impl, impl
    demux 1,000/10 filters, impl demux/dict lookup, STLB refill load model/impl, impl
    dealloc with STLB 10^5/10^3 entries, lockstep run_check steps per second; then the
    seconds the FLT-8 check of a generated demux takes for 10/100/1,000 filters.
    With --c-kernel PATH five more: lockstep steps/s over the wire protocol, and
    exo.impl / C kernel for a TLB hit load, an STLB refill load, a Dealloc with 8
    bindings and the demux of a packet with 1,000 port filters.
    Every figure is a median of --repeat runs measured side by side in this run.
    Targets are reported, not enforced: the exit code is 0 unless the usage is wrong
    (a --c-kernel that cannot be run, or is not conformant, is exit 2). The targets
    are for a full run: a --quick run is not graded (met shows '-', null in --json),
    since its shorter runs are not comparable with them.
    A full run takes a few minutes on 2 cores; --quick takes well under one.

    \b
    Examples:
      exo bench --quick
      exo bench --json bench.json
      pip install 'exo-reference[bench]' && exo bench --plot demux.png
      make -C examples/c-kernel && exo bench --c-kernel examples/c-kernel/exo-c-kernel
    """
    from exo.cli import bench_campaign, bench_filters, bench_wire
    from exo.cli.bench import STAGES, plot, plot_available, run, table

    if plot_out is not None and plot_available() is not None:
        fail_usage(str(plot_available()))
    if json_out is not None:
        check_output(json_out, "--json")
    if plot_out is not None:
        check_output(plot_out, "--plot")
    stages = STAGES + bench_filters.STAGES + bench_campaign.STAGES + (
        bench_wire.STAGES if c_kernel is not None else ())
    runs = 1 if quick else repeat
    with progress("exo bench", len(stages)) as task:
        def stage(name: str) -> None:
            task.update(stages.index(name))
            task.stage(f"exo bench: {name}")

        def extra(st: Callable[[str], None]) -> list[dict[str, Any]]:
            st(bench_filters.STAGES[0])
            more = bench_filters.rows(runs, quick)
            st(bench_campaign.STAGES[0])
            more += bench_campaign.rows(runs, quick)
            if c_kernel is not None:
                more += bench_wire.rows(c_kernel, runs, quick, st)
            return more

        try:
            rows = run(repeat=runs, quick=quick, echo=False, on_stage=stage, extra=extra)
        except ValueError as exc:
            if c_kernel is None:  # only the --c-kernel rows report usage as ValueError
                raise
            fail_usage(f"--c-kernel: {exc}")
    click.echo(table(rows, runs, quick))
    if json_out is not None:
        try:
            json_out.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            fail_usage(f"cannot write {json_out}: {exc.strerror}")
        click.echo(f"rows written to {json_out}")
    if plot_out is not None:
        click.echo(plot(rows, plot_out))
