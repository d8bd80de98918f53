"""Leakage-free splits: a story, or a set of near-duplicate texts, stays in one split.

Documents are grouped by their ``story`` and by MinHash near-duplicates (word
shingles; the same quote is reprinted by several outlets), groups are ordered by
a hash of their members and dealt to the splits of the release config by
document share. A corpus with fewer groups than splits (or one that leaves a
split empty) goes whole to the single split ``test``, and the plan says why.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from datasketch import MinHash, MinHashLSH

from dataset.release import SINGLE_SPLIT, NearDuplicates, Release


@dataclass(frozen=True)
class SplitPlan:
    assignment: tuple[tuple[str, str], ...]  # (doc_id, split), sorted by doc_id
    groups: tuple[tuple[str, ...], ...]
    near_duplicates: tuple[tuple[str, str, float], ...]  # (doc_a, doc_b, estimated Jaccard)
    reason: str  # why the corpus is in a single split; "" when it is split

    @property
    def split_of(self) -> dict[str, str]:
        return dict(self.assignment)


def shingles(text: str, size: int) -> set[str]:
    words = text.split()
    if len(words) <= size:
        return {" ".join(words)}
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


def near_duplicate_pairs(texts: Mapping[str, str], config: NearDuplicates) -> list[tuple[str, str, float]]:
    hashes: dict[str, MinHash] = {}
    lsh = MinHashLSH(threshold=config.threshold, num_perm=config.num_perm)
    template = MinHash(num_perm=config.num_perm, seed=config.seed)  # its permutations are made once, not per document
    for doc_id in sorted(texts):
        minhash = MinHash(num_perm=config.num_perm, seed=config.seed, permutations=template.permutations, scheme=template.scheme)
        minhash.update_batch([s.encode("utf-8") for s in sorted(shingles(texts[doc_id], config.shingle_words))])
        hashes[doc_id] = minhash
        lsh.insert(doc_id, minhash)
    pairs = []
    for doc_id in sorted(hashes):
        for other in sorted(lsh.query(hashes[doc_id])):
            if other > doc_id:
                similarity = hashes[doc_id].jaccard(hashes[other])
                if similarity >= config.threshold:
                    pairs.append((doc_id, other, round(similarity, 4)))
    return pairs


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
