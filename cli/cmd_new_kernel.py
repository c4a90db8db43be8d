"""``exo new-kernel``: a kernel to start from, and the guide "Write your own kernel"."""

from __future__ import annotations

from pathlib import Path

import click

from exo.cli.common import fail_usage


@click.command("new-kernel")
@click.argument("directory", type=click.Path(path_type=Path), metavar="DIR")
@click.option("--lang", "lang", type=str, default="python", show_default=True,
              metavar="python|c",
              help="The kernel's language: 'python' (a module, checked with --impl) or "
                   "'c' (a process speaking the wire protocol, built with make, checked "
                   "with --impl-cmd; needs a C compiler and Jansson).")
def new_kernel_cmd(directory: Path, lang: str) -> None:
    """Write a new kernel into DIR (new, or an empty folder) and the guide GUIDE.md.

    The kernel does the processor environments (ENV-1..ENV-5) and passes
    'exo check --ops ENV' as written; every other operation answers "not written yet",
    which the check reports as a failure once a stage names it. GUIDE.md ("Write your
    own kernel") says what the check compares and gives the bring-up stages in order,
    each with the operations it adds, its --ops set and its command, up to the full
    kernel (no --ops), the trap layer, the views and the fixture suite.
    Exit 0: written (the files and the first command to run are printed); 2: DIR exists
    and is not an empty folder, an unknown --lang, or DIR cannot be written.

    \b
    Examples:
      exo new-kernel mykernel
      cd mykernel && exo check --impl mykernel:Kernel --ops ENV
      exo new-kernel ckernel --lang c
      cd ckernel && make && exo check --impl-cmd ./kernel --ops ENV
    """
    from exo.kit.skeleton import SkeletonError, write_skeleton

    try:
        written = write_skeleton(directory, lang)
    except SkeletonError as exc:
        fail_usage(str(exc))
    click.echo(f"wrote a {'C' if lang == 'c' else 'Python'} kernel into {directory}:")
    for path in written.files:
        click.echo(f"  {path}")
    click.echo("stage 1 of GUIDE.md (it passes as written):")
    click.echo(f"  {written.first_command}")
    click.echo(f"then follow {directory / 'GUIDE.md'}, stage by stage.")
