"""A word list for the text a walk types and the names a seed state gives its files.

The words come from Debian's ``wamerican`` dictionary (``/usr/share/dict/american-english``),
not from any task file, so synthesized text owes nothing to the built-in suites. Only plain
lower-case ASCII words of 3-9 letters are kept: no capitals, apostrophes or accents, which
type the same on every keyboard layout and are safe in file names. Slurs, profanity and other
words nobody wants typed into their documents are left out; they are listed by the first ten
hex digits of their SHA-256, so this file does not spell them.
"""

from __future__ import annotations

import functools
import hashlib
import random
import re
from pathlib import Path

from cua.errors import CuaError

WORDS_FILE = Path("/usr/share/dict/american-english")
DEBIAN_PACKAGE = "wamerican"
_WORD = re.compile(r"^[a-z]{3,9}$")
#: Offensive words left out (SHA-256 of the word, first ten hex digits).
_LEFT_OUT = frozenset({
    "0033728f0f", "02d32f28a8", "036a81a775", "039f4a2615", "0508a63444", "05b8b79eea", "060360e1bc",
    "0632813d1f", "066d655f27", "0678508d8b", "0713c9b1bb", "08a841e996", "095080134d", "095a511921",
    "097474678c", "0ce875d620", "0cf97c16c9", "0ebdc3317b", "0f28c4960d", "0f738c967b", "1045584cea",
    "11cf8376a1", "120f6e5b4e", "12a667c9be", "130229cd36", "130c699460", "13a465fc66", "14d3ff8698",
    "158869a973", "17bde8b406", "1923333d8c", "1b35cfba04", "1b83044895", "1d0864b81a", "1de83442de",
    "1e02eec4f1", "1e5541c622", "1e8c25b56c", "1f502afd9a", "204c0d322c", "215467f005", "2189c0ed71",
    "219c493d55", "22aa7ed679", "22f3ae2927", "235e285376", "245c20d383", "24e2d8cd5b", "25390976ce",
    "2582739e6b", "25f0992ca0", "262f86db0a", "26578569a2", "267463e5e3", "29dd3075fa", "2a6060b5e2",
    "2b39273285", "2b5fb5b4fe", "2bb7818bf6", "2c1d8af3b6", "2c32c156cf", "2e2a68ae6b", "2f34b7a451",
    "30a989afc8", "31506a8448", "3152c94df8", "3288d08136", "3340f2cae0", "341d56384a", "3772b73187",
    "37ca1b80c1", "38136d6e34", "382ee2789d", "392259ac81", "3d22494f73", "3e10139e1a", "3e8716c272",
    "3e90d4714f", "3f975152b4", "4140197ec7", "4227a757e7", "42b034273a", "442b7cb3ec", "45463efe31",
    "45cd3e1bb4", "45eb60d184", "45fb7c3b72", "460ed72cce", "465b6ed418", "47b673e081", "484972376b",
    "492888effd", "4ae1915834", "4b18aefe82", "4c8027b3a2", "4c940ea035", "4e4b521a9e", "517ae3f732",
    "51ae06cf84", "522788b65f", "529b7ecf56", "52e534edff", "5304378d00", "566f532d48", "56f243a9a1",
    "5715e3ed5f", "57a2f7f499", "58e92fa13a", "593725baa8", "59cc3cb8a4", "5a36615e03", "5a5f806133",
    "5a9d9dcefb", "5b3ae48be1", "5bdce8283e", "5c2583a12f", "5d26ffd87a", "5d59a0e048", "5ebdc7b074",
    "613ddd9aff", "61dd29f2fd", "62d3ef6e7d", "63333e4b5d", "63bd9333b1", "64e3bea3ea", "6577be7752",
    "6672b930d5", "67e588bdb1", "693ee9961b", "6ac3c336e4", "6adc452d6b", "6bc5cc5cb7", "6ef68f2bad",
    "6ef9d9fd4a", "70fc4b74ea", "732cb45c75", "737dd1bca2", "7497839da7", "74fad891ce", "75073e6508",
    "7602c1a4a3", "76f0362224", "77ecee31d1", "78a00d189c", "7902e27065", "796e43a5a8", "7ad1e36849",
    "7b2bced04e", "7bc671151c", "7be43a70cd", "7c28a8e09b", "7da69b417f", "7e85c676fd", "7ef64c3595",
    "7f5a9ba14c", "7f71fd8fc6", "8171c4ecae", "82159dd028", "8353bea172", "85fc17f706", "860836fad9",
    "8649d6f8c2", "867d789766", "86eaefb110", "875f8594af", "87d1690e74", "886d51e97a", "89133bc00e",
    "8c5c043913", "8dae81dade", "8eaa32d449", "8f5083e3e5", "91096ffb65", "92a9bf818e", "937d56e497",
    "938b345cbd", "94a2b576a9", "95163690d2", "954bafccc8", "9557070a43", "96c91fa847", "9761be79f8",
    "9788d8b321", "984979b992", "984b5c6ef0", "986c990041", "98980840dd", "9915ba2d82", "997ff4c1c4",
    "99e367bcad", "9a032ec73a", "9ac34a71da", "9ae315a94e", "9df69d33f1", "9e7e1870c4", "9ff6fa40d0",
    "a24efab8d9", "a28dc1b2f9", "a368606514", "a3f89e6350", "a6ee0e6b8b", "a76d588d00", "ab0c0f27af",
    "ac1d2ec685", "ac5682c281", "ac9a9d820f", "ad505b0be8", "ade74a96ae", "adedda9c95", "af48d859d4",
    "b0c761be68", "b0f0bb5d85", "b274470eec", "b2a7d488cf", "b34e00e162", "b3cd0601f2", "b60155024a",
    "b601d5e9e6", "b64608345c", "b690cdbe59", "b96e50d442", "b9a365c4d2", "baa9c15307", "bb61ef4081",
    "bbc842476f", "bbe195a3c7", "bd331fb1d2", "be476b26bf", "c0ebfa7cbe", "c1cabb6f6e", "c1cf820f78",
    "c206da7d46", "c2c3b68b48", "c542a0d148", "c59758402a", "c629da3c8d", "c765305438", "c89b776e84",
    "c99eb023d0", "c9f3c15aa2", "cb9c013441", "cc02032349", "cdd28ff153", "cf51c9e21a", "d2ad66605b",
    "d2ce238bf4", "d31f9b0cc1", "d5146a6287", "d529d38c59", "d6816f4743", "d75a838dc7", "d7c8fbed35",
    "d7d34a4073", "d7f1e23219", "d84f691fc4", "d92f4cf1e2", "daec0c235d", "db0853aab2", "dc50d24e89",
    "dcb85fcf87", "dd32831e9d", "dd3d4a3f76", "dfb0ce07ed", "e041c60942", "e1b7307669", "e1ce254422",
    "e206090691", "e3fa01d29c", "e512a05583", "e683679358", "e7b98c6aa5", "e84dde508a", "e854059ec2",
    "e9097cc428", "e9143a2903", "e99d55248f", "ea3621f398", "eb6c4637b9", "eb9b035455", "eb9f46c073",
    "ebec03d80c", "ee50219dfb", "eef3bd0916", "eefe176ac2", "eff26b1816", "f0cb4effa6", "f0fcd3efa6",
    "f50c51ed23", "f5fa040595", "f600213ecb", "f6952d6eef", "f6a9dcb187", "f8cc2bdd5f", "f9d0d9b18a",
    "fb96c27642", "fc3086f6d1", "fc9b6fb46c", "ff3ab0eace", "ff5ae7e8d2",
})  # fmt: skip


class WordListMissing(CuaError, RuntimeError):
    """The dictionary file is absent or holds no usable word."""


@functools.cache
def word_list() -> tuple[str, ...]:
    """Return the usable words, sorted, read once per process."""
    try:
        text = WORDS_FILE.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise WordListMissing(
            f"the word list {WORDS_FILE} cannot be read ({exc.strerror}): install Debian's "
            f"'{DEBIAN_PACKAGE}' package (scripts/setup_system.sh does)"
        ) from exc
    found = sorted({w for w in text.split() if _WORD.match(w) and not _offensive(w)})
    if not found:
        raise WordListMissing(
            f"{WORDS_FILE} holds no lower-case word of 3-9 letters: reinstall '{DEBIAN_PACKAGE}'"
        )
    return tuple(found)


def _offensive(word: str) -> bool:
    return hashlib.sha256(word.encode()).hexdigest()[:10] in _LEFT_OUT


def words(rng: random.Random, n: int) -> list[str]:
    """Return ``n`` words drawn from the list with ``rng`` (repeats possible)."""
    if n < 0:
        raise ValueError(f"words: n must be 0 or more, not {n}")
    pool = word_list()
    return [pool[rng.randrange(len(pool))] for _ in range(n)]


def file_stem(rng: random.Random) -> str:
    """Return a random file-name stem: one or two words joined by '-' or '_', sometimes a number."""
    parts = words(rng, rng.choice((1, 2)))
    stem = rng.choice(("-", "_")).join(parts)
    if rng.random() < 0.3:
        stem += str(rng.randint(1, 99))
    return stem
