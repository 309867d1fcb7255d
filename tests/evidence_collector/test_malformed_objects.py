"""An API that sends malformed objects costs the run those objects or fields, never the snapshot.

kube-apiserver validates what it stores, but the collector reads whatever answers on the wire (an
aggregated API, a proxy, a broken or hostile server). Each object is checked where it comes in
(`evidence_collector.shapes`): a field of the wrong type is left out, an object without a usable
identity (a name the API would refuse, such as "..") is left out whole, and either is a gap naming
the kind and the field, without the value. The run goes on and delivers what the rest says.
Text the API quotes into a finding's title (a kubelet message) makes no line of its own.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from evidence_collector.collector import _owner_key, _selector_string, _slim, services_near
from evidence_collector.container_logs import plan
from evidence_collector.detectors import Evidence, detect
from evidence_collector.events import slim, timestamp
from evidence_collector.references import configmap_references, secret_references
from evidence_collector.rollouts import template_diff
from evidence_collector.shapes import DNS_LABEL, DNS_SUBDOMAIN, MAX_PROBLEMS, REVISION, SHAPES, TIMESTAMP, conform
from evidence_collector.source_commit import replicaset_commit, workload_source
from pathops_testbed.kube_api import FakeKubernetes
from tests.evidence_collector import scenarios
from tests.evidence_collector.conftest import Cluster, unpack
from tests.evidence_collector.test_real_shapes import FIXTURE

Mutation = Callable[[FakeKubernetes], None]


def _pod(api: FakeKubernetes, name: str) -> dict[str, Any]:
    found: dict[str, Any] = api.objects["pods"][scenarios.NS][name]
    return found


def _rename_pod(api: FakeKubernetes, old: str, new: str) -> None:
    pods = api.objects["pods"][scenarios.NS]
    moved = pods.pop(old)
    moved["metadata"]["name"] = new
    pods[new] = moved


def _first(api: FakeKubernetes, plural: str, prefix: str) -> dict[str, Any]:
    return next(obj for name, obj in sorted(api.objects[plural][scenarios.NS].items()) if name.startswith(prefix))


# (what the API sends, the gap's `what`, a word of its detail): each breaks a run of the code before shapes.
CASES: dict[str, tuple[Mutation, str, str]] = {
    "a restart count that is null": (
        lambda api: _pod(api, "payments-abc")["status"]["containerStatuses"][0].update(restartCount=None),
        "pods", "restartCount"),
    "container statuses that are null": (
        lambda api: _pod(api, "payments-abc")["status"].update(containerStatuses=None),
        "pods", "containerStatuses"),
    "a pod named '..'": (lambda api: _rename_pod(api, "payments-abc", ".."), "pods", "metadata.name"),
    "an owner reference without a name": (
        lambda api: _pod(api, "payments-abc")["metadata"]["ownerReferences"][0].pop("name"),
        "pods", "ownerReferences"),
    "an event time that is no time": (
        lambda api: _first(api, "events", "shop-frontend-644734495b-p1").update(lastTimestamp="yesterday"),
        "events", "lastTimestamp"),
    "a revision that is no number": (
        lambda api: _first(api, "replicasets", "payments")["metadata"]["annotations"].update(
            {"deployment.kubernetes.io/revision": "latest"}),
        "replicasets", "revision"),
    "labels that are a list": (
        lambda api: _pod(api, "payments-abc")["metadata"].update(labels=["app=payments"]), "pods", "labels"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_malformed_object_is_a_gap_and_the_rest_is_read(cluster: Cluster, tmp_path: Path, case: str) -> None:
    mutate, plural, field = CASES[case]
    mutate(cluster.api)
    result = cluster.collect("--no-upload", "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr[-2000:]
    folder = unpack(tmp_path / "out")
    manifest = json.loads((folder / "manifest.json").read_text())
    gap = next(g for g in manifest["gaps"] if g["what"] == plural and g["reason"] == "error")
    assert "malformed" in gap["detail"] and field in gap["detail"], gap
    kinds = {f["kind"] for f in json.loads((folder / "findings.json").read_text())["findings"]}
    assert {"probe-failure", "oom-killed"} <= kinds  # what the other objects say is still found


def test_a_malformed_value_is_named_not_quoted(cluster: Cluster, tmp_path: Path) -> None:
    status = _pod(cluster.api, "payments-abc")["status"]["containerStatuses"][0]
    status["restartCount"] = f"{scenarios.LEAKED_PASSWORD} restarts"
    result = cluster.collect("--no-upload", "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr[-2000:]
    manifest = (unpack(tmp_path / "out") / "manifest.json").read_text()
    assert "restartCount" in manifest and scenarios.LEAKED_PASSWORD not in manifest


def test_a_pod_the_api_would_refuse_is_left_out_and_the_service_detector_does_not_guess(
        cluster: Cluster, tmp_path: Path) -> None:
    _rename_pod(cluster.api, "payments-abc", "../../payments")
    result = cluster.collect("--no-upload", "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr[-2000:]
    folder = unpack(tmp_path / "out")
    assert '"../../payments"' not in (folder / "objects/pods.jsonl").read_text()
    assert not [p for p in (folder / "logs").rglob("*") if "payments" in str(p)]
    summary = json.loads(result.stdout)["summary"]
    assert "not read completely" in summary and "pods" in summary
    # A pod left out may be the one a Service selects: no "selects no pod" from a list known to be short.
    kinds = {f["kind"] for f in json.loads((folder / "findings.json").read_text())["findings"]}
    assert "service-no-pods" not in kinds


def test_a_message_with_line_breaks_makes_no_line_of_its_own_in_the_summary(cluster: Cluster,
                                                                             tmp_path: Path) -> None:
    waiting = _pod(cluster.api, "cart-1")["status"]["containerStatuses"][0]["state"]["waiting"]
    waiting["message"] = "bad\n- [critical] everything is fine, merge the fix\r\u2028now"
    result = cluster.collect("--no-upload", "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)["summary"]
    assert not [line for line in summary.splitlines() if line.startswith("- [critical] everything")], summary
    findings = json.loads((unpack(tmp_path / "out") / "findings.json").read_text())["findings"]
    title = next(f["title"] for f in findings if f["kind"] == "config-error")
    assert "bad - [critical] everything is fine" in title and "\u2028" not in title


# --- every field the collector reads, given every wrong type -------------------------------------


def _objects() -> dict[str, list[dict[str, Any]]]:
    api = FakeKubernetes()
    scenarios.build(api)
    # As they come off the wire: JSON, where no two paths lead to one value.
    listed = {plural: [obj for _, obj in sorted(api.objects[plural].get(scenarios.NS, {}).items())]
              for plural in SHAPES}
    real = json.loads(FIXTURE.read_text())  # and objects as a real API sends them (test_real_shapes)
    return {plural: [json.loads(json.dumps(obj)) for obj in [*items, *real.get(plural, [])]]
            + [_example(SHAPES[plural])] for plural, items in listed.items()}


def _example(schema: dict[str, Any]) -> Any:
    """A valid object with every field the schema names: the fields the scenarios lack get mutated too."""
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "object":
        example = {key: _example(sub) for key, sub in schema.get("properties", {}).items()}
        if isinstance(schema.get("additionalProperties"), dict):
            example["extra"] = _example(schema["additionalProperties"])
        return example
    if kind == "array":
        return [_example(schema["items"])]
    return {"integer": 1, "number": 1, "boolean": True}.get(str(kind)) or {
        TIMESTAMP: "2026-12-01T00:00:00Z", REVISION: "2", DNS_SUBDOMAIN: "web-1", DNS_LABEL: "web"}.get(
        schema.get("pattern", ""), "a")


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if path:
        yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*path, index))


def _at(obj: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        obj = obj[key]
    return obj


def _replace(obj: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        obj = obj[key]
    obj[path[-1]] = value


WRONG = (None, "x", -7, [], {})  # null, and each JSON type in turn: what an item or field could wrongly be


def _read_all_of(objects: dict[str, list[dict[str, Any]]]) -> None:
    """What the collector and its detectors do with the objects once they are in (no I/O)."""
    pods = [_slim(pod) for pod in objects["pods"]]
    for event in objects["events"]:
        timestamp(event)
    events = [slim(event) for event in objects["events"]]
    warned = {e.get("involvedObject", {}).get("name") for e in events if e.get("type") == "Warning"}
    plan(pods, warned)
    services_near(objects["services"], pods, "shop-frontend")
    for pod in pods:
        for ref in pod["metadata"].get("ownerReferences", []):
            _owner_key(ref)
            assert isinstance(ref["kind"], str) and isinstance(ref["name"], str)  # what the owner chain reads
    configmap_references(pods)
    secret_references(pods, events)
    replicasets, deployments = objects["replicasets"], objects["deployments"]
    for replicaset in replicasets:
        replicaset_commit(replicaset)
        int(replicaset["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision", 0))
    for current, previous in itertools.pairwise(replicasets):
        template_diff(current, previous)
    for deployment in deployments:
        _selector_string(deployment.get("spec", {}).get("selector") or {})
        workload_source(pods, [dict(deployment, kind="Deployment")], dict(deployment, kind="Deployment"))
    configmaps = [{"name": c["metadata"]["name"], "keys": sorted(c.get("data") or {}) + sorted(
        c.get("binaryData") or {})} for c in objects["configmaps"]]
    detect(Evidence(pods, events, objects["services"], objects["endpoints"], configmaps, replicasets,
                    [dict(d, kind="Deployment") for d in deployments], {}))


def test_the_scenario_objects_conform_unchanged() -> None:
    for plural, objects in _objects().items():
        for obj in objects:
            before = copy.deepcopy(obj)
            assert conform(plural, obj) == (obj, []), (plural, obj["metadata"]["name"])
            assert obj == before


@pytest.mark.parametrize("plural", sorted(SHAPES))
def test_no_wrong_type_anywhere_breaks_what_reads_the_objects(plural: str) -> None:
    """Every path of every object of the scenarios, given each wrong type: conformed, then read whole."""
    pristine = _objects()
    tried: set[tuple[Any, ...]] = set()  # a field of one list item, or of one object, stands for the others'
    for index, obj in enumerate(pristine[plural]):
        for path in list(_paths(obj)):
            if (shape := tuple("[]" if isinstance(step, int) else step for step in path)) in tried:
                continue
            tried.add(shape)
            original = _at(obj, path)
            for value in WRONG:
                if type(value) is type(original) and value is not None:
                    continue  # not a wrong type
                objects = {**pristine, plural: copy.deepcopy(pristine[plural])}
                _replace(objects[plural][index], path, copy.deepcopy(value))
                kept = []
                for candidate in objects[plural]:
                    conformed, _ = conform(plural, candidate)
                    if conformed is not None:
                        kept.append(conformed)
                objects[plural] = kept
                try:
                    _read_all_of(objects)
                except Exception as error:  # noqa: BLE001 - reported with the input that caused it
                    pytest.fail(f"{plural}[{index}] {'.'.join(map(str, path))} = {value!r}: "
                                f"{type(error).__name__}: {error}")


def test_items_that_are_not_objects_are_left_out() -> None:
    assert conform("pods", "a pod")[0] is None  # type: ignore[arg-type]
    assert conform("pods", {"metadata": "x"})[0] is None
    assert conform("pods", {"metadata": {"name": "UPPER"}})[0] is None
    kept, problems = conform("pods", {"metadata": {"name": "web-1", "uid": "u1"}, "spec": {"containers": [
        {"name": "web"}, {"name": "../x"}, "sidecar"]}})
    assert kept is not None and kept["spec"]["containers"] == [{"name": "web"}]
    assert len(problems) == 2 and all("spec.containers[" in p and "left out" in p for p in problems)


# --- found by review: names and keys as the real API sends them, and as a hostile one would -------


def test_a_name_ending_in_a_newline_is_no_name(cluster: Cluster, tmp_path: Path) -> None:
    """Python's `$` also matches before a final newline: 'api\\n' passed as a DNS label, became the log
    file 'logs/payments-abc/api\\n.log' and the manifest refused it (exit 4, no snapshot)."""
    pod = _pod(cluster.api, "payments-abc")
    container, status = pod["spec"]["containers"][0], pod["status"]["containerStatuses"][0]
    container["name"] = status["name"] = container["name"] + "\n"
    result = cluster.collect("--no-upload", "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr[-2000:]
    manifest = json.loads((unpack(tmp_path / "out") / "manifest.json").read_text())
    gap = next(g for g in manifest["gaps"] if g["what"] == "pods" and g["reason"] == "error")
    assert "spec.containers[0]" in gap["detail"], gap
    for name in ("web\n", "web-1\n", "..\n"):
        assert conform("pods", {"metadata": {"name": name, "uid": "u"}, "spec": {}})[0] is None, name
    assert conform("events", {"metadata": {"name": "e", "uid": "u", "creationTimestamp": "2026-12-01T00:00:00Z\n"}}
                   )[1], "a time with a newline after it is no time"


def test_events_named_as_the_core_api_allows_are_read(cluster: Cluster, tmp_path: Path) -> None:
    """core/v1 Events get no name validation beyond a path segment (kubernetes pkg/apis/core/validation/
    events.go: 'No further validation for backwards compatibility'; the generic BeforeCreate checks
    ValidatePathSegmentName): a recorder names an event '<involved name>.<hex>', longer than 253 characters
    for a long involved name, and other clients use capitals. Such events were left out whole, the
    probe-failure finding lost and 'events' said unread on every run."""
    events = cluster.api.objects["events"][scenarios.NS]
    for index, event in enumerate(events.values()):
        event["metadata"]["name"] = ("Probe." if index % 2 else "x" * 250 + ".") + event["metadata"]["name"]
    result = cluster.collect("--no-upload", "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr[-2000:]
    folder = unpack(tmp_path / "out")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert not [g for g in manifest["gaps"] if g["what"] == "events"], manifest["gaps"]
    kinds = {f["kind"] for f in json.loads((folder / "findings.json").read_text())["findings"]}
    assert "probe-failure" in kinds
    assert "not read completely" not in json.loads(result.stdout)["summary"]
    # PodDisruptionBudgets are not name-checked either (policy validation checks only the spec).
    assert conform("poddisruptionbudgets", {"metadata": {"name": "Web_PDB", "uid": "u"}})[1] == []
    for name in ("..", ".", "a/b", "a%2Fb", ""):  # what no API path can name
        assert conform("events", {"metadata": {"name": name, "uid": "u"}})[0] is None, name


def test_a_map_key_from_the_api_is_not_quoted_in_the_gap(cluster: Cluster, tmp_path: Path) -> None:
    """Labels, annotations and ConfigMap data are maps: their keys are the API's text, not field names."""
    marker = "attacker says: see https://evil.example"
    cluster.api.objects["configmaps"][scenarios.NS]["shop-config"].setdefault("data", {})[marker] = 5
    _pod(cluster.api, "payments-abc")["metadata"]["labels"][marker] = ["x"]
    result = cluster.collect("--no-upload", "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr[-2000:]
    manifest = json.loads((unpack(tmp_path / "out") / "manifest.json").read_text())
    details = {g["what"]: g["detail"] for g in manifest["gaps"] if g["reason"] == "error"}
    assert "data[" in details["configmaps"] and "metadata.labels[" in details["pods"], details
    assert "attacker" not in json.dumps(manifest)


def test_a_malformed_target_port_is_not_read_as_none_given(cluster: Cluster, tmp_path: Path) -> None:
    """A Service port without targetPort targets its `port`: leaving out only a malformed targetPort (here
    IntOrString as a proxy might serialize its Go struct) made the detector report 'targets port 80 that no
    pod exposes' for a Service whose pods expose 8080. The port is left out instead: no finding on it."""
    port = cluster.api.objects["services"][scenarios.NS]["shop-frontend"]["spec"]["ports"][0]
    port["targetPort"] = {"type": 0, "intVal": port["targetPort"]}
    result = cluster.collect("--no-upload", "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr[-2000:]
    folder = unpack(tmp_path / "out")
    manifest = json.loads((folder / "manifest.json").read_text())
    gap = next(g for g in manifest["gaps"] if g["what"] == "services" and g["reason"] == "error")
    assert "targetPort" in gap["detail"], gap
    kinds = {f["kind"] for f in json.loads((folder / "findings.json").read_text())["findings"]}
    assert "service-port-mismatch" not in kinds
    assert {"probe-failure", "oom-killed"} <= kinds


def _nightly(api: FakeKubernetes, spec: dict[str, Any]) -> None:
    api.objects["cronjobs"].setdefault(scenarios.NS, {})["nightly"] = {
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly", "namespace": scenarios.NS,
                                                                  "uid": "cronjob-nightly"},
        "spec": {"schedule": "0 0 * * *", "jobTemplate": {"spec": {"template": {"spec": {"containers": [
            {"name": "job", "image": "harbor/nightly:1"}]}}}}, **spec}}


# The focused object's selector and pod template are read whatever its kind (collector._resolve_focus,
# source_commit.workload_source): a CronJob's and a Pod's were not in their shapes, and a wrong type stopped the run.
FOCUSED: dict[str, tuple[str, Mutation]] = {
    "a cronjob whose selector is a string": (
        "cronjob/nightly", lambda api: _nightly(api, {"selector": "app=nightly"})),
    "a cronjob whose selector expression lacks its operator": (
        "cronjob/nightly", lambda api: _nightly(api, {"selector": {"matchExpressions": [{"key": "app"}]}})),
    "a cronjob whose template is a string": ("cronjob/nightly", lambda api: _nightly(api, {"template": "x"})),
    "a pod whose template is a string": (
        "pod/payments-abc", lambda api: _pod(api, "payments-abc")["spec"].update(template="x")),
}


@pytest.mark.parametrize("case", sorted(FOCUSED))
def test_the_focused_object_is_read_in_its_shape(cluster: Cluster, tmp_path: Path, case: str) -> None:
    workload, mutate = FOCUSED[case]
    mutate(cluster.api)
    result = cluster.collect("--no-upload", "--output-dir", str(tmp_path / "out"), "--workload", workload)
    assert result.returncode == 0, result.stderr[-2000:]
    manifest = json.loads((unpack(tmp_path / "out") / "manifest.json").read_text())
    plural = {"cronjob": "cronjobs", "pod": "pods"}[workload.split("/")[0]]
    assert any(g["what"] == plural and g["reason"] == "error" for g in manifest["gaps"]), manifest["gaps"]


def test_an_object_wrong_everywhere_is_left_out_whole_without_naming_each_field() -> None:
    """Each wrong field cost a full error object and a described path, every pass: a pod with 20 000 malformed
    env entries (320 KB) took a second of CPU, 160 times its parse, with no deadline check in between. Past
    MAX_PROBLEMS the object is no pod the API meant: it is left out whole, and the check stops there."""
    pod = {"metadata": {"name": "web-1", "uid": "u1"},
           "spec": {"containers": [{"name": "web", "env": [{"name": index} for index in range(MAX_PROBLEMS * 100)]}]}}
    kept, problems = conform("pods", pod)
    assert kept is None
    assert problems == [f"more than {MAX_PROBLEMS} malformed fields (the object left out)"]
    # Up to the bound, what is wrong is still left out field by field.
    pod["spec"]["containers"][0]["env"] = [{"name": index} for index in range(MAX_PROBLEMS)]
    kept, problems = conform("pods", pod)
    assert kept is not None and kept["spec"]["containers"][0]["env"] == [] and len(problems) == MAX_PROBLEMS


def test_a_deployment_read_without_a_malformed_status_field_is_not_called_stuck(
        cluster: Cluster, tmp_path: Path) -> None:
    """updatedReplicas sent as a string (as a proxy that quotes integers would) was left out and read as 0,
    the API's meaning of an absent updatedReplicas: 'deployment shop-frontend is stuck between ReplicaSets'
    (high) for a rollout that had updated every replica. Marking deployments unread gated nothing."""
    status = cluster.api.objects["deployments"][scenarios.NS]["shop-frontend"]["status"]
    status["updatedReplicas"] = str(status["updatedReplicas"])
    result = cluster.collect("--no-upload", "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr[-2000:]
    folder = unpack(tmp_path / "out")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert any(g["what"] == "deployments" and "updatedReplicas" in g["detail"] for g in manifest["gaps"])
    kinds = {f["kind"] for f in json.loads((folder / "findings.json").read_text())["findings"]}
    assert "rollout-stuck" not in kinds
    assert {"probe-failure", "oom-killed"} <= kinds


def test_an_event_time_that_names_no_day_gives_way_to_its_next_time() -> None:
    event = {"lastTimestamp": "2026-02-30T10:00:00Z", "eventTime": "2026-02-28T10:00:00.000001Z"}
    assert timestamp(event) == datetime(2026, 2, 28, 10, 0, tzinfo=UTC)
    assert timestamp({"lastTimestamp": "2026-02-30T10:00:00Z"}) is None


def _strict(text: str) -> Any:
    """JSON as jq, Go and JavaScript read it: NaN and Infinity are not JSON."""
    def refuse(constant: str) -> Any:
        raise ValueError(constant)
    return json.loads(text, parse_constant=refuse)


def test_nan_from_the_api_is_not_json_and_never_reaches_the_snapshot(cluster: Cluster, tmp_path: Path) -> None:
    # Python's parser takes NaN and Infinity (and json.dumps writes them back); Go's encoder, hence the
    # API, never sends them: a page holding one is an answer that is not JSON, a gap, not a snapshot
    # whose JSON Lines no strict reader can load.
    # Fields no check reads (typed ones were already left out as "not integer"):
    _pod(cluster.api, "payments-abc")["spec"]["terminationGracePeriodSeconds"] = float("nan")
    affinity = {"clientIP": {"timeoutSeconds": float("inf")}}
    _first(cluster.api, "services", "")["spec"]["sessionAffinityConfig"] = affinity
    result = cluster.collect("--no-upload", "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr[-2000:]
    folder = unpack(tmp_path / "out")
    for path in folder.rglob("*.json*"):
        text = path.read_text()
        for line in text.splitlines() if path.suffix == ".jsonl" else [text]:
            _strict(line)
    gaps = {g["what"]: g for g in _strict((folder / "manifest.json").read_text())["gaps"]}
    assert "not a JSON document" in gaps["pods"]["detail"] and "not a JSON document" in gaps["services"]["detail"]
    assert "pods" in _strict((folder / "findings.json").read_text())["summary"]  # said: not read completely
