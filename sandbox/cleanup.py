"""Removing a folder that a sandbox could write into, from the host, without being led astray.

The host may be root, and a program inside the sandbox may have planted links, swapped a folder
for a link, or left folders without write permission. ``remove_tree`` therefore walks with file
descriptors only: every entry is opened relative to a folder already held open, with
``O_NOFOLLOW``, so a link is removed as a link and never followed; a mode is only ever changed
through a descriptor of a folder inside the tree being removed (never the tree's parent, never
through a path). Entries that reappear while it works (a process racing it) are retried.

Every backend's runtime folder records its owner (``claim_runtime_dir``); a new sandbox removes
the folders of owners that died without closing theirs (``reap_stale_runtime_dirs``).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def remove_tree(path: str | Path, attempts: int = 5) -> None:
    """Delete ``path`` and everything under it; a missing path is fine; links are not followed.

    Raises OSError when the tree cannot be removed after ``attempts`` passes (for example a
    mount point inside it).
    """
    path = Path(path)
    parent_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for attempt in range(attempts):
            try:
                st = os.stat(path.name, dir_fd=parent_fd, follow_symlinks=False)
            except FileNotFoundError:
                return
            try:
                if stat.S_ISDIR(st.st_mode):
                    _empty(parent_fd, path.name)
                    os.rmdir(path.name, dir_fd=parent_fd)
                else:
                    os.unlink(path.name, dir_fd=parent_fd)
                return
            except FileNotFoundError:
                return
            except OSError as exc:
                # ENOTEMPTY: something was created while we worked; ELOOP/ENOTDIR: swapped.
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ELOOP, errno.ENOTDIR):
                    raise
                if attempt + 1 == attempts:
                    raise
    finally:
        os.close(parent_fd)


def _open_dir(parent_fd: int, name: str) -> int:
    """Open folder ``name`` under ``parent_fd`` without following a link; unlock it if needed."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except PermissionError:
        # Not root, and the sandbox left the folder without r/x for its (our) user.
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent_fd)
        try:
            if not stat.S_ISDIR(os.fstat(fd).st_mode):
                raise NotADirectoryError(errno.ENOTDIR, "swapped for a non-folder", name) from None
            # chmod through /proc/self/fd acts on the folder the O_PATH descriptor holds.
            os.chmod(f"/proc/self/fd/{fd}", 0o700)
        finally:
            os.close(fd)
        return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)


def _empty(parent_fd: int, name: str) -> None:
    """Remove everything inside folder ``name`` of ``parent_fd``."""
    fd = _open_dir(parent_fd, name)
    try:
        made_writable = False
        for entry in list(os.scandir(fd)):
            try:
                if entry.is_dir(follow_symlinks=False):
                    _empty(fd, entry.name)
                    os.rmdir(entry.name, dir_fd=fd)
                else:
                    os.unlink(entry.name, dir_fd=fd)
            except FileNotFoundError:
                continue
            except PermissionError:
                if made_writable:
                    raise
                os.fchmod(fd, 0o700)  # this folder is inside the tree: ours to unlock
                made_writable = True
                if entry.is_dir(follow_symlinks=False):
                    _empty(fd, entry.name)
                    os.rmdir(entry.name, dir_fd=fd)
                else:
                    os.unlink(entry.name, dir_fd=fd)
    finally:
        os.close(fd)


def stat_fields(pid: int | str) -> list[str]:
    """Return the fields of /proc/PID/stat after the command name (state first), or [] if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def process_identity(pid: int) -> str | None:
    """Return "pid starttime" for a live process (start time tells a reused pid apart), else None."""
    fields = stat_fields(pid)
    return f"{pid} {fields[19]}" if fields else None


def claim_runtime_dir(folder: Path) -> None:
    """Record in ``folder`` which process owns it, for ``reap_stale_runtime_dirs``."""
    (folder / "owner").write_text(process_identity(os.getpid()) or "")


def reap_stale_runtime_dirs(root: Path, prefix: str) -> list[Path]:
    """Remove the runtime folders ``root/prefix*`` of sandboxes whose owner died without closing them.

    Their processes are already gone (they die with the owner); only files remain.
    """
    removed = []
    for folder in root.glob(f"{prefix}*"):
        try:
            owner = (folder / "owner").read_text().split()
        except OSError:
            continue
        if len(owner) == 2 and owner[0].isdigit() and process_identity(int(owner[0])) != " ".join(owner):
            try:
                remove_tree(folder)
            except OSError:
                continue  # try again next time; never stop a new sandbox for an old folder
            removed.append(folder)
    return removed
