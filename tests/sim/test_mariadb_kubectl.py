"""Lesson 7's decisive check with the real kubectl and a real MySQL client (PyMySQL): rows
written through `kubectl port-forward` survive deleting and re-creating the pod when they
live on a hostPath or a PersistentVolumeClaim, and are gone with an emptyDir or no volume.
MariaDB's first start is slow: the pod is Running before it accepts connections."""

from __future__ import annotations

from pathlib import Path

import pymysql
import pytest

from kubelesson import mysql as session_lines
from kubelesson.sim import SimHandle
from tests.conftest import course_kubectl
from tests.sim.conftest import Kubectl
from tests.sim.storage_support import (
    HOSTPATH_POD,
    VOLUME_POD,
    course_file,
    mysql,
    ready_database,
    run_sql,
    wait_for_log,
    wait_until,
    write,
)
from tests.sim.test_portforward_kubectl import _free_port, port_forward

pytestmark = [pytest.mark.slow, pytest.mark.sim_options(database_init_seconds=0.4)]

WRITE = ["CREATE DATABASE hands_on", "USE hands_on", "CREATE TABLE test (a INT)",
         "INSERT INTO test VALUES (1), (2), (3)"]


def _recreate(kubectl: Kubectl, manifest: Path, pod: str = "mariadb") -> None:
    assert kubectl("delete", "-f", str(manifest)).rc == 0
    wait_until(lambda: "NotFound" in kubectl("get", "pod", pod).err, "the pod to be gone")
    assert kubectl("apply", "-f", str(manifest)).out == f"pod/{pod} created\n"
    ready_database(kubectl, pod)


def _rows_after_recreate(kubectl: Kubectl, manifest: Path) -> object:
    kubectl("apply", "-f", str(manifest))
    ready_database(kubectl, "mariadb")
    with mysql(kubectl, "pod/mariadb") as connection:
        run_sql(connection, WRITE)
    _recreate(kubectl, manifest)
    with mysql(kubectl, "pod/mariadb") as connection:
        try:
            return run_sql(connection, ["SELECT * FROM hands_on.test"])[0]
        except pymysql.err.MySQLError as exc:
            return exc.args[0]


def test_chapter_session_through_port_forward(kubectl137: Kubectl) -> None:
    """The chapter's SQL, shown as the mysql client shows it (kubelesson/mysql.py)."""
    kubectl137("apply", "-f", str(course_file("7_hostpath_pod.yaml")))
    ready_database(kubectl137, "mariadb")
    port = _free_port()
    with port_forward((kubectl137.binary, {}), kubectl137.env(), "pod/mariadb", f"{port}:3306") as forward:
        forward.wait_ready(port, 3306)
        lines = session_lines.session("127.0.0.1", port, "root", "password", [
            "CREATE DATABASE hands_on;", "USE hands_on", "CREATE TABLE test (a INT);",
            "INSERT INTO test VALUES (1), (2), (3);", "SELECT * FROM test;",
            "CREATE DATABASE hands_on;", "SELECT * FROM nothing;", "USE nowhere;", "SELEC 1;"],
            timeout=10)
    assert lines[:24] == [
        "mysql> CREATE DATABASE hands_on;", "Query OK, 1 row affected",
        "mysql> USE hands_on", "Database changed",
        "mysql> CREATE TABLE test (a INT);", "Query OK, 0 rows affected",
        "mysql> INSERT INTO test VALUES (1), (2), (3);", "Query OK, 3 rows affected",
        "Records: 3  Duplicates: 0  Warnings: 0",
        "mysql> SELECT * FROM test;", "+------+", "| a    |", "+------+", "|    1 |", "|    2 |",
        "|    3 |", "+------+", "3 rows in set",
        "mysql> CREATE DATABASE hands_on;",
        "ERROR 1007 (HY000): Can't create database 'hands_on'; database exists",
        "mysql> SELECT * FROM nothing;", "ERROR 1146 (42S02): Table 'hands_on.nothing' doesn't exist",
        "mysql> USE nowhere;", "ERROR 1049 (42000): Unknown database 'nowhere'",
    ]
    assert lines[25].startswith("ERROR 1064 (42000): You have an error in your SQL syntax; check the manual "
                                "that corresponds to your MariaDB server version for the right syntax to use "
                                "near 'SELEC 1")


def test_hostpath_rows_survive_the_pod(kubectl137: Kubectl) -> None:
    assert _rows_after_recreate(kubectl137, course_file("7_hostpath_pod.yaml")) == ((1,), (2,), (3,))


def test_claim_rows_survive_the_pod(kubectl137: Kubectl) -> None:
    kubectl137("apply", "-f", str(course_file("7_pvc.yaml")))
    node_before: list[str] = []
    manifest = course_file("7_pvc_pod.yaml")
    kubectl137("apply", "-f", str(manifest))
    ready_database(kubectl137, "mariadb")
    node_before.append(kubectl137("get", "pod", "mariadb", "-o", "jsonpath={.spec.nodeName}").out)
    with mysql(kubectl137, "pod/mariadb") as connection:
        run_sql(connection, WRITE)
    _recreate(kubectl137, manifest)
    # The volume's node affinity brings the new pod back to the same node.
    assert kubectl137("get", "pod", "mariadb", "-o", "jsonpath={.spec.nodeName}").out == node_before[0]
    with mysql(kubectl137, "pod/mariadb") as connection:
        assert run_sql(connection, ["SELECT a FROM hands_on.test ORDER BY a DESC"])[0] == ((3,), (2,), (1,))


def test_empty_dir_and_no_volume_lose_the_rows(kubectl137: Kubectl, tmp_path: Path) -> None:
    empty = write(tmp_path, "empty.yaml", VOLUME_POD.format(name="mariadb", volume="      emptyDir: {}"))
    assert _rows_after_recreate(kubectl137, empty) == 1146  # Table 'hands_on.test' doesn't exist
    kubectl137("delete", "-f", str(empty))
    wait_until(lambda: "NotFound" in kubectl137("get", "pod", "mariadb").err, "the pod to be gone")
    bare = write(tmp_path, "bare.yaml", VOLUME_POD.format(name="mariadb", volume="      emptyDir: {}")
                 .replace("      volumeMounts:\n        - mountPath: /var/lib/mysql\n          name: data\n", ""))
    assert _rows_after_recreate(kubectl137, bare) == 1146


def test_hostpath_data_outlives_namespace_and_second_run(kubectl137: Kubectl, tmp_path: Path) -> None:
    """A lesson run in a sandbox namespace, then another: the node keeps /data/mariadb, so
    the chapter's CREATE DATABASE fails the second time (the trap the lesson must avoid)."""
    manifest = course_file("7_hostpath_pod.yaml")
    for run, namespace in enumerate(("lesson-a", "lesson-b")):
        assert kubectl137("create", "namespace", namespace).rc == 0
        kubectl137("apply", "-f", str(manifest), "-n", namespace)
        ready_database(kubectl137, "mariadb", namespace)
        with mysql(kubectl137, "pod/mariadb", namespace=namespace) as connection:
            if run == 0:
                run_sql(connection, WRITE)
            else:
                with pytest.raises(pymysql.err.ProgrammingError) as failure:
                    run_sql(connection, ["CREATE DATABASE hands_on"])
                assert failure.value.args[0] == 1007
                assert run_sql(connection, ["SELECT COUNT(*) FROM hands_on.test"])[0] == ((3,),)
        assert kubectl137("delete", "namespace", namespace).rc == 0


@pytest.mark.sim_options(database_init_seconds=3.0)
def test_running_before_accepting_connections(kubectl137: Kubectl) -> None:
    """A new data directory takes a while: connections are refused meanwhile, and kubectl
    port-forward reports the refusal; the temporary server's 'ready' line says port 0."""
    kubectl137("apply", "-f", str(course_file("7_hostpath_pod.yaml")))
    assert kubectl137("wait", "--for=condition=Ready", "pod/mariadb", "--timeout=30s").rc == 0
    port = _free_port()
    with port_forward((kubectl137.binary, {}), kubectl137.env(), "pod/mariadb", f"{port}:3306") as forward:
        forward.wait_ready(port, 3306)
        with pytest.raises(pymysql.err.OperationalError):
            pymysql.connect(host="127.0.0.1", port=port, user="root", password="password",
                            connect_timeout=5)
        forward.wait_for(lambda: any("connection refused" in line for line in forward.stderr))
    ready_database(kubectl137, "mariadb")
    log = kubectl137("logs", "mariadb").out
    assert log.index("port: 0 ") < log.index("port: 3306 ")
    assert "MariaDB init process done. Ready for start up." in log
    with mysql(kubectl137, "pod/mariadb") as connection:
        assert run_sql(connection, ["SELECT 1"])[0] == ((1,),)


def test_wrong_password_and_existing_data(kubectl137: Kubectl, tmp_path: Path) -> None:
    """On an initialised volume a new MARIADB_ROOT_PASSWORD is ignored (chapter 8's trap with
    the PVC left over from chapter 7)."""
    manifest = course_file("7_hostpath_pod.yaml")
    kubectl137("apply", "-f", str(manifest))
    ready_database(kubectl137, "mariadb")
    kubectl137("delete", "-f", str(manifest))
    wait_until(lambda: "NotFound" in kubectl137("get", "pod", "mariadb").err, "the pod to be gone")
    changed = write(tmp_path, "pod.yaml", manifest.read_text().replace("value: password", "value: other"))
    kubectl137("apply", "-f", str(changed))
    ready_database(kubectl137, "mariadb")
    assert "MariaDB upgrade not required" in kubectl137("logs", "mariadb").out
    with pytest.raises(pymysql.err.OperationalError) as failure, mysql(kubectl137, "pod/mariadb", password="other"):
        pass
    assert failure.value.args == (1045, "Access denied for user 'root'@'127.0.0.1' (using password: YES)")
    with mysql(kubectl137, "pod/mariadb", password="password") as connection:
        assert run_sql(connection, ["SELECT VERSION()"])[0][0][0].startswith("11.8.")


def test_course_kubectl_session(sim: SimHandle, tmp_path: Path) -> None:
    binary = course_kubectl()
    if binary is None:
        pytest.skip("kubectl 1.30 is not installed")
    kubectl = Kubectl(binary, sim)
    manifest = write(tmp_path, "pod.yaml", HOSTPATH_POD.format(name="mariadb", node="k3d-hands-on-agent-0",
                                                               path="/data/other"))
    assert _rows_after_recreate(kubectl, manifest) == ((1,), (2,), (3,))


def test_a_second_server_on_a_data_folder_in_use_is_locked_out(kubectl137: Kubectl) -> None:
    """Two pods on the node's /data/mariadb (the chapter's pod left running, and lesson 7's
    in its sandbox): mariadbd locks its files, so the second one waits for the lock, aborts
    and restarts until the first is gone; then it starts on the same data."""
    manifest = course_file("7_hostpath_pod.yaml")
    kubectl137("apply", "-f", str(manifest))
    ready_database(kubectl137, "mariadb")
    assert kubectl137("create", "namespace", "second").rc == 0
    kubectl137("apply", "-f", str(manifest), "-n", "second")
    log = wait_for_log(kubectl137, "mariadb", "[ERROR] Aborting", namespace="second")
    assert "Can't lock aria control file '/var/lib/mysql/aria_log_control' for exclusive use" in log
    assert "[ERROR] InnoDB: Unable to lock ./ibdata1 error: 11" in log
    assert "port: 3306" not in log
    wait_until(lambda: kubectl137("get", "pod", "mariadb", "-n", "second", "-o",
                                  "jsonpath={.status.containerStatuses[0].restartCount}").out
               not in ("", "0"), "the locked-out server to be restarted")
    with mysql(kubectl137, "pod/mariadb") as connection:  # the first one serves on
        assert run_sql(connection, ["SELECT 1"])[0] == ((1,),)
    assert kubectl137("delete", "-f", str(manifest)).rc == 0
    ready_database(kubectl137, "mariadb", "second")
