"""The ``cua`` command: one typer app, one module per subcommand group.

Errors the user can fix (a bad argument, a missing system package, an unknown profile) are
printed as one line and exit with status 2; they are never tracebacks.
"""

from __future__ import annotations

import sys

import typer

from cua.cli.app import app_command
from cua.cli.critic import critic_app
from cua.cli.eval import eval_command
from cua.cli.explore import explore_app
from cua.cli.memory import memory_app
from cua.cli.models import models_app
from cua.cli.replay import replay_command
from cua.cli.run import run
from cua.cli.runs import runs_app
from cua.cli.sandbox import sandbox_app
from cua.cli.tasks import tasks_app
from cua.cli.train import train_command
from cua.cli.train_lora import train_lora_command
from cua.errors import CuaError, SandboxError

app = typer.Typer(
    name="cua",
    help="A desktop computer-use agent that learns from its own experience.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(runs_app, name="runs")
app.add_typer(tasks_app, name="tasks")
app.add_typer(critic_app, name="critic")
app.add_typer(memory_app, name="memory")
app.add_typer(explore_app, name="explore")
app.add_typer(models_app, name="models")
app.command("run")(run)
app.command("eval")(eval_command)
app.command("replay")(replay_command)
app.command("app")(app_command)
app.command("train")(train_command)
app.command("train-lora")(train_lora_command)


def main() -> None:
    """Run the command line; turn expected errors into one clear line."""
    try:
        app()
    except (CuaError, SandboxError) as exc:
        print(f"cua: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("cua: interrupted", file=sys.stderr)
        sys.exit(130)
