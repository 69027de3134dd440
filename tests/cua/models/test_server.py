"""The loopback OpenAI-compatible server on a tiny model: round trips with OpenAIPolicy, errors, the CLI.

The attacks on its limits run against a real server on 127.0.0.1 over real sockets: a huge
``max_tokens``, a small PNG that claims a huge size, a bad ``Content-Length``, a client that
hangs up mid-generation, a second request while the model is busy, and SIGTERM mid-generation.
Long generations use the untrained tiny checkpoint with its end-of-sequence tokens switched off,
so a request for a million tokens runs until something stops it.
"""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from cua.errors import PolicyError
from cua.models.config import GenerationSettings
from cua.models.messages import image_to_data_url
from cua.models.openai_policy import OpenAIPolicy
from cua.models.overfit import FittedModel, demo_input, demo_screen
from cua.models.server import DEFAULT_MAX_TOKENS_CAP, ChatBackend, ModelServer, make_server
from cua.models.transformers_policy import TransformersChatModel, TransformersPolicy
from cua.policy import HistoryItem, PolicyInput

REPO = Path(__file__).resolve().parents[3]


#: Generous bound for anything that should happen "promptly" on a loaded two-core machine.
PROMPTLY_S = 30.0


@contextmanager
def running(backend: ChatBackend, **kwargs: Any) -> Iterator[ModelServer]:
    server = make_server(backend, **kwargs)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()  # also ends a generation a failed test left running
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        assert server.wait_idle(PROMPTLY_S)


@contextmanager
def serving(backend: ChatBackend, **kwargs: Any) -> Iterator[str]:
    with running(backend, **kwargs) as server:
        yield f"http://127.0.0.1:{server.server_port}/v1"


def post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def uitars(fitted: Callable[[str], FittedModel]) -> FittedModel:
    return fitted("ui-tars-1.5")


@pytest.fixture(scope="module")
def chat_model(uitars: FittedModel) -> TransformersChatModel:
    return TransformersChatModel(uitars.model_dir)


def client(url: str, fit: FittedModel, **kwargs: Any) -> OpenAIPolicy:
    return OpenAIPolicy(
        url,
        fit.model_dir.name,
        fit.format_name,
        min_pixels=fit.min_pixels,
        max_pixels=fit.max_pixels,
        **kwargs,
    )


def test_round_trip_gives_the_same_text_as_the_direct_policy(
    uitars: FittedModel, chat_model: TransformersChatModel
) -> None:
    direct = TransformersPolicy(
        uitars.model_dir, uitars.format_name, min_pixels=uitars.min_pixels, max_pixels=uitars.max_pixels
    )
    with serving(chat_model) as url:
        remote = client(url, uitars)
        assert remote.check() == [uitars.model_dir.name]
        out = remote.act(demo_input())
        assert out.text == direct.act(demo_input()).text == uitars.target
        assert out.usage["completion_tokens"] == direct.act(demo_input()).usage["completion_tokens"]
        # An unseen multi-image prompt: whatever the model says, both paths must say the same.
        first = demo_input()
        step = PolicyInput(
            first.instruction,
            demo_screen().rotate(180),
            first.screen_size,
            history=[HistoryItem(uitars.target, first.screenshot, feedback="Nothing happened.")],
            step=1,
        )
        short = GenerationSettings(max_new_tokens=12)  # one settings object, both backends
        near = TransformersPolicy(
            uitars.model_dir,
            uitars.format_name,
            min_pixels=uitars.min_pixels,
            max_pixels=uitars.max_pixels,
            generation=short,
        )
        assert client(url, uitars, generation=short).act(step).text == near.act(step).text


def test_server_requires_the_bearer_key_when_configured(
    uitars: FittedModel, chat_model: TransformersChatModel
) -> None:
    with serving(chat_model, api_key="s3cret") as url:
        with pytest.raises(PolicyError, match="HTTP 401"):
            client(url, uitars).check()
        keyed = client(url, uitars, api_key_env="K", environ={"K": "s3cret"})
        assert keyed.check() == [uitars.model_dir.name]
        assert keyed.act(demo_input()).text == uitars.target
        wrong = client(url, uitars, api_key_env="K", environ={"K": "nope"})
        with pytest.raises(PolicyError, match="HTTP 401"):
            wrong.act(demo_input())


def test_server_rejects_what_it_cannot_serve(chat_model: TransformersChatModel) -> None:
    image = {"type": "image_url", "image_url": {"url": image_to_data_url(demo_screen())}}
    good = [{"role": "user", "content": [{"type": "text", "text": "hi"}, image]}]
    with serving(chat_model) as url:
        chat = f"{url}/chat/completions"
        status, body = post(chat, {"model": chat_model.name, "messages": good, "max_tokens": 3})
        assert status == 200 and body["usage"]["completion_tokens"] <= 3
        assert body["choices"][0]["finish_reason"] in ("stop", "length")
        remote = [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}
        ]
        cases: list[tuple[dict[str, Any], int, str]] = [
            ({"model": chat_model.name, "messages": remote}, 400, "data URL"),
            ({"model": chat_model.name, "messages": good, "stream": True}, 400, "streaming"),
            ({"model": "other", "messages": good}, 404, "does not exist"),
            ({"model": chat_model.name, "messages": []}, 400, "non-empty"),
            ({"model": chat_model.name, "messages": good, "top_p": 0}, 400, "top_p"),
        ]
        for request, status_wanted, needle in cases:
            status, body = post(chat, request)
            assert status == status_wanted and needle in body["error"]["message"], (request, body)
        assert post(f"{url}/nothing", {})[0] == 404


def test_server_module_runs_from_the_command_line(uitars: FittedModel) -> None:
    env = {**os.environ, "CUA_SERVER_KEY": "k"}
    cmd = [sys.executable, "-m", "cua.models.server", "--model", str(uitars.model_dir), "--port", "0"]
    cmd += ["--threads", "1", "--api-key-env", "CUA_SERVER_KEY"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert info["model"] == uitars.model_dir.name and info["max_pixels"] == uitars.max_pixels
        remote = client(info["endpoint"], uitars, api_key_env="CUA_SERVER_KEY", environ=env)
        remote.check()
        assert remote.act(demo_input()).text == uitars.target
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    bad = subprocess.run(
        [sys.executable, "-m", "cua.models.server", "--model", str(REPO / "no-such-dir")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "does not exist" in bad.stderr


# -- attacks on the server's limits -------------------------------------------------------------


@pytest.fixture(scope="module")
def babbler(tiny_dirs: dict[str, Path]) -> TransformersChatModel:
    """The untrained tiny model, never ending a reply by itself: it generates until stopped."""
    model = TransformersChatModel(tiny_dirs["qwen2_5_vl"])
    model.model.generation_config.eos_token_id = None
    return model


def raw_exchange(port: int, request: bytes, timeout: float = PROMPTLY_S) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes; return the reply's status, headers (lower-case names) and body (read to EOF)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        return parse_reply(read_to_eof(sock))


def read_to_eof(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def parse_reply(reply: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def chat_request(body: dict[str, Any]) -> bytes:
    data = json.dumps(body).encode()
    head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n\r\n"
    return head.encode() + data


def endless(model: str) -> dict[str, Any]:
    """A request that would generate for hours unless the server stops it."""
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1_000_000}


def wait_until(condition: Callable[[], bool], timeout: float = PROMPTLY_S) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def health(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url.removesuffix("/v1") + "/health", timeout=PROMPTLY_S) as response:
        data: dict[str, Any] = json.loads(response.read())
        return data


def start_endless(port: int, model: str) -> socket.socket:
    """Open a connection and send an endless request, leaving the reply unread."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=PROMPTLY_S)
    sock.sendall(chat_request(endless(model)))
    return sock


def png_data_url(raw: bytes) -> dict[str, Any]:
    return {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64," + base64.b64encode(raw).decode()},
    }


def png_claiming(size: tuple[int, int]) -> bytes:
    """A PNG of a 2x2 image whose header claims ``size``: it opens, but its pixels do not decode."""
    buf = io.BytesIO()
    Image.new("1", (2, 2)).save(buf, format="PNG")
    raw = buf.getvalue()
    ihdr = raw[12:33]  # length(4) b"IHDR" width height depth colour compression filter interlace crc(4)
    fields = struct.pack(">II", *size) + ihdr[12:17]
    chunk = b"IHDR" + fields
    forged = struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    return raw[:8] + forged + raw[33:]


def test_max_tokens_above_the_cap_is_rejected_not_run(
    chat_model: TransformersChatModel, babbler: TransformersChatModel
) -> None:
    hi = [{"role": "user", "content": "hi"}]
    with serving(chat_model) as url:
        status, body = post(f"{url}/chat/completions", {"messages": hi, "max_tokens": 100_000_000})
        assert status == 400
        assert f"cap of {DEFAULT_MAX_TOKENS_CAP}" in body["error"]["message"]
        assert "--max-tokens-cap" in body["error"]["message"]
        # JSON numbers too big for an int, and the NaN/Infinity extensions, are plain 400s.
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        for number in (b"1e400", b"Infinity", b"NaN"):
            data = b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": ' + number + b"}"
            head = f"POST /v1/chat/completions HTTP/1.0\r\nContent-Length: {len(data)}\r\n\r\n".encode()
            status, _, raw = raw_exchange(port, head + data)
            assert status == 400 and json.loads(raw)["error"]["code"] == 400, number
    with serving(babbler, default_max_tokens=5, max_tokens_cap=5) as url:
        assert post(f"{url}/chat/completions", {"messages": hi, "max_tokens": 6})[0] == 400
        status, body = post(f"{url}/chat/completions", {"messages": hi, "max_tokens": 5})
        assert status == 200 and body["usage"]["completion_tokens"] == 5
    with pytest.raises(ValueError, match="cap"):
        make_server(babbler, default_max_tokens=300, max_tokens_cap=200)


def test_a_small_png_of_huge_size_is_refused_from_its_header(babbler: TransformersChatModel) -> None:
    bomb = io.BytesIO()
    Image.new("1", (9400, 9400)).save(bomb, format="PNG", optimize=True)
    assert len(bomb.getvalue()) < 50_000  # the reported attack: a few kB that decode to 88 M pixels
    text = {"type": "text", "text": "hi"}

    def ask(*parts: dict[str, Any]) -> tuple[int, str]:
        status, body = post(
            chat, {"messages": [{"role": "user", "content": [text, *parts]}], "max_tokens": 1}
        )
        return status, body.get("error", {}).get("message", "")

    with serving(babbler) as url:
        chat = f"{url}/chat/completions"
        status, message = ask(png_data_url(bomb.getvalue()))
        assert status == 400 and "9400x9400" in message and "--max-image-pixels" in message
        # Refused from the header alone: a file whose pixels would not even decode gets the same answer...
        status, message = ask(png_data_url(png_claiming((9000, 9000))))
        assert status == 400 and "9000x9000" in message and "--max-image-pixels" in message
        # ...while under the limit the same kind of file reaches the decoder, which fails on it.
        status, message = ask(png_data_url(png_claiming((100, 100))))
        assert status == 400 and "does not decode" in message
        # Formats outside PNG, JPEG, WebP, GIF and BMP are never opened.
        tiff = io.BytesIO()
        Image.new("RGB", (8, 8)).save(tiff, format="TIFF")
        status, message = ask(png_data_url(tiff.getvalue()))
        assert status == 400 and "accepted format" in message
    small = io.BytesIO()
    Image.new("RGB", (64, 64)).save(small, format="PNG")
    with serving(babbler, max_image_pixels=64 * 64 + 100) as url:
        chat = f"{url}/chat/completions"
        assert ask(png_data_url(small.getvalue()))[0] == 200
        # The limit is on all the request's images together.
        status, message = ask(png_data_url(small.getvalue()), png_data_url(small.getvalue()))
        assert status == 400 and "content[2]" in message and "4,196" in message


@pytest.mark.parametrize("length", ["abc", "-5", "1_0", "+7", "", "99999999999999999999999"])
def test_a_bad_content_length_gets_a_json_400(babbler: TransformersChatModel, length: str) -> None:
    with running(babbler) as server:
        request = f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n{{}}"
        status, headers, body = raw_exchange(server.server_port, request.encode())
        assert status in (400, 413) and headers["content-type"] == "application/json"
        assert json.loads(body)["error"]["code"] == status
        assert health(f"http://127.0.0.1:{server.server_port}/v1")["status"] == "ok"


def test_a_client_that_hangs_up_stops_its_generation(babbler: TransformersChatModel) -> None:
    with running(babbler, max_tokens_cap=1_000_000) as server:
        url = f"http://127.0.0.1:{server.server_port}/v1"
        gone = start_endless(server.server_port, babbler.name)
        assert wait_until(lambda: health(url)["generating"])
        # A second request waits for the model while the first generates...
        second: list[tuple[int, dict[str, Any]]] = []
        short = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
        waiter = threading.Thread(target=lambda: second.append(post(f"{url}/chat/completions", short)))
        waiter.start()
        time.sleep(0.5)
        assert not second and health(url)["generating"]
        # ...and is answered soon after the first client hangs up: its million tokens are not computed.
        gone.close()
        waiter.join(timeout=PROMPTLY_S)
        assert second and second[0][0] == 200 and second[0][1]["usage"]["completion_tokens"] == 2
        assert wait_until(lambda: not health(url)["generating"])


def test_a_busy_server_answers_503_and_stopping_cuts_generation_short(babbler: TransformersChatModel) -> None:
    with running(babbler, max_tokens_cap=1_000_000, queue_timeout_s=0.3) as server:
        url = f"http://127.0.0.1:{server.server_port}/v1"
        first = start_endless(server.server_port, babbler.name)
        with first:
            assert wait_until(lambda: health(url)["generating"])
            status, headers, body = raw_exchange(server.server_port, chat_request(endless(babbler.name)))
            assert status == 503 and "busy" in json.loads(body)["error"]["message"]
            assert headers["retry-after"].isdigit()
            server.stopping.set()  # what SIGTERM does: the running generation ends at its next token
            status, _, body = parse_reply(read_to_eof(first))
            assert status == 503 and "shutting down" in json.loads(body)["error"]["message"]
        assert wait_until(lambda: not server.generating)


def test_sigterm_mid_generation_stops_the_server_process(tiny_dirs: dict[str, Path]) -> None:
    # The untrained checkpoint from disk: greedy decoding of "hi" never reaches its end-of-sequence token.
    cmd = [sys.executable, "-m", "cua.models.server", "--model", str(tiny_dirs["qwen2_5_vl"]), "--port", "0"]
    cmd += ["--threads", "1", "--max-tokens-cap", "1000000"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert info["max_tokens_cap"] == 1_000_000
        url = info["endpoint"]
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        client = start_endless(port, info["model"])
        with client:
            assert wait_until(lambda: health(url)["generating"])
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=PROMPTLY_S) == 0
            reply = read_to_eof(client)  # the cut-short reply, or nothing if the process won the race
            assert not reply or parse_reply(reply)[0] == 503
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
