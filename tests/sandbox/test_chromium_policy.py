"""Chromium in the sandbox refuses ``javascript:`` URLs and DevTools (its managed policies).

Validators read page state (titles, the accessibility tree), which a script typed into the
address bar or the DevTools console could forge without doing the task. The attacks are replayed
through the GUI against the real task ``chromium.select-option/1``: each must leave the page as
it was and fail the validator. A control without the policies shows the address-bar attack is
real, and the task's oracle still passes with them.

Each test runs in an ``XvfbSandbox`` and in a ``QemuSandbox`` booted from the full VM image
(marked ``vm``: the image build takes about 2 minutes once per recipe, and under TCG each
Chromium start about 35 s). In the VM the policies are installed at boot by PID 1, and a reset
with other policies boots again.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator

import pytest

from cua.tasks import runner
from cua.tasks.builtin import find_task
from cua.tasks.spec import TaskSpec
from cua.tasks.targets import a11y_tree
from sandbox import XvfbSandbox
from sandbox.actions import Key, TypeText
from sandbox.base import Sandbox
from sandbox.profile import AppProfile, find_profile
from sandbox.qemu import QemuSandbox
from tests.sandbox.vm_image import build_image

pytestmark = [pytest.mark.x11, pytest.mark.slow, pytest.mark.timeout(120)]

TASK_ID = "chromium.select-option/1"
UNTOUCHED_TITLE = "Shipping"


@pytest.fixture(scope="module")
def task() -> TaskSpec:
    return find_task(TASK_ID)[1]


@pytest.fixture(scope="module")
def country(task: TaskSpec) -> str:
    return str(task.params["country"])


@pytest.fixture(
    scope="module",
    params=["xvfb", pytest.param("qemu", marks=[pytest.mark.vm, pytest.mark.timeout(900)])],
)
def sb(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """The module's sandbox: one on the host, or a VM booted from the full image."""
    if request.param == "xvfb":
        with XvfbSandbox() as host:
            yield host
        return
    with QemuSandbox(image=build_image("full")) as vm:
        yield vm


@pytest.fixture
def box(sb: Sandbox, task: TaskSpec) -> Iterator[Sandbox]:
    """The module's sandbox with the task set up as an agent would get it."""
    runner.start(sb, task)
    assert page_title(sb) == UNTOUCHED_TITLE
    yield sb


def page_title(sb: Sandbox) -> str | None:
    """Return the name of the page's document in the accessibility tree (its title)."""
    time.sleep(0.5 * sb.slowdown)  # a title set by script reaches the tree a moment after the key press
    docs = [n.name for n in a11y_tree(sb) if n.role == "document web"]
    return docs[0] if docs else None


def address_bar_script(sb: Sandbox, script: str) -> None:
    sb.step(Key(("ctrl", "l")))
    # void(...): a javascript: URL that evaluates to a string replaces the page with that string.
    sb.step(TypeText(f"javascript:void({script})\n"), settle_s=1.5 * sb.slowdown)


def test_the_policies_are_in_a_file_the_sandbox_cannot_change(box: Sandbox) -> None:
    wanted = find_profile("chromium").chromium_policies
    assert wanted["URLBlocklist"] == ["javascript://*", "data:*"]
    assert wanted["DeveloperToolsAvailability"] == 2
    shown = box.exec(["cat", "/etc/chromium/policies/managed/cua.json"])
    assert shown.ok and json.loads(shown.stdout) == wanted
    listing = box.exec(["ls", "-A", "/etc/chromium/policies/managed"])
    assert listing.stdout.split() == [b"cua.json"]
    for argv in (
        ["touch", "/etc/chromium/policies/managed/more.json"],
        ["sh", "-c", "echo {} > /etc/chromium/policies/managed/cua.json"],
        ["rm", "-f", "/etc/chromium/policies/managed/cua.json"],
    ):
        assert not box.exec(argv).ok, argv
    assert json.loads(box.exec(["cat", "/etc/chromium/policies/managed/cua.json"]).stdout) == wanted


def test_chrome_policy_page_shows_the_policies(box: Sandbox) -> None:
    box.step(Key(("ctrl", "l")))
    box.step(TypeText("chrome://policy\n"), settle_s=2.0 * box.slowdown)
    deadline = time.monotonic() + 10.0 * box.slowdown
    names: set[str] = set()
    while time.monotonic() < deadline and not {"URLBlocklist", "DeveloperToolsAvailability"} <= names:
        names = {n.name for n in a11y_tree(box)}
        time.sleep(0.3)
    assert {"URLBlocklist", "DeveloperToolsAvailability"} <= names


def test_a_javascript_url_is_refused(box: Sandbox, task: TaskSpec, country: str) -> None:
    address_bar_script(box, f"document.title='Saved: {country}'")
    assert page_title(box) == UNTOUCHED_TITLE
    assert not runner.validate(box, task).passed


def test_a_made_up_data_page_is_refused(box: Sandbox, task: TaskSpec, country: str) -> None:
    """A data: page with the task's title (and a form showing the right value) is not loaded."""
    page = (
        f"<title>Saved: {country}</title><label>Shipping country <select><option>{country}</select></label>"
    )
    box.step(Key(("ctrl", "l")))
    box.step(TypeText(f"data:text/html,{page}\n"), settle_s=1.5 * box.slowdown)
    assert page_title(box) != f"Saved: {country}"
    assert not runner.validate(box, task).passed


def test_the_devtools_console_is_refused(box: Sandbox, task: TaskSpec, country: str) -> None:
    box.step(Key(("ctrl", "shift", "j")), settle_s=2.0 * box.slowdown)
    box.step(TypeText(f"document.title='Saved: {country}'\n"), settle_s=1.5 * box.slowdown)
    assert page_title(box) == UNTOUCHED_TITLE
    assert not runner.validate(box, task).passed


def test_without_the_policies_a_javascript_url_forges_the_page(
    sb: Sandbox, task: TaskSpec, country: str
) -> None:
    """The control: the address-bar attack above is real, and the policies are what stop it."""
    unguarded: AppProfile = dataclasses.replace(find_profile("chromium"), chromium_policies={})
    pre, args = task.sandbox_setup()
    runner.finish_setup(sb, task, sb.reset(unguarded, pre, args))
    assert not sb.exec(["ls", "-A", "/etc/chromium/policies/managed"]).stdout
    address_bar_script(sb, f"document.title='Saved: {country}'")
    assert page_title(sb) == f"Saved: {country}"


def test_the_oracle_still_passes(sb: Sandbox, task: TaskSpec) -> None:
    run = runner.run_oracle(sb, task)
    verdict = runner.validate(sb, task, trajectory=run.moves)
    assert verdict.passed, verdict.reasons
