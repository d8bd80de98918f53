"""The three files of ``annotation/kb/``: what they hold, and the one reader and writer of each.

- ``entities.csv``: entity_id, type, canonical_name, aliases (``|``-separated), wikidata (empty unless verified);
- ``links.csv``: doc_id, start, end, label, entity_id (``-``: explicitly not in the base);
- ``quote_clusters.csv``: doc_id, start, end, cluster_id;
- ``ambiguous_sources.csv``: doc_id, start, end (a CONTENT whose source link has two plausible
  readings), readings (``|``-separated: the source that is linked first, then the other reading(s)).

Rows are sorted by their key, the files are UTF-8 with LF line ends, and every write
replaces the file atomically, so a reviewed file only changes by whole rows.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import TypeVar

from khabar.foundation.errors import EXIT_UNUSABLE_INPUT, KhabarError, not_utf8
from khabar.foundation.export_files import read_regular
from khabar.foundation.files import write_atomic
from khabar.foundation.paths import repo

#: the entry a mention is linked to when it names something that is deliberately not in the base
NOT_IN_BASE = "-"
ALIAS_SEPARATOR = "|"
ENTITY_ID = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
CLUSTER_ID = re.compile(r"qc-\d{3,}")
WIKIDATA_ID = re.compile(r"Q[1-9]\d*")


@dataclass(frozen=True, order=True, slots=True)
class Entity:
    entity_id: str
    type: str
    canonical_name: str
    aliases: str  # ALIAS_SEPARATOR-joined, as in the file
    wikidata: str

    @property
    def names(self) -> tuple[str, ...]:
        """The canonical name and every alias."""
        return (self.canonical_name, *(a for a in self.aliases.split(ALIAS_SEPARATOR) if a))


@dataclass(frozen=True, order=True, slots=True)
class Link:
    doc_id: str
    start: int
    end: int
    label: str
    entity_id: str


@dataclass(frozen=True, order=True, slots=True)
class Cluster:
    doc_id: str
    start: int
    end: int
    cluster_id: str


@dataclass(frozen=True, order=True, slots=True)
class AmbiguousSource:
    doc_id: str
    start: int
    end: int
    readings: str  # ALIAS_SEPARATOR-joined: the linked source first

    @property
    def reading_list(self) -> tuple[str, ...]:
        return tuple(r for r in self.readings.split(ALIAS_SEPARATOR) if r.strip())


Row = TypeVar("Row", Entity, Link, Cluster, AmbiguousSource)
FILES: dict[type, str] = {Entity: "entities.csv", Link: "links.csv", Cluster: "quote_clusters.csv", AmbiguousSource: "ambiguous_sources.csv"}


def header(kind: type[Row]) -> list[str]:
    return [f.name for f in fields(kind)]


def read(kind: type[Row], folder: Path | None = None) -> list[Row]:
    """The rows of one file; a missing file has none. A malformed row stops with its file and line."""
    path = (folder or repo().kb_dir) / FILES[kind]
    if not path.exists():
        return []
    try:
        text = read_regular(path).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise KhabarError(not_utf8(exc), file=str(path)) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    head = next(reader, None)
    if head != header(kind):
        raise KhabarError(f"header is {head}, expected {header(kind)}", file=str(path), exit_status=EXIT_UNUSABLE_INPUT)
    rows = []
    for number, values in enumerate(reader, start=2):
        if len(values) != len(head):
            raise KhabarError(f"line {number} has {len(values)} fields, expected {len(head)}", file=str(path), exit_status=EXIT_UNUSABLE_INPUT)
        try:
            typed = [int(v) if f.type == "int" else v for f, v in zip(fields(kind), values)]
            rows.append(kind(*typed))  # type: ignore[arg-type]  # the columns' types follow the dataclass's fields
        except ValueError as exc:
            raise KhabarError(f"line {number}: {exc}", file=str(path), exit_status=EXIT_UNUSABLE_INPUT) from None
    return rows


def render(kind: type[Row], rows: Iterable[Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header(kind))
    writer.writerows(astuple(row) for row in sorted(rows))
    return out.getvalue()


def write(kind: type[Row], rows: Sequence[Row], folder: Path | None = None) -> Path:
    """Write one file, sorted, atomically; the folder is made if needed."""
    folder = folder or repo().kb_dir
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FILES[kind]
    write_atomic(path, render(kind, rows))
    return path
