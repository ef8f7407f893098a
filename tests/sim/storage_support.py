"""Shared by the lesson 7/8 simulator tests: manifests, a MySQL session through the real
`kubectl port-forward`, and waits on what the real kubectl shows."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.sim.conftest import Kubectl
from tests.sim.test_portforward_kubectl import _free_port, port_forward

COURSE = Path(__file__).resolve().parents[2] / "examples"
SHARED_COURSE = Path(__file__).resolve().parents[3] / "shared" / "course" / "examples"

HOSTPATH_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  nodeSelector:
    kubernetes.io/hostname: {node}
  volumes:
    - name: data
      hostPath:
        path: {path}
        type: DirectoryOrCreate
  containers:
    - name: mariadb
      image: mariadb:11
      env:
        - name: MARIADB_ROOT_PASSWORD
          value: password
      volumeMounts:
        - mountPath: /var/lib/mysql
          name: data
"""

PVC = """\
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {name}
spec:
  storageClassName: {storage_class}
  accessModes:
    - ReadWriteOnce
  resources:
    requests:
      storage: 10Gi
"""

VOLUME_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  volumes:
    - name: data
{volume}
  containers:
    - name: mariadb
      image: mariadb:11
      env:
        - name: MARIADB_ROOT_PASSWORD
          value: password
      volumeMounts:
        - mountPath: /var/lib/mysql
          name: data
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def course_file(name: str) -> Path:
    """A manifest of the course: this repository's copy, else the shared course folder."""
    for folder in (COURSE, SHARED_COURSE):
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError(name)


def wait_until(check: Any, what: str, timeout: float = 20.0, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


def wait_for_log(kubectl: Kubectl, pod: str, text: str, *, namespace: str = "default",
                 timeout: float = 20.0) -> str:
    """Poll `kubectl logs` until a line holds `text` (MariaDB says when it listens)."""
    def found() -> str | None:
        result = kubectl("logs", pod, "-n", namespace)
        return result.out if result.rc == 0 and text in result.out else None

    out: str = wait_until(found, f"{text!r} in the log of {pod}", timeout)
    return out


def ready_database(kubectl: Kubectl, pod: str, namespace: str = "default") -> None:
    """Running is not enough: wait for the server's own line (not the temporary server's)."""
    result = kubectl("wait", "--for=condition=Ready", f"pod/{pod}", "-n", namespace, "--timeout=30s")
    assert result.rc == 0, result.both
    wait_for_log(kubectl, pod, "port: 3306", namespace=namespace)


@contextmanager
def mysql(kubectl: Kubectl, target: str, *, user: str = "root", password: str = "password",
          namespace: str = "default", database: str | None = None) -> Iterator[Any]:
    """A PyMySQL connection through `kubectl port-forward <target> PORT:3306`."""
    import pymysql

    port = _free_port()
    with port_forward((kubectl.binary, {}), kubectl.env(), target, f"{port}:3306",
                      "-n", namespace) as forward:
        forward.wait_ready(port, 3306)
        connection = pymysql.connect(host="127.0.0.1", port=port, user=user, password=password,
                                     database=database, autocommit=True, connect_timeout=10)
        try:
            yield connection
        finally:
            connection.close()


def run_sql(connection: Any, statements: Sequence[str]) -> list[Any]:
    """Each statement's rows (a tuple of tuples) or its affected-row count."""
    answers: list[Any] = []
    with connection.cursor() as cursor:
        for statement in statements:
            affected = cursor.execute(statement)
            answers.append(cursor.fetchall() if cursor.description else affected)
    return answers
