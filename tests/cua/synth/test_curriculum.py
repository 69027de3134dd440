"""The curriculum's decisions from success per task kind (pure logic: attempts in, picks out)."""

from __future__ import annotations

from cua.explore.curriculum import Attempt, TaskChoice, choose, decide


def runs(kind: str, pattern: str) -> list[Attempt]:
    """Attempts of ``kind``: '1' a success, '0' a failure, oldest first."""
    return [Attempt(f"{kind}-t{i % 3}", kind, c == "1") for i, c in enumerate(pattern)]


def test_too_few_attempts_is_new() -> None:
    assert decide("a11y/text", runs("a11y/text", "101")).decision == "new"


def test_thresholds_pick_harder_lateral_and_prerequisites() -> None:
    assert decide("k", runs("k", "1111111110")).decision == "harder"  # 90 %
    assert decide("k", runs("k", "1010101010")).decision == "lateral"  # 50 %
    assert decide("k", runs("k", "0000000010")).decision == "prerequisites"  # 10 %
    d = decide("k", runs("k", "1" * 15 + "0" * 20))  # only the last 20 count: 0 %
    assert d.decision == "prerequisites" and d.success == 0.0 and d.attempts == 35


def test_a_kind_outside_the_useful_band_for_three_windows_rests() -> None:
    assert decide("k", runs("k", "1" * 40)).decision == "harder"  # two windows: not yet
    rested = decide("k", runs("k", "1" * 60))
    assert rested.decision == "rested" and rested.windows_outside == 3
    assert decide("k", runs("k", "0" * 60)).decision == "rested"
    assert decide("k", runs("k", "0" * 40 + "10" * 10)).decision == "lateral"  # back in the band


def test_choose_orders_by_decision_and_shares_between_kinds() -> None:
    tasks = [
        TaskChoice("easy-short", "easy", 1),
        TaskChoice("easy-long", "easy", 5),
        TaskChoice("hard-short", "hard", 1),
        TaskChoice("hard-long", "hard", 4),
        TaskChoice("done-1", "done", 2),
    ]
    history = runs("easy", "1" * 10) + runs("hard", "0" * 10) + runs("done", "1" * 60)
    picks, decisions = choose(tasks, history, 4)
    by_kind = {d.kind: d.decision for d in decisions}
    assert by_kind == {"done": "rested", "easy": "harder", "hard": "prerequisites"}
    assert [p.task_id for p in picks] == ["easy-long", "hard-short", "easy-short", "hard-long"]


def test_new_kinds_are_tried_least_attempted_first() -> None:
    tasks = [TaskChoice("a", "k", 1), TaskChoice("b", "k", 2)]
    picks, _ = choose(tasks, [Attempt("a", "k", True)], 1)
    assert [p.task_id for p in picks] == ["b"]
