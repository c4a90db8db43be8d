"""Same seed, same run (issue 22, item 6): ``exo check --seed S`` generates the same
programs and reaches the same verdict whatever the working folder's ``.hypothesis/``
holds. Hypothesis draws "local constants" from the source of the modules a process has
loaded, through a cache in that folder; the kit turns them off, so a planted cache (or a
recorded failure) between two runs changes nothing."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

KERNEL = '''\
from tests.catalogue import YieldToOutOfRange as K  # found by the seeded search
'''

ARGS = ["check", "--impl", "seedk:K", "--seed", "3", "--examples", "60", "--steps", "30"]


def _run(cwd: Path) -> str:
    env = {**os.environ, "PYTHONPATH": f"{cwd}{os.pathsep}{ROOT}"}
    proc = subprocess.run([sys.executable, "-m", "exo.cli", *ARGS], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    # what the run found and printed, without its clock
    text = re.sub(r"\d+\.\d+ ?s\b", "", proc.stdout)
    return "\n".join(ln for ln in text.splitlines() if "elapsed" not in ln)


def _plant(cwd: Path) -> int:
    """A constants cache, in Hypothesis's own format, for every local module of the
    kit: integers, bytes and strings no kit strategy draws."""
    planted = 0
    pool = repr([7, 13, 2**31 - 1, -99, b"\x45\x00", "zz", *range(100, 160)])
    folder = cwd / ".hypothesis" / "constants"
    folder.mkdir(parents=True, exist_ok=True)
    for path in (*(ROOT / "kit").glob("*.py"), *(ROOT / "model").glob("*.py"),
                 cwd / "seedk.py"):
        digest = hashlib.sha1(path.read_bytes()).hexdigest()[:16]
        (folder / digest).write_text(f"# planted\n\n{pool}", encoding="utf-8")
        planted += 1
    return planted


def test_one_seed_twice_with_a_planted_database_between(tmp_path: Path) -> None:
    (tmp_path / "seedk.py").write_text(KERNEL, encoding="utf-8")
    first = _run(tmp_path)
    assert (tmp_path / ".hypothesis").is_dir()  # the first run recorded its failure
    assert _plant(tmp_path) > 10
    second = _run(tmp_path)
    assert "not conformant" in first
    assert first == second
