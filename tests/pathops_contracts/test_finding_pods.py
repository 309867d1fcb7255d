"""The pods a finding is seen in, as the merge request and analysis.md count them."""

from __future__ import annotations

from pathops_contracts.finding_pods import finding_pods, merged, pods_of


def test_a_merged_finding_counts_past_the_pods_it_names_and_a_group_names_each_pod_once() -> None:
    merged_one = {"facts": {"pod": "shop-0", "pods": ["shop-0", "shop-1"], "pod_count": 300}}
    alone = {"facts": {"pod": "shop-1"}}
    other = {"facts": {"pod": "cart-1"}}
    assert merged(merged_one) and not merged(alone)
    assert finding_pods(merged_one) == (["shop-0", "shop-1"], 300) and finding_pods(alone) == (["shop-1"], 1)
    assert pods_of([merged_one, alone, other]) == (["shop-0", "shop-1", "cart-1"], 301)


def test_what_is_not_text_is_no_pod() -> None:
    assert finding_pods({"facts": {"pods": [7, None, "", "web-1"], "pod_count": "many"}}) == (["web-1"], 1)
    assert finding_pods({"facts": {"pod": 12}}) == ([], 0) and finding_pods({"facts": "x"}) == ([], 0)
    assert not merged({"facts": {"pod": "web-1", "pods": []}}) and pods_of([None, {}]) == ([], 0)
