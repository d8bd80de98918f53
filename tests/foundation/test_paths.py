"""``khabar.foundation.paths``: which folder is the dataset repository, and what a path may name.

A root whose marker is there but is not a regular file is refused saying what it is; a path that is not text (a
byte that is not UTF-8 in its name) is refused in one line naming it, wherever it comes from: the root, the
temporary folder, the cache. The command line's own paths are ``tests/foundation/test_cli.py``'s.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from khabar.foundation.paths import MARKERS, ROOT_ENV, repo
from tests.reliability.reliability_support import SHARED, tree
from tests.reliability.test_files import build_args, copy_of_repository

#: a folder's name whose last byte, 0xE9 (é in Latin-1), is not UTF-8: Python holds it as U+DCE9
NOT_UTF8 = os.fsdecode(b"caf\xe9")
#: how a message shows it: the byte, escaped
SHOWN = "caf\\xe9"


def not_utf8_line(command: str, path: Path, given_by: str = "") -> str:
    """The line a command refuses ``path``, below :data:`NOT_UTF8`, with (``given_by``: the environment variable naming it)."""
    name = str(path)
    shown = name.replace(NOT_UTF8, SHOWN)
    source, elsewhere = (f" (from {given_by})", f" or point {given_by} at another folder") if given_by else ("", "")
    return (f"khabar {command}: error: {shown}: the name{source} is not UTF-8 (byte 0xe9 at offset {name.index(NOT_UTF8) + 3}): "
            f"Khabar takes names that are UTF-8 text; rename it{elsewhere}")


def error_lines(run) -> list[str]:
    return [line for line in run.err.splitlines() if ": error: " in line]


@pytest.mark.parametrize("found", ["--root", ROOT_ENV, "the current folder"])
@pytest.mark.parametrize("kind", ["a FIFO (named pipe)", "a folder", "a dangling symlink"])
@pytest.mark.parametrize("marker", [str(marker) for marker in MARKERS])
def test_a_marker_that_is_not_a_regular_file_is_refused_saying_what_it_is(tmp_path, khabar, monkeypatch, marker, kind, found):
    """A FIFO or a folder named annotation/labeling_config.xml was "missing" (or the folder no repository at all):
    it is there, and it is not a regular file."""
    root = copy_of_repository(tmp_path / "repository").resolve()
    (root / marker).unlink()
    {"a FIFO (named pipe)": os.mkfifo, "a folder": os.mkdir, "a dangling symlink": lambda path: path.symlink_to(root / "nowhere")}[kind](root / marker)
    monkeypatch.delenv(ROOT_ENV, raising=False)
    if found == "--root":
        run = khabar("--root", root, "stats")
    else:
        if found == ROOT_ENV:
            monkeypatch.setenv(ROOT_ENV, str(root))
        else:
            monkeypatch.chdir(root / "dataset")
        run = khabar("stats")
    assert run.status == 2 and run.out == "", run.output
    assert run.err.splitlines() == [f"khabar stats: error: {root / marker}: {kind}, not a regular file"]


def test_a_missing_marker_is_still_said_to_be_missing(tmp_path, khabar):
    root = copy_of_repository(tmp_path / "repository")
    (root / MARKERS[0]).unlink()
    run = khabar("--root", root, "stats")
    assert run.err.splitlines() == [f"khabar stats: error: {root}: not a Khabar dataset repository (missing {MARKERS[0]})"]


@pytest.mark.parametrize("found", ["--root", ROOT_ENV, "the current folder"])
def test_a_repository_whose_folder_name_is_not_utf8_is_refused_in_one_line(tmp_path, khabar, monkeypatch, found):
    """A build into its dist/ was a UnicodeEncodeError traceback from pyarrow, which takes only names UTF-8 can write."""
    root = copy_of_repository(tmp_path / NOT_UTF8)
    shutil.copyfile(repo().datasheet_file, tmp_path / "DATASHEET.md")
    argv = ["build", "--documents", SHARED / "documents.jsonl", "--exports", SHARED / "good_export.json", "--datasheet", tmp_path / "DATASHEET.md"]
    monkeypatch.delenv(ROOT_ENV, raising=False)
    if found == "--root":
        argv = ["--root", root, *argv]
    elif found == ROOT_ENV:
        monkeypatch.setenv(ROOT_ENV, str(root))
    else:
        monkeypatch.chdir(root / "annotation")
    before = tree(tmp_path)
    run = khabar(*argv)
    assert run.status == 2 and run.out == "", run.output
    assert error_lines(run) == [not_utf8_line("build", tmp_path / NOT_UTF8)]
    assert tree(tmp_path) == before


def test_a_temporary_folder_whose_name_is_not_utf8_is_refused_naming_tmpdir(tmp_path, khabar, monkeypatch):
    """validate sets its tables aside there with pyarrow: a UnicodeEncodeError traceback."""
    odd = tmp_path / NOT_UTF8
    odd.mkdir()
    monkeypatch.setenv("TMPDIR", str(odd))
    monkeypatch.setattr(tempfile, "tempdir", str(odd))  # what gettempdir() read from TMPDIR once
    run = khabar("validate", SHARED / "good_export.json", "--documents", SHARED / "documents.jsonl")
    assert run.status == 2 and run.out == "", run.output
    assert error_lines(run) == [not_utf8_line("validate", odd, "TMPDIR")]
    assert list(odd.iterdir()) == []


def test_a_cache_folder_whose_name_is_not_utf8_is_refused_by_the_build_and_not_used_by_validate(tmp_path, khabar, monkeypatch):
    """The build read the tables validate kept there with polars: a TypeError traceback."""
    odd = tmp_path / NOT_UTF8
    monkeypatch.setenv("KHABAR_CACHE_DIR", str(odd))
    validated = khabar("validate", SHARED / "good_export.json", "--documents", SHARED / "documents.jsonl")
    assert validated.status == 0 and not odd.exists(), validated.output
    assert "khabar validate: could not keep the tables for khabar build (the name (from KHABAR_CACHE_DIR) is not UTF-8" in validated.err
    shutil.copyfile(repo().datasheet_file, tmp_path / "DATASHEET.md")
    run = khabar(*build_args(tmp_path / "out", tmp_path / "DATASHEET.md"))
    assert run.status == 2 and run.out == "", run.output
    assert error_lines(run) == [not_utf8_line("build", odd / "validated", "KHABAR_CACHE_DIR")]
    assert not odd.exists() and not (tmp_path / "out").exists()
