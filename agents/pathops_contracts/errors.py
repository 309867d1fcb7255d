"""Domain exceptions, each carrying the documented exit code of the CLI boundary."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes shared by every PathOps CLI (documented in the README)."""

    OK = 0
    INTERNAL = 1  # a bug: unexpected exception, traceback on stderr
    USAGE = 2  # bad flag, bad identifier, invalid spec (click uses 2 too)
    OUTCOME = 3  # ran to the end, and the answer is negative (no fix, checks failed)
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
