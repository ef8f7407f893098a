"""Tags a registry does not have fail to pull (issue 13): `caddy:22` goes ErrImagePull ->
ImagePullBackOff with the kubelet's words, while the real tags of the known images run."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kubelesson.sim import SimHandle, running
from kubelesson.sim.kubelet import images
from tests.sim.conftest import FAST, VENV_KUBECTL, Kubectl, pod_manifest


@pytest.mark.parametrize("reference", [
    "caddy", "caddy:2", "caddy:2.6", "caddy:2.7", "caddy:2.8", "caddy:2.9", "caddy:2.10",
    "caddy:2.10.2", "caddy:latest", "caddy:alpine", "caddy:2-alpine", "caddy:2.8.4-alpine",
    "redis:6", "redis:7", "redis:7.2", "redis:7.4.2", "redis:latest", "redis:7-alpine",
    "mariadb:10", "mariadb:11", "mariadb:11.4", "mariadb:latest", "mysql:8", "mysql:8.0",
    "nginx", "nginx:1.14.2", "nginx:1.27-alpine", "nginx:stable", "busybox:1.36",
    "alpine:latest", "alpine:3.20", "traefik/whoami:latest", "traefik/whoami:v1.10.1",
    "ghcr.io/traptitech/traq:latest", "ghcr.io/traptitech/traq-ui:latest",
    "docker.io/library/caddy:2", "caddy@sha256:" + "0" * 64,
])
def test_real_tags_are_known(reference: str) -> None:
    assert images.lookup(reference) is not None


@pytest.mark.parametrize("reference", [
    "caddy:22", "caddy:2.77", "caddy:3", "caddy:2.8.99", "caddy:v2", "redis:70", "nginx:1.99",
    "mariadb:12.9", "traefik/whoami:1.10", "ghcr.io/traptitech/traq:nope",
])
def test_unknown_tags_of_known_images_are_not(reference: str) -> None:
    assert images.repository(reference) is not None
    assert images.lookup(reference) is None


Start = Callable[[str], SimHandle]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """Start simulators reporting a given Kubernetes version; all stop at the end."""
    with contextlib.ExitStack() as stack:
        def _start(version: str) -> SimHandle:
            options = dataclasses.replace(FAST, kube_version=version)
            return stack.enter_context(running(tmp_path / version, options=options))

        yield _start


NOT_FOUND = ('rpc error: code = NotFound desc = failed to pull and unpack image '
             '"docker.io/library/caddy:22": failed to resolve reference '
             '"docker.io/library/caddy:22": docker.io/library/caddy:22: not found')


def _waiting(kubectl: Kubectl) -> dict[str, str]:
    pod = json.loads(kubectl("get", "pod", "caddy", "-o", "json").out)
    waiting: dict[str, str] = pod["status"]["containerStatuses"][0]["state"]["waiting"]
    return waiting


@pytest.mark.parametrize(("version", "backoff_message"), [
    ("v1.31.4", 'Back-off pulling image "caddy:22"'),
    # From 1.32 the kubelet appends the last pull error to the back-off message.
    ("v1.32.4", f'Back-off pulling image "caddy:22": ErrImagePull: {NOT_FOUND}'),
])
def test_an_unknown_tag_fails_to_pull(start: Start, tmp_path: Path, version: str,
                                      backoff_message: str) -> None:
    kubectl = Kubectl(VENV_KUBECTL, start(version))
    assert kubectl("apply", "-f", str(pod_manifest(tmp_path, image="caddy:22"))).rc == 0
    kubectl.wait_status("caddy", "ErrImagePull")
    assert kubectl("get", "pods").out.splitlines()[1].split()[:3] == ["caddy", "0/1", "ErrImagePull"]
    assert _waiting(kubectl) == {"reason": "ErrImagePull", "message": NOT_FOUND}
    kubectl.wait_status("caddy", "ImagePullBackOff")
    assert kubectl("get", "pods").out.splitlines()[1].split()[:4] == [
        "caddy", "0/1", "ImagePullBackOff", "0"]
    assert _waiting(kubectl) == {"reason": "ImagePullBackOff", "message": backoff_message}
    events = [" ".join(line.split()) for line in
              kubectl("describe", "pod", "caddy").out.split("Events:")[1].splitlines()[3:]]
    failed = f'Failed to pull image "caddy:22": {NOT_FOUND}'
    assert any(e.startswith("Warning Failed") and e.endswith(failed) for e in events), events
    assert any(e.endswith("Error: ErrImagePull") for e in events)
    assert any(e.startswith("Normal BackOff") and e.endswith('Back-off pulling image "caddy:22"')
               for e in events)
    assert any(e.endswith("Error: ImagePullBackOff") for e in events)


def test_a_real_tag_runs(start: Start, tmp_path: Path) -> None:
    kubectl = Kubectl(VENV_KUBECTL, start("v1.32.4"))
    for name, image in (("caddy", "caddy:2.10"), ("traq", "ghcr.io/traptitech/traq:latest")):
        kubectl("apply", "-f", str(pod_manifest(tmp_path, name=name, image=image)))
        ready = kubectl("wait", "--for=condition=Ready", f"pod/{name}", "--timeout=30s")
        assert ready.rc == 0, ready.err
