"""Starting and stopping one simulator in-process: `running()` and `SimHandle`."""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kubelesson.sim import controllers
from kubelesson.sim.api.cluster import Cluster
from kubelesson.sim.api.server import SimHTTPServer
from kubelesson.sim.network import hostports
from kubelesson.sim.network.hostports import HostPorts
from kubelesson.sim.options import SimOptions
from kubelesson.sim.store import Store

CONTEXT_NAME = "kubelesson-sim"


class PortInUse(Exception):
    """The requested port is taken."""

    def __init__(self, port: int) -> None:
        super().__init__(f"port {port} on 127.0.0.1 is already in use")
        self.port = port


def kubeconfig_text(url: str) -> str:
    """A kubeconfig for plain HTTP: no TLS, an empty user, namespace default."""
    return (
        "apiVersion: v1\n"
        "kind: Config\n"
        "clusters:\n"
        f"- name: {CONTEXT_NAME}\n"
        "  cluster:\n"
        f"    server: {url}\n"
        "contexts:\n"
        f"- name: {CONTEXT_NAME}\n"
        "  context:\n"
        f"    cluster: {CONTEXT_NAME}\n"
        f"    user: {CONTEXT_NAME}\n"
        "    namespace: default\n"
        f"current-context: {CONTEXT_NAME}\n"
        "preferences: {}\n"
        "users:\n"
        f"- name: {CONTEXT_NAME}\n"
        "  user: {}\n"
    )


def write_kubeconfig(state_dir: Path, url: str) -> Path:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "kubeconfig"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(kubeconfig_text(url))
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    return path


class SimHandle:
    """A running simulator: where it listens and the environment kubectl needs."""

    def __init__(self, server: SimHTTPServer, cluster: Cluster, state_dir: Path,
                 manager: controllers.Manager | None = None,
                 host_ports: HostPorts | None = None) -> None:
        self._server = server
        self.cluster = cluster
        self.controllers = manager
        # Lesson 5: the cluster's host ports (80, 8080 ...) -> the 127.0.0.1 ports serving them.
        self.host_ports_server = host_ports
        self.host_ports: dict[int, int] = dict(host_ports.local) if host_ports else {}
        self.port: int = server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.state_dir = state_dir
        self.kubeconfig = write_kubeconfig(state_dir, self.url)
        self.cache_dir = state_dir / "cache"
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.2},
            name=f"kubelesson-sim-{self.port}", daemon=True,
        )

    @property
    def store(self) -> Store:
        return self.cluster.store

    @property
    def options(self) -> SimOptions:
        return self.cluster.options

    def env(self) -> dict[str, str]:
        return {"KUBECONFIG": str(self.kubeconfig), "KUBECACHEDIR": str(self.cache_dir)}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, wake watches, close connections, join every thread we started."""
        self._server.shutdown()
        if self.host_ports_server is not None:
            self.host_ports_server.stop()
        if self.controllers is not None:
            self.controllers.stop()
        self.cluster.close()
        self._server.close_connections()
        self._server.wait_handlers(timeout=5)
        self._server.server_close()
        self._thread.join(timeout=5)


def start(state_dir: Path, *, options: SimOptions | None = None, port: int = 0) -> SimHandle:
    cluster = Cluster(options or SimOptions(), state_dir=Path(state_dir))
    try:
        server = SimHTTPServer(port, cluster)
    except OSError as exc:
        cluster.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(port) from None
        raise
    manager = controllers.start(cluster)
    if manager.garbage is not None:
        server.delete_hook = manager.garbage.before_delete
    try:
        host_ports = hostports.start(cluster)
    except BaseException:
        manager.stop()
        cluster.close()
        server.server_close()
        raise
    handle = SimHandle(server, cluster, Path(state_dir), manager, host_ports)
    handle.start()
    return handle


@contextmanager
def running(state_dir: Path, *, options: SimOptions | None = None,
            port: int = 0) -> Iterator[SimHandle]:
    """Run a simulator on a background thread for the duration of the block."""
    handle = start(state_dir, options=options, port=port)
    try:
        yield handle
    finally:
        handle.stop()
