"""Leakage-free splits: a story, or a set of near-duplicate texts, stays in one split.

Documents are grouped by their ``story`` and by MinHash near-duplicates (word
shingles; the same quote is reprinted by several outlets), groups are ordered by
a hash of their members and dealt to the splits of the release config by
document share. A corpus with fewer groups than splits (or one that leaves a
split empty) goes whole to the single split ``test``, and the plan says why.

The MinHash signatures are those of datasketch's ``MinHash`` (its default
"affine32" scheme) updated with each shingle's UTF-8 bytes, computed for all
documents at once (each distinct shingle hashed once), and the candidate pairs
are those that a ``MinHashLSH`` of the same threshold would return. The hash
and the permutations are written here with numpy, the choice of bands in
:mod:`khabar.dataset.lsh`, and the tests compare them with datasketch's own:
importing datasketch pulls scipy (0.5 s CPU of every build, for one integral). The datasketch version the
manifest records is the one the tests compare with.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from numpy.lib.stride_tricks import sliding_window_view

from khabar.dataset.layout import SINGLE_SPLIT
from khabar.dataset.lsh import lsh_bands
from khabar.dataset.release import NearDuplicates, Release
from khabar.gold.inputs import FrameTexts


@dataclass(frozen=True)
class SplitPlan:
    assignment: tuple[tuple[str, str], ...]  # (doc_id, split), sorted by doc_id
    groups: tuple[tuple[str, ...], ...]
    near_duplicates: tuple[tuple[str, str, float], ...]  # (doc_a, doc_b, estimated Jaccard)
    reason: str  # why the corpus is in a single split; "" when it is split

    @property
    def split_of(self) -> dict[str, str]:
        return dict(self.assignment)


def _arrow_texts(texts: Sequence[str] | pl.Series) -> pa.Array:
    """The texts as one arrow array: a polars column's own UTF-8, without a Python string per text (1M span
    results, 12,966 texts: the plan's CPU 0.87 → 0.72 s)."""
    return texts.to_arrow() if isinstance(texts, pl.Series) else pa.array(texts, pa.string())


def _word_ids(texts: Sequence[str] | pl.Series) -> tuple[np.ndarray, pl.Series, np.ndarray]:
    """Every word of the texts as an id (text after text), the words the ids stand for, and each text's word count.

    A word is what ``str.split()`` makes: Arrow's ``utf8_split_whitespace`` splits on the same characters (all
    of Unicode compared), but keeps an empty word before leading and after trailing whitespace (1M span results,
    4,000 texts: 0.038 s CPU, 0.077 s by a regular expression's matches).
    """
    split = pc.utf8_split_whitespace(_arrow_texts(texts))  # type: ignore[attr-defined]
    words, text = split.flatten(), pc.list_parent_indices(split).to_numpy()  # type: ignore[attr-defined]
    kept = pc.not_equal(pc.binary_length(words), 0)  # type: ignore[attr-defined]
    encoded = words.filter(kept).dictionary_encode()
    lengths = np.bincount(text[kept.to_numpy(zero_copy_only=False)], minlength=len(texts)).astype(np.int64)
    return encoded.indices.to_numpy(), pl.Series(encoded.dictionary), lengths


def _windows(word_ids: np.ndarray, lengths: np.ndarray, size: int, padding: int) -> tuple[np.ndarray, np.ndarray]:
    """The shingles of every text as rows of ``size`` word ids, and each text's shingle count.

    A text of at most ``size`` words is one shingle, padded with ``padding`` after its words.
    """
    counts = np.maximum(lengths - size + 1, 1)
    starts = np.cumsum(counts) - counts  # each text's first row
    first_words = np.repeat(np.cumsum(lengths) - lengths - starts, counts) + np.arange(counts.sum())
    rows = sliding_window_view(np.append(word_ids, np.full(size, padding)).astype(np.int32), size)[first_words]
    short = np.flatnonzero(lengths < size)  # their one row ran on into the next text's words
    rows[starts[short]] = np.where(np.arange(size) < lengths[short, None], rows[starts[short]], padding)
    return rows, counts


def _distinct_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of a C-contiguous int32 matrix, and the index into them of every row."""
    width = rows.shape[1]
    as_values = pa.FixedSizeBinaryArray.from_buffers(pa.binary(rows.itemsize * width), len(rows), [None, pa.py_buffer(rows)])
    encoded = as_values.dictionary_encode()
    distinct = np.frombuffer(encoded.dictionary.buffers()[1], dtype=np.int32, count=len(encoded.dictionary) * width)
    return distinct.reshape(-1, width), encoded.indices.to_numpy()


def sha1_hash32(shingles: Sequence[bytes]) -> np.ndarray:
    """Each shingle's hash: the first 4 bytes of its SHA-1, little-endian (datasketch's ``sha1_hash32``)."""
    # whole digests joined, their first 4 bytes taken by numpy (a slice per digest in Python cost a third more)
    digests = np.frombuffer(b"".join([hashlib.sha1(shingle).digest() for shingle in shingles]), dtype=np.uint8).reshape(-1, 20)
    return np.ascontiguousarray(digests[:, :4]).view("<u4").ravel().astype(np.uint32)


def fmix32(hashes: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, which affine32 applies to each hash once (uint32 arithmetic wraps, as meant)."""
    hashes = hashes ^ (hashes >> np.uint32(16))
    hashes = hashes * np.uint32(0x85EBCA6B)
    hashes = hashes ^ (hashes >> np.uint32(13))
    hashes = hashes * np.uint32(0xC2B2AE35)
    return hashes ^ (hashes >> np.uint32(16))


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The affine permutations h → a·h + b mod 2³² of ``MinHash(num_perm, seed, scheme="affine32")``: odd ``a``, any ``b``.

    Drawn from numpy's ``RandomState``, whose streams numpy keeps unchanged across versions.
    """
    generator = np.random.RandomState(seed)
    a = generator.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = generator.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def minhash_signatures(texts: Sequence[str] | pl.Series, config: NearDuplicates) -> np.ndarray:
    """Each text's MinHash hash values, one row per text.

    A row equals the ``hashvalues`` of ``MinHash(num_perm, seed, scheme="affine32")`` updated with the
    UTF-8 bytes of the text's shingles (``size`` consecutive words joined by a space; a text of at most
    ``size`` words is one shingle), but each distinct shingle is hashed once for the whole corpus.
    """
    size = config.shingle_words
    word_ids, vocabulary, lengths = _word_ids(texts)
    rows, counts = _windows(word_ids, lengths, size, padding=len(vocabulary))
    distinct, index = _distinct_rows(rows)
    vocabulary = vocabulary.append(pl.Series([None], dtype=pl.String))  # the padding id stands for no word
    shingles = pl.DataFrame([vocabulary.gather(distinct[:, j]).alias(str(j)) for j in range(size)]).select(
        pl.concat_str(pl.all(), separator=" ", ignore_nulls=True).cast(pl.Binary)
    )
    hashes = sha1_hash32(shingles.to_series().to_list())
    a, b = permutations(config.num_perm, config.seed)
    mixed = fmix32(hashes)[index]  # affine32 mixes each hash once, then permutes it as a * h + b mod 2**32
    starts = np.cumsum(counts) - counts  # each text's first shingle (every text has one, as reduceat needs)
    signatures = np.empty((config.num_perm, len(texts)), dtype=np.uint32)
    for permutation, (a_k, b_k) in enumerate(zip(a, b)):
        signatures[permutation] = np.minimum.reduceat(a_k * mixed + b_k, starts)
    return signatures.T


def _candidate_pairs(signatures: np.ndarray, bands: Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Row pairs (a < b) whose signatures are equal on every value of at least one band, as ``MinHashLSH.query`` finds them."""
    bands_of_rows = (pl.DataFrame(signatures[:, start:stop], orient="row").with_row_index("row") for start, stop in bands)
    buckets = (
        pl.concat(band.group_by(pl.exclude("row")).agg("row").select("row") for band in bands_of_rows)
        .filter(pl.col("row").list.len() > 1)
        .with_row_index("bucket")
        .explode("row")
    )
    pairs = buckets.join(buckets, on="bucket").filter(pl.col("row") < pl.col("row_right")).select("row", "row_right").unique()
    return pairs["row"].to_numpy(), pairs["row_right"].to_numpy()


#: The texts whose MinHash signatures are made at once: at most this many, and at most this many bytes of text (a
#: text longer than that alone), and the candidate pairs compared at once (see :func:`near_duplicate_pairs`).
SIGNATURE_TEXTS = 4_000
SIGNATURE_BYTES = 4_000_000
PAIRS = 50_000


def near_duplicate_pairs(texts: Mapping[str, str], config: NearDuplicates) -> list[tuple[str, str, float]]:
    """Document pairs (a < b) that LSH finds and whose estimated Jaccard similarity reaches the threshold."""
    doc_ids = sorted(texts)
    # a row depends on its own text alone, so the signatures are made a slice of texts at a time: only a
    # slice's texts and shingles are ever in memory (3M span results, 38,776 texts, the texts given as
    # :class:`FrameTexts`: the plan's peak above its inputs 0.69 GB → 0.21 GB, the same CPU). A slice's memory
    # follows its words, not its texts, when their shingles are all distinct, as a news text's are: 4,000 texts
    # of 700 words (the committed pages' length, random Arabic words), 34 MB, peaked at 1.56 GB and 6.0 s of
    # CPU; in slices of at most 4 MB of text, 0.52 GB and 3.4 s (8 MB: 0.75 GB; 2 MB: 0.40 GB, the same CPU)
    slices = range(0, len(doc_ids), SIGNATURE_TEXTS) if doc_ids else range(1)
    signatures = np.concatenate([
        minhash_signatures(part, config)
        for i in slices
        for part in _within_bytes(_texts_of(texts, doc_ids[i : i + SIGNATURE_TEXTS]), SIGNATURE_BYTES)
    ])
    a, b = _candidate_pairs(signatures, lsh_bands(config.threshold, config.num_perm))
    # MinHash.jaccard, a slice of candidate pairs at a time: each pair copies its two signatures
    agreeing = [np.count_nonzero(signatures[a[i : i + PAIRS]] == signatures[b[i : i + PAIRS]], axis=1) for i in range(0, len(a), PAIRS)]
    similarities = (np.concatenate(agreeing) if agreeing else np.zeros(0)) / config.num_perm
    return sorted(
        (doc_ids[i], doc_ids[j], round(similarity, 4))
        for i, j, similarity in zip(a.tolist(), b.tolist(), similarities.tolist())
        if similarity >= config.threshold
    )


def _texts_of(texts: Mapping[str, str], doc_ids: Sequence[str]) -> pl.Series:
    """The texts of ``doc_ids``, in that order: from a :class:`FrameTexts` by one gather, not a lookup each."""
    return texts.gather(doc_ids) if isinstance(texts, FrameTexts) else pl.Series([texts[d] for d in doc_ids], dtype=pl.String)


def _within_bytes(texts: pl.Series, budget: int) -> list[pl.Series]:
    """``texts`` cut into consecutive parts of at most ``budget`` bytes of UTF-8 (a longer text a part alone)."""
    ends = texts.str.len_bytes().fill_null(0).cum_sum().to_numpy()
    parts, start = [], 0
    while start < len(texts):
        before = ends[start - 1] if start else 0
        stop = max(int(np.searchsorted(ends, before + budget, side="right")), start + 1)
        parts.append(texts.slice(start, stop - start))
        start = stop
    return parts or [texts]


def group_documents(stories: Mapping[str, str], pairs: Sequence[tuple[str, str, float]]) -> list[tuple[str, ...]]:
    """Connected components of "same story" and "near-duplicate" (union-find)."""
    parent = {doc_id: doc_id for doc_id in stories}

    def root(doc_id: str) -> str:
        while parent[doc_id] != doc_id:
            parent[doc_id] = parent[parent[doc_id]]
            doc_id = parent[doc_id]
        return doc_id

    def union(a: str, b: str) -> None:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    first_of_story: dict[str, str] = {}
    for doc_id in sorted(stories):
        union(doc_id, first_of_story.setdefault(stories[doc_id], doc_id))
    for a, b, _ in pairs:
        union(a, b)
    groups: dict[str, list[str]] = {}
    for doc_id in sorted(stories):
        groups.setdefault(root(doc_id), []).append(doc_id)
    return sorted(tuple(g) for g in groups.values())


def plan_splits(texts: Mapping[str, str], stories: Mapping[str, str], release: Release) -> SplitPlan:
    pairs = near_duplicate_pairs(texts, release.near_duplicates)
    groups = group_documents(stories, pairs)
    names = [name for name, _ in release.splits]
    total = sum(len(g) for g in groups)

    def single(reason: str) -> SplitPlan:
        return SplitPlan(tuple((d, SINGLE_SPLIT) for d in sorted(stories)), tuple(groups), tuple(pairs), reason)

    if len(groups) < len(names):
        return single(
            f"the {total} documents form {len(groups)} group(s) of one story or near-duplicate texts, "
            f"fewer than the {len(names)} splits ({', '.join(names)}) of the release config, so every document is in "
            f"the single split '{SINGLE_SPLIT}'"
        )
    assigned = {name: 0 for name in names}
    assignment: dict[str, str] = {}
    for group in sorted(groups, key=lambda g: hashlib.sha256("\n".join(g).encode()).hexdigest()):
        deficits = [(ratio * total - assigned[name], -i, name) for i, (name, ratio) in enumerate(release.splits)]
        name = max(deficits)[2]
        assigned[name] += len(group)
        assignment.update({doc_id: name for doc_id in group})
    empty = [name for name, count in assigned.items() if count == 0]
    if empty:
        return single(
            f"dealing the {len(groups)} groups of {total} documents by the ratios {dict(release.splits)} leaves "
            f"{', '.join(empty)} empty, so every document is in the single split '{SINGLE_SPLIT}'"
        )
    return SplitPlan(tuple(sorted(assignment.items())), tuple(groups), tuple(pairs), "")


def leakage(split_of: Mapping[str, str], stories: Mapping[str, str], pairs: Sequence[tuple[str, str, float]]) -> list[str]:
    """Every story and near-duplicate pair that crosses splits (empty when there is no leakage)."""
    problems = []
    by_story: dict[str, set[str]] = {}
    for doc_id, story in stories.items():
        if doc_id in split_of:
            by_story.setdefault(story, set()).add(split_of[doc_id])
    problems += [f"story {story!r} is in splits {', '.join(sorted(s))}" for story, s in sorted(by_story.items()) if len(s) > 1]
    problems += [
        f"near-duplicates {a} and {b} (Jaccard ≈ {sim}) are in {split_of[a]} and {split_of[b]}"
        for a, b, sim in pairs
        if a in split_of and b in split_of and split_of[a] != split_of[b]
    ]
    return problems
