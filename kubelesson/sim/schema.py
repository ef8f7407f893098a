"""Known field names, for the apiserver's strict field validation (`fieldValidation=Strict`).

kubectl apply sends fieldValidation=Strict by default, so a typo such as `imagee:` makes a
real cluster answer `strict decoding error: unknown field "spec.containers[0].imagee"`.
Only the structure a lesson manifest touches is spelled out; deeper objects (probes,
affinity, securityContext, …) are accepted as they are.
"""

from __future__ import annotations

from typing import Any

ANY: dict[str, Any] = {}  # an object whose inner fields are not checked
Schema = dict[str, Any]


class ListOf:
    def __init__(self, item: Schema) -> None:
        self.item = item


def _keys(*names: str) -> Schema:
    return {name: ANY for name in names}


METADATA = _keys(
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields",
)
CONTAINER: Schema = {
    **_keys("name", "image", "command", "args", "workingDir", "envFrom", "resources",
            "resizePolicy", "restartPolicy", "volumeDevices", "livenessProbe", "readinessProbe",
            "startupProbe", "lifecycle", "terminationMessagePath", "terminationMessagePolicy",
            "imagePullPolicy", "securityContext", "stdin", "stdinOnce", "tty"),
    "ports": ListOf(_keys("name", "hostPort", "containerPort", "protocol", "hostIP")),
    "env": ListOf(_keys("name", "value", "valueFrom")),
    "volumeMounts": ListOf(_keys("name", "readOnly", "recursiveReadOnly", "mountPath",
                                 "subPath", "mountPropagation", "subPathExpr")),
}
POD_SPEC: Schema = {
    **_keys("volumes", "restartPolicy", "terminationGracePeriodSeconds",
            "activeDeadlineSeconds", "dnsPolicy", "nodeSelector", "serviceAccountName",
            "serviceAccount", "automountServiceAccountToken", "nodeName", "hostNetwork",
            "hostPID", "hostIPC", "shareProcessNamespace", "securityContext", "imagePullSecrets",
            "hostname", "subdomain", "affinity", "schedulerName", "tolerations", "hostAliases",
            "priorityClassName", "priority", "dnsConfig", "readinessGates", "runtimeClassName",
            "enableServiceLinks", "preemptionPolicy", "overhead", "topologySpreadConstraints",
            "setHostnameAsFQDN", "os", "hostUsers", "schedulingGates", "resourceClaims",
            "resources"),
    "containers": ListOf(CONTAINER),
    "initContainers": ListOf(CONTAINER),
    "ephemeralContainers": ListOf(ANY),
}
TOP = _keys("apiVersion", "kind", "status")

SCHEMAS: dict[str, Schema] = {
    "Pod": {**TOP, "metadata": METADATA, "spec": POD_SPEC},
    "Namespace": {**TOP, "metadata": METADATA, "spec": ANY},
    "Node": {**TOP, "metadata": METADATA, "spec": ANY},
    "Service": {**TOP, "metadata": METADATA, "spec": ANY},
    "ConfigMap": {**TOP, "metadata": METADATA, **_keys("data", "binaryData", "immutable")},
    "Secret": {**TOP, "metadata": METADATA,
               **_keys("data", "stringData", "type", "immutable")},
    "Deployment": {**TOP, "metadata": METADATA, "spec": ANY},
    "StatefulSet": {**TOP, "metadata": METADATA, "spec": ANY},
}


def _walk(value: Any, schema: Schema | ListOf, path: str, found: list[str],
          prune: bool) -> None:
    if isinstance(schema, ListOf):
        if isinstance(value, list):
            for i, item in enumerate(value):
                _walk(item, schema.item, f"{path}[{i}]", found, prune)
        return
    if schema is ANY or not isinstance(value, dict):
        return
    for key in list(value):
        if key.startswith("$"):  # strategic-merge-patch directives
            continue
        where = f"{path}.{key}" if path else key
        if key not in schema:
            found.append(where)
            if prune:
                del value[key]
        else:
            _walk(value[key], schema[key], where, found, prune)


def unknown_fields(kind: str, obj: Any) -> list[str]:
    """Dotted paths of fields the kind does not have, in document order."""
    schema = SCHEMAS.get(kind)
    if schema is None:
        return []
    found: list[str] = []
    _walk(obj, schema, "", found, False)
    return found


def prune(kind: str, obj: Any) -> None:
    """Drop unknown fields in place, as the apiserver's decoder does when not strict."""
    schema = SCHEMAS.get(kind)
    if schema is not None:
        _walk(obj, schema, "", [], True)
