"""Models behind an OpenAI-compatible chat API: vLLM, llama.cpp, Ollama, LM Studio, this project's server.

:class:`OpenAIPolicy` builds the same prompt as the local backend (:mod:`cua.models.messages`),
sends screenshots as lossless ``data:image/png;base64`` URLs in ``image_url`` parts, and returns
the reply text for the format's parser. Screenshots are resized on this side to the size the
format says the model sees; the server's processor must leave that size alone, so give the
server the same (or wider) min/max pixels as the format (for vLLM: ``--mm-processor-kwargs``).

HTTP is stdlib ``urllib`` (no extra dependency). Connection errors, HTTP 429 and 5xx are retried
with exponential backoff (honouring ``Retry-After``); a timed-out request is not retried, since
the server may still be working on it. The API key is read from the environment variable the
user names, at request time, and is never stored on the object or in its provenance.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cua.errors import PolicyError
from cua.models.config import GenerationSettings, with_overrides
from cua.models.messages import (
    Message,
    bind_format,
    build_messages,
    resize_settings,
    resolve_format,
    to_openai,
)
from cua.policy import PolicyInput, PolicyOutput

#: Most bytes of an error response quoted in a PolicyError.
_ERROR_SNIPPET = 300


@dataclass(frozen=True)
class _Failure:
    """Why one request failed: a short cause, whether to retry, and an optional Retry-After."""

    cause: str
    retryable: bool
    status: int | None = None
    retry_after_s: float | None = None


class _RequestFailed(Exception):
    def __init__(self, failure: _Failure) -> None:
        super().__init__(failure.cause)
        self.failure = failure


def normalise_endpoint(endpoint: str) -> str:
    """Return the API base URL ending in ``/v1`` (appended when missing); PolicyError if not http(s)."""
    url = endpoint.strip().rstrip("/")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PolicyError(
            f"endpoint {endpoint!r} is not an http(s) URL; pass the server's base URL, e.g. http://127.0.0.1:8000/v1"
        )
    return url if url.endswith("/v1") else url + "/v1"


def redact_url(url: str) -> str:
    """Return ``url`` without any user:password part (for messages and provenance)."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def _error_message(body: bytes) -> str:
    """Return the server's error message from an OpenAI-style error body, else the body's start."""
    text = body[:4096].decode("utf-8", "replace")
    try:
        data = json.loads(text)
        err = data.get("error") if isinstance(data, dict) else None
        msg = err.get("message") if isinstance(err, dict) else err if isinstance(err, str) else None
        if isinstance(msg, str) and msg:
            text = msg
    except ValueError:
        pass
    text = " ".join(text.split())
    return text[:_ERROR_SNIPPET]


class OpenAIPolicy:
    """A :class:`~cua.policy.Policy` that asks an OpenAI-compatible chat endpoint for each step.

    ``endpoint`` is the API base URL (``/v1`` is appended when missing); ``model_name`` the model
    id the server serves; ``format_name`` a ``cua.formats`` name. ``api_key_env`` names the
    environment variable holding the key (None: no Authorization header). ``retries`` extra
    attempts after a connection error, 429 or 5xx, waiting ``backoff_s * 2**n`` (at most
    ``max_backoff_s``); those are transport settings. ``generation`` says how to decode (default:
    greedy, 256 new tokens); ``max_new_tokens``, ``temperature``, ``top_p`` and ``seed``, when
    given, override its fields (sent as the request's ``max_tokens``, ``temperature``, ``top_p``
    and ``seed + step``). ``environ`` and ``sleep`` are injectable for tests.
    """

    def __init__(
        self,
        endpoint: str,
        model_name: str,
        format_name: str,
        *,
        api_key_env: str | None = None,
        timeout_s: float = 120.0,
        retries: int = 3,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        history_screenshots: int = 2,
        generation: GenerationSettings | None = None,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        top_p: float | None = None,
        seed: int | None = None,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        extra_body: Mapping[str, Any] | None = None,
        name: str | None = None,
        environ: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = normalise_endpoint(endpoint)
        try:
            fmt = resolve_format(format_name)
        except ValueError as exc:
            raise PolicyError(str(exc)) from None
        try:
            self.settings = with_overrides(
                generation, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed
            )
        except ValueError as exc:
            raise PolicyError(str(exc)) from None
        if timeout_s <= 0:
            raise PolicyError(f"timeout_s must be positive, got {timeout_s}")
        if retries < 0 or backoff_s < 0 or history_screenshots < 0:
            raise PolicyError("retries, backoff_s and history_screenshots must be >= 0")
        self.output_format = bind_format(fmt, min_pixels=min_pixels, max_pixels=max_pixels)
        self.format_name = fmt.name
        self.model_name = model_name
        self.api_key_env = api_key_env
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.history_screenshots = history_screenshots
        self.extra_body = dict(extra_body or {})
        self.name = name or f"openai:{model_name}"
        self._environ = environ if environ is not None else os.environ
        self._sleep = sleep
        # Loopback servers are reached directly even when http_proxy is set for the outside world.
        host = urllib.parse.urlsplit(self.base_url).hostname or ""
        loopback = host in ("localhost", "::1") or host.startswith("127.")
        handlers = [urllib.request.ProxyHandler({})] if loopback else []
        self._opener = urllib.request.build_opener(*handlers)

    # -- HTTP -------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "cua-openai-policy"}
        if self.api_key_env:
            key = self._environ.get(self.api_key_env)
            if not key:
                raise PolicyError(
                    f"the API key variable {self.api_key_env} is not set; export it, or pass "
                    "api_key_env=None for a server without authentication"
                )
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _send(self, method: str, url: str, body: bytes | None) -> tuple[Any, float]:
        """Make one request; return (decoded JSON, latency ms) or raise _RequestFailed."""
        headers = self._headers()
        if body is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=body, headers=headers, method=method)
        started = time.perf_counter()
        try:
            with self._opener.open(request, timeout=self.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            status = exc.code
            detail = _error_message(exc.read() or b"")
            retry_after = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
            cause = f"HTTP {status}" + (f": {detail}" if detail else "")
            retryable = status == 429 or status >= 500
            raise _RequestFailed(_Failure(cause, retryable, status, retry_after)) from exc
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, ConnectionRefusedError):
                raise _RequestFailed(_Failure("connection refused", True)) from exc
            if isinstance(reason, TimeoutError | socket.timeout):
                raise _RequestFailed(_Failure(f"timed out after {self.timeout_s:g}s", False)) from exc
            raise _RequestFailed(_Failure(f"cannot connect: {reason}", True)) from exc
        except TimeoutError as exc:
            raise _RequestFailed(_Failure(f"timed out after {self.timeout_s:g}s", False)) from exc
        except (http.client.HTTPException, ConnectionError) as exc:
            cause = f"the connection broke ({type(exc).__name__}: {exc})"
            raise _RequestFailed(_Failure(cause, True)) from exc
        latency_ms = (time.perf_counter() - started) * 1000.0
        try:
            return json.loads(raw), latency_ms
        except ValueError as exc:
            snippet = raw[:120].decode("utf-8", "replace")
            raise _RequestFailed(_Failure(f"the response is not JSON: {snippet!r}", False)) from exc

    def _with_retries(self, method: str, url: str, body: bytes | None) -> tuple[Any, float, int]:
        """Return (JSON, latency ms, attempts), retrying retryable failures with backoff."""
        attempt = 0
        while True:
            attempt += 1
            try:
                data, latency = self._send(method, url, body)
                return data, latency, attempt
            except _RequestFailed as exc:
                failure = exc.failure
                if not failure.retryable or attempt > self.retries:
                    raise PolicyError(self._explain(method, url, failure, attempt)) from None
                delay = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
                if failure.retry_after_s is not None:
                    delay = min(self.max_backoff_s, max(delay, failure.retry_after_s))
                self._sleep(delay)

    def _explain(self, method: str, url: str, failure: _Failure, attempts: int) -> str:
        """Return the one-line PolicyError message: what failed, the cause, what to do."""
        where = f"{method} {redact_url(url)} (model {self.model_name})"
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        if failure.cause == "connection refused":
            hint = (
                "is the server running on that host and port? start it (vllm serve ..., "
                "python -m cua.models.server --model DIR --port N) or fix the endpoint"
            )
        elif failure.cause.startswith("timed out"):
            hint = "raise timeout_s, lower max_new_tokens, or check whether the server is overloaded"
        elif failure.status in (401, 403):
            env = self.api_key_env or "an API key variable"
            hint = f"check the key in {env} (pass api_key_env= to send one)"
        elif failure.status == 404:
            hint = "check the endpoint (it should end in /v1) and that the server serves this model"
        elif failure.status is not None and failure.status >= 500:
            hint = "the server failed; look at its log"
        elif failure.status == 429:
            hint = "the server is rate-limiting; raise retries/backoff_s or slow down"
        else:
            hint = "check the endpoint and the server's log"
        return f"{where} failed{tries}: {failure.cause}; {hint}"

    # -- API --------------------------------------------------------------------------------

    def check(self) -> list[str]:
        """Check the endpoint serves ``model_name`` (GET /v1/models); return the served model ids.

        Raises PolicyError naming the URL and the cause (connection refused, timeout, HTTP
        status, model not served) and what to do. Makes one attempt, no retries.
        """
        url = f"{self.base_url}/models"
        try:
            data, _ = self._send("GET", url, None)
        except _RequestFailed as exc:
            raise PolicyError(self._explain("GET", url, exc.failure, 1)) from None
        entries = data.get("data") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise PolicyError(
                f"GET {redact_url(url)} did not return a model list ({str(data)[:120]!r}); "
                "is this an OpenAI-compatible server?"
            )
        served = [str(e.get("id")) for e in entries if isinstance(e, dict) and "id" in e]
        if self.model_name not in served:
            raise PolicyError(
                f"model {self.model_name!r} is not served at {redact_url(self.base_url)} (it serves "
                f"{', '.join(served) or 'nothing'}); pass one of those as model_name"
            )
        return served

    def messages(self, inp: PolicyInput) -> list[Message]:
        """Return the neutral prompt for ``inp`` (the same builder as the local backend)."""
        return build_messages(inp, self.output_format, history_screenshots=self.history_screenshots)

    def request_body(self, inp: PolicyInput) -> dict[str, Any]:
        """Return the JSON body of the chat completion request for ``inp``."""
        body: dict[str, Any] = {
            "model": self.model_name,
            "messages": to_openai(self.messages(inp)),
            **self.settings.for_step(inp.step).to_openai(),
            "stream": False,
        }
        body.update(self.extra_body)
        return body

    def act(self, inp: PolicyInput) -> PolicyOutput:
        """Ask the endpoint for the next reply; PolicyError when it cannot give one."""
        url = f"{self.base_url}/chat/completions"
        payload = json.dumps(self.request_body(inp)).encode()
        data, latency_ms, attempts = self._with_retries("POST", url, payload)
        try:
            message = data["choices"][0]["message"]
            content = message.get("content")
        except (KeyError, IndexError, TypeError, AttributeError):
            raise PolicyError(
                f"POST {redact_url(url)} returned no choices[0].message ({str(data)[:160]!r}); "
                "is this an OpenAI-compatible chat endpoint?"
            ) from None
        if isinstance(content, list):  # some servers return content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if content is None:
            content = ""
        content = str(content) + _tool_calls_text(message.get("tool_calls"))
        usage_in = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        usage: dict[str, float] = {"latency_ms": latency_ms, "attempts": attempts}
        for key in ("prompt_tokens", "completion_tokens"):
            if isinstance(usage_in.get(key), int | float):
                usage[key] = usage_in[key]
        return PolicyOutput(text=content, usage=usage)

    def provenance(self) -> dict[str, Any]:
        """Describe the model: endpoint, model name, format and settings (never the API key)."""
        return {
            "backend": "openai",
            "endpoint": redact_url(self.base_url),
            "model": self.model_name,
            "format": self.output_format.name,
            "format_version": self.output_format.version,
            **resize_settings(self.output_format),
            "history_screenshots": self.history_screenshots,
            "generation": self.settings.to_json(),
            "extra_body": dict(self.extra_body),
        }


def _tool_calls_text(calls: object) -> str:
    """Return tool calls a server parsed out of the reply, written back as Qwen ``<tool_call>`` blocks.

    A server with a tool-call parser enabled (vLLM ``--enable-auto-tool-choice``) moves them from
    ``content`` into ``tool_calls``; the formats' parsers read them from the text.
    """
    if not isinstance(calls, list):
        return ""
    blocks = []
    for call in calls:
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            continue
        arguments = fn.get("arguments")
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except ValueError:
                pass
        payload = json.dumps({"name": fn["name"], "arguments": arguments}, ensure_ascii=False)
        blocks.append(f"\n<tool_call>\n{payload}\n</tool_call>")
    return "".join(blocks)


def _retry_after(value: str | None) -> float | None:
    """Return a Retry-After header's delay in seconds (only the delta-seconds form), else None."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


__all__ = ["OpenAIPolicy", "normalise_endpoint", "redact_url"]
