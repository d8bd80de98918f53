"""Entities of a text from a trained model, and Label Studio predictions for documents.

Each level's CRF tags the sentences where the level around it found an
entity. An entity's score is the mean of the CRF's marginal probabilities of
its tags (B-X, I-X, ...): the model's own confidence, between 0 and 1.
Attribution and zones come from the rules (:mod:`khabar.annotation.preannotate`),
each result scored with its rule's precision measured on the gold.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from khabar.annotation.results import labels_result
from khabar.annotation.scheme import Scheme, load_scheme
from khabar.annotation.tags import BEGIN, INSIDE, OUTSIDE
from khabar.foundation.errors import KhabarError
from khabar.model.features import sentence_features
from khabar.model.tokens import Token, sentences
from khabar.model.train import ModelInfo, level_file, model_file_problem, read_info


@dataclass(frozen=True)
class Predicted:
    start: int
    end: int
    label: str
    level: int
    score: float


def _spans(tags: list[str]) -> list[tuple[int, int, str]]:
    found = []
    open_at: tuple[int, str] | None = None
    for i, tag in enumerate([*tags, OUTSIDE]):
        if open_at is not None and not (tag.startswith(INSIDE) and tag[2:] == open_at[1]):
            found.append((open_at[0], i, open_at[1]))
            open_at = None
        if tag.startswith(BEGIN) or (tag.startswith(INSIDE) and open_at is None):
            open_at = (i, tag[2:])
    return found


class EntityModel:
    """A trained model folder, its taggers opened once."""

    def __init__(self, model_dir: Path) -> None:
        import pycrfsuite

        self.info: ModelInfo = read_info(model_dir)
        self.taggers = []
        for level in range(self.info.levels):
            path = level_file(model_dir, level)
            problem = model_file_problem(path)  # CRFsuite may crash on a file cut short: checked before it opens one
            if problem is not None:
                raise KhabarError(f"cannot open the model ({problem})", file=str(path))
            tagger = pycrfsuite.Tagger()
            try:
                tagger.open(str(path))
            except (OSError, ValueError) as exc:
                raise KhabarError(f"cannot open the model ({exc})", file=str(path)) from None
            self.taggers.append(tagger)

    @property
    def version(self) -> str:
        return self.info.version

    def tag_sentence(self, tokens: list[Token]) -> list[Predicted]:
        found: list[Predicted] = []
        outer: list[str] | None = None
        for level, tagger in enumerate(self.taggers):
            if outer is not None and all(tag == OUTSIDE for tag in outer):
                break
            tagger.set(sentence_features(tokens, outer))
            tags = tagger.tag()
            for start, end, label in _spans(tags):
                score = sum(tagger.marginal(tags[i], i) for i in range(start, end)) / (end - start)
                found.append(Predicted(tokens[start].start, tokens[end - 1].end, label, level, round(score, 4)))
            outer = tags
        return found

    def predict(self, text: str) -> list[Predicted]:
        found: list[Predicted] = []
        for group in sentences(text, split_proclitics=self.info.config.split_proclitics):
            found += self.tag_sentence(group)
        # the same extent and label found at two levels is one entity
        unique = {(p.start, p.end, p.label): p for p in sorted(found, key=lambda p: (p.start, -p.end, -p.level))}
        return sorted(unique.values(), key=lambda p: (p.start, -p.end, p.level))


def entity_results(text: str, predicted: list[Predicted], scheme: Scheme) -> list[dict]:
    from khabar.annotation.preannotate import Span

    layer = scheme.entity.name
    return [
        labels_result(
            text, region_id=Span(layer, p.label, p.start, p.end).region_id, from_name=layer, to_name=scheme.text_name,
            start=p.start, end=p.end, label=p.label,
        ) | {"score": p.score}
        for p in predicted
    ]


def prediction(text: str, model: EntityModel) -> dict:
    """One Label Studio prediction for a text: the model's entities and the rules' attribution and zones."""
    from khabar.annotation.preannotate import scored_rule_results

    results = entity_results(text, model.predict(text), load_scheme()) + scored_rule_results(text)
    scores = [r["score"] for r in results if "score" in r]
    return {"model_version": model.version, "score": round(sum(scores) / len(scores), 4) if scores else 0.0, "result": results}
