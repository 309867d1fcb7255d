"""Every cell of the scenario corpus (failure class x layout, and out-of-class incidents) as a test.

The snapshot of each scenario comes from the real evidence collector reading a fake cluster
(built from what the repository renders) over HTTP; the patch is applied with `git am` to a
real repository and what it renders is compared with what the scenario expects. Any wrong
patch fails the build; an in-class miss fails its cell too.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from fix_agent.llm import LlmEngine, LlmSettings
from fix_agent.playbooks import PLAYBOOKS
from tests.fix_agent import corpus
from tests.fix_agent.scripted_llm import ScriptedModel, tool_call

SCENARIOS = {scenario.name: scenario for scenario in corpus.scenarios()}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_corpus_cell(tmp_path: Path, name: str) -> None:
    scenario = SCENARIOS[name]
    verdict = corpus.run(scenario, tmp_path, list(PLAYBOOKS))
    assert verdict.result != "wrong", verdict.detail
    assert verdict.result == ("fixed" if scenario.in_class else "refused"), verdict.detail
    assert scenario.failure.refusal in verdict.detail  # a no_fix says why


def test_the_corpus_covers_every_class_in_every_layout() -> None:
    cells = {(s.klass, s.layout) for s in SCENARIOS.values() if s.in_class}
    classes = {s.klass for s in SCENARIOS.values() if s.in_class}
    assert {"probe-readiness", "probe-liveness", "probe-startup", "port-chain", "oom", "configmap-key",
            "env-var-name", "image-tag"} <= classes
    breadth = {"service-selector", "image-rollback", "probe-stock-image", "command-not-found", "node-selector",
               "rbac-forbidden"}
    assert breadth <= classes
    assert cells >= {(k, layout) for k in classes - breadth for layout in corpus.LAYOUTS}
    assert cells >= {(k, layout) for k in breadth for layout in corpus.BREADTH_LAYOUTS}
    assert {"app-exception", "dependency-outage", "capacity"} <= {s.klass for s in SCENARIOS.values()
                                                                  if not s.in_class}


@pytest.mark.parametrize(("workload", "result"), [("web", "fixed"), ("worker", "missed")])
def test_the_llm_engine_passes_the_same_proof(tmp_path: Path, httpserver: HTTPServer, workload: str,
                                              result: str) -> None:
    # A model that retags the failing web is judged right; one that retags the healthy worker beside it (same
    # stale tag) cannot emit its patch: the proof refuses it, and the incident is a miss, not a wrong patch.
    line = f"image: {corpus.REGISTRY}/{workload}:{corpus.OLD_SHA[:12]}"
    model = ScriptedModel([
        [tool_call("propose_edit", path="deploy/shop.yaml", search=line,
                   replace=line.replace(corpus.OLD_SHA[:12], corpus.SHA[:12]))],
        [tool_call("finish", summary="Retag the image", rationale="The tag names another commit.")],
    ])
    engine = LlmEngine(LlmSettings(model.install(httpserver), "sk-test", "scripted-model", max_turns=4))
    verdict = corpus.run(SCENARIOS["image-tag/multi"], tmp_path, [engine])
    assert verdict.result == result, verdict.detail
