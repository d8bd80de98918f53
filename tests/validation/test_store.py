"""``khabar validate`` keeps its tables for ``khabar build`` (khabar.validation.store), and the build is the same either way."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import polars as pl
import pytest

from khabar.annotation.scheme import load_scheme
from khabar.foundation.paths import repo
from khabar.validation import api, store
from tests.validation.validation_exports import region, valid_export, write_export


@pytest.fixture(autouse=True)
def own_store(monkeypatch, tmp_path):
    """Each test starts with an empty store of its own."""
    monkeypatch.setenv("KHABAR_CACHE_DIR", str(tmp_path / "cache"))


def _key(export: Path, documents: Path | None = None) -> str:
    return store.tables_key([store.sha256_file(export)], store.sha256_file(documents or repo().documents_file))


def _files(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def test_build_takes_the_kept_tables_and_writes_the_same_bytes(khabar, tmp_path, monkeypatch):
    exports = sorted(repo().exports_dir.glob("*.json"))
    assert exports, "the committed exports are the test's input"
    validated = khabar("validate")
    assert validated.status == 0 and "tables kept for khabar build" in validated.err

    validations = []
    real_validate = api.validate_exports  # the one call the build's loader makes (the base is checked after it)
    monkeypatch.setattr(api, "validate_exports", lambda *a, **k: validations.append(a) or real_validate(*a, **k))
    datasheet = tmp_path / "DATASHEET.md"
    shutil.copy(repo().root / "DATASHEET.md", datasheet)

    from_store = khabar("build", "--out", tmp_path / "from-store", "--datasheet", datasheet)
    assert from_store.status == 0, from_store.err
    assert "not checked again" in from_store.out + from_store.err
    assert validations == []

    monkeypatch.setenv("KHABAR_CACHE_DIR", str(tmp_path / "empty-cache"))
    fresh = khabar("build", "--out", tmp_path / "fresh", "--datasheet", datasheet)
    assert fresh.status == 0, fresh.err
    assert len(validations) == 1
    assert _files(tmp_path / "from-store") == _files(tmp_path / "fresh")


def test_kept_tables_are_the_validated_tables(khabar, tmp_path):
    export = write_export(tmp_path, valid_export())
    assert khabar("validate", export).status == 0
    kept = store.load(_key(export))
    assert kept is not None
    validated = api.validate_exports([export]).tables
    for name in store.TABLE_NAMES:
        assert getattr(kept, name).equals(getattr(validated, name)), name


def test_any_change_to_the_inputs_is_a_miss(khabar, tmp_path, monkeypatch):
    export = write_export(tmp_path, valid_export())
    assert khabar("validate", export).status == 0
    assert store.load(_key(export)) is not None

    changed = write_export(tmp_path, valid_export(), name="changed.json")
    changed.write_text(changed.read_text(encoding="utf-8") + " ", encoding="utf-8")  # same tasks, other bytes
    assert store.load(_key(changed)) is None
    other_corpus = tmp_path / "documents.jsonl"
    other_corpus.write_text(repo().documents_file.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert store.load(_key(export, other_corpus)) is None
    assert store.load(store.tables_key([store.sha256_file(export)] * 2, store.sha256_file(repo().documents_file))) is None

    other_config = tmp_path / "labeling_config.xml"
    other_config.write_text(repo().labeling_config.read_text(encoding="utf-8") + "<!-- -->\n", encoding="utf-8")
    monkeypatch.setattr(store, "load_scheme", lambda: load_scheme(other_config))
    assert store.load(_key(export)) is None


def test_only_a_clean_run_that_is_not_strict_is_kept(khabar, tmp_path):
    tasks = valid_export()
    region(tasks, "per1")["value"]["labels"] = ["NOT_A_LABEL"]
    broken = write_export(tmp_path, tasks, name="broken.json")
    result = khabar("validate", broken)
    assert result.status == 1 and "tables kept" not in result.err
    assert store.load(_key(broken)) is None

    clean = write_export(tmp_path, valid_export(), name="clean.json")
    strict = khabar("validate", "--strict", clean)
    assert "tables kept" not in strict.err
    assert store.load(_key(clean)) is None


def test_a_store_that_cannot_keep_the_tables_is_one_line_with_its_reason_and_the_run_still_passes(khabar, tmp_path, monkeypatch):
    export = write_export(tmp_path, valid_export())
    (tmp_path / "cache").write_text("a file where the store's folder would be", encoding="utf-8")
    result = khabar("validate", export)
    line = next(line for line in result.err.splitlines() if "could not keep" in line)
    assert result.status == 0 and line.startswith("khabar validate: could not keep the tables for khabar build (")
    assert line.endswith("); it will validate again") and "None" not in line, line

    def pyarrow_like(*args, **kwargs):  # pyarrow's I/O errors carry no errno, so no strerror
        raise OSError("IOError: the disk went away")

    (tmp_path / "cache").unlink()
    monkeypatch.setattr(store, "save_files", pyarrow_like)
    result = khabar("validate", export)
    assert result.status == 0 and "could not keep the tables for khabar build (IOError: the disk went away); it will validate again" in result.err


def test_the_store_never_replaces_a_folder_holding_what_it_did_not_write(khabar, tmp_path):
    """``KHABAR_CACHE_DIR`` names a folder of the user's: a ``validated/`` folder there holding their files is not
    replaced (it was, and their files went with it); the run still passes, and says why the tables were not kept."""
    export = write_export(tmp_path, valid_export())
    theirs = store.store_dir()
    (theirs / "notes").mkdir(parents=True)
    (theirs / "notes.txt").write_text("precious\n", encoding="utf-8")
    result = khabar("validate", export)
    assert result.status == 0, result.output
    assert "could not keep the tables for khabar build (" in result.err and "'notes'" in result.err, result.err
    assert sorted(os.listdir(theirs)) == ["notes", "notes.txt"] and (theirs / "notes.txt").read_text(encoding="utf-8") == "precious\n"
    assert sorted(os.listdir(theirs.parent)) == [theirs.name], "a staging folder was left beside it"
    shutil.rmtree(theirs / "notes")
    (theirs / "notes.txt").unlink()
    assert khabar("validate", export).status == 0 and store.load(_key(export)) is not None  # its own folder it replaces
    assert khabar("validate", export).status == 0 and store.load(_key(export)) is not None


def test_a_damaged_store_means_validating_again(khabar, tmp_path):
    export = write_export(tmp_path, valid_export())
    assert khabar("validate", export).status == 0
    (store.store_dir() / "spans.parquet").write_bytes(b"not parquet")
    assert store.load(_key(export)) is None
    (store.store_dir() / store.KEY_FILE).unlink()
    assert store.load(_key(export)) is None


def test_the_store_lives_where_the_environment_says(monkeypatch, tmp_path):
    monkeypatch.setenv("KHABAR_CACHE_DIR", str(tmp_path / "here"))
    assert store.store_dir() == tmp_path / "here" / "validated"
    monkeypatch.delenv("KHABAR_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert store.store_dir() == tmp_path / "xdg" / "khabar" / "validated"
    kept = store.save(api.validate_exports([write_export(tmp_path, valid_export())]).tables, "k")
    recorded = json.loads((kept / store.KEY_FILE).read_text(encoding="utf-8"))
    assert recorded["key"] == "k" and set(recorded["sha256"]) == set(store.TABLE_NAMES)
    assert pl.read_parquet(kept / "spans.parquet").height > 0


def test_a_tampered_store_is_a_miss_and_the_build_validates_again(khabar, tmp_path, monkeypatch):
    """Valid parquet with other rows, put in the store by someone else, is never used: the store checks its own hashes."""
    export = write_export(tmp_path, valid_export())
    assert khabar("validate", export).status == 0
    key = _key(export)
    kept = store.load(key)
    assert kept is not None and kept.spans.height > 1
    kept.spans.head(1).write_parquet(store.store_dir() / "spans.parquet")  # a readable table, one span instead of all
    assert store.load(key) is None

    validations = []
    real_validate = api.validate_exports  # the one call the build's loader makes (the base is checked after it)
    monkeypatch.setattr(api, "validate_exports", lambda *a, **k: validations.append(a) or real_validate(*a, **k))
    run = khabar("build", "--exports", export, "--out", tmp_path / "out", "--datasheet", _datasheet_copy(tmp_path))
    assert run.status == 0, run.err
    assert validations, "the build trusted a tampered store"
    assert "validating 1 export(s)" in run.err


def _datasheet_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "DATASHEET.md"
    shutil.copyfile(repo().datasheet_file, copy)
    return copy


def _hashing(monkeypatch) -> list[Path]:
    """The files the store hashes from now on (through the real hash)."""
    hashed: list[Path] = []
    real = store.sha256_file
    monkeypatch.setattr(store, "sha256_file", lambda path: hashed.append(Path(path)) or real(path))
    return hashed


def test_build_takes_validates_sha256s_and_hashes_a_changed_file_again(khabar, tmp_path, monkeypatch):
    """An export rewritten with its old size and old mtime has a new ctime: hashed again, its stale tables not taken."""
    monkeypatch.setattr(store, "SETTLED_NS", 0)  # a test's files are milliseconds old: count them as settled
    export = write_export(tmp_path, valid_export())
    assert khabar("validate", export).status == 0
    recorded = store.recorded_sha256s()
    assert recorded == {
        store.FileIdentity.of(export): store.sha256_file(export),
        store.FileIdentity.of(repo().documents_file): store.sha256_file(repo().documents_file),
    }

    hashed = _hashing(monkeypatch)
    taken = khabar("build", "--exports", export, "--out", tmp_path / "taken", "--datasheet", _datasheet_copy(tmp_path))
    assert taken.status == 0, taken.err
    assert "not checked again" in taken.err
    assert hashed == []  # neither the export nor the corpus read again
    validated_sha256 = recorded[store.FileIdentity.of(export)]
    manifest = json.loads((tmp_path / "taken" / "MANIFEST.json").read_text(encoding="utf-8"))
    assert manifest["inputs"]["exports"] == [{"file": export.name, "sha256": validated_sha256}]

    old = export.stat()
    changed = export.read_text(encoding="utf-8").replace('"annotator-1"', '"annotator-2"')
    export.write_text(changed, encoding="utf-8")
    os.utime(export, ns=(old.st_atime_ns, old.st_mtime_ns))  # as cp -p or touch -d would leave it
    assert (export.stat().st_size, export.stat().st_mtime_ns, export.stat().st_ino) == (old.st_size, old.st_mtime_ns, old.st_ino)
    rebuilt = khabar("build", "--exports", export, "--out", tmp_path / "rebuilt", "--datasheet", _datasheet_copy(tmp_path))
    assert rebuilt.status == 0, rebuilt.err
    assert export in hashed
    assert "not checked again" not in rebuilt.err and "validating 1 export(s)" in rebuilt.err
    manifest = json.loads((tmp_path / "rebuilt" / "MANIFEST.json").read_text(encoding="utf-8"))
    assert manifest["inputs"]["exports"] == [{"file": export.name, "sha256": store.sha256_file(export)}]
    assert manifest["inputs"]["exports"][0]["sha256"] != validated_sha256


def test_a_touched_export_is_hashed_again_and_its_tables_still_taken(khabar, tmp_path, monkeypatch):
    monkeypatch.setattr(store, "SETTLED_NS", 0)
    export = write_export(tmp_path, valid_export())
    assert khabar("validate", export).status == 0
    hashed = _hashing(monkeypatch)
    os.utime(export)  # touch: the same bytes, a new mtime and ctime
    run = khabar("build", "--exports", export, "--out", tmp_path / "out", "--datasheet", _datasheet_copy(tmp_path))
    assert run.status == 0, run.err
    assert hashed == [export]  # the corpus is unchanged, so its recorded sha256 is taken
    assert "not checked again" in run.err


def test_only_settled_files_are_recorded(tmp_path):
    """A file written less than SETTLED_NS before validate began could change again within its clock's tick."""
    fresh = tmp_path / "fresh.json"
    fresh.write_text("[]\n", encoding="utf-8")
    sha256 = store.sha256_file(fresh)
    assert store.known_sha256s([(fresh, sha256)], started_ns=time.time_ns()) == {}
    later = time.time_ns() + store.SETTLED_NS + 1_000_000_000
    assert store.known_sha256s([(fresh, sha256)], started_ns=later) == {store.FileIdentity.of(fresh): sha256}
    assert store.known_sha256s([(tmp_path / "gone.json", sha256)], started_ns=later) == {}


def test_a_store_without_recorded_files_hashes_everything(tmp_path):
    export = write_export(tmp_path, valid_export())
    assert store.recorded_sha256s() == {}
    store.save(api.validate_exports([export]).tables, "k", known={store.FileIdentity(1, 2, 3, 4, 5): "0" * 64})
    assert store.recorded_sha256s() == {store.FileIdentity(1, 2, 3, 4, 5): "0" * 64}
    assert store.file_sha256(export, store.recorded_sha256s()) == store.sha256_file(export)
    (store.store_dir() / store.KEY_FILE).write_text('{"key": "k", "files": [{"identity": [1]}]}', encoding="utf-8")
    assert store.recorded_sha256s() == {}
