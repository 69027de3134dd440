"""The values the trajectory store takes and returns: runs, steps, verdicts and their provenance.

Inputs (``RunInfo``, ``Provenance``, ``StepRecord``) are what the agent knows when it records;
outputs (``Run``, ``Step``, ``Verdict``) add what the store assigns (ids, indices, times,
screenshot hashes). Actions, click locators and evidence are opaque JSON objects here: the store
keeps them exactly (after secret redaction) and never interprets them, except that the HTML page
reads ``x``/``y`` (and ``to_x``/``to_y``) to draw where an action pointed.
"""

from __future__ import annotations

import enum
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import cua


class RunStatus(enum.StrEnum):
    """Where a run stands. Every status but ``running`` is final."""

    RUNNING = "running"
    SUCCESS = "success"
    """The agent declared the task done (a verdict says whether it really is)."""
    FAILURE = "failure"
    """The agent gave up or ran out of steps."""
    NEEDS_USER = "needs_user"
    """The agent asked a person for help and stopped."""
    CANCELLED = "cancelled"
    """A person stopped the run."""
    ERROR = "error"
    """Something outside the policy broke (the sandbox, the model endpoint, a full disk)."""
    INTERRUPTED = "interrupted"
    """The recording process died; set when a store is opened and finds the run orphaned."""


class RunSource(enum.StrEnum):
    """What started a run: a person's ``cua run``, an evaluation, an exploration, a replay."""

    RUN = "run"
    EVAL = "eval"
    EXPLORE = "explore"
    REPLAY = "replay"


class Actor(enum.StrEnum):
    """Who took a step: the agent, or a person who took over the sandbox for a while."""

    AGENT = "agent"
    PERSON = "person"


class VerdictSource(enum.StrEnum):
    """Who judged a run."""

    VALIDATOR = "validator"
    """An executable check of the task."""
    JUDGE = "judge"
    """A vision-language model looking at the trajectory."""
    HEURISTIC = "heuristic"
    """Rules such as "the screen never changed" or "an error dialog appeared"."""
    PERSON = "person"
    """A human reviewer; usually the last word, because the newest verdict wins."""


#: Query parameters that carry credentials in endpoint URLs; they never reach the database.
_CREDENTIAL_PARAMS = frozenset(
    {"key", "api_key", "apikey", "api-key", "token", "access_token", "auth", "sig"}
)


def clean_endpoint(url: str) -> str:
    """Return ``url`` without user info and credential-like query parameters.

    Provenance names an endpoint by its address; a key pasted into the URL
    (``https://user:KEY@host/v1`` or ``...?api_key=KEY``) must not end up in the store.
    """
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    query = [
        (k, v)
        for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in _CREDENTIAL_PARAMS
    ]
    return urllib.parse.urlunsplit(
        (parts.scheme, netloc, parts.path, urllib.parse.urlencode(query), parts.fragment)
    )


@dataclass(frozen=True)
class Provenance:
    """Which model, prompt format and settings produced a run, so results can be compared later.

    There is deliberately no field for an API key: an endpoint is named by its URL (cleaned of
    credentials, see :func:`clean_endpoint`) and the model's name.
    """

    model: str
    """The model's name: a checkpoint's name, or the model name sent to the endpoint."""
    checkpoint: str | None = None
    """Content hash of a local checkpoint directory (for local models)."""
    endpoint: str | None = None
    """Base URL of an OpenAI-compatible endpoint (for remote models)."""
    prompt_format: str = ""
    """Name of the prompt/output format, e.g. ``ui-tars-1.5``."""
    prompt_format_version: str = ""
    """Version of that format's prompt text and parser."""
    generation: Mapping[str, Any] = field(default_factory=dict)
    """Generation settings (temperature, max tokens, image size limits, ...) as JSON."""
    seed: int | None = None
    cua_version: str = cua.__version__
    """The version of this project that recorded the run."""

    def __post_init__(self) -> None:
        if self.endpoint is not None:
            object.__setattr__(self, "endpoint", clean_endpoint(self.endpoint))


@dataclass(frozen=True)
class RunInfo:
    """What is known when a run starts."""

    instruction: str
    """The task as the agent sees it; ``{{secret:NAME}}`` placeholders stay unresolved."""
    app: str
    """The application profile's name."""
    provenance: Provenance
    task_id: str | None = None
    """The task's id in a suite, or None for a free-form instruction."""
    task_hash: str | None = None
    """Hash of the full task spec (setup, validator), so a changed task is not compared with its old self."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    source: RunSource = RunSource.RUN
    """What started the run (indexed: the app and ``cua runs list`` filter on it)."""
    """Caller-defined JSON (e.g. the exploration session or sandbox backend); never interpreted."""


@dataclass(frozen=True)
class StepRecord:
    """One step as the agent hands it to the store, with the screenshot passed beside it."""

    thought: str | None = None
    raw_output: str | None = None
    """The model's text exactly as generated (after secret redaction)."""
    action: Mapping[str, Any] | None = None
    """The parsed action as JSON; None when parsing failed."""
    parse_error: str | None = None
    hit: Mapping[str, Any] | None = None
    """A locator of what a click hit (accessibility node, OCR text), when known."""
    timings: Mapping[str, float] = field(default_factory=dict)
    """Milliseconds spent by phase (model, parse, action, settle, ...)."""
    window_title: str | None = None
    started_at: datetime | None = None
    actor: Actor = Actor.AGENT
    """Who took the step: the agent, or a person driving the sandbox (take-over)."""
    """When the observation was captured; the store's clock at recording time if None."""


@dataclass(frozen=True)
class Verdict:
    """One judgement of a run; a run can have several, and the newest one is its current verdict."""

    id: int
    run_id: str
    created_at: datetime
    source: VerdictSource
    success: bool | None
    """True or False, or None when the judge could not tell."""
    score: float | None
    reasons: tuple[str, ...]
    evidence: Mapping[str, Any]


@dataclass(frozen=True)
class Step:
    """One recorded step: the screenshot the policy saw and what it answered."""

    run_id: str
    index: int
    started_at: datetime
    recorded_at: datetime
    screenshot: str
    """sha256 (hex) of the encoded screenshot file; read it with ``TrajectoryStore.screenshot``."""
    thought: str | None
    raw_output: str | None
    action: Mapping[str, Any] | None
    parse_error: str | None
    hit: Mapping[str, Any] | None
    timings: Mapping[str, float]
    window_title: str | None
    actor: Actor = Actor.AGENT


@dataclass(frozen=True)
class Run:
    """A recorded run as stored, with its step count and current verdict."""

    id: str
    created_at: datetime
    finished_at: datetime | None
    status: RunStatus
    instruction: str
    app: str
    task_id: str | None
    task_hash: str | None
    provenance: Provenance
    summary: str
    """The outcome in words (the agent's final message, an error, why it was interrupted)."""
    final_screenshot: str | None
    """sha256 of the screen after the last action, when the recorder passed it to ``finish_run``."""
    extra: Mapping[str, Any]
    pid: int
    """The recording process, used to detect runs orphaned by a crash."""
    step_count: int
    verdict: Verdict | None
    source: RunSource = RunSource.RUN
    """The newest verdict, or None when the run was never judged."""


@dataclass(frozen=True)
class GcReport:
    """What ``TrajectoryStore.gc`` removed."""

    files: int
    """Screenshot files no step or run refers to (left by a crash or a deletion), and temporary files."""
    bytes: int


@dataclass(frozen=True)
class DiskUsage:
    """Where the store's bytes are."""

    database_bytes: int
    """The SQLite database with its WAL and shared-memory files."""
    screenshot_files: int
    screenshot_bytes: int
    free_bytes: int
    """Free space left on the disk holding the store."""

    @property
    def total_bytes(self) -> int:
        """Return the database and screenshot bytes together."""
        return self.database_bytes + self.screenshot_bytes
