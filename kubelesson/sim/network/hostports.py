"""The host's ports of the simulated k3d cluster (`k3d cluster create ... --port
"80:80@loadbalancer" --port "8080:8080@loadbalancer"`), served on free local ports.

On a real k3d machine, host port 8080 is published by Docker to the cluster's serverlb
container, whose nginx passes each connection to port 8080 of one of the nodes, where the
svclb pod of the LoadBalancer Service holding that port sends it on to the Service's
cluster IP and kube-proxy to one of its ready pods. Ports 80 and 8080 are privileged or
taken on many machines, so the simulator listens for each of the cluster's host ports on a
port of 127.0.0.1 chosen when it starts (or pinned with `--host-port 8080=18080`), and
publishes which is which in the ConfigMap `kubelesson-sim-host-ports` in kube-system
(`data: {"80": "41234", "8080": "41235"}`): the simulator's own object, which a real
cluster does not have.

A connection to such a port goes, like nginx's, to the next node (round robin) that runs a
ready svclb pod for the port, then to a random ready endpoint of that pod's Service, and
is handed to the program listening there (the same one a port-forward reaches; for port
80 that is traefik, ingress_routing.py). When nothing holds the port, the Service has no
ready endpoint, or nothing listens on the target port, the connection is accepted and
closed at once: what k3d's serverlb does when every node refuses (curl: "Empty reply from
server"). The listeners bind 127.0.0.1 only and stop with the simulator.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import threading

from kubelesson.sim.api.cluster import Cluster
from kubelesson.sim.api.errors import ApiError
from kubelesson.sim.api.resources import find
from kubelesson.sim.controllers.base import is_pod_ready
from kubelesson.sim.controllers.placement import host_ports
from kubelesson.sim.controllers.servicelb import LB_NAMESPACE, SVC_NAME, SVC_NAMESPACE
from kubelesson.sim.kubelet.backends import Backend
from kubelesson.sim.network.dataplane import Dataplane, for_store, service_port
from kubelesson.sim.store import Obj

log = logging.getLogger(__name__)

CONFIGMAP = "kubelesson-sim-host-ports"
ACCEPT_WAKE_SECONDS = 0.2  # how often an idle listener looks whether it must stop
JOIN_SECONDS = 2.0
MAX_CONNECTIONS = 256  # per host port; more at once is a runaway client


class HostPortInUse(Exception):
    """A pinned local port for a host port is taken."""

    def __init__(self, host_port: int, local_port: int) -> None:
        super().__init__(f"port {local_port} on 127.0.0.1 (for host port {host_port}) is "
                         "already in use")
        self.host_port = host_port
        self.local_port = local_port


class HostPorts:
    """The listeners of one simulated cluster's host ports."""

    def __init__(self, cluster: Cluster, dataplane: Dataplane, wanted: dict[int, int]) -> None:
        self.cluster = cluster
        self.dataplane = dataplane
        self.wanted = dict(wanted)
        self.local: dict[int, int] = {}  # host port -> the local port serving it
        self._listeners: list[tuple[int, socket.socket]] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._connections: set[socket.socket] = set()

    # -- life -------------------------------------------------------------------------
    def start(self) -> None:
        try:
            for host_port, local_port in sorted(self.wanted.items()):
                self._listeners.append((host_port, self._bind(host_port, local_port)))
        except BaseException:
            self._close_listeners()
            raise
        for host_port, listener in self._listeners:
            self.local[host_port] = int(listener.getsockname()[1])
            self._spawn(f"kubelesson-sim-hostport-{host_port}", self._accept_loop,
                        host_port, listener)
        self._publish()

    def _bind(self, host_port: int, local_port: int) -> socket.socket:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.bind(("127.0.0.1", local_port))
            listener.listen(64)
            listener.settimeout(ACCEPT_WAKE_SECONDS)
        except OSError as exc:
            listener.close()
            if exc.errno == errno.EADDRINUSE:
                raise HostPortInUse(host_port, local_port) from None
            raise
        return listener

    def stop(self) -> None:
        self._stop.set()
        self._close_listeners()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(JOIN_SECONDS)

    def _close_listeners(self) -> None:
        for _, listener in self._listeners:
            with contextlib.suppress(OSError):
                listener.close()

    def _spawn(self, name: str, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)  # type: ignore[arg-type]
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _publish(self) -> None:
        """The ConfigMap that says which local port serves which host port."""
        rt = find("", "v1", "configmaps")
        assert rt is not None
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
            "name": CONFIGMAP, "namespace": LB_NAMESPACE,
            "labels": {"app.kubernetes.io/managed-by": "kubelesson-sim"},
            "annotations": {"kubelesson.io/description": (
                "Written by the kubelesson simulator (a real cluster has no such object): "
                "each key is a host port of the simulated k3d cluster, its value the port "
                "on 127.0.0.1 that serves it.")}},
            "data": {str(h): str(p) for h, p in sorted(self.local.items())}}
        if self.local:
            with contextlib.suppress(ApiError):
                self.cluster.create(rt, LB_NAMESPACE, body)

    # -- connections --------------------------------------------------------------------
    def _accept_loop(self, host_port: int, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed: the simulator stops
            conn.settimeout(None)
            with self._lock:
                if len(self._connections) >= MAX_CONNECTIONS or self._stop.is_set():
                    conn.close()
                    continue
                self._connections.add(conn)
            self._spawn(f"kubelesson-sim-hostport-{host_port}-conn", self._serve, host_port,
                        conn)

    def _serve(self, host_port: int, conn: socket.socket) -> None:
        try:
            app = self.route(host_port)
            if app is not None:
                app.serve(conn)
        except Exception:  # a program's bug ends this connection, never the listener
            log.exception("host port %s: the connection failed", host_port)
        finally:
            with self._lock:
                self._connections.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()

    def route(self, host_port: int) -> Backend | None:
        """The program a new connection to `host_port` reaches, None when it is refused."""
        holders = self.holders(host_port)
        if not holders:
            return None
        pod = holders[self.dataplane.next_turn() % len(holders)]
        labels = pod["metadata"].get("labels") or {}
        service = self.cluster.store.get("services", labels.get(SVC_NAMESPACE, ""),
                                         labels.get(SVC_NAME, ""))
        svc_port = service and service_port(service, port=host_port)
        if not service or not svc_port:
            return None
        destination = self.dataplane.to_service(service, svc_port)
        return destination.app if destination is not None else None

    def holders(self, host_port: int) -> list[Obj]:
        """The ready svclb pods holding `host_port`, one per node, in node order."""
        pods, _ = self.cluster.store.list("pods", LB_NAMESPACE)
        found = [p for p in pods if (p["metadata"].get("labels") or {}).get(SVC_NAME)
                 and (p.get("spec") or {}).get("nodeName") and is_pod_ready(p)
                 and not p["metadata"].get("deletionTimestamp")
                 and (p.get("status") or {}).get("phase") == "Running"
                 and any(proto == "TCP" and port == host_port
                         for proto, _, port in host_ports(p))]
        return sorted(found, key=lambda p: p["spec"]["nodeName"])


def start(cluster: Cluster) -> HostPorts:
    """The cluster's data plane (traefik's router on the traefik pods' `web` port) and its
    host ports, listening. Raises HostPortInUse for a pinned local port that is taken."""
    from kubelesson.sim.controllers.traefik import WEB_PORT, allows_empty_services, release
    from kubelesson.sim.network.ingress import TraefikPing, TraefikRouter

    dataplane = for_store(cluster.store)
    allow_empty = allows_empty_services(cluster.options.minor)
    ping_port = release(cluster.options.minor).traefik_port  # its probes' /ping (prober.py)

    def traefik(plane: Dataplane, pod: Obj, port: int) -> Backend | None:
        if port == ping_port:
            return TraefikPing(plane, pod)
        return TraefikRouter(plane, pod, allow_empty=allow_empty) if port == WEB_PORT else None

    dataplane.register("mirrored-library-traefik", traefik)
    ports = HostPorts(cluster, dataplane, cluster.options.host_port_map())
    ports.start()
    return ports
