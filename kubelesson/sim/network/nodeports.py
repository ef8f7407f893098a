"""What kube-apiserver does to a Service of type NodePort or LoadBalancer: its defaults, its
node ports (allocated at random in 30000-32767, never one another Service holds) and the
checks on the node ports a manifest names.

It runs as part of the store's admission hook (networking.py), under the store's lock, so
picking a free port and storing the Service happen atomically: two Services created at the
same moment can never be given the same port. Which ports are taken is read from the stored
Services every time (there are few), so a deleted Service frees its ports at once, as the
apiserver's allocator does.

Rules (pkg/registry/core/service/storage and pkg/apis/core/validation, described not
copied): NodePort and LoadBalancer Services get `externalTrafficPolicy: Cluster`;
LoadBalancer ones `allocateLoadBalancerNodePorts: true`; every port of such a Service that
names no nodePort gets one; an update that leaves a nodePort out keeps the one the port of
the same name had; changing the type away from NodePort/LoadBalancer drops the ports it had
been given (and the fields that only those types have); a nodePort outside the range, taken
by another Service, or set on a ClusterIP Service is refused with the apiserver's words.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

from kubelesson.sim.api import errors
from kubelesson.sim.api.resources import SERVICE
from kubelesson.sim.store import Obj, Store

FIRST, LAST = 30000, 32767  # kube-apiserver's default --service-node-port-range
RANGE_TEXT = f"{FIRST}-{LAST}"
NODE_PORT_TYPES = ("NodePort", "LoadBalancer")
Cause = tuple[str, str, str]


def needs_node_ports(spec: Obj) -> bool:
    """The Service must have node ports (NodePort, or LoadBalancer unless told not to)."""
    kind = spec.get("type") or "ClusterIP"
    if kind == "NodePort":
        return True
    return kind == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is not False


def _ports(spec: Obj) -> list[Obj]:
    return [p for p in spec.get("ports") or [] if isinstance(p, dict)]


def _taken(store: Store, namespace: str, name: str) -> set[int]:
    """Node ports (and health-check node ports) every other stored Service holds."""
    items, _ = store.list(SERVICE.key)
    taken: set[int] = set()
    for svc in items:
        meta = svc["metadata"]
        if (meta.get("namespace"), meta.get("name")) == (namespace, name):
            continue
        spec = svc.get("spec") or {}
        taken.update(int(p["nodePort"]) for p in _ports(spec) if isinstance(p.get("nodePort"), int))
        if isinstance(spec.get("healthCheckNodePort"), int):
            taken.add(int(spec["healthCheckNodePort"]))
    return taken


def _pick(taken: set[int]) -> int | None:
    """A random free port, as the apiserver's bitmap allocator hands them out."""
    for _ in range(64):  # nearly always the first try: the range has 2768 ports
        port = random.randint(FIRST, LAST)
        if port not in taken:
            return port
    free = [p for p in range(FIRST, LAST + 1) if p not in taken]
    return random.choice(free) if free else None


def _drop_type_fields(spec: Obj, old_spec: Obj) -> None:
    """dropTypeDependentFields: what only NodePort/LoadBalancer Services have goes when the
    type changes, unless the update itself set a new value."""
    kind = spec.get("type") or "ClusterIP"
    if needs_node_ports(old_spec) and not needs_node_ports(spec):
        old_ports = {p.get("name", ""): p.get("nodePort") for p in _ports(old_spec)}
        for port in _ports(spec):
            if port.get("nodePort") == old_ports.get(port.get("name", "")):
                port.pop("nodePort", None)
    same_policy = spec.get("externalTrafficPolicy") == old_spec.get("externalTrafficPolicy")
    if kind not in NODE_PORT_TYPES and same_policy:
        spec.pop("externalTrafficPolicy", None)
    if kind != "LoadBalancer":
        for key in ("allocateLoadBalancerNodePorts", "loadBalancerClass"):
            if spec.get(key) == old_spec.get(key):
                spec.pop(key, None)
    if spec.get("healthCheckNodePort") == old_spec.get("healthCheckNodePort") and not (
            kind == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"):
        spec.pop("healthCheckNodePort", None)


def _keep_allocated(spec: Obj, old_spec: Obj) -> None:
    """patchAllocatedValues: a port that comes without its nodePort keeps the one the port
    of the same name had (an update is not a reason to move a Service to another port)."""
    if not (needs_node_ports(old_spec) and needs_node_ports(spec)):
        return
    old_by_name = {p.get("name", ""): p.get("nodePort") for p in _ports(old_spec)}
    given = {p.get("nodePort") for p in _ports(spec) if p.get("nodePort")}
    for port in _ports(spec):
        previous = old_by_name.get(port.get("name", ""))
        if not port.get("nodePort") and previous and previous not in given:
            port["nodePort"] = previous
    if (not spec.get("healthCheckNodePort") and old_spec.get("healthCheckNodePort")
            and spec.get("externalTrafficPolicy") == "Local"):
        spec["healthCheckNodePort"] = old_spec["healthCheckNodePort"]


def _check_given(spec: Obj, taken: set[int]) -> list[Cause]:
    kind = spec.get("type") or "ClusterIP"
    causes: list[Cause] = []
    seen: set[int] = set()
    for i, port in enumerate(_ports(spec)):
        value = port.get("nodePort")
        if not value:
            continue
        where = f"spec.ports[{i}].nodePort"
        if kind not in NODE_PORT_TYPES:
            causes.append(("FieldValueForbidden", where,
                           f"Forbidden: may not be used when `type` is '{kind}'"))
        elif not FIRST <= int(value) <= LAST:
            causes.append(("FieldValueInvalid", where, f"Invalid value: {value}: provided port "
                           f"is not in the valid range. The range of valid ports is {RANGE_TEXT}"))
        elif int(value) in taken or int(value) in seen:
            causes.append(("FieldValueInvalid", where,
                           f"Invalid value: {value}: provided port is already allocated"))
        seen.add(int(value))
    return causes


def admit_service(store: Store, old: Obj | None, new: Obj) -> None:
    """Default, check and allocate the node ports of a Service being stored (under the
    store's lock). Raises the apiserver's Invalid error; changes `new` in place."""
    spec = new.get("spec")
    if not isinstance(spec, dict):
        return
    old_spec: Obj = (old or {}).get("spec") or {}
    if old is not None and spec == old_spec:
        return  # a status or metadata write
    meta = new["metadata"]
    kind = spec.get("type") or "ClusterIP"
    if old is not None:
        _drop_type_fields(spec, old_spec)
    if kind in NODE_PORT_TYPES:
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if kind == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    if old is not None:
        _keep_allocated(spec, old_spec)
    taken = _taken(store, meta.get("namespace", ""), meta.get("name", ""))
    causes = _check_given(spec, taken)
    if causes:
        raise errors.invalid(SERVICE, str(meta.get("name", "")), causes)
    if needs_node_ports(spec):
        _allocate(spec, taken, (p for p in _ports(spec) if not p.get("nodePort")))
    if (kind == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"
            and not spec.get("healthCheckNodePort")):
        port = _pick(taken | _in_use(spec))
        if port is not None:
            spec["healthCheckNodePort"] = port


def _in_use(spec: Obj) -> set[int]:
    return {int(p["nodePort"]) for p in _ports(spec) if isinstance(p.get("nodePort"), int)}


def _allocate(spec: Obj, taken: set[int], ports: Iterable[Obj]) -> None:
    for port in ports:
        picked = _pick(taken | _in_use(spec))
        if picked is None:
            raise errors.ApiError(500, "InternalError", "Internal error occurred: failed to "
                                  "allocate a nodePort: range is full", {})
        port["nodePort"] = picked


def node_port_of(spec: Any, port: int, protocol: str = "TCP") -> int | None:
    """The nodePort of the Service port `port`/`protocol`, if it has one."""
    if not isinstance(spec, dict):
        return None
    for p in _ports(spec):
        if p.get("port") == port and (p.get("protocol") or "TCP") == protocol:
            value = p.get("nodePort")
            return int(value) if isinstance(value, int) else None
    return None
