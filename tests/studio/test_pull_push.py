"""Annotations as the editor sends them → pull → push → pull, against a real Label Studio."""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from khabar.annotation.gazetteer import Gazetteer
from khabar.annotation.ingest import load_records
from khabar.foundation import jsonl
from khabar.foundation.errors import KhabarError
from khabar.foundation.paths import repo
from khabar.progress import configure_logging
from khabar.studio import cli
from khabar.studio.export import ensure_user, pull
from khabar.studio.project import doc_id_tasks, find_project, import_preannotations, sync_project
from khabar.studio.push import push_export, push_file
from tests.studio.studio_support import read_export, snapshot_export

pytestmark = pytest.mark.studio

CONFIG = repo().labeling_config.read_text(encoding="utf-8")
RECORDS = [r for r in load_records(repo().documents_file) if r.superseded_by is None]
SECOND_ANNOTATOR = "salma.haddad@example.org"
# What an annotation is, for comparing a push→pull round trip.
ANNOTATION_CONTENT = ("completed_by", "ground_truth", "lead_time", "result", "unique_id", "was_cancelled")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


def quiet(_line: str) -> None:
    pass


def region(region_id: str, layer: str, label: str, text: str, start: int, end: int) -> dict:
    """A span result the way the editor submits it: a newline in value.text is the two characters \\n."""
    return {
        "id": region_id,
        "from_name": layer,
        "to_name": "text",
        "type": "labels",
        "origin": "manual",
        "value": {"start": start, "end": end, "text": text[start:end].replace("\n", "\\n"), "labels": [label]},
    }


def editor_result(text: str) -> list[dict]:
    """Entities, a quote with its cue, source, quote_type and relations, and a two-line caption zone."""
    sentence = "قالت السفيرة الأميركية في بغداد ألينا رومانوفسكي إن «تنظيم (داعش) لا يزال يشكل تهديدا في العراق»"
    at = text.index(sentence)
    content_start = at + sentence.index("تنظيم")
    content_end = at + len(sentence) - 1
    source_start = at + sentence.index("ألينا")
    caption = "الرئيس العراقي عبد اللطيف رشيد يستقبل (الأحد) السفيرة الأميركية في بغداد ألينا رومانوفسكي (إكس)"
    caption_start = text.index(caption + "\n" + caption)
    content = region("Qc81hZ2kLm", "attribution", "CONTENT", text, content_start, content_end)
    return [
        region("Ab12Cd34Ef", "entity", "GPE", text, at + sentence.index("بغداد"), at + sentence.index("بغداد") + 5),
        region("Gh56Ij78Kl", "entity", "PERS", text, source_start, source_start + len("ألينا رومانوفسكي")),
        content,
        {**content, "type": "choices", "from_name": "quote_type", "value": {**{k: content["value"][k] for k in ("start", "end", "text")}, "choices": ["direct"]}},
        region("Sr0uRc3eXy", "attribution", "SOURCE", text, source_start, source_start + len("ألينا رومانوفسكي")),
        region("Cu3Vb9Nm1Q", "attribution", "CUE", text, at, at + 4),
        {"from_id": "Qc81hZ2kLm", "to_id": "Sr0uRc3eXy", "type": "relation", "direction": "right", "labels": ["source"]},
        {"from_id": "Qc81hZ2kLm", "to_id": "Cu3Vb9Nm1Q", "type": "relation", "direction": "right", "labels": ["cue"]},
        region("Zn7Tq4Wp2R", "zone", "CAPTION", text, caption_start, caption_start + 2 * len(caption) + 1),
    ]


@pytest.fixture(scope="module")
def annotated(studio_server, tmp_path_factory):
    """A project with pre-annotations and annotations by two users, pulled once."""
    client = studio_server.client()
    report = sync_project(client, "pull-push-source", CONFIG, RECORDS, progress=quiet)
    import_preannotations(client, report.project_id, Gazetteer(), progress=quiet)
    tasks = doc_id_tasks(client, report.project_id)
    first = next(r for r in RECORDS if r.doc_id == "81ec20757aeac4d6")
    second_user = ensure_user(client, SECOND_ANNOTATOR, username="salma")
    result = editor_result(first.text)
    client.annotations.create(id=tasks[first.doc_id], project=report.project_id, result=result, lead_time=61.25)
    client.annotations.create(
        id=tasks[first.doc_id], project=report.project_id, result=result[:2], lead_time=12.5, completed_by=second_user
    )
    client.annotations.create(
        id=tasks[RECORDS[-1].doc_id], project=report.project_id, result=[], was_cancelled=True, lead_time=4.0,
        completed_by=second_user,
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("exports")
    out = folder / "pull-push-source.json"
    book = folder / "studio" / "pseudonyms.json"
    started = time.monotonic()
    pull_report = pull(client, report.project_id, out, book, progress=quiet)
    print(f"pull of {pull_report.tasks} tasks took {time.monotonic() - started:.2f} s")
    return {"client": client, "project_id": report.project_id, "out": out, "book": book, "result": result, "report": pull_report}


def test_annotations_arrive_as_the_editor_sent_them(annotated):
    tasks = read_export(annotated["out"])
    first = next(t for t in tasks if t["data"]["doc_id"] == "81ec20757aeac4d6")
    full = next(a for a in first["annotations"] if len(a["result"]) > 2)
    assert full["result"] == annotated["result"]
    caption = next(r for r in full["result"] if r.get("from_name") == "zone")
    text = first["data"]["text"]
    assert "\\n" in caption["value"]["text"]
    assert caption["value"]["text"] == text[caption["value"]["start"] : caption["value"]["end"]].replace("\n", "\\n")
    choice = next(r for r in full["result"] if r["type"] == "choices")
    assert choice["from_name"] == "quote_type" and choice["value"]["choices"] == ["direct"]
    assert {r["labels"][0] for r in full["result"] if r["type"] == "relation"} == {"source", "cue"}
    assert full["lead_time"] == 61.25 and full["was_cancelled"] is False


def test_pulled_file_shape(annotated):
    tasks = read_export(annotated["out"])
    assert [t["id"] for t in tasks] == sorted(t["id"] for t in tasks)
    assert len(tasks) == len(RECORDS)
    for task in tasks:
        assert set(task["data"]) == {"text", "doc_id", "source", "title"}
        assert [p["model_version"] for p in task["predictions"]] == ["khabar-rules-1"]
        assert isinstance(task["predictions"][0]["result"], list), "predictions in full, not ids"
    annotations = [a for t in tasks for a in t["annotations"]]
    assert len(annotations) == 3 and annotated["report"].annotations == 3
    assert {a["completed_by"]["pseudonym"] for a in annotations} == {"annotator-1", "annotator-2"}
    assert all(set(a["completed_by"]) == {"pseudonym"} for a in annotations)
    assert any(a["was_cancelled"] for a in annotations)


def test_pull_twice_gives_identical_bytes(annotated):
    before = annotated["out"].read_bytes()
    again = pull(annotated["client"], annotated["project_id"], annotated["out"], annotated["book"], progress=quiet)
    assert not again.changed
    assert annotated["out"].read_bytes() == before
    assert before.endswith(b"\n") and before.decode("utf-8") == json.dumps(
        json.loads(before), ensure_ascii=False, sort_keys=True, indent=2
    ) + "\n"


def test_pseudonyms_survive_a_lost_book(annotated, tmp_path):
    """A new machine has no .studio/: the committed file's unique_ids give the same pseudonyms."""
    before = annotated["out"].read_bytes()
    copy = tmp_path / "copy.json"
    copy.write_bytes(before)
    pull(annotated["client"], annotated["project_id"], copy, tmp_path / "fresh" / "pseudonyms.json", progress=quiet)
    assert copy.read_bytes() == before


def during_the_snapshot(path: Path, text: str) -> Callable[[str], None]:
    """A pull's progress that saves ``text`` at ``path`` while the pull waits on Label Studio's export snapshot (a
    person's editor saving between the pull's read and its write)."""

    def progress(line: str) -> None:
        if line.startswith("asking Label Studio for an export snapshot"):
            path.write_text(text, encoding="utf-8")

    return progress


def test_a_file_edited_while_the_pull_waits_on_the_server_is_kept(annotated, tmp_path):
    """A pull reads the file, then waits on Label Studio's snapshot (minutes for a big project): an edit saved
    meanwhile is kept and the pull refused, rather than replaced by a merge of the bytes read before it."""
    tasks = read_export(annotated["out"])
    annotated_task = next(t for t in tasks if t["annotations"])
    annotated_task["annotations"].pop()  # without its sync state, the file lacks a server annotation: the pull adds it
    copy = tmp_path / "copy.json"
    copy.write_text(jsonl.dumps_document(tasks), encoding="utf-8")
    annotated_task["annotations"][0]["updated_at"] = "2026-12-07T01:02:03.000000Z"  # not content: no conflict with the server
    edited = jsonl.dumps_document(tasks)

    with pytest.raises(KhabarError, match="changed on disk since it was read"):
        pull(annotated["client"], annotated["project_id"], copy, tmp_path / "book.json", progress=during_the_snapshot(copy, edited))
    assert copy.read_text(encoding="utf-8") == edited
    assert not copy.with_suffix(".sync").exists(), "nothing recorded as synced"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["copy.json"], "no staged file left beside it"
    report = pull(annotated["client"], annotated["project_id"], copy, tmp_path / "book.json", progress=quiet)
    assert report.changed and report.annotations == 3, "run again, the pull adds the server's annotation to the edited file"
    assert "2026-12-07T01:02:03.000000Z" in [a["updated_at"] for t in read_export(copy) for a in t["annotations"]]


def test_a_file_saved_where_a_pull_found_none_is_kept(annotated, tmp_path):
    """A pull to a path with no file writes a new one: a file saved there while it waited on Label Studio's snapshot
    was replaced by the pull's."""
    path = tmp_path / "new.json"
    theirs = "[]\n"

    with pytest.raises(KhabarError, match="made on disk since the command found none there"):
        pull(annotated["client"], annotated["project_id"], path, tmp_path / "book.json", progress=during_the_snapshot(path, theirs))
    assert path.read_text(encoding="utf-8") == theirs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.json"], "no sync state, pseudonyms or staged file written"


@pytest.mark.parametrize("saved", ["sync state", "pseudonym book"])
def test_a_sync_state_or_book_saved_while_the_pull_waits_on_the_server_is_kept(annotated, tmp_path, saved):
    """A pull reads the file's sync state and the pseudonym book, then waits on Label Studio's snapshot: a state or
    book another pull saved meanwhile was replaced by what this one made of those it read. Nothing is written, the
    file, its state and the book together; run again, the pull writes them over the ones saved."""
    copy = tmp_path / "copy.json"
    copy.write_bytes(annotated["out"].read_bytes())
    book = tmp_path / "studio" / "pseudonyms.json"
    book.parent.mkdir()
    path = copy.with_suffix(".sync") if saved == "sync state" else book
    theirs = '{"format": 1, "annotations": {}}\n' if saved == "sync state" else "{}\n"

    with pytest.raises(KhabarError, match=f"^{re.escape(str(path))}: made on disk since the command found none there; not written \\(run the command again\\)$"):
        pull(annotated["client"], annotated["project_id"], copy, book, progress=during_the_snapshot(path, theirs))
    assert path.read_text(encoding="utf-8") == theirs
    assert copy.read_bytes() == annotated["out"].read_bytes()
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == sorted(
        ["copy.json", "studio", path.relative_to(tmp_path).as_posix()]
    ), "neither the other file written nor anything staged left"
    pull(annotated["client"], annotated["project_id"], copy, book, progress=quiet)
    assert copy.with_suffix(".sync").read_text(encoding="utf-8") != theirs != book.read_text(encoding="utf-8")


def test_a_sync_state_saved_while_the_push_waits_on_the_server_is_kept(annotated, tmp_path):
    """A push reads the file's sync state, then waits on Label Studio's snapshot and sends its changes: a state
    another pull or push saved meanwhile was replaced by the one this push made of the state it read."""
    copy = tmp_path / "copy.json"
    copy.write_bytes(annotated["out"].read_bytes())
    state = copy.with_suffix(".sync")
    theirs = '{"format": 1, "annotations": {}}\n'

    with pytest.raises(KhabarError, match="made on disk since the command found none there; not written \\(run the command again\\)"):
        push_file(annotated["client"], annotated["project_id"], copy, tmp_path / "book.json", progress=during_the_snapshot(state, theirs))
    assert state.read_text(encoding="utf-8") == theirs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.json", "copy.sync"], "nothing staged left beside it"
    push_file(annotated["client"], annotated["project_id"], copy, tmp_path / "book.json", progress=quiet)
    assert json.loads(state.read_text(encoding="utf-8"))["annotations"], "run again, the push records the annotations it found in sync"


def test_no_email_name_or_user_id_in_any_written_file(annotated, studio_server):
    for path in (annotated["out"], annotated["book"]):
        text = path.read_text(encoding="utf-8")
        assert not EMAIL.search(text), (path, EMAIL.search(text))
        for leak in (SECOND_ANNOTATOR, "salma", "admin", "email", "first_name", "last_name", "created_username", "updated_by", "last_created_by"):
            assert leak not in text, (path, leak)
    users = {u.id for u in studio_server.client().users.list()}
    tasks = read_export(annotated["out"])
    for annotation in (a for t in tasks for a in t["annotations"]):
        assert not any(key in annotation for key in ("updated_by", "last_created_by")), users


def test_cli_never_prints_the_token(studio_server, annotated, tmp_path, capsys):
    configure_logging("studio")  # what khabar.cli does: progress on (this test's captured) stderr, whatever ran before
    parser = argparse.ArgumentParser()
    cli.configure_studio(parser)
    root = str(studio_server.paths.root)
    for argv in (
        ["status", "--studio-dir", root],
        ["sync", "--studio-dir", root, "--project", "cli-project"],
        ["preannotate", "--studio-dir", root, "--project", "cli-project", "--exports", str(annotated["out"])],
        ["pull", "--studio-dir", root, "--project", "cli-project", "--out", str(tmp_path / "cli.json")],
        ["push", "--studio-dir", root, "--project", "cli-project", "--file", str(tmp_path / "cli.json")],
    ):
        assert cli.run_studio(parser.parse_args(argv)) == 0
    # same server, second project: unique_ids are server-wide, so the source project's annotations are refused
    with pytest.raises(KhabarError, match="already held by another project of this server"):
        cli.run_studio(parser.parse_args(["push", "--studio-dir", root, "--project", "cli-project", "--file", str(annotated["out"])]))
    captured = capsys.readouterr()
    printed = captured.out + captured.err + "\n".join(studio_server.startup_output)
    assert re.search(r"pulled \d+ task\(s\)", printed) and "imported" in printed
    cli_project = find_project(studio_server.client(), "cli-project")
    assert not any(t["annotations"] for t in snapshot_export(studio_server.client(), cli_project)), "the refused push wrote nothing"
    secrets = (studio_server.credentials.token, studio_server.credentials.password)
    log = studio_server.paths.log_file.read_text(encoding="utf-8", errors="replace")
    for secret in secrets:
        assert secret not in printed
        assert secret not in log
        assert secret not in (tmp_path / "cli.json").read_text(encoding="utf-8")


def test_push_into_a_fresh_project_reproduces_the_annotations(annotated, tmp_path):
    """Runs last: it deletes the source project, as a fresh Label Studio would not hold it."""
    client = annotated["client"]
    committed = read_export(annotated["out"])
    client.projects.delete(id=annotated["project_id"])  # frees the annotations' server-wide unique_ids
    target = sync_project(client, "pull-push-target", CONFIG, [], progress=quiet)
    report = push_export(client, target.project_id, committed, progress=quiet)
    assert report.tasks_imported == len(RECORDS) and report.annotations_created == 3
    assert report.predictions_created == len(RECORDS)
    again = push_export(client, target.project_id, committed, progress=quiet)
    assert again.annotations_created == 0 and again.annotations_present == 3 and again.predictions_created == 0

    out = tmp_path / "pull-push-target.json"
    pull(client, target.project_id, out, tmp_path / "book.json", progress=quiet)
    pulled = read_export(out)

    def content(tasks: list[dict]) -> dict[str, list[dict]]:
        return {
            t["data"]["doc_id"]: sorted(
                ({key: a.get(key) for key in ANNOTATION_CONTENT} for a in t["annotations"]), key=lambda a: a["unique_id"]
            )
            for t in tasks
        }

    assert content(pulled) == content(committed)
    assert {t["data"]["doc_id"]: t["data"] for t in pulled} == {t["data"]["doc_id"]: t["data"] for t in committed}
    assert {t["data"]["doc_id"]: [p["result"] for p in t["predictions"]] for t in pulled} == {
        t["data"]["doc_id"]: [p["result"] for p in t["predictions"]] for t in committed
    }
