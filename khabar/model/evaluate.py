"""``khabar evaluate``: precision, recall and F1 on text the model did not learn from.

Two held-out settings:

- ``wojood``: a model trained on the Wojood sample's train split, scored on its test split;
- ``loo``: the gold pages held out in turn, in :data:`FOLDS` folds: a model trained on the whole
  Wojood sample and the other folds' pages predicts each page's entities. With as many pages as
  folds or fewer, each page is held out alone (leave one page out). Attribution and zones come
  from the rules, which learn nothing, scored on every gold page.

A span counts as *exact* when layer, label, start and end agree, and as *overlap* when a
span of the same layer and label shares at least one character (precision counts the
predicted spans that overlap a gold one, recall the gold spans that overlap a predicted one).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from khabar.annotation.scheme import load_scheme
from khabar.foundation import jsonl
from khabar.model.corpus import Alignment, CharEntity, Document, document_sentences, gold_ranges, range_documents, wojood_documents
from khabar.model.train import TrainConfig, TrainingData, train_model, training_data, wojood_files

SETTINGS = ("wojood", "loo")
ALL = "(all)"
#: A tally's figures, in a row's order: the overlap ones are keys no other tool writes.
FIGURES = ("predicted", "gold", "p", "r", "f1", "p_overlap", "r_overlap", "f1_overlap")
#: The keys of a row of the report (:meth:`Scores.rows`), each of them in every row.
ROW_KEYS = frozenset({"layer", "label", *FIGURES})
#: The gold pages are held out in this many folds, a page's fold its place in doc_id order modulo it. One model per
#: page would train 12,768 models on the gold of 1M span results (each about five minutes, ``khabar/model/train.py``);
#: with five pages or fewer, as the 2.0.0 gold has, each page is held out alone, as it always was.
FOLDS = 5


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
        return dict(zip(FIGURES, (self.predicted, self.gold, p, r, f1(p, r), po, ro, f1(po, ro)), strict=True))


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


@dataclass
class Fold:
    """What one fold's model learns from (the Wojood sample and the other folds' pages) and its own pages, set aside
    in a file of JSON lines as they are read: ``doc_id``, ``text``, ``entities`` and ``spans`` of every layer."""

    data: TrainingData
    pages: Path
    count: int = 0

    def held_out(self) -> Iterator[tuple[Document, list[Labelled]]]:
        """Each page of the fold with its gold spans, a line at a time."""
        with self.pages.open(encoding="utf-8") as lines:  # JSON escapes every line break inside a string
            for line in lines:
                page = json.loads(line)
                entities = tuple(CharEntity(*entity) for entity in page["entities"])
                yield Document(page["doc_id"], page["text"], entities), [Labelled(*span) for span in page["spans"]]


def gold_folds(exports: list[Path], documents_file: Path, config: TrainConfig, wojood: Sequence[Path], work: Path) -> list[Fold]:
    """The folds of the committed gold's annotated pages (the empty ones left out), read once a range of documents
    at a time: each page written to its own fold's file and its sentences added to every other fold's training
    data, so that neither the gold nor its spans are ever held whole (held whole, the gold of 3M span results took
    ``khabar evaluate`` to 1.17 GB)."""
    from khabar.validation.table_spool import room

    folds = [Fold(training_data(config, wojood=wojood), work / f"fold-{number}.jsonl") for number in range(FOLDS)]
    alignment = Alignment()
    aside = partial(room, str(work), "the gold pages")  # a full temporary folder: one line naming it, not a traceback
    with aside():
        files = [fold.pages.open("w", encoding="utf-8") for fold in folds]
    try:
        read = 0
        for part, gold in gold_ranges(exports, documents_file):
            spans: dict[str, list[list]] = defaultdict(list)
            for doc_id, layer, label, start, end in gold.spans.select("doc_id", "layer", "label", "start", "end").iter_rows():
                spans[doc_id].append([layer, label, start, end])
            for document in range_documents(part, gold):
                own, read = read % FOLDS, read + 1
                sentences = document_sentences(document, alignment, split_proclitics=config.split_proclitics)
                for number, fold in enumerate(folds):
                    if number != own:
                        fold.data.add("gold", sentences)
                entities = [[e.start, e.end, e.label] for e in document.entities]
                with aside():  # flushed page by page, so that closing the files has nothing left to write
                    files[own].write(jsonl.dumps_line({"doc_id": document.doc_id, "text": document.text, "entities": entities, "spans": spans[document.doc_id]}))
                    files[own].flush()
                folds[own].count += 1
    finally:
        with aside():  # a page whose flush failed is still in its file's buffer: closing writes it again
            for file in files:
                file.close()
    return [fold for fold in folds if fold.count]


def evaluate_loo(root: Path, exports: list[Path], documents_file: Path, config: TrainConfig, work: Path, progress: Callable[[str], None]) -> Scores:
    from khabar.annotation.preannotate import scored_rule_results
    from khabar.model.predict import EntityModel

    folds = gold_folds(exports, documents_file, config, wojood_files(root), work)
    pages = sum(fold.count for fold in folds)
    scores, levels = Scores(), Scores()
    total = len(folds)
    for number in range(1, total + 1):
        fold = folds.pop(0)  # its training data goes with it, before the next fold's model is trained
        progress(f"fold {number} of {total}: leaving out {fold.count} gold page(s), training on the Wojood sample and the other {pages - fold.count}")
        model = EntityModel(work / train_model(fold.data, work, progress=progress).version)
        for held_out, truth in fold.held_out():
            rules = [
                Labelled(r["from_name"], r["value"]["labels"][0], r["value"]["start"], r["value"]["end"])
                for r in scored_rule_results(held_out.text)
                if r.get("type") == "labels"
            ]
            predicted = _model_entities(model, held_out.text)
            scores.add_document(predicted + rules, truth)
            levels.add_document(by_level(predicted), by_level([s for s in truth if s.layer == load_scheme().entity.name]))
    scores.tallies.update({key: tally for key, tally in levels.tallies.items() if key[1] == ALL})
    return scores


def format_rows(setting: str, rows: list[dict]) -> str:
    lines = [f"## {setting}", "| layer | label | pred | gold | P | R | F1 | P overlap | R overlap | F1 overlap |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(
            f"| {row['layer']} | {row['label']} | {row['predicted']} | {row['gold']} | {row['p']:.3f} | {row['r']:.3f} | {row['f1']:.3f} "
            f"| {row['p_overlap']:.3f} | {row['r_overlap']:.3f} | {row['f1_overlap']:.3f} |"
        )
    return "\n".join(lines)
