"""The names controllers derive from hashes: `caddy-766687f85d`, `redis-7d5b8b9b5c`.

Kubernetes hashes the pod template with FNV-32a (deployments) or the revision data with
FNV-32 (controller revisions), prints the 32-bit number in decimal and maps every digit
through rand.SafeEncodeString's alphabet. The simulator hashes a canonical JSON form
instead of Go's spew dump, so the values differ from a real cluster's, but the length and
the alphabet are the same, which is what the normalizer relies on.
"""

from __future__ import annotations

import json
import struct
from typing import Any

ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand
_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193


def safe_encode(text: str) -> str:
    return "".join(ALPHANUMS[ord(ch) % len(ALPHANUMS)] for ch in text)


def fnv32a(data: bytes) -> int:
    value = _FNV_OFFSET
    for byte in data:
        value = ((value ^ byte) * _FNV_PRIME) & 0xFFFFFFFF
    return value


def fnv32(data: bytes) -> int:
    value = _FNV_OFFSET
    for byte in data:
        value = ((value * _FNV_PRIME) & 0xFFFFFFFF) ^ byte
    return value


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def pod_template_hash(template: Any, collision_count: int | None) -> str:
    """The `pod-template-hash` label value of a Deployment's new ReplicaSet."""
    data = canonical(template)
    if collision_count is not None:
        data += struct.pack("<I", collision_count & 0xFFFFFFFF)
    return safe_encode(str(fnv32a(data)))


def revision_hash(raw: bytes, collision_count: int | None) -> str:
    """The suffix of a ControllerRevision's name (history.HashControllerRevision)."""
    if collision_count is not None:
        raw += struct.pack("<I", collision_count & 0xFFFFFFFF)
    return safe_encode(str(fnv32(raw)))
