"""Patches: JSON merge patch (RFC 7386), a strategic-merge-patch subset, JSON patch (RFC 6902)."""

from __future__ import annotations

import copy
from typing import Any

from kubelesson.sim.api.errors import ApiError, bad_request

# Lists of maps that strategic merge patch merges item by item, by this key. The choice
# for `ports` depends on where it sits (containers use containerPort, services port).
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "conditions": "type",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
}
# Lists of scalars merged as sets.
MERGED_SCALAR_LISTS = {"finalizers"}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: maps merge recursively, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        return "containerPort" if any(
            isinstance(i, dict) and "containerPort" in i for i in items
        ) else "port"
    return MERGE_KEYS.get(field)


def _merge_list(field: str, original: Any, patch: list[Any], order: list[Any] | None) -> Any:
    if not isinstance(original, list):
        original = []
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [copy.deepcopy(i) for i in patch if not (isinstance(i, dict) and "$patch" in i)]
    if field in MERGED_SCALAR_LISTS:
        merged = list(original)
        merged += [v for v in patch if v not in merged]
        return merged
    key = _merge_key(field, original + patch)
    if key is None or not all(isinstance(i, dict) for i in patch):
        return copy.deepcopy(patch)
    result = [copy.deepcopy(i) for i in original]
    for item in patch:
        existing = next(
            (i for i, cur in enumerate(result)
             if isinstance(cur, dict) and cur.get(key) == item.get(key)),
            None,
        )
        if item.get("$patch") == "delete":
            if existing is not None:
                del result[existing]
            continue
        if existing is None:
            result.append(strategic_merge(None, item))
        else:
            result[existing] = strategic_merge(result[existing], item)
    if order is not None:
        result = _apply_order(result, order, key)
    return result


def _apply_order(items: list[Any], order: list[Any], key: str) -> list[Any]:
    wanted = [o.get(key) if isinstance(o, dict) else o for o in order]
    ranked = [i for w in wanted for i in items if isinstance(i, dict) and i.get(key) == w]
    rest = [i for i in items if not (isinstance(i, dict) and i.get(key) in wanted)]
    return ranked + rest


def strategic_merge(original: Any, patch: Any) -> Any:
    """The subset of strategic merge patch kubectl's client-side apply produces for our kinds."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = dict(original) if isinstance(original, dict) else {}
    retain = patch.get("$retainKeys")
    orders = {
        k.split("/", 1)[1]: v
        for k, v in patch.items()
        if k.startswith("$setElementOrder/") and isinstance(v, list)
    }
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(result.get(field), list) and isinstance(value, list):
                result[field] = [v for v in result[field] if v not in value]
            continue
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list):
            result[key] = _merge_list(key, result.get(key), value, orders.get(key))
        elif isinstance(value, dict):
            merged = strategic_merge(result.get(key), value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        else:
            result[key] = value
    for field, order in orders.items():
        if field not in patch and isinstance(result.get(field), list):
            key = _merge_key(field, result[field] + order)
            if key:
                result[field] = _apply_order(result[field], order, key)
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(doc, list):
            doc = doc[int(part)]
        elif isinstance(doc, dict):
            doc = doc[part]
        else:
            raise KeyError(part)
    return doc


def json_patch(doc: Any, operations: Any) -> Any:
    """RFC 6902 add/remove/replace/test/move/copy."""
    if not isinstance(operations, list):
        raise bad_request("json patch must be a list of operations")
    result = copy.deepcopy(doc)
    for op in operations:
        try:
            result = _json_patch_op(result, op)
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise ApiError(
                422, "Invalid", f"the server rejected our request due to an error in our request: "
                f"{exc}", {}
            ) from exc
    return result


def _json_patch_op(doc: Any, op: Any) -> Any:
    if not isinstance(op, dict) or "path" not in op:
        raise bad_request("json patch operation needs 'op' and 'path'")
    kind = op.get("op")
    parts = _pointer(op["path"])
    if kind == "test":
        if _walk(doc, parts) != op.get("value"):
            raise ValueError(f"testing value {op['path']} failed")
        return doc
    if kind in ("move", "copy"):
        value = copy.deepcopy(_walk(doc, _pointer(op["from"])))
        if kind == "move":
            doc = _json_patch_op(doc, {"op": "remove", "path": op["from"]})
        return _json_patch_op(doc, {"op": "add", "path": op["path"], "value": value})
    if not parts:
        return copy.deepcopy(op.get("value")) if kind in ("add", "replace") else None
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if kind == "remove":
        if isinstance(parent, list):
            del parent[int(last)]
        else:
            del parent[last]
    elif kind in ("add", "replace"):
        value = copy.deepcopy(op.get("value"))
        if isinstance(parent, list):
            if kind == "add":
                parent.insert(len(parent) if last == "-" else int(last), value)
            else:
                parent[int(last)] = value
        else:
            if kind == "replace" and last not in parent:
                raise KeyError(last)
            parent[last] = value
    else:
        raise bad_request(f"unknown json patch operation {kind!r}")
    return doc
