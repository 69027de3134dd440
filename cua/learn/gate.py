"""The promotion gate's statistics: may a candidate model replace its parent? Pure Python.

DESIGN.md's rule: *promote a model only on a paired comparison*. The candidate and its parent
(the policy in use now) attempt the same instances with the same seeds; each instance is a
pair ``(candidate_ok, parent_ok)``. The test:

- **One-sided exact sign test on the discordant pairs.** A pair the candidate solves and the
  parent does not is a *win*, the reverse a *loss*; ties (both solve it, both fail) say nothing
  about which is better and are dropped. Under the null hypothesis "the candidate is no better",
  a discordant pair is a win with probability at most 1/2, so with ``n = wins + losses`` the
  p-value is ``P(Binomial(n, 1/2) >= wins)``, computed exactly with :func:`math.comb`. The
  candidate wins the test when ``p <= alpha``.
- **Size fixed in advance, stopped early only when the answer is already known.** The gate runs
  at most ``GateConfig.max_instances`` pairs (default 60) at ``GateConfig.alpha`` (default 0.05).
  :class:`SequentialSignTest` stops before that only by *curtailment*: when even a candidate win
  on every remaining instance could not reach significance (reject), or even a parent win on
  every remaining instance could not undo it (promote). The p-value falls with each win, stays
  with each tie and rises with each loss, so those two extremes bound every possible ending:
  the early decision is always the one the full-size test would have made, and the type I error
  stays exactly that of the fixed-size test (at most ``alpha``; the sign test is discrete, so
  usually a little less). Peeking and stopping as soon as ``p <= alpha`` would not keep it.
- **No drop on the regression set.** The candidate must not fail more instances of a fixed
  regression set than its parent did, beyond ``GateConfig.regression_tolerance`` (default 0).

:func:`decide` applies both and returns a :class:`GateDecision`, whose ``as_dict()`` is what the
model registry (:mod:`cua.learn.registry`) stores with the candidate. Imports only the stdlib:
no torch, no sandbox; the episodes that produce the pairs are run elsewhere.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any, Literal

State = Literal["promote", "reject", "continue"]
"""What a sequential test says so far: decided either way, or more instances are needed."""

Pair = tuple[bool, bool]
"""One instance of the paired comparison: ``(candidate_ok, parent_ok)``."""


@dataclass(frozen=True)
class GateConfig:
    """How strict the promotion gate is; fixed before the gate sees a single outcome."""

    alpha: float = 0.05
    """Significance level of the one-sided sign test: the most often an equal-or-worse candidate may pass."""
    max_instances: int = 60
    """Paired instances the test is sized for; the gate never reads more (it may stop sooner: curtailment)."""
    regression_tolerance: int = 0
    """How many more regression-set failures than its parent the candidate may have; 0 = must not drop."""

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must lie strictly between 0 and 1, not {self.alpha!r}")
        if self.max_instances < 1:
            raise ValueError(f"max_instances must be at least 1, not {self.max_instances!r}")
        if self.regression_tolerance < 0:
            raise ValueError(f"regression_tolerance must not be negative, not {self.regression_tolerance!r}")


def _tail(wins: int, n: int) -> Fraction:
    """Return ``P(Binomial(n, 1/2) >= wins)`` as an exact fraction."""
    if wins <= 0:
        return Fraction(1)
    if wins > n:
        return Fraction(0)
    return Fraction(sum(math.comb(n, k) for k in range(wins, n + 1)), 2**n)


def sign_test_p_value(wins: int, losses: int) -> float:
    """Return the one-sided exact sign test's p-value: ``P(Binomial(wins + losses, 1/2) >= wins)``.

    ``wins`` are the discordant pairs the candidate won, ``losses`` those the parent won (ties are
    not passed: they do not count). With no discordant pair the p-value is 1: no evidence at all.
    """
    if wins < 0 or losses < 0:
        raise ValueError(f"wins and losses must not be negative, not {wins!r} and {losses!r}")
    return float(_tail(wins, wins + losses))


def _significant(wins: int, losses: int, alpha: float) -> bool:
    """Return whether ``p <= alpha``, compared exactly (no float rounding at the boundary)."""
    return _tail(wins, wins + losses) <= Fraction(alpha)


class SequentialSignTest:
    """The sign test of :class:`GateConfig`, fed one pair at a time and curtailed (module docstring).

    ``add`` each instance's pair as it finishes and stop running instances once ``state()`` is no
    longer ``"continue"``. After ``max_instances`` pairs the state is always decided. When the
    instances run out sooner (a suite smaller than ``max_instances``), ``finish()`` decides on what
    was seen: the same exact test, sized by the number of instances (which must not depend on the
    outcomes).
    """

    def __init__(self, config: GateConfig | None = None) -> None:
        self.config = config if config is not None else GateConfig()
        self.wins = 0
        """Pairs only the candidate solved."""
        self.losses = 0
        """Pairs only the parent solved."""
        self.ties = 0
        """Pairs both solved or both failed."""

    @property
    def n(self) -> int:
        """Instances seen so far (ties included)."""
        return self.wins + self.losses + self.ties

    @property
    def remaining(self) -> int:
        """Instances the fixed-size test could still see."""
        return self.config.max_instances - self.n

    @property
    def p_value(self) -> float:
        """The sign test's p-value on the pairs seen so far."""
        return sign_test_p_value(self.wins, self.losses)

    def add(self, candidate_ok: bool, parent_ok: bool) -> State:
        """Count one instance's pair; return the new state.

        ValueError once the test has decided: more instances cannot change the answer, and running
        them only spends time (or, if their outcomes were used, the test's guarantee).
        """
        state = self.state()
        if state != "continue":
            raise ValueError(f"the test has already decided ({state}) after {self.n} instances")
        if candidate_ok and not parent_ok:
            self.wins += 1
        elif parent_ok and not candidate_ok:
            self.losses += 1
        else:
            self.ties += 1
        return self.state()

    def state(self) -> State:
        """Return "promote" or "reject" once the full-size test's answer is certain, else "continue"."""
        alpha, left = self.config.alpha, self.remaining
        if not _significant(self.wins + left, self.losses, alpha):
            return "reject"  # even winning every remaining instance would not be enough
        if _significant(self.wins, self.losses + left, alpha):
            return "promote"  # even losing every remaining instance would not undo it
        return "continue"

    def finish(self) -> Literal["promote", "reject"]:
        """Decide now, on the pairs seen (the instances ran out before ``max_instances``)."""
        state = self.state()
        if state != "continue":
            return state
        return "promote" if _significant(self.wins, self.losses, self.config.alpha) else "reject"


@dataclass(frozen=True)
class GateDecision:
    """The gate's verdict on one candidate, with every number it rests on (stored in the registry)."""

    promoted: bool
    """Whether the candidate may replace its parent."""
    reason: str
    """One sentence with the numbers: why it was promoted or rejected."""
    wins: int
    """Gate instances only the candidate solved."""
    losses: int
    """Gate instances only the parent solved."""
    ties: int
    """Gate instances both solved or both failed (not counted by the sign test)."""
    n: int
    """Gate instances used (wins + losses + ties)."""
    p_value: float
    """The one-sided exact sign test's p-value on those instances."""
    alpha: float
    """The significance level the p-value was held to."""
    regression_candidate_failures: int
    """Regression-set instances the candidate failed."""
    regression_parent_failures: int
    """Regression-set instances the parent failed."""
    stopped_early: bool
    """True when curtailment decided before ``max_instances`` instances."""
    max_instances: int = 60
    """The size the test was fixed at."""
    regression_instances: int = 0
    """Size of the regression set."""
    regression_tolerance: int = 0
    """Extra regression-set failures the candidate was allowed."""

    def as_dict(self) -> dict[str, Any]:
        """Return the decision as a JSON-ready dict (field name to value)."""
        return asdict(self)


def _count_regression(regression_pairs: Iterable[Pair]) -> tuple[int, int, int]:
    """Return (instances, candidate failures, parent failures) of the regression set."""
    size = candidate_failures = parent_failures = 0
    for candidate_ok, parent_ok in regression_pairs:
        size += 1
        candidate_failures += not candidate_ok
        parent_failures += not parent_ok
    return size, candidate_failures, parent_failures


def decide(
    pairs: Iterable[Pair], regression_pairs: Iterable[Pair], config: GateConfig | None = None
) -> GateDecision:
    """Run the gate: the curtailed sign test over ``pairs``, then the regression-set check.

    ``pairs`` are the gate instances' ``(candidate_ok, parent_ok)`` in the order they were run;
    reading stops as soon as the sequential test decides (later pairs are not counted) and never
    goes past ``config.max_instances``. ``regression_pairs`` are the fixed regression set's, all
    counted. Promotion needs the sign test significant AND the candidate's regression-set failures
    at most the parent's plus ``config.regression_tolerance``.
    """
    config = config if config is not None else GateConfig()
    test = SequentialSignTest(config)
    for candidate_ok, parent_ok in pairs:
        if test.state() != "continue":
            break
        test.add(bool(candidate_ok), bool(parent_ok))
    verdict = test.finish()
    stopped_early = test.remaining > 0 and test.state() != "continue"
    size, cand_fail, parent_fail = _count_regression(regression_pairs)
    regressed = cand_fail > parent_fail + config.regression_tolerance
    p = test.p_value

    sign = (
        f"the candidate won {test.wins} and lost {test.losses} discordant pairs ({test.ties} ties) over "
        f"{test.n} of at most {config.max_instances} instances, one-sided sign test p = {p:.4g} "
        f"{'<=' if verdict == 'promote' else '>'} alpha {config.alpha:g}"
        + (" (stopped early: the remaining instances could not change the answer)" if stopped_early else "")
    )
    regression = (
        f"on the regression set the candidate failed {cand_fail} of {size} instances, "
        f"the parent {parent_fail} (tolerance {config.regression_tolerance})"
        if size
        else "the regression set is empty"
    )
    if test.n == 0 and stopped_early:
        sign = (
            f"at most {config.max_instances} instances can never reach alpha {config.alpha:g} "
            f"(even {config.max_instances} wins give p = {sign_test_p_value(config.max_instances, 0):.4g}): "
            "raise max_instances"
        )
    if regressed:
        promoted = False
        reason = f"rejected: {regression}, a drop the gate does not allow; {sign}."
    elif verdict == "reject":
        promoted = False
        reason = f"rejected: {sign}; {regression}."
    else:
        promoted = True
        reason = f"promoted: {sign}; {regression}."
    return GateDecision(
        promoted=promoted,
        reason=reason,
        wins=test.wins,
        losses=test.losses,
        ties=test.ties,
        n=test.n,
        p_value=p,
        alpha=config.alpha,
        regression_candidate_failures=cand_fail,
        regression_parent_failures=parent_fail,
        stopped_early=stopped_early,
        max_instances=config.max_instances,
        regression_instances=size,
        regression_tolerance=config.regression_tolerance,
    )


__all__ = ["GateConfig", "GateDecision", "Pair", "SequentialSignTest", "State", "decide", "sign_test_p_value"]
