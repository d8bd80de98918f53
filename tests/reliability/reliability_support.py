"""Helpers of the reliability tests (a module name of its own: every test folder has a conftest)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from khabar.studio.server import StudioPaths

HERE = Path(__file__).resolve().parent
BAD_INPUTS = HERE / "bad_inputs"
SHARED = BAD_INPUTS / "_shared"
PULL_PROJECT = "reliability-pull"


def rehash(folder: Path, relative: str) -> None:
    """Make MANIFEST.json agree with the current bytes of ``relative`` (a tamperer who covers their tracks)."""
    from khabar.foundation.manifest import file_entry

    manifest_path = folder / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["files"] = [file_entry(folder, folder / e["path"]) if e["path"] == relative else e for e in manifest["files"]]
    manifest_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")


def relabel_card(folder: Path) -> None:
    """Swap the first two entity label names in the card, and re-hash it in MANIFEST.json."""
    card = folder / "README.md"
    text = card.read_text(encoding="utf-8")
    assert "'0': PERS\n" in text and "'1': NORP\n" in text
    text = text.replace("'0': PERS\n", "'0': @@\n", 1).replace("'1': NORP\n", "'1': PERS\n", 1).replace("'0': @@\n", "'0': NORP\n", 1)
    card.write_text(text, encoding="utf-8")
    rehash(folder, "README.md")


def copy_studio(source: StudioPaths, root: Path) -> StudioPaths:
    """A stopped copy of a studio folder; the database through SQLite's backup API, so it is consistent."""
    paths = StudioPaths(root)
    root.mkdir(mode=0o700, parents=True)
    shutil.copytree(source.data_dir, paths.data_dir, ignore=shutil.ignore_patterns("label_studio.sqlite3*"))
    with sqlite3.connect(source.database) as src, sqlite3.connect(paths.database) as dst:
        src.backup(dst)
    shutil.copy2(source.credentials_file, paths.credentials_file)
    return paths
