"""What the Run pane's policy choice means: the choices, building the policy, the endpoint check.

Plain Python (no Qt): the pane calls these on a worker thread, since building a local
checkpoint imports torch and checking an endpoint waits on the network.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cua.actions import ActionError, from_json
from cua.errors import PolicyError, UsageError
from cua.formats import FORMATS
from cua.models.registry import DEFAULT_FORMAT
from cua.policy import Policy

BUNDLED = "bundled"
ENDPOINT = "endpoint"
CHECKPOINT = "checkpoint"
SCRIPT = "script"
NOOP = "noop"
RANDOM = "random"

#: (kind, label) of every choice, in the order the pane lists them.
CHOICES: tuple[tuple[str, str], ...] = (
    (BUNDLED, "Bundled policy (trained on its own explorations; no download)"),
    (ENDPOINT, "OpenAI-compatible endpoint"),
    (CHECKPOINT, "Local checkpoint directory"),
    (SCRIPT, "Script file (JSON list of replies or actions)"),
    (NOOP, "Baseline: noop (declares done)"),
    (RANDOM, "Baseline: random input"),
)


@dataclass(frozen=True)
class PolicyChoice:
    """The pane's policy fields; only those of ``kind`` are read."""

    kind: str
    endpoint: str = ""
    model_name: str = ""
    api_key_env: str = ""
    checkpoint: str = ""
    script: str = ""
    format_name: str = DEFAULT_FORMAT
    seed: int = 0

    def problem(self) -> str | None:
        """Return what is missing or wrong in the fields (None when a policy can be built)."""
        if self.kind not in {k for k, _ in CHOICES}:
            return f"unknown policy kind {self.kind!r}"
        if self.format_name not in FORMATS:
            return f"unknown output format {self.format_name!r}; choose one of {', '.join(FORMATS)}"
        if self.kind == ENDPOINT:
            if not self.endpoint.strip():
                return "type the endpoint's URL, e.g. http://127.0.0.1:8000/v1"
            if not self.endpoint.strip().startswith(("http://", "https://")):
                return f"the endpoint must start with http:// or https://, not {self.endpoint.strip()!r}"
            if not self.model_name.strip():
                return "type the model name the endpoint serves (Check connection lists them)"
            if self.api_key_env.strip() and self.api_key_env.strip() not in os.environ:
                return (
                    f"missing key: the environment variable {self.api_key_env.strip()} is not set; "
                    "export it before starting cua app, or clear the field for a server without a key"
                )
        if self.kind == CHECKPOINT:
            path = Path(self.checkpoint.strip()).expanduser()
            if not self.checkpoint.strip():
                return "choose a local checkpoint directory (a folder with config.json)"
            if not (path / "config.json").is_file():
                return f"{path} is not a checkpoint directory: it has no config.json"
        if self.kind == SCRIPT and not Path(self.script.strip()).expanduser().is_file():
            return f"no script file at {self.script.strip()!r}: choose a JSON file"
        return None


def check_endpoint(choice: PolicyChoice) -> str:
    """Check the endpoint serves the model; return a one-line success message.

    Raises UsageError (fields incomplete, missing key) or PolicyError (unreachable, HTTP error,
    wrong model name: the message lists the models the server does serve).
    """
    problem = choice.problem()
    if problem is not None:
        raise UsageError(problem)
    from cua.models.openai_policy import OpenAIPolicy

    policy = OpenAIPolicy(
        choice.endpoint.strip(),
        choice.model_name.strip(),
        choice.format_name,
        api_key_env=choice.api_key_env.strip() or None,
        timeout_s=5.0,
        retries=0,
    )
    served = policy.check()
    return f"connected: {policy.base_url} serves {choice.model_name.strip()} ({len(served)} model(s) in all)"


def _script_entries(path: Path) -> list[Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"script {path}: not readable JSON ({exc})") from None
    if not isinstance(data, list) or not data:
        raise UsageError(f"script {path}: expected a non-empty JSON list of replies or actions")
    entries: list[Any] = []
    for i, item in enumerate(data):
        try:
            if isinstance(item, str):
                entries.append(item)
            elif isinstance(item, dict):
                entries.append(from_json(item))
            elif isinstance(item, list) and item and all(isinstance(a, dict) for a in item):
                entries.append([from_json(a) for a in item])
            else:
                raise UsageError(
                    f"script {path}, entry {i}: a reply text, an action object or a list of them"
                )
        except ActionError as exc:
            raise UsageError(f"script {path}, entry {i}: {exc}") from None
    return entries


def build_policy(choice: PolicyChoice, data_dir: Path | None = None) -> Policy:
    """Build the chosen policy (may import torch, may wait on the network); UsageError/PolicyError.

    The bundled policy is the model registry's current checkpoint in ``data_dir``, else the shipped
    one; a checkpoint folder holding a bundled-policy checkpoint loads as the bundled policy too.
    """
    problem = choice.problem()
    if problem is not None:
        raise UsageError(problem)
    if choice.kind == BUNDLED:
        from cua.explore.rounds import current_checkpoint
        from cua.policies.bundled import BundledPolicy
        from cua.store import resolve_data_dir

        return BundledPolicy(current_checkpoint(resolve_data_dir(data_dir))[0])
    if choice.kind == ENDPOINT:
        from cua.models.openai_policy import OpenAIPolicy

        policy = OpenAIPolicy(
            choice.endpoint.strip(),
            choice.model_name.strip(),
            choice.format_name,
            api_key_env=choice.api_key_env.strip() or None,
        )
        policy.check()
        return policy
    if choice.kind == CHECKPOINT:
        from cua.models.registry import make_policy
        from cua.policies.bundled import BundledPolicy, is_bundled_checkpoint

        folder = Path(choice.checkpoint.strip()).expanduser()
        if is_bundled_checkpoint(folder):
            return BundledPolicy(folder)

        built: Policy = make_policy(
            Path(choice.checkpoint.strip()).expanduser(), None, None, choice.format_name
        )
        return built
    if choice.kind == SCRIPT:
        from cua.policies.scripted import ScriptedPolicy

        path = Path(choice.script.strip()).expanduser()
        return ScriptedPolicy(
            _script_entries(path), format_name=choice.format_name, name=f"script:{path.name}"
        )
    from cua.policies.baselines import NoopPolicy, RandomPolicy

    return NoopPolicy() if choice.kind == NOOP else RandomPolicy(choice.seed)


__all__ = ["BUNDLED", "CHOICES", "PolicyChoice", "PolicyError", "build_policy", "check_endpoint"]
