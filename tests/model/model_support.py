"""A small dataset repository for model tests: the real scheme and corpus, a slice of the Wojood sample, no gold.

Training the real model takes minutes; these slices train in seconds and still hold nested entities.
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from khabar.foundation.paths import repo
from khabar.model.corpus import wojood_dir

#: the checkout's own repository, fixed before any test points khabar elsewhere
SOURCE = repo().root

#: sentences of Wojood's val split per slice (val has 158): enough for two nesting levels
SLICES = {"train": (0, 120), "val": (120, 140), "test": (140, 158)}


def _sentences(path: Path) -> list[str]:
    """The sentences of a CoNLL file as text blocks (a sentence ends at a blank or white-space-only line)."""
    blocks, current = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            current.append(line)
        elif current:
            blocks.append("\n".join(current))
            current = []
    return blocks + (["\n".join(current)] if current else [])


def small_repo(folder: Path) -> Path:
    """A dataset repository in ``folder`` whose Wojood sample is three slices of the real val split."""
    source = SOURCE
    for relative in ("annotation/labeling_config.xml", "dataset/release.toml", "dataset/VERSION", "annotation/corpus/documents.jsonl"):
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / relative, folder / relative)
    (folder / "annotation" / "exports").mkdir(parents=True, exist_ok=True)
    sentences = _sentences(wojood_dir(source) / "val.txt")
    target = wojood_dir(folder)
    target.mkdir(parents=True)
    for split, (first, last) in SLICES.items():
        (target / f"{split}.txt").write_text("\n\n".join(sentences[first:last]) + "\n", encoding="utf-8")
    return folder


def post(url: str, body: bytes, content_type: str | None = "application/json") -> tuple[int, Any]:
    """POST ``body`` to the backend at ``url``; its status and its answer, as JSON."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type} if content_type else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
