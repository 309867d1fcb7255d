"""Which pods a Service selects, from an index of the pods' labels (`detectors.services._PodsByLabel`).

Judged against every pod, 5,000 Services and 11,000 pods took 57 s of the detectors' CPU; from the
index, 0.07 s, the same 1,667 findings. The index must select exactly what a pass over the pods did:
every label of the selector held with its value, in the pods' order.
"""

from __future__ import annotations

from typing import Any

from evidence_collector.detectors.services import _PodsByLabel


def _pod(name: str, labels: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}}


PODS = [_pod("a", {"app": "web", "tier": "front"}), _pod("b", {"app": "web"}),
        _pod("c", {"app": "api", "tier": "front"}), _pod("d", {"app": "web", "tier": "front", "extra": "x"}),
        _pod("e", None), _pod("f", {"tier": "front"})]


def _names(pods: list[dict[str, Any]]) -> list[str]:
    return [pod["metadata"]["name"] for pod in pods]


def test_a_selector_selects_the_pods_holding_every_one_of_its_labels_in_their_order() -> None:
    index = _PodsByLabel(PODS)
    assert _names(index.selected({"app": "web"})) == ["a", "b", "d"]
    assert _names(index.selected({"tier": "front", "app": "web"})) == ["a", "d"]
    assert _names(index.selected({"tier": "front"})) == ["a", "c", "d", "f"]
    assert index.selected({"app": "web", "tier": "back"}) == []
    assert index.selected({"app": "nothing"}) == []


def test_an_empty_selector_or_one_that_is_no_key_selects_nothing() -> None:
    index = _PodsByLabel(PODS)
    assert index.selected({}) == []
    assert index.selected({"app": ["web"]}) == []  # shapes keep selectors string maps; a list is still no match


def test_the_index_agrees_with_a_pass_over_every_pod() -> None:
    pods = [_pod(f"p{n}", {"app": f"a{n % 7}", "zone": f"z{n % 3}", **({"canary": "yes"} if n % 5 == 0 else {})})
            for n in range(200)]
    index = _PodsByLabel(pods)
    for selector in ({"app": "a3"}, {"app": "a3", "zone": "z1"}, {"canary": "yes", "zone": "z2"}, {"zone": "z0"}):
        expected = [p for p in pods if all(p["metadata"]["labels"].get(k) == v for k, v in selector.items())]
        assert index.selected(selector) == expected
