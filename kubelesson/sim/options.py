"""Tunable behaviour of one simulated cluster."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SimOptions:
    """Timings and identity of the simulated cluster.

    The defaults are short but non-zero so that clients really have to wait for the
    pod to converge, as they do on a real cluster.
    """

    pending_seconds: float = 0.3  # unscheduled Pending before a node is chosen
    creating_seconds: float = 0.7  # ContainerCreating (image pull + start)
    terminating_seconds: float = 1.0  # how long a deleted pod shows Terminating
    kube_version: str = "v1.32.4"  # what /version reports (drives the 1.32 dispatcher's choice)
    nodes_ready: bool = True  # False: no node is Ready, pods stay Pending
    backoff_seconds: float = 1.0  # ErrImagePull -> ImagePullBackOff, and crash back-off
    agents: int = 3  # agent nodes besides the one server node
    # As `k3d cluster create <cluster_name> --agents <agents>` names its nodes:
    # k3d-<name>-server-0, k3d-<name>-agent-0 ...
    cluster_name: str = "hands-on"
    watch_log_size: int = 10_000  # events kept for resourceVersion-based watch resumption
    # Connections, as kube-apiserver serves them: a new connection has header_timeout
    # (its ReadHeaderTimeout, 32 s) to send a request, a kept-alive one idle_timeout (its
    # IdleTimeout, 90 s) to send the next; a request being answered (a watch, a followed
    # log, a port-forward) has no limit. Past max_connections a new connection is answered
    # 429 with Retry-After at once, as the apiserver's max-in-flight filter does.
    header_timeout: float = 32.0
    idle_timeout: float = 90.0
    max_connections: int = 512
    event_ttl: float = 3600.0  # Events expire this long after their last change (--event-ttl)
    lifecycle_log_size: int = 10_000  # entries of /_sim/events kept (the oldest go first)
    # The watch history is compacted like etcd's (kube-apiserver --etcd-compaction-interval):
    # each time, what is older than the previous compaction goes; older resourceVersions
    # then answer 410 Gone.
    compaction_interval: float = 300.0
    # Resources (plurals) the simulated user may not create, answered 403 Forbidden as RBAC
    # would: to show how kubelesson reports a cluster where the learner lacks permissions.
    forbidden: tuple[str, ...] = ()
    # Lesson 5: the host ports of the k3d cluster (`--port "80:80@loadbalancer"`), each
    # served on 127.0.0.1: "80" on a free local port, "8080=18080" on that one
    # (network/hostports.py; the mapping is published in the ConfigMap kubelesson-sim-host-ports).
    host_ports: tuple[str, ...] = ("80", "8080")
    # k3s's `--disable`: "traefik" and/or "servicelb" leave those packaged parts out.
    disable: tuple[str, ...] = ()
    # Lesson 7: how long the mariadb image takes to initialise a new data directory before
    # it accepts connections (apps/mariadb/process.py); a restart on existing data takes a
    # fifth of it.
    database_init_seconds: float = 6.0
    # How long one second of a probe's initialDelaySeconds and periodSeconds lasts
    # (prober.py): 1 is real time; tests shorten it so packaged pods with probes (traefik)
    # become ready without a real 10 s period.
    probe_seconds: float = 1.0

    @property
    def minor(self) -> int:
        """The minor version number, e.g. 32 for v1.32.4 (0 if unparsable)."""
        parts = self.kube_version.lstrip("v").split(".")
        try:
            return int(parts[1])
        except (IndexError, ValueError):
            return 0

    def host_port_map(self) -> dict[int, int]:
        """{host port: local port, 0 for a free one} from `host_ports` (ValueError if bad)."""
        return parse_host_ports(self.host_ports)


def parse_host_ports(specs: tuple[str, ...] | list[str]) -> dict[int, int]:
    """`80` (a free local port) or `8080=18080` (pinned) -> {host port: local port or 0}."""
    mapping: dict[int, int] = {}
    for spec in specs:
        host, _, local = str(spec).partition("=")
        host_port = int(host)
        local_port = int(local) if local else 0
        if not 0 < host_port < 65536 or not 0 <= local_port < 65536:
            raise ValueError(f"not a port: {spec}")
        mapping[host_port] = local_port
    return mapping
