"""The Ray pool: a RemoteSandbox passes check_sandbox, errors cross the actor boundary as sandbox
errors, and RayPool replaces a sandbox whose actor died, as the local pool does.

Every test here shares one local Ray (two CPUs, a 256 MB object store) started once for the module;
the multi-node evaluation with a killed worker node is ``tests/cua/test_ray_eval.py``.
"""

from __future__ import annotations

import functools
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence

import pytest
from PIL import Image, ImageDraw

from sandbox import Click, ExecResult, Job, Move, Sandbox, XvfbSandbox, errors
from sandbox.base import Observation, TextBox
from sandbox.conformance import check_sandbox
from sandbox.fake import FakeSandbox
from sandbox.ray_pool import (
    RayConnection,
    RayPool,
    RemoteSandbox,
    _probe,
    pack_observation,
    ray_available,
    unpack_observation,
)

pytestmark = [
    pytest.mark.ray,
    pytest.mark.skipif(not ray_available(), reason="ray is not installed: pip install -e '.[ray]'"),
]


def test_observations_cross_the_wire_as_lossless_png() -> None:
    image = Image.new("RGB", (320, 200), "#dfe6ee")
    ImageDraw.Draw(image).text((10, 10), "File Edit View", fill="black")
    image.putpixel((5, 7), (1, 2, 3))
    obs = Observation(
        image, (3, 4), "title", True, changed=False, damage=((1, 2, 3, 4),),
        timings={"total": 1.5}, text=(TextBox("File", (0, 0, 10, 10), 0.9),),
    )  # fmt: skip
    packed = pack_observation(obs)
    assert packed["png"].startswith(b"\x89PNG") and "screenshot" not in packed["fields"]
    assert len(packed["png"]) < len(image.tobytes()) / 10  # compressed, not raw pixels
    back = unpack_observation(packed)
    assert back.screenshot.mode == "RGB" and back.screenshot.tobytes() == image.tobytes()
    assert (back.cursor, back.window_title, back.changed) == ((3, 4), "title", False)
    assert back.damage == ((1, 2, 3, 4),)
    assert back.timings == {"total": 1.5} and back.text == obs.text
    rgba = Image.new("RGBA", (8, 8), (9, 9, 9, 255))
    rgb = unpack_observation(pack_observation(Observation(rgba, (0, 0), None, True))).screenshot
    assert rgb.mode == "RGB"


def test_a_changed_screen_crosses_as_the_box_that_changed() -> None:
    before = Image.new("RGB", (320, 200), "#dfe6ee")
    after = before.copy()
    ImageDraw.Draw(after).rectangle((40, 50, 59, 59), fill="black")
    packed = pack_observation(Observation(after, (0, 0), None, True), previous=before)
    assert packed["box"] == (40, 50, 60, 60) and 0 < len(packed["png"]) < len(
        pack_observation(Observation(after, (0, 0), None, True))["png"]
    )
    assert unpack_observation(packed, before).screenshot.tobytes() == after.tobytes()
    same = pack_observation(Observation(after, (0, 0), None, True), previous=after)
    assert same["png"] == b"" and unpack_observation(same, after).screenshot.tobytes() == after.tobytes()
    with pytest.raises(errors.GuestError):
        unpack_observation(packed)  # a delta without its base frame is refused, never guessed


def test_importing_the_pool_does_not_import_ray() -> None:
    code = "import sys, sandbox, sandbox.ray_pool, sandbox.ray_cluster; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_an_address_where_no_head_listens_fails_at_once() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free once closed: nothing listens there
    t0 = time.monotonic()
    with pytest.raises(errors.SandboxUnavailable, match="no Ray head answers"):
        _probe(f"127.0.0.1:{port}")
    assert time.monotonic() - t0 < 6  # Ray's own connect would retry for minutes


@pytest.fixture(scope="module")
def ray_local() -> Iterator[RayConnection]:
    """One local Ray for the module: two CPUs, four sandbox slots, a 256 MB object store."""
    connection = RayConnection("auto", sandboxes=4, num_cpus=2, object_store_mb=256)
    assert connection.capacity() == 4 and len(connection.nodes()) == 1
    yield connection
    connection.close()


@pytest.mark.x11
@pytest.mark.timeout(120)
def test_a_remote_xvfb_sandbox_passes_check_sandbox(ray_local: RayConnection) -> None:
    sb = RemoteSandbox(XvfbSandbox)
    assert sb.node_id in ray_local.nodes() and sb.screen_size == (1280, 800)
    report = check_sandbox(sb, "mousepad")
    assert "close is idempotent" in report.passed and sb.closed


def _slow(argv: Sequence[str], stdin: bytes, files: dict[str, bytes]) -> ExecResult:
    time.sleep(float(argv[1]))
    return ExecResult(0, b"", b"")


@pytest.mark.timeout(60)
def test_errors_cross_the_actor_boundary_as_sandbox_errors(ray_local: RayConnection) -> None:
    import ray

    factory = functools.partial(FakeSandbox, exec_handlers={"slow": _slow})
    sb = RemoteSandbox(factory, call_timeout_s=1.0)
    try:
        sb.reset("xterm")
        assert sb.profile is not None and sb.profile.name == "xterm"
        with pytest.raises(errors.OffScreen) as refused:
            sb.step(Click(5000, 5))
        assert type(refused.value) is errors.OffScreen  # the sandbox's own error, not a Ray wrapper
        with pytest.raises(errors.GuestError):
            sb.read_file("no/such/file")
        assert sb.step(Move(10, 20)).cursor == (10, 20)  # still usable after refused requests
        assert sb.exec(["slow", "0"]).ok
        with pytest.raises(errors.GuestHung):
            sb.exec(["slow", "5"], timeout_s=0.5)  # waits 0.5 + 1.0 s, then gives up on the actor
        ray.kill(sb._actor, no_restart=True)  # the actor's process dies, as on a lost node
        with pytest.raises(errors.GuestDied):
            sb.observe()
        with pytest.raises(errors.GuestDied):
            sb.ping()
    finally:
        sb.close()
    sb.close()
    with pytest.raises(errors.SandboxClosed):
        sb.observe()


def test_a_remote_sandbox_that_no_node_can_host_fails_in_time(ray_local: RayConnection) -> None:
    t0 = time.monotonic()
    with pytest.raises(errors.GuestHung, match="placing the sandbox actor"):
        RemoteSandbox(FakeSandbox, resources={"sandbox": 99}, start_timeout_s=1.0)
    assert time.monotonic() - t0 < 10


@pytest.mark.timeout(90)
def test_ray_pool_replaces_a_sandbox_whose_actor_died(ray_local: RayConnection) -> None:
    import ray

    killed: list[str] = []

    def job(sb: Sandbox, n: int) -> str:
        assert isinstance(sb, RemoteSandbox)
        if n == 1 and not killed:
            killed.append(sb.id)
            ray.kill(sb._actor, no_restart=True)  # dies under the job: a GuestDied, retried elsewhere
        sb.step(Move(n, n))
        return sb.id

    with RayPool(2, FakeSandbox, heartbeat_s=None, ping_timeout_s=1.0) as pool:
        assert pool.connection.capacity() == 4  # the module's Ray, reused and left running
        results = pool.map(job, [Job("xterm", n) for n in range(4)], retries=1)
        assert all(r.ok for r in results), [r.error for r in results]
        assert results[1].attempts == 2 and isinstance(results[1].failures[0], errors.GuestDied)
        assert results[1].value != killed[0]
        kinds = [e.kind for e in pool.events]
        assert kinds.count("crashed") == 1
        assert any(e.kind == "retired" and killed[0] in e.detail for e in pool.events)
        # A heartbeat round finds an idle sandbox whose actor died and retires it.
        with pool.lease("xterm") as sb:
            idle = sb
        assert isinstance(idle, RemoteSandbox)
        ray.kill(idle._actor, no_restart=True)
        time.sleep(0.5)
        assert len(pool.check_idle()) == 1 and idle.closed
    assert ray.is_initialized()  # a pool that did not start Ray leaves it running


def test_screens_rebuilt_from_deltas_are_the_sandbox_s_own(ray_local: RayConnection) -> None:
    local, remote = FakeSandbox(), RemoteSandbox(FakeSandbox)
    try:
        script = [Move(10, 10), Click(640, 400), Move(20, 20), Click(5, 5)]
        pairs = [(local.reset("xterm"), remote.reset("xterm"))]
        pairs += [(local.step(a), remote.step(a)) for a in script]
        pairs.append((local.observe(), remote.observe()))
        assert len({o.screenshot.tobytes() for o, _ in pairs}) == 2  # the click changed the screen
        for mine, theirs in pairs:
            assert theirs.screenshot.tobytes() == mine.screenshot.tobytes()
            assert (theirs.cursor, theirs.window_title) == (mine.cursor, mine.window_title)
        remote._frame = None  # a proxy that lost its frame (a timed-out call) gets a whole one
        assert remote.observe().screenshot.tobytes() == local.observe().screenshot.tobytes()
    finally:
        remote.close()
