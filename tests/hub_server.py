"""A small in-memory Hugging Face Hub API server on 127.0.0.1, for offline tests.

It answers the routes huggingface_hub uses to create repositories and branches, commit and tag files, describe
repositories and download files. Uploads always take the "regular" (inline) mode, so no LFS or Xet
server is needed. Repositories live in memory; each commit stores a full snapshot of the files.
Dataset repositories (``repo_type="dataset"``) are served under ``/datasets/`` and ``/api/datasets/``;
files marked as LFS carry the Hub's ``X-Linked-Etag`` (their sha256) and ``X-Linked-Size``; downloads
honour ``Range: bytes=N-``; and `FakeHub.interrupt` drops the connection of one download mid-transfer.
"""

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse


def _git_blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    """Commits (sha -> files), branches and tags of one repository."""

    repo_id: str
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    lfs: set[str] = field(default_factory=set)
    private: bool = False

    def resolve(self, revision: str) -> str | None:
        revision = unquote(revision)
        if revision in self.refs:
            return self.refs[revision]
        return revision if revision in self.commits else None

    def commit(self, files: dict[str, bytes], deleted: list[str], branch: str = "main") -> str:
        parent = self.refs.get(branch)
        snapshot = dict(self.commits[parent]) if parent else {}
        for path in deleted:
            for name in [p for p in snapshot if p == path or p.startswith(path.rstrip("/") + "/")]:
                del snapshot[name]
        snapshot.update(files)
        sha = hashlib.sha1(
            repr((parent, sorted((k, _git_blob_sha(v)) for k, v in snapshot.items()))).encode()
        )
        sha_hex = sha.hexdigest()
        self.commits[sha_hex] = snapshot
        self.refs[branch] = sha_hex
        return sha_hex


class FakeHub:
    """Server state plus the HTTP server thread; use as a context manager."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.lock = threading.Lock()
        self.requests: list[str] = []
        self.ranges: list[str] = []
        # path -> bytes to send of its next GET before the connection drops
        self.interrupt: dict[str, int] = {}
        # paths served with their first byte changed (their etag and size stay those of the file)
        self.corrupt: set[str] = set()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add_files(
        self,
        repo_id: str,
        files: dict[str, bytes],
        branch: str = "main",
        repo_type: str = "model",
        lfs: bool = False,
    ) -> str:
        """Create the repository if needed and commit `files`; return the commit sha.

        `repo_type` "dataset" puts it among the dataset repositories; `lfs` serves the files as LFS files.
        """
        key = repo_id if repo_type == "model" else f"{repo_type}s/{repo_id}"
        with self.lock:
            repo = self.repos.setdefault(key, Repo(repo_id))
            if lfs:
                repo.lfs |= set(files)
            return repo.commit(files, [], branch)

    def __enter__(self) -> "FakeHub":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler_for(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            hub.requests.append(f"{self.command} {self.path}")

        # --- plumbing -------------------------------------------------------------------------
        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().strip(), 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _send(
            self,
            status: int,
            payload: object = None,
            headers: dict[str, str] | None = None,
            raw: bytes | None = None,
        ) -> None:
            data = raw if raw is not None else json.dumps(payload if payload is not None else {}).encode()
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            if raw is None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _send_file(self, data: bytes, headers: dict[str, str], path: str) -> None:
            """A file, from the start of a ``Range: bytes=N-`` request, cut short if interrupted."""
            start = 0
            if self.command == "GET" and (wanted := self.headers.get("Range")):
                hub.ranges.append(wanted)
                start = int(re.fullmatch(r"bytes=(\d+)-", wanted)[1])  # type: ignore[index]
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            cut = hub.interrupt.pop(path, None) if self.command == "GET" else None
            self.send_response(206 if start else 200)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            if path in hub.corrupt:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            if self.command == "GET":
                self.wfile.write(data[start:] if cut is None else data[start : start + cut])
            if cut is not None:
                self.wfile.flush()
                self.close_connection = True

        def _error(self, status: int, code: str, message: str) -> None:
            self._send(status, {"error": message}, {"X-Error-Code": code, "X-Error-Message": message})

        def _repo(self, repo_id: str) -> Repo | None:
            repo = hub.repos.get(getattr(self, "kind", "") + repo_id)
            if repo is None:
                self._error(404, "RepoNotFound", f"Repository {repo_id} not found")
            return repo

        def _info(self, repo: Repo, sha: str) -> dict:
            files = repo.commits[sha]
            return {
                "id": repo.repo_id,
                "modelId": repo.repo_id,
                "sha": sha,
                "private": repo.private,
                "tags": [],
                "siblings": [{"rfilename": p, "size": len(b)} for p, b in sorted(files.items())],
            }

        # --- routes ---------------------------------------------------------------------------
        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            url = urlparse(self.path)
            path = unquote(url.path)
            self.kind = ""
            if m := re.fullmatch(r"/(api/)?datasets/(.+)", path):
                self.kind, path = "datasets/", f"/{'api/models/' if m[1] else ''}{m[2]}"
            with hub.lock:
                if m := re.fullmatch(r"/(?:api/)?(?:models/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path):
                    repo = self._repo(m[1])
                    if repo is None:
                        return
                    sha = repo.resolve(m[2])
                    if sha is None:
                        return self._error(404, "RevisionNotFound", f"Revision {m[2]} not found")
                    data = repo.commits[sha].get(m[3])
                    if data is None:
                        return self._error(404, "EntryNotFound", f"{m[3]} not found")
                    headers = {"X-Repo-Commit": sha, "ETag": f'"{_git_blob_sha(data)}"'}
                    if m[3] in repo.lfs:
                        headers["X-Linked-Etag"] = f'"{hashlib.sha256(data).hexdigest()}"'
                        headers["X-Linked-Size"] = str(len(data))
                    return self._send_file(data, headers, m[3])
                if m := re.fullmatch(r"/api/models/([^/]+/[^/]+)/tree/([^/]+)(?:/(.*))?", path):
                    repo = self._repo(m[1])
                    if repo is None:
                        return
                    sha = repo.resolve(m[2])
                    if sha is None:
                        return self._error(404, "RevisionNotFound", f"Revision {m[2]} not found")
                    prefix = (m[3] or "").strip("/")
                    entries = [
                        {"type": "file", "path": p, "size": len(b), "oid": _git_blob_sha(b)}
                        for p, b in sorted(repo.commits[sha].items())
                        if not prefix or p.startswith(prefix + "/")
                    ]
                    return self._send(200, entries)
                if m := re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/revision/(.+))?", path):
                    repo = self._repo(m[1])
                    if repo is None:
                        return
                    sha = repo.resolve(m[2] or "main")
                    if sha is None:
                        return self._error(404, "RevisionNotFound", f"Revision {m[2]} not found")
                    return self._send(200, self._info(repo, sha))
                if path == "/api/models":
                    query = parse_qs(url.query)
                    author = (query.get("author") or [None])[0]
                    search = (query.get("search") or [""])[0]
                    found = [
                        self._info(repo, repo.refs["main"])
                        for repo_id, repo in sorted(hub.repos.items())
                        if "main" in repo.refs
                        and (author is None or repo_id.split("/")[0] == author)
                        and search in repo_id
                    ]
                    return self._send(200, found)
            self._error(404, "NotFound", f"no route for GET {path}")

        def do_POST(self) -> None:
            path = unquote(urlparse(self.path).path)
            body = self._body()
            with hub.lock:
                if path == "/api/repos/create":
                    spec = json.loads(body or b"{}")
                    repo_id = f"{spec.get('organization') or 'user'}/{spec['name']}"
                    if repo_id in hub.repos:
                        return self._send(
                            409, {"error": "already exists", "url": f"{hub.endpoint}/{repo_id}"}
                        )
                    hub.repos[repo_id] = Repo(
                        repo_id, private=spec.get("visibility") == "private" or bool(spec.get("private"))
                    )
                    return self._send(200, {"url": f"{hub.endpoint}/{repo_id}", "name": repo_id})
                if path == "/api/validate-yaml":
                    return self._send(200, {"errors": [], "warnings": []})
                if m := re.fullmatch(r"/api/models/([^/]+/[^/]+)/preupload/(.+)", path):
                    files = json.loads(body).get("files", [])
                    answer = [
                        {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None}
                        for f in files
                    ]
                    return self._send(200, {"files": answer})
                if m := re.fullmatch(r"/api/models/([^/]+/[^/]+)/commit/(.+)", path):
                    repo = self._repo(m[1])
                    if repo is None:
                        return
                    added: dict[str, bytes] = {}
                    deleted: list[str] = []
                    for line in body.decode().splitlines():
                        if not line.strip():
                            continue
                        item = json.loads(line)
                        value = item["value"]
                        if item["key"] == "file":
                            added[value["path"]] = base64.b64decode(value["content"])
                        elif item["key"] in ("deletedFile", "deletedFolder"):
                            deleted.append(value["path"])
                        elif item["key"] == "lfsFile":
                            return self._error(
                                400, "LfsUnsupported", "this test hub takes regular uploads only"
                            )
                    sha = repo.commit(added, deleted, unquote(m[2]))
                    url = f"{hub.endpoint}/{repo.repo_id}/commit/{sha}"
                    return self._send(200, {"commitUrl": url, "commitOid": sha, "pullRequestUrl": None})
                if m := re.fullmatch(r"/api/models/([^/]+/[^/]+)/branch/(.+)", path):
                    repo = self._repo(m[1])
                    if repo is None:
                        return
                    if m[2] in repo.refs:
                        return self._send(409, {"error": f"branch {m[2]} already exists"})
                    start = (json.loads(body or b"{}") or {}).get("startingPoint") or "main"
                    sha = repo.resolve(start)
                    if sha is None and repo.commits:
                        return self._error(404, "RevisionNotFound", f"Revision {start} not found")
                    if sha is not None:  # a branch of an empty repository starts with its first commit
                        repo.refs[m[2]] = sha
                    return self._send(200, {})
                if m := re.fullmatch(r"/api/models/([^/]+/[^/]+)/tag/(.+)", path):
                    repo = self._repo(m[1])
                    if repo is None:
                        return
                    sha = repo.resolve(m[2])
                    if sha is None:
                        return self._error(404, "RevisionNotFound", f"Revision {m[2]} not found")
                    repo.refs[json.loads(body)["tag"]] = sha
                    return self._send(200, {})
            self._error(404, "NotFound", f"no route for POST {path}")

    return Handler
