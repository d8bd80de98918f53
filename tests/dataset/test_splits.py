"""Leakage-free splits: stories and near-duplicates stay together; small corpora go to `test`."""

from __future__ import annotations

from dataclasses import replace

import msgspec
import numpy as np
import polars as pl
import pytest
from datasketch import MinHash, MinHashLSH
from hypothesis import given
from hypothesis import strategies as st

from khabar.dataset import splits
from khabar.dataset.lsh import lsh_bands
from khabar.dataset.release import NearDuplicates, load_release
from khabar.dataset.splits import group_documents, leakage, minhash_signatures, near_duplicate_pairs, permutations, plan_splits
from khabar.foundation.errors import KhabarError

WORDS = "قالت السفيرة الأميركية في بغداد إن التحالف ضد داعش لم ينته عمله في العراق وإن التنظيم لا يزال يمثل تهديدا".split()


def article(seed: int, length: int = 120) -> str:
    return " ".join(WORDS[(i * seed + i // 3) % len(WORDS)] + str((i * seed) % 97) for i in range(length))


def test_reprinted_text_is_a_near_duplicate_and_distinct_texts_are_not():
    original = article(7)
    reprint = "المصدر: وكالة. " + original.replace(WORDS[0] + "0", "أكدت", 1)
    texts = {"a": original, "b": reprint, "c": article(11), "d": article(13)}
    pairs = near_duplicate_pairs(texts, load_release().near_duplicates)
    assert [(a, b) for a, b, _ in pairs] == [("a", "b")]
    assert pairs[0][2] >= 0.5


def test_small_corpus_goes_to_a_single_test_split_with_a_reason():
    release = load_release()
    texts = {f"d{i}": article(i + 3) for i in range(5)}
    plan = plan_splits(texts, {d: "one-story" for d in texts}, release)
    assert set(plan.split_of.values()) == {"test"}
    assert "1 group" in plan.reason and "single split 'test'" in plan.reason


def test_groups_never_cross_splits():
    release = replace(load_release(), splits=(("train", 0.6), ("validation", 0.2), ("test", 0.2)))
    texts = {f"d{i}": article(i + 3) for i in range(10)}
    texts["d9"] = texts["d0"] + " " + WORDS[1]  # a reprint of d0 under another story
    stories = {d: f"story-{i // 2}" for i, d in enumerate(sorted(texts))}
    plan = plan_splits(texts, stories, release)
    assert plan.reason == ""
    assert set(plan.split_of.values()) == {"train", "validation", "test"}
    assert ("d0", "d9") in {(a, b) for a, b, _ in plan.near_duplicates}
    assert leakage(plan.split_of, stories, plan.near_duplicates) == []
    assert plan.split_of["d0"] == plan.split_of["d1"] == plan.split_of["d9"] == plan.split_of["d8"]
    assert plan == plan_splits(texts, stories, release)  # deterministic


def test_leakage_check_reports_what_crosses():
    stories = {"a": "s1", "b": "s1", "c": "s2", "d": "s3"}
    split_of = {"a": "train", "b": "test", "c": "train", "d": "test"}
    problems = leakage(split_of, stories, [("c", "d", 0.9)])
    assert problems == ["story 's1' is in splits test, train", "near-duplicates c and d (Jaccard ≈ 0.9) are in train and test"]


def test_union_of_stories_and_pairs():
    groups = group_documents({"a": "s1", "b": "s2", "c": "s2", "d": "s3"}, [("a", "d", 0.7)])
    assert groups == [("a", "d"), ("b", "c")]


def datasketch_minhash(text: str, config) -> MinHash:
    """The MinHash of a text's word shingles, made one text at a time by datasketch itself."""
    words = text.split()
    size = config.shingle_words
    shingles = {" ".join(words)} if len(words) <= size else {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}
    minhash = MinHash(num_perm=config.num_perm, seed=config.seed)
    minhash.update_batch([s.encode("utf-8") for s in shingles])
    return minhash


@pytest.mark.parametrize("changes", [{}, {"seed": 7, "num_perm": 64, "shingle_words": 3}, {"seed": 12345, "num_perm": 200, "shingle_words": 1}])
def test_signatures_are_datasketchs_for_any_whitespace_and_length(changes):
    config = replace(load_release().near_duplicates, **changes)
    texts = [
        article(7),
        article(7) + " " + article(7),  # every shingle twice
        " \t" + article(11, 9).replace(" ", "\n\u00a0", 3) + "\u2028",  # Unicode whitespace, leading and trailing
        "كلمة\x1cكلمة\u3000أخرى",  # \x1c splits words too
        "ثلاث كلمات فقط",  # fewer words than a shingle
        " ".join(WORDS[:5]),  # exactly one shingle
        "",
        "   ",
    ]
    signatures = minhash_signatures(texts, config)
    assert signatures.shape == (len(texts), config.num_perm)
    for text, signature in zip(texts, signatures):
        assert signature.tolist() == datasketch_minhash(text, config).hashvalues.tolist()


@pytest.mark.parametrize("signature_bytes", [splits.SIGNATURE_BYTES, 1, 5_000])
def test_pairs_are_those_minhash_lsh_finds(signature_bytes, monkeypatch):
    """Whatever the bytes of text whose signatures are made at once (one text at a time, a few, all)."""
    monkeypatch.setattr(splits, "SIGNATURE_BYTES", signature_bytes)
    config = load_release().near_duplicates
    texts = {f"a{seed:02}": article(seed) for seed in range(3, 23)}
    for seed, step in zip(range(3, 23, 2), (6, 8, 10, 12, 14, 16, 20, 30, 60, 120)):  # reprints, every step-th word changed
        words = texts[f"a{seed:02}"].split()
        words[::step] = ["تعديل"] * len(words[::step])
        texts[f"b{seed:02}"] = " ".join(words)
    minhashes = {doc_id: datasketch_minhash(text, config) for doc_id, text in texts.items()}
    lsh = MinHashLSH(threshold=config.threshold, num_perm=config.num_perm)
    for doc_id, minhash in minhashes.items():
        lsh.insert(doc_id, minhash)
    expected = sorted(
        (a, b, round(minhashes[a].jaccard(minhashes[b]), 4))
        for a in minhashes
        for b in lsh.query(minhashes[a])
        if a < b and minhashes[a].jaccard(minhashes[b]) >= config.threshold
    )
    candidates = {(a, b) for a in minhashes for b in lsh.query(minhashes[a]) if a < b}
    assert len(candidates) > len(expected) > 3  # LSH found pairs below the threshold too
    assert near_duplicate_pairs(texts, config) == expected


@pytest.mark.parametrize("seed", [0, 1, 42, 2**32 - 1])
def test_permutations_are_datasketchs(seed):
    a, b = MinHash(num_perm=256, seed=seed, scheme="affine32").permutations
    ours = permutations(256, seed)
    assert ours[0].dtype == ours[1].dtype == np.uint32
    assert ours[0].tolist() == a.tolist() and ours[1].tolist() == b.tolist()


@pytest.mark.parametrize("num_perm", [2, 16, 128, 256])
def test_bands_are_minhash_lshs(num_perm):
    """MinHashLSH's bands for a threshold every 0.05 (and the configured one); where it refuses (one band), so do we."""
    thresholds = sorted({load_release().near_duplicates.threshold, *np.round(np.arange(0.05, 1.0001, 0.05), 2).tolist()})
    refused = 0
    for threshold in thresholds:
        try:
            expected = MinHashLSH(threshold=threshold, num_perm=num_perm).hashranges
        except ValueError as exc:
            assert "b < 2" in str(exc)
            with pytest.raises(KhabarError, match=f"threshold of {threshold} with num_perm = {num_perm} gives LSH a single band"):
                lsh_bands(threshold, num_perm)
            refused += 1
            continue
        assert lsh_bands(threshold, num_perm) == expected, threshold
    assert refused < len(thresholds)


def test_the_largest_num_perm_the_release_config_takes_gives_minhash_lshs_bands():
    """The bound of ``num_perm`` (its cost: :class:`khabar.dataset.release.NearDuplicates`) is still a value whose bands
    are datasketch's, at the configured threshold."""
    [largest] = [field.type.le for field in msgspec.inspect.type_info(NearDuplicates).fields if field.name == "num_perm"]
    threshold = load_release().near_duplicates.threshold
    assert lsh_bands(threshold, largest) == MinHashLSH(threshold=threshold, num_perm=largest).hashranges


def test_words_are_those_of_str_split_for_every_whitespace_character():
    """Arrow's whitespace split, its empty words dropped, against ``str.split()``: every character Python splits on,
    leading, trailing, repeated, and texts with no word at all."""
    import sys

    from khabar.dataset.splits import _word_ids

    spaces = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
    texts = [f"{s}a{s}{s}b{s}" for s in spaces] + ["", " ", "كلمة", "\x1cأ\x1f ب\u2029"]
    ids, vocabulary, lengths = _word_ids(texts)
    words = vocabulary.to_list()
    assert [words[i] for i in ids] == [w for text in texts for w in text.split()]
    assert lengths.tolist() == [len(text.split()) for text in texts]


@given(st.lists(st.text(alphabet="اب ت\u0663", max_size=12), max_size=30), st.integers(1, 40))
def test_texts_cut_within_a_budget_of_bytes_are_all_there_in_order(texts, budget):
    series = pl.Series(texts, dtype=pl.String)
    parts = splits._within_bytes(series, budget)
    assert [text for part in parts for text in part.to_list()] == texts and len(parts) >= 1
    for part in parts:
        assert len(part) == 1 or sum(len(t.encode()) for t in part) <= budget
    for part, after in zip(parts, parts[1:]):  # a part ends only where the next text would go over the budget
        assert sum(len(t.encode()) for t in part) + len(after[0].encode()) > budget
