"""Where the Kubernetes API is and how to authenticate to it: in a pod, or from a kubeconfig.

Importing the official client costs about 70 MB and more than a second (it loads every
model), which is most of a collector run; the common cases are read here directly: the
pod's service account, and kubeconfigs with a token, a token file, client certificates and a
CA. Anything else (exec plugins, auth providers, merged KUBECONFIG lists) is handed to the
official client's loader, so no configuration that worked before stops working.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pathops_contracts.errors import InvalidInput
from pathops_runtime.http_answer import check_headers

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class KubeConnection:
    server: str  # scheme://host:port, and a path when the API is behind a proxy; no trailing slash
    token: str | None = field(default=None, repr=False)  # a repr (a log line, a traceback) never shows it
    ssl_context: ssl.SSLContext | None = None  # for https: None is the system's CAs, never plain HTTP
    basic_auth: str | None = field(default=None, repr=False)  # "user:password", old clusters only
    tls_server_name: str | None = None  # the name the server's certificate carries, when not the host

    def __post_init__(self) -> None:
        # The clients speak TLS when there is a context: without one an https server got the token in the clear.
        if self.ssl_context is None and urlsplit(self.server).scheme == "https":
            object.__setattr__(self, "ssl_context", ssl.create_default_context())

    def headers(self) -> dict[str, str]:
        """The headers of every request; InvalidInput if one cannot be sent as it is (a token with a line
        break would inject a header, and an HTTP client's own error would quote the token)."""
        headers = {"Accept": "application/json", "User-Agent": "pathops-kube-reader"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        elif self.basic_auth:
            headers["Authorization"] = "Basic " + base64.b64encode(self.basic_auth.encode()).decode()
        check_headers(headers)
        return headers


def load_connection(kubeconfig: str | None, context: str | None) -> KubeConnection:
    """In-cluster config inside a pod, else the kubeconfig (KUBECONFIG or --kubeconfig)."""
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        return _in_cluster()
    path = kubeconfig or os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    if os.pathsep in path:  # a merged list of files: the official loader knows how to merge
        return _official(kubeconfig, context)
    try:
        from ruamel.yaml import YAML
        from ruamel.yaml.error import YAMLError

        document = YAML(typ="safe").load(Path(path).read_text(encoding="utf-8"))
    except (OSError, YAMLError, UnicodeDecodeError) as error:
        raise InvalidInput(f"no usable Kubernetes configuration: cannot read {path}: {error}") from error
    if not isinstance(document, dict):
        raise InvalidInput(f"no usable Kubernetes configuration: {path} is not a kubeconfig")
    return _from_kubeconfig(document, Path(path).parent, context) or _official(kubeconfig, context)


def _in_cluster() -> KubeConnection:
    host = os.environ["KUBERNETES_SERVICE_HOST"]
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    try:
        token = (SERVICE_ACCOUNT / "token").read_text().strip()
        context = ssl.create_default_context(cafile=str(SERVICE_ACCOUNT / "ca.crt"))
    except (OSError, ssl.SSLError) as error:
        raise InvalidInput(f"no usable in-cluster Kubernetes configuration: {error}") from error
    server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
    return KubeConnection(server, token, context)


def _named(document: dict[str, Any], section: str, name: str) -> dict[str, Any]:
    for entry in document.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            inner = entry.get(section[:-1])
            return inner if isinstance(inner, dict) else {}
    raise InvalidInput(f"no usable Kubernetes configuration: no {section[:-1]} named {name!r}")


def _from_kubeconfig(document: dict[str, Any], base: Path, context_name: str | None) -> KubeConnection | None:
    """The connection, or None when the user's credentials need the official loader (exec, auth-provider)."""
    name = context_name or document.get("current-context")
    if not name:
        raise InvalidInput("no usable Kubernetes configuration: no context given and no current-context")
    context = _named(document, "contexts", str(name))
    cluster = _named(document, "clusters", str(context.get("cluster")))
    user = _named(document, "users", str(context.get("user"))) if context.get("user") else {}
    if user.get("exec") or user.get("auth-provider"):
        return None
    server = str(cluster.get("server") or "").rstrip("/")
    if not server.startswith(("https://", "http://")):
        raise InvalidInput(f"no usable Kubernetes configuration: server {server!r} is not an http(s) URL")
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token = _read(base, str(user["tokenFile"])).decode().strip()
    basic = f"{user['username']}:{user.get('password', '')}" if user.get("username") else None
    if server.startswith("http://"):
        return KubeConnection(server, token, None, basic)
    try:
        return KubeConnection(server, token, _ssl_context(cluster, user, base), basic,
                              cluster.get("tls-server-name"))
    except (OSError, ValueError) as error:  # a CA or key that is not PEM (ssl.SSLError) or not there, bad base64
        raise InvalidInput(f"no usable Kubernetes configuration: TLS material unusable: {error}") from error


def _ssl_context(cluster: dict[str, Any], user: dict[str, Any], base: Path) -> ssl.SSLContext:
    # The cluster's CA, when given, is the only one trusted, as kubectl trusts it: loaded on top of the
    # system's CAs, a public CA's certificate for the server's name was accepted as well.
    insecure = cluster.get("insecure-skip-tls-verify")
    if not insecure and cluster.get("certificate-authority-data"):
        context = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    elif not insecure and cluster.get("certificate-authority"):
        context = ssl.create_default_context(cafile=str(base / cluster["certificate-authority"]))
    else:
        context = ssl.create_default_context()
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    certificate = _material(user, "client-certificate", base)
    key = _material(user, "client-key", base)
    if certificate and key:
        # load_cert_chain reads files only: a private directory that lives just as long as the call.
        with tempfile.TemporaryDirectory(prefix="kube-") as folder:
            (Path(folder) / "cert").write_bytes(certificate)
            key_path = Path(folder) / "key"
            key_path.touch(mode=0o600)
            key_path.write_bytes(key)
            context.load_cert_chain(str(Path(folder) / "cert"), str(key_path))
    return context


def _material(user: dict[str, Any], field: str, base: Path) -> bytes | None:
    if user.get(f"{field}-data"):
        return base64.b64decode(user[f"{field}-data"])
    if user.get(field):
        return _read(base, str(user[field]))
    return None


def _read(base: Path, name: str) -> bytes:
    try:
        return (base / name).read_bytes()
    except OSError as error:
        raise InvalidInput(f"no usable Kubernetes configuration: cannot read {name}: {error}") from error


def _official(kubeconfig: str | None, context: str | None) -> KubeConnection:
    """The official client's loader, for what is not read here; its result as a connection."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    configuration = client.Configuration()
    try:
        config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)
    except (ConfigException, OSError, TypeError) as error:
        raise InvalidInput(f"no usable Kubernetes configuration: {error}") from error
    keys = configuration.api_key or {}
    authorization = str(keys.get("BearerToken") or keys.get("authorization") or "")
    token = authorization.removeprefix("Bearer ").strip() or None
    server = str(configuration.host).rstrip("/")
    if server.startswith("http://"):
        return KubeConnection(server, token)
    ssl_context = ssl.create_default_context(cafile=configuration.ssl_ca_cert or None)
    if not configuration.verify_ssl:
        ssl_context.check_hostname = False
        ssl_context.verify_mode = ssl.CERT_NONE
    if configuration.cert_file and configuration.key_file:
        ssl_context.load_cert_chain(configuration.cert_file, configuration.key_file)
    return KubeConnection(server, token, ssl_context, tls_server_name=getattr(configuration, "tls_server_name", None))
