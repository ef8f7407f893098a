"""The OpenAPI v3 documents `kubectl apply` needs under its default strict validation.

kubectl only checks whether the PATCH operation of the object's kind lists a
`fieldValidation` query parameter; if it does, validation is left to the server and no
client-side schema (nor /openapi/v2, which we answer 404) is needed. The PATCH ops have no
requestBody on purpose: kubectl then builds strategic merge patches from its compiled-in
types, which is what it does against a real cluster too.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from kubelesson.sim.resources import GROUPS, ResourceType, in_group


def _gv_path(group: str) -> str:
    return f"apis/{group}/v1" if group else "api/v1"


def _item_path(rt: ResourceType) -> str:
    base = "/" + _gv_path(rt.group)
    if rt.namespaced:
        return f"{base}/namespaces/{{namespace}}/{rt.plural}/{{name}}"
    return f"{base}/{rt.plural}/{{name}}"


def group_version_doc(group: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for rt in in_group(group):
        paths[_item_path(rt)] = {
            "patch": {
                "x-kubernetes-group-version-kind": {
                    "group": rt.group, "version": rt.version, "kind": rt.kind,
                },
                "parameters": [
                    {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
                    {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
                    {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {"200": {"description": "OK"}},
            }
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (kubelesson simulator)", "version": "v1"},
        "paths": paths,
        "components": {"schemas": {}},
    }


def _hash(group: str) -> str:
    body = json.dumps(group_version_doc(group), sort_keys=True).encode()
    return hashlib.sha512(body).hexdigest()[:32].upper()


def index() -> dict[str, Any]:
    return {
        "paths": {
            _gv_path(g): {"serverRelativeURL": f"/openapi/v3/{_gv_path(g)}?hash={_hash(g)}"}
            for g in GROUPS
        }
    }


def lookup(path: str) -> dict[str, Any] | None:
    """The document for `/openapi/v3/<path>` (e.g. `api/v1`), None if not served."""
    for group in GROUPS:
        if path.strip("/") == _gv_path(group):
            return group_version_doc(group)
    return None
