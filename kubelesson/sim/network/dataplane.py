"""Where a connection inside the cluster ends up, as kube-proxy's rules send it: a Service's
ClusterIP (or a node's NodePort) leads to one of its ready endpoints at the target port, a
pod IP to that pod, and there to the simulated program listening on the port (or nothing:
refused). The same program port-forward reaches, one instance per pod and port.

Connections from inside a pod (wget in a busybox shell, traQ dialing MariaDB) follow the
Services' EndpointSlices, as kube-proxy does: a ready endpoint at random, the serving
terminating ones when none is ready. The host ports (the k3d load balancer into ServiceLB's
pods) and traefik's router pick among the Service's Ready pods.

`Dataplane` holds what belongs to one simulated cluster's network: the programs that need
the cluster (traefik's router, ingress.py), and the choices that rotate (the k3d load
balancer's next node). `for_store` finds the one of a cluster from anywhere in it. The
container programs without such needs come from kubelet/listeners.py.
"""

from __future__ import annotations

import itertools
import random
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubelesson.sim.controllers.selectors import matches
from kubelesson.sim.kubelet.backends import Backend, image_name
from kubelesson.sim.kubelet.listeners import app_for
from kubelesson.sim.store import Obj, Store

REFUSED = "refused"  # nothing listens, or a Service without endpoints (kube-proxy REJECT)
TIMEOUT = "timeout"  # nothing answers at all: the packets are dropped

# A program that needs the cluster itself: (dataplane, pod, port) -> the program or None.
SpecialApp = Callable[["Dataplane", Obj, int], Backend | None]


def is_ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def endpoints(store: Store, service: Obj) -> list[Obj]:
    """The Service's ready endpoint pods (selector, Ready, not terminating, with an IP)."""
    selector = (service.get("spec") or {}).get("selector")
    if not selector:
        return []  # a Service without a selector has the Endpoints someone writes: none here
    namespace = service["metadata"].get("namespace", "")
    pods, _ = store.list("pods", namespace)
    return [p for p in pods
            if matches({"matchLabels": selector}, p["metadata"].get("labels") or {})
            and is_ready(p) and not p["metadata"].get("deletionTimestamp")
            and (p.get("status") or {}).get("podIP")]


def service_port(service: Obj, port: int | None = None, name: str | None = None,
                 protocol: str = "TCP") -> Obj | None:
    """The Service's port with that number (or name) and protocol."""
    for candidate in (service.get("spec") or {}).get("ports") or []:
        if not isinstance(candidate, dict):
            continue
        if (candidate.get("protocol") or "TCP") != protocol:
            continue
        if port is not None and candidate.get("port") == port:
            return candidate
        if name is not None and name and candidate.get("name") == name:
            return candidate
    return None


def target_port(pod: Obj, svc_port: Obj) -> int | None:
    """The pod's port a Service port leads to (a named targetPort through container ports)."""
    target = svc_port.get("targetPort", svc_port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in (container or {}).get("ports") or []:
            if isinstance(port, dict) and port.get("name") == target:
                value = port.get("containerPort")
                return int(value) if isinstance(value, int) else None
    return None


@dataclass(frozen=True)
class Destination:
    """A pod chosen for a connection, the port on it, and the program there (None: nothing
    listens, so the connection is refused)."""

    pod: Obj
    port: int
    app: Backend | None


class Dataplane:
    """The network of one simulated cluster: Services to pods to programs."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._special: dict[str, SpecialApp] = {}
        self._apps: dict[tuple[str, int], Backend] = {}
        self._lock = threading.Lock()
        self._turn = itertools.count()
        self.context: dict[str, Any] = {}  # whatever a special program keeps per cluster

    def register(self, image: str, factory: SpecialApp) -> None:
        """A program of `image` (bare repository name) that needs the cluster."""
        self._special[image] = factory

    def next_turn(self) -> int:
        with self._lock:
            return next(self._turn)

    def app(self, pod: Obj, port: int) -> Backend | None:
        """The program listening on `port` in `pod` (None before it runs, or if none does)."""
        if (pod.get("status") or {}).get("phase") != "Running":
            return None
        for container in (pod.get("spec") or {}).get("containers") or []:
            factory = self._special.get(image_name(str((container or {}).get("image", ""))))
            if factory is None:
                continue
            key = (str(pod["metadata"].get("uid")), port)
            with self._lock:
                found = self._apps.get(key)
            if found is None:
                made = factory(self, pod, port)
                if made is None:
                    continue
                with self._lock:
                    found = self._apps.setdefault(key, made)
            return found
        return app_for(pod, port)

    def to_service(self, service: Obj, svc_port: Obj) -> Destination | None:
        """kube-proxy: a random ready endpoint of the Service, None when it has none (the
        connection is rejected)."""
        ready = endpoints(self.store, service)
        if not ready:
            return None
        pod = random.choice(ready)
        port = target_port(pod, svc_port)
        if port is None:
            return Destination(pod, 0, None)
        return Destination(pod, port, self.app(pod, port))

    # -- connections from inside the cluster ----------------------------------------------
    def connect(self, ip: str, port: int) -> Backend | str:
        """The program a TCP connection to ip:port reaches, or REFUSED / TIMEOUT."""
        svc = self.service_with_ip(ip)
        if svc is not None:
            return self.through_service(svc, port)
        if self.is_node(ip):
            return self._node_port(port)
        pod = self.pod_with_ip(ip)
        if pod is None:
            return TIMEOUT
        return self._pod_app(pod, port)

    def service_with_ip(self, ip: str) -> Obj | None:
        services, _ = self.store.list(
            "services", None,
            lambda s: ip in ((s.get("spec") or {}).get("clusterIPs")
                             or [(s.get("spec") or {}).get("clusterIP")]))
        return services[0] if services else None

    def pod_with_ip(self, ip: str) -> Obj | None:
        pods, _ = self.store.list("pods", None, lambda p: (p.get("status") or {}).get("podIP") == ip)
        return pods[0] if pods else None

    def is_node(self, ip: str) -> bool:
        nodes, _ = self.store.list("nodes")
        return any(a.get("address") == ip for n in nodes
                   for a in (n.get("status") or {}).get("addresses") or [])

    def ready_endpoints(self, namespace: str, service: str, port_name: str | None = None) -> list[Obj]:
        """The Service's ready endpoints in its EndpointSlices (a missing condition counts as
        ready); when there are none, the serving terminating ones, as kube-proxy falls back
        to them. With `port_name`, each comes with `_port`, that port's number in its slice."""
        slices, _ = self.store.list(
            "endpointslices.discovery.k8s.io", namespace,
            lambda s: (s["metadata"].get("labels") or {}).get("kubernetes.io/service-name") == service)
        ready: list[Obj] = []
        terminating: list[Obj] = []
        for slice_ in slices:
            number = None
            if port_name is not None:
                number = next((p.get("port") for p in slice_.get("ports") or []
                               if (p.get("name") or "") == port_name), None)
                if number is None:
                    continue
            for endpoint in slice_.get("endpoints") or []:
                conditions = endpoint.get("conditions") or {}
                entry = {**endpoint, "_port": number}
                if conditions.get("ready", True):
                    ready.append(entry)
                elif conditions.get("serving") and conditions.get("terminating"):
                    terminating.append(entry)
        return ready or terminating

    def through_service(self, svc: Obj, port: int) -> Backend | str:
        meta = svc["metadata"]
        svc_port = service_port(svc, port=port)
        if svc_port is None:
            return TIMEOUT  # no kube-proxy rule for that port: the packets go nowhere
        endpoints = self.ready_endpoints(meta["namespace"], meta["name"], str(svc_port.get("name") or ""))
        if not endpoints:
            return REFUSED
        chosen = random.choice(endpoints)
        ref = chosen.get("targetRef") or {}
        pod = self.store.get("pods", str(ref.get("namespace") or meta["namespace"]), str(ref.get("name", "")))
        if pod is None or ref.get("kind") != "Pod":
            return REFUSED
        return self._pod_app(pod, int(chosen["_port"]))

    def _node_port(self, port: int) -> Backend | str:
        """kube-proxy listens on every node for the NodePorts; nothing else does here."""
        services, _ = self.store.list("services", None, lambda s: any(
            p.get("nodePort") == port for p in (s.get("spec") or {}).get("ports") or []))
        if not services:
            return REFUSED
        svc = services[0]
        node_port = next(p for p in svc["spec"]["ports"] if p.get("nodePort") == port)
        return self.through_service(svc, int(node_port.get("port", 0)))

    def _pod_app(self, pod: Obj, port: int) -> Backend | str:
        app = self.app(pod, port)
        return app if app is not None else REFUSED


_PLANES: weakref.WeakKeyDictionary[Store, Dataplane] = weakref.WeakKeyDictionary()
_PLANES_LOCK = threading.Lock()


def for_store(store: Store) -> Dataplane:
    """The network of the cluster whose objects `store` holds (made on first use)."""
    with _PLANES_LOCK:
        plane = _PLANES.get(store)
        if plane is None:
            plane = _PLANES[store] = Dataplane(store)
        return plane
