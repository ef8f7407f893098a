"""One background thread that runs callbacks at given times (the lifecycle's timers).

A heap and a Condition: the thread sleeps exactly until the next deadline or until a
new, earlier one is added. One thread for all timers keeps thread counts flat under load
and makes stopping clean.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(self, name: str = "kubelesson-sim-scheduler") -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def call_later(self, delay: float, callback: Callable[[], None]) -> None:
        with self._cond:
            if self._stopped:
                return
            heapq.heappush(self._heap, (time.monotonic() + max(delay, 0.0), next(self._seq),
                                        callback))
            self._cond.notify()

    def _next_due(self) -> Callable[[], None] | None:
        with self._cond:
            while not self._stopped:
                if not self._heap:
                    self._cond.wait()
                    continue
                due = self._heap[0][0] - time.monotonic()
                if due <= 0:
                    return heapq.heappop(self._heap)[2]
                self._cond.wait(due)
            return None

    def _run(self) -> None:
        while (callback := self._next_due()) is not None:
            try:
                callback()
            except Exception:  # a bug in one transition must not stop all others
                log.exception("simulator timer failed")

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)
