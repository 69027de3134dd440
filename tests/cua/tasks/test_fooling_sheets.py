"""Wrong outcomes an agent could reach in the Gnumeric and LibreOffice Calc families must fail.

Each test starts a real task on a real sandbox (the application open on its workbook), then
writes the workbook the way a careless agent could have left it: the right total typed as a
number instead of a formula, the right value plus junk in other cells, a number stored as text,
XLSX bytes under the .ods name, a second sheet instead of a renamed one... and checks that the
family's ``sheet`` validator, with the side-effect guard, rejects it for the real reason. A few
tests write the right outcome another way (another equivalent formula) and check that it passes.

Workbooks are written with Gnumeric's ssconvert inside the sandbox from a CSV (a cell ``=...`` is
a formula, ``'42`` the text 42), named after the sheet it must hold (``data.csv``, as in the
families' setups), which is what the application would have saved cell for cell.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

import pytest

from sandbox import XvfbSandbox
from tests.cua.tasks.fooling import Setup, fails_for, judge, passes, shell, starter

pytestmark = [pytest.mark.x11, pytest.mark.timeout(120)]

#: Gnumeric's importer for comma separated text, whatever the file's name.
CSV_IN = "--import-type=Gnumeric_stf:stf_csvtab"
XLSX_OUT = "--export-type=Gnumeric_Excel:xlsx2"
GNUMERIC = pytest.mark.xdist_group("fooling-sheets-gnumeric")
CALC = pytest.mark.xdist_group("fooling-sheets-localc")


@pytest.fixture
def setup(sb: XvfbSandbox) -> Setup:
    """Start instance 0 (or another) of a family on the module's sandbox; give the task and its params."""
    return starter(sb)


def save(
    sb: XvfbSandbox, path: str, csv: str, *, sheet: str = "data.csv", options: tuple[str, ...] = ()
) -> None:
    """Write ``path`` (under HOME) as a workbook of one sheet named ``sheet`` holding ``csv``."""
    src = f"/tmp/fool-sheets/{sheet}"
    sb.write_file(src, csv.encode())
    argv = ["ssconvert", CSV_IN, *options, src, path]
    shell(sb, " ".join(shlex.quote(a) for a in argv) + " >/dev/null 2>&1 && rm -rf /tmp/fool-sheets")


# --- gnumeric.header -----------------------------------------------------------------------------


@GNUMERIC
def test_gnumeric_header_plus_junk_in_another_cell_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("gnumeric.header")
    save(sb, "book.gnumeric", f"{p['title']},qty\npens,3\ncups,junk\n")
    fails_for(judge(sb, task), "B3 changed")


@GNUMERIC
def test_gnumeric_header_saved_as_csv_bytes_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("gnumeric.header")
    sb.write_file("book.gnumeric", f"{p['title']},qty\npens,3\ncups,4\n".encode())
    fails_for(judge(sb, task), "csv file, expected gnumeric")


@GNUMERIC
def test_gnumeric_header_as_a_formula_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("gnumeric.header")
    save(sb, "book.gnumeric", f'"=""{p["title"]}""",qty\npens,3\ncups,4\n')
    fails_for(judge(sb, task), "A1 is", "expected a plain value")


@GNUMERIC
def test_gnumeric_header_written_by_another_program_passes(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("gnumeric.header")
    save(sb, "book.gnumeric", f"{p['title']},qty\npens,3\ncups,4\n")
    passes(judge(sb, task))


# --- gnumeric.set-cell ---------------------------------------------------------------------------


def grid(cells: Mapping[str, Any], rows: int = 6, cols: int = 6) -> str:
    """A CSV of ``rows`` x ``cols`` holding ``cells`` ({'B2': 3}) and nothing else."""
    table = [["" for _ in range(cols)] for _ in range(rows)]
    for ref, value in cells.items():
        table[int(ref[1:]) - 1]["ABCDEF".index(ref[0])] = str(value)
    return "".join(",".join(r) + "\n" for r in table)


START = {"A1": "item", "B1": "qty", "A2": "pens", "B2": 3, "A3": "cups", "B3": 4}


@GNUMERIC
def test_gnumeric_set_cell_with_b2_b3_overwritten_fails(sb: XvfbSandbox, setup: Any) -> None:
    # The known false positive of gnumeric.set-cell/0: the value right, B2 and B3 junk.
    task, p = setup("gnumeric.set-cell")
    save(sb, "book.gnumeric", grid({**START, "B2": "junk", "B3": 999, p["ref"]: p["value"]}))
    fails_for(judge(sb, task), "B2 changed", "B3 changed")


@GNUMERIC
def test_gnumeric_set_cell_number_as_text_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("gnumeric.set-cell")
    save(sb, "book.gnumeric", grid({**START, p["ref"]: f"'{p['value']}"}))
    fails_for(judge(sb, task), p["ref"], "text")


@GNUMERIC
def test_gnumeric_set_cell_saved_under_another_name_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("gnumeric.set-cell")
    save(sb, "book2.gnumeric", grid({**START, p["ref"]: p["value"]}))
    fails_for(judge(sb, task), "book2.gnumeric created", f"{p['ref']} is empty")


# --- gnumeric.sum-column -------------------------------------------------------------------------


def days(p: Mapping[str, Any], total: str) -> str:
    v = p["v"]
    names = ["mon", "tue", "wed", "thu", "fri"]
    return "day,amount\n" + "".join(f"{n},{x}\n" for n, x in zip(names, v, strict=True)) + f"sum,{total}\n"


@GNUMERIC
def test_gnumeric_sum_column_total_typed_as_number_fails(sb: XvfbSandbox, setup: Any) -> None:
    # The known false positive of gnumeric.sum-column/0: the total typed, no formula.
    task, p = setup("gnumeric.sum-column")
    save(sb, "book.gnumeric", days(p, str(p["total"])))
    fails_for(judge(sb, task), "B7 is the value", "expected a formula")


@GNUMERIC
def test_gnumeric_sum_column_formula_missing_a_cell_fails(sb: XvfbSandbox, setup: Any) -> None:
    # The right total shown, but B6 added in as a constant: the formula leaves B6 out.
    task, p = setup("gnumeric.sum-column")
    save(sb, "book.gnumeric", days(p, f"=SUM(B2:B5)+{p['v'][4]}"))
    fails_for(judge(sb, task), "does not reference B6")


@GNUMERIC
def test_gnumeric_sum_column_constant_formula_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("gnumeric.sum-column")
    save(sb, "book.gnumeric", days(p, f"={p['total']}"))
    fails_for(judge(sb, task), "does not reference B2")


@GNUMERIC
def test_gnumeric_sum_column_number_as_text_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("gnumeric.sum-column")
    v = p["v"]
    text = days(p, "=SUM(B2:B6)").replace(f"mon,{v[0]}\n", f"mon,'{v[0]}\n")
    save(sb, "book.gnumeric", text)
    fails_for(judge(sb, task), "B2 holds", "text")


@GNUMERIC
def test_gnumeric_sum_column_reversed_range_passes(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("gnumeric.sum-column")
    save(sb, "book.gnumeric", days(p, "=SUM(B6:B2)"))
    passes(judge(sb, task))


# --- gnumeric.row-product ------------------------------------------------------------------------


def row(p: Mapping[str, Any], d2: str, extra: str = "") -> str:
    return f"item,qty,price,\npens,{p['qty']},{p['price']},{d2}\ncups,1,1,{extra}\n"


@GNUMERIC
def test_gnumeric_row_product_typed_as_number_fails(sb: XvfbSandbox, setup: Any) -> None:
    # The known false positive of gnumeric.row-product/0: the product typed, no formula.
    task, p = setup("gnumeric.row-product")
    save(sb, "book.gnumeric", row(p, str(p["total"])))
    fails_for(judge(sb, task), "D2 is the value", "expected a formula")


@GNUMERIC
def test_gnumeric_row_product_constant_times_one_cell_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("gnumeric.row-product")
    save(sb, "book.gnumeric", row(p, f"=B2*{p['price']}"))
    fails_for(judge(sb, task), "does not reference C2")


@GNUMERIC
def test_gnumeric_row_product_filled_down_too_fails(sb: XvfbSandbox, setup: Any) -> None:
    # The formula right in D2, and copied down into D3 as well.
    task, p = setup("gnumeric.row-product")
    save(sb, "book.gnumeric", row(p, "=B2*C2", "=B3*C3"))
    fails_for(judge(sb, task), "D3 changed")


@GNUMERIC
def test_gnumeric_row_product_other_order_passes(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("gnumeric.row-product")
    save(sb, "book.gnumeric", row(p, "=C2*B2"))
    passes(judge(sb, task))


# --- localc.set-cell -----------------------------------------------------------------------------

CITIES = {"A1": "city", "B1": "visits", "A2": "Oslo", "B2": 12, "A3": "Lima", "B3": 7}


@CALC
def test_localc_set_cell_xlsx_bytes_under_the_ods_name_fails(sb: XvfbSandbox, setup: Any) -> None:
    # The known false positive of localc.set-cell/0: the value right, the file an XLSX.
    task, p = setup("localc.set-cell")
    save(sb, "book.ods", grid({**CITIES, p["ref"]: p["value"]}), options=(XLSX_OUT,))
    fails_for(judge(sb, task), "is an xlsx file, expected ods")


@CALC
def test_localc_set_cell_plus_damage_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("localc.set-cell")
    save(sb, "book.ods", grid({**CITIES, "A3": "Lim", p["ref"]: p["value"]}))
    fails_for(judge(sb, task), "A3 changed")


@CALC
def test_localc_set_cell_number_as_text_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("localc.set-cell")
    save(sb, "book.ods", grid({**CITIES, p["ref"]: f"'{p['value']}"}))
    fails_for(judge(sb, task), p["ref"], "text")


@CALC
def test_localc_set_cell_written_by_another_program_passes(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("localc.set-cell")
    save(sb, "book.ods", grid({**CITIES, p["ref"]: p["value"]}))
    passes(judge(sb, task))


# --- localc.average-formula ----------------------------------------------------------------------


def scores(p: Mapping[str, Any], mean: str, values: list[str] | None = None) -> str:
    vals = values if values is not None else [str(x) for x in p["v"]]
    return "score\n" + "".join(f"{x}\n" for x in vals) + f"{mean}\n"


@CALC
def test_localc_average_typed_as_number_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("localc.average-formula")
    save(sb, "book.ods", scores(p, str(p["mean"])))
    fails_for(judge(sb, task), "A8 is the value", "expected a formula")


@CALC
def test_localc_average_over_a_short_range_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("localc.average-formula")
    # The right mean shown, but A7 added in as a constant: the formula leaves A7 out.
    save(sb, "book.ods", scores(p, f"=(SUM(A2:A6)+{p['v'][5]})/6"))
    fails_for(judge(sb, task), "does not reference A7")


@CALC
def test_localc_average_reading_its_own_cell_fails(sb: XvfbSandbox, setup: Any) -> None:
    # A circular reference: Calc shows Err:522, but Gnumeric's iterative recalculation (what
    # reads the file back) converges to the mean, and the range covers A2:A7.
    task, p = setup("localc.average-formula")
    save(sb, "book.ods", scores(p, "=AVERAGE(A2:A8)"))
    fails_for(judge(sb, task), "A8's formula =AVERAGE(A2:A8) references its own cell")


@CALC
def test_localc_average_numbers_as_text_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("localc.average-formula")
    save(sb, "book.ods", scores(p, "=AVERAGE(A2:A7)", [f"'{x}" for x in p["v"]]))
    fails_for(judge(sb, task), "A2 holds", "text")


@CALC
def test_localc_average_as_sum_over_count_passes(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("localc.average-formula")
    save(sb, "book.ods", scores(p, "=SUM(A2:A7)/COUNT(A2:A7)"))
    passes(judge(sb, task))


# --- localc.rename-sheet -------------------------------------------------------------------------

ITEMS = "item,qty\nPens,40\nPaper,25\nStaples,60\n"


@CALC
def test_localc_rename_by_adding_a_second_sheet_fails(sb: XvfbSandbox, setup: Any) -> None:
    # A new sheet with the new name and a copy of the table, Sheet1 left beside it.
    task, p = setup("localc.rename-sheet")
    sb.write_file("/tmp/fool-sheets/Sheet1", ITEMS.encode())
    sb.write_file(f"/tmp/fool-sheets/{p['name']}", ITEMS.encode())
    shell(
        sb,
        f"ssconvert {CSV_IN} --merge-to=book.ods /tmp/fool-sheets/Sheet1 "
        f"/tmp/fool-sheets/{shlex.quote(p['name'])} >/dev/null 2>&1 && rm -rf /tmp/fool-sheets",
    )
    fails_for(judge(sb, task), "FAIL not")


@CALC
def test_localc_rename_with_a_changed_cell_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("localc.rename-sheet")
    save(sb, "book.ods", ITEMS.replace("60", "600"), sheet=p["name"])
    fails_for(judge(sb, task), "B4 holds")


@CALC
def test_localc_rename_to_another_name_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("localc.rename-sheet")
    save(sb, "book.ods", ITEMS, sheet=p["name"].lower())
    fails_for(judge(sb, task), f"there is no sheet {p['name']!r}")


@CALC
def test_localc_rename_saved_as_xlsx_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("localc.rename-sheet")
    save(sb, "book.ods", ITEMS, sheet=p["name"], options=(XLSX_OUT,))
    fails_for(judge(sb, task), "is an xlsx file, expected ods")


@CALC
def test_localc_rename_written_by_another_program_passes(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("localc.rename-sheet")
    save(sb, "book.ods", ITEMS, sheet=p["name"])
    passes(judge(sb, task))


# --- localc.sum-column ---------------------------------------------------------------------------


def months(p: Mapping[str, Any], total: str) -> str:
    n = int(p["cell"][1:]) - 2
    names = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep"]
    return "month,amount\n" + "".join(f"{names[i]},{p['v'][i]}\n" for i in range(n)) + f",{total}\n"


@CALC
def test_localc_sum_column_typed_as_number_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("localc.sum-column")
    save(sb, "book.ods", months(p, str(p["total"])))
    fails_for(judge(sb, task), f"{p['cell']} is the value", "expected a formula")


@CALC
def test_localc_sum_column_constant_formula_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("localc.sum-column")
    save(sb, "book.ods", months(p, f"={p['total']}"))
    fails_for(judge(sb, task), "does not reference B2")


@CALC
def test_localc_sum_column_whole_column_plus_junk_fails(sb: XvfbSandbox, setup: Any) -> None:
    # SUM over B2 and below in the cell, plus a stray note in C1.
    task, p = setup("localc.sum-column")
    text = months(p, f"=SUM(B2:{p['last']})").replace("month,amount\n", "month,amount,note\n")
    save(sb, "book.ods", text)
    fails_for(judge(sb, task), "C1 changed")


@CALC
def test_localc_sum_column_plus_terms_passes(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("localc.sum-column")
    terms = "+".join(f"B{r}" for r in range(2, int(p["cell"][1:])))
    save(sb, "book.ods", months(p, f"={terms}"))
    passes(judge(sb, task))


# --- localc.find-replace -------------------------------------------------------------------------


def cities(old: str, new: str, names: tuple[str, str, str] | None = None) -> str:
    a, b, c = names if names is not None else (new, new, new)
    return f"city,visits\n{a},12\nLima,7\n{b},31\nPune,5\nAccra,18\n{c},9\n"


@CALC
def test_localc_find_replace_one_left_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("localc.find-replace")
    save(sb, "book.ods", cities(p["old"], p["new"], (p["new"], p["new"], p["old"])))
    fails_for(judge(sb, task), "A7 holds")


@CALC
def test_localc_find_replace_too_wide_fails(sb: XvfbSandbox, setup: Any) -> None:
    # Every city replaced, Lima too.
    task, p = setup("localc.find-replace")
    save(sb, "book.ods", cities(p["old"], p["new"]).replace("Lima", p["new"]))
    fails_for(judge(sb, task), "A3 changed")


@CALC
def test_localc_find_replace_with_a_trailing_space_fails(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("localc.find-replace")
    padded = f'"{p["new"]} "'
    save(sb, "book.ods", cities(p["old"], p["new"], (padded, p["new"], p["new"])))
    fails_for(judge(sb, task), "A2 holds")


@CALC
def test_localc_find_replace_by_hand_passes(sb: XvfbSandbox, setup: Any) -> None:
    task, p = setup("localc.find-replace")
    save(sb, "book.ods", cities(p["old"], p["new"]))
    passes(judge(sb, task))
