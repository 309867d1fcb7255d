"""Reading a command's callback options imports nothing that only sending a callback needs."""

from __future__ import annotations

import json
import subprocess
import sys

# What pathops_runtime.callbacks brings: a command that never sends a callback (--no-upload,
# a refused input) must not pay for them at start.
SENDING_ONLY = ["requests", "tenacity", "jsonschema", "detect_secrets", "pathops_runtime.callbacks"]
PROBE = """
import json, sys
import click
from pathops_runtime.cli import callback_options

seen = {}

@click.command()
@callback_options
def command(callbacks):
    seen["settings"] = [callbacks.signing_key, callbacks.token, callbacks.deadline_seconds]

try:
    command.main(["--callback-deadline", "30"], prog_name="probe")
except SystemExit as exit:
    assert exit.code == 0, exit.code
loaded = sorted(name for name in json.loads(sys.argv[1]) if name in sys.modules)
print(json.dumps({"settings": seen["settings"], "loaded": loaded}))
"""


def test_callback_options_are_read_without_importing_the_callback_sender() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE, json.dumps(SENDING_ONLY)], capture_output=True, text=True,
                            env={"CALLBACK_SIGNING_KEY": "k3y-value", "PATH": ""}, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    answer = json.loads(result.stdout.splitlines()[-1])
    assert answer == {"settings": ["k3y-value", None, 30.0], "loaded": []}


def test_the_settings_are_the_ones_the_sender_uses() -> None:
    from pathops_runtime.callback_settings import CallbackSettings
    from pathops_runtime.callbacks import CallbackSettings as SenderSettings

    assert SenderSettings is CallbackSettings
