"""Wrong outcomes an agent could reach in the xterm, Mousepad and PCManFM families must fail.

Each test starts a real task on a real sandbox, puts HOME (or the editor) into a state that
looks right to a weak validator (the right number among other text, a copy instead of a move,
the right file plus damage elsewhere, a blanked line instead of a deleted one) and checks that
the family's validator, with the side-effect guard, rejects it for the real reason. A few tests
reach the right outcome by another route and check that it passes. File states are made with
shell commands in the sandbox (what a shell, or the application, would have written);
editor states are made through the GUI, as an agent would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from sandbox import XvfbSandbox
from tests.cua.tasks.fooling import Setup, fails_for, gui, judge, q, shell, starter

pytestmark = [pytest.mark.x11, pytest.mark.timeout(120)]


@pytest.fixture
def setup(sb: XvfbSandbox) -> Setup:
    """Start instance 0 (or another) of a family on the module's sandbox; give the task and its params."""
    return starter(sb)


# --- xterm.touch -----------------------------------------------------------------------------


def test_touch_a_file_holding_a_newline_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("xterm.touch")
    shell(sb, f"echo > {q(p['name'])}")  # `echo >` writes one line break: not empty
    fails_for(judge(sb, task), p["name"], "holds")


def test_touch_a_folder_instead_of_a_file_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("xterm.touch")
    shell(sb, f"mkdir {q(p['name'])}")
    fails_for(judge(sb, task), p["name"])


def test_touch_plus_a_stray_file_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("xterm.touch")
    shell(sb, f"touch {q(p['name'])} other.txt")
    fails_for(judge(sb, task), "other.txt created")


def test_touch_by_truncating_redirect_passes(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("xterm.touch")
    shell(sb, f"printf '' > {q(p['name'])}")
    verdict = judge(sb, task)
    assert verdict.passed, verdict.explain()


# --- xterm.write-text ------------------------------------------------------------------------


def test_write_text_with_an_extra_line_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("xterm.write-text")
    line = f"{p['word']} {p['n']}"
    shell(sb, f"mkdir {q(p['folder'])} && printf '%s\\nmore\\n' {q(line)} > {q(p['folder'])}/line.txt")
    fails_for(judge(sb, task), "line.txt", "more")


def test_write_text_with_a_trailing_space_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("xterm.write-text")
    line = f"{p['word']} {p['n']} "
    shell(sb, f"mkdir {q(p['folder'])} && echo {q(line)} > {q(p['folder'])}/line.txt")
    fails_for(judge(sb, task), "line.txt")


def test_write_text_plus_a_copy_in_home_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("xterm.write-text")
    line = f"{p['word']} {p['n']}"
    shell(sb, f"mkdir {q(p['folder'])} && echo {q(line)} | tee line.txt > {q(p['folder'])}/line.txt")
    fails_for(judge(sb, task), "line.txt created")


def test_write_text_by_heredoc_passes(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("xterm.write-text")
    line = f"{p['word']} {p['n']}"
    shell(sb, f"mkdir -p {q(p['folder'])} && cat > {q(p['folder'])}/line.txt <<EOF\n{line}\nEOF")
    verdict = judge(sb, task)
    assert verdict.passed, verdict.explain()


# --- xterm.move-logs -------------------------------------------------------------------------


def logs(p: Mapping[str, Any]) -> str:
    return " ".join(f"{p[k]}.log" for k in ("a", "b", "c"))


def test_move_logs_copied_instead_of_moved_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("xterm.move-logs")
    shell(sb, f"mkdir {q(p['folder'])} && cp {logs(p)} {q(p['folder'])}/")
    fails_for(judge(sb, task), "copied, not moved")


def test_move_logs_with_readme_deleted_fails(sb: XvfbSandbox, setup: Any) -> None:
    # The old check (`ls *.log | wc -l` is 0, readme.txt exists) passed a moved readme.txt
    # replaced by a new one; the whole difference catches a deletion or a changed readme.
    task, p = setup("xterm.move-logs")
    shell(sb, f"mkdir {q(p['folder'])} && mv {logs(p)} {q(p['folder'])}/ && rm readme.txt")
    fails_for(judge(sb, task), "readme.txt deleted")


def test_move_logs_with_readme_moved_too_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("xterm.move-logs")
    shell(sb, f"mkdir {q(p['folder'])} && mv {logs(p)} readme.txt {q(p['folder'])}/")
    fails_for(judge(sb, task), "readme.txt")


def test_move_logs_with_readme_copied_too_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("xterm.move-logs")
    shell(sb, f"mkdir {q(p['folder'])} && mv {logs(p)} {q(p['folder'])}/ && cp readme.txt {q(p['folder'])}/")
    fails_for(judge(sb, task), f"{p['folder']}/readme.txt created")


def test_move_logs_with_a_log_rewritten_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("xterm.move-logs")
    shell(
        sb,
        f"mkdir {q(p['folder'])} && mv {logs(p)} {q(p['folder'])}/"
        f" && echo x >> {q(p['folder'])}/{p['a']}.log",
    )
    fails_for(judge(sb, task), f"{p['a']}.log was to be moved", "other contents")


def test_move_logs_one_by_one_passes(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("xterm.move-logs")
    shell(sb, f'mkdir {q(p["folder"])} && for f in *.log; do mv "$f" {q(p["folder"])}/; done')
    verdict = judge(sb, task)
    assert verdict.passed, verdict.explain()


# --- xterm.count-lines -----------------------------------------------------------------------


def test_count_lines_seq_1_50_fails(sb: XvfbSandbox, setup: Any) -> None:
    # Found by an adversarial user: the old regex, searched line by line, found the number
    # among fifty lines. The whole text must be the number.
    task, p = setup("xterm.count-lines")
    shell(sb, "seq 1 50 > count.txt")
    fails_for(judge(sb, task), "count.txt matches", f"{p['n']}")


def test_count_lines_number_and_file_name_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, _ = setup("xterm.count-lines")
    shell(sb, "wc -l data.txt > count.txt")
    fails_for(judge(sb, task), "data.txt")


def test_count_lines_with_data_changed_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, _ = setup("xterm.count-lines")
    shell(sb, "wc -l < data.txt > count.txt && sed -i 's/row/ROW/' data.txt")
    fails_for(judge(sb, task), "data.txt modified")


def test_count_lines_with_a_second_file_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, _ = setup("xterm.count-lines")
    shell(sb, "wc -l < data.txt | tee count.txt > lines.txt")
    fails_for(judge(sb, task), "lines.txt created")


def test_count_lines_padded_number_passes(sb: XvfbSandbox, setup: Any) -> None:
    task, _ = setup("xterm.count-lines")
    shell(sb, "printf '  %s \\n' \"$(cat data.txt | wc -l)\" > count.txt")
    verdict = judge(sb, task)
    assert verdict.passed, verdict.explain()


# --- mousepad.type-word ----------------------------------------------------------------------


def test_type_word_twice_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("mousepad.type-word")
    moves = gui(sb, [{"type": f"{p['word']} {p['word']}", "until": {"changed": {"role": "text"}}}])
    fails_for(judge(sb, task, moves), "text equals")


def test_type_word_capitalised_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("mousepad.type-word")
    moves = gui(sb, [{"type": str(p["word"]).capitalize(), "until": {"changed": {"role": "text"}}}])
    fails_for(judge(sb, task, moves), "text equals")


def test_type_word_plus_a_file_written_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("mousepad.type-word")
    moves = gui(sb, [{"type": str(p["word"]), "until": {"changed": {"role": "text"}}}])
    shell(sb, f"echo {q(p['word'])} > word.txt")  # the typing is right; a file was written too
    fails_for(judge(sb, task, moves), "word.txt created")


def test_type_word_with_spaces_and_blank_lines_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("mousepad.type-word")
    moves = gui(sb, [{"type": f"  {p['word']}\n\n", "until": {"changed": {"role": "text"}}}])
    fails_for(judge(sb, task, moves), "text equals")


# --- mousepad.append-line --------------------------------------------------------------------


def line(p: Mapping[str, Any]) -> str:
    return f"{p['count']} {p['item']}"


def test_append_line_joined_to_the_last_line_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("mousepad.append-line")
    steps = [
        {"key": "ctrl+end"},
        {"key": "BackSpace"},
        {"type": line(p)},
        {"key": "ctrl+s", "until": {"file_changed": "shopping.txt"}},
    ]
    fails_for(judge(sb, task, gui(sb, steps)), "shopping.txt equals", f"cheese{line(p)}")


def test_append_line_at_the_top_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("mousepad.append-line")
    steps = [
        {"key": "ctrl+home"},
        {"type": f"{line(p)}\n"},
        {"key": "ctrl+s", "until": {"file_changed": "shopping.txt"}},
    ]
    fails_for(judge(sb, task, gui(sb, steps)), "shopping.txt equals")


def test_append_line_with_a_blank_line_after_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("mousepad.append-line")
    steps = [
        {"key": "ctrl+end"},
        {"type": f"{line(p)}\n\n"},
        {"key": "ctrl+s", "until": {"file_changed": "shopping.txt"}},
    ]
    fails_for(judge(sb, task, gui(sb, steps)), "shopping.txt equals")


def test_append_line_saved_to_another_file_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("mousepad.append-line")
    shell(sb, f"printf 'Shopping list\\n1 cheese\\n%s\\n' {q(line(p))} > shopping2.txt")
    fails_for(judge(sb, task), "shopping2.txt created", "shopping.txt was to be modified")


# --- mousepad.letter-save-as -----------------------------------------------------------------


def letter(p: Mapping[str, Any]) -> str:
    return f"Dear {p['name']},\nThe meeting moved to Monday at 10.\nBest regards,\n{p['sender']}\n"


def test_letter_saved_over_the_draft_too_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("mousepad.letter-save-as")
    text = letter(p)
    shell(sb, f"printf %s {q(text)} > {q(p['newname'])}.txt && printf %s {q(text)} > draft.txt")
    fails_for(judge(sb, task), "draft.txt")


def test_letter_saved_in_a_subfolder_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("mousepad.letter-save-as")
    shell(sb, f"mkdir -p Documents && printf %s {q(letter(p))} > Documents/{q(p['newname'])}.txt")
    fails_for(judge(sb, task), f"Documents/{p['newname']}.txt created")


def test_letter_saved_without_the_extension_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("mousepad.letter-save-as")
    shell(sb, f"printf %s {q(letter(p))} > {q(p['newname'])}")
    fails_for(judge(sb, task), f"{p['newname']}.txt was to be created")


def test_letter_with_an_extra_blank_line_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("mousepad.letter-save-as")
    shell(sb, f"printf '%s\\n' {q(letter(p))} > {q(p['newname'])}.txt")
    fails_for(judge(sb, task), f"{p['newname']}.txt equals")


# --- mousepad.delete-line --------------------------------------------------------------------


def test_delete_line_leaving_it_blank_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("mousepad.delete-line")
    steps = [
        {"key": "ctrl+home"},
        {"key": "down", "repeat": p["k"]},
        {"key": "shift+end"},
        {"key": "delete"},
        {"key": "ctrl+s", "until": {"file_changed": "list.txt"}},
    ]
    fails_for(judge(sb, task, gui(sb, steps)), "list.txt equals")


def test_delete_line_and_the_next_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("mousepad.delete-line")
    steps = [
        {"key": "ctrl+home"},
        {"key": "down", "repeat": p["k"]},
        {"key": "shift+down"},
        {"key": "shift+down"},
        {"key": "delete"},
        {"key": "ctrl+s", "until": {"file_changed": "list.txt"}},
    ]
    fails_for(judge(sb, task, gui(sb, steps)), "list.txt equals")


def test_delete_line_plus_a_backup_copy_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("mousepad.delete-line")
    shell(sb, f"cp list.txt list.txt.bak && grep -vx {q(p['gone'])} list.txt.bak > list.txt")
    fails_for(judge(sb, task), "list.txt.bak created")


# --- pcmanfm.create-folder -------------------------------------------------------------------


def test_create_folder_as_an_empty_file_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("pcmanfm.create-folder")
    shell(sb, f"touch {q(p['name'])}")
    fails_for(judge(sb, task), "is a folder: no")


def test_create_folder_plus_a_stray_new_folder_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("pcmanfm.create-folder")
    shell(sb, f"mkdir {q(p['name'])} 'New Folder'")
    fails_for(judge(sb, task), "New Folder created")


def test_create_folder_with_one_nested_inside_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("pcmanfm.create-folder")
    shell(sb, f"mkdir -p {q(p['name'])}/{q(p['name'])}")
    fails_for(judge(sb, task), f"{p['name']}/{p['name']} created")


# --- pcmanfm.rename-file ---------------------------------------------------------------------


def test_rename_by_copying_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("pcmanfm.rename-file")
    shell(sb, f"cp {q(p['old'])} {q(p['new'])}")
    fails_for(judge(sb, task), "copied, not moved")


def test_rename_with_the_other_file_deleted_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("pcmanfm.rename-file")
    shell(sb, f"mv {q(p['old'])} {q(p['new'])} && rm other.txt")
    fails_for(judge(sb, task), "other.txt deleted")


def test_rename_to_a_new_file_with_other_contents_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("pcmanfm.rename-file")
    shell(sb, f"rm {q(p['old'])} && echo new > {q(p['new'])}")
    fails_for(judge(sb, task), "other contents")


# --- pcmanfm.move-file -----------------------------------------------------------------------


def test_move_file_copied_instead_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("pcmanfm.move-file")
    shell(sb, f"cp {q(p['file'])} {q(p['folder'])}/")
    fails_for(judge(sb, task), "copied, not moved")


def test_move_file_with_the_decoy_moved_too_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("pcmanfm.move-file")
    shell(sb, f"mv {q(p['file'])} {q(p['decoy'])} {q(p['folder'])}/")
    fails_for(judge(sb, task), p["decoy"])


def test_move_file_with_the_decoy_deleted_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("pcmanfm.move-file")
    shell(sb, f"mv {q(p['file'])} {q(p['folder'])}/ && rm {q(p['decoy'])}")
    fails_for(judge(sb, task), f"{p['decoy']} deleted")


def test_move_file_by_the_shell_passes(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("pcmanfm.move-file")
    shell(sb, f"mv {q(p['file'])} {q(p['folder'])}/")
    verdict = judge(sb, task)
    assert verdict.passed, verdict.explain()


# --- pcmanfm.organize ------------------------------------------------------------------------


def others(p: Mapping[str, Any]) -> str:
    rest = sorted({"jan.csv", "feb.csv", "mar.csv", "apr.csv"} - {p["f1"], p["f2"]})
    return " ".join(rest)


def test_organize_copies_and_two_files_deleted_fails(sb: XvfbSandbox, setup: Any) -> None:
    # Found by an adversarial user: two copies and two deletions left two *.csv in home, which
    # the old count of *.csv passed.
    task, p = setup("pcmanfm.organize")
    shell(sb, f"mkdir {q(p['folder'])} && cp {q(p['f1'])} {q(p['f2'])} {q(p['folder'])}/ && rm {others(p)}")
    fails_for(judge(sb, task), "copied, not moved", "deleted")


def test_organize_all_four_moved_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("pcmanfm.organize")
    shell(sb, f"mkdir {q(p['folder'])} && mv *.csv {q(p['folder'])}/")
    fails_for(judge(sb, task), "which the task does not ask for")


def test_organize_one_copied_one_moved_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("pcmanfm.organize")
    shell(
        sb,
        f"mkdir {q(p['folder'])} && cp {q(p['f1'])} {q(p['folder'])}/ && mv {q(p['f2'])} {q(p['folder'])}/",
    )
    fails_for(judge(sb, task), f"{p['f1']} was to be moved", "copied, not moved")


def test_organize_moved_files_rewritten_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("pcmanfm.organize")
    shell(
        sb,
        f"mkdir {q(p['folder'])} && mv {q(p['f1'])} {q(p['f2'])} {q(p['folder'])}/"
        f" && echo changed > {q(p['folder'])}/{q(p['f1'])}",
    )
    fails_for(judge(sb, task), "other contents")


def test_organize_by_the_shell_passes(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("pcmanfm.organize")
    shell(sb, f"mkdir {q(p['folder'])} && mv {q(p['f1'])} {q(p['f2'])} {q(p['folder'])}/")
    verdict = judge(sb, task)
    assert verdict.passed, verdict.explain()
