"""Fuzz: hostile exports and corpus records through the real ``khabar`` command, in this process.

Hypothesis mutates a valid export (the bad-input corpus's good export plus a task
on a text with harakat, shadda and tanween) and valid corpus records: values
replaced by other JSON types, integers at and beyond the 64-bit edges, NaN and
infinities, strings holding lone surrogates, line separators (U+2028, U+2029,
U+0085), combining marks, joiners, bidi controls and NUL; keys dropped, lists
duplicated, offsets nudged into a letter's marks, the JSON text cut or corrupted.
Each mutant goes through ``khabar validate`` (every report format), ``khabar
ingest`` and ``khabar build`` (fewer examples: it writes parquet), and must give:

- an exit status of 0, 1 or 2, and no traceback (an exception escaping
  ``khabar.cli.main`` fails the test with its traceback);
- output that a UTF-8 pipe can carry (stdout is strict UTF-8, as a pipe is);
- inputs byte-identical afterwards (ingest may rewrite documents.jsonl only when it succeeds).

Bounded for CI: a fixed number of examples per command, derandomized (the same
examples every run, no example database), no per-example deadline; about 20 s
in all on one core.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from khabar.annotation.normalize import normalize_text
from tests.cli_support import run_khabar
from tests.reliability.make_bad_inputs import DOCS, PAGE, PAGES_HEADER, SOURCES, annotation, good_export, record, span, task

MARKS_TEXT = normalize_text("قال محمّدٌ إن الوضعَ في بغدادَ آمنٌ.")
MARKS_DOC = record(MARKS_TEXT, "002_marks.txt", "محمد")
RECORDS = [*DOCS, MARKS_DOC]
FORMATS = ("text", "markdown", "json", "github")


def base_export() -> list[dict[str, Any]]:
    marks = [span("m1", "entity", "PERS", "محمّدٌ", MARKS_TEXT), span("m2", "entity", "GPE", "بغدادَ", MARKS_TEXT)]
    return [*good_export(), task([annotation(marks, 13, "annotator-2")], 3, MARKS_DOC)]


#: one character of each Unicode class that has broken a reader, writer or check before
HOSTILE_CHARACTERS = [
    "\ud800", "\udfff", "\udc00\ud800",  # lone surrogates, and a pair in the wrong order
    "\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\r", "\r\n", "\n", "\\n",  # line breaks splitlines() knows
    "\u0651", "\u064c", "\u0670", "\u0300", "\ufe0f", "\U000e0100",  # combining marks, variation selectors
    "\u200c", "\u200d", "\ufeff", "\u200f", "\u202e", "\u2066",  # joiners, BOM, bidi controls
    "\x00", "\x7f", "\ufffd", "\uffff", "\U0010ffff", "🇮🇶", "\U0001f3fb", "@", '"', "\\", "ـ",
]
HOSTILE_STRINGS = st.one_of(
    st.lists(st.sampled_from(HOSTILE_CHARACTERS), min_size=1, max_size=4).map("".join),
    st.text(max_size=8),
    st.sampled_from(["", " ", "annotator-1", "annotator-0", "Huda Karim", "a@b.example", "PERS", "CONTENT", "entity", "1" * 20]),
)
HOSTILE_INTEGERS = st.one_of(
    st.sampled_from([0, -1, 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64, 10**30, 10**400]),
    st.integers(-1000, 1000),
)
HOSTILE_FLOATS = st.sampled_from([0.5, -0.0, 3.0, float("nan"), float("inf"), float("-inf"), 1e308])
SCALARS = st.one_of(st.none(), st.booleans(), HOSTILE_INTEGERS, HOSTILE_FLOATS, HOSTILE_STRINGS)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(HOSTILE_STRINGS, inner, max_size=3), max_leaves=6)


def _paths(node: Any, prefix: tuple = ()) -> Iterator[tuple]:
    if prefix:
        yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


def _parent(tree: Any, path: tuple) -> Any:
    for step in path[:-1]:
        tree = tree[step]
    return tree


def mutate(draw: st.DrawFn, tree: Any, steps: int) -> None:
    """Apply ``steps`` structural or value mutations to ``tree`` in place."""
    for _ in range(steps):
        paths = list(_paths(tree))
        if not paths:
            return
        path = draw(st.sampled_from(paths))
        parent, key = _parent(tree, path), path[-1]
        value = parent[key]
        operations = ["replace", "delete"]
        if isinstance(value, str):
            operations.append("splice")
        if type(value) is int:
            operations.append("nudge")
        if isinstance(value, list) and value:
            operations.append("duplicate")
        if isinstance(value, dict):
            operations.append("add_key")
        operation = draw(st.sampled_from(operations))
        if operation == "replace":
            parent[key] = draw(VALUES)
        elif operation == "delete":
            del parent[key]
        elif operation == "splice":
            at = draw(st.integers(0, len(value)))
            parent[key] = value[:at] + draw(HOSTILE_STRINGS) + value[at:]
        elif operation == "nudge":
            parent[key] = value + draw(st.integers(-3, 3).filter(bool))
        elif operation == "duplicate":
            value.append(copy.deepcopy(draw(st.sampled_from(value))))
        else:
            value[draw(HOSTILE_STRINGS)] = draw(VALUES)


def to_json(value: Any, *, ascii_only: bool, indent: int | None) -> str:
    """JSON text; a value holding a lone surrogate can only be written with escapes."""
    text = json.dumps(value, ensure_ascii=ascii_only, indent=indent, sort_keys=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(value, ensure_ascii=True, indent=indent)
    return text


def corrupt(draw: st.DrawFn, data: bytes) -> bytes:
    at = draw(st.integers(0, max(len(data) - 1, 0)))
    how = draw(st.sampled_from(["truncate", "delete", "insert"]))
    if how == "truncate":
        return data[:at]
    if how == "delete":
        return data[:at] + data[at + 1 :]
    return data[:at] + draw(st.sampled_from([b'"', b"{", b"]", b",", b"\x00", b"\xff", b"\xd8", "\u2028".encode()])) + data[at:]


@st.composite
def exports(draw: st.DrawFn) -> bytes:
    tree = base_export()
    mutate(draw, tree, draw(st.integers(1, 4)))
    data = to_json(tree, ascii_only=draw(st.booleans()), indent=draw(st.sampled_from([None, 2]))).encode("utf-8")
    return corrupt(draw, data) if draw(st.integers(0, 9)) == 0 else data


@st.composite
def corpus_records(draw: st.DrawFn) -> bytes:
    records = copy.deepcopy(RECORDS)
    mutate(draw, records, draw(st.integers(1, 3)))
    ascii_only = draw(st.booleans())
    lines = [to_json(item, ascii_only=ascii_only, indent=None) for item in records]
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    return corrupt(draw, data) if draw(st.integers(0, 9)) == 0 else data


@dataclass(frozen=True)
class Run:
    status: int
    out: str
    err: str


def khabar(*args: str | Path) -> Run:
    """``khabar ARGS`` through the real entry point; stdout is strict UTF-8 like a pipe, stderr backslash-escapes like Python's."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace")
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = run_khabar(*args)
        out.flush()
        err.flush()
    return Run(status, out.buffer.getvalue().decode("utf-8"), err.buffer.getvalue().decode("utf-8"))


def assert_clean_exit(run: Run) -> None:
    output = run.out + run.err
    assert run.status in (0, 1, 2), output
    event(f"exit {run.status}")  # --hypothesis-show-statistics: how the examples spread over the statuses
    assert "Traceback" not in output
    if run.status == 2:
        assert run.err.startswith("khabar ") and "error:" in run.err, output


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


FUZZ: dict[str, Any] = {
    "deadline": None, "derandomize": True, "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
}


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KHABAR_CACHE_DIR", str(tmp_path / "cache"))  # validate keeps clean tables there
    return tmp_path


def fresh(work: Path, name: str) -> Path:
    """An empty folder for one example (Hypothesis runs many examples per test call)."""
    folder = work / name
    if folder.exists():
        for path in sorted(folder.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() and not path.is_symlink() else path.unlink()
    folder.mkdir(exist_ok=True)
    return folder


def write_corpus(folder: Path, documents: bytes | None = None) -> Path:
    documents_file = folder / "documents.jsonl"
    documents_file.write_bytes(documents if documents is not None else "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in RECORDS).encode())
    return documents_file


def test_the_base_inputs_are_valid(work: Path):
    folder = fresh(work, "base")
    (folder / "export.json").write_text(json.dumps(base_export(), ensure_ascii=False), encoding="utf-8")
    run = khabar("validate", folder / "export.json", "--documents", write_corpus(folder))
    assert run.status == 0 and "0 error(s), 0 warning(s)" in run.out, run.out + run.err


@settings(**FUZZ, max_examples=150)
@given(export=exports(), report=st.sampled_from(FORMATS))
def test_validate_survives_mutated_exports(work: Path, export: bytes, report: str):
    folder = fresh(work, "validate")
    (folder / "export.json").write_bytes(export)
    write_corpus(folder)
    before = snapshot(folder)
    run = khabar("validate", folder / "export.json", "--documents", folder / "documents.jsonl", "--format", report)
    assert_clean_exit(run)
    assert snapshot(folder) == before, "validate changed its inputs"


@settings(**FUZZ, max_examples=80)
@given(documents=corpus_records())
def test_validate_survives_mutated_corpus_records(work: Path, documents: bytes):
    folder = fresh(work, "records")
    (folder / "export.json").write_text(json.dumps(base_export(), ensure_ascii=False), encoding="utf-8")
    write_corpus(folder, documents)
    before = snapshot(folder)
    assert_clean_exit(khabar("validate", folder / "export.json", "--documents", folder / "documents.jsonl"))
    assert snapshot(folder) == before, "validate changed its inputs"


@settings(**FUZZ, max_examples=40)
@given(export=exports())
def test_validate_repair_survives_mutated_exports(work: Path, export: bytes):
    folder = fresh(work, "repair")
    (folder / "export.json").write_bytes(export)
    documents = write_corpus(folder)
    before = documents.read_bytes()
    run = khabar("validate", "--repair", folder / "export.json", "--documents", documents)
    assert_clean_exit(run)
    assert documents.read_bytes() == before, "repair changed the corpus records"
    if run.status == 2:
        assert (folder / "export.json").read_bytes() == export, "a refused repair changed the export"


@st.composite
def corpus_folders(draw: st.DrawFn) -> dict[str, bytes]:
    page = PAGE
    if draw(st.booleans()):
        at = draw(st.integers(0, len(page)))
        page = page[:at] + draw(HOSTILE_STRINGS) + page[at:]
    row = ["a.txt", "asharq-al-awsat", "عنوان", "2024-03-24", "", "", "story-1"]
    if draw(st.booleans()):
        row[draw(st.integers(0, len(row) - 1))] = draw(HOSTILE_STRINGS)
    pages_csv = PAGES_HEADER + ",".join(json.dumps(cell, ensure_ascii=False) if "," in cell or '"' in cell else cell for cell in row) + "\n"
    folder = {
        "pages/a.txt": page.encode("utf-8", "surrogatepass"),
        "pages.csv": pages_csv.encode("utf-8", "surrogatepass"),
        "sources.csv": SOURCES.encode(),
    }
    if draw(st.booleans()):
        folder["documents.jsonl"] = draw(corpus_records())
    return folder


@settings(**FUZZ, max_examples=60)
@given(corpus=corpus_folders())
def test_ingest_survives_mutated_pages_and_records(work: Path, corpus: dict[str, bytes]):
    folder = fresh(work, "ingest")
    for relative, content in corpus.items():
        (folder / "corpus" / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / "corpus" / relative).write_bytes(content)
    (folder / "exports").mkdir()
    (folder / "exports" / "export.json").write_text(json.dumps(base_export(), ensure_ascii=False), encoding="utf-8")
    before = snapshot(folder)
    run = khabar("ingest", "--corpus", folder / "corpus", "--exports", folder / "exports")
    assert_clean_exit(run)
    after = snapshot(folder)
    if run.status != 0:
        assert after == before, "a failed ingest changed its inputs"
    else:
        assert {k: v for k, v in after.items() if k != "corpus/documents.jsonl"} == {k: v for k, v in before.items() if k != "corpus/documents.jsonl"}


@settings(**FUZZ, max_examples=8)
@given(documents=corpus_records())
def test_build_survives_mutated_corpus_records(work: Path, documents: bytes, datasheet_template: Path):
    folder = fresh(work, "build")
    write_corpus(folder, documents)
    datasheet = folder / "DATASHEET.md"
    datasheet.write_bytes(datasheet_template.read_bytes())
    before = snapshot(folder)
    out = folder / "dist" / "khabar"
    run = khabar("build", "--documents", folder / "documents.jsonl", "--out", out, "--datasheet", datasheet, "--exports")
    assert_clean_exit(run)
    if run.status != 0:
        assert snapshot(folder) == before, "a failed build changed its inputs"
        assert not out.exists()
