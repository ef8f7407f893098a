"""The storage controllers of a k3s cluster, on the simulated controller manager (base.py):

* `VolumeBinder`, kube-controller-manager's persistentvolume-controller: binds claims to
  volumes; while a claim waits it says why every 15 s (its resync period), as the events a
  `describe pvc` shows: WaitForFirstConsumer until a pod's node is chosen, ExternalProvisioning
  while the provisioner works, ProvisioningFailed for a StorageClass that does not exist;
  it releases a volume whose claim went.
* `LocalPathProvisioner`, k3s's rancher.io/local-path: makes a volume `pvc-<claim uid>` in
  /var/lib/rancher/k3s/storage on the chosen node (Provisioning, ProvisioningSucceeded), and
  deletes it, its directory included, when its claim is gone and its reclaim policy is Delete.
* `Protection`, the pvc-protection and pv-protection controllers: a claim being deleted keeps
  its finalizer while a scheduled pod that has not finished uses it; a volume being deleted
  keeps its finalizer while it is Bound.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

from kubelesson.sim import timeutil
from kubelesson.sim.controllers.base import Controller, Key
from kubelesson.sim.storage.admission import PV_PROTECTION, PVC_PROTECTION
from kubelesson.sim.storage.binding import SELECTED_NODE, claim_class, claim_names
from kubelesson.sim.store import Conflict, Obj, WatchEvent

if TYPE_CHECKING:
    from kubelesson.sim.api.cluster import Cluster
    from kubelesson.sim.controllers.base import Manager
    from kubelesson.sim.storage.disks import NodeDisks

PVCS = "persistentvolumeclaims"
PVS = "persistentvolumes"
CLASSES = "storageclasses.storage.k8s.io"
RESYNC = 15.0  # --pvclaimbinder-sync-period
LOCAL_PATH = "rancher.io/local-path"
STORAGE_ROOT = "/var/lib/rancher/k3s/storage"
PROVISIONER_KEYS = ("volume.beta.kubernetes.io/storage-provisioner",
                    "volume.kubernetes.io/storage-provisioner")
_CLAIM, _VOLUME = "claim/", "volume/"
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def _claim_key(namespace: str, name: str) -> Key:
    return (namespace, _CLAIM + name)


def _volume_key(name: str) -> Key:
    return ("", _VOLUME + name)


def _notes(obj: Obj) -> dict[str, str]:
    return dict(obj["metadata"].get("annotations") or {})


def _claimed_by(volume: Obj) -> tuple[str, str, str] | None:
    ref = (volume.get("spec") or {}).get("claimRef")
    if not isinstance(ref, dict):
        return None
    return str(ref.get("namespace", "")), str(ref.get("name", "")), str(ref.get("uid", ""))


def _storage_quantity(text: object) -> float:
    """A storage quantity in bytes, for matching a claim's request against a volume."""
    units = {"Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50,
             "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}
    value = str(text or "0")
    for suffix in sorted(units, key=len, reverse=True):
        if value.endswith(suffix):
            try:
                return float(value[:-len(suffix)]) * units[suffix]
            except ValueError:
                return 0.0
    try:
        return float(value)
    except ValueError:
        return 0.0


class _Periodic(Controller):
    """A controller that looks at waiting objects again every RESYNC seconds: one timer per
    key, however many changes asked for a sync meanwhile, so repeated events stay one per
    period."""

    def __init__(self, cluster: Cluster, manager: Manager) -> None:
        super().__init__(cluster, manager)
        self._due: dict[Key, float] = {}
        self._last: dict[tuple[str, str], float] = {}

    def again(self, key: Key, after: float = RESYNC) -> None:
        now = time.monotonic()
        due = self._due.get(key)
        if due is not None and due > now:
            return
        self._due[key] = now + after
        self.manager.enqueue(self, key, after)

    def periodic_event(self, obj: Obj, reason: str, message: str, type_: str = "Normal") -> None:
        """An event at most once per period for the same reason (syncs that changes cause
        in between would otherwise repeat it)."""
        key = (str(obj["metadata"].get("uid")), reason)
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < RESYNC - 0.5:
            return
        self._last[key] = now
        self.record(obj, reason, message, type_)


class VolumeBinder(_Periodic):
    name = "persistentvolume-binder"
    component = "persistentvolume-controller"

    def keys_for(self, event: WatchEvent) -> Iterable[Key]:
        meta = event.object.get("metadata") or {}
        if event.resource == PVCS:
            if event.type == "DELETED":
                volume = (event.object.get("spec") or {}).get("volumeName")
                if volume:
                    yield _volume_key(str(volume))
            else:
                yield _claim_key(event.namespace, str(meta.get("name", "")))
        elif event.resource == PVS:
            yield _volume_key(str(meta.get("name", "")))
            claimed = _claimed_by(event.object)
            if claimed:
                yield _claim_key(claimed[0], claimed[1])
        elif event.resource == CLASSES:
            claims, _ = self.store.list(PVCS, None, lambda c: (c.get("status") or {}).get("phase") == "Pending")
            for claim in claims:
                yield _claim_key(claim["metadata"]["namespace"], claim["metadata"]["name"])

    def sync(self, namespace: str, name: str) -> float | None:
        if name.startswith(_VOLUME):
            self._sync_volume(name[len(_VOLUME):])
        elif name.startswith(_CLAIM):
            self._sync_claim(namespace, name[len(_CLAIM):])
        return None

    # -- claims ----------------------------------------------------------------------------
    def _sync_claim(self, namespace: str, name: str) -> None:
        claim = self.store.get(PVCS, namespace, name)
        if claim is None or claim["metadata"].get("deletionTimestamp"):
            return
        key = _claim_key(namespace, name)
        spec = claim.get("spec") or {}
        if (claim.get("status") or {}).get("phase") == "Bound":
            if self.store.get(PVS, "", str(spec.get("volumeName", ""))) is None:
                self._set_phase(PVCS, claim, "Lost")
                self.record(claim, "ClaimLost", "Bound claim has lost its PersistentVolume. Data "
                            "on the volume is lost!", "Warning")
            return
        volume = self._volume_for(claim)
        if volume is not None:
            self._bind(claim, volume)
            return
        if spec.get("volumeName"):
            self.again(key)  # pre-bound to a volume that does not exist (yet)
            return
        self._wait_or_provision(claim, key)

    def _volume_for(self, claim: Obj) -> Obj | None:
        """The volume made for this claim, the one it names, or an available one that fits."""
        uid = claim["metadata"]["uid"]
        namespace, name = claim["metadata"]["namespace"], claim["metadata"]["name"]
        wanted = str((claim.get("spec") or {}).get("volumeName") or "")
        volumes, _ = self.store.list(PVS)
        for volume in volumes:
            claimed = _claimed_by(volume)
            mine = claimed is not None and claimed[:2] == (namespace, name) and claimed[2] in ("", uid)
            if mine and wanted in ("", volume["metadata"]["name"]):
                return volume
        if wanted:
            named = self.store.get(PVS, "", wanted)
            return named if named is not None and _claimed_by(named) is None else None
        if self._delayed(claim) and not _notes(claim).get(SELECTED_NODE):
            return None
        return self._matching(claim, volumes)

    def _delayed(self, claim: Obj) -> bool:
        found = self.store.get(CLASSES, "", claim_class(claim))
        return found is not None and found.get("volumeBindingMode") == "WaitForFirstConsumer"

    @staticmethod
    def _matching(claim: Obj, volumes: list[Obj]) -> Obj | None:
        spec = claim.get("spec") or {}
        want = _storage_quantity(((spec.get("resources") or {}).get("requests") or {}).get("storage"))
        modes = set(spec.get("accessModes") or [])
        fits = [v for v in volumes if _claimed_by(v) is None
                and (v.get("status") or {}).get("phase") in ("Available", "Pending")
                and not v["metadata"].get("deletionTimestamp")
                and str((v.get("spec") or {}).get("storageClassName") or "") == claim_class(claim)
                and modes <= set((v.get("spec") or {}).get("accessModes") or [])
                and _storage_quantity(((v.get("spec") or {}).get("capacity") or {}).get("storage")) >= want]
        fits.sort(key=lambda v: _storage_quantity(((v.get("spec") or {}).get("capacity") or {}).get("storage")))
        return fits[0] if fits else None

    def _wait_or_provision(self, claim: Obj, key: Key) -> None:
        name = claim_class(claim)
        if not name:
            self.periodic_event(claim, "FailedBinding", "no persistent volumes available for this "
                                "claim and no storage class is set")
            self.again(key)
            return
        found = self.store.get(CLASSES, "", name)
        if found is None:
            self.periodic_event(claim, "ProvisioningFailed",
                                f'storageclass.storage.k8s.io "{name}" not found', "Warning")
            self.again(key)
            return
        if found.get("volumeBindingMode") == "WaitForFirstConsumer" and not _notes(claim).get(SELECTED_NODE):
            self.periodic_event(claim, "WaitForFirstConsumer",
                                "waiting for first consumer to be created before binding")
            self.again(key)
            return
        provisioner = str(found.get("provisioner") or "")
        claim = self._announce(claim, provisioner) or claim
        self.periodic_event(claim, "ExternalProvisioning", self._external_message(provisioner))
        self.again(key)

    def _external_message(self, provisioner: str) -> str:
        if self.cluster.options.minor >= 28:  # reworded by kubernetes PR #116821
            return (f"Waiting for a volume to be created either by the external provisioner "
                    f"'{provisioner}' or manually by the system administrator. If volume creation "
                    "is delayed, please verify that the provisioner is running and correctly "
                    "registered.")
        return (f'waiting for a volume to be created, either by external provisioner '
                f'"{provisioner}" or manually created by system administrator')

    def _announce(self, claim: Obj, provisioner: str) -> Obj | None:
        """The annotations that tell the external provisioner the claim is its to provision."""
        uid = claim["metadata"]["uid"]

        def change(current: Obj) -> Obj | None:
            if current["metadata"].get("uid") != uid:
                return None
            notes = current["metadata"].setdefault("annotations", {})
            if all(notes.get(k) == provisioner for k in PROVISIONER_KEYS):
                return None
            for k in PROVISIONER_KEYS:
                notes[k] = provisioner
            return current

        meta = claim["metadata"]
        return self.store.mutate(PVCS, meta["namespace"], meta["name"], change)

    def _bind(self, claim: Obj, volume: Obj) -> None:
        claim_meta, volume_meta = claim["metadata"], volume["metadata"]

        def bind_volume(current: Obj) -> Obj | None:
            if current["metadata"].get("uid") != volume_meta["uid"]:
                return None
            current["spec"]["claimRef"] = {
                "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "name": claim_meta["name"], "namespace": claim_meta["namespace"],
                "resourceVersion": claim_meta.get("resourceVersion", ""),
                "uid": claim_meta["uid"]}
            current.setdefault("status", {})
            current["status"]["phase"] = "Bound"
            current["status"]["lastPhaseTransitionTime"] = timeutil.rfc3339(timeutil.now())
            return current

        bound_volume = self.store.mutate(PVS, "", volume_meta["name"], bind_volume)
        if bound_volume is None:
            return

        def bind_claim(current: Obj) -> Obj | None:
            if current["metadata"].get("uid") != claim_meta["uid"]:
                return None
            notes = current["metadata"].setdefault("annotations", {})
            if not (current.get("spec") or {}).get("volumeName"):
                notes["pv.kubernetes.io/bound-by-controller"] = "yes"
                current["spec"]["volumeName"] = volume_meta["name"]
            notes["pv.kubernetes.io/bind-completed"] = "yes"
            spec = bound_volume.get("spec") or {}
            current["status"] = {"phase": "Bound", "accessModes": list(spec.get("accessModes") or []),
                                 "capacity": dict(spec.get("capacity") or {})}
            return current

        self.store.mutate(PVCS, claim_meta["namespace"], claim_meta["name"], bind_claim)

    # -- volumes ---------------------------------------------------------------------------
    def _sync_volume(self, name: str) -> None:
        volume = self.store.get(PVS, "", name)
        if volume is None:
            return
        phase = (volume.get("status") or {}).get("phase")
        claimed = _claimed_by(volume)
        if claimed is None:
            if phase in ("Pending", None):
                self._set_phase(PVS, volume, "Available")
            return
        namespace, claim_name, uid = claimed
        claim = self.store.get(PVCS, namespace, claim_name)
        if claim is not None and (not uid or claim["metadata"].get("uid") == uid):
            return
        if phase in ("Bound", "Available", "Pending"):
            self._set_phase(PVS, volume, "Released")

    def _set_phase(self, resource: str, obj: Obj, phase: str) -> None:
        uid = obj["metadata"]["uid"]

        def change(current: Obj) -> Obj | None:
            if current["metadata"].get("uid") != uid or (current.get("status") or {}).get("phase") == phase:
                return None
            current.setdefault("status", {})["phase"] = phase
            if resource == PVS:
                current["status"]["lastPhaseTransitionTime"] = timeutil.rfc3339(timeutil.now())
            return current

        meta = obj["metadata"]
        self.store.mutate(resource, meta.get("namespace", ""), meta["name"], change)


class LocalPathProvisioner(Controller):
    """k3s's local-path-provisioner (kube-system/local-path-provisioner)."""

    name = "local-path-provisioner"

    def __init__(self, cluster: Cluster, manager: Manager, disks: NodeDisks) -> None:
        super().__init__(cluster, manager)
        self.disks = disks
        pod = (f"local-path-provisioner-{''.join(random.choices(_ALPHABET, k=10))}-"
               f"{''.join(random.choices(_ALPHABET, k=5))}")
        # The identity external provisioners put in their events' source.
        self.component = f"{LOCAL_PATH}_{pod}_{uuid.uuid4()}"
        self._working: dict[str, float] = {}  # claim uid -> when the volume will be ready
        self.delay = max(cluster.options.creating_seconds, 0.05) * 2

    def keys_for(self, event: WatchEvent) -> Iterable[Key]:
        meta = event.object.get("metadata") or {}
        if event.type == "DELETED":
            return
        phase = (event.object.get("status") or {}).get("phase")
        notes = meta.get("annotations") or {}
        if event.resource == PVCS and notes.get(PROVISIONER_KEYS[1]) == LOCAL_PATH and phase == "Pending":
            yield _claim_key(event.namespace, str(meta.get("name", "")))
        elif event.resource == PVS and phase == "Released":
            yield _volume_key(str(meta.get("name", "")))

    def sync(self, namespace: str, name: str) -> float | None:
        if name.startswith(_CLAIM):
            return self._provision(namespace, name[len(_CLAIM):])
        if name.startswith(_VOLUME):
            self._delete(name[len(_VOLUME):])
        return None

    def _provision(self, namespace: str, name: str) -> float | None:
        claim = self.store.get(PVCS, namespace, name)
        if claim is None or claim["metadata"].get("deletionTimestamp"):
            return None
        if (claim.get("status") or {}).get("phase") != "Pending" or claim.get("spec", {}).get("volumeName"):
            return None
        uid = str(claim["metadata"]["uid"])
        volume_name = f"pvc-{uid}"
        if self.store.get(PVS, "", volume_name) is not None:
            return None
        node = _notes(claim).get(SELECTED_NODE, "")
        ready_at = self._working.get(uid)
        now = time.monotonic()
        if ready_at is None:
            modes = set((claim.get("spec") or {}).get("accessModes") or [])
            if not modes <= {"ReadWriteOnce", "ReadWriteOncePod"}:
                self.record(claim, "ProvisioningFailed", f'failed to provision volume with '
                            f'StorageClass "{claim_class(claim)}": NodePath only supports '
                            "ReadWriteOnce and ReadWriteOncePod (1.22+) access modes", "Warning")
                return RESYNC
            if not node:
                self.record(claim, "ProvisioningFailed", f'failed to provision volume with '
                            f'StorageClass "{claim_class(claim)}": configuration error, no node '
                            "was specified", "Warning")
                return RESYNC
            self.record(claim, "Provisioning", "External provisioner is provisioning volume for "
                        f'claim "{namespace}/{name}"')
            self._working[uid] = now + self.delay  # the helper pod creates the directory
            return self.delay
        if now < ready_at:
            return ready_at - now
        del self._working[uid]
        self._create_volume(claim, volume_name, node)
        return None

    def _create_volume(self, claim: Obj, volume_name: str, node: str) -> None:
        meta = claim["metadata"]
        spec = claim.get("spec") or {}
        path = f"{STORAGE_ROOT}/{volume_name}_{meta['namespace']}_{meta['name']}"
        self.disks.path(node, path).mkdir(parents=True, exist_ok=True)
        found = self.store.get(CLASSES, "", claim_class(claim)) or {}
        volume: Obj = {
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": volume_name, "annotations": {
                "local.path.provisioner/selected-node": node,
                "pv.kubernetes.io/provisioned-by": LOCAL_PATH}},
            "spec": {
                "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
                "capacity": {"storage": str(((spec.get("resources") or {}).get("requests") or {})
                                            .get("storage", "0"))},
                "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                             "name": meta["name"], "namespace": meta["namespace"],
                             "resourceVersion": meta.get("resourceVersion", ""), "uid": meta["uid"]},
                "hostPath": {"path": path, "type": "DirectoryOrCreate"},
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}},
                "persistentVolumeReclaimPolicy": found.get("reclaimPolicy") or "Delete",
                "storageClassName": claim_class(claim),
                "volumeMode": spec.get("volumeMode") or "Filesystem",
            },
        }
        try:
            self.store.create(PVS, volume)
        except Conflict:
            return
        self.record(claim, "ProvisioningSucceeded", f"Successfully provisioned volume {volume_name}")

    def _delete(self, name: str) -> None:
        volume = self.store.get(PVS, "", name)
        if volume is None or (volume.get("status") or {}).get("phase") != "Released":
            return
        spec = volume.get("spec") or {}
        if (_notes(volume).get("pv.kubernetes.io/provisioned-by") != LOCAL_PATH
                or spec.get("persistentVolumeReclaimPolicy") != "Delete"):
            return
        node = _notes(volume).get("local.path.provisioner/selected-node", "")
        path = str((spec.get("hostPath") or {}).get("path") or "")
        if node and path.startswith(STORAGE_ROOT + "/"):
            self.disks.remove(node, path)  # the helper pod's `rm -rf`
        self.store.delete(PVS, "", name)


class Protection(Controller):
    """pvc-protection and pv-protection."""

    name = "storage-protection"

    def keys_for(self, event: WatchEvent) -> Iterable[Key]:
        meta = event.object.get("metadata") or {}
        if event.resource == PVCS and event.type != "DELETED" and meta.get("deletionTimestamp"):
            yield _claim_key(event.namespace, str(meta.get("name", "")))
        elif event.resource == PVS and event.type != "DELETED" and meta.get("deletionTimestamp"):
            yield _volume_key(str(meta.get("name", "")))
        elif event.resource == "pods":
            for volume in (event.object.get("spec") or {}).get("volumes") or []:
                claim = (volume or {}).get("persistentVolumeClaim") or {}
                if claim.get("claimName"):
                    yield _claim_key(event.namespace, str(claim["claimName"]))

    def sync(self, namespace: str, name: str) -> float | None:
        if name.startswith(_CLAIM):
            claim = self.store.get(PVCS, namespace, name[len(_CLAIM):])
            if claim is not None and claim["metadata"].get("deletionTimestamp") and not self._in_use(claim):
                self._drop(PVCS, claim, PVC_PROTECTION)
        elif name.startswith(_VOLUME):
            volume = self.store.get(PVS, "", name[len(_VOLUME):])
            if (volume is not None and volume["metadata"].get("deletionTimestamp")
                    and (volume.get("status") or {}).get("phase") != "Bound"):
                self._drop(PVS, volume, PV_PROTECTION)
        return None

    def _in_use(self, claim: Obj) -> bool:
        """A pod on a node that has not finished and mounts the claim (podUsesPVC)."""
        name = claim["metadata"]["name"]

        def uses(pod: Obj) -> bool:
            spec = pod.get("spec") or {}
            if not spec.get("nodeName") or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                return False
            return any(((v or {}).get("persistentVolumeClaim") or {}).get("claimName") == name
                       for v in spec.get("volumes") or [])

        pods, _ = self.store.list("pods", claim["metadata"]["namespace"], uses)
        return bool(pods)

    def _drop(self, resource: str, obj: Obj, finalizer: str) -> None:
        uid = obj["metadata"]["uid"]

        def change(current: Obj) -> Obj | None:
            finalizers = list(current["metadata"].get("finalizers") or [])
            if current["metadata"].get("uid") != uid or finalizer not in finalizers:
                return None
            finalizers.remove(finalizer)
            if finalizers:
                current["metadata"]["finalizers"] = finalizers
            else:
                current["metadata"].pop("finalizers", None)
            return current

        meta = obj["metadata"]
        self.store.mutate(resource, meta.get("namespace", ""), meta["name"], change)


class SchedulerNudge(Controller):
    """A claim, a volume or a StorageClass that appears or changes may be what an
    unschedulable pod waits for: the scheduler tries its waiting pods again (as
    kube-scheduler's queueing hints move them back to the active queue)."""

    name = "scheduler-nudge"

    def keys_for(self, event: WatchEvent) -> Iterable[Key]:
        if event.resource in (PVCS, PVS, CLASSES):
            yield ("", "again")

    def sync(self, namespace: str, name: str) -> float | None:
        # Only the pods with claims: the other plugins' rejections do not change with these.
        self.cluster.lifecycle.retry_unschedulable(lambda pod: bool(claim_names(pod)))
        return None
