"""The consumer side for real: a git repository of the build (committed and tagged) served by
olah, a self-hostable Hub mirror, in offline mode with mirrors-path; ``datasets.load_dataset``
pins ``revision="v1.0.0"`` through HF_ENDPOINT (read at import time, hence a subprocess)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from khabar.dataset.build import build
from khabar.dataset.release import load_release
from khabar.gold.inputs import from_tables
from tests.dataset import khabar_fixtures as fx

OLAH = str(Path(sys.executable).with_name("olah-cli"))
KHABAR = str(Path(sys.executable).with_name("khabar"))
REPO = "khabar-org/khabar"
GIT = ["git", "-c", "user.name=khabar", "-c", "user.email=khabar@example.invalid", "-c", "commit.gpgsign=false"]


def commit_build(repo: Path, build_folder: Path, message: str) -> None:
    for item in repo.iterdir():
        if item.name != ".git":
            shutil.rmtree(item) if item.is_dir() else item.unlink()
    shutil.copytree(build_folder, repo, dirs_exist_ok=True)
    env = os.environ | {"GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z"}
    subprocess.run([*GIT, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*GIT, "commit", "-q", "-m", message], cwd=repo, check=True, env=env)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def olah(mirrors: Path, work: Path) -> Iterator[str]:
    """olah serving the git repositories under ``mirrors`` (``datasets/ORG/NAME``), offline; yields its endpoint."""
    port = free_port()
    config = work / "olah.toml"
    config.write_text(
        f'[basic]\nhost = "127.0.0.1"\nport = {port}\nrepos-path = "{work / "repos"}"\n'
        f'mirrors-path = ["{mirrors}"]\n[accessibility]\noffline = true\n'
    )
    log = open(work / "olah.log", "wb")
    server = subprocess.Popen([OLAH, "-c", str(config)], cwd=work, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{endpoint}/api/datasets/{REPO}/refs", timeout=1).read()
                break
            except OSError:
                assert server.poll() is None, (work / "olah.log").read_text()
                time.sleep(0.2)
        else:
            pytest.fail("olah did not start: " + (work / "olah.log").read_text()[-2000:])
        yield endpoint
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # olah-cli and the children it started
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


@pytest.fixture
def olah_server(tmp_path, built_v1, datasheet_copy):
    mirror = tmp_path / "mirrors" / "datasets" / REPO
    mirror.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=mirror, check=True)
    commit_build(mirror, built_v1, "Release 1.0.0")
    subprocess.run([*GIT, "tag", "v1.0.0"], cwd=mirror, check=True)
    # a later commit on main, so that the pinned revision is what decides what is loaded
    sheet = tmp_path / "DATASHEET.md"
    sheet.write_bytes(datasheet_copy.read_bytes())
    later = tmp_path / "later"
    build(from_tables(fx.tables("v2")), later, datasheet=sheet)
    commit_build(mirror, later, "Later work")
    with olah(tmp_path / "mirrors", tmp_path) as endpoint:
        yield endpoint


CONSUMER = """
import datasets
documents = datasets.load_dataset({repo!r}, "documents", revision="v1.0.0")["test"]
tokens = datasets.load_dataset({repo!r}, "tokens", revision="v1.0.0")["test"]
quotes = datasets.load_dataset({repo!r}, "quotes", revision="v1.0.0")["test"]
latest = datasets.load_dataset({repo!r}, "documents")["test"]
label = documents.features["entities"].feature["label"]
assert label.names[:3] == ["PERS", "NORP", "OCC"], label
for row in documents:
    for entity in row["entities"]:
        assert row["text"][entity["start"]:entity["end"]] == entity["text"]
print(documents.num_rows, tokens.num_rows, quotes.num_rows, latest.num_rows, tokens.features["ner_tags"].feature.names[1])
"""


def test_load_dataset_pins_a_tagged_revision_served_by_olah(olah_server, tmp_path):
    env = os.environ | {"HF_ENDPOINT": olah_server, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_DISABLE_TELEMETRY": "1"}
    result = subprocess.run([sys.executable, "-c", CONSUMER.format(repo=REPO)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    documents, sentences, quotes, latest, tag = result.stdout.split()
    assert (documents, quotes, latest, tag) == ("4", "1", "5", "B-PERS")  # v1.0.0 has 4 documents, main has 5
    assert int(sentences) > 100


def test_export_takes_a_tagged_revision_from_the_hub(olah_server, tmp_path, built_v1):
    """`khabar export ORG/khabar --revision v1.0.0` writes the files of that revision, not of main."""
    khabar = str(Path(sys.executable).with_name("khabar"))
    env = os.environ | {"HF_ENDPOINT": olah_server, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_DISABLE_TELEMETRY": "1"}
    result = subprocess.run([khabar, "export", REPO, "--revision", "v1.0.0", "--format", "conll", "--out", str(tmp_path / "hub")],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    local = subprocess.run([khabar, "export", str(built_v1), "--format", "conll", "--out", str(tmp_path / "local")], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert local.returncode == 0, local.stderr
    assert (tmp_path / "hub" / "test.txt").read_bytes() == (tmp_path / "local" / "test.txt").read_bytes()
    missing = subprocess.run([khabar, "export", REPO, "--revision", "v9.9.9", "--format", "conll", "--out", str(tmp_path / "none")],
                             capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert missing.returncode == 2 and "cannot download revision 'v9.9.9'" in missing.stderr and "Traceback" not in missing.stderr
    assert not (tmp_path / "none").exists()


def test_a_folder_hf_download_made_passes_the_dataset_check(olah_server, tmp_path, khabar):
    """``hf download --local-dir`` writes the build's files and its own record of the download (``.cache/huggingface``),
    which ``validate --dataset`` passes over: it reported each file of it as added after the build (exit 1)."""
    hf = str(Path(sys.executable).with_name("hf"))
    folder = tmp_path / "downloaded"
    env = os.environ | {"HF_ENDPOINT": olah_server, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_DISABLE_TELEMETRY": "1"}
    done = subprocess.run([hf, "download", REPO, "--repo-type", "dataset", "--revision", "v1.0.0", "--local-dir", str(folder)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert any(path.is_file() for path in (folder / ".cache" / "huggingface").rglob("*"))
    run = khabar("validate", "--dataset", folder)
    assert run.status == 0 and run.out.rstrip().endswith(": clean"), run.output


SAME_ROWS = """
import datasets, json, sys
published, local = {{}}, {{}}
for config in ("documents", "tokens", "quotes"):
    remote = datasets.load_dataset({repo!r}, config, revision={tag!r})
    built = datasets.load_dataset({local!r}, config)
    assert list(remote) == list(built), (config, list(remote), list(built))
    published[config] = {{split: remote[split].to_list() for split in remote}}
    local[config] = {{split: built[split].to_list() for split in built}}
    assert remote["test"].features == built["test"].features, config
latest = datasets.load_dataset({repo!r}, "documents")["test"].to_list()
print(json.dumps({{"same": published == local, "rows": {{c: sum(map(len, s.values())) for c, s in published.items()}}, "latest": len(latest)}}))
"""


def test_what_publish_sent_loads_by_tag_through_olah(built_v1, datasheet_copy, tmp_path):
    """``khabar publish`` → the Hub → a mirror → ``load_dataset(repo, config, revision="v<version>")``.

    Stand-ins, because nothing outside this machine can be reached: the Hub is tests/dataset/fake_hub.py
    (the real huggingface_hub client uploads to it through Git LFS, the path ``khabar publish`` takes on
    purpose; the fake has no Xet store), and the download side is olah, a real Hub mirror, serving the fake's
    storage (each Hub commit a git commit, each tag a git tag) in offline mode. Then a later release
    moves main, so only the tag can give back the first release's rows.
    """
    from tests.dataset.fake_hub import FakeHub

    sheet = tmp_path / "DATASHEET.md"
    sheet.write_bytes(datasheet_copy.read_bytes())
    later = tmp_path / "later"
    build(from_tables(fx.tables("v2")), later, datasheet=sheet)
    version = load_release().version
    major, minor, _ = version.split(".")
    later_version = f"{major}.{int(minor) + 1}.0"
    manifest = (later / "MANIFEST.json").read_text().replace(f'"version": "{version}"', f'"version": "{later_version}"')
    (later / "MANIFEST.json").write_text(manifest)
    env = os.environ | {"HF_TOKEN": "hf_fake", "HF_HOME": str(tmp_path / "hf-publish")}
    with FakeHub(tmp_path / "hub") as hub:
        for folder in (built_v1, later):
            done = subprocess.run([KHABAR, "publish", "--repo-id", REPO, "--build", str(folder)], capture_output=True, text=True, env=env | {"HF_ENDPOINT": hub.endpoint}, timeout=300)
            assert done.returncode == 0, done.stderr[-3000:]
        assert set(hub.repos[REPO].tags) == {f"v{version}", f"v{later_version}"}
        assert "lfs_upload" in hub.calls and all(line["key"] == "lfsFile" for line in hub.commit_payloads[0][1:] if line["value"]["path"].endswith(".parquet"))
    consumer = {"HF_HOME": str(tmp_path / "hf-load"), "HF_HUB_DISABLE_TELEMETRY": "1"}
    with olah(hub.storage, tmp_path) as endpoint:
        script = SAME_ROWS.format(repo=REPO, local=str(built_v1), tag=f"v{version}")
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=os.environ | consumer | {"HF_ENDPOINT": endpoint}, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.splitlines()[-1])
    assert answer["same"] is True
    assert answer["rows"]["documents"] == 4 and answer["rows"]["tokens"] > 100 and answer["latest"] == 5  # the first release has 4 documents, main 5
