"""Connections from one simulated pod to another: cluster DNS names and ClusterIPs of
Services (kube-proxy picks a ready endpoint), and pod IPs. The failures are worded as Go's
net package words them, which is what a Go program such as traQ logs: an unknown name
(`lookup mariadb on 10.43.0.10:53: no such host`), a Service without ready endpoints or a
port nothing listens on (`connect: connection refused`).
"""

from __future__ import annotations

import contextlib
import socket
import threading

from kubelesson.sim.kubelet.backends import Backend, serve_client
from kubelesson.sim.network.dataplane import TIMEOUT, for_store
from kubelesson.sim.network.dns import CLUSTER_DNS, Resolver, is_ip
from kubelesson.sim.store import Store


class DialError(Exception):
    """The connection failed; str() is Go's error text (`dial tcp ...`)."""


class ClusterNetwork:
    """The cluster's network (network/) as a Go program dials it."""

    def __init__(self, store: Store) -> None:
        self.dataplane = for_store(store)

    def dial(self, namespace: str, host: str, port: int, client_ip: str) -> socket.socket:
        """A connected socket to what answers at host:port, seen from a pod of `namespace`
        whose address is `client_ip`; DialError when the connection fails."""
        if is_ip(host):
            ip = host
            if self.dataplane.service_with_ip(ip) is None and self.dataplane.pod_with_ip(ip) is None:
                raise DialError(f"dial tcp {ip}:{port}: connect: no route to host")
        else:
            found = Resolver(self.dataplane, namespace).resolve(host)
            if found is None:
                raise DialError(f"dial tcp: lookup {host} on {CLUSTER_DNS}: no such host")
            ip = found
        backend = self.dataplane.connect(ip, port)
        if backend == TIMEOUT:
            raise DialError(f"dial tcp {ip}:{port}: i/o timeout")
        if isinstance(backend, str):
            raise DialError(f"dial tcp {ip}:{port}: connect: connection refused")
        return _socket_to(backend, client_ip, port)


def _socket_to(backend: Backend, client_ip: str, port: int) -> socket.socket:
    """Our end of a socket pair whose other end the program serves (told the client's
    address, when it wants to know it)."""
    ours, theirs = socket.socketpair()

    def serve() -> None:
        try:
            serve_client(backend, theirs, client_ip)
        finally:
            with contextlib.suppress(OSError):
                theirs.close()

    threading.Thread(target=serve, name=f"pod-net-{port}", daemon=True).start()
    return ours
