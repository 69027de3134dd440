"""Spreadsheets as rows of displayed values, converted by Gnumeric's ``ssconvert`` inside the sandbox.

Any format the applications save (.gnumeric, .ods, .xlsx, .xls, .csv) becomes CSV of the values
as displayed, from A1, so cells keep the positions the user sees.
"""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path

from sandbox.base import Sandbox
from sandbox.errors import SandboxError

MAX_SHEET_CELLS = 5_000_000
"""The most cells (rows x columns from A1) a spreadsheet check converts; more is refused."""
#: Sheet -> CSV in the sandbox, from A1 (args: scratch folder, file, output pattern, cell limit).
#: ssconvert's CSV export alone starts at the first used cell, dropping leading empty rows and
#: columns, which shifts every position. So the Gnumeric XML export first tells how far the
#: sheets reach (their sizes and every cell's row and column), and the CSV export then takes
#: the range from A1 to there. Exit 3: no such file; 4: ssconvert failed; 5: too many cells.
_CONVERT = r"""
mkdir -p "$1" && test -e "$2" || { echo "no such file" >&2; exit 3; }
ssconvert -T Gnumeric_XmlIO:sax "$2" "$1/book.xml" >/dev/null 2>"$1/log" \
  || { tail -c 300 "$1/log" >&2; exit 4; }
range=$(gzip -dcf "$1/book.xml" \
  | grep -oE '<gnm:Max(Col|Row)>[0-9]+|<gnm:Cell Row="[0-9]+" Col="[0-9]+"' \
  | awk -v limit="$4" '
    function letters(n,  s) {
      s = ""; n++
      while (n > 0) { s = sprintf("%c", 65 + (n - 1) % 26) s; n = int((n - 1) / 26) }
      return s
    }
    /MaxCol/ { sub(/.*>/, ""); if ($0 + 0 > c) c = $0 + 0; next }
    /MaxRow/ { sub(/.*>/, ""); if ($0 + 0 > r) r = $0 + 0; next }
    { split($0, a, "\""); if (a[2] + 0 > r) r = a[2] + 0; if (a[4] + 0 > c) c = a[4] + 0 }
    END {
      if ((r + 1) * (c + 1) > limit) { print (r + 1) * (c + 1); exit 5 }
      print "A1:" letters(c) (r + 1)
    }') \
  || { echo "$range cells" >&2; exit 5; }
ssconvert -S --export-range="$range" --export-type=Gnumeric_stf:stf_csv "$2" "$1/$3" \
  >/dev/null 2>"$1/log" || { tail -c 300 "$1/log" >&2; exit 4; }
"""


def _convert(sandbox: Sandbox, scratch: str, src: str, path: str, pattern: str) -> str | None:
    """Run the conversion (``_CONVERT``) of ``src`` into ``scratch``; return why it failed, or None."""
    result = sandbox.exec(
        ["sh", "-c", _CONVERT, "sh", scratch, src, pattern, str(MAX_SHEET_CELLS)], timeout_s=60
    )
    if result.returncode == 3:
        return f"{path} does not exist"
    if result.returncode == 5:
        cells = result.stderr.decode(errors="replace").strip()
        return f"{path} is too large to compare: {cells} from A1 (the limit is {MAX_SHEET_CELLS:,})"
    if not result.ok:
        why = result.stderr.decode(errors="replace").strip() or f"exit status {result.returncode}"
        return f"ssconvert could not read {path}: {why}"
    return None


def _source(sandbox: Sandbox, scratch: str, path: str, upload: bytes | None) -> str:
    """Return the file to convert: ``path``, or ``upload`` written into ``scratch`` under its name."""
    if upload is None:
        return path
    src = f"{scratch}/in/{Path(path).name}"
    sandbox.write_file(src, upload)
    return src


def read_sheet(
    sandbox: Sandbox, path: str, sheet: str | int = 0, upload: bytes | None = None
) -> list[list[str]] | str:
    """Return one sheet of a spreadsheet in ``sandbox`` as rows of displayed values, or an error message.

    ``upload``: the file's bytes, written to a scratch folder in the sandbox first (for a file
    that lives on the host). A ``.csv`` file is read as it is.
    """
    scratch = f"/tmp/cua-validate-{uuid.uuid4().hex[:8]}"
    try:
        src = _source(sandbox, scratch, path, upload)
        if upload is None and path.lower().endswith(".csv"):
            try:
                text = sandbox.read_file(path).decode("utf-8", "replace")
            except SandboxError:
                return f"{path} does not exist"
            return list(csv.reader(io.StringIO(text)))
        problem = _convert(sandbox, scratch, src, path, "%n.csv" if isinstance(sheet, int) else "%s.csv")
        if problem is not None:
            return problem
        name = f"{sheet}.csv"
        try:
            data = sandbox.read_file(f"{scratch}/{name}").decode("utf-8", "replace")
        except SandboxError:
            return f"{path} has no sheet {sheet!r}"
        return list(csv.reader(io.StringIO(data)))
    finally:
        sandbox.exec(["rm", "-rf", scratch], timeout_s=10)


def convert_book(
    sandbox: Sandbox, path: str, upload: bytes | None = None
) -> tuple[bytes, bytes, list[bytes]] | str:
    """Convert a whole workbook in one exec; return (the file's bytes, Gnumeric XML, each sheet's CSV).

    The CSVs are the displayed values from A1, one per sheet in order; an error message instead
    when the file does not exist, is too large or ssconvert cannot read it.
    """
    scratch = f"/tmp/cua-validate-{uuid.uuid4().hex[:8]}"
    try:
        src = _source(sandbox, scratch, path, upload)
        problem = _convert(sandbox, scratch, src, path, "%n.csv")
        if problem is not None:
            return problem
        try:
            data = upload if upload is not None else sandbox.read_file(src)
            xml = sandbox.read_file(f"{scratch}/book.xml")
        except SandboxError as exc:
            return f"{path} could not be read back: {exc}"
        csvs: list[bytes] = []
        while True:
            try:
                csvs.append(sandbox.read_file(f"{scratch}/{len(csvs)}.csv"))
            except SandboxError:
                break
        return data, xml, csvs
    finally:
        sandbox.exec(["rm", "-rf", scratch], timeout_s=10)
