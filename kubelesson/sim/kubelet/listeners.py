"""Which program listens on a port of a pod: the programs with a life of their own (apps/:
MariaDB, traQ) as they start and stop listening, else the image's server (backends.py),
one instance per pod and port, so its state (redis keys) lasts across connections and a
re-created pod (a new uid) starts empty. Port-forward, the pod network and the prober all
reach the same instance."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from kubelesson.sim.kubelet.backends import Backend, backend_for
from kubelesson.sim.kubelet.podfs import mounts_for

_apps_lock = threading.Lock()
# (pod uid, port) -> the running app; one instance per pod so state (redis keys) persists
# across connections and a re-created pod (new uid) starts empty.
_apps: dict[tuple[str, int], Backend | None] = {}


def app_for(pod: Mapping[str, Any], port: int) -> Backend | None:
    """The app listening on `port` in `pod`, or None if no container listens there."""
    from kubelesson.sim.apps import registry  # programs with a life of their own (lesson 7)

    running = registry.listener(pod, port)  # asked each time: they start and stop listening
    if not isinstance(running, registry.NotMine):
        return running
    key = (str(nested(pod, "metadata", "uid") or nested(pod, "metadata", "name")), port)
    with _apps_lock:
        if key not in _apps:
            _apps[key] = _first_backend(pod, port)
        return _apps[key]


def restarted(pod: Mapping[str, Any], container: Mapping[str, Any]) -> None:
    """The kubelet restarted this container (a failed liveness probe): what its image
    served starts afresh, as a new process does (a redis has lost its keys)."""
    uid = str(nested(pod, "metadata", "uid") or nested(pod, "metadata", "name"))
    image = str(container.get("image", ""))
    with _apps_lock:
        for key in [k for k in _apps if k[0] == uid and backend_for(image, k[1]) is not None]:
            del _apps[key]


def _first_backend(pod: Mapping[str, Any], port: int) -> Backend | None:
    containers = nested(pod, "spec", "containers") or []
    for container in containers:
        image = container.get("image") if isinstance(container, Mapping) else None
        if not isinstance(image, str):
            continue
        # The container's volumes, as the simulated kubelet mounted them (podfs.py).
        if (backend := backend_for(image, port, mounts_for(pod, container))) is not None:
            return backend
    return None


def nested(obj: Mapping[str, Any], *path: str) -> Any:
    """obj[path[0]][path[1]]..., or None where a step is missing or not a mapping."""
    value: Any = obj
    for name in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(name)
    return value
