"""The dataset repository's own files (the release config, VERSION, the labeling config, the adjudication
reasons, the guidelines) are read as every other input is: a regular file (a FIFO refused, never opened),
UTF-8, with its values typed and range-checked; anything else is one line naming that file, exit 2.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from khabar.foundation.paths import repo
from khabar.studio.sync import SyncState
from tests.reliability.reliability_support import SHARED, tree
from tests.reliability.test_files import copy_of_repository, one_line_error

KHABAR = Path(sys.executable).with_name("khabar")


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
    ("num_perm = 128", "num_perm = 513", "near_duplicates.num_perm = 513: expected `int` <= 512"),
    ("shingle_words = 5", "shingle_words = 17", "near_duplicates.shingle_words = 17: expected `int` <= 16"),
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
    built dist/5-2.0.0, a quoted ratio was taken, num_perm 4096 took 40 s and 1.1 GB choosing the bands)."""
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


@pytest.mark.parametrize("relative", ["dataset/VERSION", "annotation/exports/khabar.adjudication.csv", "annotation/labeling_config.xml"])
def test_a_repository_file_that_is_not_utf8_is_one_line_naming_that_file(relative, tmp_path, khabar, datasheet_template):
    """VERSION's was reported as the release config's "bad value", the reasons' was a traceback."""
    root = copy_of_repository(tmp_path / "repo")
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((repo().root / relative).read_bytes().rstrip(b"\n") + b"\xe9\n")
    argv = build_in(root, datasheet_template)
    before = tree(tmp_path)
    one_line_error(khabar(*argv), str(path), ": not UTF-8 (byte 0xe9 at offset ")  # the CSV file's with its line, path:11
    assert tree(tmp_path) == before


@pytest.mark.parametrize("kind", ["fifo", "folder"])
@pytest.mark.parametrize("relative", ["dataset/VERSION", "annotation/exports/khabar.adjudication.csv", "annotation/GUIDELINES.md"])
def test_a_fifo_or_folder_in_place_of_a_repository_file_is_refused_without_waiting(relative, kind, tmp_path, datasheet_template):
    """The build waited for ever on a FIFO named VERSION or khabar.adjudication.csv; a folder named GUIDELINES.md
    was reported as the output folder's "Is a directory"."""
    root = copy_of_repository(tmp_path / "repo")
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    os.mkfifo(path) if kind == "fifo" else path.mkdir()
    argv = build_in(root, datasheet_template)
    before = tree(tmp_path)
    # a subprocess with a timeout: opening a FIFO for reading blocks until a writer comes, which none will
    done = subprocess.run([KHABAR, *map(str, argv)], capture_output=True, text=True, timeout=120)
    assert "Traceback" not in done.stderr and done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if ": error: " in line]
    what = "a FIFO (named pipe)" if kind == "fifo" else "a folder"
    assert len(errors) == 1 and errors[0].endswith(f"{path}: {what}, not a regular file"), done.stderr
    assert tree(tmp_path) == before


@pytest.mark.parametrize(
    ("old", "new", "element"),
    [('value="PRODUCT"', 'value="PRO DUCT"', "<Label value='PRO DUCT'> of layer 'entity'"),
     ('Relation value="cue"', 'Relation value="c&#9;ue"', "<Relation value='c\\tue'>"),  # a tab: a CoNLL column's end
     ('Choice value="mixed"', 'Choice value="mi xed"', "<Choice value='mi xed'>")],
)
def test_a_label_relation_or_choice_holding_white_space_is_refused_with_the_rule(old, new, element, tmp_path, khabar, datasheet_template):
    """``PRO DUCT`` went into the scheme: its IOB tag ``B-PRO DUCT`` is two CoNLL columns."""
    root = copy_of_repository(tmp_path / "repo")
    config = root / "annotation" / "labeling_config.xml"
    edit(config, old, new)
    argv = build_in(root, datasheet_template)
    before = tree(tmp_path)
    one_line_error(khabar(*argv), f"{config}: {element} holds white space: a label, relation or choice is one word")
    assert tree(tmp_path) == before


def test_reasons_that_are_not_one_reason_a_row_are_refused_with_their_line(tmp_path, khabar, datasheet_template):
    root = copy_of_repository(tmp_path / "repo")
    reasons = root / "annotation" / "exports" / "khabar.adjudication.csv"
    reasons.parent.mkdir(parents=True)
    header = (repo().exports_dir / "khabar.adjudication.csv").read_text(encoding="utf-8").splitlines()[0]
    for row, expected in [("a,entity,ORG,٣,5,removed,D1", ":2: start «٣» is not a whole number written in ASCII digits"),
                          ("a,entity,ORG", ":2: 3 values where the header has 7 columns: no value for 'start', 'end', 'change', 'guideline'")]:
        reasons.write_text(f"{header}\n{row}\n", encoding="utf-8")
        one_line_error(khabar(*build_in(root, datasheet_template)), str(reasons), expected)


def test_a_build_from_a_deleted_current_directory_builds_with_an_absolute_root(tmp_path, khabar, datasheet_template, monkeypatch):
    """It failed with "No such file or directory", naming nothing: a deleted directory cannot hold the output."""
    root = copy_of_repository(tmp_path / "repo")
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    run = khabar(*build_in(root, datasheet_template))
    assert run.status == 0, run.output
    assert (tmp_path / "out" / "MANIFEST.json").is_file()
    one_line_error(khabar("build"), "the current directory was deleted: run from a clone, or pass --root DIR")


@pytest.mark.parametrize("kind", ["fifo", "list"])
def test_a_sync_state_that_is_a_fifo_or_not_an_object_is_one_line(kind, tmp_path):
    """``annotation/exports/khabar.sync``, read by pull and push: a FIFO blocked them, a JSON list was a traceback."""
    export = tmp_path / "khabar.json"
    state = SyncState.path_for(export)
    os.mkfifo(state) if kind == "fifo" else state.write_text("[1]\n", encoding="utf-8")
    load = (
        "from pathlib import Path\nfrom khabar.foundation.errors import KhabarError\nfrom khabar.studio.sync import SyncState\n"
        f"try:\n    SyncState.load(Path({str(export)!r}))\nexcept KhabarError as exc:\n    print(exc.exit_status, exc)\n"
    )
    # a fresh process with a timeout: a FIFO opened for reading blocks until a writer comes, which none will
    done = subprocess.run([sys.executable, "-c", load], capture_output=True, text=True, timeout=120)
    expected = "a FIFO (named pipe), not a regular file" if kind == "fifo" else "not a khabar sync state"
    assert done.returncode == 0 and done.stdout.startswith(f"2 {state}: {expected}"), done.stdout + done.stderr
