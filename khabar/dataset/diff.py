"""``khabar diff OLD NEW``: what changed between two builds.

Documents added and removed, spans added, removed and relabeled per layer and
label (a span is its document, layer, start and end), and documents whose split
changed. Both builds are read from their ``documents`` parquet files; the label
names come from the files' own feature metadata. Per config, also the rows and
the fields (``entities[].zone``) added or removed, and for ``tokens`` the token
count and the documents whose tokens changed: a new field or a new tokenisation
changes no span, but it changes what a user loads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from khabar.foundation.errors import KhabarError

#: a span's place: a span is its document, layer, start and end
SPAN_KEY = ["doc_id", "layer", "start", "end"]
#: a build's tokens: each document's, in the order of its rows
TOKENS = pl.Schema({"doc_id": pl.String(), "tokens": pl.List(pl.String())})


@dataclass(frozen=True)
class ConfigContents:
    rows: int
    fields: tuple[str, ...]  # every field's path, lists as ``[]``: ``entities[].zone``


@dataclass(frozen=True)
class BuildContents:
    """What a build holds, as frames: a million spans are a frame of them, not a dict of Python tuples (a diff of
    two 1M span results builds held both: 1.62 GB and 25 s of CPU)."""

    version: str
    split_of: dict[str, str]
    spans: pl.DataFrame  # doc_id, layer, start, end, label: one row per span
    configs: dict[str, ConfigContents] = field(default_factory=dict)
    tokens: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=TOKENS))  # doc_id, its tokens in order


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
    import pyarrow.parquet as pq
    from datasets import Features

    from khabar.annotation.scheme import load_scheme
    from khabar.dataset.features import column_of
    from khabar.dataset.layout import split_of_file
    from khabar.foundation.manifest import read_manifest, refuse_special_files

    layer_of = {column_of(layer): layer for layer in load_scheme().layer_names}

    files = sorted((folder / "data" / "documents").glob("*.parquet"))
    if not (folder / "MANIFEST.json").is_file() or not files:
        raise KhabarError("not a khabar build (no MANIFEST.json or no data/documents/*.parquet)", file=str(folder))
    refuse_special_files(folder)
    split_of: dict[str, str] = {}
    spans = [pl.DataFrame(schema={"doc_id": pl.String, "layer": pl.String, "start": pl.Int64, "end": pl.Int64, "label": pl.String})]
    for path in files:
        features = Features.from_arrow_schema(pq.read_schema(path))
        layers = [column for column in features if column in layer_of]
        frame = pl.read_parquet(path, columns=["id", *layers])
        split_of.update(dict.fromkeys(frame["id"].to_list(), split_of_file(path)))
        for column in layers:
            names = pl.Series(features[column].feature["label"].names, dtype=pl.String)
            spans.append(
                frame.select(doc_id="id", span=column).explode("span").filter(pl.col("span").is_not_null()).unnest("span")
                .select("doc_id", pl.lit(layer_of[column]).alias("layer"), "start", "end", label=pl.lit(names).gather(pl.col("label")))
            )
    configs: dict[str, ConfigContents] = {}
    tokens = pl.DataFrame(schema=TOKENS)
    for config in sorted(p.name for p in (folder / "data").iterdir() if p.is_dir()):
        paths = sorted((folder / "data" / config).glob("*.parquet"))
        if not paths:
            continue
        configs[config] = ConfigContents(sum(pq.ParquetFile(path).metadata.num_rows for path in paths), tuple(field_paths(pq.read_schema(paths[0]))))
        if config == "tokens":
            rows = pl.concat([pl.read_parquet(path, columns=["doc_id", "tokens"]) for path in paths])
            tokens = rows.group_by("doc_id", maintain_order=True).agg(pl.col("tokens").list.explode(keep_nulls=False, empty_as_null=False))
    return BuildContents(read_manifest(folder)["version"], split_of, pl.concat(spans), configs, tokens)


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
        .join(new.group_by(*SPAN_KEY, "label").len("after"), on=[*SPAN_KEY, "label"], how="full", coalesce=True)
        .fill_null(0)
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

    paired = labels(-1).join(labels(1), on=[*SPAN_KEY, "rank"], how="full", coalesce=True, suffix="_new")
    gone, came = pl.col("label"), pl.col("label_new")
    kinds = paired.select(
        relabeled=pl.when(gone.is_not_null() & came.is_not_null()).then(pl.concat_str("layer", pl.lit("/"), gone, pl.lit("→"), came)),
        removed=pl.when(came.is_null()).then(pl.concat_str("layer", pl.lit("/"), gone)),
        added=pl.when(gone.is_null()).then(pl.concat_str("layer", pl.lit("/"), came)),
    )

    def counted(kind: str) -> dict[str, int]:
        return dict(sorted(kinds[kind].drop_nulls().value_counts().iter_rows()))

    return counted("added"), counted("removed"), counted("relabeled")


def diff_builds(old: BuildContents, new: BuildContents) -> BuildDiff:
    result = BuildDiff(old.version, new.version)
    result.documents_added = sorted(set(new.split_of) - set(old.split_of))
    result.documents_removed = sorted(set(old.split_of) - set(new.split_of))
    result.spans_added, result.spans_removed, result.spans_relabeled = _label_changes(old.spans, new.spans)
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
    result.tokens = (int(old.tokens["tokens"].list.len().sum()), int(new.tokens["tokens"].list.len().sum()))
    both = old.tokens.join(new.tokens, on="doc_id", suffix="_new")
    result.tokens_changed = sorted(both.filter(pl.col("tokens") != pl.col("tokens_new"))["doc_id"].to_list())
    return result
