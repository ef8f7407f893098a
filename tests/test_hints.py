"""Hints for each kind of failure, with the next command to try.

Provoked through the simulator where it can be (a course copy whose pod crashes, or runs
nginx instead of caddy; a cluster that is not there), and from learners' sessions for the
rest (`kubelesson diff 3 FILE`, no cluster). Pending and the image typo are covered end to
end in test_safety.py.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kubelesson import hints
from kubelesson.messages import MESSAGES
from tests.conftest import ROOT, Cli

SIM = ("--context", "kubelesson-sim")
SESSIONS = Path(__file__).parent / "sessions"


def course_copy(tmp_path: Path, image: str) -> Path:
    """Lesson 3 in a folder of its own, its manifest running ``image`` instead of caddy:2."""
    course = tmp_path / f"course-{image}"
    (course / "examples").mkdir(parents=True)
    (course / "transcripts").mkdir()
    (course / "transcripts" / "3.yaml").write_text((ROOT / "transcripts/3.yaml").read_text())
    manifest = (ROOT / "examples/3_pod.yaml").read_text()
    assert "image: caddy:2" in manifest
    (course / "examples" / "3_pod.yaml").write_text(manifest.replace("caddy:2", image))
    return course


def hint_lines(out: str, lang: str = "en") -> list[tuple[str, str]]:
    """(hint text, command to try) pairs, in report order."""
    hint, try_ = ("hint: ", "try: ") if lang == "en" else ("ヒント: ", "試すコマンド: ")
    lines = [line.strip() for line in out.splitlines()]
    return [
        (line[len(hint):], lines[k + 1][len(try_):])
        for k, line in enumerate(lines)
        if line.startswith(hint) and k + 1 < len(lines) and lines[k + 1].startswith(try_)
    ]


def text(kind: str, lang: str = "en") -> str:
    return MESSAGES[f"hint.{kind}"][lang]


# --- provoked through the simulator ----------------------------------------------------


def test_wrong_page_shows_url_and_what_came_back(sim_cli: Cli, tmp_path: Path) -> None:
    course = course_copy(tmp_path, "nginx")
    result = sim_cli("check", "3", *SIM, "--root", str(course), "--bundle", str(tmp_path / "b.txt"))
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    # The report says where it looked and what answered instead of the lesson's page.
    assert "✗ curl -s http://localhost:8000/ | grep -o 'Caddy works!'" in out
    probe_line = next(line for line in out.splitlines() if "did not show 'Caddy works!'" in line)
    assert "GET http://localhost:" in probe_line
    assert "HTTP 200: Welcome to nginx!" in probe_line
    assert hint_lines(out) == [(text("wrong_page"), "kubectl describe pod caddy")]
    # Everything before the probe matched: the page is the only difference.
    assert out.count("✗") == 1


def test_crashing_container_gets_the_logs_hint(sim_cli: Cli, tmp_path: Path) -> None:
    # busybox's default command exits at once: the pod restarts until CrashLoopBackOff.
    course = course_copy(tmp_path, "busybox")
    junit = tmp_path / "junit.xml"
    result = sim_cli("check", "3", *SIM, "--root", str(course), "--timeout", "3", "--lang", "ja",
                     "--bundle", str(tmp_path / "b.txt"), "--junit", str(junit))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "CrashLoopBackOff" in result.stdout
    assert hint_lines(result.stdout, "ja") == [(text("crashloop", "ja"), "kubectl logs caddy --previous")]
    # In JUnit the wait that ran out fails; the steps it kept from running are skipped.
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("8", "1", "6")
    failure = suite.find("testcase/failure")
    assert failure is not None and failure.get("message") == text("crashloop", "ja")
    # The closing line counts the steps not run apart from the one that differs.
    assert result.stdout.rstrip().splitlines()[-1].startswith(
        "不合格: 8 ステップ中 1 ステップがレッスンと異なり、6 ステップは実行されませんでした")
    english = sim_cli("check", "3", *SIM, "--root", str(course), "--timeout", "3", "--json",
                      "--bundle", str(tmp_path / "b2.txt"))
    assert json.loads(english.stdout)["summary"] == {"total": 8, "failed": 1, "skipped": 6, "extra": 0}


def test_cluster_not_started_says_how_to_start_it(cli: Cli, tmp_path: Path) -> None:
    # The guard kubeconfig points at 127.0.0.1:9, where nothing listens: a stopped cluster.
    config = tmp_path / "stopped"
    config.write_text(Path(cli.env["KUBECONFIG"]).read_text().replace("nowhere", "k3d-hands-on"))
    for lang, words in (("en", "is it started? for k3d: k3d cluster start hands-on"),
                        ("ja", "起動していますか?k3d なら: k3d cluster start hands-on")):
        result = cli("check", "3", "--kubeconfig", str(config), "--lang", lang)
        assert result.returncode == 2, result.stdout + result.stderr
        assert words in result.stderr
        assert "127.0.0.1:9" in result.stderr
        assert "Traceback" not in result.stderr


# --- from learners' sessions (`kubelesson diff`) -----------------------------------------


@pytest.mark.parametrize(
    ("session", "kind", "try_command", "step"),
    [
        ("crashloop.txt", "crashloop", "kubectl logs caddy --previous", "kubectl get pods"),
        ("connection_refused.txt", "connection_refused", "kubectl cluster-info",
         "kubectl apply -f ./examples/3_pod.yaml"),
        ("port_busy.txt", "port_busy", "lsof -i :8000", "kubectl port-forward pod/caddy 8000:80"),
        ("already_exists.txt", "leftover", "kubectl delete pod caddy",
         "kubectl apply -f ./examples/3_pod.yaml"),
        ("userhost_leftover_and_typo.txt", "leftover", "kubectl delete pod caddy",
         "kubectl apply -f ./examples/3_pod.yaml"),
        ("image_pull.txt", "image_pull", "kubectl describe pod caddy", "kubectl get pods"),
    ],
)
@pytest.mark.parametrize("lang", ["en", "ja"])
def test_session_failure_gets_its_hint(
    cli: Cli, session: str, kind: str, try_command: str, step: str, lang: str
) -> None:
    result = cli("diff", "3", str(SESSIONS / session), "--lang", lang)
    assert result.returncode == 1, result.stdout + result.stderr
    found = hint_lines(result.stdout, lang)
    assert found, result.stdout
    assert found[0] == (text(kind, lang), try_command), result.stdout
    # The hint sits under the step it is about.
    lines = result.stdout.splitlines()
    first_fail = next(k for k, line in enumerate(lines) if line.startswith("  ✗ "))
    assert lines[first_fail] == f"  ✗ {step}"


def test_connection_refused_mentions_starting_k3d() -> None:
    assert "k3d cluster start" in text("connection_refused")
    assert "k3d cluster start" in text("connection_refused", "ja")


# --- recognition (pure, on real kubectl wording) -----------------------------------------


@pytest.mark.parametrize(
    ("output", "kind"),
    [
        ("The connection to the server 127.0.0.1:6550 was refused - did you specify the right host or port?",
         "connection_refused"),
        ("error: unable to listen on any of the requested ports: [{8000 80}]", "port_busy"),
        ("caddy   0/1     ErrImagePull   0          5s", "image_pull"),
        ("caddy   0/1     ImagePullBackOff   0          40s", "image_pull"),
        ("caddy   0/1     CrashLoopBackOff   4 (12s ago)   2m", "crashloop"),
        ('Error from server (AlreadyExists): pods "caddy" already exists', "leftover"),
        ("pod/caddy unchanged", "leftover"),
        ("caddy   0/1     Pending   0          3m", "pending"),
        ('Error from server (NotFound): pods "caddy" not found', "not_found"),
        ("something else entirely", "differs"),
    ],
)
def test_recognition(output: str, kind: str) -> None:
    assert hints.for_output("kubectl get pods", output).kind == kind


def test_still_starting_reason_wins() -> None:
    hint = hints.for_output("kubectl get pods", "caddy 0/1 Pending 0 1s", "still-starting")
    assert hint == hints.Hint("still_starting", "kubectl get pods")


def test_every_hint_kind_has_words_in_both_languages() -> None:
    kinds = {rule.kind for rule in hints.RULES} | {
        "still_starting", "stuck_creating", "missing", "differs", "timeout", "probe_failed", "wrong_page",
        "form_refused"}
    for kind in kinds:
        assert {"en", "ja"} <= set(MESSAGES[f"hint.{kind}"]), kind


# --- hints read the output: how long a pod has looked like this (issue 13) ------------------------


def test_pending_for_minutes_is_stuck_not_starting(cli: Cli) -> None:
    # The pasted table shows the pod Pending for 12 minutes: waiting a few seconds is no advice.
    for lang in ("en", "ja"):
        result = cli("diff", "3", str(SESSIONS / "pending_for_minutes.txt"), "--lang", lang)
        assert result.returncode == 1
        assert hint_lines(result.stdout, lang)[0] == (text("pending", lang), "kubectl get nodes")
        assert text("still_starting", lang) not in result.stdout


def test_pending_for_seconds_is_still_starting(cli: Cli, tmp_path: Path) -> None:
    session = (SESSIONS / "pending_for_minutes.txt").read_text().replace("Pending   0          12m",
                                                                          "Pending   0          9s")
    path = tmp_path / "session.txt"
    path.write_text(session)
    result = cli("diff", "3", str(path))
    assert hint_lines(result.stdout)[0] == (text("still_starting"), "kubectl get pods")


def table(status: str, age: str) -> str:
    return f"NAME    READY   STATUS    RESTARTS   AGE\ncaddy   0/1     {status}   0          {age}"


@pytest.mark.parametrize(
    ("status", "age", "kind"),
    [
        ("Pending", "3s", "still_starting"),
        ("Pending", "59s", "still_starting"),
        ("Pending", "60s", "pending"),
        ("Pending", "12m", "pending"),
        ("Pending", "2d3h", "pending"),
        ("ContainerCreating", "2m", "still_starting"),
        ("ContainerCreating", "4m59s", "still_starting"),
        ("ContainerCreating", "7m30s", "stuck_creating"),
        ("ContainerCreating", "<invalid>", "still_starting"),
    ],
)
def test_age_decides(status: str, age: str, kind: str) -> None:
    assert hints.for_output("kubectl get pods", table(status, age), "still-starting").kind == kind


@pytest.mark.parametrize(("age", "seconds"), [("5s", 5), ("12m", 720), ("2m30s", 150), ("3d4h", 273600),
                                              ("<age>", None), ("12", None), ("m", None)])
def test_age_seconds(age: str, seconds: int | None) -> None:
    assert hints.age_seconds(age) == seconds


def test_a_refused_login_says_the_application_said_no() -> None:
    """Lesson 8's login probe: an answer other than 204 is the application's refusal, not a
    wrong page or a dead port-forward."""
    from kubelesson.lesson import load_number
    from kubelesson.probes import ProbeOutcome
    from kubelesson.runner import StepRecord

    step = next(s for s in load_number(ROOT, 8).steps if s.probe is not None and s.probe.data)
    assert step.probe is not None
    refused = ProbeOutcome(step.probe, "http://localhost:80/api/v3/login", False,
                           'HTTP 401: {"message":"password or id is wrong"}')
    hint = hints.for_probe(StepRecord(0, step, (), 0.0, probe=refused))
    assert hint == hints.Hint("form_refused", "kubectl get events --sort-by=.lastTimestamp")
    unanswered = ProbeOutcome(step.probe, "http://localhost:80/api/v3/login", False, "timed out")
    assert hints.for_probe(StepRecord(0, step, (), 0.0, probe=unanswered)).kind == "probe_failed"
