"""Entity surface forms learnt from the gold annotations already committed.

Every entity span of a submitted (not cancelled) annotation in
``annotation/exports/*.json`` adds its text → label. A surface form seen with
several labels keeps the most frequent one (ties: alphabetical), so the
gazetteer is a pure function of the committed files. With no committed gold it
is empty and the pre-annotator proposes no entities.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from khabar.annotation.scheme import load_scheme
from khabar.foundation import export_files
from khabar.foundation.errors import KhabarError

MIN_SURFACE_LENGTH = 2


@dataclass(frozen=True)
class Gazetteer:
    entries: Mapping[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.entries)


def gazetteer_from_tasks(tasks: Iterable[dict]) -> Gazetteer:
    entity = load_scheme().entity
    seen: dict[str, Counter[str]] = defaultdict(Counter)
    for task in tasks:
        for annotation in task.get("annotations") or []:
            if annotation.get("was_cancelled"):
                continue
            for result in annotation.get("result") or []:
                value = result.get("value") or {}
                surface = value.get("text")
                if result.get("from_name") != entity.name or not isinstance(surface, str):
                    continue
                # The editor writes a newline inside a span as the two characters "\n".
                if "\n" in surface or "\\n" in surface or surface != surface.strip() or len(surface) < MIN_SURFACE_LENGTH:
                    continue
                for label in value.get("labels") or []:
                    if label in entity.labels:
                        seen[surface][label] += 1
    entries = {
        surface: sorted(counts.items(), key=lambda item: (-item[1], item[0]))[0][0] for surface, counts in seen.items()
    }
    return Gazetteer(entries=dict(sorted(entries.items())))


def load_gazetteer(exports_dir: Path) -> Gazetteer:
    tasks: list[dict] = []
    for path in export_files.in_folder(exports_dir) if exports_dir.is_dir() else []:
        try:
            content = json.loads(export_files.read_regular(path).decode("utf-8"))
        except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise KhabarError(f"cannot build the gazetteer: not JSON ({str(exc).split(';')[0] or 'nested too deeply'})", file=str(path)) from None
        if isinstance(content, list):
            tasks.extend(task for task in content if isinstance(task, dict))
    return gazetteer_from_tasks(tasks)
