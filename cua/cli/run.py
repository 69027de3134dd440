"""``cua run``: one instruction, one sandbox, one model, with live progress and a recorded run."""

from __future__ import annotations

import os
import select
import sys
from pathlib import Path
from typing import Annotated

import typer

from cua.agent import Agent, AgentConfig, StepEvent
from cua.agent.safety import SafetyGuard
from cua.cli.memory import KeyScreens, MemoryMode, open_memory
from cua.errors import UsageError
from cua.models.registry import DEFAULT_FORMAT, make_policy
from cua.policy import instruction_problem
from cua.store import TrajectoryStore
from sandbox import Sandbox, XvfbSandbox, find_profile
from sandbox.host import HostScreen


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


def _show(event: StepEvent) -> None:
    from cua.actions import to_pyautogui

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
    app: Annotated[
        str | None, typer.Option("--app", "-a", help="Application profile (see `cua sandbox profiles`).")
    ] = None,
    task: Annotated[
        str | None,
        typer.Option(
            help="A built-in task id (`cua tasks list --tasks`), a task file or folder holding one"
            " task, or FILE#TASK_ID: its setup, instruction and validator."
        ),
    ] = None,
    model: Annotated[Path | None, typer.Option(help="Local checkpoint directory (transformers).")] = None,
    endpoint: Annotated[str | None, typer.Option(help="OpenAI-compatible API base URL.")] = None,
    model_name: Annotated[str | None, typer.Option(help="Model id served by --endpoint.")] = None,
    api_key_env: Annotated[
        str | None, typer.Option(help="Environment variable holding the endpoint's API key (never stored).")
    ] = None,
    format_name: Annotated[
        str, typer.Option("--format", help="Output format of the model.")
    ] = DEFAULT_FORMAT,
    max_steps: Annotated[int | None, typer.Option(help="Step budget (default 15, or the task's).")] = None,
    history_screenshots: Annotated[int, typer.Option(help="Recent screenshots shown to the model.")] = 2,
    temperature: Annotated[float, typer.Option(help="Sampling temperature (0: greedy).")] = 0.0,
    min_pixels: Annotated[int | None, typer.Option(help="Smallest image area sent to the model.")] = None,
    max_pixels: Annotated[int | None, typer.Option(help="Largest image area sent to the model.")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Where runs are recorded (default: platform data dir).")
    ] = None,
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
    encoder: Annotated[str, typer.Option(help="Memory's text encoder: static or minilm.")] = "static",
) -> None:
    """Run the agent on INSTRUCTION in a fresh sandbox, showing each step, and record the run.

    With --task (a built-in task, or one from a task file), the task's setup and instruction are
    used and its validator judges the outcome (the verdict is stored with the run).
    """
    spec = None
    if task is not None:
        from cua.tasks import resolve_task

        if instruction is not None:
            raise UsageError("give an INSTRUCTION or --task, not both")
        _, spec = resolve_task(task)
        instruction, app = spec.instruction, app or spec.app
        if app != spec.app:
            raise UsageError(f"task {spec.id} runs on {spec.app}, not {app}")
    if instruction is None or app is None:
        raise UsageError(
            'give an INSTRUCTION and --app APP (e.g. cua run "open the file menu" --app mousepad)'
        )
    problem = instruction_problem(instruction)
    if problem is not None:
        raise UsageError(problem)
    steps = max_steps if max_steps is not None else (spec.max_steps if spec else 15)
    if steps < 1:
        raise UsageError("--max-steps must be at least 1")
    if judge not in ("heuristic", "self"):
        raise UsageError(f"--judge is heuristic or self, not {judge!r}")
    if spec is not None and real_screen:
        raise UsageError("--task sets up files and processes; it runs in a sandbox, not with --real-screen")
    profile = find_profile(app)
    secrets: dict[str, str] = {}
    for item in secret or []:
        name, _, var = item.partition("=")
        if not name or not var:
            raise UsageError(f"--secret {item!r}: expected NAME=ENVVAR")
        if var not in os.environ:
            raise UsageError(f"--secret {item}: environment variable {var} is not set")
        secrets[name] = os.environ[var]
    policy = make_policy(
        model,
        endpoint,
        model_name,
        format_name,
        api_key_env,
        history_screenshots,
        temperature,
        min_pixels,
        max_pixels,
    )
    guard = (
        SafetyGuard.from_file(safety_rules, real_screen=real_screen)
        if safety_rules
        else SafetyGuard(real_screen=real_screen)
    )
    if real_screen:
        typer.echo(
            "WARNING: --real-screen: the agent acts on your own desktop, as you, with no sandbox.", err=True
        )
        screen: Sandbox = HostScreen(consent=True)
    else:
        screen = XvfbSandbox(profile.screen)
    with TrajectoryStore(data_dir) as store, screen as sb:
        open_hook = open_memory(memory, store, encoder=encoder, key_screenshots=key_screenshots)
        # Unlike `cua eval`, a run may be shown earlier runs of its own task: that is the point of memory.
        hook = open_hook(profile.name, None) if open_hook is not None else None
        if hook is not None:
            typer.echo(
                f"memory: {hook.index.count()} items in {hook.index.path} (--memory off to run without)"
            )
        typer.echo(f"starting {profile.name} {'on your screen' if real_screen else 'in a sandbox'} ...")
        if spec is not None:
            from cua.tasks import start

            first = start(sb, spec)
        else:
            first = sb.reset(profile)
        agent = Agent(
            policy,
            sb,
            store=store,
            config=AgentConfig(max_steps=steps, history_screenshots=history_screenshots),
            guard=guard,
            ask_user=None if batch else _ask_terminal,
            on_step=_show,
            memory=hook,
        )
        if spec is None:
            result = agent.run(instruction, first, app=profile.name, secrets=secrets)
            if result.run_id is not None:
                from cua.critic import Critic, ModelJudge

                critic = Critic(ModelJudge(policy) if judge == "self" else None)
                judged = critic.judge_stored(store, result.run_id)
                outcome = {True: "success", False: "failure", None: "unknown"}[judged.success]
                typer.echo(f"critic ({judged.source.value}): {outcome}")
                for reason in judged.reasons[:6]:
                    typer.echo(f"    {reason}")
        else:
            from cua.store import VerdictSource
            from cua.tasks import task_hash, validate

            result = agent.run(
                instruction,
                first,
                app=profile.name,
                secrets=secrets,
                task_id=spec.id,
                task_hash=task_hash(spec),
            )
            verdict = validate(sb, spec)
            if result.run_id is not None:
                store.add_verdict(
                    result.run_id, VerdictSource.VALIDATOR, verdict.passed, score=verdict.score,
                    reasons=list(verdict.reasons),
                )  # fmt: skip
            typer.echo(f"validator: {'PASS' if verdict.passed else 'FAIL'} (score {verdict.score:.2f})")
            for reason in verdict.reasons:
                typer.echo(f"    {reason}")
        if hook is not None and hook.shown_ever:
            shown = ", ".join(str(i) for i in sorted(hook.shown_ever))
            if result.run_id is not None and hook.settle(store, result.run_id) is not None:
                typer.echo(f"memory: showed items {shown}; their utility now counts this run")
            else:
                typer.echo(
                    f"memory: showed items {shown}; their utility counts this run once it is verified "
                    f"(cua critic overrule {result.run_id} success|failure, then cua memory build)"
                )
    typer.echo(f"outcome: {result.status.value} after {result.steps} steps: {result.summary}")
    typer.echo(f"run id: {result.run_id}  (cua runs show {result.run_id})")
    if result.status.value in ("error",):
        raise typer.Exit(1)
