"""Helpers of the reliability tests (a module name of its own: every test folder has a conftest)."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

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


@contextmanager
def small_filesystem(folder: Path, size: str = "3m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``folder`` for the block (root only)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs the tests as root)")
    folder.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:  # lazily if a file on it is still open (a failing build's), so no mount outlives the test
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "--lazy", str(folder)], check=True)


def fill(folder: Path) -> Path:
    """Fill the file system of ``folder`` to the last byte with one file; returns it."""
    filler = folder / "filler.bin"
    with filler.open("wb", buffering=0) as handle:
        for block in (1 << 16, 4096, 1):
            while True:
                try:
                    handle.write(b"\0" * block)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
                    break
    assert os.statvfs(folder).f_bavail == 0
    return filler


def tree(folder: Path) -> dict[str, str]:
    """Every entry under ``folder`` (files by sha256 and mode, links by target, folders by name)."""
    found = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_symlink():
            found[relative] = f"-> {os.readlink(path)}"
        elif path.is_file():
            found[relative] = f"{hashlib.sha256(path.read_bytes()).hexdigest()} {oct(path.stat().st_mode)}"
        else:
            found[relative] = "folder"
    return found


#: A process that holds the lock of each folder or file named on its command line, says so, and waits for its standard input to close.
_HOLDER = """
import fcntl, os, sys
held = [os.open(path, os.O_RDONLY) for path in sys.argv[1:]]
for descriptor in held:
    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
print("held", flush=True)
sys.stdin.read()
"""


@contextmanager
def held_by_another_process(*paths: Path) -> Iterator[int]:
    """Another running process holds these folders or files, as a command working in them does (its pid is given:
    their names need not carry it, as for a process in another pid namespace, whose pid this one cannot see)."""
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, *map(str, paths)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        yield holder.pid
    finally:
        holder.communicate()
