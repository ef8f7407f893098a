"""The object store: resource versions, watches, admission hooks (objects.py), and the
housekeeping that expires events and compacts the watch log."""

from kubelesson.sim.store.objects import (
    Admission,
    Closed,
    Conflict,
    Gone,
    Obj,
    Store,
    Watcher,
    WatchEvent,
    deep_copy,
)

__all__ = ["Admission", "Closed", "Conflict", "Gone", "Obj", "Store", "WatchEvent", "Watcher", "deep_copy"]
