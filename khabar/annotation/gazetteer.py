"""Entity surface forms learnt from the gold annotations already committed.

Every entity span of a submitted (not cancelled) annotation in
``annotation/exports/*.json`` adds its text → label. A surface form seen with
several labels keeps the most frequent one (ties: alphabetical), so the
gazetteer is a pure function of the committed files. With no committed gold it
is empty and the pre-annotator proposes no entities. The files are read by
:func:`khabar.studio.export.load_gazetteer`, a task at a time.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from khabar.annotation.scheme import load_scheme

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
