"""OpenAIPolicy against real loopback servers: errors, retries with backoff, timeouts, the API key."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest
from PIL import Image

from cua.errors import PolicyError
from cua.models.config import GenerationSettings
from cua.models.openai_policy import OpenAIPolicy, normalise_endpoint, redact_url
from cua.policy import Policy, PolicyInput
from tests.cua.models.fake_openai import FakeOpenAI, Response, serve_fake

INPUT = PolicyInput("Click OK.", Image.new("RGB", (1280, 800), "white"), (1280, 800))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def policy(url: str, **kwargs: object) -> OpenAIPolicy:
    sleeps: list[float] = []
    p = OpenAIPolicy(url, "fake-model", "ui-tars-1.5", sleep=sleeps.append, **kwargs)  # type: ignore[arg-type]
    p.sleeps = sleeps  # type: ignore[attr-defined]
    return p


def test_check_on_a_closed_port_names_the_url_and_the_cause() -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    with pytest.raises(PolicyError) as info:
        policy(url).check()
    message = str(info.value)
    assert f"GET {url}/models" in message and "connection refused" in message
    assert "is the server running" in message and "\n" not in message


def test_check_lists_models_and_refuses_a_model_not_served() -> None:
    with serve_fake(FakeOpenAI(models=["a", "fake-model"])) as fake:
        assert policy(fake.url).check() == ["a", "fake-model"]
    with serve_fake(FakeOpenAI(models=["other"])) as fake, pytest.raises(PolicyError) as info:
        policy(fake.url).check()
    assert "'fake-model' is not served" in str(info.value) and "other" in str(info.value)


def test_check_reports_the_http_status_and_the_servers_message() -> None:
    fake = FakeOpenAI(queue=[(401, {}, {"error": {"message": "bad key"}})])
    with serve_fake(fake), pytest.raises(PolicyError) as info:
        policy(fake.url).check()
    assert "HTTP 401: bad key" in str(info.value) and "check the key" in str(info.value)


def test_act_sends_the_prompt_and_returns_text_and_usage() -> None:
    with serve_fake(FakeOpenAI()) as fake:
        settings = GenerationSettings(max_new_tokens=64, temperature=0.5, top_p=0.9, seed=3)
        p = policy(fake.url, generation=settings, extra_body={"top_k": 5})
        assert isinstance(p, Policy)
        out = p.act(INPUT)
    assert out.text == "Thought: ok\nAction: wait()"
    assert out.usage["prompt_tokens"] == 11 and out.usage["completion_tokens"] == 7
    assert out.usage["attempts"] == 1 and out.usage["latency_ms"] > 0
    body = fake.requests[0].body
    assert fake.requests[0].path == "/v1/chat/completions"
    assert (body["model"], body["max_tokens"], body["temperature"], body["top_p"]) == (
        "fake-model",
        64,
        0.5,
        0.9,
    )
    assert body["seed"] == 3 and body["top_k"] == 5 and body["stream"] is False
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["system", "user"]
    image = body["messages"][1]["content"][-1]
    assert image["type"] == "image_url" and image["image_url"]["url"].startswith("data:image/png;base64,")


def test_503s_are_retried_with_exponential_backoff() -> None:
    failure: Response = (503, {}, {"error": {"message": "loading"}})
    fake = FakeOpenAI(queue=[failure, failure, failure])
    with serve_fake(fake):
        p = policy(fake.url, retries=3, backoff_s=0.5)
        out = p.act(INPUT)
    assert out.usage["attempts"] == 4
    assert len(fake.requests) == 4
    assert p.sleeps == [0.5, 1.0, 2.0]  # type: ignore[attr-defined]


def test_retries_run_out_with_a_policy_error_naming_the_status() -> None:
    failure: Response = (503, {}, {"error": {"message": "overloaded"}})
    fake = FakeOpenAI(queue=[failure] * 3)
    with serve_fake(fake), pytest.raises(PolicyError) as info:
        policy(fake.url, retries=1, backoff_s=0.01).act(INPUT)
    assert "after 2 attempts: HTTP 503: overloaded" in str(info.value)
    assert len(fake.requests) == 2


def test_429_waits_at_least_retry_after_and_400_is_not_retried() -> None:
    fake = FakeOpenAI(queue=[(429, {"Retry-After": "3"}, {"error": "slow down"})])
    with serve_fake(fake):
        p = policy(fake.url, backoff_s=0.1)
        p.act(INPUT)
    assert p.sleeps == [3.0]  # type: ignore[attr-defined]
    fake = FakeOpenAI(queue=[(400, {}, {"error": {"message": "bad image"}})])
    with serve_fake(fake), pytest.raises(PolicyError, match="HTTP 400: bad image"):
        policy(fake.url).act(INPUT)
    assert len(fake.requests) == 1


def test_real_backoff_sleeps_between_attempts() -> None:
    failure: Response = (502, {}, {})
    fake = FakeOpenAI(queue=[failure, failure])
    with serve_fake(fake):
        out = OpenAIPolicy(fake.url, "fake-model", "pyautogui", backoff_s=0.05).act(INPUT)
    assert out.usage["attempts"] == 3


def test_connection_refused_is_retried_then_reported() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    p = policy(url, retries=2, backoff_s=1.0, max_backoff_s=1.5)
    with pytest.raises(PolicyError) as info:
        p.act(INPUT)
    assert f"POST {url}/v1/chat/completions" in str(info.value) and "after 3 attempts" in str(info.value)
    assert p.sleeps == [1.0, 1.5]  # type: ignore[attr-defined]


def test_a_timeout_is_reported_and_not_retried() -> None:
    fake = FakeOpenAI(delay_s=2.0)
    with serve_fake(fake), pytest.raises(PolicyError) as info:
        policy(fake.url, timeout_s=0.3).act(INPUT)
    assert "timed out after 0.3s" in str(info.value) and "raise timeout_s" in str(info.value)
    assert len(fake.requests) == 1


def test_api_key_is_sent_as_bearer_and_never_in_provenance() -> None:
    secret = "sk-test-4f3c2b1a"
    with serve_fake(FakeOpenAI()) as fake:
        p = policy(fake.url, api_key_env="CUA_TEST_KEY", environ={"CUA_TEST_KEY": secret})
        p.check()
        p.act(INPUT)
    assert [r.headers.get("Authorization") for r in fake.requests] == [f"Bearer {secret}"] * 2
    prov = p.provenance()
    assert secret not in json.dumps(prov)
    # Only the injected environment holds the key; the policy keeps no copy of its own.
    assert secret not in repr({k: v for k, v in vars(p).items() if k != "_environ"})
    assert prov["endpoint"] == fake.url and prov["model"] == "fake-model" and prov["format"] == "ui-tars-1.5"
    assert prov["generation"] == {"max_new_tokens": 256, "temperature": 0.0, "top_p": 1.0, "seed": 0}


def test_api_key_is_read_at_request_time() -> None:
    env: dict[str, str] = {}
    with serve_fake(FakeOpenAI()) as fake:
        p = policy(fake.url, api_key_env="CUA_TEST_KEY", environ=env)
        with pytest.raises(PolicyError, match="CUA_TEST_KEY is not set"):
            p.act(INPUT)
        env["CUA_TEST_KEY"] = "later"
        p.act(INPUT)
    assert fake.requests[-1].headers["Authorization"] == "Bearer later"


def test_malformed_responses_are_policy_errors() -> None:
    fake = FakeOpenAI(queue=[(200, {}, {"nothing": True})])
    with serve_fake(fake), pytest.raises(PolicyError, match="no choices"):
        policy(fake.url).act(INPUT)


def test_tool_calls_parsed_out_by_the_server_are_put_back_into_the_text() -> None:
    call = {"type": "function", "function": {"name": "computer_use", "arguments": '{"action": "left_click"}'}}
    message = {"role": "assistant", "content": "I click.", "tool_calls": [call]}
    fake = FakeOpenAI(queue=[(200, {}, {"choices": [{"message": message}]})])
    with serve_fake(fake):
        out = policy(fake.url).act(INPUT)
    assert out.text == (
        'I click.\n<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_click"}}\n</tool_call>'
    )


def test_the_remote_backend_does_not_import_torch() -> None:
    code = (
        "import sys; from cua.models import OpenAIPolicy; import cua.policies.scripted, cua.models.server; "
        "sys.exit(int('torch' in sys.modules or 'transformers' in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_endpoint_forms() -> None:
    assert normalise_endpoint("http://localhost:8000") == "http://localhost:8000/v1"
    assert normalise_endpoint("http://localhost:8000/v1/") == "http://localhost:8000/v1"
    assert redact_url("http://user:pw@host:1/v1") == "http://host:1/v1"
    with pytest.raises(PolicyError, match="not an http"):
        OpenAIPolicy("localhost:8000", "m", "pyautogui")
    with pytest.raises(PolicyError, match="unknown output format"):
        OpenAIPolicy("http://localhost:8000", "m", "nope")
    p = OpenAIPolicy("http://u:secret@localhost:8000", "m", "qwen2.5-vl", min_pixels=3136, max_pixels=18816)
    prov = p.provenance()
    assert "secret" not in json.dumps(prov)
    assert (prov["min_pixels"], prov["max_pixels"], prov["factor"]) == (3136, 18816, 28)
