"""The Label Studio project: config, tasks keyed by doc_id, pre-annotations.

A project is found by its title. Sync creates it from the labeling config,
updates its config when the file changed (after Label Studio's own check that
no label in use would be orphaned), and imports every current corpus document
that has no task yet. Re-running it creates nothing new.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from khabar.annotation.gazetteer import Gazetteer
from khabar.annotation.ingest import DocumentRecord
from khabar.annotation.preannotate import MODEL_VERSION, preannotate
from khabar.foundation.errors import KhabarError
from khabar.studio.connection import UnusableAnswer, listed, shown, studio_answers, whole_number

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio

DEFAULT_PROJECT = "khabar"
IMPORT_BATCH = 200


@dataclass(frozen=True)
class SyncReport:
    project_id: int
    created: bool
    config_updated: bool
    imported: tuple[str, ...]
    already_present: int


@dataclass(frozen=True)
class PreannotationReport:
    added: int
    already_present: int
    results: int


def _api_error_text(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        errors = body.get("validation_errors") or {}
        messages = [str(m) for values in errors.values() for m in (values if isinstance(values, list) else [values])]
        if messages:
            return " ".join(" ".join(messages).split())
        if body.get("detail"):
            return str(body["detail"])
    return str(exc)


def find_project(client: LabelStudio, title: str) -> int | None:
    with studio_answers(client, "listing the projects"):
        matches = [project.id for project in listed(client.projects.list(), things="projects", total="count") if project.title == title]
    if len(matches) > 1:
        raise KhabarError(f"{len(matches)} projects are titled {title!r} (ids {matches}); rename all but one")
    return matches[0] if matches else None


def require_project(client: LabelStudio, title: str) -> int:
    project_id = find_project(client, title)
    if project_id is None:
        raise KhabarError(f"no project titled {title!r} on this Label Studio; create it with: khabar studio sync")
    return project_id


def project_tasks(client: LabelStudio, project_id: int, *, fields: str = "task_only") -> list[Any]:
    """The project's tasks as the SDK gives them, each with its ``data`` (and with ``fields="all"`` its predictions)."""
    with studio_answers(client, f"listing the tasks of project {project_id}"):
        return [_checked_task(task) for task in listed(client.tasks.list(project=project_id, fields=fields), things="tasks", total="total")]


def _checked_task(task: Any) -> Any:
    """A task of a listing, when it has what Khabar reads of it: its data, and predictions each with a model version."""
    if not isinstance(task.data, dict):
        raise UnusableAnswer(f"task {task.id} has no data object (its data is {shown(task.data)})")
    predictions = task.predictions
    if predictions is not None and not (
        isinstance(predictions, list) and all(isinstance(getattr(p, "model_version", None), (str, type(None))) for p in predictions)
    ):
        raise UnusableAnswer(f"task {task.id}'s predictions are {shown(predictions)}, not a list of predictions with a model_version")
    return task


def model_versions(task: Any) -> set[str | None]:
    """The model versions of a listed task's predictions (:func:`project_tasks` with ``fields="all"``)."""
    return {prediction.model_version for prediction in task.predictions or []}


def doc_id_tasks(client: LabelStudio, project_id: int) -> dict[str, int]:
    """doc_id → task id of the project's tasks (tasks without a doc_id are not ours and are ignored)."""
    found: dict[str, int] = {}
    for task in project_tasks(client, project_id):
        doc_id = task.data.get("doc_id")
        if isinstance(doc_id, str):
            found.setdefault(doc_id, task.id)
    return found


def import_task_data(client: LabelStudio, project_id: int, data: Iterable[dict[str, str]]) -> int:
    from label_studio_sdk.types import ImportApiRequest

    batch: list[ImportApiRequest] = []
    count = 0
    for item in data:
        batch.append(ImportApiRequest(data=item))
        if len(batch) == IMPORT_BATCH:
            count += _import_batch(client, project_id, batch)
            batch = []
    if batch:
        count += _import_batch(client, project_id, batch)
    return count


def _import_batch(client: LabelStudio, project_id: int, batch: list[Any]) -> int:
    with studio_answers(client, f"importing {len(batch)} task(s) into project {project_id}"):
        client.projects.import_tasks(id=project_id, request=batch)
    return len(batch)


def labeling_config(client: LabelStudio, project_id: int) -> str:
    """The project's labeling config on the server (empty when it has none)."""
    with studio_answers(client, f"reading project {project_id}"):
        config = client.projects.get(id=project_id).label_config
        if not isinstance(config, (str, type(None))):
            raise UnusableAnswer(f"its label_config is {shown(config)}, not a text")
    return config or ""


def update_config(client: LabelStudio, project_id: int, config_xml: str) -> bool:
    """Give the project ``config_xml``; False when it already had it."""
    from label_studio_sdk.core.api_error import ApiError

    if labeling_config(client, project_id).strip() == config_xml.strip():
        return False
    with studio_answers(client, f"updating the labeling config of project {project_id}"):
        try:
            client.projects.validate_label_config(id=project_id, label_config=config_xml)
        except ApiError as exc:
            raise KhabarError(
                f"the changed labeling config would orphan existing annotations, so the project keeps its old config: "
                f"{_api_error_text(exc)}",
                file="annotation/labeling_config.xml",
            ) from None
        client.projects.update(id=project_id, label_config=config_xml)
    return True


def sync_project(
    client: LabelStudio,
    title: str,
    config_xml: str,
    records: Iterable[DocumentRecord],
    *,
    progress: Callable[[str], None] = print,
) -> SyncReport:
    """Create or update project ``title`` and import the current documents it lacks."""
    from label_studio_sdk.core.api_error import ApiError

    current = [record for record in records if record.superseded_by is None]
    project_id = find_project(client, title)
    created = project_id is None
    config_updated = False
    if project_id is None:
        with studio_answers(client, f"creating project {title!r}"):
            try:
                made = client.projects.create(title=title, label_config=config_xml)
            except ApiError as exc:
                raise KhabarError(f"Label Studio refused the labeling config: {_api_error_text(exc)}") from None
            project_id = whole_number(made.id, "the new project's id")
        progress(f"created project {title!r} (id {project_id})")
    else:
        config_updated = update_config(client, project_id, config_xml)
        if config_updated:
            progress(f"updated the labeling config of project {title!r}")
    present = doc_id_tasks(client, project_id)
    missing = [record for record in current if record.doc_id not in present]
    if missing:
        progress(f"importing {len(missing)} document(s)")
        import_task_data(client, project_id, (record.task_data() for record in missing))
    return SyncReport(
        project_id=project_id,
        created=created,
        config_updated=config_updated,
        imported=tuple(record.doc_id for record in missing),
        already_present=len(current) - len(missing),
    )


def import_preannotations(
    client: LabelStudio, project_id: int, gazetteer: Gazetteer, *, progress: Callable[[str], None] = print
) -> PreannotationReport:
    """Add this pre-annotator version's predictions to every task that lacks them."""
    from label_studio_sdk.types import PredictionRequest

    requests: list[PredictionRequest] = []
    present = 0
    results = 0
    for task in project_tasks(client, project_id, fields="all"):
        text = task.data.get("text")
        if MODEL_VERSION in model_versions(task) or not isinstance(text, str):
            present += 1
            continue
        result = preannotate(text, gazetteer)
        results += len(result)
        requests.append(PredictionRequest(task=task.id, result=result, model_version=MODEL_VERSION, score=0.0))
    if requests:
        progress(f"importing {MODEL_VERSION} predictions for {len(requests)} task(s)")
        import_predictions(client, project_id, requests)
    # Label Studio pre-fills the editor with the predictions of the project's model version.
    show_predictions(client, project_id, MODEL_VERSION)
    return PreannotationReport(added=len(requests), already_present=present, results=results)


def import_predictions(client: LabelStudio, project_id: int, requests: list[Any]) -> None:
    with studio_answers(client, f"importing predictions into project {project_id}"):
        client.projects.import_predictions(id=project_id, request=requests)


def show_predictions(client: LabelStudio, project_id: int, model_version: str) -> None:
    """Have the editor pre-fill each task with its predictions of ``model_version``."""
    with studio_answers(client, f"setting the model version of project {project_id}"):
        client.projects.update(id=project_id, model_version=model_version, show_collab_predictions=True)
