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

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio
    from label_studio_sdk.types import AllRolesProjectList

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
    projects: Iterable[AllRolesProjectList] = client.projects.list()  # the SDK's pager type loses its item type
    matches = [project.id for project in projects if project.title == title]
    if len(matches) > 1:
        raise KhabarError(f"{len(matches)} projects are titled {title!r} (ids {matches}); rename all but one")
    return matches[0] if matches else None


def require_project(client: LabelStudio, title: str) -> int:
    project_id = find_project(client, title)
    if project_id is None:
        raise KhabarError(f"no project titled {title!r} on this Label Studio; create it with: khabar studio sync")
    return project_id


def project_tasks(client: LabelStudio, project_id: int, *, fields: str = "task_only") -> list[Any]:
    return list(client.tasks.list(project=project_id, fields=fields))


def doc_id_tasks(client: LabelStudio, project_id: int) -> dict[str, int]:
    """doc_id → task id of the project's tasks (tasks without a doc_id are not ours and are ignored)."""
    found: dict[str, int] = {}
    for task in project_tasks(client, project_id):
        doc_id = (task.data or {}).get("doc_id")
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
            client.projects.import_tasks(id=project_id, request=batch)
            count += len(batch)
            batch = []
    if batch:
        client.projects.import_tasks(id=project_id, request=batch)
        count += len(batch)
    return count


def update_config(client: LabelStudio, project_id: int, config_xml: str) -> bool:
    """Give the project ``config_xml``; False when it already had it."""
    from label_studio_sdk.core.api_error import ApiError

    current = client.projects.get(id=project_id).label_config or ""
    if current.strip() == config_xml.strip():
        return False
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
        try:
            project_id = client.projects.create(title=title, label_config=config_xml).id
        except ApiError as exc:
            raise KhabarError(f"Label Studio refused the labeling config: {_api_error_text(exc)}") from None
        if project_id is None:
            raise KhabarError(f"Label Studio answered the creation of project {title!r} without an id")
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
        versions = {prediction.model_version for prediction in task.predictions or []}
        text = (task.data or {}).get("text")
        if MODEL_VERSION in versions or not isinstance(text, str):
            present += 1
            continue
        result = preannotate(text, gazetteer)
        results += len(result)
        requests.append(PredictionRequest(task=task.id, result=result, model_version=MODEL_VERSION, score=0.0))
    if requests:
        progress(f"importing {MODEL_VERSION} predictions for {len(requests)} task(s)")
        client.projects.import_predictions(id=project_id, request=requests)
    # Label Studio pre-fills the editor with the predictions of the project's model version.
    client.projects.update(id=project_id, model_version=MODEL_VERSION, show_collab_predictions=True)
    return PreannotationReport(added=len(requests), already_present=present, results=results)
