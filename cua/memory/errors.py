"""The experience index's own error (the whole tree is drawn in ``cua.errors``).

``MemoryIndexError`` is a ``StoreError``: the index is a database of the data directory, beside
the trajectory store. Its SQLite failures are the store's kinds (``StoreFull``, ``StoreLocked``,
``StoreCorrupt``, ``SchemaTooNew``, translated by ``cua.store.sqlite``), and ``MemoryIndexError``
itself is raised for a misuse of the index: an unknown item id, vectors of the wrong width or
from another encoder, and any other SQLite failure of the index file.
"""

from __future__ import annotations

from cua.store.errors import StoreError


class MemoryIndexError(StoreError):
    """Something is wrong with the experience index (a bad id, another encoder's vectors, a failed query)."""


__all__ = ["MemoryIndexError"]
