"""A fake Hugging Face Hub: a local HTTP server on 127.0.0.1 that speaks the routes and payloads
huggingface_hub 2.4.0's ``HfApi`` uses to publish, as the Hub takes them.

It stands in for huggingface.co, which cannot be reached from here; the client talking to it is
huggingface_hub's real ``HfApi`` over its real HTTP stack. What it implements, route by route:

- ``POST /api/repos/create``; ``GET /api/datasets/ORG/NAME/refs`` and ``…/tree/REV``;
  ``POST /api/validate-yaml``;
- ``POST …/preupload/REV``: like the Hub, a file whose path matches a ``filter=lfs`` pattern of the
  repository's ``.gitattributes`` (parquet and PNG among them), or that is binary or over 10 MB, is
  ``"lfs"``; the rest ``"regular"`` (sent inline, base64, in the commit);
- the Git LFS batch API (``POST /datasets/ORG/NAME.git/info/lfs/objects/batch``, basic transfer),
  then the upload (``PUT``, refused unless its bytes have the announced sha256 and size), then
  ``verify``; an object the Hub already holds gets no upload action;
- ``POST …/commit/REV`` (NDJSON: header, ``file``, ``lfsFile`` referring to an uploaded object by
  sha256, ``deletedFile``, ``deletedFolder``), refused on a stale ``parentCommit``;
- ``POST …/tag/REV``, refused for an existing tag.

Not implemented: Xet. huggingface_hub 2.4.0 sends LFS-mode files through Xet whenever ``hf_xet`` is
installed (the real Hub accepts both); Xet's content-addressed store (chunked, compressed xorbs and
shards) is a server of its own. ``khabar publish`` takes the LFS protocol on purpose
(``khabar.dataset.publish.lfs_uploads``), so the fake answers the Xet token request with 501: a
publish that strayed onto Xet fails here instead of passing untested.

Every repository is a real git repository under ``storage/datasets/ORG/NAME`` (files as plain
blobs, each Hub commit a git commit, each tag a git tag), so a Hub mirror such as olah can serve
exactly what was published.

``FakeHub(answer_all=STATUS)`` is a Hub gone wrong instead (or a proxy in front of it): every request
gets STATUS and an answer that echoes the request's ``Authorization`` header where huggingface_hub
shows a server's words (``X-Error-Message``, ``X-HF-Warning``, the JSON ``error``) and holds nothing
else: a 409 to the creation of a repository without its ``url``, a 200 without a repository's ``id``.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tests.http_support import POLL_INTERVAL

#: The Hub's default .gitattributes for a new dataset repository (the part that matters here).
HUB_GITATTRIBUTES = "".join(
    f"{pattern} filter=lfs diff=lfs merge=lfs -text\n"
    for pattern in ("*.7z", "*.arrow", "*.bin", "*.gz", "*.h5", "*.jpg", "*.jpeg", "*.npy", "*.parquet", "*.pickle", "*.png", "*.safetensors", "*.tar", "*.zip")
)
#: Above this size the Hub takes any file through LFS.
LFS_THRESHOLD = 10 * 1024 * 1024
GIT = ["git", "-c", "user.name=fake-hub", "-c", "user.email=fake-hub@example.invalid", "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"]
ROUTE = re.compile(r"^/api/datasets/(?P<org>[^/]+)/(?P<name>[^/]+)/(?P<route>[a-z-]+)(?:/(?P<rest>.*))?$")
LFS_ROUTE = re.compile(r"^/datasets/(?P<org>[^/]+)/(?P<name>[^/]+)\.git/info/lfs/objects/(?P<route>batch|verify)$")


class Refused(Exception):
    def __init__(self, status: int, message: str, **extra: str) -> None:
        super().__init__(message)
        self.status = status
        self.extra = extra


@dataclass
class FakeRepo:
    """One dataset repository: a git working tree whose commits are the Hub's commits."""

    path: Path
    lfs_paths: set[str] = field(default_factory=set)  # files committed through LFS

    def git(self, *args: str) -> str:
        return subprocess.run([*GIT, *args], cwd=self.path, check=True, capture_output=True, text=True).stdout.strip()

    def create(self) -> None:
        self.path.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")
        self.commit({".gitattributes": HUB_GITATTRIBUTES.encode()}, [], "initial commit")

    def commit(self, add: dict[str, bytes], delete: list[str], message: str) -> str:
        for path in delete:
            target = self.path / path
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        for path, data in add.items():
            target = self.path / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.head

    @property
    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    @property
    def commits(self) -> list[str]:
        """Every commit of main, oldest first."""
        return self.git("rev-list", "--reverse", "HEAD").split()

    @property
    def tags(self) -> dict[str, str]:
        out = self.git("for-each-ref", "--format=%(refname:short) %(objectname)", "refs/tags")
        return dict(line.split() for line in out.splitlines())

    @property
    def files(self) -> dict[str, bytes]:
        """The files of main's last commit."""
        names = self.git("ls-files").splitlines()
        return {name: (self.path / name).read_bytes() for name in names}

    def lfs_patterns(self) -> list[str]:
        attributes = self.path / ".gitattributes"
        lines = attributes.read_text(encoding="utf-8").splitlines() if attributes.is_file() else []
        return [line.split()[0] for line in lines if "filter=lfs" in line.split()[1:]]


class FakeHub:
    def __init__(self, storage: Path | None = None, *, answer_all: int | None = None) -> None:
        """``storage``: where the repositories' git folders go (default: a temporary folder removed on exit);
        ``answer_all``: the status of the echoing answer every request gets instead (see above)."""
        self.temporary = tempfile.TemporaryDirectory(prefix="fake-hub-") if storage is None else None
        self.storage = Path(self.temporary.name) if self.temporary else storage
        self.repos: dict[str, FakeRepo] = {}
        self.objects: dict[str, bytes] = {}  # sha256 → bytes, uploaded through LFS and verified
        self.requests: list[tuple[str, str]] = []  # (method, path)
        self.commit_payloads: list[list[dict]] = []
        self.tokens: list[str | None] = []  # the Authorization header of each request
        self.answer_all = answer_all
        self.lock = threading.Lock()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def send(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("ETag", '"fake"')
                self.end_headers()
                self.wfile.write(data)

            def read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                    return self.rfile.read(int(self.headers.get("Content-Length", 0)))
                chunks = []  # a file object is streamed in chunks, with no Content-Length
                while size := int(self.rfile.readline().split(b";")[0], 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                self.rfile.readline()
                return b"".join(chunks)

            def handle_method(self, method: str) -> None:
                body = self.read_body()
                path = urlsplit(self.path).path
                with hub.lock:
                    hub.requests.append((method, path))
                    hub.tokens.append(self.headers.get("Authorization"))
                    if hub.answer_all is not None:
                        echo = f"denied for {self.headers.get('Authorization')}"
                        self.send(hub.answer_all, {"error": echo}, {"X-Error-Message": echo, "X-HF-Warning": f"access; {echo}"})
                        return
                    try:
                        status, answer = hub.route(method, path, body, self.headers)
                    except Refused as refused:
                        status, answer = refused.status, {"error": str(refused), **refused.extra}
                self.send(status, answer)

            def do_GET(self) -> None:
                self.handle_method("GET")

            def do_POST(self) -> None:
                self.handle_method("POST")

            def do_PUT(self) -> None:
                self.handle_method("PUT")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": POLL_INTERVAL}, daemon=True)

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self.temporary is not None:
            self.temporary.cleanup()

    @property
    def calls(self) -> list[str]:
        """The requests as route names, in order."""
        names = []
        for method, path in self.requests:
            if path == "/api/repos/create":
                names.append("create_repo")
            elif path == "/api/validate-yaml":
                names.append("validate_yaml")
            elif match := ROUTE.match(path) or LFS_ROUTE.match(path):
                names.append(f"lfs_{match['route']}" if path.startswith("/datasets/") else match["route"])
            elif method == "PUT" and path.startswith("/lfs-upload/"):
                names.append("lfs_upload")
            else:
                names.append(path)
        return names

    def repo(self, org: str, name: str) -> FakeRepo:
        repo = self.repos.get(f"{org}/{name}")
        if repo is None:
            raise Refused(404, "Repository not found")
        return repo

    def route(self, method: str, path: str, body: bytes, headers) -> tuple[int, object]:
        writes = method in ("POST", "PUT") and path != "/api/validate-yaml" and not path.startswith("/lfs-upload/")
        if writes and not (headers.get("Authorization") or "").startswith("Bearer "):
            raise Refused(401, "Invalid credentials in Authorization header")
        if path == "/api/repos/create":
            payload = json.loads(body)
            repo_id = f"{payload['organization']}/{payload['name']}" if payload.get("organization") else payload["name"]
            if payload.get("type") != "dataset":
                raise Refused(400, f"this fake holds dataset repositories only, not {payload.get('type')!r}")
            if repo_id in self.repos:
                raise Refused(409, "You already created this dataset repo", url=f"{self.endpoint}/datasets/{repo_id}")
            self.repos[repo_id] = FakeRepo(self.storage / "datasets" / repo_id)
            self.repos[repo_id].create()
            return 200, {"url": f"{self.endpoint}/datasets/{repo_id}"}
        if path == "/api/validate-yaml":
            return 200, {"errors": [], "warnings": []}
        if method == "PUT" and path.startswith("/lfs-upload/"):
            return self.lfs_upload(path.removeprefix("/lfs-upload/"), body)
        if match := LFS_ROUTE.match(path):
            self.repo(match["org"], match["name"])  # 404 for an unknown repository
            return self.lfs_batch(match["org"], match["name"], json.loads(body)) if match["route"] == "batch" else self.lfs_verify(json.loads(body))
        match = ROUTE.match(path)
        if match is None:
            raise Refused(404, f"no route {method} {path}")
        repo = self.repo(match["org"], match["name"])
        route, rest = match["route"], unquote(match["rest"] or "")
        if route == "refs" and method == "GET":
            return 200, {
                "branches": [{"name": "main", "ref": "refs/heads/main", "targetCommit": repo.head}],
                "converts": [],
                "tags": [{"name": t, "ref": f"refs/tags/{t}", "targetCommit": c} for t, c in sorted(repo.tags.items())],
            }
        if route == "tree" and method == "GET":
            return 200, [self.tree_entry(repo, p, b) for p, b in sorted(repo.files.items())]
        if route == "preupload" and method == "POST":
            return 200, {"files": [self.preupload(repo, f) for f in json.loads(body)["files"]]}
        if route == "xet-write-token":
            raise Refused(501, "this fake Hub does not speak Xet: khabar publish uploads through Git LFS")
        if route == "commit" and method == "POST":
            return self.commit(match["org"], match["name"], repo, rest, body)
        if route == "tag" and method == "POST":
            payload = json.loads(body)
            if payload["tag"] in repo.tags:
                raise Refused(409, "Tag already exists")
            repo.git("tag", payload["tag"], rest)
            return 200, {}
        raise Refused(404, f"no route {method} {path}")

    def tree_entry(self, repo: FakeRepo, path: str, data: bytes) -> dict:
        entry = {"type": "file", "path": path, "size": len(data), "oid": hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()}
        if path in repo.lfs_paths:
            entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
        return entry

    def preupload(self, repo: FakeRepo, file: dict) -> dict:
        sample = base64.b64decode(file["sample"])
        lfs = file["size"] > LFS_THRESHOLD or b"\0" in sample or any(fnmatch.fnmatch(file["path"], p) or fnmatch.fnmatch(file["path"].rsplit("/", 1)[-1], p) for p in repo.lfs_patterns())
        existing = repo.files.get(file["path"])
        oid = None
        if existing is not None:
            oid = hashlib.sha256(existing).hexdigest() if lfs else hashlib.sha1(b"blob %d\0" % len(existing) + existing).hexdigest()
        return {"path": file["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid}

    def lfs_batch(self, org: str, name: str, payload: dict) -> tuple[int, dict]:
        if payload.get("operation") != "upload" or "basic" not in payload.get("transfers", []) or payload.get("hash_algo") != "sha256":
            raise Refused(422, f"unsupported LFS batch request {payload}")
        objects = []
        for obj in payload["objects"]:
            if obj["oid"] in self.objects:
                objects.append({"oid": obj["oid"], "size": obj["size"]})  # already held: nothing to upload
                continue
            objects.append({
                "oid": obj["oid"], "size": obj["size"], "authenticated": True,
                "actions": {
                    "upload": {"href": f"{self.endpoint}/lfs-upload/{obj['oid']}/{obj['size']}", "header": {}},
                    "verify": {"href": f"{self.endpoint}/datasets/{org}/{name}.git/info/lfs/objects/verify", "header": {}},
                },
            })
        return 200, {"transfer": "basic", "objects": objects, "hash_algo": "sha256"}

    def lfs_upload(self, rest: str, body: bytes) -> tuple[int, dict]:
        oid, size = rest.split("/")
        if len(body) != int(size) or hashlib.sha256(body).hexdigest() != oid:
            raise Refused(400, f"uploaded bytes do not match: expected sha256 {oid} and {size} bytes, got {hashlib.sha256(body).hexdigest()} and {len(body)}")
        self.objects[oid] = body
        return 200, {}

    def lfs_verify(self, payload: dict) -> tuple[int, dict]:
        data = self.objects.get(payload["oid"])
        if data is None or len(data) != payload["size"]:
            raise Refused(404, f"object {payload['oid']} of {payload['size']} bytes was not uploaded")
        return 200, {}

    def commit(self, org: str, name: str, repo: FakeRepo, revision: str, body: bytes) -> tuple[int, dict]:
        if revision != "main":
            raise Refused(404, f"this fake commits to main only, not {revision!r}")
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        header = lines[0]["value"]
        if header.get("parentCommit") not in (None, repo.head):
            raise Refused(412, "A commit has happened since. Please refresh and try again.")
        add: dict[str, bytes] = {}
        delete: list[str] = []
        lfs: set[str] = set()
        current = set(repo.files)
        for line in lines[1:]:
            value = line["value"]
            if line["key"] == "file":
                add[value["path"]] = base64.b64decode(value["content"])
            elif line["key"] == "lfsFile":
                data = self.objects.get(value["oid"])
                if value.get("algo") != "sha256" or data is None or len(data) != value.get("size", len(data)):
                    raise Refused(422, f"lfsFile {value['path']}: no uploaded object {value.get('oid')} of {value.get('size')} bytes")
                add[value["path"]] = data
                lfs.add(value["path"])
            elif line["key"] in ("deletedFile", "deletedFolder"):
                gone = value["path"].rstrip("/")
                if line["key"] == "deletedFile" and gone not in current:
                    raise Refused(404, "A file with this name doesn't exist")
                delete.append(gone)
            else:
                raise Refused(400, f"unknown commit operation {line['key']!r}")
        self.commit_payloads.append(lines)
        message = header["summary"] + (f"\n\n{header['description']}" if header.get("description") else "")
        oid = repo.commit(add, delete, message)
        repo.lfs_paths = (repo.lfs_paths - set(delete) - set(add)) | lfs
        return 200, {"commitUrl": f"{self.endpoint}/datasets/{org}/{name}/commit/{oid}", "commitOid": oid, "pullRequestUrl": None}
