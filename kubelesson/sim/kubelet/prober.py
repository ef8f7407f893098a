"""The simulated kubelet's prober (pkg/kubelet/prober): readiness, liveness and startup
probes, one worker per container and probe, probing what runs in the pod (kubelet/probes.py).

A worker is made when the kubelet admits the pod (lifecycle._assigned) and ticks every
periodSeconds from then on; a readiness worker is also run at once when its container
starts or passes its startup probe, as the kubelet's status update triggers it. At each
tick, as the real worker does: nothing while the container is not running, before
initialDelaySeconds have passed since it started, or (for readiness and liveness) before
the startup probe has succeeded; a new container starts from the initial result
(readiness: failure, liveness: success, startup: unknown); a result only counts once it has
come successThreshold / failureThreshold times in a row; a probe that errored is thrown
away. Then:

* readiness sets the container's `ready`, and with it the pod's Ready and ContainersReady
  conditions (so `kubectl get pods` shows `0/1 Running` and the endpoints controller takes
  the pod out of its Service);
* a failed liveness or startup probe kills the container (`Killing`: "Container caddy failed
  liveness probe, will be restarted") and the kubelet starts a new one at once, or after
  the crash back-off (CrashLoopBackOff) when the container exited shortly before, as its
  doBackOff decides; RESTARTS counts up;
* a passed startup probe marks the container started, and the other probes begin.

Every `Unhealthy` event (`Readiness probe failed: ...`) is recorded when a probe fails,
whether or not the threshold is reached, as the kubelet records them.

The times are the probe's own seconds multiplied by --probe-seconds (1 by default: real
time); the back-off is in units of --backoff-seconds as the crash back-off is.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kubelesson.sim import timeutil
from kubelesson.sim.kubelet import images, probes
from kubelesson.sim.store import Obj

if TYPE_CHECKING:
    from kubelesson.sim.kubelet.lifecycle import Lifecycle

log = logging.getLogger(__name__)
PODS = "pods"
READINESS, LIVENESS, STARTUP = "readiness", "liveness", "startup"
KEYS = {READINESS: "readinessProbe", LIVENESS: "livenessProbe", STARTUP: "startupProbe"}
INITIAL: dict[str, str | None] = {READINESS: probes.FAILURE, LIVENESS: probes.SUCCESS,
                                  STARTUP: None}
BACKOFF_FIRST = 10.0  # the kubelet's crash back-off, in units of --backoff-seconds
BACKOFF_MAX = 300.0


# -- container and pod status ------------------------------------------------------------------
def initial_state(container: Obj) -> tuple[bool, bool]:
    """(started, ready) of a container that has just started running: not started while a
    startup probe has yet to pass, not ready while a readiness probe has."""
    started = not isinstance(container.get("startupProbe"), dict)
    return started, started and not isinstance(container.get("readinessProbe"), dict)


def _put_condition(pod: Obj, type_: str, ok: bool, now: str, reason: str = "",
                   message: str = "") -> None:
    """Set a condition as the kubelet's status manager does: the transition time changes
    only when the status does."""
    conditions: list[Obj] = pod.setdefault("status", {}).setdefault("conditions", [])
    status = "True" if ok else "False"
    found = next((c for c in conditions if c.get("type") == type_), None)
    if found is None:
        found = {"type": type_, "status": status, "lastProbeTime": None,
                 "lastTransitionTime": now}
        conditions.append(found)
    elif found.get("status") != status:
        found["status"] = status
        found["lastTransitionTime"] = now
    for key, value in (("reason", reason), ("message", message)):
        if value:
            found[key] = value
        else:
            found.pop(key, None)


def readiness_conditions(pod: Obj, now: str) -> None:
    """Ready and ContainersReady from the containers' `ready` flags."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    unready = [str(cs.get("name")) for cs in statuses if not cs.get("ready")]
    if statuses and not unready:
        _put_condition(pod, "Ready", True, now)
        _put_condition(pod, "ContainersReady", True, now)
        return
    message = f"containers with unready status: [{' '.join(unready)}]"
    _put_condition(pod, "Ready", False, now, "ContainersNotReady", message)
    _put_condition(pod, "ContainersReady", False, now, "ContainersNotReady", message)


def _status_of(pod: Obj, name: str) -> Obj | None:
    statuses: list[Obj] = (pod.get("status") or {}).get("containerStatuses") or []
    for cs in statuses:
        if cs.get("name") == name:
            return cs  # the pod's own dict: changes go into it
    return None


def _container(pod: Obj, name: str) -> Obj | None:
    return next((c for c in (pod.get("spec") or {}).get("containers") or []
                 if c.get("name") == name), None)


# -- workers ------------------------------------------------------------------------------------
@dataclass(eq=False)
class Worker:
    uid: str
    namespace: str
    pod: str
    container: Obj  # the container's spec (a pod's probes cannot change)
    kind: str
    spec: Obj  # the probe
    container_id: str = ""
    result: str | None = None  # what the kubelet's results manager holds for container_id
    last: str | None = None
    run: int = 0
    on_hold: bool = False
    generation: int = 0  # bumped by a manual run: the ticker restarts from it
    busy: bool = False
    stopped: bool = False

    @property
    def name(self) -> str:
        return str(self.container.get("name", ""))

    @property
    def title(self) -> str:
        return self.kind.capitalize()


class Prober:
    def __init__(self, lifecycle: Lifecycle) -> None:
        self.lifecycle = lifecycle
        self.store = lifecycle.store
        self.options = lifecycle.options
        self._lock = threading.Lock()
        self._workers: dict[str, list[Worker]] = {}  # pod uid -> its workers
        self._started: dict[tuple[str, str], tuple[str, float]] = {}  # -> (id, monotonic)
        self._backoff: dict[tuple[str, str], tuple[float, float]] = {}  # -> (seconds, updated)
        self._finished: dict[tuple[str, str], float] = {}  # when the last kill ended it
        self._probing: set[threading.Thread] = set()  # joined when the kubelet stops
        self._stopping = threading.Event()

    # -- the kubelet's calls ---------------------------------------------------------------
    def pod_admitted(self, pod: Obj) -> None:
        meta = pod["metadata"]
        uid = str(meta["uid"])
        made = [Worker(uid, str(meta.get("namespace", "")), str(meta["name"]), c, kind,
                       c[KEYS[kind]])
                for c in (pod.get("spec") or {}).get("containers") or []
                for kind in (READINESS, LIVENESS, STARTUP)
                if isinstance(c.get(KEYS[kind]), dict)]
        if not made:
            return
        with self._lock:
            if uid in self._workers:
                return
            self._workers[uid] = made
        for worker in made:  # the first run finds no container yet, as on a node
            self._schedule(worker, 0.0, worker.generation)

    def container_started(self, pod: Obj, name: str) -> None:
        """A container is running: remember when (initialDelaySeconds count from here)
        and run its readiness probe now."""
        cs = _status_of(pod, name) or {}
        uid = str(pod["metadata"]["uid"])
        with self._lock:
            self._started[(uid, name)] = (str(cs.get("containerID", "")), time.monotonic())
        self._manual_run(uid, name, READINESS)

    def pod_gone(self, uid: str) -> None:
        with self._lock:
            for worker in self._workers.pop(uid, []):
                worker.stopped = True
            for table in (self._started, self._backoff, self._finished):
                for key in [k for k in table if k[0] == uid]:
                    del table[key]

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            for workers in self._workers.values():
                for worker in workers:
                    worker.stopped = True
            self._workers.clear()
            probing = list(self._probing)
        for thread in probing:
            thread.join(5)

    # -- ticking ----------------------------------------------------------------------------
    def _find(self, uid: str, name: str, kind: str) -> Worker | None:
        with self._lock:
            return next((w for w in self._workers.get(uid, [])
                         if w.name == name and w.kind == kind), None)

    def _manual_run(self, uid: str, name: str, kind: str) -> None:
        worker = self._find(uid, name, kind)
        if worker is None:
            return
        with self._lock:
            worker.generation += 1
            generation = worker.generation
        self._schedule(worker, 0.0, generation)

    def _schedule(self, worker: Worker, delay: float, generation: int) -> None:
        self.lifecycle.scheduler.call_later(delay, lambda: self._tick(worker, generation))

    def _period(self, worker: Worker) -> float:
        return max(int(worker.spec.get("periodSeconds") or 10), 1) * self.options.probe_seconds

    def _tick(self, worker: Worker, generation: int) -> None:
        with self._lock:
            if worker.stopped or generation != worker.generation:
                return
        self._schedule(worker, self._period(worker), generation)
        pod = self._due(worker)
        if pod is None:
            return
        thread = threading.Thread(target=self._probe, args=(worker, pod, worker.container_id),
                                  name=f"sim-probe-{worker.kind}", daemon=True)
        with self._lock:
            if worker.busy or self._stopping.is_set():
                return
            worker.busy = True
            self._probing.add(thread)
            thread.start()  # under the lock: stop() only ever joins started threads

    def _retire(self, worker: Worker) -> None:
        with self._lock:
            worker.stopped = True

    def _due(self, worker: Worker) -> Obj | None:
        """doProbe's checks before probing; the pod when a probe is due."""
        pod = self.store.get(PODS, worker.namespace, worker.pod)
        if pod is None or str(pod["metadata"].get("uid")) != worker.uid:
            self._retire(worker)
            return None
        status = pod.get("status") or {}
        if status.get("phase") in ("Succeeded", "Failed"):
            self._retire(worker)
            return None
        cs = _status_of(pod, worker.name)
        if cs is None or not cs.get("containerID"):
            return None
        if cs["containerID"] != worker.container_id:  # a new container: start afresh
            worker.container_id = str(cs["containerID"])
            worker.result = INITIAL[worker.kind]
            worker.on_hold = False
            worker.last, worker.run = None, 0
        if worker.on_hold:
            return None
        state = cs.get("state") or {}
        running = state.get("running")
        if running is None:
            worker.result = probes.FAILURE
            if state.get("terminated") and (pod.get("spec") or {}).get("restartPolicy") == "Never":
                self._retire(worker)
            return None
        if pod["metadata"].get("deletionTimestamp") and worker.kind != READINESS:
            worker.result = probes.SUCCESS  # a quiet shutdown: no more liveness kills
            self._retire(worker)
            return None
        elapsed = self._elapsed(worker, running)
        if int(elapsed / self.options.probe_seconds) < int(worker.spec.get("initialDelaySeconds") or 0):
            return None
        if bool(cs.get("started")) == (worker.kind == STARTUP):
            return None  # startup is done probing, or the others wait for it
        return pod

    def _elapsed(self, worker: Worker, running: Obj) -> float:
        with self._lock:
            known = self._started.get((worker.uid, worker.name))
        if known is not None and known[0] == worker.container_id:
            return time.monotonic() - known[1]
        started = timeutil.parse(running.get("startedAt"))
        return time.time() - started if started is not None else 0.0

    # -- probing ------------------------------------------------------------------------------
    def _target(self, pod: Obj, container: Obj) -> probes.Target:
        from kubelesson.sim.network.dataplane import for_store

        plane = for_store(self.store)
        node = self.lifecycle._node(str((pod.get("spec") or {}).get("nodeName") or ""))
        return probes.Target(pod=pod, container=container, listener=plane.app,
                             connect=plane.connect, store=self.store,
                             minor=self.options.minor, client=f"10.42.{node.subnet}.1",
                             stopping=self._stopping)

    def _probe(self, worker: Worker, pod: Obj, container_id: str) -> None:
        """On its own thread: a probe may take up to timeoutSeconds."""
        try:
            try:
                outcome = probes.run(worker.spec, self._target(pod, worker.container))
            except Exception as exc:  # a bug in a simulated program: the probe errored
                log.exception("probe failed")
                outcome = probes.Outcome(probes.UNKNOWN, "", str(exc))
            with self._lock:
                worker.busy = False
            if self._stopping.is_set():
                return
            self._record(pod, worker, outcome)
            self.lifecycle.scheduler.call_later(0, lambda: self._finish(worker, container_id,
                                                                         outcome))
        finally:
            with self._lock:
                worker.busy = False
                self._probing.discard(threading.current_thread())

    def _record(self, pod: Obj, worker: Worker, outcome: probes.Outcome) -> None:
        """The prober's events (recorded for every failure, below the threshold too)."""
        field_path = f"spec.containers{{{worker.name}}}"
        if outcome.error is not None:
            if self.options.minor >= 33:  # kubernetes PR #125901
                message = (f"{worker.title} probe errored and resulted in {outcome.result} "
                           f"state: {outcome.error}")
            else:
                message = f"{worker.title} probe errored: {outcome.error}"
            self.lifecycle.event(pod, "Unhealthy", message, type_="Warning",
                                 field_path=field_path)
        elif outcome.result == probes.WARNING:
            self.lifecycle.event(pod, "ProbeWarning",
                                 f"{worker.title} probe warning: {outcome.output}",
                                 type_="Warning", field_path=field_path)
        elif outcome.result == probes.FAILURE:
            self.lifecycle.event(pod, "Unhealthy",
                                 f"{worker.title} probe failed: {outcome.output}",
                                 type_="Warning", field_path=field_path)

    def _finish(self, worker: Worker, container_id: str, outcome: probes.Outcome) -> None:
        """Back on the kubelet's thread: count the result, act on a threshold."""
        with self._lock:
            if worker.stopped:
                return
        if worker.container_id != container_id or worker.on_hold or outcome.error is not None:
            return
        result = (probes.SUCCESS if outcome.result in (probes.SUCCESS, probes.WARNING)
                  else probes.FAILURE)
        if worker.last == result:
            worker.run += 1
        else:
            worker.last, worker.run = result, 1
        key = "failureThreshold" if result == probes.FAILURE else "successThreshold"
        if worker.run < int(worker.spec.get(key) or 1):
            return
        worker.result = result
        if worker.kind == READINESS:
            self._set_ready(worker, result == probes.SUCCESS)
            return
        if worker.kind == LIVENESS and result == probes.SUCCESS:
            return
        worker.on_hold, worker.run = True, 0  # until there is a new container
        if worker.kind == STARTUP and result == probes.SUCCESS:
            self._set_started(worker)
        else:
            self._kill(worker)

    # -- acting on results ----------------------------------------------------------------------
    def _patch(self, namespace: str, name: str, uid: str,
               change: Callable[[Obj], bool]) -> Obj | None:
        """Change the pod if `change` says it did; the pod as stored, or None."""
        from kubelesson.sim.kubelet.lifecycle import _ordered_conditions

        changed: list[bool] = []

        def apply(current: Obj) -> Obj | None:
            if str(current["metadata"].get("uid")) != uid or not change(current):
                return None
            _ordered_conditions(current)
            changed.append(True)
            return current

        updated = self.store.mutate(PODS, namespace, name, apply)
        if not changed or updated is None:
            return None
        self.lifecycle._record(updated)
        return updated

    def _running_status(self, pod: Obj, name: str, container_id: str) -> Obj | None:
        cs = _status_of(pod, name)
        if cs is None or cs.get("containerID") != container_id:
            return None
        return cs if (cs.get("state") or {}).get("running") is not None else None

    def _set_ready(self, worker: Worker, ready: bool) -> None:
        now = timeutil.rfc3339(timeutil.now())

        def change(pod: Obj) -> bool:
            cs = self._running_status(pod, worker.name, worker.container_id)
            if cs is None or not cs.get("started") or bool(cs.get("ready")) == ready:
                return False
            cs["ready"] = ready
            readiness_conditions(pod, now)
            return True

        self._patch(worker.namespace, worker.pod, worker.uid, change)

    def _set_started(self, worker: Worker) -> None:
        now = timeutil.rfc3339(timeutil.now())
        no_readiness = not isinstance(worker.container.get("readinessProbe"), dict)

        def change(pod: Obj) -> bool:
            cs = self._running_status(pod, worker.name, worker.container_id)
            if cs is None:
                return False
            cs["started"] = True
            cs["ready"] = no_readiness
            readiness_conditions(pod, now)
            return True

        if self._patch(worker.namespace, worker.pod, worker.uid, change) is not None:
            self._manual_run(worker.uid, worker.name, READINESS)

    def _kill(self, worker: Worker) -> None:
        """computePodActions: a container that failed its liveness or startup probe is
        killed (with its grace period) and, unless restartPolicy is Never, started again."""
        from kubelesson.sim.apps import registry
        from kubelesson.sim.shell import process as shell

        pod = self.store.get(PODS, worker.namespace, worker.pod)
        if pod is None or str(pod["metadata"].get("uid")) != worker.uid:
            return
        spec = pod.get("spec") or {}
        restart = spec.get("restartPolicy", "Always") != "Never"
        message = f"Container {worker.name} failed {worker.kind} probe"
        if restart:
            message += ", will be restarted"
        self.lifecycle.event(pod, "Killing", message, field_path=f"spec.containers{{{worker.name}}}")
        grace = worker.spec.get("terminationGracePeriodSeconds")
        if not isinstance(grace, int):
            grace = spec.get("terminationGracePeriodSeconds", 30)
        program = registry.processes(worker.uid).get(worker.name)
        if program is not None:  # SIGTERM: the server shuts down and exits
            registry.unregister(worker.uid, worker.name, program)
            program.stop()
        main = shell.find(worker.uid, worker.name)
        if main is not None and main.done.is_set():
            main = None
        # A shell as the container's first process ignores SIGTERM: it is killed when the
        # grace period ends (137); the servers exit at once with 0.
        delay = min(self.options.terminating_seconds, float(grace or 0)) if main else 0.0
        code = 137 if main else 0
        container_id = worker.container_id
        self.lifecycle._step(pod, delay, lambda p: self._stopped(p, worker.name, container_id,
                                                                  code, restart, main))

    def _stopped(self, pod: Obj, name: str, container_id: str, code: int, restart: bool,
                 main: Any) -> None:
        if main is not None:
            main.kill()
        finished = time.time()
        now = timeutil.rfc3339(finished)
        before: list[Any] = []

        def change(p: Obj) -> bool:
            cs = self._running_status(p, name, container_id)
            if cs is None:
                return False
            before.append(((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt"))
            cs["state"] = {"terminated": {
                "exitCode": code, "reason": "Completed" if code == 0 else "Error",
                "startedAt": cs["state"]["running"].get("startedAt", now), "finishedAt": now,
                "containerID": container_id}}
            cs["ready"] = False
            cs["started"] = False
            if restart:
                readiness_conditions(p, now)
            else:
                _finished_pod(p, now)
            return True

        meta = pod["metadata"]
        uid = str(meta["uid"])
        updated = self._patch(str(meta.get("namespace", "")), str(meta["name"]), uid, change)
        if updated is None or not restart:
            return
        key = (uid, name)
        previous = self._previous_exit(key, before[0])
        with self._lock:
            self._finished[key] = finished
        # doBackOff looks at the pod's status from before the kill: the container that
        # exited last before this one decides.
        if previous is None:
            self._start_again(updated, name)
        elif self._in_backoff(key, previous):
            self._back_off(updated, name, finished)
        else:
            self._next_backoff(key, previous)
            self._start_again(updated, name)

    def _previous_exit(self, key: tuple[str, str], shown: Any) -> float | None:
        parsed = timeutil.parse(shown)
        with self._lock:
            recorded = self._finished.get(key)
        if recorded is not None and parsed is not None and abs(recorded - parsed) < 1.5:
            return recorded  # the same exit, known to the split second
        return parsed

    def _in_backoff(self, key: tuple[str, str], since: float) -> bool:
        unit = self.options.backoff_seconds
        with self._lock:
            entry = self._backoff.get(key)
        if entry is None or since - entry[1] > 2 * BACKOFF_MAX * unit:
            return False
        return time.time() - since < entry[0]

    def _next_backoff(self, key: tuple[str, str], since: float) -> None:
        unit = self.options.backoff_seconds
        with self._lock:
            entry = self._backoff.get(key)
            if entry is None or since - entry[1] > 2 * BACKOFF_MAX * unit:
                seconds = BACKOFF_FIRST * unit
            else:
                seconds = min(entry[0] * 2, BACKOFF_MAX * unit)
            self._backoff[key] = (seconds, time.time())

    def _back_off(self, pod: Obj, name: str, finished: float) -> None:
        meta = pod["metadata"]
        uid = str(meta["uid"])
        with self._lock:
            seconds = self._backoff.get((uid, name), (BACKOFF_FIRST, 0.0))[0]
        who = f"{meta['name']}_{meta.get('namespace', '')}({uid})"
        shown = timeutil.go_duration(round(seconds / self.options.backoff_seconds))

        def change(p: Obj) -> bool:
            cs = _status_of(p, name)
            terminated = ((cs or {}).get("state") or {}).get("terminated")
            if cs is None or not terminated:
                return False
            cs["lastState"] = {"terminated": terminated}
            cs["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": f"back-off {shown} "
                                       f"restarting failed container={name} pod={who}"}}
            return True

        updated = self._patch(str(meta.get("namespace", "")), str(meta["name"]), uid, change)
        if updated is None:
            return
        self.lifecycle.event(updated, "BackOff", f"Back-off restarting failed container {name} "
                             f"in pod {who}", type_="Warning", field_path=f"spec.containers{{{name}}}")
        self.lifecycle._step(updated, max(finished + seconds - time.time(), 0.0),
                             lambda p: self._after_back_off(p, name, finished))

    def _after_back_off(self, pod: Obj, name: str, finished: float) -> None:
        cs = _status_of(pod, name) or {}
        if ((cs.get("state") or {}).get("waiting") or {}).get("reason") != "CrashLoopBackOff":
            return
        self._next_backoff((str(pod["metadata"]["uid"]), name), finished)
        self._start_again(pod, name)

    def _start_again(self, pod: Obj, name: str) -> None:
        """A new container in place of the killed one: the programs of lesson 7 through their
        runtime, the others here (a fresh static server, the shell's command run again)."""
        from kubelesson.sim.kubelet import environment, listeners
        from kubelesson.sim.kubelet import lifecycle as kubelet
        from kubelesson.sim.shell import process as shell

        container = _container(pod, name)
        if container is None:
            return
        image = str(container.get("image", ""))
        runtime = self.lifecycle.runtime
        if runtime is not None and runtime.knows(image):
            runtime.restart(pod, name)
            return
        meta = pod["metadata"]
        uid = str(meta["uid"])
        t = time.time()
        now = timeutil.rfc3339(t)
        container_id = "containerd://" + uuid.uuid4().hex + uuid.uuid4().hex
        started, ready = initial_state(container)
        runs_command = shell.runs_command(container)
        known = images.lookup(image)
        logs = self.lifecycle.logs
        logs[(uid, name + kubelet.PREVIOUS_LOG)] = logs.get((uid, name), [])  # `logs --previous`
        logs[(uid, name)] = [] if runs_command or known is None else [
            kubelet.LogLine(t + i * 0.0003, line) for i, line in enumerate(known.logs(t))]

        def change(p: Obj) -> bool:
            cs = _status_of(p, name)
            if cs is None:
                return False
            terminated = (cs.get("state") or {}).get("terminated")
            if terminated:
                cs["lastState"] = {"terminated": terminated}
            cs["restartCount"] = int(cs.get("restartCount") or 0) + 1
            cs["containerID"] = container_id
            cs["state"] = {"running": {"startedAt": now}}
            cs["started"], cs["ready"] = started, ready
            readiness_conditions(p, now)
            return True

        updated = self._patch(str(meta.get("namespace", "")), str(meta["name"]), uid, change)
        if updated is None:
            return
        self.lifecycle.container_restart_events(updated, container)
        with contextlib.suppress(environment.ConfigError):  # else: the environment it had
            environment.remember(uid, name, environment.build(self.store, updated, container))
        listeners.restarted(updated, container)
        if runs_command:
            shell.start(self.lifecycle, updated, container)
        self.container_started(updated, name)


def _finished_pod(pod: Obj, now: str) -> None:
    """A container that is not restarted (restartPolicy Never): the pod ends once all its
    containers have."""
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    ended = [(s.get("state") or {}).get("terminated") for s in statuses]
    if statuses and all(ended):
        failed = any(e.get("exitCode") for e in ended if e)
        status["phase"] = "Failed" if failed else "Succeeded"
        _put_condition(pod, "PodReadyToStartContainers", False, now)
        _put_condition(pod, "Ready", False, now, "PodCompleted")
        _put_condition(pod, "ContainersReady", False, now, "PodCompleted")
    else:
        readiness_conditions(pod, now)
