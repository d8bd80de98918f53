"""The dataset repository's own files (the release config, VERSION, the labeling config, the adjudication
reasons, the guidelines) are read as every other input is: a regular file (a FIFO refused, never opened),
UTF-8, with its values typed and range-checked; anything else is one line naming that file, exit 2.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.reliability.reliability_support import SHARED, tree
from tests.reliability.test_files import copy_of_repository, one_line_error


def build_in(root: Path, datasheet_template: Path) -> list[str | Path]:
    """``khabar --root ROOT build`` of the shared corpus, its output and datasheet beside the repository."""
    datasheet = root.parent / "DATASHEET.md"
    shutil.copyfile(datasheet_template, datasheet)
    return ["--root", root, "build", "--documents", SHARED / "documents.jsonl", "--exports", "--out", root.parent / "out", "--datasheet", datasheet]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# (the line of dataset/release.toml, its bad replacement, what the error says besides the file)
BAD_RELEASE_VALUES = [
    ("num_perm = 128", "num_perm = 0", "near_duplicates.num_perm = 0: expected `int` >= 2"),
    ("num_perm = 128", "num_perm = -3", "near_duplicates.num_perm = -3: expected `int` >= 2"),
    ("num_perm = 128", "num_perm = 3.5", "near_duplicates.num_perm = 3.5: expected `int`, got `float`"),
    ("num_perm = 128", "num_perm = 3", "a threshold of 0.5 with num_perm = 3 gives LSH a single band"),
    ("shingle_words = 5", "shingle_words = 0", "near_duplicates.shingle_words = 0: expected `int` >= 1"),
    ("seed = 1", "seed = -1", "near_duplicates.seed = -1: expected `int` >= 0"),
    ("seed = 1", "seed = 4294967296", "near_duplicates.seed = 4294967296: expected `int` <= 4294967295"),
    ("seed = 1", "seed = 9223372036854775807", "near_duplicates.seed = 9223372036854775807: expected `int` <= 4294967295"),
    ("threshold = 0.5", "threshold = 0", "near_duplicates.threshold = 0: expected `float` > 0.0"),
    ('annotations_creators = ["machine-generated"]', 'annotations_creators = "machine-generated"',
     "annotations_creators = 'machine-generated': expected `array`, got `str`"),
    ('annotations_creators = ["machine-generated"]', 'annotations_creators = ["robots"]', "'robots' is not one of the Hub's terms"),
    ('name = "khabar"', "name = 5", "name = 5: expected `str`, got `int`"),
    ("train = 0.8", 'train = "0.8"', "splits.train = '0.8': expected `float`, got `str`"),
    ("seed = 1", "", "missing key 'near_duplicates.seed'"),
]


@pytest.mark.parametrize(("old", "new", "expected"), BAD_RELEASE_VALUES, ids=[new or f"no {old}" for old, new, _ in BAD_RELEASE_VALUES])
def test_a_bad_value_in_the_release_config_is_one_line_naming_its_key_and_what_is_expected(old, new, expected, tmp_path, khabar, datasheet_template):
    """Each was a traceback (num_perm 0 or -3, shingle_words 0, a seed out of numpy's range), a refusal naming no
    file (num_perm 3.5, truncated to 3), or a build (a string of creators listed a character each, name = 5
    built dist/5-2.0.0, a quoted ratio was taken)."""
    root = copy_of_repository(tmp_path / "repo")
    edit(root / "dataset" / "release.toml", old, new)
    argv = build_in(root, datasheet_template)
    before = tree(tmp_path)
    one_line_error(khabar(*argv), f"{root / 'dataset' / 'release.toml'}: ", expected)
    assert tree(tmp_path) == before


@pytest.mark.parametrize("version", ["٢.٠.٠", "2.0.²", "02.00.001"])
def test_a_version_that_is_not_semvers_major_minor_patch_is_refused(version, tmp_path, khabar, datasheet_template):
    root = copy_of_repository(tmp_path / "repo")
    (root / "dataset" / "VERSION").write_text(version + "\n", encoding="utf-8")
    argv = build_in(root, datasheet_template)
    before = tree(tmp_path)
    one_line_error(khabar(*argv), f"{root / 'dataset' / 'VERSION'}: version {version!r} is not MAJOR.MINOR.PATCH")
    assert tree(tmp_path) == before
