"""``khabar train``: fit one CRF per nesting level and store it as a new model version.

The CRF is python-crfsuite's (L-BFGS, elastic net). L-BFGS draws no random
numbers and the training sentences come in a fixed order, so the same inputs
give the same model files byte for byte, and the version is a hash of those
inputs: training twice on the same data makes the same version once.

A model lives in ``.khabar/models/<version>/`` of the repository (git-ignored):
``level-<n>.crfsuite`` and ``model.json``. It is written in a temporary folder
renamed into place, together with ``.khabar/models/current.json``, which names
the version that is served (:func:`train_model`): a reader never sees half a
model, and a training stopped leaves no model that is not served.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from khabar.annotation.tags import BEGIN, OUTSIDE
from khabar.foundation import jsonl, signals
from khabar.foundation.errors import KhabarError, quoted
from khabar.foundation.export_files import read_regular
from khabar.foundation.files import FolderSwap, os_reason, sha256_bytes, stage_file, staging_folder, sync_tree, write_atomic, write_error
from khabar.model.corpus import WOJOOD_SPLITS, Alignment, Document, Sentence, document_sentences, wojood_dir, wojood_sentences
from khabar.model.features import sentence_features

MODEL_PREFIX = "khabar-crf"
#: A model's version (:func:`model_version`): the stamp of every prediction ``khabar predict`` writes.
MODEL_VERSION = re.compile(rf"{MODEL_PREFIX}-[0-9a-f]{{10}}")
#: Deeper levels than this hold too few entities to learn from (Wojood's sample: 2,882 at level 0,
#: about 750 at level 1, 40 at level 2 in train).
MAX_LEVELS = 3
MIN_LEVEL_ENTITIES = 20
#: The most tokens one model learns from. CRFsuite holds every token's features for as long as it fits, and each
#: L-BFGS iteration passes over all of them: on the 2.88M tokens of the gold of 1M span results (the benchmark's news
#: export) ``khabar train`` passed 2.46 GB, and its first level had not finished after 25 minutes. Measured on those
#: sentences: 0.3 KB and 8 ms of CPU per L-BFGS iteration for each 1,000 tokens; with this budget that train took
#: 0.57 GB and 328 s of CPU. The repository's own sources (the Wojood sample and the gold: 31,224 tokens) are far
#: below it.
MAX_TOKENS = 250_000
#: A CRFsuite model file starts with these four bytes, then the file's size as a little-endian uint32, which its writer
#: puts there last (see :func:`model_file_problem`).
CRF_MAGIC = b"lCRF"

T = TypeVar("T")


@dataclass(frozen=True)
class TrainConfig:
    c1: float = 0.05
    c2: float = 0.05
    max_iterations: int = 120
    split_proclitics: bool = True
    max_tokens: int = MAX_TOKENS


@dataclass
class TrainingData:
    """The sentences a model learns from: every sentence of its sources while they hold at most
    ``config.max_tokens`` tokens, and past that a fixed sample of them.

    The sample ranks each sentence by the pages annotators submitted first, then a sha256 of its tokens and
    tags, then the order it was read in, and keeps the longest run of the ranking that fits the budget. A
    sentence's rank depends on nothing else, so the sample is the same in whatever order the sources come,
    and more data only displaces sentences ranked below what it brings. It is kept in one pass, a heap
    holding at most the budget: the gold is never held whole. The sentences kept are learnt in the order
    they were read.
    """

    config: TrainConfig
    alignment: Alignment = field(default_factory=Alignment)
    #: source → sentences read from it, for model.json
    sources: dict[str, int] = field(default_factory=dict)
    #: "gold", "submitted" → pages read (repository_data)
    pages: dict[str, int] = field(default_factory=dict)
    read: int = 0
    tokens: int = 0  # in the sentences kept
    #: the sentences kept, as a heap: the lowest-ranked on top, the first to go
    _kept: list[_Kept] = field(default_factory=list)
    #: the highest rank let go so far: nothing ranked at or below it fits any more
    _cut: tuple[int, int, int] | None = None

    def add(self, name: str, sentences: Iterable[Sentence], *, submitted: bool = False) -> None:
        self.sources.setdefault(name, 0)
        for sentence in sentences:
            self.read += 1
            self.sources[name] += 1
            rank = (0 if submitted else 1, sentence.digest, self.read)
            if self._cut is not None and rank >= self._cut:
                continue
            heapq.heappush(self._kept, _Kept(rank, name, sentence))
            self.tokens += len(sentence.tokens)
            while self.tokens > self.config.max_tokens:
                gone = heapq.heappop(self._kept)
                self.tokens -= len(gone.sentence.tokens)
                self._cut = gone.rank

    def add_document(self, name: str, document: Document, *, submitted: bool = False) -> None:
        self.add(name, document_sentences(document, self.alignment, split_proclitics=self.config.split_proclitics), submitted=submitted)

    def add_wojood(self, path: Path) -> None:
        self.add(f"wojood/{path.name}", wojood_sentences(path, self.alignment, split_proclitics=self.config.split_proclitics))

    def _in_order(self) -> list[_Kept]:
        return sorted(self._kept, key=lambda kept: kept.rank[2])

    @property
    def sentences(self) -> list[Sentence]:
        """The sentences kept, in the order they were read."""
        return [kept.sentence for kept in self._in_order()]

    def learnt(self) -> dict[str, int]:
        """Source → sentences kept from it."""
        counts = Counter(kept.source for kept in self._kept)
        return {name: counts[name] for name in self.sources}

    def digest(self) -> Any:
        """A sha256 of the sentences kept, in the order they are learnt."""
        digest = hashlib.sha256()
        for kept in self._in_order():
            digest.update(kept.rank[1].to_bytes(32, "big"))
        return digest


@dataclass(frozen=True, slots=True)
class _Kept:
    #: (0 for a page annotators submitted, else 1; :attr:`Sentence.digest`; the order it was read in)
    rank: tuple[int, int, int]
    source: str
    sentence: Sentence

    def __lt__(self, other: _Kept) -> bool:
        return self.rank > other.rank  # heapq keeps its least on top: here the lowest-ranked


def training_data(config: TrainConfig, *, wojood: Sequence[Path]) -> TrainingData:
    """Training data holding the Wojood sample's files ``wojood``, to which the gold and the submitted pages are added."""
    data = TrainingData(config)
    for path in wojood:
        data.add_wojood(path)
    return data


def wojood_files(root: Path, splits: tuple[str, ...] = WOJOOD_SPLITS) -> list[Path]:
    folder = wojood_dir(root)
    files = [folder / f"{split}.txt" for split in splits]
    missing = [str(path) for path in files if not path.exists()]
    if missing:
        raise KhabarError(f"the Wojood sample is missing: {', '.join(missing)}")
    return files


def _outer_tags(sentence: Sentence, level: int) -> list[str] | None:
    if level == 0:
        return None
    return list(sentence.tags[level - 1]) if level - 1 < len(sentence.tags) else [OUTSIDE] * len(sentence.tokens)


def _level_tags(sentence: Sentence, level: int) -> list[str]:
    return list(sentence.tags[level]) if level < len(sentence.tags) else [OUTSIDE] * len(sentence.tokens)


def fit_level(sentences: list[Sentence], level: int, config: TrainConfig, model_file: Path) -> int:
    """Train the CRF of one level on the sentences that have an entity at the level around it; returns their number."""
    import pycrfsuite

    trainer = pycrfsuite.Trainer(verbose=False)
    used = 0
    for sentence in sentences:
        if level > 0 and not any(tag != OUTSIDE for tag in _outer_tags(sentence, level) or []):
            continue  # an inner entity lies inside an outer one: elsewhere there is nothing to learn
        trainer.append(sentence_features(sentence.tokens, _outer_tags(sentence, level)), _level_tags(sentence, level))
        used += 1
    trainer.set_params(
        {"c1": config.c1, "c2": config.c2, "max_iterations": config.max_iterations, "feature.possible_transitions": True}
    )
    trainer.train(str(model_file))
    problem = model_file_problem(model_file)
    if problem is not None:
        raise KhabarError(f"CRFsuite could not write the model: {problem} (is the disk full?)", file=str(model_file))
    return used


def level_file(model_dir: Path, level: int) -> Path:
    """The CRF of one nesting level in a model's folder."""
    return model_dir / f"level-{level}.crfsuite"


def model_file_problem(path: Path) -> str | None:
    """Why the CRFsuite model file ``path`` is not whole (None when it is): no header, or fewer bytes than it says.

    CRFsuite's trainer reports no failed write: on a full disk it returned as usual, leaving a file with no header
    (a real full tmpfs, a 489,084-byte model). And its tagger does not check a file's length: cut at 100, 1,000 or
    200,000 bytes it crashed the process (a segmentation fault), cut by one byte it opened it. So a model file is
    checked against its header's size before it is served or opened."""
    try:
        with path.open("rb") as handle:
            head, size = handle.read(len(CRF_MAGIC) + 4), os.fstat(handle.fileno()).st_size
    except OSError as exc:
        return os_reason(exc)
    if len(head) < len(CRF_MAGIC) + 4 or not head.startswith(CRF_MAGIC):
        return f"no CRFsuite header in its {size:,} bytes"
    said = int.from_bytes(head[len(CRF_MAGIC) :], "little")
    return f"{size:,} bytes where its header says {said:,}" if said != size else None


@dataclass(frozen=True)
class ModelInfo:
    version: str
    levels: int
    config: TrainConfig
    #: source → sentences read (and, in models before the sample, "gold pages" and "submitted pages")
    sources: dict[str, int]
    #: entities read, those that fit the tokens, and why the others did not
    entities: int
    kept: int
    lost: dict[str, int]
    seconds: float
    #: source → sentences learnt from (fewer than read when the sources exceed ``config.max_tokens``), their tokens
    learnt: dict[str, int] = field(default_factory=dict)
    tokens: int = 0
    pages: dict[str, int] = field(default_factory=dict)


def model_version(data: TrainingData) -> str:
    digest = data.digest()
    digest.update(json.dumps(asdict(data.config), sort_keys=True).encode())
    return f"{MODEL_PREFIX}-{digest.hexdigest()[:10]}"


def train_model(data: TrainingData, models_dir: Path, *, serve: bool = False, progress: Callable[[str], None] = print) -> ModelInfo:
    """Fit every level with enough entities and move the model into ``models_dir/<version>``; ``serve``: with
    ``current.json`` there naming it, the two put in place together or neither (a training stopped between them left a
    whole model that was not served, which the next made current as "already trained")."""
    started = time.monotonic()
    config = data.config
    version = model_version(data)
    final = models_dir / version
    current_path = models_dir / CURRENT_NAME
    # current.json as the training found it, which alone it replaces: another training that finished meanwhile
    # serves its model, which this one's (from the data read before it) replaced
    served = sha256_bytes(read_regular(current_path)) if serve and current_path.exists() else None
    if whole_model(final):
        progress(f"{version} is already trained (same data, same settings)")
        if serve:
            write_atomic(current_path, current_text(version), over=served)
        return read_info(final)
    sentences = data.sentences
    with staging_folder(final) as work:
        levels = 0
        for level in range(MAX_LEVELS):
            entities = sum(1 for s in sentences if level < len(s.tags) for tag in s.tags[level] if tag.startswith(BEGIN))
            if entities < MIN_LEVEL_ENTITIES:
                break
            level_started = time.monotonic()
            used = fit_level(sentences, level, config, level_file(work, level))
            progress(f"  level {level}: {entities} entities in {used} sentences, {time.monotonic() - level_started:.1f} s")
            levels += 1
        if levels == 0:
            raise KhabarError("no entities to learn from: the training data holds none")
        alignment = data.alignment
        info = ModelInfo(
            version=version,
            levels=levels,
            config=config,
            sources=dict(data.sources),
            entities=alignment.entities,
            kept=alignment.kept,
            lost={"off_token_edges": alignment.off_token_edges, "across_sentences": alignment.across_sentences, "crossing": alignment.crossing},
            seconds=round(time.monotonic() - started, 1),
            learnt=data.learnt(),
            tokens=data.tokens,
            pages=dict(data.pages),
        )
        try:  # a write's OSError names no file: without this, a full disk here read as standard output's failure
            (work / "model.json").write_text(jsonl.dumps_document(asdict(info)), encoding="utf-8")
            sync_tree(work)
        except OSError as exc:
            raise write_error(exc, work / "model.json") from None
        current = stage_file(current_path, current_text(version), over=served) if serve else None
        # A reader sees no model or a whole one. One of this version there is not whole (whole_model): the new one
        # replaces it, where "already trained" kept serving a model whose level file was cut short.
        swap = FolderSwap(work, final)
        try:
            with signals.held():  # the model and current.json in place together, or neither: Ctrl-C waits for them
                swap.swap()
                if current is not None:
                    try:
                        current.commit()
                    except BaseException:
                        swap.undo()  # not served, so not kept: the staging folder goes with it
                        raise
                swap.finish()
        finally:
            if current is not None:
                current.discard()
    return info


def read_info(model_dir: Path) -> ModelInfo:
    """The description of the model in ``model_dir``, each field of the type it has (a model.json edited or cut short
    is one line naming it; a number of levels given as text was a traceback)."""
    path = model_dir / "model.json"
    info = _read_json(path, ModelInfo, "not a trained model")
    if MODEL_VERSION.fullmatch(info.version) is None or not 1 <= info.levels <= MAX_LEVELS:
        raise KhabarError(f"not a trained model: version {quoted(info.version)}, {info.levels} level(s) (at most {MAX_LEVELS})", file=str(path))
    return info


def whole_model(model_dir: Path) -> bool:
    """Whether ``model_dir`` holds a model that can be served: its model.json, and each level's file whole."""
    try:
        info = read_info(model_dir)
    except KhabarError:
        return False
    return all(model_file_problem(level_file(model_dir, level)) is None for level in range(info.levels))


def _read_json(path: Path, kind: type[T], what: str) -> T:
    """The JSON file ``path`` as ``kind``; else a one-line error naming it, saying it is not ``what``."""
    try:
        return jsonl.decode_as(read_regular(path), kind)
    except ValueError as exc:
        raise KhabarError(f"{what} ({exc})", file=str(path)) from None


def models_dir(root: Path) -> Path:
    return root / ".khabar" / "models"


#: the file of the models' folder that names the version served
CURRENT_NAME = "current.json"


def current_file(root: Path) -> Path:
    return models_dir(root) / CURRENT_NAME


@dataclass(frozen=True)
class Current:
    """What ``current.json`` holds: the version of the served model."""

    version: str


def current_text(version: str) -> str:
    """What ``current.json`` holds when ``version`` is the served model."""
    return jsonl.dumps_document(asdict(Current(version)))


def current_model_dir(root: Path) -> Path:
    """The folder of the model served, which ``current.json`` names by its version (a version of another shape, a
    path such as ``../../etc`` among them, is refused: it names no model of the models' folder)."""
    path = current_file(root)
    if not os.path.lexists(path):
        raise KhabarError("no trained model; train one with: khabar train")
    version = _read_json(path, Current, "unreadable").version
    if MODEL_VERSION.fullmatch(version) is None:
        raise KhabarError(f"names no model version: {quoted(version)}; train one with: khabar train", file=str(path))
    if not (models_dir(root) / version).is_dir():
        raise KhabarError(f"names {version}, which is not in the models' folder; train one with: khabar train", file=str(path))
    return models_dir(root) / version


def repository_data(root: Path, config: TrainConfig, exports: list[Path], documents_file: Path) -> TrainingData:
    """Everything the repository offers: the whole Wojood sample, the gold, and what annotators submitted since.

    The gold comes a range of documents at a time and only the sentences kept stay (:class:`TrainingData`).
    """
    from khabar.model.corpus import gold_documents, read_submitted, submitted_file

    submitted = read_submitted(submitted_file(root))
    newer = {document.doc_id for document in submitted}
    data = training_data(config, wojood=wojood_files(root))
    data.pages = {"gold": 0, "submitted": len(submitted)}
    for document in gold_documents(exports, documents_file) if exports else ():
        if document.doc_id not in newer:  # a page both committed and submitted later: the annotator's newer work wins
            data.add_document("gold", document)
            data.pages["gold"] += 1
    for document in submitted:
        data.add_document("submitted", document, submitted=True)
    return data
