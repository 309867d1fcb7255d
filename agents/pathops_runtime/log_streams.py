"""Many pod logs at once from one thread: asyncio connections kept alive, HTTP/1.1 by `http_answer`.

The collector reads hundreds of logs with a few in flight. From a pool of threads each read hands
the GIL over (16 threads cost a third more CPU than one thread making the same requests, in
benchmarks/evidence_collection.py); here one event loop keeps `concurrency` connections busy and
each body is handed, whole and bounded, to the caller's `finish` in that same thread.

Each log is bounded: in bytes (`limit`; more than that received means the server ignored
limitBytes, and reading stops), in time (`until`: what arrived is kept, the rest cut off) and in
memory (the bytes of all requests in flight stay under `in_flight_bytes`). Answers are read as
`KubeReader` reads them: 5xx and 429 retried with backoff (Retry-After honoured) inside the
reader's deadline, 401/403 ReadForbidden, 404 NotFound, anything else an UpstreamError.

On the wire (`http_answer`, answers parsed by httptools): the connection's headers are checked once
(InvalidInput before any request if one holds a line break or another control character), each
target before it is sent (an UpstreamError for that log alone); 1xx answers are skipped; a malformed
answer is the API failing (retried); a connection carries the next request only after an answer read
to its end, not delimited by the close, without `Connection: close` and with nothing after its end;
anything else (cut, broken, malformed, refused) closes it, and the next request opens a new one, as
does a connection the server closed while it was idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from urllib.parse import urlsplit

from pathops_contracts.errors import UpstreamError
from pathops_runtime.http_answer import Answer, MalformedAnswer, MalformedRequest, RequestHead
from pathops_runtime.kube_connection import KubeConnection
from pathops_runtime.kube_reader import (
    RETRIED_STATUSES,
    DeadlineReached,
    NotFound,
    ReadForbidden,
    answer_error,
    capped_retry_after,
    status_message,
)

Job = TypeVar("Job")
READ_SIZE = 64 * 1024
ERROR_BODY = 64 * 1024  # of an error answer, the Status message: never more


@dataclass(frozen=True)
class LogFetch:
    target: str  # path and query, encoded
    limit: int  # bytes wanted; more received means limitBytes was ignored
    until: float  # time.monotonic() instant at which the stream is cut off


@dataclass
class LogBody:
    chunks: list[bytes] = field(default_factory=list)
    cut_because: str = ""  # why this is not all the server had; "" when it ended by itself

    @property
    def size(self) -> int:
        return sum(map(len, self.chunks))


class _Answer(Exception):
    """A non-2xx status, with the Status message the server gave."""

    def __init__(self, status: int, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class _InFlight:
    """Bytes that streams in flight may still receive, bounded; one stream may always run."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.used = 0
        self.changed = asyncio.Condition()

    def _fits(self, size: int) -> bool:
        return self.used == 0 or self.used + size <= self.cap

    async def take(self, size: int) -> None:
        async with self.changed:
            await self.changed.wait_for(lambda: self._fits(size))
            self.used += size

    async def give(self, size: int) -> None:
        async with self.changed:
            self.used -= size
            self.changed.notify_all()


class _Connection:
    """One keep-alive connection: a stream pair, reusable only after an answer read cleanly to its end."""

    def __init__(self) -> None:
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


@dataclass
class LogStreams(Generic[Job]):
    """Runs `start(job)` -> fetch, the request, then `finish(job, body or error)`: `concurrency` requests in
    flight, each body handled (in this thread, one at a time) while the next requests are already out."""

    connection: KubeConnection
    concurrency: int
    deadline: float | None = None  # time.monotonic(): no request starts or is retried past it
    attempts: int = 4
    backoff: float = 0.2
    in_flight_bytes: int = 64 * 1024 * 1024
    connections_opened: int = 0
    _head: RequestHead | None = field(default=None, init=False, repr=False)

    def run(self, jobs: Iterable[Job], start: Callable[[Job], LogFetch | None],
            finish: Callable[[Job, LogFetch, LogBody | Exception], None]) -> None:
        """Every job, in order, `concurrency` at a time. start() returning None skips the job.

        InvalidInput, before any request, when the connection's headers cannot be sent as they are."""
        server = urlsplit(self.connection.server)
        self._head = RequestHead(server.netloc, self.connection.headers(), server.path)
        asyncio.run(self._run(iter(jobs), start, finish))

    async def _run(self, jobs: Iterator[Job], start: Callable[[Job], LogFetch | None],
                   finish: Callable[[Job, LogFetch, LogBody | Exception], None]) -> None:
        """Fetchers send a stream's next request as soon as its body is in, before that body is
        handled: one `finish` at a time, between which every fetcher that is ready gets to send."""
        budget = _InFlight(self.in_flight_bytes)  # a body's bytes count until it is handled
        arrived: asyncio.Queue[tuple[Job, LogFetch, LogBody | Exception] | None] = asyncio.Queue()

        async def fetcher() -> None:
            connection = _Connection()
            try:
                for job in jobs:  # shared: each job is taken by one fetcher
                    fetch = start(job)
                    if fetch is None:
                        continue
                    await budget.take(fetch.limit)  # memory: bodies in flight and waiting stay bounded
                    try:
                        outcome: LogBody | Exception = await self._fetch(connection, fetch)
                    except (UpstreamError, ReadForbidden, NotFound) as error:
                        outcome = error
                    except BaseException:
                        await budget.give(fetch.limit)
                        raise
                    arrived.put_nowait((job, fetch, outcome))
            finally:
                connection.close()

        async def fetch_all() -> None:
            await asyncio.gather(*(fetcher() for _ in range(max(self.concurrency, 1))))
            arrived.put_nowait(None)

        async def handle_all() -> None:
            while (item := await arrived.get()) is not None:
                job, fetch, outcome = item
                try:
                    finish(job, fetch, outcome)
                finally:
                    await budget.give(fetch.limit)
                await asyncio.sleep(0)  # the fetchers whose bodies came meanwhile send their next request

        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(fetch_all())
                group.create_task(handle_all())
        except BaseExceptionGroup as failed:  # the first failure as it was raised (a caller maps it)
            raise failed.exceptions[0] from None

    def _remaining(self) -> float:
        return float("inf") if self.deadline is None else self.deadline - time.monotonic()

    async def _fetch(self, connection: _Connection, fetch: LogFetch) -> LogBody:
        """The body, retried as KubeReader retries; errors as KubeReader raises them."""
        path = fetch.target.split("?", 1)[0]
        for attempt in range(self.attempts):
            if self._remaining() <= 0:
                raise DeadlineReached(f"deadline reached before {path} was read")
            try:
                return await self._exchange(connection, fetch)
            except _Answer as answer:
                error = answer_error(answer.status, str(answer), path)
                if not isinstance(error, UpstreamError) or answer.status not in RETRIED_STATUSES \
                        or attempt == self.attempts - 1:
                    raise error from None
                failure = error
                pause = answer.retry_after or self.backoff * 2 ** attempt
            except TimeoutError:  # before OSError, of which it is a subclass
                connection.close()
                raise DeadlineReached(f"no answer for {path} before its deadline") from None
            except MalformedRequest as refused:
                raise UpstreamError(str(refused)) from None
            except (OSError, MalformedAnswer) as error:
                connection.close()
                failure = UpstreamError(f"Kubernetes API unreachable for {path}: {str(error) or type(error).__name__}")
                if attempt == self.attempts - 1:
                    raise failure from error
                pause = self.backoff * 2 ** attempt
            if pause >= self._remaining():
                raise DeadlineReached(f"{failure}; no time left to retry before the deadline") from failure
            await asyncio.sleep(pause)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _open(self, connection: _Connection, until: float) -> None:
        url = urlsplit(self.connection.server)
        host = url.hostname or ""
        port = url.port or (443 if url.scheme == "https" else 80)
        ssl = self.connection.ssl_context if url.scheme == "https" else None
        async with asyncio.timeout_at(until):
            connection.reader, connection.writer = await asyncio.open_connection(
                host, port, ssl=ssl, server_hostname=(self.connection.tls_server_name or host) if ssl else None)
        self.connections_opened += 1

    async def _exchange(self, connection: _Connection, fetch: LogFetch) -> LogBody:
        """One request on the connection: the status line and headers by `until` (else TimeoutError),
        then the body until its end, `limit` exceeded or `until`, keeping what arrived."""
        until = min(fetch.until, time.monotonic() + max(self._remaining(), 0))
        assert self._head is not None
        request = self._head.get(fetch.target)  # MalformedRequest: refused before anything is sent
        if connection.reader is not None and connection.reader.at_eof():
            connection.close()  # the server closed it while it was idle: a new one, not a failed attempt
        if connection.writer is None:
            await self._open(connection, until)
        assert connection.reader is not None and connection.writer is not None
        connection.writer.write(request)
        answer = Answer()
        async with asyncio.timeout_at(until):
            while not answer.head_done:  # 1xx answers are skipped by the parser
                await _receive(connection, answer)
        if not 200 <= answer.status < 300:
            raise await _error_answer(connection, answer, until)
        body = LogBody(answer.chunks)  # the parser appends to it as the body arrives
        try:
            async with asyncio.timeout_at(until):
                while answer.received <= fetch.limit and not answer.complete:
                    await _receive(connection, answer)
        except TimeoutError:
            connection.close()
            body.cut_because = "the time for this log ran out (deadline)"
        except (OSError, MalformedAnswer) as error:
            connection.close()
            if not body.chunks:
                raise UpstreamError(f"log stream broke before any byte arrived: {str(error) or type(error).__name__}"
                                    ) from error
            body.cut_because = f"the stream broke: {str(error) or type(error).__name__}"
        else:
            if answer.received > fetch.limit:
                body.cut_because = f"the server sent more than limitBytes ({fetch.limit}): reading stopped"
                connection.close()
            elif not answer.reusable:
                connection.close()  # the server closes it, the body ran to the close, or more came after its end
        return body


async def _receive(connection: _Connection, answer: Answer) -> None:
    """What arrives next on the connection, fed to the answer (its end of stream included)."""
    assert connection.reader is not None
    answer.take(await connection.reader.read(READ_SIZE))


async def _error_answer(connection: _Connection, answer: Answer, until: float) -> _Answer:
    """The Status message of a non-2xx answer (at most ERROR_BODY bytes of it)."""
    with contextlib.suppress(TimeoutError, OSError, MalformedAnswer):
        async with asyncio.timeout_at(min(until, time.monotonic() + 5)):
            while not answer.complete and answer.received <= ERROR_BODY:
                await _receive(connection, answer)
    if not answer.reusable:
        connection.close()  # not read to its end, or the server closes it: it cannot carry the next request
    reason = answer.reason.decode("latin-1", "replace").strip()
    body = b"".join(answer.chunks)[:ERROR_BODY]
    return _Answer(answer.status, status_message(body, reason, answer.status), capped_retry_after(answer.retry_after))
