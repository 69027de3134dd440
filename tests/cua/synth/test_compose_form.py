"""Web form goals (set some controls, send the form) read from the seed's page: proven, hard to fool."""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Iterator
from typing import Any

import pytest

from cua.synth.admit import admit
from cua.synth.compose import compose
from cua.synth.derive import Candidate
from cua.synth.seeds import seed_task
from cua.synth.state import NodeKey, NodeValue, Snapshot, snapshot
from cua.synth.walk import Walk
from cua.synth.webform import shown_form
from cua.tasks.runner import start, volatile_paths
from cua.tasks.spec import LaunchStep, TaskSpec
from sandbox.profile import WriteFile
from sandbox.xvfb import XvfbSandbox
from tests.cua.synth.outcomes import judged

PAGE = """<!DOCTYPE html><html><head><title>Order desk</title></head><body>
<form action="done.html" method="get">
<p><label for="nick">Nick</label> <input type="text" id="nick" name="nick"></p>
<p><label for="size">Size</label> <select id="size" name="size"><option value="small">small</option>
<option value="large">large</option></select></p>
<fieldset><legend>Tone</legend><label><input type="radio" name="tone" value="calm"> calm</label>
<label><input type="radio" name="tone" value="loud"> loud</label></fieldset>
<p><label><input type="checkbox" name="news"> News</label></p>
<p><button type="submit">Order</button></p></form></body></html>"""
DONE = "<!DOCTYPE html><html><head><title>Thanks &amp; more</title></head><body>ok</body></html>"
SETUP = (
    WriteFile("shop/index.html", PAGE.encode()),
    WriteFile("shop/done.html", DONE.encode()),
    LaunchStep(("file:///home/user/shop/index.html",)),
)
VISIBLE = frozenset({("entry", "Nick"), ("combo box", "Size"), ("radio button", "calm"),
                     ("radio button", "loud"), ("check box", "News"), ("push button", "Order")})  # fmt: skip
ADDRESS = NodeKey("entry", "Address and search bar", 0)


def page_start(
    address: str = "/home/user/shop/index.html", visible: frozenset[tuple[str, str]] = VISIBLE
) -> Snapshot:
    return Snapshot({ADDRESS: NodeValue(address, frozenset())}, "Order desk - Chromium", None, visible)


def drawn(start: Snapshot, setup: Any = SETUP, draws: int = 30) -> list[Candidate]:
    return [
        c
        for i in range(draws)
        for c in compose(Walk(start, [], "done"), "chromium", setup, {}, random.Random(i))
    ]


def test_the_form_is_read_from_the_page_the_setup_wrote_and_the_browser_shows() -> None:
    form = shown_form(page_start(), SETUP)
    assert form is not None
    assert (form.page, form.action, form.landing_title, form.button) == (
        "shop/index.html", "shop/done.html", "Thanks & more", "Order")  # fmt: skip
    assert [(c.kind, c.name, c.label) for c in form.controls] == [
        ("text", "nick", "Nick"), ("select", "size", "Size"), ("radio", "tone", "calm"),
        ("radio", "tone", "loud"), ("checkbox", "news", "News")]  # fmt: skip
    assert form.controls[1].options == ["small", "large"]
    # Another page in the address bar, a button not on screen, or a preset control: no form goal.
    assert shown_form(page_start("/home/user/shop/done.html"), SETUP) is None
    assert shown_form(page_start(visible=VISIBLE - {("push button", "Order")}), SETUP) is None
    preset = (
        WriteFile("shop/index.html", PAGE.replace('value="loud"', 'value="loud" checked').encode()),
        *SETUP[1:],
    )
    assert shown_form(page_start(), preset) is None


def test_a_form_goal_demonstrates_each_control_it_names_and_expects_the_query_sent() -> None:
    cands = drawn(page_start())
    assert cands and {c.kind for c in cands} == {"goal/form-send"}
    for c in cands:
        doc = c.document
        address, title = doc["validator"]["all"]
        assert title == {"window_title": {"matches": r"Thanks\ \&\ more( - .*)?"}}
        landing = address["a11y"]["text_equals"]
        assert landing.startswith("/home/user/shop/done.html?nick=") and address["a11y"]["not_states"] == [
            "focused"
        ]
        query = dict(p.split("=") for p in landing.split("?")[1].split("&"))
        oracle = doc["oracle"]
        clicked = [s["click"]["name"] for s in oracle if "click" in s]
        assert clicked[-1] == "Order" and "'Order'" in doc["instruction"]
        if query["nick"]:
            assert {"type": query["nick"]} in oracle and f"'{query['nick']}'" in doc["instruction"]
        assert (query["size"] == "large") == ("large" in clicked)  # the list opened only to change it
        assert ("tone" in query) == ("calm" in clicked or "loud" in clicked)
        assert ("news" in query) == ("News" in clicked)
        # Every control the instruction names is in the query, and nothing it leaves alone changed.
        for name in re.findall(r"'([^']+)'", doc["instruction"]):
            assert name in ("Nick", "Size", "Order", "News") or name in query.values(), name
        assert sum(1 for s in oracle if "click" in s) >= 3  # two controls at least, then the button
    assert len({c.validator_key for c in cands}) > 5


@pytest.fixture(scope="module")
def browser() -> Iterator[tuple[XvfbSandbox, TaskSpec, Candidate]]:
    seed = seed_task("chromium", random.Random("form-goals"), 0)
    with XvfbSandbox() as sb:
        start(sb, seed)
        at = snapshot(sb, volatile_paths(seed))
        # A goal that uses the list, a radio button and a check box, when the draws give one.
        cands = drawn(at, seed.setup)
        assert cands, at.title
        rich = max(
            cands, key=lambda c: len({s["click"]["role"] for s in c.document["oracle"] if "click" in s})
        )
        yield sb, seed, rich


@pytest.mark.x11
def test_a_form_goal_is_proven_in_chromium_by_its_demonstration(
    browser: tuple[XvfbSandbox, TaskSpec, Candidate],
) -> None:
    sb, _, cand = browser
    report = admit(sb, [cand], random.Random(1), random_actions=3)
    (d,) = report.decisions
    assert d.admitted and d.proven, d.reason


def run(sb: XvfbSandbox, cand: Candidate, steps: list[dict[str, Any]]) -> bool:
    doc = copy.deepcopy(cand.document)
    doc["oracle"] = steps
    return judged(sb, doc, run=True)


@pytest.mark.x11
def test_a_form_goal_fails_wrong_submissions_and_passes_another_route(
    browser: tuple[XvfbSandbox, TaskSpec, Candidate],
) -> None:
    sb, seed, cand = browser
    oracle = cand.document["oracle"]
    landing = cand.document["validator"]["all"][0]["a11y"]["text_equals"]
    send = {k: v for k, v in oracle[-1].items() if k != "until"}  # a wrong submission lands elsewhere
    send["until"] = {"gone": {"role": "push button", "name": send["click"]["name"]}}
    assert run(sb, cand, oracle)
    assert not run(sb, cand, oracle[:-1])  # filled in, never sent
    assert not run(sb, cand, [send])  # sent as it was
    typing = next(i for i, s in enumerate(oracle) if "type" in s)
    wrong = [*oracle[:typing], {"type": oracle[typing]["type"] + "x"}, *oracle[typing + 1 :]]
    assert not run(sb, cand, [*wrong[:-1], send])  # another word
    form = next(w for w in seed.setup if isinstance(w, WriteFile) and w.path.endswith(".html"))
    boxes = re.findall(r'type="checkbox" name="(\w+)"> (\w+)', form.content.decode())
    stray = next(label for name, label in boxes if f"{name}=on" not in landing)
    assert not run(
        sb, cand, [*oracle[:-1], {"click": {"role": "check box", "name": stray}}, send]
    )  # one more box
    title = cand.document["validator"]["all"][1]["window_title"]["matches"]
    target = landing.split("?")[0].removeprefix("/home/user/")
    page = next(w for w in seed.setup if isinstance(w, WriteFile) and w.path == target)
    link = re.search(r"<title>(.*)</title>", page.content.decode())
    assert link is not None
    address = [{"key": "ctrl+l"}, {"type": "file://" + landing}]
    # The landing page opened by its link, then the address with the query typed but never opened.
    assert not run(
        sb, cand, [{"click": {"role": "link", "name": link.group(1)}, "until": {"title": title}}, *address]
    )
    assert run(sb, cand, [*address, {"key": "Return", "until": {"title": title}}])  # opened: the same request
