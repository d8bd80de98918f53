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

The per-region ``quote_type`` of a moved region moves with it. A file with
changes is rewritten atomically in the stable format of ``khabar studio pull``
(sorted keys, indent 2, UTF-8, trailing newline), keeping its mode; a symbolic
link keeps pointing at the repaired file. Fixes are applied by position, so they
are applied only to the very bytes that were checked: the file's sha256 when
checked, when read for repair and right before the rename must all be the same,
else the file is left as it is and the command stops.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from khabar.annotation.scheme import Scheme, load_scheme
from khabar.foundation.errors import KhabarError
from khabar.foundation.files import write_atomic
from khabar.foundation.jsonl import dumps_document_items
from khabar.validation.checks import prepare
from khabar.validation.clusters import widen_to_clusters
from khabar.validation.export_json import ExportFile
from khabar.validation.mapped import MappedFrame
from khabar.validation.reader import OWNER_LISTS, CorpusTexts, RawExport, Reader, read_documents

DRIFT_WINDOW = 200


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


def _candidates(raw: RawExport, scheme: Scheme) -> pl.DataFrame:
    """The spans of one batch that a repair may fix, where they are in their file."""
    spans = prepare(raw, scheme).spans
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
        .select("file", "task_id", "task_pos", "kind", "owner_pos", "owner_id", "result_pos", "region_id", "doc_id",
                "start", "end", "text", "expected", "offsets_ok", "text_ok")
    )


#: a repair to apply: where its region is in its file, and the region's new offsets and text (its per-region
#: choices' too); kept as a frame until the files are rewritten
EDITS = pl.Schema({
    "task_pos": pl.Int64, "kind": pl.String, "owner_pos": pl.Int64, "result_pos": pl.Int64,
    "region_id": pl.String, "start": pl.Int64, "end": pl.Int64, "text": pl.String,
})


def _apply(task: dict[str, Any], edit: dict[str, Any]) -> None:
    owner = task[OWNER_LISTS[edit["kind"]]][edit["owner_pos"]]
    region = owner["result"][edit["result_pos"]]
    old_start, old_end = region["value"]["start"], region["value"]["end"]
    for result in owner["result"]:
        # the region itself and its per-region choices (same id, same old offsets)
        value = result.get("value") if isinstance(result, dict) else None
        if isinstance(value, dict) and (result is region or (
            result.get("id") == edit["region_id"] and result.get("type") == "choices"
            and value.get("start") == old_start and value.get("end") == old_end
        )):
            value.update(start=edit["start"], end=edit["end"], text=edit["text"])


def _repaired_tasks(path: Path, edits: pl.DataFrame, checked_sha256: str) -> Iterator[Any]:
    """The tasks of ``path`` read again a task at a time, each with its ``edits`` applied; refused if the bytes
    read are not the ones that were checked (fixes are applied by position)."""
    changed = KhabarError("changed on disk while it was being checked; not repaired (run the command again)", file=str(path))
    waiting = edits.sort("task_pos", maintain_order=True).iter_rows(named=True)
    edit = next(waiting, None)
    export = ExportFile(path, streamed=True, owner_lists=OWNER_LISTS.values())
    try:
        for task_pos, task in enumerate(export.tasks()):
            while edit is not None and edit["task_pos"] == task_pos:
                try:
                    _apply(task.value, edit)
                except (LookupError, TypeError, AttributeError):  # not the task that was checked
                    raise changed from None
                edit = next(waiting, None)
            yield task.value
    finally:
        export.close()
    if edit is not None or export.sha256 != checked_sha256:
        raise changed


def repair_exports(paths: list[Path], documents_file: Path) -> Iterator[Change]:
    """Repair the exports in place; every change (and every refusal) is given as it is decided.

    The exports are read and checked a batch of tasks at a time, as validation reads them, and the repairs of a
    batch planned at once; then each file with repairs is read again and rewritten a task at a time, in the
    stable layout, so memory holds a batch and the repairs, never a file.
    """
    scheme = load_scheme()
    corpus = MappedFrame(read_documents(documents_file), "the corpus records")  # as validation maps it
    documents = corpus.frame
    texts = CorpusTexts(documents, release=corpus.release)
    reader = Reader(scheme, documents, texts)
    planned: dict[str, list[pl.DataFrame]] = {}  # each file's repairs, a frame per batch (a batch is of one file)
    for raw in reader.batches(paths):
        edits: list[tuple[Any, ...]] = []
        for row in _candidates(raw, scheme).iter_rows(named=True):
            who = f"{row['kind']} {row['owner_id']}"
            start, end, text, notes, refusal = _plan(row, texts[row["doc_id"]])
            if refusal is not None:
                yield Change(row["file"], row["task_id"], who, row["region_id"], refusal, applied=False)
            elif notes:
                edits.append((row["task_pos"], row["kind"], row["owner_pos"], row["result_pos"], row["region_id"], start, end, text))
                yield Change(row["file"], row["task_id"], who, row["region_id"], "; ".join(notes), applied=True)
        texts.release()  # the batch's texts: the next batch reads its own
        if edits:
            planned.setdefault(str(raw.files[0]), []).append(pl.DataFrame(edits, schema=EDITS, orient="row"))
    checked = {str(path): sha256 for path, sha256 in zip(reader.files, reader.sha256s)}
    for file in list(planned):
        path, edits_of_file = Path(file), pl.concat(planned.pop(file))
        write_atomic(path, dumps_document_items(_repaired_tasks(path, edits_of_file, checked[file])), expected_sha256=checked[file])
