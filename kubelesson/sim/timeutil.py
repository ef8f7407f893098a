"""Timestamps in the formats the Kubernetes API uses."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now() -> float:
    return time.time()


def rfc3339(t: float) -> str:
    """Seconds precision, as metadata.creationTimestamp and most status times are."""
    return datetime.fromtimestamp(int(t), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_micro(t: float) -> str:
    """Microsecond precision, as Event.eventTime and log timestamps use."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rfc3339_nano(t: float) -> str:
    """What `kubectl logs --timestamps` shows (nanoseconds, from our microseconds)."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def parse(value: object) -> float | None:
    """Parse an RFC 3339 timestamp; None for anything else."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def go_duration(seconds: float) -> str:
    """Go's time.Duration text, as the kubelet writes it into events: 700ms, 1.5s, 10s,
    1m20s, 5m0s, 1h0m0s."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms" if seconds > 0 else "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:.9f}".rstrip("0").rstrip(".") + "s"
    if hours or minutes:
        text = f"{int(minutes)}m{text}"
    return f"{int(hours)}h{text}" if hours else text


def human_duration(seconds: float) -> str:
    """The apiserver's short duration format used for AGE (`6s`, `5m52s`, `3d5h`, `2y30d`)."""
    s = int(seconds)  # truncate toward zero, like Go's Duration / time.Second
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 60 * 2:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        rest_m = minutes % 60
        return f"{hours}h" if rest_m == 0 else f"{hours}h{rest_m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest_h = hours % 24
        return f"{hours // 24}d" if rest_h == 0 else f"{hours // 24}d{rest_h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = hours // 24
        years, rest_d = divmod(days, 365)
        return f"{years}y" if rest_d == 0 else f"{years}y{rest_d}d"
    return f"{hours // 24 // 365}y"


def age(timestamp: object, at: float) -> str:
    created = parse(timestamp)
    return "<unknown>" if created is None else human_duration(at - created)
