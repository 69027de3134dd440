"""The VM images the QEMU tests boot, built by ``scripts/vm/build_image.sh`` when not cached."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from sandbox.qemu import cache_dir, find_image

ROOT = Path(__file__).resolve().parents[2]


def build_image(flavor: str = "test") -> Path:
    """Build (or find cached) the ``flavor`` image ('test' or 'full'); skip where the host cannot.

    A recipe change rebuilds it: about 2 minutes for either flavor here (the full one, with
    every profile's application, is 1.25 GB).
    """
    tools = ("qemu-system-x86_64", "qemu-img", "mmdebstrap", "mke2fs")
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} missing: run scripts/setup_system.sh")
    if os.geteuid() != 0:
        pytest.skip("building the VM image needs root")
    argv = ["bash", str(ROOT / "scripts/vm/build_image.sh"), *(["--full"] if flavor == "full" else [])]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=3000)
    assert done.returncode == 0, f"image build failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return find_image(cache_dir() / flavor).folder
