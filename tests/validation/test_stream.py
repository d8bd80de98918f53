"""The export read task by task (msgspec slices) gives the tasks, and the errors, of one ``json`` parse of the whole file."""

from __future__ import annotations

import json
from pathlib import Path
from unittest.mock import patch

import pytest

from khabar.foundation.errors import KhabarError
from khabar.validation import reader

TASK = {"id": 1, "data": {"text": "قال الوزير «نعم»", "doc_id": "d1"}, "annotations": [{"id": 7, "lead_time": 1.25, "result": []}]}

CASES = {
    "a pull's layout": json.dumps([TASK, {**TASK, "id": 2}], ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8"),
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
    "nested too deeply": b"[" * 3000 + b"]" * 3000,
    "not UTF-8": '[{"id": 1, "data": {"text": "قال"}}]'.encode() + b"\xff]",
    "a lead byte before ASCII": '[{"id": 1, "data": {"text": "قال'.encode() + b'\xd8"}}]',
    "cut inside a character": '[{"id": 1, "data": {"text": "قال"}}'.encode()[:-5],
    "cut at the end of a character": '[{"id": 1, "data": {"text": "قال'.encode()[:-1],
    "white space only": " \n\u3000\u00a0 ".encode(),
    "empty": b"",
}


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
        return "tasks", reader._parsed(path, data)
    except KhabarError as exc:
        return "error", exc.message


def _streamed(path: Path) -> tuple[str, object]:
    try:
        tasks, sha256 = reader._load_json(path)
        return "tasks", list(tasks)
    except KhabarError as exc:
        return "error", exc.message


@pytest.mark.parametrize("chunk", [reader.UTF8_CHUNK, 1, 3, 7], ids=lambda n: f"utf8 chunk {n}")
@pytest.mark.parametrize("case", list(CASES))
def test_streamed_reading_equals_one_whole_parse(tmp_path: Path, case: str, chunk: int) -> None:
    path = tmp_path / "export.json"
    path.write_bytes(CASES[case])
    expected = _whole(path)
    with patch.object(reader, "UTF8_CHUNK", chunk):  # the UTF-8 check cut anywhere, even inside a character
        got = _streamed(path)
    assert repr(got) == repr(expected)  # repr: NaN equals itself there, and -0.0 differs from 0
    if case == "a pull's layout":
        assert got == ("tasks", [TASK, {**TASK, "id": 2}])


def test_the_streamed_reader_keeps_the_sha256_of_the_bytes(tmp_path: Path) -> None:
    import hashlib

    path = tmp_path / "export.json"
    path.write_bytes(CASES["a pull's layout"])
    tasks, sha256 = reader._load_json(path)
    assert sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert [task["id"] for task in tasks] == [1, 2]
