"""A small OpenAI-compatible chat server for a local checkpoint, for people without vLLM, and for tests.

Serves ``GET /v1/models``, ``GET /health`` and ``POST /v1/chat/completions`` (text parts and
``data:`` URL image parts; no streaming, one choice) on 127.0.0.1 with the standard library's
``ThreadingHTTPServer``. Remote image URLs are refused: the server never fetches anything. With
``--api-key-env NAME`` it requires ``Authorization: Bearer <value of NAME>``.

Run it::

    python -m cua.models.server --model DIR --port 8000 [--min-pixels N --max-pixels N]

then point :class:`~cua.models.openai_policy.OpenAIPolicy` at ``http://127.0.0.1:8000/v1`` with
the model name printed at start (the directory's name unless ``--served-name`` is given).

One request must not be able to tie the server up, so every request is bounded:

- ``max_tokens`` above ``--max-tokens-cap`` (default 4096) is *rejected* with a 400 naming the
  cap, not clamped: a client that asked for more would otherwise get a silently shorter reply.
- Images are checked from their headers, before any pixel is decoded: the images of one request
  may hold at most ``--max-image-pixels`` pixels together (default 7680x4320, an 8K screen);
  more is a 400 naming the limit. Only PNG, JPEG, WebP, GIF and BMP are opened.
- A missing, non-numeric or negative ``Content-Length`` is a 400; bodies over 64 MiB are a 413.
- Generation runs one request at a time. Between tokens it checks whether the client has hung
  up (or half-closed its socket) and whether the server is stopping, and stops if so; a reply
  nobody waits for is not computed to the end.
- A request that arrives while another generates waits for its turn (in no guaranteed order)
  and is served when the model is free; after ``--queue-timeout`` seconds (default 300) of
  waiting it gets ``503`` with ``Retry-After`` instead (OpenAIPolicy retries those).
  ``GET /health`` says whether a generation is running.
- SIGTERM or SIGINT stops the server promptly, even mid-generation: the running generation
  stops at its next token and gets a 503, waiting requests get a 503, and the process exits.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hmac
import io
import json
import os
import re
import select
import signal
import socket
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any, Protocol

from PIL import Image, UnidentifiedImageError

from cua.errors import PolicyError
from cua.models.config import GenerationSettings
from cua.models.messages import Message, MessageError, from_openai
from cua.models.transformers_policy import Completion, TransformersChatModel

#: Largest request body accepted (a few full-resolution PNG screenshots fit comfortably).
MAX_BODY_BYTES = 64 * 1024 * 1024
#: Default of ``--max-tokens-cap``: longer than any action reply, short enough to bound a request.
DEFAULT_MAX_TOKENS_CAP = 4096
#: Default of ``--max-image-pixels``: one 8K screenshot, or many ordinary ones, per request.
DEFAULT_MAX_IMAGE_PIXELS = 7680 * 4320
#: Default of ``--queue-timeout``: how long a request waits for the model before a 503.
DEFAULT_QUEUE_TIMEOUT_S = 300.0
#: A client that sends nothing for this long (headers or body) is dropped.
READ_TIMEOUT_S = 60.0
#: After SIGTERM, how long to let the running generation reach its next token before exiting anyway.
SHUTDOWN_GRACE_S = 5.0
#: Image formats whose headers are read and which are decoded (PIL's others are never tried).
IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP")

_CONTENT_LENGTH = re.compile(r"[0-9]{1,19}")


class ChatBackend(Protocol):
    """What the server needs from a model: a name and a completion for neutral messages."""

    @property
    def name(self) -> str:
        """The model id the server reports and expects."""
        ...

    def complete(
        self,
        messages: Sequence[Message],
        settings: GenerationSettings,
        should_stop: Callable[[], bool] | None = None,
    ) -> Completion:
        """Generate the assistant's reply to ``messages``, asking ``should_stop`` between tokens."""
        ...


@dataclass(frozen=True)
class ServerLimits:
    """What one request may ask of the server (each is a command-line option)."""

    default_max_tokens: int = 256
    """``max_tokens`` of a request that does not say."""
    max_tokens_cap: int = DEFAULT_MAX_TOKENS_CAP
    """Largest ``max_tokens`` accepted; above it a request is rejected (400), not clamped."""
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    """Most image pixels one request may carry, all its images together (checked from headers)."""
    queue_timeout_s: float = DEFAULT_QUEUE_TIMEOUT_S
    """How long a request waits while another generates before it gets a 503."""

    def __post_init__(self) -> None:
        if not 1 <= self.default_max_tokens <= self.max_tokens_cap:
            raise ValueError(
                f"the default max_tokens ({self.default_max_tokens}) must be between 1 and the cap "
                f"({self.max_tokens_cap})"
            )
        if self.max_image_pixels < 1:
            raise ValueError(f"max_image_pixels must be >= 1, got {self.max_image_pixels}")
        if self.queue_timeout_s < 0:
            raise ValueError(f"queue_timeout_s must be >= 0, got {self.queue_timeout_s}")


class _BadRequest(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        kind: str = "invalid_request_error",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.headers = dict(headers or {})


class _ClientGone(Exception):
    """The client hung up before its reply was ready: there is nobody to answer."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _settings(body: dict[str, Any], limits: ServerLimits) -> GenerationSettings:
    """Return the generation settings of a request body (OpenAI names); _BadRequest if invalid."""
    if body.get("stream"):
        raise _BadRequest(400, "streaming is not supported by this server; send stream=false")
    if body.get("n", 1) != 1:
        raise _BadRequest(400, "only n=1 is supported")
    try:
        settings = GenerationSettings.from_openai(body, limits.default_max_tokens)
    except (TypeError, ValueError, OverflowError) as exc:
        raise _BadRequest(400, f"invalid generation settings: {exc}") from None
    if settings.max_new_tokens > limits.max_tokens_cap:
        raise _BadRequest(
            400,
            f"max_tokens {settings.max_new_tokens} is above this server's cap of {limits.max_tokens_cap} "
            "(--max-tokens-cap); ask for fewer",
        )
    if not -(2**63) <= settings.seed < 2**64:  # what torch.manual_seed accepts
        raise _BadRequest(400, f"invalid generation settings: seed {settings.seed} is out of range")
    return settings


def _data_url_images(messages: object) -> Iterator[tuple[str, bytes]]:
    """Yield (where, raw bytes) of each base64 ``data:image/`` part (from_openai reports malformed ones)."""
    if not isinstance(messages, list):
        return
    for n, m in enumerate(messages):
        content = m.get("content") if isinstance(m, Mapping) else None
        if not isinstance(content, list):
            continue
        for k, part in enumerate(content):
            if not isinstance(part, Mapping) or part.get("type") != "image_url":
                continue
            ref = part.get("image_url")
            url = ref.get("url") if isinstance(ref, Mapping) else ref
            if not isinstance(url, str):
                continue
            head, sep, payload = url.partition(",")
            if not sep or not head.startswith("data:image/") or not head.endswith(";base64"):
                continue
            try:
                yield f"messages[{n}].content[{k}]", base64.b64decode(payload, validate=True)
            except binascii.Error:
                continue


def _check_image_pixels(messages: object, max_pixels: int) -> int:
    """Return the pixel count of the request's images, read from their headers only.

    Raises _BadRequest (400) naming the limit when the images together hold more than
    ``max_pixels`` pixels, and for an image in a format outside :data:`IMAGE_FORMATS`. The
    check runs before :func:`~cua.models.messages.from_openai` decodes anything, so a small
    file that claims a huge size (a "decompression bomb") costs a header read, not gigabytes.
    Images that do not open at all are left for ``from_openai`` to report.
    """
    total = 0
    for where, raw in _data_url_images(messages):
        limit = (
            f"this server accepts at most {max_pixels:,} image pixels per request, all images together "
            "(--max-image-pixels)"
        )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(io.BytesIO(raw), formats=IMAGE_FORMATS) as img:
                    width, height = img.size
        except Image.DecompressionBombError:
            raise _BadRequest(400, f"{where}: the image is far too large; {limit}") from None
        except UnidentifiedImageError:
            accepted = ", ".join(IMAGE_FORMATS)
            raise _BadRequest(
                400, f"{where}: the data is not an image in an accepted format ({accepted})"
            ) from None
        except (OSError, ValueError, SyntaxError):
            continue
        total += width * height
        if total > max_pixels:
            raise _BadRequest(
                400, f"{where}: a {width}x{height} image brings the request to {total:,} pixels; {limit}"
            )
    return total


def peer_closed(sock: socket.socket) -> bool:
    """Return whether the client has closed (or reset, or half-closed) its side of ``sock``.

    Does not block and consumes nothing: a poll with no wait, then a peek when the socket is
    readable (end of stream reads as ``b""``; pending bytes mean the client is still there).
    """
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN | getattr(select, "POLLRDHUP", 0))
        events = poller.poll(0)
        if not events:
            return False
        hung_up = select.POLLHUP | select.POLLERR | select.POLLNVAL | getattr(select, "POLLRDHUP", 0)
        if events[0][1] & hung_up:
            return True
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


# The stop check of the generation running on this thread, read by the generate hook below.
class _Watch:
    """The stop check of one request: the server is stopping, or its client has gone."""

    def __init__(self, sock: socket.socket, stopping: threading.Event) -> None:
        self.sock = sock
        self.stopping = stopping
        self.reason: str | None = None

    def __call__(self) -> bool:
        if self.reason is None:
            if self.stopping.is_set():
                self.reason = "stopping"
            elif peer_closed(self.sock):
                self.reason = "client gone"
        return self.reason is not None


class ModelServer(ThreadingHTTPServer):
    """The HTTP server with its backend, limits, the one-generation-at-a-time gate and a stop flag.

    ``stopping`` is the flag generation polls; set it (from any thread or a signal handler), then
    call ``shutdown()`` from a thread other than the one running ``serve_forever``.
    """

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        backend: ChatBackend,
        limits: ServerLimits,
        *,
        api_key: str | None,
        log_requests: bool,
    ) -> None:
        super().__init__(address, _Handler)
        self.backend = backend
        self.limits = limits
        self.api_key = api_key
        self.log_requests = log_requests
        self.stopping = threading.Event()
        self.gate = threading.Lock()

    @property
    def generating(self) -> bool:
        """Whether a request holds the model now."""
        return self.gate.locked()

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the running generation to end; return whether it did."""
        if not self.gate.acquire(timeout=timeout_s):
            return False
        self.gate.release()
        return True

    @contextmanager
    def turn(self, watch: _Watch) -> Iterator[None]:
        """Hold the model for one generation, polled by ``watch`` between tokens.

        While another request holds it, wait: give up with _ClientGone when this client hangs up,
        with a 503 when the server stops or after ``queue_timeout_s``.
        """
        waited = self.limits.queue_timeout_s
        deadline = time.monotonic() + waited
        while not self.gate.acquire(timeout=0.1):
            if watch():
                if watch.reason == "client gone":
                    raise _ClientGone
                raise _BadRequest(503, "the server is shutting down", "server_error")
            if time.monotonic() >= deadline:
                raise _BadRequest(
                    503,
                    f"the model is busy with another request (waited {waited:g}s); retry later",
                    "server_error",
                    {"Retry-After": "5"},
                )
        try:
            yield
        finally:
            self.gate.release()


class _Handler(BaseHTTPRequestHandler):
    """One connection's requests (HTTP/1.0: one request, then the connection closes)."""

    server_version = "cua-models-server/1"
    timeout = READ_TIMEOUT_S
    server: ModelServer

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log_requests:
            sys.stderr.write(f"{self.address_string()} - {format % args}\n")

    def _reply(self, status: int, payload: dict[str, Any], headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True  # the client left; nothing more to say

    def _error(self, status: int, message: str, kind: str, headers: Mapping[str, str] | None = None) -> None:
        self._reply(status, {"error": {"message": message, "type": kind, "code": status}}, headers)

    def _authorised(self) -> bool:
        api_key = self.server.api_key
        if api_key is None:
            return True
        given = self.headers.get("Authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {api_key}".encode()):
            return True
        self._error(
            401, "missing or wrong API key (send Authorization: Bearer <key>)", "authentication_error"
        )
        return False

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/health":
            status = "stopping" if self.server.stopping.is_set() else "ok"
            self._reply(200, {"status": status, "generating": self.server.generating})
            return
        if not self._authorised():
            return
        if path == "/v1/models":
            created = int(time.time())
            model = {"id": self.server.backend.name, "object": "model", "created": created, "owned_by": "cua"}
            self._reply(200, {"object": "list", "data": [model]})
            return
        self._error(404, f"no route GET {path}", "not_found_error")

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path != "/v1/chat/completions":
            self._error(404, f"no route POST {path}", "not_found_error")
            return
        if not self._authorised():
            return
        try:
            self._reply(200, self._complete())
        except _BadRequest as exc:
            self.close_connection = True
            self._error(exc.status, str(exc), exc.kind, exc.headers)
        except _ClientGone:
            self.close_connection = True
        except PolicyError as exc:
            self._error(500, str(exc), "server_error")

    def _body(self) -> dict[str, Any]:
        """Read and parse the JSON object body; _BadRequest for a bad length or body."""
        given = self.headers.get("Content-Length")
        if given is None:
            raise _BadRequest(400, "the request has no body (send a JSON body with a Content-Length)")
        if not _CONTENT_LENGTH.fullmatch(given.strip()):
            raise _BadRequest(400, f"Content-Length must be a non-negative whole number, got {given[:40]!r}")
        length = int(given)
        if length == 0:
            raise _BadRequest(400, "the request has no body")
        if length > MAX_BODY_BYTES:
            raise _BadRequest(413, f"the request body is larger than {MAX_BODY_BYTES} bytes")
        try:
            raw = self.rfile.read(length)
        except TimeoutError:
            raise _BadRequest(408, f"the request body did not arrive within {READ_TIMEOUT_S:g}s") from None
        if len(raw) < length:
            raise _ClientGone  # the client closed before sending the whole body
        try:
            body = json.loads(raw, parse_constant=_reject_constant)
        except ValueError:
            raise _BadRequest(400, "the request body is not JSON") from None
        if not isinstance(body, dict):
            raise _BadRequest(400, "the request body must be a JSON object")
        return body

    def _complete(self) -> dict[str, Any]:
        backend, limits = self.server.backend, self.server.limits
        body = self._body()
        model = body.get("model")
        if model not in (None, backend.name):
            raise _BadRequest(
                404, f"the model {model!r} does not exist here; use {backend.name!r}", "not_found_error"
            )
        settings = _settings(body, limits)
        _check_image_pixels(body.get("messages"), limits.max_image_pixels)
        try:
            messages = from_openai(body.get("messages"))
        except MessageError as exc:
            raise _BadRequest(400, str(exc)) from None
        watch = _Watch(self.connection, self.server.stopping)
        with self.server.turn(watch):
            done = backend.complete(messages, settings, should_stop=watch)
        if watch.reason == "client gone" or (watch.reason is None and peer_closed(self.connection)):
            raise _ClientGone
        if watch.reason == "stopping":
            raise _BadRequest(503, "the server is shutting down; the reply was cut short", "server_error")
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": backend.name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": done.text},
                    "finish_reason": done.finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": done.prompt_tokens,
                "completion_tokens": done.completion_tokens,
                "total_tokens": done.prompt_tokens + done.completion_tokens,
            },
        }


def make_server(
    backend: ChatBackend,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    api_key: str | None = None,
    default_max_tokens: int = 256,
    max_tokens_cap: int = DEFAULT_MAX_TOKENS_CAP,
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    queue_timeout_s: float = DEFAULT_QUEUE_TIMEOUT_S,
    log_requests: bool = False,
) -> ModelServer:
    """Return a bound (not yet serving) server for ``backend``; call ``serve_forever`` to run it.

    ``port`` 0 picks a free port (read it from ``server.server_address``). ``api_key``: if given,
    requests must carry it as a Bearer token. The limits are those of :class:`ServerLimits`
    (ValueError if inconsistent). The backend's generation is asked between tokens whether to
    stop: when the client hangs up or ``server.stopping`` is set.
    """
    limits = ServerLimits(default_max_tokens, max_tokens_cap, max_image_pixels, queue_timeout_s)
    return ModelServer((host, port), backend, limits, api_key=api_key, log_requests=log_requests)


class _Named:
    """A backend under another name (``--served-name``)."""

    def __init__(self, backend: ChatBackend, name: str) -> None:
        self.backend = backend
        self.name = name

    def complete(
        self,
        messages: Sequence[Message],
        settings: GenerationSettings,
        should_stop: Callable[[], bool] | None = None,
    ) -> Completion:
        return self.backend.complete(messages, settings, should_stop)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cua.models.server",
        description=__doc__.split("\n")[0],
        epilog=(
            "Requests over a limit get a 400 naming it (max_tokens is rejected, not clamped). One "
            "generation runs at a time; it stops when its client hangs up. Others wait their turn, "
            "or get a 503 with Retry-After after --queue-timeout. SIGTERM stops the server promptly."
        ),
    )
    add = parser.add_argument
    add("--model", required=True, help="checkpoint directory (Qwen2.5-VL or Qwen3-VL architecture)")
    add("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    add("--port", type=int, default=8000, help="port to listen on (0: pick a free one)")
    add("--served-name", help="model id to serve (default: the directory's name)")
    add("--min-pixels", type=int, help="pin the image processor's min_pixels")
    add("--max-pixels", type=int, help="pin the image processor's max_pixels")
    add("--device", default="cpu", help="torch device (cpu, cuda, cuda:1)")
    add("--dtype", default="auto", help="auto, float32, bfloat16 or float16")
    add("--threads", type=int, help="torch CPU threads")
    add("--max-tokens", type=int, default=256, help="default max_tokens of a request (default 256)")
    add(
        "--max-tokens-cap",
        type=int,
        default=DEFAULT_MAX_TOKENS_CAP,
        help=f"largest max_tokens a request may ask for; more is a 400 (default {DEFAULT_MAX_TOKENS_CAP})",
    )
    add(
        "--max-image-pixels",
        type=int,
        default=DEFAULT_MAX_IMAGE_PIXELS,
        help="most image pixels in one request, all images together, read from image headers before "
        f"decoding; more is a 400 (default {DEFAULT_MAX_IMAGE_PIXELS:,}: one 8K screen)",
    )
    add(
        "--queue-timeout",
        type=float,
        default=DEFAULT_QUEUE_TIMEOUT_S,
        help="seconds a request waits while another generates before a 503 busy reply "
        f"(default {DEFAULT_QUEUE_TIMEOUT_S:g})",
    )
    add("--api-key-env", help="require Authorization: Bearer <value of this variable>")
    add("--log-requests", action="store_true", help="log each request to stderr")
    return parser


def _stop_on_signals(server: ModelServer) -> None:
    """Make SIGTERM and SIGINT stop generation at its next token and end ``serve_forever``."""

    def on_signal(signum: int, frame: FrameType | None) -> None:
        server.stopping.set()
        # shutdown() waits for serve_forever, which runs on this (the main) thread: ask from another.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def main(argv: Sequence[str] | None = None) -> int:
    """Load a checkpoint and serve it until SIGTERM or SIGINT; return the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        ServerLimits(args.max_tokens, args.max_tokens_cap, args.max_image_pixels, args.queue_timeout)
    except ValueError as exc:
        parser.error(str(exc))
    api_key = None
    if args.api_key_env:
        api_key = os.environ.get(args.api_key_env)
        if not api_key:
            print(
                f"error: --api-key-env {args.api_key_env} names an unset variable; export it", file=sys.stderr
            )
            return 2
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        model = TransformersChatModel(
            args.model,
            device=args.device,
            dtype=args.dtype,
            min_pixels=args.min_pixels,
            max_pixels=args.max_pixels,
        )
    except PolicyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    served = args.served_name or model.name
    server = make_server(
        _Named(model, served),
        args.host,
        args.port,
        api_key=api_key,
        default_max_tokens=args.max_tokens,
        max_tokens_cap=args.max_tokens_cap,
        max_image_pixels=args.max_image_pixels,
        queue_timeout_s=args.queue_timeout,
        log_requests=args.log_requests,
    )
    _stop_on_signals(server)
    info = {
        "endpoint": f"http://{args.host}:{server.server_port}/v1",
        "model": served,
        "min_pixels": model.min_pixels,
        "max_pixels": model.max_pixels,
        "max_tokens_cap": args.max_tokens_cap,
        "max_image_pixels": args.max_image_pixels,
    }
    print(json.dumps(info), flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.stopping.set()
        idle = server.wait_idle(SHUTDOWN_GRACE_S)
        server.server_close()
    if not idle:
        # A generation is still inside one forward pass (a long prefill): do not wait for it.
        print("stopping with a generation still running", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
