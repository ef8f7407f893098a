"""The `scale` subresource (autoscaling/v1 Scale) of Deployments, ReplicaSets and
StatefulSets, which `kubectl scale` reads and patches, and the int-or-percent arithmetic
the controllers share."""

from __future__ import annotations

import math
from typing import Any

from kubelesson.sim.api import errors, patch
from kubelesson.sim.api.cluster import Cluster
from kubelesson.sim.api.resources import ResourceType
from kubelesson.sim.controllers import selectors
from kubelesson.sim.store import Obj

SCALE_KIND = ("autoscaling/v1", "Scale")


def int_or_percent(value: Any, total: int, *, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent: 1 -> 1, "25%" of 3 -> 1 (up) or 0 (down)."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    text = str(value)
    if not text.endswith("%"):
        try:
            return int(text)
        except ValueError:
            return 0
    try:
        percent = int(text[:-1])
    except ValueError:
        return 0
    scaled = percent * total / 100
    return math.ceil(scaled) if round_up else math.floor(scaled)


def scale_of(obj: Obj) -> Obj:
    """The Scale view of a Deployment, ReplicaSet or StatefulSet."""
    meta = obj["metadata"]
    spec: Obj = {}
    wanted = int(obj.get("spec", {}).get("replicas", 1) or 0)
    if wanted:
        spec["replicas"] = wanted  # ScaleSpec.replicas is omitempty
    return {
        "kind": SCALE_KIND[1], "apiVersion": SCALE_KIND[0],
        "metadata": {key: meta[key] for key in ("name", "namespace", "uid", "resourceVersion",
                                                 "creationTimestamp") if key in meta},
        "spec": spec,
        "status": {"replicas": int((obj.get("status") or {}).get("replicas", 0) or 0),
                   "selector": _selector_text(obj)},
    }


def _selector_text(obj: Obj) -> str:
    text = selectors.describe(obj.get("spec", {}).get("selector"))
    return "" if text == "<none>" else text


def write_scale(cluster: Cluster, rt: ResourceType, namespace: str, name: str, body: Any,
                *, dry_run: bool = False) -> Obj:
    """Set the parent's spec.replicas from a Scale object; the new Scale."""
    live = cluster.get(rt, namespace, name)
    if not isinstance(body, dict) or not isinstance(body.get("spec", {}), dict):
        raise errors.bad_request("the body of the request must be a Scale object")
    wanted_rv = (body.get("metadata") or {}).get("resourceVersion")
    if wanted_rv and wanted_rv != live["metadata"].get("resourceVersion"):
        raise errors.conflict(rt, name, "the object has been modified; please apply your "
                              "changes to the latest version and try again")
    count = (body.get("spec") or {}).get("replicas", 0)
    if not isinstance(count, int) or isinstance(count, bool):
        raise errors.bad_request("spec.replicas of a Scale must be an integer")
    if count < 0:
        raise errors.ApiError(422, "Invalid", f'Scale.autoscaling "{name}" is invalid: '
                              f"spec.replicas: Invalid value: {count}: must be greater than "
                              "or equal to 0", {"name": name, "group": "autoscaling",
                                                "kind": "Scale", "causes": [{
                                                    "reason": "FieldValueInvalid",
                                                    "message": f"Invalid value: {count}: must "
                                                    "be greater than or equal to 0",
                                                    "field": "spec.replicas"}]})
    updated = cluster.patch(rt, namespace, name, "application/merge-patch+json",
                            {"spec": {"replicas": count}}, dry_run=dry_run)
    return scale_of(updated)


def update_scale(cluster: Cluster, rt: ResourceType, namespace: str, name: str, method: str,
                 content_type: str, body: Any, *, dry_run: bool = False) -> Obj:
    """PUT a Scale, or PATCH the current one (merge, strategic merge or JSON patch)."""
    if method == "PUT":
        return write_scale(cluster, rt, namespace, name, body, dry_run=dry_run)
    current = scale_of(cluster.get(rt, namespace, name))
    kind = content_type.split(";", 1)[0].strip()
    if kind in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
        if not isinstance(body, dict):
            raise errors.bad_request("a merge patch must be a JSON object")
        merge = patch.merge_patch if kind.startswith("application/merge") else \
            patch.strategic_merge
        new = merge(current, body)
    elif kind == "application/json-patch+json":
        new = patch.json_patch(current, body)
    else:
        raise errors.unsupported_media_type(content_type)
    if isinstance(new, dict):
        new.setdefault("metadata", {}).pop("resourceVersion", None)
    return write_scale(cluster, rt, namespace, name, new, dry_run=dry_run)
