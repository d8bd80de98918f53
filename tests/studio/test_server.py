"""``khabar studio up/down/status`` against a real Label Studio."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import stat
import subprocess
import time

import httpx
import psutil
import pytest

from khabar.foundation.errors import KhabarError
from khabar.studio import cli
from khabar.studio.server import (
    StudioPaths,
    _announced_port_after,
    free_port,
    running_server,
    start_server,
    stop_server,
    token_accepted,
)


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    cli.configure_studio(parser)
    return cli.run_studio(parser.parse_args(list(argv)))


@pytest.mark.studio
def test_up_on_a_fresh_dir(studio_server):
    paths, url = studio_server.paths, studio_server.url
    output = studio_server.startup_output
    assert "first start" in output[0]
    assert output[-1].startswith(f"Label Studio is up at {url}")
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
    server = running_server(paths)
    assert server is not None and server.url == url
    assert stat.S_IMODE(paths.credentials_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(paths.root.stat().st_mode) & 0o077 == 0
    credentials = json.loads(paths.credentials_file.read_text())
    assert set(credentials) == {"username", "password", "token", "port"}
    assert len(credentials["password"]) >= 20 and re.fullmatch(r"[0-9a-f]{40}", credentials["token"])
    assert credentials["port"] == server.port
    # The legacy token works only because the first start enabled it.
    assert token_accepted(url, credentials["token"])
    assert not token_accepted(url, "0" * 40)
    listening = {c.laddr.ip for c in psutil.Process(server.pid).connections() if c.status == psutil.CONN_LISTEN}
    assert listening == {"127.0.0.1"}, "bound to the loopback interface only"


@pytest.mark.studio
def test_password_and_token_stay_out_of_the_command_line(studio_server):
    server = running_server(studio_server.paths)
    command_line = " ".join(psutil.Process(server.pid).cmdline())
    assert studio_server.credentials.token not in command_line
    assert studio_server.credentials.password not in command_line
    assert "--enable-legacy-api-token" in command_line


@pytest.mark.studio
def test_signup_is_closed_without_an_invite_link(studio_server):
    email = "stranger@example.org"
    with httpx.Client(base_url=studio_server.url) as browser:
        browser.get("/user/signup/")
        answer = browser.post(
            "/user/signup/",
            data={"email": email, "password": "long-enough-password", "csrfmiddlewaretoken": browser.cookies["csrftoken"]},
            headers={"Referer": f"{studio_server.url}/user/signup/"},
        )
    assert answer.status_code == 403
    assert email not in [u.email for u in studio_server.client().users.list()]


@pytest.mark.studio
def test_up_again_returns_the_running_server(studio_server):
    lines: list[str] = []
    again = start_server(studio_server.paths, free_port(), progress=lines.append)
    assert again.url == studio_server.url
    assert lines == [f"Label Studio is already running at {again.url} (pid {again.pid})"]


@pytest.mark.studio
def test_status_says_where(studio_server, capsys):
    assert run_cli("status", "--studio-dir", str(studio_server.paths.root)) == 0
    assert f"running at {studio_server.url}" in capsys.readouterr().out


@pytest.mark.studio
@pytest.mark.slow
def test_existing_data_dir_starts_and_down_stops_it(studio_server, tmp_path, capsys):
    """A second server on a copy of the session's data dir (an existing dir: no database set-up)."""
    copy = StudioPaths(tmp_path / "studio")
    copy.root.mkdir(mode=0o700)
    shutil.copytree(studio_server.paths.data_dir, copy.data_dir)
    shutil.copy2(studio_server.paths.credentials_file, copy.credentials_file)
    port = free_port()
    started = time.monotonic()
    assert run_cli("up", "--studio-dir", str(copy.root), "--port", str(port)) == 0
    elapsed = time.monotonic() - started
    out = capsys.readouterr().out
    assert "first start" not in out
    assert f"open http://127.0.0.1:{port}/ and log in as admin@khabar.local" in out
    server = running_server(copy)
    assert server is not None and token_accepted(server.url, studio_server.credentials.token)
    print(f"existing data dir started in {elapsed:.1f} s")

    assert run_cli("down", "--studio-dir", str(copy.root)) == 0
    assert "Label Studio stopped" in capsys.readouterr().out
    assert not psutil.pid_exists(server.pid) or psutil.Process(server.pid).status() == psutil.STATUS_ZOMBIE
    assert not copy.server_file.exists()
    assert run_cli("status", "--studio-dir", str(copy.root)) == 1
    assert run_cli("down", "--studio-dir", str(copy.root)) == 0
    assert "was not running" in capsys.readouterr().out


def test_stale_pid_file_after_a_crash_is_cleaned_up(tmp_path):
    paths = StudioPaths(tmp_path)
    gone = subprocess.Popen(["true"])
    gone.wait()
    paths.server_file.write_text(json.dumps({"pid": gone.pid, "port": 8080}))
    assert running_server(paths) is None
    assert not paths.server_file.exists()
    paths.server_file.write_text(json.dumps({"pid": 1, "port": 8080}))  # alive, but not Label Studio
    assert running_server(paths) is None
    assert stop_server(paths, progress=lambda _line: None) is None


def test_busy_port_fails_clearly_before_starting_anything(tmp_path):
    paths = StudioPaths(tmp_path / "studio")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(KhabarError, match=rf"port {port} on 127\.0\.0\.1 is in use; choose another with --port"):
            start_server(paths, port, progress=lambda _line: None)
    assert not paths.server_file.exists()


def test_the_real_port_is_read_from_the_server_output(tmp_path):
    paths = StudioPaths(tmp_path)
    paths.log_file.write_text("Starting development server at http://127.0.0.1:8080/\n")
    offset = paths.log_file.stat().st_size
    with paths.log_file.open("a") as log:
        log.write("* Port 8080 is in use.\n* Trying to start at 8081\nStarting development server at http://127.0.0.1:8081/\n")
    assert _announced_port_after(paths, offset) == 8081
    assert _announced_port_after(paths, paths.log_file.stat().st_size) is None


def test_remote_target_needs_the_api_key_in_the_environment(monkeypatch):
    from khabar.studio.connection import remote_target

    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    with pytest.raises(KhabarError, match="LABEL_STUDIO_API_KEY"):
        remote_target("https://studio.example.org")
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "secret-value")
    target = remote_target("https://studio.example.org/")
    assert target.url == "https://studio.example.org" and "secret-value" not in repr(target)


def test_commands_against_no_server_say_how_to_start_one(tmp_path):
    with pytest.raises(KhabarError, match="khabar studio up"):
        run_cli("sync", "--studio-dir", str(tmp_path))
