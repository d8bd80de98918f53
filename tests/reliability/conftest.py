"""Fixtures of the reliability tests: the real CLI in-process, a good build, a synced project."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from annotation.paths import REPO_ROOT
from annotation.studio.server import StudioPaths, stop_server

HERE = Path(__file__).resolve().parent
BAD_INPUTS = HERE / "bad_inputs"
SHARED = BAD_INPUTS / "_shared"
PULL_PROJECT = "reliability-pull"


@dataclass(frozen=True)
class CliRun:
    status: int
    out: str
    err: str

    @property
    def output(self) -> str:
        return self.out + self.err


@pytest.fixture
def khabar(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliRun]:
    """``khabar ARGS`` through the real entry point (``dataset.cli.main``), in this process.

    An exception escaping ``main`` is what a user would see as a traceback, so
    it fails the test with that traceback; argparse's own exit is its status.
    """
    from dataset.cli import main

    def run(*args: str | Path) -> CliRun:
        capsys.readouterr()
        try:
            status = main([str(a) for a in args])
        except SystemExit as exc:  # argparse: usage errors exit 2
            status = exc.code if isinstance(exc.code, int) else 2
        captured = capsys.readouterr()
        return CliRun(status, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def datasheet_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("datasheet") / "DATASHEET.md"
    shutil.copyfile(REPO_ROOT / "DATASHEET.md", path)
    return path


@pytest.fixture(scope="session")
def good_build(tmp_path_factory: pytest.TempPathFactory, datasheet_template: Path) -> Path:
    """A build of the shared bad-input corpus's good export (entities, attributions, relations)."""
    from dataset.build import build
    from dataset.inputs import load_inputs

    root = tmp_path_factory.mktemp("good-build")
    datasheet = root / "DATASHEET.md"
    shutil.copyfile(datasheet_template, datasheet)
    out = root / "dist" / "khabar-good"
    build(load_inputs([SHARED / "good_export.json"], SHARED / "documents.jsonl"), out, datasheet=datasheet, log=lambda _m: None)
    return out


@pytest.fixture
def build_copy(good_build: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "build" / good_build.name
    shutil.copytree(good_build, copy)
    return copy


def rehash(folder: Path, relative: str) -> None:
    """Make MANIFEST.json agree with the current bytes of ``relative`` (a tamperer who covers their tracks)."""
    from dataset.manifest import file_entry

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


@pytest.fixture(scope="session")
def pull_project(studio_server) -> str:
    """A project on the session Label Studio with the shared corpus's two documents."""
    from annotation.ingest import load_records
    from annotation.scheme import CONFIG_PATH
    from annotation.studio.project import sync_project

    sync_project(studio_server.client(), PULL_PROJECT, CONFIG_PATH.read_text(encoding="utf-8"), load_records(SHARED / "documents.jsonl"))
    return PULL_PROJECT


def copy_studio(source: StudioPaths, root: Path) -> StudioPaths:
    """A stopped copy of a studio folder; the database through SQLite's backup API, so it is consistent."""
    paths = StudioPaths(root)
    root.mkdir(mode=0o700, parents=True)
    shutil.copytree(source.data_dir, paths.data_dir, ignore=shutil.ignore_patterns("label_studio.sqlite3*"))
    with sqlite3.connect(source.database) as src, sqlite3.connect(paths.database) as dst:
        src.backup(dst)
    shutil.copy2(source.credentials_file, paths.credentials_file)
    return paths


@pytest.fixture(scope="session")
def own_studio(studio_server, tmp_path_factory: pytest.TempPathFactory) -> StudioPaths:
    """A studio folder of our own (not started) for tests that kill or restart Label Studio.

    A copy of the session server's: an existing data dir starts in seconds, a
    fresh one takes about a minute. Stopped at the end of the session.
    """
    paths = copy_studio(studio_server.paths, tmp_path_factory.mktemp("own-studio") / "studio")
    yield paths
    stop_server(paths, progress=lambda _line: None)
