"""``khabar validate --dataset FOLDER``: re-check a built (or downloaded) dataset folder.

What a consumer can verify without the exports or the corpus:

- files: every file listed in ``MANIFEST.json`` is there with its size, sha256
  and (parquet) row count, and nothing unlisted was added;
- features: each parquet file's features (the ``huggingface`` metadata and the
  arrow schema) are the card's ``dataset_info`` features, ClassLabel names in
  the same order, and every ClassLabel value is in range; each split has the
  card's ``num_examples``;
- offsets: every span's ``text`` is ``document.text[start:end]`` and every
  token is where ``token_starts`` says, against the ``documents`` config's text;
- text: every document's text is in the normal form of ingest (no byte-order
  mark or bidi control, no CR, NFC), the form every offset refers to.

Exit status: 0 clean, 1 failed checks, 2 unusable (no folder, no or unreadable
MANIFEST.json, a MANIFEST.json naming a file outside the folder, or a card that
cannot be read although MANIFEST.json vouches for it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from khabar.annotation.normalize import departure
from khabar.foundation.errors import EXIT_FAILED_CHECKS, EXIT_OK, KhabarError
from khabar.foundation.manifest import MANIFEST_NAME, read_manifest, refuse_special_files, unsafe_entry

CARD_NAME = "README.md"
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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


def check_files(folder: Path, entries: list[dict[str, Any]], report: DatasetCheck) -> None:
    import pyarrow.parquet as pq

    listed = {entry["path"] for entry in entries}
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - {MANIFEST_NAME}
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
        digest = _sha256(path)
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


def check_features(folder: Path, config: ConfigFiles, report: DatasetCheck) -> dict[Path, list[dict[str, Any]]]:
    """Schema, label names and row counts of one config; returns the rows of each readable file."""
    import pyarrow.parquet as pq
    from datasets import Features

    card_labels = list(_class_labels(config.features))
    rows_of: dict[Path, list[dict[str, Any]]] = {}
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
                table = parquet.read()
            except Exception as exc:  # reported by check_files already when listed
                report.problems.append(Problem(relative, f"cannot read ({exc.__class__.__name__})"))
                continue
            total += table.num_rows
            metadata = parquet.schema_arrow.metadata or {}
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
            if table.schema.remove_metadata() != config.features.arrow_schema.remove_metadata():
                report.problems.append(Problem(relative, "arrow schema differs from the card's features"))
                continue
            rows = table.to_pylist()
            for index, row in enumerate(rows):
                for column, value, count in _out_of_range_labels(config.features, row):
                    report.problems.append(Problem(relative, f"row {index}: {column} is {value}, outside 0..{count - 1}"))
            rows_of[path] = rows
        if total != expected:
            report.problems.append(Problem(f"data/{config.name}", f"split {split!r} has {total} rows, the card says {expected}"))
    return rows_of


def _span_problem(text: str, item: dict[str, Any]) -> str | None:
    start, end, span_text = item.get("start"), item.get("end"), item.get("text")
    if not (isinstance(start, int) and isinstance(end, int)):
        return None
    if not 0 <= start <= end <= len(text):
        return f"offsets {start}..{end} outside the text (length {len(text)})"
    if isinstance(span_text, str) and text[start:end] != span_text:
        return f"text {span_text!r} is not the document's text[{start}:{end}] {text[start:end]!r}"
    return None


def check_offsets(folder: Path, rows_by_config: dict[str, dict[Path, list[dict[str, Any]]]], report: DatasetCheck) -> None:
    texts: dict[str, str] = {}
    for path, rows in rows_by_config.get(DOCUMENTS_CONFIG, {}).items():
        for index, row in enumerate(rows):
            if isinstance(row.get("id"), str) and isinstance(row.get("text"), str):
                texts[row["id"]] = row["text"]
                if problem := departure(row["text"]):
                    report.problems.append(Problem(path.relative_to(folder).as_posix(),
                                                   f"row {index} (document {row['id']}): text is not in the normal form of ingest: {problem}"))
    for config, files in rows_by_config.items():
        for path, rows in files.items():
            relative = path.relative_to(folder).as_posix()
            for index, row in enumerate(rows):
                doc_id = row["id"] if config == DOCUMENTS_CONFIG else row.get("doc_id")
                text = texts.get(doc_id) if isinstance(doc_id, str) else None
                if text is None:
                    report.problems.append(Problem(relative, f"row {index}: document {doc_id} is not in the {DOCUMENTS_CONFIG} config"))
                    continue
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
                        continue
                    for position, (token, start) in enumerate(zip(tokens, starts)):
                        report.tokens += 1
                        if text[start : start + len(token)] != token:
                            report.problems.append(
                                Problem(relative, f"{where}: token {position} {token!r} is not at {start} ({text[start:start + len(token)]!r})")
                            )


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
    rows_by_config = {config.name: check_features(folder, config, report) for config in card_configs(folder, meta)}
    if DOCUMENTS_CONFIG not in rows_by_config:
        report.problems.append(Problem(CARD_NAME, f"the card has no {DOCUMENTS_CONFIG!r} config, so offsets cannot be checked"))
    else:
        check_offsets(folder, rows_by_config, report)
    return report


def run_dataset_check(folder: Path, print_line=print) -> int:
    """What ``khabar validate --dataset FOLDER`` prints and returns."""
    report = check_dataset(folder)
    for problem in report.problems:
        print_line(problem.line(folder))
    print_line(report.summary())
    return report.exit_status
