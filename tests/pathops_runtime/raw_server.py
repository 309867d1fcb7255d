"""A loopback server that speaks bytes, not HTTP, for the clients' wire tests (log streams, the reader)."""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable


class RawServer:
    """A loopback server that speaks bytes, not HTTP: request n (counted across connections) gets
    `answer(n)`, the bytes sent as they are, then "keep" reading that connection, "close" it, "reset"
    it (closed at once: an RST, as a server drops an idle connection), or "hold" it open without
    reading further (a client that reuses it waits for nothing); or "trickle" the answer a byte at a
    time. `tls`: a server-side context, every
    connection then TLS."""

    def __init__(self, answer: Callable[[int], tuple[bytes, str]], tls: ssl.SSLContext | None = None) -> None:
        self.answer = answer
        self.tls = tls
        self.requests: list[bytes] = []  # each request head as it arrived
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self._listener.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._sockets.append(connection)
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        pending = b""
        with contextlib.suppress(OSError):
            if self.tls is not None:
                connection = self.tls.wrap_socket(connection, server_side=True, do_handshake_on_connect=False)
                with self._lock:
                    self._sockets.append(connection)
                connection.do_handshake()
            while data := connection.recv(65536):
                pending += data
                while (end := pending.find(b"\r\n\r\n")) >= 0:
                    head, pending = pending[:end + 4], pending[end + 4:]
                    with self._lock:
                        self.requests.append(head)
                        number = len(self.requests) - 1
                    answer, after = self.answer(number)
                    if after == "trickle":  # a byte every tenth of a second, each within any read timeout
                        for byte in answer:
                            connection.sendall(bytes([byte]))
                            time.sleep(0.1)
                        return
                    connection.sendall(answer)
                    if after == "reset":
                        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    if after in ("close", "reset"):
                        connection.close()
                    if after != "keep":
                        return

    def __enter__(self) -> RawServer:
        return self

    def __exit__(self, *_: object) -> None:
        self._listener.close()
        with self._lock:
            for connection in self._sockets:
                connection.close()


