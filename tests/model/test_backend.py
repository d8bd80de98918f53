"""The ML backend alone, as ``khabar studio up`` starts it: hostile requests, a broken model, many submissions, a stop.

Every test talks to a real backend process over HTTP on 127.0.0.1 (:func:`khabar.studio.ml_backend.start_backend`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from khabar.model.backend import MAX_BODY_BYTES
from khabar.model.corpus import read_submitted, submitted_file
from khabar.model.train import current_file, current_model_dir, models_dir, read_info
from khabar.studio.ml_backend import Backend, health, log_file, start_backend, stop_backend
from khabar.studio.server import free_port
from tests.model.model_support import post
from tests.reliability.reliability_support import tree

TEXT = "قال وزير الخارجية العراقي في بغداد"
TOKEN = "a1b2c3-the-access-token-of-label-studio"


def _start(root: Path, studio_dir: Path) -> Backend:
    return start_backend(root, studio_dir, free_port())


@pytest.fixture(scope="module")
def served(trained_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Backend, Path]]:
    """One backend over a copy of the trained repository, for the tests that send it no valid submission: the
    repository, the backend and its log."""
    folder = tmp_path_factory.mktemp("served")
    root = folder / "repo"
    shutil.copytree(trained_repo, root)
    running = _start(root, folder / "studio")
    yield root, running, log_file(folder / "studio")
    stop_backend(folder / "studio")


def _region(value: Any, **more: Any) -> dict[str, Any]:
    return {"id": "r1", "from_name": "entity", "to_name": "text", "type": "labels", "value": value, **more}


def _submission(result: list[Any], task: Any = None, **annotation: Any) -> bytes:
    task = {"id": 3, "data": {"text": TEXT, "doc_id": "page-3"}} if task is None else task
    return json.dumps({"action": "ANNOTATION_CREATED", "task": task, "annotation": {"result": result, **annotation}}).encode()


def _predict(*tasks: Any) -> bytes:
    return json.dumps({"tasks": list(tasks)}).encode()


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


#: name → (endpoint, body, content type, the status and the words of the one-line error)
MALFORMED: dict[str, tuple[str, bytes, str | None, int, str]] = {
    "not JSON": ("predict", b"{not json", "application/json", 400, "the body is not JSON"),
    "not UTF-8": ("predict", b'{"tasks": [\xff]}', "application/json", 400, "the body is not UTF-8 (byte 0xff at offset 11)"),
    "not an object": ("predict", b"[]", "application/json", 400, "the body must be a JSON object"),
    "nested too deeply": ("predict", _deep(100_000).encode(), "application/json", 400, "nested too deeply"),
    "tasks nested too deeply": ("predict", f'{{"tasks": {_deep(100_000)}}}'.encode(), "application/json", 400, "nested too deeply"),
    "an integer of 5,000 digits": ("predict", b'{"tasks": [{"id": ' + b"7" * 5000 + b"}]}", "application/json", 400, "the body is not JSON"),
    "tasks not a list": ("predict", b'{"tasks": {"id": 1}}', "application/json", 400, "'tasks' must be a list of tasks"),
    "a task not an object": ("predict", _predict(5), "application/json", 400, "task #0: no data.text string"),
    "a task without data": ("predict", _predict({"id": 1}), "application/json", 400, "task 1: no data.text string"),
    "a text not a string": ("predict", _predict({"id": 1, "data": {"text": ["a"]}}), "application/json", 400, "task 1: no data.text string"),
    "an id that is a list": ("predict", _predict({"id": [1, 2], "data": {}}), "application/json", 400, "task #0: no data.text string"),
    "an id of 5,000 characters and a line break": ("predict", _predict({"id": "x" * 5000 + "\n", "data": {}}), "application/json", 400, "task #0: no data.text string"),
    "a lone surrogate in a text": ("predict", b'{"tasks": [{"id": 1, "data": {"text": "\\ud800 a"}}]}', "application/json", 400, "task 1: data.text holds a lone surrogate"),
    "a body past the limit": ("predict", b'{"tasks": [], "pad": "' + b"x" * MAX_BODY_BYTES + b'"}', "application/json", 413, "more than the 16,777,216 a request may have"),
    "sent as text/plain": ("webhook", _submission([_region({"start": 0, "end": 3, "labels": ["PERS"]})]), "text/plain", 415, "must be sent as application/json"),
    "sent as a form": ("predict", _predict({"id": 1, "data": {"text": TEXT}}), "application/x-www-form-urlencoded", 415, "must be sent as application/json"),
    "a label the scheme lacks": ("webhook", _submission([_region({"start": 0, "end": 3, "labels": ["ali@example.org"]})]), "application/json", 400,
                                 "task 3: region r1: label «ali@example.org» is not one of the scheme's entity labels"),
    "labels as a text": ("webhook", _submission([_region({"start": 0, "end": 3, "labels": "PERS"})]), "application/json", 400, "labels are not a list of texts"),
    "labels as a number": ("webhook", _submission([_region({"start": 0, "end": 3, "labels": 5})]), "application/json", 400, "labels are not a list of texts"),
    "offsets reversed": ("webhook", _submission([_region({"start": 3, "end": 0, "labels": ["PERS"]})]), "application/json", 400, "offsets 3-0 are not inside the text"),
    "an offset that is a boolean": ("webhook", _submission([_region({"start": True, "end": 3, "labels": ["PERS"]})]), "application/json", 400,
                                    "no whole-number start and end"),
    "a region not an object": ("webhook", _submission([7]), "application/json", 400, "task 3: region #0: not an object"),
    "a doc_id that is a number": ("webhook", _submission([], task={"id": 3, "data": {"text": TEXT, "doc_id": 5}}), "application/json", 400, "no data.doc_id string"),
    "an annotation of /train not an object": ("train", json.dumps({"annotations": [{"id": 4, "data": {"text": TEXT}, "annotations": [5]}]}).encode(),
                                              "application/json", 400, "task 4: its 'annotations' are not a list of objects"),
    "a setup cut short holding the token": ("setup", f'{{"project": "1", "access_token": "{TOKEN}", "schema": "<View'.encode(), "application/json", 400,
                                            "the body is not JSON"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_request_of_any_shape_gets_a_one_line_4xx_and_the_backend_goes_on(case, served):
    """Each answered with its 4xx and one short line, never a 500 and a traceback in the log (deep nesting, an integer
    past 4,300 digits, a lone surrogate, a label given as a number or a list of one and the /train annotation that
    is not an object were); nothing of it reaches the training data (labels the scheme lacks did, and "PERS" as four
    labels "P", "E", "R", "S"); the token never reaches the log; and the backend serves the next request."""
    root, running, log = served
    endpoint, body, content_type, status, words = MALFORMED[case]
    logged_before, submitted = log.stat().st_size, submitted_file(root)
    learnt = submitted.read_bytes() if submitted.exists() else None
    answered, answer = post(f"{running.url}/{endpoint}", body, content_type)
    logged = log.read_bytes()[logged_before:].decode("utf-8")
    assert (answered, set(answer)) == (status, {"error"}), answer
    assert words in answer["error"] and "\n" not in answer["error"] and len(answer["error"]) < 200, answer["error"]
    assert logged.count("khabar ml-backend:") == 1 and "Traceback" not in logged and TOKEN not in logged, logged
    assert (submitted.read_bytes() if submitted.exists() else None) == learnt
    assert health(running.url)["status"] == "UP"
    answered, answer = post(f"{running.url}/predict", _predict({"id": 1, "data": {"text": TEXT}}))
    assert answered == 200 and answer["results"][0]["result"]


#: name → what ``current.json`` holds (a version, or the bytes of the file), and the words of the one-line error
BROKEN_CURRENT = {
    "not UTF-8": (b"\xff\xfe", "current.json: unreadable"),
    "nested too deeply": (_deep(100_000).encode(), "current.json: unreadable"),
    "a version that is a number": (b'{"version": 5}', "current.json: unreadable (Expected `str`, got `int` - at `$.version`)"),
    "a version that is a path": (b'{"version": "../../.."}', "current.json: names no model version: «../../..»"),
    "a version not trained": (b'{"version": "khabar-crf-0123456789"}', "current.json: names khabar-crf-0123456789, which is not in the models' folder"),
}


@pytest.mark.parametrize("case", BROKEN_CURRENT)
def test_a_current_json_that_names_no_model_is_one_line_for_the_backend_and_for_predict(case, served, tmp_path, khabar):
    """A version of another type, a nesting too deep or bytes that are not UTF-8 were a 500 (or a traceback of
    ``khabar predict``); a path as the version was read as a model folder outside the models'."""
    root, running, log = served
    content, words = BROKEN_CURRENT[case]
    current = current_file(root)
    kept = current.read_bytes()
    current.write_bytes(content)
    try:
        for answered, answer in (post(f"{running.url}/predict", _predict({"id": 1, "data": {"text": TEXT}})), post(f"{running.url}/setup", b"{}")):
            assert answered == 503 and words in answer["error"] and "\n" not in answer["error"], answer
        run = khabar("--root", root, "predict", "--documents", root / "annotation/corpus/documents.jsonl", "--out", tmp_path / "out.json")
        assert run.status == 2 and words in run.err and len(run.err.strip().splitlines()) == 1, run.err
    finally:
        current.write_bytes(kept)
    assert health(running.url)["model_version"] == current_model_dir(root).name
    assert "Traceback" not in log.read_text(encoding="utf-8")


def _training_children(backend: Backend) -> list[int]:
    """The processes the backend started (its trainings)."""
    tasks = Path(f"/proc/{backend.pid}/task")
    return [int(pid) for task in tasks.iterdir() for pid in (task / "children").read_text().split()]


def _wait_for(condition, what: str, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds:.0f} s: {what}"
        time.sleep(0.1)


@pytest.mark.parametrize("there", [True, False], ids=["edited", "made"])
def test_lines_saved_while_a_submission_is_added_are_kept_and_the_submission_refused(tmp_path, monkeypatch, there):
    """A submission read submitted.jsonl and wrote it back with its line added: a line saved meanwhile (a reviewer's,
    another backend's) was lost, and so was a file made where there was none. The submission is refused (its endpoint
    answers 503 with the message naming the file) and the file left as saved."""
    from khabar.foundation.errors import KhabarError
    from khabar.model import backend

    service = backend.Service(tmp_path)
    path = submitted_file(tmp_path)
    task = {"id": 1, "data": {"text": TEXT, "doc_id": "page-1"}}
    document = backend.submitted_document(task, {"result": [_region({"start": 0, "end": 3, "labels": ["PERS"]})]})
    if there:
        service.add_submissions([document])
    saved = path.read_text(encoding="utf-8") * 2 if there else ""  # a line saved beside the one read
    writing = backend.submitted_line

    def saved_meanwhile(added):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(saved, encoding="utf-8")
        return writing(added)

    monkeypatch.setattr(backend, "submitted_line", saved_meanwhile)
    happened = "changed on disk since it was read" if there else "made on disk since the command found none there"
    with pytest.raises(KhabarError, match=f"^{path}: {happened}; not written"):
        service.add_submissions([document])
    assert path.read_text(encoding="utf-8") == saved
    assert sorted(p.name for p in path.parent.iterdir()) == ["submitted.jsonl"], "nothing staged left beside it"


def test_many_submissions_at_once_each_make_one_whole_line_and_a_model_learns_them_all(trained_repo, tmp_path):
    """30 webhooks at once, each with its annotator's email: 30 whole lines, no email, and then — with no other
    request, as when the annotators stop for the day — a model learnt from all 30. The retraining asked for during
    a training waited for a later request: 200 submissions at once were learnt up to the 46th."""
    root = tmp_path / "repo"
    shutil.copytree(trained_repo, root)
    running = _start(root, tmp_path / "studio")
    try:
        def submit(number: int) -> int:
            task = {"id": number, "data": {"text": f"{TEXT} {number}", "doc_id": f"page-{number}"}}
            region = _region({"start": 0, "end": 3, "labels": ["PERS"]})
            return post(f"{running.url}/webhook", _submission([region], task, completed_by={"email": f"annotator{number}@example.org"}))[0]

        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(submit, range(30))) == [200] * 30
        raw = submitted_file(root).read_text(encoding="utf-8")
        assert len(raw.splitlines()) == 30 and "@" not in raw
        assert sorted(page.doc_id for page in read_submitted(submitted_file(root))) == sorted(f"page-{number}" for number in range(30))
        _wait_for(lambda: read_info(current_model_dir(root)).pages.get("submitted") == 30 and not _training_children(running),
                  "a model learnt from the 30 pages")
    finally:
        stop_backend(tmp_path / "studio")


def test_stopping_the_backend_stops_its_training_and_leaves_nothing_behind(trained_repo, tmp_path):
    """``khabar studio down`` while a training runs (a page of 40,000 tokens makes it long): the training stops with
    the backend, and the models' folder is as it was. It ran on without the backend, and put a model in place later."""
    root = tmp_path / "repo"
    shutil.copytree(trained_repo, root)
    models = models_dir(root)
    before = tree(models)
    running = _start(root, tmp_path / "studio")
    trainings: list[int] = []
    try:
        long_page = {"id": 5, "data": {"text": f"{TEXT}. " * 5000, "doc_id": "long-page"}}
        assert post(f"{running.url}/webhook", _submission([_region({"start": 0, "end": 3, "labels": ["PERS"]})], long_page))[0] == 200
        _wait_for(lambda: any(path.name.endswith(".building-" + str(pid)) for path in models.iterdir() for pid in _training_children(running)),
                  "the training's staging folder")
        trainings = _training_children(running)
        stop_backend(tmp_path / "studio")
        assert [pid for pid in trainings if Path(f"/proc/{pid}").exists()] == []
        assert tree(models) == before
    finally:
        for pid in trainings:  # the old code left it running
            if Path(f"/proc/{pid}").exists():
                os.kill(pid, signal.SIGKILL)
        stop_backend(tmp_path / "studio")


def test_a_backend_started_outside_its_repository_serves_that_repository(trained_repo, tmp_path, monkeypatch):
    """Started from a folder that is no repository (``khabar --root REPO studio up`` from one's home): every
    prediction and submission was a 503, the scheme looked for around the folder it started in. A training asked
    for before any submission, when ``.khabar/training/`` does not exist yet, was a 500."""
    root = tmp_path / "repo"
    shutil.copytree(trained_repo, root)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    running = _start(root, tmp_path / "studio")
    try:
        answered, answer = post(f"{running.url}/predict", _predict({"id": 1, "data": {"text": TEXT}}))
        assert answered == 200 and answer["results"][0]["result"], answer
        assert post(f"{running.url}/webhook", b'{"action": "START_TRAINING"}') == (200, {"status": "ok", "added": 0, "training": "started"})
        assert post(f"{running.url}/webhook", _submission([_region({"start": 0, "end": 3, "labels": ["PERS"]})]))[0] == 200
    finally:
        stop_backend(tmp_path / "studio")
    assert "Traceback" not in log_file(tmp_path / "studio").read_text(encoding="utf-8")



@pytest.mark.parametrize("state", ["nested too deeply", "a pid that is a boolean", "a folder"])
def test_a_backend_state_file_of_another_shape_is_let_go_and_anything_but_a_file_refused(state, tmp_path, khabar):
    """``.studio/ml-backend.json`` (the backend's pid and port) read trusting its shape: nested too deeply, or a
    folder there, ``khabar studio down`` stopped on a traceback."""
    studio_dir = tmp_path / "studio"
    studio_dir.mkdir()
    path = studio_dir / "ml-backend.json"
    if state == "a folder":
        path.mkdir()
    else:
        path.write_text(_deep(100_000) if state == "nested too deeply" else '{"pid": true, "port": 9090}', encoding="utf-8")
    run = khabar("studio", "down", "--studio-dir", str(studio_dir))
    if state == "a folder":
        assert run.status == 2 and run.err.strip() == f"khabar studio: error: {path}: a folder, not a regular file" and path.is_dir()
    else:
        assert run.status == 0 and "Label Studio was not running" in run.out and not path.exists()
