"""A simulated container's main program and what it sees of its container."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from kubelesson.sim.kubelet.podfs import Filesystem

if TYPE_CHECKING:
    from kubelesson.sim.apps.network import ClusterNetwork
    from kubelesson.sim.kubelet.backends import Backend
    from kubelesson.sim.options import SimOptions


@dataclass
class Host:
    """The container around a program: its pod, environment, files and the node's
    facilities (timers, the cluster network), and the way to write its log or exit."""

    pod: Mapping[str, Any]
    container: Mapping[str, Any]
    image: str
    env: dict[str, str]
    fs: Filesystem
    scratch: Path  # the container's own writable layer: fresh for every start
    options: SimOptions
    network: ClusterNetwork
    log: Callable[[str], None]
    later: Callable[[float, Callable[[], None]], None]
    exit: Callable[[int], None]  # the program ended with this code (the container stops)

    @property
    def pod_ip(self) -> str:
        return str((self.pod.get("status") or {}).get("podIP") or "")

    @property
    def namespace(self) -> str:
        return str((self.pod.get("metadata") or {}).get("namespace") or "default")


class Process:
    """One running program. `start` begins it (timers may carry on from there); `stop` is
    the SIGTERM of a container being stopped; `listener` is what answers on a port now."""

    ports: ClassVar[tuple[int, ...]] = ()

    def __init__(self, host: Host) -> None:
        self.host = host
        self.stopped = False

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self.stopped = True

    def listener(self, port: int) -> Backend | None:
        return None

    # -- helpers --
    def after(self, delay: float, step: Callable[[], None]) -> None:
        """Run `step` later unless the program has been stopped meanwhile."""
        def run() -> None:
            if not self.stopped:
                step()

        self.host.later(delay, run)

    def fail(self, code: int = 1) -> None:
        if not self.stopped:
            self.stopped = True
            self.host.exit(code)


def stamp(fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return time.strftime(fmt, time.gmtime())


def json_line(**fields: Any) -> str:
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False)
