"""A new kernel to start from (``exo new-kernel DIR --lang python|c``).

The templates are package data under ``exo/kit/skeletons/``: a Python kernel
(``python/mykernel.py``) and a C kernel speaking the wire protocol (``c/kernel.c``,
``c/Makefile``), each with the processor environments (ENV-1..ENV-5) written and every
other operation refused as not written yet, and one guide for both (``GUIDE.md``, "Write
your own kernel") whose table lists the bring-up stages with the ``--ops`` set of each.
``write_skeleton`` copies one language's files and the guide into a new or empty folder;
``stages`` reads the guide's table (the test checks every stage against the kit).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

__all__ = ["LANGUAGES", "SkeletonError", "Stage", "Written", "guide_text", "stages",
           "write_skeleton"]

LANGUAGES: dict[str, tuple[str, ...]] = {
    "python": ("mykernel.py",),
    "c": ("kernel.c", "Makefile"),
}
"""Each language's template files (under ``skeletons/<language>/``), in the order they
are written; ``GUIDE.md`` goes with every language."""

GUIDE = "GUIDE.md"


class SkeletonError(ValueError):
    """A skeleton that cannot be written: the message is one line saying why."""


@dataclass(frozen=True)
class Written:
    """What ``write_skeleton`` wrote: the folder, the files in it, and the command that
    checks the kernel as shipped (stage 1 of the guide), to run from any folder."""

    directory: Path
    files: tuple[Path, ...]
    first_command: str


@dataclass(frozen=True)
class Stage:
    """One row of the guide's table: its number, what it adds, and its ``--ops`` text
    (None for the full kernel, checked without ``--ops``)."""

    number: int
    adds: str
    ops: str | None


def _template(*parts: str) -> bytes:
    return resources.files("exo.kit").joinpath("skeletons", *parts).read_bytes()


def guide_text() -> str:
    """The packaged guide, "Write your own kernel"."""
    return _template(GUIDE).decode("utf-8")


_STAGE_ROW = re.compile(r"^\|\s*(\d+)\s*\|(.*)\|(.*)\|\s*(`[^`]*`|\(none[^)]*\))\s*\|\s*$")


def stages(text: str | None = None) -> list[Stage]:
    """The stages of the guide's table (``text``, else the packaged guide), in order: rows
    ``| N | adds | clauses | `OPS` |``, the last column ``(none…)`` for no ``--ops``."""
    out: list[Stage] = []
    for line in (guide_text() if text is None else text).splitlines():
        m = _STAGE_ROW.match(line.strip())
        if m is None:
            continue
        ops = m.group(4)
        out.append(Stage(int(m.group(1)), m.group(2).strip(),
                         ops.strip("`") if ops.startswith("`") else None))
    return out


def _first_command(directory: Path, lang: str) -> str:
    ops = stages()[0].ops
    where = shlex.quote(str(directory))
    if lang == "python":
        return f"cd {where} && exo check --impl mykernel:Kernel --ops {ops}"
    return f"cd {where} && make && exo check --impl-cmd ./kernel --ops {ops}"


def write_skeleton(directory: Path, lang: str) -> Written:
    """Write the ``lang`` kernel's files and the guide into ``directory``, which must not
    exist or be an empty folder (its parents are made). ``SkeletonError`` (one line) for
    an unknown language, a path that is not an empty folder, or a folder that cannot be
    written; nothing is written then, except folders made before a write failed."""
    if lang not in LANGUAGES:
        raise SkeletonError(f"--lang: {lang!r} is not one of {', '.join(LANGUAGES)}")
    if directory.exists() or directory.is_symlink():
        if not directory.is_dir():
            raise SkeletonError(f"{directory} exists and is not a folder")
        try:
            if any(directory.iterdir()):
                raise SkeletonError(f"{directory} is not empty: name a new or empty folder")
        except OSError as exc:
            raise SkeletonError(f"cannot read {directory}: {exc.strerror or exc}") from exc
    contents = [(name, _template(lang, name)) for name in LANGUAGES[lang]]
    contents.append((GUIDE, _template(GUIDE)))
    written: list[Path] = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name, data in contents:
            path = directory / name
            with path.open("xb") as f:
                f.write(data)
            written.append(path)
    except OSError as exc:
        raise SkeletonError(f"cannot write into {directory}: {exc.strerror or exc}") from exc
    return Written(directory, tuple(written), _first_command(directory, lang))
