"""Why a model's output could not become actions (``ParseError``), and the formats' other errors.

A parser raises only ``ParseError`` and its kinds, whatever text it is given. Each carries
``feedback``: a message written for the model (what was wrong, then the syntax it should have
used), which the agent loop can send back as the next observation.

The whole tree is drawn in ``cua.errors``; ``UnknownFormat`` is what ``get_format`` raises for
a name no format has.
"""

from __future__ import annotations

from cua.errors import CuaError


class ParseError(CuaError):
    """A model's output could not be turned into actions.

    ``problem`` says what is wrong, ``action`` names the action concerned (None if unknown),
    ``expected`` shows the syntax the model should have used and ``format_name`` names the output
    format; the parser fills in the last two.
    """

    def __init__(self, problem: str, *, action: str | None = None, expected: str = "") -> None:
        super().__init__(problem)
        self.problem = problem
        self.action = action
        self.expected = expected
        self.format_name = ""

    @property
    def feedback(self) -> str:
        """The message for the model: what was wrong, then the expected syntax."""
        text = f"Your last reply could not be carried out: {self.problem}."
        if self.expected:
            text += f"\nUse this syntax:\n{self.expected}"
        return text


class NoAction(ParseError):
    """The output holds no action at all."""


class MalformedAction(ParseError):
    """An action is present but its syntax is broken (unbalanced quotes, invalid JSON or Python)."""


class UnknownAction(ParseError):
    """The output names an action or function that is not in the format's action space."""


class BadArgument(ParseError):
    """An argument is missing, unexpected or of the wrong type, or a key name is unknown."""


class CoordinateOutOfRange(ParseError):
    """A coordinate lies outside the image or grid the model was told about."""


class UnsupportedAction(ParseError):
    """The output is valid in the format but uses something refused here (key holds, loops, variables)."""


class UnknownFormat(CuaError, ValueError):
    """No built-in output format has the requested name; the message lists the choices.

    Also a ValueError, which is what callers caught before it joined the tree.
    """


class RenderError(CuaError):
    """An action cannot be written in a format's syntax (for example a middle click in UI-TARS)."""


__all__ = [
    "BadArgument",
    "CoordinateOutOfRange",
    "MalformedAction",
    "NoAction",
    "ParseError",
    "RenderError",
    "UnknownAction",
    "UnknownFormat",
    "UnsupportedAction",
]
