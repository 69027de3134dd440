"""The bundled policy's pieces without a display: features, targets, the network, training, checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from cua import actions as act
from cua.errors import PolicyError, UsageError
from cua.learn.dataset import Row, from_hf_dataset, load_rows, save_rows, to_hf_dataset
from cua.learn.train import TrainConfig, train_bundled, vocabularies
from cua.models.embed import StaticEncoder
from cua.policies import screen_features as sf
from cua.policies.bundled import (
    BundledConfig,
    BundledPolicy,
    build_net,
    decode,
    default_checkpoint,
    is_bundled_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from cua.policy import HistoryItem, PolicyInput
from sandbox.base import A11yNode, TextBox


def node(role: str, name: str, x: int, y: int, *states: str, text: str = "") -> A11yNode:
    return A11yNode(role, name, text, tuple(states), (x, y, 40, 30), 3, (0, x, y), "app")


KEYPAD = [node("push button", str(d), 100 + 50 * d, 300) for d in range(10)]
FIELD = node("text", "", 100, 100, "editable", "focused")
SCREEN = [node("frame", "Calc", 0, 0), FIELD, *KEYPAD, node("push button", "Clear", 100, 400)]


@pytest.fixture(scope="module")
def encoder() -> StaticEncoder:
    return StaticEncoder()


def inp(instruction: str, history: tuple[str, ...] = (), nodes: list[A11yNode] = SCREEN) -> PolicyInput:
    from PIL import Image

    past = tuple(HistoryItem(h) for h in history)
    return PolicyInput(instruction, Image.new("RGB", (1, 1)), (1280, 800), past, a11y=tuple(nodes))


def test_options_leave_out_containers_and_unnamed_widgets() -> None:
    nodes = [*SCREEN, node("push button", "", 5, 5), node("panel", "P", 0, 0)]
    options = sf.options_of(nodes, [TextBox("$ ls", (0, 700, 60, 20), 0.9)])
    roles = [o.role for o in options]
    assert "frame" not in roles and "panel" not in roles
    assert [o.label() for o in options if o.role == "push button"][-1] == "Clear"
    assert options[-1].source == "ocr" and options[-1].label() == "$ ls"


def test_a_big_table_loses_its_last_cells_not_the_controls_after_it() -> None:
    cells = [node("table cell", f"A{i}", 10, 10 + i) for i in range(1, 400)]
    box = node("text", "", 60, 140, "editable", text="A1")  # a spreadsheet's name box, after its cells
    options = sf.options_of([*cells, box, node("push button", "Save", 5, 5)])
    assert len(options) == sf.MAX_OPTIONS
    assert [o.label() for o in options[-2:]] == ["A1", "Save"]  # in order, the controls kept
    assert [o.label() for o in options[:2]] == ["A1", "A2"]
    assert options[-3].label() == f"A{sf.MAX_OPTIONS - 2}"
    # Up to the cap nothing is cut; a screen of only one role keeps its first options.
    assert len(sf.options_of(cells[: sf.MAX_OPTIONS])) == sf.MAX_OPTIONS
    assert [o.label() for o in sf.options_of(cells)][-1] == f"A{sf.MAX_OPTIONS}"


def test_every_role_a_walk_acts_on_has_a_role_index() -> None:
    from cua.synth.walk import ACTIONABLE, EDITABLE

    assert set(sf.ROLES) >= ACTIONABLE | EDITABLE


def test_spans_are_quoted_values_then_numbers() -> None:
    assert sf.spans_of("Type 'notes.txt' into the field, then press 3 twice") == ["notes.txt", "3"]
    assert sf.spans_of('Show “42” and "x y"') == ["42", "x y"]


def test_unquoted_values_marked_by_their_shape_or_a_naming_phrase_are_spans() -> None:
    assert sf.spans_of("In the terminal, create an empty file named notes.txt here.") == ["notes.txt"]
    assert sf.spans_of("Set cell C4 to 17 and save.") == ["C4", "17"]
    assert sf.spans_of("Fill B2:B6 with 3 and 4, the total in B7") == ["B2:B6", "B7", "3", "4"]
    assert sf.spans_of("Rename old.txt to new.md.") == ["old.txt", "new.md"]  # the full stop ends it
    assert sf.spans_of("Move docs/a.txt into the folder called archive") == ["docs/a.txt", "archive"]
    assert sf.spans_of("Make a folder named reports, then 'x y'") == ["x y", "reports"]  # quoted first
    assert sf.spans_of("Press the button 7 on the calculator.") == ["7"]  # no name, no cell: a number
    assert sf.spans_of("Open the File menu. Then A.") == []


def test_an_arithmetic_expression_is_a_span_in_keypad_symbols_after_the_others() -> None:
    assert sf.spans_of("Work out 60 + 15 please") == ["60", "15", "60+15"]
    assert sf.spans_of("Find (44 - 7) × 40 (quickly)") == ["44", "7", "40", "(44-7)*40"]
    assert sf.spans_of("Evaluate 12 ÷ 4.") == ["12", "4", "12/4"]
    assert not any("-" in s for s in sf.spans_of("Rename file-2024-01 to 3"))  # unspaced: no operator


def spell(instruction: str, *labels: str) -> sf.Spelling:
    return sf.spelled([("push button", label) for label in labels], sf.spans_of(instruction))


def test_spelling_follows_the_span_furthest_along_then_stops_once_confirmed() -> None:
    text = "Work out 60 + 15 please"
    assert spell(text).nexts == {"6"}
    at_60 = spell(text, "6", "0")
    assert at_60.nexts == {"+"} and not at_60.complete  # '60' is done, but the expression goes on
    entered = spell(text, "6", "0", "+", "1", "5")
    assert entered.nexts == set() and entered.complete and not entered.after
    confirmed = spell(text, "6", "0", "+", "1", "5", "=")
    assert confirmed.nexts == set() and not confirmed.complete and confirmed.after
    assert spell("Press 3", "Edit", "3").complete  # a menu click before the keypad does not count
    root = spell("Take the root of 729", "7", "2", "9", "sqrt")
    assert root.after and root.nexts == set()


def test_targets_round_trip_through_actions() -> None:
    options = sf.options_of(SCREEN)
    spans = ["notes.txt"]
    five = next(i for i, o in enumerate(options) if o.label() == "5")
    click = act.Click(*options[five].center())
    assert sf.target_of(click, options, spans) == sf.Target("click", option=five)
    assert sf.Target("click", option=five).action(options, spans) == click
    typed = sf.target_of(act.TypeText("touch notes.txt\n"), options, spans)
    assert typed == sf.Target("type", template="touch {}\n", span=0)
    assert typed.action(options, spans) == act.TypeText("touch notes.txt\n")
    assert sf.target_of(act.Hotkey(("ctrl", "a")), options, spans) == sf.Target("key", key="ctrl+a")
    assert sf.Target("key", key="ctrl+a").action(options, spans) == act.Hotkey(("ctrl", "a"))
    assert sf.target_of(act.Click(1270, 790), options, spans) is None  # hits no option
    assert sf.target_of(act.Scroll(10, 10, "down"), options, spans) is None  # outside the action space


def test_quitting_is_chosen_only_when_the_instruction_asks(encoder: StaticEncoder) -> None:
    menu = [node("menu item", "Quit", 10, 10), node("menu item", "Close", 60, 10)]
    menu.append(node("push button", "Close", 110, 10))
    feats = sf.featurize(inp("Press '5'", nodes=[*SCREEN, *menu]), encoder.encode)
    labels = [(o.role, o.label()) for o in feats.options]
    config = BundledConfig(keys=(*sf.BASE_KEYS, "ctrl+q"))  # mined from walks that quit
    n = len(feats.options)

    def out(kind: str, pointer: list[float] | None = None, key: str = "enter") -> dict[str, torch.Tensor]:
        logits = torch.full((1, len(sf.KINDS)), -5.0)
        logits[0, sf.KINDS.index(kind)] = 5.0
        keys = torch.zeros((1, len(config.keys)))
        keys[0, config.keys.index(key)] = 9.0
        pointers = torch.tensor([pointer or [0.0] * n])
        template, span = torch.zeros((1, len(config.templates) or 1)), torch.zeros((1, 1))
        return {"kind": logits, "pointer": pointers, "key": keys, "template": template, "span": span}

    quit_first = [0.0] * n
    for i, (role, label) in enumerate(labels):
        quit_first[i] = {"Quit": 9.0, "Close": 8.0 if role == "menu item" else 7.0, "5": 1.0}.get(label, 0.0)
    chosen, _ = decode(out("click", quit_first), feats, config, instruction="Get the display to show '5'.")
    assert labels[chosen.option or 0] == ("push button", "Close")  # a dialog's Close is no quit
    chosen, _ = decode(out("click", quit_first), feats, config, instruction="Quit the calculator.")
    assert labels[chosen.option or 0] == ("menu item", "Quit")
    chosen, _ = decode(out("click", quit_first), feats, config)  # training's accuracy: nothing masked
    assert labels[chosen.option or 0] == ("menu item", "Quit")
    chosen, _ = decode(out("key", key="ctrl+q"), feats, config, instruction="Press '5'")
    assert chosen.kind == "key" and chosen.key != "ctrl+q"
    chosen, _ = decode(out("key", key="ctrl+q"), feats, config, instruction="Close the window")
    assert chosen.key == "ctrl+q"


def test_history_lines_feed_the_features(encoder: StaticEncoder) -> None:
    options = sf.options_of(SCREEN)
    five = next(i for i, o in enumerate(options) if o.label() == "5")
    line = sf.history_line(sf.Target("click", option=five), options, [])
    assert sf.read_history([HistoryItem(line), HistoryItem("Thought: something else")]) == [
        {"kind": "click", "role": "push button", "label": "5"}
    ]
    before = sf.featurize(inp("Press '5'"), encoder.encode)
    after = sf.featurize(inp("Press '5'", (line,)), encoder.encode)
    assert before.option_lex[five, 0] == 1.0  # the label is a quoted value
    assert before.option_lex[five, 5] == 0.0 and after.option_lex[five, 5] == 1.0  # clicked before
    assert after.history[sf.KINDS.index("click")] == 1.0


def rows_for(instruction: str, digit: str) -> list[Row]:
    """A two-step demonstration: click the digit, then done (as the dataset builder writes rows)."""
    options = sf.options_of(SCREEN)
    i = next(k for k, o in enumerate(options) if o.label() == digit)
    a11y = [{"role": n.role, "name": n.name, "text": n.text, "states": list(n.states), "bbox": list(n.bbox),
             "depth": n.depth, "path": list(n.path), "app": n.app} for n in SCREEN]  # fmt: skip
    line = sf.history_line(sf.Target("click", option=i), options, [])
    common = dict(task_id="t", task_hash=f"h{digit}", app="app", kind="a11y/text", source="demonstration",
                  instruction=instruction, screen_size=(1280, 800), a11y=a11y, ocr=[])  # fmt: skip
    return [
        Row(step=0, history=[], target={"kind": "click", "option": i}, changed=[i], **common),  # type: ignore[arg-type]
        Row(step=1, history=[line], target={"kind": "done"}, **common),  # type: ignore[arg-type]
    ]


def test_training_lowers_the_loss_changes_weights_and_acts(tmp_path: Path, encoder: StaticEncoder) -> None:
    rows = [r for d in "1234567" for r in rows_for(f"Get the display to show '{d}'.", d)]
    before = {k: v.clone() for k, v in build_net(BundledConfig()).state_dict().items()}
    result = train_bundled(rows, tmp_path / "ck", TrainConfig(epochs=60, batch_size=8), encoder=encoder)
    assert result.losses[-1] < 0.3 * result.losses[0]
    assert result.accuracy == 1.0
    net, config = load_checkpoint(tmp_path / "ck")
    changed = [k for k, v in net.state_dict().items() if not torch.equal(v, before[k])]
    assert "pointer.weight" in changed and "kind.weight" in changed
    assert is_bundled_checkpoint(tmp_path / "ck") and config.dataset["rows"] == len(rows)
    # Unseen digits (8, 9): the pointer generalises through the quoted value, not the row.
    policy = BundledPolicy(tmp_path / "ck", encoder=encoder)
    out = policy.act(inp("Get the display to show '9'."))
    (action,) = out.actions or []
    assert isinstance(action, act.Click)
    assert KEYPAD[9].bbox[0] <= action.x < KEYPAD[9].bbox[0] + 40
    assert out.text.startswith("bundled {") and json.loads(out.text[8:])["label"] == "9"
    done = policy.act(inp("Get the display to show '9'.", (out.text,)))
    assert isinstance((done.actions or [None])[0], act.Done)
    assert policy.provenance()["backend"] == "bundled" and len(policy.provenance()["checkpoint"]) == 64


def test_training_resumes_from_its_checkpoint(tmp_path: Path, encoder: StaticEncoder) -> None:
    rows = rows_for("show '3'", "3")
    first = train_bundled(rows, tmp_path, TrainConfig(epochs=4, checkpoint_every=2), encoder=encoder)
    again = train_bundled(rows, tmp_path, TrainConfig(epochs=4, checkpoint_every=2), encoder=encoder)
    assert first.epochs_run == 4 and again.epochs_run == 0  # nothing left to do
    assert again.losses == first.losses


def test_a_paraphrase_keeps_screens_actions_and_typed_text() -> None:
    from cua.learn.dataset import rephrased

    rows = rows_for("Put 'a.txt' in 'docs' as 'b.txt'", "1")
    rows[1].target = {"kind": "type", "template": "mv {} docs/b.txt", "span": 0}
    again = rephrased(rows, "Rename 'b.txt' from 'a.txt' into 'docs'")
    assert [r.source for r in again] == ["paraphrase", "paraphrase"]
    assert again[0].target == rows[0].target and again[0].a11y == rows[0].a11y
    spans = sf.spans_of(again[1].instruction)
    assert again[1].target_of().text(spans) == "mv a.txt docs/b.txt"  # same characters typed


def test_unquoted_wordings_keep_typed_values_they_can_still_find() -> None:
    from cua.learn.dataset import unquoted, unquoted_rows

    assert unquoted("Create 'notes.txt' with 'two words' in it") == "Create notes.txt with 'two words' in it"
    rows = rows_for("Create an empty file named 'notes.txt'", "1")
    rows[1].target = {"kind": "type", "template": "touch {}", "span": 0}
    bare = unquoted_rows(rows)
    assert [r.instruction for r in bare] == ["Create an empty file named notes.txt"] * 2
    assert bare[1].target_of().text(sf.spans_of(bare[1].instruction)) == "touch notes.txt"
    assert bare[0].target == rows[0].target  # the click is the same click
    # A bare word nothing marks as a value would be typed as a literal: no such rows.
    rows = rows_for("Write 'pear' in the box", "1")
    rows[1].target = {"kind": "type", "template": "{}", "span": 0}
    assert unquoted_rows(rows) == []
    assert unquoted_rows(rows_for("Show 7 on the display", "7")) == []  # nothing quoted


def test_vocabularies_mine_keys_and_templates() -> None:
    rows = rows_for("x", "1")
    rows[0].target = {"kind": "type", "template": "touch {}", "span": 0}
    rows[1].target = {"kind": "key", "key": "ctrl+shift+t"}
    keys, templates = vocabularies(rows)
    assert keys[: len(sf.BASE_KEYS)] == sf.BASE_KEYS and keys[-1] == "ctrl+shift+t"
    assert templates == ("{}", "touch {}")


def test_no_rows_and_a_foreign_checkpoint_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="explore an application first"):
        train_bundled([], tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "qwen2_5_vl"}')
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(UsageError, match="not a bundled-policy checkpoint"):
        load_checkpoint(tmp_path)
    assert not is_bundled_checkpoint(tmp_path)
    # A checkpoint of older screen features says so, instead of failing on tensor shapes.
    save_checkpoint(build_net(BundledConfig()), BundledConfig(), tmp_path)
    data = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**data, "features": sf.FEATURES_VERSION - 1}))
    with pytest.raises(UsageError, match="screen features version"):
        load_checkpoint(tmp_path)


def test_the_policy_needs_the_screen_read(encoder: StaticEncoder, tmp_path: Path) -> None:
    save_checkpoint(build_net(BundledConfig()), BundledConfig(), tmp_path)
    policy = BundledPolicy(tmp_path, encoder=encoder)
    with pytest.raises(PolicyError, match="without the accessibility tree"):
        policy.act(PolicyInput("x", inp("x").screenshot, (1280, 800)))
    # An untrained network still acts within the space: any output is a valid action.
    out = policy.act(inp("Press '4'"))
    assert out.actions and len(out.actions) == 1


def test_the_shipped_checkpoint_loads_and_names_its_dataset() -> None:
    _, config = load_checkpoint(default_checkpoint())
    size = sum(p.stat().st_size for p in default_checkpoint().iterdir())
    assert size <= 20 * 1024 * 1024
    assert config.dataset.get("rows", 0) > 0 and config.dataset.get("sha256")
    manifest = json.loads((default_checkpoint() / "dataset.json").read_text())
    assert manifest["sha256"] == config.dataset["sha256"]


def test_rows_save_load_and_convert_to_a_hf_dataset(tmp_path: Path) -> None:
    rows = rows_for("show '3'", "3")
    manifest = save_rows(rows, tmp_path)
    assert manifest["rows"] == 2 and load_rows(tmp_path) == rows
    assert from_hf_dataset(to_hf_dataset(rows)) == rows
    (tmp_path / "rows.jsonl").write_text('{"instruction": 1}\n')
    from cua.learn.dataset import DatasetError

    with pytest.raises(DatasetError, match=r"rows\.jsonl:1"):
        load_rows(tmp_path)
