"""What every simulated controller shares: a work queue fed by the store's change
notifications, one worker thread, delayed re-queues, and small helpers.

There is no polling: the store calls `Manager._notify` for every change (under its lock),
each controller maps the change to the keys it must look at again, and the worker syncs
those keys one at a time. Running every controller on one thread keeps them from racing
each other, as the informer caches of kube-controller-manager keep its controllers
consistent; a sync always reads the current state from the store.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from kubelesson.sim import timeutil
from kubelesson.sim.api.cluster import Cluster
from kubelesson.sim.api.errors import ApiError
from kubelesson.sim.api.resources import NAMESPACE, POD
from kubelesson.sim.controllers.scheduler import Scheduler
from kubelesson.sim.store import Obj, WatchEvent, deep_copy

if TYPE_CHECKING:
    from kubelesson.sim.controllers.garbage import GarbageCollector

log = logging.getLogger(__name__)
Key = tuple[str, str]  # namespace, name


class Controller:
    """One control loop. Subclasses name the change they react to and reconcile a key."""

    name = "controller"
    component = "controller-manager"  # the `source.component` of the events it writes
    resource = ""  # the store key of the kind it reconciles, when each object is one key

    def __init__(self, cluster: Cluster, manager: Manager) -> None:
        self.cluster = cluster
        self.store = cluster.store
        self.manager = manager

    def keys_for(self, event: WatchEvent) -> Iterable[Key]:
        """The keys of this controller the change touches (called under the store lock:
        it must only look at the event, never wait)."""
        return ()

    def sync(self, namespace: str, name: str) -> float | None:
        """Reconcile one object; a number asks for another sync after that many seconds."""
        return None

    def initial_keys(self) -> Iterable[Key]:
        """Every object of `resource` (none without one): what exists at start is synced."""
        if not self.resource:
            return ()
        items, _ = self.store.list(self.resource)
        return [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in items]

    # -- helpers shared by the controllers --------------------------------------------
    def record(self, obj: Obj, reason: str, message: str, type_: str = "Normal") -> None:
        """An Event about `obj` from this controller, unless its namespace is going away."""
        ns = obj["metadata"].get("namespace", "")
        namespace = self.store.get(NAMESPACE.key, "", ns)
        if namespace is None or namespace["metadata"].get("deletionTimestamp"):
            return
        self.cluster.lifecycle.event(obj, reason, message, type_=type_,
                                     component=self.component)

    def write_status(self, resource: str, obj: Obj, status: Obj,
                     annotations: dict[str, str] | None = None) -> Obj | None:
        """Store a new status (and annotations) if they differ; the object, or None if gone."""
        meta = obj["metadata"]
        uid = meta.get("uid")

        def change(current: Obj) -> Obj | None:
            if current["metadata"].get("uid") != uid:
                return None
            changed = False
            if current.get("status") != status:
                current["status"] = deep_copy(status)
                changed = True
            for key, value in (annotations or {}).items():
                notes = current["metadata"].setdefault("annotations", {})
                if notes.get(key) != value:
                    notes[key] = value
                    changed = True
            return current if changed else None

        return self.store.mutate(resource, meta.get("namespace", ""), meta["name"], change)

    def set_controller(self, resource: str, obj: Obj, owner: Obj | None) -> Obj | None:
        """Adopt `obj` for `owner` (its controller reference replaces any other) or, with
        None, release it; other owner references stay. The stored object, or None if the
        object is gone or was replaced (another uid)."""
        uid = obj["metadata"]["uid"]

        def change(current: Obj) -> Obj | None:
            if current["metadata"].get("uid") != uid:
                return None
            refs = [r for r in current["metadata"].get("ownerReferences") or []
                    if not r.get("controller")]
            if owner is not None:
                refs.append(owner_reference(owner))
            if refs:
                current["metadata"]["ownerReferences"] = refs
            else:
                current["metadata"].pop("ownerReferences", None)
            return current

        meta = obj["metadata"]
        return self.store.mutate(resource, meta["namespace"], meta["name"], change)

    def delete_pod(self, pod: Obj) -> bool:
        meta = pod["metadata"]
        try:
            self.cluster.delete(POD, meta.get("namespace", ""), meta["name"])
        except ApiError:
            return False
        return True

    def create_pod(self, namespace: str, body: Obj) -> Obj | ApiError:
        try:
            return self.cluster.create(POD, namespace, body)
        except ApiError as exc:
            return exc


class Manager:
    """The controllers of one simulated cluster and the thread that runs them."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.controllers: list[Controller] = []
        self._cond = threading.Condition()
        self._pending: OrderedDict[tuple[int, str, str], None] = OrderedDict()
        self._stopped = False
        self._timers = Scheduler(name="kubelesson-sim-controllers-timers")
        self._thread = threading.Thread(target=self._run, name="kubelesson-sim-controllers",
                                        daemon=True)
        self._unlisten: Any = None
        self.garbage: GarbageCollector | None = None  # its before_delete serves DELETEs

    def add(self, controller: Controller) -> None:
        self.controllers.append(controller)

    def start(self) -> None:
        self._unlisten = self.cluster.store.listen(self._notify)
        for index, controller in enumerate(self.controllers):
            for key in controller.initial_keys():
                self._enqueue(index, key)
        self._thread.start()

    def stop(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._timers.stop()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)

    # -- queue -------------------------------------------------------------------------
    def _notify(self, event: WatchEvent) -> None:
        for index, controller in enumerate(self.controllers):
            for key in controller.keys_for(event):
                self._enqueue(index, key)

    def _enqueue(self, index: int, key: Key) -> None:
        with self._cond:
            if self._stopped:
                return
            item = (index, key[0], key[1])
            if item not in self._pending:
                self._pending[item] = None
                self._cond.notify()

    def enqueue(self, controller: Controller, key: Key, after: float = 0.0) -> None:
        index = self.controllers.index(controller)
        if after <= 0:
            self._enqueue(index, key)
        else:
            self._timers.call_later(after, lambda: self._enqueue(index, key))

    def _next(self) -> tuple[int, str, str] | None:
        with self._cond:
            while not self._pending and not self._stopped:
                self._cond.wait()
            if self._stopped:
                return None
            item, _ = self._pending.popitem(last=False)
            return item

    def _run(self) -> None:
        while (item := self._next()) is not None:
            index, namespace, name = item
            controller = self.controllers[index]
            try:
                again = controller.sync(namespace, name)
            except Exception:  # a bug in one sync must not stop every controller
                log.exception("%s failed to sync %s/%s", controller.name, namespace, name)
                again = 1.0
            if again is not None:
                self.enqueue(controller, (namespace, name), again)



def controller_ref(obj: Obj) -> Obj | None:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def owner_reference(owner: Obj) -> Obj:
    """The controller reference a controller puts on what it creates."""
    return {
        "apiVersion": owner.get("apiVersion", ""),
        "kind": owner.get("kind", ""),
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def pod_from_template(owner: Obj, template: Obj, *, labels: dict[str, str] | None = None,
                      name: str = "") -> Obj:
    """controller.GetPodFromTemplate: the template's labels (plus `labels`), annotations,
    finalizers and spec, with the owner's controller reference. The pod carries
    `generateName: <owner>-` (the owner's name alone when the dash would make it too long,
    getPodsPrefix), from which the API server names it, unless the controller names it
    itself (a StatefulSet's `<set>-<ordinal>`): the pod then keeps both, as on a cluster."""
    meta = template.get("metadata") or {}
    owner_name = owner["metadata"]["name"]
    pod_meta: Obj = {"generateName": f"{owner_name}-" if len(owner_name) < 253 else owner_name}
    if name:
        pod_meta["name"] = name
    pod_labels = {**(meta.get("labels") or {}), **(labels or {})}
    if pod_labels:
        pod_meta["labels"] = pod_labels
    pod_meta["ownerReferences"] = [owner_reference(owner)]
    for key in ("annotations", "finalizers"):
        if meta.get(key):
            pod_meta[key] = deep_copy(meta[key])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta,
            "spec": deep_copy(template.get("spec") or {})}


def owned_by(obj: Obj, owner: Obj) -> bool:
    ref = controller_ref(obj)
    return ref is not None and ref.get("uid") == owner["metadata"]["uid"]


def owner_key(event: WatchEvent, kind: str) -> Key | None:
    """(namespace, name) of the object's controller when it is of `kind`."""
    ref = controller_ref(event.object) if event.object.get("metadata") else None
    if ref is None or ref.get("kind") != kind:
        return None
    return (event.object["metadata"].get("namespace", ""), str(ref.get("name", "")))


def is_terminating(obj: Obj) -> bool:
    return bool(obj["metadata"].get("deletionTimestamp"))


def condition_true(obj: Obj, type_: str) -> bool:
    return any(c.get("type") == type_ and c.get("status") == "True"
               for c in obj.get("status", {}).get("conditions") or [])


def is_pod_ready(pod: Obj) -> bool:
    return condition_true(pod, "Ready")


def ready_since(pod: Obj) -> float | None:
    for cond in pod.get("status", {}).get("conditions") or []:
        if cond.get("type") == "Ready" and cond.get("status") == "True":
            stamp = cond.get("lastTransitionTime")
            return timeutil.parse(stamp) if stamp else None
    return None


def is_pod_available(pod: Obj, min_ready_seconds: int, now: float) -> bool:
    """Ready for at least minReadySeconds (podutil.IsPodAvailable)."""
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = ready_since(pod)
    return since is not None and since + min_ready_seconds <= now


def is_active(pod: Obj) -> bool:
    """controller.IsPodActive: not finished and not being deleted."""
    phase = pod.get("status", {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not is_terminating(pod)


def now_stamp() -> str:
    return timeutil.rfc3339(timeutil.now())
