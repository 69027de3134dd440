"""One GenerationSettings for both backends: given whole, overridden field by field, via make_policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from cua.errors import PolicyError, UsageError
from cua.models.config import GenerationSettings
from cua.models.openai_policy import OpenAIPolicy
from cua.models.registry import make_policy
from cua.models.transformers_policy import TransformersPolicy
from tests.cua.models.fake_openai import FakeOpenAI, serve_fake
from tests.cua.models.test_openai_policy import INPUT

SAMPLED = GenerationSettings(max_new_tokens=32, temperature=0.7, top_p=0.9, seed=4)


def test_both_backends_take_the_same_settings(tiny_dirs: dict[str, Path]) -> None:
    local = TransformersPolicy(tiny_dirs["qwen2_5_vl"], "ui-tars-1.5", generation=SAMPLED)
    remote = OpenAIPolicy("http://127.0.0.1:9/v1", "m", "ui-tars-1.5", generation=SAMPLED)
    assert local.settings == remote.settings == SAMPLED
    assert local.provenance()["generation"] == remote.provenance()["generation"] == SAMPLED.to_json()
    body = remote.request_body(INPUT)
    assert (body["max_tokens"], body["temperature"], body["top_p"], body["seed"]) == (
        32,
        0.7,
        0.9,
        4 + INPUT.step,
    )
    # A single setting by its field name overrides the given settings, in both backends.
    assert (
        TransformersPolicy(tiny_dirs["qwen2_5_vl"], "ui-tars-1.5", generation=SAMPLED, seed=9).settings.seed
        == 9
    )
    assert (
        OpenAIPolicy("http://127.0.0.1:9/v1", "m", "pyautogui", max_new_tokens=8).settings.max_new_tokens == 8
    )
    with pytest.raises(PolicyError, match="temperature"):
        OpenAIPolicy("http://127.0.0.1:9/v1", "m", "pyautogui", temperature=-1.0)


def test_make_policy_takes_the_settings_and_still_a_lone_temperature() -> None:
    with serve_fake(FakeOpenAI()) as fake:
        policy = make_policy(None, fake.url, "fake-model", generation=SAMPLED)
        assert policy.settings == SAMPLED
        positional = make_policy(None, fake.url, "fake-model", "ui-tars-1.5", None, 2, 0.3)  # the old call
        assert positional.settings == GenerationSettings(temperature=0.3)
        with pytest.raises(UsageError, match="--temperature"):
            make_policy(None, fake.url, "fake-model", temperature=-0.5)
