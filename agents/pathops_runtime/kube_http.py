"""GETs to the Kubernetes API server on kept-alive connections, answers parsed by `http_answer`.

`KubeReader`'s transport (the log streams have an event loop of their own, `log_streams`): a
request takes a kept connection or opens one (TLS from the `KubeConnection`'s context), sends the
GET and reads the answer's head; the caller reads the body as it arrives (`Answer.read`), and the
connection is kept for the next request only when its answer was read to its end and
`http_answer` says it may carry another (`Answer.release`). At most `keep` idle connections are
kept: one per thread that may be in flight, so none is opened only to be closed when it comes back.

Every socket operation (connect, TLS handshake, send, each read) is bounded by the request's
`timeout`, and none waits past its `until` (the caller's deadline): a server trickling its answer a
byte at a time, each within the timeout, is cut off there (TimeoutError). A kept connection
the server closed while it was idle is not used (anything readable on an idle connection means
that, or garbage), and a request whose kept connection is closed before a byte of answer came is sent
once more on a new one: the server may close an idle connection at any moment, as kube-apiserver does
(one silent until the timeout is not: sent again, the request would wait as long again).

Not urllib3: the rest of a collector run never needs it, and importing it (its URL patterns,
http.client, the email parser) took about 40 ms of every start, before the first request.
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
import time
from urllib.parse import urlsplit

from pathops_contracts.errors import InvalidInput
from pathops_runtime.http_answer import Answer, MalformedAnswer, RequestHead
from pathops_runtime.kube_connection import KubeConnection

READ_SIZE = 64 * 1024

__all__ = ["ApiAnswer", "ApiConnections", "MalformedAnswer"]


class ApiConnections:
    """Connections to one API server, kept alive between requests (thread-safe)."""

    def __init__(self, connection: KubeConnection, keep: int) -> None:
        self._idle: list[socket.socket] = []  # first: __del__ runs even when the rest raises
        self._lock = threading.Lock()
        url = urlsplit(connection.server)
        try:
            port = url.port
        except ValueError as error:  # out of range, not a number (said without the URL: it may hold a password)
            raise InvalidInput(f"no usable Kubernetes configuration: the server's port is not one ({error})"
                               ) from None
        self.connection = connection
        self.keep = keep
        self.opened = 0  # connections opened so far
        self._netloc = url.netloc
        self._path = url.path  # before every target (an API behind a proxy)
        self._host = url.hostname or ""
        self._port = port or (443 if url.scheme == "https" else 80)
        self._tls = connection.ssl_context if url.scheme == "https" else None
        self._server_name = (connection.tls_server_name or self._host) if self._tls is not None else None
        self._head: RequestHead | None = None

    def request_head(self) -> RequestHead:
        """The GET's bytes but the target: InvalidInput when a header cannot be sent as it is (checked once)."""
        if self._head is None:
            self._head = RequestHead(self._netloc, self.connection.headers(), self._path)
        return self._head

    def get(self, target: str, timeout: float, until: float | None = None) -> ApiAnswer:
        """GET `target` (path and query, encoded): the answer with its head read, its body still to read
        (`ApiAnswer.read`). `until`: a time.monotonic() instant no read of this answer waits past.

        OSError (timeouts, refused and broken connections, TLS errors) or MalformedAnswer when no answer
        came; MalformedRequest (before anything is sent) when `target` is not one."""
        request = self.request_head().get(target)
        bound = _Bound(timeout, until)
        kept = self._take()
        if kept is not None:
            answer = self._exchange(kept, request, bound, kept=True)
            if answer is not None:
                return answer
            # The server closed it as we sent (it may close an idle connection at any moment): no byte
            # of an answer came, so the request is sent again, once, on a new connection.
        answer = self._exchange(self._open(bound), request, bound, kept=False)
        assert answer is not None
        return answer

    def _take(self) -> socket.socket | None:
        """A kept connection still open and silent, or None."""
        while True:
            with self._lock:
                if not self._idle:
                    return None
                sock = self._idle.pop()
            if _quiet(sock):
                return sock
            sock.close()  # closed by the server, or it sent something nobody asked for

    def _open(self, bound: _Bound) -> socket.socket:
        sock = _connect(self._host, self._port, bound)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                sock.settimeout(bound.seconds())  # what the connect left: the handshake is one more wait
                sock = self._tls.wrap_socket(sock, server_hostname=self._server_name)
        except BaseException:
            sock.close()
            raise
        with self._lock:
            self.opened += 1
        return sock

    def _exchange(self, sock: socket.socket, request: bytes, bound: _Bound, kept: bool) -> ApiAnswer | None:
        """The answer's head; None when a `kept` connection failed before a byte of it came. Not when it timed
        out: a server silent that long is slow, not gone, and the request sent again would wait as long again."""
        answer = Answer()
        received = False
        try:
            sock.settimeout(bound.seconds())
            sock.sendall(request)
            while not answer.head_done:  # 1xx answers are skipped by the parser
                data = _read(sock, bound)
                received = received or bool(data)  # before it is parsed: garbage is a byte of answer too
                answer.take(data)
        except (OSError, MalformedAnswer) as error:
            sock.close()
            if kept and not received and not isinstance(error, TimeoutError):
                return None
            raise
        except BaseException:
            sock.close()
            raise
        return ApiAnswer(self, sock, answer, bound)

    def _give_back(self, sock: socket.socket) -> None:
        with self._lock:
            if len(self._idle) < self.keep:
                self._idle.append(sock)
                return
        sock.close()

    def close(self) -> None:
        """Close every kept connection (those in use close as their answers are let go)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for sock in idle:
            sock.close()

    __del__ = close  # a reader let go closes what it kept, as urllib3's pool did


class ApiAnswer:
    """One answer: status, reason, Retry-After and declared length known; the body read with `read`."""

    def __init__(self, connections: ApiConnections, sock: socket.socket, answer: Answer, bound: _Bound) -> None:
        self._connections = connections
        self._bound = bound
        self._sock: socket.socket | None = sock
        self._answer = answer
        self.status = answer.status
        self.reason = answer.reason.decode("latin-1", "replace").strip()
        self.retry_after = answer.retry_after
        self.length = answer.content_length  # as declared (Content-Length), or None

    def read(self) -> bytes:
        """The next bytes of the body as they arrive; b"" at its end. OSError or MalformedAnswer if it
        breaks off (the connection is then closed), TimeoutError past the request's timeout or `until`."""
        answer = self._answer
        while not answer.chunks:
            if answer.complete or self._sock is None:
                return b""
            try:
                answer.take(_read(self._sock, self._bound))
            except BaseException:
                self.close()
                raise
        chunks = answer.chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        return data

    def release(self) -> None:
        """Done with it: the connection is kept if the answer was read to its end and may carry the next
        request, else closed."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        if self._answer.complete and self._answer.reusable:
            self._connections._give_back(sock)
        else:
            sock.close()

    def close(self) -> None:
        """Done with it, the rest unread: the connection is closed."""
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()


class _Bound:
    """How long the next socket operation of a request may wait: its timeout, and never past `until`."""

    def __init__(self, timeout: float, until: float | None) -> None:
        self.timeout = timeout
        self.until = until

    def seconds(self) -> float:
        if self.until is None:
            return self.timeout
        left = self.until - time.monotonic()
        if left <= 0:
            raise TimeoutError("the deadline passed while the API answered")
        return min(self.timeout, left)


def _connect(host: str, port: int, bound: _Bound) -> socket.socket:
    """socket.create_connection, each address given only what the bound leaves: create_connection gives each
    the whole timeout, so a name with several addresses, the first not answering, was waited on past `until`."""
    failure: OSError | None = None
    for family, kind, protocol, _, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        seconds = bound.seconds()  # TimeoutError once the deadline passed: no further address is tried
        sock = socket.socket(family, kind, protocol)
        try:
            sock.settimeout(seconds)
            sock.connect(address)
        except BaseException as error:
            sock.close()
            if not isinstance(error, OSError):
                raise
            failure = error
            continue
        return sock
    raise failure or OSError(f"no address found for {host}")


def _read(sock: socket.socket, bound: _Bound) -> bytes:
    """What arrives next, b"" once the server closed the connection."""
    if bound.until is not None:
        sock.settimeout(bound.seconds())
    return sock.recv(READ_SIZE)


def _quiet(sock: socket.socket) -> bool:
    """Whether an idle connection is still open with nothing to read (as urllib3 checks a pooled one)."""
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return False
    poller = select.poll()
    try:
        poller.register(sock, select.POLLIN)
        return not poller.poll(0)
    except (OSError, ValueError):  # closed already
        return False
