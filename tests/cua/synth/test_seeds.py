"""Seed states and the word list: one seed per profile, deterministic, varied, and real in the app.

The first tests need no display: every built-in profile has a generator, a seed is a function of
its random seed only, different seeds give different states, the pages and tables are well formed,
and nothing here loads the built-in task suites. The rest start seed tasks in one real
XvfbSandbox (``cua.tasks.runner.start``, as exploration does) and read what the application shows:
the file's text in the editors, the item count in the file manager, the workbook's cells, the
page's form in Chromium, the number on galculator's display.
"""

from __future__ import annotations

import csv
import importlib
import io
import random
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cua.synth.derive import setup_json
from cua.synth.seeds import GALCULATOR_SETTINGS, SEEDED_APPS, UnknownSeedApp, seed_setup, seed_task
from cua.synth.words import WordListMissing, file_stem, word_list, words
from cua.tasks.runner import start
from cua.tasks.spec import LaunchStep, SetupItem, TaskSpec, WaitWindowStep, parse_document
from cua.tasks.validators.files import FileExists
from sandbox import A11yNode, XvfbSandbox
from sandbox.profile import BUILTIN_DIR, RunCommand, WriteFile

REPO = Path(__file__).resolve().parents[3]
words_module = importlib.import_module("cua.synth.words")  # the package exports a function of that name
SEEDS = range(12)
DEADLINE_S = 15.0


def written(setup: tuple[SetupItem, ...]) -> dict[str, str]:
    """Return the files a setup writes: HOME-relative path -> text."""
    return {s.path: s.content.decode() for s in setup if isinstance(s, WriteFile)}


def launched(setup: tuple[SetupItem, ...]) -> tuple[str, ...]:
    return next((s.args for s in setup if isinstance(s, LaunchStep)), ())


# -- the word list --------------------------------------------------------------------------------


def test_word_list_is_plain_short_lower_case_words() -> None:
    pool = word_list()
    assert len(pool) > 20_000
    assert all(re.fullmatch(r"[a-z]{3,9}", w) for w in pool)
    assert word_list() is pool, "loaded once"
    assert words(random.Random(4), 6) == words(random.Random(4), 6)
    assert len(set(words(random.Random(5), 50))) > 40
    stems = {file_stem(random.Random(i)) for i in range(30)}
    assert len(stems) > 25 and all(re.fullmatch(r"[a-z]+([-_][a-z]+)?\d*", s) for s in stems), stems


def test_a_missing_word_list_names_the_debian_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(words_module, "WORDS_FILE", tmp_path / "american-english")
    word_list.cache_clear()
    try:
        with pytest.raises(WordListMissing, match="wamerican"):
            word_list()
        (tmp_path / "american-english").write_text("Apple\nit's\nx\n")
        with pytest.raises(WordListMissing, match="no lower-case word"):
            word_list()
    finally:
        word_list.cache_clear()
    with pytest.raises(ValueError, match="n must be 0 or more"):
        words(random.Random(0), -1)


# -- seeds without a display ----------------------------------------------------------------------


def test_every_builtin_profile_has_a_seed() -> None:
    profiles = {p.stem for p in BUILTIN_DIR.glob("*.toml")}
    assert profiles == set(SEEDED_APPS), profiles ^ set(SEEDED_APPS)
    with pytest.raises(UnknownSeedApp, match=r"no seed-state generator for application 'gedit'.*mousepad"):
        seed_setup("gedit", random.Random(0))


@pytest.mark.parametrize("app", SEEDED_APPS)
def test_a_seed_is_deterministic_and_seeds_vary(app: str) -> None:
    states = [seed_setup(app, random.Random(s)) for s in SEEDS]
    assert states == [seed_setup(app, random.Random(s)) for s in SEEDS]
    assert len(set(states)) == len(states), f"{app}: two seeds gave the same state"
    names = {frozenset(written(state)) for state in states}
    assert len(names) == len(states), f"{app}: the files' names do not vary"
    assert all(written(state) for state in states), f"{app}: a seed writes at least one file"


@pytest.mark.parametrize("app", SEEDED_APPS)
def test_a_seed_task_checks_a_file_the_seed_wrote(app: str) -> None:
    task = seed_task(app, random.Random(9), 3)
    assert task.app == app and task.id == f"seed.{app}/3" and task.tags == ("seed",)
    assert task.setup == seed_setup(app, random.Random(9))
    assert isinstance(task.validator, FileExists) and task.validator.path in written(task.setup)
    pre, _ = task.sandbox_setup()
    assert all(isinstance(s, WriteFile | RunCommand) for s in pre)


@pytest.mark.parametrize("app", SEEDED_APPS)
def test_a_seed_survives_the_task_file_form(app: str) -> None:
    # A synthesized task carries its seed's setup in its task file: it must load back unchanged.
    task = seed_task(app, random.Random(2), 0)
    doc = {
        "id": "seed-copy",
        "app": app,
        "difficulty": 1,
        "instruction": task.instruction,
        "setup": setup_json(task.setup),
        "validator": task.validator.data(),
    }
    back = parse_document(doc)[0].instance(0)
    assert back.setup == task.setup and back.validator == task.validator


def test_editors_open_files_the_seed_wrote_or_a_new_document() -> None:
    for app in ("mousepad", "geany"):
        untitled = 0
        for s in SEEDS:
            setup = seed_setup(app, random.Random(s))
            files = written(setup)
            args = launched(setup)
            wait = next(x for x in setup if isinstance(x, WaitWindowStep))
            if not args:  # a new document: the window's title says so
                untitled += 1
                assert re.search(wait.title, "Untitled 1 - Mousepad")
                assert not re.search(wait.title, "notes.txt")
                continue
            assert all(a.removeprefix("/home/user/") in files for a in args), (app, args)
            assert any(re.search(wait.title, a.rsplit("/", 1)[-1]) for a in args)
        assert 0 < untitled < len(SEEDS), (app, untitled)


def test_spreadsheet_seeds_are_rectangular_tables_converted_in_the_sandbox() -> None:
    for app, suffix in (("gnumeric", ".gnumeric"), ("libreoffice-calc", ".ods")):
        for s in SEEDS:
            setup = seed_setup(app, random.Random(s))
            first = setup[0]
            assert isinstance(first, WriteFile) and first.path.endswith(".csv")
            rows = list(csv.reader(io.StringIO(first.content.decode())))
            assert 4 <= len(rows) <= 8 and len({len(r) for r in rows}) == 1 and len(rows[0]) >= 2
            assert all(re.fullmatch(r"-?\d+(\.\d\d)?", v) for row in rows[1:] for v in row[1:])
            convert = setup[1]
            assert isinstance(convert, RunCommand) and "ssconvert" in " ".join(convert.argv)
            assert launched(setup)[0].endswith(suffix)


def test_chromium_pages_have_forms_and_links_that_resolve() -> None:
    for s in SEEDS:
        setup = seed_setup("chromium", random.Random(s))
        files = written(setup)
        (url,) = launched(setup)
        first = url.removeprefix("file:///home/user/")
        assert first in files and len(files) >= 2
        page = files[first]
        for tag in ('type="text"', "<select", 'type="radio"', 'type="checkbox"', "<button"):
            assert tag in page, (s, tag)
        folder = first.rsplit("/", 1)[0]
        for name, text in files.items():
            for href in re.findall(r'href="([^"]+)"', text):
                assert f"{folder}/{href}" in files, (name, href)
        assert any(re.findall(r'href="([^"]+)"', files[first]))


def test_seeds_never_load_the_builtin_suites() -> None:
    code = (
        "import random, sys\n"
        "from cua.synth.seeds import SEEDED_APPS, seed_task\n"
        "[seed_task(a, random.Random(1), 0) for a in SEEDED_APPS]\n"
        "bad = [m for m in sys.modules if m.startswith(('cua.tasks.builtin', 'cua.tasks.suites'))]\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


# -- seeds in a real sandbox ----------------------------------------------------------------------


def poll(sb: XvfbSandbox, what: str, test: Callable[[tuple[A11yNode, ...]], bool]) -> tuple[A11yNode, ...]:
    """Poll the accessibility tree until ``test`` holds; fail naming ``what`` otherwise."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        nodes = sb.observe(a11y=True).a11y or ()
        if test(nodes):
            return nodes
        if time.monotonic() > deadline:
            seen = sorted({f"{n.role}:{n.name}:{n.text[:30]}" for n in nodes})[:80]
            pytest.fail(f"{what} not shown within {DEADLINE_S} s; the tree has {seen}")
        time.sleep(0.1)


def started(sb: XvfbSandbox, app: str, seed: int) -> TaskSpec:
    task = seed_task(app, random.Random(seed), seed)
    start(sb, task)
    removed = " ".join(" ".join(s.argv) for s in task.setup if isinstance(s, RunCommand))
    for path in written(task.setup):
        if f"rm /home/user/{path}" in removed:
            assert not sb.exec(["test", "-e", f"/home/user/{path}"]).ok, f"{app}: {path} was not removed"
            continue
        assert sb.exec(["test", "-f", f"/home/user/{path}"]).ok, f"{app}: {path} is missing"
    return task


@pytest.mark.x11
@pytest.mark.parametrize("seed", [1, 2])
def test_mousepad_shows_the_seeded_file(sb: XvfbSandbox, seed: int) -> None:
    task = started(sb, "mousepad", seed)
    text = written(task.setup)[launched(task.setup)[0].removeprefix("/home/user/")]
    poll(sb, "the seeded text", lambda ns: any(n.role == "text" and n.text == text for n in ns))


@pytest.mark.x11
def test_geany_shows_a_tab_per_seeded_file(sb: XvfbSandbox) -> None:
    seed = next(s for s in SEEDS if len(launched(seed_setup("geany", random.Random(s)))) > 1)
    task = started(sb, "geany", seed)
    names = [a.rsplit("/", 1)[-1] for a in launched(task.setup)]
    texts = {written(task.setup)[a.removeprefix("/home/user/")] for a in launched(task.setup)}
    nodes = poll(sb, "a tab per file", lambda ns: {n.name for n in ns if n.role == "page tab"} >= set(names))
    assert any(n.role == "text" and n.text in texts for n in nodes)


@pytest.mark.x11
def test_pcmanfm_lists_the_seeded_files_and_folders(sb: XvfbSandbox) -> None:
    task = started(sb, "pcmanfm", 3)
    top = {p.split("/")[0] for p in written(task.setup)}
    top |= {s.argv[-1].rsplit("/", 1)[-1] for s in task.setup if isinstance(s, RunCommand)}
    listed = sb.exec(["ls", "/home/user"]).text.split()
    assert sorted(listed) == sorted(top)
    poll(sb, f"'{len(top)} items'", lambda ns: any(n.text.startswith(f"{len(top)} items") for n in ns))


@pytest.mark.x11
def test_gnumeric_opens_a_workbook_of_the_seeded_table(sb: XvfbSandbox) -> None:
    task = started(sb, "gnumeric", 4)
    table = list(csv.reader(io.StringIO(next(iter(written(task.setup).values())))))
    book = launched(task.setup)[0]
    assert book.endswith(".gnumeric") and sb.exec(["test", "-s", book]).ok
    poll(
        sb,
        "A1's text in the edit line",
        lambda ns: any(n.role == "text" and n.text == table[0][0] for n in ns),
    )
    back = sb.exec(["ssconvert", "--export-type=Gnumeric_stf:stf_csv", book, "fd://1"], timeout_s=60)
    assert back.ok, back.stderr
    assert list(csv.reader(io.StringIO(back.text))) == table


@pytest.mark.x11
@pytest.mark.slow
def test_libreoffice_calc_opens_a_workbook_of_the_seeded_table(sb: XvfbSandbox) -> None:
    task = started(sb, "libreoffice-calc", 5)
    table = list(csv.reader(io.StringIO(next(iter(written(task.setup).values())))))
    cells = {f"{'ABCD'[c]}{r + 1}": v for r, row in enumerate(table) for c, v in enumerate(row)}
    nodes = poll(sb, "the cells", lambda ns: any(n.role == "table cell" and n.name == "B2" for n in ns))
    shown = {n.name: n.text for n in nodes if n.role == "table cell" and n.name in cells}
    assert shown == cells


@pytest.mark.x11
def test_chromium_shows_the_seeded_page_and_its_form(sb: XvfbSandbox) -> None:
    task = started(sb, "chromium", 6)
    page = written(task.setup)[launched(task.setup)[0].removeprefix("file:///home/user/")]
    title = re.search(r"<title>(.*?)</title>", page)
    assert title
    labels = re.findall(r'<label for="[^"]+">([^<]+)</label>', page)
    radios = re.findall(r'type="radio" name="[^"]+" value="([^"]+)"', page)
    nodes = poll(
        sb, "the page heading", lambda ns: any(n.role == "heading" and n.name == title[1] for n in ns)
    )
    fields = {n.name for n in nodes if n.role in ("entry", "combo box")}
    assert set(labels) - fields <= {lab for lab in labels if f'<textarea id="{lab.lower()}"' in page}, fields
    assert set(radios) <= {n.name for n in nodes if n.role == "radio button"}
    assert any(n.role == "link" for n in nodes)
    assert (sb.observe().window_title or "").startswith(title[1])


@pytest.mark.x11
def test_galculator_shows_the_seeded_number(sb: XvfbSandbox) -> None:
    task = started(sb, "galculator", 7)
    settings = written(task.setup)[GALCULATOR_SETTINGS]
    value = re.search(r'remembered_valuex="([0-9.]+)"', settings)
    assert value
    poll(
        sb,
        f"{value[1]} on the display",
        lambda ns: any(n.role == "text" and n.text.split("\n")[0] == value[1] for n in ns),
    )


@pytest.mark.x11
def test_xterm_starts_in_home_with_the_seeded_files(sb: XvfbSandbox) -> None:
    task = started(sb, "xterm", 8)
    assert sb.observe().app_running
    assert len(sb.exec(["ls", "/home/user"]).text.split()) >= len(
        {p.split("/")[0] for p in written(task.setup)}
    )
