"""What the host hands a guest agent: its code, the infrastructure's configuration, HOME templates.

Everything here is prepared on the host from trusted sources (this package, the profile's
template folders, ``/etc/xdg/openbox/rc.xml``) and reaches the sandbox either read-only (the
guest folder) or as an archive the guest unpacks itself, as the sandbox's user. The host never
writes into a folder the sandbox can change.
"""

from __future__ import annotations

import io
import shutil
import tarfile
import threading
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

GUEST_SOURCE = Path(__file__).parent / "guest"
#: Copied into the read-only guest folder of every sandbox.
GUEST_FILES = ("agent.py", "keys.py", "session-bus.conf", "openbox-menu.xml")
SYSTEM_OPENBOX_RC = Path("/etc/xdg/openbox/rc.xml")
OPENBOX_NS = "http://openbox.org/3.4/rc"
#: Window-manager actions that run a program (Restart may name another one to run).
_RUNNING_ACTIONS = {"execute", "restart"}


def prepare_guest_folder(folder: Path, inner_folder: str = "/run/cua/guest") -> None:
    """Fill ``folder`` (bound read-only at ``inner_folder``) with the guest and its configuration."""
    folder.mkdir(exist_ok=True)
    for name in GUEST_FILES:
        shutil.copy2(GUEST_SOURCE / name, folder / name)
    (folder / "openbox-rc.xml").write_text(openbox_config(f"{inner_folder}/openbox-menu.xml"))
    folder.chmod(0o755)


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
        for folder in existing:
            for path in sorted(folder.rglob("*")):
                tar.add(path, arcname=str(path.relative_to(folder)), recursive=False)
    data = buf.getvalue()
    with _archives_lock:
        _archives[key] = data
    return data
