"""Volumes whose files are on a node's disk (disks.py): hostPath, emptyDir, and the
persistentVolumeClaim volumes of local-path PersistentVolumes. The simulated kubelet asks
`VolumeHost.source` while it sets a pod's volumes up (podfs.plan), and `pod_gone` when the
pod is gone, which removes its emptyDir volumes with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubelesson.sim.kubelet.podfs import FileSource, HostDirectory, clean_path
from kubelesson.sim.storage.disks import NodeDisks
from kubelesson.sim.store import Obj, Store

PVCS = "persistentvolumeclaims"
PVS = "persistentvolumes"
KUBELET_PODS = "/var/lib/kubelet/pods"
Setup = tuple[FileSource | None, str | None]  # the files, or why they cannot be set up


def _check_host_path(where: Path, node_path: str, kind: str) -> str | None:
    """The kubelet's hostPath type check (pkg/volume/hostpath): create what the *OrCreate
    kinds create, and word a mismatch as it does."""
    if kind == "DirectoryOrCreate" and not where.exists():
        where.mkdir(mode=0o755, parents=True, exist_ok=True)
    elif kind == "FileOrCreate" and not where.exists():
        if not where.parent.is_dir():
            return f"open {node_path}: no such file or directory"
        where.touch(mode=0o644)
    if kind in ("DirectoryOrCreate", "Directory") and not where.is_dir():
        return f"hostPath type check failed: {node_path} is not a directory"
    if kind in ("FileOrCreate", "File") and not where.is_file():
        return f"hostPath type check failed: {node_path} is not a file"
    described = {"Socket": "a socket file", "CharDevice": "a character device",
                 "BlockDevice": "a block device"}
    if kind in described:  # the simulated nodes have no sockets or device files
        return f"hostPath type check failed: {node_path} is not {described[kind]}"
    if kind not in ("", "DirectoryOrCreate", "Directory", "FileOrCreate", "File"):
        return f"{kind} is an invalid volume type"
    if not kind and not where.exists():
        # No type: the container runtime creates a missing path as a directory.
        where.mkdir(mode=0o755, parents=True, exist_ok=True)
    return None


class VolumeHost:
    """The node-disk volumes of one simulated cluster."""

    def __init__(self, store: Store, disks: NodeDisks) -> None:
        self.store = store
        self.disks = disks

    def handles(self, volume: Mapping[str, Any]) -> bool:
        return any(isinstance(volume.get(kind), Mapping)
                   for kind in ("hostPath", "emptyDir", "persistentVolumeClaim"))

    def source(self, pod: Obj, volume: Mapping[str, Any]) -> Setup:
        node = str((pod.get("spec") or {}).get("nodeName") or "")
        if isinstance(volume.get("hostPath"), Mapping):
            return self._host_path(node, volume["hostPath"])
        if isinstance(volume.get("emptyDir"), Mapping):
            uid = str(pod["metadata"].get("uid", ""))
            where = self.disks.path(node, self.empty_dir(uid, str(volume.get("name", ""))))
            where.mkdir(parents=True, exist_ok=True)
            return HostDirectory(where), None
        claim = volume.get("persistentVolumeClaim") or {}
        return self._claim(node, str(pod["metadata"].get("namespace") or "default"),
                           str(claim.get("claimName") or ""))

    @staticmethod
    def empty_dir(uid: str, name: str) -> str:
        """Where the kubelet keeps a pod's emptyDir volume on its node."""
        return f"{KUBELET_PODS}/{uid}/volumes/kubernetes.io~empty-dir/{name}"

    def _host_path(self, node: str, source: Mapping[str, Any]) -> Setup:
        node_path = clean_path(str(source.get("path") or "/"))
        where = self.disks.path(node, node_path)
        try:
            problem = _check_host_path(where, node_path, str(source.get("type") or ""))
        except OSError as exc:
            return None, f"{exc.strerror or exc}: {node_path}"
        return (None, problem) if problem else (HostDirectory(where), None)

    def _claim(self, node: str, namespace: str, name: str) -> Setup:
        claim = self.store.get(PVCS, namespace, name)
        if claim is None:
            return None, f'persistentvolumeclaim "{name}" not found'
        volume_name = str((claim.get("spec") or {}).get("volumeName") or "")
        volume = self.store.get(PVS, "", volume_name) if volume_name else None
        if volume is None:
            phase = (claim.get("status") or {}).get("phase", "")
            return None, (f'PVC {namespace}/{name} has non-bound phase ("{phase}") or empty '
                          f'pvc.Spec.VolumeName ("{volume_name}")')
        spec = volume.get("spec") or {}
        local = spec.get("hostPath") or spec.get("local")
        if not isinstance(local, Mapping):
            return None, f'volume "{volume_name}" is of a kind the simulated nodes cannot mount'
        return self._host_path(node, {"path": local.get("path"),
                                      "type": local.get("type", "DirectoryOrCreate")})

    def pod_gone(self, pod: Obj) -> None:
        """The pod's directory on its node goes with it, its emptyDir volumes included."""
        node = str((pod.get("spec") or {}).get("nodeName") or "")
        uid = str(pod["metadata"].get("uid", ""))
        if node and uid:
            self.disks.remove(node, f"{KUBELET_PODS}/{uid}")
