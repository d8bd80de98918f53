"""Seeded synthetic Label Studio exports of any size, shaped like Khabar's real ones.

Each task is one document assembled from the corpus's own sentences
(``annotation/corpus/documents.jsonl``): a title line, paragraphs of body
sentences, sometimes a dateline and a "related" list. Every task carries a
"gold" set of regions on the three layers of the scheme:

- ``entity``: one to four words, about 20% of them nested inside another;
- ``attribution``: SOURCE, CUE and CONTENT in a reporting sentence, the
  relations ``source`` and ``cue``, and a per-region ``quote_type`` choice that
  reuses the CONTENT region's id;
- ``zone``: TITLE, META and RELATED lines.

One to three annotators annotate each task (in a team's shape, ``--team N``:
the same N on every task, over shorter documents of about 25 span results)
and disagree the way people do: they miss regions, pick another label, stop
one word short, choose another quote type. Some annotations are cancelled (empty result), some tasks hold a
draft, most carry a prediction. The export is written task by task, in the
layout ``khabar studio pull`` writes (sorted keys, indent 2, UTF-8), or with
``--minified`` on one line as the JSON export of Label Studio's UI writes it
(``ujson.dumps(tasks, ensure_ascii=False)``: no space between items, ``/`` escaped as
``\\/``), so a million span results never sit in memory at once. The matching corpus
records go to a documents file with the fields of ``khabar.annotation.ingest.DocumentRecord``.

    python benchmarks/synth.py --spans 100000 --out /tmp/khabar-synth
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import random
import re
import string
import sys
import time
import unicodedata
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from khabar.annotation.ingest import DocumentRecord, doc_id_for, load_records
from khabar.annotation.results import choices_result, labels_result, relation_result
from khabar.annotation.scheme import Scheme, load_scheme
from khabar.foundation import jsonl
from khabar.foundation.paths import repo

MODEL_VERSION = "synthetic-ner-0.1"
EPOCH = 1_704_067_200  # 2024-01-01T00:00:00Z
#: Share of annotations an annotator cancels, of tasks holding a draft, of tasks with a prediction.
CANCEL_RATE = 0.03
DRAFT_RATE = 0.05
PREDICTION_RATE = 0.7
#: Per-region disagreement rates of one annotator against the gold regions.
MISS_RATE = 0.08
RELABEL_RATE = 0.04
SHRINK_RATE = 0.04
REQUOTE_RATE = 0.1
NEST_RATE = 0.38  # of multi-word entities that get an entity nested inside (≈20% of all entities)
ATTRIBUTION_RATE = 0.3  # of body sentences that report speech
_PUNCT = frozenset(string.punctuation) | frozenset("،؛؟«»“”„‘’‚…–—٪٫٬۔")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?؟…])\s+")


@dataclass(frozen=True)
class Region:
    """One gold region: a span of the text on one layer."""

    key: int
    layer: str
    label: str
    start: int
    end: int
    quote_type: str | None = None
    parent: int | None = None  # key of the entity this one is nested in


@dataclass(frozen=True)
class Shape:
    """Who annotates a task and how long its document is."""

    annotators: int | None = None  # the same number on every task; None: one to three (5:3:2)
    paragraphs: tuple[int, int] = (2, 5)  # body paragraphs per document, inclusive range

    def __post_init__(self) -> None:
        if self.annotators is not None and self.annotators < 1:
            raise ValueError(f"annotators per task must be at least 1, got {self.annotators}")
        low, high = self.paragraphs
        if not 1 <= low <= high:
            raise ValueError(f"paragraphs must be a range LOW,HIGH with 1 <= LOW <= HIGH, got {low},{high}")


#: Khabar's own shape: one to three annotators per task, documents of about 77 span results.
NEWS = Shape()


#: A team's shape: every task annotated by the same number of people, documents of about 25 span results each.
def team(annotators: int) -> Shape:
    return Shape(annotators=annotators, paragraphs=(1, 2))


@dataclass
class Counts:
    tasks: int = 0
    annotations: int = 0
    cancelled: int = 0
    drafts: int = 0
    span_results: int = 0  # `labels` results in annotations
    choice_results: int = 0
    relation_results: int = 0
    prediction_span_results: int = 0
    draft_span_results: int = 0
    nested_entities: int = 0
    entities: int = 0
    per_layer: dict[str, int] = field(default_factory=dict)


def _is_punct(char: str) -> bool:
    return char in _PUNCT or unicodedata.category(char).startswith("P")


def words(text: str) -> list[tuple[int, int]]:
    """Offsets of the runs of characters that are neither space nor punctuation."""
    found: list[tuple[int, int]] = []
    start = None
    for i, char in enumerate(text):
        if char.isspace() or _is_punct(char):
            if start is not None:
                found.append((start, i))
                start = None
        elif start is None:
            start = i
    if start is not None:
        found.append((start, len(text)))
    return found


def corpus_sentences(documents_file: Path) -> list[str]:
    """The corpus's sentences of at least six words, deduplicated, in corpus order."""
    seen: dict[str, None] = {}
    for record in load_records(documents_file):
        if record.superseded_by is not None:
            continue
        for line in record.text.split("\n"):
            for sentence in _SENTENCE_SPLIT.split(line.strip()):
                if len(words(sentence)) >= 6:
                    seen.setdefault(sentence, None)
    if not seen:
        raise SystemExit(f"{documents_file}: no sentences of six words or more to build documents from")
    return list(seen)


class Generator:
    """Deterministic tasks and corpus records for one seed."""

    def __init__(self, scheme: Scheme, sentences: list[str], sources: list[str], seed: int, shape: Shape = NEWS) -> None:
        self.scheme = scheme
        self.shape = shape
        self.rng = random.Random(seed)
        self.sentences = sentences
        self.sentence_words = [words(s) for s in sentences]
        self.sources = sources
        self.entity_layer, self.zone_layer = scheme.entity.name, scheme.zone.name
        entity_labels = scheme.entity.labels
        # Frequent types first, as in Wojood: a Zipf-like weight over the scheme's order.
        self.entity_labels = entity_labels
        self.entity_weights = [1 / (rank + 1) for rank in range(len(entity_labels))]
        roles = scheme.attribution
        self.quote_control = roles.quote_type.name
        self.quote_types = roles.quote_type.choices
        self.attribution_layer = roles.layer.name
        self.content_label = roles.content
        self.relation_rules = (roles.source_relation, roles.cue_relation)
        zone_labels = scheme.zone.labels
        self.zone_title, self.zone_meta, self.zone_related = zone_labels[0], zone_labels[2], zone_labels[3]
        self.text_name = scheme.text_name
        self.doc_ids: set[str] = set()
        self.next_annotation = 1
        self.next_prediction = 1
        self.next_draft = 1
        self.counts = Counts()

    # -- documents -----------------------------------------------------------------

    def document(self) -> tuple[str, list[Region]]:
        """A document text and its gold regions."""
        rng = self.rng
        while True:
            parts: list[str] = []
            regions: list[Region] = []
            cursor = 0

            def add_line(sentence_ids: list[int], zone: str | None) -> None:
                nonlocal cursor
                line_start, first_part = cursor, len(parts)
                for n, sid in enumerate(sentence_ids):
                    if n:
                        parts.append(" ")
                        cursor += 1
                    parts.append(self.sentences[sid])
                    self._sentence_regions(sid, cursor, regions)
                    cursor += len(self.sentences[sid])
                if zone is not None:
                    # Zones, like every span, hold no leading or trailing punctuation.
                    line_words = words("".join(parts[first_part:]))
                    start, end = line_start + line_words[0][0], line_start + line_words[-1][1]
                    regions.append(Region(len(regions), self.zone_layer, zone, start, end))
                parts.append("\n")
                cursor += 1

            add_line([rng.randrange(len(self.sentences))], self.zone_title)
            if rng.random() < 0.5:
                dateline = f"بغداد - {rng.randint(1, 28)}/{rng.randint(1, 12)}/{rng.choice((2024, 2025))}"
                parts.append(dateline + "\n")
                regions.append(Region(len(regions), self.zone_layer, self.zone_meta, cursor, cursor + len(dateline)))
                cursor += len(dateline) + 1
            for _ in range(rng.randint(*self.shape.paragraphs)):
                add_line([rng.randrange(len(self.sentences)) for _ in range(rng.randint(1, 3))], None)
            if rng.random() < 0.3:
                add_line([rng.randrange(len(self.sentences)) for _ in range(rng.randint(1, 2))], self.zone_related)
            text = "".join(parts).rstrip("\n")
            doc_id = doc_id_for(text)
            if doc_id not in self.doc_ids:
                self.doc_ids.add(doc_id)
                return text, [Region(i, r.layer, r.label, r.start, r.end, r.quote_type, r.parent) for i, r in enumerate(regions)]

    def _sentence_regions(self, sid: int, offset: int, regions: list[Region]) -> None:
        """Entities (some nested) and, for a reporting sentence, SOURCE/CUE/CONTENT."""
        rng = self.rng
        ws = self.sentence_words[sid]
        i = rng.randint(0, 2)
        while i < len(ws):
            if rng.random() < 0.3:
                length = min(rng.choice((1, 1, 2, 2, 3, 4)), len(ws) - i)
                sentence = self.sentences[sid]
                outer = Region(
                    len(regions), self.entity_layer, self._entity_label(sentence[ws[i][0] : ws[i + length - 1][1]]), offset + ws[i][0], offset + ws[i + length - 1][1]
                )
                regions.append(outer)
                if length >= 2 and rng.random() < NEST_RATE:
                    inner_len = rng.randint(1, length - 1)
                    first = i + rng.randint(0, length - inner_len)
                    regions.append(
                        Region(
                            len(regions),
                            self.entity_layer,
                            self._entity_label(sentence[ws[first][0] : ws[first + inner_len - 1][1]]),
                            offset + ws[first][0],
                            offset + ws[first + inner_len - 1][1],
                            parent=outer.key,
                        )
                    )
                i += length + 1
            else:
                i += 1
        if len(ws) >= 6 and rng.random() < ATTRIBUTION_RATE:
            source_len = rng.randint(1, 2)
            layer = self.attribution_layer
            source = (offset + ws[0][0], offset + ws[source_len - 1][1])
            cue = (offset + ws[source_len][0], offset + ws[source_len][1])
            content = (offset + ws[source_len + 1][0], offset + ws[-1][1])
            regions.append(Region(len(regions), layer, self.content_label, *content, quote_type=rng.choice(self.quote_types)))
            # The source relation points at the speaker (sentence-initial words), the cue relation at the verb.
            for rule, where in zip(self.relation_rules, (source, cue)):
                regions.append(Region(len(regions), layer, rule.to_label, *where))

    def _entity_label(self, surface: str | None = None) -> str:
        """A label drawn by weight; for gold entities, fixed by the surface text, as people label one name one way."""
        if surface is None:
            return self.rng.choices(self.entity_labels, weights=self.entity_weights)[0]
        point = zlib.crc32(surface.encode("utf-8")) / 2**32 * sum(self.entity_weights)
        return self.entity_labels[bisect.bisect(list(itertools.accumulate(self.entity_weights)), point)]

    # -- results ---------------------------------------------------------------------

    def _region_id(self) -> str:
        return format(self.rng.getrandbits(50), "x").rjust(13, "0")[-10:]

    def results(self, text: str, regions: list[Region], *, disagree: bool) -> list[dict]:
        """Label Studio results for ``regions``, perturbed like a human's when ``disagree``."""
        rng = self.rng
        out: list[dict] = []
        ids: dict[int, str] = {}
        kept: dict[int, Region] = {}
        for region in regions:
            if disagree and rng.random() < MISS_RATE:
                continue
            label, end, quote_type = region.label, region.end, region.quote_type
            if disagree and region.layer == self.entity_layer:
                if rng.random() < RELABEL_RATE:
                    label = self._entity_label()
                childless = not any(r.parent == region.key for r in regions)
                if childless and rng.random() < SHRINK_RATE:
                    inside = words(text[region.start : region.end])
                    if len(inside) >= 2:
                        end = region.start + inside[-2][1]
            if disagree and quote_type is not None and rng.random() < REQUOTE_RATE:
                quote_type = rng.choice(self.quote_types)
            region_id = self._region_id()
            ids[region.key] = region_id
            kept[region.key] = region
            out.append(labels_result(text, region_id=region_id, from_name=region.layer, to_name=self.text_name, start=region.start, end=end, label=label))
            if quote_type is not None:
                out.append(
                    choices_result(text, region_id=region_id, from_name=self.quote_control, to_name=self.text_name, start=region.start, end=end, choice=quote_type)
                )
        for region in regions:
            if region.quote_type is None or region.key not in ids:
                continue
            # SOURCE and CUE follow their CONTENT in the gold list: source first, cue second.
            targets = [r for r in regions[region.key + 1 : region.key + 1 + len(self.relation_rules)]]
            for rule, target in zip(self.relation_rules, targets):
                if target.key in ids:
                    out.append(relation_result(ids[region.key], ids[target.key], rule.label))
        return out

    def _timestamp(self, seconds: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(EPOCH + seconds)) + f".{int(seconds * 1e6) % 1_000_000:06d}Z"

    def task(self, index: int, text: str, regions: list[Region], record: DocumentRecord) -> dict:
        """One task as `khabar studio pull` writes it: annotations, drafts, predictions. Kept whole on purpose: every
        random draw happens here in one fixed order, which is what makes the same seed give the same bytes."""
        rng = self.rng
        counts = self.counts
        fixed = self.shape.annotators
        if fixed is None:
            annotators = rng.sample(range(1, 31), rng.choices((1, 2, 3), weights=(5, 3, 2))[0])
        else:
            annotators = rng.sample(range(1, max(31, fixed + 1)), fixed)
        moment = index * 3600.0
        annotations = []
        for annotator in annotators:
            moment += rng.uniform(60, 7200)
            lead_time = round(rng.uniform(20, 900), 3)
            cancelled = rng.random() < CANCEL_RATE
            result = [] if cancelled else self.results(text, regions, disagree=True)
            annotations.append(
                {
                    "completed_by": {"pseudonym": f"annotator-{annotator}"},
                    "created_at": self._timestamp(moment),
                    "ground_truth": False,
                    "id": self.next_annotation,
                    "lead_time": lead_time,
                    "result": result,
                    "updated_at": self._timestamp(moment + lead_time),
                    "was_cancelled": cancelled,
                }
            )
            self.next_annotation += 1
            counts.annotations += 1
            counts.cancelled += cancelled
            self._count(result, "annotation")
        drafts = []
        if rng.random() < DRAFT_RATE:
            partial = regions[: len(regions) // 2]
            result = self.results(text, partial, disagree=True)
            drafts.append(
                {
                    "created_at": self._timestamp(moment + 60),
                    "id": self.next_draft,
                    "lead_time": round(rng.uniform(20, 300), 3),
                    "result": result,
                    "updated_at": self._timestamp(moment + 120),
                    "user": {"pseudonym": f"annotator-{rng.randint(1, 30)}"},
                    "was_postponed": False,
                }
            )
            self.next_draft += 1
            counts.drafts += 1
            self._count(result, "draft")
        predictions = []
        if rng.random() < PREDICTION_RATE:
            result = self.results(text, [r for r in regions if r.layer == self.entity_layer], disagree=True)
            for item in result:
                item["score"] = round(rng.uniform(0.5, 1.0), 4)
            predictions.append(
                {
                    "created_at": self._timestamp(index * 3600.0),
                    "id": self.next_prediction,
                    "model_version": MODEL_VERSION,
                    "result": result,
                    "score": round(rng.uniform(0.5, 1.0), 4),
                }
            )
            self.next_prediction += 1
            self._count(result, "prediction")
        counts.tasks += 1
        counts.entities += sum(r.layer == self.entity_layer for r in regions)
        counts.nested_entities += sum(r.parent is not None for r in regions)
        return {
            "annotations": annotations,
            "data": record.task_data(),
            "drafts": drafts,
            "id": index + 1,
            "predictions": predictions,
        }

    def _count(self, result: list[dict], where: str) -> None:
        spans = [r for r in result if r["type"] == "labels"]
        if where == "annotation":
            self.counts.span_results += len(spans)
            self.counts.choice_results += sum(r["type"] == "choices" for r in result)
            self.counts.relation_results += sum(r["type"] == "relation" for r in result)
            for span in spans:
                self.counts.per_layer[span["from_name"]] = self.counts.per_layer.get(span["from_name"], 0) + 1
        elif where == "prediction":
            self.counts.prediction_span_results += len(spans)
        else:
            self.counts.draft_span_results += len(spans)

    def record(self, index: int, text: str) -> DocumentRecord:
        rng = self.rng
        return DocumentRecord(
            doc_id=doc_id_for(text),
            file=f"synthetic-{index:07d}.txt",
            text=text,
            source=self.sources[index % len(self.sources)],
            title=text.split("\n", 1)[0],
            published=f"{rng.choice((2024, 2025))}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            published_evidence="synthetic benchmark document",
            url=None,
            story=f"synthetic-story-{index // 4:06d}",
        )


def indented(task: dict) -> str:
    """One task as ``json.dumps(tasks, indent=2)`` lays out a list item."""
    return "  " + json.dumps(task, ensure_ascii=False, indent=2, sort_keys=True).replace("\n", "\n  ")


def minified(task: dict) -> str:
    """One task as Label Studio's UI export (``ujson.dumps(tasks, ensure_ascii=False)``) lays out a list item.

    A ``/`` stands only inside a string in JSON, so escaping every one is what ujson does.
    """
    return json.dumps(task, ensure_ascii=False, sort_keys=True, separators=(",", ":")).replace("/", "\\/")


def generate(
    export_file: Path,
    documents_file: Path,
    span_results: int,
    *,
    seed: int = 0,
    corpus_file: Path | None = None,
    progress: bool = True,
    shape: Shape = NEWS,
    minify: bool = False,
) -> Counts:
    """Write tasks until the export holds at least ``span_results`` span results in annotations (on one line when ``minify``)."""
    corpus_file = corpus_file or repo().documents_file
    corpus = [r for r in load_records(corpus_file) if r.superseded_by is None]
    generator = Generator(load_scheme(), corpus_sentences(corpus_file), sorted({r.source for r in corpus}), seed, shape)
    export_file.parent.mkdir(parents=True, exist_ok=True)
    documents_file.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    next_report = span_results / 10
    with export_file.open("w", encoding="utf-8") as export, documents_file.open("w", encoding="utf-8") as documents:
        export.write("[")
        index = 0
        while generator.counts.span_results < span_results:
            text, regions = generator.document()
            record = generator.record(index, text)
            task = generator.task(index, text, regions, record)
            if minify:
                export.write(("" if index == 0 else ",") + minified(task))
            else:
                export.write(("\n" if index == 0 else ",\n") + indented(task))
            documents.write(jsonl.dumps_line(asdict(record)))
            index += 1
            if progress and generator.counts.span_results >= next_report:
                print(
                    f"  synth: {generator.counts.span_results:,} span results, {index:,} tasks ({time.monotonic() - started:.0f} s)",
                    file=sys.stderr,
                    flush=True,
                )
                next_report += span_results / 10
        export.write("]" if minify else "\n]\n" if index else "]\n")
    return generator.counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=10_000, help="span results to generate (at least)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="folder for export.json and documents.jsonl")
    parser.add_argument("--team", type=int, metavar="N", help="a team's shape: N annotators on every task, documents of about 25 span results")
    parser.add_argument("--minified", action="store_true", help="the export on one line, as the JSON export of Label Studio's UI writes it")
    args = parser.parse_args(argv)
    shape = NEWS if args.team is None else team(args.team)
    counts = generate(args.out / "export.json", args.out / "documents.jsonl", args.spans, seed=args.seed, shape=shape, minify=args.minified)
    print(json.dumps(asdict(counts), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
