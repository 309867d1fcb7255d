"""What `verification-agent verify` runs with: frozen settings built from its options, the core's only input.

The CLI builds them from the options and environment variables; a test builds them directly and
calls `verification_agent.core.run` without click.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

# boto3 and requests come with these: the settings name them, the core imports them.
if TYPE_CHECKING:
    from pathops_runtime.artifact_store import StoreSettings
    from pathops_runtime.callbacks import CallbackSettings


@dataclass(frozen=True)
class VerifySettings:
    """One verification run of a preflight deployment, and where its report and callback go."""

    app_id: str
    environment: str  # preflight: the only environment verified
    verification_id: str
    spec: Path  # the verification spec (YAML)
    callback_url: str
    store: StoreSettings
    callbacks: CallbackSettings
    target_namespace: str | None = None  # default <app>-preflight
    expected_commit_sha: str | None = None  # the commit the pods must run (rollout check)
    prometheus_url: str | None = None
    kubeconfig: str | None = None
    no_kubernetes: bool = False  # rollout and restarts checks become inconclusive
    allowed_job_commands: frozenset[str] = frozenset()  # argv[0] of the job checks that may run
    output_dir: Path | None = None  # report.json and junit.xml kept here too
    scratch_dir: Path | None = None
    # The process environment: the values of its credential variables are masked in the report.
    process_environment: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def namespace(self) -> str:
        return self.target_namespace or f"{self.app_id}-preflight"
