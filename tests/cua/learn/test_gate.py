"""The promotion gate's statistics: exact sign-test p-values, curtailment, and the decision."""

from __future__ import annotations

import json
import math
import random
from fractions import Fraction

import pytest

from cua.learn.gate import GateConfig, GateDecision, SequentialSignTest, decide, sign_test_p_value

WIN, LOSS, TIE_OK, TIE_FAIL = (True, False), (False, True), (True, True), (False, False)


@pytest.mark.parametrize(
    ("wins", "losses", "expected"),
    [
        (5, 0, 1 / 32),  # every one of 5 discordant pairs won: (1/2)^5
        (8, 2, 56 / 1024),  # C(10,8) + C(10,9) + C(10,10) = 45 + 10 + 1
        (9, 1, 11 / 1024),  # 10 + 1
        (3, 3, 42 / 64),  # C(6,3..6) = 20 + 15 + 6 + 1
        (15, 5, 21700 / 2**20),  # 15504 + 4845 + 1140 + 190 + 20 + 1
        (0, 4, 1.0),
        (0, 0, 1.0),  # no discordant pair: no evidence
    ],
)
def test_p_values_are_the_exact_binomial_tails(wins: int, losses: int, expected: float) -> None:
    assert sign_test_p_value(wins, losses) == pytest.approx(expected, rel=1e-12, abs=0)


def test_ties_do_not_count() -> None:
    test = SequentialSignTest(GateConfig(max_instances=100))
    for pair in [WIN] * 8 + [LOSS] * 2 + [TIE_OK] * 20 + [TIE_FAIL] * 20:
        test.add(*pair)
    assert (test.wins, test.losses, test.ties, test.n) == (8, 2, 40, 50)
    assert test.p_value == pytest.approx(56 / 1024, rel=1e-12)


def test_the_boundary_is_compared_exactly() -> None:
    # p = 1/32 exactly: significant at alpha = 1/32, not at a hair below it.
    assert decide([WIN] * 5, [], GateConfig(alpha=1 / 32, max_instances=5)).promoted
    assert not decide([WIN] * 5, [], GateConfig(alpha=1 / 32 - 1e-12, max_instances=5)).promoted


def test_config_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="alpha"):
        GateConfig(alpha=0.0)
    with pytest.raises(ValueError, match="max_instances"):
        GateConfig(max_instances=0)
    with pytest.raises(ValueError, match="regression_tolerance"):
        GateConfig(regression_tolerance=-1)


def _full_decision(pairs: list[tuple[bool, bool]], alpha: float) -> str:
    """The fixed-size test on every pair, computed from scratch (no sequential code)."""
    wins = sum(c and not p for c, p in pairs)
    losses = sum(p and not c for c, p in pairs)
    return "promote" if sign_test_p_value(wins, losses) <= alpha else "reject"


def _brute_force_state(wins: int, losses: int, remaining: int, alpha: float) -> str:
    """Every possible ending's decision, enumerated: decided only when they all agree."""
    endings = {
        sign_test_p_value(wins + a, losses + b) <= alpha
        for a in range(remaining + 1)
        for b in range(remaining + 1 - a)  # the rest are ties
    }
    if endings == {True}:
        return "promote"
    if endings == {False}:
        return "reject"
    return "continue"


def test_curtailment_stops_exactly_when_no_ending_can_change_the_answer() -> None:
    rng = random.Random(1)
    for _ in range(300):
        n = rng.randint(1, 14)
        alpha = rng.choice([0.01, 0.05, 0.1, 0.2])
        p_win, p_loss = rng.random(), rng.random()
        test = SequentialSignTest(GateConfig(alpha=alpha, max_instances=n))
        assert test.state() == _brute_force_state(0, 0, n, alpha)
        while test.state() == "continue":
            r = rng.random()
            pair = WIN if r < p_win / 2 else LOSS if r < (p_win + p_loss) / 2 else TIE_OK
            test.add(*pair)
            assert test.state() == _brute_force_state(test.wins, test.losses, test.remaining, alpha)


def test_curtailment_gives_the_decision_of_running_to_the_end() -> None:
    rng = random.Random(2)
    early = 0
    for _ in range(1000):
        config = GateConfig(alpha=rng.choice([0.01, 0.05, 0.1]), max_instances=rng.randint(1, 80))
        p_cand, p_parent = rng.random(), rng.random()
        pairs = [(rng.random() < p_cand, rng.random() < p_parent) for _ in range(config.max_instances)]
        decision = decide(pairs, [], config)
        assert ("promote" if decision.promoted else "reject") == _full_decision(pairs, config.alpha)
        early += decision.stopped_early
        if decision.stopped_early:
            assert decision.n < config.max_instances
        else:
            assert decision.n == config.max_instances
    assert early > 500  # curtailment saves instances in most gates, not just in corner cases


def test_curtailment_stops_at_the_hand_computed_points() -> None:
    # N = 60, alpha = 0.05: P(Bin(60, 1/2) >= 37) ~= 0.046 <= 0.05 < P(>= 36) ~= 0.077.
    assert sign_test_p_value(37, 23) <= 0.05 < sign_test_p_value(36, 24)
    config = GateConfig()
    test = SequentialSignTest(config)
    states = [test.add(*LOSS) for _ in range(24)]
    # After 23 losses, 37 wins out of 37 remaining would still be enough; after 24 they would not.
    assert states[:23] == ["continue"] * 23 and states[23] == "reject"
    test = SequentialSignTest(config)
    states = [test.add(*WIN) for _ in range(37)]
    # 37 wins: even 23 losses after them leave p <= 0.05.
    assert states[:36] == ["continue"] * 36 and states[36] == "promote"
    test = SequentialSignTest(config)
    states = [test.add(*TIE_OK) for _ in range(56)]
    # Once only 4 instances are left, even 4 wins give p = 1/16 > 0.05.
    assert states[:55] == ["continue"] * 55 and states[55] == "reject"
    with pytest.raises(ValueError, match="already decided"):
        test.add(*WIN)


def test_decide_reads_no_further_than_the_decision() -> None:
    pairs = [LOSS] * 24 + [WIN] * 36
    decision = decide(pairs, [], GateConfig())
    assert not decision.promoted and decision.stopped_early
    assert (decision.wins, decision.losses, decision.n) == (0, 24, 24)
    over = decide([WIN] * 100, [], GateConfig(max_instances=10))
    assert over.n == 10 or over.stopped_early


def test_a_short_suite_is_decided_on_what_was_run() -> None:
    decision = decide([WIN] * 6 + [TIE_OK] * 4, [], GateConfig(max_instances=60))
    assert decision.promoted and not decision.stopped_early and decision.n == 10
    assert decision.p_value == pytest.approx(1 / 64)


def test_the_exact_size_is_at_most_alpha_whatever_the_tie_rate() -> None:
    """Under the null (a win as likely as a loss) the gate promotes with probability <= alpha.

    Curtailment gives the fixed test's decision on every path, so the size is the fixed test's:
    sum over outcomes (wins, losses, ties) of the multinomial probability of a promotion.
    """
    config = GateConfig()
    n = config.max_instances
    for q in (Fraction(1, 2), Fraction(1, 4), Fraction(1, 10), Fraction(1, 40)):  # P(win) = P(loss) = q
        size = Fraction(0)
        for w in range(n + 1):
            for lo in range(n + 1 - w):
                if sign_test_p_value(w, lo) <= config.alpha:
                    ways = math.comb(n, w) * math.comb(n - w, lo)
                    size += ways * q**w * q**lo * (1 - 2 * q) ** (n - w - lo)
        assert 0 < size <= Fraction(config.alpha), (q, float(size))


def _simulate(rng: random.Random, p_cand: float, p_parent: float, n: int) -> list[tuple[bool, bool]]:
    return [(rng.random() < p_cand, rng.random() < p_parent) for _ in range(n)]


def test_a_candidate_identical_to_its_parent_is_promoted_at_most_once_in_twenty() -> None:
    rng = random.Random(20240601)
    config = GateConfig()
    promoted = 0
    for _ in range(20):
        # The same stochastic policy twice: each instance's success drawn independently, p = 0.5.
        pairs = _simulate(rng, 0.5, 0.5, config.max_instances)
        regression = _simulate(rng, 0.5, 0.5, 30)
        promoted += decide(pairs, regression, GateConfig(regression_tolerance=30)).promoted
    assert promoted <= 1


def test_a_clearly_better_candidate_is_promoted() -> None:
    rng = random.Random(7)
    pairs = _simulate(rng, 0.85, 0.35, 60)
    regression = [TIE_OK] * 20 + [TIE_FAIL] * 2
    decision = decide(pairs, regression, GateConfig())
    assert decision.promoted, decision.reason
    assert decision.reason.startswith("promoted:")
    assert decision.p_value <= 0.05 and decision.wins > decision.losses
    assert decision.regression_candidate_failures == decision.regression_parent_failures == 2
    assert decision.stopped_early and decision.n < 60


def test_better_on_the_gate_but_worse_on_the_regression_set_is_rejected() -> None:
    regression = [TIE_OK] * 17 + [LOSS] * 2 + [WIN]  # the candidate fails 2, the parent 1
    decision = decide([WIN] * 60, regression, GateConfig())
    assert not decision.promoted
    assert decision.p_value <= 0.05  # the sign test alone would have promoted it
    assert "regression set" in decision.reason
    assert "failed 2 of 20" in decision.reason and "the parent 1" in decision.reason
    assert (decision.regression_candidate_failures, decision.regression_parent_failures) == (2, 1)
    tolerant = decide([WIN] * 60, regression, GateConfig(regression_tolerance=1))
    assert tolerant.promoted, tolerant.reason


def test_a_rejection_by_the_sign_test_says_so_with_its_numbers() -> None:
    decision = decide([WIN] * 8 + [LOSS] * 6 + [TIE_FAIL] * 6, [], GateConfig(max_instances=20))
    assert not decision.promoted
    assert decision.reason.startswith("rejected: the candidate won 8 and lost 6")
    assert f"p = {sign_test_p_value(8, 6):.4g} > alpha 0.05" in decision.reason
    assert "regression set is empty" in decision.reason


def test_the_decision_is_plain_json() -> None:
    decision = decide([WIN] * 40, [TIE_OK], GateConfig())
    data = json.loads(json.dumps(decision.as_dict()))
    assert GateDecision(**data) == decision
    assert {"promoted", "reason", "wins", "losses", "ties", "n", "p_value", "alpha", "stopped_early",
            "regression_candidate_failures", "regression_parent_failures"} <= set(data)  # fmt: skip


def test_a_gate_too_small_to_ever_promote_says_so() -> None:
    decision = decide([WIN] * 4, [], GateConfig(max_instances=4))
    assert not decision.promoted and decision.n == 0 and decision.stopped_early
    assert "can never reach alpha 0.05" in decision.reason and "p = 0.0625" in decision.reason
