"""The pod network as a process inside a simulated container sees it: cluster DNS (what
CoreDNS answers, through the pod's resolv.conf search path) and connections to Service
ClusterIPs (kube-proxy's work: a Ready endpoint picked at random from the Service's
EndpointSlices) and to pod IPs, ending at the same in-process apps port-forward reaches
(backends.py, one instance per pod and port).

Names outside the cluster do not resolve: the simulator has no Internet.
"""

from __future__ import annotations

import contextlib
import ipaddress
import random
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubelesson.sim.backends import Backend
from kubelesson.sim.shell.files import CLUSTER_DOMAIN
from kubelesson.sim.store import Obj, Store

REFUSED = "refused"  # nothing listens, or a Service without endpoints (kube-proxy REJECT)
TIMEOUT = "timeout"  # nothing answers at all: packets are dropped
NDOTS = 5
SVC_SUFFIX = f".svc.{CLUSTER_DOMAIN}"
POD_SUFFIX = f".pod.{CLUSTER_DOMAIN}"


def is_ip(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Answer:
    name: str  # the name that resolved (fully qualified)
    addresses: tuple[str, ...]


class Network:
    def __init__(self, store: Store, namespace: str) -> None:
        self.store = store
        self.namespace = namespace

    # -- DNS -------------------------------------------------------------------------------
    def search_names(self, host: str) -> list[str]:
        """The names the resolver tries, in order (ndots:5 and the pod's search list)."""
        if host.endswith("."):
            return [host.rstrip(".")]
        search = [f"{self.namespace}{SVC_SUFFIX}", SVC_SUFFIX.lstrip("."), CLUSTER_DOMAIN]
        expanded = [f"{host}.{domain}" for domain in search]
        return expanded + [host] if host.count(".") < NDOTS else [host, *expanded]

    def lookup(self, host: str) -> Answer | None:
        host = host.lower()
        if is_ip(host):
            return Answer(host, (host,))
        for name in self.search_names(host):
            addresses = self._records(name)
            if addresses:
                return Answer(name, tuple(addresses))
        return None

    def resolve(self, host: str) -> str | None:
        answer = self.lookup(host)
        return answer.addresses[0] if answer else None

    def _records(self, fqdn: str) -> list[str]:
        if fqdn.endswith(POD_SUFFIX):  # k3s's CoreDNS answers `pods insecure`
            first = fqdn[: -len(POD_SUFFIX)].split(".")[0].replace("-", ".")
            return [first] if is_ip(first) else []
        if not fqdn.endswith(SVC_SUFFIX):
            return []
        parts = fqdn[: -len(SVC_SUFFIX)].split(".")
        if len(parts) == 2:
            return self._service_records(parts[1], parts[0])
        if len(parts) == 3:
            return [e for e in self._endpoint_ips(parts[2], parts[1], hostname=parts[0])]
        return []

    def _service_records(self, namespace: str, name: str) -> list[str]:
        svc = self.store.get("services", namespace, name)
        if svc is None:
            return []
        spec = svc.get("spec") or {}
        if spec.get("type") == "ExternalName":
            external = str(spec.get("externalName") or "")
            answer = self.lookup(external + ".") if external else None
            return list(answer.addresses) if answer else []
        if spec.get("clusterIP") in (None, "", "None"):  # headless: the endpoints' IPs
            return self._endpoint_ips(namespace, name)
        return [str(spec["clusterIP"])]

    def _endpoint_ips(self, namespace: str, service: str, hostname: str = "") -> list[str]:
        ips = []
        for endpoint in self._ready_endpoints(namespace, service):
            if hostname and endpoint.get("hostname") != hostname:
                continue
            ips += [str(a) for a in endpoint.get("addresses") or []]
        return ips

    # -- kube-proxy ------------------------------------------------------------------------
    def _slices(self, namespace: str, service: str) -> list[Obj]:
        slices, _ = self.store.list(
            "endpointslices.discovery.k8s.io", namespace,
            lambda s: (s["metadata"].get("labels") or {}).get(
                "kubernetes.io/service-name") == service)
        return slices

    def _ready_endpoints(self, namespace: str, service: str,
                         port_name: str | None = None) -> list[Obj]:
        """Ready endpoints (a missing condition counts as ready); when there are none, the
        serving terminating ones, as kube-proxy falls back to them. With `port_name`, each
        comes with `_port`, the number that port has in its slice."""
        ready: list[Obj] = []
        terminating: list[Obj] = []
        for slice_ in self._slices(namespace, service):
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

    def _service_with_ip(self, ip: str) -> Obj | None:
        services, _ = self.store.list(
            "services", None,
            lambda s: ip in ((s.get("spec") or {}).get("clusterIPs")
                             or [(s.get("spec") or {}).get("clusterIP")]))
        return services[0] if services else None

    def _pod_with_ip(self, ip: str) -> Obj | None:
        pods, _ = self.store.list(
            "pods", None, lambda p: (p.get("status") or {}).get("podIP") == ip)
        return pods[0] if pods else None

    def connect(self, ip: str, port: int) -> Backend | str:
        """The app a TCP connection to ip:port reaches, or REFUSED / TIMEOUT."""
        from kubelesson.sim.portforward import app_for

        svc = self._service_with_ip(ip)
        if svc is not None:
            return self._through_service(svc, port, app_for)
        if self._is_node(ip):
            return self._node_port(port, app_for)
        pod = self._pod_with_ip(ip)
        if pod is None:
            return TIMEOUT
        return self._pod_app(pod, port, app_for)

    def _is_node(self, ip: str) -> bool:
        nodes, _ = self.store.list("nodes")
        return any(a.get("address") == ip for n in nodes
                   for a in (n.get("status") or {}).get("addresses") or [])

    def _node_port(self, port: int, app_for: Any) -> Backend | str:
        """kube-proxy listens on every node for the NodePorts; nothing else does here."""
        services, _ = self.store.list("services", None, lambda s: any(
            p.get("nodePort") == port for p in (s.get("spec") or {}).get("ports") or []))
        if not services:
            return REFUSED
        svc = services[0]
        service_port = next(p for p in svc["spec"]["ports"] if p.get("nodePort") == port)
        return self._through_service(svc, int(service_port.get("port", 0)), app_for)

    def _through_service(self, svc: Obj, port: int, app_for: Any) -> Backend | str:
        meta, spec = svc["metadata"], svc.get("spec") or {}
        service_port = next((p for p in spec.get("ports") or []
                             if p.get("port") == port and p.get("protocol", "TCP") == "TCP"),
                            None)
        if service_port is None:
            return TIMEOUT  # no kube-proxy rule for that port: the packets go nowhere
        endpoints = self._ready_endpoints(meta["namespace"], meta["name"],
                                          str(service_port.get("name") or ""))
        if not endpoints:
            return REFUSED
        chosen = random.choice(endpoints)
        ref = chosen.get("targetRef") or {}
        pod = self.store.get("pods", str(ref.get("namespace") or meta["namespace"]),
                             str(ref.get("name", "")))
        if pod is None or ref.get("kind") != "Pod":
            return REFUSED
        return self._pod_app(pod, int(chosen["_port"]), app_for)

    @staticmethod
    def _pod_app(pod: Obj, port: int, app_for: Any) -> Backend | str:
        if (pod.get("status") or {}).get("phase") != "Running":
            return REFUSED
        app: Backend | None = app_for(pod, port)
        return app if app is not None else REFUSED


def exchange(app: Backend, request: bytes, *, timeout: float = 30.0) -> bytes:
    """Send one request to an app over a socket pair and read until it closes."""
    ours, theirs = socket.socketpair()
    ours.settimeout(timeout)

    def serve() -> None:
        try:
            app.serve(theirs)
        except Exception:  # an app bug ends this exchange only
            pass
        finally:
            theirs.close()

    thread = threading.Thread(target=serve, name="sim-shell-app", daemon=True)
    thread.start()
    chunks: list[bytes] = []
    try:
        ours.sendall(request)
        while chunk := ours.recv(65536):
            chunks.append(chunk)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            ours.shutdown(socket.SHUT_RDWR)
        ours.close()
        thread.join(timeout=2)
    return b"".join(chunks)


def parse_response(raw: bytes) -> tuple[str, Mapping[str, str], bytes] | None:
    """(status line, lower-cased headers, body) of an HTTP/1.x response."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.decode("iso-8859-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = headers.get("content-length")
    if length is not None and length.isdigit():
        body = body[: int(length)]
    return lines[0], headers, body
