"""Shared encoders: the static one is the default; its token table is built once per machine."""

from __future__ import annotations

import pytest

from cua.memory import StaticEncoder, TextEncoder


@pytest.fixture(scope="session")
def encoder() -> TextEncoder:
    return StaticEncoder()
