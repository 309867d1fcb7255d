"""Workload findings: pods that cannot be scheduled, deployments stuck between ReplicaSets."""

from __future__ import annotations

from evidence_collector.findings import Evidence, Finding, Pointer, _name, _pod_pointer


def detect_unschedulable(evidence: Evidence) -> list[Finding]:
    findings = []
    for pod in evidence.pods:
        for condition in pod.get("status", {}).get("conditions", []):
            if condition.get("type") == "PodScheduled" and condition.get("reason") == "Unschedulable":
                findings.append(Finding(
                    "unschedulable", "high", f"{_name(pod)} cannot be scheduled",
                    str(condition.get("message", ""))[:400], [f"pod/{_name(pod)}"], [_pod_pointer(evidence, pod)],
                    {"pod": _name(pod), "message": str(condition.get("message", ""))[:400]}))
    return findings


def _rollout_pointers(evidence: Evidence, deployment: str) -> list[Pointer]:
    lines = [i + 1 for i, r in enumerate(evidence.rollouts) if r.get("deployment") == deployment]
    return [Pointer("objects/rollout-diffs.jsonl", (lines[0], lines[0]))] if lines else []


def detect_stuck_rollouts(evidence: Evidence) -> list[Finding]:
    findings = []
    for workload in evidence.workloads:
        if workload.get("kind") != "Deployment" or workload.get("metadata", {}).get("uid") in evidence.repaired:
            continue  # a Deployment read without a malformed status field: the field's absence is not a count
        status = workload.get("status", {})
        wanted = workload.get("spec", {}).get("replicas", 1)
        uid = workload.get("metadata", {}).get("uid")
        active = [rs for rs in evidence.replicasets if rs.get("status", {}).get("replicas", 0) > 0
                  and any(o.get("uid") == uid for o in rs.get("metadata", {}).get("ownerReferences", []))]
        deadline = any(c.get("reason") == "ProgressDeadlineExceeded" for c in status.get("conditions", []))
        if deadline or (len(active) > 1 and status.get("updatedReplicas", 0) < wanted):
            findings.append(Finding(
                "rollout-stuck", "high", f"deployment {_name(workload)} is stuck between ReplicaSets",
                f"{status.get('updatedReplicas', 0)}/{wanted} updated, {status.get('readyReplicas', 0)} ready; "
                f"active ReplicaSets: {', '.join(_name(rs) for rs in active)}"
                + ("; progress deadline exceeded" if deadline else ""),
                [f"deployment/{_name(workload)}"], _rollout_pointers(evidence, _name(workload)),
                {"deployment": _name(workload), "active_replicasets": [_name(rs) for rs in active]}))
    return findings
