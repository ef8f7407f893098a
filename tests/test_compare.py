"""Step-by-step comparison: recorded transcripts (strict) and learners' sessions (aligned)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kubelesson.compare import Comparison, StepResult, compare, compare_session, session_key
from kubelesson.normalize import Context, normalize
from kubelesson.transcript import Entry, Transcript, parse, render

SESSIONS = Path(__file__).parent / "sessions"

GOLDEN = normalize(
    parse(
        """\
$ kubectl apply -f ./examples/3_pod.yaml
pod/caddy created
$ kubectl get pods
NAME    READY   STATUS    RESTARTS   AGE
caddy   1/1     Running   0          12m
$ kubectl delete pods caddy
pod "caddy" deleted
$ kubectl get pods
No resources found in default namespace.
$ kubectl apply -f ./examples/3_pod.yaml
pod/caddy created
$ kubectl port-forward pod/caddy 8000:80
Forwarding from 127.0.0.1:8000 -> 80
Forwarding from [::1]:8000 -> 80
Handling connection for 8000
$ curl -s http://localhost:8000/ | grep -o 'Caddy works!'
Caddy works!
$ kubectl delete pod caddy
pod "caddy" deleted
"""
    )
)

# A run of lesson 3 by kubelesson with kubectl 1.37 in a sandbox namespace, port 8000 busy.
RUN = """\
# kubelesson: 0.1.0
# namespace: kubelesson-3-x7k2p
# ports: 38123->8000
$ kubectl apply -f ./examples/3_pod.yaml
pod/caddy created
$ kubectl get pods
NAME    READY   STATUS    RESTARTS   AGE
caddy   1/1     Running   0          5s
$ kubectl delete pods caddy
pod "caddy" deleted from kubelesson-3-x7k2p namespace
$ kubectl get pods
No resources found in kubelesson-3-x7k2p namespace.
$ kubectl apply -f ./examples/3_pod.yaml
pod/caddy created
$ kubectl port-forward pod/caddy 38123:80
Forwarding from 127.0.0.1:38123 -> 80
Handling connection for 38123
Handling connection for 38123
$ curl -s http://localhost:38123/ | grep -o 'Caddy works!'
Caddy works!
$ kubectl delete pod caddy
pod "caddy" deleted from kubelesson-3-x7k2p namespace
"""
CTX = Context({"kubelesson-3-x7k2p": "default"}, {38123: 8000})


def _failed(c: Comparison) -> list[StepResult]:
    return [s for s in c.steps if s.verdict != "pass"]


# --- recorded transcripts ------------------------------------------------------------------------


def test_a_good_run_passes() -> None:
    c = compare(GOLDEN, parse(RUN), CTX)
    assert c.passed
    assert c.counts == {"pass": 8, "fail": 0, "missing": 0, "extra": 0}
    assert [s.index for s in c.steps] == list(range(1, 9))
    step = c.steps[2]
    assert step.command == "kubectl delete pods caddy"
    assert step.expected == step.actual == '$ kubectl delete pods caddy\npod "caddy" deleted\n'
    assert "kubelesson-3-x7k2p" in step.raw_actual
    assert step.diff == "" and step.reason is None


def test_without_the_context_the_sandbox_shows() -> None:
    c = compare(GOLDEN, parse(RUN))
    assert not c.passed
    assert {s.index for s in _failed(c)} == {4, 6, 7}


def test_a_changed_status_fails_with_a_readable_diff() -> None:
    run = RUN.replace("caddy   1/1     Running   0          5s", "caddy   0/1     ErrImagePull   0          5s")
    c = compare(GOLDEN, parse(run), CTX)
    assert not c.passed
    [step] = _failed(c)
    assert (step.index, step.verdict, step.reason) == (2, "fail", "status-differs")
    assert step.diff == (
        "--- expected\n"
        "+++ actual\n"
        "@@ -1,3 +1,3 @@\n"
        " $ kubectl get pods\n"
        " NAME    READY   STATUS         RESTARTS   AGE\n"
        "-caddy   1/1     Running        0          <age>\n"
        "+caddy   0/1     ErrImagePull   0          <age>"
    )
    assert "ErrImagePull   0          5s" in step.raw_actual


def test_a_pod_still_starting() -> None:
    run = RUN.replace(
        "caddy   1/1     Running   0          5s",
        "caddy   0/1     ContainerCreating   0          1s",
    )
    [step] = _failed(compare(GOLDEN, parse(run), CTX))
    assert step.reason == "still-starting"


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("pod/caddy created", "pod/caddy unchanged"),
        ("pod/caddy created", "pod/caddy configured"),
        ('pod "caddy" deleted from', 'pod "kaddy" deleted from'),
        (
            "No resources found in kubelesson-3-x7k2p namespace.",
            "No resources found in other namespace.",
        ),
        ("Caddy works!\n", "\n"),
        ("caddy   1/1     Running   0          5s", "caddy   1/1     Running   1          5s"),
        ("caddy   1/1     Running   0          5s", "caddy   1/2     Running   0          5s"),
    ],
)
def test_a_changed_message_or_count_fails(before: str, after: str) -> None:
    assert before in RUN
    c = compare(GOLDEN, parse(RUN.replace(before, after, 1)), CTX)
    assert not c.passed
    [step] = _failed(c)
    assert step.verdict == "fail" and step.diff


def test_a_missing_step() -> None:
    run = parse(RUN)
    short = Transcript(run.entries[:-1], run.header)
    c = compare(GOLDEN, short, CTX)
    assert not c.passed
    [step] = _failed(c)
    assert (step.index, step.verdict, step.reason) == (8, "missing", "missing")
    assert step.command == "kubectl delete pod caddy"
    assert step.actual == "" and step.expected.startswith("$ kubectl delete pod caddy")


def test_an_extra_step() -> None:
    run = parse(RUN)
    longer = Transcript((*run.entries, Entry("kubectl get pods", "No resources found in default namespace.")))
    c = compare(GOLDEN, longer, CTX)
    assert not c.passed
    [step] = _failed(c)
    assert (step.index, step.verdict, step.reason, step.command) == (
        9,
        "extra",
        "extra",
        "kubectl get pods",
    )
    assert c.counts["extra"] == 1


def test_an_exit_code_that_differs() -> None:
    run = parse(RUN)
    entries = list(run.entries)
    entries[2] = Entry(entries[2].command, entries[2].output, 1)
    c = compare(GOLDEN, Transcript(tuple(entries)), CTX)
    [step] = _failed(c)
    assert step.reason == "exit-differs"
    assert "+[exit 1]" in step.diff


def test_a_different_command_shows_in_the_diff() -> None:
    run = RUN.replace("$ kubectl delete pods caddy", "$ kubectl delete pod caddy")
    [step] = _failed(compare(GOLDEN, parse(run), CTX))
    assert step.reason == "command-differs"
    assert "-$ kubectl delete pods caddy\n+$ kubectl delete pod caddy" in step.diff


def test_a_hand_edited_golden_with_other_spacing_still_matches() -> None:
    golden = parse(
        render(GOLDEN).replace("caddy   1/1     Running   0          <age>", "caddy  1/1  Running  0  <age>")
    )
    assert compare(golden, parse(RUN), CTX).passed


def test_an_empty_transcript_misses_every_step() -> None:
    c = compare(GOLDEN, Transcript(()))
    assert [s.verdict for s in c.steps] == ["missing"] * 8
    assert not c.passed


# --- learners' sessions ------------------------------------------------------------------------


def _sessions() -> list[Path]:
    return sorted(SESSIONS.glob("*.yaml"))


@pytest.mark.parametrize("path", _sessions(), ids=lambda p: p.stem)
def test_learner_sessions(path: Path) -> None:
    """Each file: a learner's pasted `session` and, per lesson step, the verdict (and reason)."""
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    c = compare_session(GOLDEN, parse(case["session"]))
    got = {s.index: s.verdict + (f" {s.reason}" if s.reason else "") for s in c.steps}
    assert got == case["steps"]
    assert c.passed == case["passed"]


def test_session_steps_carry_the_lessons_command_and_a_diff() -> None:
    case = yaml.safe_load((SESSIONS / "pending-only.yaml").read_text(encoding="utf-8"))
    c = compare_session(GOLDEN, parse(case["session"]))
    step = next(s for s in c.steps if s.index == 2)
    assert step.command == "kubectl get pods"
    assert step.reason == "still-starting"
    assert "+caddy   0/1     ContainerCreating   0          <age>" in step.diff
    assert "ContainerCreating" in step.raw_actual


@pytest.mark.parametrize(
    ("typed", "lesson", "same"),
    [
        ("k get pods", "kubectl get pods", True),
        ("kubectl apply -f examples/3_pod.yaml", "kubectl apply -f ./examples/3_pod.yaml", True),
        ("kubectl get po", "kubectl get pods", False),
        ("kubectl get pod", "kubectl get pods", False),
        ("kubectl get pods -o wide", "kubectl get pods", False),
    ],
)
def test_session_key(typed: str, lesson: str, same: bool) -> None:
    assert (session_key(typed) == session_key(lesson)) is same
