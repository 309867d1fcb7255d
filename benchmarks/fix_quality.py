"""Benchmark: how often the fix engine is right, per failure class and repository layout.

Runs the scenario corpus of tests/fix_agent/corpus.py (each snapshot made by the real evidence
collector against the fake Kubernetes API) through the playbooks, and, when OPENAI_BASE_URL is
set, through the LLM engine alone as well, so a user can measure their own model. Prints
fixed / missed / wrong for every cell and the totals. Exit 1 on any wrong patch (or, with
--min-fixed, when fewer in-class incidents are fixed than that share).

    python benchmarks/fix_quality.py [--only SUBSTRING] [--min-fixed 0.9] [--json FILE]
    OPENAI_BASE_URL=http://localhost:11434/v1 FIX_AGENT_MODEL=qwen2.5-coder python benchmarks/fix_quality.py
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fix_agent.playbooks import PLAYBOOKS
from fix_agent.proposal import Engine
from tests.fix_agent import corpus


def engines() -> dict[str, list[Engine]]:
    found: dict[str, list[Engine]] = {"playbooks": list(PLAYBOOKS)}
    base_url = os.environ.get("OPENAI_BASE_URL")
    if base_url:
        from fix_agent.llm import LlmEngine, LlmSettings

        found["llm"] = [LlmEngine(LlmSettings(base_url, os.environ.get("OPENAI_API_KEY", ""),
                                              os.environ.get("FIX_AGENT_MODEL", "gpt-4o-mini")))]
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run the scenarios whose name contains this")
    parser.add_argument("--min-fixed", type=float, default=0.0, help="fail below this share of in-class fixed")
    parser.add_argument("--json", type=Path, default=None, help="also write the verdicts here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    failed = False
    for label, chosen in engines().items():
        verdicts = []
        for scenario in corpus.scenarios():
            if args.only not in scenario.name:
                continue
            with tempfile.TemporaryDirectory(prefix="fix-quality-") as work:
                verdicts.append(corpus.run(scenario, Path(work), chosen))
        print(f"== engine: {label}")
        print(corpus.table(verdicts))
        in_class = [v for v in verdicts if v.in_class]
        share = sum(v.result == "fixed" for v in in_class) / len(in_class) if in_class else 1.0
        print(f"fixed share: {share:.0%}")
        failed |= any(v.result == "wrong" for v in verdicts) or share < args.min_fixed
        if args.json:
            args.json.with_suffix(f".{label}.json").write_text(corpus.as_json(verdicts), encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
