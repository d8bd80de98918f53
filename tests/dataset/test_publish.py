"""``khabar publish`` against a FAKE Hub (tests/dataset/fake_hub.py: a local HTTP server standing in
for huggingface.co, which cannot be reached from here), through huggingface_hub's real HfApi client."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from fake_hub import FakeHub
from huggingface_hub import HfApi

from khabar.annotation.errors import KhabarError
from khabar.dataset.publish import publish, read_release
from khabar.dataset.release import load_release

KHABAR = str(Path(sys.executable).with_name("khabar"))
V1 = load_release().version  # the version built_v1 carries
MAJOR, MINOR, _ = map(int, V1.split("."))
NEXT = f"{MAJOR}.{MINOR + 1}.0"


def test_publish_creates_commits_once_then_tags(built_v1):
    release = read_release(built_v1)
    with FakeHub() as hub:
        api = HfApi(endpoint=hub.endpoint, token="hf_fake")
        oid = publish(release, "khabar-org/khabar", api, log=lambda m: None)
        assert hub.calls == ["create_repo", "refs", "tree", "validate_yaml", "preupload", "commit", "tag"]
        repo = hub.repos["khabar-org/khabar"]
        assert repo.tags == {f"v{V1}": oid}
        assert set(repo.files) == set(release.files) | {".gitattributes"}
        assert repo.files["data/documents/test-00000-of-00001.parquet"] == (built_v1 / "data/documents/test-00000-of-00001.parquet").read_bytes()
        assert len(hub.commit_payloads) == 1


def test_publish_refuses_to_move_an_existing_tag(built_v1):
    release = read_release(built_v1)
    with FakeHub() as hub:
        api = HfApi(endpoint=hub.endpoint, token="hf_fake")
        publish(release, "khabar-org/khabar", api, log=lambda m: None)
        before = list(hub.requests)
        with pytest.raises(KhabarError, match=f"tag v{V1} already exists"):
            publish(release, "khabar-org/khabar", api, log=lambda m: None)
        assert [name for name in hub.calls[len(before):]] == ["create_repo", "refs"]  # no commit, no tag
        assert len(hub.commit_payloads) == 1


def test_a_new_version_deletes_stale_files_in_the_same_commit(built_v1, tmp_path):
    release = read_release(built_v1)
    with FakeHub() as hub:
        api = HfApi(endpoint=hub.endpoint, token="hf_fake")
        publish(release, "khabar-org/khabar", api, log=lambda m: None)
        hub.repos["khabar-org/khabar"].files["data/tokens/train-00000-of-00001.parquet"] = b"old"
        hub.repos["khabar-org/khabar"].commits.append("1" * 40)
        hub.repos["khabar-org/khabar"].tags["v0.0.9"] = "1" * 40
        newer = tmp_path / "build"
        shutil.copytree(built_v1, newer)
        manifest = (newer / "MANIFEST.json").read_text().replace(f'"version": "{V1}"', f'"version": "{NEXT}"')
        (newer / "MANIFEST.json").write_text(manifest)
        publish(read_release(newer), "khabar-org/khabar", api, log=lambda m: None)
        last = hub.commit_payloads[-1]
        assert last[0]["value"]["parentCommit"] == "1" * 40
        assert [line["value"]["path"] for line in last if line["key"] == "deletedFile"] == ["data/tokens/train-00000-of-00001.parquet"]
        assert set(hub.repos["khabar-org/khabar"].tags) == {"v0.0.9", f"v{V1}", f"v{NEXT}"}


def test_publish_refuses_a_build_that_differs_from_its_manifest(built_v1, tmp_path):
    broken = tmp_path / "build"
    shutil.copytree(built_v1, broken)
    (broken / "images" / "labels_per_layer.png").write_bytes(b"changed")
    with pytest.raises(KhabarError, match="fails its checks.*labels_per_layer.png: .*MANIFEST.json says") as refused:
        read_release(broken)
    assert refused.value.exit_status == 1


def test_publish_refuses_a_card_whose_label_names_were_changed(built_v1, tmp_path):
    """A renamed label in the card would win silently in load_dataset: publish runs the dataset check first."""
    from khabar.dataset.manifest import MANIFEST_NAME, write_manifest

    broken = tmp_path / "build"
    shutil.copytree(built_v1, broken)
    card = broken / "README.md"
    card.write_text(card.read_text(encoding="utf-8").replace("'0': PERS", "'0': PERSON", 1), encoding="utf-8")
    manifest = json.loads((broken / MANIFEST_NAME).read_text())
    write_manifest(broken, name=manifest["name"], version_=manifest["version"], inputs=manifest["inputs"])  # re-hashed to match
    with pytest.raises(KhabarError, match="label names .* the card says") as refused:
        read_release(broken)
    assert refused.value.exit_status == 1


def test_a_truncated_manifest_is_a_one_line_error(built_v1, tmp_path, khabar):
    broken = tmp_path / "build"
    shutil.copytree(built_v1, broken)
    (broken / "MANIFEST.json").write_text('{"files": [', encoding="utf-8")
    result = khabar("publish", "--repo-id", "khabar-org/khabar", "--build", broken, "--dry-run")
    assert result.returncode == 2 and "MANIFEST.json" in result.stderr and "Traceback" not in result.stderr


def test_an_unreachable_hub_is_a_one_line_error(built_v1):
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()  # nothing listens there now
    api = HfApi(endpoint=f"http://127.0.0.1:{port}", token="hf_fake")
    with pytest.raises(KhabarError, match=f"cannot reach the Hub at http://127.0.0.1:{port}"):
        publish(read_release(built_v1), "khabar-org/khabar", api, log=lambda m: None)


def test_cli_needs_hf_token_and_dry_run_contacts_nobody(built_v1, khabar, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    args = ["publish", "--repo-id", "khabar-org/khabar", "--build", built_v1]
    missing = khabar(*args)
    assert missing.returncode == 2 and "HF_TOKEN is not set" in missing.stderr
    dry = khabar(*args, "--dry-run")
    assert dry.returncode == 0 and f"would tag the commit v{V1}" in dry.stdout and "MANIFEST.json" in dry.stdout
    assert khabar("publish", "--repo-id", "no-slash", "--build", built_v1, "--dry-run").returncode == 2


def test_cli_publishes_through_hf_endpoint_with_the_token_from_hf_token(built_v1, tmp_path):
    """A subprocess, because huggingface_hub reads HF_ENDPOINT when it is imported."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HF_ENDPOINT")} | {"HF_HOME": str(tmp_path)}
    args = [KHABAR, "publish", "--repo-id", "khabar-org/khabar", "--build", str(built_v1)]
    with FakeHub() as hub:
        done = subprocess.run(args, capture_output=True, text=True, env=env | {"HF_TOKEN": "hf_fake", "HF_ENDPOINT": hub.endpoint})
        assert done.returncode == 0, done.stderr
        assert "hf_fake" not in done.stdout + done.stderr
        assert hub.calls[-1] == "tag" and f"v{V1}" in hub.repos["khabar-org/khabar"].tags
        again = subprocess.run(args, capture_output=True, text=True, env=env | {"HF_TOKEN": "hf_fake", "HF_ENDPOINT": hub.endpoint})
        assert again.returncode == 1 and "already exists" in again.stderr and "Traceback" not in again.stderr
