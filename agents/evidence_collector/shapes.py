"""The shape of what the collector reads of each API object, checked where the object comes in.

kube-apiserver validates what it stores, but the collector reads whatever answers on the wire (an
aggregated API, a proxy, a broken or hostile server): a `restartCount` of null, labels that are a
list or a pod named ".." would otherwise stop the run, or name a file outside its folder. Each
schema below (JSON Schema, the subset `pathops_contracts.contracts.compile_check` runs as plain
Python) states, for one kind, the type of every field the collector or a detector reads, and the
names the API itself would accept for the names that become paths and URLs.

`conform` lets a valid object through untouched (the common case: one compiled check). Otherwise
jsonschema names what is wrong and that is left out: a field of the wrong type, an item of a list
that lacks what identifies it (a container without a valid name), or the whole object when its own
name is missing or one the API would refuse. What was left out is reported by path, never by value
(a value may be a secret). The detectors then read the object as the API would have sent it without
those fields; the caller marks the list as not read completely, so that nothing left out is read
as absent (a Service "selecting no pod" because the pod it selects was dropped).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from itertools import islice
from typing import TYPE_CHECKING, Any

from pathops_contracts.contracts import compile_check

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

# Each pattern ends in `$(?![\s\S])`: Python's `$` alone also matches before a final newline, and a
# container named "api\n" would become a file name.
END = r"$(?![\s\S])"
# The names the API accepts: a DNS subdomain (most objects), a DNS label (containers, ports).
DNS_SUBDOMAIN = r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*" + END
DNS_LABEL = r"^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?" + END
# Any name a path can carry: all the API checks of a core/v1 Event's or a PodDisruptionBudget's name
# (ValidatePathSegmentName, in the generic BeforeCreate; neither kind's own validation checks more).
PATH_SEGMENT = r"^(?!\.\.?" + END + r")[^/%]+" + END
# What `window.parse_timestamp` reads: an RFC 3339 time, to the second, of a real calendar day.
TIMESTAMP = (r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
             r"(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})" + END)
REVISION = r"^[0-9]{1,18}" + END
DNS_SUBDOMAIN_NAME = re.compile(DNS_SUBDOMAIN)

STRING = {"type": "string"}
INTEGER = {"type": "integer"}
BOOLEAN = {"type": "boolean"}
OBJECT = {"type": "object"}
STRING_MAP = {"type": "object", "additionalProperties": STRING}
TIME = {"type": ["string", "null"], "pattern": TIMESTAMP}  # the API sends a time it has not set as null


def _array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


def _object(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


OWNER_REFERENCE = _object({"kind": STRING, "name": {"type": "string", "pattern": DNS_SUBDOMAIN}, "uid": STRING,
                           "controller": BOOLEAN}, required=("kind", "name", "uid"))
_META_FIELDS = {"uid": STRING, "namespace": STRING, "creationTimestamp": TIME, "labels": STRING_MAP,
                "annotations": {"type": "object", "additionalProperties": STRING,
                                "properties": {"deployment.kubernetes.io/revision": {"type": "string",
                                                                                      "pattern": REVISION}}},
                "ownerReferences": _array(OWNER_REFERENCE)}
METADATA = _object({"name": {"type": "string", "pattern": DNS_SUBDOMAIN}, **_META_FIELDS}, required=("name", "uid"))
# An Event's or a PodDisruptionBudget's: the API takes any name a path can carry; none becomes a file or URL here.
LOOSE_METADATA = _object({"name": {"type": "string", "pattern": PATH_SEGMENT}, **_META_FIELDS},
                         required=("name", "uid"))
TEMPLATE_METADATA = _object(_META_FIELDS)  # a pod template's: no name of its own
NAMED = {"type": "string", "pattern": DNS_LABEL}

LABEL_SELECTOR = _object({"matchLabels": STRING_MAP, "matchExpressions": _array(_object(
    {"key": STRING, "operator": STRING, "values": _array(STRING)}, required=("key", "operator")))})
PROBE = _object({"httpGet": _object({"path": STRING, "port": {"type": ["integer", "string"]}})})
QUANTITIES = {"type": "object", "additionalProperties": {"type": ["string", "number"]}}
NAME_REFERENCE = _object({"name": STRING, "key": STRING, "optional": BOOLEAN}, required=("name",))
CONTAINER = _object({
    "name": NAMED, "image": STRING,
    "env": _array(_object({"name": STRING, "value": STRING, "valueFrom": _object(
        {"configMapKeyRef": NAME_REFERENCE, "secretKeyRef": _object({"name": STRING, "key": STRING,
                                                                      "optional": BOOLEAN})})}, required=("name",))),
    "envFrom": _array(_object({"configMapRef": NAME_REFERENCE, "secretRef": _object({"name": STRING,
                                                                                    "optional": BOOLEAN})})),
    "ports": _array(_object({"containerPort": INTEGER, "name": STRING})),
    "resources": _object({"limits": QUANTITIES, "requests": QUANTITIES}),
    "livenessProbe": PROBE, "readinessProbe": PROBE, "startupProbe": PROBE,
}, required=("name",))
POD_SPEC = _object({
    "containers": _array(CONTAINER), "initContainers": _array(CONTAINER),
    "volumes": _array(_object({"name": STRING, "configMap": NAME_REFERENCE,
                               "secret": _object({"secretName": STRING, "optional": BOOLEAN}),
                               "projected": _object({"sources": _array(_object({"configMap": NAME_REFERENCE}))})},
                              required=("name",))),
})
CONTAINER_STATE = _object({
    "waiting": _object({"reason": STRING, "message": STRING}),
    "terminated": _object({"exitCode": INTEGER, "signal": INTEGER, "reason": STRING, "message": STRING}),
    "running": OBJECT,
})
CONTAINER_STATUS = _object({"name": NAMED, "image": STRING, "ready": BOOLEAN, "restartCount": INTEGER,
                            "state": CONTAINER_STATE, "lastState": CONTAINER_STATE}, required=("name",))
CONDITIONS = _array(_object({"type": STRING, "status": STRING, "reason": STRING, "message": STRING}))
POD_TEMPLATE = _object({"metadata": TEMPLATE_METADATA, "spec": POD_SPEC})
# What is read of the object --workload names, whatever its kind (collector._resolve_focus, workload_source).
FOCUSED = {"selector": LABEL_SELECTOR, "template": POD_TEMPLATE}


def _kind(metadata: dict[str, Any] = METADATA, **properties: Any) -> dict[str, Any]:
    """An object of one kind: a name, and `properties` (`kind` is a string where the API sends it)."""
    return _object({"kind": STRING, "metadata": metadata, **properties}, required=("metadata",))


WORKLOAD = _kind(spec=_object({"replicas": INTEGER, "selector": LABEL_SELECTOR, "template": POD_TEMPLATE}),
                 status=_object({"replicas": INTEGER, "updatedReplicas": INTEGER, "readyReplicas": INTEGER,
                                 "conditions": CONDITIONS}))

# plural -> the schema of one of its objects, as a list or a GET returns it.
SHAPES: dict[str, dict[str, Any]] = {
    "pods": {**_kind(spec=_object({**POD_SPEC["properties"], **FOCUSED}), status=_object({
        "phase": STRING, "conditions": CONDITIONS, "containerStatuses": _array(CONTAINER_STATUS),
        "initContainerStatuses": _array(CONTAINER_STATUS)})), "required": ["metadata", "spec"]},
    "events": _kind(LOOSE_METADATA, type=STRING, reason=STRING, message=STRING, count=INTEGER, firstTimestamp=TIME,
                    lastTimestamp=TIME, eventTime=TIME,
                    involvedObject=_object({"kind": STRING, "name": STRING, "fieldPath": STRING})),
    "services": _kind(spec=_object({"selector": STRING_MAP, "ports": _array(_object(
        {"port": INTEGER, "targetPort": {"type": ["integer", "string"]}, "name": STRING}))})),
    "endpoints": _kind(subsets=_array(_object({"addresses": _array(OBJECT)}))),
    "endpointslices": _kind(),
    "configmaps": _kind(data=STRING_MAP, binaryData=STRING_MAP),
    "replicasets": WORKLOAD, "deployments": WORKLOAD, "statefulsets": WORKLOAD, "daemonsets": WORKLOAD,
    "jobs": WORKLOAD, "cronjobs": _kind(spec=_object({**FOCUSED, "jobTemplate": _object({"spec": _object({
        "template": POD_TEMPLATE})})})),
    "horizontalpodautoscalers": _kind(), "poddisruptionbudgets": _kind(LOOSE_METADATA), "resourcequotas": _kind(),
    "limitranges": _kind(),
    "applications": _kind(spec=_object({"source": OBJECT}), status=OBJECT),
}
# Fields whose absence a reader gives a meaning (a Service port without targetPort targets its port): when one
# is malformed, the item holding it is left out, as if the field were required, never read as if it were absent.
MEANINGFUL_ABSENCE = frozenset({"targetPort"})
# An object wrong in more places than this is no object the API meant: left out whole, and checked no further
# (each wrong field costs an error object and a described path: a pod of 20 000 wrong env entries took a second).
MAX_PROBLEMS = 100
PASSES = 8  # rounds of leaving out what is wrong: a round can only reveal what the one before removed


@cache
def _check(plural: str) -> Callable[[Any], bool]:
    check = compile_check(SHAPES[plural])
    if check is None:  # a schema outside the compiled subset: a mistake here, caught by the tests
        raise ValueError(f"the shape of {plural} does not compile")
    return check


@cache
def _validator(plural: str) -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(SHAPES[plural])


def conform(plural: str, obj: dict[str, Any]) -> tuple[dict[str, Any] | None, list[str]]:
    """(the object, what was left out of it): unchanged when it has the shape of `plural`; else without
    what is wrong, or None when it cannot be read at all. Each problem names a path, never a value."""
    if _check(plural)(obj):
        return obj, []
    problems: list[str] = []
    for _ in range(PASSES):
        errors = list(islice(_validator(plural).iter_errors(obj), MAX_PROBLEMS - len(problems) + 1))
        if len(problems) + len(errors) > MAX_PROBLEMS:
            return None, [f"more than {MAX_PROBLEMS} malformed fields (the object left out)"]
        if not errors:
            return obj, problems
        removed: set[tuple[Any, ...]] = set()
        for error in errors:
            path, target = tuple(error.absolute_path), _target(plural, error)
            removed.add(target)
            expected = _expected(error.validator, error.validator_value, error.instance)
            problems.append(f"{_where(plural, path)}: {expected} ({_where(plural, target)} left out)")
        if () in removed:
            return None, problems  # what names the object, or a part it cannot be read without, is wrong
        for path in sorted(removed, key=_order, reverse=True):  # a list's last items first: indices hold
            if not any(path[:cut] in removed for cut in range(len(path))):
                _remove(obj, path)
    return None, problems


def _target(plural: str, error: ValidationError) -> tuple[Any, ...]:
    """What to leave out for an error: the wrong value, or the object holding it when that object
    requires the field, and so on up (a container whose name is not one is left out whole, not
    nameless; an object whose own name is wrong is left out whole: the empty path)."""
    path = list(error.absolute_path)
    at = list(error.absolute_schema_path)[:-1]  # the schema of the value the error is about
    while path and len(at) >= 2 and at[-2] == "properties" and at[-1] == path[-1]:
        holder: Any = SHAPES[plural]
        for step in at[:-2]:
            holder = holder[step]
        if path[-1] not in holder.get("required", ()) and path[-1] not in MEANINGFUL_ABSENCE:
            break
        path, at = path[:-1], at[:-2]
    return tuple(path)


def _order(path: tuple[Any, ...]) -> tuple[tuple[int, Any], ...]:
    """A sort key for paths of mixed keys: indices and names never compare with each other."""
    return tuple((0, step) if isinstance(step, int) else (1, str(step)) for step in path)


def _remove(obj: Any, path: tuple[Any, ...]) -> None:
    for step in path[:-1]:
        obj = obj[step]
    if isinstance(obj, dict):
        obj.pop(path[-1], None)  # gone already when two paths lead to one value (never so from JSON)
    elif path[-1] < len(obj):
        del obj[path[-1]]


def _where(plural: str, path: tuple[Any, ...]) -> str:
    """status.containerStatuses[0].restartCount, in the schema's words: a key of a map (labels,
    annotations, a ConfigMap's data) is the API's text, of any length, so it is never quoted."""
    schema: Any = SHAPES[plural]
    text = ""
    for step in path:
        properties = schema.get("properties", {}) if isinstance(schema, dict) else {}
        if isinstance(step, int):
            text += f"[{step}]"
            schema = schema.get("items") if isinstance(schema, dict) else None
        elif step in properties:
            text += f".{step}" if text else step
            schema = properties[step]
        else:
            text += "[a key]"
            schema = schema.get("additionalProperties") if isinstance(schema, dict) else None
    return text or "(the object)"


def _expected(keyword: str, value: Any, instance: Any) -> str:
    """What the schema wanted, in words that do not quote the value."""
    if keyword == "type":
        return f"not {' or '.join(value) if isinstance(value, list) else value}"
    if keyword == "required":
        missing = [key for key in value if not isinstance(instance, dict) or key not in instance]
        return f"lacks {', '.join(missing)}"
    if keyword == "pattern":
        return "not a name or value the API accepts"
    return f"fails {keyword}"
