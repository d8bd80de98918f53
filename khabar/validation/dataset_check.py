"""``khabar validate --dataset FOLDER``: re-check a built (or downloaded) dataset folder.

What a consumer can verify without the exports or the corpus:

- files: every file listed in ``MANIFEST.json`` is there with its size, sha256
  and (parquet) row count, and nothing unlisted was added (but for the record of
  the download that huggingface_hub writes into a folder it downloads into);
- features: each parquet file's features (the ``huggingface`` metadata and the
  arrow schema) are the card's ``dataset_info`` features, ClassLabel names in
  the same order, and every ClassLabel value is in range; each split has the
  card's ``num_examples``;
- nulls: none where a build writes none: a list, an item of a list, or a column
  that :mod:`khabar.foundation.tables` does not declare nullable (a document's or
  span's ``id``, ``text``, ``start``, ``label``, a span's ``zone``…; a column it
  does not declare at all is held to no null either);
- offsets: every span's ``text`` is ``document.text[start:end]`` and every
  token is where ``token_starts`` says, against the ``documents`` config's text;
- tags: every IOB2 tag column (``ner_tags``, ``nested_ner_tags``) names the tags of
  the scheme the build ships, has a tag per token, and is well formed
  (:mod:`khabar.validation.tag_check`);
- text: every document's text is in the normal form of ingest (no byte-order
  mark or bidi control, no CR, NFC), the form every offset refers to.

Exit status: 0 clean, 1 failed checks, 2 unusable (no folder, no or unreadable
MANIFEST.json, a MANIFEST.json naming a file outside the folder, or a card that
cannot be read although MANIFEST.json vouches for it).

Every command that reads a build (``diff``, ``export``, ``publish``) checks it so first
(:func:`refuse_failing_build`), and refuses one that fails in one line.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, cast

from khabar.annotation.normalize import departure
from khabar.annotation.scheme import parse_unmarked_scheme, read_config
from khabar.foundation import parquet
from khabar.foundation.errors import EXIT_FAILED_CHECKS, EXIT_OK, EXIT_UNUSABLE_INPUT, KhabarError
from khabar.foundation.files import sha256_file
from khabar.foundation.manifest import CARD_NAME, HUB_DOWNLOAD_RECORD, HUB_MANAGED, MANIFEST_NAME, SCHEME_NAME, read_manifest, refuse_special_files, unsafe_entry
from khabar.foundation.tables import released_nullable
from khabar.validation.tag_check import TOKENS, TagColumn, batch_problems, names_problem

DOCUMENTS_CONFIG = "documents"


@dataclass(frozen=True)
class Problem:
    path: str  # relative to the folder
    message: str

    def line(self, folder: Path) -> str:
        return f"{folder}: {self.path}: {self.message}"


@dataclass
class DatasetCheck:
    folder: Path
    files: int = 0
    rows: int = 0
    spans: int = 0
    tokens: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def exit_status(self) -> int:
        return EXIT_FAILED_CHECKS if self.problems else EXIT_OK

    def summary(self) -> str:
        verdict = "clean" if not self.problems else f"{len(self.problems)} problem(s)"
        return (
            f"{self.folder}: {self.files} file(s) checked against {MANIFEST_NAME}, {self.rows} row(s), "
            f"{self.spans} span(s) and {self.tokens} token(s) checked against the document text: {verdict}"
        )


def read_card(folder: Path) -> dict[str, Any]:
    """The YAML metadata of the card (``README.md``); KhabarError (exit 2) when it is missing or broken."""
    import yaml

    path = folder / CARD_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KhabarError("no dataset card", file=str(path)) from None
    except UnicodeDecodeError as exc:
        raise KhabarError(f"the card is not UTF-8 ({exc.reason} at byte {exc.start})", file=str(path)) from None
    parts = text.split("---\n", 2)
    if len(parts) < 3 or parts[0] != "":
        raise KhabarError("the card has no YAML metadata block (--- ... ---)", file=str(path))
    try:
        meta = yaml.safe_load(parts[1])
    except yaml.YAMLError as exc:
        raise KhabarError(f"the card's YAML is broken: {str(exc).splitlines()[0]}", file=str(path)) from None
    if not isinstance(meta, dict) or not meta.get("dataset_info"):
        raise KhabarError("the card's YAML has no dataset_info", file=str(path))
    return meta


def failure(exc: Exception) -> str:
    """Why a parquet file could not be read, in one line: a :class:`KhabarError`'s own message (a page that a batch
    of :func:`khabar.foundation.parquet.batches` could not decode), else pyarrow's. The class's name alone ("cannot
    read (KhabarError)") said nothing."""
    return exc.message if isinstance(exc, KhabarError) else parquet.cannot_read(exc)


def check_files(folder: Path, entries: list[dict[str, Any]], report: DatasetCheck) -> None:
    import pyarrow.parquet as pq

    listed = {entry["path"] for entry in entries}
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - {MANIFEST_NAME}
    # what the Hub and huggingface_hub put beside a build downloaded with `hf download --local-dir`
    present = {path for path in present - HUB_MANAGED if not PurePosixPath(path).is_relative_to(HUB_DOWNLOAD_RECORD)}
    for extra in sorted(present - listed):
        report.problems.append(Problem(extra, f"not listed in {MANIFEST_NAME} (added after the build)"))
    for entry in entries:
        path = folder / entry["path"]
        if not path.is_file():
            report.problems.append(Problem(entry["path"], f"listed in {MANIFEST_NAME} but missing"))
            continue
        report.files += 1
        size = path.stat().st_size
        if "bytes" in entry and size != entry["bytes"]:
            report.problems.append(Problem(entry["path"], f"{size} bytes, {MANIFEST_NAME} says {entry['bytes']}"))
        digest = sha256_file(path)
        if digest != entry["sha256"]:
            report.problems.append(Problem(entry["path"], f"sha256 {digest[:12]}…, {MANIFEST_NAME} says {entry['sha256'][:12]}…"))
        if path.suffix == ".parquet":
            try:
                rows = pq.ParquetFile(path).metadata.num_rows
            except Exception as exc:  # pyarrow raises several types for a damaged file
                report.problems.append(Problem(entry["path"], f"not a readable parquet file ({exc.__class__.__name__}: {exc})"))
                continue
            if "rows" in entry and rows != entry["rows"]:
                report.problems.append(Problem(entry["path"], f"{rows} rows, {MANIFEST_NAME} says {entry['rows']}"))


@dataclass(frozen=True)
class ConfigFiles:
    name: str
    features: Any  # datasets.Features
    splits: dict[str, int]  # split → num_examples from the card
    files: dict[str, list[Path]]  # split → parquet files

    def listed(self) -> list[Path]:
        """The files of the splits the card lists, those :func:`check_features` reads."""
        return [path for split in self.splits for path in self.files.get(split, [])]


def card_configs(folder: Path, meta: dict[str, Any]) -> list[ConfigFiles]:
    from datasets.info import DatasetInfo

    infos = meta["dataset_info"] if isinstance(meta["dataset_info"], list) else [meta["dataset_info"]]
    data_files = {c.get("config_name"): c.get("data_files") or [] for c in meta.get("configs") or [] if isinstance(c, dict)}
    configs = []
    for raw in infos:
        try:
            info = DatasetInfo._from_yaml_dict(dict(raw))
        except Exception as exc:  # datasets raises several types for a malformed features block
            raise KhabarError(f"the card's dataset_info is unreadable ({exc.__class__.__name__}: {exc})", file=str(folder / CARD_NAME)) from None
        name = raw.get("config_name", "default")
        splits = {s.name: s.num_examples for s in (info.splits or {}).values()}
        files = {}
        for entry in data_files.get(name, []):
            split = entry.get("split") if isinstance(entry, dict) else None
            patterns = entry.get("path") if isinstance(entry, dict) else None
            patterns = [patterns] if isinstance(patterns, str) else patterns
            if not isinstance(split, str) or not isinstance(patterns, list) or not all(
                isinstance(p, str) and p and not Path(p).is_absolute() and ".." not in Path(p).parts for p in patterns
            ):
                raise KhabarError(
                    f"the card's data_files entry {entry!r} of config {name!r} is not a split with paths inside the folder",
                    file=str(folder / CARD_NAME),
                )
            matched = {path for pattern in patterns for path in folder.glob(pattern)}
            files[split] = sorted(path for path in matched if unsafe_entry(folder, path.relative_to(folder).as_posix()) is None)
        configs.append(ConfigFiles(name=name, features=info.features, splits=splits, files=files))
    return configs


def _list_feature(features: Any) -> Any | None:
    """The item feature of a list-like feature, or None."""
    from datasets import LargeList, List, Sequence

    if isinstance(features, (List, LargeList, Sequence)):
        return features.feature
    if isinstance(features, list) and features:
        return features[0]
    return None


def tag_columns(features: Any) -> list[TagColumn]:
    """The IOB2 tag columns of a config's features: a ClassLabel per token, or a list of them per token, in a config
    with ``tokens`` (none in another)."""
    from datasets import ClassLabel

    columns = []
    for name, feature in features.items() if TOKENS in features else ():
        item = _list_feature(feature)
        if isinstance(item, ClassLabel):
            columns.append(TagColumn(name, False, tuple(item.names)))
        elif isinstance(inner := _list_feature(item), ClassLabel):
            columns.append(TagColumn(name, True, tuple(inner.names)))
    return columns


def _class_labels(features: Any, prefix: str = "") -> Iterator[tuple[str, list[str]]]:
    """(column path, names) of every ClassLabel, in order."""
    from datasets import ClassLabel

    if isinstance(features, dict):
        for key, value in features.items():
            yield from _class_labels(value, f"{prefix}.{key}" if prefix else key)
    elif (item := _list_feature(features)) is not None:
        yield from _class_labels(item, f"{prefix}[]")
    elif isinstance(features, ClassLabel):
        yield prefix, list(features.names)


def _out_of_range_labels(features: Any, value: Any, prefix: str = "") -> Iterator[tuple[str, int, int]]:
    """(column path, value, number of names) of every ClassLabel value outside its names."""
    from datasets import ClassLabel

    if value is None:
        return
    if isinstance(features, dict):
        for key, feature in features.items():
            yield from _out_of_range_labels(feature, value.get(key), f"{prefix}.{key}" if prefix else key)
    elif (item := _list_feature(features)) is not None:
        for element in value:
            yield from _out_of_range_labels(item, element, f"{prefix}[]")
    elif isinstance(features, ClassLabel) and not 0 <= value < features.num_classes:
        yield prefix, value, features.num_classes

def check_features(folder: Path, config: ConfigFiles, report: DatasetCheck, nullable: Mapping[str, bool]) -> list[Path]:
    """Schema, label names, nulls (``nullable``: :func:`released_nullable`) and row counts of one config; returns the
    files whose rows can be checked."""
    import pyarrow.parquet as pq
    from datasets import Features

    card_labels = list(_class_labels(config.features))
    readable: list[Path] = []
    for split, expected in config.splits.items():
        files = config.files.get(split, [])
        if not files:
            report.problems.append(Problem(f"data/{config.name}", f"the card lists split {split!r} of config {config.name!r} but no file holds it"))
            continue
        total = 0
        for path in files:
            relative = path.relative_to(folder).as_posix()
            try:
                parquet = pq.ParquetFile(path)
                schema = parquet.schema_arrow
            except Exception as exc:  # reported by check_files already when listed
                report.problems.append(Problem(relative, failure(exc)))
                continue
            metadata = schema.metadata or {}
            if b"huggingface" in metadata:
                stored = Features.from_dict(json.loads(metadata[b"huggingface"])["info"]["features"])
                stored_labels = dict(_class_labels(stored))
                for column, names in card_labels:
                    if stored_labels.get(column) != names:
                        report.problems.append(
                            Problem(relative, f"label names of {column} are {stored_labels.get(column)}, the card says {names}")
                        )
                if set(stored) != set(config.features):
                    report.problems.append(Problem(relative, f"columns {sorted(stored)}, the card says {sorted(config.features)}"))
            if schema.remove_metadata() != config.features.arrow_schema.remove_metadata():
                total += parquet.metadata.num_rows
                report.problems.append(Problem(relative, "arrow schema differs from the card's features"))
                continue
            try:
                total += _check_values(relative, path, config, report, nullable)
            except Exception as exc:  # a damaged page, which check_files does not read
                report.problems.append(Problem(relative, failure(exc)))
                continue
            readable.append(path)
        if total != expected:
            report.problems.append(Problem(f"data/{config.name}", f"split {split!r} has {total} rows, the card says {expected}"))
    return readable


def _check_values(relative: str, path: Path, config: ConfigFiles, report: DatasetCheck, nullable: Mapping[str, bool]) -> int:
    """Every ClassLabel value of the file in range (a batch whose values Arrow finds in range is not read row by
    row: at 1M span results, row by row took 46 s of CPU) and no null where a build writes none (:func:`_nulls`),
    in one read; returns its rows."""
    first = 0
    nulls: Counter[str] = Counter()
    for batch in parquet.batches(path):
        if not _labels_in_range(config.features, batch):
            for index, row in enumerate(batch.to_pylist(), start=first):
                for column, value, count in _out_of_range_labels(config.features, row):
                    report.problems.append(Problem(relative, f"row {index}: {column} is {value}, outside 0..{count - 1}"))
        nulls.update(dict(_nulls(config.features, batch.to_struct_array(), nullable)))
        first += batch.num_rows
    for column, count in nulls.items():
        report.problems.append(Problem(relative, f"{count} null(s) in {column}, where a build writes none"))
    return first


def _nulls(features: Any, array: Any, nullable: Mapping[str, bool], prefix: str = "") -> Iterator[tuple[str, int]]:
    """(column path, count) of the nulls where a build writes none, as :func:`_class_labels` walks the features: a
    list (a build writes an empty one) or an item of a list, and a field whose name :mod:`khabar.foundation.tables`
    does not declare nullable (``nullable``: :func:`released_nullable`; a name it does not declare at all, which a
    build never writes, holds no null either: it went unchecked). A null item's own fields are not looked into."""
    import pyarrow.compute as pc

    if isinstance(features, dict):
        for key, feature in features.items():
            path, values = f"{prefix}.{key}" if prefix else key, pc.struct_field(array, key)  # type: ignore[attr-defined]
            never_null = _list_feature(feature) is not None or not nullable.get(key, False)
            if never_null and values.null_count:
                yield path, values.null_count
            yield from _nulls(feature, values, nullable, path)
    elif (item := _list_feature(features)) is not None:
        items = pc.list_flatten(array)  # type: ignore[attr-defined]
        if items.null_count:
            yield f"{prefix}[]", items.null_count
        yield from _nulls(item, items.drop_null(), nullable, f"{prefix}[]")


def _labels_in_range(features: Any, batch: Any) -> bool:
    """Whether Arrow's least and greatest value of every ClassLabel column of the batch are among its names (a
    layout the walk does not know: False, and the rows are read one by one)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        for values, count in _label_values(features, batch.to_struct_array()):
            least, greatest = pc.min_max(values).values()  # type: ignore[attr-defined]
            if least.is_valid and (least.as_py() < 0 or greatest.as_py() >= count):
                return False
    except (pa.ArrowException, TypeError, KeyError):
        return False
    return True


def _label_values(features: Any, array: Any) -> Iterator[tuple[Any, int]]:
    """(values, number of names) of every ClassLabel, as :func:`_class_labels` walks the features: a struct's
    field, a list's items flattened (a null parent's values are not among them)."""
    import pyarrow.compute as pc
    from datasets import ClassLabel

    if isinstance(features, dict):
        for key, value in features.items():
            yield from _label_values(value, pc.struct_field(array, key))  # type: ignore[attr-defined]
    elif (item := _list_feature(features)) is not None:
        yield from _label_values(item, pc.list_flatten(array))  # type: ignore[attr-defined]
    elif isinstance(features, ClassLabel):
        yield array, features.num_classes


def _span_problem(text: str, item: dict[str, Any]) -> str | None:
    start, end, span_text = item.get("start"), item.get("end"), item.get("text")
    if not (isinstance(start, int) and isinstance(end, int)):
        return None
    if not 0 <= start <= end <= len(text):
        return f"offsets {start}..{end} outside the text (length {len(text)})"
    if isinstance(span_text, str) and text[start:end] != span_text:
        return f"text {span_text!r} is not the document's text[{start}:{end}] {text[start:end]!r}"
    return None


def check_offsets(folder: Path, files_by_config: dict[str, list[Path]], report: DatasetCheck) -> None:
    """Every span and token against its document's text, each file read again a batch of rows at a time.

    A batch is first checked whole, by polars (:func:`_clean_offsets`); only a batch with a problem (or with a
    value polars would judge otherwise than Python) is read row by row, for the messages (:func:`_check_row`).
    Row by row throughout, at 1M span results: 27 s of CPU and every row of every config held (2.0 GB).
    """
    import polars as pl

    from khabar.validation.reader import CorpusTexts

    parts = []
    for path in files_by_config.get(DOCUMENTS_CONFIG, []):
        first = 0
        for batch in parquet.batches(path, columns=["id", "text"]):
            for index, (doc_id, text) in enumerate(zip(batch.column("id").to_pylist(), batch.column("text").to_pylist()), start=first):
                if isinstance(doc_id, str) and isinstance(text, str) and (problem := departure(text)):
                    report.problems.append(Problem(path.relative_to(folder).as_posix(),
                                                   f"row {index} (document {doc_id}): text is not in the normal form of ingest: {problem}"))
            first += batch.num_rows
            parts.append(_frame(batch).select(doc_id="id", text="text").drop_nulls())
    documents = pl.concat(parts) if parts else pl.DataFrame(schema={"doc_id": pl.String, "text": pl.String})
    texts = CorpusTexts(documents)  # a doc_id given twice: its last text, as a dict of them would keep
    known = documents.unique("doc_id", keep="last", maintain_order=True).select(_doc_id="doc_id", _text="text")
    for config, files in files_by_config.items():
        for path in files:
            relative, first = path.relative_to(folder).as_posix(), 0
            for batch in parquet.batches(path):
                counted = _clean_offsets(config, _frame(batch), known)
                if counted is not None:
                    report.rows, report.spans, report.tokens = report.rows + counted[0], report.spans + counted[1], report.tokens + counted[2]
                else:
                    for index, row in enumerate(batch.to_pylist(), start=first):
                        _check_row(relative, config, index, row, texts, report)
                first += batch.num_rows


def _frame(batch: Any) -> Any:
    """A record batch as a polars frame."""
    import polars as pl

    return cast(pl.DataFrame, pl.from_arrow(batch))


def _clean_offsets(config: str, frame: Any, known: Any) -> tuple[int, int, int] | None:
    """The rows, spans and tokens of a batch (counted as :func:`_check_row` counts them) when every row's document
    is known and every span and token is where it says; else None. A negative offset is left to Python, whose
    slices read it otherwise than polars'."""
    import polars as pl

    doc = "id" if config == DOCUMENTS_CONFIG else "doc_id"
    if doc not in frame.columns:
        return None
    frame = frame.join(known, left_on=doc, right_on="_doc_id", how="left", maintain_order="left")
    if frame["_text"].null_count():
        return None
    spans = tokens = 0

    def in_place(start: str, end: str, text: str | None, frame: Any) -> bool:
        """Python's :func:`_span_problem` finds nothing: offsets that are not both numbers are not judged."""
        length = pl.col("_text").str.len_chars()
        judged = pl.col(start).is_not_null() & pl.col(end).is_not_null()
        fits = (pl.col(start) >= 0) & (pl.col(start) <= pl.col(end)) & (pl.col(end) <= length)
        same = pl.lit(True) if text is None else pl.col(text).is_null() | (pl.col("_text").str.slice(pl.col(start), pl.col(end) - pl.col(start)) == pl.col(text))
        return bool(frame.select((~judged | (fits & same)).all()).item())

    if config != DOCUMENTS_CONFIG and {"text", "start"} <= set(frame.columns):
        spans += frame.height
        end = "end" if "end" in frame.columns else None
        if end is not None and frame.schema["text"] == pl.String and not in_place("start", end, "text", frame):
            return None
    for column, dtype in frame.schema.items():
        if isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.Struct) and {"start", "end"} <= {f.name for f in dtype.inner.fields}:
            items = frame.select("_text", pl.col(column).alias("_item")).explode("_item").filter(pl.col("_item").is_not_null()).unnest("_item")
            spans += items.height
            text = "text" if items.schema.get("text") == pl.String else None
            if not in_place("start", "end", text, items):
                return None
    if {"tokens", "token_starts"} <= set(frame.columns):
        lists = frame.filter(pl.col("tokens").is_not_null() & pl.col("token_starts").is_not_null())
        if (lists["tokens"].list.len() != lists["token_starts"].list.len()).any():
            return None
        pairs = lists.filter(pl.col("tokens").list.len() > 0).select("_text", "tokens", "token_starts").explode("tokens", "token_starts")
        tokens += pairs.height
        where = pl.col("_text").str.slice(pl.col("token_starts"), pl.col("tokens").str.len_chars())
        if not pairs.select((pl.col("tokens").is_not_null() & (pl.col("token_starts") >= 0) & (where == pl.col("tokens"))).all()).item():
            return None
    return frame.height, spans, tokens


def _check_row(relative: str, config: str, index: int, row: dict[str, Any], texts: Mapping[str, str], report: DatasetCheck) -> None:
    """One row's spans and tokens against its document's text, with a message for each problem."""
    doc_id = row["id"] if config == DOCUMENTS_CONFIG else row.get("doc_id")
    text = texts.get(doc_id) if isinstance(doc_id, str) else None
    if text is None:
        report.problems.append(Problem(relative, f"row {index}: document {doc_id} is not in the {DOCUMENTS_CONFIG} config"))
        return
    report.rows += 1
    where = f"row {index} (document {doc_id})"
    if config != DOCUMENTS_CONFIG and "text" in row and "start" in row:
        report.spans += 1
        if problem := _span_problem(text, row):
            report.problems.append(Problem(relative, f"{where}: {problem}"))
    for column, value in row.items():
        if not isinstance(value, list):
            continue
        for position, item in enumerate(value):
            if isinstance(item, dict) and "start" in item and "end" in item:
                report.spans += 1
                if problem := _span_problem(text, item):
                    region = f" (region {item['id']})" if item.get("id") else ""
                    report.problems.append(Problem(relative, f"{where}: {column}[{position}]{region}: {problem}"))
    tokens, starts = row.get("tokens"), row.get("token_starts")
    if isinstance(tokens, list) and isinstance(starts, list):
        if len(tokens) != len(starts):
            report.problems.append(Problem(relative, f"{where}: {len(tokens)} tokens but {len(starts)} token_starts"))
            return
        for position, (token, start) in enumerate(zip(tokens, starts)):
            if not (isinstance(token, str) and isinstance(start, int)):
                continue  # a null, named by the check of nulls
            report.tokens += 1
            if text[start : start + len(token)] != token:
                report.problems.append(
                    Problem(relative, f"{where}: token {position} {token!r} is not at {start} ({text[start:start + len(token)]!r})")
                )


def check_tags(folder: Path, configs: list[ConfigFiles], files_by_config: dict[str, list[Path]], report: DatasetCheck) -> None:
    """Every tag column of every config: its names against the entity labels of the scheme the build ships, and its
    rows (:func:`khabar.validation.tag_check.batch_problems`), each file read again a batch of rows at a time."""
    columns_of = {config.name: tag_columns(config.features) for config in configs}
    if not any(columns_of.values()):
        return
    labels = _entity_labels(folder, report)
    for config in configs:
        columns = columns_of[config.name]
        for column in columns:
            if labels is not None and (problem := names_problem(column, labels)):
                report.problems.append(Problem(CARD_NAME, problem))
        for path in files_by_config[config.name] if columns else ():
            relative, first = path.relative_to(folder).as_posix(), 0
            document = "id" if config.name == DOCUMENTS_CONFIG else "doc_id"
            for batch in parquet.batches(path, columns=[name for name in (document, TOKENS) if name in config.features] + [c.name for c in columns]):
                for row, problem in batch_problems(batch, columns):
                    doc_id = batch.column(document)[row].as_py() if document in batch.schema.names else None
                    report.problems.append(Problem(relative, f"row {first + row} (document {doc_id}): {problem}"))
                first += batch.num_rows


def _entity_labels(folder: Path, report: DatasetCheck) -> tuple[str, ...] | None:
    """The entity labels of the scheme the build ships (a build made before roles were marked in it is read too);
    None when it cannot be read, a problem (unless the check of files named the file already)."""
    path = folder / SCHEME_NAME
    try:
        return parse_unmarked_scheme(read_config(path), source=str(path)).entity.labels
    except KhabarError as exc:
        if not any(problem.path == SCHEME_NAME for problem in report.problems):
            report.problems.append(Problem(SCHEME_NAME, f"the scheme cannot be read, so the tags' names cannot be checked: {exc.message}"))
        return None


def check_dataset(folder: Path) -> DatasetCheck:
    """Every check of the module docstring; raises KhabarError (exit 2) for an unusable folder."""
    refuse_special_files(folder)
    entries = read_manifest(folder)["files"]
    report = DatasetCheck(folder)
    check_files(folder, entries, report)
    try:
        meta = read_card(folder)
    except KhabarError as exc:
        if not report.problems:
            raise  # the card was built like that: nothing here can be checked
        report.problems.append(Problem(CARD_NAME, exc.message))  # a file changed after the build, the card among them
        return report
    nullable = released_nullable()
    configs = {config.name: config for config in card_configs(folder, meta)}
    files_by_config = {name: check_features(folder, config, report, nullable) for name, config in configs.items()}
    check_tags(folder, list(configs.values()), files_by_config, report)
    if DOCUMENTS_CONFIG not in files_by_config:
        report.problems.append(Problem(CARD_NAME, f"the card has no {DOCUMENTS_CONFIG!r} config, so offsets cannot be checked"))
    elif len(files_by_config[DOCUMENTS_CONFIG]) < len(configs[DOCUMENTS_CONFIG].listed()):
        # without every text, every row of every config was "document … is not in the documents config"
        report.problems.append(Problem(f"data/{DOCUMENTS_CONFIG}", "offsets not checked: a file of the config holding the texts cannot be read as the card says"))
    else:
        check_offsets(folder, files_by_config, report)
    return report


def run_dataset_check(folder: Path, print_line=print) -> int:
    """What ``khabar validate --dataset FOLDER`` prints and returns."""
    report = check_dataset(folder)
    for problem in report.problems:
        print_line(problem.line(folder))
    print_line(report.summary())
    return report.exit_status


def refuse_failing_build(folder: Path, *, exit_status: int = EXIT_UNUSABLE_INPUT) -> None:
    """What a command that reads a build does before it reads anything: every check of :func:`check_dataset`, and a
    build that fails one refused (KhabarError, ``exit_status``) in one line naming the file of its first problem,
    with that file's problems (up to three) and how many more there are. A build that is not what its
    MANIFEST.json and card say was read as if it were: a missing config read as empty, a column of the wrong type
    or a null id a traceback."""
    report = check_dataset(folder)
    if not report.problems:
        return
    path = report.problems[0].path
    shown = [problem.message for problem in report.problems if problem.path == path][:3]
    more = len(report.problems) - len(shown)
    rest = f" (and {more} more: `khabar validate --dataset {folder}` lists them)" if more else ""
    raise KhabarError(f"the build fails its checks: {'; '.join(shown)}{rest}", file=str(folder / path), exit_status=exit_status)
