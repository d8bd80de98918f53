"""``khabar train``: fit one CRF per nesting level and store it as a new model version.

The CRF is python-crfsuite's (L-BFGS, elastic net). L-BFGS draws no random
numbers and the training sentences come in a fixed order, so the same inputs
give the same model files byte for byte, and the version is a hash of those
inputs: training twice on the same data makes the same version once.

A model lives in ``.khabar/models/<version>/`` of the repository (git-ignored):
``level-<n>.crfsuite`` and ``model.json``. It is written in a temporary folder
renamed into place, and ``.khabar/models/current.json`` (written atomically
after it) names the version that is served, so a reader never sees half a model.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from khabar.foundation import jsonl
from khabar.foundation.errors import KhabarError
from khabar.foundation.files import staging_folder, sync_tree
from khabar.model.corpus import WOJOOD_SPLITS, Alignment, Document, Sentence, document_sentences, wojood_dir, wojood_sentences
from khabar.model.features import sentence_features

MODEL_PREFIX = "khabar-crf"
#: Deeper levels than this hold too few entities to learn from (Wojood's sample: 2,882 at level 0,
#: about 750 at level 1, 40 at level 2 in train).
MAX_LEVELS = 3
MIN_LEVEL_ENTITIES = 20


@dataclass(frozen=True)
class TrainConfig:
    c1: float = 0.05
    c2: float = 0.05
    max_iterations: int = 120
    split_proclitics: bool = True


@dataclass
class TrainingData:
    sentences: list[Sentence] = field(default_factory=list)
    alignment: Alignment = field(default_factory=Alignment)
    #: source → sentences read from it, for model.json
    sources: dict[str, int] = field(default_factory=dict)
    digest: Any = field(default_factory=hashlib.sha256)

    def add(self, name: str, sentences: list[Sentence]) -> None:
        self.sentences += sentences
        self.sources[name] = self.sources.get(name, 0) + len(sentences)
        for sentence in sentences:
            self.digest.update(json.dumps([[t.text for t in sentence.tokens], sentence.tags], ensure_ascii=False).encode())


def training_data(
    config: TrainConfig, *, wojood: Sequence[Path] = (), documents: Sequence[tuple[str, list[Document]]] = ()
) -> TrainingData:
    data = TrainingData()
    for path in wojood:
        data.add(f"wojood/{path.name}", wojood_sentences(path, data.alignment, split_proclitics=config.split_proclitics))
    for name, group in documents:
        for document in group:
            data.add(name, document_sentences(document, data.alignment, split_proclitics=config.split_proclitics))
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
    return list(sentence.tags[level - 1]) if level - 1 < len(sentence.tags) else ["O"] * len(sentence.tokens)


def _level_tags(sentence: Sentence, level: int) -> list[str]:
    return list(sentence.tags[level]) if level < len(sentence.tags) else ["O"] * len(sentence.tokens)


def fit_level(sentences: list[Sentence], level: int, config: TrainConfig, model_file: Path) -> int:
    """Train the CRF of one level on the sentences that have an entity at the level around it; returns their number."""
    import pycrfsuite

    trainer = pycrfsuite.Trainer(verbose=False)
    used = 0
    for sentence in sentences:
        if level > 0 and not any(tag != "O" for tag in _outer_tags(sentence, level) or []):
            continue  # an inner entity lies inside an outer one: elsewhere there is nothing to learn
        trainer.append(sentence_features(sentence.tokens, _outer_tags(sentence, level)), _level_tags(sentence, level))
        used += 1
    trainer.set_params(
        {"c1": config.c1, "c2": config.c2, "max_iterations": config.max_iterations, "feature.possible_transitions": True}
    )
    trainer.train(str(model_file))
    return used


@dataclass(frozen=True)
class ModelInfo:
    version: str
    levels: int
    config: TrainConfig
    sources: dict[str, int]
    entities: int
    kept: int
    lost: dict[str, int]
    seconds: float


def model_version(data: TrainingData, config: TrainConfig) -> str:
    digest = data.digest.copy()
    digest.update(json.dumps(asdict(config), sort_keys=True).encode())
    return f"{MODEL_PREFIX}-{digest.hexdigest()[:10]}"


def train_model(data: TrainingData, config: TrainConfig, models_dir: Path, *, progress: Callable[[str], None] = print) -> ModelInfo:
    """Fit every level with enough entities and move the model into ``models_dir/<version>``."""
    started = time.monotonic()
    version = model_version(data, config)
    final = models_dir / version
    if (final / "model.json").exists():
        progress(f"{version} is already trained (same data, same settings)")
        return read_info(final)
    with staging_folder(final) as work:
        levels = 0
        for level in range(MAX_LEVELS):
            entities = sum(1 for s in data.sentences if level < len(s.tags) for tag in s.tags[level] if tag.startswith("B-"))
            if entities < MIN_LEVEL_ENTITIES:
                break
            level_started = time.monotonic()
            used = fit_level(data.sentences, level, config, work / f"level-{level}.crfsuite")
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
        )
        (work / "model.json").write_text(jsonl.dumps_document(asdict(info)), encoding="utf-8")
        sync_tree(work)
        work.rename(final)  # a reader sees no model or a whole one; the staging folder goes if anything fails
    return info


def read_info(model_dir: Path) -> ModelInfo:
    try:
        raw = json.loads((model_dir / "model.json").read_text(encoding="utf-8"))
        raw["config"] = TrainConfig(**raw["config"])
        return ModelInfo(**raw)
    except (OSError, json.JSONDecodeError, TypeError, KeyError) as exc:
        raise KhabarError(f"not a trained model ({exc.__class__.__name__}: {exc})", file=str(model_dir / "model.json")) from None


def models_dir(root: Path) -> Path:
    return root / ".khabar" / "models"


def current_file(root: Path) -> Path:
    return models_dir(root) / "current.json"


def set_current(root: Path, version: str) -> None:
    """Name ``version`` as the served model, atomically."""
    jsonl.write_document(current_file(root), {"version": version})


def current_model_dir(root: Path) -> Path:
    try:
        version = json.loads(current_file(root).read_text(encoding="utf-8"))["version"]
    except FileNotFoundError:
        raise KhabarError("no trained model; train one with: khabar train") from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise KhabarError(f"unreadable ({exc.__class__.__name__}: {exc})", file=str(current_file(root))) from None
    return models_dir(root) / version


def repository_data(root: Path, config: TrainConfig, exports: list[Path], documents_file: Path) -> TrainingData:
    """Everything the repository offers: the whole Wojood sample, the gold, and what annotators submitted since."""
    from khabar.model.corpus import gold_documents, read_submitted, submitted_file

    gold = gold_documents(exports, documents_file) if exports else []
    gold_ids = {document.doc_id for document in gold}
    # a page both committed and submitted later: the annotator's newer work wins
    submitted = read_submitted(submitted_file(root))
    newer = {document.doc_id for document in submitted}
    groups = [("gold", [d for d in gold if d.doc_id not in newer]), ("submitted", submitted)]
    data = training_data(config, wojood=wojood_files(root), documents=groups)
    data.sources["gold pages"] = len(gold_ids - newer)
    data.sources["submitted pages"] = len(submitted)
    return data
