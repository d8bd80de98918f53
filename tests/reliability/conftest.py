"""Fixtures of the reliability tests: the real CLI in-process, a good build, a synced project."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from khabar.foundation.paths import repo
from khabar.studio.server import StudioPaths, stop_server
from tests.reliability.reliability_support import PULL_PROJECT, SHARED, copy_studio


@pytest.fixture(scope="session")
def datasheet_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("datasheet") / "DATASHEET.md"
    shutil.copyfile(repo().root / "DATASHEET.md", path)
    return path


@pytest.fixture(scope="session")
def good_build(tmp_path_factory: pytest.TempPathFactory, datasheet_template: Path) -> Path:
    """A build of the shared bad-input corpus's good export (entities, attributions, relations)."""
    from khabar.dataset.build import build
    from khabar.gold.load import load_inputs

    root = tmp_path_factory.mktemp("good-build")
    datasheet = root / "DATASHEET.md"
    shutil.copyfile(datasheet_template, datasheet)
    out = root / "dist" / "khabar-good"
    build(load_inputs([SHARED / "good_export.json"], SHARED / "documents.jsonl"), out, datasheet=datasheet)
    return out


@pytest.fixture
def build_copy(good_build: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "build" / good_build.name
    shutil.copytree(good_build, copy)
    return copy


@pytest.fixture(scope="session")
def committed_build(tmp_path_factory: pytest.TempPathFactory, datasheet_template: Path) -> Path:
    """The release built from the repository's own inputs through the real command: nested entities, quotes whose
    sources name entities, every layer."""
    from tests.cli_support import run_khabar

    root = tmp_path_factory.mktemp("committed-build")
    datasheet = root / "DATASHEET.md"
    shutil.copyfile(datasheet_template, datasheet)
    assert run_khabar("build", "--out", root / "khabar", "--datasheet", datasheet) == 0
    return root / "khabar"


@pytest.fixture
def committed_copy(committed_build: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "build" / committed_build.name
    shutil.copytree(committed_build, copy)
    return copy


@pytest.fixture(scope="session")
def pull_project(studio_server) -> str:
    """A project on the session Label Studio with the shared corpus's two documents."""
    from khabar.annotation.ingest import load_records
    from khabar.studio.project import sync_project

    sync_project(studio_server.client(), PULL_PROJECT, repo().labeling_config.read_text(encoding="utf-8"), load_records(SHARED / "documents.jsonl"))
    return PULL_PROJECT


@pytest.fixture(scope="session")
def own_studio(studio_server, tmp_path_factory: pytest.TempPathFactory) -> StudioPaths:
    """A studio folder of our own (not started) for tests that kill or restart Label Studio.

    A copy of the session server's: an existing data dir starts in seconds, a
    fresh one takes about a minute. Stopped at the end of the session.
    """
    paths = copy_studio(studio_server.paths, tmp_path_factory.mktemp("own-studio") / "studio")
    yield paths
    stop_server(paths, progress=lambda _line: None)
