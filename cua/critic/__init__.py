"""The critic: was a finished run a success? Validator first, then a VLM judge, then heuristics.

::

    critic = Critic(ModelJudge(policy))          # or Critic() for validator + heuristics only
    verdict = critic.judge_stored(store, run_id)  # judged and stored as the run's current verdict
    overrule(store, run_id, False, "the sum is in B13, not B12")  # a person has the last word

``cua.eval.judge`` measures a judge against the validators on recorded runs (``cua critic eval``).
The combination order is documented in ``cua.critic.critic``; the judge protocol in docs/judge.md.
"""

from __future__ import annotations

from cua.critic.critic import Critic, CriticVerdict, load_screenshots, overrule
from cua.critic.heuristics import HeuristicReport, check_run
from cua.critic.judge import JudgeAnswer, JudgeResult, ModelJudge, parse_judge_answer

__all__ = [
    "Critic",
    "CriticVerdict",
    "HeuristicReport",
    "JudgeAnswer",
    "JudgeResult",
    "ModelJudge",
    "check_run",
    "load_screenshots",
    "overrule",
    "parse_judge_answer",
]
