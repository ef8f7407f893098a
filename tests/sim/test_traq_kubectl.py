"""Chapter 8 with the real kubectl: `kubectl apply -k` of the course's traQ kustomization is
accepted object by object, traQ restarts while MariaDB initialises and then answers its API,
the UI serves its page, `delete -k` removes everything (the claims' volumes too); and the
chapter's traps: service links breaking traQ's port, a claim left over from chapter 7."""

from __future__ import annotations

import json
import re
import shutil
import urllib.request
from pathlib import Path

import pytest

from kubelesson.lesson import Probe
from kubelesson.probes import Prober
from tests.sim.conftest import Kubectl
from tests.sim.storage_support import course_file, wait_for_log, wait_until
from tests.sim.test_portforward_kubectl import _free_port, port_forward

pytestmark = [pytest.mark.slow, pytest.mark.sim_options(database_init_seconds=0.5)]

CREATED = [
    "configmap/traq created", "configmap/traq-ui created", "secret/mariadb-password created",
    "service/mariadb created", "service/traq created", "service/traq-ui created",
    "persistentvolumeclaim/mariadb created", "persistentvolumeclaim/traq created",
    "deployment.apps/traq-ui created", "statefulset.apps/mariadb created",
    "statefulset.apps/traq created", "ingress.networking.k8s.io/traq created",
]


def _kustomization(tmp_path: Path) -> Path:
    folder = tmp_path / "8_traq"
    shutil.copytree(course_file("8_traq/kustomization.yaml").parent, folder)
    return folder


def _get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return response.status, dict(response.headers), response.read()


def _restarts(kubectl: Kubectl, pod: str) -> int:
    out = kubectl("get", "pod", pod, "-o", "jsonpath={.status.containerStatuses[0].restartCount}").out
    return int(out or 0)


def test_traq_exercise(kubectl137: Kubectl, tmp_path: Path) -> None:
    folder = _kustomization(tmp_path)
    applied = kubectl137("apply", "-k", str(folder))
    assert applied.rc == 0, applied.both
    assert applied.out.splitlines() == CREATED
    wait_until(lambda: "pod/traq-0" in kubectl137("get", "pods", "-o", "name").out, "traq-0")
    wait_for_log(kubectl137, "traq-0", "traQ started", timeout=60)
    # It could not reach MariaDB before the database finished its first start.
    assert _restarts(kubectl137, "traq-0") >= 1
    previous = kubectl137("logs", "traq-0", "--previous").out
    assert "failed to connect database" in previous and "connect: connection refused" in previous
    names = kubectl137("get", "pods", "-o", "name").out.split()
    assert "pod/mariadb-0" in names and len([n for n in names if n.startswith("pod/traq-ui-")]) == 2
    port = _free_port()
    with port_forward((kubectl137.binary, {}), kubectl137.env(), "svc/traq", f"{port}:80") as forward:
        forward.wait_ready(port, 3000)  # the Service's targetPort
        status, headers, body = _get(port, "/api/v3/version")
        assert status == 200 and headers["Content-Type"] == "application/json"
        version = json.loads(body)
        assert sorted(version) == ["flags", "revision", "version"]
        assert version["flags"] == {"externalLogin": [], "signUpAllowed": True}
        assert re.fullmatch(r"v3\.\d+\.\d+", version["version"])
        login = urllib.request.Request(f"http://127.0.0.1:{port}/api/v3/login",
                                       data=b'{"name":"traq","password":"traq"}',
                                       headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(login, timeout=10) as response:
            assert response.status == 204 and "r_session=" in response.headers["Set-Cookie"]
        # Lesson 8's login probe: a wrong password is traQ's 401, which the probe reports.
        probe = Probe(url=f"http://localhost:{port}/api/v3/login", expect="204", timeout=10,
                      data='{"name":"traq","password":"wrong"}')
        refused = Prober({}).run(probe)
        assert (refused.ok, refused.detail) == (
            False, 'HTTP 401: {"message":"password or id is wrong"}')
    with port_forward((kubectl137.binary, {}), kubectl137.env(), "svc/traq-ui", f"{port}:80") as forward:
        forward.wait_ready(port, 80)
        status, headers, body = _get(port, "/")
        assert status == 200 and b"<title>traQ</title>" in body
        assert _get(port, "/channels/general")[2] == body  # the app answers every path
        assert b"enableSearch: false" in _get(port, "/config.js")[2]  # the mounted override
    for claim in ("mariadb", "traq"):
        assert kubectl137("get", "pvc", claim, "-o", "jsonpath={.status.phase}").out == "Bound"
    # MariaDB restarted on its volume: the user is still there, traQ connects again.
    old_uid = kubectl137("get", "pod", "mariadb-0", "-o", "jsonpath={.metadata.uid}").out
    assert kubectl137("delete", "pod", "mariadb-0").rc == 0
    wait_until(lambda: kubectl137("get", "pod", "mariadb-0", "-o", "jsonpath={.metadata.uid}").out
               not in ("", old_uid), "a new mariadb-0")
    wait_for_log(kubectl137, "mariadb-0", "port: 3306")
    assert "MariaDB upgrade not required" in kubectl137("logs", "mariadb-0").out
    with port_forward((kubectl137.binary, {}), kubectl137.env(), "svc/traq", f"{port}:80") as forward:
        forward.wait_ready(port, 3000)
        with urllib.request.urlopen(login, timeout=10) as response:
            assert response.status == 204
    deleted = kubectl137("delete", "-k", str(folder))
    assert deleted.rc == 0, deleted.both
    assert [line.split(" deleted")[0] for line in deleted.out.splitlines()] == [
        _deleted_name(line) for line in CREATED]
    wait_until(lambda: "No resources" in kubectl137("get", "pv").err, "the volumes to be deleted")


def _deleted_name(created: str) -> str:
    kind, name = created.removesuffix(" created").split("/")
    return f'{kind} "{name}"'


def test_service_links_break_traq(kubectl137: Kubectl, tmp_path: Path) -> None:
    folder = _kustomization(tmp_path)
    manifest = folder / "traq.yaml"
    manifest.write_text(manifest.read_text().replace("      enableServiceLinks: false\n", ""))
    assert kubectl137("apply", "-k", str(folder)).rc == 0
    wait_until(lambda: "pod/traq-0" in kubectl137("get", "pods", "-o", "name").out, "traq-0")
    wait_until(lambda: _restarts(kubectl137, "traq-0") >= 2, "traq to restart")
    log = kubectl137("logs", "traq-0").out + kubectl137("logs", "traq-0", "--previous").out
    assert "'port' cannot parse value as 'int'" in log
    assert "traQ started" not in log


def test_claim_left_over_from_chapter_7(kubectl137: Kubectl, tmp_path: Path) -> None:
    """The chapter 7 claim `mariadb` holds a data directory with root's password `password`
    and no `traq` user: apply says `unchanged`, and traQ is refused."""
    kubectl137("apply", "-f", str(course_file("7_pvc.yaml")))
    kubectl137("apply", "-f", str(course_file("7_pvc_pod.yaml")))
    wait_for_log(kubectl137, "mariadb", "port: 3306")
    assert kubectl137("delete", "pod", "mariadb").rc == 0
    applied = kubectl137("apply", "-k", str(_kustomization(tmp_path)))
    assert "persistentvolumeclaim/mariadb unchanged" in applied.out.splitlines()
    wait_until(lambda: "pod/traq-0" in kubectl137("get", "pods", "-o", "name").out, "traq-0")
    wait_until(lambda: "Access denied for user 'traq'" in (
        kubectl137("logs", "traq-0").out + kubectl137("logs", "traq-0", "--previous").out),
        "traQ to be refused", timeout=60)
