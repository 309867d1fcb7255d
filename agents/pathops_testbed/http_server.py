"""Serve a WSGI app on 127.0.0.1 in a background thread, keeping HTTP/1.1 connections alive.

The systems the stand-ins play (kube-apiserver, GitLab, a control plane) keep HTTP/1.1
connections open between requests; werkzeug's own handler answers `Connection: close` to
every one, which would make each client pay a TCP connect per request and hide a client that
breaks its pooled connections. So the handler here frames every response itself (its
Content-Length, else chunked) and keeps the connection, except after a request that carried a
body (the app may have left part of it unread: the connection is closed, as werkzeug does), a
client asking for `Connection: close`, or an HTTP/1.0 client. `connections` counts the TCP
connections accepted, so a test can tell a client that reuses them from one that does not.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from werkzeug.exceptions import InternalServerError
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

_NO_BODY = {204, 304}


class _Connections:
    """The open connections of one server and how many were ever accepted."""

    def __init__(self) -> None:
        self.accepted = 0
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def opened(self, connection: socket.socket) -> None:
        with self._lock:
            self.accepted += 1
            self._open.add(connection)

    def closed(self, connection: socket.socket) -> None:
        with self._lock:
            self._open.discard(connection)

    def shut_all(self) -> None:
        """Wake every handler waiting for a next request on an idle connection: it reads EOF and ends."""
        with self._lock:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _KeepAliveHandler(WSGIRequestHandler):
    """HTTP/1.1 with persistent connections; no access log (the stand-ins record what they serve)."""

    protocol_version = "HTTP/1.1"
    # As Go's net/http (kube-apiserver) does: without it, a response's last small write (the end of a
    # chunked body) waits for the client's delayed ACK of the one before, ~40 ms on a kept connection.
    disable_nagle_algorithm = True
    tracker: _Connections

    def setup(self) -> None:
        super().setup()
        self.tracker.opened(self.connection)

    def finish(self) -> None:
        self.tracker.closed(self.connection)
        super().finish()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return

    def run_wsgi(self) -> None:
        environ = self.environ = self.make_environ()
        if self.headers.get("Content-Length", "0") not in {"", "0"} or self.headers.get("Transfer-Encoding"):
            self.close_connection = True  # the app may leave part of the body unread: no next request after it
        try:
            self._execute(self.server.app, environ, send_error_page=True)
        except (ConnectionError, TimeoutError) as error:
            self.close_connection = True
            self.connection_dropped(error, environ)

    def _execute(self, app: Any, environ: dict[str, Any], send_error_page: bool) -> None:
        response: dict[str, Any] = {"status": None, "headers": None, "sent": False, "chunked": False}

        def write(data: bytes) -> None:
            if not response["sent"]:
                self._send_head(response, environ)
            if data and response["chunked"]:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            elif data:
                self.wfile.write(data)

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
            if exc_info and response["sent"]:
                raise exc_info[1].with_traceback(exc_info[2])
            response["status"], response["headers"] = status, headers
            return write

        try:
            body: Iterable[bytes] = app(environ, start_response)
            try:
                for data in body:
                    write(data)
                if not response["sent"]:
                    write(b"")
                if response["chunked"]:
                    self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()
        except (ConnectionError, TimeoutError):
            raise
        except Exception as error:  # noqa: BLE001 - the app failed: a 500 if nothing was sent, else a cut connection
            self.close_connection = True
            if response["sent"] or not send_error_page:
                return
            self.server.log("error", f"Error on request: {error!r}")
            self._execute(InternalServerError(), environ, send_error_page=False)

    def _send_head(self, response: dict[str, Any], environ: dict[str, Any]) -> None:
        code_text, _, reason = str(response["status"]).partition(" ")
        code = int(code_text)
        self.send_response(code, reason)
        names = set()
        for name, value in response["headers"]:
            if name.lower() == "connection":
                continue
            self.send_header(name, value)
            names.add(name.lower())
        bodiless = environ["REQUEST_METHOD"] == "HEAD" or 100 <= code < 200 or code in _NO_BODY
        if "content-length" not in names and not bodiless:
            if self.request_version >= "HTTP/1.1":
                response["chunked"] = True
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.close_connection = True  # an HTTP/1.0 client reads the body until the connection ends
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        response["sent"] = True


class BackgroundServer:
    """A threaded werkzeug server on a free loopback port; use as a context manager."""

    def __init__(self, app: Any) -> None:
        tracker = self._connections = _Connections()

        class Handler(_KeepAliveHandler):
            pass

        Handler.tracker = tracker
        self._server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def connections(self) -> int:
        """TCP connections accepted so far."""
        return self._connections.accepted

    def start(self) -> BackgroundServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)
        self._server.server_close()
        self._connections.shut_all()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
