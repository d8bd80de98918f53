"""Files, folders and builds: nothing deleted that a build did not make, nothing half-written.

A full disk is a real one: a small tmpfs mounted for the test (root only, as in
CI) and filled up, so the ``ENOSPC`` comes from the kernel while pyarrow writes
parquet or while the datasheet is written.
"""

from __future__ import annotations

import errno
import gc
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from khabar.annotation.ingest import DocumentRecord, load_records
from khabar.foundation import jsonl
from khabar.foundation.files import temporary_folder, write_atomic
from khabar.foundation.paths import repo
from tests.reliability.make_bad_inputs import DOCS, PAGES_HEADER, SOURCES, dumps, good_export, mutated
from tests.reliability.reliability_support import SHARED, fill, held_by_another_process, small_filesystem, tree

KHABAR = Path(sys.executable).with_name("khabar")
LINE_SEPARATORS = [chr(c) for c in range(0x110000) if len(f"a{chr(c)}b".splitlines()) > 1]


def one_line_error(run, *expected: str) -> None:
    assert "Traceback" not in run.output
    assert run.status == 2, run.output
    lines = [line for line in run.err.splitlines() if ": error: " in line]  # validate says what it checks first
    assert len(lines) == 1, run.err
    for text in expected:
        assert text in lines[0], f"{text!r} not in {lines[0]!r}"


def changed_export(tmp_path: Path) -> Path:
    """The shared good export with one entity fewer: a build whose figures differ from the good build's."""
    export = good_export()
    export[1]["annotations"][0]["result"] = []
    path = tmp_path / "export.json"
    path.write_text(dumps(export), encoding="utf-8")
    return path


def build_args(out: Path, datasheet: Path, export: Path = SHARED / "good_export.json") -> list[str | Path]:
    return ["build", "--documents", SHARED / "documents.jsonl", "--exports", export, "--out", out, "--datasheet", datasheet]


# ---- a build never deletes what it did not make ----


def test_a_build_never_deletes_what_it_did_not_make(tmp_path, khabar, good_build, datasheet_template):
    datasheet = tmp_path / "DATASHEET.md"
    shutil.copyfile(datasheet_template, datasheet)
    victims = tmp_path / "victims"
    repository = victims / "repository"  # a git repository with someone's data
    repository.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", repository], check=True)
    (repository / "important.csv").write_text("id,value\n1,2\n", encoding="utf-8")
    added = victims / "build-with-notes"  # a build someone added a file to
    shutil.copytree(good_build, added)
    (added / "notes.txt").write_text("my notes\n", encoding="utf-8")
    edited = victims / "build-edited"  # a build whose card someone edited
    shutil.copytree(good_build, edited)
    (edited / "README.md").write_text("edited\n", encoding="utf-8")
    forged = victims / "forged-manifest"  # a MANIFEST.json alone does not make a build
    forged.mkdir()
    (forged / "MANIFEST.json").write_text('{"version": "1.0.0", "files": []}\n', encoding="utf-8")
    (forged / "thesis.tex").write_text("\\chapter{}\n", encoding="utf-8")
    folders = victims / "build-with-folders"  # a build someone made empty folders in (a `.git` to come, a place for later)
    shutil.copytree(good_build, folders)
    (folders / "later" / "drafts").mkdir(parents=True)
    linked = victims / "link-to-build"
    linked.symlink_to(good_build, target_is_directory=True)
    a_file = victims / "a-file"
    a_file.write_text("not a folder\n", encoding="utf-8")
    before, build_before, datasheet_before = tree(victims), tree(good_build), datasheet.read_bytes()

    cases = [
        (repository, ["repository", "no MANIFEST.json", "only replaces an earlier build"]),
        (added, ["build-with-notes", "'notes.txt'", "did not write"]),
        (edited, ["build-edited", "'README.md'", "changed since the build"]),
        (folders, ["build-with-folders", "the folder 'later'", "did not make"]),
        (forged, ["forged-manifest", "not a Khabar build manifest"]),
        (linked, ["link-to-build", "symbolic link"]),
        (a_file, ["a-file", "not a folder"]),
        (good_build / "data" / "new", ["inside another build"]),
    ]
    for out, expected in cases:
        one_line_error(khabar(*build_args(out, datasheet)), *expected)
    assert tree(victims) == before
    assert tree(good_build) == build_before
    assert datasheet.read_bytes() == datasheet_before


def copy_of_repository(root: Path) -> Path:
    """A dataset repository of its own (the files a build reads), so no test can ever aim a build at the real one."""
    for relative in ("annotation/labeling_config.xml", "annotation/GUIDELINES.md", "dataset/release.toml", "dataset/VERSION"):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(repo().root / relative, root / relative)
    return root


def test_a_build_refuses_the_repository_root_the_current_directory_and_their_parents(tmp_path, khabar, datasheet_template, monkeypatch):
    from khabar.dataset.write import check_out
    from khabar.foundation.errors import KhabarError

    datasheet = tmp_path / "DATASHEET.md"
    shutil.copyfile(datasheet_template, datasheet)
    root = copy_of_repository(tmp_path / "above" / "repository")
    work = tmp_path / "work" / "here"
    work.mkdir(parents=True)
    (work / "keep.txt").write_text("keep\n", encoding="utf-8")
    before = tree(tmp_path)
    monkeypatch.chdir(work)
    for out, what in ((Path("."), "is the current directory"), (tmp_path / "work", "holds the current directory"),
                      (root, "is the dataset repository"), (root.parent, "holds the dataset repository")):
        one_line_error(khabar("--root", root, *build_args(out, datasheet)), "refusing to build here", what)
    assert tree(tmp_path) == before
    with pytest.raises(KhabarError, match="holds the dataset repository"):
        check_out(Path("/"))  # asked directly: a regression here must not get to delete anything


def test_a_release_name_is_a_plain_folder_name(tmp_path, khabar, good_build, datasheet_template, monkeypatch):
    """``name = "../../victim"`` once built outside dist/ and deleted ``victim-1.0.0``."""
    datasheet = tmp_path / "DATASHEET.md"
    shutil.copyfile(datasheet_template, datasheet)
    root = copy_of_repository(tmp_path / "repo")
    version = (root / "dataset" / "VERSION").read_text(encoding="utf-8").strip()
    victim = tmp_path / f"victim-{version}"
    shutil.copytree(good_build, victim)  # even a real build outside dist/ is out of reach
    before = tree(tmp_path)
    config = (root / "dataset" / "release.toml").read_text(encoding="utf-8")
    assert 'name = "khabar"' in config
    for name in ("../../victim", "a/b", "..", ".hidden", "a\\\\b", "", "x" * 200):
        release = tmp_path / "release.toml"
        release.write_text(config.replace('name = "khabar"', f'name = "{name}"'), encoding="utf-8")
        before = tree(tmp_path)
        run = khabar("--root", root, "build", "--documents", SHARED / "documents.jsonl", "--exports", "--release", release, "--datasheet", datasheet)
        one_line_error(run, "release.toml", "is not a folder name")
        assert tree(tmp_path) == before
        assert not (root / "dist").exists()


def test_a_build_replaces_its_own_previous_build(tmp_path, khabar, good_build, datasheet_template):
    from khabar.validation.dataset_check import check_dataset

    datasheet = tmp_path / "DATASHEET.md"
    shutil.copyfile(datasheet_template, datasheet)
    out = tmp_path / "dist" / "khabar"
    shutil.copytree(good_build, out)
    before = tree(out)
    run = khabar(*build_args(out, datasheet, changed_export(tmp_path)))
    assert run.status == 0, run.output
    assert tree(out) != before and check_dataset(out).problems == []
    assert sorted(os.listdir(out.parent)) == ["khabar"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert khabar(*build_args(empty, datasheet)).status == 0 and (empty / "MANIFEST.json").is_file()


def test_after_a_kill_only_a_previous_build_is_removed(tmp_path, khabar, good_build, datasheet_template):
    """A build killed while removing its previous build leaves a hidden, partly removed build: the next build
    finishes removing it, but a hidden folder of the same name that is not a build is left alone."""
    datasheet = tmp_path / "DATASHEET.md"
    shutil.copyfile(datasheet_template, datasheet)
    dist = tmp_path / "dist"
    out = dist / "khabar"
    shutil.copytree(good_build, out)
    dead = 4_194_305  # above Linux's largest pid: no process has it
    partly = dist / f".khabar.previous-{dead}"
    shutil.copytree(good_build, partly)
    shutil.rmtree(partly / "data")  # removed before the kill; MANIFEST.json goes last, so it is still there
    impostor = dist / f".khabar.previous-{dead + 1}"
    shutil.copytree(good_build, impostor)
    (impostor / "mine.txt").write_text("not a build's\n", encoding="utf-8")
    impostor_before = tree(impostor)
    run = khabar(*build_args(out, datasheet, changed_export(tmp_path)))
    assert run.status == 0, run.output
    assert not partly.exists()
    assert tree(impostor) == impostor_before and f"left {impostor.name} alone" in run.err
    assert sorted(os.listdir(dist)) == sorted([out.name, impostor.name])


#: where a signal comes while a build puts its folder and datasheet in place: after the rename that moves the previous
#: build aside, after the one that moves the new build in, after the one that puts the refreshed datasheet in place
SWAP_MOMENTS = {
    "previous aside": lambda source, target, out, datasheet: Path(target).name.startswith(f".{out.name}.previous-"),
    "new in": lambda source, target, out, datasheet: Path(target) == out,
    "datasheet in": lambda source, target, out, datasheet: Path(target) == datasheet,
}


@pytest.mark.parametrize("moment", SWAP_MOMENTS)
@pytest.mark.parametrize(("signum", "status", "said"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_a_signal_while_the_build_is_put_in_place_leaves_the_new_folder_and_datasheet_together(
    moment, signum, status, said, tmp_path, khabar, good_build, datasheet_template, monkeypatch, sigterm_restored
):
    """A real signal right after one of the renames that put a build in place: the command stops as the signal says,
    with the new build and the new datasheet both in place and nothing beside them. It stopped there and then: with
    no output folder (the previous build hidden beside it), or the datasheet refreshed and the previous build put back."""
    export = changed_export(tmp_path)
    reference_datasheet = tmp_path / "reference" / "DATASHEET.md"
    reference_datasheet.parent.mkdir()
    shutil.copyfile(datasheet_template, reference_datasheet)
    assert khabar(*build_args(tmp_path / "reference" / "out", reference_datasheet, export)).status == 0
    work = tmp_path / "work"
    datasheet, out = work / "DATASHEET.md", work / "dist" / "khabar"
    datasheet.parent.mkdir()
    shutil.copyfile(datasheet_template, datasheet)
    shutil.copytree(good_build, out)
    assert tree(out) != tree(tmp_path / "reference" / "out") and datasheet.read_bytes() != reference_datasheet.read_bytes()

    signalled = []
    rename, replace = Path.rename, os.replace

    def then_signal(source, target):
        if not signalled and SWAP_MOMENTS[moment](source, target, out, datasheet):
            signalled.append(target)
            os.kill(os.getpid(), signum)  # handled at the next instruction, as when it comes from outside just then

    monkeypatch.setattr(Path, "rename", lambda self, target: (rename(self, target), then_signal(self, target))[0])
    monkeypatch.setattr(os, "replace", lambda source, target, **kwargs: (replace(source, target, **kwargs), then_signal(source, target))[0])
    run = khabar(*build_args(out, datasheet, export))
    assert signalled, f"no rename matched {moment!r}"
    assert run.status == status and run.err.splitlines()[-1] == f"khabar build: {said}", run.output
    assert tree(out) == tree(tmp_path / "reference" / "out")
    assert datasheet.read_bytes() == reference_datasheet.read_bytes()
    assert sorted(os.listdir(out.parent)) == [out.name] and sorted(os.listdir(work)) == ["DATASHEET.md", "dist"]


@pytest.mark.studio
def test_a_signal_as_a_pull_writes_its_export_waits_for_its_sync_state(
    studio_server, pull_project, tmp_path, khabar, monkeypatch, sigterm_restored
):
    """SIGTERM right after ``studio pull`` has put the export in place: its sync state (and pseudonym book) is written
    too before it stops (the state stayed missing or older than the export, which the next pull compares against)."""
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", studio_server.credentials.token)
    out = tmp_path / "exports" / "project.json"
    replace, signalled = os.replace, []

    def then_terminated(source, target, **kwargs):
        replace(source, target, **kwargs)
        if Path(target) == out and not signalled:
            signalled.append(target)
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(os, "replace", then_terminated)
    run = khabar("studio", "pull", "--studio-dir", tmp_path / "studio", "--url", studio_server.url, "--project", pull_project, "--out", out)
    assert signalled and run.status == 143 and run.err.splitlines()[-1] == "khabar studio: terminated", run.output
    assert out.is_file() and out.with_suffix(".sync").is_file()
    assert sorted(os.listdir(out.parent)) == sorted([out.name, out.with_suffix(".sync").name]), "a staged file was left beside them"


def test_a_read_only_previous_build_is_refused_before_anything_moves(tmp_path, good_build, datasheet_template):
    """A previous build (or an empty folder) someone made read-only: the build put itself in place, then could not
    remove the previous one, left it half removed beside the new one and said that nothing had changed. It is refused
    now, before any rename, in one line; the user's folder, modes included, and the datasheet stay as they were."""
    drop_root_powers = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner"] if os.geteuid() == 0 else []  # root writes anywhere
    assert not drop_root_powers or shutil.which("setpriv"), "root ignores a folder's mode without setpriv (util-linux) to drop that power"
    datasheet = tmp_path / "DATASHEET.md"
    shutil.copyfile(datasheet_template, datasheet)
    previous, empty = tmp_path / "dist" / "khabar", tmp_path / "dist" / "empty"
    shutil.copytree(good_build, previous)
    empty.mkdir()
    previous.chmod(0o555)
    empty.chmod(0o555)
    try:
        before = tree(tmp_path)
        for out in (previous, empty):
            args = ["--root", repo().root, *build_args(out, datasheet, changed_export(tmp_path / "dist"))]
            done = subprocess.run([*drop_root_powers, KHABAR, *map(str, args)], capture_output=True, text=True, timeout=300)
            (tmp_path / "dist" / "export.json").unlink()
            errors = [line for line in done.stderr.splitlines() if ": error: " in line]
            assert done.returncode == 2 and "Traceback" not in done.stderr and len(errors) == 1, done.stderr
            assert f"{out}: cannot replace it: {out.name} is read-only" in errors[0] and "nothing was changed" in errors[0], errors[0]
            assert tree(tmp_path) == before and oct(out.stat().st_mode & 0o777) == "0o555"
    finally:
        previous.chmod(0o755)
        empty.chmod(0o755)


def test_a_write_refused_by_its_folder_names_the_file_not_its_hidden_copy(tmp_path):
    """The new bytes are written to a hidden file beside the target first: when the folder refuses it, the error
    names the target (it named ``.x.json.<pid>-<random>.tmp``, a file the user never saw), and the target is as it was."""
    drop_root_powers = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner"] if os.geteuid() == 0 else []  # root writes anywhere
    folder = tmp_path / "read-only"
    folder.mkdir()
    target = folder / "x.json"
    target.write_text("[]\n", encoding="utf-8")
    folder.chmod(0o555)
    try:
        script = "import sys\nfrom pathlib import Path\nfrom khabar.foundation.errors import KhabarError\nfrom khabar.foundation.files import write_atomic\n" \
                 "try:\n    write_atomic(Path(sys.argv[1]), '[1]\\n')\nexcept KhabarError as exc:\n    print(exc)\n"
        done = subprocess.run([*drop_root_powers, sys.executable, "-c", script, str(target)], capture_output=True, text=True, timeout=120)
        assert done.stdout.strip() == f"{target}: cannot write: Permission denied; nothing was changed", done.stdout + done.stderr
        assert target.read_text(encoding="utf-8") == "[]\n" and os.listdir(folder) == ["x.json"]
    finally:
        folder.chmod(0o755)


#: every command's output option, and its arguments around the output path ``out`` (``read``: a datasheet, a good
#: build and a CoNLL file the commands may read)
OUTPUTS = {
    "build --out": lambda out, read: build_args(out, read["datasheet"]),
    "export --out": lambda out, read: ["export", read["build"], "--format", "conll", "--out", out],
    "import-conll --out": lambda out, read: ["import-conll", read["conll"], "--out", out],
    "predict --out": lambda out, read: ["predict", "--documents", SHARED / "documents.jsonl", "--out", out],
    "evaluate --json": lambda out, read: ["evaluate", "--json", out],
}


@pytest.fixture
def read(tmp_path, good_build, datasheet_template) -> dict[str, Path]:
    """What the commands of :data:`OUTPUTS` read, outside the folder a test looks at (``tmp_path / "work"``)."""
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    shutil.copyfile(datasheet_template, inputs / "DATASHEET.md")
    (inputs / "sample.conll").write_text("بغداد B-GPE\n\n", encoding="utf-8")
    (tmp_path / "work").mkdir()
    return {"datasheet": inputs / "DATASHEET.md", "build": good_build, "conll": inputs / "sample.conll"}


@pytest.mark.parametrize("above", ["/dev/null", "a regular file", "a dangling symlink", "a symlink loop"])
@pytest.mark.parametrize("output", OUTPUTS)
def test_an_output_below_something_that_is_not_a_folder_is_refused_naming_what_stands_there(tmp_path, khabar, read, output, above):
    """``--out /dev/null/x`` said "File exists" (mkdir's word for a file where a folder was wanted), or "Not a
    directory" naming /dev/null/x; ``evaluate --json`` said it only after the evaluation's minutes."""
    work = tmp_path / "work"
    if above == "/dev/null":
        standing, what = Path("/dev/null"), "a character device"
    elif above == "a regular file":
        standing, what = work / "notes.txt", "a regular file"
        standing.write_text("mine\n", encoding="utf-8")
    elif above == "a dangling symlink":
        standing, what = work / "link", "a dangling symlink"
        standing.symlink_to(work / "nowhere")
    else:
        standing, what = work / "loop", "a symlink loop"
        standing.symlink_to(standing)
    out = standing / "out" / "x"
    before = tree(work)
    run = khabar(*OUTPUTS[output](out, read))
    assert run.status == 2 and run.out == "", run.output
    assert run.err.splitlines() == [f"khabar {output.split()[0]}: error: {out}: cannot write it: {standing} is {what}, not a folder"]
    assert tree(work) == before


@pytest.mark.parametrize("output", OUTPUTS)
def test_an_output_that_is_a_loop_of_links_is_refused_in_one_line(tmp_path, khabar, read, output):
    """Resolving it, to compare it with the repository or the corpus records, was a RuntimeError traceback."""
    out = tmp_path / "work" / "loop"
    out.symlink_to(out)
    before = tree(tmp_path / "work")
    run = khabar(*OUTPUTS[output](out, read))
    assert run.status == 2 and run.out == "", run.output
    assert run.err.splitlines() == [f"khabar {output.split()[0]}: error: {out}: cannot write: a loop of symbolic links"]
    assert tree(tmp_path / "work") == before


def test_a_file_written_below_something_that_is_not_a_folder_is_refused_naming_what_stands_there(tmp_path):
    """The one writer says it for every file (``studio pull --out``, a model, the kept tables), not the commands alone."""
    from khabar.foundation.errors import KhabarError

    with pytest.raises(KhabarError) as refused:
        write_atomic(Path("/dev/null/x.json"), "[]\n")
    assert str(refused.value) == "/dev/null/x.json: cannot write it: /dev/null is a character device, not a folder"


@pytest.mark.parametrize("inside", ["annotation/exports/evil.json", "annotation", "annotation/corpus/pages/out", "dataset/out"])
@pytest.mark.parametrize("output", OUTPUTS)
def test_an_output_inside_the_repositorys_inputs_is_refused_before_any_work(tmp_path, khabar, read, output, inside):
    """``build --out annotation/exports/evil.json`` wrote a build there, a folder named like an export that every
    later ``khabar validate`` refused; a page or an export written among the inputs would be read as one."""
    root = copy_of_repository(tmp_path / "work" / "repository")
    out = root / inside
    before = tree(tmp_path / "work")
    run = khabar("--root", root, *OUTPUTS[output](out, read))
    assert run.status == 2 and run.out == "", run.output
    option, folder = output.split()[1], inside.split("/")[0]
    assert run.err.splitlines() == [
        f"khabar {output.split()[0]}: error: {out}: refusing to write {option} inside the repository's inputs ({folder}/), where later commands "
        "would read it as one; name a path outside annotation/ and dataset/, e.g. under dist/"
    ]
    assert tree(tmp_path / "work") == before


def test_a_build_that_fails_leaves_no_folder_it_made_for_its_output(tmp_path, khabar, datasheet_template, monkeypatch, sigterm_restored):
    """``--out`` in folders that do not exist yet (``dist/`` on a fresh clone): a build that fails, or is stopped, after
    making them leaves none of them (an empty ``dist/`` stayed), and one that succeeds keeps them."""
    from khabar.dataset import build as build_module

    datasheet = tmp_path / "DATASHEET.md"
    shutil.copyfile(datasheet_template, datasheet)
    out = tmp_path / "new" / "dist" / "khabar"
    compute = build_module.compute

    def compute_then_terminated(*args, **kwargs):
        compute(*args, **kwargs)  # the folders are made and the shards written in the staging folder
        assert out.parent.is_dir()
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not stop the command")

    monkeypatch.setattr(build_module, "compute", compute_then_terminated)
    assert khabar(*build_args(out, datasheet)).status == 143
    assert sorted(os.listdir(tmp_path)) == ["DATASHEET.md"]
    monkeypatch.setattr(build_module, "compute", compute)
    assert khabar(*build_args(out, datasheet)).status == 0 and (out / "MANIFEST.json").is_file()


# ---- a full disk ----


def test_a_full_disk_while_writing_parquet_changes_nothing(tmp_path, khabar, good_build, datasheet_template):
    datasheet = tmp_path / "DATASHEET.md"
    shutil.copyfile(datasheet_template, datasheet)
    with small_filesystem(tmp_path / "disk") as disk:
        out = disk / "dist" / "khabar"
        shutil.copytree(good_build, out)
        fill(disk)
        before, datasheet_before = tree(disk), datasheet.read_bytes()
        run = khabar(*build_args(out, datasheet, changed_export(tmp_path)))
        one_line_error(run, str(out), "No space left on device", "unchanged")
        assert "wrote data/" not in run.err, "the disk was full before the first parquet file"
        assert "splits:" in run.err  # it failed writing the first shard (shards are written as the configs are made), not before
        assert tree(disk) == before, "the previous build changed or something was left behind"
        assert datasheet.read_bytes() == datasheet_before


def test_a_full_disk_while_writing_the_datasheet_changes_nothing(tmp_path, khabar, good_build, datasheet_template):
    dist = tmp_path / "dist"
    out = dist / "khabar"
    shutil.copytree(good_build, out)
    build_before = tree(dist)
    with small_filesystem(tmp_path / "disk", size="1m") as disk:
        datasheet = disk / "DATASHEET.md"
        shutil.copyfile(datasheet_template, datasheet)
        fill(disk)
        before = tree(disk)
        run = khabar(*build_args(out, datasheet, changed_export(tmp_path)))
        one_line_error(run, "DATASHEET.md", "No space left on device")
        assert "wrote data/" in run.err, "the build folder was written before the datasheet"
        assert tree(disk) == before, "the datasheet changed or a temporary file was left"
        assert tree(dist) == build_before, "the new build went in although the datasheet could not"
    # with room, the same build goes through and both change together
    shutil.copyfile(datasheet_template, tmp_path / "DATASHEET.md")
    assert khabar(*build_args(out, tmp_path / "DATASHEET.md", changed_export(tmp_path))).status == 0
    assert tree(dist) != build_before and (tmp_path / "DATASHEET.md").read_bytes() != datasheet_template.read_bytes()


def test_a_full_disk_while_ingesting_changes_nothing(tmp_path, khabar):
    with small_filesystem(tmp_path / "disk", size="1m") as disk:
        corpus = disk / "corpus"
        (corpus / "pages").mkdir(parents=True)
        (corpus / "pages" / "a.txt").write_text("قال الوزير إن بغداد آمنة.\n", encoding="utf-8")
        (corpus / "pages.csv").write_text(PAGES_HEADER + "a.txt,asharq-al-awsat,عنوان,2024-03-24,,,story-1\n", encoding="utf-8")
        (corpus / "sources.csv").write_text(SOURCES, encoding="utf-8")
        assert khabar("ingest", "--corpus", corpus, "--exports").status == 0
        (corpus / "pages" / "b.txt").write_text("أكد رئيس الوزراء أن الحكومة قادرة.\n", encoding="utf-8")
        with (corpus / "pages.csv").open("a", encoding="utf-8") as pages:
            pages.write("b.txt,asharq-al-awsat,عنوان,2024-03-24,,,story-2\n")
        fill(disk)
        before = tree(disk)
        run = khabar("ingest", "--corpus", corpus, "--exports")
        one_line_error(run, "documents.jsonl", "No space left on device")
        assert tree(disk) == before


# ---- JSON Lines and every line separator ----


@pytest.mark.parametrize("separator", LINE_SEPARATORS, ids=[f"U+{ord(c):04X}" for c in LINE_SEPARATORS])
def test_every_line_separator_round_trips_through_json_lines(separator, tmp_path):
    values = [{"text": f"قال{separator}الوزير", "n": 1}, {"text": separator * 3}]
    path = tmp_path / "x.jsonl"
    write_atomic(path, jsonl.dumps(values))
    written = path.read_text(encoding="utf-8")
    assert written.count("\n") == 2 and len(written.splitlines()) == 2
    assert [json.loads(line) for _, line in jsonl.lines(path)] == values


@settings(max_examples=300, deadline=None)
@given(st.lists(st.dictionaries(st.text(), st.one_of(st.text(), st.integers(), st.none(), st.lists(st.text(), max_size=3)), max_size=4), max_size=5))
def test_any_unicode_round_trips_through_json_lines_one_value_per_line(values):
    text = jsonl.dumps(values)
    assert text.count("\n") == len(values) and len(text.splitlines()) == len(values)
    assert [json.loads(line) for _, line in jsonl.split(text)] == values


def test_a_page_with_line_separators_is_ingested_read_back_validated_and_built(tmp_path, khabar, datasheet_template):
    """U+2028 once made a corpus that the next ingest, validate and build refused."""
    corpus = tmp_path / "corpus"
    (corpus / "pages").mkdir(parents=True)
    page = "قال الوزير\u2028إن بغداد آمنة.\u2029وأضاف\u0085أن الوضع مستقر.\n"
    (corpus / "pages" / "a.txt").write_text(page, encoding="utf-8")
    (corpus / "pages.csv").write_text("file,source,title,published,published_evidence,url,story\na.txt,asharq-al-awsat,عنوان,2024-03-24,,,story-1\n", encoding="utf-8")
    (corpus / "sources.csv").write_text("id,name_ar,name_en,site,country\nasharq-al-awsat,الشرق الأوسط,Asharq Al-Awsat,aawsat.com,GB\n", encoding="utf-8")
    first = khabar("ingest", "--corpus", corpus, "--exports")
    assert first.status == 0, first.output
    documents = corpus / "documents.jsonl"
    written = documents.read_bytes()
    again = khabar("ingest", "--corpus", corpus, "--exports")
    assert again.status == 0 and "unchanged" in again.out, again.output
    assert documents.read_bytes() == written
    [record] = load_records(documents)
    assert all(c in record.text for c in "\u2028\u2029\u0085")
    assert len(written.decode("utf-8").splitlines()) == 1
    data = {"doc_id": record.doc_id, "source": record.source, "text": record.text, "title": record.title}
    export = [{"annotations": [], "data": data, "drafts": [], "id": 1, "predictions": []}]
    (tmp_path / "export.json").write_text(dumps(export), encoding="utf-8")
    validated = khabar("validate", tmp_path / "export.json", "--documents", documents)
    assert validated.status == 0, validated.output
    datasheet = tmp_path / "DATASHEET.md"
    shutil.copyfile(datasheet_template, datasheet)
    built = khabar("build", "--documents", documents, "--exports", "--out", tmp_path / "out", "--datasheet", datasheet)
    assert built.status == 0, built.output


def test_the_conll_importer_writes_corpus_records_that_read_back(tmp_path):
    from khabar.annotation.conll_import import write_documents

    text = "بغداد\u2028قال\u2029الوزير\u0085أمس\x1c\x1d\x1e\x0b\x0c"
    record = DocumentRecord(**{**DOCS[1], "text": text, "doc_id": "0123456789abcdef"})
    other = DocumentRecord(**{**DOCS[1], "text": text + "أمس", "doc_id": "fedcba9876543210", "file": "002_other.txt"})
    write_documents(tmp_path / "documents.jsonl", [record, other])
    assert load_records(tmp_path / "documents.jsonl") == [record, other]


# ---- validate --repair: the file it checked, its mode, its link ----


def drifted_export() -> str:
    """The good export with entity e3's offsets two characters off: --repair moves them back."""
    tasks = mutated("e3")
    value = next(r for r in tasks[0]["annotations"][0]["result"] if r.get("id") == "e3")["value"]
    value["start"] += 2
    value["end"] += 2
    return dumps(tasks)


def test_repair_keeps_the_mode_and_replaces_the_target_of_a_link(tmp_path, khabar):
    real = tmp_path / "store" / "export.json"
    real.parent.mkdir()
    real.write_text(drifted_export(), encoding="utf-8")
    real.chmod(0o640)
    link = tmp_path / "export.json"
    link.symlink_to(real)
    run = khabar("validate", "--repair", link, "--documents", SHARED / "documents.jsonl")
    assert run.status == 0, run.output
    assert "repaired:" in run.err and "region e3" in run.err
    assert link.is_symlink() and link.resolve() == real
    assert oct(real.stat().st_mode & 0o777) == oct(0o640)
    assert json.loads(real.read_text(encoding="utf-8")) == json.loads(dumps(good_export()))
    assert sorted(os.listdir(real.parent)) == ["export.json"] and sorted(os.listdir(tmp_path)) == ["export.json", "store"]


def test_repair_refuses_a_file_that_changed_while_it_was_checked(tmp_path, khabar, monkeypatch):
    from khabar.validation import repair

    path = tmp_path / "export.json"
    path.write_text(drifted_export(), encoding="utf-8")
    edited = drifted_export().replace('"lead_time": 42.5', '"lead_time": 43.5')
    real_candidates = repair._candidates

    def edited_meanwhile(*args):  # an editor saves the file after the check, before the repair reads it
        found = real_candidates(*args)
        path.write_text(edited, encoding="utf-8")
        return found

    monkeypatch.setattr(repair, "_candidates", edited_meanwhile)
    run = khabar("validate", "--repair", path, "--documents", SHARED / "documents.jsonl")
    one_line_error(run, "export.json", "changed on disk", "not repaired")
    assert path.read_text(encoding="utf-8") == edited
    assert sorted(os.listdir(tmp_path)) == ["export.json"]


def test_an_atomic_write_refuses_a_file_changed_since_it_was_read(tmp_path):
    from khabar.foundation.errors import KhabarError

    path = tmp_path / "x.json"
    path.write_bytes(b"old\n")
    read = hashlib.sha256(b"old\n").hexdigest()
    path.write_bytes(b"someone else's\n")
    with pytest.raises(KhabarError, match="changed on disk since it was read"):
        write_atomic(path, "mine\n", over=read)
    assert path.read_bytes() == b"someone else's\n" and os.listdir(tmp_path) == ["x.json"]
    new = tmp_path / "new.json"
    write_atomic(new, "new\n")
    assert oct(new.stat().st_mode & 0o777) == oct(0o644)
    (tmp_path / "loop-a").symlink_to(tmp_path / "loop-b")
    (tmp_path / "loop-b").symlink_to(tmp_path / "loop-a")
    with pytest.raises(KhabarError, match="loop of symbolic links"):
        write_atomic(tmp_path / "loop-a", "x\n")


def test_a_write_of_a_file_the_command_found_absent_refuses_one_made_meanwhile(tmp_path):
    """A command that found no file writes a new one: a file someone saved there meanwhile was replaced by it.
    ``write_atomic(over=None)`` (``link … --write`` of a base without the file, ``studio pull`` to a new export) and
    ``write_new_files`` (``khabar import-conll``) refuse it and keep it, leaving nothing of their own."""
    from khabar.foundation.errors import KhabarError
    from khabar.foundation.files import write_new_files

    path = tmp_path / "x.json"
    path.write_bytes(b"someone else's\n")
    with pytest.raises(KhabarError, match=f"^{path}: made on disk since the command found none there; not written"):
        write_atomic(path, "mine\n", over=None)
    assert path.read_bytes() == b"someone else's\n" and os.listdir(tmp_path) == ["x.json"]

    out = tmp_path / "out"
    out.mkdir()
    export, documents = out / "export.json", out / "documents.jsonl"

    def export_while_someone_saves_the_records() -> str:
        documents.write_text("someone else's\n", encoding="utf-8")
        return "[]\n"

    with pytest.raises(KhabarError, match=f"^{documents}: made on disk since the command found none there"):
        write_new_files([(export, export_while_someone_saves_the_records), (documents, lambda: "{}\n")])
    assert documents.read_text(encoding="utf-8") == "someone else's\n" and os.listdir(out) == ["documents.jsonl"], "the export was put back out"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("moment", ["after the staging, before the commit", "as the commit compares the file with what was read"])
def test_a_signal_as_a_file_is_written_leaves_the_file_and_nothing_staged(moment, signum, repo_copy, khabar, monkeypatch, sigterm_restored):
    """``khabar link propose --write``, stopped by a real signal once its new bytes are staged beside links.csv: it left
    them there (``.links.csv.<pid>-….tmp``, the file's whole size) until the next write of the file, where a stopped
    command removes what it began to write."""
    from khabar.foundation import files as files_module

    links = repo_copy / "annotation" / "kb" / "links.csv"
    lines = links.read_bytes().splitlines(keepends=True)
    links.write_bytes(b"".join(lines[:7] + lines[8:]))  # a row to propose again: the command writes
    before = tree(links.parent)
    if moment.startswith("after the staging"):
        commit = files_module.StagedFile.commit

        def signal_then_commit(staged):
            os.kill(os.getpid(), signum)
            commit(staged)

        monkeypatch.setattr(files_module.StagedFile, "commit", signal_then_commit)
    else:
        file_sha256 = files_module._file_sha256

        def signal_then_hash(path):
            if path == links:  # not the inputs the command hashes first
                os.kill(os.getpid(), signum)
            return file_sha256(path)

        monkeypatch.setattr(files_module, "_file_sha256", signal_then_hash)
    run = khabar("--root", repo_copy, "link", "propose", "--write")
    ending, status = {signal.SIGINT: ("interrupted", 130), signal.SIGTERM: ("terminated", 143)}[signum]
    assert run.status == status and run.err.splitlines()[-1] == f"khabar link: {ending}", run.output
    assert tree(links.parent) == before, "links.csv changed, or the staged file was left beside it"


def test_a_file_written_as_it_is_made_that_fails_leaves_no_file_and_no_folder_it_made(tmp_path):
    """Pieces that raise half-way (a bad line met while the output is written): the staged file goes, and so do
    the folders made to hold it; a folder that was there already stays, and so does one something else was put in."""

    def pieces():
        yield "half of it\n"
        raise ValueError("the input's line 9 is bad")

    (tmp_path / "there").mkdir()
    with pytest.raises(ValueError, match="line 9"):
        write_atomic(tmp_path / "there" / "new" / "deeper" / "out.json", pieces())
    assert os.listdir(tmp_path) == ["there"] and os.listdir(tmp_path / "there") == []

    def meanwhile():
        yield "half of it\n"
        (tmp_path / "there" / "new" / "someone's.txt").write_text("theirs\n", encoding="utf-8")
        raise ValueError("bad")

    with pytest.raises(ValueError):
        write_atomic(tmp_path / "there" / "new" / "deeper" / "out.json", meanwhile())
    assert sorted(os.listdir(tmp_path / "there" / "new")) == ["someone's.txt"]


# ---- validate --dataset: MANIFEST.json names only files inside the folder ----


@pytest.mark.parametrize("entry", ["../outside.txt", "data/../../outside.txt", "/etc/hostname", "data/link.txt"])
def test_validate_dataset_refuses_manifest_entries_outside_the_folder(entry, build_copy, tmp_path, khabar):
    outside = tmp_path / "outside.txt"
    outside.write_text("not the dataset's\n", encoding="utf-8")
    (build_copy / "data" / "link.txt").symlink_to(outside)
    manifest_path = build_copy / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["files"].append({"path": entry, "bytes": 18, "sha256": hashlib.sha256(outside.read_bytes()).hexdigest()})
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    before = tree(build_copy)
    run = khabar("validate", "--dataset", build_copy)
    one_line_error(run, "MANIFEST.json", repr(entry), "refusing the manifest")
    assert tree(build_copy) == before


def test_a_full_disk_while_the_build_cuts_the_kept_tables_is_one_line_and_leaves_nothing(tmp_path, khabar, datasheet_template, monkeypatch):
    """The build writes the kept tables' ranges into a folder of its own beside the store: no room there is a
    one-line error (exit 2) for `build` and `build --check`, with no build, the datasheet unchanged and no folder left."""
    import pyarrow

    monkeypatch.setenv("KHABAR_CACHE_DIR", str(tmp_path / "cache"))
    datasheet = tmp_path / "DATASHEET.md"
    shutil.copyfile(datasheet_template, datasheet)
    export = SHARED / "good_export.json"
    assert khabar("validate", export, "--documents", SHARED / "documents.jsonl").status == 0  # keeps its tables

    def no_room(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pyarrow.ipc, "new_file", no_room)
    before = datasheet.read_bytes()
    for extra in (["--check"], []):
        run = khabar(*build_args(tmp_path / "out", datasheet, export), *extra)
        one_line_error(run, "cannot cut the kept tables into ranges of documents", "No space left on device")
        assert "tables: the ones khabar validate kept" in run.err  # the kept tables were found, and cutting them failed
    assert not (tmp_path / "out").exists() and datasheet.read_bytes() == before
    gc.collect()
    assert not list((tmp_path / "cache").glob(".khabar-build-*"))


def test_a_temporary_folder_removes_what_killed_commands_left_there_and_nothing_else(tmp_path, monkeypatch):
    """Every command's temporary folder is named ``khabar-<kind>-<pid>-<8 random>`` and held (a lock) while the
    command works in it; making one removes the folders so named that no running process holds and whose pid is
    this process's or no running process's: a killed command's, and one named after this process (a pid taken
    again: in a container every run is pid 1). A folder a running process holds stays, whatever pid its name
    carries (a process in another pid namespace, a container sharing the folder, has a pid this one cannot see);
    so does one whose pid another process runs as (a command of an earlier Khabar holds no lock), until that process
    ends; and so do a name the user chose like it, a file, a link and another kind's look-alike."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()  # a process that is gone, as a killed command's is
    dead, alive = ended.pid, os.getpid()
    left = [tmp_path / f"khabar-{kind}-{dead}-a1b2c3d_" for kind in ("tables", "shards", "pull", "push", "diff", "export", "evaluate")]
    left.append(tmp_path / f"khabar-tables-{alive}-reusedpi")
    running = [tmp_path / f"khabar-pull-{dead}-abcdefgh", tmp_path / f"khabar-tables-{alive}-abcdefgh"]
    kept_folders = [*running, *(tmp_path / name for name in (f"khabar-notes-{dead}-abcdefgh", f"khabar-tables-{dead}-abc", f"khabar-tables-{dead}-abcdefgh-mine"))]
    for folder in left + kept_folders:
        folder.mkdir()
        (folder / "spans.parquet").write_bytes(b"rows")
    (tmp_path / f"khabar-diff-{dead}-abcdefgh").write_text("a file", encoding="utf-8")
    target = tmp_path / "elsewhere"
    target.mkdir()
    (tmp_path / f"khabar-push-{dead}-abcdefgh").symlink_to(target, target_is_directory=True)
    with held_by_another_process(*running) as other:
        earlier = tmp_path / f"khabar-tables-{other}-earlier_"
        earlier.mkdir()
        with temporary_folder("diff") as made:
            assert Path(made).parent == tmp_path and Path(made).name.startswith(f"khabar-diff-{alive}-")
            assert not any(folder.exists() for folder in left)
            assert all((folder / "spans.parquet").read_bytes() == b"rows" for folder in kept_folders) and earlier.is_dir()
            assert (tmp_path / f"khabar-diff-{dead}-abcdefgh").is_file() and (tmp_path / f"khabar-push-{dead}-abcdefgh").is_symlink() and target.is_dir()
            with temporary_folder("tables") as other_made:  # this command's own folder is held too: the next one leaves it
                assert Path(made).is_dir() and Path(other_made).is_dir()
    assert not Path(made).exists()
    with temporary_folder("diff"):  # once that process has ended, what it held and what carried its pid are left behind
        assert not any(folder.exists() for folder in [*running, earlier])


def test_a_write_removes_what_a_killed_command_staged_beside_its_target_and_nothing_else(tmp_path):
    """Every file is written beside its target as ``.<name>.<pid>-<8 random>.tmp`` and held until it is renamed into
    place. A command killed before the rename left it there for good (an export's whole size, for a pull): the next
    write of that target removes it, and what a running command holds, what another target's write left, a name the
    user chose like it, a folder and a link stay."""
    import signal

    from khabar.foundation.files import write_atomic

    target = tmp_path / "DATASHEET.md"
    target.write_text("old\n", encoding="utf-8")
    killed = subprocess.Popen(
        [sys.executable, "-c", "import os, signal, sys; from pathlib import Path; from khabar.foundation.files import stage_file; "
         "staged = stage_file(Path(sys.argv[1]), b'x' * 100_000); os.kill(os.getpid(), signal.SIGKILL)", str(target)],  # killed holding it
    )
    assert killed.wait() == -signal.SIGKILL
    [staged_by_killed] = tmp_path.glob(f".DATASHEET.md.{killed.pid}-*.tmp")
    assert staged_by_killed.stat().st_size == 100_000
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    dead = ended.pid
    left = [staged_by_killed, tmp_path / f".DATASHEET.md.{dead}-a1b2c3d_.tmp", tmp_path / f".DATASHEET.md.{os.getpid()}-reusedpi.tmp"]
    running = tmp_path / f".DATASHEET.md.{dead}-abcdefgh.tmp"
    kept = [running, *(tmp_path / name for name in (f".OTHER.md.{dead}-abcdefgh.tmp", ".DATASHEET.md.notes.tmp", f".DATASHEET.md.{dead}-abc.tmp"))]
    for path in left[1:] + kept:
        path.write_bytes(b"staged")
    (tmp_path / f".DATASHEET.md.{dead}-folder__.tmp").mkdir()
    (tmp_path / f".DATASHEET.md.{dead}-linkedto.tmp").symlink_to(tmp_path / "elsewhere.txt")
    (tmp_path / "elsewhere.txt").write_text("not staged\n", encoding="utf-8")
    with held_by_another_process(running):
        write_atomic(target, "new\n")
    assert target.read_text(encoding="utf-8") == "new\n"
    assert not any(path.exists() for path in left)
    assert all(path.read_bytes() == b"staged" for path in kept)
    assert (tmp_path / f".DATASHEET.md.{dead}-folder__.tmp").is_dir() and (tmp_path / f".DATASHEET.md.{dead}-linkedto.tmp").is_symlink()
    assert (tmp_path / "elsewhere.txt").read_text(encoding="utf-8") == "not staged\n"
    others = [target.name, "elsewhere.txt", f".DATASHEET.md.{dead}-folder__.tmp", f".DATASHEET.md.{dead}-linkedto.tmp"]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([*others, *(path.name for path in kept)])


def test_a_killed_commands_staging_folder_is_removed_by_the_next_that_writes_there(tmp_path, monkeypatch, khabar):
    """Every command that replaces a folder (the store of kept tables, a model, an export, a build) makes it as
    ``.<name>.building-<pid>`` beside it. A validation killed while it saved the store left its tables there for
    good (only the build swept its own), and one killed between its two renames left the previous store moved
    aside: once the next validation has saved its own, it removes both, but not the folders of a command still
    running (held, whatever their pid), nor a look-alike of another folder."""
    from khabar.validation import store

    monkeypatch.setenv("KHABAR_CACHE_DIR", str(tmp_path / "cache"))
    parent, name = store.store_dir().parent, store.store_dir().name
    parent.mkdir(parents=True)
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    killed = [parent / f".{name}.building-{ended.pid}", parent / f".{name}.previous-{ended.pid}"]
    running = [parent / f".{name}.building-4194305", parent / f".{name}.previous-4194305"]
    other = parent / f".models.building-{ended.pid}"
    for folder in (*killed, *running, other):
        folder.mkdir()
        (folder / "spans.parquet").write_bytes(b"rows")
    with held_by_another_process(*running):
        assert khabar("validate", SHARED / "good_export.json", "--documents", SHARED / "documents.jsonl").status == 0
        assert store.holds_tables()
        assert not any(folder.exists() for folder in killed)
        assert all((folder / "spans.parquet").read_bytes() == b"rows" for folder in (*running, other))


def test_a_full_temporary_folder_while_evaluate_sets_the_gold_pages_aside_is_one_line_naming_it(tmp_path):
    """``khabar evaluate --setting loo`` sets each gold page aside in its fold's file, in the command's temporary
    folder. When that folder's disk is full, it stops with one line naming the folder, as validation's tables do."""
    from khabar.foundation.errors import KhabarError
    from khabar.model.evaluate import gold_folds
    from khabar.model.train import TrainConfig

    exports = sorted(repo().exports_dir.glob("*.json"))
    with small_filesystem(tmp_path / "disk", size="1m") as disk:
        work = disk / "khabar-evaluate"
        work.mkdir()
        fill(disk)
        with pytest.raises(KhabarError) as raised:
            gold_folds(exports, repo().documents_file, TrainConfig(), (), work)
    message = str(raised.value)
    assert "\n" not in message and str(work) in message, message
    assert "cannot set the gold pages aside: No space left on device; make room there or point TMPDIR at another folder" in message, message
