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

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from khabar.foundation.errors import KhabarError

SpanKey = tuple[str, str, int, int]  # doc_id, layer, start, end


@dataclass(frozen=True)
class ConfigContents:
    rows: int
    fields: tuple[str, ...]  # every field's path, lists as ``[]``: ``entities[].zone``


@dataclass(frozen=True)
class BuildContents:
    version: str
    split_of: dict[str, str]
    spans: dict[SpanKey, tuple[str, ...]]  # labels at that place (one unless two labels share a span)
    configs: dict[str, ConfigContents] = field(default_factory=dict)
    tokens: dict[str, tuple[str, ...]] = field(default_factory=dict)  # doc_id → its tokens, in order


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
    spans: dict[SpanKey, list[str]] = {}
    for path in files:
        table = pq.read_table(path)
        features = Features.from_arrow_schema(table.schema)
        layers = [column for column in features if column in layer_of]
        for row in table.to_pylist():
            split_of[row["id"]] = split_of_file(path)
            for column in layers:
                names = features[column].feature["label"].names
                for span in row[column]:
                    spans.setdefault((row["id"], layer_of[column], span["start"], span["end"]), []).append(names[span["label"]])
    configs: dict[str, ConfigContents] = {}
    tokens: dict[str, list[str]] = {}
    for config in sorted(p.name for p in (folder / "data").iterdir() if p.is_dir()):
        tables = [pq.read_table(path) for path in sorted((folder / "data" / config).glob("*.parquet"))]
        if not tables:
            continue
        configs[config] = ConfigContents(sum(t.num_rows for t in tables), tuple(field_paths(tables[0].schema)))
        if config == "tokens":
            for table in tables:
                for doc_id, words in zip(table["doc_id"].to_pylist(), table["tokens"].to_pylist()):
                    tokens.setdefault(doc_id, []).extend(words)
    return BuildContents(
        read_manifest(folder)["version"], split_of, {k: tuple(sorted(v)) for k, v in spans.items()}, configs, {k: tuple(v) for k, v in tokens.items()}
    )


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


def diff_builds(old: BuildContents, new: BuildContents) -> BuildDiff:
    result = BuildDiff(old.version, new.version)
    result.documents_added = sorted(set(new.split_of) - set(old.split_of))
    result.documents_removed = sorted(set(old.split_of) - set(new.split_of))
    added: Counter[str] = Counter()
    removed: Counter[str] = Counter()
    relabeled: Counter[str] = Counter()
    for key in sorted(set(old.spans) | set(new.spans)):
        before, after = Counter(old.spans.get(key, ())), Counter(new.spans.get(key, ()))
        gone, came = sorted((before - after).elements()), sorted((after - before).elements())
        layer = key[1]
        for old_label, new_label in zip(gone, came):
            relabeled[f"{layer}/{old_label}→{new_label}"] += 1
        for label in gone[len(came):]:
            removed[f"{layer}/{label}"] += 1
        for label in came[len(gone):]:
            added[f"{layer}/{label}"] += 1
    result.spans_added, result.spans_removed, result.spans_relabeled = dict(sorted(added.items())), dict(sorted(removed.items())), dict(sorted(relabeled.items()))
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
    result.tokens = (sum(map(len, old.tokens.values())), sum(map(len, new.tokens.values())))
    result.tokens_changed = sorted(doc for doc in set(old.tokens) & set(new.tokens) if old.tokens[doc] != new.tokens[doc])
    return result
