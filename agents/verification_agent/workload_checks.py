"""Checks that read the workload from the Kubernetes API: its rollout finished on the expected
commit, and its containers did not restart during a window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pathops_contracts.errors import Forbidden, UpstreamError
from pathops_runtime.kube_reader import NotFound
from verification_agent.outcome import (
    FAILED,
    INCONCLUSIVE,
    PASSED,
    WAITING,
    CheckResult,
    Context,
    Measurement,
)
from verification_agent.spec import seconds


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
