"""Wrong outcomes made by hand for the galculator and Chromium families: each must fail.

Each test starts a built-in task, drives the real application into a state an agent could reach
(the right display by the wrong method, a forged page title, the right country selected but not
saved...) through the GUI, and validates with the inputs it sent, as an agent's run is judged.
The reason must name the real problem. The routes that must pass (keyboard entry, keyboard
navigation) are the families' ``alternates``, proven by tests/cua/tasks/test_proofs.py.

The galculator and Chromium tests are two xdist groups, so under ``-n 2`` each application gets
a worker (and a sandbox) of its own.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from cua.tasks import prove
from cua.tasks.builtin import find_family, find_task
from cua.tasks.errors import Where
from cua.tasks.oracle import OracleRun, OracleRunner, parse_steps
from cua.tasks.params import HOME
from cua.tasks.runner import start, validate
from cua.tasks.spec import TaskSpec
from cua.tasks.validators import ValidatorVerdict
from sandbox import XvfbSandbox

pytestmark = [pytest.mark.x11, pytest.mark.timeout(180)]
GALCULATOR = pytest.mark.xdist_group("fooling-galculator")


def begin(sb: XvfbSandbox, task_id: str) -> TaskSpec:
    """Start the built-in task ``task_id`` afresh on ``sb``."""
    task = find_task(task_id)[1]
    start(sb, task)
    return task


def drive(sb: XvfbSandbox, steps: list[dict[str, Any]]) -> OracleRun:
    """Carry out oracle-style ``steps`` (task-file form) through the GUI, recording the inputs."""
    return OracleRunner(sb).run(parse_steps(steps, Where("test")))


def judged(sb: XvfbSandbox, task: TaskSpec, *runs: OracleRun) -> ValidatorVerdict:
    """Validate ``task`` with the inputs of ``runs`` (in order), as an agent's run is judged."""
    return validate(sb, task, trajectory=[m for run in runs for m in run.moves])


def failed(verdict: ValidatorVerdict, *words: str) -> str:
    """Assert the verdict fails and its failing reasons mention every one of ``words``."""
    assert not verdict.passed, "\n".join(verdict.reasons)
    bad = "\n".join(r for r in verdict.reasons if not r.startswith("PASS"))
    for word in words:
        assert word in bad, f"{word!r} not in the failing reasons:\n{bad}"
    return bad


def clicks(*names: str) -> list[dict[str, Any]]:
    """Clicks on galculator's buttons by name."""
    return [{"click": {"role": "toggle button", "name": n}} for n in names]


def keys(text: str) -> list[dict[str, Any]]:
    """Typing ``text`` one key per step (galculator drops the second of two equal keys in a burst)."""
    return [{"type": ch} for ch in text]


def shows(text: str) -> dict[str, Any]:
    """An oracle step that waits for galculator's display to show ``text``."""
    return {"wait_for": {"node": {"role": "text", "text": text}}}


# -- galculator ----------------------------------------------------------------------------------
@GALCULATOR
def test_press_digit_display_reached_by_arithmetic_fails(sb: XvfbSandbox) -> None:
    # '3 + 4 =' shows 7 without a press of 7: the display alone is not the task.
    task = begin(sb, "galculator.press-digit/0")
    d = int(task.params["d"])
    x = next(x for x in range(10, 100) if str(d) not in f"{x}{x - d}")
    run = drive(sb, [*clicks(*str(x), "-", *str(x - d), "="), shows(str(d))])
    failed(judged(sb, task, run), f"no '{d}'")


@GALCULATOR
def test_press_digit_then_another_digit_fails(sb: XvfbSandbox) -> None:
    task = begin(sb, "galculator.press-digit/0")
    d, other = int(task.params["d"]), int(task.params["other"])
    run = drive(sb, [*clicks(str(d), str(other)), shows(f"{d}{other}")])
    failed(judged(sb, task, run), f"it is '{d}{other}'")


@GALCULATOR
def test_sqrt_answer_typed_fails(sb: XvfbSandbox) -> None:
    task = begin(sb, "galculator.sqrt/0")
    n = str(task.params["n"])
    run = drive(sb, [*keys(n), shows(n)])
    failed(judged(sb, task, run), "no ")


@GALCULATOR
def test_sqrt_square_entered_cleared_and_answer_clicked_fails(sb: XvfbSandbox) -> None:
    task = begin(sb, "galculator.sqrt/0")
    n, sq = str(task.params["n"]), str(task.params["sq"])
    run = drive(sb, [*clicks(*sq), shows(sq), *clicks("C"), shows("0"), *clicks(*n), shows(n)])
    failed(judged(sb, task, run), "no 'sqrt'")


@GALCULATOR
def test_add_answer_clicked_fails(sb: XvfbSandbox) -> None:
    # The known false positive of galculator.add/0: the digits of the sum clicked, never added.
    task = begin(sb, "galculator.add/0")
    total = str(task.params["total"])
    run = drive(sb, [*clicks(*total), shows(total)])
    failed(judged(sb, task, run), "the inputs press")


@GALCULATOR
def test_add_answer_typed_fails(sb: XvfbSandbox) -> None:
    task = begin(sb, "galculator.add/0")
    total = str(task.params["total"])
    run = drive(sb, [*keys(total), shows(total)])
    failed(judged(sb, task, run), "the inputs press")


@GALCULATOR
def test_add_computed_then_display_changed_fails(sb: XvfbSandbox) -> None:
    # The sum computed, then another number keyed over it: the method is there, the outcome not.
    task = begin(sb, "galculator.add/0")
    a, b, total = (str(task.params[k]) for k in ("a", "b", "total"))
    run = drive(sb, [*clicks(*a, "+", *b, "="), shows(total), *clicks("5"), shows("5")])
    failed(judged(sb, task, run), "text equals")


@GALCULATOR
def test_sum_times_answer_clicked_fails(sb: XvfbSandbox) -> None:
    task = begin(sb, "galculator.sum-times/0")
    result = str(task.params["result"])
    run = drive(sb, [*clicks(*result), shows(result)])
    failed(judged(sb, task, run), "the inputs press")


@GALCULATOR
def test_sum_times_brackets_around_the_product_fails(sb: XvfbSandbox) -> None:
    # a + (b x c): brackets and operators pressed, in the wrong place.
    task = begin(sb, "galculator.sum-times/0")
    a, b, c = (str(task.params[k]) for k in ("a", "b", "c"))
    plain = str(task.params["plain"])
    run = drive(sb, [*clicks(*a, "+", "(", *b, "*", *c, ")", "="), shows(plain)])
    failed(judged(sb, task, run), f"it is '{plain}'")


# -- chromium ------------------------------------------------------------------------------------
ADDRESS_BAR = {"role": "entry", "name": "Address and search bar"}


def go_to(address: str, until: dict[str, Any]) -> list[dict[str, Any]]:
    """Steps that type ``address`` into the address bar and open it."""
    return [
        {"key": "ctrl+l", "until": {"node": {**ADDRESS_BAR, "states": ["focused"]}}},
        {"type": address},
        {"key": "Return", "until": until},
    ]


def forged(title: str, page: str) -> list[dict[str, Any]]:
    """Steps that open a data: page titled ``title`` (no form, no file) in place of ``page``.

    Where the sandbox's Chromium policy blocks data: URLs, the tab shows the block page instead
    (a document named after the URL): the validator must fail either way.
    """
    gone = {"gone": {"role": "document web", "name": page}}
    return go_to(f"data:text/html,<title>{title}</title>", gone)


@pytest.mark.parametrize(
    ("task_id", "title"),
    [
        ("chromium.click-link/0", "${label}"),
        ("chromium.fill-form/0", "Sent: ${name} (subscribed)"),
        ("chromium.select-option/1", "Saved: ${country}"),
        ("chromium.open-address/0", "${page} - Notes"),
        ("chromium.radio-choice/0", "Applied: ${theme}, ${size}"),
    ],
    ids=["click-link", "fill-form", "select-option", "open-address", "radio-choice"],
)
@pytest.mark.xdist_group("fooling-chromium")
@pytest.mark.slow
def test_title_forged_by_a_data_url_fails(sb: XvfbSandbox, task_id: str, title: str) -> None:
    # A document named like the result, from data:text/html,<title>...</title>: no form, no file.
    task = begin(sb, task_id)
    for key, value in task.params.items():
        title = title.replace("${" + key + "}", str(value))
    page = next(n.name for n in sb.observe(a11y=True).a11y or () if n.role == "document web")
    run = drive(sb, forged(title, page))
    failed(judged(sb, task, run), "Address and search bar")


@pytest.mark.xdist_group("fooling-chromium")
@pytest.mark.slow
def test_click_link_typed_address_fails(sb: XvfbSandbox) -> None:
    # The same page by a typed address: the instruction says "by clicking its link".
    task = begin(sb, "chromium.click-link/0")
    label, file = task.params["label"], task.params["file"]
    run = drive(sb, go_to(f"file://{HOME}/site/{file}.html", {"title": f"^{label} - "}))
    failed(judged(sb, task, run), f"no '{label}'")


@pytest.mark.xdist_group("fooling-chromium")
@pytest.mark.slow
def test_click_link_page_in_a_second_tab_fails(sb: XvfbSandbox) -> None:
    # The link opened in a new tab (middle click), shown there, while the first tab stays Home.
    task = begin(sb, "chromium.click-link/0")
    label = task.params["label"]
    run = drive(
        sb,
        [
            {
                "click": {"role": "link", "name": label},
                "button": "middle",
                "until": {"node": {"role": "page tab", "nth": 1}},
            },
            {"key": "ctrl+Tab", "until": {"title": f"^{label} - "}},
        ],
    )
    failed(judged(sb, task, run), "page tab #1")


@pytest.mark.xdist_group("fooling-chromium")
@pytest.mark.slow
def test_fill_form_name_edited_after_sending_fails(sb: XvfbSandbox) -> None:
    task = begin(sb, "chromium.fill-form/0")
    assert task.oracle is not None
    solved = OracleRunner(sb).run(task.oracle)
    run = drive(sb, [{"click": {"role": "entry", "name": "Full name"}}, {"key": "End"}, {"type": "x"}])
    failed(judged(sb, task, solved, run), "entry 'Full name' text equals")


@pytest.mark.xdist_group("fooling-chromium")
@pytest.mark.slow
def test_fill_form_ticked_after_sending_fails(sb: XvfbSandbox) -> None:
    task = begin(sb, "chromium.fill-form/0")
    box = {"role": "check box", "name": "Subscribe to newsletter"}
    run = drive(
        sb,
        [
            {"click": {"role": "entry", "name": "Full name"}},
            {"type": task.params["name"]},
            {"click": {"role": "push button", "name": "Send"}, "until": {"title": "^Sent: "}},
            {"click": box, "until": {"node": {**box, "states": ["checked"]}}},
        ],
    )
    failed(judged(sb, task, run), "document web 'Sent: ")


SELECT = {"role": "combo box", "name": "Shipping country"}


def choose(country: str) -> list[dict[str, Any]]:
    """Steps that pick ``country`` in the shipping page's drop-down list."""
    return [
        {"click": SELECT, "until": {"node": {"role": "menu item", "name": country}}},
        {
            "click": {"role": "menu item", "name": country},
            "until": {"node": {"role": "paragraph", "text": f"Selected: {country}"}},
        },
    ]


SAVE = {"click": {"role": "push button", "name": "Save"}, "until": {"title": "^Saved: "}}


@pytest.mark.xdist_group("fooling-chromium")
@pytest.mark.slow
def test_select_option_title_forged_by_a_javascript_url_fails(sb: XvfbSandbox) -> None:
    # The known false positive of chromium.select-option/1: the title set by a javascript: URL
    # on the real page, the drop-down untouched. (A managed policy may block such URLs; either
    # way the page's own state is not the task's.)
    task = begin(sb, "chromium.select-option/1")
    country = task.params["country"]
    run = drive(
        sb,
        [
            {"key": "ctrl+l", "until": {"node": {**ADDRESS_BAR, "states": ["focused"]}}},
            {"type": f"javascript:document.title='Saved: {country}'"},
            {"key": "Return"},
        ],
    )
    time.sleep(1.0)  # the title changes at once where such URLs run; nothing changes where not
    failed(judged(sb, task, run), f"Selected: {country}")


@pytest.mark.xdist_group("fooling-chromium")
@pytest.mark.slow
def test_select_option_lookalike_page_fails(sb: XvfbSandbox) -> None:
    # A page made up to look saved (its title, a drop-down of that name, the 'Selected' line),
    # opened from another file: not the shop's page (and a file written beside the task).
    task = begin(sb, "chromium.select-option/0")
    country = task.params["country"]
    sb.write_file(
        "fake.html",
        (
            f"<html><head><title>Saved: {country}</title></head><body><label>Shipping country "
            f"<select><option>{country}</option></select></label><p>Selected: {country}</p>"
            "</body></html>"
        ).encode(),
    )
    run = drive(sb, go_to(f"file://{HOME}/fake.html", {"title": f"^Saved: {country} - "}))
    failed(judged(sb, task, run), "Address and search bar", "fake.html")


@pytest.mark.xdist_group("fooling-chromium")
@pytest.mark.slow
def test_select_option_chosen_but_not_saved_fails(sb: XvfbSandbox) -> None:
    task = begin(sb, "chromium.select-option/0")
    run = drive(sb, choose(task.params["country"]))
    failed(judged(sb, task, run), "document web 'Saved: ")


@pytest.mark.xdist_group("fooling-chromium")
@pytest.mark.slow
def test_select_option_saved_then_changed_fails(sb: XvfbSandbox) -> None:
    task = begin(sb, "chromium.select-option/0")
    run = drive(sb, [*choose(task.params["country"]), SAVE, *choose(task.params["other"])])
    failed(judged(sb, task, run), f"Selected: {task.params['country']}")


@pytest.mark.xdist_group("fooling-chromium")
@pytest.mark.slow
def test_open_address_in_a_second_tab_fails(sb: XvfbSandbox) -> None:
    # The page typed into a new tab's address bar: it shows, but the first tab still shows Notes.
    task = begin(sb, "chromium.open-address/0")
    page = task.params["page"]
    run = drive(
        sb,
        [
            {"key": "ctrl+t", "until": {"node": {"role": "page tab", "nth": 1}}},
            *go_to(f"file://{HOME}/notes/{page}.html", {"title": f"^{page} - Notes"}),
        ],
    )
    failed(judged(sb, task, run), "page tab #1")


@pytest.mark.xdist_group("fooling-chromium")
@pytest.mark.slow
def test_open_address_typed_but_not_entered_fails(sb: XvfbSandbox) -> None:
    task = begin(sb, "chromium.open-address/0")
    run = drive(sb, go_to(f"file://{HOME}/notes/{task.params['page']}.html", {"title": "^Notes"})[:2])
    failed(judged(sb, task, run), "document web")


RADIO = "radio button"


def pick(name: str) -> dict[str, Any]:
    """A click on the radio button ``name``, until it is checked."""
    checked = {"role": RADIO, "name": name, "states": ["checked"]}
    return {
        "click": {"role": RADIO, "name": name},
        "until": {"node": checked},
    }


APPLY = {"click": {"role": "push button", "name": "Apply"}, "until": {"title": "^Applied: "}}


@pytest.mark.xdist_group("fooling-chromium")
@pytest.mark.slow
def test_radio_choice_changed_after_applying_fails(sb: XvfbSandbox) -> None:
    task = begin(sb, "chromium.radio-choice/0")
    p = task.params
    run = drive(sb, [pick(p["theme"]), pick(p["size"]), APPLY, pick(p["other_theme"])])
    failed(judged(sb, task, run), f"radio button '{p['theme']}' state: it is not checked")


@pytest.mark.xdist_group("fooling-chromium")
@pytest.mark.slow
def test_radio_choice_other_group_left_at_default_fails(sb: XvfbSandbox) -> None:
    task = begin(sb, "chromium.radio-choice/0")
    p = task.params
    run = drive(sb, [pick(p["theme"]), APPLY])
    failed(judged(sb, task, run), f"radio button '{p['size']}' state: it is not checked")


# -- the alternates, once here too (test_proofs proves them with the rest) -------------------------
@GALCULATOR
def test_galculator_add_keyboard_route_passes(sb: XvfbSandbox) -> None:
    proof = prove(sb, find_family("galculator.add"), 0, near_misses=False)
    assert proof.alternates and all(v.passed for v in proof.alternates.values()), proof.report()
