"""The resource types the simulator serves, as one table used by discovery, OpenAPI and routing."""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
READ_VERBS = ("get", "list", "watch")


@dataclass(frozen=True)
class Subresource:
    name: str
    kind: str
    verbs: tuple[str, ...]
    group: str = ""
    version: str = "v1"


@dataclass(frozen=True)
class ResourceType:
    """One REST resource, e.g. pods in the core group."""

    plural: str
    singular: str
    kind: str
    group: str = ""
    version: str = "v1"
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: tuple[Subresource, ...] = field(default=())

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        """Store key and error-message name: `pods`, `deployments.apps`."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    def base_path(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"


def _status(kind: str, group: str = "") -> Subresource:
    return Subresource("status", kind, ("get", "patch", "update"), group)


def _scale() -> Subresource:
    """`kubectl scale` resolves this through discovery: autoscaling/v1 Scale."""
    return Subresource("scale", "Scale", ("get", "patch", "update"), "autoscaling")


POD_SUBRESOURCES = (
    Subresource("attach", "PodAttachOptions", ("create", "get")),
    Subresource("binding", "Binding", ("create",)),
    Subresource("eviction", "Eviction", ("create",), "policy"),
    Subresource("exec", "PodExecOptions", ("create", "get")),
    Subresource("log", "Pod", ("get",)),
    Subresource("portforward", "PodPortForwardOptions", ("create", "get")),
    Subresource("proxy", "PodProxyOptions", ("create", "delete", "get", "patch", "update")),
    _status("Pod"),
)

RESOURCES: tuple[ResourceType, ...] = (
    ResourceType("configmaps", "configmap", "ConfigMap", short_names=("cm",)),
    ResourceType("endpoints", "endpoints", "Endpoints", short_names=("ep",)),
    EVENT := ResourceType("events", "event", "Event", short_names=("ev",)),
    NAMESPACE := ResourceType(
        "namespaces",
        "namespace",
        "Namespace",
        namespaced=False,
        short_names=("ns",),
        verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
        subresources=(
            Subresource("finalize", "Namespace", ("update",)),
            _status("Namespace"),
        ),
    ),
    NODE := ResourceType(
        "nodes",
        "node",
        "Node",
        namespaced=False,
        short_names=("no",),
        subresources=(_status("Node"),),
    ),
    POD := ResourceType(
        "pods",
        "pod",
        "Pod",
        short_names=("po",),
        categories=("all",),
        subresources=POD_SUBRESOURCES,
    ),
    ResourceType("secrets", "secret", "Secret"),
    ResourceType("serviceaccounts", "serviceaccount", "ServiceAccount", short_names=("sa",)),
    SERVICE := ResourceType(
        "services",
        "service",
        "Service",
        short_names=("svc",),
        categories=("all",),
        verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
        subresources=(_status("Service"),),
    ),
    ResourceType("controllerrevisions", "controllerrevision", "ControllerRevision", group="apps"),
    ResourceType(
        "daemonsets", "daemonset", "DaemonSet", group="apps", short_names=("ds",),
        categories=("all",), subresources=(_status("DaemonSet", "apps"),),
    ),
    ResourceType(
        "deployments", "deployment", "Deployment", group="apps", short_names=("deploy",),
        categories=("all",), subresources=(_scale(), _status("Deployment", "apps")),
    ),
    ResourceType(
        "replicasets", "replicaset", "ReplicaSet", group="apps", short_names=("rs",),
        categories=("all",), subresources=(_scale(), _status("ReplicaSet", "apps")),
    ),
    ResourceType(
        "statefulsets", "statefulset", "StatefulSet", group="apps", short_names=("sts",),
        categories=("all",), subresources=(_scale(), _status("StatefulSet", "apps")),
    ),
    # Lesson 5: the Ingress and k3s's IngressClass `traefik` (networking.py).
    ResourceType(
        "ingressclasses", "ingressclass", "IngressClass", group="networking.k8s.io",
        namespaced=False,
    ),
    ResourceType(
        "ingresses", "ingress", "Ingress", group="networking.k8s.io", short_names=("ing",),
        subresources=(_status("Ingress", "networking.k8s.io"),),
    ),
    # Lesson 5: EndpointSlices, kept by controllers/endpoints.py.
    ENDPOINTSLICE := ResourceType(
        "endpointslices", "endpointslice", "EndpointSlice", group="discovery.k8s.io",
    ),
    # Lesson 7: claims, the volumes bound to them, and k3s's local-path class (storage/).
    ResourceType(
        "persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim",
        short_names=("pvc",), subresources=(_status("PersistentVolumeClaim"),),
    ),
    ResourceType(
        "persistentvolumes", "persistentvolume", "PersistentVolume", namespaced=False,
        short_names=("pv",), subresources=(_status("PersistentVolume"),),
    ),
    ResourceType(
        "storageclasses", "storageclass", "StorageClass", group="storage.k8s.io",
        namespaced=False, short_names=("sc",),
    ),
)

GROUPS: tuple[str, ...] = ("", "apps", "networking.k8s.io", "discovery.k8s.io",
                           "storage.k8s.io")


def find(group: str, version: str, plural: str) -> ResourceType | None:
    for rt in RESOURCES:
        if rt.group == group and rt.version == version and rt.plural == plural:
            return rt
    return None


def by_kind(api_version: str, kind: str) -> ResourceType | None:
    for rt in RESOURCES:
        if rt.api_version == api_version and rt.kind == kind:
            return rt
    return None


def in_group(group: str) -> list[ResourceType]:
    return [rt for rt in RESOURCES if rt.group == group]


