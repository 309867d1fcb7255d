"""Command line of evidence-collector: parses options and delegates to the core."""

from __future__ import annotations

import gc
import importlib
import json
import shutil
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pathops_contracts import __version__
from pathops_contracts.errors import InvalidInput
from pathops_contracts.identifiers import (
    APP_ID,
    BUCKET,
    ENDPOINT_URL,
    INCIDENT_ID,
    LABEL_SELECTOR,
    NAMESPACE,
    RFC3339_UTC,
    TIME_WINDOW,
    WORKLOAD,
)
from pathops_runtime.cli import (
    IdentifierType,
    at_boundary,
    callback_options,
    env_option,
    left_to_exit,
    tool_group,
)

if TYPE_CHECKING:
    from pathops_runtime.callbacks import CallbackSettings

# Imported by the command before any thread starts (the final scan's detectors included), then the rest
# in the background (tests/evidence_collector/test_import_race.py holds them apart).
FOREGROUND_IMPORTS = ("evidence_collector.collector", "evidence_collector.redaction", "evidence_collector.staging",
                      "pathops_contracts.secret_scan")
BACKGROUND_IMPORTS = ("pathops_runtime.artifact_store", "evidence_collector.snapshot")
# When it uploads, the background also imports what the end needs: requests (the callback) and boto3
# (`delivery`), with multiprocessing (s3transfer), which the foreground never touches (detect-secrets is loaded
# without its file scanning, which loaded part of it: `pathops_contracts.detect_secrets_plugins`). Of the
# standard packages the foreground uses, they load modules the foreground may load too: those are finished
# here first (20 ms), where requests itself took 65 ms of the start before its first log request.
UPLOAD_IMPORTS = ("encodings.idna", "http.cookiejar", "http.cookies", "importlib.metadata", "importlib.readers",
                  "importlib.resources.readers", "urllib.request")
UPLOAD_BACKGROUND_IMPORTS = ("requests", "evidence_collector.delivery")

# Every file is closed when `collect` returns or raises: the process then ends without the teardown.
main = tool_group(
    "evidence-collector",
    __version__,
    "Collect a bounded, redacted evidence snapshot of an incident and announce it.",
    exit_when_done=True,
)


@main.command("collect")
@at_boundary("evidence-collector")
@env_option("--incident-id", envvar="INCIDENT_ID", required=True, type=IdentifierType(INCIDENT_ID), help="Incident.")
@env_option("--app-id", envvar="APP_ID", required=True, type=IdentifierType(APP_ID), help="App, e.g. shop-frontend.")
@env_option("--target-namespace", envvar="TARGET_NAMESPACE", required=True, type=IdentifierType(NAMESPACE),
            help="Namespace to read (read-only).")
@env_option("--agents-namespace", envvar="AGENTS_NAMESPACE", type=IdentifierType(NAMESPACE), default=None,
            help="Namespace the collector runs in (recorded in the manifest).")
@env_option("--time-window", envvar="TIME_WINDOW", type=IdentifierType(TIME_WINDOW), default="30m",
            show_default=True, help="Duration (30m, 1h30m) or RFC 3339 interval start/end.")
@env_option("--alert-starts-at", envvar="ALERT_STARTS_AT", type=IdentifierType(RFC3339_UTC), default=None,
            help="Alert start: a duration window then reaches back from it.")
@env_option("--as-of", envvar="EVIDENCE_AS_OF", type=IdentifierType(RFC3339_UTC), default=None,
            help="The moment a duration window ends (default: now). Set it to when the Job was scheduled, and a "
                 "restarted Job collects the same window and so announces the same snapshot.")
@env_option("--workload", envvar="WORKLOAD", type=IdentifierType(WORKLOAD), default=None,
            help="Focus on one workload, e.g. deployment/shop-frontend, or on a Service (service/NAME).")
@env_option("--label-selector", envvar="LABEL_SELECTOR", type=IdentifierType(LABEL_SELECTOR), default=None,
            help="Focus on the pods these labels select.")
@env_option("--argocd-application", envvar="ARGOCD_APPLICATION", type=IdentifierType(NAMESPACE), default=None,
            help="Also read this Argo CD Application's status (when RBAC allows).")
@env_option("--argocd-namespace", envvar="ARGOCD_NAMESPACE", type=IdentifierType(NAMESPACE), default="argocd",
            show_default=True, help="Namespace of Argo CD's Applications.")
@env_option("--kubeconfig", envvar="KUBECONFIG", default=None, help="Kubeconfig when not running in a pod.")
@env_option("--context", envvar="KUBE_CONTEXT", default=None, help="Kubeconfig context.")
@env_option("--max-bytes", envvar="EVIDENCE_MAX_BYTES", type=click.IntRange(min=1024), default=50 * 1024 * 1024,
            show_default=True, help="Cap on the snapshot's (uncompressed) size.")
@env_option("--log-bytes", envvar="EVIDENCE_LOG_BYTES", type=click.IntRange(min=1024), default=256 * 1024,
            show_default=True, help="limitBytes of each container log.")
@env_option("--tail-lines", envvar="EVIDENCE_TAIL_LINES", type=click.IntRange(min=1), default=2000,
            show_default=True, help="tailLines of each container log.")
@env_option("--concurrency", envvar="EVIDENCE_CONCURRENCY", type=click.IntRange(1, 64), default=8,
            show_default=True, help="Concurrent log requests.")
@env_option("--deadline", envvar="EVIDENCE_DEADLINE_SECONDS", type=click.FloatRange(min=1), default=300.0,
            show_default=True, help="Wall-clock seconds for the whole collection; what is in flight then is cut "
                 "off and kept (the last tenth, at most 10 s, is for assembling the snapshot).")
@env_option("--upload-deadline", envvar="EVIDENCE_UPLOAD_DEADLINE_SECONDS", type=click.FloatRange(min=1),
            default=120.0, show_default=True, help="Seconds for the upload to MinIO, retries included.")
@env_option("--redaction-patterns", envvar="REDACTION_PATTERNS_FILE", default=None,
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="Extra redaction patterns, one 'kind: regex' a line.")
@env_option("--output-dir", envvar="OUTPUT_DIR", default=None, type=click.Path(file_okay=False, path_type=Path),
            help="Keep a local copy of the snapshot and findings here.")
@env_option("--no-upload", envvar="NO_UPLOAD", is_flag=True, help="Run offline: no upload, no callback.")
@env_option("--minio-endpoint", envvar="MINIO_ENDPOINT", default=None, type=IdentifierType(ENDPOINT_URL),
            help="S3 API endpoint of MinIO.")
@env_option("--minio-bucket", envvar="MINIO_BUCKET", default=None, type=IdentifierType(BUCKET), help="Bucket.")
@env_option("--minio-region", envvar="MINIO_REGION", default="us-east-1", show_default=True, help="S3 region.")
@env_option("--callback-url", envvar="CONTROL_PLANE_CALLBACK_URL", default=None, type=IdentifierType(ENDPOINT_URL),
            help="The control plane's /api/evidence/callback.")
@env_option("--scratch-dir", envvar="SCRATCH_DIR", default=None, type=click.Path(file_okay=False, path_type=Path),
            help="Writable directory for staging.")
@callback_options
def collect(*, incident_id: str, app_id: str, target_namespace: str, agents_namespace: str | None, time_window: str,
            alert_starts_at: str | None, as_of: str | None, workload: str | None, label_selector: str | None,
            argocd_application: str | None, argocd_namespace: str, kubeconfig: str | None,
            context: str | None, max_bytes: int, log_bytes: int, tail_lines: int, concurrency: int, deadline: float,
            upload_deadline: float,
            redaction_patterns: Path | None, output_dir: Path | None, no_upload: bool, minio_endpoint: str | None,
            minio_bucket: str | None, minio_region: str, callback_url: str | None, scratch_dir: Path | None,
            callbacks: CallbackSettings) -> None:
    """Read TARGET_NAMESPACE, write the snapshot to MinIO, then call back with its snapshot_id.

    Exit codes: 0 snapshot delivered; 2 bad input; 4 a secret survived redaction (nothing
    uploaded); 5 Kubernetes, MinIO or the control plane failed; 6 RBAC refused the namespace.
    """
    # Until the freeze below, what this run makes is mostly the modules it loads, none of it garbage: no
    # collection walks them meanwhile (~5% of the imports' time). Enabled again there, or when the command ends.
    gc.disable()
    click.get_current_context().call_on_close(gc.enable)
    # Here, not at the top: --help and --version do not pay for kubernetes, boto3 and requests.
    from evidence_collector.window import parse_timestamp, resolve_window
    from pathops_runtime.kube_reader import KIND_TO_PLURAL, KubeReader
    from pathops_runtime.progress import terminal_progress

    if not no_upload:
        missing = [f"{option} ({variable})" for option, variable, value in (
            ("--minio-endpoint", "MINIO_ENDPOINT", minio_endpoint), ("--minio-bucket", "MINIO_BUCKET", minio_bucket),
            ("--callback-url", "CONTROL_PLANE_CALLBACK_URL", callback_url)) if not value]
        if missing:
            raise InvalidInput(f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                               "required to upload (or pass --no-upload)")
    now = parse_timestamp(as_of) if as_of else datetime.now(UTC)
    window = resolve_window(time_window, now, parse_timestamp(alert_starts_at) if alert_starts_at else None)
    focus_workload = None
    if workload:
        kind, name = workload.split("/", 1)
        plural = {**{k.lower(): v for k, v in KIND_TO_PLURAL.items()}, "service": "services"}[kind]
        focus_workload = (plural, name)
    reader = KubeReader.connect(kubeconfig, context, concurrency)
    from evidence_collector.opening import Focus, Opening, read_ahead

    focus = Focus(focus_workload, label_selector,
                  (argocd_namespace, argocd_application) if argocd_application else None)
    deadline_seconds = deadline - min(10.0, deadline / 10)  # the rest is for assembling the snapshot
    # The first requests go out now: their round trips overlap the imports and set-up below. Whatever ends
    # the command, what was asked and not sent yet is then not sent.
    opening = Opening.begin(reader, target_namespace, read_ahead(focus), deadline_seconds, concurrency)
    click.get_current_context().call_on_close(opening.cancel)
    for name in (*FOREGROUND_IMPORTS, *(() if no_upload else UPLOAD_IMPORTS)):
        importlib.import_module(name)
    # What is loaded now lives as long as this short process: the cyclic collector stops walking it, and
    # runs less often. A run makes ~100,000 container objects (parsed pages, findings), and every full
    # collection stopped all log streams at once: 64 ms of collections a restarted-benchmark run, 16 now.
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
    gc.enable()
    # boto3 alone takes a tenth of a second, needed only at the end: a thread imports it while the
    # collection waits on the API. Only packages the foreground has finished importing may be shared with
    # it: two threads entering one package's import cycle from different modules get a half-made module
    # (detect_secrets did exactly that: "cannot import name 'Plugin' from partially initialized module").
    warm_up = _import_in_background(*BACKGROUND_IMPORTS, *(() if no_upload else UPLOAD_BACKGROUND_IMPORTS))
    from evidence_collector.bounds import Bounds
    from evidence_collector.collector import Collector
    from evidence_collector.redaction import Redactor, load_extra_rules, token_key
    from evidence_collector.staging import Staging

    # Token keys per incident, not per run: a restarted Job writes the same tokens, hence the same snapshot.
    redactor = Redactor(load_extra_rules(redaction_patterns) if redaction_patterns else (),
                        token_key(incident_id, callbacks.signing_key))
    bounds = Bounds(total_bytes=max_bytes, log_bytes=min(log_bytes, max_bytes), tail_lines=tail_lines,
                    concurrency=concurrency, deadline_seconds=deadline_seconds)
    if scratch_dir is not None:
        scratch_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="evidence-", dir=scratch_dir) as scratch:
        staging = Staging(Path(scratch) / "snapshot", redactor, bounds.total_bytes)
        staging.root.mkdir()
        collector = Collector(reader, staging, target_namespace, window, bounds, focus, opening)
        say = terminal_progress("evidence-collector")  # phase lines on a terminal only; a Job's log is unchanged
        say(f"reading namespace {target_namespace} (deadline {deadline:g}s)")
        collected = collector.collect()
        say(f"read {collector.kept_lines.get('objects/pods.jsonl', 0)} pods, "
            f"{sum(name.startswith('logs/') for name in staging.members())} container logs; "
            f"{len(collected.findings)} findings, {len(staging.gaps)} gaps")
        # What follows imports the warm-up's modules: only once it is done. A short collection (a small or
        # empty namespace) gets here while it still imports (requests, boto3), and the foreground would
        # import the same packages at the same time (boto3 and urllib3 from the delivery).
        warm_up.join()
        from evidence_collector.snapshot import SnapshotIdentity, assemble
        from pathops_runtime.artifact_store import ArtifactKind, StoreSettings, artifact_id_for

        bundle = Path(scratch) / "snapshot.tar.gz"
        identity = SnapshotIdentity(incident_id, app_id, target_namespace, agents_namespace)
        manifest, summary, digest = assemble(staging, identity, window, collected, redactor, bundle)
        snapshot_id = artifact_id_for(ArtifactKind.SNAPSHOT, digest)
        if output_dir is not None:
            output_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy2(bundle, output_dir / f"{snapshot_id}.tar.gz")
            (output_dir / "findings.json").write_bytes(staging.read("findings.json"))
        staging.close()
        uri = None
        if not no_upload:
            assert minio_endpoint and minio_bucket and callback_url
            from evidence_collector.delivery import deliver_snapshot
            from pathops_runtime.callbacks import ControlPlane

            say(f"uploading snapshot {snapshot_id} ({bundle.stat().st_size / 1e6:.1f} MB)")
            uri = deliver_snapshot(StoreSettings(minio_endpoint, minio_bucket, minio_region), bundle, snapshot_id,
                                   upload_deadline, ControlPlane(callbacks), callback_url,
                                   {"incident_id": incident_id, "summary": summary,
                                    "source_commit_sha": collected.source_commit}).uri
    left_to_exit(collector, collected, manifest)  # the console script ends the process: nothing of it is freed
    click.echo(json.dumps({
        "snapshot_id": snapshot_id, "bundle": uri, "summary": summary, "findings": len(collected.findings),
        "gaps": len(manifest["gaps"]), "files": len(manifest["files"]), "source_commit_sha": collected.source_commit,
    }))


def _import_in_background(*modules: str) -> threading.Thread:
    """Import modules in a daemon thread; a failure is left for the import where it is needed to raise."""

    def run() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001, S112 - raised again, with its traceback, by the real import
                continue

    thread = threading.Thread(target=run, name="warm-imports", daemon=True)
    thread.start()
    return thread
