"""``khabar diff OLD NEW``: what changed between two builds.

Documents added and removed, spans added, removed and relabeled per layer and
label (a span is its document, layer, start and end), and documents whose split
changed. Two per-annotator builds (``khabar build --per-annotator``: a row per
document and annotator) are compared version by version: a span is also its
annotator, so that one annotator's span added and another's removed are both
counted, not summed away; a per-annotator build and a gold one are refused.
Both builds are read from their ``documents`` parquet files; the label
names come from the files' own feature metadata. Per config, also the rows and
the fields (``entities[].zone``) added or removed, and for ``tokens`` the token
count and the documents whose tokens changed: a new field or a new tokenisation
changes no span, but it changes what a user loads.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import polars as pl

from khabar.dataset.features import ANNOTATOR
from khabar.foundation import parquet, range_files
from khabar.foundation.errors import KhabarError
from khabar.foundation.files import os_reason, temporary_folder

#: a span's place: a span is its document's version (the document, and the annotator in a per-annotator build: null
#: in a gold one, and for a version no one signed), its layer, start and end
SPAN_KEY = ["doc_id", ANNOTATOR, "layer", "start", "end"]
#: a build's tokens: each document's, in the order of its rows
TOKENS = pl.Schema({"doc_id": pl.String(), "tokens": pl.List(pl.String())})
#: documents compared at once: each build's spans and tokens are cut into ranges of documents (one read of each
#: file), and a range of both builds is compared and dropped before the next is read. Two 3M span results builds
#: (38,776 documents each), ``/usr/bin/time khabar diff``: read whole, 1.66 GB and 6.0 s CPU; 10,000 documents
#: at once 0.99 GB and 7.5 s, 2,000 0.43 GB and 7.3 s, 500 0.34 GB and 9.7 s (the cut's writes cost ~1 s; two 1M
#: builds 0.39 GB, a 1M and a 3M build 0.39 GB: flat)
DOCUMENTS_AT_ONCE = 2_000


@dataclass(frozen=True)
class ConfigContents:
    rows: int
    fields: tuple[str, ...]  # every field's path, lists as ``[]``: ``entities[].zone``


@dataclass(frozen=True)
class SpanColumn:
    """A layer's column of a ``documents`` file, with the names of its labels (the file's own ClassLabel)."""

    column: str
    layer: str
    names: pl.Series


@dataclass(frozen=True)
class RangeFiles:
    """A build's spans and tokens of one range of documents: each ``documents`` file's rows (``id``, the annotator in
    a per-annotator build, and its layers' columns) and each ``tokens`` file's (``doc_id``, ``tokens``), in the
    build's file order."""

    documents: list[tuple[tuple[SpanColumn, ...], Path]] = field(default_factory=list)
    tokens: list[Path] = field(default_factory=list)

    def spans(self) -> pl.DataFrame:
        """doc_id, annotator, layer, start, end, label: one row per span."""
        frames = [pl.DataFrame(schema={"doc_id": pl.String, ANNOTATOR: pl.String, "layer": pl.String, "start": pl.Int64, "end": pl.Int64, "label": pl.String})]
        for columns, path in self.documents:
            frame = range_files.read(path)
            annotator = pl.col(ANNOTATOR) if ANNOTATOR in frame.columns else pl.lit(None, pl.String).alias(ANNOTATOR)
            frames += [
                frame.select(annotator, doc_id="id", span=span.column).explode("span").filter(pl.col("span").is_not_null()).unnest("span")
                .select("doc_id", ANNOTATOR, pl.lit(span.layer).alias("layer"), "start", "end", label=pl.lit(span.names).gather(pl.col("label")))
                for span in columns
            ]
        return pl.concat(frames)

    def document_tokens(self) -> pl.DataFrame:
        """doc_id and its tokens: its rows' lists one after the other."""
        if not self.tokens:
            return pl.DataFrame(schema=TOKENS)
        rows = pl.concat([range_files.read(path) for path in self.tokens])
        return rows.group_by("doc_id", maintain_order=True).agg(pl.col("tokens").list.explode(keep_nulls=False, empty_as_null=False))


@dataclass(frozen=True)
class BuildContents:
    """What a build holds. What is small is read at once: the version, each document's split, each config's rows
    and fields; spans and tokens are read a range of documents at a time (:meth:`cut`): two 3M span results builds
    read whole took a diff to 1.66 GB."""

    folder: Path
    version: str
    split_of: dict[str, str]
    configs: dict[str, ConfigContents] = field(default_factory=dict)
    documents_files: tuple[tuple[Path, tuple[SpanColumn, ...]], ...] = ()
    token_files: tuple[Path, ...] = ()
    per_annotator: bool = False  # a row per document and annotator (``khabar build --per-annotator``)

    def token_doc_ids(self) -> set[str]:
        """The documents the ``tokens`` config names (in a build, every one of them is in ``documents`` too)."""
        return {doc_id for path in self.token_files for batch in parquet.batches(path, columns=["doc_id"]) for doc_id in batch.column("doc_id").to_pylist()}

    def cut(self, range_of: range_files.RangeOf, folder: Path) -> dict[int, RangeFiles]:
        """Each range's files of this build's spans and tokens, written into ``folder``, by range number."""
        parts: dict[int, RangeFiles] = defaultdict(RangeFiles)
        for n, (path, columns) in enumerate(self.documents_files):
            batches = parquet.batches(path, columns=["id", *([ANNOTATOR] if self.per_annotator else []), *(span.column for span in columns)])
            for index, part in range_files.cut(batches, "id", range_of, partial(_part, folder / f"documents-{n}")).items():
                parts[index].documents.append((columns, part))
        for n, path in enumerate(self.token_files):
            batches = parquet.batches(path, columns=["doc_id", "tokens"])
            for index, part in range_files.cut(batches, "doc_id", range_of, partial(_part, folder / f"tokens-{n}")).items():
                parts[index].tokens.append(part)
        return parts


def _part(file: Path, index: int) -> Path:
    """The file of range ``index`` of what ``file`` names."""
    return file.with_name(f"{file.name}-{index}.arrow")


@dataclass
class BuildDiff:
    old_version: str
    new_version: str
    documents_added: list[str] = field(default_factory=list)
    documents_removed: list[str] = field(default_factory=list)
    spans_added: dict[str, int] = field(default_factory=dict)  # "layer/label" → count
    spans_removed: dict[str, int] = field(default_factory=dict)
    spans_relabeled: dict[str, int] = field(default_factory=dict)  # "layer/OLD→NEW" → count
    splits_changed: list[tuple[str, str, str]] = field(default_factory=list)  # doc_id, old, new
    config_rows: dict[str, tuple[int, int]] = field(default_factory=dict)  # config → (old rows, new rows), where they differ
    fields_added: dict[str, list[str]] = field(default_factory=dict)  # config → field paths
    fields_removed: dict[str, list[str]] = field(default_factory=dict)
    tokens: tuple[int, int] = (0, 0)  # (old, new) tokens in the tokens config
    tokens_changed: list[str] = field(default_factory=list)  # documents in both whose tokens differ

    @property
    def empty(self) -> bool:
        return not any((self.documents_added, self.documents_removed, self.spans_added, self.spans_removed, self.spans_relabeled, self.splits_changed,
                        self.config_rows, self.fields_added, self.fields_removed, self.tokens_changed))

    def lines(self) -> list[str]:
        out = [f"{self.old_version} → {self.new_version}"]
        out += [f"document added    {d}" for d in self.documents_added]
        out += [f"document removed  {d}" for d in self.documents_removed]
        out += [f"spans added       {key}: {n}" for key, n in self.spans_added.items()]
        out += [f"spans removed     {key}: {n}" for key, n in self.spans_removed.items()]
        out += [f"spans relabeled   {key}: {n}" for key, n in self.spans_relabeled.items()]
        out += [f"split changed     {doc}: {old} → {new}" for doc, old, new in self.splits_changed]
        out += [f"rows              {config}: {old} → {new}" for config, (old, new) in self.config_rows.items()]
        out += [f"fields added      {config}: {', '.join(paths)}" for config, paths in self.fields_added.items()]
        out += [f"fields removed    {config}: {', '.join(paths)}" for config, paths in self.fields_removed.items()]
        if self.tokens_changed:
            out.append(f"tokens changed    {len(self.tokens_changed)} document(s): {self.tokens[0]} → {self.tokens[1]} tokens")
        if self.empty:
            out.append("no differences")
        return out


def read_build(folder: Path) -> BuildContents:
    """What the build in ``folder`` holds, once it passes every check of ``khabar validate --dataset`` (refused in one
    line otherwise: a build missing its tokens file read as one without tokens, a null id was a traceback)."""
    import pyarrow.parquet as pq
    from datasets import Features

    from khabar.annotation.scheme import load_scheme
    from khabar.dataset.features import column_of
    from khabar.dataset.layout import split_of_file
    from khabar.foundation.manifest import read_manifest
    from khabar.validation.dataset_check import refuse_failing_build

    refuse_failing_build(folder)
    layer_of = {column_of(layer): layer for layer in load_scheme().layer_names}
    files = sorted((folder / "data" / "documents").glob("*.parquet"))
    split_of: dict[str, str] = {}
    documents_files: list[tuple[Path, tuple[SpanColumn, ...]]] = []
    per_annotator = False
    for path in files:
        with parquet.reading(path):
            features = Features.from_arrow_schema(pq.read_schema(path))
            split_of.update(dict.fromkeys(pq.read_table(path, columns=["id"]).column("id").to_pylist(), split_of_file(path)))
        per_annotator = per_annotator or ANNOTATOR in features
        columns = tuple(SpanColumn(column, layer_of[column], pl.Series(features[column].feature["label"].names, dtype=pl.String))
                        for column in features if column in layer_of)
        documents_files.append((path, columns))
    configs: dict[str, ConfigContents] = {}
    for config in sorted(p.name for p in (folder / "data").iterdir() if p.is_dir()):
        if paths := sorted((folder / "data" / config).glob("*.parquet")):
            with parquet.reading(paths[0]):
                fields = tuple(field_paths(pq.read_schema(paths[0])))
            configs[config] = ConfigContents(sum(_rows(path) for path in paths), fields)
    token_files = tuple(sorted((folder / "data" / "tokens").glob("*.parquet"))) if "tokens" in configs else ()
    return BuildContents(folder, read_manifest(folder)["version"], split_of, configs, tuple(documents_files), token_files, per_annotator)


def _rows(path: Path) -> int:
    import pyarrow.parquet as pq

    with parquet.reading(path):
        return pq.ParquetFile(path).metadata.num_rows


def field_paths(schema) -> list[str]:
    """Every field of an arrow schema as a path: ``entities[].zone``, ``nested_ner_tags[][]``."""
    import pyarrow as pa

    def walk(name: str, kind: pa.DataType) -> list[str]:
        if pa.types.is_list(kind) or pa.types.is_large_list(kind):
            return walk(name + "[]", kind.value_type)
        if pa.types.is_struct(kind):
            return [path for i in range(kind.num_fields) for path in walk(f"{name}.{kind.field(i).name}", kind.field(i).type)]
        return [name]

    return [path for item in schema for path in walk(item.name, item.type)]


def _label_changes(old: pl.DataFrame, new: pl.DataFrame) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Spans added, removed and relabeled, by "layer/label" (relabeled: "layer/OLD→NEW").

    At each place, the labels only the old build has and those only the new one has, each sorted, are paired
    in turn: a pair is a relabeling, what is left over removed or added.
    """
    counts = (
        old.group_by(*SPAN_KEY, "label").len("before")
        .join(new.group_by(*SPAN_KEY, "label").len("after"), on=[*SPAN_KEY, "label"], how="full", coalesce=True, nulls_equal=True)
        .with_columns(pl.col("before", "after").fill_null(0))  # the annotator of a gold build's spans stays null
        .with_columns(change=pl.col("after").cast(pl.Int64) - pl.col("before").cast(pl.Int64))  # counts are unsigned: a fall would wrap
    )

    def labels(sign: int) -> pl.DataFrame:
        """The labels gone (-1) or come (+1) at each place, as many times as they went or came, numbered there in order."""
        return (
            counts.filter(sign * pl.col("change") > 0)
            .select(*SPAN_KEY, pl.col("label").repeat_by(sign * pl.col("change")))
            .explode("label")
            .sort([*SPAN_KEY, "label"])
            .with_columns(rank=pl.int_range(pl.len()).over(SPAN_KEY))
        )

    paired = labels(-1).join(labels(1), on=[*SPAN_KEY, "rank"], how="full", coalesce=True, suffix="_new", nulls_equal=True)
    gone, came = pl.col("label"), pl.col("label_new")
    kinds = paired.select(
        relabeled=pl.when(gone.is_not_null() & came.is_not_null()).then(pl.concat_str("layer", pl.lit("/"), gone, pl.lit("→"), came)),
        removed=pl.when(came.is_null()).then(pl.concat_str("layer", pl.lit("/"), gone)),
        added=pl.when(gone.is_null()).then(pl.concat_str("layer", pl.lit("/"), came)),
    )

    def counted(kind: str) -> dict[str, int]:
        return dict(sorted(kinds[kind].drop_nulls().value_counts().iter_rows()))

    return counted("added"), counted("removed"), counted("relabeled")


def diff_builds(old: BuildContents, new: BuildContents, documents_at_once: int = DOCUMENTS_AT_ONCE) -> BuildDiff:
    if old.per_annotator != new.per_annotator:  # each annotator's spans against the gold's: their counts added up were read as changes
        versions = old if old.per_annotator else new
        raise KhabarError("a per-annotator build (a version of each document per annotator) cannot be compared with a gold build: "
                          "compare two builds of one kind", file=str(versions.folder))
    result = BuildDiff(old.version, new.version)
    result.documents_added = sorted(set(new.split_of) - set(old.split_of))
    result.documents_removed = sorted(set(old.split_of) - set(new.split_of))
    result.splits_changed = [
        (doc, old.split_of[doc], new.split_of[doc]) for doc in sorted(set(old.split_of) & set(new.split_of)) if old.split_of[doc] != new.split_of[doc]
    ]
    for config in sorted(set(old.configs) | set(new.configs)):
        was, now = old.configs.get(config, ConfigContents(0, ())), new.configs.get(config, ConfigContents(0, ()))
        if was.rows != now.rows:
            result.config_rows[config] = (was.rows, now.rows)
        if new_fields := [p for p in now.fields if p not in was.fields]:
            result.fields_added[config] = new_fields
        if old_fields := [p for p in was.fields if p not in now.fields]:
            result.fields_removed[config] = old_fields
    # a span's place and a document's tokens are in one document: the counts of the ranges add up to the builds'
    added: Counter[str] = Counter()
    removed: Counter[str] = Counter()
    relabeled: Counter[str] = Counter()
    tokens = [0, 0]
    ordered = sorted(old.split_of.keys() | new.split_of.keys() | old.token_doc_ids() | new.token_doc_ids())
    range_of = range_files.RangeOf.of(ordered, [n // documents_at_once for n in range(len(ordered))])
    with temporary_folder("diff") as folder:
        try:
            (Path(folder) / "old").mkdir()
            (Path(folder) / "new").mkdir()
            old_parts, new_parts = old.cut(range_of, Path(folder) / "old"), new.cut(range_of, Path(folder) / "new")
        except OSError as exc:  # a full disk
            raise KhabarError(f"cannot cut the builds into ranges of documents: {os_reason(exc)}", file=folder) from None
        for index in sorted(old_parts.keys() | new_parts.keys()):
            before, after = old_parts.get(index, RangeFiles()), new_parts.get(index, RangeFiles())
            for total, change in zip((added, removed, relabeled), _label_changes(before.spans(), after.spans()), strict=True):
                total.update(change)
            old_tokens, new_tokens = before.document_tokens(), after.document_tokens()
            tokens[0] += int(old_tokens["tokens"].list.len().sum())
            tokens[1] += int(new_tokens["tokens"].list.len().sum())
            both = old_tokens.join(new_tokens, on="doc_id", suffix="_new")
            result.tokens_changed += both.filter(pl.col("tokens") != pl.col("tokens_new"))["doc_id"].to_list()
    result.spans_added, result.spans_removed, result.spans_relabeled = (dict(sorted(total.items())) for total in (added, removed, relabeled))
    result.tokens = (tokens[0], tokens[1])
    result.tokens_changed.sort()
    return result
