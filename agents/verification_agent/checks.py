"""The checks of a verification spec. Each returns passed, failed or inconclusive, never passed
without evidence: a check that could not measure enough is inconclusive.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from pathops_contracts.errors import Forbidden, UpstreamError
from pathops_contracts.kube_reader import KubeReader, NotFound
from verification_agent.spec import condition_holds, seconds

PASSED, FAILED, INCONCLUSIVE = "passed", "failed", "inconclusive"


@dataclass
class CheckResult:
    name: str
    type: str
    status: str
    attempts: int
    failures: int
    message: str
    measurements: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "status": self.status, "attempts": self.attempts,
                "failures": self.failures, "message": self.message[:4000], "measurements": self.measurements[:100]}


@dataclass
class Context:
    namespace: str
    expected_commit_sha: str | None
    kube: KubeReader | None
    prometheus_url: str | None
    sleep: Callable[[float], None] = time.sleep


Measurement = tuple[str, dict[str, Any]]  # (passed | failed | inconclusive, details)


def _repeat(check: dict[str, Any], context: Context, measure: Callable[[], Measurement]) -> CheckResult:
    """Measure `count` times, `interval` apart; failed beyond failureLimit, passed only on enough successes."""
    count, limit = int(check.get("count", 1)), int(check.get("failureLimit", 0))
    context.sleep(seconds(check.get("initialDelay")))
    measurements: list[dict[str, Any]] = []
    for attempt in range(count):
        if attempt:
            context.sleep(seconds(check.get("interval"), 1.0))
        outcome, details = measure()
        measurements.append({"attempt": attempt + 1, "outcome": outcome, **details})
    failures = sum(m["outcome"] == FAILED for m in measurements)
    successes = sum(m["outcome"] == PASSED for m in measurements)
    if failures > limit:
        status = FAILED
    elif successes >= max(count - limit, 1):
        status = PASSED
    else:
        status = INCONCLUSIVE
    message = f"{successes}/{count} passed, {failures} failed (failureLimit {limit})"
    if status != PASSED:
        last: dict[str, Any] = next((m for m in reversed(measurements) if m["outcome"] != PASSED), {})
        message += f"; last problem: {last.get('reason', 'no measurement')}"
    return CheckResult(check["name"], check["type"], status, count, failures, message, measurements)


def http_check(check: dict[str, Any], context: Context) -> CheckResult:
    expect = int(check.get("expectStatus", 200))
    max_latency = seconds(check.get("maxLatency")) or None
    timeout = seconds(check.get("timeout"), 10.0)

    def measure() -> Measurement:
        started = time.perf_counter()
        try:
            response = requests.request(check.get("method", "GET"), check["url"], timeout=timeout,
                                        allow_redirects=False)
        except requests.RequestException as error:  # the service does not answer: that is the evidence
            return FAILED, {"reason": f"{type(error).__name__}: {str(error)[:200]}"}
        latency = time.perf_counter() - started
        details: dict[str, Any] = {"status": response.status_code, "latency_ms": round(latency * 1000, 1)}
        if response.status_code != expect:
            return FAILED, {**details, "reason": f"HTTP {response.status_code}, expected {expect}"}
        if check.get("bodyContains") and check["bodyContains"] not in response.text:
            return FAILED, {**details, "reason": f"body lacks {check['bodyContains']!r}"}
        if max_latency is not None and latency > max_latency:
            return FAILED, {**details, "reason": f"latency {latency * 1000:.0f} ms over {max_latency * 1000:.0f} ms"}
        return PASSED, details

    return _repeat(check, context, measure)


def prometheus_check(check: dict[str, Any], context: Context) -> CheckResult:
    if not context.prometheus_url:
        return CheckResult(check["name"], "prometheus", INCONCLUSIVE, 0, 0, "PROMETHEUS_URL is not set")
    endpoint = f"{context.prometheus_url.rstrip('/')}/api/v1/query"
    minimum = int(check.get("minSamples", 1))

    def measure() -> Measurement:
        try:
            response = requests.get(endpoint, params={"query": check["query"]}, timeout=10)
            body = response.json()
        except (requests.RequestException, ValueError) as error:
            return INCONCLUSIVE, {"reason": f"Prometheus unreachable: {str(error)[:200]}"}
        if body.get("status") != "success":
            return INCONCLUSIVE, {"reason": f"query failed: {body.get('error', response.status_code)}"}
        data = body["data"]
        samples = [data["result"]] if data["resultType"] == "scalar" else data["result"]
        if len(samples) < minimum:
            return INCONCLUSIVE, {"samples": len(samples),
                                  "reason": f"{len(samples)} samples, at least {minimum} needed"}
        raw = samples[0][1] if data["resultType"] == "scalar" else samples[0]["value"][1]
        value = float(raw)
        if value != value:  # NaN: a ratio over no traffic
            return INCONCLUSIVE, {"samples": len(samples), "reason": "the query returned NaN (no traffic?)"}
        details = {"samples": len(samples), "value": value}
        if check.get("failureCondition") and condition_holds(check["failureCondition"], value):
            return FAILED, {**details, "reason": f"{value} meets failureCondition {check['failureCondition']}"}
        if check.get("successCondition") and not condition_holds(check["successCondition"], value):
            return FAILED, {**details, "reason": f"{value} misses successCondition {check['successCondition']}"}
        return PASSED, details

    return _repeat(check, context, measure)


def _workload(context: Context, reference: str) -> dict[str, Any]:
    kind, name = reference.split("/", 1)
    assert context.kube is not None
    return context.kube.get(f"{kind}s", context.namespace, name)


def _selector(workload: dict[str, Any]) -> str:
    labels = workload.get("spec", {}).get("selector", {}).get("matchLabels", {})
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _kube_guard(check: dict[str, Any], context: Context, run: Callable[[], CheckResult]) -> CheckResult:
    if context.kube is None:
        return CheckResult(check["name"], check["type"], INCONCLUSIVE, 0, 0, "no Kubernetes access configured")
    try:
        return run()
    except Forbidden as error:
        return CheckResult(check["name"], check["type"], INCONCLUSIVE, 1, 0, f"RBAC refused: {error}")
    except NotFound as error:
        return CheckResult(check["name"], check["type"], INCONCLUSIVE, 1, 0, f"not found: {error}")
    except UpstreamError as error:
        return CheckResult(check["name"], check["type"], INCONCLUSIVE, 1, 0, str(error))


def rollout_check(check: dict[str, Any], context: Context) -> CheckResult:
    def measure() -> Measurement:
        workload = _workload(context, check["workload"])
        spec, status = workload.get("spec", {}), workload.get("status", {})
        wanted = int(spec.get("replicas", 1))
        numbers = {k: int(status.get(k, 0)) for k in ("updatedReplicas", "readyReplicas", "availableReplicas")}
        details: dict[str, Any] = {"replicas": wanted, **numbers}
        if any(c.get("reason") == "ProgressDeadlineExceeded" for c in status.get("conditions", [])):
            return FAILED, {**details, "reason": "progress deadline exceeded"}
        if status.get("observedGeneration", 0) < workload.get("metadata", {}).get("generation", 0) or \
                any(value < wanted for value in numbers.values()):
            return INCONCLUSIVE, {**details, "reason": f"rollout not finished: {numbers}, {wanted} wanted"}
        if context.expected_commit_sha:
            assert context.kube is not None
            pods = context.kube.list("pods", context.namespace, label_selector=_selector(workload))
            stale = [p["metadata"]["name"] for p in pods if not _runs_commit(p, context.expected_commit_sha)]
            if stale or not pods:
                return FAILED, {**details, "reason": f"pods not on {context.expected_commit_sha[:12]}: {stale}"}
        return PASSED, details

    def run() -> CheckResult:
        result = _repeat({**check, "count": 1}, context, measure)
        attempts = int(check.get("count", 30))
        while result.status == INCONCLUSIVE and result.attempts < attempts:  # wait for the rollout to finish
            context.sleep(seconds(check.get("interval"), 2.0))
            again = _repeat({**check, "count": 1, "initialDelay": None}, context, measure)
            again.attempts = result.attempts + 1
            again.measurements = result.measurements + [{**m, "attempt": again.attempts} for m in again.measurements]
            result = again
        if result.status == INCONCLUSIVE:
            result.status = FAILED
            result.message = f"rollout did not finish in {attempts} attempts; {result.message}"
        return result

    return _kube_guard(check, context, run)


def _runs_commit(pod: dict[str, Any], sha: str) -> bool:
    annotations = pod.get("metadata", {}).get("annotations", {}) or {}
    if annotations.get("pathops.io/source-commit") == sha:
        return True
    return any(sha[:12] in c.get("image", "") for c in pod.get("spec", {}).get("containers", []))


def restarts_check(check: dict[str, Any], context: Context) -> CheckResult:
    def run() -> CheckResult:
        context.sleep(seconds(check.get("initialDelay")))
        workload = _workload(context, check["workload"])
        assert context.kube is not None
        kube = context.kube

        def counts() -> dict[str, tuple[int, bool]]:
            pods = kube.list("pods", context.namespace, label_selector=_selector(workload))
            return {f"{p['metadata']['name']}/{s['name']}": (
                int(s.get("restartCount", 0)),
                (s.get("lastState", {}).get("terminated") or {}).get("reason") == "OOMKilled")
                for p in pods for s in p.get("status", {}).get("containerStatuses", [])}

        before = counts()
        if not before:
            return CheckResult(check["name"], "restarts", INCONCLUSIVE, 1, 0, "no pods to observe")
        context.sleep(seconds(check.get("window"), 60.0))
        after = counts()
        restarted = {k: after[k][0] - before.get(k, (0, False))[0] for k in after
                     if after[k][0] > before.get(k, (0, False))[0]}
        oom = [k for k in after if after[k][1] and k in restarted]
        measurements = [{"container": k, "restarts": v, "oom_killed": k in oom} for k, v in restarted.items()]
        if restarted:
            return CheckResult(check["name"], "restarts", FAILED, 2, len(restarted),
                               f"restarted during the window: {restarted}" + (f"; OOMKilled: {oom}" if oom else ""),
                               measurements)
        return CheckResult(check["name"], "restarts", PASSED, 2, 0,
                           f"{len(after)} containers, no restart in {check.get('window', '60s')}")

    return _kube_guard(check, context, run)


def job_check(check: dict[str, Any], context: Context) -> CheckResult:
    context.sleep(seconds(check.get("initialDelay")))
    timeout = seconds(check.get("timeout"), 300.0)
    try:
        result = subprocess.run(check["command"], capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        return CheckResult(check["name"], "job", INCONCLUSIVE, 0, 0, f"{check['command'][0]} not found")
    except subprocess.TimeoutExpired:
        return CheckResult(check["name"], "job", FAILED, 1, 1, f"timed out after {timeout:g}s")
    tail = (result.stdout + result.stderr).strip().splitlines()[-5:]
    status = PASSED if result.returncode == 0 else FAILED
    return CheckResult(check["name"], "job", status, 1, int(status == FAILED),
                       f"exit {result.returncode}: " + " | ".join(tail)[:1000])


CHECKS: dict[str, Callable[[dict[str, Any], Context], CheckResult]] = {
    "http": http_check, "prometheus": prometheus_check, "rollout": rollout_check, "restarts": restarts_check,
    "job": job_check,
}


def overall(results: list[CheckResult]) -> str:
    if any(r.status == FAILED for r in results):
        return FAILED
    if not results or any(r.status == INCONCLUSIVE for r in results):
        return INCONCLUSIVE
    return PASSED


def to_json(results: list[CheckResult]) -> str:
    return json.dumps([r.as_dict() for r in results])
