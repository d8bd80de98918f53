"""Wojood (nested Arabic NER, SinaLab, MIT) imported, validated, built and read back.

The sample is part of the dataset repository (``annotation/external/wojood-sample``,
where ``khabar train`` reads it too); its ``SOURCE.md`` records where it comes from.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from khabar.annotation.conll_import import Comparison, ConllImport, compare_tokens, write_documents, write_export
from khabar.foundation.paths import repo
from khabar.model.corpus import wojood_dir
from tests.cli_support import run_khabar

#: The Wojood sample (MIT), in the repository with its SOURCE.md and LICENSE: the one copy tests and the model use.
WOJOOD_DIR = wojood_dir(repo().root)
SPLITS = ("train", "val", "test")


def wojood_file(split: str) -> Path:
    path = WOJOOD_DIR / f"{split}.txt"
    if not path.exists():
        pytest.fail(f"the Wojood sample is missing: {path}")
    return path


def write_inputs(imported: ConllImport, folder: Path) -> tuple[Path, Path]:
    """documents.jsonl and export.json of an import, in ``folder``."""
    documents, export = folder / "documents.jsonl", folder / "export.json"
    write_documents(documents, (d.record for d in imported.documents))
    write_export(export, imported.tasks)
    return documents, export


def build_and_compare(imported: ConllImport, export: Path, documents: Path, folder: Path) -> Comparison:
    """``khabar build`` the export, read the ``tokens`` config back with ``datasets``, compare token by token."""
    from datasets import load_dataset

    datasheet = folder / "DATASHEET.md"
    shutil.copyfile(repo().root / "DATASHEET.md", datasheet)
    out = folder / "build"
    status = run_khabar("build", "--exports", str(export), "--documents", str(documents), "--out", str(out), "--datasheet", str(datasheet))
    assert status == 0, "khabar build failed"
    tokens = load_dataset(str(out), "tokens")
    rows = []
    for split in tokens.values():
        names = split.features["nested_ner_tags"].feature.feature
        for row in split:
            rows.append({**row, "nested_ner_tags": [[names.int2str(t) for t in tags] for tags in row["nested_ner_tags"]]})
    return compare_tokens(imported, rows)
