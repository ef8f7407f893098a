"""The Endpoints and EndpointSlice controllers (pkg/controller/endpoint and
pkg/controller/endpointslice), run as one loop keyed by Service: both are computed from
the same inputs, a Service's selector and the pods it selects.

* EndpointSlices `<service>-<5 chars>` (generateName), labelled
  `kubernetes.io/service-name` and `endpointslice.kubernetes.io/managed-by:
  endpointslice-controller.k8s.io`, owned by the Service (so the garbage collector removes
  them with it), addressType IPv4. Every pod with an IP that has not finished is an
  endpoint: `ready` when the pod is Ready and not terminating, `serving` when it is Ready,
  `terminating` once it is being deleted; with nodeName and a targetRef to the pod. One
  slice per set of resolved ports; a Service without endpoints keeps a placeholder slice
  (no endpoints, no ports), whose name stays when endpoints arrive. An endpoint keeps its
  place in the slice; new ones are appended.
* The legacy Endpoints object `<service>` (what `kubectl describe service` reads up to
  kubectl 1.30, and `kubectl get endpoints`): Ready pods under `addresses`, the others
  under `notReadyAddresses`, terminating pods left out, addresses sorted by IP as
  RepackSubsets sorts them; the Service's labels, and from 1.33 the label
  `endpoints.kubernetes.io/managed-by: endpoint-controller` (kubernetes PR #130564).
* The `kubernetes` Service in `default` has no selector: its Endpoints and its slice
  `kubernetes` name the API server (k3s: the server node's address, port 6443), as the
  apiserver's own endpoint reconciler writes them.

A Service without a selector is left alone (its Endpoints are the user's), as both
controllers do.
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from kubelesson.sim import timeutil
from kubelesson.sim.api.errors import ApiError
from kubelesson.sim.api.resources import ENDPOINTSLICE, SERVICE, ResourceType, find
from kubelesson.sim.controllers.base import Controller, Key, is_pod_ready, is_terminating
from kubelesson.sim.store import Obj, WatchEvent

PODS = "pods"
SERVICES = SERVICE.key
SLICES = ENDPOINTSLICE.key
ENDPOINTS_RT: ResourceType = find("", "v1", "endpoints")  # type: ignore[assignment]
ENDPOINTS = ENDPOINTS_RT.key

SERVICE_NAME = "kubernetes.io/service-name"
SLICE_MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
SLICE_CONTROLLER = "endpointslice-controller.k8s.io"
ENDPOINTS_MANAGED_BY = "endpoints.kubernetes.io/managed-by"
ENDPOINTS_CONTROLLER = "endpoint-controller"
HEADLESS = "service.kubernetes.io/headless"
SKIP_MIRROR = "endpointslice.kubernetes.io/skip-mirror"
TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"
RESERVED_SLICE_LABELS = (SERVICE_NAME, SLICE_MANAGED_BY, HEADLESS)

APISERVER_PORT = 6443  # k3s's kube-apiserver, the target of the `kubernetes` Service
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the apiserver's generateName suffixes
_MAX_GENERATED_BASE = 58  # names.SimpleNameGenerator: 63 minus the 5-character suffix

PortKey = tuple[tuple[str, int, str, str], ...]  # (name, port, protocol, appProtocol)


def matches(selector: Mapping[str, Any], labels: Mapping[str, Any] | None) -> bool:
    """A Service selector: every key equal (an empty selector is handled by the caller)."""
    found = labels or {}
    return all(found.get(k) == v for k, v in selector.items())


def _is_headless(svc: Obj) -> bool:
    return svc.get("spec", {}).get("clusterIP") in (None, "", "None")


def pod_ip(pod: Obj) -> str:
    status = pod.get("status") or {}
    ips = status.get("podIPs") or []
    return str(ips[0].get("ip") if ips else status.get("podIP") or "")


def _finished(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def find_port(pod: Obj, service_port: Mapping[str, Any]) -> int | None:
    """podutil.FindPort: a numeric targetPort as it is, a named one looked up among the
    containers' ports with the same protocol; None when the pod has no such port."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = service_port.get("protocol", "TCP")
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target and port.get("protocol", "TCP") == protocol:
                return int(port.get("containerPort", 0))
    return None


def _resolved_ports(svc: Obj, pod: Obj) -> PortKey:
    out = []
    for sp in svc.get("spec", {}).get("ports") or []:
        number = find_port(pod, sp)
        if number is None:
            continue  # the controllers skip a port the pod does not have
        out.append((str(sp.get("name") or ""), number, str(sp.get("protocol") or "TCP"),
                    str(sp.get("appProtocol") or "")))
    return tuple(out)


def _port_objects(key: PortKey) -> list[Obj]:
    ports = []
    for name, number, protocol, app in key:
        port: Obj = {"name": name, "port": number, "protocol": protocol}
        if app:
            port["appProtocol"] = app
        ports.append(port)
    return ports


def _target_ref(pod: Obj) -> Obj:
    meta = pod["metadata"]
    return {"kind": "Pod", "name": meta["name"], "namespace": meta.get("namespace", ""),
            "uid": meta.get("uid", "")}


def _hostname(pod: Obj, svc: Obj) -> str:
    """A pod's hostname is published when its subdomain names the Service."""
    spec = pod.get("spec") or {}
    if spec.get("hostname") and spec.get("subdomain") == svc["metadata"]["name"]:
        return str(spec["hostname"])
    return ""


def _ip_sort_key(address: Mapping[str, Any]) -> tuple[str, str]:
    ref = address.get("targetRef") or {}
    return (str(address.get("ip", "")), str(ref.get("uid", "")))


def trigger_time(svc: Obj, pods: list[Obj]) -> str:
    """When the newest change that shaped the endpoints happened: the Service's creation
    or a pod's last Ready transition (an approximation of the controllers'
    TriggerTimeTracker, which remembers the oldest unsynced change)."""
    times = [timeutil.parse(svc["metadata"].get("creationTimestamp")) or 0.0]
    for pod in pods:
        stamp = pod["metadata"].get("creationTimestamp")
        for cond in (pod.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "Ready" and cond.get("lastTransitionTime"):
                stamp = cond["lastTransitionTime"]
        times.append(timeutil.parse(stamp) or 0.0)
    return timeutil.rfc3339(max(times))


def generated_name(base: str) -> str:
    return base[:_MAX_GENERATED_BASE] + "".join(random.choices(_ALPHABET, k=5))


class EndpointsController(Controller):
    name = "endpoints"
    component = "endpoint-controller"

    def __init__(self, cluster: Any, manager: Any) -> None:
        super().__init__(cluster, manager)
        self._lock = threading.Lock()
        # What keys_for needs without reading the store: each Service's selector, and the
        # Services each pod was last found in (so a pod whose labels change leaves them).
        self._selectors: dict[Key, Mapping[str, Any]] = {}
        self._member_of: dict[Key, set[str]] = {}

    # -- which Services a change concerns ------------------------------------------------
    def keys_for(self, event: WatchEvent) -> Iterable[Key]:
        meta = event.object.get("metadata") or {}
        name = str(meta.get("name") or "")
        if not name:
            return
        ns = event.namespace
        if event.resource == SERVICES:
            with self._lock:
                if event.type == "DELETED":
                    self._selectors.pop((ns, name), None)
                else:
                    self._selectors[(ns, name)] = dict(
                        (event.object.get("spec") or {}).get("selector") or {})
            yield (ns, name)
        elif event.resource == PODS:
            labels = meta.get("labels") or {}
            with self._lock:
                wanted = {svc for (svc_ns, svc), sel in self._selectors.items()
                          if svc_ns == ns and sel and matches(sel, labels)}
                wanted |= self._member_of.get((ns, name), set())
            yield from ((ns, svc) for svc in sorted(wanted))
        elif event.resource == SLICES:
            labels = meta.get("labels") or {}
            if labels.get(SERVICE_NAME) and (labels.get(SLICE_MANAGED_BY) == SLICE_CONTROLLER
                                             or name == "kubernetes"):
                yield (ns, str(labels[SERVICE_NAME]))
        elif event.resource == ENDPOINTS:
            with self._lock:
                known = (ns, name) in self._selectors
            if known:
                yield (ns, name)

    def initial_keys(self) -> Iterable[Key]:
        services, _ = self.store.list(SERVICES)
        keys = []
        with self._lock:
            for svc in services:
                key = (svc["metadata"]["namespace"], svc["metadata"]["name"])
                self._selectors[key] = dict(svc.get("spec", {}).get("selector") or {})
                keys.append(key)
        return keys

    # -- reconciling ---------------------------------------------------------------------
    def sync(self, namespace: str, name: str) -> float | None:
        svc = self.store.get(SERVICES, namespace, name)
        if svc is None:
            self._service_gone(namespace, name)
            return None
        if namespace == "default" and name == "kubernetes":
            self._apiserver_endpoints(svc)
            return None
        selector = svc.get("spec", {}).get("selector") or {}
        if not selector or svc.get("spec", {}).get("type") == "ExternalName":
            return None  # not ours: a Service without a selector gets no endpoints
        pods, _ = self.store.list(PODS, namespace,
                                  lambda p: matches(selector, p["metadata"].get("labels")))
        self._remember_members(namespace, name, pods)
        trigger = trigger_time(svc, pods)
        self._write_endpoints(svc, pods, trigger)
        self._write_slices(svc, pods, trigger)
        return None

    def _remember_members(self, namespace: str, name: str, pods: list[Obj]) -> None:
        members = {p["metadata"]["name"] for p in pods}
        with self._lock:
            for key, services in list(self._member_of.items()):
                if key[0] == namespace and key[1] not in members:
                    services.discard(name)
                    if not services:
                        del self._member_of[key]
            for pod in members:
                self._member_of.setdefault((namespace, pod), set()).add(name)

    def _service_gone(self, namespace: str, name: str) -> None:
        """The Endpoints go with their Service (the slices go through their owner
        reference, by the garbage collector)."""
        self._remember_members(namespace, name, [])
        existing = self.store.get(ENDPOINTS, namespace, name)
        if existing is not None:
            with contextlib.suppress(ApiError):
                self.cluster.delete(ENDPOINTS_RT, namespace, name)

    # -- the legacy Endpoints object -------------------------------------------------------
    def _subsets(self, svc: Obj, pods: list[Obj]) -> list[Obj]:
        publish = bool(svc.get("spec", {}).get("publishNotReadyAddresses"))
        groups: dict[PortKey, dict[str, list[Obj]]] = {}
        for pod in pods:
            ip = pod_ip(pod)
            if not ip or _finished(pod) or (is_terminating(pod) and not publish):
                continue
            address: Obj = {"ip": ip}
            hostname = _hostname(pod, svc)
            if hostname:
                address["hostname"] = hostname
            if pod.get("spec", {}).get("nodeName"):
                address["nodeName"] = pod["spec"]["nodeName"]
            address["targetRef"] = _target_ref(pod)
            ports = _resolved_ports(svc, pod)
            if not ports and svc.get("spec", {}).get("ports"):
                continue
            kind = "addresses" if (publish or is_pod_ready(pod)) else "notReadyAddresses"
            groups.setdefault(ports, {}).setdefault(kind, []).append(address)
        subsets = []
        for ports in sorted(groups, key=lambda k: [(p[1], p[0], p[2]) for p in k]):
            subset: Obj = {}
            for kind in ("addresses", "notReadyAddresses"):
                if groups[ports].get(kind):
                    subset[kind] = sorted(groups[ports][kind], key=_ip_sort_key)
            if ports:
                subset["ports"] = sorted(_port_objects(ports),
                                         key=lambda p: (p["port"], p["name"], p["protocol"]))
            subsets.append(subset)
        return subsets

    def _endpoints_labels(self, svc: Obj) -> dict[str, str]:
        labels = dict(svc["metadata"].get("labels") or {})
        if _is_headless(svc):
            labels[HEADLESS] = ""
        else:
            labels.pop(HEADLESS, None)
        if self.cluster.options.minor >= 33:
            labels[ENDPOINTS_MANAGED_BY] = ENDPOINTS_CONTROLLER
        return labels

    def _write_endpoints(self, svc: Obj, pods: list[Obj], trigger: str) -> None:
        meta = svc["metadata"]
        subsets = self._subsets(svc, pods)
        labels = self._endpoints_labels(svc)
        existing = self.store.get(ENDPOINTS, meta["namespace"], meta["name"])
        if existing is None:
            body: Obj = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {
                "name": meta["name"], "annotations": {TRIGGER_TIME: trigger}}}
            if labels:
                body["metadata"]["labels"] = labels
            if subsets:
                body["subsets"] = subsets
            self._create(ENDPOINTS_RT, meta["namespace"], body)
            return
        if (existing.get("subsets") or []) == subsets and (
                existing["metadata"].get("labels") or {}) == labels:
            return

        def change(current: Obj) -> Obj:
            current_meta = current["metadata"]
            if labels:
                current_meta["labels"] = labels
            else:
                current_meta.pop("labels", None)
            current_meta.setdefault("annotations", {})[TRIGGER_TIME] = trigger
            if subsets:
                current["subsets"] = subsets
            else:
                current.pop("subsets", None)
            return current

        self.store.mutate(ENDPOINTS, meta["namespace"], meta["name"], change)

    # -- EndpointSlices --------------------------------------------------------------------
    def _desired_endpoints(self, svc: Obj, pods: list[Obj]) -> dict[PortKey, dict[str, Obj]]:
        """Per resolved port set: pod uid -> its endpoint."""
        publish = bool(svc.get("spec", {}).get("publishNotReadyAddresses"))
        ordered = sorted(pods, key=lambda p: (p["metadata"].get("creationTimestamp", ""),
                                              p["metadata"]["name"]))
        groups: dict[PortKey, dict[str, Obj]] = {}
        for pod in ordered:
            ip = pod_ip(pod)
            if not ip or _finished(pod):
                continue
            ports = _resolved_ports(svc, pod)
            if not ports and svc.get("spec", {}).get("ports"):
                continue
            terminating = is_terminating(pod)
            serving = is_pod_ready(pod)
            endpoint: Obj = {
                "addresses": [ip],
                "conditions": {"ready": publish or (serving and not terminating),
                               "serving": publish or serving, "terminating": terminating},
            }
            hostname = _hostname(pod, svc)
            if hostname:
                endpoint["hostname"] = hostname
            if pod.get("spec", {}).get("nodeName"):
                endpoint["nodeName"] = pod["spec"]["nodeName"]
            endpoint["targetRef"] = _target_ref(pod)
            groups.setdefault(ports, {})[pod["metadata"].get("uid", "")] = endpoint
        return groups

    def _slice_labels(self, svc: Obj) -> dict[str, str]:
        labels = {k: v for k, v in (svc["metadata"].get("labels") or {}).items()
                  if k not in RESERVED_SLICE_LABELS}
        if _is_headless(svc):
            labels[HEADLESS] = ""
        labels[SERVICE_NAME] = svc["metadata"]["name"]
        labels[SLICE_MANAGED_BY] = SLICE_CONTROLLER
        return labels

    def _owned_slices(self, svc: Obj) -> list[Obj]:
        meta = svc["metadata"]
        uid = meta.get("uid")

        def ours(obj: Obj) -> bool:
            labels = obj["metadata"].get("labels") or {}
            return (labels.get(SERVICE_NAME) == meta["name"]
                    and labels.get(SLICE_MANAGED_BY) == SLICE_CONTROLLER
                    and any(r.get("uid") == uid
                            for r in obj["metadata"].get("ownerReferences") or []))

        slices, _ = self.store.list(SLICES, meta["namespace"], ours)
        return sorted(slices, key=lambda s: s["metadata"].get("creationTimestamp", ""))

    @staticmethod
    def _port_key(slice_: Obj) -> PortKey | None:
        ports = slice_.get("ports")
        if ports is None:
            return None
        return tuple((str(p.get("name") or ""), int(p.get("port") or 0),
                      str(p.get("protocol") or "TCP"), str(p.get("appProtocol") or ""))
                     for p in ports)

    def _write_slices(self, svc: Obj, pods: list[Obj], trigger: str) -> None:
        desired = self._desired_endpoints(svc, pods)
        existing = self._owned_slices(svc)
        labels = self._slice_labels(svc)
        unmatched = list(existing)
        assigned: dict[int, tuple[PortKey | None, list[Obj] | None]] = {}
        fresh: list[tuple[PortKey | None, list[Obj] | None]] = []
        for ports, by_uid in desired.items():
            match = next((s for s in unmatched if self._port_key(s) == ports), None)
            endpoints = self._keep_order(match, by_uid)
            if match is not None:
                unmatched.remove(match)
                assigned[id(match)] = (ports, endpoints)
            else:
                fresh.append((ports, endpoints))
        if not desired:
            placeholder = next((s for s in unmatched if s.get("ports") is None
                                and not s.get("endpoints")), None)
            if placeholder is not None:
                unmatched.remove(placeholder)
                assigned[id(placeholder)] = (None, None)
            else:
                fresh.append((None, None))
        # A slice that would be deleted is updated instead of creating a new one, so a
        # Service's slice keeps its name (the reconciler's finalize step).
        while fresh and unmatched:
            reused = unmatched.pop(0)
            assigned[id(reused)] = fresh.pop()
        for slice_ in existing:
            if id(slice_) in assigned:
                slice_ports, slice_endpoints = assigned[id(slice_)]
                self._update_slice(slice_, labels, slice_ports, slice_endpoints, trigger)
        for slice_ports, slice_endpoints in fresh:
            self._create_slice(svc, labels, slice_ports, slice_endpoints, trigger)
        for slice_ in unmatched:
            with contextlib.suppress(ApiError):
                self.cluster.delete(ENDPOINTSLICE, slice_["metadata"]["namespace"],
                                    slice_["metadata"]["name"])

    @staticmethod
    def _keep_order(current: Obj | None, by_uid: dict[str, Obj]) -> list[Obj]:
        """Endpoints already in the slice stay where they are; new ones go at the end."""
        ordered: list[Obj] = []
        seen: set[str] = set()
        for endpoint in (current or {}).get("endpoints") or []:
            uid = str((endpoint.get("targetRef") or {}).get("uid", ""))
            if uid in by_uid and uid not in seen:
                ordered.append(by_uid[uid])
                seen.add(uid)
        ordered += [e for uid, e in by_uid.items() if uid not in seen]
        return ordered

    def _create_slice(self, svc: Obj, labels: dict[str, str], ports: PortKey | None,
                      endpoints: list[Obj] | None, trigger: str) -> None:
        meta = svc["metadata"]
        base = f"{meta['name']}-"
        body: Obj = {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {
                "name": generated_name(base), "generateName": base, "labels": labels,
                "annotations": {TRIGGER_TIME: trigger},
                "ownerReferences": [{"apiVersion": "v1", "kind": "Service",
                                     "name": meta["name"], "uid": meta["uid"],
                                     "controller": True, "blockOwnerDeletion": True}],
            },
            "addressType": "IPv4",
            "endpoints": endpoints or None,
            "ports": _port_objects(ports) if ports else None,
        }
        self._create(ENDPOINTSLICE, meta["namespace"], body)

    def _update_slice(self, slice_: Obj, labels: dict[str, str], ports: PortKey | None,
                      endpoints: list[Obj] | None, trigger: str) -> None:
        new_ports = _port_objects(ports) if ports else None
        new_endpoints = endpoints or None
        same_data = (slice_.get("endpoints") == new_endpoints
                     and slice_.get("ports") == new_ports)
        if same_data and (slice_["metadata"].get("labels") or {}) == labels:
            return
        uid = slice_["metadata"]["uid"]

        def change(current: Obj) -> Obj | None:
            if current["metadata"].get("uid") != uid:
                return None
            current["metadata"]["labels"] = dict(labels)
            if not same_data:
                current["metadata"].setdefault("annotations", {})[TRIGGER_TIME] = trigger
                current["endpoints"] = new_endpoints
                current["ports"] = new_ports
                # The apiserver bumps an EndpointSlice's generation when more than its
                # metadata changes.
                current["metadata"]["generation"] = int(
                    current["metadata"].get("generation", 1)) + 1
            return current

        meta = slice_["metadata"]
        self.store.mutate(SLICES, meta["namespace"], meta["name"], change)

    def _create(self, rt: ResourceType, namespace: str, body: Obj) -> None:
        # A name taken in a race, or the namespace is going away: the next sync fixes it.
        with contextlib.suppress(ApiError):
            self.cluster.create(rt, namespace, body)

    # -- the `kubernetes` Service ----------------------------------------------------------
    def _apiserver_endpoints(self, svc: Obj) -> None:
        """What the apiserver's endpoint reconciler keeps for the `kubernetes` Service."""
        server = next((n for n in self.cluster.nodes if n.server), self.cluster.nodes[0])
        port = {"name": "https", "port": APISERVER_PORT, "protocol": "TCP"}
        if self.store.get(ENDPOINTS, "default", "kubernetes") is None:
            self._create(ENDPOINTS_RT, "default", {
                "apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": "kubernetes", "labels": {SKIP_MIRROR: "true"}},
                "subsets": [{"addresses": [{"ip": server.ip}], "ports": [dict(port)]}],
            })
        if self.store.get(SLICES, "default", "kubernetes") is None:
            self._create(ENDPOINTSLICE, "default", {
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": "kubernetes", "labels": {SERVICE_NAME: "kubernetes"}},
                "addressType": "IPv4",
                "endpoints": [{"addresses": [server.ip], "conditions": {"ready": True}}],
                "ports": [dict(port)],
            })
