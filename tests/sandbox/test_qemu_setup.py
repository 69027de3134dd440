"""What the QEMU backend decides before any VM starts: the image, the accelerator, the backend name.

No QEMU runs here (``tests/sandbox/test_qemu.py`` boots VMs, marked ``vm``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cua.cli.options import check_backend, sandbox_factory, sandbox_pool
from cua.errors import UsageError
from sandbox import errors, qemu


def test_a_missing_image_says_how_to_build_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUA_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv(qemu.IMAGE_ENV, raising=False)
    with pytest.raises(errors.SandboxUnavailable, match=r"scripts/vm/build_image\.sh"):
        qemu.find_image()
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "vmlinuz").write_bytes(b"")
    with pytest.raises(errors.SandboxUnavailable, match="half"):
        qemu.find_image(tmp_path / "half")  # no disk, no initrd: not an image


def test_the_cached_full_image_is_preferred_to_the_test_image(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUA_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv(qemu.IMAGE_ENV, raising=False)
    for flavor in ("test", "full"):
        folder = tmp_path / "vm" / flavor
        folder.mkdir(parents=True)
        for name in ("rootfs.qcow2", "vmlinuz", "initrd.img"):
            (folder / name).write_bytes(b"")
    assert qemu.find_image().folder.name == "full"
    monkeypatch.setenv(qemu.IMAGE_ENV, str(tmp_path / "vm" / "test"))
    assert qemu.find_image().folder.name == "test"


def test_the_accelerator_can_be_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(qemu.ACCEL_ENV, "tcg")
    assert qemu.choose_accel(Path("/nonexistent")) == ("tcg", f"{qemu.ACCEL_ENV}=tcg")


def test_the_probe_is_cached_per_host_boot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUA_CACHE_DIR", str(tmp_path))
    calls: list[Path] = []

    def probe(kernel: Path, timeout_s: float) -> tuple[str, str]:
        calls.append(kernel)
        return "tcg", "probed"

    monkeypatch.setattr(qemu, "_probe_kvm", probe)
    assert qemu._cached_probe(Path("k"), 1.0) == ("tcg", "probed")
    assert qemu._cached_probe(Path("k"), 1.0) == ("tcg", "probed")
    assert len(calls) == 1
    saved = (tmp_path / "vm" / "accel.json").read_text()
    (tmp_path / "vm" / "accel.json").write_text(saved.replace('"boot_id": "', '"boot_id": "other-'))
    qemu._cached_probe(Path("k"), 1.0)
    assert len(calls) == 2  # another boot of the host: probed again


def test_backend_names() -> None:
    assert sandbox_factory("xvfb") is None and sandbox_pool("xvfb", 2) is None
    with pytest.raises(UsageError, match="choose one of xvfb, qemu"):
        check_backend("docker")
