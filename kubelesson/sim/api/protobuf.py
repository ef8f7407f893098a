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


# -- Deployment and Service (`kubectl create deployment|service`) ---------------------------
# Field numbers from k8s.io/api {apps,core}/v1 generated.proto. Go's encoder writes every
# non-pointer field, zero or not, so zero values of `omitempty` fields are dropped here to
# give the JSON form kubectl would have sent; pointer fields are present only when set.
def _int(f: Fields, n: int) -> int | None:
    if n not in f:
        return None
    value = int(f[n][-1])
    return value - (1 << 64) if value >= 1 << 63 else value  # negative int32/int64


def _sub(f: Fields, n: int) -> Fields | None:
    return fields(f[n][-1]) if n in f else None


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    """Set `key` unless the value is empty (the omitempty fields)."""
    if value not in (None, "", 0, False, [], {}):
        target[key] = value


def _int_or_string(f: Fields) -> int | str:
    if _int(f, 1) == 1:  # type 1 is a string
        return _str(f, 3) or ""
    return _int(f, 2) or 0


def _quantity(entry: Fields) -> str:
    """The value of a map<string, Quantity> entry (Quantity is {string = 1})."""
    return (_str(fields(entry[2][-1]), 1) or "") if 2 in entry else ""


def _label_selector(f: Fields) -> dict[str, Any]:
    selector: dict[str, Any] = {}
    _put(selector, "matchLabels", _map(f, 1))
    expressions = []
    for raw in f.get(2, []):
        e = fields(raw)
        expr: dict[str, Any] = {"key": _str(e, 1) or "", "operator": _str(e, 2) or ""}
        _put(expr, "values", [v.decode() for v in e.get(3, [])])
        expressions.append(expr)
    _put(selector, "matchExpressions", expressions)
    return selector


def _container(f: Fields) -> dict[str, Any]:
    c: dict[str, Any] = {"name": _str(f, 1) or ""}
    _put(c, "image", _str(f, 2))
    for n, key in ((3, "command"), (4, "args")):
        _put(c, key, [v.decode() for v in f.get(n, [])])
    _put(c, "workingDir", _str(f, 5))
    ports = []
    for raw in f.get(6, []):
        p = fields(raw)
        port: dict[str, Any] = {}
        _put(port, "name", _str(p, 1))
        _put(port, "hostPort", _int(p, 2))
        port["containerPort"] = _int(p, 3) or 0
        _put(port, "protocol", _str(p, 4))
        _put(port, "hostIP", _str(p, 5))
        ports.append(port)
    _put(c, "ports", ports)
    env = []
    for raw in f.get(7, []):
        e = fields(raw)
        var: dict[str, Any] = {"name": _str(e, 1) or ""}
        _put(var, "value", _str(e, 2))
        env.append(var)
    _put(c, "env", env)
    resources: dict[str, Any] = {}
    r = _sub(f, 8) or {}
    for n, key in ((1, "limits"), (2, "requests")):
        amounts = {(_str(kv, 1) or ""): _quantity(kv)
                   for kv in (fields(raw) for raw in r.get(n, []))}
        _put(resources, key, amounts)
    c["resources"] = resources
    for n, key in ((13, "terminationMessagePath"), (14, "imagePullPolicy"),
                   (20, "terminationMessagePolicy")):
        _put(c, key, _str(f, n))
    for n, key in ((16, "stdin"), (17, "stdinOnce"), (18, "tty")):
        _put(c, key, bool(_int(f, n)))
    return c


def _pod_spec(f: Fields) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [_container(fields(raw)) for raw in f.get(2, [])]}
    _put(spec, "initContainers", [_container(fields(raw)) for raw in f.get(20, [])])
    for n, key in ((3, "restartPolicy"), (6, "dnsPolicy"), (8, "serviceAccountName"),
                   (9, "serviceAccount"), (10, "nodeName"), (16, "hostname"),
                   (17, "subdomain"), (19, "schedulerName"), (24, "priorityClassName")):
        _put(spec, key, _str(f, n))
    for n, key in ((4, "terminationGracePeriodSeconds"), (5, "activeDeadlineSeconds")):
        if n in f:  # pointers: present means set, zero included
            spec[key] = _int(f, n)
    _put(spec, "nodeSelector", _map(f, 7))
    for n, key in ((11, "hostNetwork"), (12, "hostPID"), (13, "hostIPC")):
        _put(spec, key, bool(_int(f, n)))
    return spec


def _pod_template(f: Fields) -> dict[str, Any]:
    return {"metadata": _metadata(f[1][-1]) if 1 in f else {},
            "spec": _pod_spec(_sub(f, 2) or {})}


def _deployment(f: Fields, obj: dict[str, Any]) -> None:
    s = _sub(f, 2) or {}
    spec: dict[str, Any] = {}
    for n, key in ((1, "replicas"), (6, "revisionHistoryLimit"), (9, "progressDeadlineSeconds")):
        if n in s:
            spec[key] = _int(s, n)
    if 2 in s:
        spec["selector"] = _label_selector(fields(s[2][-1]))
    spec["template"] = _pod_template(_sub(s, 3) or {})
    strategy: dict[str, Any] = {}
    st = _sub(s, 4) or {}
    _put(strategy, "type", _str(st, 1))
    rolling = _sub(st, 2)
    if rolling is not None:
        strategy["rollingUpdate"] = {key: _int_or_string(fields(rolling[n][-1]))
                                     for n, key in ((1, "maxUnavailable"), (2, "maxSurge"))
                                     if n in rolling}
    spec["strategy"] = strategy
    _put(spec, "minReadySeconds", _int(s, 5))
    _put(spec, "paused", bool(_int(s, 7)))
    obj["spec"] = spec
    obj["status"] = {}


def _service(f: Fields, obj: dict[str, Any]) -> None:
    s = _sub(f, 2) or {}
    spec: dict[str, Any] = {}
    ports = []
    for raw in s.get(1, []):
        p = fields(raw)
        port: dict[str, Any] = {}
        _put(port, "name", _str(p, 1))
        _put(port, "protocol", _str(p, 2))
        port["port"] = _int(p, 3) or 0
        if 4 in p:
            target = _int_or_string(fields(p[4][-1]))
            _put(port, "targetPort", target)
        _put(port, "nodePort", _int(p, 5))
        ports.append(port)
    _put(spec, "ports", ports)
    _put(spec, "selector", _map(s, 2))
    for n, key in ((3, "clusterIP"), (4, "type"), (7, "sessionAffinity"),
                   (8, "loadBalancerIP"), (10, "externalName"), (11, "externalTrafficPolicy"),
                   (17, "ipFamilyPolicy"), (21, "loadBalancerClass"),
                   (22, "internalTrafficPolicy")):
        _put(spec, key, _str(s, n))
    for n, key in ((5, "externalIPs"), (9, "loadBalancerSourceRanges"), (18, "clusterIPs"),
                   (19, "ipFamilies")):
        _put(spec, key, [v.decode() for v in s.get(n, [])])
    obj["spec"] = spec


_DECODERS: dict[str, Callable[[Fields, dict[str, Any]], None]] = {
    "Namespace": _namespace, "ConfigMap": _configmap, "Secret": _secret,
    "ServiceAccount": _no_fields, "SelfSubjectAccessReview": _access_review,
    "Deployment": _deployment, "Service": _service,
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
