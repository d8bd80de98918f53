from __future__ import annotations

from pathlib import Path

import pytest
from model_support import khabar, small_repo

from khabar.model.train import current_model_dir


@pytest.fixture(scope="session")
def trained_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small repository with a model trained by the real ``khabar train``."""
    root = small_repo(tmp_path_factory.mktemp("model-repo"))
    assert khabar(*["--root", str(root), "train"]) == 0
    assert (current_model_dir(root) / "model.json").exists()
    return root
