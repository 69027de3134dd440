"""Experience memory: admission rules, exclusions, rendering, eviction, and value-driven ranking."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cua import actions as act
from cua.agent import Agent, AgentConfig
from cua.cli import app as cli_app
from cua.cli.memory import memory_app, open_memory
from cua.errors import CuaError, UsageError
from cua.memory import (
    AdmissionConfig,
    ExperienceIndex,
    ExperienceMemory,
    MemoryConfig,
    NewItem,
    StepNote,
    TextEncoder,
    admit,
    approx_tokens,
    screen_vector,
)
from cua.policies.scripted import ScriptedPolicy
from cua.policy import HistoryItem, PolicyInput, PolicyOutput, Recall
from cua.store import Provenance, RunInfo, StepRecord, TrajectoryStore, VerdictSource
from sandbox.actions import Click as SandboxClick
from sandbox.fake import FakeSandbox

OK = (640, 400)
OK_HIT = {"role": "push button", "name": "OK", "app": "fake", "bbox": [560, 380, 160, 40]}


@pytest.fixture
def index(tmp_path: Path) -> Iterator[ExperienceIndex]:
    with ExperienceIndex.beside(tmp_path / "data") as idx:
        yield idx


def start_screen() -> np.ndarray:
    sb = FakeSandbox()
    return screen_vector(sb.reset("fake").screenshot)


def item(encoder: TextEncoder, run_id: str, instruction: str, steps: list[StepNote], **kw: object) -> NewItem:
    screen = start_screen()
    fields: dict[str, object] = dict(
        kind="success", family=f"fam.{run_id}", app="fake", instruction=instruction, steps=tuple(steps),
        signature=run_id, text_vec=encoder.encode([instruction])[0], screen_vec=screen,
        step_vecs=np.stack([screen] * len(steps)), run_id=run_id, task_id=f"fam.{run_id}/0",
    )  # fmt: skip
    fields.update(kw)
    return NewItem(**fields)  # type: ignore[arg-type]


def record(
    store: TrajectoryStore,
    instruction: str,
    *,
    task_id: str = "fake.press-ok/0",
    model: str = "ui-tars-1.5-7b",
    verdict: tuple[VerdictSource, bool] | None = (VerdictSource.VALIDATOR, True),
    reasons: tuple[str, ...] = (),
    split: str = "train",
) -> str:
    sb = FakeSandbox()
    obs = sb.reset("fake")
    run_id = store.start_run(
        RunInfo(instruction, "fake", Provenance(model=model), task_id, extra={"split": split})
    )
    store.add_step(
        run_id, StepRecord("press it", action=act.to_json(act.Click(*OK)), hit=OK_HIT), obs.screenshot
    )
    store.add_step(run_id, StepRecord("done", action=act.to_json(act.Done())), obs.screenshot)
    store.finish_run(run_id, "success", "done")
    if verdict is not None:
        store.add_verdict(run_id, verdict[0], verdict[1], reasons=list(reasons))
    return run_id


def test_admission_keeps_only_verified_successes_and_failures_as_pitfalls(
    tmp_path: Path, index: ExperienceIndex, encoder: TextEncoder
) -> None:
    store = TrajectoryStore(tmp_path / "data")
    good = record(store, "press OK in the dialog")
    dup = record(store, "press OK in the dialog", task_id="fake.press-ok/1")
    record(store, "press OK please", verdict=(VerdictSource.JUDGE, True))
    record(store, "press OK", verdict=None)
    record(store, "press OK by oracle", model="oracle:fake.press-ok")
    bad = record(store, "press OK", task_id="fake.other/0", verdict=(VerdictSource.VALIDATOR, False),
                 reasons=("the dialog is still open",))  # fmt: skip
    report = admit(store, index, encoder)
    assert report.skipped == {"unverified success (judge)": 1, "no verdict": 1, "oracle run": 1}
    assert (report.admitted, report.merged, report.pitfalls) == (2, 1, 1)  # runs; one merged
    positives = index.items(kind="success")
    assert len(positives) == 1 and positives[0].support == 2  # the duplicate merged
    assert positives[0].steps == (StepNote("click", "push button 'OK'"), StepNote("done"))
    pit = index.items(kind="pitfall")
    assert len(pit) == 1 and pit[0].reasons == ("the dialog is still open",)
    assert set(index.run_ids()) == {good, dup, bad}
    # Idempotent; then a person overturns one success: it is detached (the item keeps the other run).
    assert admit(store, index, encoder).admitted == 0
    store.add_verdict(good, VerdictSource.PERSON, False, reasons=["wrong dialog"])
    again = admit(store, index, encoder)
    assert again.detached == 1 and again.pitfalls == 1
    assert index.items(kind="success")[0].support == 1
    # Oracle runs are admitted on request.
    assert admit(store, index, encoder, AdmissionConfig(include_oracle=True)).merged == 1
    store.close()


def test_exclusions_pitfalls_and_budget(index: ExperienceIndex, encoder: TextEncoder) -> None:
    steps = [StepNote("click", "push button 'OK'"), StepNote("done")]
    index.add(
        [
            item(encoder, "same-task", "press the OK button", steps, family="fam.t", task_id="fam.t/3"),
            item(encoder, "held", "press the OK button now", steps, family="fam.held"),
            item(encoder, "evalrun", "press the OK button please", steps, split="eval"),
            item(
                encoder,
                "pit",
                "press the OK button",
                [StepNote("key Escape")],
                kind="pitfall",
                reasons=("closed the dialog instead",),
            ),
            item(encoder, "ok", "click OK in the confirm dialog", steps),
        ]
    )
    mem = ExperienceMemory(index, encoder, app="fake", task_id="fam.t/3", held_out_families={"fam.held"})
    sb = FakeSandbox()
    text = mem.retrieve("press the OK button", sb.reset("fake"), [])
    assert text is not None and mem.last is not None
    returned = {it.instruction for it in index.items([h.item_id for h in mem.last.positives])}
    assert returned == {"click OK in the confirm dialog"}  # task, held-out family, eval split excluded
    assert all(it.kind == "success" for it in index.items([h.item_id for h in mem.last.positives]))
    assert "1) click on push button 'OK'" in text
    assert "Avoid" in text and "closed the dialog instead" in text.split("Avoid")[1]
    assert "key Escape" not in text.split("Avoid")[0]  # the pitfall is never a positive example
    tiny = ExperienceMemory(index, encoder, app="fake", config=MemoryConfig(budget_tokens=20))
    short = tiny.retrieve("press the OK button", sb.reset("fake"), [])
    assert short is None or approx_tokens(short) <= 20


def test_eviction_drops_lowest_utility_then_oldest(tmp_path: Path, encoder: TextEncoder) -> None:
    clock = iter(range(100)).__next__
    with ExperienceIndex(tmp_path / "m", clock=lambda: float(clock())) as idx:
        idx.add([item(encoder, f"r{i}", f"task number {i}", [StepNote("done")]) for i in range(4)])
        ids = [it.id for it in idx.items()]
        idx.record_exposure("ep1", [ids[2]])
        idx.record_outcome("ep1", True)  # item 2 proved useful
        idx.record_exposure("ep2", [ids[3]])
        idx.record_outcome("ep2", False)  # item 3 proved useless
        assert idx.record_outcome("ep2", True) == 0  # an episode counts once
        evicted = idx.evict(2, "success")
        assert evicted == [ids[3], ids[0]]  # lowest utility, then (utility tied) the oldest
        assert {it.id for it in idx.items()} == {ids[1], ids[2]}


def test_per_step_query_resumes_from_the_matching_screen(
    index: ExperienceIndex, encoder: TextEncoder
) -> None:
    sb = FakeSandbox()
    first = sb.reset("fake")
    after = sb.step(SandboxClick(*OK))
    vecs = np.stack([screen_vector(first.screenshot), screen_vector(after.screenshot)])
    steps = [StepNote("click", "push button 'OK'"), StepNote("done")]
    index.add([item(encoder, "two", "press OK and finish", steps, step_vecs=vecs)])
    mem = ExperienceMemory(index, encoder, app="fake")
    assert "1) click" in (mem.retrieve("press OK and finish", first, []) or "")
    text = mem.retrieve("press OK and finish", after, [HistoryItem("click(640, 400) on push button OK")])
    assert text is not None and "near step 2" in text and "2) done" in text and "1) click" not in text


class NeedsX:
    """Succeeds (clicks OK, then done) only when the memory text shows item X's marker."""

    name = "needs-x"
    format_name = "ui-tars-1.5"

    def __init__(self) -> None:
        self.seen: list[str | None] = []

    def act(self, inp: PolicyInput) -> PolicyOutput:
        if inp.step == 0:
            self.seen.append(inp.memory)
            if inp.memory and "menu item 'Confirm all'" in inp.memory:
                return PolicyOutput("click", [act.Click(*OK)])
            return PolicyOutput("give up", [act.Fail("no idea")])
        return PolicyOutput("done", [act.Done()])

    def provenance(self) -> dict[str, object]:
        return {"model": "needs-x"}


def test_value_driven_ranking_lifts_the_helpful_item_over_the_more_similar_one(
    index: ExperienceIndex, encoder: TextEncoder
) -> None:
    query = "press OK in the confirm dialog"
    index.add(
        [
            item(
                encoder,
                "x",
                "confirm the dialog by pressing OK",
                [StepNote("click", "menu item 'Confirm all'")],
            ),
            item(encoder, "y", "press OK in the confirm dialog", [StepNote('type "ok"')]),
        ]
    )
    x_id, y_id = (next(it.id for it in index.items() if it.instruction == t)
                  for t in ("confirm the dialog by pressing OK", query))  # fmt: skip
    config = MemoryConfig(top_k=1, pitfalls=0)
    probe = ExperienceMemory(index, encoder, app="fake", config=config)
    before = probe.search(query, start_screen(), app="fake")
    assert [h.item_id for h in before.positives] == [y_id, x_id]  # Y is the more similar
    assert before.positives[0].similarity > before.positives[1].similarity + 0.05
    policy = NeedsX()
    outcomes = []
    for k in range(8):
        sb = FakeSandbox()
        mem = ExperienceMemory(index, encoder, app="fake", config=config, episode_id=f"ep{k}")
        agent = Agent(policy, sb, memory=mem, config=AgentConfig(max_steps=4, settle_s=0.0))  # type: ignore[arg-type]
        agent.run(query, sb.reset("fake"), app="fake")
        passed = sb.current_screen == "done"  # the task's check: the dialog was confirmed
        mem.outcome(passed)
        outcomes.append(passed)
    after = probe.search(query, start_screen(), app="fake")
    assert [h.item_id for h in after.positives] == [x_id, y_id]  # X now outranks Y
    assert after.positives[1].similarity > after.positives[0].similarity  # though Y is still more similar
    # Y is shown (and fails) until its utility 1 / (2 + k) after k failures sinks enough to offset
    # its similarity lead; from then on X is shown and it succeeds (X's utility only rises).
    gap = before.positives[0].similarity - before.positives[1].similarity
    k = next(k for k in range(1, 8) if config.w_utility * (0.5 - 1 / (2 + k)) > gap)
    assert outcomes == [False] * k + [True] * (8 - k)
    x, y = index.items([x_id, y_id])
    assert x.utility > 0.5 > y.utility


def test_cli_build_list_show_forget(tmp_path: Path, encoder: TextEncoder) -> None:
    data = tmp_path / "data"
    with TrajectoryStore(data) as store:
        record(store, "press OK in the dialog")
    runner = CliRunner()
    out = runner.invoke(memory_app, ["build", "--data-dir", str(data)])
    assert out.exit_code == 0, out.output
    assert '"admitted": 1' in out.output and f'"encoder": "{encoder.name}"' in out.output
    listed = runner.invoke(memory_app, ["list", "--data-dir", str(data)])
    assert listed.exit_code == 0 and "fake.press-ok" in listed.output and "0.50" in listed.output
    item_id = listed.output.splitlines()[1].split()[0]
    shown = runner.invoke(memory_app, ["show", item_id, "--data-dir", str(data)])
    assert "Beta(1, 1)" in shown.output and "click on push button 'OK'" in shown.output
    where = ["--data-dir", str(data)]
    asked = runner.invoke(memory_app, ["query", "press the OK button", "--app", "fake", *where])
    assert asked.exit_code == 0, asked.output
    assert f"{item_id:>6} success" in asked.output and "1) click on push button 'OK'" in asked.output
    bad = runner.invoke(memory_app, ["query", "x", "--screenshot", str(tmp_path), "--data-dir", str(data)])
    assert bad.exit_code != 0 and "not a readable image" in str(bad.exception or bad.output)
    gone = runner.invoke(memory_app, ["forget", item_id, "--data-dir", str(data)])
    assert "forgot 1" in gone.output


@pytest.mark.x11
@pytest.mark.timeout(300)
def test_memory_on_evaluation_never_shows_the_evaluated_task_nor_held_out_families(
    tmp_path: Path, encoder: TextEncoder
) -> None:
    from cua.eval.suite import evaluate, select_tasks
    from cua.policies.oracle import OraclePolicy
    from cua.tasks import TaskSpec

    data = tmp_path / "data"
    tasks = select_tasks("xterm", instances=2, include_slow=False)
    held_out = {t.family for t in tasks if t.split == "eval"}
    assert held_out == {"xterm.count-lines"}
    with TrajectoryStore(data) as store, ExperienceIndex.beside(data) as index:
        evaluate(tasks, lambda t, sb, s: OraclePolicy(t, sb), policy_name="oracle", store=store, parallel=2)
        assert admit(store, index, encoder, AdmissionConfig(include_oracle=True)).admitted == len(tasks)
        hooks: dict[str, ExperienceMemory] = {}

        def factory(task: TaskSpec) -> ExperienceMemory:
            hooks[task.id] = ExperienceMemory(
                index, encoder, app=task.app, task_id=task.id, held_out_families=held_out
            )
            return hooks[task.id]

        report = evaluate(tasks, lambda t, sb, s: OraclePolicy(t, sb), policy_name="oracle", store=store,
                          memory=factory, parallel=2)  # fmt: skip
        assert len(report.episodes) == len(tasks)  # (an oracle may fail under load: not the point here)
        for task in tasks:
            shown = index.items(sorted(hooks[task.id].shown_ever))
            assert shown, f"{task.id} was shown nothing"
            assert all(it.family not in held_out for it in shown)
            assert not {it.id for it in shown} & index.items_of_task(task.id)
            assert any(it.family == task.family for it in shown) or task.family in held_out
        # Every episode that showed an item settled it once with its verdict (success or failure).
        shown_items = [it for it in index.items() if it.shown]
        assert shown_items and all(it.alpha + it.beta - 2 == it.shown for it in shown_items)
    out = CliRunner().invoke(
        cli_app,
        ["eval", "--suite", "xterm.touch", "--instances", "1", "--policy", "oracle", "--memory", "on",
         "--data-dir", str(data)],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert "memory on" in out.output and "held-out families are never retrieved" in out.output


def test_key_screens_show_the_remembered_click_and_the_end(tmp_path: Path, encoder: TextEncoder) -> None:
    with TrajectoryStore(tmp_path / "data") as store, ExperienceIndex.beside(tmp_path / "data") as index:
        record(store, "press OK in the dialog")
        admit(store, index, encoder)
        sb = FakeSandbox()
        first = sb.reset("fake")
        mem = ExperienceMemory(
            index, encoder, app="fake", store=store, config=MemoryConfig(key_screenshots=2)
        )
        got = mem.retrieve("press the OK button", first, [])
        assert isinstance(got, Recall) and "1) click on push button 'OK'" in got.text
        (c1, before), (c2, end) = got.images
        assert c1 == "Remembered screen before step 1 (click on push button 'OK')" and "done" in c2
        assert before.getpixel((OK[0] + 12, OK[1])) == (255, 32, 32)  # the ring around the click
        assert before.size == end.size == first.screenshot.size
        one = ExperienceMemory(
            index, encoder, app="fake", store=store, config=MemoryConfig(key_screenshots=1)
        )
        got_one = one.retrieve("press the OK button", first, [])
        assert isinstance(got_one, Recall) and len(got_one.images) == 1
        with pytest.raises(CuaError, match="store="):
            ExperienceMemory(index, encoder, config=MemoryConfig(key_screenshots=1))
    with pytest.raises(CuaError, match="0, 1 or 2"):
        MemoryConfig(key_screenshots=3)


def test_a_run_verified_later_settles_what_it_was_shown(tmp_path: Path, encoder: TextEncoder) -> None:
    data = tmp_path / "data"
    with TrajectoryStore(data) as store, ExperienceIndex.beside(data) as index:
        record(store, "press OK in the dialog")
        admit(store, index, encoder)
        sb = FakeSandbox()
        mem = ExperienceMemory(index, encoder, app="fake")
        policy = ScriptedPolicy([act.Click(*OK), act.Done()])
        result = Agent(policy, sb, store=store, memory=mem, config=AgentConfig(max_steps=3, settle_s=0)).run(
            "press the OK button", sb.reset("fake"), app="fake"
        )
        assert policy.inputs[0].memory and index.pending_episodes() == [result.run_id]  # keyed by run id
        assert admit(store, index, encoder).settled == 0  # no verdict yet: nothing to learn
        store.add_verdict(result.run_id, VerdictSource.PERSON, True, reasons=["looked right"])
        report = admit(store, index, encoder)
        assert report.settled == 1 and index.pending_episodes() == []
        (shown,) = [it for it in index.items() if it.shown]
        assert (shown.alpha, shown.beta) == (2.0, 1.0)
        assert admit(store, index, encoder).settled == 0  # once only


def test_memory_modes_of_the_cli(tmp_path: Path, encoder: TextEncoder) -> None:
    with TrajectoryStore(tmp_path / "data") as store:
        assert open_memory("auto", store) is None  # no index: quietly off
        with pytest.raises(UsageError, match="empty"):
            open_memory("on", store)
        with pytest.raises(UsageError, match="on, off or auto"):
            open_memory("sometimes", store)
        record(store, "press OK in the dialog")
        with ExperienceIndex.beside(store.data_dir) as index:
            admit(store, index, encoder)
        assert open_memory("off", store) is None
        factory = open_memory("auto", store, key_screenshots=1)
        assert factory is not None
        hook = factory("fake", "fake.press-ok/0")
        assert hook.task_id == "fake.press-ok/0" and hook.config.key_screenshots == 1 and hook.store is store


def test_a_forgotten_run_stays_out_until_admitted_again(tmp_path: Path, encoder: TextEncoder) -> None:
    """Forgetting (a run, an item, a family) survives the next build; admitting one run lifts it."""
    from cua.service import Service

    data = tmp_path / "data"
    with TrajectoryStore(data) as store:
        good = record(store, "press OK in the dialog")
        twin = record(store, "press OK in the dialog", task_id="fake.press-ok/1")
        judged = record(store, "press OK please", verdict=(VerdictSource.JUDGE, True))
        other = record(store, "press OK elsewhere", task_id="fake.other/0")
    service = Service(data)
    assert service.memory_state(good) == "not in memory (no memory built yet)"
    assert service.memory_build()["admitted"] == 3
    assert service.memory_state(good).startswith("in memory: success item")
    with pytest.raises(UsageError, match="reason"):
        service.memory_forget_run(good, "  ")
    said = service.memory_forget_run(good, "it clicked the wrong OK")
    assert "stays, supported by other runs" in said  # its twin still supports the item
    assert service.memory_state(good) == "taken out of memory (it clicked the wrong OK)"
    assert "item" in service.memory_forget_run(
        twin, "same mistake"
    ) and "deleted" in service.memory_forget_run(other, "not wanted")
    rebuilt = service.memory_build()
    assert rebuilt["admitted"] == 0 and rebuilt["skipped"]["taken out of memory by a person"] == 3
    with ExperienceIndex.beside(data) as index:
        assert index.count("success") == 0
    # An unverified success is not made evidence by asking; a forgotten run comes back by hand.
    assert service.memory_admit_run(judged) == "not admitted: unverified success (judge)"
    back = service.memory_admit_run(good)
    assert back.startswith("admitted as success item") and "had been taken out" in back
    assert service.memory_admit_run(good).startswith("already in memory as success item")
    assert service.memory_build()["skipped"]["taken out of memory by a person"] == 2
    # Forgetting an item by id (the CLI's `forget ID`) keeps its runs out of later builds too.
    with ExperienceIndex.beside(data) as index:
        (item_id,) = [it.id for it in index.items(kind="success")]
        assert index.forget([item_id]) == 1
        assert good in index.excluded_runs()
    assert service.memory_build()["admitted"] == 0
    runner = CliRunner()
    where = ["--data-dir", str(data)]
    out = runner.invoke(memory_app, ["admit-run", other, *where])
    assert out.exit_code == 0 and "admitted as success item" in out.output, out.output
    out = runner.invoke(memory_app, ["forget", "--run", other, "--reason", "changed my mind", *where])
    assert out.exit_code == 0 and "taken out of memory" in out.output, out.output
    out = runner.invoke(memory_app, ["forget", "--run", "nosuchrun", "--reason", "x", *where])
    assert out.exit_code != 0
