"""Every cell of the scenario corpus (failure class x layout, and out-of-class incidents) as a test.

The snapshot of each scenario comes from the real evidence collector reading a fake cluster
(built from what the repository renders) over HTTP; the patch is applied with `git am` to a
real repository and what it renders is compared with what the scenario expects. Any wrong
patch fails the build; an in-class miss fails its cell too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fix_agent.playbooks import PLAYBOOKS
from tests.fix_agent import corpus

SCENARIOS = {scenario.name: scenario for scenario in corpus.scenarios()}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_corpus_cell(tmp_path: Path, name: str) -> None:
    scenario = SCENARIOS[name]
    verdict = corpus.run(scenario, tmp_path, list(PLAYBOOKS))
    assert verdict.result != "wrong", verdict.detail
    assert verdict.result == ("fixed" if scenario.in_class else "refused"), verdict.detail


def test_the_corpus_covers_every_class_in_every_layout() -> None:
    cells = {(s.klass, s.layout) for s in SCENARIOS.values() if s.in_class}
    classes = {s.klass for s in SCENARIOS.values() if s.in_class}
    assert {"probe-readiness", "probe-liveness", "probe-startup", "port-chain", "oom", "configmap-key",
            "env-var-name", "image-tag"} <= classes
    assert cells >= {(k, layout) for k in classes for layout in corpus.LAYOUTS}
    assert {"app-exception", "dependency-outage", "capacity"} <= {s.klass for s in SCENARIOS.values()
                                                                  if not s.in_class}
