"""Cohen's kappa and the confusion matrix against hand-computed values."""

from __future__ import annotations

import pytest

from cua.eval.judge import Confusion, JudgeEvaluation, RunJudgement, cohen_kappa


def pairs(counts: dict[tuple[bool, bool], int]) -> list[tuple[bool, bool]]:
    return [pair for pair, n in counts.items() for _ in range(n)]


def test_kappa_textbook_example() -> None:
    # 50 items: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no.
    # p_o = 35/50 = 0.7; p_e = 0.5*0.6 + 0.5*0.4 = 0.5; kappa = 0.2/0.5 = 0.4
    data = pairs({(True, True): 20, (True, False): 5, (False, True): 10, (False, False): 15})
    assert cohen_kappa(data) == pytest.approx(0.4)


def test_kappa_second_hand_example() -> None:
    # 10 items: 4 T/T, 1 T/F, 2 F/T, 3 F/F. p_o = 0.7; a: T .5, b: T .6 -> p_e = .3 + .2 = .5; kappa .4
    # and an asymmetric one: 6 T/T, 2 T/F, 0 F/T, 2 F/F: p_o = .8; a T .8, b T .6 -> p_e = .48 + .08 = .56
    # kappa = .24 / .44 = 0.545454...
    assert cohen_kappa(pairs({(True, True): 4, (True, False): 1, (False, True): 2, (False, False): 3})) == (
        pytest.approx(0.4)
    )
    got = cohen_kappa(pairs({(True, True): 6, (True, False): 2, (False, False): 2}))
    assert got == pytest.approx(0.24 / 0.44)


def test_kappa_edges() -> None:
    assert cohen_kappa([(True, True), (False, False)]) == pytest.approx(1.0)
    assert cohen_kappa([(True, False), (False, True)]) == pytest.approx(-1.0)
    # a rater that always says True against mixed truth: agreement is all chance
    assert cohen_kappa([(True, True), (True, True), (False, True)]) == pytest.approx(0.0)
    assert cohen_kappa([(True, True), (True, True)]) is None  # p_e = 1: undefined
    assert cohen_kappa([]) is None


def test_confusion_and_figures() -> None:
    rows = [
        RunJudgement("a", "t", "oracle", True, True, ""),
        RunJudgement("b", "t", "oracle", True, None, ""),
        RunJudgement("c", "t", "noop", False, True, ""),
        RunJudgement("d", "t", "noop", False, False, ""),
        RunJudgement("e", "t", "noop", False, False, ""),
    ]
    ev = JudgeEvaluation("x", rows, skipped=2)
    c = ev.confusion
    assert c == Confusion(pass_success=1, pass_unknown=1, fail_success=1, fail_failure=2)
    assert (c.total, c.committed, c.agreed) == (5, 4, 3)
    assert ev.coverage == pytest.approx(0.8)
    assert ev.accuracy == pytest.approx(0.75)
    assert ev.accuracy_all == pytest.approx(0.6)
    # committed: T/T, F/T, F/F, F/F: p_o .75; a T .25, b T .5 -> p_e .125 + .375 = .5; kappa .5
    assert ev.kappa == pytest.approx(0.5)
    data = ev.to_json()
    assert data["kappa"] == 0.5 and data["coverage"] == 0.8 and data["skipped_without_validator"] == 2
    assert "kappa +0.500" in ev.table() and "coverage 80.0%" in ev.table()


def test_an_empty_evaluation_reports_no_figures() -> None:
    ev = JudgeEvaluation("x", [], skipped=0)
    assert ev.coverage is None and ev.accuracy is None and ev.kappa is None
    assert "n/a" in ev.table() and "undefined" in ev.table()
