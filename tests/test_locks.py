"""Runs that share a cluster-wide thing take turns; different things or clusters do not."""

from __future__ import annotations

import threading
import time

from kubelesson import locks


def _hold(context: str, things: list[str], log: list[str], name: str, seconds: float) -> None:
    with locks.taking_turns(context, things, poll=0.01):
        log.append(f"{name} in")
        time.sleep(seconds)
        log.append(f"{name} out")


def test_two_runs_that_share_a_host_port_take_turns() -> None:
    log: list[str] = []
    first = threading.Thread(target=_hold, args=("k3d-x@h:1", ["host-port 8080"], log, "a", 0.3))
    first.start()
    time.sleep(0.1)
    _hold("k3d-x@h:1", ["host-port 8080", "ingress-host a.example"], log, "b", 0.0)
    first.join()
    assert log == ["a in", "a out", "b in", "b out"]


def test_other_things_and_other_clusters_do_not_wait() -> None:
    log: list[str] = []
    first = threading.Thread(target=_hold, args=("k3d-x@h:1", ["host-port 8080"], log, "a", 0.3))
    first.start()
    time.sleep(0.1)
    _hold("k3d-x@h:1", ["ingress-host a.example"], log, "b", 0.0)
    _hold("k3d-y@h:2", ["host-port 8080"], log, "c", 0.0)
    first.join()
    assert log == ["a in", "b in", "b out", "c in", "c out", "a out"]
