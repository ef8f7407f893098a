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

from kubelesson.sim.api.resources import GROUPS, ResourceType, in_group


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


# ---------------------------------------------------------------------------------------
# OpenAPI v2, protobuf-encoded (gnostic's openapi_v2.Document). kubectl 1.27 and 1.28 look
# for the fieldValidation query parameter here instead of in OpenAPI v3; without it their
# `apply` fails. Like the v3 documents it carries only the PATCH operation of each kind,
# with the x-kubernetes-group-version-kind extension and no definitions, so kubectl keeps
# building strategic merge patches from its compiled-in types.

# kube-apiserver sends this type; Go cannot parse the `@` in the spec media type.
V2_CONTENT_TYPE = "application/octet-stream"


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes | str) -> bytes:
    """A length-delimited protobuf field (strings, bytes and sub-messages)."""
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _query_parameter(name: str) -> bytes:
    # ParametersItem.parameter(1) -> Parameter.non_body_parameter(2)
    #   -> NonBodyParameter.query_parameter_sub_schema(3) -> {in(2), name(4), type(6)}
    sub_schema = _field(2, "query") + _field(4, name) + _field(6, "string")
    return _field(1, _field(2, _field(3, sub_schema)))


def _patch_operation(rt: ResourceType) -> bytes:
    gvk_yaml = f'group: "{rt.group}"\nkind: {rt.kind}\nversion: {rt.version}\n'
    extension = _field(1, "x-kubernetes-group-version-kind") + _field(2, _field(2, gvk_yaml))
    parameters = b"".join(
        _field(8, _query_parameter(name)) for name in ("dryRun", "fieldManager",
                                                       "fieldValidation")
    )
    return _field(5, f"patch{rt.kind}") + parameters + _field(13, extension)


def v2_document() -> bytes:
    """Document{swagger(1), info(2){title(1), version(2)}, paths(8){path(2): NamedPathItem}}."""
    named_items = b""
    for group in GROUPS:
        for rt in in_group(group):
            path_item = _field(8, _patch_operation(rt))  # PathItem.patch
            named_items += _field(2, _field(1, _item_path(rt)) + _field(2, path_item))
    info = _field(1, "Kubernetes (kubelesson simulator)") + _field(2, "v1")
    return _field(1, "2.0") + _field(2, info) + _field(8, named_items)
