"""remove_tree removes what a sandbox left behind and never follows it anywhere else."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from sandbox.cleanup import remove_tree

ROOT = Path(__file__).resolve().parents[2]


def outside(tmp_path: Path) -> tuple[Path, Path]:
    victim_dir = tmp_path / "outside"
    victim_dir.mkdir(mode=0o700)
    victim = victim_dir / "secret"
    victim.write_bytes(b"secret\n")
    victim.chmod(0o600)
    return victim_dir, victim


def planted_tree(tmp_path: Path, victim_dir: Path, victim: Path) -> Path:
    tree = tmp_path / "runtime"
    (tree / "home" / ".config" / "deep").mkdir(parents=True)
    (tree / "home" / "file").write_text("x")
    (tree / "home" / ".Xdefaults").symlink_to(victim)
    (tree / "home" / ".config" / "link-to-dir").symlink_to(victim_dir)
    (tree / "home" / "dangling").symlink_to(tmp_path / "nowhere")
    (tree / "home" / ".config" / "deep" / "f").write_text("y")
    return tree


def state(path: Path) -> tuple[bytes | None, int, list[str]]:
    st = os.lstat(path)
    content = path.read_bytes() if path.is_file() else None
    return content, stat.S_IMODE(st.st_mode), sorted(os.listdir(path)) if path.is_dir() else []


def test_links_are_removed_as_links(tmp_path: Path) -> None:
    victim_dir, victim = outside(tmp_path)
    tree = planted_tree(tmp_path, victim_dir, victim)
    before = (state(victim), state(victim_dir), stat.S_IMODE(tmp_path.stat().st_mode))
    remove_tree(tree)
    assert not tree.exists()
    assert (state(victim), state(victim_dir), stat.S_IMODE(tmp_path.stat().st_mode)) == before


def test_a_missing_path_and_a_top_level_link_are_fine(tmp_path: Path) -> None:
    victim_dir, victim = outside(tmp_path)
    remove_tree(tmp_path / "never-existed")
    link = tmp_path / "link"
    link.symlink_to(victim_dir)
    remove_tree(link)
    assert not link.is_symlink() and victim.read_bytes() == b"secret\n"


def test_locked_folders_are_removed_without_touching_the_parent(tmp_path: Path) -> None:
    """As an unprivileged user (root ignores modes): folders 000 and 500 inside the tree."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to an unprivileged user")
    work = Path(tempfile.mkdtemp(prefix="cua-cleanup-"))  # pytest's tmp_path is root's alone
    work.chmod(0o755)
    os.chown(work, 65534, 65534)
    script = f"""
import os, stat, sys
sys.path.insert(0, {str(ROOT)!r})
from pathlib import Path
from sandbox.cleanup import remove_tree
work = Path({str(work)!r})
victim = work / "victim"
victim.write_text("v"); victim.chmod(0o400)
tree = work / "tree"
(tree / "a" / "b").mkdir(parents=True)
(tree / "a" / "b" / "f").write_text("f")
(tree / "a" / "victim-link").symlink_to(victim)
(tree / "c").mkdir()
(tree / "c" / "g").write_text("g")
os.chmod(tree / "a" / "b", 0o000)
os.chmod(tree / "a", 0o500)
os.chmod(tree / "c", 0o500)
mode = stat.S_IMODE(work.stat().st_mode)
remove_tree(tree)
assert not tree.exists(), "tree left"
assert stat.S_IMODE(victim.stat().st_mode) == 0o400, "victim mode changed"
assert stat.S_IMODE(work.stat().st_mode) == mode, "parent mode changed"
print("ok")
"""
    try:
        result = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        remove_tree(work)
    assert result.stdout.strip() == "ok", result.stderr
