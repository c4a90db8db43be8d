"""Check the double entry of some operations while writing their texts.

    python scripts/double_entry.py OP [OP ...]        sound + complete of each OP
    python scripts/double_entry.py --broken MODULE    the broken variants of
                                                      tests/double_entry/MODULE.py

For a broken variant: ``post/OP/sound`` must be refuted, and every other obligation of OP
(failure, frame, effect, step/OP/INV-*, thm/*/OP) must still be proved.
"""

from __future__ import annotations

import importlib
import sys
import time

from exo.model import Transition
from exo.proofs.discharge import discharge
from exo.proofs.obligations import BY_NAME, obligations


def _run(name: str, op: Transition | None = None) -> str:
    t = time.perf_counter()
    r = discharge(BY_NAME[name], op=op)
    took = time.perf_counter() - t
    print(f"  {name:45s} {r.verdict:15s} {took:5.2f}s rlimit {r.rlimit:>9,}  {r.detail[:300]}",
          flush=True)
    return r.verdict


def main(argv: list[str]) -> int:
    bad = 0
    if argv[:1] == ["--broken"]:
        module = importlib.import_module(f"tests.double_entry.{argv[1]}")
        for op, variants in module.BROKEN.items():
            for description, fn in variants:
                print(f"{op}: {description}")
                if _run(f"post/{op}/sound", fn) != "counterexample":
                    bad += 1
                    print("  !! sound not refuted")
                others = [ob.name for ob in obligations() if ob.op == op
                          and not ob.name.endswith(("/sound", "/complete"))]
                for name in others:
                    if _run(name, fn) != "proved":
                        bad += 1
                        print(f"  !! {name} refutes it too (not only the double entry)")
        return 1 if bad else 0
    for op in argv:
        for k in ("sound", "complete"):
            if _run(f"post/{op}/{k}") != "proved":
                bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
