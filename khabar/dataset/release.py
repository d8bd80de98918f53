"""The release config: ``dataset/release.toml`` plus the version in ``dataset/VERSION``.

Both are read as every input is (a regular UTF-8 file, else one line naming it,
never waited on). The config's values are typed and range-checked by msgspec
against :class:`ReleaseFile`, whose ranges are what the code that uses each value
needs: a bad value is refused (exit 2) in one line naming the file, the key, the
value and what is expected, before any input is read.
"""

from __future__ import annotations

import hashlib
import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import msgspec

from khabar.dataset.layout import SINGLE_SPLIT, SPLIT_NAMES
from khabar.foundation import export_files
from khabar.foundation.errors import KhabarError

#: A release name becomes a folder name under dist/ and a Hub repository name: the Hub's
#: characters, starting with a letter or digit, so never a separator, a hidden name or "..".
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
#: semver.org's MAJOR.MINOR.PATCH (its core, without pre-release or build): no leading zeros, and ASCII
#: digits only (re.ASCII: Python's \d also matches other scripts' digits, and ٢.٠.٠ made dist/khabar-٢.٠.٠).
VERSION_PATTERN = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)", re.ASCII)
#: Who made the annotations, in the Hub's terms (huggingface_hub's DatasetCardData.annotations_creators).
ANNOTATIONS_CREATORS = ("found", "crowdsourced", "expert-generated", "machine-generated", "no-annotation", "other")
#: A split's share of the documents.
Ratio = Annotated[float, msgspec.Meta(gt=0, le=1)]


def check_repo_id(repo_id: str) -> str:
    """``repo_id`` if it is a Hub repository id with its namespace (ORG/NAME), else a KhabarError naming it."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise KhabarError(f"repository id {repo_id!r} is not ORG/NAME: {str(exc).splitlines()[0]}") from None
    if repo_id.count("/") != 1:
        raise KhabarError(f"repository id {repo_id!r} is not ORG/NAME: it needs its organisation or user")
    return repo_id


@dataclass(frozen=True)
class NearDuplicates:
    """The MinHash search for near-duplicate texts (:mod:`khabar.dataset.splits`); each range is what it needs."""

    #: the estimated Jaccard similarity at which two texts share a split: 0 would pair every two texts
    threshold: Annotated[float, msgspec.Meta(gt=0, le=1)]
    #: words per shingle: a shingle of no words hashes nothing (the signatures could not be shaped). The search holds
    #: each shingle of a slice of texts as that many word ids and words: a slice of 4,000 texts of 200 words took
    #: 1.2 s of CPU and 0.53 GB with 5, 1.9 s and 0.93 GB with 16, 4.5 s and 2.1 GB with 64. 16 words are a sentence:
    #: longer shingles find no more near-duplicates, they cost memory past the 1 GB a command keeps to
    shingle_words: Annotated[int, msgspec.Meta(ge=1, le=16)]
    #: hash values per text: LSH cuts them into two bands or more (MinHashLSH refuses a single band). Choosing the
    #: bands grows as num_perm² · log num_perm, every time this file is read: 0.64 s of CPU and 13 MB at 512, 5.3 s and
    #: 0.26 GB at 2,048, 40 s and 1.1 GB at 4,096; at 512 an estimated similarity is within ±0.022 (one standard
    #: error, √(¼/512)) already, finer than any threshold needs
    num_perm: Annotated[int, msgspec.Meta(ge=2, le=512)]
    #: of numpy's RandomState, which draws the permutations: it takes 0 to 2**32 - 1
    seed: Annotated[int, msgspec.Meta(ge=0, le=2**32 - 1)]


class ReleaseFile(msgspec.Struct):
    """``dataset/release.toml`` as its keys are typed (the ratios of ``splits`` are typed one by one, so that an
    error names the split)."""

    name: str
    repo_id: str
    pretty_name: str
    license: str
    annotations_creators: Annotated[list[str], msgspec.Meta(min_length=1)]
    splits: dict[str, Any]
    near_duplicates: NearDuplicates
    license_name: str = ""
    license_text: str = ""


@dataclass(frozen=True)
class Release:
    name: str
    repo_id: str  # ORG/NAME on the Hugging Face Hub
    pretty_name: str
    license: str
    license_name: str
    license_text: str
    annotations_creators: tuple[str, ...]
    version: str
    splits: tuple[tuple[str, float], ...]  # (name, ratio), in the config's order
    near_duplicates: NearDuplicates
    config_sha256: str = ""  # of the release config file, for the manifest

    @property
    def dirname(self) -> str:
        return f"{self.name}-{self.version}"

    @property
    def tag(self) -> str:
        return f"v{self.version}"


def read_version(path: Path) -> str:
    version = export_files.read_regular_text(path).strip()
    if not VERSION_PATTERN.fullmatch(version):
        raise KhabarError(f"version {version!r} is not MAJOR.MINOR.PATCH (semver: ASCII digits, no leading zeros)", file=str(path))
    return version


def load_release(path: Path | None = None, version_file: Path | None = None) -> Release:
    """The release config; by default the dataset repository's ``dataset/release.toml``.
    The version always comes from the repository's ``dataset/VERSION`` unless ``version_file`` is given."""
    from khabar.foundation.paths import repo

    path = path or repo().release_file
    version_file = version_file or repo().version_file
    text = export_files.read_regular_text(path)  # a FIFO refused, not waited on
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise KhabarError(f"not a TOML release config: {exc}", file=str(path)) from None
    config = _typed(raw, ReleaseFile, path)
    splits = tuple((name, _typed(ratio, Ratio, path, key=f"splits.{name}")) for name, ratio in config.splits.items())
    if not NAME_PATTERN.fullmatch(config.name) or ".." in config.name:
        raise KhabarError(
            f"name {config.name!r} is not a folder name: letters, digits, '.', '_' and '-', starting with a letter or digit, no '..'",
            file=str(path),
        )
    try:
        check_repo_id(config.repo_id)
    except KhabarError as exc:
        raise KhabarError(f"repo_id: {exc}", file=str(path)) from None
    unknown_creators = [creator for creator in config.annotations_creators if creator not in ANNOTATIONS_CREATORS]
    if unknown_creators:
        raise KhabarError(
            f"annotations_creators: {unknown_creators[0]!r} is not one of the Hub's terms: {', '.join(ANNOTATIONS_CREATORS)}", file=str(path)
        )
    unknown = [name for name, _ in splits if name not in SPLIT_NAMES]
    if unknown:
        raise KhabarError(f"unknown split {unknown[0]!r}: split names must be among {', '.join(SPLIT_NAMES)}", file=str(path))
    if SINGLE_SPLIT not in dict(splits):
        raise KhabarError(f"the splits must include {SINGLE_SPLIT!r}; found {', '.join(dict(splits))}", file=str(path))
    if not math.isclose(sum(r for _, r in splits), 1.0):
        raise KhabarError(f"split ratios must sum to 1, got {dict(splits)}", file=str(path))
    from khabar.dataset.lsh import lsh_bands  # numpy: not for every command's start-up

    try:
        lsh_bands(config.near_duplicates.threshold, config.near_duplicates.num_perm)  # at num_perm = 128: 50 ms, 16 ms once numpy has run it
    except KhabarError as exc:
        raise KhabarError(exc.message, file=str(path)) from None
    return Release(
        name=config.name,
        repo_id=config.repo_id,
        pretty_name=config.pretty_name,
        license=config.license,
        license_name=config.license_name,
        license_text=config.license_text.lstrip("\n"),
        annotations_creators=tuple(config.annotations_creators),
        version=read_version(version_file),
        splits=splits,
        near_duplicates=config.near_duplicates,
        config_sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),  # the file's bytes: UTF-8 decodes one way
    )


def _typed(value: object, kind: Any, path: Path, key: str = "") -> Any:
    """``value`` (at ``key`` of the config at ``path``; the whole config without one) as the type ``kind``,
    its ranges checked; else a KhabarError (exit 2) in one line (:func:`_bad_value`)."""
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError as exc:
        raise KhabarError(_bad_value(str(exc), value, key), file=str(path)) from None


def _bad_value(error: str, value: object, key: str) -> str:
    """msgspec's ``error`` about ``value`` in the config's terms: the key, the value found there, what is expected."""
    reason, _, at = error.partition(" - at `$")  # "Expected `int` >= 2", ".near_duplicates.num_perm`"
    at = at.removesuffix("`")
    reason = reason[0].lower() + reason[1:].replace("`object`", "`table`")  # a table, as TOML names it
    where = (key + at).lstrip(".")
    if missing := re.fullmatch(r"object missing required field `(.+)`", reason):
        return f"missing key {'.'.join(filter(None, (where, missing[1])))!r} in the release config"
    found: Any = value
    for name, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", at):
        found = found[name] if name else found[int(index)]
    return f"{where} = {found!r}: {reason}"
