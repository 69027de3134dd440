"""What the host hands a guest agent: its code, the infrastructure's configuration, HOME templates.

Everything here is prepared on the host from trusted sources (this package, the profile's
template folders and Chromium policies, ``/etc/xdg/openbox/rc.xml``, ``/etc/chromium``) and
reaches the sandbox either read-only (the guest folder, the Chromium configuration folder) or as
an archive the guest unpacks itself, as the sandbox's user. The host never writes into a folder
the sandbox can change.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import json
import marshal
import os
import shutil
import sys
import tarfile
import threading
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

GUEST_SOURCE = Path(__file__).parent / "guest"
#: Copied into the read-only guest folder of every sandbox.
GUEST_FILES = ("run.py", "agent.py", "keys.py", "session-bus.conf", "openbox-menu.xml")
#: The guest's modules, handed over compiled as well (``run.py`` imports them).
GUEST_MODULES = ("agent.py", "keys.py")
SYSTEM_OPENBOX_RC = Path("/etc/xdg/openbox/rc.xml")
#: Folders every HOME starts with, as a desktop user's does (XDG's data folder). GTK makes
#: ~/.local/share for its recent-files list the first time a file chooser saves; made then, it
#: would be a change under HOME beside the file a task asked for.
BASE_FOLDERS = (".local", ".local/share")
OPENBOX_NS = "http://openbox.org/3.4/rc"
#: Window-manager actions that run a program (Restart may name another one to run).
_RUNNING_ACTIONS = {"execute", "restart"}
#: Debian's Chromium reads its configuration here, and managed policies from ``policies/managed``.
HOST_CHROMIUM_ETC = Path("/etc/chromium")
CHROMIUM_POLICY_FILE = Path("policies/managed/cua.json")


def prepare_guest_folder(folder: Path, inner_folder: str = "/run/cua/guest") -> None:
    """Fill ``folder`` (bound read-only at ``inner_folder``) with the guest and its configuration."""
    folder.mkdir(exist_ok=True)
    for name in GUEST_FILES:
        shutil.copy2(GUEST_SOURCE / name, folder / name)
    write_bytecode(folder)
    (folder / "openbox-rc.xml").write_text(openbox_config(f"{inner_folder}/openbox-menu.xml"))
    folder.chmod(0o755)


def write_bytecode(folder: Path, names: Sequence[str] = GUEST_MODULES) -> None:
    """Write the compiled ``names`` into ``folder/__pycache__``, for an interpreter like this one.

    The files are unchecked hash-based bytecode (PEP 552): the folder is read-only inside the
    sandbox, its sources never change there, and nothing depends on file times. An interpreter
    of another version does not recognise them and compiles the source instead.
    """
    cache = folder / "__pycache__"
    cache.mkdir(exist_ok=True)
    for name in names:
        target = cache / f"{Path(name).stem}.{sys.implementation.cache_tag}.pyc"
        target.write_bytes(_bytecode(name))


@functools.cache
def _bytecode(name: str) -> bytes:
    """Return the unchecked hash-based bytecode of the guest module ``name`` (compiled once per process)."""
    source = (GUEST_SOURCE / name).read_bytes()
    code = compile(source, name, "exec", dont_inherit=True)  # the loader names the file it finds
    flags = 0b01  # hash-based, not checked against the source
    header = importlib.util.MAGIC_NUMBER + flags.to_bytes(4, "little") + importlib.util.source_hash(source)
    return header + marshal.dumps(code)


def openbox_config(menu_file: str, system_rc: Path = SYSTEM_OPENBOX_RC) -> str:
    """Return the system's openbox rc.xml without actions that run programs, reading only ``menu_file``.

    Openbox otherwise reads menus from the sandbox's ~/.config/openbox, where a program could
    add an entry that runs itself outside its session and out of a reset's reach.
    """
    ET.register_namespace("", OPENBOX_NS)
    try:
        root = ET.parse(system_rc).getroot()
    except (OSError, ET.ParseError):
        root = ET.Element(f"{{{OPENBOX_NS}}}openbox_config")
    parents = {child: parent for parent in root.iter() for child in parent}
    for element in list(root.iter(f"{{{OPENBOX_NS}}}action")):
        if element.get("name", "").lower() in _RUNNING_ACTIONS:
            parents[element].remove(element)
    menu = root.find(f"{{{OPENBOX_NS}}}menu")
    if menu is None:
        menu = ET.SubElement(root, f"{{{OPENBOX_NS}}}menu")
    for old in menu.findall(f"{{{OPENBOX_NS}}}file"):
        menu.remove(old)
    file_element = ET.Element(f"{{{OPENBOX_NS}}}file")
    file_element.text = menu_file
    menu.insert(0, file_element)
    return ET.tostring(root, encoding="unicode")


def prepare_chromium_etc(folder: Path, host_etc: Path = HOST_CHROMIUM_ETC) -> bool:
    """Fill ``folder`` (bound read-only over ``/etc/chromium``) with the host's files but its policies.

    The sandbox's Chromium then obeys exactly the policies of the profile it runs
    (``write_chromium_policies``), not whatever the host's administrator set. Return False when
    the host has no ``/etc/chromium`` (no Debian Chromium: there is nothing to bind over).
    """
    if not host_etc.is_dir():
        return False
    shutil.rmtree(folder, ignore_errors=True)
    top = str(host_etc)
    shutil.copytree(host_etc, folder, symlinks=True, ignore=lambda d, _: ["policies"] if d == top else [])
    managed = folder / CHROMIUM_POLICY_FILE.parent
    managed.mkdir(parents=True)
    for made in (folder, managed.parent, managed):  # readable by the container's user whatever the umask
        made.chmod(0o755)
    return True


def write_chromium_policies(folder: Path, policies: Mapping[str, Any]) -> None:
    """Make ``policies`` the only managed policies of the Chromium configuration ``folder``.

    Written before each launch of the application (a reset ends the previous one first), and
    replaced in one rename, so Chromium never reads half a file.
    """
    target = folder / CHROMIUM_POLICY_FILE
    if not policies:
        target.unlink(missing_ok=True)
        return
    part = folder / "policies" / "cua.json.part"  # outside the folder Chromium reads
    part.write_text(json.dumps(dict(policies), indent=2, sort_keys=True))
    part.chmod(0o644)
    os.replace(part, target)


_archives: dict[tuple[tuple[str, ...], tuple[float, ...]], bytes] = {}
_archives_lock = threading.Lock()


def home_archive(folders: Sequence[Path]) -> bytes:
    """Return a tar of the template ``folders``, later ones over earlier ones; cached by mtime.

    Links in a template stay links (the guest recreates them inside the sandbox).
    """
    existing = [f for f in folders if f.is_dir()]
    stamp = tuple(max((p.lstat().st_mtime for p in f.rglob("*")), default=0.0) for f in existing)
    key = (tuple(str(f) for f in existing), stamp)
    with _archives_lock:
        if key in _archives:
            return _archives[key]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in BASE_FOLDERS:
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for folder in existing:
            for path in sorted(folder.rglob("*")):
                tar.add(path, arcname=str(path.relative_to(folder)), recursive=False)
    data = buf.getvalue()
    with _archives_lock:
        _archives[key] = data
    return data
