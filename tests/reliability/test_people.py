"""People: annotators with real-looking emails and names annotate on a real Label Studio;
nothing that identifies them reaches the pulled export, the build or the card, and their
pseudonyms stay put across pulls, a new annotator and a lost pseudonym book.

Also covered elsewhere: pulling twice gives identical bytes
(tests/studio/test_pull_push.py::test_pull_twice_gives_identical_bytes) and the
pseudonym rules themselves (tests/studio/test_export_format.py).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from khabar.foundation.paths import repo
from tests.reliability.reliability_support import SHARED

pytestmark = pytest.mark.studio

PEOPLE = (  # names no text of the corpus, guidelines or card holds, so a hit is a leak
    {"username": "xquarrington", "email": "xanthe.quarrington@annotators.example", "first_name": "Xanthe", "last_name": "Quarrington"},
    {"username": "oblakemoor", "email": "orvyn.blakemoor@annotators.example", "first_name": "Orvyn", "last_name": "Blakemoor"},
    {"username": "ytrevanion", "email": "ysolde.trevanion@annotators.example", "first_name": "Ysolde", "last_name": "Trevanion"},
)
IDENTIFYING_KEYS = {"email", "first_name", "last_name", "username", "created_username", "updated_by", "last_created_by", "user"}
PSEUDONYM = re.compile(r"annotator-[1-9][0-9]*")


def identities(people=PEOPLE) -> list[str]:
    return [value.lower() for person in people for value in person.values()]


def walk(value: Any, path: str = "$"):
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, f"{path}[{index}]")


def assert_pseudonymous_export(path: Path, user_ids: list[int]) -> None:
    text = path.read_text(encoding="utf-8")
    for identity in identities():
        assert identity not in text.lower(), (path, identity)
    tasks = json.loads(text)
    for where, value in walk(tasks):
        if isinstance(value, dict):
            assert not IDENTIFYING_KEYS & set(value), (where, sorted(IDENTIFYING_KEYS & set(value)))
            if "completed_by" in value:
                by = value["completed_by"]
                assert set(by) == {"pseudonym"} and PSEUDONYM.fullmatch(by["pseudonym"]), (where, by)
    owners = [a for t in tasks for a in t["annotations"] + t["drafts"]]
    assert owners and not any(a.get("completed_by") in user_ids for a in owners)


def build_texts(folder: Path) -> dict[str, str]:
    """Every file of a build as text (parquet as its rows in JSON), for searching."""
    texts = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix == ".parquet":
            texts[str(path)] = json.dumps(pq.read_table(path).to_pylist(), ensure_ascii=False)
        elif path.is_file():
            texts[str(path)] = path.read_bytes().decode("utf-8", errors="replace")
    return texts


def pseudonyms_by_unique_id(path: Path) -> dict[str, str]:
    return {a["unique_id"]: a["completed_by"]["pseudonym"] for t in json.loads(path.read_text(encoding="utf-8")) for a in t["annotations"]}


def test_no_email_name_or_user_id_reaches_exports_build_or_card_and_pseudonyms_are_stable(studio_server, khabar, tmp_path, monkeypatch, datasheet_template):
    from khabar.annotation.ingest import load_records
    from khabar.studio.project import doc_id_tasks, sync_project

    client = studio_server.client()
    records = load_records(SHARED / "documents.jsonl")
    project = sync_project(client, "reliability-people", repo().labeling_config.read_text(encoding="utf-8"), records, progress=lambda _m: None).project_id
    tasks = doc_id_tasks(client, project)
    good = json.loads((SHARED / "good_export.json").read_text(encoding="utf-8"))
    known = {u.email: u.id for u in client.users.list() if u.email}
    users = [known.get(p["email"]) or client.users.create(**p).id for p in PEOPLE]
    xanthe, orvyn, ysolde = users
    client.annotations.create(id=tasks[records[0].doc_id], result=good[0]["annotations"][0]["result"], completed_by=xanthe, lead_time=30.0)
    client.annotations.create(id=tasks[records[0].doc_id], result=good[0]["annotations"][0]["result"][:4], completed_by=orvyn, lead_time=12.0)
    client.annotations.create(id=tasks[records[1].doc_id], result=good[1]["annotations"][0]["result"], completed_by=xanthe, lead_time=8.0)

    monkeypatch.setenv("LABEL_STUDIO_API_KEY", studio_server.credentials.token)
    machine = tmp_path / "studio"
    export = tmp_path / "exports" / "reliability-people.json"
    pull = ("studio", "pull", "--url", studio_server.url, "--project", "reliability-people", "--out", export)
    first = khabar(*pull, "--studio-dir", machine)
    assert first.status == 0, first.output
    assert_pseudonymous_export(export, users)
    book = (machine / "pseudonyms.json").read_text(encoding="utf-8").lower()
    assert not any(identity in book for identity in identities()), "the local book keys people by a hash of their email"
    before = pseudonyms_by_unique_id(export)
    assert sorted(set(before.values())) == ["annotator-1", "annotator-2"]

    # the build, the per-annotator build and the card
    datasheet = tmp_path / "DATASHEET.md"
    shutil.copyfile(datasheet_template, datasheet)
    for extra, out in (((), tmp_path / "dist" / "gold"), (("--per-annotator",), tmp_path / "dist" / "annotators")):
        built = khabar("build", "--exports", export, "--documents", SHARED / "documents.jsonl", "--out", out, "--datasheet", datasheet, *extra)
        assert built.status == 0, built.output
        texts = build_texts(out)
        assert f"{out}/README.md" in texts
        for path, text in texts.items():
            for identity in identities():
                assert identity not in text.lower(), (path, identity)
    annotators = {row["annotator"] for path in (tmp_path / "dist" / "annotators" / "data" / "documents").glob("*.parquet") for row in pq.read_table(path).to_pylist()}
    assert annotators == {"annotator-1", "annotator-2"}
    datasheet_text = datasheet.read_text(encoding="utf-8").lower()
    assert not any(identity in datasheet_text for identity in identities())

    # a new annotator: the others keep theirs, the newcomer gets the next number
    client.annotations.create(id=tasks[records[1].doc_id], result=[], completed_by=ysolde, lead_time=3.0)
    second = khabar(*pull, "--studio-dir", machine)
    assert second.status == 0, second.output
    after = pseudonyms_by_unique_id(export)
    assert {uid: after[uid] for uid in before} == before
    assert set(after.values()) - set(before.values()) == {"annotator-3"}
    assert_pseudonymous_export(export, users)

    # another machine (no pseudonym book), with the committed export: the same bytes
    committed = export.read_bytes()
    third = khabar(*pull, "--studio-dir", tmp_path / "other-machine")
    assert third.status == 0, third.output
    assert export.read_bytes() == committed
