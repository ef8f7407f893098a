"""Helpers for the controller tests: the course's manifests, and a recorder that sees every
pod change in the simulator's store (not a sample, as a polling `kubectl get` would be)."""

from __future__ import annotations

import contextlib
import queue
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kubelesson.sim import SimHandle
from kubelesson.sim.store import WatchEvent

ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
HASH = f"[{ALPHABET}]{{6,10}}"
SUFFIX = f"[{ALPHABET}]{{5}}"

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: caddy
spec:
  replicas: {replicas}
  selector:
    matchLabels:
      app: caddy
  template:
    metadata:
      labels:
        app: {label}
    spec:
      containers:
        - name: caddy
          image: {image}
"""

STATEFULSET = """\
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: redis
spec:
  serviceName: redis
  replicas: {replicas}
  selector:
    matchLabels:
      app: redis
  template:
    metadata:
      labels:
        app: redis
    spec:
      containers:
        - name: redis
          image: {image}
---
apiVersion: v1
kind: Service
metadata:
  name: redis
spec:
  type: ClusterIP
  selector:
    app: redis
  ports:
    - name: redis
      port: 6379
      targetPort: 6379
"""


def deployment(tmp_path: Path, image: str = "caddy:2.6", replicas: int = 3,
               label: str = "caddy", name: str = "4_deployment.yaml") -> Path:
    """A copy of the course's examples/4_deployment.yaml with the given changes."""
    path = tmp_path / name
    path.write_text(DEPLOYMENT.format(image=image, replicas=replicas, label=label))
    return path


def statefulset(tmp_path: Path, image: str = "redis:7", replicas: int = 1,
                name: str = "4_statefulset.yaml") -> Path:
    path = tmp_path / name
    path.write_text(STATEFULSET.format(image=image, replicas=replicas))
    return path


def rows(out: str) -> list[list[str]]:
    return [line.split() for line in out.splitlines()[1:]]


def wait_for(check: object, timeout: float = 10.0, what: str = "condition") -> None:
    """Poll an in-process predicate (tests only); fail with `what` after `timeout`."""
    assert callable(check)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class PodRecorder:
    """Every pod state the store goes through, for pods whose labels match `app`."""

    app: str
    live: dict[str, tuple[str, bool, bool]] = field(default_factory=dict)  # uid, gone?, ready
    max_active: int = 0
    min_ready: int | None = None
    max_pods: int = 0
    seen: list[dict[str, tuple[str, bool, bool]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event: WatchEvent) -> None:
        if event.resource != "pods":
            return
        meta = event.object["metadata"]
        if (meta.get("labels") or {}).get("app") != self.app:
            return
        with self.lock:
            if event.type == "DELETED":
                self.live.pop(meta["name"], None)
            else:
                ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                            for c in event.object.get("status", {}).get("conditions") or [])
                self.live[meta["name"]] = (meta["uid"], bool(meta.get("deletionTimestamp")),
                                           ready)
            active = [v for v in self.live.values() if not v[1]]
            ready_count = sum(1 for v in active if v[2])  # Ready and not being deleted
            self.max_active = max(self.max_active, len(active))
            self.max_pods = max(self.max_pods, len(self.live))
            self.min_ready = ready_count if self.min_ready is None else min(
                self.min_ready, ready_count)
            self.seen.append(dict(self.live))

    def reset(self) -> None:
        with self.lock:
            self.max_active = len([v for v in self.live.values() if not v[1]])
            self.max_pods = len(self.live)
            self.min_ready = sum(1 for v in self.live.values() if v[2] and not v[1])
            self.seen = [dict(self.live)]


def record_pods(sim: SimHandle, app: str) -> PodRecorder:
    """Start recording, beginning with the pods that exist now."""
    recorder = PodRecorder(app)
    with sim.store.cond:  # the store's lock: no change slips between the list and the listen
        for pod in sim.store.list("pods")[0]:
            recorder(WatchEvent("ADDED", pod, 0, "pods"))
        sim.store.listen(recorder)
    recorder.reset()
    return recorder


def scaling_events(sim: SimHandle, namespace: str = "default") -> list[str]:
    """The ScalingReplicaSet messages in the order they were first written."""
    events, _ = sim.store.list("events", namespace)
    chosen = [e for e in events if e.get("reason") == "ScalingReplicaSet"]
    chosen.sort(key=lambda e: (e.get("firstTimestamp", ""), e["metadata"]["name"]))
    return [e["message"] for e in chosen]


def short(messages: list[str]) -> list[str]:
    """`Scaled up replica set caddy-abc from 0 to 1` -> `up caddy-abc 0 1`."""
    out = []
    for message in messages:
        m = re.fullmatch(r"Scaled (up|down) replica set (\S+) from (\d+) to (\d+)", message)
        assert m, message
        out.append(" ".join(m.groups()))
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class Forward:
    """A running `kubectl port-forward`; `ready()` waits for its first Forwarding line."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: queue.Queue[str] = queue.Queue()
        self.out: list[str] = []
        assert proc.stdout is not None
        threading.Thread(target=self._read, args=(proc.stdout,), daemon=True).start()

    def _read(self, stream: Iterable[str]) -> None:
        for line in stream:
            self.out.append(line.rstrip("\n"))
            self.lines.put(line)

    def ready(self, timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    err = self.proc.stderr.read() if self.proc.stderr else ""
                    raise AssertionError(f"port-forward ended: {err}") from None
                continue
            if line.startswith("Forwarding from 127.0.0.1:"):
                return line.rstrip("\n")
        raise AssertionError(f"port-forward never got ready: {self.out}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@contextlib.contextmanager
def forwarding(proc: subprocess.Popen[str]) -> Iterator[Forward]:
    forward = Forward(proc)
    try:
        yield forward
    finally:
        forward.stop()


def _resp_end(data: bytes, pos: int = 0) -> int | None:
    """Where the RESP value starting at `pos` ends, None while it is incomplete."""
    line_end = data.find(b"\r\n", pos)
    if line_end < 0:
        return None
    kind, head = data[pos:pos + 1], data[pos + 1:line_end]
    if kind in (b"+", b"-", b":"):
        return line_end + 2
    if kind == b"$":
        size = int(head)
        end = line_end + 2 + max(size, 0) + (2 if size >= 0 else 0)
        return end if len(data) >= end else None
    at: int | None = line_end + 2
    for _ in range(max(int(head), 0)):
        assert at is not None
        at = _resp_end(data, at)
        if at is None:
            return None
    return at


def resp(port: int, *words: str) -> bytes:
    """One Redis command over RESP, as redis-cli sends it; the raw reply."""
    command = b"*%d\r\n" % len(words) + b"".join(
        b"$%d\r\n%s\r\n" % (len(w.encode()), w.encode()) for w in words)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(command)
        reply = b""
        while _resp_end(reply) is None:
            chunk = sock.recv(4096)
            assert chunk, reply
            reply += chunk
    return reply
