"""Secrets: every command run with recognisable fake secrets in the environment, then every
output, log and written file searched for them; and the local Label Studio's own guard rails.

Also covered elsewhere: the token and password never on the server's command
line (tests/studio/test_server.py::test_password_and_token_stay_out_of_the_command_line),
the CLI never printing the local token (tests/studio/test_pull_push.py::test_cli_never_prints_the_token).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
import pytest

from khabar.foundation.paths import repo
from khabar.studio.server import free_port, new_credentials, read_credentials, running_server
from tests.http_support import QuietHandler, serving
from tests.reliability.reliability_support import SHARED

FAKE_LS_KEY = "lsk-FAKE-SECRET-7f3a9c2e51d04b8e"
FAKE_HF_TOKEN = "hf_FAKESECRETdoNotLeak0123456789abcdef"
SECRETS = (FAKE_LS_KEY, FAKE_HF_TOKEN)
KHABAR = Path(sys.executable).with_name("khabar")


def fake_hub_class():
    """tests/dataset/fake_hub.py's FakeHub: a local stand-in for the Hub (which cannot be reached here)."""
    name = "reliability_fake_hub"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, repo().root / "tests" / "dataset" / "fake_hub.py")
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    module = sys.modules[name]
    return module.FakeHub


@contextmanager
def echoing_label_studio() -> Iterator[tuple[str, list[str]]]:
    """A server on 127.0.0.1 that refuses every request (403) with a ``detail`` echoing its ``Authorization`` header, as
    a misconfigured Label Studio or a proxy before one might; yields its URL and the headers it was sent."""
    sent: list[str] = []

    class Echo(QuietHandler):
        def do_GET(self) -> None:
            sent.append(self.headers.get("Authorization", ""))
            body = json.dumps({"detail": f"denied for {sent[-1]}"}).encode()
            self.send_response(403)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with serving(Echo) as url:
        yield url, sent


@pytest.mark.parametrize("sent", ["LABEL_STUDIO_API_KEY", "the password in --url"])
def test_credentials_a_label_studio_echoes_back_are_never_printed(sent, khabar, monkeypatch, tmp_path):
    """``khabar studio pull --url``: the server's refusal holds the request's ``Token <key>``, or ``Basic`` and the base64
    of the URL's ``user:password`` (which the client sends instead); the one-line error shows ``***`` for either."""
    key = f"{FAKE_LS_KEY}-{sent.split()[0]}"  # this test's own: no other command marked it as a secret
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", key)
    user = "annotator:s3cret-pw" if sent != "LABEL_STUDIO_API_KEY" else ""
    with echoing_label_studio() as (url, headers):
        run = khabar("studio", "pull", "--url", url.replace("http://", f"http://{user}@") if user else url, "--project", "x", "--studio-dir", tmp_path, "--out", tmp_path / "x.json")
    header = f"Basic {base64.b64encode(user.encode()).decode()}" if user else f"Token {key}"
    assert headers and set(headers) == {header}, headers
    server = url.replace("http://", "http://***@") if user else url
    assert run.status == 2 and run.err == f"khabar studio: error: Label Studio at {server} answered 403 when listing the projects: denied for {header.split()[0]} ***\n", run.output
    assert list(tmp_path.iterdir()) == []


def files_holding(root: Path, needles: tuple[str, ...]) -> list[tuple[str, str]]:
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [(str(path), needle) for needle in needles if needle.encode() in data]
    return found


@pytest.mark.studio
def test_every_command_with_fake_secrets_in_the_environment_leaks_none(own_studio, khabar, tmp_path, monkeypatch, datasheet_template):
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", FAKE_LS_KEY)
    monkeypatch.setenv("HF_TOKEN", FAKE_HF_TOKEN)
    studio = own_studio.root
    exports = tmp_path / "exports"
    exports.mkdir()
    shutil.copyfile(SHARED / "good_export.json", exports / "good.json")  # a folder named as exports holds one
    corpus = tmp_path / "corpus"
    shutil.copytree(repo().corpus_dir, corpus)
    datasheet = tmp_path / "DATASHEET.md"
    shutil.copyfile(datasheet_template, datasheet)
    export = exports / "secrets.json"
    out = tmp_path / "dist" / "khabar"
    documents = SHARED / "documents.jsonl"
    outputs: list[str] = []

    def run(*argv, status: int = 0) -> str:
        done = khabar(*argv)
        outputs.append(done.output)
        assert done.status == status, (argv, done.output)
        assert "Traceback" not in done.output
        return done.output

    run("ingest", "--corpus", corpus, "--exports", exports)
    run("studio", "down", "--studio-dir", studio)
    run("studio", "up", "--studio-dir", studio, "--port", free_port())
    run("studio", "status", "--studio-dir", studio)
    run("studio", "sync", "--studio-dir", studio, "--project", "secrets", "--documents", documents)
    run("studio", "preannotate", "--studio-dir", studio, "--project", "secrets", "--exports", exports)
    run("studio", "pull", "--studio-dir", studio, "--project", "secrets", "--out", export)
    run("studio", "push", "--studio-dir", studio, "--project", "secrets", "--file", export, "--documents", documents)
    server = running_server(own_studio)
    # --url takes the key from LABEL_STUDIO_API_KEY: the fake one is refused, and not echoed
    assert "401" in run("studio", "pull", "--url", server.url, "--project", "secrets", "--studio-dir", tmp_path / "remote", "--out", tmp_path / "remote.json", status=2)
    for fmt in ("text", "json", "markdown", "github"):
        run("validate", export, "--documents", documents, "--format", fmt)
    run("build", "--exports", SHARED / "good_export.json", "--documents", documents, "--out", out, "--datasheet", datasheet)
    run("stats", "--exports", SHARED / "good_export.json", "--documents", documents)
    run("diff", out, out)
    run("publish", "--repo-id", "khabar-test/khabar", "--build", out, "--dry-run")
    with fake_hub_class()() as hub:  # a real publish needs HF_ENDPOINT, read when huggingface_hub is imported
        env = {**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_HOME": str(tmp_path / "hf")}
        published = subprocess.run([KHABAR, "publish", "--repo-id", "khabar-test/khabar", "--build", out], capture_output=True, text=True, env=env)
    outputs.append(published.stdout + published.stderr)
    assert published.returncode == 0, published.stderr
    assert "Traceback" not in published.stdout + published.stderr

    printed = "\n".join(outputs)
    for secret in SECRETS:
        assert secret not in printed
    assert files_holding(tmp_path, SECRETS) == [], "a fake secret was written to a file"
    assert files_holding(studio, SECRETS) == [], "a fake secret reached the studio folder (log, credentials, data)"
    environment = psutil.Process(server.pid).environ()  # never printed: it holds the local password
    server_has = {secret: any(secret in value for value in environment.values()) for secret in SECRETS}
    assert server_has == {FAKE_LS_KEY: False, FAKE_HF_TOKEN: False}, "Label Studio got a secret it does not need"
    local = read_credentials(own_studio)
    for secret in (local.token, local.password):
        assert secret not in printed
        assert secret not in own_studio.log_file.read_text(encoding="utf-8", errors="replace")
        assert files_holding(tmp_path, (secret,)) == []


@pytest.mark.studio
def test_local_label_studio_is_private_to_this_machine_and_this_user(own_studio, khabar):
    if running_server(own_studio) is None:
        assert khabar("studio", "up", "--studio-dir", own_studio.root, "--port", free_port()).status == 0
    server = running_server(own_studio)
    listening = [c for c in psutil.net_connections(kind="inet") if c.pid == server.pid and c.status == psutil.CONN_LISTEN]
    assert listening and {c.laddr.ip for c in listening} == {"127.0.0.1"}, listening

    credentials = read_credentials(own_studio)
    assert stat.S_IMODE(own_studio.credentials_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(own_studio.log_file.stat().st_mode) == 0o600
    assert len(credentials.password) >= 20 and credentials.password not in ("admin", "password", "label-studio", "changeme")
    assert len({new_credentials(8080).password for _ in range(5)}) == 5, "each new studio gets its own random password"

    email = "intruder@example.org"
    with httpx.Client(base_url=server.url) as anonymous:
        anonymous.get("/user/signup/")
        answer = anonymous.post(
            "/user/signup/",
            data={"email": email, "password": "a-long-enough-password", "csrfmiddlewaretoken": anonymous.cookies.get("csrftoken", "")},
            headers={"Referer": f"{server.url}/user/signup/"},
        )
        assert answer.status_code in (403, 404), answer.status_code
        api = anonymous.post("/api/users/", json={"email": email, "username": "intruder"})
        assert api.status_code in (401, 403), api.status_code
    from khabar.studio.connection import connect, local_target

    assert email not in [u.email for u in connect(local_target(own_studio)).users.list()]


def test_a_message_masks_secrets_and_credentials_and_keeps_the_words_around_them():
    from khabar.foundation.errors import KhabarError, mark_secret

    mark_secret("tok-masked-0123456789")
    message = "denied for Token tok-masked-0123456789 at https://me:pw@hub.example/x; Basic authentication; Basic bWU6cHc="
    assert str(KhabarError(message)) == "denied for Token *** at https://***@hub.example/x; Basic authentication; Basic ***"
