"""exo.limits: the nesting check every boundary runs before parsing.

``depth_problem``'s fast path (strings removed, innermost bracket pairs removed
``max_depth`` times) answers as the character-by-character scan does, on random JSON
texts, mangled ones (unbalanced brackets, stray quotes and backslashes, lone surrogates)
and texts exactly at the limit.
"""

from __future__ import annotations

import json
import os
import random
import threading
from pathlib import Path
from typing import Any

import pytest

from exo.limits import MAX_DEPTH, _depth_scan, depth_problem, loads, read_json

HANG_GUARD = 300.0
"""Seconds a reader thread may take before the test calls it stuck: a guard against a
hang only (the correct reader answers without waiting, however loaded the machine)."""


def _value(rng: random.Random, depth: int) -> Any:
    if depth == 0 or rng.random() < 0.3:
        return rng.choice([1, "a[b", 'q\\"]{', None, True, "é[ü]", "}"])
    if rng.random() < 0.5:
        return [_value(rng, depth - 1) for _ in range(rng.randint(0, 3))]
    return {f"k{i}[": _value(rng, depth - 1) for i in range(rng.randint(0, 3))}


def test_the_fast_path_answers_as_the_scan() -> None:
    rng = random.Random(1)
    too_deep = 0
    for _ in range(3000):
        text = json.dumps(_value(rng, rng.randint(0, 80)), ensure_ascii=rng.random() < 0.5)
        if rng.random() < 0.2:
            k = rng.randrange(len(text) + 1)
            text = text[:k] + rng.choice(["[", "]", "{", "}", '"', "\\", "\n", "\ud800"]) + text[k:]
        for limit in (1, 3, 10, MAX_DEPTH):
            fast = depth_problem(text, limit)
            assert (fast is None) == (_depth_scan(text, limit) is None), (text[:80], limit)
            too_deep += fast is not None
    assert too_deep > 1000


def test_the_limit_is_exact() -> None:
    for limit in (1, 2, 7, MAX_DEPTH):
        assert depth_problem("[" * limit + "]" * limit, limit) is None
        assert depth_problem("[" * (limit + 1) + "]" * (limit + 1), limit) is not None
        assert depth_problem('{"a":' * limit + "1" + "}" * limit, limit) is None
        assert depth_problem('["[[[["' + ",[" * limit + "]" * limit + "]", limit + 1) is None


def test_loads_refuses_what_is_too_deep_before_parsing() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    try:
        loads(deep)
    except ValueError as exc:
        assert "nested too deeply" in str(exc)
    else:
        raise AssertionError("a text 100,000 levels deep was parsed")


def test_a_file_swapped_for_a_fifo_after_its_stat_is_refused_not_waited_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``read_json`` judges the file it opened, not only the one it stat-ed: a regular
    file swapped for a FIFO between the two is refused with one line (an open or read of
    the FIFO would wait for a writer forever). The swap is simulated: ``Path.stat``
    answers with a regular file's stat for the FIFO."""
    regular = tmp_path / "regular.json"
    regular.write_text("{}")
    fifo = tmp_path / "swapped.json"
    os.mkfifo(fifo)
    real_stat = Path.stat

    def stat_before_swap(self: Path, **kwargs: Any) -> os.stat_result:
        return real_stat(regular if self == fifo else self, **kwargs)

    monkeypatch.setattr(Path, "stat", stat_before_swap)
    outcome: list[BaseException | object] = []

    def read() -> None:
        try:
            outcome.append(read_json(fifo, 1 << 20, ValueError, "fixture"))
        except BaseException as exc:  # the outcome, whatever it is, is what is checked
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(HANG_GUARD)
    if reader.is_alive():  # only a broken reader gets here: unblock it, then fail
        with open(fifo, "wb"):
            pass
        pytest.fail("read_json waited on a FIFO it had stat-ed as a regular file")
    assert len(outcome) == 1 and isinstance(outcome[0], ValueError), outcome
    assert str(outcome[0]) == f"{fifo}: not a regular file, not a fixture file"
