"""A sandbox pool on a Ray cluster: each sandbox lives in a Ray actor; episodes stay in the driver.

``RayPool`` is a ``SandboxPool`` whose factory makes ``RemoteSandbox`` proxies, so leases,
``map`` with retries, heartbeats, abandonment and replacement are the local pool's own logic,
unchanged. A ``RemoteSandbox`` starts one Ray actor (a ``SandboxHost``) that owns one sandbox of
any backend (``XvfbSandbox`` by default) on whichever node has a free ``sandbox`` resource; the
agent loop, the store and the critic run in the driver and call the proxy, which forwards each
call to the actor. Only actions, observations, files and command results cross the network;
screenshots travel PNG-compressed (lossless), never as pickled images.

Placement is by resources: every actor asks for ``{"sandbox": 1}`` (and no CPU), and each node
advertises how many sandboxes it can host (``ray start --resources='{"sandbox": 4}'``); actors are
spread over the nodes. Failures map onto the sandbox error tree, so the pool treats them as it
treats a local sandbox: a dead actor or node is ``GuestDied`` (a ``SandboxCrashed``: the pool
replaces the sandbox and ``map`` retries the job on another one), an actor that does not answer
in time is ``GuestHung``. Errors the sandbox itself raised come back as themselves.

``ray`` is imported only when a ``RayConnection`` or a ``RemoteSandbox`` is made, so ``import
sandbox`` never needs it (it is the optional ``ray`` extra). This module may start a local Ray
head (``address="auto"``) and stops it again; it touches nothing else.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import secrets
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from PIL import Image, ImageChops

from sandbox import errors
from sandbox.actions import SandboxAction
from sandbox.base import ExecResult, Observation, Sandbox
from sandbox.pool import PoolEvent, SandboxPool
from sandbox.profile import AppProfile, SetupStep, as_setup, find_profile
from sandbox.xvfb import SANDBOX_TAG_ENV, XvfbSandbox

if TYPE_CHECKING:
    from ray.actor import ActorHandle

logger = logging.getLogger(__name__)

#: The custom Ray resource a node advertises for each sandbox it can host; each actor takes one.
RESOURCE = "sandbox"
#: Object store of a local head started by ``address="auto"``: observations are small (a PNG
#: screenshot is tens of KB), so a small store is plenty, and the machine's memory is shared.
DEFAULT_OBJECT_STORE_MB = 256
#: How long calls other than reset and exec may take past their own wait before the actor
#: counts as hung (a step's wait is its ``settle_s``; an observe with OCR takes about a second).
DEFAULT_CALL_TIMEOUT_S = 60.0
#: How long a new actor may take to be placed on a node and to construct its sandbox.
DEFAULT_START_TIMEOUT_S = 60.0
#: How many times a new sandbox is placed again when its actor dies before it is ready (its node
#: was lost meanwhile) before the failure reaches the pool.
PLACEMENT_ATTEMPTS = 3
#: PNG compression level of screenshots on the wire: 1 is the fastest; higher levels save little
#: on desktop screens and cost tens of milliseconds a step.
PNG_LEVEL = 1


def ray_available() -> bool:
    """Return whether the ``ray`` package can be imported (the ``ray`` extra is installed)."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def _ray() -> Any:
    """Import ray, or raise SandboxUnavailable saying how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise errors.SandboxUnavailable(
            "the Ray pool needs the ray extra: pip install -e '.[ray]' (scripts/setup_python.sh does)"
        ) from exc
    return ray


# -- observations on the wire ----------------------------------------------------------------------
def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=PNG_LEVEL)
    return buf.getvalue()


def pack_observation(obs: Observation, previous: Image.Image | None = None) -> dict[str, Any]:
    """Return ``obs`` as plain data for the wire: every field as is, the screenshot as PNG.

    With ``previous`` (the frame the receiver already holds) only the box of pixels that differ
    from it is sent (nothing when the screen did not change): a step usually redraws a small part
    of the screen, and finding the box costs about a millisecond. Lossless either way.
    """
    image = obs.screenshot
    fields = {f.name: getattr(obs, f.name) for f in dataclasses.fields(obs) if f.name != "screenshot"}
    fields["timings"] = dict(obs.timings)
    if previous is None or previous.size != image.size or previous.mode != image.mode:
        return {"png": _png(image), "box": None, "fields": fields}
    box = ImageChops.difference(previous, image).getbbox()
    return {"png": _png(image.crop(box)) if box else b"", "box": box or (0, 0, 0, 0), "fields": fields}


def unpack_observation(data: Mapping[str, Any], previous: Image.Image | None = None) -> Observation:
    """Rebuild the Observation that ``pack_observation`` sent (RGB), onto ``previous`` for a delta."""
    box = data["box"]
    if box is not None and previous is None:
        raise errors.GuestError("a screenshot delta arrived without the frame it applies to")
    image = previous.copy() if box is not None and previous is not None else None
    if data["png"]:
        decoded = Image.open(io.BytesIO(data["png"]))
        decoded.load()
        part = decoded if decoded.mode == "RGB" else decoded.convert("RGB")
        if image is None:
            image = part
        else:
            image.paste(part, box[:2])
    if image is None:
        raise errors.GuestError("an observation arrived without a screenshot")
    return Observation(screenshot=image, **data["fields"])


# -- the actor side --------------------------------------------------------------------------------
class SandboxHost:
    """Runs inside a Ray actor: owns one sandbox and answers a ``RemoteSandbox``'s calls.

    Methods mirror ``Sandbox``; observations go back packed (``pack_observation``). Errors the
    sandbox raises travel back to the driver as they are. One call at a time (the actor is not
    threaded): the sandbox backends are not thread-safe, and a process spawned from a worker
    thread could die with that thread.
    """

    def __init__(self, factory: Callable[[], Sandbox]) -> None:
        """Make the sandbox (not yet reset) with ``factory``, here, on the actor's node."""
        self._sandbox = factory()
        self._sent: tuple[int, Image.Image] | None = None
        """The last frame sent and its number: the next one goes as a delta if the proxy has it."""

    def _pack(self, obs: Observation, have: int) -> dict[str, Any]:
        """Pack ``obs`` as a delta on frame ``have`` when that is the frame last sent, else whole."""
        previous = self._sent[1] if self._sent is not None and self._sent[0] == have else None
        number = (self._sent[0] if self._sent is not None else 0) + 1
        packed = pack_observation(obs, previous)
        packed["frame"] = number
        self._sent = (number, obs.screenshot)
        return packed

    def describe(self) -> dict[str, Any]:
        """Return where the sandbox lives: its id, screen size, node id and address, process id."""
        ray = _ray()
        context = ray.get_runtime_context()
        return {
            "id": str(getattr(self._sandbox, "id", hex(id(self._sandbox)))),
            "screen": tuple(self._sandbox.screen_size),
            "slowdown": self._sandbox.slowdown,
            "node_id": context.get_node_id(),
            "node_ip": ray.util.get_node_ip_address(),
            "pid": os.getpid(),
        }

    def reset(
        self, profile: AppProfile, setup: Sequence[SetupStep], app_args: Sequence[str], have: int
    ) -> dict[str, Any]:
        """Reset the sandbox; return the packed observation (``have``: the proxy's last frame)."""
        return self._pack(self._sandbox.reset(profile, setup, app_args), have)

    def step(self, action: SandboxAction, settle_s: float, have: int) -> dict[str, Any]:
        """Run one action; return the packed observation."""
        return self._pack(self._sandbox.step(action, settle_s=settle_s), have)

    def observe(self, a11y: bool, ocr: bool, have: int) -> dict[str, Any]:
        """Observe; return the packed observation (OCR runs here, next to the screen)."""
        return self._pack(self._sandbox.observe(a11y=a11y, ocr=ocr), have)

    def exec(
        self, argv: Sequence[str], timeout_s: float, stdin: bytes, env: Mapping[str, str] | None
    ) -> ExecResult:
        """Run a command inside the sandbox."""
        return self._sandbox.exec(argv, timeout_s=timeout_s, stdin=stdin, env=env)

    def read_file(self, path: str) -> bytes:
        """Return a file's bytes from inside the sandbox."""
        return self._sandbox.read_file(path)

    def write_file(self, path: str, content: bytes, mode: int) -> None:
        """Write a file inside the sandbox."""
        self._sandbox.write_file(path, content, mode)

    def ping(self, timeout_s: float) -> None:
        """Check the sandbox is alive."""
        self._sandbox.ping(timeout_s)

    def close(self) -> None:
        """Close the sandbox (the proxy then ends the actor)."""
        self._sandbox.close()


_HOST_CLASS: Any = None


def _host_class() -> Any:
    """Return ``SandboxHost`` as a Ray actor class, made once (Ray exports each one it is given)."""
    global _HOST_CLASS
    if _HOST_CLASS is None:
        _HOST_CLASS = _ray().remote(SandboxHost)
    return _HOST_CLASS


# -- the driver side -------------------------------------------------------------------------------
class RemoteSandbox(Sandbox):
    """A ``Sandbox`` whose desktop runs in a Ray actor, on whichever node Ray placed it.

    Making one starts the actor and waits (at most ``start_timeout_s``) for it to be placed and to
    construct its sandbox with ``factory`` (any picklable callable returning an unstarted
    ``Sandbox``; the default ``XvfbSandbox``). Ray must be connected (``RayConnection``).
    Each call waits at most its own limit; past it the call raises ``GuestHung``. A lost actor
    (its process or node died) raises ``GuestDied``; ``close`` ends the actor in any case.
    """

    def __init__(
        self,
        factory: Callable[[], Sandbox] = XvfbSandbox,
        *,
        resources: Mapping[str, float] | None = None,
        spread: bool = True,
        env: Mapping[str, str] | None = None,
        start_timeout_s: float = DEFAULT_START_TIMEOUT_S,
        call_timeout_s: float = DEFAULT_CALL_TIMEOUT_S,
        reset_timeout_s: float = 120.0,
        close_timeout_s: float = 10.0,
    ) -> None:
        """Start the actor holding the sandbox; raise GuestHung if no node takes it in time.

        ``resources`` are what the actor asks of its node (default ``{"sandbox": 1}``); with
        ``spread`` Ray places actors on as many nodes as it can. ``env`` is set in the actor's
        process (and so in its sandbox's processes), e.g. ``CUA_SANDBOX_TAG``.
        """
        self._closed = False
        self._profile: AppProfile | None = None
        self._screen = (0, 0)
        self._call_timeout_s = call_timeout_s
        self._reset_timeout_s = reset_timeout_s
        self._close_timeout_s = close_timeout_s
        self._frame: tuple[int, Image.Image] | None = None
        """The last screenshot received and its number (deltas apply to it)."""
        ray = _ray()
        if not ray.is_initialized():
            raise errors.SandboxUnavailable("Ray is not connected: make a RayConnection (or a RayPool) first")
        options: dict[str, Any] = {
            "num_cpus": 0,
            "resources": dict(resources if resources is not None else {RESOURCE: 1}),
            "max_restarts": 0,
            "max_task_retries": 0,
        }
        if spread:
            options["scheduling_strategy"] = "SPREAD"
        if env:
            options["runtime_env"] = {"env_vars": dict(env)}
        self.id = "ray-actor"  # until the actor says where it lives
        t0 = time.monotonic()
        deadline = t0 + start_timeout_s
        for attempt in range(1, PLACEMENT_ATTEMPTS + 1):
            self._actor: ActorHandle[SandboxHost] = _host_class().options(**options).remote(factory)
            try:
                info = self._call(
                    "describe",
                    timeout_s=max(deadline - time.monotonic(), 0.1),
                    what="placing the sandbox actor",
                )
                break
            except errors.GuestDied:
                # Placed on a node that died before the sandbox started: not the caller's fault.
                self._kill()
                if attempt == PLACEMENT_ATTEMPTS or time.monotonic() >= deadline:
                    self._closed = True
                    raise
            except BaseException:
                self._kill()
                self._closed = True
                raise
        self.start_s = time.monotonic() - t0
        """How long the actor took to be placed and to construct its sandbox."""
        self.node_id: str = info["node_id"]
        """The Ray node the sandbox lives on."""
        self.node_ip: str = info["node_ip"]
        self.actor_pid: int = info["pid"]
        self.id = f"{info['id']}@{self.node_ip}/{self.node_id[:8]}"
        self._screen = (int(info["screen"][0]), int(info["screen"][1]))
        self._slowdown = float(info["slowdown"])

    def _call(self, method: str, *args: Any, timeout_s: float, what: str) -> Any:
        """Call ``method`` on the actor and wait at most ``timeout_s``; translate Ray's errors."""
        ray = _ray()
        from ray import exceptions as rx

        try:
            ref = getattr(self._actor, method).remote(*args)
            return ray.get(ref, timeout=timeout_s)
        except rx.GetTimeoutError as exc:
            raise errors.GuestHung(f"sandbox {self.id}: {what} took longer than {timeout_s:.1f} s") from exc
        except rx.RayTaskError as exc:
            cause = exc.cause
            if isinstance(cause, BaseException):
                raise cause from None  # the sandbox's own error (InvalidAction, AppCrashed, ...)
            raise errors.GuestError(f"sandbox {self.id}: {what} failed: {exc}") from exc
        except (rx.RayActorError, rx.NodeDiedError, rx.WorkerCrashedError, rx.ObjectLostError) as exc:
            # The first lines say why (a node lost, or the sandbox's constructor failed on its node).
            why = " ".join(str(exc).split())[:300]
            raise errors.GuestDied(f"sandbox {self.id}: its Ray actor is gone during {what}: {why}") from exc
        except rx.RaySystemError as exc:
            raise errors.GuestDied(f"sandbox {self.id}: Ray failed during {what}: {exc}") from exc

    def _have(self) -> int:
        """Return the number of the frame held here (0: none), for the actor to send a delta on."""
        return self._frame[0] if self._frame is not None else 0

    def _unpack(self, packed: Mapping[str, Any]) -> Observation:
        obs = unpack_observation(packed, self._frame[1] if self._frame is not None else None)
        # A copy of our own: the caller may draw on its screenshot, and deltas must apply to the original.
        self._frame = (int(packed["frame"]), obs.screenshot.copy())
        return obs

    def _check_open(self) -> None:
        if self._closed:
            raise errors.SandboxClosed(f"sandbox {self.id} is closed")

    def reset(
        self,
        profile: AppProfile | str,
        setup: Sequence[SetupStep] = (),
        app_args: Sequence[str] = (),
    ) -> Observation:
        """Reset the remote sandbox with ``profile`` (resolved here, in the driver)."""
        self._check_open()
        resolved = find_profile(profile)
        packed = self._call(
            "reset", resolved, as_setup(setup), tuple(app_args), self._have(),
            timeout_s=self._reset_timeout_s, what=f"reset to {resolved.name}",
        )  # fmt: skip
        self._profile = resolved
        return self._unpack(packed)

    def step(self, action: SandboxAction, *, settle_s: float = 1.0) -> Observation:
        """Run one action remotely and return the settled screen."""
        self._check_open()
        timeout_s = settle_s + self._call_timeout_s
        return self._unpack(
            self._call("step", action, settle_s, self._have(), timeout_s=timeout_s, what="a step")
        )

    def observe(self, *, a11y: bool = False, ocr: bool = False) -> Observation:
        """Return the remote screen (and tree, and OCR text boxes, when asked)."""
        self._check_open()
        packed = self._call(
            "observe", a11y, ocr, self._have(), timeout_s=self._call_timeout_s, what="an observe"
        )
        return self._unpack(packed)

    def exec(
        self,
        argv: Sequence[str],
        *,
        timeout_s: float = 30.0,
        stdin: bytes = b"",
        env: Mapping[str, str] | None = None,
    ) -> ExecResult:
        """Run a command in the remote sandbox."""
        self._check_open()
        env_copy = dict(env) if env is not None else None
        result: ExecResult = self._call(
            "exec", list(argv), timeout_s, stdin, env_copy,
            timeout_s=timeout_s + self._call_timeout_s, what=f"exec of {argv[0] if argv else '?'}",
        )  # fmt: skip
        return result

    def read_file(self, path: str) -> bytes:
        """Return a file's bytes from the remote sandbox."""
        self._check_open()
        data: bytes = self._call("read_file", path, timeout_s=self._call_timeout_s, what=f"reading {path}")
        return data

    def write_file(self, path: str, content: bytes, mode: int = 0o644) -> None:
        """Write a file in the remote sandbox."""
        self._check_open()
        self._call("write_file", path, content, mode, timeout_s=self._call_timeout_s, what=f"writing {path}")

    def ping(self, timeout_s: float = 2.0) -> None:
        """Check the actor and its sandbox are alive; a lost actor is GuestDied, a slow one GuestHung."""
        self._check_open()
        self._call("ping", timeout_s, timeout_s=timeout_s + 1.0, what="a ping")

    def close(self) -> None:
        """Close the sandbox in its actor (bounded), then end the actor; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            self._call("close", timeout_s=self._close_timeout_s, what="close")
        except errors.SandboxError as exc:
            logger.info("sandbox %s did not close cleanly (%s); ending its actor", self.id, exc)
        finally:
            self._kill()

    def _kill(self) -> None:
        try:
            _ray().kill(self._actor, no_restart=True)
        except Exception:  # already gone, or Ray is shutting down: nothing left to end
            logger.debug("ending the actor of %s failed", self.id, exc_info=True)


def _probe(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast when nothing listens at ``HOST:PORT``: Ray itself would retry for minutes."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "://" in host:
        return  # another form Ray accepts (a ray:// client address): let Ray judge it
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise errors.SandboxUnavailable(
            f"no Ray head answers at {address} ({exc}): start one with `ray start --head` (docs/scaling.md)"
        ) from exc


def _reload_auth_settings() -> None:
    """Make Ray read ``RAY_AUTH_MODE`` and the token from the environment again.

    Ray caches both per process; a process that connects twice (two pools in a row, a test
    session) must not present the first cluster's token to the second.
    """
    try:
        import ray._raylet as raylet  # the compiled core; its stub file does not list these names

        raylet.Config.initialize("")  # type: ignore[attr-defined]
        raylet.AuthenticationTokenLoader.instance().reset_cache()  # type: ignore[attr-defined]
    except (ImportError, AttributeError):  # another Ray version: it reads them once, as documented
        logger.debug("could not reset Ray's cached authentication settings", exc_info=True)


# -- the cluster connection ------------------------------------------------------------------------
class RayConnection:
    """The connection of this process to Ray: a local head it starts (``"auto"``) or a cluster's address.

    ``"auto"`` starts a single-node Ray for this run, with ``num_cpus`` CPUs, ``sandboxes``
    sandbox slots, an object store of ``object_store_mb`` MB, no dashboard, its files in a temp
    folder and a fresh authentication token (kept in this process's environment while connected);
    ``close`` stops it and removes the folder. An address (``HOST:PORT`` of a running head)
    connects to that cluster; its token comes from ``RAY_AUTH_TOKEN`` or ``~/.ray/auth_token`` as
    Ray documents, and ``close`` only disconnects. If this process is already connected to Ray,
    that connection is used and left open.
    """

    def __init__(
        self,
        address: str = "auto",
        *,
        sandboxes: int = 2,
        num_cpus: int | None = None,
        object_store_mb: int = DEFAULT_OBJECT_STORE_MB,
    ) -> None:
        """Connect (or start a local head); raise SandboxUnavailable when Ray is missing or unreachable."""
        ray = _ray()
        self.address = address
        self._owned = False
        self._temp_dir: str | None = None
        self._saved_env: dict[str, str | None] = {}
        if ray.is_initialized():
            return
        try:
            if address == "auto":
                self._start_local(ray, sandboxes, num_cpus, object_store_mb)
            else:
                _probe(address)
                _reload_auth_settings()
                ray.init(address=address, log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError, ray.exceptions.RayError) as exc:
            # RayError: e.g. an AuthenticationError, when this machine lacks the cluster's token.
            self._cleanup()
            raise errors.SandboxUnavailable(f"cannot connect to Ray at {address}: {exc}") from exc
        self._owned = True

    def _start_local(self, ray: Any, sandboxes: int, num_cpus: int | None, object_store_mb: int) -> None:
        # A short folder name: Ray's socket paths must stay under the 107-byte Unix limit.
        self._temp_dir = tempfile.mkdtemp(prefix="cua-ray-")
        # A token of this run's own, so that nothing is written to ~/.ray: the head, its workers
        # and this driver read it from the environment. Ray itself turns token mode on for a
        # local head (RAY_AUTH_MODE) unless the environment says otherwise.
        for key in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN"):
            self._saved_env[key] = os.environ.get(key)
        if "RAY_AUTH_TOKEN" not in os.environ and "RAY_AUTH_TOKEN_PATH" not in os.environ:
            os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
        _reload_auth_settings()
        ray.init(
            num_cpus=num_cpus if num_cpus is not None else (os.cpu_count() or 1),
            resources={RESOURCE: sandboxes},
            object_store_memory=object_store_mb * 1024 * 1024,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
            _temp_dir=self._temp_dir,
        )

    def capacity(self) -> int:
        """Return how many sandboxes the cluster's live nodes advertise in all."""
        return int(_ray().cluster_resources().get(RESOURCE, 0))

    def nodes(self) -> list[str]:
        """Return the ids of the cluster's live nodes."""
        return [n["NodeID"] for n in _ray().nodes() if n.get("Alive")]

    def close(self) -> None:
        """Stop the local head (``"auto"``) or disconnect; idempotent."""
        if self._owned:
            self._owned = False
            _ray().shutdown()
        self._cleanup()

    def _cleanup(self) -> None:
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env = {}
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None


def remote_factory(
    factory: Callable[[], Sandbox] = XvfbSandbox, **options: Any
) -> Callable[[], RemoteSandbox]:
    """Return a function that makes a ``RemoteSandbox`` (options as its constructor's) per call.

    The driver's ``CUA_SANDBOX_TAG`` is passed on to the actors, so that sandboxes started on
    other nodes carry the same tag as local ones (the tests' leak check finds them by it).
    """
    tag = os.environ.get(SANDBOX_TAG_ENV)
    if tag and "env" not in options:
        options["env"] = {SANDBOX_TAG_ENV: tag}

    def make() -> RemoteSandbox:
        return RemoteSandbox(factory, **options)

    return make


class RayPool(SandboxPool):
    """A ``SandboxPool`` whose sandboxes are Ray actors spread over a cluster's nodes.

    ``address`` is ``"auto"`` (start a local Ray for this pool, stopped by ``close``) or the
    ``HOST:PORT`` of a running cluster's head. ``size`` defaults to the sandbox slots the cluster
    advertises (with ``"auto"``: 2). ``factory`` makes each sandbox on its node (any backend;
    it must be picklable). Leases, ``map``, heartbeats and replacement are ``SandboxPool``'s:
    a sandbox whose actor or node died is retired and the next lease places a new actor on a
    node with a free slot. Other options are ``SandboxPool``'s and ``RemoteSandbox``'s.
    """

    def __init__(
        self,
        size: int | None = None,
        factory: Callable[[], Sandbox] = XvfbSandbox,
        *,
        address: str = "auto",
        num_cpus: int | None = None,
        object_store_mb: int = DEFAULT_OBJECT_STORE_MB,
        call_timeout_s: float = DEFAULT_CALL_TIMEOUT_S,
        start_timeout_s: float = DEFAULT_START_TIMEOUT_S,
        heartbeat_s: float | None = 5.0,
        ping_timeout_s: float = 2.0,
        reset_timeout_s: float = 120.0,
        close_timeout_s: float = 10.0,
        clock: Callable[[], float] = time.time,
        on_event: Callable[[PoolEvent], None] | None = None,
    ) -> None:
        """Connect to Ray (or start it) and prepare the slots; sandboxes start at their first lease."""
        self.connection = RayConnection(
            address, sandboxes=size or 2, num_cpus=num_cpus, object_store_mb=object_store_mb
        )
        try:
            capacity = self.connection.capacity()
            if capacity < 1:
                raise errors.SandboxUnavailable(
                    f"no node of the Ray cluster at {address} advertises the {RESOURCE!r} resource: start "
                    f"each worker with ray start --resources='{{\"{RESOURCE}\": N}}' (docs/scaling.md)"
                )
            if size is not None and size > capacity:
                logger.warning(
                    "a pool of %d sandboxes on a cluster with %d sandbox slots: leases wait for a free one",
                    size, capacity,
                )  # fmt: skip
            make = remote_factory(
                factory,
                start_timeout_s=start_timeout_s,
                call_timeout_s=call_timeout_s,
                reset_timeout_s=reset_timeout_s,
                close_timeout_s=close_timeout_s,
            )
            super().__init__(
                size or capacity,
                make,
                heartbeat_s=heartbeat_s,
                ping_timeout_s=ping_timeout_s,
                # The factory waits for placement, and a reset may follow it: allow for both.
                reset_timeout_s=max(reset_timeout_s, start_timeout_s) + 5.0,
                close_timeout_s=close_timeout_s + 5.0,
                clock=clock,
                on_event=on_event,
            )
        except BaseException:
            self.connection.close()
            raise

    def close(self) -> None:
        """Close every sandbox (ending their actors), then stop or leave Ray; idempotent."""
        try:
            super().close()
        finally:
            self.connection.close()
