"""Where things live in a dataset repository.

Khabar's commands act on a dataset repository (a clone of this one: the
labeling config, the corpus, the exports, the release config), never on the
place Khabar is installed. The root is, in order: ``khabar --root DIR``, the
``KHABAR_ROOT`` environment variable, or the nearest folder at or above the
current directory that holds the marker files below. Outside one, a command
that needs it stops with a one-line error (exit 2).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from khabar.foundation.errors import KhabarError

#: Files whose presence makes a folder a dataset repository's root.
MARKERS = (Path("annotation") / "labeling_config.xml", Path("dataset") / "release.toml")
ROOT_ENV = "KHABAR_ROOT"


@dataclass(frozen=True)
class Repo:
    """The paths of one dataset repository, all below :attr:`root`."""

    root: Path

    @property
    def labeling_config(self) -> Path:
        return self.root / MARKERS[0]

    @property
    def release_file(self) -> Path:
        return self.root / MARKERS[1]

    @property
    def version_file(self) -> Path:
        return self.root / "dataset" / "VERSION"

    @property
    def corpus_dir(self) -> Path:
        return self.root / "annotation" / "corpus"

    @property
    def documents_file(self) -> Path:
        return self.corpus_dir / "documents.jsonl"

    @property
    def exports_dir(self) -> Path:
        return self.root / "annotation" / "exports"

    @property
    def guidelines_file(self) -> Path:
        return self.root / "annotation" / "GUIDELINES.md"

    @property
    def kb_dir(self) -> Path:
        """The knowledge base, entity links and quote clusters (read by :mod:`khabar.kb.files`)."""
        return self.root / "annotation" / "kb"

    @property
    def wojood_dir(self) -> Path:
        """The Wojood sample (MIT, with its SOURCE.md and LICENSE) that ``khabar train`` learns from."""
        return self.root / "annotation" / "external" / "wojood-sample"

    @property
    def datasheet_file(self) -> Path:
        return self.root / "DATASHEET.md"

    @property
    def studio_dir(self) -> Path:
        return self.root / ".studio"

    @property
    def dist_dir(self) -> Path:
        return self.root / "dist"


_chosen: Path | None = None


def use_root(root: Path | None) -> None:
    """Set the root for this process (``khabar --root DIR``); None goes back to the default search."""
    global _chosen
    _chosen = root


def is_root(folder: Path) -> bool:
    return all((folder / marker).is_file() for marker in MARKERS)


def repo() -> Repo:
    """The dataset repository this command acts on; a :class:`KhabarError` (exit 2) outside one."""
    named = _chosen or (Path(os.environ[ROOT_ENV]) if os.environ.get(ROOT_ENV) else None)
    if named is not None:
        if not is_root(named):
            missing = ", ".join(str(m) for m in MARKERS if not (named / m).is_file())
            raise KhabarError(f"not a Khabar dataset repository (missing {missing})", file=str(named))
        return Repo(named.resolve())
    try:
        here = Path.cwd().resolve()
    except FileNotFoundError:
        raise KhabarError(f"the current directory was deleted: run from a clone, or pass --root DIR or set {ROOT_ENV}") from None
    for folder in (here, *here.parents):
        if is_root(folder):
            return Repo(folder)
    markers = " and ".join(str(m) for m in MARKERS)
    raise KhabarError(
        f"not inside a Khabar dataset repository (no folder at or above it holds {markers}); "
        f"run from a clone, or pass --root DIR or set {ROOT_ENV}",
        file=str(here),
    )
