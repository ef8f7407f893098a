"""Forgetting what a real cluster forgets with time, so a long-running simulator stays small.

* Events expire `event_ttl` after their last change: kube-apiserver stores each Event with
  an etcd lease of `--event-ttl` (1 h by default), renewed when the event is updated.
* The watch history is compacted like etcd's (kube-apiserver compacts every 5 minutes):
  at each compaction what is older than the previous one goes, and a watch from before it
  answers 410 Gone, after which clients list again.

Both run as a timer on the lifecycle's scheduler thread: no thread of their own.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from kubelesson.sim.controllers.scheduler import Scheduler
from kubelesson.sim.options import SimOptions
from kubelesson.sim.store import Closed, Store, Watcher

EVENTS = "events"


class Housekeeping:
    def __init__(self, store: Store, scheduler: Scheduler, options: SimOptions) -> None:
        self._store = store
        self._scheduler = scheduler
        self._ttl = options.event_ttl
        self._interval = options.compaction_interval
        # A few turns per TTL or interval, never more than a second apart.
        self._tick = max(min(self._ttl / 4, self._interval / 2, 1.0), 0.02)
        # When each event was last written (its lease), oldest first; learned from a watch,
        # so events written by anyone (the kubelet here, or a client) are covered.
        self._written: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._watcher: Watcher | None = store.watch(EVENTS, None, None, since=None)
        self._next_compaction = time.monotonic() + self._interval
        self._compact_to = store.resource_version
        scheduler.call_later(self._tick, self._turn)

    def _turn(self) -> None:
        if self._watcher is None:
            return
        now = time.monotonic()
        try:
            self._learn(now)
        except Closed:
            self.stop()
            return
        self._expire(now)
        if now >= self._next_compaction:
            self._store.compact(self._compact_to)
            self._compact_to = self._store.resource_version
            self._next_compaction = now + self._interval
        self._scheduler.call_later(self._tick, self._turn)

    def _learn(self, now: float) -> None:
        assert self._watcher is not None
        while (event := self._watcher.next(0)) is not None:
            meta = event.object.get("metadata", {})
            key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
            self._written.pop(key, None)
            if event.type != "DELETED":
                self._written[key] = now

    def _expire(self, now: float) -> None:
        while self._written:
            (namespace, name), written = next(iter(self._written.items()))
            if now - written < self._ttl:
                return
            del self._written[(namespace, name)]
            self._store.delete(EVENTS, namespace, name)

    def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
