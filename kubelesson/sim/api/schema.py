"""Known field names, for the apiserver's strict field validation (`fieldValidation=Strict`).

kubectl apply sends fieldValidation=Strict by default, so a typo such as `imagee:` makes a
real cluster answer `strict decoding error: unknown field "spec.containers[0].imagee"`.
Only the structure a lesson manifest touches is spelled out; deeper objects (probes,
affinity, securityContext, …) are accepted as they are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
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
# Lesson 5 (networking.py): an Ingress down to its backends, and an IngressClass.
_INGRESS_BACKEND: Schema = {"service": {"name": ANY, "port": _keys("name", "number")},
                            "resource": _keys("apiGroup", "kind", "name")}
SCHEMAS["Ingress"] = {**TOP, "metadata": METADATA, "spec": {
    "ingressClassName": ANY, "defaultBackend": _INGRESS_BACKEND,
    "tls": ListOf(_keys("hosts", "secretName")),
    "rules": ListOf({"host": ANY, "http": {"paths": ListOf(
        {"path": ANY, "pathType": ANY, "backend": _INGRESS_BACKEND})}})}}
SCHEMAS["IngressClass"] = {**TOP, "metadata": METADATA, "spec": {
    "controller": ANY, "parameters": _keys("apiGroup", "kind", "name", "scope", "namespace")}}


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


# --- Go types: what the apiserver's JSON decoder accepts -----------------------------------
#
# Before anything else, kube-apiserver decodes a body into the kind's Go struct, and a value
# of the wrong JSON type fails the whole request with 400, e.g. `Pod in version "v1" cannot
# be handled as a Pod: json: cannot unmarshal array into Go struct field
# ObjectMeta.metadata.labels of type map[string]string`. The simulator stores plain JSON,
# so it checks the same types here, for every field it (or kubectl) reads; anything it
# would store unchecked could otherwise break every later request that reads it.

MAX_DEPTH = 100  # JSON nesting the simulator accepts (Go's decoder stops at 10000)
QUANTITY_MSG = ("quantities must match the regular expression "
                "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")


@dataclass(frozen=True)
class GoType:
    """A Go type as encoding/json decodes into it. `shape` is one of string, int, bool,
    bytes, intorstring, quantity, map, struct, list, any."""

    go: str  # its name in Go's messages: string, int32, []v1.Container, v1.PodSpec
    shape: str
    fields: Mapping[str, GoType] = field(default_factory=dict)
    item: GoType | None = None  # a list's items, a map's values
    bits: int = 64

    @property
    def struct_name(self) -> str:
        return self.go.rsplit(".", 1)[-1]


STRING = GoType("string", "string")
INT32 = GoType("int32", "int", bits=32)
INT64 = GoType("int64", "int", bits=64)
BOOL = GoType("bool", "bool")
BYTES = GoType("[]uint8", "bytes")  # base64 text in JSON
INT_OR_STRING = GoType("int32", "intorstring", bits=32)  # intstr.IntOrString
QUANTITY = GoType("resource.Quantity", "quantity")
ANYTHING = GoType("interface {}", "any")
STRINGS = GoType("[]string", "list", item=STRING)
STRING_MAP = GoType("map[string]string", "map", item=STRING)
QUANTITY_MAP = GoType("v1.ResourceList", "map", item=QUANTITY)


def struct(go: str, **fields: GoType) -> GoType:
    """A struct; only the named fields are type-checked (the rest are left to strict
    field validation)."""
    return GoType(go, "struct", fields)


def list_of(item: GoType) -> GoType:
    return GoType("[]" + item.go, "list", item=item)


def map_of(item: GoType, go: str = "") -> GoType:
    return GoType(go or f"map[string]{item.go}", "map", item=item)


def _strings(*names: str) -> dict[str, GoType]:
    return {name: STRING for name in names}


TIME = STRING  # metav1.Time decodes a JSON string (and reports other types as string)
OBJECT_META = struct(
    "v1.ObjectMeta",
    **_strings("name", "generateName", "namespace", "selfLink", "uid", "resourceVersion"),
    generation=INT64, creationTimestamp=TIME, deletionTimestamp=TIME,
    deletionGracePeriodSeconds=INT64, labels=STRING_MAP, annotations=STRING_MAP,
    ownerReferences=list_of(struct("v1.OwnerReference", **_strings(
        "apiVersion", "kind", "name", "uid"), controller=BOOL, blockOwnerDeletion=BOOL)),
    finalizers=STRINGS, managedFields=list_of(struct("v1.ManagedFieldsEntry")),
)
OBJECT_REFERENCE = struct("v1.ObjectReference", **_strings(
    "kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"))
LOCAL_REFERENCE = struct("v1.LocalObjectReference", name=STRING)
KEY_TO_PATH = struct("v1.KeyToPath", key=STRING, path=STRING, mode=INT32)
PROBE = struct("v1.Probe", initialDelaySeconds=INT32, timeoutSeconds=INT32,
               periodSeconds=INT32, successThreshold=INT32, failureThreshold=INT32,
               terminationGracePeriodSeconds=INT64)
CONTAINER_T = struct(
    "v1.Container",
    **_strings("name", "image", "workingDir", "imagePullPolicy", "terminationMessagePath",
               "terminationMessagePolicy", "restartPolicy"),
    command=STRINGS, args=STRINGS,
    ports=list_of(struct("v1.ContainerPort", name=STRING, hostPort=INT32,
                         containerPort=INT32, protocol=STRING, hostIP=STRING)),
    env=list_of(struct("v1.EnvVar", name=STRING, value=STRING,
                       valueFrom=struct("v1.EnvVarSource"))),
    envFrom=list_of(struct("v1.EnvFromSource", prefix=STRING)),
    volumeMounts=list_of(struct("v1.VolumeMount", **_strings(
        "name", "mountPath", "subPath", "subPathExpr", "mountPropagation",
        "recursiveReadOnly"), readOnly=BOOL)),
    resources=struct("v1.ResourceRequirements", limits=QUANTITY_MAP, requests=QUANTITY_MAP),
    livenessProbe=PROBE, readinessProbe=PROBE, startupProbe=PROBE,
    lifecycle=struct("v1.Lifecycle"), securityContext=struct("v1.SecurityContext"),
    stdin=BOOL, stdinOnce=BOOL, tty=BOOL,
)
VOLUME = struct(
    "v1.Volume", name=STRING,
    configMap=struct("v1.ConfigMapVolumeSource", name=STRING, items=list_of(KEY_TO_PATH),
                     defaultMode=INT32, optional=BOOL),
    secret=struct("v1.SecretVolumeSource", secretName=STRING, items=list_of(KEY_TO_PATH),
                  defaultMode=INT32, optional=BOOL),
    emptyDir=struct("v1.EmptyDirVolumeSource", medium=STRING, sizeLimit=QUANTITY),
    hostPath=struct("v1.HostPathVolumeSource", path=STRING, type=STRING),
    persistentVolumeClaim=struct("v1.PersistentVolumeClaimVolumeSource", claimName=STRING,
                                 readOnly=BOOL),
    projected=struct("v1.ProjectedVolumeSource", defaultMode=INT32,
                     sources=list_of(struct("v1.VolumeProjection"))),
)
POD_SPEC_T = struct(
    "v1.PodSpec",
    containers=list_of(CONTAINER_T), initContainers=list_of(CONTAINER_T),
    ephemeralContainers=list_of(struct("v1.EphemeralContainer")),
    volumes=list_of(VOLUME),
    **_strings("restartPolicy", "dnsPolicy", "serviceAccountName", "serviceAccount",
               "nodeName", "hostname", "subdomain", "schedulerName", "priorityClassName",
               "runtimeClassName", "preemptionPolicy"),
    terminationGracePeriodSeconds=INT64, activeDeadlineSeconds=INT64, priority=INT32,
    automountServiceAccountToken=BOOL, hostNetwork=BOOL, hostPID=BOOL, hostIPC=BOOL,
    shareProcessNamespace=BOOL, enableServiceLinks=BOOL, setHostnameAsFQDN=BOOL,
    hostUsers=BOOL, nodeSelector=STRING_MAP,
    tolerations=list_of(struct("v1.Toleration", **_strings(
        "key", "operator", "value", "effect"), tolerationSeconds=INT64)),
    readinessGates=list_of(struct("v1.PodReadinessGate", conditionType=STRING)),
    imagePullSecrets=list_of(LOCAL_REFERENCE),
    securityContext=struct("v1.PodSecurityContext"), affinity=struct("v1.Affinity"),
    hostAliases=list_of(struct("v1.HostAlias", ip=STRING, hostnames=STRINGS)),
    dnsConfig=struct("v1.PodDNSConfig"), overhead=QUANTITY_MAP,
    topologySpreadConstraints=list_of(struct("v1.TopologySpreadConstraint")),
    schedulingGates=list_of(struct("v1.PodSchedulingGate", name=STRING)),
    os=struct("v1.PodOS", name=STRING), resources=struct("v1.ResourceRequirements"),
)
CONDITIONS = list_of(struct("v1.Condition", **_strings("type", "status", "reason", "message")))
POD_T = struct(
    "v1.Pod", metadata=OBJECT_META, spec=POD_SPEC_T,
    status=struct("v1.PodStatus", **_strings("phase", "reason", "message", "podIP", "hostIP",
                                             "nominatedNodeName", "qosClass"),
                  conditions=CONDITIONS,
                  containerStatuses=list_of(struct("v1.ContainerStatus")),
                  initContainerStatuses=list_of(struct("v1.ContainerStatus"))),
)
LABEL_SELECTOR = struct(
    "v1.LabelSelector", matchLabels=STRING_MAP,
    matchExpressions=list_of(struct("v1.LabelSelectorRequirement", key=STRING,
                                    operator=STRING, values=STRINGS)),
)
POD_TEMPLATE = struct("v1.PodTemplateSpec", metadata=OBJECT_META, spec=POD_SPEC_T)


def _workload(go: str, spec: Mapping[str, GoType], status: Mapping[str, GoType]) -> GoType:
    """An apps/v1 kind: selector, template and replicas counts, plus its own fields."""
    kind = go.rsplit(".", 1)[-1]
    return struct(
        go, metadata=OBJECT_META,
        spec=struct(f"v1.{kind}Spec", selector=LABEL_SELECTOR, template=POD_TEMPLATE,
                    minReadySeconds=INT32, revisionHistoryLimit=INT32, **spec),
        status=struct(f"v1.{kind}Status", observedGeneration=INT64, collisionCount=INT32,
                      conditions=CONDITIONS, **status),
    )


_COUNTS = {name: INT32 for name in ("replicas", "readyReplicas", "availableReplicas",
                                    "updatedReplicas", "unavailableReplicas",
                                    "fullyLabeledReplicas", "currentReplicas")}
TYPES: dict[str, GoType] = {
    "Pod": POD_T,
    "Namespace": struct(
        "v1.Namespace", metadata=OBJECT_META,
        spec=struct("v1.NamespaceSpec", finalizers=STRINGS),
        status=struct("v1.NamespaceStatus", phase=STRING, conditions=CONDITIONS)),
    "Node": struct(
        "v1.Node", metadata=OBJECT_META,
        spec=struct("v1.NodeSpec", podCIDR=STRING, podCIDRs=STRINGS, providerID=STRING,
                    unschedulable=BOOL, taints=list_of(struct("v1.Taint", **_strings(
                        "key", "value", "effect"), timeAdded=TIME))),
        status=struct(
            "v1.NodeStatus", capacity=QUANTITY_MAP, allocatable=QUANTITY_MAP,
            conditions=list_of(struct("v1.NodeCondition", **_strings(
                "type", "status", "reason", "message"), lastHeartbeatTime=TIME,
                lastTransitionTime=TIME)),
            addresses=list_of(struct("v1.NodeAddress", type=STRING, address=STRING)),
            nodeInfo=struct("v1.NodeSystemInfo", **_strings(
                "machineID", "systemUUID", "bootID", "kernelVersion", "osImage",
                "containerRuntimeVersion", "kubeletVersion", "kubeProxyVersion",
                "operatingSystem", "architecture")))),
    "Service": struct(
        "v1.Service", metadata=OBJECT_META,
        spec=struct(
            "v1.ServiceSpec",
            **_strings("type", "clusterIP", "externalName", "sessionAffinity",
                       "externalTrafficPolicy", "internalTrafficPolicy", "ipFamilyPolicy",
                       "loadBalancerIP", "loadBalancerClass"),
            clusterIPs=STRINGS, externalIPs=STRINGS, ipFamilies=STRINGS,
            loadBalancerSourceRanges=STRINGS, selector=STRING_MAP,
            publishNotReadyAddresses=BOOL, allocateLoadBalancerNodePorts=BOOL,
            healthCheckNodePort=INT32,
            ports=list_of(struct("v1.ServicePort", name=STRING, protocol=STRING,
                                 appProtocol=STRING, port=INT32, targetPort=INT_OR_STRING,
                                 nodePort=INT32))),
        status=struct("v1.ServiceStatus", conditions=CONDITIONS, loadBalancer=struct(
            "v1.LoadBalancerStatus", ingress=list_of(struct(
                "v1.LoadBalancerIngress", ip=STRING, hostname=STRING, ipMode=STRING))))),
    "ConfigMap": struct("v1.ConfigMap", metadata=OBJECT_META, data=STRING_MAP,
                        binaryData=map_of(BYTES), immutable=BOOL),
    "Secret": struct("v1.Secret", metadata=OBJECT_META, data=map_of(BYTES),
                     stringData=STRING_MAP, type=STRING, immutable=BOOL),
    "ServiceAccount": struct("v1.ServiceAccount", metadata=OBJECT_META,
                             secrets=list_of(OBJECT_REFERENCE),
                             imagePullSecrets=list_of(LOCAL_REFERENCE),
                             automountServiceAccountToken=BOOL),
    "Endpoints": struct("v1.Endpoints", metadata=OBJECT_META, subsets=list_of(struct(
        "v1.EndpointSubset",
        addresses=list_of(struct("v1.EndpointAddress", ip=STRING, hostname=STRING,
                                 nodeName=STRING, targetRef=OBJECT_REFERENCE)),
        notReadyAddresses=list_of(struct("v1.EndpointAddress", ip=STRING, hostname=STRING,
                                         nodeName=STRING, targetRef=OBJECT_REFERENCE)),
        ports=list_of(struct("v1.EndpointPort", name=STRING, protocol=STRING, port=INT32,
                             appProtocol=STRING))))),
    "Event": struct(
        "v1.Event", metadata=OBJECT_META, involvedObject=OBJECT_REFERENCE,
        related=OBJECT_REFERENCE,
        **_strings("reason", "message", "type", "action", "reportingComponent",
                   "reportingInstance"),
        source=struct("v1.EventSource", component=STRING, host=STRING),
        firstTimestamp=TIME, lastTimestamp=TIME, eventTime=TIME, count=INT32,
        series=struct("v1.EventSeries", count=INT32, lastObservedTime=TIME)),
    "Deployment": _workload(
        "v1.Deployment",
        {"replicas": INT32, "paused": BOOL, "progressDeadlineSeconds": INT32,
         "strategy": struct("v1.DeploymentStrategy", type=STRING, rollingUpdate=struct(
             "v1.RollingUpdateDeployment", maxUnavailable=INT_OR_STRING,
             maxSurge=INT_OR_STRING))},
        _COUNTS),
    "ReplicaSet": _workload("v1.ReplicaSet", {"replicas": INT32}, _COUNTS),
    "StatefulSet": _workload(
        "v1.StatefulSet",
        {"replicas": INT32, "serviceName": STRING, "podManagementPolicy": STRING,
         "updateStrategy": struct("v1.StatefulSetUpdateStrategy", type=STRING, rollingUpdate=(
             struct("v1.RollingUpdateStatefulSetStrategy", partition=INT32,
                    maxUnavailable=INT_OR_STRING))),
         "volumeClaimTemplates": list_of(struct("v1.PersistentVolumeClaim",
                                                metadata=OBJECT_META)),
         "ordinals": struct("v1.StatefulSetOrdinals", start=INT32)},
        {**_COUNTS, "currentRevision": STRING, "updateRevision": STRING}),
    "DaemonSet": _workload(
        "v1.DaemonSet",
        {"updateStrategy": struct("v1.DaemonSetUpdateStrategy", type=STRING, rollingUpdate=(
            struct("v1.RollingUpdateDaemonSet", maxUnavailable=INT_OR_STRING,
                   maxSurge=INT_OR_STRING)))},
        {name: INT32 for name in ("currentNumberScheduled", "numberMisscheduled",
                                  "desiredNumberScheduled", "numberReady",
                                  "updatedNumberScheduled", "numberAvailable",
                                  "numberUnavailable")}),
    "ControllerRevision": struct("v1.ControllerRevision", metadata=OBJECT_META,
                                 revision=INT64, data=ANYTHING),
    "Scale": struct("v1.Scale", metadata=OBJECT_META,
                    spec=struct("v1.ScaleSpec", replicas=INT32)),
    "DeleteOptions": struct(
        "v1.DeleteOptions", gracePeriodSeconds=INT64, orphanDependents=BOOL,
        propagationPolicy=STRING, dryRun=STRINGS,
        preconditions=struct("v1.Preconditions", uid=STRING, resourceVersion=STRING)),
    "SelfSubjectAccessReview": struct(
        "v1.SelfSubjectAccessReview", metadata=OBJECT_META,
        spec=struct("v1.SelfSubjectAccessReviewSpec",
                    resourceAttributes=struct("v1.ResourceAttributes", **_strings(
                        "namespace", "verb", "group", "version", "resource", "subresource",
                        "name")),
                    nonResourceAttributes=struct("v1.NonResourceAttributes", path=STRING,
                                                 verb=STRING))),
}
# Lesson 5 (networking.py, network/ingress.py read these).
_BACKEND_T = struct(
    "v1.IngressBackend",
    service=struct("v1.IngressServiceBackend", name=STRING,
                   port=struct("v1.ServiceBackendPort", name=STRING, number=INT32)),
    resource=struct("v1.TypedLocalObjectReference", **_strings("apiGroup", "kind", "name")))
TYPES["Ingress"] = struct(
    "v1.Ingress", metadata=OBJECT_META,
    spec=struct("v1.IngressSpec", ingressClassName=STRING, defaultBackend=_BACKEND_T,
                tls=list_of(struct("v1.IngressTLS", hosts=STRINGS, secretName=STRING)),
                rules=list_of(struct("v1.IngressRule", host=STRING, http=struct(
                    "v1.HTTPIngressRuleValue", paths=list_of(struct(
                        "v1.HTTPIngressPath", path=STRING, pathType=STRING,
                        backend=_BACKEND_T)))))),
    status=struct("v1.IngressStatus", loadBalancer=struct(
        "v1.IngressLoadBalancerStatus", ingress=list_of(struct(
            "v1.IngressLoadBalancerIngress", ip=STRING, hostname=STRING)))))
TYPES["IngressClass"] = struct(
    "v1.IngressClass", metadata=OBJECT_META,
    spec=struct("v1.IngressClassSpec", controller=STRING, parameters=struct(
        "v1.IngressClassParametersReference",
        **_strings("apiGroup", "kind", "name", "scope", "namespace"))))


def _json_kind(value: Any) -> str:
    """How Go's decoder names a JSON value in `cannot unmarshal X into ...`."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


class _Mismatch(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _type_error(value: Any, go: GoType, where: tuple[str, list[str]], kind: str = "") -> _Mismatch:
    struct_name, path = where
    kind = kind or _json_kind(value)
    if not path:
        return _Mismatch(f"json: cannot unmarshal {kind} into Go value of type {go.go}")
    return _Mismatch(f"json: cannot unmarshal {kind} into Go struct field "
                     f"{struct_name}.{'.'.join(path)} of type {go.go}")


def _check_int(value: Any, go: GoType, where: tuple[str, list[str]]) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _type_error(value, go, where)
    limit = 1 << (go.bits - 1)
    if isinstance(value, float) or not -limit <= value < limit:
        raise _type_error(value, go, where, f"number {value}")


_ZERO: dict[str, Any] = {"string": "", "bytes": "", "int": 0, "intorstring": 0,
                         "bool": False, "quantity": "0"}


def _zero(go: GoType) -> Any:
    """What a null list item or map value becomes: the Go zero value, as encoded again."""
    if go.shape in _ZERO:
        return _ZERO[go.shape]
    return [] if go.shape == "list" else None if go.shape == "any" else {}


_BASE64 = re.compile(r"[A-Za-z0-9+/]")


def _base64_error(text: str) -> int | None:
    """Where Go's padded standard base64 decoder gives up on `text` (None: it decodes).
    Line breaks are skipped, as Go's decoder skips them."""
    data = text.replace("\r", "").replace("\n", "")
    body = data.rstrip("=")
    for i, ch in enumerate(body):
        if not _BASE64.match(ch):
            return i
    padding = len(data) - len(body)
    if len(data) % 4 or padding > 2 or (padding and len(body) % 4 + padding != 4):
        return len(body) - len(body) % 4
    return None


def _check(value: Any, go: GoType, where: tuple[str, list[str]]) -> None:
    """Raise _Mismatch for the first value (in document order) Go would not decode, and
    turn nulls into what decoding and encoding again would make of them."""
    if value is None or go.shape == "any":  # null decodes into anything as its zero value
        return
    shape = go.shape
    if shape in ("string", "bytes"):
        if not isinstance(value, str):
            raise _type_error(value, go, where)
        if shape == "bytes" and (bad := _base64_error(value)) is not None:
            raise _Mismatch(f"illegal base64 data at input byte {bad}")
    elif shape == "bool":
        if not isinstance(value, bool):
            raise _type_error(value, go, where)
    elif shape == "int":
        _check_int(value, go, where)
    elif shape == "intorstring":
        if not isinstance(value, str):
            _check_int(value, go, where)
    elif shape == "quantity":
        text = value if isinstance(value, str) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            text = str(value)
        if text is None or not _QUANTITY.match(text.strip()):
            raise _Mismatch(QUANTITY_MSG)
    elif shape == "list":
        if not isinstance(value, list):
            raise _type_error(value, go, where)
        assert go.item is not None
        for i, item in enumerate(value):
            if item is None:
                value[i] = _zero(go.item)
            _check(item, go.item, where)
    elif shape == "map":
        if not isinstance(value, dict):
            raise _type_error(value, go, where)
        assert go.item is not None
        for key, item in value.items():
            if item is None:
                value[key] = _zero(go.item)
            _check(item, go.item, where)
    elif shape == "struct":
        if not isinstance(value, dict):
            raise _type_error(value, go, where)
        struct_name, path = where
        for key, item in list(value.items()):
            inner = go.fields.get(key)
            if inner is None:
                continue
            if item is None and inner.shape != "any":
                del value[key]  # Go's zero value, which encoding again leaves out
            _check(item, inner, (go.struct_name, [*path, key]))


def depth(value: Any) -> int:
    """How deeply arrays and objects nest in a decoded JSON value (without recursion)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        current, level = stack.pop()
        if isinstance(current, dict):
            children: Any = current.values()
        elif isinstance(current, list):
            children = current
        else:
            continue
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            return level
        stack.extend((child, level + 1) for child in children)
    return deepest


def decode_error(kind: str, obj: Any) -> str | None:
    """Go's decoding error for `obj` as the kind's struct, or None when it decodes; then
    its nulls are what decoding would have made of them (a null in a list of containers is
    an empty container). Fields the simulator does not know are not checked."""
    go = TYPES.get(kind)
    if go is None:
        return None
    try:
        _check(obj, go, (go.struct_name, []))
    except _Mismatch as exc:
        return exc.message
    return None


# --- ObjectMeta validation: labels and annotations (apimachinery's ValidateObjectMeta) ----

TOTAL_ANNOTATION_SIZE = 256 * (1 << 10)
_QUALIFIED_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED = re.compile(f"^{_QUALIFIED_FMT}$")
_LABEL_VALUE_FMT = f"({_QUALIFIED_FMT})?"
_LABEL_VALUE = re.compile(f"^{_LABEL_VALUE_FMT}$")
_SUBDOMAIN_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_SUBDOMAIN = re.compile(f"^{_SUBDOMAIN_FMT}$")
Cause = tuple[str, str, str]


def _regex_error(message: str, fmt: str, *examples: str) -> str:
    """validation.RegexError's wording."""
    shown = "".join(("" if i == 0 else " or ") + f"'{ex}', " for i, ex in enumerate(examples))
    return f"{message} (e.g. {shown}regex used for validation is '{fmt}')"


QUALIFIED_NAME_MSG = _regex_error(
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character", _QUALIFIED_FMT, "MyName", "my.name", "123-abc")
LABEL_VALUE_MSG = _regex_error(
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character", _LABEL_VALUE_FMT, "MyValue",
    "my_value", "12345")
SUBDOMAIN_PREFIX_MSG = _regex_error(
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character", _SUBDOMAIN_FMT, "example.com")


def _quoted(value: str) -> str:
    """Go's %q, as field errors print a bad value."""
    return json.dumps(value, ensure_ascii=False)


def qualified_name_errors(value: str) -> list[str]:
    """validation.IsQualifiedName: an optional DNS-subdomain prefix and '/', then a name."""
    parts = value.split("/")
    if len(parts) > 2:
        return ["a qualified name " + QUALIFIED_NAME_MSG + " with an optional DNS subdomain "
                "prefix and '/' (e.g. 'example.com/MyName')"]
    errs: list[str] = []
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            if len(prefix) > 253:
                errs.append("prefix part must be no more than 253 characters")
            if not _SUBDOMAIN.match(prefix):
                errs.append("prefix part " + SUBDOMAIN_PREFIX_MSG)
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part must be no more than 63 characters")
    if not _QUALIFIED.match(name):
        errs.append("name part " + QUALIFIED_NAME_MSG)
    return errs


def metadata_causes(meta: Mapping[str, Any], minor: int) -> list[Cause]:
    """Invalid labels and annotations, as ValidateObjectMeta words them (decode_error has
    already made sure both are maps of strings). `minor`: the reported server version,
    since the wording of the size limit changed in 1.32."""
    causes: list[Cause] = []
    labels = meta.get("labels") or {}
    for key, value in labels.items():
        causes += [("FieldValueInvalid", "metadata.labels", f"Invalid value: {_quoted(key)}: {msg}")
                   for msg in qualified_name_errors(key)]
        value_errors = (["must be no more than 63 characters"] if len(value) > 63 else [])
        if not _LABEL_VALUE.match(value):
            value_errors.append(LABEL_VALUE_MSG)
        causes += [("FieldValueInvalid", "metadata.labels",
                    f"Invalid value: {_quoted(value)}: {msg}") for msg in value_errors]
    annotations = meta.get("annotations") or {}
    for key in annotations:
        causes += [("FieldValueInvalid", "metadata.annotations",
                    f"Invalid value: {_quoted(key)}: {msg}")
                   for msg in qualified_name_errors(key.lower())]
    size = sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items())
    if size > TOTAL_ANNOTATION_SIZE:
        limit = (f"may not be more than {TOTAL_ANNOTATION_SIZE} bytes" if minor >= 32
                 else f"must have at most {TOTAL_ANNOTATION_SIZE} bytes")
        causes.append(("FieldValueTooLong", "metadata.annotations", f"Too long: {limit}"))
    return causes


def json_patch_error(operations: Any) -> str | None:
    """What decoding a JSON patch (RFC 6902) into its operations finds wrong, if anything:
    a list of objects whose op, path and from are strings."""
    if not isinstance(operations, list):
        return f"json: cannot unmarshal {_json_kind(operations)} into Go value of type jsonpatch.Patch"
    for op in operations:
        if not isinstance(op, dict):
            return (f"json: cannot unmarshal {_json_kind(op)} into Go value of type "
                    "jsonpatch.Operation")
        for key in ("op", "path", "from"):
            if key in op and not isinstance(op[key], str):
                return f"json: cannot unmarshal {_json_kind(op[key])} into Go value of type string"
    return None


def _service_causes(spec: Mapping[str, Any]) -> list[Cause]:
    """The service port rules whose breach would leave an object nothing can print."""
    causes: list[Cause] = []
    for i, port in enumerate(spec.get("ports") or []):
        number = port.get("port") or 0
        if not 1 <= number <= 65535:
            causes.append(("FieldValueInvalid", f"spec.ports[{i}].port",
                           f"Invalid value: {number}: must be between 1 and 65535, inclusive"))
    return causes


def object_causes(kind: str, obj: Mapping[str, Any], minor: int) -> list[Cause]:
    """Validation the simulator shares between create and update, after decode_error:
    labels and annotations for every kind, service ports for services."""
    causes = metadata_causes(obj.get("metadata") or {}, minor)
    if kind == "Service":
        causes += _service_causes(obj.get("spec") or {})
    return causes
