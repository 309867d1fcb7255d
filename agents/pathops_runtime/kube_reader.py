"""Read-only access to one namespace of the Kubernetes API, as raw JSON (shared by the agents).

Plain HTTP GETs on kept-alive connections (`kube_http`; kube_connection says where and as whom): no model
deserialization (slow on large lists), lists read page by page. Pod logs, many at once, are
read by `log_streams` (one event loop), asked for here (`log_target`: bounded on the server
with sinceTime, tailLines and limitBytes) and answered the same way (`answer_error`). 5xx and
429 are retried with backoff, never past the caller's deadline.

Memory is bounded by bytes, not by item counts: an answer is read to at most `page_bytes`. A
page of `limit` items that is larger (ConfigMaps of dashboards near their 1 MiB limit, ten
thousand keys each) is asked again, same continue token, with fewer items; the page after it
may hold more again. So with an answer of more than PAGE_CONTAINERS JSON objects and arrays
(each parses to 56 bytes or more). One object past either cap ends its list, an UpstreamError.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from pathops_contracts.errors import Forbidden, UpstreamError
from pathops_runtime.http_answer import MalformedAnswer, MalformedRequest
from pathops_runtime.kube_connection import KubeConnection, load_connection
from pathops_runtime.kube_http import ApiAnswer, ApiConnections

PATHS: dict[str, str] = {
    "pods": "/api/v1/namespaces/{namespace}/pods",
    "events": "/api/v1/namespaces/{namespace}/events",
    "services": "/api/v1/namespaces/{namespace}/services",
    "endpoints": "/api/v1/namespaces/{namespace}/endpoints",
    "configmaps": "/api/v1/namespaces/{namespace}/configmaps",
    "resourcequotas": "/api/v1/namespaces/{namespace}/resourcequotas",
    "limitranges": "/api/v1/namespaces/{namespace}/limitranges",
    "deployments": "/apis/apps/v1/namespaces/{namespace}/deployments",
    "replicasets": "/apis/apps/v1/namespaces/{namespace}/replicasets",
    "statefulsets": "/apis/apps/v1/namespaces/{namespace}/statefulsets",
    "daemonsets": "/apis/apps/v1/namespaces/{namespace}/daemonsets",
    "jobs": "/apis/batch/v1/namespaces/{namespace}/jobs",
    "cronjobs": "/apis/batch/v1/namespaces/{namespace}/cronjobs",
    "horizontalpodautoscalers": "/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers",
    "poddisruptionbudgets": "/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets",
    "endpointslices": "/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices",
    "applications": "/apis/argoproj.io/v1alpha1/namespaces/{namespace}/applications",
}
KIND_TO_PLURAL = {
    "Pod": "pods", "ReplicaSet": "replicasets", "Deployment": "deployments", "StatefulSet": "statefulsets",
    "DaemonSet": "daemonsets", "Job": "jobs", "CronJob": "cronjobs",
}


class NotFound(Exception):
    """The object (or the previous container's log) does not exist."""


class ReadForbidden(Forbidden):
    """RBAC does not let us read this resource."""


class DeadlineReached(UpstreamError):
    """The caller's wall-clock deadline passed before (or while) this was read."""


class PageTooLarge(UpstreamError):
    """An answer larger than the reader reads at once (`page_bytes`, PAGE_CONTAINERS)."""

    def __init__(self, path: str, past: str, cap: int, size: int | None = None) -> None:
        super().__init__(f"Kubernetes API answer for {path} holds {past}, more than is read at once")
        self.past = past  # what it holds past the cap: "more than N bytes", "N JSON objects and arrays"
        self.cap = cap
        self.size = size  # the answer's length, when the server said it (Content-Length)
        self.asked: int | None = None  # the items the page was asked for (its limit)

    def fewer(self) -> int:
        """How many items to ask for instead: about as many as fit when the server said the length, else half."""
        asked = self.asked or 1
        if self.size:
            return max(1, min(asked // 2, int(asked * PAGE_BYTES_HEADROOM * self.cap / self.size)))
        return max(1, asked // 2)


class ListCut(Exception):
    """A list read as far as its reader keeps (`pages(max_bytes=...)`), with more to come: read no further."""

    def __init__(self, path: str, items: int, read: int) -> None:
        super().__init__(f"read no further than {items} items ({read / 1e6:.1f} MB of answers): the API had more")
        self.path = path
        self.items = items  # items of the pages read
        self.read = read  # bytes of those answers


class ByteAllowance:
    """Bytes of answers several lists read at once (from threads) share (`pages(max_bytes=...)`): once they are
    spent, none of them is read further, and those cut are counted (one gap for them all).

    A page asked for holds room for the largest answer (`reserve`) until it is read (`settle`): eight lists
    each one page past the bytes they share held eight pages more (a page is up to PAGE_BYTES)."""

    def __init__(self, total: int, page_bytes: int | None = None) -> None:
        """`page_bytes`: what one answer of these lists may hold at most (below the reader's `page_bytes`), so
        that as many pages as are read at once can be asked for with room for each."""
        self.total = total
        self.page_bytes = page_bytes
        self.spent = 0
        self.cut = 0  # lists cut, or not begun, for want of bytes
        self._reserved = 0
        self._room = threading.Condition()

    def reserve(self, size: int) -> bool:
        """Room for an answer of up to `size` bytes, once the answers under way leave it (one page is always let
        past what is left); False once the bytes are spent: the list is cut (counted)."""
        with self._room:
            while self.spent < self.total and self._reserved and self.spent + self._reserved + size > self.total:
                self._room.wait()
            if self.spent >= self.total:
                self.cut += 1
                return False
            self._reserved += size
            return True

    def settle(self, reserved: int, used: int) -> None:
        """The answer read (`used` bytes of the room `reserved`); a negative `used`: bytes its reader no longer
        holds (it reduced what it read), given back."""
        with self._room:
            self._reserved -= reserved
            self.spent += used
            self._room.notify_all()


RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
# What one answer may hold: about 4x that once parsed (ten thousand small ConfigMap keys: 5-6x), so that
# with the log streams the collector stays within its 150 MB. An object is at most ~1.5 MiB (etcd's limit).
PAGE_BYTES = 4 * 1024 * 1024
PAGE_BYTES_HEADROOM = 0.8  # a page asked for anew aims below the cap: its items are not all the same size
# JSON objects and arrays an answer may hold (`containers_in`): each parses to 56-64 bytes
# or more whatever its size, so 4 MiB of `{},` is 80 MB. A page of 500 real pods holds about 100,000.
PAGE_CONTAINERS = 250_000
# A JSON string, escapes and all: the brackets inside one are text (`[[[` in an annotation parses to one string).
# One left open runs to the end (the parser fails there, past nothing it did not count): requiring the closing
# quote, each quote after it would be tried again, quadratic (`"` then 20,000 `\"`: 5 s).
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)


def containers_in(body: bytes) -> int:
    """The JSON objects and arrays body parses to (its `{` and `[` outside strings), counted exactly only past
    PAGE_CONTAINERS: up to there every bracket counts, those in strings too (one pass of bytes.count each).

    Exact for JSON: a string starts at a quote outside strings, as the parser reads it. A page refused for the
    brackets in one pod's annotation (the API takes 256 KiB of them) was every pod after it left unread."""
    count = body.count(b"{") + body.count(b"[")
    if count <= PAGE_CONTAINERS:
        return count
    structure = _JSON_STRING.sub(b'""', body)
    return structure.count(b"{") + structure.count(b"[")


@dataclass
class KubeReader:
    """Reads with bounded retries (5xx, 429, dropped connections) that never outlive `deadline`.

    `deadline` is a time.monotonic() instant, or None for none; a request that cannot start before
    it raises DeadlineReached.
    """

    connection: KubeConnection
    http: ApiConnections
    request_timeout: float = 20.0
    deadline: float | None = None
    attempts: int = 4
    backoff: float = 0.2
    page_bytes: int = PAGE_BYTES

    @classmethod
    def connect(cls, kubeconfig: str | None, context: str | None, pool_size: int) -> KubeReader:
        """In-cluster config inside a pod, else the kubeconfig (KUBECONFIG or --kubeconfig).

        `pool_size` workers plus the caller's own thread may be in flight at once: one connection is kept
        for each, so none is opened only to be thrown away when it comes back.
        """
        connection = load_connection(kubeconfig, context)
        return cls(connection, ApiConnections(connection, max(pool_size + 1, 4)))

    def remaining(self) -> float:
        return float("inf") if self.deadline is None else self.deadline - time.monotonic()

    def _call(self, path: str, query: dict[str, Any], timeout: float | None = None) -> ApiAnswer:
        fields = {k: str(v) for k, v in query.items() if v is not None}
        target = f"{path}?{urlencode(fields)}" if fields else path
        for attempt in range(self.attempts):
            remaining = self.remaining()
            if remaining <= 0:
                raise DeadlineReached(f"deadline reached before {path} was read")
            seconds = min(timeout or self.request_timeout, remaining)
            try:
                response = self.http.get(target, seconds, self.deadline)
            except MalformedRequest as refused:
                raise UpstreamError(str(refused)) from None
            except (OSError, MalformedAnswer) as error:
                failure = UpstreamError(f"Kubernetes API unreachable for {path}: {str(error) or type(error).__name__}")
                if attempt == self.attempts - 1:
                    raise failure from error
                pause = self.backoff * 2 ** attempt
            else:
                if 200 <= response.status < 300:
                    return response
                message = _status_message(response)
                answered = answer_error(response.status, message, path)
                if not isinstance(answered, UpstreamError) or response.status not in RETRIED_STATUSES \
                        or attempt == self.attempts - 1:
                    raise answered
                failure = answered
                pause = capped_retry_after(response.retry_after) or self.backoff * 2 ** attempt
            if pause >= self.remaining():
                raise DeadlineReached(f"{failure}; no time left to retry before the deadline") from failure
            time.sleep(pause)
        raise AssertionError("unreachable")  # pragma: no cover

    def first_page(self, plural: str, namespace: str, label_selector: str | None = None,
                   field_selector: str | None = None, page_size: int = 500) -> bytes:
        """The list's first page as the API sent it (for `pages(first=...)`): read ahead, kept unparsed.

        PageTooLarge when it holds more than `page_bytes`: `pages` then asks for it with fewer items."""
        path = PATHS[plural].format(namespace=namespace)
        return self._page(path, label_selector, field_selector, page_size, None)

    def _page(self, path: str, label_selector: str | None, field_selector: str | None, page_size: int,
              token: str | None, page_bytes: int | None = None) -> bytes:
        response = self._call(path, {"labelSelector": label_selector, "fieldSelector": field_selector,
                                     "limit": page_size, "continue": token})
        try:
            return _read_capped(response, path, page_bytes or self.page_bytes, self.deadline)
        except PageTooLarge as error:
            error.asked = page_size
            raise

    def pages(self, plural: str, namespace: str, label_selector: str | None = None,
              field_selector: str | None = None, page_size: int = 500, first: bytes | None = None,
              start_size: int | None = None, max_bytes: int | ByteAllowance | None = None,
              max_items: int | None = None) -> Iterator[list[dict[str, Any]]]:
        """The items, one page (limit/continue) at a time: memory holds one page, not the whole list.

        `first`: the first page already read (first_page with the same arguments). A page larger than
        `page_bytes` is asked again with fewer items (down to one: larger still is PageTooLarge); the
        pages after it grow back as the items' size allows, up to `page_size`. `start_size`: the first page's items
        (a first page read ahead was too large for `page_size`). `max_bytes`: once the answers read add up to
        it, a list that goes on is not asked for further (ListCut after its last page read): a caller holding
        the items, or what it makes of them, stays bounded whatever the API has, or keeps sending. A ByteAllowance:
        the bytes several lists share; a list begun once they are spent is not asked for at all (ListCut).
        The answers' bytes are counted when read, a page is asked for only while they are short of `max_bytes`.
        `max_items`: the same, in items (the pages asked for hold no more than are left of them).
        """
        allowance = ByteAllowance(max_bytes) if isinstance(max_bytes, int) else max_bytes
        token: str | None = None
        # A token the API hands back again would page round forever, repeating items (its digest: a token is the
        # API's to size).
        sent: set[bytes] = set()
        path = PATHS[plural].format(namespace=namespace)
        size = min(start_size or page_size, page_size)
        items_read = bytes_read = 0
        page_bytes = min(self.page_bytes, allowance.page_bytes or self.page_bytes) if allowance else self.page_bytes
        while True:
            if first is not None:
                raw, first = first, None
                if allowance is not None:
                    allowance.settle(0, len(raw))
            else:
                if allowance is not None and not allowance.reserve(page_bytes):
                    raise ListCut(path, items_read, bytes_read)
                raw = b""
                try:
                    raw = self._page(path, label_selector, field_selector,
                                     size if max_items is None else min(size, max_items - items_read), token,
                                     page_bytes)
                except PageTooLarge as error:
                    if size == 1:
                        raise UpstreamError(f"one object of {plural} holds {error.past}, more than is read at "
                                            f"once: the list is left unread from there") from None
                    size = error.fewer()
                    continue
                finally:
                    if allowance is not None:
                        allowance.settle(page_bytes, len(raw))
                if size < page_size and raw:  # back up towards page_size, as far as the items' size allows
                    # and their JSON objects and arrays: grown by bytes alone, a page of dense items (`[0,1],`)
                    # was refused every other request, each refused answer read to its end.
                    containers = containers_in(raw)
                    size = max(size, min(page_size, int(size * PAGE_BYTES_HEADROOM * page_bytes / len(raw)),
                                         int(size * PAGE_BYTES_HEADROOM * PAGE_CONTAINERS / max(containers, 1))))
            items, token = page_items(raw, path)
            bytes_read += len(raw)
            items_read += len(items)
            del raw  # the parsed page only, while the caller works through it
            if token is not None:
                digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
                if digest in sent:
                    raise UpstreamError(f"Kubernetes API answer for {path} continues with a continue token it sent "
                                        f"before: the list would go round forever")
                sent.add(digest)
            yield items
            if not token:
                return
            if max_items is not None and items_read >= max_items:
                raise ListCut(path, items_read, bytes_read)

    def list(self, plural: str, namespace: str, label_selector: str | None = None,
             field_selector: str | None = None, page_size: int = 500) -> list[dict[str, Any]]:
        """Every item, page by page (limit/continue)."""
        return [item for page in self.pages(plural, namespace, label_selector, field_selector, page_size)
                for item in page]

    def probe(self, plural: str, namespace: str) -> None:
        """One request for one item: does RBAC let us list this resource here?

        The answer is read to its end, so the connection goes back to the pool intact.
        """
        path = PATHS[plural].format(namespace=namespace)
        _read_capped(self._call(path, {"limit": 1}), path, self.page_bytes, self.deadline)

    def namespace_exists(self, namespace: str) -> bool | None:
        """True or False when the API says so; None when RBAC does not let us ask (a Role may not)."""
        path = f"/api/v1/namespaces/{namespace}"
        try:
            _read_capped(self._call(path, {}), path, self.page_bytes, self.deadline)
        except NotFound:
            return False
        except ReadForbidden:
            return None
        return True

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        return self.get_sized(plural, namespace, name)[0]

    def get_sized(self, plural: str, namespace: str, name: str) -> tuple[dict[str, Any], int]:
        """The object and the bytes of its answer: what a caller asking for many of them counts."""
        path = f"{PATHS[plural].format(namespace=namespace)}/{name}"
        raw = _read_capped(self._call(path, {}), path, self.page_bytes, self.deadline)
        document: dict[str, Any] = _document(raw, path)
        return document, len(raw)

    @staticmethod
    def log_target(namespace: str, pod: str, container: str, *, previous: bool, since_time: str | None,
                   tail_lines: int, limit_bytes: int) -> str:
        """Path and query of a container's log, bounded on the server (as stream_log asks for it)."""
        # Built here rather than by urlencode (a tenth of a millisecond a log): the same fields, in the
        # same order, each string value percent-encoded whole (quote with no safe characters).
        query = f"container={quote(container, safe='')}" + ("&previous=true" if previous else "") + (
            f"&sinceTime={quote(since_time, safe='')}" if since_time is not None else "") + (
            f"&tailLines={int(tail_lines)}&limitBytes={int(limit_bytes)}&timestamps=true")
        return f"/api/v1/namespaces/{namespace}/pods/{pod}/log?{query}"


def _document(raw: bytes, path: str) -> dict[str, Any]:
    """A 2xx answer's JSON object; anything else (not JSON, nested past the parser's stack) is the API failing."""
    try:
        document = json.loads(raw, parse_constant=_not_json)
    except (ValueError, RecursionError) as error:
        raise UpstreamError(f"Kubernetes API answer for {path} is not a JSON document: "
                            f"{type(error).__name__}") from None
    if not isinstance(document, dict):
        raise UpstreamError(f"Kubernetes API answer for {path} is not a JSON object")
    return document


def _not_json(constant: str) -> Any:
    """NaN and Infinity: Python's parser takes them, JSON (and the API) has none; kept, they would make
    the snapshot's JSON Lines invalid for every strict reader (jq, Go, JavaScript)."""
    raise ValueError(f"{constant} is not JSON")


def page_items(raw: bytes, path: str) -> tuple[list[dict[str, Any]], str | None]:
    """A list page's items, and the token that continues the list (None on its last page)."""
    page = _document(raw, path)
    items, metadata = page.get("items") or [], page.get("metadata") or {}
    if not isinstance(items, list) or not isinstance(metadata, dict) or not isinstance(
            metadata.get("continue") or "", str):
        raise UpstreamError(f"Kubernetes API answer for {path} is not a list (items and metadata.continue)")
    return items, metadata.get("continue") or None


def _read_capped(response: ApiAnswer, path: str, cap: int, deadline: float | None) -> bytes:
    """The answer's body, or PageTooLarge as soon as it is known to hold more than `cap` bytes: then the
    connection is closed, not drained (the rest is never read), and the next request opens another.

    Read as it arrives, the `deadline` (a time.monotonic() instant) checked between reads: a server
    trickling its answer a byte at a time, each within the read timeout, is DeadlineReached, not waited for."""
    size = response.length
    chunks: list[bytes] = []
    read = 0
    try:
        while size is None or size <= cap:
            if deadline is not None and time.monotonic() >= deadline:
                raise DeadlineReached(f"deadline reached while the answer for {path} was read")
            chunk = response.read()
            if not chunk:
                body = b"".join(chunks)
                containers = containers_in(body)
                if containers > PAGE_CONTAINERS:
                    raise PageTooLarge(path, f"{containers} JSON objects and arrays", cap, size)
                return body
            chunks.append(chunk)
            read += len(chunk)
            if read > cap:
                break
    except (OSError, MalformedAnswer) as error:
        if deadline is not None and time.monotonic() >= deadline:
            raise DeadlineReached(f"deadline reached while the answer for {path} was read") from error
        raise UpstreamError(f"Kubernetes API answer for {path} broke off: {str(error) or type(error).__name__}"
                            ) from error
    finally:
        response.release()  # kept only when read to its end: a cut answer's connection is closed
    raise PageTooLarge(path, f"more than {cap} bytes", cap, size)


def answer_error(status: int, message: str, path: str) -> Exception:
    """What a non-2xx answer means: RBAC refused, no such object, or the API failing (maybe for a moment)."""
    if status in (401, 403):
        return ReadForbidden(message)
    if status == 404 or (status == 400 and "not found" in message):
        return NotFound(message)
    return UpstreamError(f"Kubernetes API answered {status} for {path}: {message}")


def capped_retry_after(value: str | None) -> float | None:
    """The server's Retry-After in seconds (429 and 503 carry one), capped: we have a deadline."""
    try:
        seconds = float(value) if value else None
    except ValueError:
        return None
    # NaN ("nan" is a float to Python) compares false with everything: capped, it stayed NaN, and sleeping
    # it raised ValueError out of the reader.
    return min(max(seconds, 0.0), 10.0) if seconds is not None and not math.isnan(seconds) else None


def _status_message(response: ApiAnswer) -> str:
    """The API's Status message (never more than 4 KiB of it); the connection is kept if read to its end."""
    body = b""
    try:
        while len(body) <= 64 * 1024 and (chunk := response.read()):
            body += chunk
    except (OSError, MalformedAnswer):
        pass
    finally:
        response.release()
    return status_message(body[:64 * 1024], response.reason, response.status)


def status_message(body: bytes, reason: str, status: int) -> str:
    """A non-2xx answer's text: the message of its Status body, else its reason phrase (at most 4 KiB)."""
    try:
        document = json.loads(body or b"{}")
        message = document.get("message") if isinstance(document, dict) else None
    except (ValueError, RecursionError):  # not JSON, or nested deep enough to exhaust the parser's stack
        message = None
    return str(message or reason or status)[:4096]
