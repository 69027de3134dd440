"""The one place ``cua`` command-line options are declared: typer ``Annotated`` aliases every command reuses.

Each alias names its flag, so the parameter's name does not change it. A command declares an
option by naming its alias and giving its default::

    def command(data_dir: DataDir = None, model: Model = None, temperature: Temperature = 0.0): ...

so ``--data-dir`` or ``--temperature`` has the same type, flag and help in every command
(``tests/cua/test_options.py`` walks the app to hold that). Help that describes a generation
setting is read from :class:`cua.models.config.GenerationSettings`' field docstrings.

The model options (``--model`` ... ``--max-pixels``) become a policy through
:class:`ModelOptions`: ``ModelOptions(model=model, ...).make_policy()`` or, for the keyword
arguments of :func:`cua.models.registry.make_policy`, ``.policy_kwargs()``.

Imports no model backend (torch stays unloaded until a command builds a model).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cua.errors import UsageError
from cua.formats import FORMATS
from cua.memory.session import MEMORY_MODES, check_memory_mode
from cua.models.config import GenerationSettings, field_docs
from cua.models.registry import DEFAULT_FORMAT
from cua.policies.registry import POLICY_NAMES

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from sandbox import Pool, Sandbox, SandboxPool

_GEN = field_docs(GenerationSettings)
_GEN_DEFAULTS = GenerationSettings()

# -- where things are stored -----------------------------------------------------------------

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Data location: runs and memory (default: $CUA_DATA_DIR or the platform data dir)."
    ),
]

# -- applications ----------------------------------------------------------------------------

AppProfile = Annotated[
    str,
    typer.Option("--app", "-a", help="Application profile: a name (`cua sandbox profiles`) or a .toml file."),
]
TaskAppProfile = Annotated[
    str | None,
    typer.Option(
        "--app",
        "-a",
        help="Application profile: a name (`cua sandbox profiles`) or a .toml file (default: the task's).",
    ),
]
AppFilter = Annotated[
    str | None,
    typer.Option("--app", "-a", help="Only this application (a profile name, `cua sandbox profiles`)."),
]

# -- how a command runs and reports -------------------------------------------------------------

Parallel = Annotated[int, typer.Option("--parallel", help="Sandboxes running at once.")]
Seed = Annotated[
    int,
    typer.Option(
        "--seed", help="Seed of the random policy and of the model's sampling (each step adds its number)."
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
BACKENDS = ("xvfb", "qemu")
Backend = Annotated[
    str,
    typer.Option(
        "--backend",
        help="Sandbox backend: xvfb (a private X display; the default) or qemu (a VM booted from the "
        "image of `bash scripts/vm/build_image.sh`; without KVM it is much slower).",
    ),
]
RayAddress = Annotated[
    str | None,
    typer.Option(
        "--ray",
        help="Run the sandboxes in Ray actors: auto (a local Ray for this run, stopped after it) or "
        "HOST:PORT of a running cluster's head (docs/scaling.md). Episodes run and record here.",
    ),
]
PolicyName = Annotated[
    str,
    typer.Option(
        "--policy", help=f"Who acts: {', '.join(POLICY_NAMES)} (model: built from the model options)."
    ),
]
PolicyOrModel = Annotated[
    str | None,
    typer.Option(
        "--policy",
        help=f"Who acts: {', '.join(POLICY_NAMES)} (default: oracle; with --model or --endpoint, that "
        "model, a bundled checkpoint included).",
    ),
]
"""``--policy`` where a given model implies it (``cua eval``): None until resolved by the command."""

# -- the model ----------------------------------------------------------------------------

Model = Annotated[
    Path | None, typer.Option("--model", help="Local checkpoint directory (transformers backend).")
]
Endpoint = Annotated[
    str | None,
    typer.Option("--endpoint", help="OpenAI-compatible API base URL, e.g. http://127.0.0.1:8000/v1."),
]
ModelName = Annotated[str | None, typer.Option("--model-name", help="Model id served by --endpoint.")]
ApiKeyEnv = Annotated[
    str | None,
    typer.Option("--api-key-env", help="Environment variable holding the endpoint's API key (never stored)."),
]
FormatName = Annotated[
    str, typer.Option("--format", help=f"Output format of the model: {', '.join(FORMATS)}.")
]
HistoryScreenshots = Annotated[
    int,
    typer.Option(
        "--history-screenshots", help="Recent screenshots shown to the model as images (older steps as text)."
    ),
]
Temperature = Annotated[float, typer.Option("--temperature", help=_GEN["temperature"])]
TopP = Annotated[float, typer.Option("--top-p", help=_GEN["top_p"])]
MaxNewTokens = Annotated[int, typer.Option("--max-new-tokens", help=_GEN["max_new_tokens"])]
MinPixels = Annotated[
    int | None,
    typer.Option(
        "--min-pixels", help="Smallest image area sent to the model (default: the format's pinned value)."
    ),
]
MaxPixels = Annotated[
    int | None,
    typer.Option(
        "--max-pixels", help="Largest image area sent to the model (default: the format's pinned value)."
    ),
]

# -- experience memory ---------------------------------------------------------------------
# The vocabulary of --memory (MEMORY_MODES, check_memory_mode) lives in cua.memory.session, which
# the service shares; it is re-exported here.

MemoryMode = Annotated[
    str,
    typer.Option(
        "--memory",
        help="Retrieve verified experience into the prompt: auto (on when the memory has items),"
        " on (an error when it cannot), or off.",
    ),
]
Encoder = Annotated[
    str,
    typer.Option(
        "--encoder",
        help="Memory's text encoder: static (distilled token vectors, about 0.1 ms a query) or minilm"
        " (the full model, about 13 ms). Switching re-embeds the stored items.",
    ),
]
KeyScreens = Annotated[
    int,
    typer.Option(
        "--key-screenshots",
        help="Remembered screens shown with the experience: 0, 1 or 2 (they cost tokens).",
    ),
]


# -- the sandbox backend --------------------------------------------------------------------

#: How long a pool waits for one reset of a VM sandbox: its first one boots the VM, which under
#: TCG (no KVM) takes minutes on a busy machine.
QEMU_RESET_TIMEOUT_S = 900.0


def check_backend(backend: str) -> None:
    """Raise UsageError unless ``backend`` is one of ``BACKENDS``."""
    if backend not in BACKENDS:
        raise UsageError(f"unknown --backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def sandbox_factory(backend: str) -> Callable[[str], Sandbox] | None:
    """Return the ``Service`` sandbox factory (app -> sandbox) for ``--backend``; None: the default."""
    check_backend(backend)
    if backend == "xvfb":
        return None
    from sandbox import find_profile
    from sandbox.qemu import QemuSandbox

    return lambda app: QemuSandbox(find_profile(app).screen)


def sandbox_pool(backend: str, parallel: int) -> SandboxPool | None:
    """Return a pool of ``--backend`` sandboxes for an evaluation (None: the default pool)."""
    check_backend(backend)
    if backend == "xvfb":
        return None
    from sandbox.pool import SandboxPool
    from sandbox.qemu import QemuSandbox

    return SandboxPool(parallel, factory=QemuSandbox, reset_timeout_s=QEMU_RESET_TIMEOUT_S)


def _backend_class(backend: str) -> Callable[..., Sandbox]:
    """Return the sandbox class of ``--backend`` (screen size as its first argument)."""
    check_backend(backend)
    if backend == "xvfb":
        from sandbox import XvfbSandbox

        return XvfbSandbox
    from sandbox.qemu import QemuSandbox

    return QemuSandbox


def _reset_timeout_s(backend: str) -> float:
    """Return how long a remote sandbox of ``backend`` may take to reset (a VM's first one boots)."""
    return QEMU_RESET_TIMEOUT_S if backend == "qemu" else 120.0


def ray_pool(address: str, parallel: int, backend: str) -> Pool:
    """Return a pool of ``parallel`` ``--backend`` sandboxes in Ray actors (``--ray auto|ADDRESS``).

    The caller closes it (with ``auto`` that stops the local Ray).
    """
    from sandbox.ray_pool import RayPool

    if parallel < 1:
        raise UsageError("--parallel must be at least 1")
    return RayPool(
        parallel, _backend_class(backend), address=address, reset_timeout_s=_reset_timeout_s(backend)
    )


@contextmanager
def ray_sandboxes(address: str, parallel: int, backend: str) -> Iterator[Callable[[str], Sandbox]]:
    """Connect to Ray for a ``Service``; yield its sandbox factory (app -> sandbox in an actor).

    Used by ``cua explore --ray``, whose workers each keep a sandbox; on exit the connection is
    closed (with ``auto`` the local Ray stops).
    """
    from functools import partial

    from sandbox import find_profile
    from sandbox.ray_pool import RayConnection, remote_factory

    cls = _backend_class(backend)
    connection = RayConnection(address, sandboxes=parallel)
    try:
        yield lambda app: remote_factory(
            partial(cls, find_profile(app).screen), reset_timeout_s=_reset_timeout_s(backend)
        )()
    finally:
        connection.close()


# -- model options into a policy --------------------------------------------------------------


@dataclass(frozen=True)
class ModelOptions:
    """The parsed model options of one command, ready to become a policy.

    Fields a command does not offer keep their defaults. ``seed`` is not an option of its own
    here: commands with a ``--seed`` pass it through.
    """

    model: Path | None = None
    """--model: a local checkpoint directory."""
    endpoint: str | None = None
    """--endpoint: an OpenAI-compatible base URL."""
    model_name: str | None = None
    """--model-name: the model id served by the endpoint."""
    api_key_env: str | None = None
    """--api-key-env: the variable holding the endpoint's key."""
    format_name: str = DEFAULT_FORMAT
    """--format: the output format the model's replies are read with."""
    history_screenshots: int = 2
    """--history-screenshots: recent screenshots shown as images."""
    min_pixels: int | None = None
    """--min-pixels: smallest image area sent to the model."""
    max_pixels: int | None = None
    """--max-pixels: largest image area sent to the model."""
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    """--temperature (and any --top-p, --max-new-tokens, --seed): how the model decodes."""

    @classmethod
    def of(
        cls,
        model: Path | None = None,
        endpoint: str | None = None,
        model_name: str | None = None,
        api_key_env: str | None = None,
        format_name: str = DEFAULT_FORMAT,
        history_screenshots: int = 2,
        temperature: float = _GEN_DEFAULTS.temperature,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        *,
        top_p: float = _GEN_DEFAULTS.top_p,
        max_new_tokens: int = _GEN_DEFAULTS.max_new_tokens,
        seed: int = _GEN_DEFAULTS.seed,
    ) -> ModelOptions:
        """Build the options from a command's parameters (in the order the commands declare them).

        UsageError for a generation setting out of range (e.g. a negative --temperature).
        """
        try:
            generation = GenerationSettings(max_new_tokens, temperature, top_p, seed)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        return cls(model, endpoint, model_name, api_key_env, format_name, history_screenshots,
                   min_pixels, max_pixels, generation)  # fmt: skip

    @property
    def given(self) -> bool:
        """True when a model was asked for (--model or --endpoint)."""
        return self.model is not None or self.endpoint is not None

    def policy_kwargs(self) -> dict[str, Any]:
        """Return the keyword arguments of :func:`cua.models.registry.make_policy` for these options."""
        return {
            "model": self.model,
            "endpoint": self.endpoint,
            "model_name": self.model_name,
            "format_name": self.format_name,
            "api_key_env": self.api_key_env,
            "history_screenshots": self.history_screenshots,
            "min_pixels": self.min_pixels,
            "max_pixels": self.max_pixels,
            "generation": self.generation,
        }

    def make_policy(self, data_dir: Path | None = None) -> Any:
        """Build the policy (imports the chosen backend only); UsageError/PolicyError with one clear line.

        Without --model and --endpoint, or with --model naming a bundled-policy checkpoint, this is
        the bundled policy: the model registry's current checkpoint in ``data_dir``, else the one
        shipped in the repository.
        """
        from cua.models.registry import make_policy
        from cua.policies.bundled import BundledPolicy, is_bundled_checkpoint

        if self.model is not None and is_bundled_checkpoint(self.model):
            return BundledPolicy(self.model)
        if not self.given:
            from cua.explore.rounds import current_checkpoint
            from cua.store import resolve_data_dir

            return BundledPolicy(current_checkpoint(resolve_data_dir(data_dir))[0])

        return make_policy(**self.policy_kwargs())


__all__ = [
    "BACKENDS",
    "DEFAULT_FORMAT",
    "MEMORY_MODES",
    "ApiKeyEnv",
    "AppFilter",
    "AppProfile",
    "AsJson",
    "Backend",
    "DataDir",
    "Encoder",
    "Endpoint",
    "FormatName",
    "HistoryScreenshots",
    "KeyScreens",
    "MaxNewTokens",
    "MaxPixels",
    "MemoryMode",
    "MinPixels",
    "Model",
    "ModelName",
    "ModelOptions",
    "Parallel",
    "PolicyName",
    "PolicyOrModel",
    "RayAddress",
    "Seed",
    "TaskAppProfile",
    "Temperature",
    "TopP",
    "check_backend",
    "check_memory_mode",
    "ray_pool",
    "ray_sandboxes",
    "sandbox_factory",
    "sandbox_pool",
]
