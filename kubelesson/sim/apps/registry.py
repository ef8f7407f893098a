"""The programs running in simulated containers, by pod uid (a uid is unique, so simulators
sharing a process never see each other's programs), and what listens on a pod's port."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kubelesson.sim.apps.process import Process
    from kubelesson.sim.kubelet.backends import Backend

_lock = threading.Lock()
_running: dict[str, dict[str, Process]] = {}  # pod uid -> container name -> program


class NotMine:
    """No simulated program of this registry runs in that pod (the static backends may)."""


NOT_MINE = NotMine()


def register(uid: str, container: str, process: Process) -> None:
    with _lock:
        _running.setdefault(uid, {})[container] = process


def unregister(uid: str, container: str, process: Process | None = None) -> None:
    with _lock:
        found = _running.get(uid, {})
        if process is None or found.get(container) is process:
            found.pop(container, None)
        if not found:
            _running.pop(uid, None)


def processes(uid: str) -> dict[str, Process]:
    with _lock:
        return dict(_running.get(uid, {}))


def listener(pod: Mapping[str, Any], port: int) -> Backend | None | NotMine:
    """What answers on `port` in the pod now: a server, None (nothing listens there yet, or
    any more: the connection is refused), or NOT_MINE when no program of ours runs there."""
    meta = pod.get("metadata")
    uid = str(meta.get("uid", "")) if isinstance(meta, Mapping) else ""
    mine = processes(uid)
    if not mine:
        return NOT_MINE
    for process in mine.values():
        if port in process.ports:
            return process.listener(port)
    return None
