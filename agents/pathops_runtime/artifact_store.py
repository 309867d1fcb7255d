"""The artifact store: MinIO through the S3 API.

Artifact ids are content-addressed: `<kind>-<first 32 hex of the sha256 of the file>`.
An id maps to exactly one key by `artifact_key`:

    snap-<hex>   -> snapshots/snap-<hex>.tar.gz
    patch-<hex>  -> patches/patch-<hex>.tar.gz
    report-<hex> -> reports/report-<hex>.json   (JUnit XML beside it: reports/report-<hex>.junit.xml)

Content addressing makes uploads idempotent (same content, same key) and lets a
consumer check the id against the bytes it downloaded. The full sha256 is stored in
the object metadata (`x-amz-meta-sha256`) and checked on every download.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pathops_contracts.bundle_writer import sha256_file
from pathops_contracts.errors import ContractViolation, Forbidden, UpstreamError
from pathops_contracts.identifiers import ARTIFACT_ID

# boto3 and botocore take a third of a second to import: only a store in use pays for them
# (StoreSettings is all a CLI's option parsing needs from this module).
if TYPE_CHECKING:
    from boto3.s3.transfer import TransferConfig
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)


def _transfer() -> TransferConfig:
    """Streaming from disk in 8 MiB parts, two at a time, keeps memory at a few parts whatever the artifact size."""
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(
        multipart_threshold=8 * 1024 * 1024,
        multipart_chunksize=8 * 1024 * 1024,
        max_concurrency=2,
        io_chunksize=256 * 1024,
    )


class ArtifactMissing(ContractViolation):
    """No object under an artifact id's key: an id was announced (or given) that the store never took."""


class ArtifactKind(Enum):
    """The three artifact kinds and where they live in the bucket."""

    SNAPSHOT = ("snap", "snapshots", ".tar.gz")
    PATCH = ("patch", "patches", ".tar.gz")
    REPORT = ("report", "reports", ".json")

    def __init__(self, prefix: str, folder: str, suffix: str) -> None:
        self.prefix = prefix
        self.folder = folder
        self.suffix = suffix


def artifact_id_for(kind: ArtifactKind, sha256: str) -> str:
    """The content-addressed id of an artifact whose file has this sha256."""
    return f"{kind.prefix}-{sha256[:32]}"


def kind_of(artifact_id: str) -> ArtifactKind:
    """The kind an id names; raises InvalidInput on a malformed id."""
    ARTIFACT_ID.check(artifact_id)
    prefix = artifact_id.split("-", 1)[0]
    return next(kind for kind in ArtifactKind if kind.prefix == prefix)


def artifact_key(artifact_id: str, suffix: str | None = None) -> str:
    """The one S3 key of an artifact id (suffix overrides the kind's, for side files)."""
    kind = kind_of(artifact_id)
    return f"{kind.folder}/{artifact_id}{suffix if suffix is not None else kind.suffix}"


@dataclass(frozen=True)
class StoreSettings:
    """Where the store is. Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY."""

    endpoint: str
    bucket: str
    region: str = "us-east-1"


@dataclass(frozen=True)
class StoredArtifact:
    """An artifact as the store holds it."""

    artifact_id: str
    key: str
    uri: str
    sha256: str
    size: int
    uploaded: bool  # False when an identical object was already there


def make_s3_client(settings: StoreSettings) -> S3Client:
    """A boto3 client for MinIO: path-style addressing, bounded retries and timeouts."""
    import boto3
    from botocore.config import Config

    config = Config(
        s3={"addressing_style": "path"},
        retries={"max_attempts": 5, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
        signature_version="s3v4",
    )
    client: S3Client = boto3.client(
        "s3",
        endpoint_url=settings.endpoint,
        region_name=settings.region,
        config=config,
    )
    return client


def _missing_bucket(bucket: str) -> UpstreamError:
    return UpstreamError(f"bucket {bucket} does not exist in the artifact store")


def _translate(error: Exception, action: str, bucket: str) -> Exception:
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import ClientError

    credentials = "(check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "401"}:
            return Forbidden(f"artifact store refused {action}: {code} {credentials}")
        if code == "NoSuchBucket":
            return _missing_bucket(bucket)
        return UpstreamError(f"artifact store failed to {action}: {code or error}")
    if isinstance(error, S3UploadFailedError) and any(
        code in str(error) for code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch")
    ):
        return Forbidden(f"artifact store refused {action}: {error} {credentials}")
    if isinstance(error, S3UploadFailedError) and "NoSuchBucket" in str(error):
        return _missing_bucket(bucket)
    return UpstreamError(f"artifact store unreachable while trying to {action}: {error}")


class ArtifactStore:
    """Uploads and downloads artifacts, verifying content on both sides."""

    def __init__(self, client: S3Client, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    @classmethod
    def from_settings(cls, settings: StoreSettings) -> ArtifactStore:
        return cls(make_s3_client(settings), settings.bucket)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _head(self, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            head = self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if str(error.response.get("Error", {}).get("Code")) in {"404", "NoSuchKey", "NotFound"}:
                # HEAD has no body, so a missing bucket looks like a missing key: tell them apart.
                self._check_bucket()
                return None
            raise _translate(error, f"read {key}", self.bucket) from error
        except BotoCoreError as error:
            raise _translate(error, f"read {key}", self.bucket) from error
        return dict(head)

    def _check_bucket(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError as error:
            if str(error.response.get("Error", {}).get("Code")) in {"404", "NoSuchBucket", "NotFound"}:
                raise _missing_bucket(self.bucket) from error
            raise _translate(error, f"read bucket {self.bucket}", self.bucket) from error
        except BotoCoreError as error:
            raise _translate(error, f"read bucket {self.bucket}", self.bucket) from error

    def put(self, path: Path, kind: ArtifactKind) -> StoredArtifact:
        """Upload a file under its content-addressed id; a second upload of the same file is a no-op."""
        digest = sha256_file(path)
        artifact_id = artifact_id_for(kind, digest)
        return self._put_at(path, artifact_id, artifact_key(artifact_id), digest)

    def put_beside(self, path: Path, artifact_id: str, suffix: str) -> StoredArtifact:
        """Upload a side file of an artifact (e.g. the JUnit XML beside a report)."""
        return self._put_at(path, artifact_id, artifact_key(artifact_id, suffix), sha256_file(path))

    def _put_at(self, path: Path, artifact_id: str, key: str, digest: str) -> StoredArtifact:
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError

        size = path.stat().st_size
        existing = self._head(key)
        if existing is not None:
            stored_digest = existing.get("Metadata", {}).get("sha256")
            if stored_digest == digest:
                log.info("artifact already stored", extra={"key": key, "artifact_id": artifact_id})
                return StoredArtifact(artifact_id, key, self.uri(key), digest, size, uploaded=False)
            raise ContractViolation(
                f"{self.uri(key)} already holds different content (sha256 {stored_digest}); refusing to overwrite"
            )
        try:
            self._client.upload_file(
                str(path),
                self.bucket,
                key,
                ExtraArgs={"Metadata": {"sha256": digest}, "ContentType": _content_type(key)},
                Config=_transfer(),
            )
        except (ClientError, BotoCoreError, S3UploadFailedError) as error:
            raise _translate(error, f"upload {key}", self.bucket) from error
        log.info("artifact uploaded", extra={"key": key, "artifact_id": artifact_id, "bytes": size})
        return StoredArtifact(artifact_id, key, self.uri(key), digest, size, uploaded=True)

    def get(self, artifact_id: str, destination: Path, suffix: str | None = None,
            max_size: int | None = None) -> StoredArtifact:
        """Download an artifact to destination and verify it; a mismatch leaves no file behind.

        max_size refuses, before downloading, an object larger than its reader would accept.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        key = artifact_key(artifact_id, suffix)
        head = self._head(key)
        if head is None:
            raise ArtifactMissing(f"artifact {artifact_id} not found at {self.uri(key)}")
        size = int(head.get("ContentLength", 0))
        if max_size is not None and size > max_size:
            raise ContractViolation(f"{self.uri(key)} is {size} bytes; at most {max_size} accepted")
        expected = head.get("Metadata", {}).get("sha256")
        if not expected:
            raise ContractViolation(f"{self.uri(key)} carries no sha256 metadata; refusing unverifiable content")
        destination.parent.mkdir(parents=True, exist_ok=True)
        descriptor, partial_name = tempfile.mkstemp(dir=destination.parent, prefix=".partial-")
        os.close(descriptor)
        partial = Path(partial_name)
        try:
            try:
                self._client.download_file(self.bucket, key, str(partial), Config=_transfer())
            except (ClientError, BotoCoreError) as error:
                raise _translate(error, f"download {key}", self.bucket) from error
            actual = sha256_file(partial)
            if actual != expected:
                raise ContractViolation(f"{self.uri(key)} sha256 mismatch: metadata {expected}, content {actual}")
            if suffix is None and artifact_id_for(kind_of(artifact_id), actual) != artifact_id:
                raise ContractViolation(f"{self.uri(key)} content does not match its id {artifact_id}")
            partial.replace(destination)
        finally:
            partial.unlink(missing_ok=True)
        return StoredArtifact(artifact_id, key, self.uri(key), actual, destination.stat().st_size, uploaded=False)

    def ensure_bucket(self) -> None:
        """Create the bucket when missing (demo and tests; production buckets are provisioned)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError:
            try:
                self._client.create_bucket(Bucket=self.bucket)
            except (ClientError, BotoCoreError) as error:
                raise _translate(error, f"create bucket {self.bucket}", self.bucket) from error


def _content_type(key: str) -> str:
    if key.endswith(".tar.gz"):
        return "application/gzip"
    if key.endswith(".json"):
        return "application/json"
    if key.endswith(".xml"):
        return "application/xml"
    return "application/octet-stream"
