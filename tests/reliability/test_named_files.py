"""The other files a person names on the command line (a datasheet, a release config, a CoNLL file, a
tag map): refused in one line when they are not regular UTF-8 files, never waited on, and a datasheet
is written back byte for byte but for its figures block, never over edits made while the build ran.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from khabar.dataset import build as build_module
from khabar.foundation.paths import repo
from khabar.model.cli import is_evaluation, is_predicted_tasks, refuse_to_replace
from khabar.model.evaluate import Labelled, Scores
from tests.reliability.reliability_support import SHARED, tree
from tests.reliability.test_files import build_args, copy_of_repository, one_line_error

KHABAR = Path(sys.executable).with_name("khabar")


def conll_file(folder: Path) -> Path:
    path = folder / "sample.conll"
    path.write_text("بغداد B-GPE\nآمنة O\n\n", encoding="utf-8")
    return path


#: what stands where a file is named, and how to make it there
ODD_FILES = {
    "a FIFO (named pipe)": os.mkfifo,
    "a folder": os.mkdir,
    # a loop of links was a RuntimeError traceback as a datasheet, and "not found" or "no records" as corpus records
    "a symlink loop": lambda path: path.symlink_to(path),
    "a dangling symlink": lambda path: path.symlink_to(path.with_name("nowhere")),
}


@pytest.mark.parametrize("kind", ODD_FILES)
@pytest.mark.parametrize("named", ["datasheet", "release", "conll", "tag-map", "documents", "predict-documents"])
def test_a_fifo_or_folder_named_as_an_input_is_refused_without_waiting(named, kind, tmp_path, datasheet_template):
    odd = tmp_path / "odd"
    ODD_FILES[kind](odd)
    datasheet = tmp_path / "DATASHEET.md"
    shutil.copyfile(datasheet_template, datasheet)
    out = tmp_path / "out"
    argv: list[str | Path] = {
        "datasheet": build_args(out, odd),
        "release": [*build_args(out, datasheet), "--release", odd],
        "conll": ["import-conll", odd, "--out", out],
        "tag-map": ["import-conll", conll_file(tmp_path), "--tag-map", odd, "--out", out],
        "documents": ["validate", SHARED / "good_export.json", "--documents", odd],
        "predict-documents": ["predict", "--documents", odd, "--out", out],
    }[named]
    before = tree(tmp_path)
    # a subprocess with a timeout: opening a FIFO for reading blocks until a writer comes, which none will
    done = subprocess.run([KHABAR, *map(str, argv)], capture_output=True, text=True, timeout=120)
    assert "Traceback" not in done.stderr and done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and str(odd) in errors[0] and f"{kind}, not a regular file" in errors[0], done.stderr
    assert tree(tmp_path) == before and not out.exists()


@pytest.mark.parametrize("command", ["validate", "build", "stats", "ingest", "train"])
def test_an_export_whose_name_is_not_utf8_is_refused_by_every_command_that_finds_exports(command, tmp_path, khabar, datasheet_template):
    """A folder's ``caf\\xe9.json`` (a Latin-1 é) went into the tables' file column, which polars could not encode: a
    UnicodeEncodeError traceback of validate, build and stats."""
    exports = tmp_path / "exports"
    exports.mkdir()
    shutil.copyfile(SHARED / "good_export.json", exports / os.fsdecode(b"caf\xe9.json"))
    shutil.copyfile(datasheet_template, tmp_path / "DATASHEET.md")
    root = copy_of_repository(tmp_path / "repository")
    documents = ["--documents", SHARED / "documents.jsonl"]
    argv: list[str | Path] = {
        "validate": ["validate", exports, *documents],
        "build": build_args(tmp_path / "out", tmp_path / "DATASHEET.md", exports),
        "stats": ["stats", "--exports", exports, *documents],
        "ingest": ["ingest", "--corpus", root / "annotation" / "corpus", "--exports", exports],
        "train": ["train", "--exports", exports, *documents],
    }[command]
    before = tree(tmp_path)
    run = khabar("--root", root, *argv)
    assert run.status == 2 and run.out == "", run.output
    assert [line for line in run.err.splitlines() if ": error: " in line] == [
        f"khabar {command}: error: {exports}/caf\\xe9.json: the name is not UTF-8 (byte 0xe9 at offset {len(str(exports)) + 4}): "
        "Khabar takes names that are UTF-8 text; rename it"
    ]
    assert tree(tmp_path) == before


def test_predict_and_evaluate_never_replace_a_file_they_did_not_write(tmp_path, khabar):
    """Each tells its own earlier output by what it writes (predict: a Khabar model's version on each task's one
    prediction; evaluate: the keys of its figures in each row), not by a shape others share: an empty list or
    object, import tasks and another tool's predictions were all replaced."""
    shutil.copyfile(SHARED / "good_export.json", tmp_path / "export.json")  # annotations: someone's work
    theirs = {
        "notes.json": "not JSON at all",
        "empty-list.json": "[]",
        "tasks.json": json.dumps([{"data": {"text": "mine"}}]),
        "other-model.json": json.dumps([{"data": {"text": "x"}, "predictions": [{"model_version": "other-1", "result": []}]}]),
        "empty-object.json": "{}",
        "no-rows.json": json.dumps({"wojood": []}),
        "other-figures.json": json.dumps({"wojood": [{"label": "PERS", "f1": 0.5}]}),
    }
    for name, text in theirs.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    before = tree(tmp_path)
    for target in sorted(tmp_path.iterdir()):
        run = khabar("predict", "--documents", SHARED / "documents.jsonl", "--out", target)
        one_line_error(run, str(target), "refusing to replace it: it is not an import file of predictions")
        run = khabar("evaluate", "--json", target)
        one_line_error(run, str(target), "refusing to replace it: it is not a report of khabar evaluate")
    assert tree(tmp_path) == before
    # their own earlier output is what they replace
    predicted = tmp_path / "predicted.json"
    stamped = {"model_version": "khabar-crf-0123456789", "score": 0.5, "result": []}
    predicted.write_text(json.dumps([{"data": {"text": "x"}, "predictions": [stamped]}]), encoding="utf-8")
    refuse_to_replace(predicted, ours=is_predicted_tasks, what="predictions")
    scores = Scores()
    scores.add_document([Labelled("entity", "PERS", 0, 4)], [Labelled("entity", "PERS", 0, 4), Labelled("entity", "GPE", 5, 9)])
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"wojood": scores.rows(), "loo": []}), encoding="utf-8")
    refuse_to_replace(report, ours=is_evaluation, what="a report")


def test_a_datasheet_that_is_not_utf8_is_one_line_exit_2(tmp_path, khabar, datasheet_template):
    datasheet = tmp_path / "DATASHEET.md"
    datasheet.write_bytes(datasheet_template.read_bytes().replace(b"#", b"#\xe9", 1))
    before = tree(tmp_path)
    run = khabar(*build_args(tmp_path / "out", datasheet))
    one_line_error(run, str(datasheet), "the datasheet is not UTF-8 (byte 0xe9 at offset")
    assert tree(tmp_path) == before


def test_a_crlf_datasheet_keeps_its_line_ends_and_makes_the_same_build(tmp_path, khabar, good_build, datasheet_template):
    datasheet = tmp_path / "DATASHEET.md"
    lf = datasheet_template.read_bytes()
    crlf = lf.replace(b"\n", b"\r\n")
    datasheet.write_bytes(crlf)
    assert khabar(*build_args(tmp_path / "out", datasheet)).status == 0
    written = datasheet.read_bytes()
    assert b"\r\n" in written and b"\n" not in written.replace(b"\r\n", b""), "a line end was changed"
    assert written.replace(b"\r\n", b"\n") == (good_build.parent.parent / "DATASHEET.md").read_bytes(), "not the figures of an LF datasheet"
    assert tree(tmp_path / "out") == tree(good_build), "the CRLF datasheet made another build"
    check = khabar("build", "--check", *build_args(tmp_path / "out", datasheet)[1:5], "--datasheet", datasheet)
    assert check.status == 0, check.output


SAVED_AS = {  # how an editor saved a text file: its LF bytes made these
    "crlf": lambda data: data.replace(b"\n", b"\r\n"),
    "cr": lambda data: data.replace(b"\n", b"\r"),  # classic Mac OS
    "bom": lambda data: b"\xef\xbb\xbf" + data,  # Windows Notepad's "UTF-8 with BOM"
    "bom and crlf": lambda data: b"\xef\xbb\xbf" + data.replace(b"\n", b"\r\n"),
}


@pytest.mark.parametrize("ends", list(SAVED_AS))
def test_guidelines_labeling_config_and_base_saved_with_crlf_make_the_same_build(ends, tmp_path, khabar, datasheet_template):
    """The text files a build releases as they are (an editor that writes CRLF, or CR as classic Mac OS did, or a
    byte order mark, saved them): released with LF and no BOM, the build of an LF repository to the byte, manifest
    included (a BOM went into the release: a reader of kb/entities.csv found no column entity_id)."""
    base = repo().kb_dir / "entities.csv"  # before --root names a copy
    builds = {}
    for saved in ("lf", ends):
        root = copy_of_repository(tmp_path / saved)
        (root / "annotation" / "kb").mkdir()
        shutil.copyfile(base, root / "annotation" / "kb" / "entities.csv")
        if saved != "lf":
            for relative in ("annotation/GUIDELINES.md", "annotation/labeling_config.xml", "annotation/kb/entities.csv"):
                (root / relative).write_bytes(SAVED_AS[saved]((root / relative).read_bytes()))
        datasheet = tmp_path / f"DATASHEET-{saved}.md"
        shutil.copyfile(datasheet_template, datasheet)
        builds[saved] = tmp_path / f"out-{saved}"
        assert khabar("--root", root, *build_args(builds[saved], datasheet)).status == 0
    assert {"GUIDELINES.md", "labeling_config.xml", "kb/entities.csv"} <= set(tree(builds["lf"]))
    assert tree(builds[ends]) == tree(builds["lf"])


def _previous_build(tmp_path: Path, good_build: Path, datasheet_template: Path) -> tuple[Path, Path]:
    """A datasheet and a previous build in ``tmp_path`` (``dist/khabar``), as a repository holds them."""
    datasheet = tmp_path / "DATASHEET.md"
    shutil.copyfile(datasheet_template, datasheet)
    out = tmp_path / "dist" / "khabar"
    shutil.copytree(good_build, out)
    return datasheet, out


def test_a_datasheet_edited_while_the_build_runs_is_not_overwritten(tmp_path, khabar, good_build, datasheet_template, monkeypatch):
    datasheet, out = _previous_build(tmp_path, good_build, datasheet_template)
    build_before = tree(out)
    compute = build_module.compute

    def compute_while_someone_edits(*args, **kwargs):
        built = compute(*args, **kwargs)
        with datasheet.open("a", encoding="utf-8") as handle:  # a person saves their prose while the build runs
            handle.write("\nA paragraph written during the build.\n")
        return built

    monkeypatch.setattr(build_module, "compute", compute_while_someone_edits)
    edited = datasheet_template.read_text(encoding="utf-8") + "\nA paragraph written during the build.\n"
    run = khabar(*build_args(out, datasheet, SHARED / "good_export.json"))
    one_line_error(run, str(datasheet), "changed on disk since it was read")
    assert datasheet.read_text(encoding="utf-8") == edited, "the edit made during the build was lost"
    assert tree(out) == build_before, "the build went in without its datasheet"
    assert [p.name for p in tmp_path.iterdir()] == ["DATASHEET.md", "dist"] and [p.name for p in out.parent.iterdir()] == ["khabar"]


def test_a_datasheet_inside_the_output_folder_is_refused_and_nothing_changes(tmp_path, khabar, good_build):
    out = tmp_path / "dist" / "khabar"
    shutil.copytree(good_build, out)
    before = tree(tmp_path)
    run = khabar(*build_args(out, out / "README.md"))  # the card holds the datasheet, figures block and all
    one_line_error(run, str(out / "README.md"), "the datasheet is inside the output folder")
    assert tree(tmp_path) == before


@pytest.mark.parametrize("holding", ["as built", "as hf download leaves it"])
def test_an_export_of_a_build_is_never_written_inside_a_build(holding, tmp_path, khabar, good_build):
    """Also a build downloaded from the Hub, beside the Hub's ``.gitattributes`` and the client's record of the
    download, which its manifest does not list: it was not known as a build, and an export went in."""
    build = tmp_path / "dist" / "khabar"
    shutil.copytree(good_build, build)
    if holding != "as built":
        (build / ".gitattributes").write_text("*.parquet filter=lfs diff=lfs merge=lfs -text\n", encoding="utf-8")
        (build / ".cache" / "huggingface" / "download").mkdir(parents=True)
        (build / ".cache" / "huggingface" / "download" / "README.md.metadata").write_text("0\n", encoding="utf-8")
    before = tree(tmp_path)
    for out in (build / "conll", build / "data" / "conll"):
        run = khabar("export", build, "--format", "conll", "--out", out)
        one_line_error(run, str(out), f"refusing to write inside a build ({build.resolve()})")
    assert tree(tmp_path) == before
    assert khabar("validate", "--dataset", build).status == 0
    assert khabar("export", build, "--format", "conll", "--out", tmp_path / "conll").status == 0


def test_repair_with_dataset_is_refused_not_ignored(tmp_path, khabar, good_build):
    before = tree(good_build)
    run = khabar("validate", "--repair", "--dataset", good_build)
    one_line_error(run, "--repair fixes exports, --dataset checks a build")
    assert tree(good_build) == before


@pytest.mark.parametrize("swapped", ["MANIFEST.json", "README.md", "data/documents/test-00000-of-00001.parquet"])
@pytest.mark.parametrize("command", ["validate", "diff", "export"])
def test_a_fifo_inside_a_build_is_refused_by_every_command_that_reads_builds(command, swapped, tmp_path, good_build):
    build = tmp_path / "build"
    shutil.copytree(good_build, build)
    assert (build / swapped).is_file()
    (build / swapped).unlink()
    os.mkfifo(build / swapped)
    argv = {
        "validate": ["validate", "--dataset", build],
        "diff": ["diff", good_build, build],
        "export": ["export", build, "--format", "conll", "--out", tmp_path / "conll"],
    }[command]
    before = tree(tmp_path)
    done = subprocess.run([KHABAR, *map(str, argv)], capture_output=True, text=True, timeout=120)  # a FIFO opened would block
    assert "Traceback" not in done.stderr and done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and str(build) in errors[0], done.stderr
    assert f"{build / swapped}: a FIFO (named pipe), not a regular file" in errors[0] or "not a khabar build (no MANIFEST.json" in errors[0]
    assert tree(tmp_path) == before


@pytest.mark.parametrize("out", ["new/out", "existing"])
@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM", "a failed rename"])
def test_import_conll_stopped_between_its_two_renames_leaves_neither_file_nor_a_new_out(
    stop, out, tmp_path, khabar, monkeypatch, sigterm_restored
):
    """export.json is renamed into place before documents.jsonl: a signal or a failure between the two once left
    export.json alone in --out, and every later run was refused ("refusing to overwrite")."""
    source = conll_file(tmp_path)
    (tmp_path / "existing").mkdir()
    (tmp_path / "existing" / "notes.txt").write_text("mine\n", encoding="utf-8")
    before = tree(tmp_path)
    replace = os.replace

    def replace_then_stopped(source: str, target: str) -> None:
        if stop == "a failed rename" and Path(target).name == "documents.jsonl":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        replace(source, target)
        if stop != "a failed rename" and Path(target).name == "export.json":
            os.kill(os.getpid(), getattr(signal, stop))  # export.json is in place now

    monkeypatch.setattr(os, "replace", replace_then_stopped)
    run = khabar("import-conll", source, "--out", tmp_path / out)
    assert run.status == {"SIGINT": 130, "SIGTERM": 143, "a failed rename": 2}[stop], run.output
    assert tree(tmp_path) == before, "a file or a new --out was left behind"
    monkeypatch.setattr(os, "replace", replace)
    again = khabar("import-conll", source, "--out", tmp_path / out)
    assert again.status == 0, again.output
    assert {p.name for p in (tmp_path / out).iterdir()} >= {"export.json", "documents.jsonl"}


def test_sigterm_mid_export_or_build_leaves_no_staging_folder_and_the_previous_build(
    tmp_path, khabar, good_build, datasheet_template, monkeypatch, sigterm_restored
):
    from khabar.dataset import export as export_module

    write_conll = export_module.WRITERS["conll"]

    def write_then_terminated(build, folder):
        write_conll(build, folder)  # the files are in the staging folder when the signal comes
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not stop the command")

    monkeypatch.setitem(export_module.WRITERS, "conll", write_then_terminated)
    run = khabar("export", good_build, "--format", "conll", "--out", tmp_path / "new" / "conll")
    assert run.status == 143 and run.err.splitlines()[-1] == "khabar export: terminated", run.output
    assert list(tmp_path.iterdir()) == [], "the staging folder, the output or the folder made for it was left behind"

    datasheet, out = _previous_build(tmp_path, good_build, datasheet_template)
    before = tree(tmp_path)
    compute = build_module.compute

    def compute_then_terminated(*args, **kwargs):
        compute(*args, **kwargs)  # the shards are in the staging folder
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not stop the command")

    monkeypatch.setattr(build_module, "compute", compute_then_terminated)
    run = khabar(*build_args(out, datasheet, SHARED / "good_export.json"))
    assert run.status == 143 and run.err.splitlines()[-1] == "khabar build: terminated", run.output
    assert tree(tmp_path) == before, "a staging folder was left or the previous build changed"
