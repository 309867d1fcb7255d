"""The checks of a verification spec, by type. Each returns passed, failed or inconclusive, never
passed without evidence: a check that could not measure enough is inconclusive.

The outcomes live in `outcome`, the checks that read Kubernetes in `workload_checks`, those that
ask the service from outside in `service_checks`; this module is the registry the spec names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from verification_agent.outcome import (
    FAILED,
    INCONCLUSIVE,
    PASSED,
    WAITING,
    CheckResult,
    Context,
    Measurement,
    overall,
    to_json,
)
from verification_agent.service_checks import http_check, job_check, judge_series, prometheus_check
from verification_agent.workload_checks import ContainerSeen, judge_restarts, restarts_check, rollout_check

CHECKS: dict[str, Callable[[dict[str, Any], Context], CheckResult]] = {
    "http": http_check, "prometheus": prometheus_check, "rollout": rollout_check, "restarts": restarts_check,
    "job": job_check,
}

__all__ = [
    "CHECKS", "FAILED", "INCONCLUSIVE", "PASSED", "WAITING", "CheckResult", "ContainerSeen", "Context", "Measurement",
    "http_check", "job_check", "judge_restarts", "judge_series", "overall", "prometheus_check", "restarts_check",
    "rollout_check", "to_json",
]
