"""``exo verify``: the main job — every check and proof, one summary."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from exo.cli.common import (
    EXIT_FAIL,
    Check,
    check_output,
    fail_usage,
)
from exo.cli.console import console as _console
from exo.cli.console import outside, print_table, progress, visible
from exo.interface import Config


@click.command("verify")
@click.option("--steps", default=3000, show_default=True, type=click.IntRange(0, 10**7),
              help="Steps of each random walk over the model.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the walks.")
@click.option("--no-proofs", is_flag=True, help="Skip the Z3 proof obligations.")
@click.option("-j", "--jobs", type=click.IntRange(1, 256), default=None,
              help="Processes for the proofs (default: the machine's cores).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the summary as JSON to this file.")
def verify_cmd(steps: int, seed: int, no_proofs: bool, jobs: int | None,
               json_out: Path | None) -> None:
    """Run every check of the model and every proof; print a summary table.

    \b
    The checks:
      spec index     every clause has a home in the model, every cited id exists
      boot state     the initial state satisfies every invariant (INV-0), several sizes
      random walks   invariants after every step, failures leave the state unchanged
      symbolic run   every operation runs on Z3 terms (the proofs' interpretation)
      demux (FLT-8)  the implementation's generated packet demultiplexer, for the
                     bundled tcpdump programs, proved equal to the model's interpreter
      proofs         Z3, for all sizes: invariants hold at boot and are preserved by
                     every operation, postconditions, theorems (same as exo prove)
    Exit code 0 if everything passed, 1 otherwise.

    \b
    Examples:
      exo verify
      exo verify --steps 20000 --seed 7 --json verify.json
    """
    from exo.proofs.runner import default_jobs

    if json_out is not None:
        check_output(json_out, "--json")
    jobs = jobs or default_jobs()
    console = _console()
    checks: list[Check] = []

    def record(name: str, fn: Callable[[Callable[[int], None]], tuple[bool, str]],
               total: int | None = None) -> None:
        t0 = time.perf_counter()
        with progress(name, total) as task:
            passed, detail = fn(task.update)
        # a detail may quote an exception's message or a file: shown (and in --json)
        # with control characters as escapes
        checks.append(Check(name, passed, visible(detail), time.perf_counter() - t0))

    from exo.cli import verification as v

    record("spec index", lambda _: v.check_spec_index())
    record("boot state (INV-0)", lambda _: v.check_boot_states())
    for cfg_name, cfg in v.WALK_CONFIGS.items():
        def walk(on_step: Callable[[int], None], cfg: Config = cfg) -> tuple[bool, str]:
            return v.check_walk(cfg, steps, seed, on_step)

        record(f"random walk, {cfg_name}", walk, steps)
    record("symbolic run", lambda _: v.check_symbolic_run())
    record("generated demux (FLT-8)", lambda _: v.check_demux())
    if not no_proofs:
        from exo.proofs.obligations import obligations

        obs = obligations()
        done = [0]

        def proofs(update: Callable[[int], None]) -> tuple[bool, str]:
            def one(_: object) -> None:
                done[0] += 1
                update(done[0])
            return v.check_proofs(obs, jobs, one)

        record("proofs", proofs, len(obs))

    rows = [[c.name, "[green]passed[/green]" if c.passed else "[red]FAILED[/red]",
             outside(c.detail), f"{c.seconds:.1f}s"] for c in checks]
    print_table(console, "exo verify", ("check", "result", "detail", "time"), rows)
    failed = [c for c in checks if not c.passed]
    if json_out is not None:
        payload: dict[str, Any] = {
            "passed": not failed,
            "checks": [c.__dict__ for c in checks],
        }
        try:
            json_out.write_text(json.dumps(payload, indent=2), encoding="utf-8")
        except OSError as exc:
            fail_usage(f"cannot write {json_out}: {exc.strerror}")
    total = sum(c.seconds for c in checks)
    if failed:
        console.print(f"[red]{len(failed)} of {len(checks)} checks failed[/red] "
                      f"({total:.0f} s)")
        sys.exit(EXIT_FAIL)
    console.print(f"[green]all {len(checks)} checks passed[/green] ({total:.0f} s)")
