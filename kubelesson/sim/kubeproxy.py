"""Where a connection to a Service ends up, as kube-proxy's rules send it: one of the
Service's ready endpoints, at the target port, and the simulated program listening there.

A Service's endpoints are the pods its selector matches that are Ready, not being deleted
and have an IP: what the EndpointSlice controller publishes and kube-proxy programs. A
numeric `targetPort` is the pod's port; a named one is looked up in the pod's container
ports (so traefik's Service, `targetPort: web`, reaches its container port 8000). Each new
connection picks an endpoint at random, as kube-proxy's iptables rules do.

`Dataplane` holds what belongs to one simulated cluster's network: the programs that need
the cluster (traefik's router, ingress.py), and the choices that rotate (the k3d load
balancer's next node). The container programs without such needs come from
portforward.app_for, so a host port and a port-forward reach the very same program.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubelesson.sim.backends import Backend, image_name
from kubelesson.sim.controllers.selectors import matches
from kubelesson.sim.portforward import app_for
from kubelesson.sim.store import Obj, Store

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
