"""How the reader finds and authenticates to the API: tokens, token files, exec plugins, bad configs."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from pathops_contracts.errors import InvalidInput
from pathops_runtime import kube_connection
from pathops_runtime.kube_reader import KubeReader

POD_LIST = {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": [{"metadata": {"name": "web-1"}}]}


def _kubeconfig(path: Path, server: str, user: dict[str, Any], context: str = "pathops") -> Path:
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "pathops", "context": {"cluster": "c", "user": "u", "namespace": "shop"}}],
    }))
    return path


def _expect_bearer(httpserver: HTTPServer, token: str) -> None:
    httpserver.expect_request("/api/v1/namespaces/shop/pods", headers={"Authorization": f"Bearer {token}"}
                              ).respond_with_json(POD_LIST)


def test_a_token_file_next_to_the_kubeconfig_is_sent_as_bearer(httpserver: HTTPServer, tmp_path: Path) -> None:
    (tmp_path / "token").write_text("file-token-123\n")
    config = _kubeconfig(tmp_path / "config", httpserver.url_for("/"), {"tokenFile": "token"})
    _expect_bearer(httpserver, "file-token-123")
    assert KubeReader.connect(str(config), None, 4).list("pods", "shop")[0]["metadata"]["name"] == "web-1"


def test_an_exec_plugin_goes_through_the_official_loader(httpserver: HTTPServer, tmp_path: Path) -> None:
    plugin = tmp_path / "credential-plugin"
    plugin.write_text('#!/bin/sh\necho \'{"apiVersion": "client.authentication.k8s.io/v1beta1", '
                      '"kind": "ExecCredential", "status": {"token": "exec-token-456"}}\'\n')
    plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR)
    config = _kubeconfig(tmp_path / "config", httpserver.url_for("/"), {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1beta1", "command": str(plugin), "interactiveMode": "Never"}})
    _expect_bearer(httpserver, "exec-token-456")
    assert KubeReader.connect(str(config), None, 4).list("pods", "shop")


@pytest.mark.parametrize(("server", "context", "expected"), [
    ("http://127.0.0.1:1", "elsewhere", "no context named 'elsewhere'"),
    ("ftp://127.0.0.1:1", None, "is not an http(s) URL"),
])
def test_an_unusable_kubeconfig_is_bad_input(tmp_path: Path, server: str, context: str | None, expected: str) -> None:
    config = _kubeconfig(tmp_path / "config", server, {"token": "t"})
    with pytest.raises(InvalidInput, match=expected.replace("(", r"\(").replace(")", r"\)")):
        KubeReader.connect(str(config), context, 4)


@pytest.mark.parametrize("cluster", [{"certificate-authority": "missing-ca.crt"},
                                     {"certificate-authority-data": "bm90IGEgY2VydGlmaWNhdGU="}])
def test_a_ca_that_cannot_be_read_is_bad_input(tmp_path: Path, cluster: dict[str, str]) -> None:
    # A CA file that is not there was a FileNotFoundError's traceback (exit 1), not a configuration error.
    config = _kubeconfig(tmp_path / "config", "https://127.0.0.1:1", {"token": "t"})
    document = json.loads(config.read_text())
    document["clusters"][0]["cluster"].update(cluster)
    config.write_text(json.dumps(document))
    with pytest.raises(InvalidInput, match="no usable Kubernetes configuration: TLS material unusable"):
        KubeReader.connect(str(config), None, 4)


@pytest.mark.parametrize(("host", "server"), [("10.96.0.1", "https://10.96.0.1:443"),
                                              ("fd00::1", "https://[fd00::1]:443")])
def test_in_a_pod_the_service_account_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, host: str,
                                              server: str) -> None:
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=kubernetes",
                    "-days", "1", "-keyout", str(tmp_path / "ca.key"), "-out", str(tmp_path / "ca.crt")],
                   check=True, capture_output=True)
    (tmp_path / "token").write_text("sa-token-789\n")
    monkeypatch.setattr(kube_connection, "SERVICE_ACCOUNT", tmp_path)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    connection = kube_connection.load_connection(None, None)
    assert connection.server == server
    assert connection.headers()["Authorization"] == "Bearer sa-token-789"
    assert connection.ssl_context is not None and connection.ssl_context.get_ca_certs()


@pytest.mark.parametrize("user", [{"token": "sekrit-token\n"}, {"token": "sekrit\r\nX-Injected: yes"}])
def test_credentials_that_would_inject_a_header_are_bad_input_that_never_quotes_them(
        httpserver: HTTPServer, tmp_path: Path, user: dict[str, Any]) -> None:
    config = _kubeconfig(tmp_path / "config", httpserver.url_for("/"), user)
    with pytest.raises(InvalidInput, match="Authorization header") as refused:
        KubeReader.connect(str(config), None, 4).list("pods", "shop")
    assert "sekrit" not in str(refused.value) and not httpserver.log
