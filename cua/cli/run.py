"""``cua run``: one instruction, one sandbox, one model, with live progress and a recorded run."""

from __future__ import annotations

import os
import select
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from cua.agent import AgentControl, StepEvent
from cua.agent.safety import SafetyGuard
from cua.cli.options import (
    DEFAULT_FORMAT,
    ApiKeyEnv,
    Backend,
    DataDir,
    Encoder,
    Endpoint,
    FormatName,
    HistoryScreenshots,
    KeyScreens,
    MaxPixels,
    MemoryMode,
    MinPixels,
    Model,
    ModelName,
    ModelOptions,
    TaskAppProfile,
    Temperature,
    sandbox_factory,
)
from cua.errors import UsageError
from cua.service import Notice, RunRequest, Service, ServiceEvent
from cua.store import Actor
from sandbox import find_profile


def _ask_terminal(question: str, timeout_s: float) -> str | None:
    """Ask on the terminal; None when nobody answers in time or there is no terminal."""
    if not sys.stdin.isatty():
        return None
    print(f"\n  ? {question}\n  answer (within {timeout_s:.0f} s): ", end="", flush=True)
    ready, _, _ = select.select([sys.stdin], [], [], timeout_s)
    if not ready:
        print("\n  (no answer)")
        return None
    return sys.stdin.readline().strip() or None


def _show(event: ServiceEvent) -> None:
    from cua.actions import to_pyautogui

    if isinstance(event, Notice):
        typer.echo(event.text)
        return
    if not isinstance(event, StepEvent):
        return
    if event.actor is Actor.PERSON:
        for action in event.actions:
            typer.echo(f"person: {to_pyautogui(action).splitlines()[-1]}")
        return
    thought = " ".join(event.thought.split())
    typer.echo(f"step {event.index + 1}: {thought[:100]}")
    for action in event.actions:
        typer.echo(f"    -> {to_pyautogui(action).splitlines()[-1]}")
    if event.parse_error:
        typer.echo(f"    !! unparsable: {event.parse_error.splitlines()[0][:120]}")
    elif event.feedback:
        typer.echo(f"    !! {event.feedback[:120]}")


def run(
    instruction: Annotated[
        str | None, typer.Argument(help="What the agent should do (or use --task).")
    ] = None,
    app: TaskAppProfile = None,
    task: Annotated[
        str | None,
        typer.Option(
            help="A built-in task id (`cua tasks list --tasks`), a task file or folder holding one"
            " task, or FILE#TASK_ID: its setup, instruction and validator."
        ),
    ] = None,
    model: Model = None,
    endpoint: Endpoint = None,
    model_name: ModelName = None,
    api_key_env: ApiKeyEnv = None,
    format_name: FormatName = DEFAULT_FORMAT,
    max_steps: Annotated[int | None, typer.Option(help="Step budget (default 15, or the task's).")] = None,
    history_screenshots: HistoryScreenshots = 2,
    temperature: Temperature = 0.0,
    min_pixels: MinPixels = None,
    max_pixels: MaxPixels = None,
    data_dir: DataDir = None,
    secret: Annotated[
        list[str] | None,
        typer.Option(help="NAME=ENVVAR: the task may type {{secret:NAME}}; the value comes from ENVVAR."),
    ] = None,
    safety_rules: Annotated[Path | None, typer.Option(help="TOML file of extra safety-guard rules.")] = None,
    batch: Annotated[
        bool, typer.Option(help="Never ask the person; call_user ends the run as needs_user.")
    ] = False,
    real_screen: Annotated[
        bool,
        typer.Option(help="Act on YOUR display ($DISPLAY) instead of a sandbox: no isolation, no undo."),
    ] = False,
    judge: Annotated[
        str,
        typer.Option(
            help="Without --task, who judges the run: heuristic (cheap checks) or self (the run's own"
            " model as a VLM judge, then the checks). A judged success is not verification."
        ),
    ] = "heuristic",
    memory: MemoryMode = "auto",
    key_screenshots: KeyScreens = 0,
    encoder: Encoder = "static",
    backend: Backend = "xvfb",
) -> None:
    """Run the agent on INSTRUCTION in a fresh sandbox, showing each step, and record the run.

    With --task (a built-in task, or one from a task file), the task's setup and instruction are
    used and its validator judges the outcome (the verdict is stored with the run).
    """
    if judge not in ("heuristic", "self"):
        raise UsageError(f"--judge is heuristic or self, not {judge!r}")
    if real_screen and backend != "xvfb":
        raise UsageError("--real-screen acts on your display: it takes no --backend")
    service = Service(data_dir, sandbox_factory=sandbox_factory(backend))
    request = RunRequest(
        instruction=instruction, app=app, task=task, max_steps=max_steps, real_screen=real_screen
    )
    spec, _, app_name, _ = service.check(request)
    request = replace(request, task=spec)  # resolved once
    find_profile(app_name)  # an unknown application fails here, before a model loads
    secrets: dict[str, str] = {}
    for item in secret or []:
        name, _, var = item.partition("=")
        if not name or not var:
            raise UsageError(f"--secret {item!r}: expected NAME=ENVVAR")
        if var not in os.environ:
            raise UsageError(f"--secret {item}: environment variable {var} is not set")
        secrets[name] = os.environ[var]
    guard = (
        SafetyGuard.from_file(safety_rules, real_screen=real_screen)
        if safety_rules
        else SafetyGuard(real_screen=real_screen)
    )
    options = ModelOptions.of(model, endpoint, model_name, api_key_env, format_name, history_screenshots,
                              temperature, min_pixels, max_pixels)  # fmt: skip
    policy = options.make_policy(data_dir)
    critic = None
    if judge == "self" and getattr(policy, "name", "") == "bundled":
        raise UsageError("--judge self needs a vision-language model (--model DIR or --endpoint URL); "
                         "the bundled policy cannot judge screenshots")  # fmt: skip
    if judge == "self":
        from cua.critic import Critic, ModelJudge

        critic = Critic(ModelJudge(policy))
    if real_screen:
        typer.echo(
            "WARNING: --real-screen: the agent acts on your own desktop, as you, with no sandbox.", err=True
        )
    control = AgentControl(answerer=None if batch else _ask_terminal)
    request = replace(
        request, policy=policy, critic=critic, history_screenshots=history_screenshots, secrets=secrets,
        guard=guard, memory=memory, encoder=encoder, key_screenshots=key_screenshots,
    )  # fmt: skip
    outcome = service.run(request, control=control, on_event=_show)
    if outcome.verdict is None:
        if outcome.critic is not None:
            judged = outcome.critic
            mark = {True: "success", False: "failure", None: "unknown"}[judged.success]
            typer.echo(f"critic ({judged.source.value}): {mark}")
            for reason in judged.reasons[:6]:
                typer.echo(f"    {reason}")
    else:
        verdict = outcome.verdict
        typer.echo(f"validator: {'PASS' if verdict.passed else 'FAIL'} (score {verdict.score:.2f})")
        for reason in verdict.reasons:
            typer.echo(f"    {reason}")
    if outcome.memory_shown:
        shown = ", ".join(str(i) for i in outcome.memory_shown)
        if outcome.memory_settled is not None:
            typer.echo(f"memory: showed items {shown}; their utility now counts this run")
        else:
            typer.echo(
                f"memory: showed items {shown}; their utility counts this run once it is verified "
                f"(cua critic overrule {outcome.run_id} success|failure, then cua memory build)"
            )
    typer.echo(f"outcome: {outcome.status.value} after {outcome.steps} steps: {outcome.summary}")
    typer.echo(f"run id: {outcome.run_id}  (cua runs show {outcome.run_id})")
    if outcome.status.value in ("error",):
        raise typer.Exit(1)
