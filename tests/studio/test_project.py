"""Project sync and pre-annotations against a real Label Studio."""

from __future__ import annotations

import pytest

from khabar.annotation.gazetteer import Gazetteer
from khabar.annotation.ingest import load_records
from khabar.annotation.preannotate import MODEL_VERSION, preannotate
from khabar.annotation.scheme import load_scheme
from khabar.foundation.errors import KhabarError
from khabar.foundation.paths import repo
from khabar.studio.project import find_project, import_preannotations, project_tasks, sync_project

pytestmark = pytest.mark.studio

CONFIG = repo().labeling_config.read_text(encoding="utf-8")
RECORDS = load_records(repo().documents_file)
CURRENT = [r for r in RECORDS if r.superseded_by is None]


def quiet(_line: str) -> None:
    pass


def test_label_studio_accepts_the_labeling_config(studio_server, studio_project_title):
    client = studio_server.client()
    report = sync_project(client, studio_project_title, CONFIG, [], progress=quiet)
    assert report.created
    parsed = client.projects.get(id=report.project_id).parsed_label_config
    scheme = load_scheme()
    for layer in scheme.layers:
        assert parsed[layer.name]["type"] == "Labels"
        assert parsed[layer.name]["to_name"] == [scheme.text_name]
        assert parsed[layer.name]["labels"] == list(layer.labels)
    for choices in scheme.region_choices:
        assert parsed[choices.name]["type"] == "Choices"
        assert parsed[choices.name]["labels"] == list(choices.choices)


def test_sync_twice_gives_the_same_tasks(studio_server, studio_project_title):
    client = studio_server.client()
    first = sync_project(client, studio_project_title, CONFIG, RECORDS, progress=quiet)
    second = sync_project(client, studio_project_title, CONFIG, RECORDS, progress=quiet)
    assert first.created and not second.created and not second.config_updated
    assert sorted(first.imported) == sorted(r.doc_id for r in CURRENT)
    assert second.imported == () and second.already_present == len(CURRENT)
    tasks = project_tasks(client, first.project_id)
    assert len(tasks) == len(CURRENT)
    by_doc = {t.data["doc_id"]: t.data for t in tasks}
    for record in CURRENT:
        assert by_doc[record.doc_id] == {
            "text": record.text,
            "doc_id": record.doc_id,
            "source": record.source,
            "title": record.title,
        }
    assert find_project(client, studio_project_title) == first.project_id


def test_config_change_that_orphans_annotations_is_refused(studio_server, studio_project_title):
    client = studio_server.client()
    report = sync_project(client, studio_project_title, CONFIG, CURRENT[:1], progress=quiet)
    task = project_tasks(client, report.project_id)[0]
    text = task.data["text"]
    start = text.index("بغداد")
    client.annotations.create(
        id=task.id,
        project=report.project_id,
        result=[
            {
                "id": "Fq2LmZ0aXe",
                "from_name": "entity",
                "to_name": "text",
                "type": "labels",
                "value": {"start": start, "end": start + 5, "text": "بغداد", "labels": ["GPE"]},
            }
        ],
        lead_time=3.2,
    )
    without_gpe = CONFIG.replace('<Label value="GPE" background="#f58231" hotkey="g"/>', "")
    assert without_gpe != CONFIG
    with pytest.raises(KhabarError, match=r"orphan existing annotations.*GPE"):
        sync_project(client, studio_project_title, without_gpe, CURRENT[:1], progress=quiet)
    assert "GPE" in client.projects.get(id=report.project_id).parsed_label_config["entity"]["labels"]

    harmless = CONFIG.replace('<Label value="CURR" background="#2f4f4f"/>', '<Label value="CURR" background="#2f4f4e"/>')
    changed = sync_project(client, studio_project_title, harmless, CURRENT[:1], progress=quiet)
    assert changed.config_updated and changed.imported == ()
    assert client.projects.get(id=report.project_id).label_config.strip() == harmless.strip()


def test_predictions_are_imported_once_and_visible(studio_server, studio_project_title):
    client = studio_server.client()
    report = sync_project(client, studio_project_title, CONFIG, RECORDS, progress=quiet)
    first = import_preannotations(client, report.project_id, Gazetteer(), progress=quiet)
    again = import_preannotations(client, report.project_id, Gazetteer(), progress=quiet)
    assert first.added == len(CURRENT) and first.results > 0
    assert again.added == 0 and again.already_present == len(CURRENT)
    project = client.projects.get(id=report.project_id)
    assert project.model_version == MODEL_VERSION, "the editor pre-fills this model version's predictions"
    for task in project_tasks(client, report.project_id, fields="all"):
        assert len(task.predictions) == 1
        prediction = task.predictions[0]
        assert prediction.model_version == MODEL_VERSION
        assert prediction.result == preannotate(task.data["text"], Gazetteer())


def test_sync_against_an_existing_server_by_url_with_the_key_from_the_environment(studio_server, monkeypatch, capsys):
    import argparse

    from khabar.studio import cli

    parser = argparse.ArgumentParser()
    cli.configure_studio(parser)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", studio_server.credentials.token)
    argv = ["sync", "--url", studio_server.url, "--project", "team-server", "--studio-dir", "/nonexistent"]
    assert cli.run_studio(parser.parse_args(argv)) == 0
    assert cli.run_studio(parser.parse_args(argv)) == 0
    out = capsys.readouterr().out
    assert f"{len(CURRENT)} document(s) imported, 0 already there" in out
    assert f"0 document(s) imported, {len(CURRENT)} already there" in out
    assert studio_server.credentials.token not in out
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "not-the-key")
    with pytest.raises(KhabarError, match="refused the API key"):
        cli.run_studio(parser.parse_args(argv))
