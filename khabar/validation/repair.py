"""``khabar validate --repair``: fix what is mechanically fixable, and say so.

Four repairs, applied to span results of live annotations and predictions:

- editor text: ``value.text`` holding each newline as the two characters ``\\n``
  (as the Label Studio editor writes it) gets the real text;
- drifted offsets: when ``value.text`` is not at ``[start:end]`` but occurs
  exactly once within :data:`DRIFT_WINDOW` characters of it, the offsets move
  there. Zero or several occurrences: nothing changes, the reason is printed;
- white space at either edge of a span is trimmed (punctuation is left to a person);
- a span that starts on a combining mark or ends before one is widened to the
  whole letter with its marks (:func:`khabar.validation.clusters.widen_to_clusters`).

The per-region ``quote_type`` of a moved region moves with it.

A repair is made only when it breaks nothing: each batch of tasks with repairs is checked again as repaired,
against every rule, and a rule a row fails as repaired that it passed as read (white space trimmed off a span
that makes it a copy of another region: ``no_duplicate_region``) refuses the command before any file is written:
one line naming file, task and region, the repair and the rule, exit status 2. Only a warning that the span's own
error hid as read is let through (:func:`_refuse_what_breaks_a_rule`).

A file is changed only where it is repaired: the offsets and text of each repaired region, and of its choices, are
written over their own bytes, and every other byte stays the file's (its layout, one line or indented, numbers
as written, ``1e400`` and ``1E2``, escapes such as ``\\u0041``, a key given twice). A new text is written as a
JSON string the way ``khabar studio pull`` writes one (UTF-8, not escaped). The file is rewritten atomically a
task at a time, keeping its mode; a symbolic link keeps pointing at the repaired file. Fixes are applied by
position, so they are applied only to the very bytes that were checked: the file's sha256 when checked, when read
for repair and right before the rename must all be the same, else the file is left as it is and the command stops.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import polars as pl

from khabar.annotation.scheme import Scheme, load_scheme
from khabar.foundation import export_files
from khabar.foundation.errors import KhabarError
from khabar.foundation.files import write_atomic
from khabar.validation.api import failing_places, failure_at
from khabar.validation.checks import ERROR, SEVERITY, Frames, prepare
from khabar.validation.clusters import widen_to_clusters
from khabar.validation.export_json import READ_CHUNK
from khabar.validation.mapped import MappedFrame
from khabar.validation.reader import OWNER_LISTS, CorpusTexts, RawExport, Reader, read_documents

DRIFT_WINDOW = 200
#: the rules whose failure excludes a row: a repair never makes one fail
ERROR_RULES = [name for name, severity in SEVERITY.items() if severity == ERROR]


@dataclass(frozen=True)
class Change:
    file: str
    task_id: int
    owner: str  # "annotation 12" / "prediction 3"
    region_id: str | None
    description: str
    applied: bool

    def line(self) -> str:
        verb = "repaired" if self.applied else "not repaired"
        return f"{verb}: {self.file} task {self.task_id} {self.owner} region {self.region_id}: {self.description}"


def _occurrences(haystack: str, needle: str) -> list[int]:
    found, at = [], haystack.find(needle)
    while at != -1:
        found.append(at)
        at = haystack.find(needle, at + 1)
    return found


def _plan(row: dict[str, Any], doc: str) -> tuple[int, int, str, list[str], str | None]:
    """New (start, end, text) of a span of the document text ``doc``, what changed, and why it was not repaired (if so)."""
    start, end, text = row["start"], row["end"], row["text"]
    notes: list[str] = []
    if row["offsets_ok"] and row["expected"] is not None and row["text_ok"]:
        if text != row["expected"]:
            notes.append("editor newlines (\\n) replaced by the real text")
        text = row["expected"]
    else:
        wanted = text.replace("\\n", "\n")
        low, high = max(0, start - DRIFT_WINDOW), min(len(doc), max(end, start) + DRIFT_WINDOW)
        hits = [low + at for at in _occurrences(doc[low:high], wanted)]
        if len(hits) != 1:
            where = f"at {', '.join(map(str, hits[:5]))}" if hits else "nowhere"
            return start, end, text, notes, (
                f"value.text {wanted[:40]!r} occurs {len(hits)} time(s) within {DRIFT_WINDOW} characters of {start}-{end} ({where}); not guessing"
            )
        notes.append(f"offsets {start}-{end} → {hits[0]}-{hits[0] + len(wanted)} (the text occurs once nearby)")
        start, end, text = hits[0], hits[0] + len(wanted), wanted
    widened = widen_to_clusters(start, end, doc)
    if widened is None:
        return start, end, text, notes, "the span starts on a combining mark with no letter before it to widen to; not guessing"
    if widened != (start, end):
        notes.append(f"widened to whole letters with their marks: {start}-{end} → {widened[0]}-{widened[1]}")
        start, end = widened
        text = doc[start:end]
    stripped = text.strip()
    if stripped and stripped != text:
        lead = len(text) - len(text.lstrip())
        new_start, new_end = start + lead, start + lead + len(stripped)
        notes.append(f"white space trimmed: {start}-{end} → {new_start}-{new_end}")
        start, end, text = new_start, new_end, stripped
    return start, end, text, notes, None


def _candidates(raw: RawExport, frames: Frames) -> pl.DataFrame:
    """The spans of one batch (checked as ``frames``) that a repair may fix, where they are in their file."""
    spans = frames.spans
    positions = raw.owners.select("key", "task_pos", "owner_pos")
    fixable = pl.col("start").is_not_null() & pl.col("end").is_not_null() & pl.col("text").is_not_null() & pl.col("doc_found")
    needs = (
        ~pl.col("text_ok") | ~pl.col("offsets_ok")
        | (pl.col("text_ok") & (pl.col("text") != pl.col("expected")))
        | pl.col("expected").str.contains(r"^\s|\s$")
        | pl.col("cuts_start") | pl.col("cuts_end")
    ).fill_null(False)
    return (
        spans.filter(fixable & needs & pl.col("problem").is_null())
        .join(positions, on="key", how="left", maintain_order="left")
        .select("file", "task_id", "task_pos", "kind", "key", "owner_pos", "owner_id", "result_pos", "region_id", "doc_id",
                "start", "end", "text", "expected", "offsets_ok", "text_ok")
    )


#: a repair to apply: where its region is in its file (and in the batch's rows: ``key``, ``result_pos``), and the
#: region's new offsets and text (its per-region choices' too); kept as a frame until the files are rewritten
EDITS = pl.Schema({
    "task_pos": pl.Int64, "kind": pl.String, "owner_pos": pl.Int64, "key": pl.Int64, "result_pos": pl.Int64,
    "region_id": pl.String, "start": pl.Int64, "end": pl.Int64, "text": pl.String,
})


def _repaired(raw: RawExport, edits: pl.DataFrame) -> RawExport:
    """The batch ``raw`` as it reads once ``edits`` are made: its regions with their new offsets and text."""
    new = edits.select("key", "result_pos", new_start="start", new_end="end", new_text="text")
    regions = raw.regions.join(new, on=["key", "result_pos"], how="left", maintain_order="left").with_columns(
        start=pl.coalesce("new_start", "start"), end=pl.coalesce("new_end", "end"), text=pl.coalesce("new_text", "text"),
    ).drop("new_start", "new_end", "new_text")
    return dataclasses.replace(raw, regions=regions)


def _refuse_what_breaks_a_rule(
    raw: RawExport, frames: Frames, scheme: Scheme, edits: pl.DataFrame, changes: dict[tuple[int, int], Change],
) -> None:
    """Refuse the repairs of a batch when they make a row fail a rule it passed as read (``frames``): one line naming
    the repair (``changes``, by the region's ``key`` and ``result_pos``), the row and the rule.

    A rule lets pass what another reports, so a span's error as read (its text is not at its offsets) hides its
    warnings: once the error is repaired, such a warning (the span starts with a proclitic) is found, not made, and
    validation reports it. Any other failure is made by the repairs: an error, or a warning of a row with no error.
    """
    repaired = prepare(_repaired(raw, edits), scheme)
    before = failing_places(frames)
    row = ["frame", "key", "result_pos"]
    had_error = before.filter(pl.col("check").is_in(ERROR_RULES)).select(row).unique()
    new_failures = (
        failing_places(repaired).join(before, on=[*row, "check"], how="anti", nulls_equal=True)
        .join(had_error.with_columns(had_error=pl.lit(True)), on=row, how="left", nulls_equal=True)
        .filter(pl.col("check").is_in(ERROR_RULES) | pl.col("had_error").is_null())
    )
    if new_failures.is_empty():
        return
    # a failure on a repaired region is that repair's; another row's (a region a moved one now crosses) is a repair
    # of its annotation's
    on_repaired = new_failures.join(edits.select("key", "result_pos"), on=["key", "result_pos"], how="semi")
    place = (on_repaired if not on_repaired.is_empty() else new_failures).row(0, named=True)
    failure = failure_at(repaired, place["frame"], place["check"], place["row"])
    applied = [(key, result_pos, change) for (key, result_pos), change in changes.items() if change.applied]
    repair = next(
        (change for key, result_pos, change in applied if (key, result_pos) == (place["key"], place["result_pos"])),
        next((change for key, _, change in applied if key == place["key"]), applied[0][2]),
    )
    if failure.region_id == repair.region_id:
        what = "it"
    else:
        what = f"region {failure.region_id}" if failure.region_id is not None else f"{failure.kind} {failure.annotation_id}"
    raise KhabarError(
        f"not repaired: {repair.description} makes {what} fail {failure.check} ({failure.message}), a rule it passes "
        "as it is; no file written (fix it by hand, then run --repair again)",
        file=repair.file, task=repair.task_id, region=repair.region_id,
    )


#: JSON's white space, which may stand between any two of its tokens
_WHITE_SPACE = re.compile(r"[ \t\n\r]*")
_JSON = json.JSONDecoder()


def _space(text: str, pos: int) -> int:
    """The position of the first character at or after ``pos`` that is not JSON's white space."""
    found = _WHITE_SPACE.match(text, pos)
    assert found is not None  # it matches the empty string
    return found.end()


def _items(text: str, pos: int) -> list[tuple[int, int, Any]]:
    """Where each item of the list at ``text[pos]`` starts and ends, and its value."""
    found = []
    pos = _space(text, pos + 1)
    while text[pos] != "]":
        value, end = _JSON.raw_decode(text, pos)
        found.append((pos, end, value))
        pos = _space(text, end)
        pos = _space(text, pos + 1) if text[pos] == "," else pos
    return found


def _members(text: str, pos: int) -> dict[str, tuple[int, int, Any]]:
    """Where the value of each key of the object at ``text[pos]`` starts and ends, and the value; of a key given
    twice, the last, which ``json`` keeps (and the reader read)."""
    found = {}
    pos = _space(text, pos + 1)
    while text[pos] != "}":
        key, pos = _JSON.raw_decode(text, pos)
        start = _space(text, _space(text, pos) + 1)  # after the colon
        value, end = _JSON.raw_decode(text, start)
        found[key] = (start, end, value)
        pos = _space(text, end)
        pos = _space(text, pos + 1) if text[pos] == "," else pos
    return found


def _repaired_task(text: str, edits: list[dict[str, Any]]) -> str:
    """The JSON ``text`` of a task with ``edits`` made: each region's offsets and text, and its per-region choices'
    (same id, same offsets as read), written over the bytes of the values they replace; the rest as it is."""
    replaced: dict[tuple[int, int], str] = {}
    task = _members(text, _space(text, 0))
    for (kind, owner_pos), owner_edits in itertools.groupby(edits, key=lambda edit: (edit["kind"], edit["owner_pos"])):
        owner = _items(text, task[OWNER_LISTS[kind]][0])[owner_pos]
        results = _items(text, _members(text, owner[0])["result"][0])
        choices: dict[tuple[str, float, float], list[int]] = {}  # where each per-region choice is, by its id and offsets
        for at, _, result in results:
            value = result.get("value") if isinstance(result, dict) else None
            if isinstance(value, dict) and result.get("type") == "choices" and isinstance(result.get("id"), str):
                start, end = value.get("start"), value.get("end")
                if isinstance(start, (int, float)) and isinstance(end, (int, float)):
                    choices.setdefault((result["id"], start, end), []).append(at)
        for edit in owner_edits:
            at, _, region = results[edit["result_pos"]]
            for place in [at, *choices.get((edit["region_id"], region["value"]["start"], region["value"]["end"]), [])]:
                fields = _members(text, _members(text, place)["value"][0])
                for name in ("start", "end", "text"):
                    if name in fields and (type(fields[name][2]) is not type(edit[name]) or fields[name][2] != edit[name]):
                        replaced[fields[name][:2]] = json.dumps(edit[name], ensure_ascii=False)
    pieces, at = [], 0
    for (start, end), new in sorted(replaced.items()):
        pieces += [text[at:start], new]
        at = end
    return "".join([*pieces, text[at:]])


def _read_hashed(handle: BinaryIO, size: int, digest: Any) -> bytes:
    """The next ``size`` bytes of ``handle`` (fewer at the file's end), added to ``digest``."""
    data = handle.read(size)
    digest.update(data)
    return data


def _spliced(path: Path, edits: pl.DataFrame, checked_sha256: str) -> Iterator[bytes]:
    """The bytes of ``path`` a chunk at a time, each task with ``edits`` (and where it is in the file) in its repaired
    form; refused if the bytes read are not the ones that were checked (fixes are applied by position)."""
    changed = KhabarError("changed on disk while it was being checked; not repaired (run the command again)", file=str(path))
    digest = hashlib.sha256()
    with export_files.open_regular(path) as handle:
        at = 0
        by_task = edits.sort("task_pos", "kind", "owner_pos", maintain_order=True).iter_rows(named=True)
        for (byte_start, byte_end), task_edits in itertools.groupby(by_task, key=lambda edit: (edit["byte_start"], edit["byte_end"])):
            while at < byte_start:
                chunk = _read_hashed(handle, min(READ_CHUNK, byte_start - at), digest)
                if not chunk:
                    raise changed
                at += len(chunk)
                yield chunk
            task = _read_hashed(handle, byte_end - byte_start, digest)
            try:
                yield _repaired_task(task.decode("utf-8"), list(task_edits)).encode("utf-8")
            except (ValueError, LookupError, TypeError, AttributeError):  # not the task that was checked
                raise changed from None
            at = byte_end
        while chunk := _read_hashed(handle, READ_CHUNK, digest):
            yield chunk
    if digest.hexdigest() != checked_sha256:
        raise changed


def repair_exports(paths: list[Path], documents_file: Path) -> Iterator[Change]:
    """Repair the exports in place; every change (and every refusal) is given as it is decided.

    The exports are read and checked a batch of tasks at a time, as validation reads them, the repairs of a batch
    planned at once and checked as made (:func:`_refuse_what_breaks_a_rule`); once every batch passed, each file
    with repairs is rewritten a task at a time, only its repaired values changed, so memory holds a batch and the
    repairs, never a file.
    """
    scheme = load_scheme()
    corpus = MappedFrame(read_documents(documents_file), "the corpus records")  # as validation maps it
    documents = corpus.frame
    texts = CorpusTexts(documents, release=corpus.release)
    reader = Reader(scheme, documents, texts)
    planned: dict[str, list[pl.DataFrame]] = {}  # each file's repairs, a frame per batch (a batch is of one file)
    for raw in reader.batches(paths):
        frames = prepare(raw, scheme)
        edits: list[tuple[Any, ...]] = []
        changes: dict[tuple[int, int], Change] = {}
        for row in _candidates(raw, frames).iter_rows(named=True):
            who = f"{row['kind']} {row['owner_id']}"
            start, end, text, notes, refusal = _plan(row, texts[row["doc_id"]])
            if refusal is not None:
                changes[row["key"], row["result_pos"]] = Change(row["file"], row["task_id"], who, row["region_id"], refusal, applied=False)
            elif notes:
                edits.append((row["task_pos"], row["kind"], row["owner_pos"], row["key"], row["result_pos"], row["region_id"], start, end, text))
                changes[row["key"], row["result_pos"]] = Change(row["file"], row["task_id"], who, row["region_id"], "; ".join(notes), applied=True)
        if edits:
            batch = pl.DataFrame(edits, schema=EDITS, orient="row")
            _refuse_what_breaks_a_rule(raw, frames, scheme, batch, changes)
            where = raw.tasks.select("task_pos", "byte_start", "byte_end")
            planned.setdefault(str(raw.files[0]), []).append(batch.join(where, on="task_pos", how="left", maintain_order="left"))
        texts.release()  # the batch's texts: the next batch reads its own
        yield from changes.values()
    checked = {str(path): sha256 for path, sha256 in zip(reader.files, reader.sha256s)}
    for file in list(planned):
        path, edits_of_file = Path(file), pl.concat(planned.pop(file))
        write_atomic(path, _spliced(path, edits_of_file, checked[file]), over=checked[file])
