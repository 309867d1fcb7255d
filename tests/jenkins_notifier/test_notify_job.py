"""jenkins-notifier notify-job: how a Jenkins job ended reaches the control plane, signed, or exits 6."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pathops_testbed.control_plane import ControlPlaneReceiver
from pathops_testbed.http_server import BackgroundServer

NOTIFIER = str(Path(sys.executable).parent / "jenkins-notifier")


def test_notify_job_posts_a_signed_outcome() -> None:
    receiver = ControlPlaneReceiver("k3y-for-jenkins")
    with BackgroundServer(receiver) as server:
        env = {**os.environ, "JOB_NAME_PATHOPS": "create-mr-from-patch", "JOB_STATUS": "failure",
               "BUILD_URL_PATHOPS": "https://jenkins.demo.pathops.io/job/create-mr-from-patch/12/",
               "CHANGESET_ID": "CS-17", "CONTROL_PLANE_CALLBACK_URL": f"{server.url}/webhooks/jenkins",
               "CALLBACK_SIGNING_KEY": "k3y-for-jenkins"}
        result = subprocess.run([NOTIFIER, "notify-job"], env=env, capture_output=True, text=True, check=False)
        wrong_key = subprocess.run([NOTIFIER, "notify-job"], env={**env, "CALLBACK_SIGNING_KEY": "not-the-key"},
                                   capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    (received,) = receiver.received
    assert received.payload == {"schema_version": "jenkins-job/v1", "job": "create-mr-from-patch",
                                "status": "failure", "changeset_id": "CS-17",
                                "build_url": "https://jenkins.demo.pathops.io/job/create-mr-from-patch/12/"}
    assert wrong_key.returncode == 6  # the receiver refuses a bad signature with 401
    assert "jenkins-notifier: error:" in wrong_key.stderr and "not-the-key" not in wrong_key.stderr


def test_the_demo_runner_no_longer_carries_notify_job() -> None:
    # Production pipelines must not depend on the demo package (and its extra) being installed.
    result = subprocess.run([str(Path(sys.executable).parent / "pathops"), "notify-job", "--help"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 2 and "No such command 'notify-job'" in result.stderr
