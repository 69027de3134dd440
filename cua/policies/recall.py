"""Memory hand-over: replay a remembered verified run when this instruction differs from its only in values.

The experience memory (``cua.memory``) shows a policy text about similar past runs; a policy that
cannot read prose (the bundled one, a baseline) gains nothing from it. :class:`RecallPolicy` uses
the same retrieval another way: at the first step of an episode it looks at what the episode's
memory hook ranked, and when one of those items is backed by a verified run whose instruction
has the *same wording* as this one with only some values changed (``Press the button 1`` /
``Press the button 3``; ``rename scan.pdf to a.txt`` / ``rename r.txt to b.csv``), it replays
that run (:class:`~cua.policies.replay.ReplayPolicy`: targets re-found by their locators) with
the old values rewritten into the new ones, handing over to the wrapped policy the moment the
screen diverges. Otherwise the wrapped policy answers every step, untouched.

When it replays (:func:`instruction_values` and :func:`acts_on`):

* Both instructions split into the same number of tokens (a quoted value is one token, quotes
  stripped; words, numbers, file names and paths are tokens; other characters stand alone),
  and at least two thirds of the positions hold the same token. The differing positions pair
  an old value with a new one, in the order they appear.
* Every old value must be *acted on* in the recording: typed, clicked by a locator naming it,
  or answered, standing as its own token (the rule of :class:`~cua.policies.replay.ParamMap`).
  A value the recording spelled another way (``60`` entered as the keys ``6`` and ``0``) cannot
  be rewritten, so such a run is not replayed: the replay would redo the old task.
* Identical instructions replay the run as it was.

Only verified runs are replayed (:func:`~cua.policies.replay.load_recording`), and only runs
the memory returned, so its exclusions hold: never a run of the task being run, never a
held-out family. Nothing here trains anything: it is memory used at run time.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from cua.errors import CuaError
from cua.locators import Locator
from cua.policies.replay import ParamMap, ReplayError, ReplayPolicy, load_recording, step_actions
from cua.policy import Policy, PolicyInput, PolicyOutput, SettlingPolicy
from cua.store import Step, StoreError, TrajectoryStore
from sandbox.base import Sandbox

log = logging.getLogger("cua.recall")

_TOKEN = re.compile(r"'([^']*)'|\"([^\"]*)\"|([\w.\-/:@~]+)|(\S)")
#: The share of token positions two instructions must agree on to count as one wording.
SAME_WORDING = 2 / 3


def tokens(instruction: str) -> list[str]:
    """Return the instruction's tokens (a quoted value is one token, without its quotes)."""
    out = []
    for m in _TOKEN.finditer(instruction):
        token = next(g for g in m.groups() if g is not None)
        out.append(token.rstrip(".,;:") or token)
    return out


def instruction_values(old: str, new: str) -> list[tuple[str, str]] | None:
    """Return the (old value, new value) pairs that turn ``old`` into ``new``; None for another wording."""
    a, b = tokens(old), tokens(new)
    if len(a) != len(b) or not a:
        return None
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x != y]
    if len(a) - len(pairs) < SAME_WORDING * len(a):
        return None
    return pairs


def _acted_texts(steps: Sequence[Step]) -> list[str]:
    """Return every text the recording acted with: typed text, answers, the names its clicks found."""
    out: list[str] = []
    for step in steps:
        for action in step_actions(step):
            for attr in ("text", "answer"):
                value = getattr(action, attr, None)
                if isinstance(value, str) and value:
                    out.append(value)
        if step.hit:
            locator = Locator.from_json(dict(step.hit))
            out.extend(v for v in (locator.name, locator.text) if v)
    return out


def acts_on(steps: Sequence[Step], value: str) -> bool:
    """Return whether the recording types, clicks or answers ``value`` as a token of its own."""
    pattern = re.compile(r"(?<![A-Za-z0-9])" + re.escape(value) + r"(?![A-Za-z0-9])")
    return any(pattern.search(text) for text in _acted_texts(steps))


class RecallPolicy:
    """Replays a remembered run of the same wording with the new values; else the wrapped policy.

    The agent loop hands the episode's memory hook over through :meth:`bind_memory` (see
    ``cua.policy.UsesMemoryHook``) and queries it before each step, so at the first step
    ``hook.last`` holds this episode's ranking. ``store`` is where the remembered runs are
    recorded (default: the hook's own store). ``chosen`` names the replayed run, if any.
    """

    def __init__(self, base: Policy, sandbox: Sandbox, store: TrajectoryStore | None = None) -> None:
        self.base = base
        self.sandbox = sandbox
        self.store = store
        self.name = f"recall+{base.name}"
        self.format_name = base.format_name
        self.output_format = getattr(base, "output_format", None)
        self.reads_screen = bool(getattr(base, "reads_screen", False))
        self._hook: Any = None
        self._replay: ReplayPolicy | None = None
        self._decided = False
        self.chosen: str | None = None
        """The run being replayed (None: the wrapped policy answers)."""
        self.considered: list[tuple[str, str]] = []
        """(run id, why it was not replayed) for each remembered run looked at."""

    def bind_memory(self, hook: object) -> None:
        """Take the episode's memory hook (called by the agent loop before the episode starts)."""
        self._hook = hook
        self._decided = False
        self._replay = None
        self.chosen = None
        self.considered = []

    def act(self, inp: PolicyInput) -> PolicyOutput:
        """Answer with the replay when one was chosen at the first step; else with the wrapped policy."""
        if not self._decided:
            self._decided = True
            self._replay = self._choose(inp.instruction)
        if self._replay is not None:
            return self._replay.act(inp)
        return self.base.act(inp)

    def settle(self) -> bool:
        """Let the replay (or a settling wrapped policy) wait for the screen it expects."""
        if self._replay is not None:
            return self._replay.settle()
        return self.base.settle() if isinstance(self.base, SettlingPolicy) else False

    def _choose(self, instruction: str) -> ReplayPolicy | None:
        hook = self._hook
        ranking = getattr(hook, "last", None)
        index = getattr(hook, "index", None)
        store = self.store or getattr(hook, "store", None)
        if ranking is None or index is None or store is None:
            return None
        for hit in ranking.positives:
            try:
                runs = index.get(hit.item_id).runs
            except CuaError:  # evicted or forgotten since the ranking
                continue
            for run_id in runs:
                replay = self._replay_of(store, run_id, instruction)
                if replay is not None:
                    self.chosen = run_id
                    log.info("recall: replaying run %s for %r", run_id, instruction)
                    return replay
        return None

    def _replay_of(self, store: TrajectoryStore, run_id: str, instruction: str) -> ReplayPolicy | None:
        try:
            recording = load_recording(store, run_id)
        except (ReplayError, StoreError, CuaError) as exc:
            self.considered.append((run_id, f"not replayable: {exc}"))
            return None
        pairs = instruction_values(recording.run.instruction, instruction)
        if pairs is None:
            self.considered.append((run_id, "another wording"))
            return None
        missing = [old for old, _ in pairs if not acts_on(recording.steps, old)]
        if missing:
            self.considered.append((run_id, f"the recording never acts on {missing[0]!r} as such"))
            return None
        params = None
        if pairs:
            names = [f"v{i}" for i in range(len(pairs))]
            params = ParamMap(dict(zip(names, (o for o, _ in pairs), strict=True)),
                              dict(zip(names, (n for _, n in pairs), strict=True)))  # fmt: skip
        return ReplayPolicy(
            recording.steps, self.sandbox, params=params, fallback=self.base, source_run=run_id
        )

    def provenance(self) -> dict[str, Any]:
        """Describe the wrapped policy, and the replayed run when there is one."""
        info = dict(self.base.provenance())
        info["recall"] = self._replay.provenance() if self._replay is not None else None
        return info


__all__ = ["RecallPolicy", "acts_on", "instruction_values", "tokens"]
