"""The release config: ``dataset/release.toml`` plus the version in ``dataset/VERSION``."""

from __future__ import annotations

import hashlib
import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from khabar.dataset.layout import SINGLE_SPLIT, SPLIT_NAMES
from khabar.foundation import export_files
from khabar.foundation.errors import KhabarError

#: A release name becomes a folder name under dist/ and a Hub repository name: the Hub's
#: characters, starting with a letter or digit, so never a separator, a hidden name or "..".
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")


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
    threshold: float
    shingle_words: int
    num_perm: int
    seed: int


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
    version = path.read_text(encoding="utf-8").strip()
    parts = version.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise KhabarError(f"version {version!r} is not MAJOR.MINOR.PATCH", file=str(path))
    return version


def load_release(path: Path | None = None, version_file: Path | None = None) -> Release:
    """The release config; by default the dataset repository's ``dataset/release.toml``.
    The version always comes from the repository's ``dataset/VERSION`` unless ``version_file`` is given."""
    from khabar.foundation.paths import repo

    path = path or repo().release_file
    version_file = version_file or repo().version_file
    try:
        data = export_files.read_regular(path)  # a FIFO refused, not waited on
        raw = tomllib.loads(data.decode("utf-8"))
    except OSError as exc:
        raise KhabarError(f"cannot read the release config: {exc.strerror}", file=str(path)) from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise KhabarError(f"not a TOML release config: {exc}", file=str(path)) from None
    try:
        splits = tuple((str(name), float(ratio)) for name, ratio in raw["splits"].items())
        near = raw["near_duplicates"]
        release = Release(
            name=str(raw["name"]),
            repo_id=str(raw["repo_id"]),
            pretty_name=str(raw["pretty_name"]),
            license=str(raw["license"]),
            license_name=str(raw.get("license_name", "")),
            license_text=str(raw.get("license_text", "")).lstrip("\n"),
            annotations_creators=tuple(str(c) for c in raw["annotations_creators"]),
            version=read_version(version_file),
            splits=splits,
            near_duplicates=NearDuplicates(
                threshold=float(near["threshold"]),
                shingle_words=int(near["shingle_words"]),
                num_perm=int(near["num_perm"]),
                seed=int(near["seed"]),
            ),
            config_sha256=hashlib.sha256(data).hexdigest(),
        )
    except KeyError as exc:
        raise KhabarError(f"missing key {exc.args[0]!r} in the release config", file=str(path)) from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise KhabarError(f"bad value in the release config: {exc}", file=str(path)) from None
    if not NAME_PATTERN.fullmatch(release.name) or ".." in release.name:
        raise KhabarError(
            f"name {release.name!r} is not a folder name: letters, digits, '.', '_' and '-', starting with a letter or digit, no '..'",
            file=str(path),
        )
    try:
        check_repo_id(release.repo_id)
    except KhabarError as exc:
        raise KhabarError(f"repo_id: {exc}", file=str(path)) from None
    unknown = [name for name, _ in splits if name not in SPLIT_NAMES]
    if unknown:
        raise KhabarError(f"unknown split {unknown[0]!r}: split names must be among {', '.join(SPLIT_NAMES)}", file=str(path))
    if SINGLE_SPLIT not in dict(splits):
        raise KhabarError(f"the splits must include {SINGLE_SPLIT!r}; found {', '.join(dict(splits))}", file=str(path))
    if any(ratio <= 0 for _, ratio in splits) or not math.isclose(sum(r for _, r in splits), 1.0):
        raise KhabarError(f"split ratios must be positive and sum to 1, got {dict(splits)}", file=str(path))
    if not 0 < release.near_duplicates.threshold <= 1:
        raise KhabarError(f"near_duplicates.threshold must be in (0, 1], got {release.near_duplicates.threshold}", file=str(path))
    return release
