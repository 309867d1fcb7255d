"""The collector against the fake API: findings, bounds, redaction, scope and gaps."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from evidence_collector.redaction import leaks_in
from pathops_contracts.bundles import sha256_file
from pathops_contracts.contracts import EVIDENCE_MANIFEST, validate_document
from pathops_testbed import kube_objects
from tests.evidence_collector import scenarios
from tests.evidence_collector.conftest import Cluster, load_jsonl, unpack
from tests.pathops_runtime.log_lines import delivered


@pytest.fixture
def snapshot(cluster: Cluster, tmp_path: Path) -> tuple[Path, dict[str, Any], Cluster]:
    cluster.api.forbid("horizontalpodautoscalers")
    result = cluster.collect("--no-upload", "--output-dir", str(tmp_path / "out"), "--time-window", "30m")
    assert result.returncode == 0, result.stderr
    folder = unpack(tmp_path / "out")
    manifest = json.loads((folder / "manifest.json").read_text())
    return folder, manifest, cluster


def _findings(folder: Path) -> dict[str, list[dict[str, Any]]]:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for finding in json.loads((folder / "findings.json").read_text())["findings"]:
        by_kind.setdefault(finding["kind"], []).append(finding)
    return by_kind


def test_manifest_is_valid_and_lists_every_file_with_its_checksum(
    snapshot: tuple[Path, dict[str, Any], Cluster],
) -> None:
    folder, manifest, _ = snapshot
    validate_document(manifest, EVIDENCE_MANIFEST)
    listed = {f["path"] for f in manifest["files"]}
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()
               and p.name != "manifest.json" and not p.name.endswith(".tar.gz") and p.parent.name != "unpacked"}
    assert listed == on_disk
    assert {"findings.json", "redaction-report.json", "objects/pods.jsonl", "objects/events.jsonl",
            "objects/rollout-diffs.jsonl", "objects/secret-references.json"} <= listed
    for entry in manifest["files"]:
        assert entry["sha256"] == sha256_file(folder / entry["path"])
    assert manifest["source"]["commit_sha"] == scenarios.SHA


def test_crash_loop_with_exit_code_and_last_error_lines(snapshot: tuple[Path, dict[str, Any], Cluster]) -> None:
    folder, _, _ = snapshot
    (crash,) = _findings(folder)["crash-loop"]
    assert crash["facts"]["exit_code"] == 1 and crash["facts"]["pod"] == "payments-abc"
    assert "KeyError: 'PAYMENTS_URL'" in crash["detail"]
    pointer = next(p for p in crash["pointers"] if p["file"].endswith(".previous.log"))
    start, end = pointer["lines"]
    log_lines = (folder / pointer["file"]).read_text().splitlines()
    assert any("fatal: configuration incomplete" in line for line in log_lines[start - 1:end])
    excerpt = (folder / "logs/payments-abc/api.previous.excerpt.txt").read_text()
    assert "== stack trace 1 ==" in excerpt
    trace = excerpt.split("== stack trace 1 ==")[1]
    assert "Traceback" in trace and 'File "/app/main.py"' in trace and "KeyError" in trace


def test_oom_killed_with_memory_limit(snapshot: tuple[Path, dict[str, Any], Cluster]) -> None:
    (oom,) = _findings(snapshot[0])["oom-killed"]
    assert oom["facts"]["memory_limit"] == "128Mi" and oom["severity"] == "critical"


def test_failing_readiness_probe(snapshot: tuple[Path, dict[str, Any], Cluster]) -> None:
    folder = snapshot[0]
    probes = _findings(folder)["probe-failure"]
    assert len(probes) == 1  # the Deployment's two pods fail alike: one finding that names both
    facts = probes[0]["facts"]
    assert facts["pod_count"] == 2 and len(set(facts["pods"])) == 2 and facts["pod"] == facts["pods"][0]
    assert probes[0]["title"] == "readiness probe fails in 2 pods of deployment/shop-frontend (/healthz:8080)"
    assert (facts["probe"], facts["path"], facts["port"], facts["status_code"]) == ("readiness", "/healthz", 8080, 404)
    pointer = next(p for p in probes[0]["pointers"] if p["file"] == "objects/events.jsonl")
    event = load_jsonl(folder / "objects/events.jsonl")[pointer["lines"][0] - 1]
    assert event["reason"] == "Unhealthy"


def test_image_pull_and_missing_configmap_key(snapshot: tuple[Path, dict[str, Any], Cluster]) -> None:
    folder = snapshot[0]
    findings = _findings(folder)
    assert findings["image-pull"][0]["facts"]["image"] == "harbor/serch:9"
    config = findings["config-error"][0]["facts"]
    assert (config["missing_key"], config["configmap"]) == ("databse_url", "shop-config")
    configmaps = json.loads((folder / "objects/configmaps.json").read_text())
    shop = next(c for c in configmaps["configmaps"] if c["name"] == "shop-config")
    assert shop["keys"] == ["database_url", "flags"]  # the fix agent can see the typo


def test_service_without_ready_endpoints(snapshot: tuple[Path, dict[str, Any], Cluster]) -> None:
    (finding,) = _findings(snapshot[0])["service-no-endpoints"]
    assert finding["facts"]["service"] == "shop-frontend"


def test_rollout_diff_shows_the_probe_change(snapshot: tuple[Path, dict[str, Any], Cluster]) -> None:
    diffs = load_jsonl(snapshot[0] / "objects/rollout-diffs.jsonl")
    diff: Any = next(d for d in diffs if d["deployment"] == "shop-frontend")
    change = next(c for c in diff["changes"] if c["path"].endswith("readinessProbe.httpGet.path"))
    assert (change["previous"], change["current"]) == ("/health", "/healthz")


def test_secrets_never_reach_the_snapshot(snapshot: tuple[Path, dict[str, Any], Cluster]) -> None:
    folder, manifest, _ = snapshot
    everything = "".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file()
                         and not p.name.endswith(".tar.gz"))
    for secret in (scenarios.LEAKED_PASSWORD, scenarios.LEAKED_TOKEN, scenarios.JWT):
        assert secret not in everything
    log = (folder / "logs").rglob("web.log").__next__().read_text()
    tokens = re.findall(r"\[REDACTED:url-credentials:([0-9a-f]{6})\]", log)
    pod_objects = (folder / "objects/pods.jsonl").read_text()
    env_tokens = re.findall(r"\[REDACTED:secret-env-value:([0-9a-f]{6})\]", pod_objects)
    assert tokens and env_tokens
    report = json.loads((folder / "redaction-report.json").read_text())
    assert report["by_kind"]["jwt"] >= 2 and report["by_kind"]["gitlab-token"] >= 2
    assert manifest["redaction"] == report["by_kind"]
    assert scenarios.LEAKED_PASSWORD not in json.dumps(report)
    # No Secret was read, references are reported by name.
    assert not any("/secrets" in request for request in snapshot[2].api.requests)
    references = json.loads((folder / "objects/secret-references.json").read_text())["references"]
    assert {"kind": "Secret", "name": "shop-api", "key": "token"}.items() <= references[0].items()


def test_same_secret_gets_the_same_token_across_files(snapshot: tuple[Path, dict[str, Any], Cluster]) -> None:
    folder = snapshot[0]
    log_tokens = set(re.findall(r"postgres://shop:\[REDACTED:url-credentials:([0-9a-f]{6})\]",
                                (folder / "logs").rglob("web.log").__next__().read_text()))
    configmap_tokens = set(re.findall(r"postgres://shop:\[REDACTED:url-credentials:([0-9a-f]{6})\]",
                                      (folder / "objects/configmaps.json").read_text()))
    assert log_tokens and log_tokens == configmap_tokens


def test_other_namespaces_and_old_events_stay_out(snapshot: tuple[Path, dict[str, Any], Cluster]) -> None:
    folder, _, cluster = snapshot
    everything = "".join(p.read_text(errors="replace") for p in folder.rglob("*.json*"))
    assert "other-team" not in everything and "intruder" not in everything
    assert "ANCIENT" not in (folder / "objects/events.jsonl").read_text()
    assert all("/namespaces/shop-frontend-preflight/" in r or r.startswith("/version")
               or r.split("?")[0] == "/api/v1/namespaces/shop-frontend-preflight" for r in cluster.api.requests)


def test_a_forbidden_resource_is_a_gap_and_the_run_goes_on(snapshot: tuple[Path, dict[str, Any], Cluster]) -> None:
    folder, manifest, _ = snapshot
    gap = next(g for g in manifest["gaps"] if g["what"] == "horizontalpodautoscalers")
    assert gap["reason"] == "forbidden" and "forbidden" in gap["detail"]
    assert (folder / "objects/poddisruptionbudgets.jsonl").exists()  # the sections after it still ran


def test_logs_are_bounded_on_the_server(cluster: Cluster, tmp_path: Path) -> None:
    result = cluster.collect("--no-upload", "--output-dir", str(tmp_path / "out"), "--log-bytes", "2048",
                             "--tail-lines", "3")
    assert result.returncode == 0, result.stderr
    log_requests = [r for r in cluster.api.requests if r.split("?")[0].endswith("/log")]
    assert log_requests
    for request in log_requests:
        assert "sinceTime=" in request and "tailLines=3" in request and "limitBytes=" in request
    folder = unpack(tmp_path / "out")
    web_log = next((folder / "logs").rglob("web.log")).read_text().splitlines()
    assert len(web_log) == 3 and web_log[-1].endswith("GET /healthz 404")


def test_suspect_containers_get_the_long_tail_healthy_ones_a_short_one(cluster: Cluster, tmp_path: Path) -> None:
    result = cluster.collect("--no-upload", "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    logs = {r.split("/pods/")[1].split("/")[0]: r for r in cluster.api.requests if "/log?" in r and "previous" not in r}
    assert "tailLines=2000" in logs["payments-abc"] and "tailLines=2000" in logs["cart-1"]
    assert "tailLines=200&" in logs["catalog-1"]
    folder = unpack(tmp_path / "out")
    assert len((folder / "logs/catalog-1/catalog.log").read_text().splitlines()) == 200
    manifest = json.loads((folder / "manifest.json").read_text())
    gap = next(g for g in manifest["gaps"] if g["what"] == "logs/catalog-1/catalog.log")
    assert gap["reason"] == "truncated" and "tailLines 200" in gap["detail"]


@pytest.mark.parametrize("max_bytes", ["20000", "4000"])
def test_byte_budget_caps_the_snapshot_and_says_so(cluster: Cluster, tmp_path: Path, max_bytes: str) -> None:
    result = cluster.collect("--no-upload", "--output-dir", str(tmp_path / "out"), "--max-bytes", max_bytes)
    assert result.returncode == 0, result.stderr
    folder = unpack(tmp_path / "out")
    manifest = json.loads((folder / "manifest.json").read_text())
    unbudgeted = {"findings.json", "redaction-report.json"}
    assert sum(f["size"] for f in manifest["files"] if f["path"] not in unbudgeted) <= int(max_bytes)
    assert unbudgeted <= {f["path"] for f in manifest["files"]}
    assert any(g["reason"] == "budget_exhausted" for g in manifest["gaps"])


def test_focus_on_one_workload(cluster: Cluster, tmp_path: Path) -> None:
    result = cluster.collect("--no-upload", "--output-dir", str(tmp_path / "out"),
                             WORKLOAD="deployment/shop-frontend")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["source_commit_sha"] == scenarios.SHA
    folder = unpack(tmp_path / "out")
    pods = load_jsonl(folder / "objects/pods.jsonl")
    assert {p["metadata"]["name"].split("-")[0] for p in pods} == {"shop"}  # type: ignore[index]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["workload"] == {"kind": "Deployment", "name": "shop-frontend"}
    assert manifest["source"]["commit_sha_from"] == "deployment/shop-frontend annotation pathops.io/source-commit"
    kinds = {f["kind"] for f in json.loads((folder / "findings.json").read_text())["findings"]}
    assert kinds == {"probe-failure", "service-no-endpoints"}


@pytest.mark.parametrize("workload", ["deployment/shop-frontend", "service/shop-web"])
def test_a_service_one_label_off_its_pods_stays_in_a_focused_snapshot(cluster: Cluster, tmp_path: Path,
                                                                     workload: str) -> None:
    # The Service that should front shop-frontend selects no pod (a typo in its selector): focused on the
    # workload, or on the Service the alert names, the snapshot keeps it and says it selects no pod.
    cluster.api.add(kube_objects.service("shop-web", scenarios.NS, {"app.kubernetes.io/name": "shop-frontnd"}))
    cluster.api.add(kube_objects.service("unrelated", scenarios.NS, {"app": "billing", "tier": "db"}))
    result = cluster.collect("--no-upload", "--output-dir", str(tmp_path / "out"), WORKLOAD=workload)
    assert result.returncode == 0, result.stderr
    folder = unpack(tmp_path / "out")
    services = {s["metadata"]["name"] for s in load_jsonl(folder / "objects/services.jsonl")}  # type: ignore[index]
    assert {"shop-web", "shop-frontend"} <= services and "unrelated" not in services
    no_pods = [f for f in json.loads((folder / "findings.json").read_text())["findings"]
               if f["kind"] == "service-no-pods"]
    assert [f["facts"]["service"] for f in no_pods] == ["shop-web"]


def test_a_namespace_rbac_forbids_fails_fast_with_exit_6(cluster: Cluster) -> None:
    cluster.api.allowed_namespaces = {"somewhere-else"}
    result = cluster.collect("--no-upload")
    assert result.returncode == 6
    assert result.stderr.strip().splitlines()[-1].startswith("evidence-collector: error: the collector may not read")
    assert len(cluster.api.requests) == 1


@pytest.mark.parametrize(("variable", "value"), [("INCIDENT_ID", 'INC-1"; rm -rf /'), ("TIME_WINDOW", "forever"),
                                                 ("TARGET_NAMESPACE", "../kube-system"), ("WORKLOAD", "deploy/x")])
def test_bad_input_exit_2(cluster: Cluster, variable: str, value: str) -> None:
    result = cluster.collect("--no-upload", **{variable: value})
    assert result.returncode == 2
    assert cluster.api.requests == []


def test_upload_then_callback(cluster: Cluster, tmp_path: Path, store_settings: Any, artifact_store: Any,
                              httpserver: Any) -> None:
    from werkzeug import Request, Response

    received: list[dict[str, Any]] = []

    def handler(request: Request) -> Response:
        # The artifact must already be in the store when the callback announces it.
        body = json.loads(request.get_data())
        artifact_store.get(body["snapshot_id"], tmp_path / "check.tar.gz")
        received.append(body)
        return Response("{}", status=202)

    httpserver.expect_request("/api/evidence/callback", method="POST").respond_with_handler(handler)
    result = cluster.collect(WORKLOAD="deployment/shop-frontend", MINIO_ENDPOINT=store_settings.endpoint,
                             MINIO_BUCKET=store_settings.bucket,
                             CONTROL_PLANE_CALLBACK_URL=httpserver.url_for("/api/evidence/callback"),
                             CALLBACK_SIGNING_KEY="k3y-for-tests")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    (payload,) = received
    assert payload["snapshot_id"] == out["snapshot_id"] and payload["incident_id"] == "INC-1042"
    assert payload["pointers"]["bundle"] == f"s3://{store_settings.bucket}/snapshots/{out['snapshot_id']}.tar.gz"
    assert payload["source_commit_sha"] == scenarios.SHA
    assert "readiness probe" in payload["summary"]
    assert "k3y-for-tests" not in result.stderr
    # Through the shared deliver: upload, then the one callback.
    assert delivered(result.stderr) == [{"artifact_id": out["snapshot_id"], "uploaded": True, "callbacks": 1}]


def test_argocd_application_status_when_allowed_and_a_gap_when_not(cluster: Cluster, tmp_path: Path) -> None:
    cluster.api.add({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                     "metadata": {"name": "shop-frontend", "namespace": "argocd"},
                     "spec": {"source": {"repoURL": "https://gitlab.demo.pathops.io/shop/shop-frontend-gitops.git",
                                         "path": "apps/shop-frontend"}},
                     "status": {"sync": {"status": "Synced", "revision": scenarios.SHA},
                                "health": {"status": "Degraded", "message": "1/3 ready"}}})
    result = cluster.collect("--no-upload", "--output-dir", str(tmp_path / "a"), ARGOCD_APPLICATION="shop-frontend")
    assert result.returncode == 0, result.stderr
    application = json.loads((unpack(tmp_path / "a") / "objects/argocd-application.json").read_text())
    assert application["health"]["status"] == "Degraded" and application["sync"]["status"] == "Synced"
    cluster.api.forbid("applications", "argocd")
    result = cluster.collect("--no-upload", "--output-dir", str(tmp_path / "b"), ARGOCD_APPLICATION="shop-frontend")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((unpack(tmp_path / "b") / "manifest.json").read_text())
    assert {"what": "applications/shop-frontend", "reason": "forbidden"}.items() <= next(
        g for g in manifest["gaps"] if g["what"] == "applications/shop-frontend").items()


@pytest.mark.parametrize("others", [0, 150])
def test_owners_and_rollout_whether_or_not_one_page_holds_every_replicaset(cluster: Cluster, tmp_path: Path,
                                                                          others: int) -> None:
    """Owners come from the ReplicaSets and Deployments read ahead when one page holds them all; past it
    (150 other ReplicaSets here) each is asked for: the snapshot says the same either way."""
    for index in range(others):
        other = kube_objects.deployment(f"batch-{index:03d}", scenarios.NS, {"containers": []})
        cluster.api.add(kube_objects.replicaset(other, 1, {"containers": []}, replicas=0))
    result = cluster.collect("--no-upload", "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    folder = unpack(tmp_path / "out")
    owners = {(o["kind"], o["metadata"]["name"]) for o in load_jsonl(folder / "objects/owners.jsonl")}
    assert ("Deployment", "shop-frontend") in owners
    assert sum(kind == "ReplicaSet" and name.startswith("shop-frontend-") for kind, name in owners) == 2
    diffs = load_jsonl(folder / "objects/rollout-diffs.jsonl")
    diff: Any = next(d for d in diffs if d["deployment"] == "shop-frontend")
    assert any(c["path"].endswith("readinessProbe.httpGet.path") for c in diff["changes"])
    asked_for = [path for path in cluster.api.requests if re.search(r"/(replicasets|deployments)/[^/?]+\??$", path)]
    assert bool(asked_for) == bool(others), asked_for  # one page held them all: no owner asked for by name


def test_an_owner_that_cannot_be_read_is_asked_for_once_and_is_one_gap(cluster: Cluster, tmp_path: Path) -> None:
    """Both shop-frontend pods name one ReplicaSet: RBAC refusing ReplicaSets is one request and one gap for
    it, not one per pod (300 replicas made 300 requests, one after the other, and 300 gaps)."""
    cluster.api.forbid("replicasets")
    result = cluster.collect("--no-upload", "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    manifest = json.loads((unpack(tmp_path / "out") / "manifest.json").read_text())
    gaps = [gap["what"] for gap in manifest["gaps"] if gap["what"].startswith("replicasets/shop-frontend-")]
    assert len(gaps) == 1 and {"what": gaps[0], "reason": "forbidden"}.items() <= next(
        gap for gap in manifest["gaps"] if gap["what"] == gaps[0]).items()
    asked = [path for path in cluster.api.requests if f"/{gaps[0]}?" in path or path.endswith(f"/{gaps[0]}")]
    assert len(asked) == 1, asked


def _collect_with_crash_log_line(cluster: Cluster, tmp_path: Path, line: str) -> tuple[Path, str]:
    """Collect with `line` in the middle of payments' crash log: (the unpacked snapshot, that log as kept)."""
    cluster.api.set_log(scenarios.NS, "payments-abc", "api", scenarios.lines(
        "Booting payments api", line, "fatal: configuration incomplete"), previous=True)
    result = cluster.collect("--no-upload", "--output-dir", str(tmp_path / "out"), "--time-window", "30m")
    assert result.returncode == 0, result.stderr
    folder = unpack(tmp_path / "out")
    return folder, (folder / "logs/payments-abc/api.previous.log").read_text()


@pytest.mark.parametrize("line", ["loading deploy key: PuTTY-User-Key-File-2: ssh-rsa",
                                  "openssl: expected BEGIN RSA PRIVATE KEY, got a certificate",
                                  "verified webhook signature=valid", "retrying with pw=hunter2"])
def test_one_log_line_the_final_scan_would_refuse_does_not_stop_the_snapshot(cluster: Cluster, tmp_path: Path,
                                                                              line: str) -> None:
    """The final scan refuses these; left unredacted, one line an app (or whoever can write to its log)
    prints made the collector refuse the whole snapshot (exit 4). They are redacted, the rest is kept."""
    folder, log = _collect_with_crash_log_line(cluster, tmp_path, line)
    assert line not in log and "[REDACTED:" in log and "Booting payments api" in log
    assert line not in (folder / "findings.json").read_text()


# Lines the redactor leaves and the independent final scan refuses (found by attacking the pair: an unclosed
# quote, a flag's quoted value, detect-secrets' keyword detectors that take a blank as the separator, a name
# the scan takes for a secret's). There will be more such lines than rules can list.
SCAN_ONLY_LINES = ["login with password='hunter2", "exec app --db-password 'hunter2'",
                   "args: x.--password hunter2", "using auth_backend=ldap",
                   "cache token " + "tenant-0001-region-eu-west-1-shard-000000042",
                   "secret_key " + "0123456789abcdef" * 3, 'msg={"user": "a", "secret_files": "a.txt"}']


@pytest.mark.parametrize("line", SCAN_ONLY_LINES)
def test_a_log_line_only_the_final_scan_refuses_is_redacted_whole_and_the_snapshot_delivered(
        cluster: Cluster, tmp_path: Path, line: str) -> None:
    """Whatever line a log carries, the run delivers: a line the final scan still refuses after redaction
    is replaced whole by a token (counted in the redaction report), not the snapshot refused (exit 4)."""
    folder, log = _collect_with_crash_log_line(cluster, tmp_path, line)
    assert "hunter2" not in log and line not in log
    assert "Booting payments api" in log and "fatal: configuration incomplete" in log
    assert len(log.splitlines()) == 3  # one line for one: every pointer still lands where it did
    assert line not in (folder / "findings.json").read_text()
    for member in folder.rglob("*"):
        assert member.is_dir() or "hunter2" not in member.read_text(errors="replace"), member
    assert leaks_in((folder / "logs/payments-abc/api.previous.log").read_bytes()) == []


def test_an_object_field_only_the_final_scan_refuses_is_replaced_and_the_snapshot_delivered(
        cluster: Cluster, tmp_path: Path) -> None:
    """A benign annotation the scan takes for a secret (`auth_backend: ldap`) and a ConfigMap value that is
    random-looking only as JSON escapes it: each value is replaced, every JSON line stays an object."""
    payments_rs = next(o for name, o in cluster.api.objects["replicasets"][scenarios.NS].items()
                       if name.startswith("payments-"))
    extra = kube_objects.pod("payments-def", payments_rs, [kube_objects.running("api", "harbor/pay:1")])
    extra["metadata"]["annotations"] = {"example.com/auth_backend": "ldap", "team": "payments"}
    cluster.api.add(extra)
    cluster.api.add(kube_objects.configmap("pay-config", scenarios.NS, {
        "app.conf": "key ids:\nAbCdEfGhIjKlMnOpQrStU9w\n", "flags": "checkout=on"}))
    result = cluster.collect("--no-upload", "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    folder = unpack(tmp_path / "out")
    pods = {p["metadata"]["name"]: p for p in load_jsonl(folder / "objects/pods.jsonl")}  # each line JSON
    annotations: Any = pods["payments-def"]["metadata"]["annotations"]
    assert annotations["team"] == "payments"
    assert annotations["example.com/auth_backend"].startswith("[REDACTED:scan-refused:")
    assert "AbCdEfGhIjKlMnOpQrStU9w" not in "".join(p.read_text() for p in folder.rglob("*.json*"))
    report = json.loads((folder / "redaction-report.json").read_text())
    assert report["by_kind"]["scan-refused"] >= 1


def test_one_refused_line_printed_many_times_is_replaced_every_time_and_the_snapshot_delivered(
        cluster: Cluster, tmp_path: Path) -> None:
    """The scan placed a detector's value at its first occurrence only: each round of replacing cleared one
    copy, so a line printed ten times (a retry loop) refused the whole snapshot (exit 4)."""
    line = "cache token " + "tenant-0001-region-eu-west-1-shard-000000042"
    cluster.api.set_log(scenarios.NS, "payments-abc", "api", scenarios.lines(
        "Booting payments api", *[line] * 10, "fatal: configuration incomplete"), previous=True)
    result = cluster.collect("--no-upload", "--output-dir", str(tmp_path / "out"), "--time-window", "30m")
    assert result.returncode == 0, result.stderr
    folder = unpack(tmp_path / "out")
    log = (folder / "logs/payments-abc/api.previous.log").read_text().splitlines()
    assert len(log) == 12 and "Booting payments api" in log[0] and "fatal: configuration incomplete" in log[-1]
    assert all(entry.startswith("[REDACTED:scan-refused:") for entry in log[1:-1])
    for member in folder.rglob("*"):
        assert member.is_dir() or "tenant-0001-region" not in member.read_text(errors="replace"), member


def test_an_image_only_the_final_scan_refuses_in_the_summary_and_the_manifest_does_not_stop_the_snapshot(
        cluster: Cluster, tmp_path: Path) -> None:
    """`harbor/auth_backend:ldap` is a valid image the redactor leaves and the scan refuses; it reached the
    summary (a finding's title) and the manifest (`source.image`), where a hit refused the whole snapshot
    (exit 4) whoever can set an image. The summary line and the manifest value are replaced instead."""
    image = "harbor/auth_backend:ldap"
    for kind in ("deployments", "replicasets", "pods"):
        for name, obj in cluster.api.objects[kind][scenarios.NS].items():
            if name.startswith("search"):
                spec = obj["spec"] if kind == "pods" else obj["spec"]["template"]["spec"]
                spec["containers"][0]["image"] = image
                for status in obj.get("status", {}).get("containerStatuses", []):
                    status["image"] = image
    result = cluster.collect("--no-upload", "--output-dir", str(tmp_path / "out"), "--workload", "deployment/search")
    assert result.returncode == 0, result.stderr
    assert "auth_backend" not in result.stdout + result.stderr
    folder = unpack(tmp_path / "out")
    manifest = json.loads((folder / "manifest.json").read_text())
    validate_document(manifest, EVIDENCE_MANIFEST)
    assert manifest["source"]["image"].startswith("[REDACTED:scan-refused:")
    findings = json.loads((folder / "findings.json").read_text())
    assert "[REDACTED:scan-refused:" in findings["summary"]
    assert "image-pull" in {f["kind"] for f in findings["findings"]}
    for member in folder.rglob("*"):
        assert member.is_dir() or "auth_backend:ldap" not in member.read_text(errors="replace"), member
    report = json.loads((folder / "redaction-report.json").read_text())
    assert report["by_kind"]["scan-refused"] >= 2


def test_a_service_selector_the_scan_refuses_only_sorted_leaves_findings_valid_and_clean(
        cluster: Cluster, tmp_path: Path) -> None:
    """A Service's selector, quoted in a finding's facts, that the scan refuses only as findings.json writes
    it (keys sorted): the bundled findings.json was invalid JSON (a finding's line replaced by a bare
    token: the fix-agent refuses the snapshot) and the copy in --output-dir still held what the scan refused."""
    cluster.api.add(kube_objects.service("legacy", scenarios.NS, {"z": "0" * 40, "key": "y", "aws": "x"}))
    result = cluster.collect("--no-upload", "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    kept = (tmp_path / "out" / "findings.json").read_bytes()
    folder = unpack(tmp_path / "out")
    assert (folder / "findings.json").read_bytes() == kept and leaks_in(kept) == []
    findings = json.loads(kept)["findings"]
    legacy = next(f for f in findings if f["kind"] == "service-no-pods" and f["facts"]["service"] == "legacy")
    assert legacy["pointers"] and isinstance(legacy["facts"], dict)
