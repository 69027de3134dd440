"""Experience memory: verified trajectories admitted, retrieved by task and screen, replayed as text.

::

    index = ExperienceIndex.beside(data_dir)              # <data_dir>/memory/memory.sqlite
    encoder = make_encoder()                              # distilled all-MiniLM-L6-v2, offline
    admit(store, index, encoder)                          # verified successes + pitfalls
    hook = ExperienceMemory(index, encoder, app=task.app, task_id=task.id,
                            held_out_families=held_out)
    agent = Agent(policy, sandbox, memory=hook)
    ...
    hook.outcome(verdict.passed)                          # value-driven utility update

See ``cua.memory.admission`` (what is admitted), ``cua.memory.index`` (schema, eviction),
``cua.memory.hook`` (ranking) and ``cua.memory.render`` (prompt text).
"""

from cua.memory.admission import AdmissionConfig, AdmitReport, admit, classify, describe_action, is_oracle
from cua.memory.hook import ExperienceMemory, Hit, MemoryConfig, Ranked
from cua.memory.index import ExperienceIndex, Item, MemoryIndexError, NewItem, StepNote
from cua.memory.render import approx_tokens, render
from cua.models.embed import MiniLMEncoder, StaticEncoder, TextEncoder, make_encoder, screen_vector

__all__ = [
    "AdmissionConfig",
    "AdmitReport",
    "ExperienceIndex",
    "ExperienceMemory",
    "Hit",
    "Item",
    "MemoryConfig",
    "MemoryIndexError",
    "MiniLMEncoder",
    "NewItem",
    "Ranked",
    "StaticEncoder",
    "StepNote",
    "TextEncoder",
    "admit",
    "approx_tokens",
    "classify",
    "describe_action",
    "is_oracle",
    "make_encoder",
    "render",
    "screen_vector",
]
