"""The CSV files people edit by hand, each read by its own reader through the one CSV reader
(``khabar/foundation/csv_files.py``): the corpus's ``pages.csv``, a file of the knowledge base
(``ambiguous_sources.csv``, written by hand) and the adjudicator's reasons. Real files, read as the commands read them."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import astuple, dataclass
from pathlib import Path

import pytest

from khabar.annotation.ingest import PAGE_FIELDS, read_metadata
from khabar.foundation.errors import KhabarError
from khabar.gold.adjudicate import read_reasons
from khabar.kb import files
from khabar.kb.files import AmbiguousSource

SOURCES = "id,name_ar,name_en,site,country\nrt,آر تي عربي,RT Arabic,arabic.rt.com,RU\n"


@dataclass(frozen=True)
class Kind:
    """A file people edit, as a test writes and reads it."""

    name: str
    header: list[str]
    row: Callable[[int, str], list[str]]  # the n-th good row, with a text of its own in its free-text column
    text: int  # where that column is
    offset: int | None  # a column of whole numbers, if it has one
    read: Callable[[Path], list[tuple[str, ...]]]  # the rows the command reads from the folder holding the file

    def write(self, folder: Path, rows: list[list[str]], line_end: str = "\n") -> Path:
        """The file as an editor saves it: its rows ended by ``line_end``, a value's own line break quoted as it is
        (csv quotes one only when it is a character of the row's end: written so, the value over two lines broke)."""
        path = folder / self.name
        path.write_text("".join(_line(row).removesuffix("\r\n") + line_end for row in [self.header, *rows]), encoding="utf-8", newline="")
        return path


def _line(row: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(row)
    return out.getvalue()


def _pages(folder: Path) -> list[tuple[str, ...]]:
    (folder / "sources.csv").write_text(SOURCES, encoding="utf-8")
    return [tuple(row[name] for name in PAGE_FIELDS) for row in read_metadata(folder).values()]


KINDS = [
    Kind("pages.csv", list(PAGE_FIELDS), lambda n, text: [f"{n:03}.txt", "rt", text, "2024-03-24", "", "", "story"], 2, None, _pages),
    Kind("ambiguous_sources.csv", files.header(AmbiguousSource), lambda n, text: ["d1", str(n), str(n + 9), text], 3, 1,
         lambda folder: [tuple(map(str, astuple(row))) for row in files.read(AmbiguousSource, folder)]),
    Kind("khabar.adjudication.csv", ["doc_id", "layer", "label", "start", "end", "change", "guideline"],
         lambda n, text: ["d1", "entity", "ORG", str(n), str(n + 4), "removed", text], 6, 3,
         lambda folder: [tuple(map(str, astuple(r)[:7])) for r in read_reasons(folder / "khabar.adjudication.csv")]),
]
#: texts a person's file holds, read as they are: Arabic between bidi controls, a value over two lines, what a
#: spreadsheet would take for a formula (never written by a command: see the knowledge base's tests)
TEXTS = ["\u202bمصادر|رويترز\u202c", "الوكالة\nتقريرها", "=cmd|' /C calc'!A0|@SUM(1)"]


@pytest.mark.parametrize("layout", ["a byte order mark", "CRLF", "CR", "blank lines"])
@pytest.mark.parametrize("kind", KINDS, ids=[kind.name for kind in KINDS])
def test_a_hand_edited_csv_file_reads_as_the_spreadsheet_or_editor_that_saved_it_meant_it(kind: Kind, layout: str, tmp_path: Path):
    """Excel's "CSV UTF-8" starts with a byte order mark (read as part of the first column's name, it refused the
    header: "missing column(s) file", "header is ['\\ufeffdoc_id', …]"); a file saved with CRLF or CR, or with blank
    lines, holds the same rows as one saved with LF."""
    rows = [kind.row(n, text) for n, text in enumerate(TEXTS, start=1)]
    plain = tmp_path / "plain"
    plain.mkdir()
    kind.write(plain, rows)
    expected = kind.read(plain)
    assert expected == [tuple(row) for row in rows]
    saved = tmp_path / "saved"
    saved.mkdir()
    path = kind.write(saved, rows, line_end={"CRLF": "\r\n", "CR": "\r"}.get(layout, "\n"))
    if layout == "a byte order mark":
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    if layout == "blank lines":
        path.write_text("\n".join(_line(row).removesuffix("\r\n") + "\n" for row in [kind.header, *rows]) + "\n", encoding="utf-8")
    assert kind.read(saved) == expected


def _bad(kind: Kind, case: str) -> tuple[bytes, int, str]:
    """A file of ``kind`` broken as ``case`` says, the line of the problem and what its message says. Line 1 is the
    header, line 2 a row, lines 3-4 a row whose value is quoted over both, line 5 the broken row."""
    good = [kind.row(1, "one line"), kind.row(2, "two\nlines")]
    row = kind.row(3, "third")
    start = "".join(_line(values).removesuffix("\r\n") + "\n" for values in [kind.header, *good])

    def then(values: list[str]) -> bytes:
        return (start + ",".join(values) + "\n").encode("utf-8")

    if case == "one value too few":
        return then(row[:-1]), 5, f"{len(row) - 1} values where the header has {len(row)} columns: no value for {kind.header[-1]!r}"
    if case == "one value too many":
        return then([*row, "extra"]), 5, f"{len(row) + 1} values where the header has {len(row)} columns: «extra» has no column"
    if case == "a NUL byte":
        return then([*row[:kind.text], "th\x00ird", *row[kind.text + 1:]]), 5, "a NUL byte: not a text file"
    if case == "a byte that is not UTF-8":
        return then(row).replace(b"third", b"thi\xe9rd"), 5, "not UTF-8 (byte 0xe9 at offset"
    if case == "a value past csv's limit":
        return then([*row[:kind.text], "x" * 200_000, *row[kind.text + 1:]]), 5, "not CSV: field larger than field limit (131072)"
    if case == "a quote left open":
        return then([*row[:kind.text], '"third', *row[kind.text + 1:]]), 5, "not CSV: unexpected end of data"
    if case == "a character after a closing quote":
        return then([*row[:kind.text], '"thi"rd', *row[kind.text + 1:]]), 5, "not CSV: ',' expected after '\"'"
    if case == "an empty file":
        return b"", 1, f"an empty file: its first line is the header, {'the columns ' if kind.name == 'pages.csv' else ''}{','.join(kind.header)}"
    if case == "a column named twice":
        doubled = ",".join([*kind.header, kind.header[0]]) + "\n" + "".join(",".join([*r, "x"]).replace("two\nlines", '"two\nlines"') + "\n" for r in good)
        return doubled.encode("utf-8"), 1, f"names {kind.header[0]!r} more than once"
    if case == "an offset in Arabic digits":
        assert kind.offset is not None
        return then([*row[:kind.offset], "٣", *row[kind.offset + 1:]]), 5, f"{kind.header[kind.offset]} «٣» is not a whole number written in ASCII digits"
    raise AssertionError(case)


CASES = ["one value too few", "one value too many", "a NUL byte", "a byte that is not UTF-8", "a value past csv's limit", "a quote left open",
         "a character after a closing quote", "an empty file", "a column named twice", "an offset in Arabic digits"]


@pytest.mark.parametrize(("kind", "case"), [
    pytest.param(kind, case, id=f"{kind.name}-{case}") for kind in KINDS for case in CASES if kind.offset is not None or "offset" not in case
])
def test_what_is_wrong_in_a_hand_edited_csv_file_is_one_line_naming_its_file_line_and_value(kind: Kind, case: str, tmp_path: Path):
    """The line is the file's, as an editor numbers it: after a value quoted over two lines, the row counted as line 4
    was line 5. Before, a NUL byte, a quote left open and an offset in Arabic digits were read as values, a column
    named twice took the second column's values, an empty reasons file was no reasons, and a value past csv's limit was
    a traceback."""
    data, line, problem = _bad(kind, case)
    (tmp_path / kind.name).write_bytes(data)
    with pytest.raises(KhabarError) as raised:
        kind.read(tmp_path)
    message = str(raised.value)
    assert message.startswith(f"{tmp_path / kind.name}:{line}: ") and problem in message and "\n" not in message, message
    assert raised.value.exit_status == 2


def test_two_reasons_for_one_departure_are_refused_naming_both_lines(tmp_path: Path):
    """The log took the last one's guideline without a word."""
    kind = KINDS[2]
    path = kind.write(tmp_path, [kind.row(1, "D27"), kind.row(2, "D28"), kind.row(1, "D36")])
    with pytest.raises(KhabarError, match=f"^{path}:4: the reason for the same departure as line 2: one guideline each"):
        read_reasons(path)
