"""``khabar studio`` against a Label Studio whose answer it cannot use: one line naming the server, the call and
the problem, exit 2, no traceback, no token, and the files it was given byte-identical.

The server is a stand-in speaking Label Studio's paths (:mod:`tests.studio.stand_in_studio`), because a real
Label Studio cannot be made to answer badly; the client talking to it is label-studio-sdk over its real HTTP
stack, and the command is the real ``khabar`` entry point.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.reliability.reliability_support import SHARED
from tests.studio.stand_in_studio import (
    NOT_FOUND,
    PROJECT_ID,
    PROJECT_TITLE,
    SNAPSHOT_ID,
    Answer,
    Route,
    good_routes,
    paginated,
    server_tasks,
    stand_in_studio,
)

API_KEY = "lsk-STAND-IN-SECRET-4d2f9a7c0b1e"
GOOD_EXPORT = json.loads((SHARED / "good_export.json").read_text(encoding="utf-8"))
PROJECTS, TASKS, PROJECT = ("GET", "/api/projects/"), ("GET", "/api/tasks/"), ("GET", f"/api/projects/{PROJECT_ID}/")
SNAPSHOT = f"/api/projects/{PROJECT_ID}/exports/"
DOWNLOAD = ("GET", f"{SNAPSHOT}{SNAPSHOT_ID}/download")


def always(answer: Answer) -> Route:
    return lambda query: answer


def new_projects_forever(query: dict[str, str]) -> Answer:
    """A listing that always has a next page, of one project not seen before, and says there is one project."""
    return Answer.json({"count": 1, "results": [{"id": PROJECT_ID + int(query.get("page", "1")) - 1, "title": PROJECT_TITLE}]})


def projects_growing_forever(query: dict[str, str]) -> Answer:
    """A listing that always has a next page, of one project not seen before, and counts it: its count grows at every
    page, as if a project were made between each two requests."""
    page = int(query.get("page", "1"))
    return Answer.json({"count": page, "results": [{"id": PROJECT_ID + page - 1, "title": PROJECT_TITLE}]})


def cut_short(value: object) -> Answer:
    """The JSON of ``value`` with its Content-Length, of which the server sends half and closes the connection."""
    body = json.dumps(value).encode("utf-8")
    return Answer(200, body[: len(body) // 2], length=len(body))


def snapshot_with(change) -> Route:
    snapshot = server_tasks(GOOD_EXPORT)
    change(snapshot[0])
    return always(Answer.json(snapshot))


def project_page(*projects: object) -> dict:
    return {"count": len(projects), "results": list(projects)}


def projects(*listed: object) -> Route:
    return paginated(list(listed), total="count", results="results")


def tasks(*listed: object) -> Route:
    return paginated(list(listed), total="total", results="tasks")


STAND_IN = {"id": PROJECT_ID, "title": PROJECT_TITLE}
TASK = {"id": 1, "data": GOOD_EXPORT[0]["data"]}
LISTING_PROJECTS = "when listing the projects"
LISTING_TASKS = f"when listing the tasks of project {PROJECT_ID}"
MAKING_SNAPSHOT = f"when making an export snapshot of project {PROJECT_ID}"
READING_SNAPSHOT = f"the export snapshot of project {PROJECT_ID} from Label Studio at"  # then the server's URL

# command, the route answered badly, its answer, the call the error names, what it says of the answer
CASES = {
    "projects: a JSON list": ("pull", PROJECTS, always(Answer.json([1, 2])), LISTING_PROJECTS, "an answer khabar cannot use"),
    "projects: results a number": ("pull", PROJECTS, always(Answer.json({"count": 1, "results": 5})), LISTING_PROJECTS, "an answer khabar cannot use"),
    "projects: a project a number": ("pull", PROJECTS, projects(5), LISTING_PROJECTS, "an answer khabar cannot use"),
    "projects: an HTML page with 200": (
        "pull", PROJECTS, always(Answer(200, b"<!DOCTYPE html>\n<html><body>Sign in</body></html>", "text/html")), LISTING_PROJECTS,
        "an answer that is not JSON when listing the projects (text/html: «<!DOCTYPE html>\\n<html><body>Sign in</body></html>»)",
    ),
    "projects: JSON cut short, its length as sent": ("pull", PROJECTS, always(Answer(200, b'{"count": 1, "resu')), LISTING_PROJECTS, "an answer that is not JSON"),
    "projects: cut short of its Content-Length": ("pull", PROJECTS, always(cut_short(project_page(STAND_IN))), LISTING_PROJECTS, "an answer cut short"),
    "projects: no count": ("pull", PROJECTS, always(Answer.json({"results": [STAND_IN]})), LISTING_PROJECTS, "the count of projects on page 1 is missing, not a whole number"),
    "projects: an id not a number": ("pull", PROJECTS, projects({**STAND_IN, "id": "three"}), LISTING_PROJECTS, "the id of one of the projects is «'three'»"),
    "projects: the same page again and again": ("pull", PROJECTS, always(Answer.json(project_page(STAND_IN))), LISTING_PROJECTS, "page 2 repeats"),
    "projects: a new page forever": ("pull", PROJECTS, new_projects_forever, LISTING_PROJECTS, "more projects than the 1 it says there are"),
    "projects: a count growing at every page": ("pull", PROJECTS, projects_growing_forever, LISTING_PROJECTS, "keep coming past twice the 1 its first page said"),
    "project: a JSON list": ("pull", PROJECT, always(Answer.json([1])), f"when reading project {PROJECT_ID}", "an answer khabar cannot use"),
    "project: a labeling config that is a number": (
        "pull", PROJECT, always(Answer.json({**STAND_IN, "label_config": 5})), f"when reading project {PROJECT_ID}", "its label_config is «5»",
    ),
    "snapshot: made without an id": ("pull", ("POST", SNAPSHOT), always(Answer.json({"status": "completed"}, 201)), MAKING_SNAPSHOT, "the snapshot's id is missing"),
    "snapshot: a JSON list": ("pull", ("POST", SNAPSHOT), always(Answer.json([], 201)), MAKING_SNAPSHOT, "an answer khabar cannot use"),
    "snapshot: a status Label Studio never gives": (
        "pull", ("POST", SNAPSHOT), always(Answer.json({"id": SNAPSHOT_ID, "status": "paused"}, 201)), MAKING_SNAPSHOT, "its status is «'paused'»",
    ),
    "snapshot: its download cut short of its Content-Length": (
        "pull", DOWNLOAD, always(cut_short(server_tasks(GOOD_EXPORT))), f"when downloading export snapshot {SNAPSHOT_ID} of project {PROJECT_ID}", "an answer cut short",
    ),
    "snapshot: its download an HTML page": ("pull", DOWNLOAD, always(Answer(200, b"<html></html>", "text/html")), READING_SNAPSHOT, "Label Studio's export cannot be read (not JSON"),
    "snapshot: a task without data": ("pull", DOWNLOAD, snapshot_with(lambda task: task.pop("data")), READING_SNAPSHOT, "task 1: has no data object (its data is missing)"),
    "snapshot: a task without an id": ("pull", DOWNLOAD, snapshot_with(lambda task: task.pop("id")), READING_SNAPSHOT, "task #0: has no id (its id is missing)"),
    "snapshot: an annotation without result": (
        "pull", DOWNLOAD, snapshot_with(lambda task: task["annotations"][0].pop("result")), READING_SNAPSHOT, "task 1: its annotation 11 has no result list",
    ),
    "snapshot: an annotation a number": ("pull", DOWNLOAD, snapshot_with(lambda task: task.update(annotations=[11])), READING_SNAPSHOT, "task 1: its annotations are not a list of objects"),
    "snapshot: a prediction without an id": (
        "pull", DOWNLOAD, snapshot_with(lambda task: task.update(predictions=[{"result": []}])), READING_SNAPSHOT, "task 1: its predictions are not a list of objects with an id",
    ),
    "tasks: a JSON list": ("preannotate", TASKS, always(Answer.json([1, 2])), LISTING_TASKS, "an answer khabar cannot use"),
    "tasks: the same page again and again": ("preannotate", TASKS, always(Answer.json({"total": 1, "tasks": [TASK]})), LISTING_TASKS, "page 2 repeats"),
    "tasks: a task without data": ("preannotate", TASKS, tasks({"id": 1}), LISTING_TASKS, "task 1 has no data object"),
    "tasks: predictions a number": (
        "preannotate", TASKS, tasks({**TASK, "predictions": 5}), LISTING_TASKS, "task 1's predictions are «5»",
    ),
    "predictions import: an HTML page with 200": (
        "preannotate", ("POST", f"/api/projects/{PROJECT_ID}/import/predictions"), always(Answer(200, b"<html>", "text/html")),
        f"when importing predictions into project {PROJECT_ID}", "an answer that is not JSON",
    ),
    "users: an object": ("push", ("GET", "/api/users/"), always(Answer.json({"users": []})), "when listing the users", "an answer khabar cannot use"),
    "users: no answer at all": ("push", ("GET", "/api/users/"), always(NOT_FOUND), "when listing the users", "answered 404"),
}


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with the export the commands read and merge into (``x.json``) and an empty studio folder (where pull
    keeps its pseudonym book); the API key in the environment."""
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", API_KEY)
    shutil.copyfile(SHARED / "good_export.json", tmp_path / "x.json")
    (tmp_path / "studio").mkdir()
    return tmp_path


def studio_command(command: str, url: str, work: Path) -> list[str | Path]:
    target = ["--url", url, "--project", PROJECT_TITLE, "--studio-dir", work / "studio"]
    return {
        "pull": ["studio", "pull", *target, "--out", work / "x.json"],
        "push": ["studio", "push", *target, "--file", work / "x.json", "--documents", SHARED / "documents.jsonl"],
        "preannotate": ["studio", "preannotate", *target, "--exports", work / "x.json"],
    }[command]


def contents(folder: Path) -> dict[str, bytes | None]:
    return {str(path.relative_to(folder)): path.read_bytes() if path.is_file() else None for path in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("command", ["pull", "push", "preannotate"])
def test_the_stand_in_answers_each_command_as_label_studio_does(command, work, khabar):
    """What the bad answers below replace: with the stand-in's own answers each command does its work."""
    before = contents(work)
    with stand_in_studio(good_routes(GOOD_EXPORT)) as (url, requests):
        run = khabar(*studio_command(command, url, work))
    assert run.status == 0 and ": error: " not in run.err, run.output
    assert not [request for request in requests if request.startswith(("POST /api/tasks", "POST /api/annotations", "POST /api/predictions"))]
    assert (contents(work) != before) == (command != "preannotate"), "pull and push write the sync state, preannotate nothing here"


@pytest.mark.filterwarnings("error::UserWarning")  # a warning is lines more on stderr (pydantic's, of a value of another type)
@pytest.mark.parametrize(("command", "route", "answer", "call", "problem"), list(CASES.values()), ids=list(CASES))
def test_an_answer_khabar_cannot_use_is_one_line_naming_the_server_and_the_call(command, route, answer, call, problem, work, khabar):
    before = contents(work)
    with stand_in_studio({**good_routes(GOOD_EXPORT), route: answer}) as (url, requests):
        run = khabar(*studio_command(command, url, work))
    errors = [line for line in run.err.splitlines() if ": error: " in line]
    assert run.status == 2 and len(errors) == 1 and run.err.splitlines()[-1] == errors[0], run.output
    assert errors[0].startswith("khabar studio: error: ") and url in errors[0] and call in errors[0] and problem in errors[0], errors[0]
    assert API_KEY not in run.output
    assert len(requests) < 20, f"{len(requests)} requests: a listing that never ends was followed"
    assert contents(work) == before


def test_a_project_made_while_the_projects_are_listed_is_listed_too(work, khabar):
    """Label Studio's count on each page counts what was made since the listing began; what came on a later page is
    no listing without end."""
    made_meanwhile = {"id": PROJECT_ID + 1, "title": "made meanwhile"}
    pages = {"1": {"count": 1, "results": [STAND_IN]}, "2": {"count": 2, "results": [made_meanwhile]}}

    def route(query: dict[str, str]) -> Answer:
        return Answer.json(pages[query["page"]]) if query["page"] in pages else NOT_FOUND

    with stand_in_studio({**good_routes(GOOD_EXPORT), PROJECTS: route}) as (url, requests):
        run = khabar(*studio_command("pull", url, work))
    assert run.status == 0 and ": error: " not in run.err, run.output
    assert [request for request in requests if request.startswith("GET /api/projects/?")] == [f"GET /api/projects/?page={n}" for n in (1, 2, 3)]
