"""The ML backend beside the local Label Studio: start, stop, and connect it to a project.

State lives in the studio folder next to Label Studio's: ``ml-backend.json`` (pid and port)
and ``ml-backend.log``. The server listens on 127.0.0.1 only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from khabar.foundation import jsonl
from khabar.foundation.errors import KhabarError
from khabar.foundation.export_files import read_regular
from khabar.studio.connection import UnusableAnswer, shown, studio_answers, whole_number
from khabar.studio.server import LOCAL_HOST, NotTheServer, ProbeRefused, port_is_free, probe, write_private_json

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio, PredictionRequest

DEFAULT_PORT = 9090
BACKEND_TITLE = "khabar"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


@dataclass(frozen=True)
class Backend:
    pid: int
    port: int

    @property
    def url(self) -> str:
        return f"http://{LOCAL_HOST}:{self.port}"


def state_file(studio_dir: Path) -> Path:
    return studio_dir / "ml-backend.json"


def log_file(studio_dir: Path) -> Path:
    return studio_dir / "ml-backend.log"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode("utf-8", "replace")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (ProcessLookupError, PermissionError, FileNotFoundError):
        return False
    return "khabar.model.backend" in cmdline and state != "Z"


def running_backend(studio_dir: Path) -> Backend | None:
    """The backend the state file names, while it runs; the state file of one that is gone, or one that is not a
    :class:`Backend` (cut short, edited), is removed. Read trusting its shape, one nested too deeply was a traceback
    of ``khabar studio up`` and ``down``; anything but a regular file there is refused in one line."""
    path = state_file(studio_dir)
    if not os.path.lexists(path):
        return None
    try:
        backend = jsonl.decode_as(read_regular(path), Backend)
    except ValueError:
        backend = None
    if backend is not None and _alive(backend.pid):
        return backend
    path.unlink(missing_ok=True)
    return None


def health(url: str, timeout: float = 5.0) -> dict[str, Any] | None:
    """The backend's /health answer; None while no backend answers at ``url`` (nothing does, or something else)."""
    try:
        return probe(f"{url}/health", timeout=timeout)
    except (ProbeRefused, NotTheServer):
        return None


def start_backend(root: Path, studio_dir: Path, port: int = DEFAULT_PORT, *, timeout: float = START_TIMEOUT) -> Backend:
    """Start the ML backend for the repository at ``root`` and wait until /health answers."""
    current = running_backend(studio_dir)
    if current is not None:
        return current
    if not port_is_free(port):
        raise KhabarError(f"port {port} on {LOCAL_HOST} is in use; choose another with --ml-port")
    studio_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with log_file(studio_dir).open("ab") as log:
        os.chmod(log_file(studio_dir), 0o600)
        process = subprocess.Popen(
            [sys.executable, "-m", "khabar.model.backend", "--root", str(root.resolve()), "--port", str(port)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    backend = Backend(pid=process.pid, port=port)
    write_private_json(state_file(studio_dir), asdict(backend))
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            state_file(studio_dir).unlink(missing_ok=True)
            raise KhabarError(f"the ML backend exited with status {process.returncode} while starting; see {log_file(studio_dir)}")
        answer = health(backend.url)
        if answer is not None and answer.get("status") == "UP":
            return backend
        if time.monotonic() > deadline:
            stop_backend(studio_dir)
            raise KhabarError(f"the ML backend did not answer at {backend.url} within {timeout:.0f} s; see {log_file(studio_dir)}")
        time.sleep(0.3)


def stop_backend(studio_dir: Path, *, timeout: float = STOP_TIMEOUT) -> Backend | None:
    backend = running_backend(studio_dir)
    if backend is None:
        return None
    os.kill(backend.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(backend.pid):
        if time.monotonic() > deadline:
            os.kill(backend.pid, signal.SIGKILL)
            break
        time.sleep(0.2)
    try:
        os.waitpid(backend.pid, 0)
    except ChildProcessError:
        pass
    state_file(studio_dir).unlink(missing_ok=True)
    return backend


def connect_project(client: LabelStudio, project_id: int, url: str) -> str:
    """Register the backend on the project (once) and have Label Studio ask it when a task without predictions opens.

    Returns the model version Label Studio got from the backend's /setup.
    """
    with studio_answers(client, f"connecting the ML backend at {url} to project {project_id}"):
        existing = [ml for ml in client.ml.list(project=project_id) if ml.url.rstrip("/") == url.rstrip("/")]
        if existing:
            ml = client.ml.update(id=whole_number(existing[0].id, "the ML backend's id"), url=url, project=project_id, is_interactive=True, auto_update=True)
        else:
            ml = client.ml.create(url=url, project=project_id, title=BACKEND_TITLE, is_interactive=True, auto_update=True)
        ml = client.ml.get(id=whole_number(ml.id, "the ML backend's id"))
        if ml.state not in ("CO", "CONNECTED") or not ml.model_version:
            raise KhabarError(f"Label Studio cannot reach the ML backend at {url} (state {ml.state}: {ml.error_message})")
        if not isinstance(ml.title, str) or not isinstance(ml.model_version, str):
            raise UnusableAnswer(f"the ML backend's title is {shown(ml.title)} and its model version {shown(ml.model_version)}, not texts")
    # A project's model_version names a live backend by its title (Label Studio refuses a version it has no predictions of).
    with studio_answers(client, f"setting the model version of project {project_id}"):
        client.projects.update(id=project_id, model_version=ml.title, show_collab_predictions=True, evaluate_predictions_automatically=True)
    return ml.model_version


def up(root: Path, studio_dir: Path, port: int) -> str:
    """Start the backend beside Label Studio when a model is trained; the line to print either way."""
    from khabar.model.train import current_file

    if not current_file(root).exists():
        return "no entity model yet, so no ML backend: run khabar train, then khabar studio up again"
    try:
        backend = start_backend(root, studio_dir, port)
    except KhabarError as exc:  # Label Studio is up and usable without it: say why, do not fail
        return f"ML backend not started: {exc}"
    return f"ML backend at {backend.url} (log {log_file(studio_dir)}); khabar studio sync connects it to the project"


def connect_if_running(client: LabelStudio, project_id: int, studio_dir: Path) -> str | None:
    backend = running_backend(studio_dir)
    if backend is None:
        return None
    version = connect_project(client, project_id, backend.url)
    return f"ML backend {backend.url} connected: tasks opened without predictions get {version}"


def import_model_predictions(client: LabelStudio, project_id: int, model_dir: Path, *, progress=print) -> tuple[str, int, int]:
    """Add the model's predictions (entities, and the rules' scored attribution and zones) to every task lacking them.

    Returns the model version, the tasks given predictions and the tasks that had them already.
    """
    from label_studio_sdk.types import PredictionRequest

    from khabar.model.predict import EntityModel, prediction
    from khabar.studio.project import import_predictions, model_versions, project_tasks, show_predictions

    model = EntityModel(model_dir)
    requests: list[PredictionRequest] = []
    present = 0
    for task in project_tasks(client, project_id, fields="all"):
        text = task.data.get("text")
        if model.version in model_versions(task) or not isinstance(text, str):
            present += 1
            continue
        requests.append(PredictionRequest(task=task.id, **prediction(text, model)))
    if requests:
        progress(f"importing {model.version} predictions for {len(requests)} task(s)")
        import_predictions(client, project_id, requests)
    show_predictions(client, project_id, model.version)
    return model.version, len(requests), present
