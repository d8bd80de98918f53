"""A fake Hugging Face Hub: a local HTTP server on 127.0.0.1 that answers the few API routes
``khabar publish`` uses, keeps each repository's files, commits and tags in memory, and records
every request. It stands in for the real Hub, which cannot be reached from here; the client that
talks to it is huggingface_hub's real ``HfApi`` over its real HTTP stack.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class FakeRepo:
    files: dict[str, bytes] = field(default_factory=lambda: {".gitattributes": b"*.parquet filter=lfs diff=lfs merge=lfs -text\n"})
    commits: list[str] = field(default_factory=lambda: ["0" * 40])
    tags: dict[str, str] = field(default_factory=dict)


class FakeHub:
    def __init__(self) -> None:
        self.repos: dict[str, FakeRepo] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path)
        self.commit_payloads: list[list[dict]] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _send(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))

            def do_GET(self) -> None:
                hub._route(self, "GET", b"")

            def do_POST(self) -> None:
                hub._route(self, "POST", self._body())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def calls(self) -> list[str]:
        """The requests as route names, in order."""
        names = []
        for _method, path in self.requests:
            parts = path.split("/")
            names.append("create_repo" if path == "/api/repos/create" else "validate_yaml" if path == "/api/validate-yaml" else parts[5] if len(parts) > 5 else path)
        return names

    def _route(self, handler, method: str, body: bytes) -> None:
        path = urlsplit(handler.path).path
        self.requests.append((method, path))
        if path == "/api/repos/create":
            payload = json.loads(body)
            repo_id = f"{payload['organization']}/{payload['name']}" if payload.get("organization") else payload["name"]
            if repo_id in self.repos:
                return handler._send(409, {"error": "You already created this dataset repo", "url": f"{self.endpoint}/datasets/{repo_id}"})
            self.repos[repo_id] = FakeRepo()
            return handler._send(200, {"url": f"{self.endpoint}/datasets/{repo_id}"})
        if path == "/api/validate-yaml":
            return handler._send(200, {"errors": [], "warnings": []})
        parts = path.split("/")  # ['', 'api', 'datasets', org, name, route, revision...]
        if len(parts) < 6:
            return handler._send(404, {"error": f"no route {path}"})
        repo = self.repos.get(f"{parts[3]}/{parts[4]}")
        if repo is None:
            return handler._send(404, {"error": "Repository not found"})
        route = parts[5]
        if route == "refs":
            return handler._send(200, {
                "branches": [{"name": "main", "ref": "refs/heads/main", "targetCommit": repo.commits[-1]}],
                "converts": [],
                "tags": [{"name": t, "ref": f"refs/tags/{t}", "targetCommit": c} for t, c in sorted(repo.tags.items())],
            })
        if route == "tree":
            return handler._send(200, [{"type": "file", "path": p, "size": len(b), "oid": hashlib.sha1(b).hexdigest()} for p, b in sorted(repo.files.items())])
        if route == "preupload":
            files = json.loads(body)["files"]
            return handler._send(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]})
        if route == "commit":
            lines = [json.loads(line) for line in body.splitlines() if line.strip()]
            self.commit_payloads.append(lines)
            header = lines[0]["value"]
            if header.get("parentCommit") not in (None, repo.commits[-1]):
                return handler._send(412, {"error": "A commit has happened since. Please refresh and try again."})
            for line in lines[1:]:
                if line["key"] == "file":
                    repo.files[line["value"]["path"]] = base64.b64decode(line["value"]["content"])
                elif line["key"] == "deletedFile":
                    del repo.files[line["value"]["path"]]
            oid = hashlib.sha1(f"{len(repo.commits)}{header['summary']}".encode()).hexdigest()
            repo.commits.append(oid)
            return handler._send(200, {"commitUrl": f"{self.endpoint}/datasets/{parts[3]}/{parts[4]}/commit/{oid}", "commitOid": oid})
        if route == "tag":
            payload = json.loads(body)
            if payload["tag"] in repo.tags:
                return handler._send(409, {"error": "Tag already exists"})
            repo.tags[payload["tag"]] = parts[6]
            return handler._send(200, {})
        return handler._send(404, {"error": f"no route {path}"})
