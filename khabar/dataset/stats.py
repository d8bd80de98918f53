"""``khabar stats``: span counts per layer and label, and surface forms with more than one label.

The consistency pass reads the second list: the same words labeled differently
in one layer are either an ambiguity the guidelines settle or a mistake.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import asdict, dataclass
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
    counts = Counter(zip(spans["layer"].to_list(), spans["label"].to_list()))
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


def configure(parser: argparse.ArgumentParser) -> None:
    from khabar.dataset.cli import add_input_arguments

    add_input_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")


def run(args: argparse.Namespace) -> int:
    from khabar.annotation.scheme import load_scheme
    from khabar.dataset.adjudicate import adjudicate
    from khabar.dataset.inputs import inputs_from_args

    scheme = load_scheme()
    gold = adjudicate(inputs_from_args(args))
    counts, conflicts = label_counts(gold.spans, scheme), surface_conflicts(gold.spans)
    if args.json:
        print(json.dumps({"labels": [asdict(c) for c in counts], "surface_conflicts": [asdict(c) for c in conflicts]}, ensure_ascii=False, indent=2))
        return 0
    print(f"gold spans: {gold.spans.height} in {gold.spans['doc_id'].n_unique()} document(s)")
    for layer in scheme.layers:
        row = [f"{c.label} {c.spans}" for c in counts if c.layer == layer.name and c.spans]
        print(f"{layer.name:<12} {sum(c.spans for c in counts if c.layer == layer.name):>6}  {', '.join(row) or '-'}")
    print(f"surface forms with more than one label: {len(conflicts)}")
    for conflict in conflicts:
        print(f"  {conflict.layer:<12} {conflict.text}  " + ", ".join(f"{label}×{n}" for label, n in conflict.labels))
    return 0
