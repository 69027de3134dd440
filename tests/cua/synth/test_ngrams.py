"""Synthesized instructions share no five words in a row with any built-in instruction or paraphrase.

The phrasings live in cua/synth/grammar.yaml; every instruction synthesis writes is one of them
with values (names, numbers, paths) filled in. Masking the values leaves the phrasing, so the
phrasings (alone and as the file template with its clauses) are compared with every built-in
family's instruction and paraphrases, both as templates and as rendered instances.
"""

from __future__ import annotations

import itertools
import re

from cua.synth.derive import grammar
from cua.tasks import builtin_families

MASK = "\x00"
N = 5


def words(text: str) -> list[str]:
    """Lower-case words; a masked value (a ${placeholder} or a quoted value) is one MASK word."""
    text = re.sub(r"\$\{\w+\}|'[^']*'", f" {MASK} ", text)
    return re.findall(rf"[a-z0-9]+|{MASK}", text.lower())


def grams(text: str) -> set[tuple[str, ...]]:
    w = words(text)
    return {g for g in zip(*(w[i:] for i in range(N)), strict=False) if MASK not in g}


def synthesized_phrasings() -> list[str]:
    g = grammar()
    out = [p for kind, phrases in g.items() if kind not in ("files", "clauses") for p in phrases]
    clauses = [c for v in g["clauses"].values() for c in ([v] if isinstance(v, str) else v)]
    for template in g["files"]:
        for a, b in itertools.product(clauses, repeat=2):
            out.append(template.replace("${clauses}", f"{a}, {b}"))
    # A sent form's instruction joins its clauses: ", " between, " and " before the last.
    form = [c for k, v in g["clauses"].items() if k.startswith("form_send_") for c in v]
    for template in g["goal/form-send"]:
        for a, b in itertools.product(form, repeat=2):
            out += [template.replace("${fields}", f"{a}, {b}"), template.replace("${fields}", f"{a} and {b}")]
    return out


def builtin_texts() -> list[str]:
    texts = []
    for family in builtin_families():
        body = family.body
        texts.append(str(body["instruction"]))
        texts += [str(p) for p in body.get("paraphrases", [])]
        for task in family.tasks():
            texts += [task.instruction, *task.paraphrases]
    return texts


def test_no_synthesized_phrasing_shares_a_five_gram_with_a_builtin_instruction() -> None:
    builtin = set().union(*(grams(t) for t in builtin_texts()))
    assert len(builtin) > 500  # the comparison is not vacuous
    shared = {(p, " ".join(g)) for p in synthesized_phrasings() for g in grams(p) & builtin}
    assert not shared, sorted(shared)[:10]


def test_the_masking_keeps_the_phrasing_and_drops_the_values() -> None:
    assert words("Get the ${control} in ${app} to show '42'.") == [
        "get",
        "the",
        MASK,
        "in",
        MASK,
        "to",
        "show",
        MASK,
    ]
    assert grams("make the display show the number") == {
        ("make", "the", "display", "show", "the"),
        ("the", "display", "show", "the", "number"),
    }
