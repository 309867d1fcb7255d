"""The first requests of a collection, sent as soon as the API is known, while the rest of the tool loads.

First the access probe (does RBAC let us list pods here?); once it answers, the lists read whole
whatever the focus (their first page, kept unparsed; ConfigMaps' a small one), the first page of
pods when which pods to read is known without asking the API (no workload to look up first), a
small first page of ReplicaSets and Deployments (the owners, when that page holds them all), and
whether the namespace exists.
Begun before the collector's modules are imported and its staging set up (about a tenth of a
second), these round trips overlap that work instead of following it. The Collector reads the
answers, errors included, as if it had asked then.

Light on purpose: only the Kubernetes reader, already loaded, is imported here.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from pathops_runtime.kube_reader import KubeReader, NotFound, ReadForbidden

PAGE_SIZE = 500
# Lists read whole whatever the focus, requested together at the start.
READ_AHEAD = ("events", "services", "endpoints", "endpointslices", "horizontalpodautoscalers",
              "poddisruptionbudgets", "resourcequotas", "limitranges", "configmaps")

# Owners read ahead whole, when one small page holds them all: the chain pod -> ReplicaSet -> Deployment
# -> its ReplicaSets is then read without a round trip per link (Collector._owner_chain).
OWNER_LISTS = ("replicasets", "deployments")
OWNER_PAGE_SIZE = 100  # a ReplicaSet carries its pod template: a page of them parsed at once stays small
# A ConfigMap may weigh 1 MiB: a first page held unparsed until its turn stays under 10 MiB; most
# namespaces have fewer, and the rest of a longer list is read when its turn comes, 50 a page.
CONFIGMAP_AHEAD_PAGE_SIZE = 10
AHEAD_PAGE_SIZES = {**dict.fromkeys(OWNER_LISTS, OWNER_PAGE_SIZE), "configmaps": CONFIGMAP_AHEAD_PAGE_SIZE}

Ahead = tuple[str, str | None]  # (plural, label selector): one list's first page


@dataclass(frozen=True)
class Focus:
    workload: tuple[str, str] | None = None  # (plural, name)
    label_selector: str | None = None
    argocd_application: tuple[str, str] | None = None  # (namespace, name), read when RBAC allows

    def known_pods(self) -> bool:
        """Whether the pods to read are known without asking the API (a workload's selector is not)."""
        return self.workload is None or self.workload[0] == "services"


def read_ahead(focus: Focus) -> tuple[Ahead, ...]:
    """The first pages worth asking for before anything is known: the whole lists, and the pods'."""
    lists: tuple[Ahead, ...] = tuple((plural, None) for plural in (*READ_AHEAD, *OWNER_LISTS))
    return (("pods", focus.label_selector), *lists) if focus.known_pods() else lists


@dataclass
class Opening:
    """The answers of the first requests. `probe` answers first; `ahead` and `namespace_check` are
    set before it does (`take` them once its result is in): empty and None when it said the run
    cannot read the namespace (ReadForbidden, NotFound), when nothing more is asked."""

    deadline: float  # time.monotonic() instant of the collection's deadline, set on the reader
    probe: Future[None] = field(default_factory=Future)
    ahead: dict[Ahead, Future[bytes]] = field(default_factory=dict)
    namespace_check: Future[bool | None] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _cancelled: bool = False

    @classmethod
    def begin(cls, reader: KubeReader, namespace: str, lists: tuple[Ahead, ...], deadline_seconds: float,
              concurrency: int) -> Opening:
        """Set the reader's deadline and send the first requests from a thread of their own."""
        opening = cls(time.monotonic() + deadline_seconds)
        reader.deadline = opening.deadline  # no request, retry or log stream outlives it
        threading.Thread(target=opening._open, args=(reader, namespace, lists, concurrency), name="opening",
                         daemon=True).start()
        return opening

    def _open(self, reader: KubeReader, namespace: str, lists: tuple[Ahead, ...], concurrency: int) -> None:
        if not self.probe.set_running_or_notify_cancel():
            return
        failure: BaseException | None = None
        try:
            reader.probe("pods", namespace)
        except (ReadForbidden, NotFound) as error:  # RBAC refuses, or no such namespace: nothing more is asked
            self.probe.set_exception(error)
            return
        except BaseException as error:  # noqa: BLE001 - the collector records it (a gap) or raises it
            failure = error
        # After the probe: RBAC refusing pods fails the run on its one request.
        try:
            with self._lock:
                if not self._cancelled:
                    work: deque[tuple[Future[Any], Callable[[], Any]]] = deque()
                    for plural, selector in lists:
                        size = AHEAD_PAGE_SIZES.get(plural, PAGE_SIZE)
                        self.ahead[(plural, selector)] = _later(work, partial(
                            reader.first_page, plural, namespace, label_selector=selector, page_size=size))
                    self.namespace_check = _later(work, partial(reader.namespace_exists, namespace))
                    _send(work, min(len(work), max(concurrency, 1)))
        except BaseException as error:  # noqa: BLE001 - the probe is always answered: the collector waits on it
            failure = failure or error
        if failure is None:
            self.probe.set_result(None)
        else:
            self.probe.set_exception(failure)

    def take(self) -> tuple[dict[Ahead, Future[bytes]], Future[bool | None] | None]:
        """The first pages and the namespace check, handed over (read them once `probe` answered): the
        reader lets each page go once it is read, and cancels what it leaves unread."""
        with self._lock:
            ahead, check = dict(self.ahead), self.namespace_check
            self.ahead.clear()
            self.namespace_check = None
            return ahead, check

    def cancel(self) -> None:
        """What was asked and not sent yet is not sent, and nothing more is asked (a run that ended
        before reading it)."""
        with self._lock:
            self._cancelled = True
            for ahead in self.ahead.values():
                ahead.cancel()
            if self.namespace_check is not None:
                self.namespace_check.cancel()


def _later(work: deque[tuple[Future[Any], Callable[[], Any]]], call: Callable[[], Any]) -> Future[Any]:
    """A Future answered once a sender has made `call` (unless cancelled before)."""
    future: Future[Any] = Future()
    work.append((future, call))
    return future


def _send(work: deque[tuple[Future[Any], Callable[[], Any]]], senders: int) -> None:
    """Make the calls from `senders` daemon threads. Not a ThreadPoolExecutor: the interpreter joins its
    threads at exit, so a run that stopped early (bad input, exit 2) would wait for requests it no longer
    reads, up to their timeouts and retries; these end with the process."""

    def run() -> None:
        while True:
            try:
                future, call = work.popleft()
            except IndexError:
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(call())
            except BaseException as error:  # noqa: BLE001 - handed to whoever reads the answer
                future.set_exception(error)

    started = 0
    for _ in range(senders):
        try:
            threading.Thread(target=run, name="read-ahead", daemon=True).start()
        except RuntimeError:  # no thread left to start: those running (or this one) make the calls
            break
        started += 1
    if not started:
        run()
