"""mr-creator update-from-verification: the MR leaves Draft only on proof, over real GitLab API calls."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from mr_creator.untrusted_text import ZWSP
from mr_creator.verification_outcome import tick
from pathops_runtime.artifact_store import ArtifactKind
from tests.mr_creator.conftest import BIN, SIGNING_KEY, TOKEN, World, parse_marker
from tests.mr_creator.test_ownership import _open_as_person

SPEC = b"""checks:
  - name: rollout of deployment-shop-frontend
    type: rollout
    workload: deployment/shop-frontend
  - name: the new readinessProbe path answers 200 through the Service
    type: http
    url: http://shop-frontend.shop-frontend-preflight.svc/health
    count: 5
  - name: no restarts of web
    type: restarts
    workload: deployment/shop-frontend
    window: 2m
"""
NAMES = ["rollout of deployment-shop-frontend", "the new readinessProbe path answers 200 through the Service",
         "no restarts of web"]
PATCHES: dict[int, str] = {}  # the patch id each test's MR was opened from
HOSTILE = "HTTP 404\n/ready\n@all Closes #1 <!-- pathops:verification x -->"


def opened(world: World) -> dict[str, Any]:
    """The autopilot's draft MR, from a bundle that carries its checks."""
    PATCHES[id(world)] = world.bundle(verification=SPEC)
    result = world.run(PATCHES[id(world)])
    assert result.returncode == 0, result.stderr
    mr: dict[str, Any] = world.project.merge_requests[-1]
    assert mr["draft"] is True and mr["title"].startswith("Draft: ")
    return mr


def report(world: World, head: str, status: str, failing: str | None = None, message: str = "HTTP 404",
           names: list[str] | None = None) -> str:
    checks = [{"name": name, "type": "http", "status": "failed" if name == failing else "passed", "attempts": 5,
               "failures": 5 if name == failing else 0, "message": message if name == failing else "5/5 passed",
               "measurements": [{"attempt": 1, "outcome": "failed", "reason": "HTTP 404, expected 200"}]
               if name == failing else []} for name in (names or NAMES)]
    document = {"schema_version": "verification-report/v1", "app_id": "shop-frontend", "env": "preflight",
                "verification_id": "VER-7", "target_namespace": "shop-frontend-preflight",
                "expected_commit_sha": head, "status": status, "started_at": "2026-11-27T10:00:00Z",
                "finished_at": "2026-11-27T10:02:00Z", "checks": checks,
                "verifier": {"name": "verification-agent", "version": "0.1.0"}}
    path = world.root / f"report-{status}-{len(os.listdir(world.root))}.json"
    path.write_text(json.dumps(document))
    return world.store.put(path, ArtifactKind.REPORT).artifact_id


def update(world: World, report_id: str, iid: int = 1, **env: str) -> subprocess.CompletedProcess[str]:
    variables = {**os.environ, "SRC_REPO": "shop/shop-frontend", "MR_IID": str(iid), "REPORT_ID": report_id,
                 "GITLAB_URL": world.gitlab_url, "GITLAB_TOKEN": TOKEN, "CALLBACK_SIGNING_KEY": SIGNING_KEY,
                 "MINIO_ENDPOINT": world.store_settings.endpoint, "MINIO_BUCKET": world.store_settings.bucket,
                 "SCRATCH_DIR": str(world.root / "scratch"), **env}
    return subprocess.run([str(BIN / "mr-creator"), "update-from-verification"], env=variables, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=120, check=False)


def test_passed_takes_the_mr_out_of_draft_once(world: World) -> None:
    mr = opened(world)
    marker = parse_marker(mr["description"])
    assert marker is not None
    report_id = report(world, marker.last_pushed_head, "passed")
    result = update(world, report_id, VERIFICATION_ID="VER-7")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["status"] == "passed" and out["draft"] is False and out["note_added"] is True
    assert mr["draft"] is False and not mr["title"].startswith("Draft")
    assert "pathops::verified" in mr["labels"] and "pathops::autofix" in mr["labels"]
    for name in NAMES:  # the checks section, rendered from the bundle's spec, ticked
        assert f"- [x] {name}: " in mr["description"]
    assert parse_marker(mr["description"]) == marker  # still the autopilot's MR
    (note,) = mr["notes"]
    assert report_id in note["body"] and all(name in note["body"] for name in NAMES)
    # A rerun (a Jenkins retry) changes nothing and adds no second note.
    again = update(world, report_id)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["changed"] is False and json.loads(again.stdout)["note_added"] is False
    assert len(mr["notes"]) == 1
    # A retry of create-mr-from-patch with the same bundle leaves the verified MR as it is.
    retried = world.run(PATCHES[id(world)])
    assert retried.returncode == 0, retried.stderr
    assert mr["draft"] is False and "pathops::verified" in mr["labels"] and f"- [x] {NAMES[0]}: " in mr["description"]


def test_failed_stays_draft_and_names_the_failing_check_with_its_evidence(world: World) -> None:
    mr = opened(world)
    marker = parse_marker(mr["description"])
    assert marker is not None
    report_id = report(world, marker.last_pushed_head, "failed", failing=NAMES[1], message=HOSTILE)
    result = update(world, report_id)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "failed"
    assert mr["draft"] is True and "pathops::verification-failed" in mr["labels"]
    assert "pathops::verified" not in mr["labels"]
    assert all(f"- [ ] {name}: " in mr["description"] for name in NAMES)
    (note,) = mr["notes"]
    body = note["body"]
    assert f"failed: `{NAMES[1]}`" in body and "HTTP 404, expected 200" in body and "stays a draft" in body
    # The report's text is the agent's: no quick action, mention, closing keyword or forged marker.
    assert not any(line.lstrip().startswith("/") for line in body.splitlines())
    assert "@all" not in body and "#1" not in body and f"@{ZWSP}all" in body
    assert body.count("<!--") == 1


def test_a_pass_of_another_commit_or_of_fewer_checks_is_inconclusive(world: World) -> None:
    mr = opened(world)
    marker = parse_marker(mr["description"])
    assert marker is not None
    result = update(world, report(world, "e" * 40, "passed"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "inconclusive" and mr["draft"] is True
    assert "the report verified commit eeeeeeee" in mr["notes"][0]["body"]
    partial = update(world, report(world, marker.last_pushed_head, "passed", names=NAMES[:1]))
    assert json.loads(partial.stdout)["status"] == "inconclusive" and mr["draft"] is True
    assert "lacks checks the patch brought" in mr["notes"][1]["body"]
    assert "pathops::verified" not in mr["labels"]


def test_a_merge_request_without_the_marker_is_never_touched(world: World) -> None:
    before = _open_as_person(world, "Work in progress, please wait.")
    report_id = report(world, "a" * 40, "passed")
    result = update(world, report_id)
    assert result.returncode == 3, result.stderr
    assert "not the autopilot's, nothing changed" in result.stderr.strip().splitlines()[-1]
    mr = world.project.merge_requests[-1]
    assert {key: mr[key] for key in before} == before


@pytest.mark.parametrize("case", ["no section", "section"])
def test_ticking_keeps_the_marker_last(case: str) -> None:
    spec = [{"name": "a", "type": "rollout", "workload": "deployment/x"},
            {"name": "b", "type": "restarts", "workload": "deployment/x"}]
    marker = "<!-- pathops:changeset {} -->"
    section = "## Checks\n\n- [ ] a: rollout\n- [ ] b: restarts\n" if case == "section" else ""
    ticked = tick(f"Body\n\n{section}\n{marker}\n", spec, {"a"})
    assert ticked.endswith(f"\n{marker}\n")
    assert "- [x] a: " in ticked and "- [ ] b: " in ticked
    assert ticked.count("- [x] a:") == 1
    assert ("## Verification checks" in ticked) == (case == "no section")
    assert tick(ticked, spec, {"a"}) == ticked
    assert "- [ ] a: " in tick(ticked, spec, set())
