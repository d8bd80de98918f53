"""A stand-in Label Studio: a local HTTP server on 127.0.0.1 that answers the paths ``khabar studio`` calls through
label-studio-sdk 2.1.2, as Label Studio 1.23.2 answers them, for one project holding the tasks of an export.

It exists because a real Label Studio cannot be made to answer badly: each test replaces one answer
(:class:`Answer`) by one Khabar cannot use (a body that is no JSON, a JSON of another shape, a body cut
short, a listing whose pages never end), and the client talking to it is the SDK over its real HTTP stack.
What it answers, path by path, as Label Studio does:

- ``GET /api/projects/``: the project, paginated (``count``, ``results``); a page past the last is a 404,
  which is how Label Studio ends a listing (the SDK's pager stops there);
- ``GET`` and ``PATCH /api/projects/ID/``: the project with its labeling config;
- ``GET /api/tasks/?project=ID``: its tasks, paginated (``total``, ``tasks``), with their predictions when
  ``fields=all``; ``POST /api/projects/ID/import/predictions``;
- ``POST /api/projects/ID/exports/``, ``GET …/exports/N``, ``GET …/exports/N/download``, ``DELETE …/exports/N``:
  a snapshot export, ready at once, whose download is the project's tasks in full (annotators as users);
- ``GET /api/users/``: the organisation's members (the placeholder users of the export's pseudonyms).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from khabar.foundation.paths import repo
from tests.http_support import QuietHandler, serving

PROJECT_ID = 3
SNAPSHOT_ID = 7
PROJECT_TITLE = "stand-in"


@dataclass(frozen=True)
class Answer:
    """What the stand-in sends: a status and a body; ``length`` claims a Content-Length other than the body's (a body
    cut short: the server closes the connection before it is all sent)."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    length: int | None = None

    @classmethod
    def json(cls, value: object, status: int = 200) -> Answer:
        return cls(status, json.dumps(value).encode("utf-8"))


#: what answers a request: its query's parameters (each once) → the answer
Route = Callable[[dict[str, str]], Answer]
NOT_FOUND = Answer.json({"detail": "Invalid page."}, 404)
#: a command asking more than this is following a listing that never ends: it is answered 503 from then on (a test
#: fails on it instead of waiting for ever)
REQUESTS_AT_MOST = 100
ENOUGH = Answer.json({"detail": f"the stand-in answered {REQUESTS_AT_MOST} requests and answers no more"}, 503)


def paginated(items: list[Any], *, total: str, results: str) -> Route:
    """A listing as Django REST framework pages it for Label Studio: everything on page 1, a 404 past it."""
    return lambda query: Answer.json({total: len(items), results: items}) if query.get("page", "1") == "1" else NOT_FOUND


def server_tasks(export: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tasks of a pulled export as a snapshot gives them: each pseudonym the placeholder user a push made of it."""
    tasks = json.loads(json.dumps(export))
    for task in tasks:
        for annotation in task["annotations"]:
            pseudonym = annotation["completed_by"]["pseudonym"]
            annotation["completed_by"] = {"id": int(pseudonym.split("-")[1]), "email": f"{pseudonym}@khabar.invalid"}
    return tasks


def good_routes(export: list[dict[str, Any]]) -> dict[tuple[str, str], Route]:
    """Label Studio's answers for a project holding the tasks of ``export`` (a pulled export)."""
    snapshot = server_tasks(export)
    project = {"id": PROJECT_ID, "title": PROJECT_TITLE, "label_config": repo().labeling_config.read_text(encoding="utf-8")}
    listed_tasks = [{"id": t["id"], "data": t["data"], "predictions": t["predictions"], "annotations": t["annotations"]} for t in snapshot]
    users = {a["completed_by"]["id"]: a["completed_by"] for t in snapshot for a in t["annotations"]}
    export_record = {"id": SNAPSHOT_ID, "status": "completed", "title": "khabar studio pull"}
    project_path, snapshot_path = f"/api/projects/{PROJECT_ID}/", f"/api/projects/{PROJECT_ID}/exports/{SNAPSHOT_ID}"
    return {
        ("GET", "/api/projects/"): paginated([{"id": PROJECT_ID, "title": PROJECT_TITLE}], total="count", results="results"),
        ("GET", project_path): lambda query: Answer.json(project),
        ("PATCH", project_path): lambda query: Answer.json(project),
        ("GET", "/api/tasks/"): lambda query: paginated(
            listed_tasks if query.get("fields") == "all" else [{"id": t["id"], "data": t["data"]} for t in listed_tasks],
            total="total", results="tasks",
        )(query),
        ("POST", f"{project_path}import/predictions"): lambda query: Answer.json({"created": 1}, 201),
        ("POST", f"{project_path}exports/"): lambda query: Answer.json(export_record, 201),
        ("GET", snapshot_path): lambda query: Answer.json(export_record),
        ("GET", f"{snapshot_path}/download"): lambda query: Answer.json(snapshot),
        ("DELETE", snapshot_path): lambda query: Answer(204),
        ("GET", "/api/users/"): lambda query: Answer.json(list(users.values())),
    }


@contextmanager
def stand_in_studio(routes: dict[tuple[str, str], Route]) -> Iterator[tuple[str, list[str]]]:
    """The stand-in on a free port answering ``routes`` (anything else: 404); yields its URL and the requests it got
    (``METHOD path?query``), in order."""
    requests: list[str] = []

    class Handler(QuietHandler):
        def answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            requests.append(f"{self.command} {self.path}")
            url = urlsplit(self.path)
            route = routes.get((self.command, url.path))
            if len(requests) > REQUESTS_AT_MOST:
                answer = ENOUGH
            elif route is None:
                answer = NOT_FOUND
            else:
                answer = route({key: values[0] for key, values in parse_qs(url.query).items()})
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body) if answer.length is None else answer.length))
            self.end_headers()
            self.wfile.write(answer.body)

        do_GET = do_POST = do_PATCH = do_DELETE = answer

    with serving(Handler) as url:
        yield url, requests
