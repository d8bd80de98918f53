"""An annotator's work is never lost between git and Label Studio (against a real Label Studio).

Each test works in a copy of the dataset repository (``--root``) and its own
project. ``unique_id`` is unique per server, so only the fresh-server test pushes
the committed export as it is; the others push a copy whose annotations got new
``unique_id``\\ s (what a second, independent record would hold).
"""

from __future__ import annotations

import copy
import difflib
import json
import re
import shutil
import threading
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from khabar.annotation.ingest import load_records
from khabar.foundation.errors import KhabarError
from khabar.foundation.paths import repo
from khabar.studio.project import doc_id_tasks, find_project, sync_project
from khabar.studio.push import push_file
from tests.studio.studio_support import snapshot_export

pytestmark = pytest.mark.studio

COMMITTED = repo().exports_dir / "khabar.json"
CONFIG = repo().labeling_config.read_text(encoding="utf-8")
RECORDS = [r for r in load_records(repo().documents_file) if r.superseded_by is None]


def quiet(_line: str) -> None:
    pass


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A copy of the dataset repository: what the commands read and write."""
    root = tmp_path / "repo"
    for relative in ("annotation/labeling_config.xml", "annotation/corpus", "dataset/release.toml", "dataset/VERSION"):
        source = repo().root / relative
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copyfile)(source, target)
    (root / "annotation" / "exports").mkdir()
    return root


@pytest.fixture
def team(studio_server, monkeypatch) -> dict[str, Any]:
    """The session Label Studio used as a team's server: --url and LABEL_STUDIO_API_KEY."""
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", studio_server.credentials.token)
    return {"url": studio_server.url, "client": studio_server.client()}


def cli(khabar, root: Path, team: dict[str, Any], action: str, title: str, *extra: str | Path):
    return khabar("--root", root, "studio", action, "--url", team["url"], "--project", title, "--studio-dir", root / ".studio", *extra)


def with_new_unique_ids(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    fresh = copy.deepcopy(tasks)
    for task in fresh:
        for annotation in task["annotations"]:
            annotation["unique_id"] = str(uuid.uuid4())
    return fresh


def write_export(path: Path, tasks: list[dict[str, Any]]) -> None:
    path.write_text(json.dumps(tasks, ensure_ascii=False, sort_keys=True, indent=2) + "\n", encoding="utf-8")


def project_counts(client, project_id: int) -> dict[str, Any]:
    """Tasks, annotations and predictions of a project, and each annotation's content, as Label Studio holds them."""
    tasks = snapshot_export(client, project_id)
    annotations = [a for t in tasks for a in t["annotations"]]
    predictions = [p for t in tasks for p in t["predictions"]]
    return {
        "tasks": len(tasks),
        "annotations": len(annotations),
        "predictions": len(predictions),
        "content": sorted(json.dumps([a["unique_id"], a["result"], a["was_cancelled"], a["ground_truth"], a["lead_time"]], sort_keys=True) for a in annotations),
        "prediction_versions": sorted((t["data"]["doc_id"], p["model_version"]) for t in tasks for p in t["predictions"]),
    }


def changed_lines(before: str, after: str) -> int:
    return sum(1 for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
               if line[:1] in "+-" and not line.startswith(("+++", "---")))  # fmt: skip


def span(region_id: str, layer: str, label: str, text: str, start: int, end: int) -> dict[str, Any]:
    return {"id": region_id, "from_name": layer, "to_name": "text", "type": "labels", "origin": "manual",
            "value": {"start": start, "end": end, "text": text[start:end], "labels": [label]}}  # fmt: skip


def server_annotation(client, project_id: int, unique: str) -> dict[str, Any]:
    for task in snapshot_export(client, project_id):
        for annotation in task["annotations"]:
            if annotation["unique_id"] == unique:
                return annotation
    raise AssertionError(f"no annotation {unique} in project {project_id}")


def free_word(text: str, annotation: dict[str, Any]) -> tuple[int, int]:
    """A word of at least four letters that no region of the annotation touches: where a new span may go."""
    taken = [(i["value"]["start"], i["value"]["end"]) for i in annotation["result"] if "start" in (i.get("value") or {})]
    for match in re.finditer(r"[\u0621-\u064A]{4,}", text):
        if not any(start < match.end() and match.start() < end for start, end in taken):
            return match.start(), match.end()
    raise AssertionError("no free word")


def entity_regions(annotation: dict[str, Any]) -> list[dict[str, Any]]:
    """Entity spans no relation or choice refers to: safe to relabel or remove."""
    referred = {i.get("from_id") for i in annotation["result"]} | {i.get("to_id") for i in annotation["result"]}
    referred |= {i.get("id") for i in annotation["result"] if i.get("type") == "choices"}
    return [i for i in annotation["result"] if i.get("from_name") == "entity" and i.get("id") not in referred]


def test_fresh_server_flow_loads_the_record_and_keeps_it_byte_identical(khabar, root, team, studio_project_title, capsys):
    """sync → preannotate → pull on a project without the committed work: the export is intact;
    one span drawn in the editor is ≤ 30 changed lines; pull → push → pull is byte-identical. One scenario on
    purpose: each step starts from the server the step before left, and a second test would start it again."""
    client, title = team["client"], studio_project_title
    export = root / "annotation" / "exports" / f"{title}.json"
    shutil.copyfile(COMMITTED, export)
    shutil.copyfile(COMMITTED.with_suffix(".sync"), export.with_suffix(".sync"))  # the committed record and its sync state
    committed = COMMITTED.read_text(encoding="utf-8")
    try:
        synced = cli(khabar, root, team, "sync", title)
        assert synced.status == 0, synced.output
        assert "loading the committed export" in synced.output and "13 annotation(s) created" in synced.output
        project_id = find_project(client, title)
        counts = project_counts(client, project_id)
        assert (counts["tasks"], counts["annotations"], counts["predictions"]) == (5, 13, 5)
        assert export.with_suffix(".sync").is_file()

        again = cli(khabar, root, team, "sync", title)
        assert again.status == 0 and "0 annotation(s) created" in again.output and "13 already the same" in again.output
        pre = cli(khabar, root, team, "preannotate", title, "--exports", root / "annotation" / "exports")
        assert pre.status == 0, pre.output
        assert project_counts(client, project_id)["predictions"] == 5, "one khabar-rules-1 set per task"

        pulled = cli(khabar, root, team, "pull", title)
        assert pulled.status == 0, pulled.output
        assert export.read_text(encoding="utf-8") == committed, "the fresh-server flow leaves the committed export intact"

        # one span drawn in the editor: the annotation's result gains one region
        tasks = json.loads(committed)
        task = tasks[1]
        target = task["annotations"][0]
        text = task["data"]["text"]
        start, end = free_word(text, target)
        drawn = span("UiDrawn001", "entity", "NORP", text, start, end)
        server = server_annotation(client, project_id, target["unique_id"])
        client.annotations.update(id=server["id"], result=[*server["result"], drawn])
        assert cli(khabar, root, team, "pull", title).status == 0
        after = export.read_text(encoding="utf-8")
        lines = changed_lines(committed, after)
        with capsys.disabled():
            print(f"\none span drawn in the editor → {lines} changed lines in the export")
        assert 0 < lines <= 30
        merged = json.loads(after)
        assert merged[1]["annotations"][0]["result"][-1] == drawn
        for before_task, after_task in zip(tasks, merged, strict=True):
            for old, new in zip(before_task["annotations"], after_task["annotations"], strict=True):
                assert (new["id"], new["created_at"]) == (old["id"], old["created_at"])
                if new["unique_id"] != target["unique_id"]:
                    assert new == old, "unchanged annotations keep every field"

        # pull → push → pull of unchanged work
        pushed = cli(khabar, root, team, "push", title)
        assert pushed.status == 0 and "0 annotation(s) created, 0 updated" in pushed.output, pushed.output
        assert cli(khabar, root, team, "pull", title).status == 0
        assert export.read_text(encoding="utf-8") == after
        validated = khabar("--root", root, "validate", export)
        assert validated.status == 0, validated.output

        # a second, empty project: pulling the synced file from it would drop all 13 → refused, nothing written
        empty = sync_project(client, f"{title}-empty", CONFIG, RECORDS, progress=quiet).project_id
        state = export.with_suffix(".sync").read_bytes()
        refused = cli(khabar, root, team, "pull", f"{title}-empty", "--out", export)
        assert refused.status == 1, refused.output
        assert refused.output.count("deleted on the server since the last sync") == 13
        assert "--accept-deletions" in refused.output and "Traceback" not in refused.output
        assert export.read_text(encoding="utf-8") == after and export.with_suffix(".sync").read_bytes() == state
        client.projects.delete(id=empty)
    finally:
        project_id = find_project(client, title)
        if project_id is not None:
            client.projects.delete(id=project_id)  # frees the committed unique_ids for any later test


@pytest.fixture
def pushed(khabar, root, team, studio_project_title) -> dict[str, Any]:
    """A project holding a copy of the committed work (new unique_ids), pushed and pulled back once."""
    title = studio_project_title
    export = root / "annotation" / "exports" / f"{title}.json"
    write_export(export, with_new_unique_ids(json.loads(COMMITTED.read_text(encoding="utf-8"))))
    synced = cli(khabar, root, team, "sync", title)
    assert synced.status == 0, synced.output
    pulled = cli(khabar, root, team, "pull", title)
    assert pulled.status == 0, pulled.output
    return {"title": title, "export": export, "project_id": find_project(team["client"], title)}


def test_local_relabel_and_deletion_survive_push_and_pull(khabar, root, team, pushed):
    client, export = team["client"], pushed["export"]
    tasks = json.loads(export.read_text(encoding="utf-8"))
    edited = tasks[0]["annotations"][0]
    regions = entity_regions(edited)
    relabelled, removed = regions[0], regions[1]
    new_label = "ORG" if relabelled["value"]["labels"] != ["ORG"] else "GPE"
    relabelled["value"]["labels"] = [new_label]
    edited["result"].remove(removed)
    edited["result_count"] = len(edited["result"])
    deleted = tasks[2]["annotations"].pop(0)
    write_export(export, tasks)
    edited_bytes = export.read_bytes()

    refused = cli(khabar, root, team, "push", pushed["title"])
    assert refused.status == 1, refused.output
    assert f"annotation {deleted['unique_id']}" in refused.output and "deleted in the file since the last sync" in refused.output
    assert server_annotation(client, pushed["project_id"], edited["unique_id"])["result"] != edited["result"], "a refused push writes nothing"

    done = cli(khabar, root, team, "push", pushed["title"], "--accept-deletions")
    assert done.status == 0, done.output
    assert "1 updated, 1 deleted" in done.output and "already there" not in done.output
    assert server_annotation(client, pushed["project_id"], edited["unique_id"])["result"] == edited["result"]
    assert not any(deleted["unique_id"] in line for line in project_counts(client, pushed["project_id"])["content"])

    again = cli(khabar, root, team, "pull", pushed["title"])
    assert again.status == 0, again.output
    assert export.read_bytes() == edited_bytes, "the local edits came back from the server unchanged"
    pulled = json.loads(export.read_text(encoding="utf-8"))
    assert deleted["unique_id"] not in {a["unique_id"] for t in pulled for a in t["annotations"]}


def test_a_pull_that_would_shrink_an_annotation_is_refused_until_accepted(khabar, root, team, pushed):
    client, export = team["client"], pushed["export"]
    before = export.read_bytes()
    task = json.loads(before)[4]
    annotation = task["annotations"][0]
    server = server_annotation(client, pushed["project_id"], annotation["unique_id"])
    gone = entity_regions(server)[0]
    client.annotations.update(id=server["id"], result=[r for r in server["result"] if r is not gone])
    refused = cli(khabar, root, team, "pull", pushed["title"])
    assert refused.status == 1, refused.output
    assert f"SHRUNK on the server: task {task['data']['doc_id']} annotation {annotation['unique_id']}" in refused.output
    assert f"only in the file:    entity {gone['id']}" in refused.output and "--accept-deletions" in refused.output
    assert export.read_bytes() == before
    accepted = cli(khabar, root, team, "pull", pushed["title"], "--accept-deletions")
    assert accepted.status == 0, accepted.output
    assert gone not in json.loads(export.read_text(encoding="utf-8"))[4]["annotations"][0]["result"]


def test_preannotate_before_push_never_duplicates_predictions(khabar, root, team, studio_project_title):
    client, title = team["client"], studio_project_title
    project_id = sync_project(client, title, CONFIG, RECORDS, progress=quiet).project_id  # a project made before: no push yet
    assert cli(khabar, root, team, "preannotate", title).status == 0  # the committed exports: none yet
    export = root / "annotation" / "exports" / f"{title}.json"
    write_export(export, with_new_unique_ids(json.loads(COMMITTED.read_text(encoding="utf-8"))))
    pushed = cli(khabar, root, team, "push", title)
    assert pushed.status == 0 and "0 prediction(s) created" in pushed.output, pushed.output
    counts = project_counts(client, project_id)
    assert counts["annotations"] == 13
    assert counts["prediction_versions"] == sorted({(r.doc_id, "khabar-rules-1") for r in RECORDS}), "one set per task and model_version"
    assert cli(khabar, root, team, "pull", title).status == 0
    assert all(len(t["predictions"]) == 1 for t in json.loads(export.read_text(encoding="utf-8")))


def test_conflicting_edits_are_reported_and_neither_is_lost(khabar, root, team, pushed):
    client, export = team["client"], pushed["export"]
    tasks = json.loads(export.read_text(encoding="utf-8"))
    annotation = tasks[3]["annotations"][0]
    region = entity_regions(annotation)[0]
    region["value"]["labels"] = ["ORG" if region["value"]["labels"] != ["ORG"] else "GPE"]
    write_export(export, tasks)
    file_version = export.read_bytes()
    server = server_annotation(client, pushed["project_id"], annotation["unique_id"])
    text = tasks[3]["data"]["text"]
    theirs = [*server["result"], span("Srv0000001", "entity", "DATE", text, *free_word(text, annotation))]
    client.annotations.update(id=server["id"], result=theirs)
    before = project_counts(client, pushed["project_id"])

    for action in ("push", "pull"):
        run = cli(khabar, root, team, action, pushed["title"])
        assert run.status == 1, run.output
        assert f"annotation {annotation['unique_id']}" in run.output and "changed in the file and on the server" in run.output
        assert "only in the file:" in run.output and "only on the server:" in run.output and "Srv0000001" in run.output
        assert "--keep file or --keep server" in run.output
        assert export.read_bytes() == file_version
        assert project_counts(client, pushed["project_id"]) == before

    kept = cli(khabar, root, team, "pull", pushed["title"], "--keep", "server")
    assert kept.status == 0, kept.output
    merged = json.loads(export.read_text(encoding="utf-8"))
    assert merged[3]["annotations"][0]["result"] == theirs

    # the other way: a second conflict settled by keeping the file's version
    other = merged[4]["annotations"][0]
    entity_regions(other)[0]["value"]["labels"] = ["LOC"]
    write_export(export, merged)
    server = server_annotation(client, pushed["project_id"], other["unique_id"])
    client.annotations.update(id=server["id"], result=server["result"][1:])
    assert cli(khabar, root, team, "push", pushed["title"]).status == 1
    pushed_file = cli(khabar, root, team, "push", pushed["title"], "--keep", "file")
    assert pushed_file.status == 0 and "1 updated" in pushed_file.output, pushed_file.output
    assert server_annotation(client, pushed["project_id"], other["unique_id"])["result"] == other["result"]
    settled = export.read_bytes()
    assert cli(khabar, root, team, "pull", pushed["title"]).status == 0
    assert export.read_bytes() == settled


def test_a_push_that_fails_part_way_leaves_the_project_as_it_was(root, team, pushed, tmp_path):
    """Tasks imported, predictions, creations, updates and deletions are all undone when a write fails."""
    client = team["client"]
    export = pushed["export"]
    tasks = json.loads(export.read_text(encoding="utf-8"))
    # the server lacks one document: the push will import it, with its prediction and annotations
    last = doc_id_tasks(client, pushed["project_id"])[tasks[-1]["data"]["doc_id"]]
    client.tasks.delete(id=str(last))
    tasks[0]["annotations"][0]["result"].remove(entity_regions(tasks[0]["annotations"][0])[0])  # an update
    tasks[1]["annotations"].append({**copy.deepcopy(tasks[1]["annotations"][0]), "unique_id": str(uuid.uuid4()), "id": 999_001})  # a creation
    tasks[2]["annotations"].pop(0)  # a deletion
    write_export(export, tasks)
    before = project_counts(client, pushed["project_id"])
    state = export.with_suffix(".sync").read_bytes()

    class DropsTheNetwork:
        """The real client, whose fourth annotation write fails as a dropped connection would."""

        def __init__(self, real):
            self._real, self.writes = real, 0
            outer = self

            class Annotations:
                def __getattr__(self, name):
                    method = getattr(real.annotations, name)
                    if name not in ("create", "update", "delete"):
                        return method

                    def write(*args, **kwargs):
                        outer.writes += 1
                        if outer.writes == 4:
                            raise httpx.ConnectError("connection reset by peer")
                        return method(*args, **kwargs)

                    return write

            self.annotations = Annotations()

        def __getattr__(self, name):
            return getattr(self._real, name)

    faulty = DropsTheNetwork(client)
    with pytest.raises(KhabarError, match="cannot reach Label Studio at .* annotation .*: connection reset by peer"):
        push_file(faulty, pushed["project_id"], export, tmp_path / "book.json", documents_file=root / "annotation/corpus/documents.jsonl",
                  accept_deletions=True, progress=quiet)  # fmt: skip
    assert faulty.writes > 4, "the fourth write failed; the undo's writes go through the same client"
    assert project_counts(client, pushed["project_id"]) == before
    assert export.with_suffix(".sync").read_bytes() == state

    report = push_file(client, pushed["project_id"], export, tmp_path / "book.json", documents_file=root / "annotation/corpus/documents.jsonl",
                       accept_deletions=True, progress=quiet)  # fmt: skip
    assert (report.tasks_imported, report.annotations_updated, report.annotations_deleted) == (1, 1, 1)
    assert report.annotations_created == 1 + len(tasks[-1]["annotations"]) and report.predictions_created == 1


@pytest.mark.parametrize(
    ("name", "damage", "expect"),
    [
        ("completed-by-int", lambda a: a.update(completed_by=3), ["completed_by 3", "not a pseudonym"]),
        ("lone-surrogate", lambda a: a["result"][0]["value"].update(text="\ud800"), ["not valid Unicode", "surrogates not allowed"]),
        ("unknown-label", lambda a: a["result"][0]["value"].update(labels=["PER"]), ["error(s) against the scheme", "PER"]),
    ],
)
def test_a_push_refused_before_the_server_is_touched(khabar, root, team, pushed, name, damage, expect):
    client, export = team["client"], pushed["export"]
    tasks = json.loads(export.read_text(encoding="utf-8"))
    tasks[1]["annotations"].append({**copy.deepcopy(tasks[1]["annotations"][0]), "unique_id": str(uuid.uuid4()), "id": 999_002})
    tasks[2]["annotations"][0]["result"].remove(entity_regions(tasks[2]["annotations"][0])[0])
    damage(tasks[3]["annotations"][-1])
    export.write_text(json.dumps(tasks, indent=2), encoding="utf-8")  # ASCII: a lone surrogate is written as its \ud800 escape
    before = project_counts(client, pushed["project_id"])
    run = cli(khabar, root, team, "push", pushed["title"])
    assert run.status == 2, run.output
    assert "Traceback" not in run.output and len(run.err.strip().splitlines()) == 1
    for expected in (*expect, str(export)):
        assert expected in run.output, run.output
    assert project_counts(client, pushed["project_id"]) == before


def test_config_drift_stops_pull_and_push(khabar, root, team, pushed):
    client, export = team["client"], pushed["export"]
    before = export.read_bytes()
    drifted = CONFIG.replace('<Label value="CURR" background="#2f4f4f"/>', '<Label value="CURR" background="#2f4f4f"/><Label value="SHIP"/>')
    drifted = re.sub(r'<Label value="CUE"[^>]*/>', "", drifted)
    assert drifted.count("SHIP") == 1 and 'value="CUE"' not in drifted
    client.projects.update(id=pushed["project_id"], label_config=drifted)
    for action in ("pull", "push"):
        run = cli(khabar, root, team, action, pushed["title"])
        assert run.status == 2, run.output
        assert "layer entity: labels added on the server: SHIP" in run.output
        assert "layer attribution: labels removed on the server: CUE" in run.output
        assert "Traceback" not in run.output
        assert export.read_bytes() == before


def test_pull_out_an_existing_directory_is_a_one_line_error(khabar, root, team, pushed):
    folder = root / "annotation" / "exports"
    run = cli(khabar, root, team, "pull", pushed["title"], "--out", folder)
    assert run.status == 2 and "is a directory" in run.err and len(run.err.strip().splitlines()) == 1
    assert "Traceback" not in run.output


def test_two_annotators_label_the_same_task_while_a_pull_runs(khabar, root, team, studio_project_title):
    """A team's server: the pull is a consistent snapshot; the next pull has both annotators' work, pseudonymised."""
    client, title = team["client"], studio_project_title
    project_id = sync_project(client, title, CONFIG, RECORDS, progress=quiet).project_id
    people = [("nadia.farouk@team.example", "nfarouk"), ("karim.said@team.example", "ksaid")]
    known = {u.email: u.id for u in client.users.list() if u.email}
    users = [known.get(email) or client.users.create(username=name, email=email).id for email, name in people]
    task_id = doc_id_tasks(client, project_id)[RECORDS[0].doc_id]
    text = RECORDS[0].text
    per_annotator = 6

    def annotate(user: int, label: str) -> None:
        for number in range(per_annotator):
            client.annotations.create(id=task_id, completed_by=user, lead_time=float(number),
                                      result=[span(f"{label[:3]}{user}n{number}", "entity", label, text, number, number + 3)])  # fmt: skip

    threads = [threading.Thread(target=annotate, args=(user, label)) for user, label in zip(users, ("PERS", "ORG"), strict=True)]
    for thread in threads:
        thread.start()
    export = root / "annotation" / "exports" / f"{title}.json"
    during = cli(khabar, root, team, "pull", title)
    for thread in threads:
        thread.join()
    assert during.status == 0, during.output
    first = json.loads(export.read_text(encoding="utf-8"))

    after = cli(khabar, root, team, "pull", title)
    assert after.status == 0, after.output
    second = json.loads(export.read_text(encoding="utf-8"))
    annotations = [a for t in second for a in t["annotations"]]
    assert len(annotations) == 2 * per_annotator
    assert sorted({a["completed_by"]["pseudonym"] for a in annotations}) == ["annotator-1", "annotator-2"]
    text_out = export.read_text(encoding="utf-8")
    for email, name in people:
        assert email not in text_out and name not in text_out
    # consistent: whatever the first pull caught is complete and unchanged in the second
    later = {a["unique_id"]: a for a in annotations}
    for annotation in (a for t in first for a in t["annotations"]):
        assert later[annotation["unique_id"]] == annotation
    assert khabar("--root", root, "validate", export).status == 0
