"""``MANIFEST.json``: what a build holds and what it was made from."""

from __future__ import annotations

import hashlib
import json
from importlib.metadata import version
from pathlib import Path

import pyarrow.parquet as pq

#: Libraries whose versions shape the bytes of a build.
LIBRARIES = ("datasets", "datasketch", "huggingface-hub", "matplotlib", "polars", "pyarrow", "PyYAML")
MANIFEST_NAME = "MANIFEST.json"


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
    (root / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    return manifest


def read_manifest(root: Path) -> dict:
    from khabar.annotation.errors import KhabarError

    path = root / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise KhabarError(f"cannot read: {exc.strerror}", file=str(path)) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KhabarError(f"not a JSON manifest ({exc}); build again", file=str(path)) from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("version"), str) or not isinstance(manifest.get("files"), list):
        raise KhabarError("not a khabar manifest (no version or files); build again", file=str(path))
    return manifest
