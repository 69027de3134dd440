"""Every exception the agent raises, drawn once; the agent's tree extends the sandbox's.

Each class lives where it is raised (the module in the right column) and subclasses one drawn
here; ``tests/cua/test_errors.py`` checks that this drawing and the code agree, name for name.
Catch ``CuaError`` for anything the agent reports, ``SandboxError`` for the sandbox (re-exported
from ``sandbox.errors``, since ``sandbox`` never imports ``cua``). A class marked "also X" is a
builtin X as well, for callers that caught X before it joined the tree.

::

    CuaError                       cua.errors           base of errors raised by the agent itself
     ├── UsageError                cua.errors           a bad command-line argument or option value
     │    └── UnknownSeedApp       cua.synth.seeds      no seed-state generator for that app (also ValueError)
     ├── PolicyError               cua.errors           a model backend failed (endpoint, checkpoint)
     ├── TrainingError             cua.errors           training stopped short of its goal
     ├── ActionError               cua.actions          an action field has an invalid value
     │    └── ActionJSONError      cua.actions          data that does not describe an action
     ├── MessageError              cua.models.messages  unreadable OpenAI-style messages (also ValueError)
     ├── UnknownFormat             cua.formats.errors   no output format has that name (also ValueError)
     ├── ParseError                cua.formats.errors   a model's output cannot become actions; ``feedback``
     │    ├── NoAction             cua.formats.errors   no action at all
     │    ├── MalformedAction      cua.formats.errors   an action with broken syntax
     │    ├── UnknownAction        cua.formats.errors   a name outside the format's action space
     │    ├── BadArgument          cua.formats.errors   a missing, unexpected or ill-typed argument
     │    ├── CoordinateOutOfRange cua.formats.errors   a coordinate outside the image or grid
     │    └── UnsupportedAction    cua.formats.errors   valid in the format, refused here
     ├── RenderError               cua.formats.errors   an action the format has no syntax for
     ├── TaskError                 cua.tasks.errors     anything about tasks
     │    ├── TaskSpecError        cua.tasks.errors     a malformed task file (file, field, what was expected)
     │    ├── UnknownTask          cua.tasks.errors     no built-in task or family has that id
     │    ├── OracleFailed         cua.tasks.errors     an oracle step could not be carried out
     │    └── NoBaseline           cua.tasks.validators.base  no start record to compare (also LookupError)
     ├── ReplayError               cua.policies.replay  a run cannot be replayed
     ├── DatasetError              cua.learn.dataset    training rows cannot be read (missing, malformed)
     ├── WordListMissing           cua.synth.words      the word list is absent or empty (also RuntimeError)
     └── StoreError                cua.store.errors     the store, memory index or model registry failed
          ├── StoreFull            cua.store.errors     the disk is (nearly) full: nothing was written
          ├── StoreLocked          cua.store.errors     another process held the lock past the busy timeout
          ├── StoreCorrupt         cua.store.errors     the file is damaged or is not a cua database
          ├── SchemaTooNew         cua.store.errors     the file was written by a newer cua
          ├── RunNotFound          cua.store.errors     no run has that id (also LookupError)
          ├── RunStateError        cua.store.errors     the run's status forbids the operation
          ├── ScreenshotMissing    cua.store.errors     a screenshot a row names is gone (also LookupError)
          ├── ExportError          cua.store.errors     an export cannot be written where asked
          ├── RegistryError        cua.learn.registry   the model registry failed otherwise (e.g. no WAL)
          └── MemoryIndexError     cua.memory.errors    the experience index was misused (bad id, encoder)

    SandboxError                   sandbox.errors       re-exported here with its whole tree

Control-flow exceptions, private to their module (raised and caught there, never escaping)::

    _Stop                          cua.agent.loop       ends the episode with a status, inside a step
    _Diverged                      cua.policies.replay  the live screen left the recording: hand over
    _RequestFailed                 cua.models.openai_policy  one HTTP attempt failed: retry or give up
    _BadRequest                    cua.models.server    answer the client with an HTTP error
    _ClientGone                    cua.models.server    the client hung up: nobody to answer
    Skip                           cua.tasks.osworld    an OSWorld task cannot be imported: record why
    _NotApplicable                 cua.tasks.nearmiss   an operator cannot make this near miss here

Arguments that break a function's documented contract (a naive datetime, a negative size) raise
the builtin ``ValueError`` or ``TypeError``: those are bugs in the caller, not failures to report.
"""

from __future__ import annotations

from sandbox.errors import (
    AppCrashed,
    AppNotReady,
    BadText,
    DisplayDied,
    ExecTimeout,
    GuestDied,
    GuestError,
    GuestHung,
    InvalidAction,
    OffScreen,
    ProfileError,
    SandboxClosed,
    SandboxCrashed,
    SandboxError,
    SandboxTimeout,
    SandboxUnavailable,
    UnknownKey,
)


class CuaError(Exception):
    """Base class of errors raised by the agent itself."""


class UsageError(CuaError):
    """A command-line argument or option is wrong; the message says what to do instead."""


class PolicyError(CuaError):
    """A policy backend could not produce an output; the message names the model and the cause."""


class TrainingError(CuaError):
    """Training stopped short of its goal; the message says how far it got and what to change."""


__all__ = [
    "AppCrashed",
    "AppNotReady",
    "BadText",
    "CuaError",
    "DisplayDied",
    "ExecTimeout",
    "GuestDied",
    "GuestError",
    "GuestHung",
    "InvalidAction",
    "OffScreen",
    "PolicyError",
    "ProfileError",
    "SandboxClosed",
    "SandboxCrashed",
    "SandboxError",
    "SandboxTimeout",
    "SandboxUnavailable",
    "TrainingError",
    "UnknownKey",
    "UsageError",
]
