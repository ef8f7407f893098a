"""`kubelesson diff 3 SESSION` on learners' own terminal sessions (tests/sessions/*.txt):
prompts of several shells, extra commands, typos, re-runs while the pod was starting,
missing steps, and kubectl 1.34+ wording. No cluster is involved."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kubelesson.messages import MESSAGES
from tests.conftest import Cli

SESSIONS = Path(__file__).parent / "sessions"
STEPS = [
    "kubectl apply -f ./examples/3_pod.yaml",
    "kubectl get pods",
    "kubectl delete pods caddy",
    "kubectl get pods",
    "kubectl apply -f ./examples/3_pod.yaml",
    "kubectl port-forward pod/caddy 8000:80",
    "kubectl delete pod caddy",
]


def verdicts(cli: Cli, session: str) -> tuple[int, list[str], dict[str, object]]:
    """Exit code, verdict per lesson step (JSON report) and the report itself."""
    result = cli("diff", "3", str(SESSIONS / session), "--json")
    assert result.stderr == "", result.stderr
    report = json.loads(result.stdout)
    steps = [step for step in report["steps"] if step["verdict"] != "extra"]
    assert [step["command"] for step in steps] == STEPS
    return result.returncode, [step["verdict"] for step in steps], report


def test_complete_session_with_extras_retries_and_new_wording_passes(cli: Cli) -> None:
    # `$ ` prompts, ls and cat in between, get pods while ContainerCreating then Running,
    # `deleted from default namespace` (kubectl 1.34+), port-forward ended with ^C.
    text = (SESSIONS / "complete_dollar.txt").read_text()
    assert "ContainerCreating" in text and "deleted from default namespace" in text
    result = cli("diff", "3", str(SESSIONS / "complete_dollar.txt"))
    assert result.returncode == 0, result.stdout
    assert result.stdout.count("✓") == 7 and "✗" not in result.stdout
    assert "your session: 7 of 7 steps done as the lesson shows, 0 differ, 0 missing" in result.stdout
    assert result.stdout.rstrip().splitlines()[-1].startswith("PASS: all 7 steps match the lesson")
    code, found, _ = verdicts(cli, "complete_dollar.txt")
    assert (code, found) == (0, ["pass"] * 7)


def test_zsh_session_with_missing_steps(cli: Cli) -> None:
    code, found, report = verdicts(cli, "zsh_missing_steps.txt")
    assert code == 1
    # Did apply and get pods; never deleted, so the re-apply says unchanged; no final delete.
    assert found == ["pass", "pass", "missing", "missing", "fail", "pass", "missing"]
    steps = report["steps"]
    assert isinstance(steps, list)
    assert steps[4]["hint"]["kind"] == "leftover"
    assert steps[2]["hint"]["kind"] == "missing" and steps[2]["hint"]["try"] == "kubectl delete pods caddy"
    # A run of missing steps gets one hint, not one per step.
    assert steps[3]["hint"] is None


def test_only_pending_gets_wait_a_few_seconds(cli: Cli) -> None:
    # ❯ prompts; get pods seen only Pending, then ContainerCreating, never Running.
    code, found, report = verdicts(cli, "starship_only_pending.txt")
    assert code == 1
    assert found == ["pass", "fail", "pass", "pass", "missing", "missing", "missing"]
    steps = report["steps"]
    assert isinstance(steps, list)
    assert steps[1]["reason"] == "still-starting"
    assert steps[1]["hint"]["kind"] == "still_starting"
    result = cli("diff", "3", str(SESSIONS / "starship_only_pending.txt"))
    assert "wait a few seconds and run the command again" in result.stdout
    assert "your session: 3 of 7 steps done as the lesson shows, 1 differ, 3 missing" in result.stdout
    assert MESSAGES["report.more_missing"]["en"] in result.stdout
    ja = cli("diff", "3", str(SESSIONS / "starship_only_pending.txt"), "--lang", "ja")
    assert "数秒待ってからもう一度" in ja.stdout
    assert "あなたのセッション: 7 ステップ中 3 ステップがレッスンどおり" in ja.stdout


def test_later_running_table_satisfies_the_step(cli: Cli, tmp_path: Path) -> None:
    session = (SESSIONS / "starship_only_pending.txt").read_text().replace(
        "❯ kubectl delete pods caddy",
        "❯ kubectl get pods\nNAME    READY   STATUS    RESTARTS   AGE\ncaddy   1/1     Running   0          8s\n"
        "❯ kubectl delete pods caddy",
    )
    path = tmp_path / "later-running.txt"
    path.write_text(session)
    result = cli("diff", "3", str(path), "--json")
    steps = json.loads(result.stdout)["steps"]
    assert [s["verdict"] for s in steps][:4] == ["pass"] * 4


def test_user_at_host_prompt_typo_and_leftover(cli: Cli) -> None:
    code, found, report = verdicts(cli, "userhost_leftover_and_typo.txt")
    assert code == 1
    assert found == ["fail", "pass", "pass", "pass", "pass", "pass", "pass"]
    steps = report["steps"]
    assert isinstance(steps, list)
    assert "+pod/caddy unchanged" in steps[0]["diff"]
    # The typo (kubeclt) is not a lesson step and is not blamed as one.
    assert all("kubeclt" not in s["command"] for s in steps if s["verdict"] != "extra")


@pytest.mark.parametrize("session", sorted(p.name for p in SESSIONS.glob("*.txt")))
def test_report_names_done_missing_and_differing_steps(cli: Cli, session: str) -> None:
    result = cli("diff", "3", str(SESSIONS / session))
    assert result.returncode in (0, 1), result.stderr
    code, found, _ = verdicts(cli, session)
    assert code == result.returncode
    summary = re.search(r"your session: (\d+) of 7 steps done as the lesson shows, (\d+) differ, (\d+) missing",
                        result.stdout)
    assert summary, result.stdout
    assert [int(n) for n in summary.groups()] == [found.count(v) for v in ("pass", "fail", "missing")]
    marks = [line[4:] for line in result.stdout.splitlines() if line.startswith(("  ✓ ", "  ✗ "))]
    assert marks == STEPS
    for line, verdict in zip(
        [line for line in result.stdout.splitlines() if line.startswith(("  ✓ ", "  ✗ "))], found, strict=True
    ):
        assert line.startswith("  ✓ " if verdict == "pass" else "  ✗ ")
    assert result.stdout.count(MESSAGES["report.missing"]["en"]) == found.count("missing")


# --- what a terminal and a shell add around the commands (issue 13) -------------------------


def test_chapter_3_typed_as_the_chapter_shows_it_passes(cli: Cli) -> None:
    # Only outputs the chapter prints (its get pods table, "No resources found", the two
    # "Forwarding from" lines and nothing after them), and what kubectl says to apply/delete.
    code, found, _ = verdicts(cli, "chapter3_as_shown.txt")
    assert (code, found) == (0, ["pass"] * 7)


def test_coloured_prompts_and_a_prompt_after_ctrl_c_keep_every_step(cli: Cli) -> None:
    text = (SESSIONS / "colour_prompts_ctrl_c.txt").read_text()
    assert "\x1b]0;" in text and "\x1b[01;32m" in text and "^C\x1b]0;" in text
    code, found, report = verdicts(cli, "colour_prompts_ctrl_c.txt")
    assert (code, found) == (0, ["pass"] * 7)
    # Nothing of the escape sequences reaches the report.
    assert "\\u001b" not in json.dumps(report)


def test_a_port_forward_put_in_the_background_keeps_its_step(cli: Cli) -> None:
    code, found, report = verdicts(cli, "background_port_forward.txt")
    assert (code, found) == (0, ["pass"] * 7)
    forward = report["steps"][5]
    assert forward["command"] == "kubectl port-forward pod/caddy 8000:80"
    assert "[1] 48213" not in forward["raw_actual"] and "Forwarding from 127.0.0.1:8000 -> 80" in forward["raw_actual"]


def test_extra_kubectl_commands_are_reported_but_do_not_fail(cli: Cli, tmp_path: Path) -> None:
    session = (SESSIONS / "chapter3_as_shown.txt").read_text().replace(
        "$ kubectl delete pods caddy\n",
        "$ kubectl describe pod caddy\nName:         caddy\nNamespace:    default\n$ kubectl delete pods caddy\n",
    )
    path = tmp_path / "looked-around.txt"
    path.write_text(session)
    result = cli("diff", "3", str(path), "--json")
    assert result.returncode == 0, result.stdout
    report = json.loads(result.stdout)
    extra = [step for step in report["steps"] if step["verdict"] == "extra"]
    assert [(s["index"], s["command"], s["reason"]) for s in extra] == [(9, "kubectl describe pod caddy", "extra")]
    # Where it was typed: after the get pods step, before the delete.
    assert [s["command"] for s in report["steps"]][2:4] == ["kubectl describe pod caddy", "kubectl delete pods caddy"]
    assert report["summary"] == {"total": 7, "failed": 0, "skipped": 0, "extra": 1}
    human = cli("diff", "3", str(path)).stdout
    assert "  · kubectl describe pod caddy\n      not part of the lesson" in human
    assert human.rstrip().splitlines()[-1] == "PASS: all 7 steps match the lesson"


# --- files that hold no session ----------------------------------------------------------------


def one_line(result: object, code: int, *words: str) -> None:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    err = result.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith("kubelesson: "), err
    for word in words:
        assert word in err, err


def test_an_empty_file(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "session.txt"
    path.write_bytes(b"")
    one_line(cli("diff", "3", str(path)), 2, "is empty", "UTF-8")
    path.write_bytes(b"\n\n  \n")
    one_line(cli("diff", "3", str(path), "--lang", "ja"), 2, "空です")


def test_a_file_without_prompts(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("kubectl apply -f ./examples/3_pod.yaml\npod/caddy created\n")
    one_line(cli("diff", "3", str(path)), 2, "holds no terminal session", "$ kubectl")


def test_a_binary_file(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "screenshot.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8)
    one_line(cli("diff", "3", str(path)), 2, "is not a text file", "UTF-8")
    one_line(cli("diff", "3", str(path), "--json"), 2, "is not a text file")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-8-sig"])
def test_a_session_saved_by_windows_powershell(cli: Cli, tmp_path: Path, encoding: str) -> None:
    # Windows PowerShell 5.1's `>` writes UTF-16 with a byte order mark and CRLF line ends.
    text = (SESSIONS / "chapter3_as_shown.txt").read_text().replace("$ ", "PS C:\\Users\\me\\course> ")
    path = tmp_path / "session.txt"
    path.write_bytes(text.replace("\n", "\r\n").encode(encoding))
    result = cli("diff", "3", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().splitlines()[-1] == "PASS: all 7 steps match the lesson"
