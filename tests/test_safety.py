"""Isolation and cleanup: the learner's objects are never touched, and no sandbox or
kubectl process outlives a run, whichever way the run ends (fault injection)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kubelesson.sim import SimHandle
from tests.conftest import ROOT, Cli, kubectl_binary

SIM = ("--context", "kubelesson-sim")


@pytest.fixture(scope="module")
def own_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimHandle]:
    """A simulator of this module's own: the checks below count sandboxes and processes."""
    from kubelesson.sim import SimOptions, running

    options = SimOptions(pending_seconds=0.1, creating_seconds=0.3, terminating_seconds=0.3)
    with running(tmp_path_factory.mktemp("safety-sim"), options=options) as sim:
        yield sim


@pytest.fixture
def kcli(cli: Cli, own_sim: SimHandle) -> Cli:
    cli.env.update(own_sim.env())
    return cli


def kubectl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([kubectl_binary(), *args], env=env, capture_output=True, text=True, timeout=60)


def sandboxes(env: dict[str, str], owner: int | None = None) -> list[str]:
    """kubelesson's namespaces that are still there and not already on their way out; with
    ``owner``, only those the kubelesson process with that pid made."""
    result = kubectl(env, "get", "namespaces", "-l", "app.kubernetes.io/managed-by=kubelesson", "-o", "json")
    assert result.returncode == 0, result.stderr
    return [
        item["metadata"]["name"]
        for item in json.loads(result.stdout)["items"]
        if item.get("status", {}).get("phase") != "Terminating"
        and (owner is None or item["metadata"]["annotations"]["kubelesson.dev/owner"].endswith(f":{owner}"))
    ]


def wait_until_gone(env: dict[str, str], owner: int, timeout: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while (left := sandboxes(env, owner)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def lesson_kubectls(tmpdir: Path) -> list[int]:
    """kubectl processes started by the kubelesson under test: their KUBECONFIG is a sandbox
    kubeconfig inside that run's TMPDIR (other suites may run on this machine meanwhile)."""
    marker = f"KUBECONFIG={tmpdir}/kubelesson-".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if cmdline and cmdline[0].endswith(b"kubectl") and any(
            var.startswith(marker) for var in environ
        ):
            found.append(int(entry.name))
    return found


def wait_for(predicate: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the run to get there"
        time.sleep(0.005)


def start(kcli: Cli, tmpdir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "kubelesson", "check", "3", *SIM],
        cwd=ROOT, env={**kcli.env, "TMPDIR": str(tmpdir)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_learners_own_pod_survives_unchanged(kcli: Cli) -> None:
    env = kcli.env
    created = kubectl(env, "apply", "-f", str(ROOT / "examples" / "3_pod.yaml"), "-n", "default")
    assert created.returncode == 0, created.stderr
    assert kubectl(env, "wait", "--for=condition=Ready", "pod/caddy", "-n", "default").returncode == 0
    before = json.loads(kubectl(env, "get", "pod", "caddy", "-n", "default", "-o", "json").stdout)["metadata"]
    try:
        result = kcli("check", "3", *SIM)
        assert result.returncode == 0, result.stdout + result.stderr
        after = json.loads(kubectl(env, "get", "pod", "caddy", "-n", "default", "-o", "json").stdout)["metadata"]
        assert (after["uid"], after["resourceVersion"]) == (before["uid"], before["resourceVersion"])
    finally:
        kubectl(env, "delete", "pod", "caddy", "-n", "default", "--wait=false")


def test_namespace_option_refuses_existing_objects(kcli: Cli) -> None:
    env = kcli.env
    assert kubectl(env, "create", "namespace", "mine").returncode == 0
    assert kubectl(env, "apply", "-f", str(ROOT / "examples/3_pod.yaml"), "-n", "mine").returncode == 0
    try:
        result = kcli("check", "3", *SIM, "--namespace", "mine")
        assert result.returncode == 2
        assert "pod/caddy" in result.stderr and "mine" in result.stderr
        assert kubectl(env, "get", "pod", "caddy", "-n", "mine").returncode == 0
    finally:
        kubectl(env, "delete", "namespace", "mine", "--wait=false")


def test_keep_leaves_the_sandbox_and_says_how_to_remove_it(kcli: Cli) -> None:
    result = kcli("check", "3", *SIM, "--keep")
    assert result.returncode == 0, result.stderr
    match = re.search(r"kubectl delete namespace (kubelesson-3-\w+)", result.stderr)
    assert match, result.stderr
    assert match[1] in sandboxes(kcli.env)
    assert kubectl(kcli.env, "get", "pod", "caddy", "-n", match[1]).returncode == 1  # the lesson deleted it
    kubectl(kcli.env, "delete", "namespace", match[1])


# Where in lesson 3 the signal arrives: after the sandbox exists, while waiting for the
# pod, between steps, and while the port-forward runs.
def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # it has just exited
        return b""


def _port_forward_running(tmpdir: Path) -> bool:
    return any(b"port-forward" in _cmdline(pid) for pid in lesson_kubectls(tmpdir))


def _nth_kubectl_started(tmpdir: Path, n: int, seen: list[int]) -> bool:
    """Whether the run has started its n-th kubectl process: each step of the lesson (and
    of the sandbox set-up around it) is one, so this finds every step boundary."""
    for pid in lesson_kubectls(tmpdir):
        if pid not in seen:
            seen.append(pid)
    return len(seen) >= n


# Lesson 3 starts about a dozen kubectl processes (sandbox set-up, each step, each wait,
# the port-forward, the sandbox's removal). A signal arrives as each one starts.
BOUNDARIES = [f"kubectl-{n}" for n in range(1, 13)] + ["port-forward"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("moment", BOUNDARIES)
def test_signal_at_every_step_boundary_cleans_up(kcli: Cli, sig: signal.Signals, moment: str, tmp_path: Path) -> None:
    _interrupt_and_check(kcli, tmp_path, sig, moment)


@pytest.mark.parametrize("moment", ["sandbox", "port-forward"])
def test_sighup_cleans_up(kcli: Cli, moment: str, tmp_path: Path) -> None:
    _interrupt_and_check(kcli, tmp_path, signal.SIGHUP, moment)


def _interrupt_and_check(kcli: Cli, tmp_path: Path, sig: signal.Signals, moment: str) -> None:
    proc = start(kcli, tmp_path)
    seen: list[int] = []
    try:
        if moment == "sandbox":
            wait_for(lambda: sandboxes(kcli.env, proc.pid))
        elif moment == "port-forward":
            wait_for(lambda: _port_forward_running(tmp_path))
        else:
            n = int(moment.split("-")[1])
            wait_for(lambda: _nth_kubectl_started(tmp_path, n, seen) or proc.poll() is not None)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    if proc.returncode == 0:  # the run finished before the signal: nothing to clean then
        assert "PASS" in out
    else:
        assert proc.returncode == 130, (out, err)
        assert "interrupted" in err and "Traceback" not in err
    assert lesson_kubectls(tmp_path) == []
    assert wait_until_gone(kcli.env, proc.pid) == []


def test_sigkilled_runs_sandbox_is_removed_by_the_next_run(kcli: Cli, tmp_path: Path) -> None:
    proc = start(kcli, tmp_path)
    try:
        wait_for(lambda: sandboxes(kcli.env, proc.pid))
        left = sandboxes(kcli.env, proc.pid)
        proc.kill()
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    wait_for(lambda: not lesson_kubectls(tmp_path), timeout=10)  # children die with their parent
    assert sandboxes(kcli.env, proc.pid) == left
    result = kcli("check", "3", *SIM)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "removed sandboxes left by earlier interrupted runs: " in result.stdout
    assert left[0] in result.stdout
    assert wait_until_gone(kcli.env, proc.pid) == []


def test_busy_port_is_replaced_and_mapped_back(kcli: Cli) -> None:
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        holder.bind(("127.0.0.1", 8000))
        holder.listen()
    except OSError:
        pytest.skip("port 8000 is taken by something else here")  # already busy: same situation
    try:
        result = kcli("check", "3", *SIM)
    finally:
        holder.close()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "port 8000 was busy on this machine, so port" in result.stdout
    assert "✓ kubectl port-forward pod/caddy 8000:80" in result.stdout


def test_pod_that_never_gets_a_node_times_out_with_a_hint(cli: Cli, tmp_path: Path) -> None:
    from kubelesson.sim import SimOptions, running

    with running(tmp_path / "sim", options=SimOptions(nodes_ready=False)) as sim:
        cli.env.update(sim.env())
        result = cli("check", "3", *SIM, "--timeout", "2")
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "gave up after 2s waiting for condition=Ready pod/caddy; last seen:" in out
    assert "Pending" in out
    assert "no node could take it" in out
    assert "try: kubectl get nodes" in out
    assert "not run (an earlier wait failed)" in out


def test_image_typo_gets_the_image_hint(cli: Cli, tmp_path: Path, own_sim: SimHandle) -> None:
    course = tmp_path / "course"
    (course / "examples").mkdir(parents=True)
    (course / "transcripts").mkdir()
    (course / "transcripts" / "3.yaml").write_text((ROOT / "transcripts/3.yaml").read_text())
    (course / "examples" / "3_pod.yaml").write_text(
        (ROOT / "examples/3_pod.yaml").read_text().replace("caddy:2", "cadddy:2")
    )
    cli.env.update(own_sim.env())
    result = cli("check", "3", *SIM, "--timeout", "3", "--root", str(course), "--lang", "ja")
    assert result.returncode == 1
    assert "イメージを取得できません" in result.stdout
    assert "kubectl describe pod caddy" in result.stdout
    assert "サポート用ファイル" in result.stderr
    bundle = Path(result.stderr.split("サポート用ファイルを ")[1].split(" ")[0])
    text = bundle.read_text()
    assert "ErrImagePull" in text or "ImagePullBackOff" in text
    assert "kubectl describe pod/caddy" in text
    os.unlink(bundle)


def test_namespace_option_runs_there_and_leaves_the_namespace(kcli: Cli) -> None:
    env = kcli.env
    assert kubectl(env, "create", "namespace", "learner-own").returncode == 0
    try:
        result = kcli("check", "3", *SIM, "--namespace", "learner-own")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "namespace learner-own\n" in result.stdout  # no "(sandbox namespace)": not ours to delete
        assert kubectl(env, "get", "namespace", "learner-own").returncode == 0
        assert kubectl(env, "get", "pod", "caddy", "-n", "learner-own").returncode == 1  # cleaned up
    finally:
        kubectl(env, "delete", "namespace", "learner-own", "--wait=false")
