"""The one list of policy names a command can ask for, and the one place that builds them.

- ``oracle``: the task's own oracle (:class:`~cua.policies.oracle.OraclePolicy`);
- ``noop``: declares done at once (:class:`~cua.policies.baselines.NoopPolicy`);
- ``random``: seeded random input (:class:`~cua.policies.baselines.RandomPolicy`);
- ``match``: the instruction's quoted values matched to the screen's names
  (:class:`~cua.policies.match.MatchPolicy`), the floor of exploration attempts;
- ``bundled``: the bundled policy (:class:`~cua.policies.bundled.BundledPolicy`): the checkpoint
  given (the model registry's current one, else the one shipped in the repository), one instance
  shared by the parallel episodes;
- ``model``: a model built by :func:`cua.models.registry.make_policy` from the model options,
  one instance shared by the parallel episodes (:class:`SharedPolicy`).

The first four are the *baselines*: they need no model and bound what an evaluation means.
:func:`policy_factory` returns the ``(task, sandbox, episode seed) -> policy`` callable that
:func:`cua.eval.suite.evaluate` takes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cua.errors import UsageError
from cua.policies.baselines import NoopPolicy, RandomPolicy
from cua.policies.match import MatchPolicy
from cua.policies.oracle import OraclePolicy
from cua.policy import Policy, PolicyInput, PolicyOutput
from cua.tasks import TaskSpec
from sandbox.base import Sandbox

#: The policies that need no model, in the order reports list them.
BASELINES = ("oracle", "noop", "random", "match")
#: The name of "the model the model options describe".
MODEL = "model"
#: The name of the bundled policy.
BUNDLED = "bundled"
#: Every name ``--policy`` accepts.
POLICY_NAMES = (*BASELINES, BUNDLED, MODEL)

PolicyFactory = Callable[[TaskSpec, Sandbox, int], Policy]
"""Builds the policy of one episode: (task, its sandbox, episode seed) -> policy."""


def check_policy_name(name: str, allowed: tuple[str, ...] = POLICY_NAMES) -> str:
    """Return ``name`` if it is in ``allowed``; UsageError naming the choices otherwise."""
    if name not in allowed:
        raise UsageError(f"unknown policy {name!r}; choose one of {', '.join(allowed)}")
    return name


def make_baseline(name: str, task: TaskSpec, sandbox: Sandbox, seed: int) -> Policy:
    """Build baseline ``name`` for one episode of ``task`` on ``sandbox``; UsageError for another name.

    ``seed`` seeds the random policy (the others ignore it). The sandbox must already be set up
    for the task: the oracle resolves its steps on it.
    """
    check_policy_name(name, BASELINES)
    if name == "oracle":
        return OraclePolicy(task, sandbox)
    if name == "noop":
        return NoopPolicy()
    if name == "match":
        return MatchPolicy(sandbox)
    return RandomPolicy(seed)


class SharedPolicy:
    """One policy instance shared by parallel episodes: one ``act`` at a time (a model generates serially)."""

    def __init__(self, policy: Policy) -> None:
        self._policy = policy
        self._lock = threading.Lock()
        self.name = policy.name
        self.format_name = policy.format_name
        self.output_format = getattr(policy, "output_format", None)
        self.reads_screen = bool(getattr(policy, "reads_screen", False))

    def act(self, inp: PolicyInput) -> PolicyOutput:
        """Let the shared policy answer, once the other episodes' calls are done."""
        with self._lock:
            return self._policy.act(inp)

    def provenance(self) -> dict[str, Any]:
        """Return the shared policy's provenance."""
        return self._policy.provenance()


def policy_factory(name: str, model: Policy | None = None, *, bundled: Path | None = None) -> PolicyFactory:
    """Return the per-episode factory of policy ``name``; UsageError for an unknown name.

    For ``model``, pass the built model (``cua.cli.options.ModelOptions(...).make_policy()``):
    every episode gets it behind one :class:`SharedPolicy`. A model given with a baseline name
    is a UsageError, so a forgotten ``--policy model`` is not silently ignored. ``bundled`` is the
    checkpoint folder of the bundled policy (default: the shipped one), loaded once here.
    """
    check_policy_name(name)
    if name == BUNDLED:
        if model is not None:
            raise UsageError("--model and --endpoint go with --policy model, not --policy bundled")
        from cua.policies.bundled import BundledPolicy

        one = BundledPolicy(bundled)
        return lambda task, sandbox, seed: one
    if name == MODEL:
        if model is None:
            raise UsageError("--policy model needs a model: --model DIR or --endpoint URL --model-name NAME")
        shared = SharedPolicy(model)
        return lambda task, sandbox, seed: shared
    if model is not None:
        raise UsageError(f"--model and --endpoint go with --policy model, not --policy {name}")
    return lambda task, sandbox, seed: make_baseline(name, task, sandbox, seed)


__all__ = [
    "BASELINES",
    "BUNDLED",
    "MODEL",
    "POLICY_NAMES",
    "PolicyFactory",
    "SharedPolicy",
    "check_policy_name",
    "make_baseline",
    "policy_factory",
]
