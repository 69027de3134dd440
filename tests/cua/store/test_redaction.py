"""Secrets are stored only as {{secret:NAME}} placeholders, and API keys never reach the disk."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cua.store import (
    Provenance,
    RunInfo,
    StepRecord,
    TrajectoryStore,
    export_folder,
    export_html,
    placeholder,
    redact,
)
from cua.store.records import clean_endpoint
from cua.store.redaction import Redactor
from tests.cua.store.screens import provenance, screen


def test_redact_replaces_values_with_placeholders() -> None:
    secrets = {"PASSWORD": "hunter2", "TOKEN": "tok-123-hunter2-xyz"}
    assert redact("type hunter2 then tok-123-hunter2-xyz", secrets) == (
        "type {{secret:PASSWORD}} then {{secret:TOKEN}}"  # the longer value wins where both match
    )
    assert redact("nothing here", secrets) == "nothing here"
    assert redact("", secrets) == ""
    assert redact("an empty secret matches nothing", {"EMPTY": ""}) == "an empty secret matches nothing"
    assert placeholder("X") == "{{secret:X}}"


def test_redact_catches_escaped_forms() -> None:
    value = 'p"a\\ss wörd&/'
    secrets = {"PW": value}
    raw_json = json.dumps({"action": "type", "text": value})
    assert (
        value not in redact(raw_json, secrets)
        and json.loads(redact(raw_json, secrets))["text"] == "{{secret:PW}}"
    )
    assert redact(f"type(content={value!r})", secrets) == "type(content='{{secret:PW}}')"
    assert (
        redact("https://x/login?pw=p%22a%5Css%20w%C3%B6rd%26%2F", secrets)
        == "https://x/login?pw={{secret:PW}}"
    )


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet="0123456789 ab", max_size=60),
    values=st.lists(st.text(alphabet="0123456789", min_size=1, max_size=5), min_size=1, max_size=4),
)
def test_no_secret_value_survives_redaction(text: str, values: list[str]) -> None:
    # Digits-only values cannot reappear inside the (digit-free) placeholders, so any digit run
    # equal to a value in the output would be a value that escaped.
    secrets = {f"S{chr(65 + i)}": v for i, v in enumerate(values)}
    out = redact(text, secrets)
    assert all(v not in out for v in values)


def test_a_placeholder_is_never_redacted_again() -> None:
    assert redact("secret here", {"secret": "secret"}) == "{{secret:secret}} here"


def test_redactor_walks_json_values_and_keys() -> None:
    r = Redactor({"K": "s3cr3t"})
    value = {"text": "s3cr3t!", "nested": [{"s3cr3t": ("a", "xs3cr3tx")}], "n": 5, "none": None}
    assert r.json(value) == {
        "text": "{{secret:K}}!",
        "nested": [{"{{secret:K}}": ["a", "x{{secret:K}}x"]}],
        "n": 5,
        "none": None,
    }


def test_endpoints_lose_their_credentials() -> None:
    assert clean_endpoint("https://user:sk-abc@api.example.com:8443/v1?api_key=sk-abc&x=1") == (
        "https://api.example.com:8443/v1?x=1"
    )
    assert clean_endpoint("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
    assert Provenance(model="m", endpoint="http://k:v@[::1]:9/v1?token=t").endpoint == "http://[::1]:9/v1"


def all_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def test_an_api_key_given_as_a_secret_never_reaches_the_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUA_TEST_API_KEY", "sk-live-0123456789abcdef")
    key = "sk-live-0123456789abcdef"
    secrets = {"API_KEY": os.environ["CUA_TEST_API_KEY"], "PASSWORD": "correct horse"}
    store = TrajectoryStore(tmp_path, min_free_bytes=0)
    prov = provenance(endpoint=f"https://me:{key}@llm.example/v1?api_key={key}", generation={"note": key})
    run_id = store.start_run(
        RunInfo(f"log in with {{{{secret:PASSWORD}}}} (key {key})", "fake", prov, extra={"k": key}),
        secrets=secrets,
    )
    step = store.add_step(
        run_id,
        StepRecord(
            thought=f"I will type the password correct horse and the key {key}",
            raw_output=json.dumps({"thought": "typing", "text": key}),
            action={"type": "type", "text": f"{key}\n"},
            parse_error=f"bad: {key!r}",
            hit={"name": f"field showing {key}"},
            window_title=f"Login — {key}",
        ),
        screen(0),
    )
    assert step.thought == "I will type the password {{secret:PASSWORD}} and the key {{secret:API_KEY}}"
    assert step.action == {"type": "type", "text": "{{secret:API_KEY}}\n"}
    store.finish_run(run_id, "success", f"logged in with {key}")
    store.add_verdict(run_id, "judge", True, reasons=[f"saw {key}"], evidence={"ocr": f"...{key}..."})
    assert key.encode() not in all_bytes(store.root)  # the live database and its WAL
    export_folder(store, [run_id], tmp_path / "folder")
    export_html(store, run_id, tmp_path / "run.html")
    store.close()

    everything = all_bytes(tmp_path)
    assert key.encode() not in everything and b"correct horse" not in everything
    assert b"{{secret:API_KEY}}" in everything
