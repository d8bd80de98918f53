"""The ML backend against a real Label Studio: it connects, a task opened gets its predictions, it learns, it survives."""

from __future__ import annotations

import json
import shutil
import time

import pytest

from khabar.annotation.ingest import load_records
from khabar.model.corpus import read_submitted, submitted_file
from khabar.model.train import current_model_dir
from khabar.studio.ml_backend import connect_project, health, start_backend, stop_backend
from khabar.studio.project import project_tasks, sync_project
from khabar.studio.server import free_port
from tests.browser_support import logged_in_page
from tests.model.model_support import SOURCE, post

pytestmark = pytest.mark.studio

CONFIG = (SOURCE / "annotation" / "labeling_config.xml").read_text(encoding="utf-8")
RECORDS = [r for r in load_records(SOURCE / "annotation" / "corpus" / "documents.jsonl") if r.superseded_by is None][:2]


@pytest.fixture
def backend(trained_repo, tmp_path):
    """The backend serving a copy of the trained repository (it writes training data and new models there)."""
    root = tmp_path / "repo"
    shutil.copytree(trained_repo, root)
    studio_dir = tmp_path / "studio"
    running = start_backend(root, studio_dir, free_port())
    yield root, running
    stop_backend(studio_dir)
    assert health(running.url, timeout=1) is None


def _project(studio_server, title, url):
    client = studio_server.client()
    project_id = sync_project(client, title, CONFIG, RECORDS, progress=lambda _line: None).project_id
    version = connect_project(client, project_id, url)
    return client, project_id, version


def test_a_task_opened_gets_scored_predictions_of_the_backend_model(studio_server, studio_project_title, backend):
    root, running = backend
    client, project_id, version = _project(studio_server, studio_project_title, running.url)
    assert version == current_model_dir(root).name
    task_id = project_tasks(client, project_id)[0].id
    started = time.monotonic()
    task = client.tasks.get(id=task_id)  # GET /api/tasks/<id>, what the labeling screen asks when a task opens
    print(f"task opened with predictions in {time.monotonic() - started:.2f} s")
    [prediction] = task.predictions
    prediction = prediction if isinstance(prediction, dict) else prediction.dict()
    assert prediction["model_version"] == version and prediction["score"] > 0
    entities = [r for r in prediction["result"] if r.get("from_name") == "entity"]
    assert entities and all(r["score"] > 0 for r in entities)
    text = task.data["text"]
    assert all(text[r["value"]["start"] : r["value"]["end"]] == r["value"]["text"] for r in entities)


def test_a_submitted_annotation_reaches_the_training_data_and_a_new_model_is_served(studio_server, studio_project_title, backend):
    root, running = backend
    client, project_id, version = _project(studio_server, studio_project_title, running.url)
    task = project_tasks(client, project_id)[0]
    text = task.data["text"]
    first_word = text.split()[0]
    result = [{"from_name": "entity", "to_name": "text", "type": "labels", "id": "sub1",
               "value": {"start": 0, "end": len(first_word), "text": first_word, "labels": ["PERS"]}}]  # fmt: skip
    client.annotations.create(id=task.id, project=project_id, result=result, lead_time=3.0)
    [submitted] = read_submitted(submitted_file(root))
    assert submitted.doc_id == task.data["doc_id"] and [(e.start, e.end, e.label) for e in submitted.entities] == [(0, len(first_word), "PERS")]
    raw = submitted_file(root).read_text(encoding="utf-8")
    assert "admin@khabar.local" not in raw and "completed_by" not in raw
    deadline = time.monotonic() + 300
    while (current_model_dir(root).name == version) and time.monotonic() < deadline:
        time.sleep(1)
    new_version = current_model_dir(root).name
    assert new_version != version, "no new model after the submission"
    assert (current_model_dir(root) / "model.json").exists()
    assert health(running.url)["model_version"] == new_version


def test_a_malformed_request_gets_a_clear_error_and_the_backend_goes_on(backend):
    _root, running = backend
    assert post(f"{running.url}/predict", b"{not json") == (400, {"error": "the body is not JSON (Expecting property name enclosed in double quotes at line 1 column 2)"})
    status, answer = post(f"{running.url}/predict", json.dumps({"tasks": [{"id": 7, "data": {}}]}).encode())
    assert status == 400 and answer["error"] == "task 7: no data.text string"
    region = {"id": "r", "from_name": "entity", "value": {"start": 1, "end": 9, "labels": ["ORG"]}}
    body = {"action": "ANNOTATION_CREATED", "task": {"id": 3, "data": {"text": "abc", "doc_id": "d"}}, "annotation": {"result": [region]}}
    status, answer = post(f"{running.url}/webhook", json.dumps(body).encode())
    assert status == 400 and answer["error"] == "task 3: region r: offsets 1-9 are not inside the text"
    assert health(running.url)["status"] == "UP"
    status, answer = post(f"{running.url}/predict", json.dumps({"tasks": [{"id": 1, "data": {"text": "قال وزير الخارجية العراقي في بغداد"}}]}).encode())
    assert status == 200 and answer["results"][0]["result"]


def test_khabar_predict_output_imports_into_label_studio(studio_server, studio_project_title, trained_repo, tmp_path, khabar):
    documents = tmp_path / "documents.jsonl"
    documents.write_text("".join(json.dumps(r.__dict__, ensure_ascii=False) + "\n" for r in RECORDS), encoding="utf-8")
    out = tmp_path / "import.json"
    assert khabar("--root", str(trained_repo), "predict", "--documents", str(documents), "--out", str(out)).status == 0
    tasks = json.loads(out.read_text(encoding="utf-8"))
    client = studio_server.client()
    project_id = client.projects.create(title=studio_project_title, label_config=CONFIG).id
    client.projects.import_tasks(id=project_id, request=tasks)
    imported = {t.data["doc_id"]: t for t in project_tasks(client, project_id, fields="all")}
    assert sorted(imported) == sorted(t["data"]["doc_id"] for t in tasks)
    for task in tasks:
        [prediction] = imported[task["data"]["doc_id"]].predictions
        prediction = prediction if isinstance(prediction, dict) else prediction.dict()
        want = task["predictions"][0]
        assert prediction["model_version"] == want["model_version"] and prediction["score"] == pytest.approx(want["score"])
        assert len(prediction["result"]) == len(want["result"])
        assert [r.get("score") for r in prediction["result"]] == [r.get("score") for r in want["result"]]


@pytest.mark.browser
def test_an_annotator_opening_a_task_in_the_browser_sees_the_model_suggestions(studio_server, studio_project_title, backend, chromium, tmp_path):
    _root, running = backend
    client, project_id, version = _project(studio_server, studio_project_title, running.url)
    task_id = project_tasks(client, project_id)[0].id
    editor = ".lsf-main-view .lsf-htx-richtext"
    with logged_in_page(chromium, studio_server) as page:
        started = time.monotonic()
        page.goto(f"{studio_server.url}/projects/{project_id}/data?task={task_id}")
        highlights = page.locator(f"{editor} span.htx-highlight")
        highlights.first.wait_for(state="visible", timeout=60_000)
        print(f"suggestions visible {time.monotonic() - started:.2f} s after opening the task (page load included)")
        page.wait_for_timeout(3_000)  # the editor renders the task again once loaded; the regions must survive it
        highlights.first.wait_for(state="visible", timeout=30_000)
        shown = highlights.count()
        print(f"{shown} highlighted region(s) on the page")
        assert shown > 0
        page.screenshot(path=str(tmp_path / "suggestions.png"))
    [prediction] = client.tasks.get(id=task_id).predictions
    prediction = prediction if isinstance(prediction, dict) else prediction.dict()
    assert prediction["model_version"] == version
