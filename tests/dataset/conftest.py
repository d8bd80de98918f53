"""Fixtures of the builder's tests: builds of fixture tables in temporary folders."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from khabar.dataset.build import build
from khabar.foundation.paths import repo
from khabar.gold.inputs import from_tables
from tests.dataset import khabar_fixtures


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
