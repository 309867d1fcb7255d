"""Read-only access to one namespace through the official Kubernetes client, as raw JSON (shared by the agents).

Uses ApiClient.call_api with _preload_content=False: no model deserialization (slow on
large lists), and pod logs can be streamed and bounded on the server with sinceTime,
tailLines and limitBytes (the typed log method has no sinceTime).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from pathops_contracts.errors import Forbidden, InvalidInput, UpstreamError

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


@dataclass
class KubeReader:
    api: client.ApiClient
    request_timeout: float = 20.0

    @classmethod
    def connect(cls, kubeconfig: str | None, context: str | None, pool_size: int) -> KubeReader:
        """In-cluster config inside a pod, else the kubeconfig (KUBECONFIG or --kubeconfig)."""
        configuration = client.Configuration()
        try:
            if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
                config.load_incluster_config(client_configuration=configuration)
            else:
                config.load_kube_config(config_file=kubeconfig, context=context,
                                        client_configuration=configuration)
        except (ConfigException, OSError, TypeError) as error:
            raise InvalidInput(f"no usable Kubernetes configuration: {error}") from error
        configuration.connection_pool_maxsize = max(pool_size, 4)
        configuration.retries = 2
        return cls(client.ApiClient(configuration))

    def _call(self, path: str, query: dict[str, Any], timeout: float | None = None) -> urllib3.HTTPResponse:
        try:
            response: urllib3.HTTPResponse = self.api.call_api(
                path, "GET", {}, [(k, v) for k, v in query.items() if v is not None], {"Accept": "application/json"},
                auth_settings=["BearerToken"], _preload_content=False, _return_http_data_only=True,
                _request_timeout=timeout or self.request_timeout,
            )
        except ApiException as error:
            message = _status_message(error)
            if error.status == 403:
                raise ReadForbidden(message) from error
            if error.status in (404, 400) and ("not found" in message or error.status == 404):
                raise NotFound(message) from error
            raise UpstreamError(f"Kubernetes API answered {error.status} for {path}: {message}") from error
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise UpstreamError(f"Kubernetes API unreachable for {path}: {error}") from error
        return response

    def list(self, plural: str, namespace: str, label_selector: str | None = None,
             field_selector: str | None = None, page_size: int = 500) -> list[dict[str, Any]]:
        """Every item, page by page (limit/continue)."""
        items: list[dict[str, Any]] = []
        token: str | None = None
        path = PATHS[plural].format(namespace=namespace)
        while True:
            response = self._call(path, {"labelSelector": label_selector, "fieldSelector": field_selector,
                                         "limit": page_size, "continue": token})
            page = json.loads(response.data)
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return items

    def probe(self, plural: str, namespace: str) -> None:
        """One request for one item: does RBAC let us list this resource here?"""
        self._call(PATHS[plural].format(namespace=namespace), {"limit": 1}).release_conn()

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        path = f"{PATHS[plural].format(namespace=namespace)}/{name}"
        document: dict[str, Any] = json.loads(self._call(path, {}).data)
        return document

    def stream_log(self, namespace: str, pod: str, container: str, *, previous: bool, since_time: str | None,
                   tail_lines: int, limit_bytes: int, timeout: float) -> Iterator[bytes]:
        """The container's log, bounded on the server, as it arrives."""
        path = f"/api/v1/namespaces/{namespace}/pods/{pod}/log"
        response = self._call(path, {"container": container, "previous": "true" if previous else None,
                                     "sinceTime": since_time, "tailLines": tail_lines, "limitBytes": limit_bytes,
                                     "timestamps": "true"}, timeout=timeout)
        try:
            yield from response.stream(64 * 1024)
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise UpstreamError(f"log stream of {pod}/{container} broke: {error}") from error
        finally:
            response.release_conn()


def _status_message(error: ApiException) -> str:
    try:
        return str(json.loads(error.body or "{}").get("message") or error.reason)
    except ValueError:
        return str(error.reason)
