"""``exo check --replay``: the last failure is kept in Hypothesis's database and runs again
(GEN-1 lockstep; issue 11, "Failures an outsider can act on")."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from hypothesis.database import DirectoryBasedExampleDatabase

from exo.cli import main
from exo.interface import Cap, Config
from exo.kit import lastfailure

BROKEN = "tests.catalogue:TlbReplaceKeepsStaleIndex"  # caught by the witness sweep


def _check(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["check", *args])
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_replay_with_nothing_recorded_is_a_usage_error(db: DirectoryBasedExampleDatabase
                                                       ) -> None:
    code, out = _check("--replay")
    assert code == 2
    assert "no failure of exo check is recorded" in out
    assert len(out.strip().splitlines()) == 1


def test_a_failure_is_recorded_and_replays_until_fixed(db: DirectoryBasedExampleDatabase
                                                      ) -> None:
    code, out = _check("--impl", BROKEN, "--examples", "4", "--steps", "10",
                       "--repro", "first.py")
    assert code == 1, out
    assert "exo check --replay" in out
    recorded = lastfailure.load(db)
    assert recorded is not None and recorded.impl == BROKEN and recorded.calls
    assert recorded.seed is not None  # a seed was chosen and printed
    assert f"seed {recorded.seed}" in out

    code, again = _check("--replay", "--repro", "again.py")
    assert code == 1, again
    assert "replaying the failure recorded" in again
    assert f"the recorded failure still reproduces: {recorded.error}" in again
    assert "no longer reproduces" not in again
    assert Path("again.py").exists()

    code, fixed = _check("--replay", "--impl", "exo.impl:Kernel")
    assert code == 0, fixed
    # the verdict is the last lines, plainly: the failure no longer reproduces; the old
    # failure's text is shown once, as what was recorded ("it was: ..."), never after it
    verdict = fixed[fixed.index("it was: ") + len("it was: "):].split("\n", 1)[1]
    assert verdict.startswith(f"the recorded failure no longer reproduces: replayed "
                              f"{len(recorded.calls)} recorded calls, no difference"), fixed
    assert recorded.error not in verdict and "still" not in verdict
    assert fixed.count(recorded.error) == 1


def test_replay_refuses_options_that_would_change_the_run(
        db: DirectoryBasedExampleDatabase) -> None:
    for option in (["--seed", "3"], ["--steps", "5"], ["--config", "n_envs=2"],
                   ["--ops", "MEM"]):
        code, out = _check("--replay", *option)
        assert code == 2, (option, out)
        assert f"drop {option[0]}" in out


def test_a_damaged_record_is_a_usage_error(db: DirectoryBasedExampleDatabase) -> None:
    db.save(lastfailure.KEY, b"{not json")
    code, out = _check("--replay")
    assert code == 2
    assert "cannot be read" in out and "Traceback" not in out


def test_records_round_trip_and_only_the_last_is_kept(db: DirectoryBasedExampleDatabase
                                                      ) -> None:
    calls = (("alloc", (0, 0)), ("packet_arrive", (b"\x00\x01",)),
             ("tlbwr", (0, 1, Cap(0, 0, 2), True)))
    first = lastfailure.LastFailure(
        impl="a:B", cfg=Config(n_envs=2), ops=("alloc",), seed=5, steps=3, examples=7,
        error="boom", calls=calls, config_given=True, when=1.0)
    second = lastfailure.LastFailure(
        impl="c:D", cfg=None, ops=None, seed=None, steps=1, examples=1, error="bang",
        calls=None, config_given=False, when=2.0)
    lastfailure.save(first, db)
    assert lastfailure.load(db) == first
    lastfailure.save(second, db)
    assert lastfailure.load(db) == second
    assert len(list(db.fetch(lastfailure.KEY))) == 1
