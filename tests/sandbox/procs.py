"""Finding a sandbox's processes from the host, for fault-injection tests."""

from __future__ import annotations

from pathlib import Path


def sandbox_processes(sandbox_id: str) -> dict[int, str]:
    """Return {pid: command line} of the processes inside the sandbox with this id."""
    needle = f"CUA_SANDBOX_ID={sandbox_id}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
    return found


def find_pid(sandbox_id: str, fragment: str) -> int:
    """Return the host pid of the sandbox process whose command line contains ``fragment``.

    The bubblewrap wrappers of the guest's sessions (whose command lines end with the program's)
    are skipped: the program itself is wanted.
    """
    for pid, cmd in sandbox_processes(sandbox_id).items():
        if fragment in cmd and not cmd.startswith("bwrap "):
            return pid
    raise LookupError(f"no process matching {fragment!r} in sandbox {sandbox_id}")
