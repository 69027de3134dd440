"""Per-user settings of the app, in an INI file under the platform's user config directory.

``$CUA_CONFIG_DIR`` overrides the directory (tests point it at a temporary folder). Values are
what the person last chose: data directory, application, policy and endpoint fields, window
geometry. Never an API key: only the *name* of the environment variable holding it.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs
from PySide6.QtCore import QSettings


def config_dir() -> Path:
    """Return the folder holding the app's settings file."""
    override = os.environ.get("CUA_CONFIG_DIR")
    return Path(override) if override else Path(platformdirs.user_config_dir("cua"))


def open_settings() -> QSettings:
    """Return the settings object of this user (``app.ini`` in :func:`config_dir`)."""
    return QSettings(str(config_dir() / "app.ini"), QSettings.Format.IniFormat)


def text(settings: QSettings, key: str, default: str = "") -> str:
    """Return a stored string (``default`` when missing or not a string)."""
    value = settings.value(key, default)
    return value if isinstance(value, str) else default


__all__ = ["config_dir", "open_settings", "text"]
