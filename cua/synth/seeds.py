"""Seed states: varied, random starting points for exploring each application.

Exploration that always starts from the same empty window finds the same few changes. A seed
state gives each walk something different to work on: text and CSV files with random names and
contents (and a folder or two) for the editors, the terminal and the file manager; small tables
of random words and numbers for the spreadsheets, converted to each one's own format inside the
sandbox; local HTML pages with random forms and links for Chromium; a random number on
galculator's display (through its settings file).

Everything here is written from the applications themselves and the word list
(``cua.synth.words``), never from the built-in task suites, which are for evaluation only. A seed
is setup steps in the task vocabulary (``cua.tasks.spec``), so ``seed_task`` wraps it in a
``TaskSpec`` that ``cua.tasks.runner.start`` sets up like any task. A seed depends only on the
``random.Random`` it is given: the same seed gives the same state on every machine.
"""

from __future__ import annotations

import html
import random
import re
from collections.abc import Callable

from cua.errors import UsageError
from cua.synth.words import file_stem, words
from cua.tasks.params import HOME
from cua.tasks.spec import LaunchStep, SetupItem, TaskSpec, WaitWindowStep
from cua.tasks.validators.files import FileExists
from sandbox.profile import RunCommand, WriteFile

GALCULATOR_SETTINGS = ".config/galculator/galculator.conf"


class UnknownSeedApp(UsageError, ValueError):
    """No seed-state generator exists for the application asked for."""


class _Names:
    """Draws file-name stems that differ from every stem drawn before (per seed)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def stem(self) -> str:
        for _ in range(50):
            stem = file_stem(self.rng)
            if stem not in self.used:
                self.used.add(stem)
                return stem
        raise RuntimeError("the word list is too small to draw distinct file names")  # pragma: no cover


def _line(rng: random.Random) -> str:
    return " ".join(words(rng, rng.randint(2, 7)))


def _text(rng: random.Random) -> str:
    """Return a few lines of random words, ending with a newline."""
    return "".join(_line(rng) + "\n" for _ in range(rng.randint(2, 6)))


def _number(rng: random.Random) -> str:
    """Return a random whole or two-decimal number as text, sometimes negative."""
    value = rng.randint(-50, 999) if rng.random() < 0.8 else rng.randint(0, 99_999) / 100
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def _table(rng: random.Random) -> list[list[str]]:
    """Return a small table: a header of words, then rows of a word and 1-3 numbers."""
    columns = rng.randint(2, 4)
    header = words(rng, columns)
    rows = [[words(rng, 1)[0], *(_number(rng) for _ in range(columns - 1))] for _ in range(rng.randint(3, 7))]
    return [header, *rows]


def _csv(table: list[list[str]]) -> str:
    return "".join(",".join(row) + "\n" for row in table)


def _write(path: str, text: str) -> WriteFile:
    return WriteFile(path, text.encode())


def _home_files(rng: random.Random, names: _Names) -> tuple[list[SetupItem], list[str]]:
    """Return steps writing 2-4 text/CSV files and 1-2 folders under HOME, and the text files' paths.

    A folder holds 0-2 files; an empty one is made with ``mkdir``.
    """
    steps: list[SetupItem] = []
    texts: list[str] = []
    for i in range(rng.randint(2, 4)):
        if i == 0 or rng.random() < 0.6:
            path = f"{names.stem()}.txt"
            steps.append(_write(path, _text(rng)))
            texts.append(path)
        else:
            steps.append(_write(f"{names.stem()}.csv", _csv(_table(rng))))
    for _ in range(rng.randint(1, 2)):
        folder = names.stem()
        inside = rng.randint(0, 2)
        if inside == 0:
            steps.append(RunCommand(("mkdir", "-p", f"{HOME}/{folder}")))
        for _ in range(inside):
            steps.append(_write(f"{folder}/{names.stem()}.txt", _text(rng)))
    return steps, texts


def _title_of(paths: list[str]) -> str:
    """Return a window-title regex matching any of these files' names."""
    return "|".join(re.escape(p.rsplit("/", 1)[-1]) for p in paths)


#: The share of editor seeds that open no file: the editor starts on a new, untitled document.
UNTITLED_SHARE = 1 / 3


def _editor(rng: random.Random, *, most: int) -> tuple[SetupItem, ...]:
    """Return files under HOME and the editor opened on 1..``most`` of the text files, or on none.

    Opened files give walks text to edit; an untitled document gives them a new file to write
    and save (``cua.synth.compose``'s editor goals).
    """
    names = _Names(rng)
    steps, texts = _home_files(rng, names)
    opened = rng.sample(texts, rng.randint(1, min(most, len(texts))))
    if rng.random() < UNTITLED_SHARE:  # drawn last: the other draws stay as they were
        return (*steps, LaunchStep(()), WaitWindowStep(r"(?i)\buntitled\b"))
    return (
        *steps,
        LaunchStep(tuple(f"{HOME}/{p}" for p in opened)),
        WaitWindowStep(_title_of(opened)),
    )


def _mousepad(rng: random.Random) -> tuple[SetupItem, ...]:
    return _editor(rng, most=1)


def _geany(rng: random.Random) -> tuple[SetupItem, ...]:
    return _editor(rng, most=3)


def _plain_files(rng: random.Random) -> tuple[SetupItem, ...]:
    """Return files and folders under HOME; the application starts as its profile says (in HOME)."""
    steps, _ = _home_files(rng, _Names(rng))
    return tuple(steps)


def _spreadsheet(rng: random.Random, export_type: str, suffix: str) -> tuple[SetupItem, ...]:
    """Return a random table written as CSV, converted by ``ssconvert`` to the app's format, opened.

    The CSV is deleted after the conversion half the time, so some states have it beside the
    workbook and some do not.
    """
    names = _Names(rng)
    stem = names.stem()
    csv_path, book = f"{HOME}/{stem}.csv", f"{HOME}/{stem}.{suffix}"
    convert = f"ssconvert --export-type={export_type} {csv_path} {book}"
    if rng.random() < 0.5:
        convert += f" && rm {csv_path}"
    extra, _ = _home_files(rng, names) if rng.random() < 0.5 else ([], [])
    return (
        _write(f"{stem}.csv", _csv(_table(rng))),
        RunCommand(("sh", "-c", convert)),
        *extra,
        LaunchStep((book,)),
        WaitWindowStep(re.escape(f"{stem}.{suffix}"), timeout_s=60.0),
    )


def _gnumeric(rng: random.Random) -> tuple[SetupItem, ...]:
    return _spreadsheet(rng, "Gnumeric_XmlIO:sax", "gnumeric")


def _libreoffice_calc(rng: random.Random) -> tuple[SetupItem, ...]:
    return _spreadsheet(rng, "Gnumeric_OpenCalc:odf", "ods")


def _galculator(rng: random.Random) -> tuple[SetupItem, ...]:
    """Return a notes file of numbers and a settings file that starts galculator on a random number.

    galculator shows the value its settings remember (``remembers_display``) and opens in the
    mode they name: basic mostly, scientific sometimes. Its settings are volatile in its profile,
    so they are a starting state only and never judged.
    """
    names = _Names(rng)
    notes = " ".join(_number(rng) for _ in range(rng.randint(2, 6))) + "\n"
    value = str(rng.randint(1, 99_999))
    if rng.random() < 0.3:
        value += f".{rng.randint(1, 99)}"
    mode = 1 if rng.random() < 0.3 else 0
    settings = f'[general]\nmode={mode}\nremembers_display=true\nremembered_valuex="{value}"\n'
    return (
        _write(f"{names.stem()}.txt", notes),
        _write(GALCULATOR_SETTINGS, settings),
    )


# -- Chromium: local pages -----------------------------------------------------------------------


def _field_id(names: set[str], rng: random.Random) -> str:
    while True:
        word = words(rng, 1)[0]
        if word not in names:
            names.add(word)
            return word


def _labelled(name: str, control: str) -> str:
    """Return a paragraph with a label for the control whose id is ``name``."""
    return f'<p><label for="{name}">{name.capitalize()}</label> {control}</p>'


def _form(rng: random.Random, action: str) -> str:
    """Return a form of random text inputs, a select, a radio group, check boxes and a send button.

    The button submits the form by GET to the page ``action``: the browser then shows that page
    with every control's value in the address (``page.html?field=word&group=choice&box=on``), as
    a search form or a simple sign-up page does.
    """
    ids: set[str] = set()
    parts: list[str] = []
    for _ in range(rng.randint(1, 3)):
        name = _field_id(ids, rng)
        parts.append(_labelled(name, f'<input type="text" id="{name}" name="{name}">'))
    select = _field_id(ids, rng)
    choices = dict.fromkeys(words(rng, rng.randint(3, 5)))
    options = "".join(f'<option value="{w}">{w}</option>' for w in choices)
    parts.append(_labelled(select, f'<select id="{select}" name="{select}">{options}</select>'))
    group = _field_id(ids, rng)
    radios = "".join(
        f'<label><input type="radio" name="{group}" value="{w}"> {w}</label> '
        for w in dict.fromkeys(words(rng, rng.randint(2, 4)))
    )
    parts.append(f"<fieldset><legend>{group.capitalize()}</legend>{radios}</fieldset>")
    for _ in range(rng.randint(1, 3)):
        box = _field_id(ids, rng)
        parts.append(f'<p><label><input type="checkbox" name="{box}"> {box.capitalize()}</label></p>')
    if rng.random() < 0.5:
        area = _field_id(ids, rng)
        parts.append(_labelled(area, f'<textarea id="{area}" name="{area}"></textarea>'))
    parts.append(f'<p><button type="submit">{words(rng, 1)[0].capitalize()}</button></p>')
    return f'<form action="{action}" method="get">' + "\n".join(parts) + "</form>"


def _page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>\n'
        f"<body><h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n"
    )


def _chromium(rng: random.Random) -> tuple[SetupItem, ...]:
    """Return a folder of 2-4 linked local pages, the first with a random form, opened in Chromium.

    Each form sends to the next page (the last page's to the first).
    """
    names = _Names(rng)
    folder = names.stem()
    pages = [f"{names.stem()}.html" for _ in range(rng.randint(2, 4))]
    titles = [" ".join(words(rng, rng.randint(2, 3))).capitalize() for _ in pages]
    steps: list[SetupItem] = []
    for i, (page, title) in enumerate(zip(pages, titles, strict=True)):
        links = "".join(
            f'<li><a href="{other}">{html.escape(other_title)}</a></li>'
            for j, (other, other_title) in enumerate(zip(pages, titles, strict=True))
            if j != i and (i == 0 or j == 0 or rng.random() < 0.5)
        )
        paragraph = f"<p>{_line(rng)}</p>"
        form = _form(rng, pages[(i + 1) % len(pages)]) if i == 0 or rng.random() < 0.4 else ""
        steps.append(_write(f"{folder}/{page}", _page(title, f"{paragraph}\n{form}\n<ul>{links}</ul>")))
    return (
        *steps,
        LaunchStep((f"file://{HOME}/{folder}/{pages[0]}",)),
        WaitWindowStep(re.escape(titles[0]), timeout_s=60.0),
    )


_GENERATORS: dict[str, Callable[[random.Random], tuple[SetupItem, ...]]] = {
    "chromium": _chromium,
    "galculator": _galculator,
    "geany": _geany,
    "gnumeric": _gnumeric,
    "libreoffice-calc": _libreoffice_calc,
    "mousepad": _mousepad,
    "pcmanfm": _plain_files,
    "xterm": _plain_files,
}
SEEDED_APPS: tuple[str, ...] = tuple(sorted(_GENERATORS))
"""The application profiles with a seed-state generator (every built-in profile)."""


def seed_setup(app: str, rng: random.Random) -> tuple[SetupItem, ...]:
    """Return the setup steps of a random starting state for ``app`` drawn with ``rng``."""
    generator = _GENERATORS.get(app)
    if generator is None:
        raise UnknownSeedApp(
            f"no seed-state generator for application {app!r}: the seeded applications are "
            f"{', '.join(SEEDED_APPS)} (add one to cua/synth/seeds.py for a new profile)"
        )
    return generator(rng)


def seed_task(app: str, rng: random.Random, index: int) -> TaskSpec:
    """Return a TaskSpec that starts ``app`` in a random seed state (number ``index``).

    A seed task is only a starting state for exploration, never a task to admit, train on or
    score: its validator (the first file the seed wrote exists) is there because a TaskSpec
    needs one and it reads the sandbox's real state, and it already holds when the seed starts.
    """
    setup = seed_setup(app, rng)
    first = next(s for s in setup if isinstance(s, WriteFile))
    return TaskSpec(
        id=f"seed.{app}/{index}",
        family=f"seed.{app}",
        instruction=f"Explore {app}.",
        app=app,
        setup=setup,
        validator=FileExists(first.path),
        tags=("seed",),
        index=index,
    )
