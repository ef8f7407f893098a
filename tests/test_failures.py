"""Plain mistakes and failing clusters get a fast, clear answer: a pod that can never start
ends the wait in seconds, a cluster that dies mid-run stops the run with exit 2, a broken
kubectl or a missing kubeconfig or namespace is named. Real kubectl, simulated cluster."""

from __future__ import annotations

import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

from kubelesson.sim import SimHandle, SimOptions, running
from tests.conftest import ROOT, Cli

SIM = ("--context", "kubelesson-sim")


def _lesson_3_with_image(tmp_path: Path, image: str) -> Path:
    course = tmp_path / "course"
    (course / "transcripts").mkdir(parents=True)
    (course / "examples").mkdir()
    (course / "examples" / "3_pod.yaml").write_text(
        (ROOT / "examples" / "3_pod.yaml").read_text().replace("image: caddy:2", f"image: {image}")
    )
    shutil.copy(ROOT / "transcripts" / "3.yaml", course / "transcripts")
    return course


@pytest.mark.parametrize(
    ("image", "words"),
    [("caddy:22", "ImagePull"), ("no-such-image:1", "ImagePull"), ("busybox:1.36", "CrashLoopBackOff")],
)
def test_a_pod_that_cannot_start_ends_the_wait_within_seconds(sim_cli: Cli, tmp_path: Path,
                                                              image: str, words: str) -> None:
    course = _lesson_3_with_image(tmp_path, image)
    started = time.monotonic()
    result = sim_cli("check", "3", *SIM, "--root", str(course), "--lang", "en", "--timeout", "120")
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stdout + result.stderr
    assert elapsed < 60, f"took {elapsed:.0f}s: the wait ran out its timeout instead of seeing the stuck pod"
    out = result.stdout
    assert words in out  # ErrImagePull or ImagePullBackOff: both say the pull failed
    assert "hint:" in out


def test_a_cluster_that_dies_mid_run_stops_the_run_with_exit_2(cli: Cli, tmp_path: Path) -> None:
    options = SimOptions(pending_seconds=0.05, creating_seconds=0.15, terminating_seconds=0.2)
    with running(tmp_path / "sim", options=options) as sim:
        cli.env.update(sim.env())
        proc = subprocess.Popen(
            [*cli_argv(), "check", "3", *SIM, "--timeout", "10", "--lang", "en"],
            cwd=ROOT, env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        _wait_for_pod(sim)
    started = time.monotonic()  # the simulator is gone from here on
    out, err = proc.communicate(timeout=120)
    elapsed = time.monotonic() - started
    assert proc.returncode == 2, out + err
    assert "cannot reach the cluster" in err
    assert elapsed < 60, f"took {elapsed:.0f}s after the cluster died"


def cli_argv() -> list[str]:
    import sys

    return [sys.executable, "-m", "kubelesson"]


def _wait_for_pod(sim: SimHandle) -> None:
    """Until the lesson's first step made its pod: the cluster then dies mid-run."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if sim.store.list("pods")[0]:
            return
        time.sleep(0.05)
    raise AssertionError("the lesson never created its pod")


def _script(folder: Path, body: str) -> str:
    """A program that is not a working kubectl (it hangs, or prints nothing)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "kubectl"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_a_program_that_prints_no_version_is_not_called_too_old(sim_cli: Cli) -> None:
    result = sim_cli("check", "3", *SIM, "--kubectl", "/bin/true", "--lang", "en")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "printed no kubectl version" in result.stderr
    assert "too old" not in result.stderr


@pytest.mark.slow
def test_a_kubectl_that_hangs_is_named_after_a_short_wait(sim_cli: Cli, tmp_path: Path) -> None:
    hanging = _script(tmp_path / "bin", "exec sleep 300")
    started = time.monotonic()
    result = sim_cli("check", "3", *SIM, "--kubectl", hanging, "--lang", "en")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "did not answer `kubectl version`" in result.stderr
    assert time.monotonic() - started < 60


def test_a_missing_namespace_is_named_with_exit_2(sim_cli: Cli) -> None:
    result = sim_cli("check", "3", *SIM, "--namespace", "nosuch", "--lang", "en")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "the namespace nosuch does not exist" in result.stderr
    assert 'namespaces "default"' not in result.stdout + result.stderr


@pytest.mark.parametrize("how", ["flag", "env"])
def test_a_missing_kubeconfig_is_named(cli: Cli, how: str) -> None:
    if how == "flag":
        result = cli("check", "3", "--kubeconfig", "/missing/kubeconfig", "--lang", "en")
    else:
        cli.env["KUBECONFIG"] = "/missing/kubeconfig"
        result = cli("check", "3", "--lang", "en")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "/missing/kubeconfig does not exist" in result.stderr


def test_a_kept_sandbox_survives_the_next_run(sim_cli: Cli) -> None:
    kept = sim_cli("check", "3", *SIM, "--keep", "--lang", "en")
    assert kept.returncode == 0, kept.stdout + kept.stderr
    namespace = next(word for word in kept.stdout.split() if word.startswith("kubelesson-3-"))
    namespace = namespace.rstrip(",")
    again = sim_cli("check", "3", *SIM, "--lang", "en")
    assert again.returncode == 0, again.stdout + again.stderr
    kubectl = sim_cli.env["KUBELESSON_KUBECTL"]
    time.sleep(0.5)  # the second run's sweep runs beside its lesson; give it time to act
    phase = subprocess.run([kubectl, "get", "namespace", namespace, "-o", "jsonpath={.status.phase}"],
                           env=sim_cli.env, capture_output=True, text=True)
    assert phase.stdout == "Active", phase.stdout + phase.stderr
    subprocess.run([kubectl, "delete", "namespace", namespace, "--wait=false"], env=sim_cli.env, capture_output=True)
