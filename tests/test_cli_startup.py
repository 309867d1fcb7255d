"""--help and --version load none of the heavy libraries the tools use for their work.

A CLI starts in a fraction of the time when it imports only click and its option rules (the
figures: benchmarks/startup.py). Each case runs in a fresh interpreter: this one has them all.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

# Each of these takes from a tenth of a second to two seconds to import. (ruamel.yaml, ~15 ms,
# stays: gitops-patcher's list of agents lives in its renderer.)
HEAVY = ["boto3", "botocore", "kubernetes", "gitlab", "openai", "jsonschema", "docker", "requests", "tenacity", "git"]
CLIS = {
    "evidence_collector.cli": "collect",
    "fix_agent.cli": "run",
    "verification_agent.cli": "verify",
    "gitops_patcher.cli": "schedule",
    "mr_creator.cli": "create",
    "jenkins_notifier.cli": "notify-job",
    "golden_path.cli": "demo",
}
PROBE = """
import json, sys
module = __import__(sys.argv[1], fromlist=["main"])
for args in (["--version"], ["--help"], [sys.argv[2], "--help"]):
    try:
        module.main.main(args, prog_name="probe")
    except SystemExit as exit:
        assert exit.code == 0, (args, exit.code)
heavy = json.loads(sys.argv[3])
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules} & set(heavy))))
"""


@pytest.mark.parametrize("module", sorted(CLIS))
def test_help_and_version_import_no_heavy_library(module: str) -> None:
    result = subprocess.run([sys.executable, "-c", PROBE, module, CLIS[module], json.dumps(HEAVY)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.splitlines()[-1]) == []


@pytest.mark.parametrize("module", sorted(CLIS))
def test_every_option_of_every_command_is_declared_once(module: str) -> None:
    # click only warns about a duplicate (on stderr, at every call), and --help then lists it twice.
    group = importlib.import_module(module).main
    for name, command in group.commands.items():
        flags = [flag for param in command.params for flag in (*param.opts, *param.secondary_opts)]
        assert sorted(flags) == sorted(set(flags)), (name, flags)
