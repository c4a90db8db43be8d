"""``benchmarks/libos.py`` runs from any folder and, without matplotlib, says in one line
which extra ``--plots`` needs, before measuring anything."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "libos.py"
CPU_SECONDS = 60
"""A hang guard: RLIMIT_CPU counts the child's own CPU time, not the machine's load."""


def _cpu_limited() -> None:
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900,
                          preexec_fn=_cpu_limited)


def test_it_starts_from_another_folder(tmp_path: Path) -> None:
    done = _run(["--help"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "--plots" in done.stdout and "exo-reference[bench]" in done.stdout


def test_plots_without_matplotlib_is_one_line_before_any_work(tmp_path: Path) -> None:
    """matplotlib made unimportable (a package of that name that raises ImportError, first
    on PYTHONPATH): exit 2, one line naming the extra, nothing measured or written."""
    blocker = tmp_path / "blocker" / "matplotlib"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text('raise ImportError("no matplotlib here")\n')
    env = {**os.environ, "PYTHONPATH": str(blocker.parent)}
    plots = tmp_path / "plots"
    done = _run(["--plots", str(plots)], tmp_path, env)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stderr == ("libos.py: --plots needs matplotlib: "
                           "pip install 'exo-reference[bench]'\n"), done.stderr
    assert done.stdout == "" and not plots.exists()


def test_a_json_path_in_no_folder_is_refused_before_any_work(tmp_path: Path) -> None:
    done = _run(["--json", str(tmp_path / "missing" / "out.json")], tmp_path)
    assert done.returncode == 2 and done.stdout == "", done.stdout[-2000:]
    assert done.stderr.count("\n") == 1 and "no folder" in done.stderr, done.stderr
