"""``khabar evaluate``: precision, recall and F1 on text the model did not learn from.

Two held-out settings:

- ``wojood``: a model trained on the Wojood sample's train split, scored on its test split;
- ``loo``: leave one document out over the gold pages: for each annotated page, a model
  trained on the whole Wojood sample and the other gold pages predicts that page's entities.
  Attribution and zones come from the rules, which learn nothing, scored on every gold page.

A span counts as *exact* when layer, label, start and end agree, and as *overlap* when a
span of the same layer and label shares at least one character (precision counts the
predicted spans that overlap a gold one, recall the gold spans that overlap a predicted one).
"""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from khabar.annotation.scheme import load_scheme
from khabar.model.corpus import Document, gold_ranges, range_documents, wojood_documents
from khabar.model.train import TrainConfig, train_model, training_data, wojood_files

SETTINGS = ("wojood", "loo")
ALL = "(all)"


@dataclass(frozen=True, slots=True)  # every gold span of the pages evaluated
class Labelled:
    layer: str
    label: str
    start: int
    end: int


@dataclass
class Tally:
    predicted: int = 0
    gold: int = 0
    exact: int = 0
    overlap_predicted: int = 0  # predicted spans overlapping a gold one
    overlap_gold: int = 0  # gold spans overlapped by a predicted one

    def add(self, other: Tally) -> None:
        for name in ("predicted", "gold", "exact", "overlap_predicted", "overlap_gold"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def figures(self) -> dict[str, float]:
        def ratio(a: int, b: int) -> float:
            return round(a / b, 3) if b else 0.0

        def f1(p: float, r: float) -> float:
            return round(2 * p * r / (p + r), 3) if p + r else 0.0

        p, r = ratio(self.exact, self.predicted), ratio(self.exact, self.gold)
        po, ro = ratio(self.overlap_predicted, self.predicted), ratio(self.overlap_gold, self.gold)
        return {"predicted": self.predicted, "gold": self.gold, "p": p, "r": r, "f1": f1(p, r), "p_overlap": po, "r_overlap": ro, "f1_overlap": f1(po, ro)}


@dataclass
class Scores:
    """Tallies per (layer, label), with :data:`ALL` for a whole layer."""

    tallies: dict[tuple[str, str], Tally] = field(default_factory=lambda: defaultdict(Tally))

    def add_document(self, predicted: Iterable[Labelled], gold: Iterable[Labelled]) -> None:
        predicted, gold = set(predicted), set(gold)
        for layer, label in {(s.layer, s.label) for s in predicted | gold}:
            p = [s for s in predicted if (s.layer, s.label) == (layer, label)]
            g = [s for s in gold if (s.layer, s.label) == (layer, label)]
            tally = Tally(
                predicted=len(p),
                gold=len(g),
                exact=len(set(p) & set(g)),
                overlap_predicted=sum(1 for a in p if any(a.start < b.end and b.start < a.end for b in g)),
                overlap_gold=sum(1 for b in g if any(a.start < b.end and b.start < a.end for a in p)),
            )
            self.tallies[(layer, label)].add(tally)
            self.tallies[(layer, ALL)].add(tally)

    def rows(self) -> list[dict]:
        return [{"layer": layer, "label": label, **tally.figures()} for (layer, label), tally in sorted(self.tallies.items(), key=lambda item: (item[0][0], item[0][1] != ALL, item[0][1]))]


def _entities(document: Document) -> list[Labelled]:
    return [Labelled(load_scheme().entity.name, e.label, e.start, e.end) for e in document.entities]


def _model_entities(model, text: str) -> list[Labelled]:
    return [Labelled(load_scheme().entity.name, p.label, p.start, p.end) for p in model.predict(text)]


def by_level(spans: list[Labelled]) -> list[Labelled]:
    """Entities moved to a layer of their nesting level (``entity level 0`` outermost, ``entity level 1+`` inside another)."""
    outer_first = sorted(set(spans), key=lambda s: (s.start, -s.end, s.label))
    found = []
    for i, span in enumerate(outer_first):
        inside = any(o.start <= span.start and span.end <= o.end for o in outer_first[:i])
        found.append(Labelled(f"{load_scheme().entity.name} level {'1+' if inside else '0'}", span.label, span.start, span.end))
    return found


def evaluate_wojood(root: Path, config: TrainConfig, work: Path, progress: Callable[[str], None]) -> Scores:
    from khabar.model.predict import EntityModel

    data = training_data(config, wojood=wojood_files(root, ("train",)))
    info = train_model(data, work, progress=progress)
    model = EntityModel(work / info.version)
    scores, levels = Scores(), Scores()
    for document in wojood_documents(wojood_files(root, ("test",))[0]):
        predicted, gold = _model_entities(model, document.text), _entities(document)
        scores.add_document(predicted, gold)
        levels.add_document(by_level(predicted), by_level(gold))
    scores.tallies.update({key: tally for key, tally in levels.tallies.items() if key[1] == ALL})
    return scores


def evaluate_loo(root: Path, gold: list[Document], gold_spans: dict[str, list[Labelled]], config: TrainConfig, work: Path, progress: Callable[[str], None]) -> Scores:
    from khabar.annotation.preannotate import scored_rule_results
    from khabar.model.predict import EntityModel

    scores, levels = Scores(), Scores()
    for held_out in gold:
        others = [d for d in gold if d.doc_id != held_out.doc_id]
        data = training_data(config, wojood=wojood_files(root), documents=[("gold", others)])
        progress(f"leaving out {held_out.doc_id}: training on the Wojood sample and {len(others)} gold page(s)")
        info = train_model(data, work, progress=progress)
        model = EntityModel(work / info.version)
        rules = [
            Labelled(r["from_name"], r["value"]["labels"][0], r["value"]["start"], r["value"]["end"])
            for r in scored_rule_results(held_out.text)
            if r.get("type") == "labels"
        ]
        predicted = _model_entities(model, held_out.text)
        truth = gold_spans[held_out.doc_id]
        scores.add_document(predicted + rules, truth)
        levels.add_document(by_level(predicted), by_level([s for s in truth if s.layer == load_scheme().entity.name]))
    scores.tallies.update({key: tally for key, tally in levels.tallies.items() if key[1] == ALL})
    return scores


def gold_pages(exports: list[Path], documents_file: Path) -> tuple[list[Document], dict[str, list[Labelled]]]:
    """The annotated documents with their gold entities (:func:`gold_documents`), and every gold span of them,
    all layers: one reading of the exports, a range of documents at a time."""
    documents: list[Document] = []
    found: dict[str, list[Labelled]] = defaultdict(list)
    for part, gold in gold_ranges(exports, documents_file):
        documents += range_documents(part, gold)
        for row in gold.spans.iter_rows(named=True):
            found[row["doc_id"]].append(Labelled(sys.intern(row["layer"]), sys.intern(row["label"]), row["start"], row["end"]))
    return documents, found


def format_rows(setting: str, rows: list[dict]) -> str:
    lines = [f"## {setting}", "| layer | label | pred | gold | P | R | F1 | P overlap | R overlap | F1 overlap |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(
            f"| {row['layer']} | {row['label']} | {row['predicted']} | {row['gold']} | {row['p']:.3f} | {row['r']:.3f} | {row['f1']:.3f} "
            f"| {row['p_overlap']:.3f} | {row['r_overlap']:.3f} | {row['f1_overlap']:.3f} |"
        )
    return "\n".join(lines)
