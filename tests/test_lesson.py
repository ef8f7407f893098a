"""Lesson files: loading, strict validation with file and line, and golden rewriting."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kubelesson import lesson
from kubelesson.errors import LessonFileError, LessonNotFound

ROOT = Path(__file__).resolve().parent.parent

GOOD = """\
# a comment that must survive
lesson: 9
title: {ja: テスト, en: Test}
steps:
  - run: kubectl get pods
    wait: {for: condition=Ready, object: pod/x, timeout: 5}
cleanup:
  - kubectl delete pod x --ignore-not-found
transcript: |
  $ kubectl get pods
  old
"""


def test_lesson_3_loads_with_its_steps() -> None:
    found = lesson.load_number(ROOT, 3)
    assert found.number == 3
    assert found.title == {"ja": "最初のコンテナ", "en": "Your first container"}
    runs = [step.run for step in found.steps]
    assert runs[0] == "kubectl apply -f ./examples/3_pod.yaml"
    assert "kubectl port-forward pod/caddy 8000:80" in runs
    forward = found.steps[runs.index("kubectl port-forward pod/caddy 8000:80")]
    assert forward.background and forward.probe and forward.probe.expect == "Caddy works!"
    assert found.golden and found.golden.startswith("$ kubectl apply")


def test_unknown_lesson_lists_what_exists(tmp_path: Path) -> None:
    with pytest.raises(LessonNotFound) as info:
        lesson.find(ROOT, 99)
    assert "3" in info.value.params["available"]


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (GOOD.replace("    wait:", "    wiat:"), 6, "unknown key 'wiat'"),
        (GOOD.replace("  - run: kubectl get pods\n", "  - wait: {for: delete, object: pod/x}\n    run2: x\n"), 6,
         "unknown key 'run2'"),
        (GOOD.replace("timeout: 5", "timeout: soon"), 6, "number of seconds"),
        (GOOD.replace("timeout: 5", "timeout: -1"), 6, "between 0 and 3600"),
        (GOOD.replace("run: kubectl get pods", "run: rm -rf /"), 5, "must be a kubectl command"),
        (GOOD.replace("title: {ja: テスト, en: Test}\n", ""), 2, "lacks the required key 'title'"),
        (GOOD.replace("lesson: 9", "lesson: nine"), 2, "whole number"),
        (GOOD.replace("steps:\n", "steps: [\n"), 5, "not valid YAML"),
        (GOOD.replace("condition=Ready", "ready"), 6, "is not one of"),
    ],
)
def test_malformed_lesson_names_file_line_and_problem(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = tmp_path / "9.yaml"
    with pytest.raises(LessonFileError) as info:
        lesson.parse_lesson(text, path)
    assert info.value.params["file"] == str(path)
    assert info.value.params["line"] == line, info.value.params
    assert words in info.value.params["what"]


def test_replace_golden_keeps_everything_else() -> None:
    new = lesson.replace_golden(GOOD, "$ kubectl get pods\nnew line\n")
    assert new.startswith("# a comment that must survive\nlesson: 9\n")
    assert yaml.safe_load(new)["transcript"] == "$ kubectl get pods\nnew line\n"
    assert new.replace("  new line\n", "  old\n") == GOOD


def test_replace_golden_appends_when_missing_and_handles_leading_spaces() -> None:
    text = GOOD.split("transcript:")[0]
    new = lesson.replace_golden(text, "  indented first line\nsecond\n")
    assert yaml.safe_load(new)["transcript"] == "  indented first line\nsecond\n"


def test_write_atomically_keeps_old_file_when_writing_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "3.yaml"
    path.write_text("old")

    def broken_replace(src: str, dst: str) -> None:
        raise KeyboardInterrupt  # an interrupt at the worst moment

    monkeypatch.setattr(lesson.os, "replace", broken_replace)
    with pytest.raises(KeyboardInterrupt):
        lesson.write_atomically(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["3.yaml"]  # no temporary file left


KINDS = """\
lesson: 9
title: {en: Kinds}
steps:
  - yourself: k3d cluster create x
  - host: docker ps --format '{{.Names}}'
    needs: docker
    context: k3d-*
    expect: [a, b]
  - run: kubectl port-forward pod/x 8000:80
    background: true
    probe: {get: http://localhost:8000/, expect: mine, reject: theirs}
"""


def test_step_kinds_yourself_host_and_a_rejecting_probe() -> None:
    found = lesson.parse_lesson(KINDS, Path("9.yaml"))
    own, look, forward = found.steps
    assert (own.kind, own.run, own.runs_kubectl) == ("yourself", "k3d cluster create x", False)
    assert (look.kind, look.needs, look.context, look.expect) == ("host", "docker", "k3d-*", ("a", "b"))
    assert forward.kind == "kubectl" and forward.probe and forward.probe.reject == "theirs"


@pytest.mark.parametrize(
    ("old", "new", "line", "words"),
    [
        ("  - yourself: k3d cluster create x\n",
         "  - yourself: k3d cluster create x\n    wait: {for: delete, object: pod/x}\n",
         5, "wait does not apply to a yourself step"),
        ("    needs: docker\n", "", 5, "needs both needs and expect"),
        ("  - yourself: k3d cluster create x\n", "  - yourself: k3d\n    run: kubectl get pods\n", 4,
         "exactly one of run, yourself, host"),
        ("    background: true\n", "    background: true\n    expect: [x]\n", 11,
         "expect does not apply to a kubectl step"),
    ],
)
def test_misplaced_step_keys_are_errors(old: str, new: str, line: int, words: str) -> None:
    with pytest.raises(LessonFileError) as info:
        lesson.parse_lesson(KINDS.replace(old, new), Path("9.yaml"))
    assert info.value.params["line"] == line, info.value.params
    assert words in info.value.params["what"]


LESSON_4_STEPS = """\
lesson: 9
title: {en: Rollouts}
steps:
  - run: kubectl apply -f ./examples/d.yaml
    edit: {file: ./examples/d.yaml, replace: 'image: a:1', with: 'image: a:2'}
    during: {pods: app=a, until: deployment/a, min_ready: 3, max_live: 4, final_replicas: 3}
  - run: kubectl port-forward statefulset/r 6379:6379
    background: true
    probe: {redis: 'localhost:6379', send: [SET foo bar, 'KEYS *']}
"""


def test_edit_during_and_a_redis_probe() -> None:
    apply, forward = lesson.parse_lesson(LESSON_4_STEPS, Path("9.yaml")).steps
    assert apply.edit == lesson.Edit("./examples/d.yaml", "image: a:1", "image: a:2")
    assert apply.during == lesson.During("app=a", "deployment/a", 3, 4, False, 3)
    assert forward.probe and forward.probe.is_redis and forward.probe.send == ("SET foo bar", "KEYS *")
    assert forward.probe.shell_command() == "redis-cli -h localhost -p 6379"


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("edit: {file: ./examples/d.yaml,", "edit: {file: ./examples/other.yaml,", "not an argument of the step"),
        ("min_ready: 3", "min_ready: three", "during.min_ready must be a whole number"),
        ("during: {pods: app=a, ", "during: {", "lacks the required key 'pods'"),
        ("{redis: 'localhost:6379', send: [SET foo bar, 'KEYS *']}", "{redis: 'localhost:6379'}", "needs send"),
        ("{redis: 'localhost:6379',", "{redis: 'example.com:6379',", "must be localhost:PORT"),
    ],
)
def test_rollout_and_redis_keys_are_validated(old: str, new: str, words: str) -> None:
    with pytest.raises(LessonFileError) as info:
        lesson.parse_lesson(LESSON_4_STEPS.replace(old, new), Path("9.yaml"))
    assert words in info.value.params["what"]


PROBE_STEPS = """\
lesson: 9
title: {en: Probes}
shares: [host-port 8080]
steps:
  - probe: {get: 'http://localhost/', host: a.example, expect: hello, timeout: 30}
  - probe: {get: 'http://localhost:8080/', expect: hello}
    wait: {for: condition=Available, object: deployment/a}
"""


def test_a_probe_on_its_own_is_a_step_shown_as_curl() -> None:
    found = lesson.parse_lesson(PROBE_STEPS, Path("9.yaml"))
    ingress, balancer = found.steps
    assert ingress.kind == "probe" and ingress.gives_entry and not ingress.runs_kubectl
    assert ingress.run == "curl -s -H 'Host: a.example' http://localhost/ | grep -o hello"
    assert balancer.run == "curl -s http://localhost:8080/ | grep -o hello" and balancer.wait
    assert found.shares == ("host-port 8080",)


def test_a_probe_step_takes_no_kubectl_keys() -> None:
    with pytest.raises(LessonFileError) as info:
        lesson.parse_lesson(PROBE_STEPS.replace("    wait:", "    background: true\n    wait:"), Path("9.yaml"))
    assert "background does not apply to a probe step" in info.value.params["what"]


POST_PROBE = """\
lesson: 9
title: {en: Probes}
steps:
  - probe: {post: 'http://localhost/api/v3/login', host: a.example, data: '{"name":"a","password":"b"}',
            expect: '204'}
"""


def test_a_post_probe_sends_json_and_expects_a_status() -> None:
    (step,) = lesson.parse_lesson(POST_PROBE, Path("9.yaml")).steps
    assert step.probe is not None and step.probe.data == '{"name":"a","password":"b"}'
    assert step.run == ("curl -s -o /dev/null -w '%{http_code}' -H 'Host: a.example' "
                        "-H 'Content-Type: application/json' -d '{\"name\":\"a\",\"password\":\"b\"}' "
                        "http://localhost/api/v3/login")


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("expect: '204'", "expect: created", "an HTTP status such as 204"),
        ('\'{"name":"a","password":"b"}\'', "'name=a'", "must be JSON"),
        ("data: '{\"name\":\"a\",\"password\":\"b\"}',", "", "a post probe needs data"),
        ("post: 'http://localhost/", "post: 'http://example.com/", "must be an http://localhost"),
        ("expect: '204'", "expect: '204', reject: x", "reject does not apply to a post probe"),
    ],
)
def test_a_malformed_post_probe_is_refused(old: str, new: str, words: str) -> None:
    assert old in POST_PROBE
    with pytest.raises(LessonFileError) as info:
        lesson.parse_lesson(POST_PROBE.replace(old, new), Path("9.yaml"))
    assert words in info.value.params["what"]
