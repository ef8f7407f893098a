"""A container's root file system as its processes see it: the image's files (profiles.py),
the pod's volumes mounted over them (podfs.py), the files the kubelet writes into every
container (/etc/hosts, /etc/hostname, /etc/resolv.conf), and a writable layer holding
what the container's processes wrote (`wget -O file`, `echo > file`), which lives as long
as the container."""

from __future__ import annotations

import posixpath
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Literal

from kubelesson.sim.kubelet.podfs import Filesystem, clean_path, mounts_for
from kubelesson.sim.network.dns import CLUSTER_DOMAIN
from kubelesson.sim.shell.profiles import Profile

Kind = Literal["file", "dir"]
DNS_SERVICE_IP = "10.43.0.10"  # k3s's kube-dns ClusterIP
MAX_LAYERS = 512  # writable layers kept (the oldest containers' go first)

_layers_lock = threading.Lock()
_layers: OrderedDict[tuple[str, str], dict[str, bytes]] = OrderedDict()


def _layer(pod: Mapping[str, Any], container: str) -> dict[str, bytes]:
    key = (str((pod.get("metadata") or {}).get("uid", "")), container)
    with _layers_lock:
        layer = _layers.setdefault(key, {})
        _layers.move_to_end(key)
        while len(_layers) > MAX_LAYERS:
            _layers.popitem(last=False)
        return layer


def resolv_conf(namespace: str) -> bytes:
    """What the kubelet writes for dnsPolicy ClusterFirst on k3s."""
    return (f"search {namespace}.svc.{CLUSTER_DOMAIN} svc.{CLUSTER_DOMAIN} {CLUSTER_DOMAIN}\n"
            f"nameserver {DNS_SERVICE_IP}\noptions ndots:5\n").encode()


def hosts_file(ip: str, hostname: str) -> bytes:
    return ("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"
            "::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n"
            "fe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n"
            f"{ip}\t{hostname}\n").encode()


def pod_hostname(pod: Mapping[str, Any]) -> str:
    spec = pod.get("spec") or {}
    return str(spec.get("hostname") or (pod.get("metadata") or {}).get("name", ""))[:63]


class ContainerFiles:
    def __init__(self, pod: Mapping[str, Any], container: Mapping[str, Any],
                 profile: Profile) -> None:
        meta = pod.get("metadata") or {}
        status = pod.get("status") or {}
        hostname = pod_hostname(pod)
        image_files = dict(profile.files)
        image_files["/etc/hostname"] = f"{hostname}\n".encode()
        image_files["/etc/hosts"] = hosts_file(str(status.get("podIP", "")), hostname)
        image_files["/etc/resolv.conf"] = resolv_conf(str(meta.get("namespace", "default")))
        self._base = Filesystem(image_files, mounts_for(pod, container))
        self._dirs = set(profile.dirs) | {"/"}
        self._written = _layer(pod, str(container.get("name", "")))

    def read(self, path: str) -> bytes | None:
        path = clean_path(path)
        if path in self._written:
            return self._written[path]
        return self._base.read(path)

    def stat(self, path: str) -> Kind | None:
        path = clean_path(path)
        if path in self._written:
            return "file"
        kind = self._base.stat(path)
        if kind is not None:
            return kind
        below = path.rstrip("/") + "/"
        if path in self._dirs or any(d.startswith(below) for d in self._dirs) or any(
                w.startswith(below) for w in self._written):
            return "dir"
        return None

    def listdir(self, path: str) -> list[str]:
        """The names in a directory (the caller checked that it is one)."""
        path = clean_path(path)
        prefix = path.rstrip("/") + "/"
        names: set[str] = set()
        candidates = [*self._dirs, *self._written, *self._base.image_files]
        candidates += [m.path for m in self._base.mounts]
        for candidate in candidates:
            if candidate.startswith(prefix) and candidate != prefix:
                names.add(candidate[len(prefix):].split("/", 1)[0])
        for mount in self._base.mounts:
            if path == mount.path or path.startswith(mount.path.rstrip("/") + "/"):
                inner = path[len(mount.path):].strip("/")
                inner_prefix = inner + "/" if inner else ""
                for key in mount.files():
                    if key.startswith(inner_prefix) and key != inner:
                        names.add(key[len(inner_prefix):].split("/", 1)[0])
        return sorted(n for n in names if n)

    def write(self, path: str, data: bytes, *, append: bool = False) -> str | None:
        """Store a file; the errno text when it cannot be written."""
        path = clean_path(path)
        if self.stat(path) == "dir":
            return "Is a directory"
        if any(path == m.path or path.startswith(m.path.rstrip("/") + "/")
               for m in self._base.mounts):
            return "Read-only file system"  # configMap and secret volumes are read-only
        parent = posixpath.dirname(path)
        if self.stat(parent) != "dir":
            return "No such file or directory"
        old = self.read(path) if append else None
        self._written[path] = (old or b"") + data
        return None
