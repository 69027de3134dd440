"""The agent: the step loop, its control from other threads, and the safety guard.

``loop`` runs episodes (``Agent.steps()`` yields each recorded step), ``control`` pauses, resumes,
cancels and takes them over and carries the agent's questions to a person, ``safety`` stops
dangerous actions. ``cua.locators`` stays a leaf module: the tasks and the memory use it too.
"""

from cua.agent.control import AgentControl, Answerer, Question
from cua.agent.loop import (
    Agent,
    AgentConfig,
    AskUser,
    EpisodeResult,
    EpisodicMemory,
    MemoryHook,
    NoMemory,
    StepEvent,
    drive,
    policy_input,
    resolve_secrets,
)
from cua.agent.safety import GuardRule, GuardVerdict, SafetyGuard

__all__ = [
    "Agent",
    "AgentConfig",
    "AgentControl",
    "Answerer",
    "AskUser",
    "EpisodeResult",
    "EpisodicMemory",
    "GuardRule",
    "GuardVerdict",
    "MemoryHook",
    "NoMemory",
    "Question",
    "SafetyGuard",
    "StepEvent",
    "drive",
    "policy_input",
    "resolve_secrets",
]
