"""The pod network as a process inside a simulated container sees it: cluster DNS and
connections to Service ClusterIPs, node ports and pod IPs (network/dns.py and
network/dataplane.py), and the HTTP exchanges wget and redis-cli make over them.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Mapping

from kubelesson.sim.kubelet.backends import Backend
from kubelesson.sim.network.dataplane import REFUSED, TIMEOUT, for_store
from kubelesson.sim.network.dns import Answer, Resolver, is_ip
from kubelesson.sim.store import Store

__all__ = ["REFUSED", "TIMEOUT", "Answer", "Network", "exchange", "is_ip", "parse_response"]


class Network:
    """The cluster's network as the processes of one pod see it: its resolver and kube-proxy."""

    def __init__(self, store: Store, namespace: str) -> None:
        self.store = store
        self.namespace = namespace
        self.dataplane = for_store(store)
        self.resolver = Resolver(self.dataplane, namespace)

    def search_names(self, host: str) -> list[str]:
        return self.resolver.search_names(host)

    def lookup(self, host: str) -> Answer | None:
        return self.resolver.lookup(host)

    def resolve(self, host: str) -> str | None:
        return self.resolver.resolve(host)

    def connect(self, ip: str, port: int) -> Backend | str:
        """The app a TCP connection to ip:port reaches, or REFUSED / TIMEOUT."""
        return self.dataplane.connect(ip, port)


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
