"""`kubelesson docs`: the chapters' command blocks checked against the lessons' goldens.

Unit tests of extraction and pairing (kubelesson/chapters.py) on Markdown written for the
tests (tests/docs_cases: commands and output, no course prose), command-line tests of the
exit codes, JSON and Japanese, and the course's own chapters 2 and 3 against this
repository's lessons. No cluster is involved.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from kubelesson import chapters
from kubelesson.chapters import Chapter, Command, Finding
from kubelesson.lesson import Lesson, load, parse_lesson
from tests.conftest import ROOT, Cli

CASES = Path(__file__).parent / "docs_cases"
COURSE_FIXTURE = CASES / "course"
FIXTURE_CHAPTER = COURSE_FIXTURE / "docs" / "4_web.md"
# The course itself sits beside the clone (../shared/course), in CI as here.
COURSE = Path(__file__).resolve().parents[2] / "shared" / "course"
needs_course = pytest.mark.skipif(not (COURSE / "docs").is_dir(),
                                  reason=f"the course's chapters are not at {COURSE} (they sit beside the clone)")


def extract(text: str, number: int = 4) -> Chapter:
    return chapters.extract(text, Path(f"{number}_x.md"), number)


def fixture_lesson() -> Lesson:
    return load(COURSE_FIXTURE / "transcripts" / "4.yaml")


def compared(text: str, lesson: Lesson | None = None) -> list[Finding]:
    chapter = extract(text)
    return list(chapters.check(chapter, lesson or fixture_lesson(), lambda _: True).findings)


def block(*lines: str, language: str = "plaintext") -> str:
    return "\n".join([f"```{language}", *lines, "```", ""])


# --- extraction --------------------------------------------------------------------------


def test_chapter_numbers_come_from_file_names() -> None:
    assert chapters.chapter_number("3_first_containers.md") == 3
    assert chapters.chapter_number("12_more.md") == 12
    assert chapters.chapter_number("README.md") is None
    assert chapters.chapter_number("3_notes.txt") is None
    assert chapters.chapter_number("3.md") is None


def test_the_extraction_fixture() -> None:
    chapter = chapters.extract((CASES / "blocks.md").read_text(encoding="utf-8"), CASES / "blocks.md", 0)
    plain = [b for b in chapter.blocks if b.interactive is None]
    assert [(c.line, c.text) for b in plain for c in b.commands] == [
        (4, "kubectl get pods"),
        (10, "kubectl get deployments"),
        (13, "kubectl get services"),
        (20, "kubectl kustomize ./examples/app"),
        (45, "kubectl apply -f ./examples/app.yaml"),  # a continuation line joined
        (51, "kubectl get nodes"),  # an indented fence
    ]
    assert [b.language for b in plain] == ["plaintext", "shell", "yaml", "plaintext", "plaintext"]
    # The manifest (# comment in YAML) and the screen without a command are not blocks here.
    assert [(b.interactive_line, b.interactive) for b in chapter.blocks if b.interactive] == [
        (28, "# curl http://10.43.0.10/"),
        (39, "$ docker run -it --rm mysql:8 sh"),
    ]
    assert [(m.line, m.text) for m in chapter.bullets] == [
        (59, "kubectl get pods"),
        (60, "kubectl get services"),
        (61, "k3d cluster delete hands-on"),
        (62, "kubectl delete -f ./examples/app.yaml"),
    ]
    assert [(r.line, r.flag, r.path) for r in chapter.paths] == [
        (45, "-f", "./examples/app.yaml"),
        (62, "-f", "./examples/app.yaml"),
        (64, "-k", "./examples/kustomized"),
    ]


def test_commands_sharing_a_block_split_at_each_dollar_line() -> None:
    text = block("$ kubectl get deployments", "NAME   READY", "", "$ kubectl get services", "No resources found.",
                 "", "")
    [found] = extract(text).blocks
    assert found.commands == (
        Command(2, "kubectl get deployments", ("NAME   READY",)),
        Command(5, "kubectl get services", ("No resources found.",)),
    )


def test_output_keeps_inner_blank_lines() -> None:
    [found] = extract(block("$ kubectl cluster-info", "Kubernetes control plane is running", "",
                            "To further debug")).blocks
    assert found.commands[0].output == ("Kubernetes control plane is running", "", "To further debug")


def test_trailing_whitespace_is_dropped() -> None:
    [found] = extract(block("$ kubectl get pods   ", "NAME   READY   \t", "web    1/1  ")).blocks
    assert found.commands[0] == Command(2, "kubectl get pods", ("NAME   READY", "web    1/1"))


def test_a_line_of_dots_cuts_the_output_short() -> None:
    [found] = extract(block("$ kubectl kustomize ./app", "apiVersion: v1", "...", "kind: Secret",
                            "$ kubectl get pods", "No resources found.")).blocks
    assert found.commands[0] == Command(2, "kubectl kustomize ./app", ("apiVersion: v1",), cut=True)
    assert found.commands[1] == Command(6, "kubectl get pods", ("No resources found.",), cut=False)


@pytest.mark.parametrize("language", ["plaintext", "shell", "yaml", "console", ""])
def test_any_fence_language_holds_commands(language: str) -> None:
    [found] = extract(block("$ kubectl get pods", "No resources found.", language=language)).blocks
    assert found.language == language
    assert found.commands[0].text == "kubectl get pods"


def test_tilde_fences_and_longer_fences() -> None:
    text = "~~~\n$ kubectl get pods\nNo resources found.\n~~~\n````\n$ kubectl get nodes\n```\nstill inside\n````\n"
    first, second = extract(text).blocks
    assert first.commands[0].output == ("No resources found.",)
    assert second.commands[0].output == ("```", "still inside")


@pytest.mark.parametrize(
    ("lines", "language"),
    [
        (["# curl http://caddy/", "<html>"], "plaintext"),  # a root shell in a container
        (["# mysql -uroot", "mysql> SELECT 1;"], "plaintext"),
        (["$ docker run -it --rm redis redis-cli", "localhost:6379> PING", "PONG"], "plaintext"),
        (["$ kubectl exec -it web -- sh", "/ # ls"], "plaintext"),
        (["$ kubectl exec -it db -- bash", "root@db:/# ls"], "shell"),
        (["$ docker run -it mysql:8 sh", "sh-4.4# mysql"], "plaintext"),
        (["mysql> SELECT 1;"], "yaml"),
    ],
)
def test_other_prompts_make_a_block_interactive(lines: list[str], language: str) -> None:
    [found] = extract("intro\n" + block(*lines, language=language)).blocks
    assert found.interactive == lines[0]
    assert found.interactive_line == 3


def test_a_hash_line_is_a_comment_in_yaml_and_in_output() -> None:
    chapter = extract(block("# the pod", "apiVersion: v1", language="yaml")
                      + block("$ kubectl get pods", "# not a prompt here"))
    assert len(chapter.blocks) == 1
    assert chapter.blocks[0].interactive is None


def test_blocks_without_a_command_are_ignored() -> None:
    assert extract(block("Every 0.5s: kubectl get pods") + block("apiVersion: v1", language="yaml")).blocks == ()


def test_bullets_are_whole_line_code_spans_that_start_with_a_command() -> None:
    text = "\n".join([
        "- `kubectl get pods`",
        "  * `kubectl delete pod web`  ",
        "3. `k3d cluster list`",
        "- `.spec.replicas` : a field",
        "- `TEST_ENV` : a variable",
        "- `kubectl get pods` and more words",
        "- Run `kubectl get nodes` now",
        block("- `kubectl inside a fence`"),
    ])
    assert [(m.line, m.text) for m in extract(text).bullets] == [
        (1, "kubectl get pods"),
        (2, "kubectl delete pod web"),
        (3, "k3d cluster list"),
    ]


@pytest.mark.parametrize(
    ("command", "refs"),
    [
        ("kubectl apply -f ./examples/3_pod.yaml", [("-f", "./examples/3_pod.yaml")]),
        ("kubectl apply --filename=a.yaml -f b.yaml", [("--filename", "a.yaml"), ("-f", "b.yaml")]),
        ("kubectl delete -k ./examples/8_traq", [("-k", "./examples/8_traq")]),
        ("kubectl apply --kustomize ./k", [("--kustomize", "./k")]),
        ("kubectl kustomize ./examples/8_traq | kubectl apply -f -", []),
        ("kubectl apply -f https://example.com/x.yaml", []),
        ("kubectl logs -f caddy", []),
        ("tail -f ./log.txt", []),
        ("watch -n 1 kubectl get -f ./examples/x.yaml", [("-f", "./examples/x.yaml")]),
        ("kubectl apply -f 'unclosed", [("-f", "'unclosed")]),
    ],
)
def test_path_refs(command: str, refs: list[tuple[str, str]]) -> None:
    assert chapters.path_refs(command) == refs


# --- pairing -----------------------------------------------------------------------------


def test_each_occurrence_pairs_with_the_same_occurrence_in_the_lesson() -> None:
    running = block("$ kubectl get pods", "NAME   READY   STATUS    RESTARTS   AGE", "web    1/1     Running   0    9m")
    gone = block("$ kubectl get pods", "No resources found in default namespace.")
    findings = compared(running + gone)
    assert [(f.verdict, f.step, f.entry) for f in findings] == [("agrees", 3, 2), ("agrees", 5, 4)]


def test_an_occurrence_that_agrees_nowhere_is_diffed_with_the_same_occurrence() -> None:
    wrong = block("$ kubectl get pods", "No resources found in kube-system namespace.")
    findings = compared(wrong + wrong + wrong)
    # The k-th with the k-th step; one beyond the lesson's last with the last.
    assert [(f.verdict, f.step) for f in findings] == [("differs", 3), ("differs", 5), ("differs", 5)]
    assert "+No resources found in kube-system namespace." in findings[1].diff
    assert "-No resources found in default namespace." in findings[1].diff


def test_an_occurrence_that_differs_falls_back_to_another_that_agrees() -> None:
    gone = block("$ kubectl get pods", "No resources found in default namespace.")
    findings = compared(gone + gone + gone)
    # First and third pair with step 3 (Running) and differ from it, but step 5 agrees.
    assert [(f.verdict, f.step) for f in findings] == [("agrees", 5), ("agrees", 5), ("agrees", 5)]


def test_a_changed_status_differs_with_a_diff_naming_both_places() -> None:
    pending = block("$ kubectl get pods", "NAME   READY   STATUS    RESTARTS   AGE", "web    0/1     Pending   0    9m")
    [finding] = compared("# title\n" + pending)
    assert finding.verdict == "differs"
    assert (finding.line, finding.step, finding.step_line) == (3, 3, 11)
    assert "--- " + str(COURSE_FIXTURE / "transcripts" / "4.yaml") + ":11 (golden)" in finding.diff
    assert "+++ 4_x.md:3" in finding.diff
    assert "-web    1/1     Running   0          <age>" in finding.diff
    assert "+web    0/1     Pending   0          <age>" in finding.diff


def test_commands_are_paired_by_exact_normalized_equality() -> None:
    text = block("$ kubectl delete pods web", 'pod "web" deleted') + block("$ kubectl   delete pod web  ",
                                                                           'pod "web" deleted')
    assert [(f.verdict, f.step) for f in compared(text)] == [("no-step", None), ("agrees", 4)]


def test_output_is_normalized_on_the_chapter_side_too() -> None:
    # The chapter's kubectl 1.34 wording and its [::1] line mean what the golden shows.
    text = block("$ kubectl delete pod web", 'pod "web" deleted from default namespace') + block(
        "$ kubectl port-forward pod/web 8000:80", "Forwarding from 127.0.0.1:8000 -> 80",
        "Forwarding from [::1]:8000 -> 80")
    assert [f.verdict for f in compared(text)] == ["agrees", "agrees"]


def test_the_learners_own_steps_have_no_golden() -> None:
    [finding] = compared(block("$ k3d cluster list", "NAME   SERVERS", "other  1/1"))
    assert (finding.verdict, finding.step, finding.kind) == ("no-golden", 1, "yourself")


def test_a_lesson_without_a_golden_compares_nothing() -> None:
    text = (COURSE_FIXTURE / "transcripts" / "4.yaml").read_text(encoding="utf-8").split("transcript: |")[0]
    bare = parse_lesson(text, COURSE_FIXTURE / "transcripts" / "4.yaml")
    [finding] = compared(block("$ kubectl get pods", "anything"), bare)
    assert (finding.verdict, finding.kind) == ("no-golden", "kubectl")


def test_a_golden_entry_no_step_runs_is_compared_too() -> None:
    [finding] = compared(block("$ curl -s http://localhost:8000/ | grep -o 'Caddy works!'", "Caddy works!"))
    assert (finding.verdict, finding.step, finding.entry, finding.kind) == ("agrees", None, 7, "probe")


def test_a_cut_block_is_compared_as_a_prefix() -> None:
    good = block("$ kubectl get pod web -o yaml", "apiVersion: v1", "kind: Pod", "...")
    bad = block("$ kubectl get pod web -o yaml", "apiVersion: v1", "kind: Service", "...")
    agrees, differs = compared(good + bad)
    assert (agrees.verdict, agrees.prefix) == ("agrees", True)
    assert (differs.verdict, differs.prefix) == ("differs", True)
    assert "-kind: Pod" in differs.diff and "+kind: Service" in differs.diff
    assert "metadata:" not in differs.diff  # only as many golden lines as the chapter shows
    uncut = block("$ kubectl get pod web -o yaml", "apiVersion: v1", "kind: Pod")
    assert compared(uncut)[0].verdict == "differs"


def test_interactive_blocks_are_reported_not_compared() -> None:
    [finding] = compared(block("$ docker run -it --rm redis redis-cli", "localhost:6379> PING", "PONG"))
    assert (finding.verdict, finding.line, finding.command) == ("interactive", 2,
                                                               "$ docker run -it --rm redis redis-cli")


def test_bullets_the_lesson_does_not_run_are_listed() -> None:
    chapter = extract("- `kubectl get pods`\n- `k3d cluster list`\n- `kubectl get events`\n- `apk add curl`\n")
    result = chapters.check(chapter, fixture_lesson(), lambda _: True)
    assert [(m.line, m.text) for m in result.uncovered] == [(3, "kubectl get events"), (4, "apk add curl")]
    assert result.passed  # not covered is information, not drift


def test_missing_paths_are_drift_only_in_a_chapter_with_a_lesson() -> None:
    chapter = extract("- `kubectl apply -f ./examples/gone.yaml`\n- `kubectl apply -f ./examples/4_web.yaml`\n")
    exists = {"./examples/4_web.yaml"}.__contains__
    with_lesson = chapters.check(chapter, fixture_lesson(), exists)
    assert [(r.line, r.path) for r in with_lesson.missing] == [(1, "./examples/gone.yaml")]
    assert with_lesson.drift == 1 and not with_lesson.passed
    without = chapters.check(chapter, None, exists)
    assert [r.path for r in without.missing] == ["./examples/gone.yaml"]
    assert without.findings == () and without.passed


def test_the_fixture_chapter_agrees_everywhere() -> None:
    chapter = chapters.extract(FIXTURE_CHAPTER.read_text(encoding="utf-8"), FIXTURE_CHAPTER, 4)
    result = chapters.check(chapter, fixture_lesson(), lambda path: (COURSE_FIXTURE / path).exists())
    verdicts = [f.verdict for f in result.findings]
    assert verdicts.count("differs") == 0 and verdicts.count("agrees") == 7, result.findings
    assert verdicts.count("interactive") == 2 and verdicts.count("no-golden") == 1
    assert [m.text for m in result.uncovered] == ["kubectl get events"]
    assert result.passed


# --- the command ---------------------------------------------------------------------------


def one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("kubelesson: ") and "Traceback" not in err, err
    for word in words:
        assert word in err, err


def copy_course(tmp_path: Path) -> Path:
    root = tmp_path / "course"
    shutil.copytree(COURSE_FIXTURE, root)
    return root


def test_cli_default_path_is_the_course_folders_docs(cli: Cli) -> None:
    result = cli("docs", "--root", str(COURSE_FIXTURE), "--lang", "en")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert f"Chapter 4 ({COURSE_FIXTURE / 'docs' / '4_web.md'}): lesson 4, A lesson for the docs tests" in out
    assert f"✓ {FIXTURE_CHAPTER}:16  kubectl get pods" in out
    assert "agrees with step 3" in out
    assert "is the learner's own step" in out
    assert "an interactive session: not compared" in out
    assert "there is no lesson 5" in out
    assert "-f ./examples/5_gone.yaml" in out and "not counted" in out
    assert out.rstrip().endswith("PASS: every compared block agrees with its golden (7 agree, 3 not compared, "
                                 "2 chapter(s))")


def test_cli_a_changed_status_exits_1_naming_file_and_line(cli: Cli, tmp_path: Path) -> None:
    root = copy_course(tmp_path)
    chapter = root / "docs" / "4_web.md"
    text = chapter.read_text(encoding="utf-8")
    chapter.write_text(text.replace("web    1/1     Running", "web    0/1     Pending"), encoding="utf-8")
    result = cli("docs", str(chapter), "--root", str(root), "--lang", "en")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"✗ {chapter}:16  kubectl get pods" in result.stdout
    assert "+web    0/1     Pending" in result.stdout
    assert "FAIL: 1 difference(s) between the chapters and the goldens (chapter 4)" in result.stdout


def test_cli_a_missing_path_in_a_chapter_with_a_lesson_exits_1(cli: Cli, tmp_path: Path) -> None:
    root = copy_course(tmp_path)
    (root / "examples" / "4_web.yaml").unlink()
    result = cli("docs", "--root", str(root), "--lang", "en")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"✗ {root / 'docs' / '4_web.md'}:6  -f ./examples/4_web.yaml" in result.stdout
    assert f"not found in the course folder {root.resolve()}" in result.stdout


def test_cli_json(cli: Cli, tmp_path: Path) -> None:
    root = copy_course(tmp_path)
    chapter = root / "docs" / "4_web.md"
    chapter.write_text(chapter.read_text(encoding="utf-8").replace("pod/web created", "pod/web configured", 1))
    result = cli("docs", "--root", str(root), "--json")
    assert result.returncode == 1, result.stderr
    body = json.loads(result.stdout)
    assert body["schema"] == "kubelesson.docs/v1" and body["passed"] is False
    assert body["root"] == str(root.resolve())
    four, five = body["chapters"]
    assert (four["chapter"], four["lesson"], four["passed"], four["drift"]) == (4, 4, False, 1)
    assert (five["chapter"], five["lesson"], five["passed"]) == (5, None, True)
    first = four["blocks"][0]
    assert (first["line"], first["verdict"], first["step"], first["step_line"], first["kind"]) == (
        9, "differs", 2, 10, "kubectl")
    assert "+pod/web configured" in first["diff"]
    assert first["expected"] == "$ kubectl apply -f ./examples/4_web.yaml\npod/web created\n"
    assert four["uncovered"] == [{"line": 86, "command": "kubectl get events"}]
    assert five["missing_paths"] == [{"line": 3, "flag": "-f", "path": "./examples/5_gone.yaml"}]
    assert body["summary"] == {"agrees": 6, "differs": 1, "no_step": 0, "no_golden": 1, "interactive": 2,
                               "uncovered": 1, "missing_paths": 0}


def test_cli_in_japanese(cli: Cli) -> None:
    result = cli("docs", str(FIXTURE_CHAPTER), "--root", str(COURSE_FIXTURE), "--lang", "ja")
    assert result.returncode == 0, result.stderr
    assert "第 4 章" in result.stdout and "レッスン 4「文書テスト用のレッスン」" in result.stdout
    assert "ステップ 3(" in result.stdout and "の正解と一致します" in result.stdout
    assert "対話的な操作のため比較しません" in result.stdout
    assert "合格: 比較したブロックはすべて正解と一致します" in result.stdout


def test_cli_bad_input_exits_2_with_one_line(cli: Cli, tmp_path: Path) -> None:
    one_line_error(cli("docs", str(tmp_path / "nowhere")), "nowhere: no such file or folder")
    one_line_error(cli("docs", str(tmp_path)), "no chapter files (N_*.md) in")
    one_line_error(cli("docs", "--root", str(tmp_path)), f"{tmp_path / 'docs'}: no such file")  # the default
    (tmp_path / "notes.md").write_text("$ kubectl get pods\n")
    one_line_error(cli("docs", str(tmp_path / "notes.md")), "is not a chapter file")
    (tmp_path / "3_latin1.md").write_bytes("```\n$ kubectl get pods\nr\xe9sum\xe9\n```\n".encode("latin-1"))
    one_line_error(cli("docs", str(tmp_path / "3_latin1.md")), "cannot read the chapter", "not UTF-8 text")
    one_line_error(cli("docs", str(tmp_path), "--lang", "ja"), "章のファイル")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_cli_unreadable_chapter_exits_2(cli: Cli, tmp_path: Path) -> None:
    chapter = tmp_path / "3_locked.md"
    chapter.write_text("nothing\n")
    chapter.chmod(0)
    one_line_error(cli("docs", str(chapter)), "cannot read the chapter", "Permission denied")


# --- the course's own chapters against this repository's lessons --------------------------


@needs_course
@pytest.mark.parametrize("name", ["2_first_cluster.md", "3_first_containers.md"])
def test_the_course_chapters_agree_with_the_goldens(cli: Cli, name: str) -> None:
    result = cli("docs", str(COURSE / "docs" / name), "--root", str(ROOT), "--lang", "en")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "✗" not in result.stdout


@needs_course
def test_chapter_7_agrees_and_every_command_is_a_step(cli: Cli) -> None:
    """The claim's Pending and Bound tables (the volume's pvc-<uid> name normalized), its
    describe and the pods agree; the mysql client runs are the learner's own steps."""
    result = cli("docs", str(COURSE / "docs" / "7_volumes.md"), "--root", str(ROOT), "--lang", "en")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for line, command in ((372, "kubectl get storageclass"), (408, "kubectl get pvc"),
                          (420, "kubectl describe pvc mariadb"), (478, "kubectl get pods"), (482, "kubectl get pvc")):
        assert f"✓ {COURSE / 'docs' / '7_volumes.md'}:{line}  {command}" in out, out
    assert "no step of lesson 7 does" not in out
    assert out.rstrip().endswith("(5 agree, 2 not compared, 1 chapter(s))")


@needs_course
def test_a_changed_status_in_a_copy_of_chapter_3_exits_1(cli: Cli, tmp_path: Path) -> None:
    copy = tmp_path / "3_first_containers.md"
    text = (COURSE / "docs" / "3_first_containers.md").read_text(encoding="utf-8")
    assert "1/1     Running" in text
    copy.write_text(text.replace("1/1     Running", "0/1     Pending", 1), encoding="utf-8")
    line = text.splitlines().index("$ kubectl get pods") + 1
    result = cli("docs", str(copy), "--root", str(ROOT), "--lang", "en")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"✗ {copy}:{line}  kubectl get pods" in result.stdout
    assert "-caddy   1/1     Running" in result.stdout and "+caddy   0/1     Pending" in result.stdout
