"""A build reads its inputs one range of whole documents at a time: the ranges cover every document once,
in order, and stay within their bounds; the kept tables read by range are the tables read whole."""

from __future__ import annotations

import gc
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import polars as pl

from khabar.foundation.paths import repo
from khabar.gold.inputs import BuildInputs, Inputs, document_ranges
from khabar.gold.load import load_inputs, load_ranged_inputs
from khabar.gold.stored_inputs import READING, StoredInputs
from khabar.validation import store
from tests.reliability.reliability_support import held_by_another_process

SYNTH = repo().root / "benchmarks" / "synth.py"


def covered(ranges: list[tuple[str, str]], doc_ids: list[str]) -> list[list[str]]:
    """The documents of each range."""
    return [[d for d in sorted(doc_ids) if first <= d <= last] for first, last in ranges]


def test_ranges_hold_every_document_once_within_their_bounds():
    rng = random.Random(5)
    weights = {f"doc-{i:04d}": rng.choice([0, 1, 5, 40, 400]) for i in range(500)}
    for documents, spans in ((7, 10**9), (10**9, 300), (13, 150), (1, 1)):
        ranges = document_ranges(weights, documents=documents, spans=spans)
        parts = covered(ranges, list(weights))
        assert [d for part in parts for d in part] == sorted(weights)  # each once, in doc_id order
        for part in parts:
            assert 0 < len(part) <= documents
            assert len(part) == 1 or sum(weights[d] for d in part) <= spans  # only a lone document may pass the bound
    assert document_ranges({}, documents=5, spans=5) == []
    assert document_ranges({"a": 900, "b": 1, "c": 1}, documents=5, spans=100) == [("a", "a"), ("b", "c")]


def test_kept_tables_read_by_range_are_the_tables_read_whole(tmp_path, monkeypatch, khabar):
    subprocess.run([sys.executable, str(SYNTH), "--spans", "6000", "--seed", "3", "--out", str(tmp_path)], capture_output=True, check=True)
    export, documents = tmp_path / "export.json", tmp_path / "documents.jsonl"
    monkeypatch.setenv("KHABAR_CACHE_DIR", str(tmp_path / "cache"))
    assert khabar("validate", export, "--documents", documents).status == 0  # keeps its tables
    whole = load_inputs([export], documents)
    ranged = load_ranged_inputs([export], documents)
    assert isinstance(ranged, StoredInputs) and READING in ranged.folder.name  # the kept tables, linked: no validation
    assert_read_by_range_as_whole(ranged, whole)


def test_a_build_validating_itself_reads_its_spooled_tables_by_range_and_removes_them(tmp_path, monkeypatch):
    """With nothing kept, the build validates, and reads the tables its validation spooled as it reads the
    kept ones (never whole in memory); it keeps nothing, and its folder goes with its inputs."""
    subprocess.run([sys.executable, str(SYNTH), "--spans", "6000", "--seed", "3", "--out", str(tmp_path)], capture_output=True, check=True)
    export, documents = tmp_path / "export.json", tmp_path / "documents.jsonl"
    monkeypatch.setenv("KHABAR_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    whole = load_inputs([export], documents)
    ranged = load_ranged_inputs([export], documents)
    assert isinstance(ranged, StoredInputs) and not store.holds_tables()
    assert ranged.export_hashes == whole.export_hashes == (("export.json", store.sha256_file(export)),)
    assert_read_by_range_as_whole(ranged, whole)
    spool = Path(ranged.folder.name)
    assert spool.parent == tmp_path / "tmp" and spool.name.startswith("khabar-tables-")
    del ranged
    gc.collect()
    assert list((tmp_path / "tmp").iterdir()) == []


def assert_read_by_range_as_whole(ranged: Inputs, whole: BuildInputs) -> None:
    assert ranged.counts() == whole.counts()
    ranges = ranged.ranges(documents=40, spans=2_000)
    assert ranges == whole.ranges(documents=40, spans=2_000) and len(ranges) > 3
    for first, last in ranges:
        mine, theirs = ranged.between(first, last), whole.between(first, last)
        for name in ("documents", "annotations", "spans", "relations", "predictions_spans"):
            assert getattr(mine, name).equals(getattr(theirs, name)), (first, name)
    parts = [ranged.between(first, last).spans for first, last in ranges]
    assert sum(part.height for part in parts) == whole.spans.height > 0
    assert pl.concat(parts).sort(pl.all()).equals(whole.spans.sort(pl.all()))


def test_a_store_replaced_while_a_build_reads_it_changes_nothing_the_build_reads(tmp_path, monkeypatch, khabar):
    """The build links the kept files before checking them: a validate that saves other tables meanwhile
    (its folder swapped in) changes neither the rows it reads nor where they come from."""
    for name, seed in (("first", "3"), ("second", "4")):
        subprocess.run([sys.executable, str(SYNTH), "--spans", "1500", "--seed", seed, "--out", str(tmp_path / name)], capture_output=True, check=True)
    monkeypatch.setenv("KHABAR_CACHE_DIR", str(tmp_path / "cache"))
    first = (tmp_path / "first" / "export.json", tmp_path / "first" / "documents.jsonl")
    assert khabar("validate", first[0], "--documents", first[1]).status == 0
    ranged = load_ranged_inputs([first[0]], first[1])
    whole = load_inputs([first[0]], first[1])
    second = tmp_path / "second"
    assert khabar("validate", second / "export.json", "--documents", second / "documents.jsonl").status == 0  # replaces the store
    [(first_doc, last_doc)] = ranged.ranges(documents=10**9, spans=10**9)  # read after the store was replaced
    assert ranged.between(first_doc, last_doc).spans.equals(whole.spans)
    assert load_ranged_inputs([first[0]], first[1]).counts() == whole.counts()  # the first export again: validated afresh, same tables


def test_a_killed_builds_folder_is_removed_by_the_next_and_a_finished_builds_by_itself(tmp_path, monkeypatch, khabar):
    subprocess.run([sys.executable, str(SYNTH), "--spans", "600", "--seed", "5", "--out", str(tmp_path)], capture_output=True, check=True)
    export, documents = tmp_path / "export.json", tmp_path / "documents.jsonl"
    monkeypatch.setenv("KHABAR_CACHE_DIR", str(tmp_path / "cache"))
    assert khabar("validate", export, "--documents", documents).status == 0
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()  # a process that is gone, as a killed build's is
    killed = tmp_path / "cache" / f"{READING}{ended.pid}-abc"
    reused = tmp_path / "cache" / f"{READING}{os.getpid()}-ghi"  # a killed build's pid, since taken by this process
    running = tmp_path / "cache" / f"{READING}{ended.pid}-def"  # held by a running build (its pid unseen from here)
    for folder in (killed, reused, running):
        folder.mkdir()
        (folder / "spans.parquet").write_bytes(b"links of a build")
    with held_by_another_process(running):
        ranged = load_ranged_inputs([export], documents)
    own = Path(ranged.folder.name)
    assert not killed.exists() and not reused.exists() and running.exists() and own.is_dir() and own.parent == tmp_path / "cache"
    del ranged
    gc.collect()
    assert not own.exists()  # a build's folder goes with its inputs
