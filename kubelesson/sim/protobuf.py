"""Just enough Kubernetes protobuf decoding for the objects kubectl's typed clients send.

`kubectl create namespace` (and `create configmap|secret`) POST protobuf, not JSON, and
client-go does not fall back to JSON on a 415. This decodes those few kinds into the JSON
form; every other protobuf body is refused with 415.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

MAGIC = b"k8s\x00"
Fields = dict[int, list[Any]]


class ProtobufError(ValueError):
    pass


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProtobufError("varint too long")


def fields(data: bytes) -> Fields:
    """Field number -> raw values (ints for varints, bytes for length-delimited)."""
    out: Fields = {}
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ProtobufError("truncated field")
            value, pos = data[pos:pos + length], pos + length
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        out.setdefault(number, []).append(value)
    return out


def _str(f: Fields, n: int) -> str | None:
    return f[n][-1].decode() if n in f else None


def _map(f: Fields, n: int, *, binary: bool = False) -> dict[str, str] | None:
    if n not in f:
        return None
    result: dict[str, str] = {}
    for entry in f[n]:
        kv = fields(entry)
        key = _str(kv, 1) or ""
        raw = kv[2][-1] if 2 in kv else b""
        result[key] = base64.b64encode(raw).decode() if binary else raw.decode()
    return result


def _metadata(raw: bytes) -> dict[str, Any]:
    f = fields(raw)
    meta: dict[str, Any] = {}
    for n, key in ((1, "name"), (2, "generateName"), (3, "namespace")):
        value = _str(f, n)
        if value:
            meta[key] = value
    for n, key in ((11, "labels"), (12, "annotations")):
        mapping = _map(f, n)
        if mapping:
            meta[key] = mapping
    if 14 in f:
        meta["finalizers"] = [v.decode() for v in f[14]]
    return meta


def _namespace(f: Fields, obj: dict[str, Any]) -> None:
    if 2 in f:
        spec = fields(f[2][-1])
        if 1 in spec:
            obj["spec"] = {"finalizers": [v.decode() for v in spec[1]]}


def _configmap(f: Fields, obj: dict[str, Any]) -> None:
    for n, key, binary in ((2, "data", False), (3, "binaryData", True)):
        mapping = _map(f, n, binary=binary)
        if mapping:
            obj[key] = mapping
    if 4 in f:
        obj["immutable"] = bool(f[4][-1])


def _secret(f: Fields, obj: dict[str, Any]) -> None:
    data = _map(f, 2, binary=True)
    if data:
        obj["data"] = data
    if 3 in f:
        obj["type"] = _str(f, 3)
    string_data = _map(f, 4)
    if string_data:
        obj["stringData"] = string_data
    if 5 in f:
        obj["immutable"] = bool(f[5][-1])


def _access_review(f: Fields, obj: dict[str, Any]) -> None:
    """SelfSubjectAccessReview (`kubectl auth can-i`): spec 2 > resourceAttributes 1 >
    namespace 1, verb 2, group 3, version 4, resource 5, subresource 6, name 7."""
    spec = fields(f[2][-1]) if 2 in f else {}
    attributes = fields(spec[1][-1]) if 1 in spec else {}
    names = ("namespace", "verb", "group", "version", "resource", "subresource", "name")
    found = {key: _str(attributes, n) for n, key in enumerate(names, 1)}
    obj["spec"] = {"resourceAttributes": {k: v for k, v in found.items() if v}} if attributes else {}


def _no_fields(f: Fields, obj: dict[str, Any]) -> None:
    return None


_DECODERS: dict[str, Callable[[Fields, dict[str, Any]], None]] = {
    "Namespace": _namespace, "ConfigMap": _configmap, "Secret": _secret,
    "ServiceAccount": _no_fields, "SelfSubjectAccessReview": _access_review,
}


def decode(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded object of a supported kind."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing the k8s protobuf envelope")
    envelope = fields(body[len(MAGIC):])
    type_meta = fields(envelope[1][-1]) if 1 in envelope else {}
    api_version, kind = _str(type_meta, 1) or "", _str(type_meta, 2) or ""
    decoder = _DECODERS.get(kind)
    if decoder is None:
        raise ProtobufError(f"protobuf bodies of kind {kind!r} are not supported")
    raw = fields(envelope[2][-1]) if 2 in envelope else {}
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind,
                           "metadata": _metadata(raw[1][-1]) if 1 in raw else {}}
    decoder(raw, obj)
    return obj
