"""Storage for the simulated cluster (lesson 7): the nodes' disks (disks.py), the volumes on
them (volumes.py), PersistentVolumeClaims, PersistentVolumes and k3s's `local-path`
StorageClass with their admission (admission.py), controllers (controllers.py), scheduling
(binding.py) and tables (printers.py).

`attach(cluster)` gives the simulated kubelet its node-disk volumes and the container
programs (apps/); `install(cluster, manager)` adds the admission, the StorageClass and the
controllers. Imports happen inside them: printers.py imports this package's printers, and
this package builds on the cluster and the controllers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kubelesson.sim.api.cluster import Cluster
    from kubelesson.sim.controllers.base import Manager

LOCAL_PATH_CLASS = {
    "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
    "metadata": {
        "name": "local-path",
        # As k3s's deploy controller applies its local-storage manifest.
        "annotations": {
            "defaultVolumeType": "local",
            "objectset.rio.cattle.io/id": "",
            "objectset.rio.cattle.io/owner-gvk": "k3s.cattle.io/v1, Kind=Addon",
            "objectset.rio.cattle.io/owner-name": "local-storage",
            "objectset.rio.cattle.io/owner-namespace": "kube-system",
            "storageclass.kubernetes.io/is-default-class": "true",
        },
        "labels": {"objectset.rio.cattle.io/hash": "183f35c65ffbc3064603f43f1580d8c68a2dabd4"},
    },
    "provisioner": "rancher.io/local-path",
    "reclaimPolicy": "Delete",
    "volumeBindingMode": "WaitForFirstConsumer",
}


def attach(cluster: Cluster) -> None:
    from kubelesson.sim.apps.runtime import AppRuntime
    from kubelesson.sim.storage.volumes import VolumeHost

    cluster.lifecycle.volumes = VolumeHost(cluster.store, cluster.disks)
    cluster.lifecycle.runtime = AppRuntime(cluster.lifecycle, cluster.disks)


def install(cluster: Cluster, manager: Manager) -> None:
    import copy

    from kubelesson.sim.storage.admission import StorageAdmission
    from kubelesson.sim.storage.controllers import (
        LocalPathProvisioner,
        Protection,
        SchedulerNudge,
        VolumeBinder,
    )

    admission = StorageAdmission(cluster.options, cluster.store.admission)
    admission.store = cluster.store
    cluster.store.admission = admission
    if cluster.store.get("storageclasses.storage.k8s.io", "", "local-path") is None:
        cluster.store.create("storageclasses.storage.k8s.io", copy.deepcopy(LOCAL_PATH_CLASS))
    manager.add(VolumeBinder(cluster, manager))
    manager.add(LocalPathProvisioner(cluster, manager, cluster.disks))
    manager.add(Protection(cluster, manager))
    manager.add(SchedulerNudge(cluster, manager))
