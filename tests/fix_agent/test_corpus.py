"""Every cell of the scenario corpus (failure class x layout, and out-of-class incidents) as a test.

The snapshot of each scenario comes from the real evidence collector reading a fake cluster
(built from what the repository renders) over HTTP; the patch is applied with `git am` to a
real repository and what it renders is compared with what the scenario expects. Any wrong
patch fails the build; an in-class miss fails its cell too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from fix_agent.fix import find_fix
from fix_agent.llm import LlmEngine, LlmSettings
from fix_agent.playbooks import PLAYBOOKS
from pathops_testbed.kube_objects import event, pod, running
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


def test_two_probes_failing_in_every_replica_are_fixed_together(tmp_path: Path) -> None:
    # Both probes of web ask paths the app renamed, in both replicas. The collector merges each probe's findings
    # across the replicas, and each merged finding is its first pod's: here the liveness finding is pod b's and the
    # readiness finding pod a's (the events' order). Fixing only the probe of the first finding's pod would ship
    # a patch that leaves the other probe failing in every pod.
    def both(c: dict[str, Any]) -> None:
        c["readinessProbe"]["httpGet"]["path"] = "/ready"
        c["livenessProbe"]["httpGet"]["path"] = "/live"

    failure = corpus.Failure("probe-both", "probe-404", "readiness", ("/readyz", "/livez"),
                             log=("GET /livez 200", "GET /ready 404", "GET /live 404"),
                             expected={("readinessProbe", "httpGet", "path"): "/readyz",
                                       ("livenessProbe", "httpGet", "path"): "/livez"})
    scenario = corpus.build(failure, both, "base", "plain", name="probe-both/plain-replicas")
    source = corpus.write_files(tmp_path / "source", scenario.files)
    cluster = corpus.load_cluster(scenario, source)  # pod a, its readiness probe failing 2 minutes ago
    first = next(p for p in cluster.objects["pods"][corpus.NS].values() if p["metadata"]["name"].endswith("-x7k2p"))
    replicaset = cluster.objects["replicasets"][corpus.NS][first["metadata"]["ownerReferences"][0]["name"]]
    a, b = first["metadata"]["name"], first["metadata"]["name"].replace("-x7k2p", "-b5n8r")
    cluster.add(pod(b, replicaset, [running("web", first["spec"]["containers"][0]["image"], ready=False)]))
    cluster.set_log(corpus.NS, b, "web", corpus._lines("Listening on 0.0.0.0:8080", *failure.log))
    failed = "probe failed: HTTP probe failed with statuscode: 404"
    for name, probe, minutes in ((b, "Liveness", 3), (b, "Readiness", 1.5), (a, "Liveness", 1)):
        cluster.add(event(corpus.NS, "Pod", name, "Unhealthy", f"{probe} {failed}", minutes, count=9,
                          field_path="spec.containers{web}"))
    snapshot = corpus.collect(cluster, tmp_path / "cluster")
    probes = [f for f in snapshot.findings if f["kind"] == "probe-failure"]
    assert [(f["facts"]["probe"], f["facts"]["pod"], f["facts"]["pod_count"]) for f in probes] == [
        ("liveness", b, 2), ("readiness", a, 2)]
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    outcome = find_fix(snapshot, source, corpus.SHA, list(PLAYBOOKS), scratch)
    verdict = corpus.judge(scenario, source, outcome, tmp_path)
    assert verdict.result == "fixed", verdict.detail
