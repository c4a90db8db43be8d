"""The ``exo`` command: ``exo verify`` (the main job) and ``exo spec`` (the clause index),
with the other commands each in a module of its own (``exo.cli.cmd_*``).

Exit codes: 0 all checks passed, 1 a check failed, 2 bad usage or input (one line on
standard error, never a traceback), 3 ``exo filter overlap``/``equiv``: Z3 did not decide
the question within its budget (FLT-6, FLT-7).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from exo import __version__
from exo.cli.cmd_bench import bench_cmd
from exo.cli.cmd_check import check_cmd
from exo.cli.cmd_filter import filter_group
from exo.cli.cmd_fixtures import fixtures_group
from exo.cli.cmd_new_kernel import new_kernel_cmd
from exo.cli.cmd_prove import prove_cmd, replay_cmd
from exo.cli.cmd_serve import serve_cmd
from exo.cli.cmd_spec import spec_cmd
from exo.cli.cmd_verify import verify_cmd
from exo.cli.common import EXIT_FAIL, EXIT_OK


class _NeverRaised(Exception):
    """Stands in for click's NoArgsIsHelpError on click versions without it."""


_NO_ARGS: type[Exception] = getattr(click.exceptions, "NoArgsIsHelpError", _NeverRaised)


class _Exo(click.Group):
    """The command group, with usage errors made one line on standard error (exit 2), like
    every other bad input, instead of click's three-line usage message."""

    def main(self, args: Any = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as exc:
            ctx = exc.ctx if isinstance(exc, click.UsageError) else None
            if isinstance(exc, _NO_ARGS) and ctx is not None:  # bare `exo`: its help
                click.echo(ctx.get_help())
                sys.exit(EXIT_OK)
            where = ctx.command_path if ctx is not None else "exo"
            text = exc.format_message().replace("\n", " ")
            click.echo(f"exo: {text} (see '{where} --help')", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("exo: interrupted", err=True)
            sys.exit(EXIT_FAIL)
        sys.exit(code if isinstance(code, int) else EXIT_OK)


@click.group(
    cls=_Exo,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="""\b
Examples:
  exo verify                 run every check and proof, print the summary, exit 0/1
  exo verify --steps 20000   a longer random walk over the model
  exo spec                   list every spec clause and where the model implements it
  exo spec MEM               only the memory clauses
  exo prove -j 2             prove every obligation for all sizes, compare with the manifest
  exo prove -k step/dealloc  only the obligations whose name contains step/dealloc
  exo replay FILE            replay a saved counterexample on the executable model
  exo filter verify F.bpf    verify a tcpdump -ddd / -dd / raw BPF program
  exo filter equiv A B       prove two filters equal, or show a packet where they differ
                             (exit 3: undecided within the Z3 budget)
""",
)
@click.version_option(__version__, prog_name="exo")
def main() -> None:
    """Exo: a formally checked reference model of the exokernel architecture
    (Engler, Kaashoek, O'Toole, SOSP 1995: Aegis and its library operating systems)."""


for _command in (spec_cmd, verify_cmd, prove_cmd, replay_cmd, filter_group, check_cmd,
                 fixtures_group, serve_cmd, bench_cmd, new_kernel_cmd):
    main.add_command(_command)


if __name__ == "__main__":
    main()
