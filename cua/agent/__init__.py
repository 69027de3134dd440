"""The agent: the step loop, its control from other threads, and the safety guard.

``loop`` runs episodes, ``control`` pauses, resumes and cancels them, ``safety`` stops dangerous
actions. ``cua.locators`` stays a leaf module: the tasks and the memory use it too.
"""

from cua.agent.control import AgentControl
from cua.agent.loop import (
    Agent,
    AgentConfig,
    AskUser,
    EpisodeResult,
    EpisodicMemory,
    MemoryHook,
    NoMemory,
    StepEvent,
    policy_input,
    resolve_secrets,
)
from cua.agent.safety import GuardRule, GuardVerdict, SafetyGuard

__all__ = [
    "Agent",
    "AgentConfig",
    "AgentControl",
    "AskUser",
    "EpisodeResult",
    "EpisodicMemory",
    "GuardRule",
    "GuardVerdict",
    "MemoryHook",
    "NoMemory",
    "SafetyGuard",
    "StepEvent",
    "policy_input",
    "resolve_secrets",
]
