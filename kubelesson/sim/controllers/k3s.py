"""What k3s adds to a cluster for lesson 5, wired in one place: the networking admission
(node ports, Ingress and IngressClass rules), the DaemonSet controller, ServiceLB, traefik's
Ingress status, and the objects of the packaged traefik.

`--disable servicelb` and `--disable traefik` leave them out, as the k3s server flags do
(`k3d cluster create --k3s-arg "--disable=traefik@server:0"`): without ServiceLB a
LoadBalancer Service stays `<pending>`, as on kind.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from kubelesson.sim.api.errors import ApiError
from kubelesson.sim.api.networking import NetworkingAdmission
from kubelesson.sim.store import Admission, Obj

if TYPE_CHECKING:
    from kubelesson.sim.api.cluster import Cluster
    from kubelesson.sim.controllers.base import Manager


def _chain(first: Admission | None, second: Admission) -> Admission:
    def both(resource: str, old: Obj | None, new: Obj) -> None:
        if first is not None:
            first(resource, old, new)
        second(resource, old, new)

    return both


def add(cluster: Cluster, manager: Manager) -> None:
    """Before the manager starts: the admission and the controllers."""
    from kubelesson.sim.controllers.daemonset import DaemonSetController
    from kubelesson.sim.controllers.servicelb import ServiceLBController
    from kubelesson.sim.controllers.traefik import IngressStatusController

    cluster.store.admission = _chain(cluster.store.admission,
                                     NetworkingAdmission(cluster.store, cluster.options))
    manager.add(DaemonSetController(cluster, manager))
    if "servicelb" not in cluster.options.disable:
        manager.add(ServiceLBController(cluster, manager))
    if "traefik" not in cluster.options.disable:
        manager.add(IngressStatusController(cluster, manager))


def install(cluster: Cluster) -> None:
    """Once the controllers run: ServiceLB's ServiceAccount and the packaged traefik (what
    k3s's Helm chart creates)."""
    from kubelesson.sim.api.resources import find
    from kubelesson.sim.controllers.traefik import install as install_traefik

    if "servicelb" not in cluster.options.disable:
        rt = find("", "v1", "serviceaccounts")
        assert rt is not None
        with contextlib.suppress(ApiError):
            cluster.create(rt, "kube-system", {"apiVersion": "v1", "kind": "ServiceAccount",
                                               "metadata": {"name": "svclb"}})
    if "traefik" not in cluster.options.disable:
        install_traefik(cluster)
