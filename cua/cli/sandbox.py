"""``cua sandbox ...``: list profiles, run the scripted demo, watch, inspect and check sandboxes."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import Annotated

import typer

from cua.cli.options import AppProfile, Backend, sandbox_factory
from sandbox import Click, Key, Observation, TypeText, XvfbSandbox, find_profile, list_profiles
from sandbox.actions import SandboxAction, to_json, to_pyautogui, validate
from sandbox.conformance import check_sandbox

sandbox_app = typer.Typer(help="Start, watch and check sandbox desktops.", no_args_is_help=True)

DEMO_TEXT = "Hello from the cua sandbox: héllo wörld, 你好!\n"


@sandbox_app.command("profiles")
def profiles() -> None:
    """List the application profiles and the files they come from."""
    for name, path in list_profiles().items():
        profile = find_profile(path)
        typer.echo(f"{name:18} {profile.description}  [{path}]")


def _text_target(obs: Observation, screen: tuple[int, int]) -> tuple[int, int]:
    """Pick where to click before typing: the largest visible text widget, else the centre."""
    candidates = [
        n for n in obs.a11y or () if n.role in ("text", "terminal", "entry", "document text", "paragraph")
    ]
    if candidates:
        best = max(candidates, key=lambda n: n.bbox[2] * n.bbox[3])
        return best.center()
    return screen[0] // 2, screen[1] // 2


@sandbox_app.command("demo")
def demo(
    app_name: AppProfile = "mousepad",
    out: Annotated[Path, typer.Option(help="Folder for the screenshots and the step log.")] = Path(
        "out/demo"
    ),
) -> None:
    """Start a sandbox, drive the app with a short scripted sequence, save every screenshot."""
    profile = find_profile(app_name)
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "steps.jsonl"
    saved: list[Path] = []
    t0 = time.monotonic()
    with XvfbSandbox() as sb, log_path.open("w", encoding="utf-8") as log:
        typer.echo(f"starting {profile.name} in a sandbox ...")
        obs = sb.reset(profile)
        typer.echo(f"  ready in {time.monotonic() - t0:.2f} s: window '{obs.window_title}'")

        def record(index: int, label: str, action: SandboxAction | None, obs: Observation) -> None:
            path = out / f"{index:02d}-{label}.png"
            obs.screenshot.save(path)
            saved.append(path)
            entry = {
                "step": index,
                "label": label,
                "action": to_json(action) if action else None,
                "pyautogui": to_pyautogui(action) if action else None,
                "window_title": obs.window_title,
                "cursor": list(obs.cursor),
                "changed": obs.changed,
                "timings_ms": {k: round(v, 2) for k, v in obs.timings.items()},
            }
            log.write(json.dumps(entry, ensure_ascii=False) + "\n")
            shown = to_pyautogui(action).replace("\n", "; ") if action else "observe"
            typer.echo(f"  step {index}: {shown[:70]:70} -> {path}")

        record(0, "start", None, obs)
        target = _text_target(sb.observe(a11y=True), sb.screen_size)
        script: list[tuple[str, SandboxAction]] = [
            ("click-text-area", Click(*target)),
            ("type-text", TypeText(DEMO_TEXT)),
            ("type-more", TypeText("echo typed by pyautogui\n")),
            ("select-all", Key(("ctrl", "a"))),
            ("end", Key(("End",))),
        ]
        for i, (label, action) in enumerate(script, start=1):
            action = validate(action, sb.screen_size)  # shows canonical key names in the log
            record(i, label, action, sb.step(action))
    typer.echo(f"saved {len(saved)} screenshots and {log_path} in {out.resolve()}")


@sandbox_app.command("view")
def view(
    app_name: AppProfile = "mousepad",
    port: Annotated[int, typer.Option(help="Loopback TCP port for VNC (0: pick a free one).")] = 0,
    seconds: Annotated[float, typer.Option(help="Stop after this many seconds (0: until Ctrl-C).")] = 0.0,
) -> None:
    """Start a sandbox and serve its screen over VNC on 127.0.0.1 with a one-time password."""
    from sandbox.view import start_vnc

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with XvfbSandbox() as sb:
        obs = sb.reset(find_profile(app_name))
        server = start_vnc(sb, port or None)
        typer.echo(f"sandbox {sb.id}: '{obs.window_title}'")
        typer.echo(f"VNC: {server.host}:{server.port}  password: {server.password}")
        typer.echo(f"  e.g. `vncviewer {server.host}::{server.port}`; over SSH forward the port first.")
        typer.echo("Ctrl-C stops the sandbox." if not seconds else f"stopping after {seconds:g} s.")
        try:
            stop.wait(seconds if seconds > 0 else None)
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()


@sandbox_app.command("a11y")
def a11y(app_name: AppProfile = "mousepad") -> None:
    """Print the application's accessibility tree as TSV: role, name, text, states, bbox."""
    with XvfbSandbox() as sb:
        sb.reset(find_profile(app_name))
        rows = sb.observe(a11y=True).a11y or ()
        typer.echo("role\tname\ttext\tstates\tx\ty\tw\th")
        for n in rows:
            text = n.text.replace("\n", "\\n").replace("\t", " ")[:80]
            typer.echo(
                f"{'  ' * n.depth}{n.role}\t{n.name}\t{text}\t{','.join(n.states)}\t"
                + "\t".join(map(str, n.bbox))
            )
        typer.echo(f"# {len(rows)} visible, enabled nodes")


@sandbox_app.command("check")
def check(app_name: AppProfile = "mousepad", backend: Backend = "xvfb") -> None:
    """Run the sandbox conformance checker against a backend (default Xvfb) with this application."""
    factory = sandbox_factory(backend)
    profile = find_profile(app_name)
    report = check_sandbox(factory(app_name) if factory else XvfbSandbox(profile.screen), profile)
    for item in report.passed:
        typer.echo(f"  ok  {item}")
    typer.echo(f"{len(report.passed)} checks passed")
