"""Reports in both languages (human, JSON, JUnit), `check --all -j 2`, the support bundle
without credentials, and the GitHub Actions workflow. The real kubelesson and kubectl
against the simulator."""

from __future__ import annotations

import base64
import json
import re
import string
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubelesson import redact
from kubelesson.messages import MESSAGES, language, say
from tests.conftest import ROOT, Cli

SIM = ("--context", "kubelesson-sim")
PROBE = "curl -s http://localhost:8000/ | grep -o 'Caddy works!'"


def make_course(folder: Path, lessons: dict[int, str]) -> Path:
    """A scratch course: lesson 3's file as lesson N, its pod running the given image."""
    (folder / "examples").mkdir(parents=True)
    (folder / "transcripts").mkdir()
    text = (ROOT / "transcripts/3.yaml").read_text()
    manifest = (ROOT / "examples/3_pod.yaml").read_text()
    for number, image in lessons.items():
        (folder / "examples" / f"{number}_pod.yaml").write_text(manifest.replace("caddy:2", image))
        (folder / "transcripts" / f"{number}.yaml").write_text(
            text.replace("lesson: 3", f"lesson: {number}").replace("3_pod.yaml", f"{number}_pod.yaml")
        )
    return folder


@pytest.fixture(scope="module")
def nginx_course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Lesson 3 whose pod runs nginx: everything matches except the page the probe gets."""
    return make_course(tmp_path_factory.mktemp("nginx-course"), {3: "nginx"})


# --- the message catalogue -----------------------------------------------------------------


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("key", sorted(MESSAGES))
def test_every_message_has_both_languages_and_the_same_placeholders(key: str) -> None:
    forms = MESSAGES[key]
    assert set(forms) == {"en", "ja"}, key
    assert forms["en"].strip() and forms["ja"].strip()
    assert placeholders(forms["en"]) == placeholders(forms["ja"]), key
    if key.startswith(("hint.", "report.")) and len(forms["en"].split()) > 2:
        # A Japanese sentence, not the English one copied over.
        assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", forms["ja"]), key


def test_language_choice() -> None:
    assert language("en", {"LANG": "ja_JP.UTF-8"}) == "en"
    assert language(None, {"LANG": "ja_JP.UTF-8"}) == "ja"
    assert language(None, {"LC_ALL": "C.UTF-8", "LANG": "ja_JP.UTF-8"}) == "en"
    assert language(None, {}) == "en"
    assert say("ja", "report.hint") == "ヒント"


# --- human, JSON and JUnit in both languages -------------------------------------------------


@pytest.fixture(scope="module")
def failing_runs(nginx_course: Path, shared_sim: Any, tmp_path_factory: pytest.TempPathFactory,
                 no_real_cluster_env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The wrong-page lesson, checked once per language with --json and once without."""
    from tests.conftest import Cli as _Cli

    cli = _Cli({**no_real_cluster_env, **shared_sim.env()})
    out = tmp_path_factory.mktemp("reports")
    runs: dict[str, dict[str, Any]] = {}
    for lang in ("en", "ja"):
        junit = out / f"{lang}.xml"
        bundle_file = out / f"{lang}-bundle.txt"
        human = cli("check", "3", *SIM, "--root", str(nginx_course), "--lang", lang,
                    "--bundle", str(bundle_file))
        machine = cli("check", "3", *SIM, "--root", str(nginx_course), "--lang", lang, "--json",
                      "--junit", str(junit))
        runs[lang] = {"human": human, "json": machine, "junit": junit, "bundle": bundle_file}
    return runs


@pytest.fixture(scope="module")
def no_real_cluster_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The conftest guard's environment, for module-scoped runs (the guard is per test)."""
    import os

    from tests.conftest import GUARD_KUBECONFIG, kubectl_binary

    home = tmp_path_factory.mktemp("report-home")
    (home / "guard").write_text(GUARD_KUBECONFIG)
    env = {k: v for k, v in os.environ.items() if k not in ("LANG", "LC_ALL", "LC_MESSAGES", "LANGUAGE", "CI")}
    env.update(HOME=str(home), KUBECONFIG=str(home / "guard"), KUBECACHEDIR=str(home / "cache"),
               KUBELESSON_KUBECTL=kubectl_binary(), XDG_STATE_HOME=str(home / "state"), NO_COLOR="1")
    return env


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_human_report_of_a_failure(failing_runs: dict[str, dict[str, Any]], lang: str) -> None:
    result = failing_runs[lang]["human"]
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    first = {"en": "Lesson 3: Your first container", "ja": "レッスン 3: 最初のコンテナ"}[lang]
    assert out.splitlines()[0] == first
    assert say(lang, "hint.wrong_page") in out
    assert f"{say(lang, 'report.try')}: kubectl describe pod caddy" in out
    assert "Welcome to nginx!" in out
    last = out.rstrip().splitlines()[-1]
    assert last.startswith({"en": "FAIL: 1 of 8 steps differ", "ja": "不合格: 8 ステップ中 1 ステップ"}[lang])
    bundle_file = failing_runs[lang]["bundle"]
    assert say(lang, "report.bundle", path=bundle_file) in result.stderr
    assert bundle_file.is_file()
    if lang == "ja":
        assert "(sandbox namespace)" not in out and "(サンドボックスの名前空間)" in out


def check_report_schema(report: dict[str, Any]) -> None:
    """kubelesson.report/v1, as documented in docs/ci.md."""
    types = {"schema": str, "lesson": int, "title": str, "passed": bool, "context": str,
             "server": str, "namespace": str, "duration": float, "steps": list, "summary": dict}
    for key, kind in types.items():
        assert isinstance(report[key], kind), (key, report[key])
    assert report["schema"] == "kubelesson.report/v1"
    assert set(report["summary"]) == {"total", "failed", "skipped", "extra"}
    verdicts = [step["verdict"] for step in report["steps"]]
    # total: the lesson's checked steps; extra commands and the learner's own steps apart.
    assert report["summary"]["total"] == sum(v not in ("extra", "own") for v in verdicts)
    assert report["summary"]["skipped"] == verdicts.count("skipped")
    assert report["summary"]["extra"] == verdicts.count("extra")
    step_types = {"index": int, "command": str, "verdict": str, "expected": str, "actual": str,
                  "raw_actual": str, "diff": str, "duration": float, "notes": list}
    for step in report["steps"]:
        for key, kind in step_types.items():
            assert isinstance(step[key], kind), (key, step)
        assert step["verdict"] in {"pass", "fail", "missing", "extra", "skipped", "own"}
        assert step["reason"] is None or isinstance(step["reason"], str)
        if step["hint"] is not None:
            assert set(step["hint"]) == {"kind", "text", "try"}
            assert all(isinstance(v, str) and v for v in step["hint"].values())
        assert (step["verdict"] == "pass") == (step["diff"] == "")


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_json_report_of_a_failure(failing_runs: dict[str, dict[str, Any]], lang: str) -> None:
    result = failing_runs[lang]["json"]
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    check_report_schema(report)
    assert report["passed"] is False and report["summary"] == {"total": 8, "failed": 1, "skipped": 0, "extra": 0}
    assert report["title"] == {"en": "Your first container", "ja": "最初のコンテナ"}[lang]
    failed = [s for s in report["steps"] if s["verdict"] != "pass"]
    assert [s["command"] for s in failed] == [PROBE]
    assert failed[0]["hint"] == {"kind": "wrong_page", "text": say(lang, "hint.wrong_page"),
                                 "try": "kubectl describe pod caddy"}
    assert any("Welcome to nginx!" in note and "http://localhost:" in note for note in failed[0]["notes"])
    assert "-Caddy works!" in failed[0]["diff"]


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_junit_report_of_a_failure(failing_runs: dict[str, dict[str, Any]], lang: str) -> None:
    root = ET.parse(failing_runs[lang]["junit"]).getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    suite = suites[0]
    assert (suite.get("tests"), suite.get("failures")) == ("8", "1")
    float(suite.get("time", "x"))
    cases = suite.findall("testcase")
    assert len(cases) == 8 and all(float(c.get("time", "x")) >= 0 for c in cases)
    failures = [(c, c.find("failure")) for c in cases if c.find("failure") is not None]
    assert len(failures) == 1
    case, failure = failures[0]
    assert failure is not None
    assert case.get("name") == f"7: {PROBE}"
    assert failure.get("message") == say(lang, "hint.wrong_page")
    assert "-Caddy works!" in (failure.text or "")


# --- check --all -j 2 --------------------------------------------------------------------------


def test_check_all_in_parallel(sim_cli: Cli, tmp_path: Path) -> None:
    course = make_course(tmp_path / "course", {3: "caddy:2", 4: "nginx"})
    junit = tmp_path / "all.xml"
    saved = tmp_path / "saved"
    result = sim_cli("check", "--all", "-j", "2", *SIM, "--root", str(course), "--json",
                     "--junit", str(junit), "--save", str(saved))
    assert result.returncode == 1, result.stdout + result.stderr
    body = json.loads(result.stdout)
    assert body["schema"] == "kubelesson.report/v1" and body["passed"] is False
    assert [r["lesson"] for r in body["lessons"]] == [3, 4]
    for report in body["lessons"]:
        check_report_schema(report)
    assert [r["passed"] for r in body["lessons"]] == [True, False]
    assert body["lessons"][0]["namespace"] != body["lessons"][1]["namespace"]  # own sandboxes
    suites = ET.parse(junit).getroot().findall("testsuite")
    assert [(s.get("name"), s.get("failures")) for s in suites] == [("lesson 3", "0"), ("lesson 4", "1")]
    assert sorted(p.name for p in saved.iterdir()) == ["3.txt", "4.txt"]
    human = sim_cli("check", "--all", "-j", "2", *SIM, "--root", str(course), "--lang", "ja",
                    "--bundle", str(tmp_path / "bundle.txt"))
    assert human.returncode == 1
    assert human.stdout.count("レッスン 3: 最初のコンテナ") == 1
    assert human.stdout.count("レッスン 4: 最初のコンテナ") == 1


# --- the support bundle: never a credential ------------------------------------------------------

TOKEN = "s3cr3t-t0ken-value-0123456789abcdef"
KEY_MATERIAL = "TOPSECRETKEYMATERIAL0123456789"
KEY_DATA = base64.b64encode(
    f"-----BEGIN PRIVATE KEY-----\n{KEY_MATERIAL}\n-----END PRIVATE KEY-----\n".encode()
).decode()


def test_bundle_has_everything_but_credentials(sim_cli: Cli, shared_sim: Any, tmp_path: Path,
                                               nginx_course: Path) -> None:
    config = yaml.safe_load(Path(shared_sim.kubeconfig).read_text())
    config["users"][0]["user"] = {"token": TOKEN, "client-key-data": KEY_DATA}
    secret_config = tmp_path / "kubeconfig"
    secret_config.write_text(yaml.safe_dump(config))
    sim_cli.env["KUBECONFIG"] = str(secret_config)
    target = tmp_path / "support.txt"
    checked = sim_cli("check", "3", *SIM, "--root", str(nginx_course), "--bundle", str(target))
    assert checked.returncode == 1, checked.stdout + checked.stderr
    as_json = sim_cli("check", "3", *SIM, "--root", str(nginx_course), "--json", "--kubeconfig",
                      str(secret_config))
    recorded = sim_cli("record", "3", *SIM, "-o", str(tmp_path / "run.txt"))
    assert recorded.returncode == 0, recorded.stderr
    text = target.read_text()
    # What a helper needs: versions, the normalized diff, the raw run, describe and events.
    assert re.search(r"# kubelesson \S+, kubectl v1\.\d+\.\d+, server v1\.\d+\.\d+", text)
    assert "## Differences from the lesson (normalized)" in text and "-Caddy works!" in text
    assert re.search(r"^\$ kubectl port-forward pod/caddy \d+:80$", text, re.M)  # 8000 may be busy
    assert "$ kubectl describe pod/caddy" in text and "nginx" in text
    assert "$ kubectl get events --sort-by=.lastTimestamp" in text
    outputs = [checked.stdout, checked.stderr, as_json.stdout, as_json.stderr, recorded.stdout,
               recorded.stderr, text, (tmp_path / "run.txt").read_text()]
    for secret in (TOKEN, KEY_DATA, KEY_DATA[:24], KEY_MATERIAL):
        for output in outputs:
            assert secret not in output


def test_redaction_of_credentials_that_a_lesson_prints() -> None:
    printed = (f"users:\n- name: me\n  user:\n    token: {TOKEN}\n    client-key-data: {KEY_DATA}\n"
               "Authorization: Bearer abc.def.ghi\n"
               "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJsZWFybmVyIn0.c2lnbmF0dXJl\n"
               f"-----BEGIN RSA PRIVATE KEY-----\n{KEY_MATERIAL}\n-----END RSA PRIVATE KEY-----\n"
               "pod/caddy created\n")
    cleaned = redact.text(printed)
    for secret in (TOKEN, KEY_DATA, KEY_MATERIAL, "abc.def.ghi", "eyJzdWIiOiJsZWFybmVyIn0"):
        assert secret not in cleaned
    assert "pod/caddy created" in cleaned and "token: <redacted>" in cleaned


# --- the GitHub Actions workflow ------------------------------------------------------------------


def test_workflow_is_valid_and_has_both_jobs() -> None:
    workflow = yaml.safe_load((ROOT / ".github/workflows/lessons.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert {"push", "pull_request", "schedule"} <= set(triggers)
    jobs = workflow["jobs"]
    sim_steps = " ".join(str(step.get("run", "")) for step in jobs["simulator"]["steps"])
    assert "kubelesson sim up" in sim_steps and "check --all" in sim_steps and "--junit" in sim_steps
    k3d = jobs["k3d"]
    versions = k3d["strategy"]["matrix"]["k3s"]
    assert len(versions) >= 2 and all(re.fullmatch(r"v1\.\d+\.\d+-k3s\d", v) for v in versions)
    k3d_runs = " ".join(str(step.get("run", "")) for step in k3d["steps"])
    assert "k3d cluster create" in k3d_runs and "check --all" in k3d_runs and "--junit" in k3d_runs
    for job in jobs.values():
        uploads = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact")]
        assert uploads and uploads[0]["if"] == "always()"


def test_ci_doc_documents_the_json_schema() -> None:
    doc = (ROOT / "docs/ci.md").read_text()
    assert "kubelesson.report/v1" in doc and ".github/workflows/lessons.yml" in doc
    for field in ("lesson", "passed", "steps", "command", "verdict", "expected", "actual", "diff",
                  "duration", "hint"):
        assert f"`{field}`" in doc, field


# --- the closing line of `check --all` (report.overall_summary; see the cli note in docs) -------


def test_overall_summary_names_the_failing_lessons() -> None:
    from kubelesson import core, report

    sessions = Path(__file__).parent / "sessions"
    good = core.diff(ROOT, 3, sessions / "complete_dollar.txt")
    bad = core.diff(ROOT, 3, sessions / "crashloop.txt")
    reports = [report.build(found, comparison, None, "en") for found, comparison in (good, bad)]
    assert report.overall_summary(reports[:1], "en") == "PASS: all 1 lessons match"
    assert report.overall_summary(reports, "en") == "FAIL: 1 of 2 lessons differ: lesson 3"
    assert report.overall_summary(reports, "ja") == "不合格: 2 レッスン中 1 レッスンが異なります: レッスン 3"
    assert "\x1b[" in report.overall_summary(reports, "en", colour=True)


# --- the README shows real output ------------------------------------------------------------


def _canonical(lines: list[str]) -> list[str]:
    """Lines with what varies run to run (ports, sandbox suffix, seconds) blanked, and the
    note about a busy port 8000 (it depends on the machine) left out."""
    out = []
    for line in lines:
        if "8000 was busy" in line or "ポート 8000 が使用中" in line:
            continue
        line = re.sub(r"kubelesson-3-[a-z0-9]{5}", "kubelesson-3-xxxxx", line)
        out.append(re.sub(r"\d+(\.\d+)?", "N", line))
    return out


def test_readme_example_is_what_check_prints(failing_runs: dict[str, dict[str, Any]]) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Report examples", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```text\n(.*?)```", section, re.S)
    assert len(blocks) == 3
    failing_example = blocks[2].splitlines()
    stdout_lines = failing_example[:-1]  # the last line (bundle path) is on stderr
    assert _canonical(stdout_lines) == _canonical(failing_runs["ja"]["human"].stdout.splitlines())
    assert blocks[0].startswith("Lesson 3: Your first container\n")
    assert blocks[1].startswith("レッスン 3: 最初のコンテナ\n")


# --- one report, whatever is counted or asked (issue 13) ------------------------------------------


def test_show_lists_what_check_reports(cli: Cli, failing_runs: dict[str, dict[str, Any]], nginx_course: Path) -> None:
    checked = [step["command"] for step in json.loads(failing_runs["en"]["json"].stdout)["steps"]]
    shown = cli("show", "3", "--root", str(nginx_course)).stdout.splitlines()[1:]
    listed = [re.sub(r"^  \d+\. ", "", line).split("   (")[0] for line in shown]
    assert listed == checked and len(checked) == 8
    assert [line.split(".")[0].strip() for line in shown] == [str(n) for n in range(1, 9)]


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_diff_labels_in_the_report_language(failing_runs: dict[str, dict[str, Any]], lang: str) -> None:
    out = failing_runs[lang]["human"].stdout
    expected, actual = say(lang, "report.diff_expected"), say(lang, "report.diff_actual")
    assert f"      --- {expected}\n      +++ {actual}\n" in out
    if lang == "ja":
        assert "--- expected" not in out and "+++ actual" not in out
        failure = ET.parse(failing_runs[lang]["junit"]).getroot().find("testsuite/testcase/failure")
        assert failure is not None and (failure.text or "").startswith(f"--- {expected}\n+++ {actual}\n")
    # The JSON keeps the diff as data, labelled the same in every language.
    step = next(s for s in json.loads(failing_runs[lang]["json"].stdout)["steps"] if s["diff"])
    assert step["diff"].startswith("--- expected\n+++ actual\n")


def test_check_all_json_has_one_shape_for_one_lesson(sim_cli: Cli, tmp_path: Path) -> None:
    course = make_course(tmp_path / "course", {3: "caddy:2"})
    result = sim_cli("check", "--all", *SIM, "--root", str(course), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    body = json.loads(result.stdout)
    assert set(body) == {"schema", "passed", "lessons"} and body["passed"] is True
    assert [report["lesson"] for report in body["lessons"]] == [3]
    check_report_schema(body["lessons"][0])


# --- every output is redacted, with the same rules -----------------------------------------------

ANNOTATION_TOKEN = "s3cr3t-annotation-token-0123456789"


@pytest.fixture(scope="module")
def leaky_course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Lesson 3 whose pod carries a credential in an annotation, and a step that prints the
    pod as YAML: the token is in the output, in the last-applied JSON and in describe."""
    course = make_course(tmp_path_factory.mktemp("leaky-course"), {3: "caddy:2"})
    manifest = course / "examples" / "3_pod.yaml"
    text = manifest.read_text()
    manifest.write_text(text.replace("  name: caddy\n", f"  name: caddy\n  annotations:\n"
                                     f"    example.com/api-token: {ANNOTATION_TOKEN}\n", 1))
    lesson_file = course / "transcripts" / "3.yaml"
    step = "- run: kubectl delete pods caddy\n"
    lesson_file.write_text(lesson_file.read_text().replace(step, "- run: kubectl get pod caddy -o yaml\n" + step, 1))
    return course


def test_every_output_is_redacted(sim_cli: Cli, leaky_course: Path, tmp_path: Path) -> None:
    junit, saved, support, raw = tmp_path / "j.xml", tmp_path / "saved", tmp_path / "bundle.txt", tmp_path / "run.txt"
    machine = sim_cli("check", "3", *SIM, "--root", str(leaky_course), "--json", "--junit", str(junit),
                      "--save", str(saved), "--bundle", str(support))
    assert machine.returncode == 1, machine.stdout + machine.stderr
    human = sim_cli("check", "3", *SIM, "--root", str(leaky_course), "--lang", "ja",
                    "--bundle", str(tmp_path / "b2.txt"))
    recorded = sim_cli("record", "3", *SIM, "--root", str(leaky_course), "-o", str(raw))
    assert recorded.returncode == 0, recorded.stderr
    printed = sim_cli("record", "3", *SIM, "--root", str(leaky_course))
    outputs = {
        "json": machine.stdout, "save": (saved / "3.txt").read_text(),
        "junit": "\n".join(" ".join([*node.attrib.values(), node.text or ""]) for node in ET.parse(junit).iter()),
        "bundle": support.read_text(), "human": human.stdout, "record -o": raw.read_text(),
        "record": printed.stdout,
    }
    for name, output in outputs.items():
        assert ANNOTATION_TOKEN not in output, name
        assert "example.com/api-token: <redacted>" in output, name
    # A diff line that starts with "+" is redacted too (the YAML step is not in the golden).
    assert re.search(r"^\s+\+\s+example\.com/api-token: <redacted>$", human.stdout, re.M), human.stdout


def test_a_server_url_with_credentials_is_never_printed(sim_cli: Cli, shared_sim: Any, tmp_path: Path) -> None:
    config = Path(shared_sim.kubeconfig).read_text().replace("http://127.0.0.1", "http://admin:hunter2pw@127.0.0.1")
    assert "hunter2pw" in config
    (tmp_path / "kubeconfig").write_text(config)
    sim_cli.env["KUBECONFIG"] = str(tmp_path / "kubeconfig")
    doctor = sim_cli("doctor", *SIM)
    # Lesson 2 prints `kubectl cluster-info`, which names the server URL as configured.
    machine = sim_cli("check", "2", *SIM, "--json")
    human = sim_cli("check", "3", *SIM)
    dead = (tmp_path / "dead")
    dead.write_text(re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:9", config))
    sim_cli.env["KUBECONFIG"] = str(dead)
    unreachable = sim_cli("doctor", *SIM)
    failed = sim_cli("check", "3", *SIM)
    for result in (doctor, machine, human, unreachable, failed):
        assert "hunter2pw" not in result.stdout + result.stderr
        assert "admin:" not in result.stdout + result.stderr
    assert "<redacted>@127.0.0.1" in machine.stdout
    assert json.loads(machine.stdout)["server"].startswith("127.0.0.1:")


def test_an_extra_entry_of_a_recorded_transcript_fails(cli: Cli, tmp_path: Path) -> None:
    """A saved run (a CI artifact) with one entry more than the golden: `extra`, counted as a
    difference (a learner's session may hold extra commands; a recorded run may not)."""
    golden = yaml.safe_load((ROOT / "transcripts/3.yaml").read_text())["transcript"]
    saved = tmp_path / "3.txt"
    saved.write_text("# kubelesson: 0.1.0\n# namespace: default\n" + golden
                     + "$ kubectl get pods\nNo resources found in default namespace.\n")
    junit = tmp_path / "junit.xml"
    result = cli("diff", "3", str(saved), "--json", "--junit", str(junit))
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads(result.stdout)
    extra = [step for step in report["steps"] if step["verdict"] == "extra"]
    assert [(s["index"], s["command"]) for s in extra] == [(9, "kubectl get pods")]
    assert report["summary"] == {"total": 8, "failed": 1, "skipped": 0, "extra": 1}
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    failure = suite.find("testcase/failure")
    assert failure is not None and failure.get("message") == say("en", "report.extra")
    human = cli("diff", "3", str(saved)).stdout
    assert "  · kubectl get pods\n      not part of the lesson" in human
    assert human.rstrip().splitlines()[-1] == "FAIL: 1 of 8 steps differ from the lesson"
