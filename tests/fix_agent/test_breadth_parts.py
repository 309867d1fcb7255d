"""The parts of the everyday-class playbooks (issue 19) that decide alone: what they match, what they refuse,
and the block edits they make. The whole classes run end to end in the corpus (test_corpus.py)."""

from __future__ import annotations

from fix_agent.line_edits import LineEdit
from fix_agent.playbooks.command_override import missing_executables
from fix_agent.playbooks.image_rollback import MISSING_TAG, OTHER_CAUSE
from fix_agent.playbooks.node_placement import CAPACITY, SELECTOR_MISMATCH, extended_requests
from fix_agent.playbooks.rbac_grant import FORBIDDEN
from fix_agent.playbooks.service_selector import one_value_off
from fix_agent.playbooks.stock_probe import answered_path

POD_SPEC = """spec:
  template:
    spec:
      nodeSelector:
        pool: big
      containers:
        - name: web
          command:
          - gunicorn
          - app
          args: ["--bind", "0.0.0.0:8080"]
          image: web:1
"""


def test_a_block_deletion_takes_the_key_and_its_value_and_nothing_else() -> None:
    lines = POD_SPEC.split("\n")
    command = LineEdit("x.yaml", lines.index("          command:"), None, delete=True).apply(POD_SPEC)
    assert command is not None and "gunicorn" not in command and "args:" in command and "image: web:1" in command
    selector = LineEdit("x.yaml", lines.index("      nodeSelector:"), None, delete=True).apply(POD_SPEC)
    assert selector is not None and "pool" not in selector and "      containers:" in selector
    flow = LineEdit("x.yaml", next(i for i, x in enumerate(lines) if "args:" in x), None, delete=True).apply(POD_SPEC)
    assert flow is not None and "--bind" not in flow and "image: web:1" in flow
    # The first key of a list item is not deleted alone (the item's other keys would move to the list above).
    assert LineEdit("x.yaml", lines.index("        - name: web"), None, delete=True).apply(POD_SPEC) is None


def test_an_insert_keeps_every_line_around_it() -> None:
    text = "rules:\n  - verbs: [get]\nkind: Role\n"
    assert LineEdit("r.yaml", 1, "  - verbs: [list]", insert=True).apply(text) == \
        "rules:\n  - verbs: [get]\n  - verbs: [list]\nkind: Role\n"


def test_a_service_selector_is_one_value_off_only_with_every_key_present() -> None:
    labels = {"app": "web", "tier": "front", "pod-template-hash": "x"}
    assert one_value_off({"app": "webapp", "tier": "front"}, labels) == "app"
    assert one_value_off({"app": "webapp", "tier": "back"}, labels) is None  # two values off
    assert one_value_off({"app": "web", "zone": "a"}, labels) is None  # a key the pods lack
    assert one_value_off({"app": "web"}, labels) is None  # selects them: nothing is off
    assert one_value_off({}, labels) is None


def test_a_missing_tag_is_told_from_a_refused_pull() -> None:
    assert MISSING_TAG.search('failed to resolve reference "r/web:1.5": r/web:1.5: not found')
    assert MISSING_TAG.search("manifest unknown: manifest unknown")
    for refused in ("401 Unauthorized", "pull access denied", "dial tcp: lookup harbor: no such host",
                    "toomanyrequests: You have reached your pull rate limit", "x509: certificate signed by unknown"):
        assert OTHER_CAUSE.search(refused), refused


def test_a_stock_server_path_comes_only_from_what_it_answered() -> None:
    assert answered_path({"/": {200}, "/healthz": {404}}, "/healthz")[0] == "/"
    assert answered_path({"/": {301}}, "/healthz")[0] == "/"
    assert answered_path({"/index.html": {200}, "/healthz": {404}}, "/healthz")[0] == "/index.html"
    assert answered_path({"/a": {200}, "/b": {200}}, "/healthz")[0] is None  # which one: not in the evidence
    assert answered_path({"/": {200, 500}}, "/healthz")[0] is None  # it also failed
    assert answered_path({"/healthz": {404}}, "/healthz")[0] is None


def test_missing_executables_are_named_from_the_runtime_and_the_shell() -> None:
    assert missing_executables(['exec: "gunicornn": executable file not found in $PATH']) == ["gunicornn"]
    assert missing_executables(["/bin/sh: 1: gunicornn: not found"]) == ["gunicornn"]
    assert missing_executables(["sh: uvicorn: command not found"]) == ["uvicorn"]
    assert missing_executables(["GET /cart 200", "user 42 logged in"]) == []


def test_unschedulable_on_a_selector_is_told_from_capacity() -> None:
    selector = "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
    assert SELECTOR_MISMATCH.search(selector) and not CAPACITY.search(selector)
    assert CAPACITY.search("0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node affinity")
    gpu = {"kind": "Pod", "spec": {"containers": [{"name": "a", "resources": {"limits": {"nvidia.com/gpu": 1}}}]}}
    assert extended_requests(gpu) == ["nvidia.com/gpu"]
    plain = {"kind": "Pod", "spec": {"containers": [{"name": "a", "resources": {"limits": {"memory": "1Gi"}}}]}}
    assert extended_requests(plain) == []


def test_an_rbac_refusal_names_account_verb_resource_group_and_namespace() -> None:
    line = ('pods "x" is forbidden: User "system:serviceaccount:shop:web" cannot get resource "pods/log" in API '
            'group "" in the namespace "shop"')
    match = FORBIDDEN.search(line)
    assert match is not None and match.groups() == ("shop", "web", "get", "pods/log", "", "shop")
    assert FORBIDDEN.search('User "system:serviceaccount:shop:web" cannot list resource "nodes" in API group "" at '
                            "the cluster scope") is None  # cluster scope: never a Role's business
