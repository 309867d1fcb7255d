"""Domain exceptions, each carrying the documented exit code of the CLI boundary."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes shared by every PathOps CLI (documented in the README's table, which must match).

    "No fix" is not a failure: fix-agent exits OK when it delivered a no_fix bundle (the analysis
    of why, uploaded and announced with a callback of status no_fix), as when it delivered a patch.
    The control plane reads the callback's status, not the exit code. OUTCOME is for a negative
    answer that leaves the asked-for change undone: an MR conflict, a patch that no longer applies
    (or a bundle without one handed to mr-creator), a failed verification.
    """

    OK = 0  # done; for fix-agent, a patch or a no_fix bundle was delivered
    INTERNAL = 1  # a bug: unexpected exception, traceback on stderr
    USAGE = 2  # bad flag, bad identifier, missing endpoint, invalid spec (click uses 2 too)
    OUTCOME = 3  # ran to the end, the answer is negative: conflict, patch does not apply, checks failed
    INTEGRITY = 4  # an artifact or document broke its contract (checksum, schema, unsafe tar, policy)
    UPSTREAM = 5  # a system we depend on failed after retries (S3, control plane, git, GitLab, K8s)
    FORBIDDEN = 6  # a system refused our credentials or RBAC (401/403)
    INCONCLUSIVE = 7  # ran to the end without enough evidence to decide (verification)


class PathOpsError(Exception):
    """Base of every error that the CLI boundary turns into a one-line message."""

    exit_code: ExitCode = ExitCode.INTERNAL


class InvalidInput(PathOpsError):
    """An input from outside (flag, env var, spec file) is malformed."""

    exit_code = ExitCode.USAGE


class ContractViolation(PathOpsError):
    """A document or artifact does not match its schema, checksum or safety rules."""

    exit_code = ExitCode.INTEGRITY


class UpstreamError(PathOpsError):
    """A dependency (S3, control plane, git remote, GitLab, Kubernetes) failed."""

    exit_code = ExitCode.UPSTREAM


class Forbidden(PathOpsError):
    """Credentials or RBAC were refused."""

    exit_code = ExitCode.FORBIDDEN


class NegativeOutcome(PathOpsError):
    """The command ran correctly and its answer is negative."""

    exit_code = ExitCode.OUTCOME
