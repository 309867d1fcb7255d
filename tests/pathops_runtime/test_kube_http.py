"""The reader's own HTTP/1.1 client (`kube_http`) on the wire: kept connections, framing, TLS, failures.

Against loopback servers that send exact bytes (`RawServer`), as the log streams' wire tests do:
what the reader makes of each answer, and which connections it keeps, opens and never reuses.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pathops_contracts.errors import InvalidInput, UpstreamError
from pathops_runtime import kube_http
from pathops_runtime.kube_connection import KubeConnection
from pathops_runtime.kube_reader import DeadlineReached, KubeReader, NotFound, PageTooLarge, ReadForbidden
from pathops_testbed.kube_api import write_kubeconfig
from tests.pathops_runtime.raw_server import RawServer

NS = "shop"


def _ok(body: bytes, *headers: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\n" + b"".join(header + b"\r\n" for header in headers) + (
        b"Content-Length: %d\r\n\r\n" % len(body)) + body


def _pod(n: int) -> bytes:
    return json.dumps({"kind": "Pod", "metadata": {"name": f"pod-{n}", "namespace": NS}}).encode()


@pytest.fixture
def reader(tmp_path: Path) -> Callable[[str], KubeReader]:
    def connect(url: str) -> KubeReader:
        found = KubeReader.connect(str(write_kubeconfig(tmp_path / "kubeconfig", url, NS)), None, 1)
        found.backoff = 0.01
        found.request_timeout = 2
        return found
    return connect


def test_answers_are_read_whole_over_one_kept_connection(reader: Callable[[str], KubeReader]) -> None:
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    with RawServer(lambda n: ((_ok(_pod(n)) if n % 2 else chunked + b"%x\r\n%s\r\n0\r\n\r\n" % (
            len(_pod(n)), _pod(n))), "keep")) as server:
        client = reader(server.url)
        names = [client.get("pods", NS, f"pod-{n}")["metadata"]["name"] for n in range(4)]
        assert names == ["pod-0", "pod-1", "pod-2", "pod-3"]
        assert server.connections == 1 and len(server.requests) == 4
        head = server.requests[0].decode("latin-1")
        assert head.startswith(f"GET /api/v1/namespaces/{NS}/pods/pod-0 HTTP/1.1\r\n")
        assert "Authorization: Bearer fake-token\r\n" in head and f"Host: {server.url[7:]}\r\n" in head


def test_the_host_header_never_carries_the_servers_user_and_password(reader: Callable[[str], KubeReader]) -> None:
    # A server URL with userinfo: the request goes to its host, and the Host header names only that (as
    # urllib3 sent it), not "user:password@host", which every proxy and access log on the way would keep.
    with RawServer(lambda n: (_ok(_pod(n)), "keep")) as server:
        client = reader(server.url.replace("http://", "http://admin:hunter2@"))
        assert client.get("pods", NS, "pod-0")["metadata"]["name"] == "pod-0"
        assert f"\r\nHost: {server.url[7:]}\r\n" in server.requests[0].decode("latin-1")
        assert b"hunter2" not in server.requests[0]


def test_a_connection_the_server_closed_while_idle_is_not_used(reader: Callable[[str], KubeReader]) -> None:
    # The server answers, then resets the connection (as one closes an idle keep-alive connection).
    with RawServer(lambda n: (_ok(_pod(n)), "reset")) as server:
        client = reader(server.url)
        assert client.get("pods", NS, "pod-0")["metadata"]["name"] == "pod-0"
        time.sleep(0.1)
        assert client.get("pods", NS, "pod-1")["metadata"]["name"] == "pod-1"
        assert server.connections == 2 and len(server.requests) == 2  # no failed attempt on the dead one


def test_a_kept_connection_that_fails_before_any_answer_is_replaced_at_once(
        reader: Callable[[str], KubeReader], monkeypatch: pytest.MonkeyPatch) -> None:
    # The server closes it just after the idle check said it was open (a race no check can close).
    monkeypatch.setattr(kube_http, "_quiet", lambda _: True)
    with RawServer(lambda n: (_ok(_pod(n)), "close")) as server:
        client = reader(server.url)
        client.backoff = 5  # a failed attempt would wait this long
        client.get("pods", NS, "pod-0")
        started = time.monotonic()
        assert client.get("pods", NS, "pod-1")["metadata"]["name"] == "pod-1"
        assert time.monotonic() - started < 4  # no failed attempt's backoff
        assert server.connections == 2 and len(server.requests) == 2


@pytest.mark.parametrize(("answer", "after"), [(b"", "hold"), (b"SSH-2.0-OpenSSH_9.6\r\n", "close")],
                         ids=["silent", "not-http"])
def test_a_kept_connection_that_stays_silent_or_answers_garbage_is_not_sent_the_request_again(
        reader: Callable[[str], KubeReader], answer: bytes, after: str) -> None:
    # Only a kept connection closed before a byte of answer came is replaced at once (the server closed it
    # as we sent). One silent past the timeout is the server being slow: sent again, the request would wait
    # as long once more, and the API would serve it twice.
    with RawServer(lambda n: (_ok(_pod(n)), "keep") if n == 0 else (answer, after)) as server:
        client = reader(server.url)
        client.attempts = 1
        client.request_timeout = 0.5
        client.get("pods", NS, "pod-0")
        with pytest.raises(UpstreamError, match="unreachable"):
            client.get("pods", NS, "pod-1")
        assert len(server.requests) == 2 and server.connections == 1


@pytest.mark.parametrize("extra", [_ok(b"{}"), b"garbage\r\n\r\n"], ids=["answer", "garbage"])
def test_bytes_after_the_end_of_an_answer_are_not_taken_for_the_next_one(
        reader: Callable[[str], KubeReader], extra: bytes) -> None:
    with RawServer(lambda n: (_ok(_pod(n)) + (extra if n == 0 else b""), "keep")) as server:
        client = reader(server.url)
        assert [client.get("pods", NS, f"pod-{n}")["metadata"]["name"] for n in range(2)] == ["pod-0", "pod-1"]
        assert server.connections == 2 and len(server.requests) == 2


@pytest.mark.parametrize("closing", [_ok(_pod(0), b"Connection: close"),
                                     b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(_pod(0)), _pod(0)),
                                     b"HTTP/1.1 200 OK\r\n\r\n" + _pod(0)],
                         ids=["close", "http/1.0", "until-close"])
def test_an_answer_that_ends_its_connection_is_whole_and_the_next_request_opens_another(
        reader: Callable[[str], KubeReader], closing: bytes) -> None:
    with RawServer(lambda n: (closing, "close")) as server:
        client = reader(server.url)
        assert [client.get("pods", NS, "pod-0")["metadata"]["name"] for _ in range(2)] == ["pod-0", "pod-0"]
        assert server.connections == 2 and len(server.requests) == 2


def test_informational_answers_are_skipped(reader: Callable[[str], KubeReader]) -> None:
    informational = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
    with RawServer(lambda n: (informational + _ok(_pod(n)), "keep")) as server:
        client = reader(server.url)
        assert [client.get("pods", NS, f"pod-{n}")["metadata"]["name"] for n in range(2)] == ["pod-0", "pod-1"]
        assert server.connections == 1


def test_a_body_cut_short_is_an_upstream_error_and_its_connection_is_not_kept(
        reader: Callable[[str], KubeReader]) -> None:
    with RawServer(lambda n: ((b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{\"kind\"", "close") if n == 0
                              else (_ok(_pod(n)), "keep"))) as server:
        client = reader(server.url)
        with pytest.raises(UpstreamError, match="broke off"):
            client.get("pods", NS, "pod-0")
        assert client.get("pods", NS, "pod-1")["metadata"]["name"] == "pod-1"
        assert server.connections == 2


def test_a_page_larger_than_the_cap_is_cut_off_unread_and_its_connection_closed(
        reader: Callable[[str], KubeReader]) -> None:
    big = json.dumps({"items": [{"metadata": {"name": "x" * 50}}] * 2000, "metadata": {}}).encode()
    for declared in (True, False):
        answer = _ok(big) if declared else b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"".join(
            b"%x\r\n%s\r\n" % (len(part), part) for part in (big[i:i + 4096] for i in range(0, len(big), 4096)))
        with RawServer(lambda n, answer=answer: (answer, "keep")) as server:
            client = reader(server.url)
            client.page_bytes = 10_000
            with pytest.raises(PageTooLarge):
                client.first_page("pods", NS)
            with pytest.raises(PageTooLarge):
                client.first_page("pods", NS)
            assert server.connections == 2  # the rest never read: neither connection kept


@pytest.mark.parametrize(("status", "error"), [(b"403 Forbidden", ReadForbidden), (b"404 Not Found", NotFound)])
def test_refusals_carry_the_status_message_and_keep_the_connection(
        reader: Callable[[str], KubeReader], status: bytes, error: type[Exception]) -> None:
    body = json.dumps({"kind": "Status", "message": 'pods "pod-0" is forbidden'}).encode()
    with RawServer(lambda n: ((b"HTTP/1.1 " + status + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
                              if n == 0 else _ok(_pod(n)), "keep")) as server:
        client = reader(server.url)
        with pytest.raises(error, match='pods "pod-0" is forbidden'):
            client.get("pods", NS, "pod-0")
        assert client.get("pods", NS, "pod-1")["metadata"]["name"] == "pod-1"
        assert server.connections == 1 and len(server.requests) == 2


def test_a_503_is_retried_after_its_retry_after(reader: Callable[[str], KubeReader]) -> None:
    with RawServer(lambda n: ((b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\nContent-Length: 0\r\n\r\n")
                              if n < 2 else _ok(_pod(n)), "keep")) as server:
        client = reader(server.url)
        assert client.get("pods", NS, "pod-2")["metadata"]["name"] == "pod-2"
        assert len(server.requests) == 3 and server.connections == 1


@pytest.mark.parametrize("retry_after", [b"nan", b"-nan", b"NaN"])
def test_a_retry_after_that_is_not_a_number_is_the_backoff(reader: Callable[[str], KubeReader],
                                                           retry_after: bytes) -> None:
    # float() takes "nan", and a NaN pause went to time.sleep: a ValueError out of the reader, not a retry.
    with RawServer(lambda n: ((b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: " + retry_after +
                               b"\r\nContent-Length: 0\r\n\r\n") if n < 1 else _ok(_pod(n)), "keep")) as server:
        client = reader(server.url)
        assert client.get("pods", NS, "pod-1")["metadata"]["name"] == "pod-1"
        assert len(server.requests) == 2


@pytest.mark.parametrize(("answer", "after"), [
    (b"HTTP/1.1 2xx OK\r\n\r\n", "close"), (b"SSH-2.0-OpenSSH_9.6\r\n", "close"),
    (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 300_000, "hold"),  # a head that never ends: cut at its bound
    (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", "close"),
    (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n", "close"),
    (b"", "close")],
    ids=["status", "not-http", "endless-head", "ambiguous-length", "upgrade", "closed"])
def test_what_is_not_an_answer_is_an_upstream_error_after_every_attempt(
        reader: Callable[[str], KubeReader], answer: bytes, after: str) -> None:
    with RawServer(lambda n: (answer, after)) as server:
        with pytest.raises(UpstreamError, match="Kubernetes API unreachable") as failed:
            reader(server.url).get("pods", NS, "pod-0")
        assert "malformed HTTP answer" in str(failed.value) or "closed the connection" in str(failed.value)
        assert len(server.requests) == 4 and server.connections == 4  # each attempt on a new connection


@contextlib.contextmanager
def _unanswering() -> Iterator[tuple[str, int]]:
    """An address whose connects are never answered, as a host's that drops them: a listener that never
    accepts, its backlog full."""
    with socket.create_server(("127.0.0.1", 0), backlog=0) as listener, contextlib.ExitStack() as held:
        for _ in range(64):
            attempt = held.enter_context(socket.socket())
            attempt.settimeout(0.2)
            try:
                attempt.connect(listener.getsockname())
            except TimeoutError:
                yield listener.getsockname()
                return
        pytest.skip("this system answers connects past a listener's backlog")


def test_no_address_of_the_servers_name_is_tried_past_the_deadline(
        reader: Callable[[str], KubeReader], monkeypatch: pytest.MonkeyPatch) -> None:
    # A name with several addresses, the first not answering: socket.create_connection gives each address the
    # whole timeout, so the next one was tried past the deadline (and, not answering either, waited for).
    with _unanswering() as silent, RawServer(lambda n: (_ok(_pod(n)), "keep")) as server:
        answering = ("127.0.0.1", int(server.url.rsplit(":", 1)[1]))
        monkeypatch.setattr(socket, "getaddrinfo", lambda *_, **__: [
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", address) for address in (silent, answering)])
        tried: list[object] = []
        connect = socket.socket.connect
        monkeypatch.setattr(socket.socket, "connect", lambda sock, address: (tried.append(address), connect(
            sock, address))[1])
        client = reader(f"http://kubernetes.test:{answering[1]}")
        client.request_timeout = 10
        client.deadline = time.monotonic() + 0.5
        with pytest.raises(DeadlineReached):
            client.get("pods", NS, "pod-0")
        assert tried == [silent]


# Unbounded, each would take 8 s or more: four attempts of the 2 s timeout, or a byte every tenth of a second.
@pytest.mark.parametrize(("answer", "after"), [
    (b"", "hold"),  # silent
    (b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * 100, "trickle"),  # a head a byte at a time
    (b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"{" * 1000, "trickle")],  # a body so
    ids=["silent", "trickled-head", "trickled-body"])
def test_an_answer_that_does_not_come_in_time_is_cut_off_at_the_deadline(
        reader: Callable[[str], KubeReader], answer: bytes, after: str) -> None:
    with RawServer(lambda n: (answer, after)) as server:
        client = reader(server.url)
        client.deadline = time.monotonic() + 1
        started = time.monotonic()
        with pytest.raises(DeadlineReached):
            client.get("pods", NS, "pod-0")
        assert time.monotonic() - started < 5


@pytest.mark.parametrize("port", ["99999", "api"])
def test_a_server_port_that_is_not_one_is_bad_input(tmp_path: Path, port: str) -> None:
    # Not a ValueError's traceback (and then another from the half-made connections' __del__).
    with pytest.raises(InvalidInput, match="no usable Kubernetes configuration: the server's port"):
        KubeReader.connect(str(write_kubeconfig(tmp_path / "kubeconfig", f"https://127.0.0.1:{port}", NS)), None, 1)


def test_a_connection_refused_is_an_upstream_error(reader: Callable[[str], KubeReader]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
    with pytest.raises(UpstreamError, match="unreachable"):
        reader(f"http://127.0.0.1:{port}").get("pods", NS, "pod-0")


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    key, cert = tmp_path / f"{name}.key", tmp_path / f"{name}.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-days", "1",
                    "-addext", f"subjectAltName=DNS:{name}", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return key, cert


def _tls_kubeconfig(tmp_path: Path, url: str, ca: Path, server_name: str | None) -> Path:
    cluster = {"server": url, "certificate-authority": str(ca), **(
        {"tls-server-name": server_name} if server_name else {})}
    path = tmp_path / "kubeconfig-tls"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": cluster}], "users": [{"name": "u", "user": {"token": "tls-token"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
    return path


@pytest.mark.parametrize(("server_name", "verified"), [("kubernetes", True), ("elsewhere", False), (None, False)])
def test_tls_is_verified_against_the_kubeconfigs_ca_and_server_name(
        tmp_path: Path, server_name: str | None, verified: bool) -> None:
    key, cert = _certificate(tmp_path, "kubernetes")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with RawServer(lambda n: (_ok(_pod(n)), "keep"), tls=context) as server:
        client = KubeReader.connect(str(_tls_kubeconfig(tmp_path, server.url, cert, server_name)), None, 1)
        client.backoff = 0.01
        if verified:
            assert [client.get("pods", NS, f"pod-{n}")["metadata"]["name"] for n in range(2)] == ["pod-0", "pod-1"]
            assert server.connections == 1 and b"Authorization: Bearer tls-token" in server.requests[0]
        else:  # the certificate names "kubernetes", not 127.0.0.1 nor "elsewhere": nothing is sent
            with pytest.raises(UpstreamError, match="certificate verify failed"):
                client.get("pods", NS, "pod-0")
            assert server.requests == []


@pytest.mark.parametrize("how", ["certificate-authority", "certificate-authority-data"])
def test_the_kubeconfigs_ca_is_the_only_one_trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     how: str) -> None:
    # As kubectl: a cluster's CA replaces the system's, it is not one more. Loaded on top of them, any public
    # CA's certificate for the server's name (one issued to whoever holds its DNS for a moment) was accepted.
    _, cluster_ca = _certificate(tmp_path, "kubernetes")
    (tmp_path / "public").mkdir()
    key, cert = _certificate(tmp_path / "public", "kubernetes")  # the same name, another CA: the system's
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with RawServer(lambda n: (_ok(_pod(n)), "keep"), tls=context) as server:
        config = _tls_kubeconfig(tmp_path, server.url, cluster_ca, "kubernetes")
        if how == "certificate-authority-data":
            document = json.loads(config.read_text())
            cluster = document["clusters"][0]["cluster"]
            cluster[how] = base64.b64encode(Path(cluster.pop("certificate-authority")).read_bytes()).decode()
            config.write_text(json.dumps(document))
        client = KubeReader.connect(str(config), None, 1)
        client.backoff = 0.01
        with pytest.raises(UpstreamError, match="certificate verify failed"):
            client.get("pods", NS, "pod-0")
        assert server.requests == []


def test_a_tls_handshake_after_a_slow_connect_waits_no_longer_than_the_deadline_leaves(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, cert = _certificate(tmp_path, "kubernetes")
    with socket.create_server(("127.0.0.1", 0)) as mute:  # takes connections (its backlog), never a handshake
        connect, wrap = socket.socket.connect, ssl.SSLContext.wrap_socket
        waits: list[tuple[float | None, float]] = []

        def slow(sock: socket.socket, address: object) -> None:  # the connect answered when most time is gone
            time.sleep(0.6)
            connect(sock, address)

        def handshake(context: ssl.SSLContext, sock: socket.socket, **kwargs: object) -> ssl.SSLSocket:
            assert client.deadline is not None
            waits.append((sock.gettimeout(), client.deadline - time.monotonic()))
            return wrap(context, sock, **kwargs)  # type: ignore[arg-type]
        monkeypatch.setattr(socket.socket, "connect", slow)
        monkeypatch.setattr(ssl.SSLContext, "wrap_socket", handshake)
        url = f"https://127.0.0.1:{mute.getsockname()[1]}"
        client = KubeReader.connect(str(_tls_kubeconfig(tmp_path, url, cert, "kubernetes")), None, 1)
        client.request_timeout = 10
        client.deadline = time.monotonic() + 1
        with pytest.raises(DeadlineReached):
            client.get("pods", NS, "pod-0")
        [(timeout, left)] = waits  # the handshake was given what the connect left, not the second before it
        assert timeout is not None and timeout <= left + 0.1


def test_an_https_server_without_a_tls_context_is_never_sent_a_request_in_the_clear() -> None:
    # A KubeConnection made without a context (ssl_context=None is documented as "plain HTTP"): urllib3 spoke
    # verified TLS to an https URL all the same; the token must not go out in the clear to port 443.
    with RawServer(lambda n: (_ok(_pod(n)), "keep")) as server:  # plain HTTP: it would answer a clear request
        connection = KubeConnection(server.url.replace("http://", "https://"), token="secret-token")
        client = KubeReader(connection, kube_http.ApiConnections(connection, 4), request_timeout=0.5, attempts=1)
        with pytest.raises(UpstreamError):
            client.get("pods", NS, "pod-0")
        assert server.requests == []


def test_a_reader_let_go_closes_the_connections_it_kept(reader: Callable[[str], KubeReader]) -> None:
    with RawServer(lambda n: (_ok(_pod(n)), "keep")) as server:
        client = reader(server.url)
        client.get("pods", NS, "pod-0")
        kept = list(client.http._idle)
        assert len(kept) == 1
        del client
        assert kept[0].fileno() == -1



def test_a_server_url_with_a_path_has_every_request_under_it(reader: Callable[[str], KubeReader]) -> None:
    # An API behind a proxy, as Rancher's kubeconfigs name it: https://rancher.example/k8s/clusters/c-m-abc
    with RawServer(lambda n: (_ok(_pod(n)), "keep")) as server:
        reader(server.url + "/k8s/clusters/c-m-abc").get("pods", NS, "pod-0")
        assert server.requests[0].startswith(f"GET /k8s/clusters/c-m-abc/api/v1/namespaces/{NS}/pods/pod-0 ".encode())


def test_a_connections_repr_never_shows_its_credentials() -> None:
    from pathops_runtime.kube_connection import KubeConnection

    shown = repr(KubeConnection("http://127.0.0.1:1", "tok-3f9a-secret", None, "admin:pw-secret"))
    assert "secret" not in shown and "127.0.0.1" in shown
