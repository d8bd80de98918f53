"""``MANIFEST.json``: what a build holds and what it was made from."""

from __future__ import annotations

import hashlib
import json
import os
from importlib.metadata import version
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow.parquet as pq

from khabar.foundation import jsonl
from khabar.foundation.errors import KhabarError
from khabar.foundation.paths import check_regular, what_is

#: Libraries whose versions shape the bytes of a build.
LIBRARIES = ("datasets", "datasketch", "huggingface-hub", "matplotlib", "polars", "pyarrow", "PyYAML")
MANIFEST_NAME = "MANIFEST.json"
#: A build's dataset card (its YAML holds the configs' features), and the labeling config it ships: the scheme its
#: label ids are read with.
CARD_NAME = "README.md"
SCHEME_NAME = "labeling_config.xml"
#: The keys of the manifest :func:`write_manifest` writes, and only those.
MANIFEST_KEYS = frozenset({"name", "version", "files", "inputs", "libraries"})
#: The folder huggingface_hub writes into a folder it downloads a repository into (``hf download --local-dir``,
#: ``snapshot_download(local_dir=...)``): its record of each file's commit and etag. A build never holds it, nor
#: lists it; a published build downloaded so has it beside the build's own files.
HUB_DOWNLOAD_RECORD = PurePosixPath(".cache/huggingface")
#: Files the Hub makes in a repository itself (a new dataset repository's ``.gitattributes``): never a build's, never
#: deleted as stale by ``publish``, and beside the build's own files in a folder ``hf download`` made.
HUB_MANAGED = frozenset({".gitattributes"})


def file_entry(root: Path, path: Path) -> dict:
    data = path.read_bytes()
    entry = {"path": path.relative_to(root).as_posix(), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    if path.suffix == ".parquet":
        entry["rows"] = pq.ParquetFile(path).metadata.num_rows
    return entry


def write_manifest(root: Path, *, name: str, version_: str, inputs: dict) -> dict:
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST_NAME)
    manifest = {
        "name": name,
        "version": version_,
        "files": [file_entry(root, p) for p in files],
        "inputs": inputs,
        "libraries": {lib: version(lib) for lib in LIBRARIES},
    }
    jsonl.write_document(root / MANIFEST_NAME, manifest)
    return manifest


def read_manifest(root: Path) -> dict[str, Any]:
    """The manifest of the build in ``root``, checked before anything it names is read: a version and a list of
    file entries ``{path, sha256, bytes[, rows]}``, each naming a file inside ``root``. KhabarError (exit 2) when
    there is no usable one."""
    if not root.is_dir():
        what = what_is(root)
        raise KhabarError("no such dataset folder" if what is None else f"{what}, not a dataset folder", file=str(root))
    path = root / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KhabarError(f"not a khabar build: no {MANIFEST_NAME}", file=str(root)) from None
    except OSError as exc:
        raise KhabarError(f"cannot read: {exc.strerror}", file=str(path)) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KhabarError(f"unreadable manifest ({exc}); build again", file=str(path)) from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, list) or not all(
        isinstance(e, dict) and isinstance(e.get("path"), str) and isinstance(e.get("sha256"), str) for e in files
    ):
        raise KhabarError("unreadable manifest: 'files' must be a list of {path, sha256, bytes[, rows]}", file=str(path))
    if not isinstance(manifest.get("version"), str):
        raise KhabarError("unreadable manifest: no version; build again", file=str(path))
    for entry in files:  # before anything is read or hashed
        if problem := unsafe_entry(root, entry["path"]):
            raise KhabarError(f"refusing the manifest: its entry {entry['path']!r} {problem}", file=str(path))
    return manifest


def unsafe_entry(root: Path, relative: str) -> str | None:
    """Why the manifest path ``relative`` does not name a file inside ``root`` (None when it does).

    Checked before anything is read or hashed: a manifest is input, and one that
    names ``../`` or an absolute path must not make a command read outside the folder.
    """
    pure = PurePosixPath(relative)
    if not relative or "\\" in relative or "\0" in relative:
        return "is not a relative path with / separators"
    if pure.is_absolute() or Path(relative).is_absolute():
        return "is an absolute path"
    if ".." in pure.parts:
        return "climbs out of the folder (..)"
    inside = root.resolve()
    resolved = (root / relative).resolve()
    if resolved != inside and inside not in resolved.parents:
        return "resolves outside the folder (a symbolic link?)"
    return None


def _walk(root: Path) -> tuple[dict[str, Path], list[str], list[str]]:
    """Regular files under ``root`` by relative path, what else is there (links, devices), and the folders, without
    following links."""
    files: dict[str, Path] = {}
    others: list[str] = []
    folders: list[str] = []
    for folder, dirs, names in os.walk(root):
        for name in dirs:
            relative = (Path(folder) / name).relative_to(root).as_posix()
            (others if (Path(folder) / name).is_symlink() else folders).append(relative)
        for name in names:
            path = Path(folder) / name
            relative = path.relative_to(root).as_posix()
            if path.is_symlink() or not path.is_file():
                others.append(relative)
            else:
                files[relative] = path
    return files, others, folders


def refuse_special_files(folder: Path) -> None:
    """Refuse (exit 2) a build folder holding a FIFO, socket, device or dangling link, before anything in it is
    read: opening a FIFO blocks until a writer comes (``validate --dataset`` waited for ever)."""
    for path in sorted(folder.rglob("*")):
        if not path.is_dir():
            check_regular(path)


def build_holding(path: Path) -> Path | None:
    """The build folder ``path`` is inside, if any: a folder with a Khabar build's manifest, whatever else it holds (a
    build downloaded with ``hf download`` holds the Hub's ``.gitattributes`` and the client's record too); what is
    written there would no longer match that manifest."""
    for parent in path.resolve().parents:
        if (parent / MANIFEST_NAME).is_file() and _build_entries(parent)[1] is None:
            return parent
    return None


def _build_entries(folder: Path) -> tuple[list[dict[str, Any]], str | None]:
    """The entries of ``folder``'s ``MANIFEST.json``, or why it is not a Khabar build's with safe entries."""
    manifest_path = folder / MANIFEST_NAME
    if manifest_path.is_symlink() or not manifest_path.is_file():
        return [], f"has no {MANIFEST_NAME}"
    try:
        manifest = json.loads(manifest_path.read_bytes())
    except (OSError, ValueError) as exc:
        return [], f"has a {MANIFEST_NAME} that cannot be read ({exc.__class__.__name__})"
    entries = manifest.get("files") if isinstance(manifest, dict) else None
    if set(manifest if isinstance(manifest, dict) else ()) != MANIFEST_KEYS or not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("path"), str) and isinstance(e.get("sha256"), str) and isinstance(e.get("bytes"), int)
        for e in entries
    ):
        return [], f"has a {MANIFEST_NAME} that is not a Khabar build manifest"
    for entry in entries:
        if problem := unsafe_entry(folder, entry["path"]):
            return [], f"has a {MANIFEST_NAME} whose entry {entry['path']!r} {problem}"
    return entries, None


def not_a_build(folder: Path, *, partly_removed: bool = False) -> str | None:
    """Why ``folder`` is not, byte for byte, a folder a Khabar build wrote (None when it is).

    A build replaces its output folder, so it must know it deletes nothing but
    its own earlier output: a folder whose ``MANIFEST.json`` has the keys this
    module writes, and that holds exactly the files the manifest lists, with
    their sizes and sha256. A file added or edited since makes it someone's work.
    ``partly_removed``: listed files may be missing (a previous build whose
    removal was interrupted); what is there must still be listed and unchanged.
    """
    if folder.is_symlink():
        return "is a symbolic link"
    if not folder.is_dir():
        return "is not a folder"
    entries, problem = _build_entries(folder)
    if problem:
        return problem
    files, others, folders = _walk(folder)
    if others:
        return f"holds {others[0]!r}, which is not a regular file"
    listed = {entry["path"]: entry for entry in entries}
    for relative in sorted(files):
        if relative != MANIFEST_NAME and relative not in listed:
            return f"holds {relative!r}, which the build did not write"
    made = {parent.as_posix() for path in listed for parent in PurePosixPath(path).parents}
    for relative in sorted(folders):
        if relative not in made:  # an empty folder of someone's (a `.git`, a folder made for later) is theirs too
            return f"holds the folder {relative!r}, which the build did not make"
    for relative, entry in listed.items():
        path = files.get(relative)
        if path is None:
            if partly_removed:
                continue
            return f"lacks {relative!r}, which its {MANIFEST_NAME} lists"
        try:
            data = path.read_bytes()
        except OSError as exc:
            return f"holds {relative!r}, which cannot be read ({exc.strerror})"
        if len(data) != entry["bytes"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
            return f"holds {relative!r}, changed since the build"
    return None
