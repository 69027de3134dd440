"""The typed workbook reader and the ``sheet`` check, on real files in a real sandbox.

Files are written by the applications' own code inside the sandbox (Gnumeric's ssconvert, and
LibreOffice once), so formats, value types and shared formulas are what real saves contain.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest

from cua.tasks import TaskSpecError, parse_check
from cua.tasks.errors import Where
from cua.tasks.validators import (
    Book,
    Cell,
    ValidatorVerdict,
    detect_format,
    formula_refs,
    read_book,
    validate_state,
)
from cua.tasks.validators.base import Baseline, capture_state
from cua.tasks.validators.book import (
    cell_index,
    format_for_name,
    formula_ranges,
    shift_formula,
    upper_functions,
)
from sandbox import XvfbSandbox

# A table with a number, a number stored as text, booleans, formulas and an error.
TABLE = "Product,Qty,Flag\napples,42,TRUE\npears,'42,FALSE\nx,=B2*2,=1/0\ny,=B3+1,\ntot,=SUM(B2:B5),\n"
# A fill-down: B2:B4 share one formula, B5:B6 another with an anchored part.
FILLED = "n,d\n1,=A1*2\n2,=A2*2\n3,=A3*2\n4,=$A$1+A4\n5,=$A$1+A5\n"


# -- without a sandbox ----------------------------------------------------------------------------
def test_formula_refs_expand_ranges_and_skip_names() -> None:
    assert formula_refs("=SUM(B2:B4)+$C$1") == {"B2", "B3", "B4", "C1"}
    assert formula_refs("=LOG10(A1)+ATAN2(B1,C$2)") == {"A1", "B1", "C2"}
    assert formula_refs("=10+20") == set()
    assert formula_refs('="A1"&B1') == {"B1"}  # text in quotes is not a reference
    assert formula_refs("=Sheet2!A1+'My sheet'!B2+Sheet3.C3") == {"A1", "B2", "C3"}  # qualifiers ignored
    assert formula_refs("=SUM(B:B)") == set() and formula_ranges("=SUM(B:B)") == [(0, 1, 1_048_575, 1)]


def test_shared_formulas_shift_relative_parts_only() -> None:
    assert shift_formula("=A1*2", 2, 0) == "=A3*2"
    assert shift_formula("=$A$1+A4+B$1+$C2+SUM(D1:D3)", 1, 1) == "=$A$1+B5+C$1+$C3+SUM(E2:E4)"
    assert shift_formula('="A1"+A1', 1, 0) == '="A1"+A2'
    assert upper_functions('=sum(A1:A2)+log10(b1)&"abs(x)"') == '=SUM(A1:A2)+LOG10(b1)&"abs(x)"'


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


def test_detect_format_reads_bytes_not_names() -> None:
    assert detect_format(_zip({"mimetype": b"application/vnd.oasis.opendocument.text"})) == "odt"
    assert detect_format(_zip({"mimetype": b"application/vnd.oasis.opendocument.spreadsheet"})) == "ods"
    assert detect_format(_zip({"[Content_Types].xml": b"<Types>wordprocessingml</Types>"})) == "ooxml"
    assert detect_format(_zip({"a.txt": b"x"})) == "zip"
    assert detect_format(b"PK\x03\x04broken") == "unknown"
    assert detect_format(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100) == "xls"
    assert detect_format(b"a,b\n1,2\n") == "csv"
    assert detect_format(b"") == "empty"
    assert detect_format(bytes(range(256))) == "unknown"
    assert format_for_name("x/Book.ODS") == "ods" and format_for_name("a.txt") is None


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ({"A1": [1]}, "a number, a string"),
        ({"A1": {"formula": "yes"}}, "true or false"),
        ({"A1": {"refs": "B2"}}, "a list of cells or ranges"),
        ({"A1": {"refs": ["B2"], "formula": False}}, "no refs on a cell that must not be a formula"),
        ({"A1": {"values": 3}}, "some of the keys"),
        ({"1A": 3}, "cell references such as B4"),
    ],
)
def test_sheet_parse_errors_name_the_field(cells: dict[str, Any], message: str) -> None:
    with pytest.raises(TaskSpecError, match=message):
        parse_check({"sheet": {"path": "b.ods", "cells": cells}}, Where("t.yaml", "validator"))


def test_sheet_round_trips_and_names_its_path() -> None:
    data = {"sheet": {"path": "b.ods", "cells": {"B7": {"formula": True, "refs": ["B2:B6"], "value": 150}}}}
    check = parse_check(data, Where("t"))
    assert check.data() == data and check.paths() == ("b.ods",)
    assert parse_check(
        {"sheet": {"path": "b.ods", "cells": {"A1": 1}, "tolerance": "1e-3"}}, Where("t")
    ).data()["sheet"]["tolerance"] == pytest.approx(1e-3)


# -- in a real sandbox ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def box(sb: XvfbSandbox) -> Iterator[XvfbSandbox]:
    sb.reset("galculator")
    yield sb


def save(sb: XvfbSandbox, name: str, csv: str) -> str:
    """Write ``csv`` and convert it with ssconvert in the sandbox to ``name`` (its extension: the format)."""
    src = f"w/{name}.src.csv"
    sb.write_file(src, csv.encode())
    result = sb.exec(["ssconvert", src, f"w/{name}"], timeout_s=60)
    assert result.ok, result.stderr
    return f"w/{name}"


def judge(sb: XvfbSandbox, data: dict[str, Any], baseline: Baseline | None = None) -> ValidatorVerdict:
    return validate_state(sb, parse_check({"sheet": data}, Where("t")), baseline=baseline)


def start(sb: XvfbSandbox, data: dict[str, Any]) -> Baseline:
    """Record the start as cua.tasks.runner.start does: every capture of the check."""
    return Baseline("t", capture_state(sb, parse_check({"sheet": data}, Where("t"))))


@pytest.mark.x11
@pytest.mark.timeout(180)
def test_real_files_have_their_format_types_and_formulas(box: XvfbSandbox) -> None:
    for ext in ("ods", "xlsx", "gnumeric", "xls", "csv"):
        path = save(box, f"table.{ext}", TABLE)
        book = read_book(box, path)
        assert isinstance(book, Book), book
        assert book.format == ext and detect_format(box.read_file(path)) == ext
        sheet = book.sheets[0]
        assert book.sheet(0) is sheet and book.sheet(sheet.name) is sheet and book.sheet(5) is None
        assert (sheet.cell("B2").type, sheet.cell("B2").display, sheet.cell("B2").formula) == (
            "number",
            "42",
            None,
        )
        if ext == "csv":  # a CSV keeps displayed values only: no formulas, no text numbers
            assert sheet.cell("B4") == Cell("84", "number") and sheet.cell("B3").type == "number"
            continue
        assert (sheet.cell("B3").type, sheet.cell("B3").display) == ("text", "42"), ext
        assert sheet.cell("C2").type == "bool" and sheet.cell("C4").type == "error"
        assert sheet.cell("B4").formula == "=B2*2" and sheet.cell("B4").type == "number"
        assert sheet.cell("B6").display == "169" and formula_refs(sheet.cell("B6").formula or "") == {
            "B2",
            "B3",
            "B4",
            "B5",
        }
        assert sheet.cell("D9").type == "empty" and "D9" not in sheet.cells and sheet.used() == "A1:C6"


@pytest.mark.x11
@pytest.mark.timeout(180)
def test_an_ods_saved_by_libreoffice_reads_the_same(box: XvfbSandbox) -> None:
    box.write_file("lo/filled.csv", FILLED.encode())
    result = box.exec(
        ["sh", "-c", "cd lo && libreoffice --headless --convert-to ods filled.csv >/dev/null 2>&1"],
        timeout_s=120,
    )
    if not result.ok or not box.exec(["test", "-s", "lo/filled.ods"]).ok:
        pytest.skip("LibreOffice could not convert in this sandbox")
    book = read_book(box, "lo/filled.ods")
    assert isinstance(book, Book) and book.format == "ods"
    assert book.sheets[0].cell("B4").formula == "=A3*2" and book.sheets[0].cell("B4").display == "4"


@pytest.mark.x11
@pytest.mark.timeout(180)
def test_shared_formulas_get_their_own_references(box: XvfbSandbox) -> None:
    path = save(box, "filled.gnumeric", FILLED)
    box.exec(["ssconvert", "-T", "Gnumeric_XmlIO:sax", path, "w/filled.xml"])
    assert b'ExprID="1"/>' in box.exec(["sh", "-c", "gzip -dcf w/filled.xml"]).stdout  # B3, B4: no text
    book = read_book(box, path)
    assert isinstance(book, Book)
    cells = book.sheets[0].cells
    assert [cells[f"B{r}"].formula for r in range(2, 7)] == [
        "=A1*2",
        "=A2*2",
        "=A3*2",
        "=$A$1+A4",
        "=$A$1+A5",
    ]
    assert judge(box, {"path": path, "others": "any", "cells": {"B4": {"refs": ["A3"], "value": 4}}}).passed
    verdict = judge(box, {"path": path, "others": "any", "cells": {"B4": {"refs": ["A2"]}}})
    assert "B4's formula =A3*2 does not reference A2" in verdict.explain()


@pytest.mark.x11
@pytest.mark.timeout(180)
def test_the_format_is_the_bytes_not_the_name(box: XvfbSandbox) -> None:
    save(box, "real.xlsx", TABLE)
    box.exec(["cp", "w/real.xlsx", "w/book.ods"])
    cells = {"B2": 42}
    verdict = judge(box, {"path": "w/book.ods", "others": "any", "cells": cells})
    assert not verdict.passed and "w/book.ods is an xlsx file, expected ods" in verdict.explain()
    assert judge(box, {"path": "w/book.ods", "others": "any", "format": "xlsx", "cells": cells}).passed
    save(box, "real.ods", TABLE)
    box.exec(["cp", "w/real.ods", "w/book.ods"])
    assert judge(box, {"path": "w/book.ods", "others": "any", "cells": cells}).passed


@pytest.mark.x11
@pytest.mark.timeout(180)
def test_values_formulas_numbers_and_text_are_told_apart(box: XvfbSandbox) -> None:
    path = save(box, "typed.ods", TABLE)
    any_ = {"path": path, "others": "any"}
    right = {
        "A1": "Product",
        "B2": 42,
        "C2": True,
        "B6": {"formula": True, "refs": ["B2:B5"], "value": 169},
        "D1": None,
    }
    assert judge(box, {**any_, "cells": right}).passed
    explained = judge(box, {**any_, "cells": {"B3": 42}}).explain()
    assert "B3 holds the text '42', expected the number 42" in explained
    explained = judge(box, {**any_, "cells": {"B6": 169}}).explain()
    assert (
        "B6 is the formula =SUM(B2:B5) (showing '169'), expected a plain value (the number 169)" in explained
    )
    explained = judge(box, {**any_, "cells": {"B6": {"value": 170}}}).explain()
    assert "B6 holds the formula =SUM(B2:B5) (showing '169'), expected the number 170" in explained
    explained = judge(box, {**any_, "cells": {"A1": "product", "D1": None, "A2": None}}).explain()
    assert "A1 holds the text 'Product', expected the text 'product'" in explained
    assert "A2 holds the text 'apples', expected it empty" in explained and "1/3 right" in explained

    # A total typed as a number where a formula was asked for.
    typed = save(box, "typed2.ods", TABLE.replace("=SUM(B2:B5)", "169"))
    verdict = judge(box, {**any_, "path": typed, "cells": {"B6": {"formula": True, "value": 169}}})
    assert not verdict.passed and "B6 is the value 169, expected a formula" in verdict.explain()


@pytest.mark.x11
@pytest.mark.timeout(180)
def test_refs_need_every_cell_referenced(box: XvfbSandbox) -> None:
    spec = {"path": "w/refs.gnumeric", "others": "any", "cells": {"B4": {"refs": ["B2:B3"], "value": 30}}}
    for formula, passed in [("=10+20", False), ("=B2+B3", True), ("=SUM(B2:B3)", True), ("=B2+20", False)]:
        save(box, "refs.gnumeric", f"a,b\nx,10\ny,20\nt,{formula}\n")
        verdict = judge(box, spec)
        assert verdict.passed is passed, (formula, verdict.explain())
    assert "B4's formula =B2+20 does not reference B3" in verdict.explain()


@pytest.mark.x11
@pytest.mark.timeout(180)
def test_others_must_stay_as_they_were(box: XvfbSandbox) -> None:
    spec = {"path": "w/task.ods", "cells": {"B4": {"formula": True, "refs": ["B2:B3"], "value": 30}}}
    save(box, "task.ods", "a,b\nx,10\ny,20\nt,\n")
    baseline = start(box, spec)
    assert isinstance(baseline.data["sheet:w/task.ods"], Book)

    save(box, "task.ods", "a,b\nx,10\ny,20\nt,=B2+B3\n")  # the right state
    assert judge(box, spec, baseline).passed

    save(box, "task.ods", "a,b\nx,10\ny,20\nt,=B2+B3,junk\n")  # junk beside it
    verdict = judge(box, spec, baseline)
    assert not verdict.passed and "C4 changed: the text 'junk' (was empty)" in verdict.explain()

    save(box, "task.ods", "a,b\nx,10\ny,'20\nt,=B2+B3\n")  # a number turned into text
    assert "B3 changed: the text '20' (was the number 20)" in judge(box, spec, baseline).explain()

    verdict = judge(box, spec)  # validated without a start
    assert not verdict.passed and "no baseline was recorded" in verdict.explain()

    save(box, "task.ods", "a,b\nx,10\ny,20\nt,=B2+B3\n")
    explained = judge(box, {**spec, "others": "empty"}).explain()
    assert "1/2 right" in explained and explained.count("is not empty") == 7  # A1:B3 and A4

    # A file that did not exist at the start: every other cell must be empty.
    box.exec(["rm", "-f", "w/new.ods"])
    new = {"path": "w/new.ods", "cells": {"A1": "x"}}
    baseline = start(box, new)
    assert baseline.data["sheet:w/new.ods"] is None
    save(box, "new.ods", "x\n")
    assert judge(box, new, baseline).passed
    save(box, "new.ods", "x,y\n")
    assert "B1 changed: the text 'y' (was empty)" in judge(box, new, baseline).explain()


@pytest.mark.x11
@pytest.mark.timeout(180)
def test_broken_files_fail_with_reasons(box: XvfbSandbox) -> None:
    box.write_file("w/empty.ods", b"")
    box.write_file("w/junk.ods", bytes(range(256)) * 4)
    box.write_file("w/text.ods", b"hello\n")
    cases = {
        "w/empty.ods": "ssconvert could not read w/empty.ods",
        "w/junk.ods": "w/junk.ods is an unknown file, expected ods",
        "w/text.ods": "w/text.ods is a csv file, expected ods",
        "w/missing.ods": "w/missing.ods does not exist",
    }
    for path, reason in cases.items():
        verdict = judge(box, {"path": path, "others": "any", "cells": {"A1": "hello"}})
        assert not verdict.passed and reason in verdict.explain(), verdict.explain()
    verdict = judge(
        box, {"path": "w/text.ods", "others": "any", "sheet": "Nope", "format": "csv", "cells": {"A1": 1}}
    )
    assert "there is no sheet 'Nope'" in verdict.explain()
    assert cell_index("$B$2") == (1, 1)
