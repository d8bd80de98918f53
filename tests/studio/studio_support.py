"""What the studio tests read: an export file whole, and a project as Label Studio's snapshot export gives it."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from khabar.studio.export import download_snapshot


def read_export(path: Path) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return tasks


def snapshot_export(client, project_id: int) -> list[dict[str, Any]]:
    """Every task of the project, as a pull downloads it (:func:`khabar.studio.export.download_snapshot`)."""
    with tempfile.TemporaryDirectory(prefix="khabar-test-snapshot-") as folder:
        path = Path(folder) / "snapshot.json"
        download_snapshot(client, project_id, path)
        return read_export(path)
