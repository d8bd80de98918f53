"""Fixtures of the knowledge-base tests: a copy of the dataset repository, the real CLI."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from khabar.foundation.paths import repo, use_root

#: what a dataset repository needs for link, validate and build
REPOSITORY_PARTS = ("annotation", "dataset", "DATASHEET.md")


@pytest.fixture
def repo_copy(tmp_path: Path) -> Iterator[Path]:
    """A copy of this repository's dataset files, to change without touching the committed ones."""
    source = repo().root
    copy = tmp_path / "repo"
    for part in REPOSITORY_PARTS:
        if (source / part).is_dir():
            shutil.copytree(source / part, copy / part)
        else:
            copy.mkdir(exist_ok=True)
            shutil.copyfile(source / part, copy / part)
    yield copy
    use_root(None)  # main() chose the copy for this process; later tests act on the repository again

