"""Write spec/signatures.md (``exo.spec.signatures.markdown``, with the kit's
configurations) and the **Signature.** line of every operation's clause.

    python scripts/signatures.py [--check]

``--check``: write nothing; exit 1 if a file is not what would be written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from exo.interface import OPERATIONS
from exo.kit.configs import KIT_CONFIGS
from exo.spec.signatures import FILE, clause_line, markdown

SPEC = Path(__file__).resolve().parent.parent / "spec"


def table() -> str:
    """spec/signatures.md with the kit's configurations as columns."""
    return markdown([(f"kit {k}", c) for k, c in enumerate(KIT_CONFIGS)],
                    "The columns *kit 0* to *kit 3* are the kit's configurations "
                    "(`exo.kit.configs.KIT_CONFIGS`): `exo check` and the fixture suite "
                    "spread their programs over them, half to *kit 0*, unless `--config` "
                    "names one.")


def with_signature_lines(text: str) -> str:
    """``text`` (a clause file) with each operation's **Signature.** line right under
    its clause's heading (replacing one already there)."""
    lines = text.splitlines()
    out: list[str] = []
    skip_blank = False
    for line in lines:
        if line.startswith("**Signature.**"):
            skip_blank = True
            continue
        if skip_blank and not line.strip():
            skip_blank = False
            continue
        skip_blank = False
        out.append(line)
        if line.startswith("## "):
            cid = line.split()[1]
            ops = [op for op, sig in OPERATIONS.items() if sig.clause == cid]
            if ops:
                out.append("")
                out += [clause_line(op) + ("  " if k < len(ops) - 1 else "")
                        for k, op in enumerate(ops)]
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    wanted = {SPEC / FILE: table()}
    for path in sorted(SPEC.glob("*.md")):
        if path.name == FILE:
            continue
        text = path.read_text(encoding="utf-8")
        wanted[path] = with_signature_lines(text)
    stale = [p for p, t in wanted.items()
             if not p.exists() or p.read_text(encoding="utf-8") != t]
    if a.check:
        for p in stale:
            print(f"{p.relative_to(SPEC.parent)} is not what scripts/signatures.py writes",
                  file=sys.stderr)
        return 1 if stale else 0
    for p in stale:
        p.write_text(wanted[p], encoding="utf-8")
        print(f"wrote {p.relative_to(SPEC.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
