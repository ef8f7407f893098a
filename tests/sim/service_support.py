"""Helpers for the lesson 5 simulator tests: the course's Service, the real kubectl 1.30
and 1.37, and waits on the simulator's store (in-process, for tests only)."""

from __future__ import annotations

from pathlib import Path

from kubelesson.sim import SimHandle
from tests.sim.conftest import Kubectl
from tests.sim.controller_support import deployment, wait_for

SLICES = "endpointslices.discovery.k8s.io"

# examples/5_service.yaml of the course, without its comments.
SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
  type: ClusterIP
  selector:
    app: {app}
  ports:
    - name: web
      protocol: TCP
      port: 80
      targetPort: 80
"""


def service(tmp_path: Path, name: str = "caddy", app: str = "caddy") -> Path:
    path = tmp_path / f"5_service_{name}.yaml"
    path.write_text(SERVICE.format(name=name, app=app))
    return path


def ready_addresses(sim: SimHandle, name: str, namespace: str = "default") -> list[str]:
    """The ready addresses of a Service's slices, in slice order."""
    slices, _ = sim.store.list(SLICES, namespace, lambda s: (s["metadata"].get(
        "labels") or {}).get("kubernetes.io/service-name") == name)
    return [a for s in slices for e in s.get("endpoints") or []
            if (e.get("conditions") or {}).get("ready") for a in e["addresses"]]


def wait_ready_endpoints(sim: SimHandle, name: str, count: int,
                         namespace: str = "default") -> list[str]:
    """Wait until the Service's slices and its Endpoints both list `count` ready pods."""

    def done() -> bool:
        endpoints = sim.store.get("endpoints", namespace, name) or {}
        ready = [a for s in endpoints.get("subsets") or [] for a in s.get("addresses") or []]
        return len(ready) == count and len(ready_addresses(sim, name, namespace)) == count

    wait_for(done, what=f"{count} ready endpoints of {name}")
    return ready_addresses(sim, name, namespace)


def caddy_behind_service(kubectl: Kubectl, tmp_path: Path, replicas: int = 3) -> list[str]:
    """Chapter 5's start: the Deployment of chapter 4 and the Service `caddy`."""
    assert kubectl("apply", "-f", str(deployment(tmp_path, replicas=replicas))).rc == 0
    assert kubectl("apply", "-f", str(service(tmp_path))).rc == 0
    done = kubectl("rollout", "status", "deployment/caddy", "--timeout=30s")
    assert done.rc == 0, done.err
    return wait_ready_endpoints(kubectl.sim, "caddy", replicas)
