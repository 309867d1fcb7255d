"""Reading a tool's JSON log lines (stderr) in tests."""

from __future__ import annotations

import json
from typing import Any


def delivered(stderr: str) -> list[dict[str, Any]]:
    """What the shared `deliver` logged ("artifact delivered"): artifact_id, uploaded, callbacks."""
    entries = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return [{key: entry[key] for key in ("artifact_id", "uploaded", "callbacks")}
            for entry in entries if entry.get("msg") == "artifact delivered"]
