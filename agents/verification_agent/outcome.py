"""What a check yields: the three outcomes, a check's result, the context checks measure in,
and the repetition that turns measurements into passed, failed or inconclusive.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pathops_runtime.kube_reader import KubeReader
from pathops_runtime.progress import Progress, no_progress
from verification_agent.spec import seconds

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


def repeat_measurement(check: dict[str, Any], context: Context, measure: Callable[[], Measurement]) -> CheckResult:
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


def overall(results: list[CheckResult]) -> str:
    if any(r.status == FAILED for r in results):
        return FAILED
    if not results or any(r.status == INCONCLUSIVE for r in results):
        return INCONCLUSIVE
    return PASSED


def to_json(results: list[CheckResult]) -> str:
    return json.dumps([r.as_dict() for r in results])
