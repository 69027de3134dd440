"""The one protocol every policy backend implements, and what flows in and out of it.

A policy only decides the next output: it sees the instruction, the current screenshot, a window
of history and any feedback, and returns the model's raw text (which the agent loop parses with
the policy's output format) or, for scripted and oracle policies, typed actions directly.
Prompts, parsing and coordinate conventions belong to the output format, not to the backend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from PIL import Image

from sandbox.base import A11yNode, TextBox

MAX_INSTRUCTION_CHARS = 4_000
"""The longest instruction accepted, wherever one enters (``cua run``, task files, the agent).

Every step's prompt repeats the instruction beside one or more screenshots (about 1,000 to
3,000 tokens each at the usual image sizes), history and recalled experience, within a context
of 8k to 32k tokens for the models this agent runs. 4,000 characters is about 1,000 tokens: more
than any built-in or OSWorld instruction (the longest are under 1,000 characters), and still a
small part of the prompt. A longer text is nearly always pasted material; it belongs in a file
the task sets up, with an instruction that says what to do with it."""


def instruction_problem(text: str) -> str | None:
    """Return why ``text`` cannot be an instruction (empty, too long), or None when it can."""
    if not text.strip():
        return "the instruction is empty: say what the agent should do"
    if len(text) > MAX_INSTRUCTION_CHARS:
        return (
            f"the instruction has {len(text):,} characters; the limit is {MAX_INSTRUCTION_CHARS:,} "
            "(cua.policy.MAX_INSTRUCTION_CHARS). Say what to do in a few sentences, and put long "
            "material in a file the agent can open"
        )
    return None


@dataclass(frozen=True)
class Recall:
    """Experience a memory hook retrieved for one step: prompt text, and key screens with captions."""

    text: str
    images: tuple[tuple[str, Image.Image], ...] = ()
    """``(caption, screenshot)`` pairs, e.g. the remembered screen before its next click."""


@dataclass(frozen=True)
class HistoryItem:
    """One earlier step as the policy may see it again."""

    output: str
    """What the policy emitted at that step (raw model text, or the rendered action)."""
    screenshot: Image.Image | None = None
    """The screenshot seen at that step; None when outside the screenshot window."""
    feedback: str | None = None
    """What the loop told the model after that step (a parse error, a loop warning)."""


@dataclass(frozen=True)
class PolicyInput:
    """Everything a policy may use to choose the next output."""

    instruction: str
    screenshot: Image.Image
    screen_size: tuple[int, int]
    history: Sequence[HistoryItem] = ()
    feedback: str | None = None
    """Feedback on the previous output (parse error, repeated action), to show the model."""
    memory: str | None = None
    """Retrieved experience rendered as text (the memory hook; empty until memory exists)."""
    step: int = 0
    a11y_text: str | None = None
    """The accessibility tree linearised as text, for policies that take it."""
    memory_images: Sequence[tuple[str, Image.Image]] = ()
    """Key screens of the retrieved experience, each with its caption (shown after ``memory``)."""
    a11y: Sequence[A11yNode] | None = None
    """The accessibility tree of this screen, for a :class:`ReadsScreen` policy (None otherwise)."""
    ocr: Sequence[TextBox] = ()
    """Text boxes OCR read on this screen, for a :class:`ReadsScreen` policy whose screen has too
    thin a tree to act on (empty otherwise)."""


@dataclass(frozen=True)
class PolicyOutput:
    """The policy's answer: raw text to parse, or typed actions (scripted/oracle policies)."""

    text: str
    actions: Sequence[Any] | None = None
    """Typed ``cua.actions`` actions; when given, the loop does not parse ``text``."""
    usage: Mapping[str, float] = field(default_factory=dict)
    """Numbers worth recording: prompt/completion tokens, latency in ms."""


@runtime_checkable
class Policy(Protocol):
    """Chooses the next output from the current observation."""

    name: str
    format_name: str
    """The output format (``cua.formats``) whose parser reads this policy's text."""

    def act(self, inp: PolicyInput) -> PolicyOutput:
        """Return the next output; raise ``cua.errors.PolicyError`` when the backend fails."""
        ...

    def provenance(self) -> dict[str, Any]:
        """Describe the model exactly: checkpoint hash or endpoint + model name, generation settings."""
        ...


@runtime_checkable
class ReadsScreen(Protocol):
    """A policy that chooses among what is on the screen: the agent loop reads it the tree each step.

    With ``reads_screen`` true the loop fills :attr:`PolicyInput.a11y` (and :attr:`PolicyInput.ocr`
    where the tree offers too little to act on: ``cua.locators.read_screen``) before calling
    ``act``; the dataset builder of ``cua.learn`` reads the screen with the same function, so a
    trained policy sees at run time what it learned from.
    """

    reads_screen: bool


@runtime_checkable
class UsesMemoryHook(Protocol):
    """A policy that reads the episode's memory hook itself, not only its rendered text.

    The agent loop calls ``bind_memory(hook)`` as each episode starts (the hook is then queried
    before every step, as for any policy). ``cua.policies.recall.RecallPolicy`` reads the hook's
    ranking to replay a remembered run.
    """

    def bind_memory(self, hook: object) -> None:
        """Take the memory hook of the episode about to start."""
        ...


@runtime_checkable
class SettlingPolicy(Protocol):
    """A policy that knows when the screen is ready after its actions (oracles, replays).

    The loop calls ``settle()`` after a step's actions ran and before it observes the screen
    for the next step; ``True`` means the policy waited for something, so the loop observes
    again. The recorded observation of the next step then shows the state the policy waited
    for (a dialog that opened, a file saved), not a moment earlier: better records to replay
    and to learn from. Raise ``cua.errors.PolicyError`` when the wait fails.
    """

    def settle(self) -> bool:
        """Wait until the screen is ready for the next step; return whether anything was awaited."""
        ...
