"""Isolated desktops that run real applications and execute low-level actions.

Knows nothing about models, tasks or memory. The public surface is listed in ``__all__``;
everything else is private to the package.
"""

from sandbox.actions import Click, Drag, Key, Move, SandboxAction, Scroll, TypeText, Wait
from sandbox.base import A11yNode, ExecResult, Observation, Sandbox
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
from sandbox.pool import BROKEN, Job, JobResult, Pool, PoolEvent, SandboxPool
from sandbox.profile import AppProfile, ReadyCheck, RunCommand, WriteFile, find_profile, list_profiles
from sandbox.qemu import QemuSandbox
from sandbox.xvfb import XvfbSandbox

__all__ = [
    "BROKEN",
    "A11yNode",
    "AppCrashed",
    "AppNotReady",
    "AppProfile",
    "BadText",
    "Click",
    "DisplayDied",
    "Drag",
    "ExecResult",
    "ExecTimeout",
    "GuestDied",
    "GuestError",
    "GuestHung",
    "InvalidAction",
    "Job",
    "JobResult",
    "Key",
    "Move",
    "Observation",
    "OffScreen",
    "Pool",
    "PoolEvent",
    "ProfileError",
    "QemuSandbox",
    "ReadyCheck",
    "RunCommand",
    "Sandbox",
    "SandboxAction",
    "SandboxClosed",
    "SandboxCrashed",
    "SandboxError",
    "SandboxPool",
    "SandboxTimeout",
    "SandboxUnavailable",
    "Scroll",
    "TypeText",
    "UnknownKey",
    "Wait",
    "WriteFile",
    "XvfbSandbox",
    "find_profile",
    "list_profiles",
]
