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

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from khabar.annotation.scheme import load_scheme
from khabar.foundation import jsonl
from khabar.foundation.errors import KhabarError
from khabar.foundation.files import sha256_bytes
from khabar.validation.checks import prepare
from khabar.validation.clusters import widen_to_clusters
from khabar.validation.reader import OWNER_LISTS, read_documents, read_raw

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


def _plan(row: dict[str, Any]) -> tuple[int, int, str, list[str], str | None]:
    """New (start, end, text), what changed, and why it was not repaired (if so)."""
    start, end, text, doc = row["start"], row["end"], row["text"], row["doc_text"]
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


def _candidates(paths: list[Path], documents_file: Path) -> tuple[pl.DataFrame, dict[str, str]]:
    """The spans to look at, and the sha256 of each file as it was checked."""
    scheme = load_scheme()
    raw = read_raw(paths, read_documents(documents_file), scheme)
    checked = {str(path): sha256 for path, sha256 in zip(raw.files, raw.sha256s)}
    spans = prepare(raw, scheme).spans.join(
        raw.documents.select("doc_id", doc_text="text"), on="doc_id", how="left", maintain_order="left"
    )
    positions = raw.owners.select("key", "task_pos", "owner_pos")
    fixable = pl.col("start").is_not_null() & pl.col("end").is_not_null() & pl.col("text").is_not_null() & pl.col("doc_found")
    needs = (
        ~pl.col("text_ok") | ~pl.col("offsets_ok")
        | (pl.col("text_ok") & (pl.col("text") != pl.col("expected")))
        | pl.col("expected").str.contains(r"^\s|\s$")
        | pl.col("cuts_start") | pl.col("cuts_end")
    ).fill_null(False)
    frame = (
        spans.filter(fixable & needs & pl.col("problem").is_null())
        .join(positions, on="key", how="left", maintain_order="left")
        .select("file", "task_id", "task_pos", "kind", "owner_pos", "owner_id", "result_pos", "region_id",
                "start", "end", "text", "doc_text", "expected", "offsets_ok", "text_ok")
    )
    return frame, checked


def _read_checked(path: Path, checked_sha256: str) -> Any:
    """The tasks of ``path``, from bytes that are the ones that were checked."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KhabarError(f"cannot read for repair: {exc.strerror}", file=str(path)) from None
    if sha256_bytes(data) != checked_sha256:
        raise KhabarError("changed on disk while it was being checked; not repaired (run the command again)", file=str(path))
    return json.loads(data)


def _write_stable(path: Path, tasks: Any, read_sha256: str) -> None:
    jsonl.write_document(path, tasks, expected_sha256=read_sha256)


def repair_exports(paths: list[Path], documents_file: Path) -> list[Change]:
    """Repair the exports in place; every change (and every refusal) is returned."""
    changes: list[Change] = []
    candidates, checked = _candidates(paths, documents_file)
    for (file,), rows in candidates.group_by("file", maintain_order=True):
        path = Path(str(file))
        tasks = _read_checked(path, checked[str(file)])
        changed = False
        for row in rows.iter_rows(named=True):
            owner = tasks[row["task_pos"]][OWNER_LISTS[row["kind"]]][row["owner_pos"]]
            who = f"{row['kind']} {row['owner_id']}"
            start, end, text, notes, refusal = _plan(row)
            if refusal is not None:
                changes.append(Change(str(file), row["task_id"], who, row["region_id"], refusal, applied=False))
                continue
            if not notes:
                continue
            region = owner["result"][row["result_pos"]]
            old_start, old_end = region["value"]["start"], region["value"]["end"]
            for result in owner["result"]:
                # the region itself and its per-region choices (same id, same old offsets)
                value = result.get("value") if isinstance(result, dict) else None
                if isinstance(value, dict) and (result is region or (
                    result.get("id") == row["region_id"] and result.get("type") == "choices"
                    and value.get("start") == old_start and value.get("end") == old_end
                )):
                    value.update(start=start, end=end, text=text)
            changed = True
            changes.append(Change(str(file), row["task_id"], who, row["region_id"], "; ".join(notes), applied=True))
        if changed:
            _write_stable(path, tasks, checked[str(file)])
    return changes
