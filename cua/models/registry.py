"""The one place that turns model options (a local checkpoint or an endpoint) into a Policy.

The CLI commands and the service call :func:`make_policy` (the CLI through
``cua.cli.options.ModelOptions``); nothing else constructs a model backend from user options.
Backends are imported only when chosen (no torch for an endpoint).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from cua.errors import UsageError
from cua.formats import FORMATS
from cua.models.config import GenerationSettings

DEFAULT_FORMAT = "ui-tars-1.5"


def make_policy(
    model: Path | None,
    endpoint: str | None,
    model_name: str | None,
    format_name: str = DEFAULT_FORMAT,
    api_key_env: str | None = None,
    history_screenshots: int = 2,
    temperature: float | None = None,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    *,
    generation: GenerationSettings | None = None,
) -> Any:
    """Build the policy the options ask for; UsageError/PolicyError with one clear line otherwise.

    ``generation`` says how the model decodes (default: greedy, 256 new tokens); ``temperature``,
    when given, overrides its temperature (kept for callers that pass it alone).
    """
    if format_name not in FORMATS:
        raise UsageError(f"unknown --format {format_name!r}; choose one of {', '.join(FORMATS)}")
    if model is not None and endpoint is not None:
        raise UsageError("give either --model DIR or --endpoint URL, not both")
    settings = generation or GenerationSettings()
    if temperature is not None:
        try:
            settings = replace(settings, temperature=temperature)
        except ValueError as exc:
            raise UsageError(f"--temperature: {exc}") from None
    if model is not None:
        if not model.is_dir():
            raise UsageError(
                f"--model {model}: no such directory (a local checkpoint folder with config.json)"
            )
        from transformers.utils import logging as hf_logging

        from cua.models.transformers_policy import TransformersPolicy

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # the step view is the progress
        hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]

        return TransformersPolicy(
            model,
            format_name,
            history_screenshots=history_screenshots,
            generation=settings,
            min_pixels=min_pixels,
            max_pixels=max_pixels,
        )
    if endpoint is not None:
        if not model_name:
            raise UsageError("--endpoint needs --model-name NAME (the model id the server serves)")
        if api_key_env and api_key_env not in os.environ:
            raise UsageError(f"--api-key-env {api_key_env}: that environment variable is not set")
        from cua.models.openai_policy import OpenAIPolicy

        policy = OpenAIPolicy(
            endpoint,
            model_name,
            format_name,
            api_key_env=api_key_env,
            history_screenshots=history_screenshots,
            generation=settings,
            min_pixels=min_pixels,
            max_pixels=max_pixels,
        )
        policy.check()
        return policy
    raise UsageError("give a model: --model DIR (a local checkpoint) or --endpoint URL --model-name NAME")
