"""The simulated kube-controller-manager: Deployment, ReplicaSet, StatefulSet, Endpoints
and EndpointSlices, and garbage collection, driven by the store's change notifications
(see base.py).

`start(cluster)` installs the apps admission hook (defaults and validation) on the store
and starts the controllers; `Manager.stop()` ends them. Imports happen inside `start` so
that modules such as the printers can use `controllers.selectors` without a cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kubelesson.sim.api.cluster import Cluster
    from kubelesson.sim.controllers.base import Manager

__all__ = ["Manager", "start"]


def start(cluster: Cluster) -> Manager:
    from kubelesson.sim.controllers import k3s
    from kubelesson.sim.controllers.admission import AppsAdmission
    from kubelesson.sim.controllers.base import Manager
    from kubelesson.sim.controllers.deployment import DeploymentController
    from kubelesson.sim.controllers.endpoints import EndpointsController
    from kubelesson.sim.controllers.garbage import GarbageCollector
    from kubelesson.sim.controllers.replicaset import ReplicaSetController
    from kubelesson.sim.controllers.statefulset import StatefulSetController

    cluster.store.admission = AppsAdmission(cluster.options)
    manager = Manager(cluster)
    for kind in (DeploymentController, ReplicaSetController, StatefulSetController,
                 EndpointsController):
        manager.add(kind(cluster, manager))
    manager.garbage = GarbageCollector(cluster, manager)
    manager.add(manager.garbage)
    from kubelesson.sim import storage  # lesson 7: claims, volumes, local-path

    storage.install(cluster, manager)
    k3s.add(cluster, manager)  # lesson 5: ServiceLB, DaemonSets, traefik (controllers/k3s.py)
    manager.start()
    k3s.install(cluster)
    return manager
