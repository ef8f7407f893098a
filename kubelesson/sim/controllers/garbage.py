"""The garbage collector (pkg/controller/garbagecollector): ownerReferences decide what
goes when its owner goes.

* Background (what `kubectl delete` asks for, and the default of apps/v1): the owner is
  deleted at once; then every dependent whose owners are all gone is deleted, so a
  Deployment takes its ReplicaSets and they take their pods.
* Foreground: the owner stays, marked with `deletionTimestamp` and the
  `foregroundDeletion` finalizer, until the dependents that block it
  (`blockOwnerDeletion: true`) are gone; they are deleted in the foreground in turn.
* Orphan: the dependents lose their ownerReference to the owner and stay.

A dependent with another live owner only loses the reference to the one that went.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

from kubelesson.sim import timeutil
from kubelesson.sim.api.errors import ApiError
from kubelesson.sim.api.resources import NAMESPACE, POD, RESOURCES, ResourceType, by_kind
from kubelesson.sim.controllers.base import Controller, Key, is_terminating
from kubelesson.sim.store import Obj, WatchEvent

if TYPE_CHECKING:
    from kubelesson.sim.api.cluster import Cluster
    from kubelesson.sim.controllers.base import Manager

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
_BY_KEY = {rt.key: rt for rt in RESOURCES}


def _token(resource: str, name: str) -> str:
    return f"obj:{resource}:{name}"


class GarbageCollector(Controller):
    name = "garbagecollector"
    component = "garbage-collector"

    def __init__(self, cluster: Cluster, manager: Manager) -> None:
        super().__init__(cluster, manager)
        # The dependency graph, kept from the change notifications as the real collector's
        # graph builder keeps it: owner uid -> the (resource, namespace, name) that name it.
        self._lock = threading.Lock()
        self._dependents_of: dict[str, set[tuple[str, str, str]]] = {}
        self._owners_of: dict[tuple[str, str, str], frozenset[str]] = {}

    def _index(self, event: WatchEvent) -> None:
        meta = event.object.get("metadata") or {}
        key = (event.resource, event.namespace, str(meta.get("name", "")))
        owners = frozenset() if event.type == "DELETED" else frozenset(
            str(r.get("uid")) for r in meta.get("ownerReferences") or [])
        with self._lock:
            for uid in self._owners_of.get(key, frozenset()) - owners:
                self._dependents_of.get(uid, set()).discard(key)
                if not self._dependents_of.get(uid, True):
                    del self._dependents_of[uid]
            for uid in owners:
                self._dependents_of.setdefault(uid, set()).add(key)
            if owners:
                self._owners_of[key] = owners
            else:
                self._owners_of.pop(key, None)

    def keys_for(self, event: WatchEvent) -> Iterable[Key]:
        meta = event.object.get("metadata") or {}
        if not meta.get("name"):
            return
        self._index(event)
        if event.type == "DELETED":
            with self._lock:
                has_dependents = str(meta.get("uid")) in self._dependents_of
            if has_dependents:
                yield (event.namespace, f"gone:{meta['uid']}")
            for ref in meta.get("ownerReferences") or []:  # an owner may wait for it
                owner_rt = by_kind(str(ref.get("apiVersion", "")), str(ref.get("kind", "")))
                if owner_rt is not None:
                    yield (event.namespace if owner_rt.namespaced else "",
                           _token(owner_rt.key, str(ref.get("name", ""))))
            return
        if meta.get("ownerReferences") or (
                meta.get("deletionTimestamp") and event.resource not in (POD.key, NAMESPACE.key)):
            yield (event.namespace, _token(event.resource, meta["name"]))

    # -- the delete request (the server's hook) ------------------------------------------
    def before_delete(self, rt: ResourceType, namespace: str, name: str, policy: str | None,
                      dry_run: bool) -> Obj | None:
        """Called by the API server before a DELETE. Returns the object to answer with
        when it must stay for now (finalizers), None to let the delete go ahead."""
        if rt in (POD, NAMESPACE) or dry_run:
            return None
        live = self.cluster.get(rt, namespace, name)
        if is_terminating(live):
            return live
        if policy == "Orphan":
            self._orphan_dependents(live, namespace)
        elif policy == "Foreground":
            return self._mark(rt, live, FOREGROUND)
        if live["metadata"].get("finalizers"):
            return self._mark(rt, live, None)
        return None

    def _mark(self, rt: ResourceType, obj: Obj, finalizer: str | None) -> Obj:
        """Set deletionTimestamp (and a finalizer): the object stays until it is finalized."""
        uid = obj["metadata"]["uid"]
        stamp = timeutil.rfc3339(timeutil.now())

        def mark(current: Obj) -> Obj | None:
            if current["metadata"].get("uid") != uid:
                return None
            meta = current["metadata"]
            meta.setdefault("deletionTimestamp", stamp)
            meta.setdefault("deletionGracePeriodSeconds", 0)
            finalizers = list(meta.get("finalizers") or [])
            if finalizer and finalizer not in finalizers:
                finalizers.append(finalizer)
            if finalizers:
                meta["finalizers"] = finalizers
            return current

        meta = obj["metadata"]
        marked = self.store.mutate(rt.key, meta.get("namespace", ""), meta["name"], mark)
        return marked if marked is not None else obj

    def _orphan_dependents(self, owner: Obj, namespace: str) -> None:
        uid = owner["metadata"]["uid"]
        for rt, dependent in self._dependents(namespace, uid):
            self._drop_refs(rt, dependent, {uid})

    # -- the control loop ----------------------------------------------------------------
    def sync(self, namespace: str, name: str) -> float | None:
        if name.startswith("gone:"):
            uid = name[len("gone:"):]
            for dep_rt, dependent in self._dependents(namespace, uid):
                self._attempt_to_delete(dep_rt, dependent)
            return None
        _, resource, obj_name = name.split(":", 2)
        found = _BY_KEY.get(resource)
        obj = self.store.get(resource, namespace, obj_name)
        if found is None or obj is None:
            return None
        rt = found
        if is_terminating(obj) and rt not in (POD, NAMESPACE):
            self._finalize(rt, obj)
            obj = self.store.get(resource, namespace, obj_name)
            if obj is None:
                return None
        if obj["metadata"].get("ownerReferences"):
            self._attempt_to_delete(rt, obj)
        return None

    def _dependents(self, namespace: str, uid: str) -> list[tuple[ResourceType, Obj]]:
        with self._lock:
            keys = sorted(self._dependents_of.get(uid, set()))
        found = []
        for resource, ns, name in keys:
            rt = _BY_KEY.get(resource)
            obj = self.store.get(resource, ns, name)
            if rt is not None and obj is not None and any(
                    r.get("uid") == uid for r in obj["metadata"].get("ownerReferences") or []):
                found.append((rt, obj))
        return found

    def _owner(self, ref: Obj, namespace: str) -> Obj | None:
        rt = by_kind(str(ref.get("apiVersion", "")), str(ref.get("kind", "")))
        if rt is None:
            return None
        owner = self.store.get(rt.key, namespace if rt.namespaced else "", str(ref.get("name")))
        if owner is None or owner["metadata"].get("uid") != ref.get("uid"):
            return None
        return owner

    def _attempt_to_delete(self, rt: ResourceType, obj: Obj) -> None:
        """attemptToDeleteItem: sort the owners into solid, dangling and waiting ones."""
        namespace = obj["metadata"].get("namespace", "")
        refs = obj["metadata"].get("ownerReferences") or []
        solid, gone, waiting = [], set(), set()
        for ref in refs:
            owner = self._owner(ref, namespace)
            if owner is None:
                gone.add(str(ref.get("uid")))
            elif is_terminating(owner) and FOREGROUND in (owner["metadata"].get("finalizers")
                                                           or []):
                waiting.add(str(ref.get("uid")))
            else:
                solid.append(ref)
        if solid:
            if gone or waiting:
                self._drop_refs(rt, obj, gone | waiting)
            return
        if is_terminating(obj):
            return
        uid = obj["metadata"]["uid"]
        if waiting and rt not in (POD, NAMESPACE) and self._dependents(namespace, uid):
            self._mark(rt, obj, FOREGROUND)
            self.manager.enqueue(self, (namespace, _token(rt.key, obj["metadata"]["name"])))
            return
        with contextlib.suppress(ApiError):
            self.cluster.delete(rt, namespace, obj["metadata"]["name"])

    def _finalize(self, rt: ResourceType, obj: Obj) -> None:
        """A Foreground-deleted owner: delete its dependents, drop the finalizer once none
        blocks it; an object whose finalizers are all gone is removed."""
        meta = obj["metadata"]
        namespace = meta.get("namespace", "")
        finalizers = list(meta.get("finalizers") or [])
        if FOREGROUND in finalizers:
            dependents = self._dependents(namespace, meta["uid"])
            for dep_rt, dependent in dependents:
                if not is_terminating(dependent):
                    self._attempt_to_delete(dep_rt, dependent)
            blocking = [d for _, d in self._dependents(namespace, meta["uid"]) if any(
                r.get("uid") == meta["uid"] and r.get("blockOwnerDeletion")
                for r in d["metadata"].get("ownerReferences") or [])]
            if blocking:
                return
            finalizers.remove(FOREGROUND)
            obj = self._set_finalizers(rt, obj, finalizers) or obj
        if not finalizers:
            with contextlib.suppress(ApiError):
                self.cluster.delete(rt, namespace, meta["name"])

    def _set_finalizers(self, rt: ResourceType, obj: Obj, finalizers: list[str]) -> Obj | None:
        uid = obj["metadata"]["uid"]

        def change(current: Obj) -> Obj | None:
            if current["metadata"].get("uid") != uid:
                return None
            if finalizers:
                current["metadata"]["finalizers"] = finalizers
            else:
                current["metadata"].pop("finalizers", None)
            return current

        meta = obj["metadata"]
        return self.store.mutate(rt.key, meta.get("namespace", ""), meta["name"], change)

    def _drop_refs(self, rt: ResourceType, obj: Obj, uids: set[str]) -> None:
        uid = obj["metadata"]["uid"]

        def change(current: Obj) -> Obj | None:
            if current["metadata"].get("uid") != uid:
                return None
            refs = current["metadata"].get("ownerReferences") or []
            kept = [r for r in refs if str(r.get("uid")) not in uids]
            if len(kept) == len(refs):
                return None
            if kept:
                current["metadata"]["ownerReferences"] = kept
            else:
                current["metadata"].pop("ownerReferences", None)
            return current

        meta = obj["metadata"]
        self.store.mutate(rt.key, meta.get("namespace", ""), meta["name"], change)
