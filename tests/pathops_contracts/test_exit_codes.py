"""The README's exit-code table is the enum every CLI exits with: same codes, no more, no fewer."""

from __future__ import annotations

import re
from pathlib import Path

from pathops_contracts.errors import ExitCode

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_table_lists_exactly_the_exit_codes() -> None:
    section = README.read_text(encoding="utf-8").split("## Exit codes (every tool)", 1)[1].split("\n## ", 1)[0]
    documented = [int(code) for code in re.findall(r"^\| (\d+) \|", section, flags=re.MULTILINE)]
    assert documented == sorted(code.value for code in ExitCode)
    row_zero = next(line for line in section.splitlines() if line.startswith("| 0 |"))
    assert "no-fix" in row_zero  # fix-agent's no_fix is delivered and exits 0 (tests/fix_agent/test_cli.py)
