"""Strategic merge patch subset, JSON merge patch and JSON patch."""

from __future__ import annotations

from kubelesson.sim.api.patch import json_patch, merge_patch, strategic_merge


def test_apply_image_change_patch_as_kubectl_sends_it() -> None:
    live = {"metadata": {"name": "caddy", "annotations": {"x": "1", "last": "old"}},
            "spec": {"containers": [{"name": "caddy", "image": "caddy:2", "resources": {}},
                                    {"name": "side", "image": "busybox"}]}}
    patch = {"metadata": {"annotations": {"last": "new"}},
             "spec": {"$setElementOrder/containers": [{"name": "caddy"}, {"name": "side"}],
                      "containers": [{"image": "caddy:2.9", "name": "caddy"}]}}
    result = strategic_merge(live, patch)
    assert result["metadata"]["annotations"] == {"x": "1", "last": "new"}
    assert result["spec"]["containers"] == [
        {"name": "caddy", "image": "caddy:2.9", "resources": {}},
        {"name": "side", "image": "busybox"}]
    assert live["spec"]["containers"][0]["image"] == "caddy:2"


def test_strategic_directives() -> None:
    live = {"spec": {"containers": [{"name": "a"}, {"name": "b"}],
                     "ports": [{"containerPort": 80}], "finalizers": ["x"]},
            "metadata": {"labels": {"gone": "1", "kept": "1"}}}
    patch = {"spec": {"containers": [{"name": "a", "$patch": "delete"}, {"name": "c"}],
                      "ports": [{"containerPort": 443}], "finalizers": ["y"]},
             "metadata": {"labels": {"gone": None}}}
    result = strategic_merge(live, patch)
    assert [c["name"] for c in result["spec"]["containers"]] == ["b", "c"]
    assert result["spec"]["ports"] == [{"containerPort": 80}, {"containerPort": 443}]
    assert result["spec"]["finalizers"] == ["x", "y"]
    assert result["metadata"]["labels"] == {"kept": "1"}
    replaced = strategic_merge(live, {"spec": {"$patch": "replace", "containers": []}})
    assert replaced["spec"] == {"containers": []}


def test_merge_patch() -> None:
    assert merge_patch({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"b": None, "d": 3}, "l": [2]}) == {
        "a": {"c": 2, "d": 3}, "l": [2]}


def test_json_patch() -> None:
    doc = {"metadata": {"labels": {"a": "1"}}, "items": [1, 2]}
    ops = [{"op": "add", "path": "/metadata/labels/b", "value": "2"},
           {"op": "remove", "path": "/metadata/labels/a"},
           {"op": "add", "path": "/items/-", "value": 3},
           {"op": "replace", "path": "/items/0", "value": 0},
           {"op": "test", "path": "/items/1", "value": 2}]
    assert json_patch(doc, ops) == {"metadata": {"labels": {"b": "2"}}, "items": [0, 2, 3]}
