"""Connections from one simulated pod to another: cluster DNS names and ClusterIPs of
Services (kube-proxy picks a ready endpoint), and pod IPs. The failures are worded as Go's
net package words them, which is what a Go program such as traQ logs: an unknown name
(`lookup mariadb on 10.43.0.10:53: no such host`), a Service without ready endpoints or a
port nothing listens on (`connect: connection refused`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import socket
import threading
from collections.abc import Mapping
from typing import Any

from kubelesson.sim.apps import registry
from kubelesson.sim.store import Obj, Store

CLUSTER_DNS = "10.43.0.10:53"
CLUSTER_DOMAIN = "cluster.local"


class DialError(Exception):
    """The connection failed; str() is Go's error text (`dial tcp ...`)."""


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _ready(pod: Obj) -> bool:
    if pod["metadata"].get("deletionTimestamp"):
        return False
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


def _target_port(pod: Obj, target: Any) -> int | None:
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target:
                return int(port.get("containerPort") or 0) or None
    return None


class ClusterNetwork:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._turn = itertools.count()

    # -- name and address resolution ----------------------------------------------------
    def _service_by_name(self, namespace: str, host: str) -> Obj | None:
        parts = host.rstrip(".").split(".")
        suffix = [*parts[2:]]
        if len(parts) == 1:
            return self.store.get("services", namespace, parts[0])
        if suffix in ([], ["svc"], ["svc", *CLUSTER_DOMAIN.split(".")]):
            return self.store.get("services", parts[1], parts[0])
        return None

    def _by_ip(self, ip: str) -> tuple[Obj | None, Obj | None]:
        services, _ = self.store.list("services", None,
                                      lambda s: (s.get("spec") or {}).get("clusterIP") == ip)
        if services:
            return services[0], None
        pods, _ = self.store.list("pods", None, lambda p: (p.get("status") or {}).get("podIP") == ip)
        return None, (pods[0] if pods else None)

    def _endpoints(self, service: Obj) -> list[Obj]:
        selector = (service.get("spec") or {}).get("selector") or {}
        if not selector:
            return []
        namespace = service["metadata"].get("namespace", "")
        pods, _ = self.store.list("pods", namespace, lambda p: all(
            (p["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items()))
        return [p for p in pods if _ready(p)]

    # -- dialing ----------------------------------------------------------------------------
    def dial(self, namespace: str, host: str, port: int, client_ip: str) -> socket.socket:
        """A connected socket to what answers at host:port, seen from a pod of `namespace`
        whose address is `client_ip`; DialError when the connection fails."""
        if _is_ip(host):
            service, pod = self._by_ip(host)
            address = f"{host}:{port}"
            if service is None and pod is None:
                raise DialError(f"dial tcp {address}: connect: no route to host")
        else:
            service = self._service_by_name(namespace, host)
            pod = None
            if service is None:
                raise DialError(f"dial tcp: lookup {host} on {CLUSTER_DNS}: no such host")
            address = f"{(service.get('spec') or {}).get('clusterIP')}:{port}"
        refused = DialError(f"dial tcp {address}: connect: connection refused")
        target: int | None = port
        if service is not None:
            ports = [p for p in (service.get("spec") or {}).get("ports") or [] if p.get("port") == port]
            endpoints = self._endpoints(service)
            if not ports or not endpoints:
                raise refused
            pod = endpoints[next(self._turn) % len(endpoints)]
            target = _target_port(pod, ports[0].get("targetPort", port))
        assert pod is not None
        backend = self._listener(pod, target) if target else None
        if backend is None:
            raise refused
        ours, theirs = socket.socketpair()

        def serve() -> None:
            try:
                serve_from = getattr(backend, "serve_from", None)
                if serve_from is not None:
                    serve_from(theirs, client_ip)
                else:
                    backend.serve(theirs)
            finally:
                with contextlib.suppress(OSError):
                    theirs.close()

        threading.Thread(target=serve, name=f"pod-net-{port}", daemon=True).start()
        return ours

    @staticmethod
    def _listener(pod: Mapping[str, Any], port: int) -> Any:
        found = registry.listener(pod, port)
        if not isinstance(found, registry.NotMine):
            return found
        from kubelesson.sim.portforward import app_for  # the static servers (caddy, nginx ...)

        return app_for(pod, port)
