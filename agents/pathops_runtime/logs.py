"""Logging for the agent CLIs: JSON lines on stderr when not a terminal, never a secret.

Known secret values (credentials read from the environment) are registered with
`mask_secret` and replaced by `***` in every message and field before a record is
written, whatever logger produced it.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

_MASK = "***"
_secrets: set[str] = set()
# Attributes every LogRecord has; anything else was passed through `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


def mask_secret(value: str | None) -> None:
    """Register a secret value so that it never reaches a log line (short values are ignored)."""
    if value and len(value) >= 4:
        _secrets.add(value)


def masked(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, _MASK)
    return text


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {key: value for key, value in vars(record).items() if key not in _STANDARD}


class JsonLinesFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(_fields(record))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return masked(json.dumps(entry, default=str, ensure_ascii=False))


class ReadableFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{key}={value}" for key, value in _fields(record).items())
        line = f"{record.levelname.lower():7} {record.getMessage()}" + (f"  {extras}" if extras else "")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return masked(line)


def configure_logging(tool: str, verbose: bool = False) -> None:
    """Send logs to stderr in the format that fits where stderr goes; quiet noisy libraries."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(ReadableFormatter() if sys.stderr.isatty() else JsonLinesFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("urllib3", "botocore", "boto3", "s3transfer", "git", "kubernetes", "gitlab", "openai", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger(tool).debug("logging configured")
