"""The simulated kubelet and scheduler: timers that move pods through their life.

Pending (no node) -> scheduled -> ContainerCreating (volumes set up, then images pulled) ->
Running and Ready; a volume that cannot be set up (a missing ConfigMap) keeps the pod in
ContainerCreating with FailedMount events until it can; an unknown image or tag goes
ErrImagePull -> ImagePullBackOff and stays; a graceful delete shows Terminating for
a while, then the pod is gone. Each step checks the pod is still the same object (uid),
so a pod deleted and re-created under the same name never receives stale transitions.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubelesson.sim import timeutil
from kubelesson.sim.api.printers import pod_status
from kubelesson.sim.controllers import placement
from kubelesson.sim.controllers.scheduler import Scheduler
from kubelesson.sim.kubelet import images, podfs
from kubelesson.sim.kubelet.prober import Prober, initial_state, readiness_conditions
from kubelesson.sim.options import SimOptions
from kubelesson.sim.storage import binding
from kubelesson.sim.store import Obj, Store

PODS = "pods"
EVENTS = "events"
EVENT_CACHE_SIZE = 4096

# The kubelet retries a failed volume set-up after 0.5 s, doubling up to 2m2s
# (nestedpendingoperations), and gives up waiting for a pod's volumes after 2m3s
# (podAttachAndMountTimeout), which it reports, then starts waiting again.
MOUNT_RETRY_FIRST = 0.5
MOUNT_RETRY_MAX = 122.0
MOUNT_TIMEOUT = 123.0


@dataclass
class NodeInfo:
    name: str
    ip: str
    subnet: int  # the pod CIDR is 10.42.<subnet>.0/24
    server: bool = False
    next_ip: itertools.count[int] = field(default_factory=lambda: itertools.count(3))


@dataclass(frozen=True)
class LogLine:
    time: float
    text: str


# The log of a container's previous run is kept under (pod uid, name + PREVIOUS_LOG).
PREVIOUS_LOG = "/previous"


def _kubelet_backoff(restarts: int) -> str:
    """The back-off the kubelet names after the n-th restart: 10s doubling, at most 5m0s."""
    seconds = min(10 * 2 ** (restarts - 1), 300)
    return f"{seconds // 60}m{seconds % 60}s" if seconds >= 60 else f"{seconds}s"


def _cond(type_: str, status: bool, now: str, reason: str = "", message: str = "") -> Obj:
    cond: Obj = {
        "type": type_,
        "status": "True" if status else "False",
        "lastProbeTime": None,
        "lastTransitionTime": now,
    }
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def _set_condition(pod: Obj, type_: str, status: bool, now: str, reason: str = "",
                   message: str = "") -> None:
    conds: list[Obj] = pod.setdefault("status", {}).setdefault("conditions", [])
    for i, cond in enumerate(conds):
        if cond.get("type") == type_:
            if cond.get("status") == ("True" if status else "False") and not reason:
                return
            conds[i] = _cond(type_, status, now, reason, message)
            return
    conds.append(_cond(type_, status, now, reason, message))


def _ordered_conditions(pod: Obj) -> None:
    order = ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
             "PodScheduled"]
    conds = pod.get("status", {}).get("conditions") or []
    conds.sort(key=lambda c: order.index(c["type"]) if c["type"] in order else len(order))


class Lifecycle:
    def __init__(self, store: Store, options: SimOptions, nodes: list[NodeInfo]) -> None:
        self.store = store
        self.options = options
        self.nodes = nodes
        self.scheduler = Scheduler()
        self._lock = threading.Lock()
        self._rr = itertools.count()
        # /_sim/events: the last lifecycle_log_size transitions, not all of them.
        self.transitions: deque[dict[str, Any]] = deque(maxlen=options.lifecycle_log_size)
        self.logs: dict[tuple[str, str], list[LogLine]] = {}  # (pod uid, container) -> lines
        self.on_removed: Callable[[str], None] = lambda namespace: None
        # Which event counts a repeat, least recently used first: bounded as in
        # client-go's event correlator (an LRU cache of 4096 entries).
        self._event_names: OrderedDict[tuple[str, str, str], str] = OrderedDict()
        self._last_ns = 0
        self._attached: set[str] = set()  # uids of the pods whose volumes are mounted
        self._unschedulable: dict[str, Obj] = {}  # uid -> a pod no node fits (placement.py)
        # Lesson 7: node-disk volumes (storage/volumes.py) and the programs that run in
        # containers (apps/runtime.py); set by the cluster.
        self.volumes: Any = None
        self.runtime: Any = None
        self.prober = Prober(self)  # readiness, liveness and startup probes

    def stop(self) -> None:
        self.prober.stop()
        self.scheduler.stop()
        with self._lock:
            attached, self._attached = self._attached, set()
        for uid in attached:
            podfs.detach(uid)

    def transitions_snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.transitions)

    # -- bookkeeping -----------------------------------------------------------------
    def _record(self, pod: Obj, what: str | None = None) -> None:
        status = pod.get("status", {})
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        entry = {
            "time": time.time(),
            "namespace": pod["metadata"].get("namespace", ""),
            "pod": pod["metadata"]["name"],
            "phase": status.get("phase", ""),
            "status": what or pod_status(pod),
            "ready": ready,
        }
        with self._lock:
            self.transitions.append(entry)

    def container_restart_events(self, pod: Obj, container: Obj) -> None:
        """What the kubelet records when it starts a container again in a running pod: the
        pull (only with imagePullPolicy Always) or the image found on the node, then
        Created and Started."""
        name, image = str(container.get("name", "")), str(container.get("image", ""))
        field_path = f"spec.containers{{{name}}}"
        if container.get("imagePullPolicy") == "Always":
            took = timeutil.go_duration(self.options.creating_seconds)
            known = images.lookup(image)
            size = known.size if known is not None else 0
            self.event(pod, "Pulling", f'Pulling image "{image}"', field_path=field_path)
            self.event(pod, "Pulled", f'Successfully pulled image "{image}" in {took} '
                       f"({took} including waiting). Image size: {size} bytes.", field_path=field_path)
        else:
            self.event(pod, "Pulled", f'Container image "{image}" already present on machine',
                       field_path=field_path)
        self.event(pod, "Created", f"Created container: {name}", field_path=field_path)
        self.event(pod, "Started", f"Started container {name}", field_path=field_path)

    def event(self, obj: Obj, reason: str, message: str, *, type_: str = "Normal",
              component: str = "kubelet", field_path: str = "") -> None:
        """Record an Event about `obj`, counting repeats as the real event recorder does."""
        meta = obj["metadata"]
        ns = meta.get("namespace") or "default"
        now = timeutil.now()
        stamp = timeutil.rfc3339(now)
        # Real event names are `<object>.<hex unix nanos>`, so listing them by name lists
        # them in creation order, which keeps describe's stable sort chronological.
        dedupe = (str(meta.get("uid")), reason, message)
        with self._lock:
            name = self._event_names.pop(dedupe, "")
            if not name:
                self._last_ns = max(time.time_ns(), self._last_ns + 1)
                name = f"{meta['name']}.{self._last_ns:x}"
            self._event_names[dedupe] = name
            if len(self._event_names) > EVENT_CACHE_SIZE:
                self._event_names.popitem(last=False)

        def bump(ev: Obj) -> Obj:
            ev["count"] = int(ev.get("count", 1)) + 1
            ev["lastTimestamp"] = stamp
            return ev

        if self.store.mutate(EVENTS, ns, name, bump) is not None:
            return
        involved: Obj = {
            "kind": obj.get("kind", "Pod"),
            "namespace": ns,
            "name": meta["name"],
            "uid": meta.get("uid", ""),
            "apiVersion": obj.get("apiVersion", "v1"),
            "resourceVersion": meta.get("resourceVersion", ""),
        }
        if field_path:
            involved["fieldPath"] = field_path
        host = obj.get("spec", {}).get("nodeName", "") if component == "kubelet" else ""
        source: Obj = {"component": component}
        if host:
            source["host"] = host
        ev: Obj = {
            "kind": "Event",
            "apiVersion": "v1",
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "source": source,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "type": type_,
            "eventTime": None,
            "reportingComponent": component,
            "reportingInstance": host,
        }
        try:
            self.store.create(EVENTS, ev)
        except Exception:  # a concurrent identical event: count it instead
            self.store.mutate(EVENTS, ns, name, bump)

    # -- transitions -----------------------------------------------------------------
    def _step(self, pod: Obj, delay: float, fn: Callable[[Obj], None]) -> None:
        """Run fn on the pod after `delay`, only if it is still the same, live pod."""
        meta = pod["metadata"]
        ns, name, uid = meta.get("namespace", ""), meta["name"], meta["uid"]

        def run() -> None:
            current = self.store.get(PODS, ns, name)
            if current is None or current["metadata"].get("uid") != uid:
                return
            if current["metadata"].get("deletionTimestamp"):
                return
            fn(current)

        self.scheduler.call_later(delay, run)

    def _update(self, pod: Obj, change: Callable[[Obj], None]) -> Obj | None:
        meta = pod["metadata"]
        uid = meta["uid"]

        def apply(current: Obj) -> Obj | None:
            if current["metadata"].get("uid") != uid:
                return None
            change(current)
            _ordered_conditions(current)
            return current

        updated = self.store.mutate(PODS, meta.get("namespace", ""), meta["name"], apply)
        if updated is not None and updated["metadata"].get("uid") == uid:
            self._record(updated)
        return updated

    def pod_created(self, pod: Obj) -> None:
        self._record(pod)
        if pod.get("spec", {}).get("nodeName"):
            self._step(pod, 0, self._assigned)
        else:
            self._step(pod, self.options.pending_seconds, self._schedule)

    def _schedule(self, pod: Obj) -> None:
        now = timeutil.rfc3339(timeutil.now())
        if not self.options.nodes_ready:
            count = len(self.nodes)
            message = (
                f"0/{count} nodes are available: {count} node(s) had untolerated taint "
                "{node.kubernetes.io/not-ready: }. preemption: "
                f"0/{count} nodes are available: {count} Preemption is not helpful for "
                "scheduling."
            )

            def unschedulable(p: Obj) -> None:
                _set_condition(p, "PodScheduled", False, now, "Unschedulable", message)

            self._update(pod, unschedulable)
            self.event(pod, "FailedScheduling", message, type_="Warning",
                       component="default-scheduler")
            return
        node = self._pick_node(pod, now)
        if node is None:
            return
        if not binding.ready_on(self.store, pod, node.name):
            # PreBind: the claim's volume is being made on that node; bind after it is.
            self._step(pod, binding.poll_delay(pod), self._schedule)
            return

        def bind(p: Obj) -> None:
            p["spec"]["nodeName"] = node.name

        bound = self._update(pod, bind)
        if bound is None:
            return
        ns = pod["metadata"].get("namespace", "")
        self.event(bound, "Scheduled",
                   f"Successfully assigned {ns}/{pod['metadata']['name']} to {node.name}",
                   component="default-scheduler")
        self._assigned(bound)

    def _pick_node(self, pod: Obj, now: str) -> NodeInfo | None:
        """Round robin over the nodes the pod fits on (placement.py: node affinity, host
        ports); a pod that fits nowhere stays Pending and is tried again when a pod goes."""
        fits = placement.feasible(self.store, pod, self.nodes)
        # VolumeBinding (storage/binding.py): missing claims first, then volume node affinity.
        claim_problem = binding.prefilter(self.store, pod)
        if claim_problem:
            fits = placement.Unfit(binding.prefilter_message(len(self.nodes), claim_problem))
        elif not isinstance(fits, placement.Unfit):
            fits = binding.narrow(self.store, pod, fits, self.nodes)
        if isinstance(fits, placement.Unfit):
            message = fits.message

            def unschedulable(p: Obj) -> None:
                _set_condition(p, "PodScheduled", False, now, "Unschedulable", message)

            with self._lock:
                self._unschedulable[pod["metadata"]["uid"]] = pod
            self._update(pod, unschedulable)
            self.event(pod, "FailedScheduling", message, type_="Warning",
                       component="default-scheduler")
            return None
        with self._lock:
            self._unschedulable.pop(pod["metadata"]["uid"], None)
        if len(fits) == len(self.nodes):
            return self.nodes[next(self._rr) % len(self.nodes)]
        # A pod pinned to one node (a DaemonSet's) leaves the round robin where it was.
        chosen: NodeInfo = fits[0] if len(fits) == 1 else fits[next(self._rr) % len(fits)]
        return chosen

    def _node(self, name: str) -> NodeInfo:
        for node in self.nodes:
            if node.name == name:
                return node
        return self.nodes[0]

    def _assigned(self, pod: Obj) -> None:
        """The kubelet picked the pod up: ContainerCreating, then start the containers."""
        now = timeutil.rfc3339(timeutil.now())
        node = self._node(pod["spec"]["nodeName"])

        def creating(p: Obj) -> None:
            status = p.setdefault("status", {})
            status["phase"] = "Pending"
            status["hostIP"] = node.ip
            status["hostIPs"] = [{"ip": node.ip}]
            status["startTime"] = now
            _set_condition(p, "PodReadyToStartContainers", False, now)
            _set_condition(p, "Initialized", True, now)
            _set_condition(p, "Ready", False, now, "ContainersNotReady",
                           self._not_ready_message(p))
            _set_condition(p, "ContainersReady", False, now, "ContainersNotReady",
                           self._not_ready_message(p))
            _set_condition(p, "PodScheduled", True, now)
            status["containerStatuses"] = [
                {
                    "name": c["name"],
                    "image": c.get("image", ""),
                    "imageID": "",
                    "lastState": {},
                    "ready": False,
                    "restartCount": 0,
                    "started": False,
                    "state": {"waiting": {"reason": "ContainerCreating"}},
                    "volumeMounts": [
                        {"mountPath": m.get("mountPath", ""), "name": m.get("name", ""),
                         "readOnly": True, "recursiveReadOnly": "Disabled"}
                        for m in c.get("volumeMounts") or []
                    ],
                }
                for c in p["spec"].get("containers") or []
            ]

        updated = self._update(pod, creating)
        if updated is None:
            return
        self.prober.pod_admitted(updated)  # its probe workers start ticking now
        self._mount(updated)

    def _mount(self, pod: Obj, attempt: int = 0) -> None:
        """Set the pod's volumes up; then pull. A volume that cannot be set up yet is
        retried with the kubelet's back-off, the pod staying in ContainerCreating."""
        plan = podfs.plan(self.store, pod, self.volumes)
        if plan.failed:
            for volume, problem in plan.failed:
                self.event(pod, "FailedMount",
                           f'MountVolume.SetUp failed for volume "{volume}" : {problem}',
                           type_="Warning")
            if attempt == 0:
                self._step(pod, MOUNT_TIMEOUT, self._mount_timed_out)
            delay = min(MOUNT_RETRY_FIRST * 2 ** min(attempt, 16), MOUNT_RETRY_MAX)
            self._step(pod, delay, lambda p: self._mount(p, attempt + 1))
            return
        uid = pod["metadata"]["uid"]
        podfs.attach(uid, plan.mounts)
        with self._lock:
            self._attached.add(uid)
        for c in pod["spec"].get("containers") or []:
            self.event(pod, "Pulling", f'Pulling image "{c.get("image", "")}"',
                       field_path=f"spec.containers{{{c['name']}}}")
        self._step(pod, self.options.creating_seconds, self._start)

    def _mount_timed_out(self, pod: Obj) -> None:
        """The pod worker stopped waiting for the volumes: say which, and wait again."""
        if podfs.is_attached(pod["metadata"]["uid"]):
            return
        unmounted = sorted(volume for volume, _ in podfs.plan(self.store, pod, self.volumes).failed)
        if not unmounted:
            return
        cause = ("context deadline exceeded" if self.options.minor >= 28
                 else "timed out waiting for the condition")
        self.event(pod, "FailedMount", "Unable to attach or mount volumes: unmounted volumes="
                   f"[{' '.join(unmounted)}], unattached volumes=[], failed to process "
                   f"volumes=[]: {cause}", type_="Warning")
        self._step(pod, MOUNT_TIMEOUT, self._mount_timed_out)

    @staticmethod
    def _not_ready_message(pod: Obj) -> str:
        names = [c["name"] for c in pod["spec"].get("containers") or []]
        return f"containers with unready status: [{' '.join(names)}]"

    def _pod_ip(self, node: NodeInfo) -> str:
        with self._lock:
            return f"10.42.{node.subnet}.{next(node.next_ip) % 250 + 3}"

    def _start(self, pod: Obj) -> None:
        """Pull finished: start known images, fail unknown ones."""
        t = timeutil.now()
        now = timeutil.rfc3339(t)
        node = self._node(pod["spec"]["nodeName"])
        ip = pod.get("status", {}).get("podIP") or self._pod_ip(node)
        containers = pod["spec"].get("containers") or []
        outcome: dict[str, str] = {}
        envs: dict[str, dict[str, str]] = {}  # the environment of each container that starts
        config_errors: dict[str, str] = {}
        for c in containers:
            image = images.lookup(c.get("image", ""))
            if image is None:
                outcome[c["name"]] = "pull-failed"
            elif not image.runs_forever and not (c.get("command") or c.get("args")
                                                 or c.get("stdin")):  # a shell waits on stdin
                outcome[c["name"]] = "completed"
            elif (problem := self._config_problem(pod, c, envs)) is not None:
                outcome[c["name"]] = "config-error"  # CreateContainerConfigError
                config_errors[c["name"]] = problem
            else:
                outcome[c["name"]] = "running"
                self.logs[(pod["metadata"]["uid"], c["name"])] = [
                    LogLine(t + i * 0.0003, line) for i, line in enumerate(image.logs(t))
                ]

        def started(p: Obj) -> None:
            status = p["status"]
            status["podIP"] = ip
            status["podIPs"] = [{"ip": ip}]
            _set_condition(p, "PodReadyToStartContainers", True, now)
            for cs in status.get("containerStatuses") or []:
                spec_image = next(
                    (c.get("image", "") for c in containers if c["name"] == cs["name"]), ""
                )
                result = outcome.get(cs["name"], "running")
                if result == "pull-failed":
                    cs["state"] = {"waiting": {"reason": "ErrImagePull",
                                               "message": self._pull_error(spec_image)}}
                    continue
                cs["image"] = images.full_reference(spec_image)
                cs["imageID"] = images.image_id(spec_image)
                if result == "config-error":
                    cs["state"] = {"waiting": {"reason": "CreateContainerConfigError",
                                               "message": config_errors[cs["name"]]}}
                    continue
                cs["containerID"] = "containerd://" + uuid.uuid4().hex + uuid.uuid4().hex
                cs["started"] = result == "running"
                if result == "running":
                    spec: Obj = next((c for c in containers if c["name"] == cs["name"]), {})
                    cs["started"], cs["ready"] = initial_state(spec)  # probes decide later
                    cs["state"] = {"running": {"startedAt": now}}
                else:
                    cs["ready"] = False
                    cs["state"] = {"terminated": {
                        "exitCode": 0, "reason": "Completed", "startedAt": now,
                        "finishedAt": now, "containerID": cs["containerID"],
                    }}
            all_running = all(o == "running" for o in outcome.values())
            if all_running:
                status["phase"] = "Running"
                readiness_conditions(p, now)  # Ready unless a probe has yet to pass
            elif all(o == "completed" for o in outcome.values()) and p["spec"].get(
                "restartPolicy"
            ) in ("Never", "OnFailure"):
                status["phase"] = "Succeeded"
                _set_condition(p, "Ready", False, now, "PodCompleted")
                _set_condition(p, "ContainersReady", False, now, "PodCompleted")
            elif any(o in ("running", "completed") for o in outcome.values()):
                status["phase"] = "Running"

        updated = self._update(pod, started)
        if updated is None:
            return
        for c in containers:
            fp = f"spec.containers{{{c['name']}}}"
            ref = c.get("image", "")
            if outcome[c["name"]] == "pull-failed":
                self.event(updated, "Failed", f'Failed to pull image "{ref}": '
                           + self._pull_error(ref), type_="Warning", field_path=fp)
                self.event(updated, "Failed", "Error: ErrImagePull", type_="Warning",
                           field_path=fp)
                continue
            image = images.lookup(ref)
            took = timeutil.go_duration(self.options.creating_seconds)
            size = image.size if image else 0
            self.event(updated, "Pulled", f'Successfully pulled image "{ref}" in {took} '
                       f"({took} including waiting). Image size: {size} bytes.",
                       field_path=fp)
            if outcome[c["name"]] == "config-error":
                self._config_failed(updated, c["name"], config_errors[c["name"]])
                continue
            self.event(updated, "Created", f"Created container: {c['name']}", field_path=fp)
            self.event(updated, "Started", f"Started container {c['name']}", field_path=fp)
        if "pull-failed" in outcome.values():
            self._step(updated, self.options.backoff_seconds, self._back_off)
        elif "completed" in outcome.values() and updated["spec"].get("restartPolicy",
                                                                       "Always") == "Always":
            self._step(updated, self.options.backoff_seconds, self._crash_loop)
        self._programs_started(updated, containers, outcome, envs)
        from kubelesson.sim.shell import process  # lesson 5: commands run (shell/)

        for c in containers:
            if outcome[c["name"]] == "running" and process.runs_command(c):
                process.start(self, updated, c)
        for c in containers:
            if outcome[c["name"]] == "running":
                self.prober.container_started(updated, c["name"])

    @staticmethod
    def _pull_error(ref: str) -> str:
        full, _ = images.split_reference(ref)
        target = images.full_reference(ref)
        if images.repository(ref) is not None:
            # The repository exists, the tag does not: containerd answers NotFound, a gRPC
            # code the kubelet keeps in the message (it strips only "Unknown").
            return (f'rpc error: code = NotFound desc = failed to pull and unpack image '
                    f'"{target}": failed to resolve reference "{target}": {target}: not found')
        return (
            f'failed to pull and unpack image "{target}": failed to resolve reference '
            f'"{target}": pull access denied, repository does not exist or may require '
            f"authorization: server message: insufficient_scope: authorization failed"
        ) if full.startswith("docker.io/") else (
            f'failed to pull and unpack image "{target}": failed to resolve reference '
            f'"{target}": not found'
        )

    def _back_off(self, pod: Obj, attempt: int = 1) -> None:
        """ErrImagePull becomes ImagePullBackOff; once the back-off ends the kubelet pulls
        again (ErrImagePull for a moment, then ImagePullBackOff), the back-off doubling each
        time as on a node (10s up to 5m there; here 4 x backoff_seconds, 8 x ..., at most
        30 x), so the two alternate as a real pod's STATUS does."""
        def backoff(p: Obj) -> None:
            for cs in p["status"].get("containerStatuses") or []:
                waiting = (cs.get("state") or {}).get("waiting") or {}
                if waiting.get("reason") == "ErrImagePull":
                    image = next((c.get("image", "") for c in p["spec"]["containers"]
                                  if c["name"] == cs["name"]), "")
                    message = f'Back-off pulling image "{image}"'
                    if self.options.minor >= 32:  # kubelet 1.32 adds the last pull error
                        message += f": ErrImagePull: {self._pull_error(image)}"
                    cs["state"] = {"waiting": {"reason": "ImagePullBackOff",
                                               "message": message}}

        updated = self._update(pod, backoff)
        if updated is None:
            return
        for c in updated["spec"].get("containers") or []:
            if images.lookup(c.get("image", "")) is None:
                fp = f"spec.containers{{{c['name']}}}"
                self.event(updated, "BackOff", f'Back-off pulling image "{c.get("image", "")}"',
                           field_path=fp)
                self.event(updated, "Failed", "Error: ImagePullBackOff", type_="Warning",
                           field_path=fp)
        base = self.options.backoff_seconds
        self._step(updated, min(base * 2 ** (attempt + 1), base * 30),
                   lambda p: self._pull_again(p, attempt))

    def _pull_again(self, pod: Obj, attempt: int) -> None:
        """The back-off is over: pull again; an image still missing fails as before."""
        failed: list[Obj] = []

        def again(p: Obj) -> None:
            for cs in p["status"].get("containerStatuses") or []:
                if ((cs.get("state") or {}).get("waiting") or {}).get("reason") != "ImagePullBackOff":
                    continue
                spec: Obj = next((c for c in p["spec"]["containers"] if c["name"] == cs["name"]), {})
                if images.lookup(spec.get("image", "")) is None:
                    cs["state"] = {"waiting": {"reason": "ErrImagePull",
                                               "message": self._pull_error(spec.get("image", ""))}}
                    failed.append(spec)

        updated = self._update(pod, again)
        if updated is None or not failed:
            return
        for c in failed:
            fp = f"spec.containers{{{c['name']}}}"
            ref = c.get("image", "")
            self.event(updated, "Pulling", f'Pulling image "{ref}"', field_path=fp)
            self.event(updated, "Failed", f'Failed to pull image "{ref}": ' + self._pull_error(ref),
                       type_="Warning", field_path=fp)
            self.event(updated, "Failed", "Error: ErrImagePull", type_="Warning", field_path=fp)
        self._step(updated, self.options.backoff_seconds,
                   lambda p: self._back_off(p, attempt + 1))

    def _crash_loop(self, pod: Obj) -> None:
        """A container whose command exits at once under restartPolicy Always. The kubelet
        restarts it after a back-off that doubles each time (10s, 20s ... up to 5m; here
        backoff_seconds doubling, up to 30 times it), and each restart ends at once, so
        RESTARTS grows as on a node. The instant between a restart and the exit is not
        shown: STATUS stays CrashLoopBackOff."""
        now = timeutil.rfc3339(timeutil.now())
        counts: list[int] = []

        def crash(p: Obj) -> None:
            for cs in p["status"].get("containerStatuses") or []:
                state = cs.get("state") or {}
                if state.get("terminated"):  # the first exit
                    cs["lastState"] = {"terminated": state["terminated"]}
                elif (state.get("waiting") or {}).get("reason") == "CrashLoopBackOff":
                    before = (cs.get("lastState") or {}).get("terminated") or {}
                    cs["lastState"] = {"terminated": {
                        **before, "startedAt": now, "finishedAt": now,
                        "containerID": "containerd://" + uuid.uuid4().hex + uuid.uuid4().hex}}
                else:
                    continue
                count = int(cs.get("restartCount", 0)) + 1
                cs["restartCount"] = count
                counts.append(count)
                cs["state"] = {"waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off {_kubelet_backoff(count)} restarting failed container="
                               f"{cs['name']} pod={p['metadata']['name']}_"
                               f"{p['metadata']['namespace']}({p['metadata']['uid']})",
                }}

        updated = self._update(pod, crash)
        if updated is None or not counts:
            return
        for c in updated["spec"].get("containers") or []:
            fp = f"spec.containers{{{c['name']}}}"
            if min(counts) > 1:  # restarted: the image is there already
                self.event(updated, "Pulled", f'Container image "{c.get("image", "")}" already '
                           "present on machine", field_path=fp)
                self.event(updated, "Created", f"Created container: {c['name']}", field_path=fp)
                self.event(updated, "Started", f"Started container {c['name']}", field_path=fp)
            self.event(updated, "BackOff", "Back-off restarting failed container "
                       f"{c['name']} in pod {updated['metadata']['name']}_"
                       f"{updated['metadata']['namespace']}({updated['metadata']['uid']})",
                       type_="Warning", field_path=fp)
        backoff = self.options.backoff_seconds
        self._step(updated, min(backoff * 2 ** (min(counts) - 1), backoff * 30), self._crash_loop)

    def images_changed(self, pod: Obj, changed: list[str]) -> None:
        """A live pod's container image was patched: the kubelet restarts that container."""
        if not pod.get("spec", {}).get("nodeName") or not changed:
            return
        now = timeutil.rfc3339(timeutil.now())
        for name in changed:
            self.event(pod, "Killing", f"Container {name} definition changed, will be restarted",
                       field_path=f"spec.containers{{{name}}}")

        def restarting(p: Obj) -> None:
            for cs in p["status"].get("containerStatuses") or []:
                if cs["name"] not in changed:
                    continue
                running = (cs.get("state") or {}).get("running")
                if running:
                    cs["lastState"] = {"terminated": {
                        "exitCode": 0, "reason": "Completed", "startedAt": running["startedAt"],
                        "finishedAt": now, "containerID": cs.get("containerID", ""),
                    }}
                    cs["restartCount"] = int(cs.get("restartCount", 0)) + 1
                cs["ready"] = False
                cs["started"] = False
                cs["state"] = {"waiting": {"reason": "ContainerCreating"}}
            _set_condition(p, "Ready", False, now, "ContainersNotReady",
                           self._not_ready_message(p))
            _set_condition(p, "ContainersReady", False, now, "ContainersNotReady",
                           self._not_ready_message(p))

        updated = self._update(pod, restarting)
        if updated is not None:
            self._step(updated, self.options.creating_seconds, self._start)

    # -- deletion ----------------------------------------------------------------------
    def terminate(self, pod: Obj, grace: float) -> None:
        """Graceful delete: the kubelet stops the containers, then the pod object goes."""
        meta = pod["metadata"]
        ns, name, uid = meta.get("namespace", ""), meta["name"], meta["uid"]
        self._record(pod, "Terminating")
        running = {
            cs.get("name") for cs in pod.get("status", {}).get("containerStatuses") or []
            if (cs.get("state") or {}).get("running") is not None
        }
        for c in pod["spec"].get("containers") or []:
            if c["name"] in running:
                self.event(pod, "Killing", f"Stopping container {c['name']}",
                           field_path=f"spec.containers{{{c['name']}}}")

        def stopped() -> None:
            current = self.store.get(PODS, ns, name)
            if current is None or current["metadata"].get("uid") != uid:
                return
            now = timeutil.rfc3339(timeutil.now())

            def stop_containers(p: Obj) -> None:
                for cs in p.get("status", {}).get("containerStatuses") or []:
                    running = (cs.get("state") or {}).get("running")
                    if running:
                        cs["state"] = {"terminated": {
                            "exitCode": 0, "reason": "Completed",
                            "startedAt": running.get("startedAt"), "finishedAt": now,
                            "containerID": cs.get("containerID", ""),
                        }}
                    cs["ready"] = False
                    cs["started"] = False
                if p.get("status", {}).get("conditions"):
                    _set_condition(p, "Ready", False, now, "PodCompleted")
                    _set_condition(p, "ContainersReady", False, now, "PodCompleted")
                    _set_condition(p, "PodReadyToStartContainers", False, now)

            self._update(current, stop_containers)

            def grace_zero(p: Obj) -> None:
                # The kubelet's own delete, with grace 0: the apiserver writes it to the
                # object (a watch sees one more Terminating line) and then deletes it.
                p["metadata"]["deletionGracePeriodSeconds"] = 0

            self._update(current, grace_zero)
            self.remove(current)

        self.scheduler.call_later(min(self.options.terminating_seconds, grace), stopped)

    def remove(self, pod: Obj) -> None:
        meta = pod["metadata"]
        ns = meta.get("namespace", "")
        final = self.store.delete(PODS, ns, meta["name"])
        if final is not None:
            self._record(final, "Deleted")
            self.released(final)
            self.on_removed(ns)

    def released(self, pod: Obj) -> None:
        """The pod is gone (at once or after its grace period): its volumes are unmounted
        and its containers' logs dropped."""
        uid = str(pod["metadata"].get("uid", ""))
        with self._lock:
            self._attached.discard(uid)
            for key in [k for k in self.logs if k[0] == uid]:
                del self.logs[key]
            self._unschedulable.pop(uid, None)
            retry = list(self._unschedulable.values())
        podfs.detach(uid)
        self.prober.pod_gone(uid)
        self._programs_gone(pod)
        from kubelesson.sim.shell import process

        process.forget(uid)  # what still runs in its containers ends with it
        for waiting in retry:  # a pod that went may have freed what they wait for
            self._step(waiting, 0, self._schedule_again)

    def _schedule_again(self, pod: Obj) -> None:
        if not pod["spec"].get("nodeName"):  # not placed by an earlier retry meanwhile
            self._schedule(pod)

    # -- lesson 7: environments, programs, node-disk volumes ------------------------------
    def _config_problem(self, pod: Obj, container: Obj, envs: dict[str, dict[str, str]]) -> str | None:
        """Build the container's environment (environment.py), or say why the kubelet
        cannot (a missing Secret or key: CreateContainerConfigError)."""
        from kubelesson.sim.kubelet import environment

        try:
            envs[container["name"]] = environment.build(self.store, pod, container)
        except environment.ConfigError as problem:
            return str(problem)
        return None

    def _config_failed(self, pod: Obj, name: str, message: str) -> None:
        """The kubelet reports the error and tries the container again after a while."""
        self.event(pod, "Failed", f"Error: {message}", type_="Warning",
                   field_path=f"spec.containers{{{name}}}")
        if self.runtime is not None:
            self._step(pod, 10 * self.options.backoff_seconds,
                       lambda p: self.runtime.start_again(p, name))

    def _programs_started(self, pod: Obj, containers: list[Obj], outcome: dict[str, str],
                          envs: dict[str, dict[str, str]]) -> None:
        from kubelesson.sim.kubelet import environment

        for c in containers:
            if outcome.get(c["name"]) != "running":
                continue
            env = envs.get(c["name"], {})
            environment.remember(str(pod["metadata"]["uid"]), c["name"], env)
            if self.runtime is not None:
                self.runtime.started(pod, c, env)

    def _programs_gone(self, pod: Obj) -> None:
        from kubelesson.sim.kubelet import environment

        if self.runtime is not None:
            self.runtime.pod_gone(pod)
        if self.volumes is not None:
            self.volumes.pod_gone(pod)  # its emptyDir volumes go with it
        environment.forget(str(pod["metadata"].get("uid", "")))

    def retry_unschedulable(self, which: Callable[[Obj], bool] = lambda pod: True) -> None:
        """What a waiting pod needs may have appeared (a claim, a StorageClass): the
        scheduler tries those pods again (`which`: only those it may concern)."""
        with self._lock:
            waiting = [pod for pod in self._unschedulable.values() if which(pod)]
        for pod in waiting:
            self._step(pod, 0, self._schedule_again)
