"""The export read task by task gives the tasks, and the errors, of one ``json`` parse of the whole file.

Each case is read as the reader reads it, with chunks of every size: streamed when its top
level is a list (each task's end found by msgspec, or by the separator of an indented file,
what msgspec refuses judged by ``json`` on a window of the file), else whole; and compared
with ``json.loads`` of the whole text, broken anywhere, by hand and by hypothesis.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from unittest.mock import patch

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from khabar.foundation.errors import KhabarError
from khabar.validation import export_json
from khabar.validation.export_json import ExportFile
from khabar.validation.reader import OWNER_LISTS

TASK: dict[str, Any] = {"id": 1, "data": {"text": "قال الوزير «نعم»", "doc_id": "d1"}, "annotations": [{"id": 7, "lead_time": 1.25, "result": []}]}

THREE = [TASK, {**TASK, "id": 2}, {**TASK, "id": 3}]
PULLED = json.dumps(THREE, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")
#: what Label Studio's snapshot export writes (json.dumps): the list on one line
MINIFIED = json.dumps(THREE, ensure_ascii=False).encode("utf-8")


def ui_layout(tasks: Any) -> str:
    """What the JSON export of Label Studio's UI writes (ujson): no spaces, ``/`` escaped (in JSON only a string holds one)."""
    return json.dumps(tasks, ensure_ascii=False, separators=(",", ":")).replace("/", "\\/")


LONG_TEXT = "قال الوزير " * 600
#: the only cases not streamed: their top level is no list from their first byte
READ_WHOLE = {
    "top level object", "a byte order mark", "white space only", "empty", "a byte order mark before a pull", "a page that is no JSON",
    "a page that is no JSON, then a byte that is not UTF-8", "an object broken in its first bytes", "an object broken after its first bytes",
    "white space only, then a character", "an object with a lone surrogate",
}

CASES = {
    "a pull's layout": PULLED,
    "minified": MINIFIED,
    "Label Studio's UI layout": ui_layout([{"id": n, "data": {**TASK["data"], "url": "https://example.org/a/b"}, "annotations": TASK["annotations"]} for n in (1, 2)]).encode("utf-8"),
    "indent 4": json.dumps([TASK, {**TASK, "id": 2}], ensure_ascii=False, indent=4).encode("utf-8"),
    "indent with tabs": json.dumps(THREE, ensure_ascii=False, indent="\t").encode("utf-8"),
    "CRLF line ends": PULLED.replace(b"\n", b"\r\n"),
    "white space everywhere": b' \r\n\t[ \n{"id": 1, "a": [ ]}\t ,\r\n\n  {"id" :2}\n ,{"id":3}  ]',
    "white space after the list": MINIFIED + b" \n\t\r\n",
    "brackets and separators inside tasks": json.dumps(
        [{"id": 1, "a": [[{"b": "},{"}, {"c": "]"}], [], {}], "s": '}, {"id": 2}]', "t": "\\"}, {"id": 2, "u": "[{\\\"}"}],
    ).encode("utf-8"),
    "numbers of every form": b'[{"a": [1, -0.5e+10, 2E-3, 0, -0, 123.456, 1e5, 10000000000000000000000, true, false, null]}, {"id": -12}]',
    # escaped: a string holds no raw newline, so this is no separator
    "a separator written inside a string": json.dumps([{"id": 1, "t": "\n  },\n  {"}, {"id": 2}], indent=2).encode("utf-8"),
    "no newline at the end": PULLED.rstrip(),
    # longer than the first read (HEAD_BYTES): the buffer grows to hold it when the chunks are small
    "a task longer than the buffer": json.dumps(
        [TASK, {**TASK, "id": 2, "data": {"text": LONG_TEXT, "doc_id": "d2"}}, {**TASK, "id": 3}], ensure_ascii=False, indent=2,
    ).encode("utf-8"),
    "a minified task longer than the buffer": json.dumps(
        [TASK, {**TASK, "id": 2, "data": {"text": LONG_TEXT, "doc_id": "d2"}}, {**TASK, "id": 3}], ensure_ascii=False,
    ).encode("utf-8"),
    # a file pretty-printed but not by json.dumps: the separator inside a task guesses its end wrong, msgspec finds it
    "the separator inside a task": b'[\n  {"id": 1, "a": [\n  {"b": 1\n  },\n  {"c": 2}]\n  },\n  {"id": 2}\n]',
    "a pull's layout with NaN in one task": PULLED.replace(b'"lead_time": 1.25', b'"lead_time": NaN', 1),
    "a pull's layout with a lone surrogate in its last task": PULLED[: PULLED.rindex(b'"doc_id"')] + b'"x": "\\udc00", ' + PULLED[PULLED.rindex(b'"doc_id"') :],
    # msgspec refuses a lone surrogate wherever it stands (the streamed read does not look for one): read whole
    "a pull's layout with a lone surrogate in a key": PULLED.replace(b'"doc_id"', b'"\\ud800x": 1, "doc_id"', 1),
    "a pull's layout with a high surrogate before another escape": PULLED.replace(b'"doc_id"', b'"x": "\\ud800\\n", "doc_id"', 1),
    # an escaped backslash before "ud800" is no escape of a surrogate
    "a pull's layout with a backslash before ud800": PULLED.replace(b'"doc_id"', b'"x": "\\\\ud800", "doc_id"', 1),
    "a pull's layout cut short": PULLED[:-40],
    "a pull's layout with a trailing comma": PULLED.rstrip()[:-1] + b",\n]",
    "a pull's layout followed by more": PULLED + b"[]",
    "minified with NaN in one task": MINIFIED.replace(b'"lead_time": 1.25', b'"lead_time": NaN', 1),
    "minified with a lone surrogate in its last task": MINIFIED[: MINIFIED.rindex(b'"doc_id"')] + b'"x": "\\udc00", ' + MINIFIED[MINIFIED.rindex(b'"doc_id"') :],
    # they end as a list of objects ends, so the streamed read starts, and stops where the list breaks
    "garbage after the list": MINIFIED + b' {"id": 4}]',
    "a second list after the list": MINIFIED + b"\n[{}]",
    "a missing ] inside a task": MINIFIED.replace(b'"result": []', b'"result": [', 1),
    "a missing ] at the end": MINIFIED[:-1],
    "a missing comma between tasks": MINIFIED.replace(b"}, {", b"} {", 1),
    "a top-level list holding a non-object": b'[{"id": 1}, 2, {"id": 3}]',
    "a top-level list holding a list": b'[{"id": 1}, [{"id": 2}], {"id": 3}]',
    # the buffer's bytes after the file's end are an earlier chunk's: never read as the file's
    "a list holding a list that ends the file": b'[[\n{"a": 1}\n]',
    "a list with no item and no end": b"[ \n",
    "escapes and large numbers": b'[{"id": 1, "a": "\\u00e9\\ud83d\\ude00\\n", "b": 123456789012345678901234567890, "c": -0.0, "d": 5e-324, "e": {"k": 1, "k": 2}}]',
    "empty list": b" [ ] \n",
    # json accepts these, msgspec does not: read as before
    "NaN": b'[{"id": 1, "lead_time": NaN}]',
    "1e400": b'[{"id": 1, "lead_time": 1e400}]',
    "lone surrogate escape": b'[{"id": 1, "data": {"text": "a\\ud800b"}}]',
    # neither accepts these: the same message as before
    "trailing comma": b'[{"id": 1},]',
    "a byte order mark": b'\xef\xbb\xbf[{"id": 1}]',
    "top level object": b'{"id": 1}',
    "a 5,000-digit integer": b'[{"id": ' + b"9" * 5000 + b"}]",
    # json takes the digits of a string or a float, and an integer of up to 4,300 digits: typed decoding too
    "5,000 digits in a string, a float and an exponent": b'[{"id": 1, "s": "' + b"9" * 5000 + b'", "f": ' + b"9" * 5000 + b".5, \"e\": " + b"9" * 5000 + b"e1}]",
    "a 4,300-digit integer": b'[{"id": 1, "meta": ' + b"9" * 4300 + b"}]",
    "nested too deeply": b"[" * 3000 + b"]" * 3000,
    "nested too deeply inside a task": b'[{"id": 1}, {"a": ' + b"[" * 3000 + b"]" * 3000 + b"}]",
    "not UTF-8": '[{"id": 1, "data": {"text": "قال"}}]'.encode() + b"\xff]",
    "a lead byte before ASCII": '[{"id": 1, "data": {"text": "قال'.encode() + b'\xd8"}}]',
    "cut inside a character": '[{"id": 1, "data": {"text": "قال"}}'.encode()[:-5],
    "cut at the end of a character": '[{"id": 1, "data": {"text": "قال'.encode()[:-1],
    "white space only": " \n\u3000\u00a0 ".encode(),
    # json refuses them within their first bytes: refused without a whole read
    "a byte order mark before a pull": b"\xef\xbb\xbf" + PULLED,
    "a page that is no JSON": b"<!DOCTYPE html>\n<html><body>" + b"<p>Gateway Timeout</p>" * 400 + b"</body></html>",
    "a page that is no JSON, then a byte that is not UTF-8": b"<html>" + b" " * 5000 + b"\xff</html>",
    "an object broken in its first bytes": b'{"id" 1, "data": {"text": "' + LONG_TEXT.encode() + b'"}}',
    "white space only, then a character": "\u3000\n".encode() * 3000 + b"x",
    # json refuses it far from its start, or parses it: read whole
    "an object broken after its first bytes": b'{"data": {"text": "' + LONG_TEXT.encode() + b'"}, "id" 1}',
    "an object with a lone surrogate": b'{"data": {"text": "\\ud800"}}',
    "empty": b"",
}

#: a file broken by one edit (old bytes → new, at their first, or last, occurrence)
BREAKS: dict[str, tuple[bytes, bytes, int]] = {
    "a missing comma between tasks": (b"<SEP>", b"} {", 1),
    "two commas between tasks": (b"<SEP>", b"},, {", 1),
    "a comma before the end of the list": (b"<END>", b"},\n]", 1),
    "a comma and the end of the file": (b"<END>", b"},", 1),
    "an object's } missing": (b"<SEP>", b", {", 1),
    "an object's } doubled": (b"<SEP>", b"}}, {", -1),
    "a ] missing inside a task": (b"[]", b"[", -1),
    "a bad literal": (b"1.25", b"tru", -1),
    "a bad literal at the end of an object": (b"1.25", b"nul", 1),
    "a number with no digit after its point": (b"1.25", b"1.", -1),
    "a number with no digit in its exponent": (b"1.25", b"1e+", 1),
    "a lone minus": (b"1.25", b"-", -1),
    "a leading zero": (b"1.25", b"01", 1),
    "Infinity": (b"1.25", b"Infinity", -1),
    "-Infinity": (b"1.25", b"-Infinity", 1),
    "Inf": (b"1.25", b"Inf", -1),
    "1e400": (b"1.25", b"1e400", 1),
    "a 5,000-digit integer in a task": (b"1.25", b"9" * 5000, -1),
    # a task field the typed structs do not declare: typed decoding skips it without reading its number
    "a 5,000-digit integer in a field the typed decoding skips": (b'"annotations"', b'"meta": -' + b"9" * 5000 + b', "annotations"', -1),
    "an integer beyond 64 bits": (b"1.25", b"-123456789012345678901234567890", 1),
    "a string with no closing quote": (b'"d1"', b'"d1', -1),
    "a key with no opening quote": (b'"doc_id"', b'doc_id"', 1),
    "a missing colon": (b'"id":', b'"id"', -1),
    "a raw tab in a string": ("الوزير".encode(), "الو\tزير".encode(), 1),
    "a raw newline in a string": ("الوزير".encode(), "الو\nزير".encode(), -1),
    "an invalid escape": ("الوزير".encode(), "الو\\xزير".encode(), -1),
    "an invalid unicode escape": ("الوزير".encode(), "الو\\u12G4زير".encode(), 1),
    "a unicode escape cut by the string's end": (b'"d1"', b'"d1\\u12"', -1),
    "a backslash before the closing quote": (b'"d1"', b'"d1\\"', 1),
    "a non-ASCII character between tasks": (b"<SEP>", "}، {".encode(), 1),
    "a non-ASCII character after the list": (b"]", "]\n،".encode(), -1),
    "a second list after the list": (b"]", b"] []", -1),
    "the list's ] missing": (b"]", b"", -1),
    "a number as an item": (b"<SEP>", b"}, 12, {", 1),
    "NaN as an item": (b"<SEP>", b"}, NaN, {", -1),
    "a string as an item": (b"<SEP>", b'}, "\\u00e9 x", {', 1),
    "a list as the last item": (b"<END>", b'}, [1, {"a": null}]\n]', 1),
    "a lone surrogate in a string item": (b"<SEP>", b'}, "\\udfff", {', -1),
    "a lone surrogate in the first task and another in the last": (b'"d1"', b'"\\ud800"', 1),
    "a lone surrogate, then a syntax error": (b'"d1"', b'"\\ud800"', 1),
    "a lone surrogate, then a byte that is not UTF-8": (b'"d1"', b'"\\ud800"', 1),
    "a syntax error, then a byte that is not UTF-8": (b"<SEP>", b"} {", 1),
    "a syntax error, then a lone surrogate": (b"<SEP>", b"} {", 1),
    "a task nested too deeply, then a syntax error": (b"1.25", b"[" * 3000 + b"]" * 3000, 1),
    "a syntax error, then a 5,000-digit integer": (b"1.25", b"9" * 5000, -1),
}
#: a second edit, after (or before) the first
SECOND: dict[str, tuple[bytes, bytes, int]] = {
    "a lone surrogate in the first task and another in the last": (b'"d1"', b'"\\udc00"', -1),
    "a lone surrogate, then a syntax error": (b"1.25", b"1.25 1", -1),
    "a lone surrogate, then a byte that is not UTF-8": ("الوزير".encode(), b"\xff", -1),
    "a syntax error, then a byte that is not UTF-8": ("الوزير".encode(), b"\xc0", -1),
    "a syntax error, then a lone surrogate": (b'"d1"', b'"\\ud800"', -1),
    "a task nested too deeply, then a syntax error": (b'"d1"', b'"d1"x', -1),
    "a syntax error, then a 5,000-digit integer": (b'"d1"', b'"d1', 1),
}


def _edit(data: bytes, old: bytes, new: bytes, where: int) -> bytes:
    """``data`` with ``old`` replaced by ``new`` at its first (``where`` 1) or last occurrence; ``<SEP>`` stands for what
    separates two tasks (``}, {``, or ``},``, a newline and an indent, ``{``), ``<END>`` for the end of the last task."""
    pattern = {b"<SEP>": rb"\},[ \r\n]*\{", b"<END>": rb"\}[ \r\n]*\][ \r\n]*\Z"}.get(old, re.escape(old))
    found = list(re.finditer(pattern, data))[0 if where == 1 else -1]
    return data[: found.start()] + new + data[found.end() :]


def _broken(data: bytes, name: str) -> bytes:
    data = _edit(data, *BREAKS[name])
    return _edit(data, *SECOND[name]) if name in SECOND else data


for _layout, _data in {"indented": PULLED, "minified": MINIFIED, "CRLF": PULLED.replace(b"\n", b"\r\n")}.items():
    for _name in BREAKS:
        CASES[f"{_layout}: {_name}"] = _broken(_data, _name)


def _whole(path: Path) -> tuple[str, object]:
    """Today's reading: decode the whole file, refuse what is not text, then one ``json`` parse."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return "error", f"not UTF-8 (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
    if not text or text.isspace():
        return "error", "empty file, not a Label Studio export (an empty export is [])"
    try:
        return "tasks", export_json._parsed(path, data, OWNER_LISTS.values())
    except KhabarError as exc:
        return "error", exc.message


def _read(path: Path, *, streamed: bool) -> tuple[list[object], bool]:
    export = ExportFile(path, streamed=streamed, owner_lists=OWNER_LISTS.values())
    try:
        return [task.value for task in export.tasks()], export.streamed
    finally:
        export.close()


def _typed_decoder() -> msgspec.json.Decoder[Any]:
    """The typed structs' decoder the reader gives an export (:mod:`khabar.validation.typed_tasks`)."""
    import polars as pl

    from khabar.annotation.scheme import load_scheme
    from khabar.foundation.tables import CORPUS
    from khabar.validation.reader import Reader

    return Reader(load_scheme(), pl.DataFrame(schema=CORPUS)).shapes.decoder


def _streamed(path: Path, typed: msgspec.json.Decoder[Any] | None = None) -> tuple[str, object, bool]:
    """The tasks (or the error) as the reader gets them, and whether the streamed read gave them."""
    export = ExportFile(path, streamed=True, owner_lists=OWNER_LISTS.values(), typed=typed)
    try:
        return "tasks", [task.value for task in export.tasks()], export.streamed
    except KhabarError as exc:
        return "error", exc.message, export.streamed
    finally:
        export.close()


@pytest.mark.parametrize("chunk", [export_json.READ_CHUNK, 1, 3, 7, 64], ids=lambda n: f"chunk {n}")
@pytest.mark.parametrize("case", list(CASES))
def test_streamed_reading_equals_one_whole_parse(tmp_path: Path, case: str, chunk: int) -> None:
    path = tmp_path / "export.json"
    path.write_bytes(CASES[case])
    expected = _whole(path)
    with patch.object(export_json, "READ_CHUNK", chunk):  # the file cut anywhere, even inside a character or a separator
        *got, streamed = _streamed(path)
    assert repr(tuple(got)) == repr(expected)  # repr: NaN equals itself there, and -0.0 differs from 0
    assert streamed == (case not in READ_WHOLE)
    if case in ("a pull's layout", "minified"):
        assert got == ["tasks", THREE]


@pytest.mark.parametrize("case", list(CASES))
def test_the_typed_read_refuses_what_one_whole_parse_refuses_and_takes_what_it_takes(tmp_path: Path, case: str) -> None:
    """The reader's typed decoding skips the fields its structs do not declare: it still refuses a file ``json``
    refuses (an integer of 5,000 digits there), with the same message, and reads every task of one it parses."""
    path = tmp_path / "export.json"
    path.write_bytes(CASES[case])
    expected = _whole(path)
    with patch.object(export_json, "READ_CHUNK", 64):
        got, value, _ = _streamed(path, _typed_decoder())
    assert (got, value if got == "error" else len(value)) == (expected[0], expected[1] if expected[0] == "error" else len(expected[1]))


#: bytes a random edit inserts: JSON's structure, what json accepts and msgspec does not, bytes that are not UTF-8
INSERTS = [
    b"{", b"}", b"[", b"]", b",", b":", b'"', b"\\", b" ", b"\n", b"\t", b"0", b"-", b".", b"e", b"x", "،".encode(), b"\xd8", b"\xff",
    b"\xef\xbb\xbf", b"NaN", b"-Infinity", b"1e400", b"tru", b"null", b"\\ud800", b"\\udc00", b"\\u12", b"9" * 4400, b"[" * 1200,
]
RICH = [
    {"id": 1, "data": {"text": "قال «نعم»\n\t\"/\\", "doc_id": "d1"}, "annotations": [{"id": 7, "lead_time": 1.25, "result": [{"a": [True, False, None, -0.5e3]}]}]},
    {"id": 2, "data": {"text": "\u00e9\U0001f600", "doc_id": "d2"}, "annotations": []},
    {"id": 3, "meta": {}, "n": [10**20, 0, 1e-5]},
]


EDITS = st.tuples(
    st.sampled_from(["delete", "insert", "replace"]), st.floats(min_value=0, max_value=1, exclude_max=True), st.integers(min_value=1, max_value=3),
    st.sampled_from(INSERTS),
)


@given(
    layout=st.sampled_from(["indented", "minified", "ui"]),
    long=st.booleans(),
    edits=st.lists(EDITS, min_size=1, max_size=3),
    chunk=st.sampled_from([1, 2, 3, 5, 16, 64, export_json.READ_CHUNK]),
)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_an_export_broken_at_random_bytes_reads_as_the_whole_read_reads_it(
    tmp_path: Path, layout: str, long: bool, edits: list[tuple[str, float, int, bytes]], chunk: int,
) -> None:
    """Whatever the edits (one to three: which problem comes first), the streamed read gives the tasks, or the error,
    of one ``json`` parse of the whole file (``long``: a task longer than json's first window, 4 KB, comes first)."""
    tasks = [{"id": 0, "data": {"text": LONG_TEXT}}, *RICH] if long else RICH
    if layout == "indented":
        data = json.dumps(tasks, ensure_ascii=False, indent=2).encode("utf-8")
    else:
        data = (json.dumps(tasks, ensure_ascii=False) if layout == "minified" else ui_layout(tasks)).encode("utf-8")
    for edit, at, length, insert in edits:
        pos = int(at * len(data))
        data = data[:pos] + (insert if edit != "delete" else b"") + data[pos + (length if edit != "insert" else 0) :]
    path = tmp_path / "export.json"
    path.write_bytes(data)
    expected = _whole(path)
    with patch.object(export_json, "READ_CHUNK", chunk):
        *got, streamed = _streamed(path)
    assert repr(tuple(got)) == repr(expected)
    assert streamed == data.lstrip(b" \t\r\n").startswith(b"[")
    with patch.object(export_json, "READ_CHUNK", chunk):  # the reader's typed decoding refuses what json refuses
        typed, value, _ = _streamed(path, _typed_decoder())
    assert (typed, value if typed == "error" else len(value)) == (got[0], got[1] if got[0] == "error" else len(got[1]))


@pytest.mark.parametrize(
    ("data", "follows"),
    [(b'{"a": [1, {}]}, {"b": 2}]', 14), (b'{"a": "}, {"} \r\n\t,', 17), (b'{}]', 2), (b'{"a": 1e5}x', 10)],
)
def test_msgspec_says_where_more_follows_a_value_as_the_streamed_read_reads_it(tmp_path: Path, data: bytes, follows: int) -> None:
    """The message msgspec (pinned) gives for a value followed by more: the offset the streamed read parses out of it."""
    with pytest.raises(msgspec.DecodeError) as raised:
        msgspec.json.decode(data, type=msgspec.Raw)
    assert export_json._follows_at(str(raised.value), len(data), 0) == follows
    assert data[follows] not in b" \t\r\n" and data[:follows].rstrip().endswith(b"}")


def test_msgspec_says_the_bytes_end_inside_a_value_wherever_they_are_cut(tmp_path: Path) -> None:
    """Bytes cut anywhere inside a task, even inside a number, an escape or a literal: read on, never refused."""
    task = json.dumps({**TASK, "n": [1, -0.5e10, 2e-3, -0, 1.5, 10**30, True, False, None], "s": "\u00e9\\\"\n", "e": "\ud83d\ude00"}).encode("utf-8")
    for end in range(1, len(task)):
        with pytest.raises(msgspec.DecodeError) as raised:
            msgspec.json.decode(task[:end], type=msgspec.Raw)
        assert export_json._follows_at(str(raised.value), end, 0) is None, task[:end]


@pytest.mark.parametrize("data", [b'{"a": NaN}, {}', b'{"a": "\\ud800"}, {"b": 1}]', b'{"a": 1,}, {}', b'{"a": 1e}, {}'])
def test_a_value_msgspec_refuses_goes_to_json(data: bytes) -> None:
    with pytest.raises(msgspec.DecodeError) as raised:
        msgspec.json.decode(data, type=msgspec.Raw)
    with pytest.raises(export_json._Refused):
        export_json._follows_at(str(raised.value), len(data), 0)


def test_a_minified_export_is_read_with_one_chunk_and_one_task_in_memory(tmp_path: Path) -> None:
    """The buffer holds a chunk and at most the task that does not fit in it, however many tasks the file holds."""
    tasks: list[Any] = [{**TASK, "id": n, "data": {"text": "قال الوزير " * (n % 7 * 20), "doc_id": f"d{n}"}} for n in range(1, 400)]
    tasks[200]["data"]["text"] = LONG_TEXT  # one task larger than a chunk
    path = tmp_path / "export.json"
    path.write_bytes(json.dumps(tasks, ensure_ascii=False).encode("utf-8"))
    largest = max(len(json.dumps(task, ensure_ascii=False).encode("utf-8")) for task in tasks)
    chunk = 1024
    buffers: list[int] = []
    read_into = ExportFile._read_into

    def recorded(export: ExportFile, buffer: bytearray, offset: int, size: int) -> int:
        buffers.append(len(buffer))
        assert size <= chunk or not buffers[:-1]  # the first read fills the first buffer, every later one reads a chunk at most
        return read_into(export, buffer, offset, size)

    with patch.object(export_json, "READ_CHUNK", chunk), patch.object(ExportFile, "_read_into", recorded):
        got, streamed = _read(path, streamed=True)
    assert streamed and got == tasks
    assert len(buffers) > path.stat().st_size // export_json.HEAD_BYTES  # read a chunk at a time
    assert max(buffers) <= max(chunk, export_json.HEAD_BYTES) + largest < path.stat().st_size // 10


@pytest.mark.parametrize("layout", ["indented", "minified"])
@pytest.mark.parametrize(
    "break_",
    ["a missing comma before the last task", "a syntax error in the first task", "a lone surrogate in the last task", "NaN in every task",
     "cut short", "an unterminated string in the last task"],
)
def test_a_broken_export_is_judged_with_one_chunk_and_one_task_in_memory(tmp_path: Path, layout: str, break_: str) -> None:
    """Whatever breaks the file, and wherever, the buffer holds a chunk and at most the largest task (as when it parses),
    and the error is the whole read's."""
    tasks: list[Any] = [{**TASK, "id": n, "data": {"text": "قال الوزير " * (n % 7 * 20), "doc_id": f"d{n}"}} for n in range(1, 400)]
    tasks[200]["data"]["text"] = LONG_TEXT  # one task larger than a chunk
    data = json.dumps(tasks, ensure_ascii=False, indent=2 if layout == "indented" else None).encode("utf-8")
    if break_ == "a missing comma before the last task":
        data = _edit(data, b"<SEP>", b"} {", -1)
    elif break_ == "a syntax error in the first task":
        data = _edit(data, b'"d1"', b'"d1" 1', 1)
    elif break_ == "a lone surrogate in the last task":
        data = _edit(data, b'"d399"', b'"d\\ud800"', 1)
    elif break_ == "NaN in every task":
        data = data.replace(b"1.25", b"NaN")
    elif break_ == "cut short":
        data = data[: -len(LONG_TEXT)]
    else:
        data = _edit(data, b'"d399"', b'"d399', 1)
    path = tmp_path / "export.json"
    path.write_bytes(data)
    largest = max(len(json.dumps(task, ensure_ascii=False, indent=2).encode("utf-8")) for task in tasks)
    chunk = 1024
    buffers: list[int] = []
    read_into = ExportFile._read_into

    def recorded(export: ExportFile, buffer: bytearray, offset: int, size: int) -> int:
        buffers.append(len(buffer))
        return read_into(export, buffer, offset, size)

    with patch.object(export_json, "READ_CHUNK", chunk), patch.object(ExportFile, "_read_into", recorded):
        got = _streamed(path)
    assert repr(got) == repr((*_whole(path), True))
    assert got[0] == ("tasks" if break_ == "NaN in every task" else "error")
    assert len(buffers) > len(data) // export_json.HEAD_BYTES  # read a chunk at a time, to the end
    assert max(buffers) <= max(chunk, export_json.HEAD_BYTES) + largest < len(data) // 10


@pytest.mark.parametrize("head", [b"\xef\xbb\xbf", b"<html>", b'{"tasks": [} '])
def test_a_file_json_refuses_at_its_start_is_refused_without_a_whole_read(tmp_path: Path, head: bytes) -> None:
    """A list after a byte order mark, a page, an object broken at once: the bytes are checked a chunk at a time,
    never read at once, and the error is the whole read's."""
    tasks = [{**TASK, "id": n} for n in range(1, 400)]
    path = tmp_path / "export.json"
    path.write_bytes(head + json.dumps(tasks, ensure_ascii=False, indent=2).encode("utf-8"))
    sizes: list[int] = []
    read = ExportFile._read

    def recorded(export: ExportFile, size: int = -1) -> bytes:
        sizes.append(size)
        return read(export, size)

    with patch.object(export_json, "READ_CHUNK", 1024), patch.object(ExportFile, "_read", recorded):
        got = _streamed(path)
    assert got == (*_whole(path), False)
    assert got[0] == "error" and -1 not in sizes


def test_validate_reports_the_same_on_a_minified_export_as_on_the_indented_one(tmp_path: Path, khabar: Any) -> None:
    """Label Studio's own layout, streamed (nothing read whole) a chunk at a time, gives the report of the pull's layout."""
    from tests.validation.validation_exports import annotation, span, task, valid_result

    moved = span("بغداد", "GPE", region_id="moved")
    moved["value"]["text"] = "بغدا|د"
    tasks = [task([annotation([moved], pseudonym="annotator-3"), annotation(valid_result(), annotation_id=12)]), task([annotation(valid_result(), annotation_id=13)], task_id=2)]
    path = tmp_path / "export.json"
    reports = []
    for text in (json.dumps(tasks, ensure_ascii=False, indent=2, sort_keys=True) + "\n", ui_layout(tasks)):
        path.write_text(text, encoding="utf-8")
        with patch.object(export_json, "READ_CHUNK", 4096), patch.object(ExportFile, "_whole", side_effect=AssertionError("read whole")):
            run = khabar("validate", path, "--format", "json")
        reports.append(run.out)
    assert "\n" not in path.read_text(encoding="utf-8") and path.stat().st_size > 4 * 4096
    assert reports[0] == reports[1]
    assert json.loads(reports[1])["errors"] > 0  # a report with a failure in it: what it names is the same


def test_the_reader_keeps_the_sha256_of_the_bytes(tmp_path: Path) -> None:
    import hashlib

    path = tmp_path / "export.json"
    path.write_bytes(CASES["a pull's layout"])
    for streamed in (True, False):
        export = ExportFile(path, streamed=streamed, owner_lists=OWNER_LISTS.values())
        assert [task.value["id"] for task in export.tasks()] == [1, 2, 3]
        assert export.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        export.close()


def test_an_export_changed_between_its_hash_and_its_parse_is_refused(tmp_path: Path) -> None:
    import os

    path = tmp_path / "export.json"
    path.write_bytes(CASES["a pull's layout"])
    export = ExportFile(path, streamed=True, owner_lists=OWNER_LISTS.values())
    with path.open("r+b") as handle:  # in place, the same bytes: the open file sees the new time
        handle.write(b"[")
    os.utime(path, ns=(0, 0))
    with pytest.raises(KhabarError, match="changed while it was read"):
        list(export.tasks())
    export.close()


@pytest.mark.parametrize("chunk", [export_json.READ_CHUNK, 64], ids=lambda n: f"chunk {n}")
def test_a_bad_byte_after_a_refused_task_is_still_the_problem_reported(tmp_path: Path, chunk: int) -> None:
    """The file is checked as it is read, so a task's problem is met first: the reader reads on, and reports the file's."""
    from khabar.foundation.paths import repo
    from khabar.validation.reader import read_raw

    tasks = [{"id": 1, "annotations": []}, *[{**TASK, "id": n} for n in range(2, 40)]]  # the first has no data.text
    data = json.dumps(tasks, ensure_ascii=False, indent=2).encode("utf-8")
    at = data.rindex("الوزير".encode())
    path = tmp_path / "export.json"
    path.write_bytes(data[:at] + b"\xff" + data[at + 1 :])
    with patch.object(export_json, "READ_CHUNK", chunk), pytest.raises(KhabarError) as raised:
        read_raw([path], repo().documents_file)
    assert raised.value.message == f"not UTF-8 (byte 0xff at offset {at})"
    path.write_bytes(data)  # the bytes are UTF-8: the task's problem is the one reported
    with patch.object(export_json, "READ_CHUNK", chunk), pytest.raises(KhabarError, match="task has no data.text"):
        read_raw([path], repo().documents_file)


@pytest.mark.parametrize("break_", ["a missing comma before the last task", "a lone surrogate in the last task", "the file cut short"])
@pytest.mark.parametrize("chunk", [export_json.READ_CHUNK, 64], ids=lambda n: f"chunk {n}")
def test_a_broken_file_after_a_refused_task_is_still_the_problem_reported(tmp_path: Path, break_: str, chunk: int) -> None:
    """The reader refuses the first task (no data.text) and reads on: the file's own problem, met later, is reported,
    as the whole read, which parses the file before its first task, reported it."""
    from khabar.foundation.paths import repo
    from khabar.validation.reader import read_raw

    tasks = [{"id": 1, "annotations": []}, *[{**TASK, "id": n} for n in range(2, 40)]]  # the first has no data.text
    data = json.dumps(tasks, ensure_ascii=False, indent=2).encode("utf-8")
    if break_ == "a missing comma before the last task":
        data = _edit(data, b"<SEP>", b"} {", -1)
    elif break_ == "a lone surrogate in the last task":
        data = _edit(data, b'"d1"', b'"\\udfff"', -1)
    else:
        data = data[:-100]
    path = tmp_path / "export.json"
    path.write_bytes(data)
    expected = _whole(path)
    with patch.object(export_json, "READ_CHUNK", chunk), pytest.raises(KhabarError) as raised:
        read_raw([path], repo().documents_file)
    assert ("error", raised.value.message) == expected
    assert "no data.text" not in raised.value.message


@pytest.mark.parametrize("escape", [b"\\ud800", b"\\udc00x", b"\\ud800\\u0041", b"\\ud800\\n"])
@pytest.mark.parametrize("where", ["a task field the typed decoding skips", "a key of data"])
def test_a_lone_surrogate_is_named_by_the_streamed_read_as_by_the_whole_read(tmp_path: Path, escape: bytes, where: str) -> None:
    """The streamed read does not search tasks for a lone surrogate escape: msgspec refuses one, typed or plain,
    even in a field it skips, so json parses that task, and the surrogate is named as the whole read names it."""
    import polars as pl

    from khabar.annotation.scheme import load_scheme
    from khabar.foundation.tables import CORPUS
    from khabar.validation.reader import Reader

    field = b'"meta": {"note": "' + escape + b'"}, ' if where.startswith("a task field") else b'"data": {"' + escape + b'": 1, '
    path = tmp_path / "export.json"
    path.write_bytes(PULLED.replace(b'"data": {', field + (b'"data": {' if where.startswith("a task field") else b""), 1))
    typed = Reader(load_scheme(), pl.DataFrame(schema=CORPUS)).shapes.decoder
    export = ExportFile(path, streamed=True, owner_lists=OWNER_LISTS.values(), typed=typed)
    try:
        assert export.streamed
        with pytest.raises(KhabarError, match="lone surrogate") as raised:
            list(export.tasks())
    finally:
        export.close()
    assert ("error", raised.value.message) == _whole(path)


@pytest.mark.parametrize("where", ["the task's meta", "a list of objects beside the annotations, laid out as they are"])
def test_an_integer_json_refuses_in_a_field_the_typed_read_skips_is_refused_in_every_format(tmp_path: Path, khabar: Any, where: str) -> None:
    """The committed export with an integer of 5,000 digits where typed decoding skips it (json refuses the file):
    refused in every report format and by --repair, one line naming the file, never a traceback (github's report
    read the ``"id"`` lines of the second case again), the file left as it was."""
    from khabar.foundation.paths import repo
    from khabar.validation.cli import FORMATS

    committed = (repo().exports_dir / "khabar.json").read_bytes()
    big = b"9" * 5000
    if where == "the task's meta":
        data = committed.replace(b'"meta": {}', b'"meta": ' + big, 1)
    else:  # its "id" lines stand where the github report looks for an annotation's (8 spaces)
        data = committed.replace(b'    "meta": {},\n', b'    "meta": {},\n    "zzz": [\n      {\n        "id": ' + big + b"\n      }\n    ],\n", 1)
    assert data != committed
    path = tmp_path / "export.json"
    path.write_bytes(data)
    for args in [["--format", name] for name in FORMATS] + [["--repair"]]:
        run = khabar("validate", path, *args)
        assert (run.status, run.out) == (2, ""), args
        assert [line for line in run.err.splitlines() if "error" in line] == [
            f"khabar validate: error: {path}: not a Label Studio export: Exceeds the limit (4300 digits) for integer string conversion: value has 5000 digits"
        ], args
    assert path.read_bytes() == data
