"""Checks that ask the running service from outside: an HTTP probe, a Prometheus query and an
operator-allowed job command.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from typing import Any

import requests

from verification_agent.outcome import (
    FAILED,
    INCONCLUSIVE,
    PASSED,
    CheckResult,
    Context,
    Measurement,
    repeat_measurement,
)
from verification_agent.spec import condition_holds, seconds


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

    return repeat_measurement(check, context, measure)


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

    return repeat_measurement(check, context, measure)


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
