"""Task synthesis from the agent's own exploration; never reads the built-in suites.

``words``: the word list (Debian's ``wamerican``) for typed text and file names; ``seeds``: a
random starting state for each application profile, so that walks start from varied states.
"""

from cua.synth.seeds import SEEDED_APPS, UnknownSeedApp, seed_setup, seed_task
from cua.synth.words import WordListMissing, file_stem, word_list, words

__all__ = [
    "SEEDED_APPS",
    "UnknownSeedApp",
    "WordListMissing",
    "file_stem",
    "seed_setup",
    "seed_task",
    "word_list",
    "words",
]
