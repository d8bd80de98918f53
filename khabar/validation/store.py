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

Hashing the export again cost the build 0.43 s CPU at 1M span results (600 MB),
so ``key.json`` also records, as git's index does, the identity of each file
validate hashed (size, mtime, inode, device, ctime) with its sha256, and the
build takes the sha256 from there when the file's identity now is exactly the
one recorded (:func:`file_sha256`). This is safe because every write to a
file's bytes (``write``, ``truncate``) sets its ctime to the current time, a
file put in its place (``git checkout``, ``rsync``, an editor that saves by
renaming) is another inode with its own new ctime, and nothing but the kernel
sets ctime: ``touch -d`` and ``cp -p`` set mtime only, so a file rewritten with
its old size and old mtime still has a new ctime. The hole is a write in the
same tick of the file system's clock as the ctime recorded (or while validate
was hashing), which leaves ctime as it was; so an identity is recorded only
when the file's ctime and mtime are at least :data:`SETTLED_NS` older than the
moment validate began to read it (git calls the others "racily clean" and
hashes them again). What could still defeat it is a wall clock set back by
more than that, a network file system whose server clock lags ours by more
than that, or a program writing through a shared ``mmap`` (the kernel updates
the times at the first write after each flush, not at every write); git's index
trusts the same.

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
from dataclasses import astuple, dataclass
from pathlib import Path

import polars as pl

import khabar.annotation as annotation
import khabar.validation as validation
from khabar.annotation.scheme import load_scheme
from khabar.foundation import jsonl
from khabar.foundation.errors import KhabarError
from khabar.foundation.files import os_reason, replace_folder, sha256_bytes, sha256_file, staging_folder, sync_tree
from khabar.foundation.paths import check_name
from khabar.validation.reader import Tables
from khabar.validation.table_spool import TABLE_NAMES

KEY_FILE = "key.json"
#: the block a table's file is copied into the store by: the file is never whole in memory
COPY_BLOCK = 1 << 20
#: How much older than the start of validate's read a file's ctime and mtime must be for its identity to be recorded:
#: more than the coarsest clock of a common file system (1 s on ext3 and HFS+, 2 s for FAT's mtime; ext4, xfs, btrfs
#: and tmpfs keep nanoseconds but take them from the kernel's clock tick, at most 10 ms).
SETTLED_NS = 2_000_000_000


@dataclass(frozen=True)
class FileIdentity:
    """What ``stat`` says of a file that changes whenever its bytes do (see the module docstring for why)."""

    size: int
    mtime_ns: int
    ino: int
    dev: int
    ctime_ns: int

    @classmethod
    def of(cls, path: Path) -> FileIdentity | None:
        try:
            status = path.stat()
        except OSError:
            return None
        return cls(status.st_size, status.st_mtime_ns, status.st_ino, status.st_dev, status.st_ctime_ns)

    def settled_before(self, started_ns: int) -> bool:
        return max(self.ctime_ns, self.mtime_ns) < started_ns - SETTLED_NS


def store_dir() -> Path:
    """``$KHABAR_CACHE_DIR/validated``, else ``$XDG_CACHE_HOME/khabar/validated``, else ``~/.cache/khabar/validated``;
    its name checked, as polars reads the kept tables from there (:func:`khabar.foundation.paths.check_name`)."""
    if explicit := os.environ.get("KHABAR_CACHE_DIR"):
        folder, given_by = Path(explicit) / "validated", "KHABAR_CACHE_DIR"
    elif cache_home := os.environ.get("XDG_CACHE_HOME"):
        folder, given_by = Path(cache_home) / "khabar" / "validated", "XDG_CACHE_HOME"
    else:
        folder, given_by = Path.home() / ".cache" / "khabar" / "validated", "HOME"
    check_name(folder, given_by=given_by)
    return folder


def holds_tables() -> bool:
    """Whether the store holds any inputs' tables (``key.json`` is written last, when a save is whole)."""
    return (store_dir() / KEY_FILE).is_file()


def known_sha256s(hashed: Iterable[tuple[Path, str]], *, started_ns: int) -> dict[FileIdentity, str]:
    """The identity of each file validate hashed (path, sha256), for those that had settled when it began (``time.time_ns()``)."""
    known = {}
    for path, sha256 in hashed:
        identity = FileIdentity.of(path)
        if identity is not None and identity.settled_before(started_ns):
            known[identity] = sha256
    return known


def recorded_sha256s() -> dict[FileIdentity, str]:
    """The identities and sha256s that ``key.json`` records (none when it is missing or not the store's)."""
    try:
        stored = json.loads((store_dir() / KEY_FILE).read_text(encoding="utf-8"))
        return {FileIdentity(*entry["identity"]): entry["sha256"] for entry in stored.get("files", [])}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def file_sha256(path: Path, recorded: Mapping[FileIdentity, str]) -> str:
    """The sha256 of ``path``'s bytes: the recorded one when its identity is exactly one recorded, else hashed now."""
    identity = FileIdentity.of(path)
    known = recorded.get(identity) if identity is not None else None
    return known if isinstance(known, str) else sha256_file(path)


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


def save(tables: Tables, key: str, *, known: Mapping[FileIdentity, str] | None = None) -> Path:
    """Keep ``tables`` under ``key`` (and the ``known`` sha256s of its inputs), replacing whatever the store held."""

    def write(name: str, target: Path) -> str:
        buffer = io.BytesIO()
        getattr(tables, name).write_parquet(buffer, compression="lz4", statistics=False)
        data = buffer.getvalue()
        target.write_bytes(data)
        return sha256_bytes(data)

    return _save(write, key, known or {})


def save_files(paths: Mapping[str, Path], key: str, *, known: Mapping[FileIdentity, str] | None = None) -> Path:
    """Keep the parquet file of each table (by name) under ``key`` (and the ``known`` sha256s of its inputs), replacing whatever the store held."""
    return _save(lambda name, target: _copied(paths[name], target), key, known or {})


def _copied(source: Path, target: Path) -> str:
    """Copy ``source`` to ``target`` a block at a time; the sha256 of the bytes copied. Read whole, the spans
    table of 3M news span results (81 MB) took ``khabar validate``'s peak from 675 to 746 MB, at its end."""
    digest = hashlib.sha256()
    with source.open("rb") as reader, target.open("xb") as writer:
        while block := reader.read(COPY_BLOCK):
            digest.update(block)
            writer.write(block)
    return digest.hexdigest()


def _save(write: Callable[[str, Path], str], key: str, known: Mapping[FileIdentity, str]) -> Path:
    """Write each table's file into a staging folder (``write(name, path)`` writes it and gives its sha256),
    then key.json, and swap them in; refused (nothing written) when the store's folder holds anything else."""
    target = store_dir()
    if foreign := _not_the_stores(target):
        raise KhabarError(f"the folder holds {foreign!r}, which khabar validate did not write: it replaces only its own", file=str(target))
    with staging_folder(target) as staging:
        hashes = {name: write(name, staging / f"{name}.parquet") for name in TABLE_NAMES}
        inputs = [{"identity": list(astuple(identity)), "sha256": sha256} for identity, sha256 in known.items()]
        (staging / KEY_FILE).write_text(jsonl.dumps_line({"key": key, "sha256": hashes, "files": inputs}), encoding="utf-8")
        sync_tree(staging)
        replace_folder(staging, target, last=KEY_FILE)
    return target


def _not_the_stores(folder: Path) -> str | None:
    """The first entry of ``folder`` that a save did not write (a user's file in a cache folder they named), if any."""
    own = {KEY_FILE, *(f"{name}.parquet" for name in TABLE_NAMES)}
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise KhabarError(f"cannot look into the folder: {os_reason(exc)}", file=str(folder)) from None
    return next((entry.name for entry in entries if entry.name not in own or not entry.is_file(follow_symlinks=False)), None)


def _saved_sha256s(key: str) -> dict | None:
    """The sha256 of each table file, as key.json recorded them, if the store was saved under ``key``; else None."""
    stored = json.loads((store_dir() / KEY_FILE).read_text(encoding="utf-8"))
    if not isinstance(stored, dict) or stored.get("key") != key or not isinstance(stored.get("sha256"), dict):
        return None
    return stored["sha256"]


def load(key: str) -> Tables | None:
    """The stored tables if they were saved under ``key`` and are byte for byte what was saved, else None."""
    try:
        saved = _saved_sha256s(key)
        if saved is None:
            return None
        frames = {}
        for name in TABLE_NAMES:
            data = (store_dir() / f"{name}.parquet").read_bytes()
            if sha256_bytes(data) != saved.get(name):
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
    try:
        saved = _saved_sha256s(key)
        if saved is None:
            return None
        files = {}
        for name in TABLE_NAMES:
            files[name] = into / f"{name}.parquet"
            try:
                os.link(store_dir() / f"{name}.parquet", files[name])
            except OSError:
                shutil.copyfile(store_dir() / f"{name}.parquet", files[name])
            with files[name].open("rb") as handle:
                if hashlib.file_digest(handle, "sha256").hexdigest() != saved.get(name):
                    return None  # changed since it was saved: validate again
        return files
    except (OSError, ValueError):
        return None
