"""``khabar stats``: span counts per layer and label, and surface forms with more than one label.

The consistency pass reads the second list: the same words labeled differently
in one layer are either an ambiguity the guidelines settle or a mistake.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

    from khabar.annotation.scheme import Scheme


@dataclass(frozen=True)
class LabelCount:
    layer: str
    label: str
    spans: int


@dataclass(frozen=True)
class SurfaceConflict:
    layer: str
    text: str
    labels: tuple[tuple[str, int], ...]  # (label, spans), most frequent first


def label_counts(spans: pl.DataFrame, scheme: Scheme) -> tuple[LabelCount, ...]:
    """Every label of the scheme, in its order, with its number of spans (zeros included)."""
    return counted_labels(Counter(zip(spans["layer"].to_list(), spans["label"].to_list())), scheme)


def counted_labels(counts: Counter[tuple[str, str]], scheme: Scheme) -> tuple[LabelCount, ...]:
    """Every label of the scheme, in its order, with its count in ``counts`` (by layer and label; zeros included)."""
    return tuple(LabelCount(layer.name, label, counts[layer.name, label]) for layer in scheme.layers for label in layer.labels)


def surface_conflicts(spans: pl.DataFrame) -> tuple[SurfaceConflict, ...]:
    """Span texts that carry more than one label within one layer."""
    by_form: dict[tuple[str, str], Counter] = {}
    for layer, text, label in spans.select("layer", "text", "label").iter_rows():
        by_form.setdefault((layer, " ".join(text.split())), Counter())[label] += 1
    return tuple(
        SurfaceConflict(layer, text, tuple(sorted(labels.items(), key=lambda kv: (-kv[1], kv[0]))))
        for (layer, text), labels in sorted(by_form.items())
        if len(labels) > 1
    )
