from __future__ import annotations

from pathlib import Path

import pytest

from khabar.foundation.paths import use_root
from khabar.model.train import current_model_dir
from tests.cli_support import run_khabar
from tests.model.model_support import small_repo


@pytest.fixture(scope="session")
def trained_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small repository with a model trained by the real ``khabar train``."""
    root = small_repo(tmp_path_factory.mktemp("model-repo"))
    try:
        assert run_khabar("--root", root, "train") == 0
    finally:
        use_root(None)
    assert (current_model_dir(root) / "model.json").exists()
    return root
