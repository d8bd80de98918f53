"""The tables of the last clean ``khabar validate``, kept for ``khabar build``.

Reading and checking a large export is most of the work of both commands, and
CI runs one after the other on the same files. So when ``khabar validate``
finds no error (and is not ``--strict``), it saves its tables as parquet in the
store; ``khabar build`` loads them instead of validating again when, and only
when, its own inputs have the same key.

The key is a sha256 over everything the tables are made from: the bytes of
every export in reading order, the corpus records, the labeling config, and the
source of the ``annotation`` and ``validation`` packages that read and check
them. Any change to one of them is a miss, and the build validates itself.
The store is a single slot: a new save replaces the previous one, written in a
temporary folder and swapped in by rename.

The store is a cache outside the repository, which anything may have changed
since: ``key.json`` also records the sha256 of each table file, and a file whose
bytes do not have it (or a key.json that is not the store's) is a miss, never
used. The bytes hashed are the bytes parsed.

Where: ``$KHABAR_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/khabar`` (by
default ``~/.cache/khabar``); the tables live in its ``validated/`` folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import polars as pl

import khabar.annotation as annotation
import khabar.validation as validation
from khabar.annotation.scheme import load_scheme
from khabar.foundation import jsonl
from khabar.foundation.errors import KhabarError
from khabar.foundation.files import replace_folder, sha256_bytes, staging_folder, sync_tree
from khabar.validation.reader import Tables
from khabar.validation.table_spool import TABLE_NAMES

KEY_FILE = "key.json"


def store_dir() -> Path:
    explicit = os.environ.get("KHABAR_CACHE_DIR")
    if explicit:
        return Path(explicit) / "validated"
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home) / "khabar" / "validated"


def sha256_file(path: Path) -> str:
    """The file's sha256, read a block at a time (never the whole file in memory: a 3M-span export is 1.7 GB)."""
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as exc:
        raise KhabarError(f"cannot read: {exc.strerror}", file=str(path)) from None


def _code_sha256() -> str:
    digest = hashlib.sha256()
    for package in (annotation, validation):
        root = Path(str(package.__file__)).parent
        for path in sorted(root.rglob("*.py")):
            digest.update(path.relative_to(root.parent).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def tables_key(export_sha256s: Iterable[str], documents_sha256: str) -> str:
    """The key of the tables made from these inputs by this code."""
    parts = {
        "exports": list(export_sha256s),
        "documents": documents_sha256,
        "labeling_config": load_scheme().sha256,
        "code": _code_sha256(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def save(tables: Tables, key: str) -> Path:
    """Keep ``tables`` under ``key``, replacing whatever the store held."""
    files = {}
    for name in TABLE_NAMES:
        buffer = io.BytesIO()
        getattr(tables, name).write_parquet(buffer, compression="lz4", statistics=False)
        files[name] = buffer.getvalue()
    return _save(files.items, key)


def save_files(paths: Mapping[str, Path], key: str) -> Path:
    """Keep the parquet file of each table (by name) under ``key``, replacing whatever the store held."""
    return _save(lambda: ((name, paths[name].read_bytes()) for name in TABLE_NAMES), key)


def _save(files: Callable[[], Iterable[tuple[str, bytes]]], key: str) -> Path:
    """Write each table's bytes (one file in memory at a time) and key.json, and swap them in."""
    target = store_dir()
    with staging_folder(target) as staging:
        hashes = {}
        for name, data in files():
            (staging / f"{name}.parquet").write_bytes(data)
            hashes[name] = sha256_bytes(data)
        (staging / KEY_FILE).write_text(jsonl.dumps_line({"key": key, "sha256": hashes}), encoding="utf-8")
        sync_tree(staging)
        replace_folder(staging, target, last=KEY_FILE)
    return target


def load(key: str) -> Tables | None:
    """The stored tables if they were saved under ``key`` and are byte for byte what was saved, else None."""
    folder = store_dir()
    try:
        stored = json.loads((folder / KEY_FILE).read_text(encoding="utf-8"))
        if not isinstance(stored, dict) or stored.get("key") != key or not isinstance(stored.get("sha256"), dict):
            return None
        frames = {}
        for name in TABLE_NAMES:
            data = (folder / f"{name}.parquet").read_bytes()
            if sha256_bytes(data) != stored["sha256"].get(name):
                return None  # changed since it was saved: validate again
            frames[name] = pl.read_parquet(io.BytesIO(data))
        return Tables(**frames)
    except (OSError, ValueError, pl.exceptions.PolarsError):
        return None  # missing, half-deleted or unreadable: validate again


def link_files(key: str, into: Path) -> dict[str, Path] | None:
    """The stored tables' files, if saved under ``key``, linked into the folder ``into`` and checked there
    byte for byte; else None.

    For a reader that reads them part by part (``khabar build``, a range of documents at a time): a
    validate that saves meanwhile swaps in a new folder, and the links keep the files that were checked.
    A copy where a hard link cannot be made (another file system).
    """
    folder = store_dir()
    try:
        stored = json.loads((folder / KEY_FILE).read_text(encoding="utf-8"))
        if not isinstance(stored, dict) or stored.get("key") != key or not isinstance(stored.get("sha256"), dict):
            return None
        files = {}
        for name in TABLE_NAMES:
            files[name] = into / f"{name}.parquet"
            try:
                os.link(folder / f"{name}.parquet", files[name])
            except OSError:
                shutil.copyfile(folder / f"{name}.parquet", files[name])
            with files[name].open("rb") as handle:
                if hashlib.file_digest(handle, "sha256").hexdigest() != stored["sha256"].get(name):
                    return None  # changed since it was saved: validate again
        return files
    except (OSError, ValueError):
        return None
