"""HTTP/1.1 on the wire for the log streams: a GET's bytes, and an answer parsed as it arrives.

No socket here: `RequestHead` makes the bytes of a GET, `Answer` is fed the bytes read and says
what they hold. Answers are parsed by httptools (llhttp, as uvicorn and Node.js use it): a request
and its answer (a 4 KB chunked log) cost about 6 µs of CPU here, where h11 took 70 to 85.

What goes out is checked first, since it is sent as is: a header name that is not an HTTP token,
a header value with a control character (CR, LF or NUL would start another header: a kubeconfig
token with a trailing line break must not become a header injection), a target with a space, a
control or a non-ASCII character: refused with one clear line that never quotes a header's value.

What comes in is bounded and framed strictly: a status line and headers longer than MAX_HEAD
are malformed, and so is as much of anything else that carries no body (chunk extensions,
trailers: their bytes are held until they end); 1xx informational answers are skipped; a body
ends at its Content-Length, its last chunk, or (neither given) when the server closes the
connection. An answer leaves its connection reusable only when read to its end, the server did
not say `Connection: close` (nor answered HTTP/1.0 without keep-alive), the body was not
delimited by the close, and nothing came after its end in the same read (a server that sends more
than it was asked for is not trusted with the next request).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import httptools

from pathops_contracts.errors import InvalidInput

MAX_HEAD = 64 * 1024  # bytes of status line and headers, 1xx answers included
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_KEPT = frozenset({b"content-length", b"transfer-encoding", b"retry-after"})  # the headers read here
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # every control character but the horizontal tab


class MalformedAnswer(Exception):
    """What the server sent is not an HTTP/1.1 answer (or ended before its end)."""


class MalformedRequest(ValueError):
    """A target that cannot go on the wire as it is (it would change the request's meaning)."""


def check_headers(headers: Mapping[str, str]) -> None:
    """InvalidInput, naming the header but never quoting its value, unless each can be sent as is."""
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name):
            raise InvalidInput(f"refused to send a request header named {name[:40]!r}: not an HTTP header name")
        if _CONTROL.search(value) or (not value.isascii() and not _latin1(value)):
            raise InvalidInput(f"refused to send the {name} header: its value holds a line break, another "
                               "control character or a character HTTP cannot carry (a kubeconfig token with "
                               "a trailing newline?)")


def _latin1(value: str) -> bool:
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


class RequestHead:
    """The bytes of a GET with these headers, for any target; the headers are checked once, here."""

    def __init__(self, host: str, headers: Mapping[str, str], prefix: str = "") -> None:
        """`host`: the server URL's netloc; a user and password in it are no part of the Host header.
        `prefix`: the server URL's path, before every target (an API behind a proxy: Rancher's
        /k8s/clusters/<id>); InvalidInput if it is not an encoded path."""
        fields = {"Host": host.rpartition("@")[2], **headers}
        check_headers(fields)
        self._fields = "".join(f"{name}: {value}\r\n" for name, value in fields.items()).encode("latin-1") + b"\r\n"
        self._prefix = prefix.rstrip("/")
        if self._prefix and not _target(self._prefix):
            raise InvalidInput("the API server's URL path is not an encoded path (no spaces, controls or non-ASCII)")

    def get(self, target: str) -> bytes:
        """GET `target` (path and query, encoded); MalformedRequest if it is not one."""
        if not _target(target):
            raise MalformedRequest(f"refused to request {target[:200]!r}: a request target is an encoded path "
                                   "and query, without spaces or control characters")
        return b"GET " + (self._prefix + target).encode("ascii") + b" HTTP/1.1\r\n" + self._fields


def _target(text: str) -> bool:
    return text.startswith("/") and text.isascii() and text.isprintable() and " " not in text


class Answer:
    """One answer, fed as it arrives: its status and reason, Retry-After, the body's chunks, how it ended.

    httptools calls the `on_*` methods from `feed`; the caller reads the fields between feeds.
    """

    def __init__(self) -> None:
        self.status = 0
        self.reason = b""
        self.retry_after: str | None = None
        self.chunks: list[bytes] = []
        self.received = 0  # bytes of body so far
        self.head_done = False  # the final (not 1xx) answer's status line and headers are in
        self.complete = False  # the body ended where its framing says
        self.reusable = False  # complete, kept alive by the server, nothing after its end
        self._parser: httptools.HttpResponseParser | None = httptools.HttpResponseParser(self)
        self._framing = 0  # bytes fed since body bytes last came: bounds a head or a trailer that never ends
        self._head_size = 0  # bytes of status line and headers: bounds a head that ends
        self._headers: dict[bytes, str] = {}
        self._informational = False
        self._until_close = False  # no Content-Length, not chunked: the body ends when the server closes

    @property
    def content_length(self) -> int | None:
        """The body's length as the head declares it (Content-Length), or None."""
        declared = self._headers.get(b"content-length", "")
        return int(declared) if declared.isdigit() else None

    def feed(self, data: bytes) -> None:
        """Bytes read from the connection; MalformedAnswer if they do not continue an HTTP answer."""
        parser = self._parser
        if parser is None:  # complete already: these came after its end
            self.reusable = False
            return
        before = self.received
        try:
            parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as error:
            if not self.complete:
                if isinstance(error.__context__, MalformedAnswer):  # raised by a callback of ours
                    raise error.__context__ from None
                reason = "101 Switching Protocols" if isinstance(error, httptools.HttpParserUpgrade) else error
                raise MalformedAnswer(f"malformed HTTP answer: {reason}") from None
            self.reusable = False  # something after the end of the answer
        if self.received > before:
            self._framing = 0
        else:
            self._framing += len(data)
            if self._framing > MAX_HEAD:
                raise MalformedAnswer(f"malformed HTTP answer: more than {MAX_HEAD} bytes of status line, headers "
                                      "or chunk framing without a byte of body")
        if self.complete:
            self._parser = None  # parser and answer refer to each other: let both go when done

    def take(self, data: bytes) -> None:
        """What one read of the connection returned: its bytes (`feed`), or b"" once the server closed it
        (`end_of_stream`)."""
        if data:
            self.feed(data)
        else:
            self.end_of_stream()

    def end_of_stream(self) -> None:
        """The server closed the connection: the end of a body delimited by the close, else MalformedAnswer."""
        if self.complete:
            return
        if not (self.head_done and self._until_close):
            raise MalformedAnswer("the API server closed the connection before the end of its answer")
        self.complete = True
        self.reusable = False
        self._parser = None

    # httptools' callbacks
    def on_message_begin(self) -> None:
        if self.complete:  # a second answer, or garbage, after the end of this one: stop parsing
            raise MalformedAnswer("bytes after the end of the answer")
        self._headers = {}
        self.reason = b""

    def on_status(self, reason: bytes) -> None:
        self.reason += reason
        self._head_size += len(reason)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4
        key = name.lower()
        if key in _KEPT:
            earlier = self._headers.get(key)
            text = value.decode("latin-1").strip()
            self._headers[key] = text if earlier is None else f"{earlier}, {text}"

    def on_headers_complete(self) -> None:
        assert self._parser is not None
        if self._head_size > MAX_HEAD:
            raise MalformedAnswer(f"malformed HTTP answer: status line and headers longer than {MAX_HEAD} bytes")
        status = self._parser.get_status_code()
        if 100 <= status < 200:
            self._informational = True  # 100 Continue, 103 Early Hints: the answer is still to come
            return
        self.status = status
        self.head_done = True
        self.retry_after = self._headers.get(b"retry-after")
        coding = self._headers.get(b"transfer-encoding", "")
        chunked = coding.rsplit(",", 1)[-1].strip().lower() == "chunked"
        self._until_close = not chunked and b"content-length" not in self._headers and status not in (204, 304)

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.received += len(body)

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        assert self._parser is not None
        self.complete = True
        self.reusable = self._parser.should_keep_alive() and not self._until_close
