"""Open the experience memory for a session of episodes (``--memory auto|on|off``), and close it after.

One vocabulary for every front end (the CLI's ``--memory``, the service's requests):

- ``off``: no memory;
- ``auto``: memory when the index beside the store has items and its text encoder loads, else
  quietly none;
- ``on``: memory, and an empty index or a missing encoder is an error.

:func:`memory_hooks` is a context manager yielding a :class:`MemoryFactory` (or None when off)
and closing the index when the block ends; :func:`open_memory` returns the factory for a caller
that closes it itself. Reads the index beside the store; writes only what the episodes' memories
write.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from cua.errors import CuaError, UsageError
from cua.memory.index import ExperienceIndex
from cua.store import TrajectoryStore

if TYPE_CHECKING:
    from cua.memory.hook import ExperienceMemory, MemoryConfig
    from cua.models.embed import TextEncoder

#: The values of ``--memory``.
MEMORY_MODES = ("auto", "on", "off")


def check_memory_mode(mode: str) -> str:
    """Return ``mode`` if it is one of :data:`MEMORY_MODES`; UsageError otherwise."""
    if mode not in MEMORY_MODES:
        raise UsageError(f"--memory is on, off or auto, not {mode!r}")
    return mode


class MemoryFactory:
    """Makes one :class:`~cua.memory.hook.ExperienceMemory` per episode over one open index.

    Call it as ``factory(app, task_id)``. It owns the index: :meth:`close` (or leaving a ``with``
    block) closes it, after the last episode is done with its memory.
    """

    def __init__(
        self,
        index: ExperienceIndex,
        encoder: TextEncoder,
        config: MemoryConfig,
        store: TrajectoryStore,
        held_out: frozenset[str] = frozenset(),
    ) -> None:
        self.index = index
        self.encoder = encoder
        self.config = config
        self.store = store
        self.held_out = held_out

    def __call__(self, app: str, task_id: str | None) -> ExperienceMemory:
        """Return the memory of one episode of ``app`` (never retrieving ``task_id``'s held-out family)."""
        from cua.memory.hook import ExperienceMemory

        return ExperienceMemory(self.index, self.encoder, app=app, task_id=task_id,
                                held_out_families=self.held_out, config=self.config,
                                store=self.store)  # fmt: skip

    def close(self) -> None:
        """Close the index (idempotent)."""
        self.index.close()

    def __enter__(self) -> MemoryFactory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_memory(
    mode: str,
    store: TrajectoryStore,
    *,
    encoder: str = "static",
    key_screenshots: int = 0,
    held_out: frozenset[str] = frozenset(),
) -> MemoryFactory | None:
    """Return the episode-memory factory for ``--memory MODE``, or None (off); the caller closes it.

    ``auto`` is on when the index beside ``store`` has items, and quietly off otherwise (also
    when the text encoder cannot be loaded); ``on`` turns those cases into errors. Prefer
    :func:`memory_hooks`, which closes the index when the block ends.
    """
    from cua.memory.hook import MemoryConfig

    check_memory_mode(mode)
    if key_screenshots not in (0, 1, 2):
        raise UsageError(f"--key-screenshots is 0, 1 or 2, not {key_screenshots}")
    path = ExperienceIndex.path_beside(store.data_dir)
    if mode == "off" or (mode == "auto" and not path.is_file()):
        return None
    index = ExperienceIndex(path)
    try:
        if index.count() == 0:
            if mode == "on":
                raise UsageError(
                    f"the memory at {path} is empty: record verified runs, then `cua memory build`"
                )
            index.close()
            return None
        try:
            from cua.models.embed import make_encoder

            text_encoder = make_encoder(encoder)
        except CuaError:
            if mode == "on":
                raise
            index.close()
            return None
        index.bind_encoder(text_encoder)  # once here, not in each episode's thread
    except BaseException:
        index.close()
        raise
    return MemoryFactory(index, text_encoder, MemoryConfig(key_screenshots=key_screenshots), store, held_out)


@contextmanager
def memory_hooks(
    mode: str,
    store: TrajectoryStore,
    *,
    encoder: str = "static",
    key_screenshots: int = 0,
    held_out: frozenset[str] = frozenset(),
) -> Iterator[MemoryFactory | None]:
    """Open the memory for ``--memory MODE`` as :func:`open_memory` does; close its index on leaving.

    ``with memory_hooks(memory, store, encoder=...) as factory:`` gives None when memory is off.
    """
    factory = open_memory(mode, store, encoder=encoder, key_screenshots=key_screenshots, held_out=held_out)
    try:
        yield factory
    finally:
        if factory is not None:
            factory.close()


__all__ = ["MEMORY_MODES", "MemoryFactory", "check_memory_mode", "memory_hooks", "open_memory"]
