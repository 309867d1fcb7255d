"""Git over HTTP for bare repositories: `git http-backend` behind a WSGI app with token auth.

Stands in for GitLab's git endpoint: clients authenticate with HTTP basic auth whose
password is the token (any user name), as GitLab accepts personal access tokens.
"""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path
from typing import Any

from werkzeug import Request, Response


class GitHttpBackend:
    """WSGI app serving every bare repository under root at /<path>.git."""

    def __init__(self, root: Path, token: str | None) -> None:
        self.root = root
        self.token = token
        self.pushes = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if self.token is not None and not self._authorized(request):
            response = Response("unauthorized", status=401, headers={"WWW-Authenticate": 'Basic realm="git"'})
            return response(environ, start_response)
        if request.path.endswith("/git-receive-pack"):
            self.pushes += 1
        cgi_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "REQUEST_METHOD": request.method,
            "PATH_INFO": request.path,
            "QUERY_STRING": request.query_string.decode(),
            "CONTENT_TYPE": request.content_type or "",
            "REMOTE_USER": "pathops",
            "REMOTE_ADDR": "127.0.0.1",
            "GIT_PROTOCOL": request.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": request.headers.get("Content-Encoding", ""),
        }
        result = subprocess.run(
            ["git", "http-backend"], input=request.get_data(), env=cgi_env, capture_output=True, check=False
        )
        head, _, body = result.stdout.partition(b"\r\n\r\n")
        status = 200
        headers: list[tuple[str, str]] = []
        for line in head.decode("latin-1").split("\r\n"):
            if not line:
                continue
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split(" ")[0])
            else:
                headers.append((name, value.strip()))
        return Response(body, status=status, headers=headers)(environ, start_response)

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        _, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return password == self.token

