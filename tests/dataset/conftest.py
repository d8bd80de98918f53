"""Fixtures of the builder's tests: builds of fixture tables in temporary folders."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import khabar_fixtures  # noqa: E402

from khabar.annotation.paths import repo
from khabar.dataset.build import build  # noqa: E402
from khabar.dataset.inputs import from_tables  # noqa: E402


@pytest.fixture(scope="session")
def datasheet_copy(tmp_path_factory) -> Path:
    """A copy of the committed DATASHEET.md, so builds of fixtures never touch the repository's."""
    path = tmp_path_factory.mktemp("datasheet") / "DATASHEET.md"
    shutil.copyfile(repo().root / "DATASHEET.md", path)
    return path


@pytest.fixture(scope="session")
def built_v1(tmp_path_factory, datasheet_copy) -> Path:
    out = tmp_path_factory.mktemp("dist") / "khabar-v1"
    build(from_tables(khabar_fixtures.tables("v1")), out, datasheet=datasheet_copy)
    return out


@pytest.fixture(scope="session")
def hf_offline(tmp_path_factory) -> dict[str, str]:
    """Environment for loading builds with no network and a private cache."""
    cache = tmp_path_factory.mktemp("hf-cache")
    return {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(cache), "HF_DATASETS_CACHE": str(cache / "datasets")}


class CliRun:
    def __init__(self, status: int, out: str, err: str) -> None:
        self.returncode, self.stdout, self.stderr = status, out, err


@pytest.fixture
def khabar(capsys):
    """``khabar ARGS`` through the real entry point, in this process (no interpreter start-up)."""
    from khabar.cli import main

    def run(*args) -> CliRun:
        capsys.readouterr()
        status = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliRun(status, captured.out, captured.err)

    return run
