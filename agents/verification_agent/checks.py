"""The checks of a verification spec. Each returns passed, failed or inconclusive, never passed
without evidence: a check that could not measure enough is inconclusive.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from pathops_contracts.errors import Forbidden, UpstreamError
from pathops_runtime.kube_reader import KubeReader, NotFound
from pathops_runtime.progress import Progress, no_progress
from verification_agent.spec import condition_holds, seconds

PASSED, FAILED, INCONCLUSIVE = "passed", "failed", "inconclusive"
WAITING = "waiting"  # a rollout measurement that may still turn out either way: measure again


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
    allowed_job_commands: frozenset[str] = frozenset()  # job checks run only these executables (argv[0])
    progress: Progress = no_progress  # a line per round on a terminal (terminal_progress), else nothing

    def waiting(self, check: dict[str, Any], delay: float, what: str) -> None:
        """Sleep `delay` seconds, saying so on a terminal when the wait is one a person notices."""
        if delay >= 1:
            self.progress(f"{check['name']}: {what} ({delay:g}s)")
        self.sleep(delay)


Measurement = tuple[str, dict[str, Any]]  # (passed | failed | inconclusive, details)


def _repeat(check: dict[str, Any], context: Context, measure: Callable[[], Measurement]) -> CheckResult:
    """Measure `count` times, `interval` apart; failed beyond failureLimit, passed only on enough successes."""
    count, limit = int(check.get("count", 1)), int(check.get("failureLimit", 0))
    context.waiting(check, seconds(check.get("initialDelay")), "initial delay")
    measurements: list[dict[str, Any]] = []
    for attempt in range(count):
        if attempt:
            context.sleep(seconds(check.get("interval"), 1.0))
        outcome, details = measure()
        measurements.append({"attempt": attempt + 1, "outcome": outcome, **details})
        # The outcome only: a reason may quote what the app answered, which only the report (redacted) holds.
        context.progress(f"{check['name']}: round {attempt + 1}/{count}: {outcome}")
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


def _series_label(series: Any) -> str:
    labels = series.get("metric", {}) if isinstance(series, dict) else {}
    return "{" + ",".join(f"{k}={v}" for k, v in sorted(labels.items()))[:200] + "}"


def judge_series(check: dict[str, Any], samples: list[Any], result_type: str) -> Measurement:
    """Every series must meet the conditions: one failing series fails, one NaN series is inconclusive."""
    values = [(_series_label(s), float(s[1] if result_type == "scalar" else s["value"][1])) for s in samples]
    failing: list[str] = []
    for label, value in values:
        if value != value:  # NaN: judged below
            continue
        if check.get("failureCondition") and condition_holds(check["failureCondition"], value):
            failing.append(f"{label} {value} meets failureCondition {check['failureCondition']}")
        elif check.get("successCondition") and not condition_holds(check["successCondition"], value):
            failing.append(f"{label} {value} misses successCondition {check['successCondition']}")
    shown = [(label, None if value != value else value) for label, value in values]  # JSON has no NaN
    details: dict[str, Any] = {"samples": len(values), "value": shown[0][1], "values": dict(shown[:20])}
    if failing:
        return FAILED, {**details, "reason": f"{len(failing)} of {len(values)} series: " + "; ".join(failing[:5])}
    unknown = [label for label, value in values if value != value]  # NaN: a ratio over no traffic
    if unknown:
        return INCONCLUSIVE, {**details, "reason": f"the query returned NaN for {unknown[:5]} (no traffic?)"}
    return PASSED, details


def prometheus_check(check: dict[str, Any], context: Context) -> CheckResult:
    if not (check.get("successCondition") or check.get("failureCondition")):
        return CheckResult(check["name"], "prometheus", INCONCLUSIVE, 0, 0,
                           "no successCondition or failureCondition: nothing to judge the query by")
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
        if not isinstance(body, dict) or body.get("status") != "success":
            error_text = body.get("error") if isinstance(body, dict) else None
            return INCONCLUSIVE, {"reason": f"query failed: {str(error_text or response.status_code)[:200]}"}
        try:
            data = body["data"]
            if data["resultType"] not in {"vector", "scalar"}:
                return INCONCLUSIVE, {"reason": f"a {data['resultType']} result; the query must return an instant "
                                                "vector or a scalar"}
            samples = [data["result"]] if data["resultType"] == "scalar" else list(data["result"])
            if len(samples) < minimum:
                return INCONCLUSIVE, {"samples": len(samples),
                                      "reason": f"{len(samples)} samples, at least {minimum} needed"}
            return judge_series(check, samples, data["resultType"])
        except (KeyError, IndexError, TypeError, ValueError) as error:
            return INCONCLUSIVE, {"reason": f"unexpected answer from Prometheus: {type(error).__name__}"}

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
    """Passed only when the rollout finished and its pods can be seen (running the expected commit, if given)."""
    def measure() -> Measurement:
        workload = _workload(context, check["workload"])
        spec, status = workload.get("spec", {}), workload.get("status", {})
        wanted = 1 if spec.get("replicas") is None else int(spec["replicas"])  # the API's default is 1
        numbers = {k: int(status.get(k, 0)) for k in ("updatedReplicas", "readyReplicas", "availableReplicas")}
        details: dict[str, Any] = {"replicas": wanted, **numbers}
        if wanted == 0:
            return INCONCLUSIVE, {**details, "reason": "replicas: 0, no pod runs the change"}
        if any(c.get("reason") == "ProgressDeadlineExceeded" for c in status.get("conditions", [])):
            return FAILED, {**details, "reason": "progress deadline exceeded"}
        if status.get("observedGeneration", 0) < workload.get("metadata", {}).get("generation", 0) or \
                any(value < wanted for value in numbers.values()):
            return WAITING, {**details, "reason": f"rollout not finished: {numbers}, {wanted} wanted"}
        selector = _selector(workload)
        if not selector:  # an empty selector would list every pod of the namespace
            return INCONCLUSIVE, {**details, "reason": "the workload has no matchLabels to find its pods by"}
        assert context.kube is not None
        pods = [p for p in context.kube.list("pods", context.namespace, label_selector=selector)
                if not p.get("metadata", {}).get("deletionTimestamp")]
        details["pods"] = len(pods)
        if not pods:
            return INCONCLUSIVE, {**details, "reason": f"no pod matches {selector}: nothing runs the change"}
        if context.expected_commit_sha:
            stale = [p["metadata"]["name"] for p in pods if not _runs_commit(p, context.expected_commit_sha)]
            if stale:
                return FAILED, {**details, "reason": f"pods not on {context.expected_commit_sha[:12]}: {stale}"}
        if check.get("expectImage"):
            other = [p["metadata"]["name"] for p in pods if not _runs_image(p, check["expectImage"])]
            if other:
                return FAILED, {**details, "reason": f"pods not running {check['expectImage']}: {other}"}
        return PASSED, details

    def run() -> CheckResult:
        attempts = int(check.get("count", 30))
        context.waiting(check, seconds(check.get("initialDelay")), "initial delay")
        measurements: list[dict[str, Any]] = []
        outcome = WAITING
        for attempt in range(1, attempts + 1):
            if attempt > 1:  # wait for the rollout to finish
                context.sleep(seconds(check.get("interval"), 2.0))
            outcome, details = measure()
            measurements.append({"attempt": attempt, "outcome": outcome, **details})
            context.progress(f"{check['name']}: round {attempt}/{attempts}: "
                             + (f"waiting for the rollout, {details['reason']}" if outcome == WAITING else outcome))
            if outcome != WAITING:
                break
        last = measurements[-1]
        if outcome == WAITING:
            return CheckResult(check["name"], "rollout", FAILED, len(measurements), 1,
                               f"rollout did not finish in {attempts} attempts; last problem: {last['reason']}",
                               measurements)
        message = f"rollout complete: {last['pods']} pods" if outcome == PASSED else last["reason"]
        return CheckResult(check["name"], "rollout", outcome, len(measurements), int(outcome == FAILED), message,
                           measurements)

    return _kube_guard(check, context, run)


def _runs_commit(pod: dict[str, Any], sha: str) -> bool:
    annotations = pod.get("metadata", {}).get("annotations", {}) or {}
    if annotations.get("pathops.io/source-commit") == sha:
        return True
    return any(sha[:12] in c.get("image", "") for c in pod.get("spec", {}).get("containers", []))


def _runs_image(pod: dict[str, Any], image: str) -> bool:
    """Some container of the pod runs exactly that image (or that image pinned by digest)."""
    return any(c.get("image") == image or str(c.get("image", "")).startswith(image + "@")
               for c in pod.get("spec", {}).get("containers", []))


@dataclass(frozen=True)
class ContainerSeen:
    pod: str
    pod_uid: str
    container: str
    restarts: int
    oom_killed: bool  # its last or current termination was OOMKilled


def _containers(pods: list[dict[str, Any]]) -> list[ContainerSeen]:
    seen = []
    for p in pods:
        metadata = p.get("metadata", {})
        for s in p.get("status", {}).get("containerStatuses", []) or []:
            terminations = [(s.get("lastState") or {}).get("terminated") or {},
                            (s.get("state") or {}).get("terminated") or {}]
            seen.append(ContainerSeen(metadata.get("name", "?"), metadata.get("uid") or metadata.get("name", "?"),
                                      s.get("name", "?"), int(s.get("restartCount", 0)),
                                      any(t.get("reason") == "OOMKilled" for t in terminations)))
    return seen


def judge_restarts(before: list[ContainerSeen], after: list[ContainerSeen], window: str) -> tuple[str, str, int]:
    """(status, why, failures) over two looks at the same workload's pods, a window apart.

    A pod is the same pod only with the same uid: a replaced pod (same StatefulSet name, new uid)
    starts again at restartCount 0 and would hide the crash that replaced it.
    """
    old = {(c.pod_uid, c.container): c for c in before}
    new = {(c.pod_uid, c.container): c for c in after}
    restarted = {f"{c.pod}/{c.container}": c.restarts - old[key].restarts
                 for key, c in new.items() if key in old and c.restarts > old[key].restarts}
    old_pods, new_pods = {c.pod_uid: c.pod for c in before}, {c.pod_uid: c.pod for c in after}
    gone = sorted(name for uid, name in old_pods.items() if uid not in new_pods)
    arrived = sorted(name for uid, name in new_pods.items() if uid not in old_pods)
    broken_arrivals = sorted(f"{c.pod}/{c.container}" for key, c in new.items()
                             if key not in old and (c.restarts or c.oom_killed))
    oom = sorted(f"{c.pod}/{c.container}" for key, c in new.items()
                 if c.oom_killed and (key not in old or f"{c.pod}/{c.container}" in restarted
                                      or not old[key].oom_killed))
    problems = []
    if restarted:
        problems.append(f"restarted during the window: {restarted}")
    if broken_arrivals:
        problems.append(f"replacement pods already restarted or killed: {broken_arrivals}")
    if oom:
        problems.append(f"OOMKilled: {oom}")
    if problems:
        return FAILED, "; ".join(problems), len(restarted) + len(broken_arrivals) + len(oom)
    if gone or arrived or not after:
        return INCONCLUSIVE, (f"pods changed during the window (gone: {gone}, new: {arrived}); "
                              "the restarts of the pods that left cannot be observed"), 0
    return PASSED, f"{len(after)} containers, no restart in {window}", 0


def restarts_check(check: dict[str, Any], context: Context) -> CheckResult:
    def run() -> CheckResult:
        context.waiting(check, seconds(check.get("initialDelay")), "initial delay")
        workload = _workload(context, check["workload"])
        assert context.kube is not None
        kube = context.kube
        selector = _selector(workload)
        if not selector:
            return CheckResult(check["name"], "restarts", INCONCLUSIVE, 1, 0,
                               "the workload has no matchLabels to find its pods by")

        def look() -> list[ContainerSeen]:
            return _containers(kube.list("pods", context.namespace, label_selector=selector))

        before = look()
        if not before:
            return CheckResult(check["name"], "restarts", INCONCLUSIVE, 1, 0, "no pods to observe")
        context.waiting(check, seconds(check.get("window"), 60.0),
                        f"watching {len(before)} containers for restarts")
        after = look()
        status, why, failures = judge_restarts(before, after, check.get("window", "60s"))
        measurements = [{"container": f"{c.pod}/{c.container}", "restarts": c.restarts, "oom_killed": c.oom_killed}
                        for c in after]
        return CheckResult(check["name"], "restarts", status, 2, failures, why, measurements)

    return _kube_guard(check, context, run)


JOB_PATH = "/usr/local/bin:/usr/bin:/bin"


def job_environment(home: str) -> dict[str, str]:
    """All a job check gets: no credential, no proxy, nothing of the agent's own environment."""
    return {"PATH": JOB_PATH, "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


def job_check(check: dict[str, Any], context: Context) -> CheckResult:
    """Run an operator-allowed command with a minimal environment; its exit code is the outcome."""
    command = [str(part) for part in check["command"]]
    if command[0] not in context.allowed_job_commands:
        return CheckResult(check["name"], "job", INCONCLUSIVE, 0, 0,
                           f"{command[0]!r} is not an allowed job command; the operator allows commands with "
                           "--allow-job-command (VERIFICATION_JOB_COMMANDS)")
    context.waiting(check, seconds(check.get("initialDelay")), "initial delay")
    timeout = seconds(check.get("timeout"), 300.0)
    context.progress(f"{check['name']}: running {command[0]} (at most {timeout:g}s)")
    with tempfile.TemporaryDirectory(prefix="verification-job-") as home:
        try:
            result = subprocess.run(command, capture_output=True, text=True, errors="replace", timeout=timeout,
                                    check=False, env=job_environment(home), cwd=home, stdin=subprocess.DEVNULL)
        except FileNotFoundError:
            return CheckResult(check["name"], "job", INCONCLUSIVE, 0, 0, f"{command[0]} not found on {JOB_PATH}")
        except OSError as error:  # not executable, not a program
            return CheckResult(check["name"], "job", INCONCLUSIVE, 0, 0,
                               f"{command[0]} cannot run: {type(error).__name__}")
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
