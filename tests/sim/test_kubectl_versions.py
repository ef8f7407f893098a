"""The dispatcher at /usr/bin/kubectl runs the bundled kubectl matching the server's minor
version, so reporting other versions runs lesson 3's commands with kubectl 1.27 … 1.33."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kubelesson.sim import SimOptions, running
from tests.sim.conftest import SYSTEM_KUBECTL, Kubectl, pod_manifest

pytestmark = pytest.mark.skipif(not SYSTEM_KUBECTL.exists(),
                                reason="/usr/bin/kubectl (the dispatcher) is not installed")


@pytest.mark.parametrize("server", ["v1.27.3", "v1.28.8", "v1.29.3", "v1.30.1", "v1.31.2",
                                    "v1.33.2"])
def test_lesson_commands_with_each_bundled_kubectl(server: str, tmp_path: Path) -> None:
    options = SimOptions(kube_version=server, pending_seconds=0.05, creating_seconds=0.1,
                         terminating_seconds=0.15)
    with running(tmp_path / "sim", options=options) as sim:
        kubectl = Kubectl(SYSTEM_KUBECTL, sim)
        manifest = pod_manifest(tmp_path)
        assert kubectl("apply", "-f", str(manifest)).out == "pod/caddy created\n"
        assert kubectl("apply", "-f", str(manifest)).out == "pod/caddy unchanged\n"
        changed = kubectl("apply", "-f", str(pod_manifest(tmp_path, label="other")))
        assert (changed.out, changed.err) == ("pod/caddy configured\n", "")
        assert kubectl("wait", "--for=condition=Ready", "pod/caddy").out == (
            "pod/caddy condition met\n")
        rows = kubectl("get", "pods").out.splitlines()
        assert re.fullmatch(r"caddy   1/1     Running   0          \d+s", rows[1])
        deleted = kubectl("delete", "pods", "caddy")
        assert (deleted.rc, deleted.out) == (0, 'pod "caddy" deleted\n'), deleted.err
        assert kubectl("get", "pods").err == "No resources found in default namespace.\n"
