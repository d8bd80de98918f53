"""What a model learns from: every sentence of its sources up to ``max_tokens`` tokens, past that a fixed sample."""

from __future__ import annotations

import random
from itertools import accumulate

import pytest

from khabar.model.corpus import Alignment, wojood_dir, wojood_sentences
from khabar.model.train import TrainConfig, TrainingData, current_model_dir, read_info
from tests.model.model_support import SOURCE, small_repo


def _sentences():
    return wojood_sentences(wojood_dir(SOURCE) / "val.txt", Alignment(), split_proclitics=True)


def _key(sentence) -> tuple:
    return (tuple(t.text for t in sentence.tokens), sentence.tags)


@pytest.mark.parametrize("share", [0.1, 1 / 3, 0.9])
def test_past_the_budget_the_sample_is_the_longest_run_of_the_ranking_that_fits_in_whatever_order_it_is_read(share):
    """Kept in one pass with a heap; held to the ranking made by sorting every sentence at once."""
    sentences = _sentences()
    budget = int(sum(len(s.tokens) for s in sentences) * share)
    forward = TrainingData(TrainConfig(max_tokens=budget))
    forward.add("val", sentences)
    shuffled = list(sentences)
    random.Random(7).shuffle(shuffled)
    any_order = TrainingData(TrainConfig(max_tokens=budget))
    any_order.add("val", shuffled)

    ranked = sorted(range(len(sentences)), key=lambda i: (sentences[i].digest, i))
    used = list(accumulate(len(sentences[i].tokens) for i in ranked))  # rising: every sentence has a token
    fits = ranked[: sum(1 for tokens in used if tokens <= budget)]
    assert forward.sentences == [sentences[i] for i in sorted(fits)]  # the run of the ranking, learnt in reading order
    assert 0 < forward.tokens <= budget < forward.tokens + len(sentences[ranked[len(fits)]].tokens)
    assert sorted(map(_key, any_order.sentences)) == sorted(map(_key, forward.sentences))
    assert forward.learnt() == {"val": len(fits)} and forward.sources == {"val": len(sentences)} and forward.read == len(sentences)
    assert forward.digest().hexdigest() != TrainingData(TrainConfig()).digest().hexdigest()


def test_within_the_budget_every_sentence_is_learnt_in_the_order_read():
    sentences = _sentences()
    data = TrainingData(TrainConfig(max_tokens=sum(len(s.tokens) for s in sentences)))
    data.add("a", sentences[:50])
    data.add("b", sentences[50:])
    assert data.sentences == sentences and data.learnt() == {"a": 50, "b": len(sentences) - 50}


def test_pages_annotators_submitted_are_learnt_before_any_other_sentence():
    sentences = _sentences()
    submitted, others = sentences[:40], sentences[40:]
    budget = sum(len(s.tokens) for s in submitted) + 200
    data = TrainingData(TrainConfig(max_tokens=budget))
    data.add("gold", others)
    data.add("submitted", submitted, submitted=True)
    assert data.learnt()["submitted"] == 40 and 0 < data.learnt()["gold"] < len(others)
    assert data.sentences[-40:] == submitted  # read last, learnt last


def test_khabar_train_past_its_budget_says_so_and_records_what_it_learnt(tmp_path, khabar):
    root = small_repo(tmp_path / "repo")
    run = khabar("--root", str(root), "train", "--max-tokens", "1500")
    assert run.status == 0, run.err
    assert "(a sample: the sources hold more than --max-tokens 1,500 tokens)" in run.out
    info = read_info(current_model_dir(root))
    assert info.config.max_tokens == 1500
    assert sum(info.learnt.values()) < sum(info.sources.values()) and set(info.learnt) == set(info.sources)


def test_khabar_train_refuses_a_budget_below_one_token(tmp_path, khabar):
    run = khabar("--root", str(small_repo(tmp_path / "repo")), "train", "--max-tokens", "0")
    assert run.status == 2 and run.err.count("\n") == 1 and "--max-tokens must be at least 1, not 0" in run.err
