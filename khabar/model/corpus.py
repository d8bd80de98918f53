"""Training and test sentences: the Wojood sample, the committed gold, what annotators submitted.

Each source becomes :class:`Sentence` rows: the tokens of :mod:`khabar.model.tokens`
and the entities as token ranges, one nesting level each. The gold is what the
build calls gold: the committed exports, validated (``khabar.gold.load``) and
adjudicated (``khabar.gold.adjudicate``).
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from khabar.annotation.conll_import import ARTIFACT_TOKENS, read_conll, sentence_entities
from khabar.annotation.scheme import load_scheme
from khabar.annotation.tags import BEGIN, INSIDE, OUTSIDE
from khabar.foundation import jsonl
from khabar.foundation.errors import KhabarError, quoted
from khabar.foundation.paths import Repo
from khabar.model.tokens import PROCLITIC_TOKEN, Token, sentences, tokenize

if TYPE_CHECKING:
    from khabar.gold.adjudicate import Gold
    from khabar.gold.inputs import BuildInputs

WOJOOD_SPLITS = ("train", "val", "test")


def wojood_dir(root: Path) -> Path:
    """Where the dataset repository at ``root`` keeps the Wojood sample."""
    return Repo(root).wojood_dir


@dataclass(frozen=True, slots=True)  # a million of them in the gold of 1M span results
class CharEntity:
    start: int
    end: int
    label: str


@dataclass(frozen=True)
class Document:
    """A text and its entities as character offsets (empty for a document to predict)."""

    doc_id: str
    text: str
    entities: tuple[CharEntity, ...] = ()


@dataclass(frozen=True)
class Sentence:
    tokens: tuple[Token, ...]
    #: per nesting level (0 = outermost), the IOB2 tag of every token
    tags: tuple[tuple[str, ...], ...]

    @cached_property
    def digest(self) -> int:
        """The sha256 of the tokens' texts and the tags, as a number: a training sample ranks sentences by it
        (``khabar.model.train.TrainingData``). Made once, however many samples the sentence is offered to
        (``khabar evaluate``'s folds: four; about 10 µs a sentence, 9 s of CPU for the gold of 3M span results)."""
        text = json.dumps([[t.text for t in self.tokens], self.tags], ensure_ascii=False)
        return int.from_bytes(hashlib.sha256(text.encode()).digest(), "big")


@dataclass
class Alignment:
    """What converting character entities to token tags kept and lost."""

    entities: int = 0
    kept: int = 0
    off_token_edges: int = 0  # an edge inside a token
    across_sentences: int = 0
    crossing: int = 0  # crosses an entity of its own level
    dropped_examples: list[str] = field(default_factory=list)

    def lost(self, reason: str, where: str) -> None:
        setattr(self, reason, getattr(self, reason) + 1)
        if len(self.dropped_examples) < 5:
            self.dropped_examples.append(f"{where}: {reason.replace('_', ' ')}")


def nesting_levels(entities: Iterable[tuple[int, int, str]]) -> tuple[list[list[tuple[int, int, str]]], int]:
    """Entities ``(first, last + 1, label)`` by level: the number of entities around one is its level.

    Outermost first; of two entities with the same extent the first listed is outer.
    Returns the levels and the count of entities dropped because they cross one of their level.
    """
    levels: list[list[tuple[int, int, str]]] = []
    crossing = 0
    placed: list[tuple[int, int, str]] = []
    for entity in sorted(entities, key=lambda e: (e[0], -e[1])):
        start, end, _ = entity
        depth = sum(1 for s, e, _ in placed if s <= start and end <= e)
        while len(levels) <= depth:
            levels.append([])
        if any(s < end and start < e for s, e, _ in levels[depth]):
            crossing += 1
            continue
        levels[depth].append(entity)
        placed.append(entity)
    return levels, crossing


def level_tags(length: int, entities: Sequence[tuple[int, int, str]]) -> tuple[str, ...]:
    tags = [OUTSIDE] * length
    for start, end, label in entities:
        tags[start] = f"{BEGIN}{label}"
        for i in range(start + 1, end):
            tags[i] = f"{INSIDE}{label}"
    return tuple(tags)


def align(document: Document, groups: list[list[Token]], alignment: Alignment, *, split_proclitics: bool) -> list[Sentence]:
    """The document's sentences with its entities as tags; an entity that fits no token range is counted and dropped."""
    where_token: dict[int, tuple[int, int]] = {}  # char start → (sentence, token)
    where_end: dict[int, tuple[int, int]] = {}
    for s, group in enumerate(groups):
        for t, token in enumerate(group):
            where_token[token.start] = (s, t)
            where_end[token.end] = (s, t)
    per_sentence: list[list[tuple[int, int, str]]] = [[] for _ in groups]
    for entity in document.entities:
        alignment.entities += 1
        first, last = where_token.get(entity.start), where_end.get(entity.end)
        if first is not None and split_proclitics and groups[first[0]][first[1]].end < entity.end and _is_clitic(groups[first[0]], first[1]):
            first = (first[0], first[1] + 1)  # the proclitic stays outside, as the guidelines say
        where = f"{document.doc_id}:{entity.start}-{entity.end}"
        if first is None or last is None:
            alignment.lost("off_token_edges", where)
        elif first[0] != last[0]:
            alignment.lost("across_sentences", where)
        else:
            per_sentence[first[0]].append((first[1], last[1] + 1, entity.label))
    found = []
    for group, entities in zip(groups, per_sentence):
        levels, crossing = nesting_levels(entities)
        alignment.crossing += crossing
        alignment.kept += sum(len(level) for level in levels)
        found.append(Sentence(tuple(group), tuple(level_tags(len(group), level) for level in levels)))
    return found


def _is_clitic(group: list[Token], index: int) -> bool:
    return index + 1 < len(group) and group[index].end == group[index + 1].start and PROCLITIC_TOKEN.fullmatch(group[index].text) is not None


def document_sentences(document: Document, alignment: Alignment, *, split_proclitics: bool) -> list[Sentence]:
    return align(document, sentences(document.text, split_proclitics=split_proclitics), alignment, split_proclitics=split_proclitics)


def wojood_documents(path: Path) -> list[Document]:
    """One document per sentence of a Wojood CoNLL file: its tokens joined by spaces, its entities at every level."""
    documents = []
    for sentence in read_conll(path):
        kept = [token for token in sentence if token.text not in ARTIFACT_TOKENS]
        starts, cursor = {}, 0
        for token in kept:
            starts[id(token)] = cursor
            cursor += len(token.text) + 1
        text = " ".join(token.text for token in kept)
        entities = tuple(
            CharEntity(starts[id(sentence[a])], starts[id(sentence[b - 1])] + len(sentence[b - 1].text), label)
            for a, b, label, _ in sentence_entities(sentence, path.name, [])
        )
        if kept:
            documents.append(Document(f"{path.name}:{sentence[0].line}", text, entities))
    return documents


def wojood_sentences(path: Path, alignment: Alignment, *, split_proclitics: bool) -> list[Sentence]:
    """Wojood's own sentences (not cut again at full stops)."""
    found = []
    for document in wojood_documents(path):
        group = tokenize(document.text, split_proclitics=split_proclitics)
        found += align(document, [group], alignment, split_proclitics=split_proclitics)
    return found


def gold_ranges(exports: list[Path], documents_file: Path) -> Iterator[tuple[BuildInputs, Gold]]:
    """The committed exports validated and adjudicated a range of documents at a time, as the build reads them
    (``khabar stats`` too): their tables are never whole. Read whole and adjudicated at once, they took the gold
    of the 1M span results news export to 739 MB (14.5 s CPU)."""
    from khabar.gold.adjudicate import adjudicated_ranges
    from khabar.gold.load import load_ranged_inputs

    inputs = load_ranged_inputs(exports, documents_file, log=lambda _line: None)
    yield from adjudicated_ranges(inputs)


def range_documents(part: BuildInputs, gold: Gold) -> list[Document]:
    """The annotated documents of one range with their adjudicated gold entities, by doc_id."""
    from khabar.gold.adjudicate import Policy

    annotated = {d.doc_id for d in gold.decisions if d.policy is not Policy.NOT_ANNOTATED}
    texts = dict(part.documents.select("doc_id", "text").iter_rows())
    entities: dict[str, list[CharEntity]] = {doc_id: [] for doc_id in annotated}
    for row in gold.spans.filter(gold.spans["layer"] == load_scheme().entity.name).iter_rows(named=True):
        entities[row["doc_id"]].append(CharEntity(row["start"], row["end"], sys.intern(row["label"])))
    return [Document(doc_id, texts[doc_id], tuple(entities[doc_id])) for doc_id in sorted(annotated)]


def gold_documents(exports: list[Path], documents_file: Path) -> Iterator[Document]:
    """The adjudicated gold entities of the committed exports, one document per annotated doc_id, by doc_id (the
    ranges come in doc_id order), a range at a time."""
    for part, gold in gold_ranges(exports, documents_file):
        yield from range_documents(part, gold)


def submitted_file(root: Path) -> Path:
    """Entities annotators submitted through the ML backend, a line a submission (git-ignored, no identities)."""
    return root / ".khabar" / "training" / "submitted.jsonl"


@dataclass(frozen=True)
class SubmittedLine:
    """A line of :func:`submitted_file`: a page's text and its entities as ``[start, end, label]``, nothing else."""

    doc_id: str
    text: str
    entities: tuple[tuple[int, int, str], ...] = ()


def submitted_line(document: Document) -> str:
    """The line of :func:`submitted_file` that records ``document`` (its text and entities only: no annotator)."""
    return jsonl.dumps_line(asdict(SubmittedLine(document.doc_id, document.text, tuple((e.start, e.end, e.label) for e in document.entities))))


def span_problem(start: int, end: int, text: str) -> str | None:
    """Why ``start``-``end`` is no span of ``text`` (None when it is one): outside it, empty or reversed."""
    return None if 0 <= start < end <= len(text) else f"offsets {start}-{end} are not inside the text"


def label_problem(label: str) -> str | None:
    """Why ``label`` is no entity label to learn (None when it is one): the scheme's entity layer lacks it, so the
    model would learn it and suggest what Label Studio refuses."""
    return None if label in load_scheme().entity.labels else f"label {quoted(label)} is not one of the scheme's entity labels"


def read_submitted(path: Path) -> list[Document]:
    """The latest submission of each page in ``path`` (:class:`SubmittedLine`); none when it is missing. A line that is
    not one (cut short, edited) is one line naming the file and the line: read trusting its shape, it stopped
    ``khabar train``, and every retraining of the ML backend, with a traceback."""
    if not path.exists():
        return []
    latest: dict[str, Document] = {}
    for line_no, line in jsonl.lines(path):  # split on "\n" only: a text may hold U+2028
        if not line.strip():
            continue
        try:
            page = jsonl.decode_as(line, SubmittedLine)
        except ValueError as exc:
            raise KhabarError(f"line {line_no}: not a submitted page ({exc})", file=str(path)) from None
        document = Document(page.doc_id, page.text, tuple(CharEntity(*entity) for entity in page.entities))
        for entity in document.entities:
            if (problem := span_problem(entity.start, entity.end, document.text) or label_problem(entity.label)) is not None:
                raise KhabarError(f"line {line_no}: {problem}", file=str(path), document=page.doc_id)
        latest[page.doc_id] = document
    return [latest[doc_id] for doc_id in sorted(latest)]
