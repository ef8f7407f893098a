"""Secrets and ConfigMaps as environment variables with the real kubectl: what the kubelet
builds (env valueFrom, envFrom, service links unless enableServiceLinks is false), and the
CreateContainerConfigError of a missing Secret or key, worded as the kubelet words it."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from kubelesson.sim import SimHandle
from kubelesson.sim.kubelet import environment
from tests.sim.conftest import Kubectl
from tests.sim.storage_support import mysql, ready_database, run_sql, wait_until, write

pytestmark = [pytest.mark.slow, pytest.mark.sim_options(database_init_seconds=0.2)]

SECRET = """\
apiVersion: v1
kind: Secret
metadata:
  name: mariadb-password
stringData:
  root-password: "root-password"
"""
DATABASE = """\
apiVersion: v1
kind: Pod
metadata:
  name: db
spec:
  containers:
    - name: mariadb
      image: mariadb:11
      env:
        - name: MARIADB_ROOT_PASSWORD
          valueFrom:
            secretKeyRef:
              name: mariadb-password
              key: {key}
"""
WEB = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  MODE: production
  greeting: hello
---
apiVersion: v1
kind: Service
metadata:
  name: my-api
spec:
  selector:
    app: nothing
  ports:
    - name: http
      port: 8080
      targetPort: 80
---
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  enableServiceLinks: {links}
  containers:
    - name: web
      image: caddy:2
      envFrom:
        - configMapRef:
            name: settings
          prefix: CM_
      env:
        - name: GREETING
          valueFrom:
            configMapKeyRef:
              name: settings
              key: greeting
        - name: MESSAGE
          value: "$(GREETING) from $(MY_POD)"
        - name: MY_POD
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
"""


def _status(kubectl: Kubectl, pod: str) -> list[str]:
    table = kubectl("get", "pod", pod).out.strip().splitlines()
    return re.split(r"\s{2,}", table[1])


def _events(kubectl: Kubectl, pod: str) -> list[str]:
    out = kubectl("get", "events", "--field-selector", f"involvedObject.name={pod}", "-o",
                  "jsonpath={range .items[*]}{.type} {.reason} {.message}{'\\n'}{end}").out
    return out.splitlines()


def test_string_data_is_stored_as_data(kubectl137: Kubectl, tmp_path: Path) -> None:
    assert kubectl137("apply", "-f", str(write(tmp_path, "s.yaml", SECRET))).out == (
        "secret/mariadb-password created\n")
    data = kubectl137("get", "secret", "mariadb-password", "-o", "jsonpath={.data.root-password}").out
    assert base64.b64decode(data) == b"root-password"
    assert kubectl137("get", "secret", "mariadb-password", "-o", "jsonpath={.stringData}").out == ""
    # stringData is never stored, so every apply sends it again: `configured` each time.
    assert kubectl137("apply", "-f", str(write(tmp_path, "s.yaml", SECRET))).out == (
        "secret/mariadb-password configured\n")


def test_secret_as_environment_variable(kubectl137: Kubectl, tmp_path: Path) -> None:
    kubectl137("apply", "-f", str(write(tmp_path, "s.yaml", SECRET)))
    kubectl137("apply", "-f", str(write(tmp_path, "db.yaml", DATABASE.format(key="root-password"))))
    ready_database(kubectl137, "db")
    with mysql(kubectl137, "pod/db", password="root-password") as connection:
        assert run_sql(connection, ["SELECT CURRENT_USER()"])[0] == (("root@%",),)


def test_missing_secret_then_created(kubectl137: Kubectl, tmp_path: Path) -> None:
    kubectl137("apply", "-f", str(write(tmp_path, "db.yaml", DATABASE.format(key="root-password"))))
    wait_until(lambda: _status(kubectl137, "db")[2] == "CreateContainerConfigError", "the config error")
    assert _status(kubectl137, "db")[:2] == ["db", "0/1"]
    message = kubectl137("get", "pod", "db", "-o", "jsonpath={.status.containerStatuses[0].state."
                         "waiting.message}").out
    assert message == 'secret "mariadb-password" not found'
    assert 'Warning Failed Error: secret "mariadb-password" not found' in _events(kubectl137, "db")
    assert kubectl137("get", "pod", "db", "-o", "jsonpath={.status.phase}").out == "Pending"
    kubectl137("apply", "-f", str(write(tmp_path, "s.yaml", SECRET)))  # the kubelet tries again
    assert kubectl137("wait", "--for=condition=Ready", "pod/db", "--timeout=30s").rc == 0
    assert _status(kubectl137, "db")[1:4] == ["1/1", "Running", "0"]


def test_missing_key(kubectl137: Kubectl, tmp_path: Path) -> None:
    kubectl137("apply", "-f", str(write(tmp_path, "s.yaml", SECRET)))
    kubectl137("apply", "-f", str(write(tmp_path, "db.yaml", DATABASE.format(key="password"))))
    wait_until(lambda: _status(kubectl137, "db")[2] == "CreateContainerConfigError", "the config error")
    wait_until(lambda: ("Warning Failed Error: couldn't find key password in Secret "
                        "default/mariadb-password") in _events(kubectl137, "db"), "the Failed event")


@pytest.mark.parametrize("links", ["true", "false"])
def test_config_map_variables_and_service_links(kubectl137: Kubectl, sim: SimHandle, tmp_path: Path,
                                                links: str) -> None:
    assert kubectl137("apply", "-f", str(write(tmp_path, "web.yaml", WEB.format(links=links)))).rc == 0
    assert kubectl137("wait", "--for=condition=Ready", "pod/web", "--timeout=30s").rc == 0
    uid = kubectl137("get", "pod", "web", "-o", "jsonpath={.metadata.uid}").out
    env = environment.of(uid, "web")
    assert env is not None
    assert env["CM_MODE"] == "production" and env["CM_greeting"] == "hello"
    assert env["GREETING"] == "hello"
    assert env["MESSAGE"] == "hello from $(MY_POD)"  # defined later: left as it is
    ip = kubectl137("get", "service", "my-api", "-o", "jsonpath={.spec.clusterIP}").out
    assert env["KUBERNETES_SERVICE_HOST"] == "10.43.0.1"  # the master service, always
    if links == "true":
        assert env["MY_API_PORT"] == f"tcp://{ip}:8080"
        assert env["MY_API_SERVICE_PORT_HTTP"] == "8080"
        assert env["MY_API_PORT_8080_TCP_ADDR"] == ip
    else:
        assert not any(name.startswith("MY_API_") for name in env)


def test_service_variables_as_the_kubelet_writes_them() -> None:
    service = {"metadata": {"name": "traq"}, "spec": {"clusterIP": "10.43.5.6", "ports": [
        {"name": "traq", "port": 80, "protocol": "TCP", "targetPort": 3000}]}}
    assert environment.service_variables(service) == [
        ("TRAQ_SERVICE_HOST", "10.43.5.6"), ("TRAQ_SERVICE_PORT", "80"),
        ("TRAQ_SERVICE_PORT_TRAQ", "80"), ("TRAQ_PORT", "tcp://10.43.5.6:80"),
        ("TRAQ_PORT_80_TCP", "tcp://10.43.5.6:80"), ("TRAQ_PORT_80_TCP_PROTO", "tcp"),
        ("TRAQ_PORT_80_TCP_PORT", "80"), ("TRAQ_PORT_80_TCP_ADDR", "10.43.5.6")]
    headless = {"metadata": {"name": "db"}, "spec": {"clusterIP": "None", "ports": [{"port": 3306}]}}
    assert environment.service_variables(headless) == []
