"""Thread-safe object store with a global resourceVersion and watch fan-out.

Objects are plain JSON-like dicts. A stored dict is never mutated again: every change
stores a new dict, so readers (printers, watch streams) may hold a reference without
copying, and watch events keep the object's state at the time of the event.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubelesson.sim import timeutil

Obj = dict[str, Any]
Predicate = Callable[[Obj], bool]
# Admission hook: (resource, stored object or None for a create, new object). It may fill in
# defaults on the new object or raise (the caller answers the error); it runs under the lock.
Admission = Callable[[str, Obj | None, Obj], None]


class Conflict(Exception):
    """create() found the name taken, or a precondition failed."""


class Gone(Exception):
    """A watch asked for history older than the store still holds (HTTP 410)."""


class Closed(Exception):
    """The store or the watcher was closed while waiting."""


@dataclass(frozen=True)
class WatchEvent:
    type: str  # ADDED, MODIFIED, DELETED, BOOKMARK
    object: Obj
    rv: int
    resource: str = ""
    namespace: str = ""


def deep_copy(obj: Obj) -> Obj:
    return copy.deepcopy(obj)


class Watcher:
    """One watch stream's queue. Events are pushed by the store under its lock."""

    def __init__(
        self, store: Store, resource: str, namespace: str | None, predicate: Predicate | None
    ) -> None:
        self._store = store
        self.resource = resource
        self.namespace = namespace
        self.predicate = predicate
        self._queue: deque[WatchEvent] = deque()
        self._stopped = False

    def wants(self, resource: str, obj: Obj) -> bool:
        if resource != self.resource:
            return False
        if self.namespace is not None and obj["metadata"].get("namespace", "") != self.namespace:
            return False
        return self.predicate is None or self.predicate(obj)

    def push(self, event: WatchEvent) -> None:  # caller holds the store lock
        self._queue.append(event)

    def next(self, timeout: float | None) -> WatchEvent | None:
        """The next event, None when `timeout` passed first; Closed when stopped."""
        with self._store.cond:
            ok = self._store.cond.wait_for(
                lambda: bool(self._queue) or self._stopped or self._store.closed, timeout
            )
            if self._queue:
                return self._queue.popleft()
            if self._stopped or self._store.closed:
                raise Closed
            assert not ok
            return None

    def stop(self) -> None:
        with self._store.cond:
            self._stopped = True
            self._store.drop_watcher(self)
            self._store.cond.notify_all()


class Store:
    def __init__(self, log_size: int = 10_000) -> None:
        self._lock = threading.RLock()
        self.cond = threading.Condition(self._lock)
        self._objects: dict[tuple[str, str, str], Obj] = {}
        self._rv = 1
        self._log: deque[WatchEvent] = deque(maxlen=log_size)
        self._floor = 1  # watches from below this resourceVersion cannot be served
        self._watchers: set[Watcher] = set()
        self._listeners: list[Callable[[WatchEvent], None]] = []
        self.admission: Admission | None = None
        self.closed = False

    # -- reading -----------------------------------------------------------------------
    @property
    def resource_version(self) -> int:
        with self._lock:
            return self._rv

    def get(self, resource: str, namespace: str, name: str) -> Obj | None:
        with self._lock:
            return self._objects.get((resource, namespace, name))

    def list(
        self, resource: str, namespace: str | None = None, predicate: Predicate | None = None
    ) -> tuple[list[Obj], int]:
        """Matching objects sorted by namespace then name (etcd key order), and the list RV."""
        with self._lock:
            items = [
                obj
                for (res, ns, _), obj in self._objects.items()
                if res == resource
                and (namespace is None or ns == namespace)
                and (predicate is None or predicate(obj))
            ]
            rv = self._rv
        items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        return items, rv

    def count(self, namespace: str) -> int:
        with self._lock:
            return sum(1 for (_, ns, _) in self._objects if ns == namespace)

    # -- writing -----------------------------------------------------------------------
    def _bump(self) -> int:
        self._rv += 1
        return self._rv

    def _emit(self, type_: str, resource: str, obj: Obj) -> None:
        event = WatchEvent(
            type_, obj, int(obj["metadata"]["resourceVersion"]), resource,
            obj["metadata"].get("namespace", ""),
        )
        if self._log.maxlen is not None and len(self._log) == self._log.maxlen:
            self._floor = self._log[0].rv
        self._log.append(event)
        for watcher in self._watchers:
            if watcher.wants(resource, obj):
                watcher.push(event)
        for listener in self._listeners:
            listener(event)
        self.cond.notify_all()

    def create(self, resource: str, obj: Obj, *, generation: bool = False) -> Obj:
        """Store a new object, stamping uid, creationTimestamp and resourceVersion."""
        meta = obj["metadata"]
        key = (resource, meta.get("namespace", ""), meta["name"])
        with self._lock:
            if key in self._objects:
                raise Conflict(meta["name"])
            if self.admission is not None:
                self.admission(resource, None, obj)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = timeutil.rfc3339(timeutil.now())
            if generation:
                meta["generation"] = 1
            meta["resourceVersion"] = str(self._bump())
            self._objects[key] = obj
            self._emit("ADDED", resource, obj)
            return obj

    def replace(self, resource: str, obj: Obj, *, spec_changed: bool = False) -> Obj:
        """Store a new state of an existing object (a fresh dict, not the stored one)."""
        meta = obj["metadata"]
        key = (resource, meta.get("namespace", ""), meta["name"])
        with self._lock:
            old = self._objects.get(key)
            if old is None:
                raise KeyError(key)
            if obj is old:
                raise ValueError("replace() needs a new dict; stored objects are immutable")
            if self.admission is not None:
                self.admission(resource, old, obj)
            if spec_changed and "generation" in meta:
                meta["generation"] = int(meta["generation"]) + 1
            meta["resourceVersion"] = str(self._bump())
            self._objects[key] = obj
            self._emit("MODIFIED", resource, obj)
            return obj

    def mutate(
        self, resource: str, namespace: str, name: str, change: Callable[[Obj], Obj | None]
    ) -> Obj | None:
        """Atomically apply `change` to a copy of the object; None if it is gone.

        `change` returns the new state or None for "no change" (no new resourceVersion).
        """
        with self._lock:
            current = self._objects.get((resource, namespace, name))
            if current is None:
                return None
            updated = change(deep_copy(current))
            if updated is None:
                return current
            return self.replace(resource, updated)

    def delete(self, resource: str, namespace: str, name: str) -> Obj | None:
        """Remove the object; the DELETED event carries its last state with a new RV."""
        with self._lock:
            old = self._objects.pop((resource, namespace, name), None)
            if old is None:
                return None
            final = deep_copy(old)
            final["metadata"]["resourceVersion"] = str(self._bump())
            self._emit("DELETED", resource, final)
            return final

    # -- watching ----------------------------------------------------------------------
    def watch(
        self,
        resource: str,
        namespace: str | None,
        predicate: Predicate | None,
        *,
        since: int | None,
        initial_events: bool = False,
    ) -> Watcher:
        """Register a watcher.

        since=None: synthetic ADDED events for the current state first (and, with
        `initial_events`, a BOOKMARK marking their end: the watch-list protocol).
        since=N: only events newer than N, replayed from the log; Gone if too old.
        """
        watcher = Watcher(self, resource, namespace, predicate)
        with self._lock:
            if self.closed:
                raise Closed
            if since is None:
                items, rv = self.list(resource, namespace, predicate)
                for obj in items:
                    watcher.push(WatchEvent("ADDED", obj, rv, resource))
                if initial_events:
                    watcher.push(WatchEvent("BOOKMARK", {}, rv, resource))
            else:
                if since < self._floor:
                    raise Gone(f"too old resource version: {since} ({self._floor})")
                for event in self._log:
                    if event.rv > since and watcher.wants(event.resource, event.object):
                        watcher.push(event)
            self._watchers.add(watcher)
        return watcher

    def listen(self, callback: Callable[[WatchEvent], None]) -> Callable[[], None]:
        """Call `callback` with every change, under the store lock (so it must only queue
        work, never wait); returns the function that stops it. The controllers use this."""
        with self._lock:
            self._listeners.append(callback)

        def stop() -> None:
            with self._lock:
                if callback in self._listeners:
                    self._listeners.remove(callback)

        return stop

    def compact(self, resource_version: int) -> None:
        """Forget the watch history up to `resource_version`, as etcd's compaction does: a
        watch from an older resourceVersion then gets 410 Gone (and the client lists again)."""
        with self._lock:
            while self._log and self._log[0].rv <= resource_version:
                self._log.popleft()
            self._floor = max(self._floor, resource_version)

    def drop_watcher(self, watcher: Watcher) -> None:
        with self._lock:
            self._watchers.discard(watcher)

    def watcher_count(self) -> int:
        with self._lock:
            return len(self._watchers)

    def close(self) -> None:
        """Wake every waiting watcher with Closed; used when the server stops."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()
