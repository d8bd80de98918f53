"""A Label Studio ML backend serving the current entity model (starlette, run by uvicorn).

Label Studio 1.23.2 speaks to it as its ``ml/api_connector.py`` does:

- ``GET /health`` → ``{"status": "UP", "model_version": …}`` (any 200 is "connected");
- ``POST /setup`` ``{"project", "schema", "hostname", "access_token", "extra_params"}`` → ``{"model_version"}``
  (the access token is never stored or logged);
- ``POST /predict`` ``{"tasks": [{"id", "data": {"text", …}}, …], …}`` → ``{"results": [one prediction per task]}``,
  each ``{"result", "score", "model_version"}``, in the order of the tasks;
- ``POST /webhook`` with Label Studio's webhook payload: ``ANNOTATION_CREATED`` / ``ANNOTATION_UPDATED`` add the
  annotation's entities to the training data (``.khabar/training/submitted.jsonl``, no identities) and start a
  retraining; ``START_TRAINING`` only starts one;
- ``POST /train`` (the older training call, with ``{"annotations": [tasks with annotations]}``) does the same for
  every task it carries.

Retraining runs ``khabar train`` in a child process (the CRF holds the GIL while it fits, so a thread would stall
predictions); the model it writes becomes current only once complete (``khabar.model.train``), and each request
checks ``.khabar/models/current.json`` so the new version is served from the first request after it.
A malformed request gets a 400 with a one-line ``error`` and the server goes on.
"""

from __future__ import annotations

import contextvars
import json
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from khabar.annotation.scheme import load_scheme
from khabar.foundation import jsonl
from khabar.foundation.errors import KhabarError
from khabar.foundation.files import write_atomic
from khabar.model.corpus import CharEntity, Document, submitted_file
from khabar.model.predict import EntityModel, prediction
from khabar.model.train import current_file, current_model_dir

SUBMISSION_ACTIONS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED")
#: the request being answered, for the one-line error in the log
request_name: contextvars.ContextVar[str] = contextvars.ContextVar("request_name", default="")


class BadRequest(Exception):
    pass


class Service:
    """The served model, reloaded when ``current.json`` changes, and the retraining child process."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lock = threading.Lock()
        self.model: EntityModel | None = None
        self.loaded_from: tuple[int, int] | None = None
        self.training: subprocess.Popen[bytes] | None = None
        self.train_again = False

    def current(self) -> EntityModel:
        with self.lock:
            try:
                stat = current_file(self.root).stat()
                stamp = (stat.st_mtime_ns, stat.st_ino)
            except FileNotFoundError:
                raise KhabarError("no trained model; train one with: khabar train") from None
            if self.model is None or stamp != self.loaded_from:
                self.model = EntityModel(current_model_dir(self.root))
                self.loaded_from = stamp
            self._reap_training()
            return self.model

    def add_submission(self, document: Document) -> None:
        """Append one page's entities to the training data (the file is rewritten atomically)."""
        path = submitted_file(self.root)
        line = jsonl.dumps_line({"doc_id": document.doc_id, "text": document.text, "entities": [[e.start, e.end, e.label] for e in document.entities]})
        with self.lock:
            previous = path.read_text(encoding="utf-8") if path.exists() else ""
            write_atomic(path, previous + line)

    def start_training(self) -> str:
        """Start ``khabar train`` unless one runs (then one more run follows it); returns what happened."""
        with self.lock:
            self._reap_training()
            if self.training is not None:
                self.train_again = True
                return "queued"
            self._spawn()
            return "started"

    def _spawn(self) -> None:
        log = (self.root / ".khabar" / "training" / "train.log").open("ab")
        self.training = subprocess.Popen(
            [sys.executable, "-m", "khabar.cli", "--root", str(self.root), "train"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()

    def _reap_training(self) -> None:
        if self.training is not None and self.training.poll() is not None:
            self.training = None
            if self.train_again:
                self.train_again = False
                self._spawn()


def submitted_document(task: Any, annotation: Any) -> Document:
    """A task and one of its annotations as a training document (entities only, no identities)."""
    if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
        raise BadRequest("the task has no 'data' object")
    text, doc_id = task["data"].get("text"), task["data"].get("doc_id", f"task-{task.get('id')}")
    if not isinstance(text, str) or not isinstance(doc_id, str):
        raise BadRequest(f"task {task.get('id')}: data.text and data.doc_id must be strings")
    if not isinstance(annotation, dict) or not isinstance(annotation.get("result"), list):
        raise BadRequest(f"task {task.get('id')}: the annotation has no 'result' list")
    entities = []
    for result in annotation["result"]:
        value = result.get("value") if isinstance(result, dict) else None
        if not isinstance(value, dict) or result.get("from_name") != load_scheme().entity.name:
            continue
        start, end, labels = value.get("start"), value.get("end"), value.get("labels") or []
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
            raise BadRequest(f"task {task.get('id')}: region {result.get('id')}: offsets {start}-{end} are not inside the text")
        entities += [CharEntity(start, end, label) for label in labels if isinstance(label, str)]
    return Document(doc_id, text, tuple(entities))


async def _json(request: Request) -> dict:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not JSON ({exc})") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def _error(message: str, status: int) -> JSONResponse:
    """A one-line error in the log and as the response's ``error``."""
    print(f"khabar ml-backend: {request_name.get()}: {message}", file=sys.stderr, flush=True)
    return JSONResponse({"error": message}, status_code=status)


def _handler(function: Callable[[Request], Awaitable[JSONResponse]]) -> Callable[[Request], Awaitable[JSONResponse]]:
    """An endpoint that names its request and answers a bad request with 400, a missing model with 503."""

    async def endpoint(request: Request) -> JSONResponse:
        request_name.set(f"{request.method} {request.url.path}")
        try:
            return await function(request)
        except BadRequest as exc:
            return _error(str(exc), 400)
        except KhabarError as exc:
            return _error(str(exc), 503)

    return endpoint


class Endpoints:
    """The backend's endpoints over one :class:`Service`."""

    def __init__(self, service: Service) -> None:
        self.service = service

    async def health(self, _request: Request) -> JSONResponse:
        """``GET /health``: up, and the served model's version."""
        return JSONResponse({"status": "UP", "model_class": "khabar-crf", "model_version": self.service.current().version})

    async def setup(self, request: Request) -> JSONResponse:
        """``POST /setup``: the served model's version."""
        await _json(request)  # project, schema, hostname, access_token: nothing to keep
        return JSONResponse({"model_version": self.service.current().version})

    async def predict(self, request: Request) -> JSONResponse:
        """``POST /predict``: one prediction per task, in the tasks' order."""
        body = await _json(request)
        tasks = body.get("tasks")
        if not isinstance(tasks, list):
            raise BadRequest("'tasks' must be a list of tasks")
        model = self.service.current()
        results = []
        for task in tasks:
            text = task.get("data", {}).get("text") if isinstance(task, dict) and isinstance(task.get("data"), dict) else None
            if not isinstance(text, str):
                raise BadRequest(f"task {task.get('id') if isinstance(task, dict) else task!r}: no data.text string")
            results.append(prediction(text, model))
        return JSONResponse({"results": results, "model_version": model.version})

    async def webhook(self, request: Request) -> JSONResponse:
        """``POST /webhook``: a submitted annotation joins the training data; a retraining starts."""
        body = await _json(request)
        action = body.get("action")
        if action in SUBMISSION_ACTIONS and isinstance(body.get("annotation"), dict) and body["annotation"].get("was_cancelled"):
            return JSONResponse({"status": "ignored", "action": action, "reason": "the annotation was skipped"})
        if action in SUBMISSION_ACTIONS:
            self.service.add_submission(submitted_document(body.get("task"), body.get("annotation")))
            return JSONResponse({"status": "ok", "added": 1, "training": self.service.start_training()})
        if action == "START_TRAINING":
            return JSONResponse({"status": "ok", "added": 0, "training": self.service.start_training()})
        return JSONResponse({"status": "ignored", "action": action})

    async def train(self, request: Request) -> JSONResponse:
        """``POST /train``: every annotation not skipped joins the training data; a retraining starts."""
        body = await _json(request)
        tasks = body.get("annotations")
        if not isinstance(tasks, list):
            raise BadRequest("'annotations' must be a list of tasks with their annotations")
        added = 0
        for task in tasks:
            for annotation in (task.get("annotations") or []) if isinstance(task, dict) else []:
                if not annotation.get("was_cancelled"):
                    self.service.add_submission(submitted_document(task, annotation))
                    added += 1
        return JSONResponse({"status": "ok", "added": added, "training": self.service.start_training() if added else "not needed"})

    async def versions(self, _request: Request) -> JSONResponse:
        """``GET|POST /versions``: the served model's version."""
        return JSONResponse({"versions": [self.service.current().version]})


def create_app(root: Path) -> Starlette:
    """The backend's app over the dataset repository at ``root``."""
    service = Service(root)
    endpoints = Endpoints(service)
    routes = [
        Route("/health", _handler(endpoints.health), methods=["GET"]),
        Route("/", _handler(endpoints.health), methods=["GET"]),
        Route("/setup", _handler(endpoints.setup), methods=["POST"]),
        Route("/predict", _handler(endpoints.predict), methods=["POST"]),
        Route("/webhook", _handler(endpoints.webhook), methods=["POST"]),
        Route("/train", _handler(endpoints.train), methods=["POST"]),
        Route("/versions", _handler(endpoints.versions), methods=["GET", "POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.service = service
    return app


def main(argv: list[str] | None = None) -> int:
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m khabar.model.backend")
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    uvicorn.run(create_app(args.root.resolve()), host="127.0.0.1", port=args.port, log_level="info", access_log=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
