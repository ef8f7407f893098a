"""Cluster DNS as a pod sees it: CoreDNS's answers for Services (a ClusterIP, or a headless
Service's ready endpoints), for `<ip-with-dashes>.<ns>.pod.cluster.local` (k3s's CoreDNS
answers `pods insecure`) and ExternalName Services, through the pod's resolv.conf search
path (`<ns>.svc.cluster.local svc.cluster.local cluster.local`, `options ndots:5`).

Names outside the cluster never resolve: the simulator has no Internet.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from kubelesson.sim.network.dataplane import Dataplane

CLUSTER_DOMAIN = "cluster.local"
CLUSTER_DNS = "10.43.0.10:53"  # kube-dns's ClusterIP on k3s, as resolv.conf names it
NDOTS = 5
SVC_SUFFIX = f".svc.{CLUSTER_DOMAIN}"
POD_SUFFIX = f".pod.{CLUSTER_DOMAIN}"


def is_ip(text: str) -> bool:
    """A literal address (IPv4 or IPv6), which no resolver is asked about."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Answer:
    name: str  # the name that resolved (fully qualified)
    addresses: tuple[str, ...]


class Resolver:
    """The resolver of a pod in `namespace`."""

    def __init__(self, dataplane: Dataplane, namespace: str) -> None:
        self.dataplane = dataplane
        self.store = dataplane.store
        self.namespace = namespace

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
        if fqdn.endswith(POD_SUFFIX):
            first = fqdn[: -len(POD_SUFFIX)].split(".")[0].replace("-", ".")
            return [first] if is_ip(first) else []
        if not fqdn.endswith(SVC_SUFFIX):
            return []
        parts = fqdn[: -len(SVC_SUFFIX)].split(".")
        if len(parts) == 2:
            return self._service_records(parts[1], parts[0])
        if len(parts) == 3:
            return self._endpoint_ips(parts[2], parts[1], hostname=parts[0])
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
        return [str(address) for endpoint in self.dataplane.ready_endpoints(namespace, service)
                if not hostname or endpoint.get("hostname") == hostname
                for address in endpoint.get("addresses") or []]
