"""Server-side Tables (meta.k8s.io/v1), following kube-apiserver's column sets and cell rules.

Every cell, wide (priority 1) ones included, is always filled: kubectl sends the same
request for `-o wide` and only hides priority-1 columns itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubelesson.sim.api import endpointprinters, netprinters
from kubelesson.sim.api.resources import ResourceType
from kubelesson.sim.timeutil import age, human_duration, parse

Obj = dict[str, Any]
Cells = list[Any]
Column = tuple[str, str, int]  # name, type, priority

NONE = "<none>"


def _col(name: str, type_: str = "string", priority: int = 0) -> Column:
    return (name, type_, priority)


# ---------------------------------------------------------------------------------- pods
def _container_states(pod: Obj) -> list[Obj]:
    return list(pod.get("status", {}).get("containerStatuses") or [])


def _condition(obj: Obj, type_: str) -> Obj | None:
    for cond in obj.get("status", {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return None


def _is_sidecar(container: Obj) -> bool:
    return container.get("restartPolicy") == "Always"


def pod_status(pod: Obj) -> str:
    """The STATUS column (the `reason` printed by kubectl get pods)."""
    status = pod.get("status", {})
    spec = pod.get("spec", {})
    reason = status.get("phase") or ""
    if status.get("reason"):
        reason = status["reason"]
    scheduled = _condition(pod, "PodScheduled")
    if scheduled and scheduled.get("reason") == "SchedulingGated":
        reason = "SchedulingGated"

    init_specs = spec.get("initContainers") or []
    initializing = False
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        state = cs.get("state") or {}
        term = state.get("terminated")
        waiting = state.get("waiting")
        sidecar = i < len(init_specs) and _is_sidecar(init_specs[i])
        if term is not None and term.get("exitCode", 0) == 0:
            continue
        if sidecar and cs.get("started"):
            continue
        if term is not None:
            if term.get("reason"):
                reason = "Init:" + term["reason"]
            elif term.get("signal"):
                reason = f"Init:Signal:{term['signal']}"
            else:
                reason = f"Init:ExitCode:{term.get('exitCode', 0)}"
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    initialized = _condition(pod, "Initialized")
    if not initializing or (initialized and initialized.get("status") == "True"):
        has_running = False
        for cs in reversed(_container_states(pod)):
            state = cs.get("state") or {}
            waiting = state.get("waiting")
            term = state.get("terminated")
            if waiting and waiting.get("reason"):
                reason = waiting["reason"]
            elif term and term.get("reason"):
                reason = term["reason"]
            elif term is not None:
                reason = f"Signal:{term['signal']}" if term.get("signal") else f"ExitCode:{term.get('exitCode', 0)}"
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
        if reason == "Completed" and has_running:
            ready = _condition(pod, "Ready")
            reason = "Running" if ready and ready.get("status") == "True" else "NotReady"

    if pod.get("metadata", {}).get("deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif status.get("phase") not in ("Succeeded", "Failed"):
            reason = "Terminating"
    return str(reason)


def pod_ready(pod: Obj) -> str:
    spec = pod.get("spec", {})
    status = pod.get("status", {})
    total = len(spec.get("containers") or [])
    ready = 0
    for cs in _container_states(pod):
        state = cs.get("state") or {}
        if cs.get("ready") and state.get("running") is not None:
            ready += 1
    init_specs = spec.get("initContainers") or []
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        if i < len(init_specs) and _is_sidecar(init_specs[i]):
            total += 1
            if cs.get("started") and cs.get("ready"):
                ready += 1
    return f"{ready}/{total}"


def pod_restarts(pod: Obj, now: float) -> str:
    status = pod.get("status", {})
    spec = pod.get("spec", {})
    restarts = 0
    last_finish: float | None = None
    statuses = list(_container_states(pod))
    init_specs = spec.get("initContainers") or []
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        if i < len(init_specs) and _is_sidecar(init_specs[i]):
            statuses.append(cs)
    for cs in statuses:
        restarts += int(cs.get("restartCount") or 0)
        term = (cs.get("lastState") or {}).get("terminated") or {}
        finished = parse(term.get("finishedAt"))
        if finished is not None and (last_finish is None or finished > last_finish):
            last_finish = finished
    if restarts and last_finish is not None:
        return f"{restarts} ({human_duration(now - last_finish)} ago)"
    return str(restarts)


def _pod_cells(pod: Obj, now: float) -> Cells:
    status = pod.get("status", {})
    spec = pod.get("spec", {})
    ips = status.get("podIPs") or []
    ip = ips[0].get("ip") if ips else status.get("podIP")
    gates = spec.get("readinessGates") or []
    if gates:
        trues = sum(
            1
            for gate in gates
            if (c := _condition(pod, gate.get("conditionType", ""))) and c.get("status") == "True"
        )
        gates_cell = f"{trues}/{len(gates)}"
    else:
        gates_cell = NONE
    return [
        pod["metadata"]["name"],
        pod_ready(pod),
        pod_status(pod),
        pod_restarts(pod, now),
        age(pod["metadata"].get("creationTimestamp"), now),
        ip or NONE,
        spec.get("nodeName") or NONE,
        status.get("nominatedNodeName") or NONE,
        gates_cell,
    ]


POD_COLUMNS = [
    _col("Name", "string"),
    _col("Ready"),
    _col("Status"),
    _col("Restarts"),
    _col("Age"),
    _col("IP", priority=1),
    _col("Node", priority=1),
    _col("Nominated Node", priority=1),
    _col("Readiness Gates", priority=1),
]


def _pod_conditions(pod: Obj) -> list[Obj] | None:
    phase = pod.get("status", {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        return [{"type": "Completed", "status": "True", "reason": phase, "message": ""}]
    return None


# --------------------------------------------------------------------------------- nodes
def _node_cells(node: Obj, now: float) -> Cells:
    status = node.get("status", {})
    ready = _condition(node, "Ready")
    if ready is None:
        state = "Unknown"
    else:
        state = {"True": "Ready", "False": "NotReady"}.get(ready.get("status", ""), "Unknown")
    if node.get("spec", {}).get("unschedulable"):
        state += ",SchedulingDisabled"
    roles: set[str] = set()
    for key, value in (node["metadata"].get("labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/"):
            role = key.split("/", 1)[1]
            if role:
                roles.add(role)
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    info = status.get("nodeInfo") or {}

    def address(kind: str) -> str:
        for addr in status.get("addresses") or []:
            if addr.get("type") == kind:
                return str(addr.get("address"))
        return NONE

    return [
        node["metadata"]["name"],
        state,
        ",".join(sorted(roles)) or NONE,
        age(node["metadata"].get("creationTimestamp"), now),
        info.get("kubeletVersion", ""),
        address("InternalIP"),
        address("ExternalIP"),
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


NODE_COLUMNS = [
    _col("Name"), _col("Status"), _col("Roles"), _col("Age"), _col("Version"),
    _col("Internal-IP", priority=1), _col("External-IP", priority=1),
    _col("OS-Image", priority=1), _col("Kernel-Version", priority=1),
    _col("Container-Runtime", priority=1),
]


# ---------------------------------------------------------------------------- namespaces
def _namespace_cells(ns: Obj, now: float) -> Cells:
    return [
        ns["metadata"]["name"],
        ns.get("status", {}).get("phase", ""),
        age(ns["metadata"].get("creationTimestamp"), now),
    ]


NAMESPACE_COLUMNS = [_col("Name"), _col("Status"), _col("Age")]


# ------------------------------------------------------------------------------ services
def _service_cells(svc: Obj, now: float) -> Cells:
    spec = svc.get("spec", {})
    type_ = spec.get("type", "ClusterIP")
    cluster_ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    cluster_ip = cluster_ips[0] if cluster_ips else NONE
    external = ",".join(spec.get("externalIPs") or [])
    if type_ == "LoadBalancer":
        ingress = svc.get("status", {}).get("loadBalancer", {}).get("ingress") or []
        found = sorted({i.get("ip") or i.get("hostname") or "" for i in ingress} - {""})
        found += list(spec.get("externalIPs") or [])
        external = ",".join(found) or "<pending>"
    elif type_ == "ExternalName":
        external = spec.get("externalName", "")
    ports = []
    for port in spec.get("ports") or []:
        proto = port.get("protocol", "TCP")
        if port.get("nodePort"):
            ports.append(f"{port['port']}:{port['nodePort']}/{proto}")
        else:
            ports.append(f"{port['port']}/{proto}")
    selector = spec.get("selector") or {}
    return [
        svc["metadata"]["name"],
        type_,
        cluster_ip,
        external or NONE,
        ",".join(ports) or NONE,
        age(svc["metadata"].get("creationTimestamp"), now),
        ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or NONE,
    ]


SERVICE_COLUMNS = [
    _col("Name"), _col("Type"), _col("Cluster-IP"), _col("External-IP"), _col("Port(s)"),
    _col("Age"), _col("Selector", priority=1),
]


# -------------------------------------------------------------------------------- events
def _event_cells(ev: Obj, now: float) -> Cells:
    involved = ev.get("involvedObject") or {}
    last = ev.get("lastTimestamp") or ev.get("eventTime") or ev["metadata"].get(
        "creationTimestamp"
    )
    first = ev.get("firstTimestamp") or ev.get("eventTime") or last
    source = ev.get("source") or {}
    src = source.get("component", "") or ev.get("reportingComponent", "")
    if source.get("host"):
        src += ", " + source["host"]
    return [
        age(last, now),
        ev.get("type", ""),
        ev.get("reason", ""),
        f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
        involved.get("fieldPath", ""),
        src,
        ev.get("message", "").strip(),
        age(first, now),
        int(ev.get("count") or 1),
        ev["metadata"]["name"],
    ]


EVENT_COLUMNS = [
    _col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"),
    _col("Subobject", priority=1), _col("Source", priority=1), _col("Message"),
    _col("First Seen", priority=1), _col("Count", "integer", priority=1),
    _col("Name", priority=1),
]


# ------------------------------------------------------------------------------------ apps
def _containers_and_images(template_spec: Obj) -> list[str]:
    containers = template_spec.get("containers") or []
    return [
        ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers),
    ]


def _selector(obj: Obj) -> str:
    """metav1.FormatLabelSelector: matchLabels and matchExpressions, sorted by key."""
    from kubelesson.sim.controllers.selectors import describe

    return describe(obj.get("spec", {}).get("selector"))


def _controllerrevision_cells(obj: Obj, now: float) -> Cells:
    """CONTROLLER is `<kind>.<group>/<name>` of the controller reference, lower case."""
    owner = next((r for r in obj["metadata"].get("ownerReferences") or []
                  if r.get("controller")), None)
    controller = NONE
    if owner is not None:
        group = str(owner.get("apiVersion", "")).rpartition("/")[0]
        kind = str(owner.get("kind", "")) + (f".{group}" if group else "")
        controller = f"{kind.lower()}/{owner.get('name', '')}" if kind else owner.get("name", "")
    return [obj["metadata"]["name"], controller, int(obj.get("revision", 0)),
            age(obj["metadata"].get("creationTimestamp"), now)]


CONTROLLERREVISION_COLUMNS = [
    _col("Name"), _col("Controller"), _col("Revision", "integer"), _col("Age"),
]


def _template_spec(obj: Obj) -> Obj:
    return dict(obj.get("spec", {}).get("template", {}).get("spec") or {})


def _deployment_cells(obj: Obj, now: float) -> Cells:
    spec, status = obj.get("spec", {}), obj.get("status", {})
    return [
        obj["metadata"]["name"],
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
        int(status.get("updatedReplicas", 0)),
        int(status.get("availableReplicas", 0)),
        age(obj["metadata"].get("creationTimestamp"), now),
        *_containers_and_images(_template_spec(obj)),
        _selector(obj),
    ]


DEPLOYMENT_COLUMNS = [
    _col("Name"), _col("Ready"), _col("Up-to-date", "integer"), _col("Available", "integer"),
    _col("Age"), _col("Containers", priority=1), _col("Images", priority=1),
    _col("Selector", priority=1),
]


def _replicaset_cells(obj: Obj, now: float) -> Cells:
    spec, status = obj.get("spec", {}), obj.get("status", {})
    return [
        obj["metadata"]["name"],
        int(spec.get("replicas", 1)),
        int(status.get("replicas", 0)),
        int(status.get("readyReplicas", 0)),
        age(obj["metadata"].get("creationTimestamp"), now),
        *_containers_and_images(_template_spec(obj)),
        _selector(obj),
    ]


REPLICASET_COLUMNS = [
    _col("Name"), _col("Desired", "integer"), _col("Current", "integer"),
    _col("Ready", "integer"), _col("Age"), _col("Containers", priority=1),
    _col("Images", priority=1), _col("Selector", priority=1),
]


def _statefulset_cells(obj: Obj, now: float) -> Cells:
    spec, status = obj.get("spec", {}), obj.get("status", {})
    return [
        obj["metadata"]["name"],
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
        age(obj["metadata"].get("creationTimestamp"), now),
        *_containers_and_images(_template_spec(obj)),
    ]


STATEFULSET_COLUMNS = [
    _col("Name"), _col("Ready"), _col("Age"), _col("Containers", priority=1),
    _col("Images", priority=1),
]


def _daemonset_cells(obj: Obj, now: float) -> Cells:
    status = obj.get("status", {})
    node_selector = _template_spec(obj).get("nodeSelector") or {}
    return [
        obj["metadata"]["name"],
        int(status.get("desiredNumberScheduled", 0)),
        int(status.get("currentNumberScheduled", 0)),
        int(status.get("numberReady", 0)),
        int(status.get("updatedNumberScheduled", 0)),
        int(status.get("numberAvailable", 0)),
        ",".join(f"{k}={v}" for k, v in sorted(node_selector.items())) or NONE,
        age(obj["metadata"].get("creationTimestamp"), now),
        *_containers_and_images(_template_spec(obj)),
        _selector(obj),
    ]


DAEMONSET_COLUMNS = [
    _col("Name"), _col("Desired", "integer"), _col("Current", "integer"),
    _col("Ready", "integer"), _col("Up-to-date", "integer"), _col("Available", "integer"),
    _col("Node Selector"), _col("Age"), _col("Containers", priority=1),
    _col("Images", priority=1), _col("Selector", priority=1),
]


# ----------------------------------------------------------------------------- the rest
def _configmap_cells(obj: Obj, now: float) -> Cells:
    count = len(obj.get("data") or {}) + len(obj.get("binaryData") or {})
    return [obj["metadata"]["name"], count, age(obj["metadata"].get("creationTimestamp"), now)]


def _secret_cells(obj: Obj, now: float) -> Cells:
    count = len(obj.get("data") or {}) + len(obj.get("stringData") or {})
    return [
        obj["metadata"]["name"], obj.get("type", "Opaque"), count,
        age(obj["metadata"].get("creationTimestamp"), now),
    ]


def _serviceaccount_cells(obj: Obj, now: float) -> Cells:
    return [
        obj["metadata"]["name"], len(obj.get("secrets") or []),
        age(obj["metadata"].get("creationTimestamp"), now),
    ]


Printer = tuple[list[Column], Callable[[Obj, float], Cells]]

PRINTERS: dict[str, Printer] = {
    "pods": (POD_COLUMNS, _pod_cells),
    "nodes": (NODE_COLUMNS, _node_cells),
    "namespaces": (NAMESPACE_COLUMNS, _namespace_cells),
    "services": (SERVICE_COLUMNS, _service_cells),
    "events": (EVENT_COLUMNS, _event_cells),
    "deployments.apps": (DEPLOYMENT_COLUMNS, _deployment_cells),
    "replicasets.apps": (REPLICASET_COLUMNS, _replicaset_cells),
    "statefulsets.apps": (STATEFULSET_COLUMNS, _statefulset_cells),
    "daemonsets.apps": (DAEMONSET_COLUMNS, _daemonset_cells),
    "controllerrevisions.apps": (CONTROLLERREVISION_COLUMNS, _controllerrevision_cells),
    "configmaps": ([_col("Name"), _col("Data", "integer"), _col("Age")], _configmap_cells),
    "secrets": (
        [_col("Name"), _col("Type"), _col("Data", "integer"), _col("Age")], _secret_cells,
    ),
    "serviceaccounts": (
        [_col("Name"), _col("Secrets", "integer"), _col("Age")], _serviceaccount_cells,
    ),
    # Lesson 5 (endpointprinters.py)
    "endpoints": (endpointprinters.ENDPOINTS_COLUMNS, endpointprinters.endpoints_cells),
    "endpointslices.discovery.k8s.io": (endpointprinters.ENDPOINTSLICE_COLUMNS,
                                        endpointprinters.endpointslice_cells),
    # Lesson 5 (netprinters.py)
    "ingresses.networking.k8s.io": (netprinters.INGRESS_COLUMNS, netprinters.ingress_cells),
    "ingressclasses.networking.k8s.io": (netprinters.INGRESS_CLASS_COLUMNS,
                                         netprinters.ingress_class_cells),
}


def _versioned(key: str, minor: int) -> Printer | None:
    """The storage kinds' columns follow the server version (storage/printers.py); imported
    here, not at the top, because that module builds on this one."""
    from kubelesson.sim.storage.printers import printer_for

    return printer_for(key, minor)


def _column_definitions(columns: list[Column]) -> list[Obj]:
    defs = []
    for name, type_, priority in columns:
        defs.append(
            {
                "name": name,
                "type": type_,
                "format": "name" if name == "Name" else "",
                "description": "",
                "priority": priority,
            }
        )
    return defs


def _row_object(obj: Obj, include: str) -> Obj | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj["metadata"],
    }


def table(
    rt: ResourceType,
    objects: list[Obj],
    *,
    now: float,
    resource_version: str,
    include_object: str = "Metadata",
    headers: bool = True,
    minor: int = 0,
) -> Obj:
    """A Table of `objects`. `headers=False` leaves out columnDefinitions (later watch events).
    `minor` is the server's minor version, for kinds whose columns change with it."""
    versioned = _versioned(rt.key, minor)
    columns, cells_of = versioned if versioned is not None else PRINTERS.get(
        rt.key, ([_col("Name"), _col("Created At", "date")], None))
    rows = []
    for obj in objects:
        if cells_of is None:
            cells: Cells = [obj["metadata"]["name"], obj["metadata"].get("creationTimestamp")]
        else:
            cells = cells_of(obj, now)
        row: Obj = {"cells": cells}
        conditions = _pod_conditions(obj) if rt.key == "pods" else None
        if conditions:
            row["conditions"] = conditions
        row_obj = _row_object(obj, include_object)
        if row_obj is not None:
            row["object"] = row_obj
        rows.append(row)
    result: Obj = {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": _column_definitions(columns) if headers else None,
        "rows": rows,
    }
    if not headers:
        del result["columnDefinitions"]
    return result
