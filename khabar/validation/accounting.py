"""Reconciliation: everything read is either used or excluded with a reason.

Each unit (annotations, regions, relations, quote_type choices, and the same
for predictions) gets a ``reason`` column, null when the row is used. The
tables handed to the builder are selected by ``reason is null`` from the very
frames that are counted here, so the counts reconcile by construction, and
:meth:`Count.reconciles` checks it anyway.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl

DRAFT, CANCELLED, UNKNOWN_DOCUMENT, FAILED_CHECK = "draft", "cancelled", "unknown document", "failed check"
OWNER_FAILED = "its annotation failed a check"
PREDICTION_FAILED = "its prediction failed a check"
END_EXCLUDED = "an end region was excluded"
REGION_EXCLUDED = "its region was excluded"


@dataclass(frozen=True)
class Count:
    unit: str
    read: int
    used: int
    excluded: dict[str, int] = field(default_factory=dict)

    @property
    def reconciles(self) -> bool:
        return self.read == self.used + sum(self.excluded.values())

    def line(self) -> str:
        reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(self.excluded.items()))
        excluded = sum(self.excluded.values())
        tail = f" ({reasons})" if reasons else ""
        return f"{self.unit:<22} read {self.read} = used {self.used} + excluded {excluded}{tail}"

    def to_dict(self) -> dict[str, object]:
        return {"unit": self.unit, "read": self.read, "used": self.used, "excluded": dict(sorted(self.excluded.items()))}


@dataclass(frozen=True)
class Accounting:
    files: int
    tasks: int
    counts: tuple[Count, ...]

    @property
    def reconciles(self) -> bool:
        return all(count.reconciles for count in self.counts)

    def count(self, unit: str) -> Count:
        return next(c for c in self.counts if c.unit == unit)

    def lines(self) -> list[str]:
        return [f"{self.files} export file(s), {self.tasks} task(s)"] + [count.line() for count in self.counts]

    def to_dict(self) -> dict[str, object]:
        return {
            "files": self.files,
            "tasks": self.tasks,
            "reconciles": self.reconciles,
            "counts": [count.to_dict() for count in self.counts],
        }


def counts(units: Sequence[tuple[str, pl.LazyFrame]]) -> tuple[Count, ...]:
    """Count each unit's frame (a ``reason`` column, null = used), all in one call into polars."""
    found = pl.collect_all([frame.group_by("reason").len() for _, frame in units], engine="in-memory")
    result = []
    for (unit, _), reasons in zip(units, found, strict=True):
        excluded = dict(zip(reasons["reason"].to_list(), reasons["len"].to_list(), strict=True))
        used = excluded.pop(None, 0)
        result.append(Count(unit=unit, read=used + sum(excluded.values()), used=used, excluded=excluded))
    return tuple(result)


def merge(parts: Sequence[Sequence[Count]]) -> tuple[Count, ...]:
    """The counts of several batches added unit by unit (each batch counts the same units, in the same order)."""
    merged = []
    for same_unit in zip(*parts):
        excluded: Counter[str] = Counter()
        for part in same_unit:
            excluded.update(part.excluded)
        merged.append(Count(
            unit=same_unit[0].unit, read=sum(c.read for c in same_unit), used=sum(c.used for c in same_unit),
            excluded={reason: n for reason, n in excluded.items() if n},
        ))
    return tuple(merged)
