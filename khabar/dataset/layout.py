"""The configs and split names of a build folder, and the parquet file of each config's split.

Declared once here; the builder writes ``data/<config>/<split>-00000-of-00001.parquet``
(the Hub's layout, one shard) with :func:`data_file`, and every reader of a build
gets the split back from a file's name with :func:`split_of_file`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

from khabar.foundation.errors import KhabarError

ConfigName = Literal["documents", "tokens", "quotes"]
#: The configs of a release, the default (``documents``) first: the order of the card and the build.
CONFIG_NAMES: tuple[ConfigName, ...] = get_args(ConfigName)
Split = Literal["train", "validation", "test"]
#: The split names loaders and the Hub know (datasets.Split).
SPLIT_NAMES: tuple[Split, ...] = get_args(Split)
#: The split that takes every document when the corpus is too small to split.
SINGLE_SPLIT: Split = "test"


def data_file(config: ConfigName, split: str) -> Path:
    """Where one split of one config lies, relative to the build folder."""
    return Path("data") / config / f"{split}-00000-of-00001.parquet"


def split_of_file(path: Path) -> Split:
    """The split a parquet file named by :func:`data_file` holds; a file named otherwise is an error naming it."""
    name = path.name.split("-")[0]
    if name not in SPLIT_NAMES:
        raise KhabarError(f"not a split's parquet file: {name!r} is not one of {', '.join(SPLIT_NAMES)}", file=str(path))
    return name  # narrowed to a Split by the membership test
