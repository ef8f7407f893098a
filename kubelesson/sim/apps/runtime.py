"""The part of the simulated kubelet and container runtime that runs programs (process.py)
in containers: it starts one when its container starts, gives it its environment, files and
log, stops it with its pod, and when it exits, restarts the container the way the kubelet
does under `restartPolicy: Always`: at once the first time, then after a back-off that
doubles from 10 s up to 5 min (shorter with a shorter --backoff-seconds), the container
waiting in CrashLoopBackOff meanwhile, RESTARTS counting up.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from kubelesson.sim import timeutil
from kubelesson.sim.apps import registry
from kubelesson.sim.apps.network import ClusterNetwork
from kubelesson.sim.apps.process import Host, Process
from kubelesson.sim.kubelet import environment, podfs
from kubelesson.sim.kubelet.backends import image_name
from kubelesson.sim.kubelet.lifecycle import PREVIOUS_LOG, LogLine
from kubelesson.sim.kubelet.prober import initial_state
from kubelesson.sim.store import Obj

if TYPE_CHECKING:
    from kubelesson.sim.kubelet.lifecycle import Lifecycle
    from kubelesson.sim.storage.disks import NodeDisks

log = logging.getLogger(__name__)
BACKOFF_FIRST = 10.0  # the kubelet's first crash back-off, in units of --backoff-seconds
BACKOFF_MAX = 300.0
SCRATCH = "/run/kubelesson/containers"


def _catalogue() -> dict[str, type[Process]]:
    from kubelesson.sim.apps.mariadb.process import MariaDB
    from kubelesson.sim.apps.traq import Traq, TraqUI

    return {"mariadb": MariaDB, "traq": Traq, "traq-ui": TraqUI}


class AppRuntime:
    def __init__(self, lifecycle: Lifecycle, disks: NodeDisks) -> None:
        self.lifecycle = lifecycle
        self.store = lifecycle.store
        self.options = lifecycle.options
        self.disks = disks
        self.network = ClusterNetwork(self.store)
        self._programs = _catalogue()
        self._lock = threading.Lock()

    def knows(self, image: str) -> bool:
        return image_name(image) in self._programs

    # -- the kubelet's calls ----------------------------------------------------------------
    def started(self, pod: Obj, container: Mapping[str, Any], env: Mapping[str, str]) -> None:
        """A container has just started: run its program, if it is one of ours."""
        program = self._programs.get(image_name(str(container.get("image", ""))))
        if program is None:
            return
        uid = str(pod["metadata"]["uid"])
        name = str(container.get("name", ""))
        node = str((pod.get("spec") or {}).get("nodeName") or "")
        restarts = self._restart_count(pod, name)
        scratch = self.disks.path(node, f"{SCRATCH}/{uid}/{name}-{restarts}")
        scratch.mkdir(parents=True, exist_ok=True)
        holder: list[Process] = []
        host = Host(
            pod=pod, container=container, image=str(container.get("image", "")), env=dict(env),
            fs=podfs.Filesystem({}, podfs.mounts_for(pod, container)), scratch=scratch,
            options=self.options, network=self.network,
            log=lambda line: self._log(uid, name, line),
            later=self.lifecycle.scheduler.call_later,
            exit=lambda code: self._exited(pod, name, holder[0], code),
        )
        process = program(host)
        holder.append(process)
        registry.register(uid, name, process)
        try:
            process.start()
        except Exception:  # a bug in a simulated program must not stop the kubelet
            log.exception("simulated program %s failed to start", program.__name__)

    def pod_gone(self, pod: Obj) -> None:
        """The pod's containers are stopped (its programs get their SIGTERM) and its
        containers' writable layers go."""
        uid = str(pod["metadata"].get("uid", ""))
        for name, process in registry.processes(uid).items():
            registry.unregister(uid, name, process)
            try:
                process.stop()
            except Exception:
                log.exception("simulated program failed to stop")
        node = str((pod.get("spec") or {}).get("nodeName") or "")
        if node and uid:
            self.disks.remove(node, f"{SCRATCH}/{uid}")

    # -- logs ---------------------------------------------------------------------------------
    def _log(self, uid: str, container: str, line: str) -> None:
        self.lifecycle.logs.setdefault((uid, container), []).append(LogLine(time.time(), line))

    # -- exits and restarts --------------------------------------------------------------
    def _restart_count(self, pod: Obj, name: str) -> int:
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            if status.get("name") == name:
                return int(status.get("restartCount") or 0)
        return 0

    def _exited(self, pod: Obj, name: str, process: Process, code: int) -> None:
        """The program ended: its container is terminated; the kubelet restarts it."""
        uid = str(pod["metadata"]["uid"])
        registry.unregister(uid, name, process)
        now = timeutil.rfc3339(timeutil.now())
        restarts: list[int] = []

        def terminated(p: Obj) -> None:
            for cs in (p.get("status") or {}).get("containerStatuses") or []:
                if cs.get("name") != name:
                    continue
                running = (cs.get("state") or {}).get("running") or {}
                cs["state"] = {"terminated": {
                    "exitCode": code, "reason": "Error" if code else "Completed",
                    "startedAt": running.get("startedAt", now), "finishedAt": now,
                    "containerID": cs.get("containerID", ""),
                }}
                cs["ready"] = False
                cs["started"] = False
                restarts.append(int(cs.get("restartCount") or 0))
            self._not_ready(p, now)

        self.lifecycle._step(pod, 0, lambda current: self._after_exit(current, name, terminated,
                                                                       restarts))

    def _after_exit(self, pod: Obj, name: str, terminated: Callable[[Obj], None],
                    restarts: list[int]) -> None:
        updated = self.lifecycle._update(pod, terminated)
        if updated is None or not restarts:
            return
        policy = (updated.get("spec") or {}).get("restartPolicy", "Always")
        code = self._exit_code(updated, name)
        if policy == "Never" or (policy == "OnFailure" and code == 0):
            return
        count = restarts[0]
        if count == 0:  # the first restart is not delayed
            self.lifecycle._step(updated, self.options.creating_seconds,
                                 lambda p: self.restart(p, name))
            return
        scale = self.options.backoff_seconds
        delay = min(BACKOFF_FIRST * scale * 2 ** (count - 1), BACKOFF_MAX * scale)
        self.lifecycle._step(updated, min(self.options.creating_seconds, delay),
                             lambda p: self._back_off(p, name, delay))

    @staticmethod
    def _exit_code(pod: Obj, name: str) -> int:
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            if cs.get("name") == name:
                return int(((cs.get("state") or {}).get("terminated") or {}).get("exitCode") or 0)
        return 0

    def _back_off(self, pod: Obj, name: str, delay: float) -> None:
        meta = pod["metadata"]
        message = (f"back-off {timeutil.go_duration(round(delay / self.options.backoff_seconds))} restarting "
                   f"failed container={name} pod={meta['name']}_{meta.get('namespace', '')}"
                   f"({meta['uid']})")

        def waiting(p: Obj) -> None:
            for cs in (p.get("status") or {}).get("containerStatuses") or []:
                if cs.get("name") == name and (cs.get("state") or {}).get("terminated"):
                    cs["lastState"] = {"terminated": cs["state"]["terminated"]}
                    cs["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": message}}

        updated = self.lifecycle._update(pod, waiting)
        if updated is None:
            return
        self.lifecycle.event(updated, "BackOff", f"Back-off restarting failed container {name} in "
                             f"pod {meta['name']}_{meta.get('namespace', '')}({meta['uid']})",
                             type_="Warning", field_path=f"spec.containers{{{name}}}")
        self.lifecycle._step(updated, delay, lambda p: self.restart(p, name))

    def restart(self, pod: Obj, name: str) -> None:
        """The kubelet starts the container again (its environment is built anew)."""
        self._launch(pod, name, restarted=True)

    def start_again(self, pod: Obj, name: str) -> None:
        """A container that could not be configured (CreateContainerConfigError) is tried
        again: it has never run, so it is no restart."""
        self._launch(pod, name, restarted=False)

    def _launch(self, pod: Obj, name: str, *, restarted: bool) -> None:
        container = next((c for c in (pod.get("spec") or {}).get("containers") or []
                          if c.get("name") == name), None)
        if container is None:
            return
        try:
            env = environment.build(self.store, pod, container)
        except environment.ConfigError as problem:
            self._config_error(pod, name, str(problem))
            return
        if not restarted:  # it never ran: the pod becomes Running now
            self.lifecycle._update(pod, _running_phase)
        now = timeutil.rfc3339(timeutil.now())

        def running(p: Obj) -> None:
            for cs in (p.get("status") or {}).get("containerStatuses") or []:
                if cs.get("name") != name:
                    continue
                terminated = (cs.get("state") or {}).get("terminated")
                if terminated:
                    cs["lastState"] = {"terminated": terminated}
                if restarted:
                    cs["restartCount"] = int(cs.get("restartCount") or 0) + 1
                cs["containerID"] = "containerd://" + uuid.uuid4().hex + uuid.uuid4().hex
                cs["state"] = {"running": {"startedAt": now}}
                cs["started"], cs["ready"] = initial_state(container)  # probes decide later
            self._ready_if_all(p, now)

        uid = str(pod["metadata"]["uid"])
        logs = self.lifecycle.logs
        logs[(uid, name + PREVIOUS_LOG)] = logs.get((uid, name), [])  # `kubectl logs --previous`
        logs[(uid, name)] = []
        updated = self.lifecycle._update(pod, running)
        if updated is None:
            return
        self.lifecycle.container_restart_events(updated, container)
        environment.remember(uid, name, env)
        self.started(updated, container, env)
        self.lifecycle.prober.container_started(updated, name)

    def _config_error(self, pod: Obj, name: str, message: str) -> None:
        def waiting(p: Obj) -> None:
            for cs in (p.get("status") or {}).get("containerStatuses") or []:
                if cs.get("name") == name:
                    terminated = (cs.get("state") or {}).get("terminated")
                    if terminated:
                        cs["lastState"] = {"terminated": terminated}
                    cs["state"] = {"waiting": {"reason": "CreateContainerConfigError",
                                               "message": message}}

        updated = self.lifecycle._update(pod, waiting)
        if updated is None:
            return
        self.lifecycle.event(updated, "Failed", f"Error: {message}", type_="Warning",
                             field_path=f"spec.containers{{{name}}}")
        ran = any(cs.get("name") == name and (cs.get("lastState") or {}).get("terminated")
                  for cs in (updated.get("status") or {}).get("containerStatuses") or [])
        self.lifecycle._step(updated, BACKOFF_FIRST * self.options.backoff_seconds,
                             lambda p: self._launch(p, name, restarted=ran))

    # -- pod conditions -------------------------------------------------------------------
    def _not_ready(self, pod: Obj, now: str) -> None:
        from kubelesson.sim.kubelet.lifecycle import _set_condition

        unready = [cs["name"] for cs in (pod.get("status") or {}).get("containerStatuses") or []
                   if not cs.get("ready")]
        message = f"containers with unready status: [{' '.join(unready)}]"
        _set_condition(pod, "Ready", False, now, "ContainersNotReady", message)
        _set_condition(pod, "ContainersReady", False, now, "ContainersNotReady", message)

    def _ready_if_all(self, pod: Obj, now: str) -> None:
        from kubelesson.sim.kubelet.lifecycle import _set_condition

        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        if statuses and all(cs.get("ready") for cs in statuses):
            _set_condition(pod, "Ready", True, now)
            _set_condition(pod, "ContainersReady", True, now)
        else:
            self._not_ready(pod, now)


def _running_phase(pod: Obj) -> None:
    pod.setdefault("status", {})["phase"] = "Running"
