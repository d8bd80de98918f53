"""Faults with real processes and real signals: a Label Studio killed mid-pull, a crashed
``studio up``, a build killed mid-write.

The Label Studio tests run their own server (``own_studio``: SIGKILL would take
the session's down) on a copy of the session server's data dir. The server is
a child of this process, so a SIGKILLed one is reaped here, as init reaps it
once ``khabar studio up`` has exited; its ``server.json`` stays behind, naming
a dead pid.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from khabar.foundation.paths import repo
from khabar.studio.server import StudioPaths, free_port, running_server
from tests.reliability.reliability_support import SHARED

KHABAR = Path(sys.executable).with_name("khabar")
PROJECT = "reliability-faults"
BULK_TASKS = 400


def tree_digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def kill_server(paths: StudioPaths) -> int:
    """SIGKILL the recorded server and wait until it is gone; its server.json stays behind, stale."""
    server = running_server(paths)
    assert server is not None
    os.kill(server.pid, signal.SIGKILL)
    try:
        os.waitpid(server.pid, 0)  # our child: reaped, as init reaps it once `khabar studio up` has exited
    except ChildProcessError:
        while psutil.pid_exists(server.pid):
            time.sleep(0.05)
    assert paths.server_file.exists()
    return server.pid


def ensure_up(paths: StudioPaths, khabar) -> None:
    if running_server(paths) is None:
        up = khabar("studio", "up", "--studio-dir", paths.root, "--port", free_port())
        assert up.status == 0, up.output


def client_of(paths: StudioPaths):
    from khabar.studio.connection import connect, local_target

    return connect(local_target(paths))


def bulk_tasks() -> list[dict]:
    """Tasks with three annotations each, so that a snapshot export takes a moment."""
    good = json.loads((SHARED / "good_export.json").read_text(encoding="utf-8"))[0]
    result = [r for r in good["annotations"][0]["result"]]
    return [
        {"data": {**good["data"], "doc_id": f"bulk-{n:05d}"}, "annotations": [{"result": result} for _ in range(3)]}
        for n in range(BULK_TASKS)
    ]


def export_rows(paths: StudioPaths) -> int:
    with sqlite3.connect(f"file:{paths.database}?mode=ro", uri=True, timeout=5) as db:
        return db.execute("select count(*) from data_export_export").fetchone()[0]


@pytest.mark.studio
def test_server_killed_in_the_middle_of_pull_leaves_the_previous_export_and_the_next_pull_succeeds(own_studio, khabar, tmp_path):
    studio = str(own_studio.root)
    ensure_up(own_studio, khabar)
    port = running_server(own_studio).port
    sync = khabar("studio", "sync", "--studio-dir", studio, "--project", PROJECT, "--documents", SHARED / "documents.jsonl")
    assert sync.status == 0, sync.output
    client = client_of(own_studio)
    from khabar.studio.project import require_project

    project_id = require_project(client, PROJECT)
    client.projects.import_tasks(id=project_id, request=bulk_tasks())
    out = tmp_path / "exports" / f"{PROJECT}.json"
    first = khabar("studio", "pull", "--studio-dir", studio, "--project", PROJECT, "--out", out)
    assert first.status == 0, first.output
    previous = out.read_bytes()
    state = out.with_suffix(".sync").read_bytes()  # the sync state beside the export
    previous_annotations = sum(len(t["annotations"]) for t in json.loads(previous))
    task_id = json.loads(previous)[0]["id"]
    client.annotations.create(id=task_id, result=[], lead_time=1.0)  # the next pull has something new

    exports_before = export_rows(own_studio)
    pull = subprocess.Popen(
        [KHABAR, "studio", "pull", "--studio-dir", studio, "--project", PROJECT, "--out", out],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 120
    while export_rows(own_studio) == exports_before:  # the snapshot export has begun on the server
        assert pull.poll() is None, f"pull ended before the server made its snapshot: {pull.communicate()}"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    kill_server(own_studio)
    stdout, stderr = pull.communicate(timeout=120)
    assert json.loads(own_studio.server_file.read_text())["port"] == port  # the crash left its record

    assert pull.returncode == 2, (stdout, stderr)
    assert "Traceback" not in stdout + stderr
    errors = [line for line in stderr.strip().splitlines() if "error" in line]  # the other lines are pull's progress
    assert len(errors) == 1 and "cannot reach Label Studio" in errors[0], stderr
    assert out.read_bytes() == previous, "the previous export changed"
    assert out.with_suffix(".sync").read_bytes() == state, "the sync state changed"
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name, out.with_suffix(".sync").name], "a temporary file was left beside the export"

    status = khabar("studio", "status", "--studio-dir", studio)
    assert status.status == 1 and "not running" in status.out  # the stale server.json is recognised
    assert khabar("studio", "up", "--studio-dir", studio, "--port", port).status == 0
    again = khabar("studio", "pull", "--studio-dir", studio, "--project", PROJECT, "--out", out)
    assert again.status == 0, again.output
    pulled = json.loads(out.read_text(encoding="utf-8"))
    assert sum(len(t["annotations"]) for t in pulled) == previous_annotations + 1


@pytest.mark.studio
def test_up_after_a_crash_recovers_from_a_stale_pid_and_a_taken_port_and_never_duplicates_tasks(own_studio, khabar):
    studio = str(own_studio.root)
    ensure_up(own_studio, khabar)
    sync = khabar("studio", "sync", "--studio-dir", studio, "--project", PROJECT, "--documents", SHARED / "documents.jsonl")
    assert sync.status == 0, sync.output
    from khabar.studio.project import project_tasks, require_project

    tasks_before = sorted(t.id for t in project_tasks(client_of(own_studio), require_project(client_of(own_studio), PROJECT)))
    crashed_pid = kill_server(own_studio)

    with socket.socket() as squatter:  # another program holds the port `studio up` is asked for
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken_port = squatter.getsockname()[1]
        taken = khabar("studio", "up", "--studio-dir", studio, "--port", taken_port)
        assert taken.status == 2 and f"port {taken_port}" in taken.err and "--port" in taken.err, taken.output
        assert "Traceback" not in taken.output
        assert running_server(own_studio) is None and not own_studio.server_file.exists()
    new_port = free_port()
    up = khabar("studio", "up", "--studio-dir", studio, "--port", new_port)
    assert up.status == 0, up.output
    server = running_server(own_studio)
    assert server.pid != crashed_pid and server.port == new_port
    assert json.loads(own_studio.credentials_file.read_text())["port"] == new_port

    twice = khabar("studio", "up", "--studio-dir", studio, "--port", new_port)
    assert twice.status == 0 and "already running" in twice.output and running_server(own_studio).pid == server.pid
    for _ in range(2):
        again = khabar("studio", "sync", "--studio-dir", studio, "--project", PROJECT, "--documents", SHARED / "documents.jsonl")
        assert again.status == 0 and "0 document(s) imported, 2 already there" in again.out, again.output
    client = client_of(own_studio)
    assert sorted(t.id for t in project_tasks(client, require_project(client, PROJECT))) == tasks_before


def run_build(out: Path, export: Path, datasheet: Path, temp: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [KHABAR, "build", "--documents", SHARED / "documents.jsonl", "--exports", export, "--out", out, "--datasheet", datasheet],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=repo().root, env=os.environ | {"TMPDIR": str(temp)},
    )


def test_build_killed_half_way_leaves_the_last_good_build_intact(good_build, datasheet_template, tmp_path):
    from khabar.validation.dataset_check import check_dataset

    dist = tmp_path / "dist"
    out = dist / good_build.name
    shutil.copytree(good_build, out)
    datasheet = tmp_path / "DATASHEET.md"
    shutil.copyfile(good_build.parent.parent / "DATASHEET.md", datasheet)
    before, datasheet_before = tree_digest(out), datasheet.read_bytes()
    export = json.loads((SHARED / "good_export.json").read_text(encoding="utf-8"))
    export[1]["annotations"][0]["result"] = []  # a different build: one entity fewer
    changed = tmp_path / "export.json"
    changed.write_text(json.dumps(export, ensure_ascii=False), encoding="utf-8")

    temp = tmp_path / "tmp"  # the system's temporary folder, as the build sees it
    temp.mkdir()
    build = run_build(out, changed, datasheet, temp)
    for line in build.stdout:  # killed right after its first data file is written, with the rest still to write
        if line.startswith("khabar build: wrote data/"):
            build.send_signal(signal.SIGKILL)
            break
    build.wait(timeout=60)
    assert build.returncode == -signal.SIGKILL, "the build finished before it could be killed"
    staging = [p.name for p in dist.iterdir() if p.name != out.name]
    assert staging, "the kill did not land while the build was writing"
    assert tree_digest(out) == before, "the last good build changed"
    assert check_dataset(out).problems == []
    assert datasheet.read_bytes() == datasheet_before
    left = [p.name for p in temp.iterdir()]
    assert any(name.startswith(f"khabar-tables-{build.pid}-") for name in left), f"the killed build's tables stay in the temporary folder: {left}"

    rebuild = run_build(out, changed, datasheet, temp)
    output = rebuild.communicate(timeout=300)[0]
    assert rebuild.returncode == 0, output
    assert "left by an interrupted build" in output
    assert [p.name for p in dist.iterdir()] == [out.name], "the next build cleans up after the killed one"
    assert list(temp.iterdir()) == [], "in the temporary folder too"
    assert tree_digest(out) != before and check_dataset(out).problems == []


@pytest.mark.parametrize("full_at", ["corpus", "batches"])
def test_a_full_temporary_folder_during_validation_is_one_line_naming_it_and_leaves_nothing(tmp_path, full_at):
    """The corpus is mapped from a file in the system's temporary folder (``TMPDIR``), and the checked tables are set
    aside there. When it fills, whether at the corpus or at a batch (pyarrow, an ``OSError`` with no file name),
    ``khabar validate`` says so in one line naming that folder and exits 2, and nothing of it is left there. A file
    size limit stands in for a full disk: writing past it fails as a full disk does."""
    import resource

    from khabar.validation.mapped import MappedFrame
    from khabar.validation.reader import read_documents

    temp = tmp_path / "tmp"
    temp.mkdir()
    mapped = MappedFrame(read_documents(repo().documents_file), "the corpus records").size  # the first file it writes
    limit = 1024 if full_at == "corpus" else mapped + 1024  # the batches' spans table is larger (51 KB against 44 KB)
    result = subprocess.run(
        [str(KHABAR), "validate"], cwd=repo().root, capture_output=True, text=True, timeout=300,
        env=os.environ | {"TMPDIR": str(temp), "KHABAR_CACHE_DIR": str(tmp_path / "cache")},
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)),
    )
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    if full_at == "corpus":
        assert last == f"khabar validate: error: {temp}: cannot set the corpus records aside: File too large; make room there or point TMPDIR at another folder", last
    else:
        assert last.startswith(f"khabar validate: error: {temp}/khabar-tables-") and "cannot set the checked tables aside: " in last, last
    assert list(temp.iterdir()) == [] and not (tmp_path / "cache").exists()


def test_a_full_temporary_folder_while_the_spool_writes_the_corpus_is_one_line_naming_it(tmp_path):
    """The spool's first file, the corpus, a slice at a time: a full folder there is one line naming the spool's
    folder too (the corpus mapped before it is larger, so the command meets a full folder there first; the spool
    is run on its own here)."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    code = (
        "import resource\n"
        "from khabar.foundation.errors import KhabarError\n"
        "from khabar.foundation.paths import repo\n"
        "from khabar.validation.reader import read_documents\n"
        "from khabar.validation.table_spool import TableSpool\n"
        "documents = read_documents(repo().documents_file)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))\n"
        "try:\n"
        "    TableSpool(documents)\n"
        "except KhabarError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=repo().root, capture_output=True, text=True, timeout=300, env=os.environ | {"TMPDIR": str(temp)})
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    message = result.stdout.strip()
    assert message.startswith(f"{temp}/khabar-tables-") and "cannot set the checked tables aside: " in message and "\n" not in message, message
    assert list(temp.iterdir()) == []
