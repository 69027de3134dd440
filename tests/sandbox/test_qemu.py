"""QemuSandbox on the small test image (xterm, galculator): the contract, restores, oracle tasks.

The image is built by ``scripts/vm/build_image.sh`` when it is not cached (minutes, once per
recipe change). One VM serves the module: it boots once (under TCG here: no usable KVM), and
every later reset restores its snapshot. Marked ``vm``; ``-m "not vm"`` leaves them out.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cua.tasks import find_family, prove
from sandbox import errors
from sandbox.actions import TypeText
from sandbox.conformance import check_sandbox
from sandbox.qemu import QemuSandbox
from tests.sandbox.vm_image import build_image

pytestmark = [pytest.mark.vm, pytest.mark.xdist_group("qemu")]


@pytest.fixture(scope="module")
def vm() -> Iterator[QemuSandbox]:
    """One VM for the module, not yet booted (the first reset boots it)."""
    with QemuSandbox(image=build_image()) as box:
        yield box


def _uptime(sb: QemuSandbox) -> float:
    return float(sb.read_file("/proc/uptime").split()[0])


@pytest.mark.timeout(900)
def test_conformance(vm: QemuSandbox) -> None:
    report = check_sandbox(vm, "xterm", close=False)
    assert "reset restores HOME" in report.passed
    assert vm.boot_timings["boot_ms"] > 0
    print(f"accel {vm.accel} ({vm.accel_reason}); boot {vm.boot_timings}; steps {report.step_ms}")


@pytest.mark.timeout(600)
def test_reset_restores_the_snapshot_without_booting(vm: QemuSandbox) -> None:
    """A reset rewinds the VM to its snapshot: same QEMU, same kernel boot, uptime resumed from
    the snapshot's (not from zero) and behind where it had got to."""
    vm.reset("xterm")
    qemu_pids = vm.host_pids()
    boot_id = vm.read_file("/proc/sys/kernel/random/boot_id")
    snapshot = vm.snapshot_uptime_s
    vm.step(TypeText("echo before-reset > /tmp/mark\n"))
    time.sleep(5.0)
    before = _uptime(vm)
    assert before > snapshot + 5.0
    t0 = time.monotonic()
    vm.reset("xterm")
    reset_s = time.monotonic() - t0
    after = _uptime(vm)
    assert vm.host_pids() == qemu_pids, "QEMU was restarted"
    assert vm.read_file("/proc/sys/kernel/random/boot_id") == boot_id, "the kernel booted again"
    assert "loadvm_ms" in vm.last_reset_timings and "boot_ms" not in vm.last_reset_timings
    # Restored, not booted: uptime goes on from the snapshot's value (it counts no more than the
    # reset itself took since then), back from where it had got to.
    assert snapshot <= after <= snapshot + reset_s + 1.0, (snapshot, after, reset_s)
    assert after < before, (after, before)
    with pytest.raises(errors.GuestError):
        vm.read_file("/tmp/mark")
    # Twice more: every reset restores the same snapshot.
    for _ in range(2):
        t0 = time.monotonic()
        vm.reset("galculator")
        took = time.monotonic() - t0
        assert snapshot <= _uptime(vm) <= snapshot + took + 1.0
    print(f"reset {reset_s:.2f} s, timings {vm.last_reset_timings}")


@pytest.mark.timeout(900)
@pytest.mark.parametrize("family", ["xterm.touch", "galculator.add"])
def test_oracle_task_passes_its_validator(vm: QemuSandbox, family: str) -> None:
    """The built-in task's proof on the VM: doing nothing fails, the oracle's result passes."""
    proof = prove(vm, find_family(family), 0, near_misses=False, alternates=False)
    print(proof.report())
    assert proof.ok, "\n".join(proof.problems()) + "\n" + proof.report()


@pytest.mark.timeout(600)
def test_a_paused_vm_is_a_hung_guest_and_a_reset_brings_it_back(vm: QemuSandbox) -> None:
    vm.reset("xterm")
    assert vm._monitor is not None
    vm._monitor.execute("stop")  # the VM stops running: the guest cannot answer
    with pytest.raises(errors.GuestHung):
        vm.ping(timeout_s=2.0)
    with pytest.raises(errors.GuestHung):
        vm.observe()  # the channel stays broken until a reset
    obs = vm.reset("xterm")
    assert obs.app_running and "loadvm_ms" in vm.last_reset_timings
    vm.ping()


@pytest.mark.timeout(600)
def test_a_killed_vm_is_a_crash_and_close_cleans_up(vm: QemuSandbox) -> None:
    box = QemuSandbox(image=vm.image.folder)
    runtime = box.console_log.parent
    try:
        box.reset("xterm")
        pids = box.host_pids()
        assert pids and (runtime / "overlay.qcow2").exists()
        os.kill(pids[0], signal.SIGKILL)
        with pytest.raises(errors.SandboxCrashed, match="VM"):
            box.observe()
    finally:
        box.close()
    assert box.host_pids() == []
    assert not runtime.exists()
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    with pytest.raises(errors.SandboxClosed):
        box.observe()


@pytest.mark.timeout(300)
def test_a_vm_whose_guest_never_says_hello_is_hung_booted_twice_and_left_clean(
    vm: QemuSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    """No hello within the boot timeout (2 s here; a boot takes ~20 s under TCG) while QEMU runs:
    one more boot from a fresh overlay, then ``GuestHung`` naming the console; no QEMU left."""
    box = QemuSandbox(image=vm.image.folder, boot_timeout_s=2.0)
    try:
        with (
            caplog.at_level(logging.WARNING, logger="sandbox.qemu"),
            pytest.raises(errors.GuestHung, match=r"did not start .*console: "),
        ):
            box.reset("xterm")
        assert sum("booting it once more" in r.getMessage() for r in caplog.records) == 1
        assert box.host_pids() == []
    finally:
        box.close()
