"""Reading the user's kubeconfig as kubectl does, and the sandbox's credential-free view."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kubelesson import kubeconfig
from kubelesson.errors import NoContext

FIRST = """\
apiVersion: v1
kind: Config
current-context: k3d-hands-on
clusters:
- name: k3d-hands-on
  cluster: {server: "https://0.0.0.0:6550", certificate-authority-data: Q0EtREFUQQ==}
contexts:
- name: k3d-hands-on
  context: {cluster: k3d-hands-on, user: admin@k3d-hands-on}
users:
- name: admin@k3d-hands-on
  user: {client-key-data: U0VDUkVULUtFWQ==, token: secret-token}
"""

SECOND = """\
apiVersion: v1
kind: Config
current-context: kind-other
clusters:
- name: kind-other
  cluster: {server: "https://user:pw@127.0.0.1:41234"}
contexts:
- name: k3d-hands-on
  context: {cluster: shadowed, user: shadowed}
- name: kind-other
  context: {cluster: kind-other, user: kind-other}
"""


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    first, second = tmp_path / "first", tmp_path / "second"
    first.write_text(FIRST)
    second.write_text(SECOND)
    return first, second


def test_first_file_wins_like_kubectl(files: tuple[Path, Path], tmp_path: Path) -> None:
    env = {"KUBECONFIG": f"{files[0]}:{tmp_path / 'missing'}:{files[1]}"}
    info = kubeconfig.find_context(env, None)
    assert (info.name, info.cluster, info.user) == ("k3d-hands-on", "k3d-hands-on", "admin@k3d-hands-on")
    assert info.server == "0.0.0.0:6550"
    assert info.files == files  # the missing file is skipped, as kubectl does
    other = kubeconfig.find_context(env, "kind-other")
    assert other.server == "127.0.0.1:41234"  # never the credentials in a URL


def test_home_config_when_no_kubeconfig_variable(tmp_path: Path) -> None:
    (tmp_path / ".kube").mkdir()
    (tmp_path / ".kube" / "config").write_text(FIRST)
    assert kubeconfig.find_context({"HOME": str(tmp_path)}, None).name == "k3d-hands-on"


def test_missing_or_unknown_context(files: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(NoContext) as info:
        kubeconfig.find_context({"KUBECONFIG": str(files[0])}, "nope")
    assert info.value.params == {"context": "nope"}
    with pytest.raises(NoContext) as info:
        kubeconfig.find_context({"KUBECONFIG": str(tmp_path / "missing")}, None)
    # Not "no current context": the file itself is missing, and the message names it.
    assert info.value.key == "error.kubeconfig_missing"
    assert info.value.params == {"files": str(tmp_path / "missing")}
    broken = tmp_path / "broken"
    broken.write_text("clusters: [\n")
    with pytest.raises(NoContext):
        kubeconfig.find_context({"KUBECONFIG": str(broken)}, None)


def test_sandbox_config_holds_no_credentials(files: tuple[Path, Path], tmp_path: Path) -> None:
    info = kubeconfig.find_context({"KUBECONFIG": str(files[0])}, None)
    config = kubeconfig.sandbox_config(info, "kubelesson-3-abcde")
    text = yaml.safe_dump(config)
    for secret in ("secret-token", "U0VDUkVULUtFWQ==", "Q0EtREFUQQ=="):
        assert secret not in text
    assert config["contexts"] == [
        {"name": "k3d-hands-on",
         "context": {"cluster": "k3d-hands-on", "user": "admin@k3d-hands-on", "namespace": "kubelesson-3-abcde"}}
    ]
    value = kubeconfig.sandbox_env_value(tmp_path / "sandbox", info)
    assert value == f"{tmp_path / 'sandbox'}:{files[0]}"
