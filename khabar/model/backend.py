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
predictions); one asked for while it runs starts as soon as it ends, and the backend stopping stops it. The model it
writes becomes current only once complete (``khabar.model.train``), and each request checks
``.khabar/models/current.json`` so the new version is served from the first request after it.
A malformed request gets a 400 (a body past :data:`MAX_BODY_BYTES` 413, one not sent as JSON 415) with a one-line
``error``, and the server goes on.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import re
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from khabar.annotation.scheme import load_scheme
from khabar.foundation.errors import KhabarError, not_utf8, quoted
from khabar.foundation.export_files import read_regular, utf8_text
from khabar.foundation.files import os_reason, sha256_bytes, write_atomic
from khabar.foundation.jsonl import is_whole_number, json_problem
from khabar.model.corpus import CharEntity, Document, label_problem, span_problem, submitted_file, submitted_line
from khabar.model.predict import EntityModel, prediction
from khabar.model.train import current_file, current_model_dir
from khabar.validation.export_json import SURROGATE

SUBMISSION_ACTIONS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED")
#: The content type of every request with a body (Label Studio's client sends it). A web page the annotator opens may
#: send a cross-site POST of ``text/plain`` or of a form without asking; one of ``application/json`` the browser sends
#: only after a preflight this server never allows. Any type accepted, any page could add training data.
JSON_TYPE = "application/json"
#: The largest body a request may have (413 past it). A body is parsed whole (one of 100 MB took the backend to 387 MB
#: before any work), and a prediction peaks at about 36 times its text's bytes (8 MB of text: 300 MB; 16 MB: 576 MB and
#: 100 s of CPU): at this size the worst request stays under the 1 GB every command keeps to. Label Studio asks for at
#: most its ML batch, 100 tasks: of the corpus's longest page (13 KB), 1.3 MB.
MAX_BODY_BYTES = 16 << 20
#: A region's id as Label Studio makes them (``Xk3_a9b2Lq``): an error names a region by it, any other by its place.
REGION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: How long a training under way has to stop once the backend stops (the backend itself is killed after 15 s:
#: :data:`khabar.studio.ml_backend.STOP_TIMEOUT`), before it is killed.
TRAINING_STOP_SECONDS = 10.0
#: the request being answered, for the one-line error in the log
request_name: contextvars.ContextVar[str] = contextvars.ContextVar("request_name", default="")


class BadRequest(Exception):
    """A request that cannot be answered: its one-line reason, and the 4xx status saying so."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def training_log(root: Path) -> Path:
    """What the backend's trainings print."""
    return submitted_file(root).with_name("train.log")


def _log(message: str) -> None:
    print(f"khabar ml-backend: {message}", file=sys.stderr, flush=True)


class Service:
    """The served model, reloaded when ``current.json`` changes, and the retraining child process.

    The endpoints run one at a time on the server's event loop; the lock is for the thread that waits for a training.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lock = threading.Lock()
        self.model: EntityModel | None = None
        self.loaded_from: tuple[int, int] | None = None
        self.training: subprocess.Popen[bytes] | None = None
        self.train_again = False
        self.stopped = False

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
            return self.model

    def add_submissions(self, documents: list[Document]) -> None:
        """Append the pages' entities to the training data (the file is rewritten atomically, over the bytes read
        alone: lines another process saved meanwhile are kept, and the request refused)."""
        path = submitted_file(self.root)
        with self.lock:
            previous = read_regular(path) if path.exists() else None
            text = "" if previous is None else utf8_text(previous, path)
            write_atomic(path, text + "".join(submitted_line(document) for document in documents), over=None if previous is None else sha256_bytes(previous))

    def start_training(self) -> str:
        """Start ``khabar train`` unless one runs (then one more run follows it); returns what happened."""
        with self.lock:
            if self.training is not None:
                self.train_again = True
                return "queued"
            self._spawn()
            return "started"

    def _spawn(self) -> None:
        """Start ``khabar train``, and a thread that waits for it to end and then starts the one asked for meanwhile
        (left to the next request, 200 submissions at once were learnt up to the 46th until another request came)."""
        log = training_log(self.root)
        try:
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("ab") as output:
                self.training = subprocess.Popen(
                    [sys.executable, "-m", "khabar.cli", "--root", str(self.root), "train"],
                    stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                )  # fmt: skip
        except OSError as exc:
            raise KhabarError(f"cannot start a training: {os_reason(exc)}", file=str(log)) from None
        threading.Thread(target=self._follow, args=(self.training,), daemon=True).start()

    def _follow(self, process: subprocess.Popen[bytes]) -> None:
        process.wait()
        with self.lock:
            self.training = None
            if self.train_again and not self.stopped:
                self.train_again = False
                try:
                    self._spawn()
                except KhabarError as exc:
                    _log(f"training: {exc}")

    def stop_training(self) -> None:
        """Stop the training under way, if one is, and wait for it: SIGTERM, on which ``khabar train`` leaves nothing
        behind. Left to run, it outlived the backend (``khabar studio down``) and put a model in place later."""
        with self.lock:
            self.stopped = True
            process = self.training
        if process is None:
            return
        process.terminate()
        try:
            process.wait(TRAINING_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()  # what it staged, the next training removes
            process.wait()


def _task_id(task: Any) -> int | None:
    task_id = task.get("id") if isinstance(task, dict) else None
    return task_id if is_whole_number(task_id) else None


def _task_name(task: Any, place: int | None = None) -> str:
    """How an error names a task: by its id, a number as Label Studio's are, else by its place in the request. An id
    of any other shape is never shown (one of 5,000 characters made a log line as long, one holding a line break two)."""
    task_id = _task_id(task)
    if task_id is not None:
        return f"task {task_id}"
    return f"task #{place}" if place is not None else "the task"


def _region_name(result: Any, place: int) -> str:
    """How an error names a region: by its id (:data:`REGION_ID`), else by its place in the annotation's results."""
    region_id = result.get("id") if isinstance(result, dict) else None
    return f"region {region_id}" if isinstance(region_id, str) and REGION_ID.fullmatch(region_id) else f"region #{place}"


def _text(value: Any, what: str) -> str:
    """``value``, a string that UTF-8 can hold; else a BadRequest naming it ``what``. JSON's ``\\uD800`` gives a
    lone surrogate: CRFsuite failed on one with a traceback, and so did the write of the training data."""
    if not isinstance(value, str):
        raise BadRequest(f"no {what} string")
    if SURROGATE.search(value):
        raise BadRequest(f"{what} holds a lone surrogate (a \\uD800-\\uDFFF escape without its pair): not Unicode text")
    return value


def _task_text(task: Any, name: str) -> str:
    data = task.get("data") if isinstance(task, dict) else None
    try:
        return _text(data.get("text") if isinstance(data, dict) else None, "data.text")
    except BadRequest as exc:
        raise BadRequest(f"{name}: {exc}") from None


def submitted_document(task: Any, annotation: Any, place: int | None = None) -> Document:
    """A task and one of its annotations as a training document: its text and the entity layer's regions, each with
    offsets inside the text and labels of the scheme, and nothing else (no identity, whatever the annotation holds)."""
    name = _task_name(task, place)
    text = _task_text(task, name)
    task_id = _task_id(task)
    try:
        doc_id = _text(task["data"].get("doc_id", f"task-{task_id}" if task_id is not None else None), "data.doc_id")
    except BadRequest as exc:
        raise BadRequest(f"{name}: {exc} (nor an integer id)") from None
    if not isinstance(annotation, dict) or not isinstance(annotation.get("result"), list):
        raise BadRequest(f"{name}: the annotation has no 'result' list")
    layer = load_scheme().entity.name
    entities = []
    for region, result in enumerate(annotation["result"]):
        where = f"{name}: {_region_name(result, region)}"
        if not isinstance(result, dict):
            raise BadRequest(f"{where}: not an object")
        if result.get("from_name") != layer:
            continue  # another layer's region, a relation, a choice: not the entity model's to learn
        value = result["value"] if isinstance(result.get("value"), dict) else {}
        start, end, labels = value.get("start"), value.get("end"), value.get("labels")
        if not (is_whole_number(start) and is_whole_number(end)):
            raise BadRequest(f"{where}: its value has no whole-number start and end")
        if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
            raise BadRequest(f"{where}: its value's labels are not a list of texts")
        if (problem := span_problem(start, end, text) or next(filter(None, map(label_problem, labels)), None)) is not None:
            raise BadRequest(f"{where}: {problem}")
        entities += [CharEntity(start, end, label) for label in labels]
    return Document(doc_id, text, tuple(entities))


async def _body(request: Request) -> bytes:
    """The request's body, refused (413) past :data:`MAX_BODY_BYTES`; what comes past it is read and let go, so that
    the client, still sending, reads the answer."""
    kept, size = bytearray(), 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= MAX_BODY_BYTES:
            kept += chunk
    if size > MAX_BODY_BYTES:
        raise BadRequest(f"the body is {size:,} bytes, more than the {MAX_BODY_BYTES:,} a request may have", 413)
    return bytes(kept)


async def _json(request: Request) -> dict:
    """The request's body, a JSON object; else a BadRequest saying why in one line."""
    declared = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if declared != JSON_TYPE:
        raise BadRequest(f"the body must be sent as {JSON_TYPE}, not {quoted(declared) if declared else 'without a content type'}", 415)
    body = await _body(request)
    try:
        value = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the body is {not_utf8(exc)}") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(f"the body is not JSON ({json_problem(exc)})") from None
    except (ValueError, RecursionError) as exc:  # an integer of more than 4,300 digits; nesting too deep: a 500 and a traceback
        raise BadRequest(f"the body is not JSON ({'nested too deeply' if isinstance(exc, RecursionError) else str(exc).split(';')[0]})") from None
    if not isinstance(value, dict):
        raise BadRequest("the body must be a JSON object")
    return value


def _error(message: str, status: int) -> JSONResponse:
    """A one-line error in the log and as the response's ``error``."""
    _log(f"{request_name.get()}: {message}")
    return JSONResponse({"error": message}, status_code=status)


def _handler(function: Callable[[Request], Awaitable[JSONResponse]]) -> Callable[[Request], Awaitable[JSONResponse]]:
    """An endpoint that names its request and answers a bad request with 4xx, a missing model with 503."""

    async def endpoint(request: Request) -> JSONResponse:
        request_name.set(f"{request.method} {request.url.path}")
        try:
            return await function(request)
        except BadRequest as exc:
            return _error(str(exc), exc.status)
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
        """``POST /predict``: one prediction per task, in the tasks' order (every task checked before any is predicted)."""
        body = await _json(request)
        tasks = body.get("tasks")
        if not isinstance(tasks, list):
            raise BadRequest("'tasks' must be a list of tasks")
        texts = [_task_text(task, _task_name(task, place)) for place, task in enumerate(tasks)]
        model = self.service.current()
        return JSONResponse({"results": [prediction(text, model) for text in texts], "model_version": model.version})

    async def webhook(self, request: Request) -> JSONResponse:
        """``POST /webhook``: a submitted annotation joins the training data; a retraining starts."""
        body = await _json(request)
        action = body.get("action")
        if action in SUBMISSION_ACTIONS and isinstance(body.get("annotation"), dict) and body["annotation"].get("was_cancelled"):
            return JSONResponse({"status": "ignored", "action": action, "reason": "the annotation was skipped"})
        if action in SUBMISSION_ACTIONS:
            self.service.add_submissions([submitted_document(body.get("task"), body.get("annotation"))])
            return JSONResponse({"status": "ok", "added": 1, "training": self.service.start_training()})
        if action == "START_TRAINING":
            return JSONResponse({"status": "ok", "added": 0, "training": self.service.start_training()})
        return JSONResponse({"status": "ignored", "action": action})

    async def train(self, request: Request) -> JSONResponse:
        """``POST /train``: every annotation not skipped joins the training data (all checked before any is added); a
        retraining starts."""
        body = await _json(request)
        tasks = body.get("annotations")
        if not isinstance(tasks, list):
            raise BadRequest("'annotations' must be a list of tasks with their annotations")
        documents = []
        for place, task in enumerate(tasks):
            annotations = (task.get("annotations") if isinstance(task, dict) else None) or []
            if not isinstance(annotations, list) or not all(isinstance(annotation, dict) for annotation in annotations):
                raise BadRequest(f"{_task_name(task, place)}: its 'annotations' are not a list of objects")
            documents += [submitted_document(task, annotation, place) for annotation in annotations if not annotation.get("was_cancelled")]
        if documents:
            self.service.add_submissions(documents)
        return JSONResponse({"status": "ok", "added": len(documents), "training": self.service.start_training() if documents else "not needed"})

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

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        service.stop_training()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.service = service
    return app


def main(argv: list[str] | None = None) -> int:
    import argparse

    import uvicorn

    from khabar.foundation.paths import use_root

    parser = argparse.ArgumentParser(prog="python -m khabar.model.backend")
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    use_root(args.root)  # the scheme and the rules of the repository served, wherever the backend was started from
    uvicorn.run(create_app(args.root.resolve()), host="127.0.0.1", port=args.port, log_level="info", access_log=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
