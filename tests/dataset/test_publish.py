"""``khabar publish`` against a FAKE Hub (tests/dataset/fake_hub.py: a local HTTP server standing in
for huggingface.co, which cannot be reached from here), through huggingface_hub's real HfApi client.
Parquet and PNG go through Git LFS as on the Hub: ``khabar publish`` takes that path itself (Xet, which
huggingface_hub would otherwise take, has no stand-in here; see fake_hub.py)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from huggingface_hub import HfApi

from khabar.dataset.publish import publish, read_release
from khabar.dataset.release import load_release
from khabar.foundation.errors import KhabarError
from tests.dataset.fake_hub import FakeHub

KHABAR = str(Path(sys.executable).with_name("khabar"))
V1 = load_release().version  # the version built_v1 carries
MAJOR, MINOR, _ = map(int, V1.split("."))
NEXT = f"{MAJOR}.{MINOR + 1}.0"


def bumped(build: Path, folder: Path, version: str) -> Path:
    """A copy of ``build`` whose manifest says ``version``: a later release of the same files."""
    shutil.copytree(build, folder)
    manifest = (folder / "MANIFEST.json").read_text().replace(f'"version": "{V1}"', f'"version": "{version}"')
    (folder / "MANIFEST.json").write_text(manifest)
    return folder


def test_publish_creates_commits_once_then_tags(built_v1, tmp_path):
    """Parquet and PNG travel as the Hub takes them: LFS batch, upload checked against its sha256,
    verify, then an lfsFile entry in the one commit; text files go inline."""
    release = read_release(built_v1)
    binary = sorted(p for p in release.files if p.endswith((".parquet", ".png")))
    with FakeHub(tmp_path / "hub") as hub:
        api = HfApi(endpoint=hub.endpoint, token="hf_fake")
        oid = publish(release, "khabar-org/khabar", api)
        head, uploads, tail = hub.calls[:6], hub.calls[6:-2], hub.calls[-2:]  # uploads run in parallel threads
        assert head == ["create_repo", "refs", "tree", "validate_yaml", "preupload", "lfs_batch"] and tail == ["commit", "tag"]
        assert sorted(uploads) == ["lfs_upload"] * len(binary) + ["lfs_verify"] * len(binary)
        assert all(token == "Bearer hf_fake" for token, call in zip(hub.tokens, hub.calls) if call != "lfs_upload")
        repo = hub.repos["khabar-org/khabar"]
        assert repo.tags == {f"v{V1}": oid} and repo.head == oid
        assert repo.files == {path: (built_v1 / path).read_bytes() for path in release.files} | {".gitattributes": repo.files[".gitattributes"]}
        [payload] = hub.commit_payloads
        by_key = {key: sorted(line["value"]["path"] for line in payload if line["key"] == key) for key in ("file", "lfsFile")}
        assert by_key == {"lfsFile": binary, "file": sorted(set(release.files) - set(binary))}
        assert len(binary) >= 4
        for line in payload:
            if line["key"] == "lfsFile":
                data = (built_v1 / line["value"]["path"]).read_bytes()
                assert line["value"] == {"path": line["value"]["path"], "algo": "sha256", "oid": hashlib.sha256(data).hexdigest(), "size": len(data)}


def test_the_fake_hub_refuses_bytes_that_do_not_match_their_sha256(tmp_path):
    """The stand-in holds the client to the Hub's rule: an LFS upload is stored only under its own sha256."""
    with FakeHub(tmp_path / "hub") as hub:
        oid = hashlib.sha256(b"parquet bytes").hexdigest()
        put = lambda data: urllib.request.Request(f"{hub.endpoint}/lfs-upload/{oid}/13", data=data, method="PUT")  # noqa: E731
        with pytest.raises(urllib.error.HTTPError, match="400"):
            urllib.request.urlopen(put(b"other bytes!!"))
        assert urllib.request.urlopen(put(b"parquet bytes")).status == 200
        assert hub.objects == {oid: b"parquet bytes"}


def test_publish_refuses_to_move_an_existing_tag(built_v1, tmp_path):
    release = read_release(built_v1)
    with FakeHub(tmp_path / "hub") as hub:
        api = HfApi(endpoint=hub.endpoint, token="hf_fake")
        publish(release, "khabar-org/khabar", api)
        before = list(hub.requests)
        with pytest.raises(KhabarError, match=f"tag v{V1} already exists"):
            publish(release, "khabar-org/khabar", api)
        assert [name for name in hub.calls[len(before):]] == ["create_repo", "refs"]  # no commit, no tag
        assert len(hub.commit_payloads) == 1


def test_a_new_version_deletes_stale_files_in_the_same_commit(built_v1, tmp_path):
    release = read_release(built_v1)
    with FakeHub(tmp_path / "hub") as hub:
        api = HfApi(endpoint=hub.endpoint, token="hf_fake")
        publish(release, "khabar-org/khabar", api)
        repo = hub.repos["khabar-org/khabar"]
        other = repo.commit({"data/tokens/train-00000-of-00001.parquet": b"old"}, [], "someone else's commit")
        repo.git("tag", "v0.0.9", other)
        publish(read_release(bumped(built_v1, tmp_path / "build", NEXT)), "khabar-org/khabar", api)
        last = hub.commit_payloads[-1]
        assert last[0]["value"]["parentCommit"] == other
        assert [line["value"]["path"] for line in last if line["key"] == "deletedFile"] == ["data/tokens/train-00000-of-00001.parquet"]
        assert set(repo.tags) == {"v0.0.9", f"v{V1}", f"v{NEXT}"}
        assert "data/tokens/train-00000-of-00001.parquet" not in repo.files
        # the unchanged parquet and PNG files were already held: the LFS batch asked for no upload
        assert hub.calls.count("lfs_upload") == sum(p.endswith((".parquet", ".png")) for p in release.files)


def test_publish_refuses_a_build_that_differs_from_its_manifest(built_v1, tmp_path):
    broken = tmp_path / "build"
    shutil.copytree(built_v1, broken)
    (broken / "images" / "labels_per_layer.png").write_bytes(b"changed")
    with pytest.raises(KhabarError, match="labels_per_layer.png: the build fails its checks: .*MANIFEST.json says") as refused:
        read_release(broken)
    assert refused.value.exit_status == 1


def test_publish_refuses_a_card_whose_label_names_were_changed(built_v1, tmp_path):
    """A renamed label in the card would win silently in load_dataset: publish runs the dataset check first."""
    from khabar.foundation.manifest import MANIFEST_NAME, write_manifest

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
    assert result.status == 2 and "MANIFEST.json" in result.err and "Traceback" not in result.err


def test_an_unreachable_hub_is_a_one_line_error(built_v1):
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()  # nothing listens there now
    api = HfApi(endpoint=f"http://127.0.0.1:{port}", token="hf_fake")
    with pytest.raises(KhabarError, match=f"cannot reach the Hub at http://127.0.0.1:{port}"):
        publish(read_release(built_v1), "khabar-org/khabar", api)


def test_cli_needs_hf_token_and_dry_run_contacts_nobody(built_v1, khabar, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    args = ["publish", "--repo-id", "khabar-org/khabar", "--build", built_v1]
    missing = khabar(*args)
    assert missing.status == 2 and "HF_TOKEN is not set" in missing.err
    dry = khabar(*args, "--dry-run")
    assert dry.status == 0 and f"would tag the commit v{V1}" in dry.out and "MANIFEST.json" in dry.out
    assert khabar("publish", "--repo-id", "no-slash", "--build", built_v1, "--dry-run").status == 2


def test_cli_publishes_through_hf_endpoint_with_the_token_from_hf_token(built_v1, tmp_path):
    """A subprocess, because huggingface_hub reads HF_ENDPOINT when it is imported."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HF_ENDPOINT")} | {"HF_HOME": str(tmp_path)}
    args = [KHABAR, "publish", "--repo-id", "khabar-org/khabar", "--build", str(built_v1)]
    with FakeHub(tmp_path / "hub") as hub:
        done = subprocess.run(args, capture_output=True, text=True, env=env | {"HF_TOKEN": "hf_fake", "HF_ENDPOINT": hub.endpoint})
        assert done.returncode == 0, done.stderr
        assert "hf_fake" not in done.stdout + done.stderr
        assert hub.calls[-1] == "tag" and f"v{V1}" in hub.repos["khabar-org/khabar"].tags
        again = subprocess.run(args, capture_output=True, text=True, env=env | {"HF_TOKEN": "hf_fake", "HF_ENDPOINT": hub.endpoint})
        assert again.returncode == 1 and "already exists" in again.stderr and "Traceback" not in again.stderr


def test_a_password_in_hf_endpoint_is_never_printed(built_v1, tmp_path):
    """``HF_ENDPOINT=http://user:password@host`` (a proxy that wants basic auth): the plan and the
    errors show ``http://***@host``; an error names the repository, not a task."""
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()  # nothing listens there now
    env = {k: v for k, v in os.environ.items() if k != "HF_TOKEN"} | {"HF_HOME": str(tmp_path), "HF_ENDPOINT": f"http://hub-user:s3cret-pw@127.0.0.1:{port}"}
    args = [KHABAR, "publish", "--repo-id", "khabar-org/khabar", "--build", str(built_v1)]
    plan = subprocess.run([*args, "--dry-run"], capture_output=True, text=True, env=env)
    assert plan.returncode == 0 and f"at http://***@127.0.0.1:{port} " in plan.stdout
    failed = subprocess.run(args, capture_output=True, text=True, env=env | {"HF_TOKEN": "hf_fake"})
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    assert f"error: dataset repository khabar-org/khabar: cannot create the repository: cannot reach the Hub at http://***@127.0.0.1:{port}" in failed.stderr
    for output in (plan.stdout + plan.stderr, failed.stdout + failed.stderr):
        assert "s3cret-pw" not in output and "hub-user" not in output and "task" not in output


def test_the_repo_id_defaults_to_the_release_config_and_is_checked(built_v1, khabar):
    dry = khabar("publish", "--build", built_v1, "--dry-run")
    assert dry.status == 0 and f"would create the dataset repository {load_release().repo_id} at " in dry.out
    bad = khabar("publish", "--repo-id", "org/na me", "--build", built_v1, "--dry-run")
    assert bad.status == 2 and "repository id 'org/na me' is not ORG/NAME" in bad.err


#: HF_TOKEN in the tests below: never to be printed, whatever the Hub answers
SECRET_TOKEN = "hf_FAKEsecretDoNotPrint0123456789"


def against_the_hub(hub: FakeHub, command: str, build: Path, out: Path, *, endpoint_user: str = "") -> subprocess.CompletedProcess[str]:
    """``khabar publish`` or ``khabar export --revision`` of ``build`` with ``hub`` as the Hub (at HF_ENDPOINT, with
    ``endpoint_user`` as its ``user:password``), the token in HF_TOKEN (a subprocess: huggingface_hub reads
    HF_ENDPOINT when it is imported)."""
    endpoint = hub.endpoint.replace("http://", f"http://{endpoint_user}@") if endpoint_user else hub.endpoint
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HF_ENDPOINT")} | {"HF_HOME": str(out.parent / "hf"), "HF_TOKEN": SECRET_TOKEN, "HF_ENDPOINT": endpoint}
    argv = {
        "publish": ["publish", "--repo-id", "khabar-org/khabar", "--build", str(build)],
        "export": ["export", "khabar-org/khabar", "--revision", f"v{V1}", "--format", "conll", "--out", str(out)],
    }[command]
    return subprocess.run([KHABAR, *argv], capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize("command", ["publish", "export"])
@pytest.mark.parametrize("sent", ["HF_TOKEN", "the password in HF_ENDPOINT"])
def test_credentials_the_hub_echoes_back_are_never_printed(sent, command, built_v1, tmp_path):
    """A Hub (or a proxy before it) whose refusal echoes the request's ``Authorization`` header where huggingface_hub
    shows a server's words (its error message, its logged warning): ``Bearer`` and the token, or ``Basic`` and the
    base64 of HF_ENDPOINT's ``user:password`` (which the client sends instead); both show ``***``."""
    user = "hub-user:s3cret-pw" if sent != "HF_TOKEN" else ""
    with FakeHub(tmp_path / "hub", answer_all=403) as hub:
        done = against_the_hub(hub, command, built_v1, tmp_path / "out", endpoint_user=user)
    basic = base64.b64encode(user.encode()).decode()
    sent_header = f"Basic {basic}" if user else f"Bearer {SECRET_TOKEN}"
    assert sent_header in hub.tokens, f"not what was sent, so not what is echoed: {hub.tokens}"
    output = done.stdout + done.stderr
    for secret in (SECRET_TOKEN, sent_header.split()[1], "s3cret-pw"):
        assert secret not in output, output
    assert "Traceback" not in output and f"denied for {sent_header.split()[0]} ***" in output.splitlines()[-1], output
    assert done.returncode == 2 and output.count(": error: ") == 1 and not (tmp_path / "out").exists()


@pytest.mark.parametrize(("command", "status", "problem"), [
    ("publish", 409, "cannot create the repository: the Hub at {endpoint} gave an answer huggingface_hub cannot read (KeyError: 'url')"),  # exist_ok: a 409 is read as "it exists", at its url
    ("publish", 200, "cannot create the repository: the Hub at {endpoint} gave an answer huggingface_hub cannot read (KeyError: 'url')"),
    ("export", 200, f"cannot download revision 'v{V1}': the Hub at {{endpoint}} gave an answer huggingface_hub cannot read (KeyError: 'id')"),  # the revision's repository information
])
def test_an_answer_the_hub_client_cannot_read_is_one_line_and_exit_2(command, status, problem, built_v1, tmp_path):
    with FakeHub(tmp_path / "hub", answer_all=status) as hub:
        done = against_the_hub(hub, command, built_v1, tmp_path / "out")
    output = done.stdout + done.stderr
    assert done.returncode == 2 and "Traceback" not in output and SECRET_TOKEN not in output, output
    [error] = [line for line in output.splitlines() if ": error: " in line]
    assert error == f"khabar {command}: error: dataset repository khabar-org/khabar: " + problem.format(endpoint=hub.endpoint), error
    assert not (tmp_path / "out").exists()
