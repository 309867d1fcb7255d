"""Planted secrets of every shape seen in the wild, through the real collector against the fake API.

Over 200 distinct secret values are planted in container logs (cut by the real bounds too),
env values, args, annotations, ConfigMap values, events and a rollout's two revisions. Not
one may reach any file of the snapshot, its manifest, or the collector's output; and the
identifiers a fix needs (names that merely contain a keyword, SHAs, digests, ports, paths)
must survive untouched.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pathops_testbed.http_server import BackgroundServer
from pathops_testbed.kube_api import FakeKubernetes, StaticLog, write_kubeconfig
from pathops_testbed.kube_objects import configmap, container, deployment, event, pod, replicaset, running
from tests.evidence_collector.conftest import Cluster, load_jsonl, unpack

NS = "vault-client-preflight"
SHA = "9e1f0c2b3a4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f"
DIGEST = "sha256:" + "3b" * 32
IMAGE = f"harbor.demo.pathops.io/shop/vault-client@{DIGEST}"
ALNUM = string.ascii_letters + string.digits
TAIL_LINES = 1600
LOG_BYTES = 120_000
B64 = ALNUM + "+/"


@dataclass
class Corpus:
    """Secret values, each planted somewhere; `shape` counts them by the shape they were planted as."""

    rng: random.Random = field(default_factory=lambda: random.Random(13))
    values: dict[str, str] = field(default_factory=dict)  # value -> shape

    def word(self, length: int, alphabet: str = ALNUM) -> str:
        # Every value mixes the classes of its alphabet: a planted secret must be one, not a word of the log.
        classes = [test for test in (str.isdigit, str.isupper, str.islower) if any(test(c) for c in alphabet)]
        while True:
            value = "".join(self.rng.choice(alphabet) for _ in range(length))
            if all(any(test(c) for c in value) for test in classes):
                return value

    def plant(self, shape: str, value: str) -> str:
        assert value not in self.values
        self.values[value] = shape
        return value


def _pem_body(corpus: Corpus, shape: str, lines: int) -> list[str]:
    return [corpus.plant(shape, corpus.word(64, B64)) for _ in range(lines)]


# Each shape: (log line builder). Builders plant the value(s) and return the line.
def _log_shapes(c: Corpus) -> dict[str, Callable[[], str]]:
    def basic_in_json() -> str:
        user, password = c.word(8), c.word(14)
        encoded = c.plant("basic-in-json", base64.b64encode(f"{user}:{password}".encode()).decode())
        return json.dumps({"level": "info", "headers": {"Authorization": f"Basic {encoded}"}})

    return {
        "slack-bot-token": lambda: "posting alert with " + c.plant(
            "slack-bot-token", f"xoxb-{c.rng.randrange(10**9, 10**10)}-{c.rng.randrange(10**12, 10**13)}-{c.word(24)}"),
        "slack-webhook": lambda: "webhook https://hooks.slack.com/services/T{}/B{}/{}".format(
            c.word(8).upper(), c.word(8).upper(), c.plant("slack-webhook", c.word(24))),
        "stripe-live": lambda: "charging with sk_live_" + c.plant("stripe-live", c.word(24)),
        "stripe-test": lambda: "stripe key=rk_test_" + c.plant("stripe-test", c.word(24)),
        "google-api-key": lambda: "maps client ready AIza" + c.plant("google-api-key", c.word(35, ALNUM + "_-")),
        "azure-account-key": lambda: "DefaultEndpointsProtocol=https;AccountName=shopstore;AccountKey={};"
                                     "EndpointSuffix=core.windows.net".format(
                                         c.plant("azure-account-key", c.word(86, B64) + "==")),
        "client-key-data": lambda: "    client-key-data: " + c.plant("client-key-data", c.word(60, B64) + "=="),
        "basic-in-json": basic_in_json,
        "x-api-key": lambda: 'curl -H "X-Api-Key: {}" https://payments/api'.format(c.plant("x-api-key", c.word(32))),
        "pwd": lambda: "mysql --host=db pwd=" + c.plant("pwd", c.word(12)),
        "url-empty-user": lambda: "connecting to redis://:{}@cache:6379/0".format(
            c.plant("url-empty-user", c.word(18))),
        "flag-value": lambda: "exec /app/server --db-password {} --port 8080".format(c.plant("flag-value", c.word(16))),
        "json-escaped": lambda: json.dumps({"msg": "loaded config " + json.dumps(
            {"user": "shop", "password": c.plant("json-escaped", c.word(16))})}),
        "json-in-json-lines": lambda: json.dumps({"log": json.dumps(
            {"level": "debug", "db_password": c.plant("json-in-json-lines", c.word(16))}), "stream": "stdout"}),
        "password-with-slash-at": lambda: "DB_PASSWORD={} ready".format(
            c.plant("password-with-slash-at", f"{c.word(6)}/{c.word(4)}@{c.word(4)}")),
        "url-password-with-slash-at": lambda: "postgres://shop:{}@db:5432/shop".format(
            c.plant("url-password-with-slash-at", f"{c.word(6)}/{c.word(4)}@{c.word(4)}")),
        "fake-token-prefix": lambda: "password=[REDACTED:secret-assignment:abcdef]" + c.plant(
            "fake-token-prefix", c.word(12)),
        "aws-access-key": lambda: "aws key AKIA" + c.plant("aws-access-key", c.word(16, string.ascii_uppercase
                                                                                     + string.digits)),
        "github-token": lambda: "cloning with ghp_" + c.plant("github-token", c.word(36)),
        "gitlab-token": lambda: "pushing with glpat-" + c.plant("gitlab-token", c.word(20)),
        "bearer": lambda: "Authorization: Bearer " + c.plant("bearer", c.word(40)),
    }


# Look-alikes of secrets that are evidence: they must reach the snapshot verbatim.
SURVIVORS = [
    "AUTH_URL=https://auth.shop.example.com/login", "TOKEN_TTL_SECONDS=3600", "tokens_used=1500",
    "authenticated=true", "author=alice", "secretName=shop-tls", f"image={IMAGE}", f"commit {SHA}",
    "listening on 0.0.0.0:8443", "path=/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
    "trace_id=4bf92f3577b34da6a3ce929d0e0e4736", "DB_PASSWORD_FILE=/run/secrets/db-password",
]


def _lines(texts: list[str], minutes_ago: float = 10) -> StaticLog:
    start = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return StaticLog([(start + timedelta(milliseconds=10 * i), text) for i, text in enumerate(texts)])


def _filler(count: int, tag: str) -> list[str]:
    return [f"{tag} request {i:05d} GET /api/v1/cart/{i} 200 in 3 ms user=alice" for i in range(count)]


def build(api: FakeKubernetes, corpus: Corpus) -> None:
    shapes = _log_shapes(corpus)
    main_log = [*SURVIVORS]
    for _ in range(9):
        main_log += [make() for make in shapes.values()]
    # A key and a PGP key whose END never comes (the process died while logging them).
    main_log += ["dumping key", "-----BEGIN PGP PRIVATE KEY BLOCK-----", *_pem_body(corpus, "pgp-no-end", 3)]
    # Bounds cut the BEGIN off one key (tailLines) and the END off another (limitBytes).
    # With TAIL_LINES the first kept line is the 4th line of the first key's body; LOG_BYTES ends the log
    # half way through the second key's body.
    sidecar_log = [*_filler(60, "early"), "-----BEGIN RSA PRIVATE KEY-----", *_pem_body(corpus, "pem-begin-cut", 6),
                   "-----END RSA PRIVATE KEY-----", *_filler(TAIL_LINES - 607, "mid"),
                   "-----BEGIN EC PRIVATE KEY-----", *_pem_body(corpus, "pem-end-cut", 600),
                   "-----END EC PRIVATE KEY-----"]

    slashed = f"{corpus.word(8)}/{corpus.word(4)}@{corpus.word(4)}"
    env_values = {"DB_PASSWORD": corpus.plant("env-with-slash-at", slashed)}
    env_values.update({name: corpus.plant(f"env:{name}", corpus.word(20)) for name in (
        "API_KEY", "STRIPE_SECRET", "SLACK_TOKEN", "X_API_KEY", "SMTP_PASS", "clientSecret")})
    cache_password = corpus.plant("env-url-empty-user", corpus.word(18))
    arg_values = [corpus.plant("argv-pair", corpus.word(18)) for _ in range(2)] + [
        corpus.plant("argv-assignment", corpus.word(18))]
    annotation_values = [corpus.plant("annotation", corpus.word(24)) for _ in range(3)]
    previous_password = corpus.plant("rollout-previous", corpus.word(20))

    env = [{"name": name, "value": value} for name, value in env_values.items()] + [
        {"name": "CACHE_URL", "value": f"redis://:{cache_password}@cache:6379/0"},
        {"name": "AUTH_URL", "value": "https://auth.shop.example.com/login"},
        {"name": "TOKEN_TTL_SECONDS", "value": "3600"},
        {"name": "SETTINGS", "valueFrom": {"configMapKeyRef": {"name": "vault-client-config", "key": "settings"}}}]
    web = container("web", IMAGE, port=8443, env=env,
                    args=["--db-password", arg_values[0], "--api-key", arg_values[1], f"--token={arg_values[2]}",
                          "--token-ttl-seconds", "3600"])
    sidecar = container("sidecar", "harbor.demo.pathops.io/shop/agent:1.4.2", port=9100, probe_path=None)
    spec = {"containers": [web, sidecar], "automountServiceAccountToken": False,
            "volumes": [{"name": "tls", "secret": {"secretName": "shop-tls"}},
                        {"name": "config", "configMap": {"name": "vault-client-config"}}]}
    template_annotations = {"example.com/api-token": annotation_values[0],
                            "example.com/notes": f"rotate: db password={annotation_values[1]} on friday",
                            "example.com/alerts": f"https://hooks.slack.com/services/T0AAA/B0BBB/{annotation_values[2]}",
                            "pathops.io/source-commit": SHA}
    app = deployment("vault-client", NS, spec, revision=2, template_annotations=template_annotations, replicas=1)
    old_env = [dict(e, value=previous_password) if e["name"] == "DB_PASSWORD" else e for e in env]
    current = replicaset(app, 2, spec, replicas=1)
    previous = replicaset(app, 1, {**spec, "containers": [dict(web, env=old_env), sidecar]}, replicas=0)
    kubeconfig = "\n".join([
        "apiVersion: v1", "kind: Config", "users:", "- name: ci", "  user:",
        f"    client-certificate-data: {base64.b64encode(b'-----BEGIN CERTIFICATE-----').decode()}",
        f"    client-key-data: {corpus.plant('configmap-kubeconfig', corpus.word(80, B64) + '==')}",
        f"    token: {corpus.plant('configmap-kubeconfig', corpus.word(40))}"])
    settings = json.dumps({"auth": {"password": corpus.plant("configmap-json", corpus.word(16))},
                           "stripe": "sk_live_" + corpus.plant("configmap-json", corpus.word(24))})
    api.add_all([app, current, previous, configmap("vault-client-config", NS, {
        "kubeconfig": kubeconfig, "settings": settings,
        "database_url": f"postgres://shop:{corpus.plant('configmap-url', corpus.word(16))}@db:5432/shop",
        "SMTP_PASSWORD": corpus.plant("configmap-value", corpus.word(16)),
        "redis": f"redis://:{corpus.plant('configmap-url', corpus.word(16))}@cache:6379"})])
    name = "vault-client-7c9d5-abcde"
    api.add(pod(name, current, [running("web", IMAGE, ready=False), running("sidecar", sidecar["image"])]))
    api.set_log(NS, name, "web", _lines(main_log))
    api.set_log(NS, name, "sidecar", _lines(sidecar_log, minutes_ago=20))
    for index in range(3):
        token = corpus.plant("event-message", corpus.word(20))
        api.add(event(NS, "Pod", name, "Failed", f"Failed to pull image: unauthorized: token={token} (try {index})",
                      4 + index))


@pytest.fixture
def planted(tmp_path: Path) -> Iterator[tuple[Cluster, Corpus]]:
    api = FakeKubernetes()
    corpus = Corpus()
    build(api, corpus)
    with BackgroundServer(api) as server:
        yield Cluster(api, write_kubeconfig(tmp_path / "kubeconfig", server.url, NS)), corpus


def _collect(cluster: Cluster, out: Path) -> tuple[Path, str]:
    result = cluster.collect("--no-upload", "--output-dir", str(out), "--time-window", "1h",
                             "--tail-lines", str(TAIL_LINES), "--log-bytes", str(LOG_BYTES), TARGET_NAMESPACE=NS,
                             WORKLOAD="deployment/vault-client")
    assert result.returncode == 0, result.stderr
    return unpack(out), result.stdout + result.stderr


def test_no_planted_secret_reaches_the_snapshot(planted: tuple[Cluster, Corpus], tmp_path: Path) -> None:
    cluster, corpus = planted
    assert len([shape for shape in corpus.values.values() if not shape.startswith("pem-")]) >= 200
    folder, output = _collect(cluster, tmp_path / "out")
    files = {p.relative_to(folder).as_posix(): p.read_text(errors="replace") for p in folder.rglob("*")
             if p.is_file() and not p.name.endswith(".tar.gz")}
    assert "manifest.json" in files and "objects/rollout-diffs.jsonl" in files
    leaks = sorted({(shape, name) for value, shape in corpus.values.items() for name, text in
                    {**files, "(output)": output}.items() if value in text})
    assert leaks == [], f"{len(leaks)} planted values leaked: {leaks[:20]}"
    # The bounds really did cut the keys: the tail starts inside the first key, the bytes end inside the second.
    sidecar = files["logs/vault-client-7c9d5-abcde/sidecar.log"]
    assert "early request" not in sidecar and "mid request" in sidecar
    last = sidecar.splitlines()[-1]
    assert "[REDACTED:pem-private-key:" in last and "-----" not in sidecar


def test_the_rollout_diff_shows_a_changed_secret_by_its_tokens(planted: tuple[Cluster, Corpus], tmp_path: Path) -> None:
    folder, _ = _collect(planted[0], tmp_path / "out")
    (diff,) = load_jsonl(folder / "objects/rollout-diffs.jsonl")
    changes: Any = diff["changes"]
    (change,) = [c for c in changes if "DB_PASSWORD" in c["path"]]
    assert change["previous"].startswith("[REDACTED:") and change["current"].startswith("[REDACTED:")
    assert change["previous"] != change["current"]  # the evidence still says the password changed


def test_identifiers_a_fix_needs_survive(planted: tuple[Cluster, Corpus], tmp_path: Path) -> None:
    folder, _ = _collect(planted[0], tmp_path / "out")
    log = (folder / "logs/vault-client-7c9d5-abcde/web.log").read_text()
    for survivor in SURVIVORS:
        assert survivor in log
    (pod_object,) = load_jsonl(folder / "objects/pods.jsonl")
    spec: Any = pod_object["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["volumes"][0]["secret"]["secretName"] == "shop-tls"
    web = spec["containers"][0]
    assert web["image"] == IMAGE and web["ports"][0]["containerPort"] == 8443
    env = {e["name"]: e.get("value") for e in web["env"]}
    assert env["AUTH_URL"] == "https://auth.shop.example.com/login" and env["TOKEN_TTL_SECONDS"] == "3600"
    assert web["args"][-2:] == ["--token-ttl-seconds", "3600"]
    owners: Any = load_jsonl(folder / "objects/owners.jsonl")
    (app,) = [o for o in owners if o["kind"] == "Deployment"]
    annotations = app["spec"]["template"]["metadata"]["annotations"]
    assert annotations["pathops.io/source-commit"] == SHA
    assert annotations["example.com/notes"].startswith("rotate: db password=[REDACTED:")
    configmaps = json.loads((folder / "objects/configmaps.json").read_text())
    assert "kubeconfig" in configmaps["configmaps"][0]["keys"]
