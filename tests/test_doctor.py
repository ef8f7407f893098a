"""`kubelesson doctor` and the environment checks that do not need a whole lesson run."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubelesson.errors import KubectlTooOld
from kubelesson.kubectl import check_version, parse_version
from kubelesson.lesson import discover
from tests.conftest import ROOT, Cli, closed_port, write_kubeconfig


def test_doctor_against_the_simulator(sim_cli: Cli) -> None:
    result = sim_cli("doctor", "--context", "kubelesson-sim")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"✓ lessons: {len(discover(ROOT))} in")
    assert any(line.startswith("✓ kubectl: ") and "v1." in line for line in lines)
    assert "✓ context: kubelesson-sim" in lines
    assert any(line.startswith("✓ cluster: 127.0.0.1:") and "Kubernetes v1.32" in line for line in lines)
    assert "✓ permissions: can create namespaces and pods" in lines
    assert any(line.startswith("✓ port 8000: ") for line in lines)
    assert lines[-1] == "all checks passed"


def test_doctor_in_japanese(sim_cli: Cli) -> None:
    result = sim_cli("doctor", "--context", "kubelesson-sim", "--lang", "ja")
    assert result.returncode == 0
    assert result.stdout.splitlines()[-1] == "すべてのチェックに合格しました"


def test_doctor_reports_an_unreachable_cluster(cli: Cli, tmp_path: Path) -> None:
    port = closed_port()
    config = write_kubeconfig(tmp_path, f"http://127.0.0.1:{port}", "kind-x")
    result = cli("doctor", "--kubeconfig", str(config))
    assert result.returncode == 2
    assert f"✗ cannot reach the cluster at 127.0.0.1:{port}" in result.stdout
    assert result.stdout.splitlines()[-1] == "1 check(s) failed"


def test_doctor_reports_missing_kubectl(cli: Cli) -> None:
    result = cli("doctor", "--kubectl", "/nonexistent/kubectl")
    assert result.returncode == 2
    assert "✗ kubectl not found (/nonexistent/kubectl)" in result.stdout


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ('{"clientVersion": {"gitVersion": "v1.37.1"}}', (1, 37)),
        ("Client Version: v1.32.4-dispatcher", (1, 32)),
        ("garbage", (0, 0)),
    ],
)
def test_parse_version(text: str, version: tuple[int, int]) -> None:
    assert parse_version(text) == version


def test_kubectl_too_old_names_the_minimum() -> None:
    check_version((1, 25), "kubectl")
    with pytest.raises(KubectlTooOld) as info:
        check_version((1, 19), "/old/kubectl")
    assert info.value.params == {"path": "/old/kubectl", "found": "1.19", "minimum": "1.25"}


def test_forbidden_namespace_creation_is_one_clear_line(cli: Cli, tmp_path: Path) -> None:
    """RBAC that denies creating namespaces: say so, and point at --namespace."""
    from kubelesson.sim import SimOptions, running

    with running(tmp_path / "sim", options=SimOptions(forbidden=("namespaces",))) as sim:
        cli.env.update(sim.env())
        result = cli("check", "3", "--context", "kubelesson-sim")
    assert result.returncode == 2, result.stdout + result.stderr
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1
    assert "the cluster refused to create namespace kubelesson-3-" in err
    assert "Error from server (Forbidden): namespaces is forbidden" in err
    assert "--namespace NS" in err


def test_doctor_reports_missing_permissions(cli: Cli, tmp_path: Path) -> None:
    from kubelesson.sim import SimOptions, running

    with running(tmp_path / "sim", options=SimOptions(forbidden=("namespaces",))) as sim:
        cli.env.update(sim.env())
        result = cli("doctor", "--context", "kubelesson-sim")
    assert result.returncode == 2, result.stdout
    assert "✗ permissions: cannot create namespaces" in result.stdout
