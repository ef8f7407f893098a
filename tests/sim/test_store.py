"""The object store: resourceVersion rules, watch semantics, thread-safety."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from kubelesson.sim.store import Closed, Gone, Store


def _obj(name: str, ns: str = "default", **labels: str) -> dict[str, Any]:
    return {"kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": name, "namespace": ns, "labels": labels}}


def test_resource_versions_increase_and_stamps() -> None:
    store = Store()
    a = store.create("pods", _obj("a"))
    b = store.create("pods", _obj("b"))
    assert int(b["metadata"]["resourceVersion"]) > int(a["metadata"]["resourceVersion"])
    assert a["metadata"]["uid"] != b["metadata"]["uid"]
    assert a["metadata"]["creationTimestamp"].endswith("Z")
    changed = store.mutate("pods", "default", "a", lambda o: {**o, "spec": {"x": 1}})
    assert changed is not None
    assert int(changed["metadata"]["resourceVersion"]) > int(b["metadata"]["resourceVersion"])
    assert store.get("pods", "default", "a") is changed
    assert a.get("spec") is None  # the old state was not touched
    unchanged = store.mutate("pods", "default", "a", lambda o: None)
    assert unchanged is changed
    final = store.delete("pods", "default", "a")
    assert final is not None and store.get("pods", "default", "a") is None
    assert int(final["metadata"]["resourceVersion"]) == store.resource_version


def test_list_is_sorted_and_filtered() -> None:
    store = Store()
    for name, ns in (("b", "x"), ("a", "y"), ("c", "x")):
        store.create("pods", _obj(name, ns))
    items, rv = store.list("pods")
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in items] == [
        ("x", "b"), ("x", "c"), ("y", "a")]
    assert rv == store.resource_version
    assert [o["metadata"]["name"] for o in store.list("pods", "y")[0]] == ["a"]


def test_watch_from_now_replay_and_initial_events() -> None:
    store = Store()
    store.create("pods", _obj("old"))
    rv = store.resource_version
    initial = store.watch("pods", "default", None, since=None, initial_events=True)
    resumed = store.watch("pods", "default", None, since=rv)
    store.create("pods", _obj("new"))
    store.delete("pods", "default", "old")
    first = [initial.next(1) for _ in range(4)]
    assert [(e.type, e.object.get("metadata", {}).get("name")) for e in first if e] == [
        ("ADDED", "old"), ("BOOKMARK", None), ("ADDED", "new"), ("DELETED", "old")]
    second = [resumed.next(1) for _ in range(2)]
    assert [e.type for e in second if e] == ["ADDED", "DELETED"]
    assert resumed.next(0.05) is None
    late = store.watch("pods", "default", None, since=rv)  # replayed from the log
    assert [late.next(1).type for _ in range(2)] == ["ADDED", "DELETED"]  # type: ignore[union-attr]


def test_watch_too_old_is_gone() -> None:
    store = Store(log_size=3)
    for i in range(10):
        store.create("pods", _obj(f"p{i}"))
    with pytest.raises(Gone):
        store.watch("pods", None, None, since=2)


def test_close_wakes_watchers() -> None:
    store = Store()
    watcher = store.watch("pods", None, None, since=store.resource_version)
    threading.Timer(0.05, store.close).start()
    with pytest.raises(Closed):
        watcher.next(5)


def test_concurrent_writers_and_watchers_see_every_event() -> None:
    store = Store()
    watchers = [store.watch("pods", None, None, since=store.resource_version) for _ in range(8)]
    threads_n, per_thread = 8, 50

    def writer(t: int) -> None:
        for i in range(per_thread):
            name = f"w{t}-{i}"
            store.create("pods", _obj(name))
            store.mutate("pods", "default", name, lambda o: {**o, "spec": {"n": 1}})
            store.delete("pods", "default", name)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expected = threads_n * per_thread * 3
    assert store.resource_version == 1 + expected
    for watcher in watchers:
        rvs = []
        while (event := watcher.next(0.01)) is not None:
            rvs.append(event.rv)
        assert len(rvs) == expected
        assert rvs == sorted(rvs) and len(set(rvs)) == expected
        watcher.stop()
    assert store.watcher_count() == 0
    assert store.list("pods")[0] == []
