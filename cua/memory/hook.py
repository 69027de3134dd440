"""ExperienceMemory: the agent's memory hook, with value-driven ranking and its feedback.

At the first step of an episode (empty history) it searches the whole index by instruction,
application and first screen; at later steps it re-ranks that episode's shortlist by the
current screen (which remembered step looks like it) and the last action (does it match the
remembered step before), and shows the rest of the best trajectory from there.

Ranking (both kinds of query)::

    start:  sim   = w_text * cos(instruction) + w_screen * cos(first screen)
    step:   sim   = 0.5 * start sim
                  + 0.5 * max_j (0.7 * cos(screen, step_j) + 0.3 * overlap(last action, step_j-1))
    score = sim + w_utility * (utility - 0.5),   utility = alpha / (alpha + beta)

``alpha``/``beta`` count the successes/failures of episodes that showed the item (Beta(1, 1)
prior), so an unused item sits at 0.5: useless items sink below it and helpful ones rise.
``outcome(success)`` (or ``settle(store, run_id)``) closes an episode and feeds that back.

Exclusions: items supported by a run of the current task id, items of the held-out families
given, and items recorded from ``split: eval`` runs are never returned; the first query of each
episode logs what was excluded. Pitfalls are never returned as positives; they render separately.

Key screens (``MemoryConfig.key_screenshots``, off by default: images cost prompt tokens): with
the trajectory store at hand, the best item's remembered screen before its next pointer action
(from where it resumes, the click marked) and, for 2, the screen when it was done, read from
the item's first supporting run.

Episodes: the agent calls ``begin_episode(run_id)``, so an episode's exposures are keyed by its
run id, and a run verified later (a person's confirmation) still settles the utilities of what
it was shown (``cua.memory.admission.settle_outcomes``, run by ``cua memory build``).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from cua.errors import CuaError
from cua.memory.admission import verified_outcome
from cua.memory.index import ExperienceIndex, Item
from cua.memory.render import render
from cua.models.embed import TextEncoder, Vector, screen_vector
from cua.policy import HistoryItem, Recall
from cua.store import ScreenshotMissing, StoreError, TrajectoryStore
from sandbox.base import Observation

log = logging.getLogger("cua.memory")

_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class MemoryConfig:
    """How memory ranks and how much it shows."""

    top_k: int = 2
    """Positive items shown per query."""
    pitfalls: int = 1
    """Pitfall notes shown per query (0: none)."""
    budget_tokens: int = 400
    """Most tokens (len/4) of rendered text per query."""
    w_text: float = 0.8
    w_screen: float = 0.2
    w_utility: float = 0.3
    """Weight of (utility - 0.5) added to the similarity."""
    min_similarity: float = 0.35
    """Items less similar than this are not shown at all."""
    pitfall_similarity: float = 0.6
    """Pitfalls are shown only when at least this similar."""
    shortlist: int = 16
    """Candidates kept from the first query for the per-step re-ranking."""
    key_screenshots: int = 0
    """Remembered screens shown with the text: 0, 1 (before the next click) or 2 (and the end)."""

    def __post_init__(self) -> None:
        if self.key_screenshots not in (0, 1, 2):
            raise CuaError(f"key_screenshots is 0, 1 or 2, not {self.key_screenshots}")


@dataclass(frozen=True)
class Hit:
    """One ranked result."""

    item_id: int
    similarity: float
    utility: float
    score: float
    start_step: int = 0


@dataclass(frozen=True)
class Ranked:
    """The ranked positives and pitfalls of one query."""

    positives: list[Hit]
    pitfalls: list[Hit]


@dataclass
class _Episode:
    token: str
    shortlist: list[Hit] = field(default_factory=list)
    shown: set[int] = field(default_factory=set)
    excluded: set[int] = field(default_factory=set)


class ExperienceMemory:
    """A ``MemoryHook`` over an :class:`ExperienceIndex` (one instance per task being run)."""

    def __init__(
        self,
        index: ExperienceIndex,
        encoder: TextEncoder,
        *,
        app: str | None = None,
        task_id: str | None = None,
        held_out_families: Iterable[str] = (),
        config: MemoryConfig | None = None,
        episode_id: str | None = None,
        store: TrajectoryStore | None = None,
    ) -> None:
        """Serve memory for tasks of ``app``; never items of ``task_id`` nor of ``held_out_families``.

        ``store`` (the trajectory store the items were admitted from) is needed for key screens.
        """
        self.index = index
        self.encoder = encoder
        index.bind_encoder(encoder)  # stored vectors and queries must come from the same encoder
        self.app = app
        self.task_id = task_id
        self.held_out = frozenset(held_out_families)
        self.config = config or MemoryConfig()
        if self.config.key_screenshots and store is None:
            raise CuaError("key screenshots are read from the trajectory store: pass store=")
        self.store = store
        self._screens: dict[tuple[int, int], list[tuple[str, Image.Image]]] = {}
        self._next_episode = episode_id
        self._episode: _Episode | None = None
        self.last: Ranked | None = None
        """The ranking behind the latest retrieve (for logs, tests and the UI)."""
        self.shown_ever: set[int] = set()
        """Every item id this hook has shown, over all its episodes (for audits and tests)."""

    # -- queries ----------------------------------------------------------------------------------

    def _mask(self, lo: int, hi: int, excluded: set[int]) -> npt.NDArray[np.bool_]:
        arr = self.index.arrays()
        ok = ~arr.evalsplit[lo:hi]
        codes = [arr.families[f] for f in self.held_out if f in arr.families]
        if codes:
            ok &= ~np.isin(arr.family[lo:hi], codes)
        if excluded:
            rows = [arr.row[i] - lo for i in excluded if i in arr.row and lo <= arr.row[i] < hi]
            ok[rows] = False
        return ok

    def search(
        self,
        instruction: str,
        screen: Vector | None,
        *,
        app: str | None = None,
        excluded: set[int] | None = None,
        limit: int = 16,
    ) -> Ranked:
        """Rank items for a start-of-run query; positives and pitfalls ranked apart."""
        cfg = self.config
        arr = self.index.arrays()
        lo, hi = (0, len(arr.ids)) if app is None else arr.apps.get(app, (0, 0))
        if hi <= lo:
            return Ranked([], [])
        q = self.encoder.encode([instruction])[0]
        sim = arr.text[lo:hi] @ q
        if screen is not None and cfg.w_screen:
            sim = cfg.w_text * sim + cfg.w_screen * (arr.screen[lo:hi] @ screen)
        utility = arr.alpha[lo:hi] / (arr.alpha[lo:hi] + arr.beta[lo:hi])
        score = sim + cfg.w_utility * (utility - 0.5)
        score = np.where(self._mask(lo, hi, excluded or set()), score, -np.inf)
        positive = arr.positive[lo:hi]
        out: list[list[Hit]] = []
        for want, floor in ((positive, cfg.min_similarity), (~positive, cfg.pitfall_similarity)):
            s = np.where(want & (sim >= floor), score, -np.inf)
            k = min(limit, len(s))
            top = np.argpartition(-s, k - 1)[:k] if k < len(s) else np.arange(len(s))
            top = top[np.argsort(-s[top], kind="stable")]
            out.append(
                [
                    Hit(int(arr.ids[lo + i]), float(sim[i]), float(utility[i]), float(score[i]))
                    for i in top
                    if np.isfinite(s[i])
                ]
            )
        return Ranked(out[0], out[1])

    def rerank_step(self, shortlist: Sequence[Hit], screen: Vector, last_action: str | None) -> list[Hit]:
        """Re-rank a shortlist by the current screen and last action; each hit says where to resume."""
        cfg = self.config
        arr = self.index.arrays()
        words = set(_WORD.findall(last_action.lower())) if last_action else set()
        items = {it.id: it for it in self.index.items([h.item_id for h in shortlist])}
        out = []
        for h in shortlist:
            it = items.get(h.item_id)
            if it is None or h.item_id not in arr.row:
                continue
            steps = self.index.step_vectors(h.item_id)
            screen_sim = steps @ screen if len(steps) else np.zeros(1, np.float32)
            overlap = np.zeros(len(screen_sim), np.float32)
            if words:
                for j in range(1, len(it.steps)):
                    before = set(_WORD.findall(it.steps[j - 1].text().lower()))
                    overlap[j] = len(words & before) / max(len(words | before), 1)
            align = 0.7 * screen_sim + 0.3 * overlap
            j = int(np.argmax(align))
            row = arr.row[h.item_id]
            utility = float(arr.alpha[row] / (arr.alpha[row] + arr.beta[row]))
            sim = 0.5 * h.similarity + 0.5 * float(align[j])
            out.append(Hit(h.item_id, sim, utility, sim + cfg.w_utility * (utility - 0.5), j))
        out.sort(key=lambda x: -x.score)
        return out

    # -- the hook ---------------------------------------------------------------------------------

    def begin_episode(self, run_id: str | None) -> None:
        """Key the next episode's exposures by its run id (so a later verdict can settle them)."""
        if run_id is not None:
            self._next_episode = run_id
            self._episode = None

    def retrieve(
        self, instruction: str, observation: Observation, history: Sequence[HistoryItem]
    ) -> str | Recall | None:
        """Return experience for this step as prompt text (a new episode starts at empty history).

        With ``key_screenshots`` it is a :class:`~cua.policy.Recall` carrying the screens too.
        """
        cfg = self.config
        screen = screen_vector(observation.screenshot)
        if not history or self._episode is None:
            self._begin()
            ep = self._episode
            assert ep is not None
            ranked = self.search(instruction, screen, app=self.app, excluded=ep.excluded, limit=cfg.shortlist)
            ep.shortlist = ranked.positives
            positives = [(h, 0) for h in ranked.positives[: cfg.top_k]]
        else:
            ep = self._episode
            last = history[-1].output if history else None
            hits = self.rerank_step(ep.shortlist, screen, last)
            ranked = Ranked(hits, self.last.pitfalls if self.last else [])
            positives = [(h, h.start_step) for h in hits[: cfg.top_k]]
        self.last = ranked
        pit = ranked.pitfalls[: cfg.pitfalls]
        items = {
            it.id: it for it in self.index.items([h.item_id for h, _ in positives] + [h.item_id for h in pit])
        }
        pos_items: list[tuple[Item, int]] = [
            (items[h.item_id], s) for h, s in positives if h.item_id in items
        ]
        text = render(pos_items, [items[h.item_id] for h in pit if h.item_id in items], cfg.budget_tokens)
        shown = [it.id for it, _ in pos_items]
        if shown:
            ep.shown.update(shown)
            self.shown_ever.update(shown)
            self.index.record_exposure(ep.token, shown)
        if text is None or not cfg.key_screenshots or not pos_items:
            return text
        images = self.key_screens(*pos_items[0])
        return Recall(text, tuple(images)) if images else text

    def key_screens(self, item: Item, start: int) -> list[tuple[str, Image.Image]]:
        """Return the captioned key screens of ``item`` from step ``start`` (cached; [] if unreadable)."""
        key = (item.id, start)
        if key not in self._screens:
            self._screens[key] = self._read_screens(item, start)
        return self._screens[key]

    def _read_screens(self, item: Item, start: int) -> list[tuple[str, Image.Image]]:
        if self.store is None:
            return []
        runs = self.index.get(item.id).runs
        if not runs:
            return []
        try:
            run = self.store.get_run(runs[0])
            steps = [s for s in self.store.steps(run.id) if s.action is not None]
            out: list[tuple[str, Image.Image]] = []
            pointer = [j for j in range(start, len(steps)) if steps[j].hit]
            j = pointer[0] if pointer else min(start, len(steps) - 1)
            if 0 <= j < len(steps):
                shot = self.store.screenshot(steps[j].screenshot).convert("RGB")
                action = steps[j].action or {}
                if "x" in action and "y" in action:
                    _mark(shot, int(action["x"]), int(action["y"]))
                what = item.steps[j].text() if j < len(item.steps) else "the next step"
                out.append((f"Remembered screen before step {j + 1} ({what})", shot))
            if self.config.key_screenshots >= 2:
                last = run.final_screenshot or (steps[-1].screenshot if steps else None)
                if last is not None:
                    out.append(("Remembered screen when that task was done", self.store.screenshot(last)))
            return out
        except (ScreenshotMissing, StoreError, OSError) as exc:
            log.info("memory item %d: no key screens (%s)", item.id, exc)
            return []

    def _begin(self) -> None:
        token = self._next_episode or uuid.uuid4().hex
        self._next_episode = None
        excluded = self.index.items_of_task(self.task_id) if self.task_id else set()
        self._episode = _Episode(token, excluded=excluded)
        log.info(
            "memory episode %s: app=%s; excluding task %s (%d items), held-out families %s, eval-split items",
            token, self.app, self.task_id or "-", len(excluded), sorted(self.held_out) or "none",
        )  # fmt: skip

    @property
    def shown(self) -> set[int]:
        """Return the item ids shown in the current episode."""
        return set(self._episode.shown) if self._episode else set()

    def outcome(self, success: bool) -> int:
        """Close the current episode with its verdict: update the utility of every item it showed."""
        if self._episode is None:
            return 0
        n = self.index.record_outcome(self._episode.token, success)
        self._episode = None
        return n

    def settle(self, store: TrajectoryStore, run_id: str) -> bool | None:
        """Close the episode with the current verdict of ``run_id``; None (nothing updated) if unjudged.

        Only a validator's or a person's success counts (a judge's is left unsettled); a failure counts
        from any critic.
        """
        outcome = verified_outcome(store.get_run(run_id).verdict)
        if outcome is not None:
            self.outcome(outcome)
        return outcome


def _mark(image: Image.Image, x: int, y: int, radius: int = 14) -> None:
    """Draw a ring where the remembered click landed."""
    draw = ImageDraw.Draw(image)
    for r, colour in ((radius, "#ff2020"), (radius + 2, "#ffffff")):
        draw.ellipse((x - r, y - r, x + r, y + r), outline=colour, width=3)
