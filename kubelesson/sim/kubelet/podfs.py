"""What the programs in a simulated container see on disk: the image's own files, with the
pod's volumes mounted over them.

The simulated kubelet (lifecycle.py) sets a pod's volumes up before it pulls images, as a
real kubelet does: `plan()` says which volume cannot be set up and why (a configMap volume
naming a ConfigMap that does not exist), or gives each container its `Mount`s, which the
kubelet then `attach()`es under the pod's uid. A simulated program (backends.py) reads files
through a `Filesystem` built from its image's files and those mounts.

A volume is a `FileSource`: a mapping of relative path -> bytes, asked for again on every
read. configMap and secret volumes read their object from the store each time, so a changed
ConfigMap shows at once (a real kubelet rewrites the files on its next sync, within about a
minute); if the object has gone or no longer fits the volume, the files set up last stay,
as on a real node. hostPath, emptyDir and persistentVolumeClaim volumes are directories on
the node's disk (`HostDirectory`, set up by storage/volumes.py); projected and downwardAPI
volumes are empty directories for now.
"""

from __future__ import annotations

import base64
import binascii
import posixpath
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from kubelesson.sim.store import Obj, Store

FileMap = Mapping[str, bytes]  # path relative to the volume's root ("a/b.txt") -> content
Kind = Literal["file", "dir"]


class FileSource(Protocol):
    """A volume's content. A source that is one file (a subPath naming a file) has the
    single key ""."""

    def files(self) -> FileMap: ...


@dataclass(frozen=True)
class StaticFiles:
    """Content that never changes: an image's files, an empty directory."""

    content: FileMap = field(default_factory=dict)

    def files(self) -> FileMap:
        return self.content


class HostDirectory:
    """A volume that is a directory on the node (hostPath, emptyDir, a local
    PersistentVolume: storage/volumes.py). Programs that write (a database) write there
    through `Filesystem.host_path`; readers see its files as they are now."""

    MAX_FILES = 10_000  # a web root, not a data dump: stop listing beyond this

    def __init__(self, root: Path) -> None:
        self.root = root

    def files(self) -> FileMap:
        found: dict[str, bytes] = {}
        if not self.root.is_dir():
            return found
        for path in sorted(self.root.rglob("*")):
            if len(found) >= self.MAX_FILES:
                break
            if path.is_file() and not path.is_symlink():
                try:
                    found[path.relative_to(self.root).as_posix()] = path.read_bytes()
                except OSError:
                    continue
        return found


@dataclass(frozen=True)
class _ObjectKind:
    """What differs between configMap and secret volumes (pkg/volume/configmap, .../secret)."""

    resource: str  # the store key
    singular: str  # as the kubelet's NotFound error names it
    name_field: str  # the volume source's field naming the object
    missing_key: str  # the kubelet's error for an `items` key the object lacks


CONFIGMAP = _ObjectKind("configmaps", "configmap", "name",
                        "configmap references non-existent config key: {key}")
SECRET = _ObjectKind("secrets", "secret", "secretName",
                     "references non-existent secret key: {key}")


def _decode(value: Any) -> bytes | None:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        return None


def _object_data(kind: _ObjectKind, obj: Obj) -> dict[str, bytes]:
    """An object's keys as the files they become."""
    data: dict[str, bytes] = {}
    if kind is CONFIGMAP:
        for key, value in (obj.get("data") or {}).items():
            data[str(key)] = str(value).encode("utf-8")
        for key, value in (obj.get("binaryData") or {}).items():
            if (decoded := _decode(value)) is not None:
                data[str(key)] = decoded
    else:
        for key, value in (obj.get("data") or {}).items():
            if (decoded := _decode(value)) is not None:
                data[str(key)] = decoded
        for key, value in (obj.get("stringData") or {}).items():
            data[str(key)] = str(value).encode("utf-8")
    return data


class ObjectFiles:
    """A configMap or secret volume: the object's keys as files, read from the store each
    time. Keeps the last projection that worked, which a real node keeps on disk when the
    object is deleted or stops fitting the volume."""

    def __init__(self, store: Store, kind: _ObjectKind, namespace: str,
                 source: Mapping[str, Any]) -> None:
        self.store = store
        self.kind = kind
        self.namespace = namespace
        self.source = source
        self._last: FileMap = {}
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return str(self.source.get(self.kind.name_field) or "")

    def project(self) -> tuple[FileMap | None, str | None]:
        """The files now, or the kubelet's reason why the volume cannot be set up."""
        optional = bool(self.source.get("optional"))
        obj = self.store.get(self.kind.resource, self.namespace, self.name)
        if obj is None:
            if optional:
                return {}, None
            return None, f'{self.kind.singular} "{self.name}" not found'
        data = _object_data(self.kind, obj)
        items = self.source.get("items")
        if not items:
            return data, None
        files: dict[str, bytes] = {}
        for item in items:
            key = str(item.get("key", ""))
            if key not in data:
                if optional:
                    continue
                return None, self.kind.missing_key.format(key=key)
            files[_clean_relative(str(item.get("path") or key))] = data[key]
        return files, None

    def files(self) -> FileMap:
        files, _ = self.project()
        with self._lock:
            if files is not None:
                self._last = files
            return self._last


@dataclass(frozen=True)
class Mount:
    """A volume (or the part of it named by subPath) at a path in a container."""

    path: str  # absolute, normalized
    source: FileSource
    sub_path: str = ""

    def files(self) -> FileMap:
        content = self.source.files()
        if not self.sub_path:
            return content
        if self.sub_path in content:  # a single file
            return {"": content[self.sub_path]}
        prefix = self.sub_path + "/"
        return {k[len(prefix):]: v for k, v in content.items() if k.startswith(prefix)}


class Filesystem:
    """One container's view: the image's files (absolute paths) under its mounts."""

    def __init__(self, image_files: FileMap, mounts: Sequence[Mount] = ()) -> None:
        self.image_files = image_files
        self.mounts = sorted(mounts, key=lambda m: len(m.path), reverse=True)

    def _mount_for(self, path: str) -> Mount | None:
        for mount in self.mounts:  # longest mount path first: the innermost mount wins
            if path == mount.path or path.startswith(mount.path.rstrip("/") + "/"):
                return mount
        return None

    def stat(self, path: str) -> Kind | None:
        path = clean_path(path)
        mount = self._mount_for(path)
        if mount is not None:
            return _kind(mount.files(), path[len(mount.path):].strip("/"))
        if path in self.image_files:
            return "file"
        below = path.rstrip("/") + "/"
        if any(p.startswith(below) for p in self.image_files) or any(
            m.path.startswith(below) for m in self.mounts
        ):
            return "dir"
        return None

    def read(self, path: str) -> bytes | None:
        path = clean_path(path)
        mount = self._mount_for(path)
        if mount is not None:
            return mount.files().get(path[len(mount.path):].strip("/"))
        return self.image_files.get(path)

    def host_path(self, path: str) -> Path | None:
        """Where a path inside a node-directory volume is on this machine (None when the
        path is not in such a volume): what a program writing there writes to."""
        path = clean_path(path)
        mount = self._mount_for(path)
        if mount is None or not isinstance(mount.source, HostDirectory):
            return None
        relative = path[len(mount.path):].strip("/")
        return mount.source.root.joinpath(*(p for p in (mount.sub_path, relative) if p))


def _kind(files: FileMap, relative: str) -> Kind | None:
    if relative in files:
        return "file"
    if not relative or any(k.startswith(relative + "/") for k in files):
        return "dir"
    return None


def clean_path(path: str) -> str:
    """An absolute path without `.`, `..` or doubled slashes; never above the root."""
    cleaned = posixpath.normpath("/" + path.lstrip("/"))
    return "/" + cleaned.lstrip("/")


def _clean_relative(path: str) -> str:
    return clean_path(path).lstrip("/")


# --- setting volumes up (the kubelet's side) -------------------------------------------------


class NodeVolumes(Protocol):
    """The volumes whose files live on the node's disk (storage/volumes.py)."""

    def handles(self, volume: Mapping[str, Any]) -> bool: ...

    def source(self, pod: Obj, volume: Mapping[str, Any]) -> tuple[FileSource | None, str | None]: ...


def _source(store: Store, pod: Obj, volume: Mapping[str, Any],
            node_volumes: NodeVolumes | None) -> tuple[FileSource, str | None]:
    """A volume's files, and why the kubelet cannot set it up yet (None when it can)."""
    namespace = str(pod["metadata"].get("namespace") or "default")
    if isinstance(volume.get("configMap"), Mapping):
        source = ObjectFiles(store, CONFIGMAP, namespace, volume["configMap"])
        return source, source.project()[1]
    if isinstance(volume.get("secret"), Mapping):
        source = ObjectFiles(store, SECRET, namespace, volume["secret"])
        return source, source.project()[1]
    if node_volumes is not None and node_volumes.handles(volume):
        found, problem = node_volumes.source(pod, volume)
        return (found or StaticFiles()), problem
    return StaticFiles(), None  # projected, downwardAPI ...: empty for now


def _used_volumes(spec: Mapping[str, Any]) -> set[str]:
    """The volumes some container mounts; the kubelet ignores the others."""
    return {
        str(mount.get("name"))
        for key in ("initContainers", "containers")
        for container in spec.get(key) or []
        for mount in container.get("volumeMounts") or []
    }


@dataclass(frozen=True)
class Plan:
    mounts: dict[str, tuple[Mount, ...]]  # container name -> its mounts
    failed: list[tuple[str, str]]  # (volume name, why it cannot be set up)


def plan(store: Store, pod: Obj, node_volumes: NodeVolumes | None = None) -> Plan:
    """Set the pod's volumes up as the kubelet would, or say which ones fail and why.
    `node_volumes` sets up hostPath, emptyDir and claim volumes on the node's disk."""
    spec = pod.get("spec") or {}
    used = _used_volumes(spec)
    sources: dict[str, FileSource] = {}
    failed: list[tuple[str, str]] = []
    for volume in spec.get("volumes") or []:
        name = str(volume.get("name"))
        if name not in used:
            continue
        source, problem = _source(store, pod, volume, node_volumes)
        if problem:
            failed.append((name, problem))
        sources[name] = source
    mounts: dict[str, tuple[Mount, ...]] = {}
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            mounts[str(container.get("name"))] = tuple(
                _mount(sources[str(m.get("name"))], m)
                for m in container.get("volumeMounts") or []
                if str(m.get("name")) in sources
            )
    return Plan(mounts, failed)


def _mount(source: FileSource, volume_mount: Mapping[str, Any]) -> Mount:
    sub_path = _clean_relative(str(volume_mount.get("subPath") or ""))
    if sub_path and isinstance(source, ObjectFiles):
        # A subPath mount of a configMap or secret is a copy made when the container
        # starts: later changes of the object never reach it.
        source = StaticFiles(dict(source.files()))
    elif sub_path and isinstance(source, HostDirectory):
        # The kubelet creates a missing subPath directory in the volume.
        (source.root / sub_path).mkdir(parents=True, exist_ok=True)
    return Mount(clean_path(str(volume_mount.get("mountPath") or "/")), source, sub_path)


# --- the mounted volumes of running pods -----------------------------------------------------

_lock = threading.Lock()
# pod uid -> container name -> mounts. A uid is unique, so simulators sharing a process (the
# tests) never see each other's pods.
_attached: dict[str, dict[str, tuple[Mount, ...]]] = {}


def attach(uid: str, mounts: dict[str, tuple[Mount, ...]]) -> None:
    with _lock:
        _attached[uid] = mounts


def detach(uid: str) -> None:
    with _lock:
        _attached.pop(uid, None)


def is_attached(uid: str) -> bool:
    with _lock:
        return uid in _attached


def mounts_for(pod: Mapping[str, Any], container: Mapping[str, Any]) -> tuple[Mount, ...]:
    """The volumes mounted into one container of a pod (none before the kubelet set them up)."""
    meta = pod.get("metadata")
    uid = str(meta.get("uid", "")) if isinstance(meta, Mapping) else ""
    with _lock:
        return _attached.get(uid, {}).get(str(container.get("name", "")), ())
