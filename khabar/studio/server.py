"""The local Label Studio: start, stop, find, and its credentials.

Everything lives under one studio folder (``.studio/`` in a checkout, git-ignored):

- ``data/``             Label Studio's data dir (SQLite database, media, its ``.env``);
- ``credentials.json``  admin username, password, API token and last port (mode 0600);
- ``server.json``       pid and port of the running server;
- ``label-studio.log``  the server's output.

The password and token are passed to Label Studio through its environment
(``LABEL_STUDIO_USERNAME``/``_PASSWORD``/``_USER_TOKEN``), not its command line:
``/proc/<pid>/cmdline`` is readable by every user (``ps``), ``/proc/<pid>/environ``
only by the owner. The bare names Label Studio also reads (``HOST``, ``PORT``,
``USERNAME``, ``PASSWORD``, ``DEBUG``, ``DATABASE_NAME``, ...) are removed from the
child's environment so that a shell's own ``USERNAME`` or ``HOST`` cannot leak in.

User, token and the legacy-token switch only apply when the database is created,
so they are fixed by the first start; later starts reuse ``credentials.json``.

Khabar's own requests to the local servers, Label Studio's and the ML backend's (is it up? is the token
accepted?), are made without the SDK, each through :func:`probe`: what answers that is not the server's
answer (another program on the port) is said in one line, never taken for a verdict.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from khabar.foundation import jsonl
from khabar.foundation.errors import KhabarError, mark_secret, quoted
from khabar.foundation.files import ANYTHING, Found, StagedFile, stage_file

ADMIN_USERNAME = "admin@khabar.local"
LOCAL_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
START_TIMEOUT = 300.0
STOP_TIMEOUT = 30.0

# Names Label Studio's settings read bare, or with a LABEL_STUDIO_/HEARTEX_ prefix.
_CLASHING_NAMES = ("HOST", "PORT", "USERNAME", "PASSWORD", "USER_TOKEN", "DEBUG", "DATABASE_NAME", "BASE_DATA_DIR", "API_KEY")
# Secrets of other services the server has no use for.
_UNNEEDED_SECRETS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
_SERVER_ADDRESS = re.compile(r"Starting development server at http://[^:/\s]+:(\d+)/")


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    token: str
    port: int


@dataclass(frozen=True)
class StudioPaths:
    """Where one local Label Studio keeps its state."""

    root: Path

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def database(self) -> Path:
        return self.data_dir / "label_studio.sqlite3"

    @property
    def credentials_file(self) -> Path:
        return self.root / "credentials.json"

    @property
    def server_file(self) -> Path:
        return self.root / "server.json"

    @property
    def log_file(self) -> Path:
        return self.root / "label-studio.log"

    @property
    def pseudonyms_file(self) -> Path:
        return self.root / "pseudonyms.json"


@dataclass(frozen=True)
class RunningServer:
    pid: int
    port: int

    @property
    def url(self) -> str:
        return f"http://{LOCAL_HOST}:{self.port}"


def write_private_json(path: Path, payload: object) -> None:
    """Write JSON readable by the owner only (0600), atomically."""
    stage_private_json(path, payload).commit()


def stage_private_json(path: Path, payload: object, *, over: Found = ANYTHING) -> StagedFile:
    """JSON readable by the owner only (0600), staged beside ``path`` (``over``: as
    :func:`khabar.foundation.files.stage_file` takes it)."""
    return stage_file(path, jsonl.dumps_document(payload), over=over, mode=0o600, folder_mode=0o700)


def read_credentials(paths: StudioPaths) -> Credentials | None:
    try:
        raw = json.loads(paths.credentials_file.read_text(encoding="utf-8"))
        return Credentials(username=raw["username"], password=mark_secret(raw["password"]), token=mark_secret(raw["token"]), port=int(raw["port"]))
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise KhabarError(f"unreadable credentials ({exc.__class__.__name__}: {exc})", file=str(paths.credentials_file)) from None


def new_credentials(port: int) -> Credentials:
    return Credentials(username=ADMIN_USERNAME, password=mark_secret(secrets.token_urlsafe(18)), token=mark_secret(secrets.token_hex(20)), port=port)


def label_studio_executable() -> Path:
    """The ``label-studio`` script of the environment khabar runs in."""
    executable = Path(sys.executable).parent / "label-studio"
    if not executable.exists():
        raise KhabarError(f"Label Studio is not installed next to {sys.executable}; install it with: pip install -e '.[studio]'")
    return executable


# Label Studio 1.23.2's SSRF guard (core/utils/io.py, validate_ip) bans these networks, loopback among them, for
# ML backend URLs and webhooks alike, so it would refuse the backend on 127.0.0.1. The local server gets the same
# list without the IPv4 loopback network: only a backend on this machine becomes reachable, nothing else does.
_BANNED_BUT_LOOPBACK = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24",
    "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4",
    "233.252.0.0/24", "240.0.0.0/4", "255.255.255.255/32", "::/128", "::1/128", "::ffff:0:0/96", "::ffff:0:0:0/96",
    "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001:0000::/32", "2001:20::/28", "2001:db8::/32", "2002::/16",
    "fc00::/7", "fe80::/10", "ff00::/8",
)  # fmt: skip


def label_studio_environment() -> dict[str, str]:
    """What the local Label Studio needs in its environment to call the backend (and its webhook) on 127.0.0.1."""
    return {
        "LABEL_STUDIO_USE_DEFAULT_BANNED_SUBNETS": "false",
        "LABEL_STUDIO_USER_ADDITIONAL_BANNED_SUBNETS": ",".join(_BANNED_BUT_LOOPBACK),
    }


def server_environment(credentials: Credentials, paths: StudioPaths, port: int) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not any(key in (name, f"LABEL_STUDIO_{name}", f"HEARTEX_{name}") for name in _CLASHING_NAMES)
        and key not in _UNNEEDED_SECRETS
    }
    env.update(
        LABEL_STUDIO_BASE_DATA_DIR=str(paths.data_dir.resolve()),
        LABEL_STUDIO_HOST=f"http://{LOCAL_HOST}:{port}",
        LABEL_STUDIO_USERNAME=credentials.username,
        LABEL_STUDIO_PASSWORD=credentials.password,
        LABEL_STUDIO_USER_TOKEN=credentials.token,
        LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK="true",
        LABEL_STUDIO_LATEST_VERSION_CHECK="false",
        LABEL_STUDIO_COLLECT_ANALYTICS="false",
        PYTHONUNBUFFERED="1",
    )
    env.update(label_studio_environment())  # the ML backend on 127.0.0.1 must be reachable
    return env


def server_command(paths: StudioPaths, port: int) -> list[str]:
    return [
        str(label_studio_executable()),
        "start",
        "--no-browser",
        "--internal-host", LOCAL_HOST,
        "--port", str(port),
        "--host", f"http://{LOCAL_HOST}:{port}",
        "--data-dir", str(paths.data_dir.resolve()),
        "--enable-legacy-api-token",
    ]  # fmt: skip


def _pid_is_label_studio(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # someone else's process reusing the pid
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        if "label-studio" not in cmdline.read_bytes().decode("utf-8", "replace"):
            return False
    except FileNotFoundError:
        return False
    except OSError:
        pass  # no /proc here: the signal test has to do
    stat = Path(f"/proc/{pid}/stat")
    try:
        # A zombie (our own exited child, not yet reaped) is not a server.
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def running_server(paths: StudioPaths) -> RunningServer | None:
    """The server recorded in ``server.json`` if it still runs; a stale record is removed."""
    try:
        raw = json.loads(paths.server_file.read_text(encoding="utf-8"))
        server = RunningServer(pid=int(raw["pid"]), port=int(raw["port"]))
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        paths.server_file.unlink(missing_ok=True)
        return None
    if _pid_is_label_studio(server.pid):
        return server
    paths.server_file.unlink(missing_ok=True)
    return None


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        if probe.connect_ex((LOCAL_HOST, port)) == 0:
            return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOCAL_HOST, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port the system considers free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOCAL_HOST, 0))
        return int(probe.getsockname()[1])


#: The most of an answer a probe reads: Label Studio 1.23.2 answers /api/version in 1,022 bytes and whoami in 1,210
#: (measured), the ML backend /health in under 100; an answer fifty times longer is no answer of theirs.
PROBE_ANSWER_AT_MOST = 64 * 1024


class ProbeRefused(Exception):
    """A local server answered a probe with an error status (4xx, 5xx; the message: "answered 401")."""

    def __init__(self, status: int) -> None:
        super().__init__(f"answered {status}")
        self.status = status


class NotTheServer(Exception):
    """What answered a probe is not an answer of the server probed: the message says what it is."""


def probe(url: str, *, timeout: float, token: str | None = None) -> dict[str, Any] | None:
    """The JSON object a local server answers to ``GET url`` (with Label Studio's token header when ``token`` is given);
    None while nothing answers there (no connection, no answer within ``timeout``).

    What answers but is not the server's answer is :class:`NotTheServer`: another program on the port (no HTTP: a
    ``BadStatusLine``, a ``LineTooLong``, which urllib does not take for a URLError), a body cut short, of more than
    :data:`PROBE_ANSWER_AT_MOST` bytes or still coming after ``timeout`` (read whole, one without end was a wait without
    end), or not a JSON object (read with ``json``, an integer of 4,300 digits, nesting too deep and a body not UTF-8
    were tracebacks). Another status is :class:`ProbeRefused`.
    """
    request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"} if token else {})
    deadline = time.monotonic() + timeout
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = _bounded_body(response, deadline, timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise ProbeRefused(exc.code) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, OSError):  # no connection (refused, reset, closed unanswered): nothing answers there yet
            return None
        raise NotTheServer(f"not an HTTP answer ({exc.reason})") from None
    except http.client.IncompleteRead:
        raise NotTheServer("its answer was cut short") from None
    except http.client.HTTPException as exc:
        raise NotTheServer(f"not an HTTP answer ({exc.__class__.__name__}: {quoted(str(exc))})") from None
    except OSError:  # no answer within the timeout, a connection reset: nothing answers there yet
        return None
    try:
        return jsonl.decode_as(body, dict[str, Any])
    except ValueError as exc:
        raise NotTheServer(f"its answer is not a JSON object ({str(exc).splitlines()[0]})") from None


def _bounded_body(response: http.client.HTTPResponse, deadline: float, timeout: float) -> bytes:
    """The body of ``response``, read as it comes (``read1``), so that the deadline is checked between arrivals however
    slowly they come; :class:`NotTheServer` when it is longer than :data:`PROBE_ANSWER_AT_MOST`, still coming at the
    deadline, or shorter than its Content-Length (``read1`` ends there without a word)."""
    body = b""
    while chunk := response.read1(PROBE_ANSWER_AT_MOST + 1 - len(body)):
        body += chunk
        if time.monotonic() > deadline:
            raise NotTheServer(f"its answer was still coming after {timeout:.0f} s")
    if len(body) > PROBE_ANSWER_AT_MOST:
        raise NotTheServer(f"its answer holds more than {PROBE_ANSWER_AT_MOST} bytes")
    if response.length:
        raise NotTheServer(f"its answer was cut short ({len(body)} bytes of the {len(body) + response.length} it announced)")
    return body


def not_label_studio(url: str, problem: object) -> KhabarError:
    return KhabarError(f"the server at {url} is not Label Studio: {problem}")


def token_accepted(url: str, token: str, *, timeout: float = 10.0) -> bool:
    """Whether the Label Studio at ``url`` accepts ``token``: it answers whose token it is, or refuses it (401, 403).
    An answer that is neither, or none, is a :class:`KhabarError` saying so: a token is not judged refused by a server
    that is not Label Studio or does not answer."""
    whoami = f"{url}/api/current-user/whoami"
    try:
        answer = probe(whoami, timeout=timeout, token=token)
    except ProbeRefused as exc:
        if exc.status in (401, 403):
            return False
        raise not_label_studio(whoami, exc) from None
    except NotTheServer as exc:
        raise not_label_studio(whoami, exc) from None
    if answer is None:
        raise KhabarError(f"Label Studio at {url} did not answer whose API token it was given within {timeout:.0f} s")
    return True


def _api_answers(url: str) -> bool:
    """Whether Label Studio answers at ``url`` yet: its version, which it gives without a login as soon as it listens.
    A server error (5xx) is not yet: a server still starting may give one, and one that keeps giving it runs into
    the start's timeout, which names the log. A :class:`KhabarError` when what answers there is not Label Studio
    (another program took the port)."""
    version = f"{url}/api/version"
    try:
        return probe(version, timeout=5) is not None
    except ProbeRefused as exc:
        if exc.status >= 500:
            return False
        raise not_label_studio(version, exc) from None
    except NotTheServer as exc:
        raise not_label_studio(version, exc) from None


def _log_tail(paths: StudioPaths, lines: int = 12) -> str:
    try:
        text = paths.log_file.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def start_server(
    paths: StudioPaths,
    port: int = DEFAULT_PORT,
    *,
    progress: Callable[[str], None] = print,
    timeout: float = START_TIMEOUT,
) -> RunningServer:
    """Start Label Studio on 127.0.0.1:``port`` and wait until its API answers.

    Returns the already running server when there is one. Raises
    :class:`KhabarError` when the port is busy, the server dies, does not answer
    in ``timeout`` seconds, or moved to another port.
    """
    current = running_server(paths)
    if current is not None:
        progress(f"Label Studio is already running at {current.url} (pid {current.pid})")
        return current
    first_start = not paths.database.exists()
    credentials = _credentials_for_start(paths, port, first_start=first_start)
    url = f"http://{LOCAL_HOST}:{port}"
    # The log is appended to across starts; only this start's lines count.
    log_offset = paths.log_file.stat().st_size if paths.log_file.exists() else 0
    if first_start:
        progress(f"starting Label Studio at {url} (first start: setting up its database takes about a minute)")
    else:
        progress(f"starting Label Studio at {url}")
    started = time.monotonic()
    with paths.log_file.open("ab") as log:
        os.chmod(paths.log_file, 0o600)
        process = subprocess.Popen(
            server_command(paths, port),
            env=server_environment(credentials, paths, port),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=paths.root,
            start_new_session=True,  # survives the shell that ran `khabar studio up`
        )
    server = RunningServer(pid=process.pid, port=port)
    write_private_json(paths.server_file, asdict(server))
    try:
        _wait_until_answering(process, paths, port, log_offset, started, timeout=timeout, progress=progress)
        if not token_accepted(url, credentials.token):
            raise KhabarError(
                f"Label Studio at {url} refuses the API token of {paths.credentials_file}; the data dir was probably "
                f"created with other credentials; remove {paths.data_dir} to start afresh (pull your work first)"
            )
    except KhabarError:
        stop_server(paths, progress=lambda _line: None)
        raise
    progress(f"Label Studio is up at {url} ({time.monotonic() - started:.0f} s)")
    return server


def _credentials_for_start(paths: StudioPaths, port: int, *, first_start: bool) -> Credentials:
    """The admin credentials this start uses (kept, or new on a first start), written 0600 with the port."""
    credentials = read_credentials(paths)
    if credentials is None and not first_start:
        raise KhabarError(
            f"{paths.data_dir} holds a Label Studio database but {paths.credentials_file.name} is missing, so its admin "
            f"token is unknown; remove {paths.data_dir} to start afresh (pull your work first)",
            file=str(paths.credentials_file),
        )
    if not port_is_free(port):
        raise KhabarError(f"port {port} on {LOCAL_HOST} is in use; choose another with --port (e.g. --port {port + 10})")
    credentials = Credentials(**{**asdict(credentials or new_credentials(port)), "port": port})
    paths.root.mkdir(mode=0o700, parents=True, exist_ok=True)
    paths.data_dir.mkdir(mode=0o700, exist_ok=True)
    write_private_json(paths.credentials_file, asdict(credentials))
    return credentials


def _wait_until_answering(
    process: subprocess.Popen, paths: StudioPaths, port: int, log_offset: int, started: float, *, timeout: float, progress: Callable[[str], None]
) -> None:
    """Poll until the API answers at ``port``; raise when the server dies, moves port, does not answer in time, or
    something else answers there."""
    url = f"http://{LOCAL_HOST}:{port}"
    next_report = started + 10
    while True:
        if process.poll() is not None:
            paths.server_file.unlink(missing_ok=True)
            raise KhabarError(
                f"Label Studio exited with status {process.returncode} while starting; last lines of {paths.log_file}:\n"
                + _log_tail(paths)
            )
        announced = _announced_port_after(paths, log_offset)
        if announced is not None and announced != port:
            raise KhabarError(
                f"port {port} became busy while Label Studio started and it moved to port {announced}; "
                f"run again with a free port (--port)"
            )
        if _api_answers(url):
            return
        now = time.monotonic()
        if now - started > timeout:
            raise KhabarError(f"Label Studio did not answer at {url} within {timeout:.0f} s; see {paths.log_file}")
        if now >= next_report:
            progress(f"  still waiting for Label Studio ({now - started:.0f} s)")
            next_report = now + 10
        time.sleep(0.5)


def _announced_port_after(paths: StudioPaths, offset: int) -> int | None:
    try:
        with paths.log_file.open("rb") as log:
            log.seek(offset)
            match = _SERVER_ADDRESS.search(log.read().decode("utf-8", "replace"))
    except FileNotFoundError:
        return None
    return int(match.group(1)) if match else None


def stop_server(
    paths: StudioPaths, *, progress: Callable[[str], None] = print, timeout: float = STOP_TIMEOUT
) -> RunningServer | None:
    """Stop the recorded server with SIGTERM (SIGKILL after ``timeout``); None if none ran."""
    server = running_server(paths)
    if server is None:
        return None
    progress(f"stopping Label Studio (pid {server.pid})")
    os.kill(server.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _pid_is_label_studio(server.pid):
        if time.monotonic() > deadline:
            progress(f"  no exit after {timeout:.0f} s of SIGTERM; sending SIGKILL")
            os.kill(server.pid, signal.SIGKILL)
            break
        time.sleep(0.2)
    _reap(server.pid)
    paths.server_file.unlink(missing_ok=True)
    return server


def _reap(pid: int) -> None:
    """Collect the exit status when the server is our own child (tests start and stop in one process)."""
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
