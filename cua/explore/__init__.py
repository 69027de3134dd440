"""Unattended exploration: the agent invents tasks in an application and proves them itself.

``Explorer`` runs walks in parallel sandboxes from varied seed states (``cua.synth.seeds``),
derives candidate tasks from what each walk changed (``cua.synth.derive``), admits the ones its
own demonstration proves and no near miss fools (``cua.synth.admit``), and keeps everything in
``explore.sqlite`` in the data directory (``ExploreDB``). The built-in task suites are never read.
"""

from cua.explore.db import ExploreDB, TaskRow
from cua.explore.loop import MOVES_PER_WALK, Explorer, ExploreSettings, WalkResult

__all__ = ["MOVES_PER_WALK", "ExploreDB", "ExploreSettings", "Explorer", "TaskRow", "WalkResult"]
