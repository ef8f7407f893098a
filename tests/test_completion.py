"""Shell completion (click's), as the README documents it for bash, zsh and fish."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, Cli

KUBELESSON = Path(sys.executable).parent / "kubelesson"  # the installed entry point
FIRST_LINE = {
    "bash": "_kubelesson_completion() {",
    "zsh": "#compdef kubelesson",
    "fish": "function _kubelesson_completion;",
}


def script(cli: Cli, shell: str) -> subprocess.CompletedProcess[str]:
    env = {**cli.env, "_KUBELESSON_COMPLETE": f"{shell}_source"}
    return subprocess.run([str(KUBELESSON)], env=env, capture_output=True, text=True, timeout=30, cwd=ROOT)


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_each_shell_gets_a_completion_script(cli: Cli, shell: str) -> None:
    result = script(cli, shell)
    assert result.returncode == 0, result.stderr
    assert result.stdout.lstrip().splitlines()[0] == FIRST_LINE[shell]
    assert f"_KUBELESSON_COMPLETE={shell}_complete" in result.stdout
    interpreter = shutil.which(shell)
    if interpreter:  # the script is valid for that shell, where the shell is installed
        check = subprocess.run([interpreter, "-n"], input=result.stdout, capture_output=True, text=True)
        assert check.returncode == 0, check.stderr


def test_bash_completes_commands_and_sim_subcommands(cli: Cli) -> None:
    bash = shutil.which("bash")
    assert bash
    complete = 'COMPREPLY=(); COMP_WORDS=({words}); COMP_CWORD={cword}; _kubelesson_completion kubelesson; '
    show = 'echo "${{COMPREPLY[*]}}"\n'
    program = 'eval "$(_KUBELESSON_COMPLETE=bash_source kubelesson)"\n' + "".join(
        (complete + show).format(words=words, cword=cword)
        for words, cword in (("kubelesson ch", 1), ("kubelesson sim ''", 2), ("kubelesson check --la", 2))
    )
    env = {**cli.env, "PATH": f"{KUBELESSON.parent}:{cli.env['PATH']}"}
    result = subprocess.run([bash, "-c", program], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    commands, sim, options = result.stdout.splitlines()
    assert commands.split() == ["check"]
    assert set(sim.split()) == {"up", "down", "status", "env", "run"}
    assert options.split() == ["--lang"]


def test_readme_documents_all_three_shells() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Shell completion", 1)[1].split("\n## ", 1)[0]
    for shell in ("bash", "zsh", "fish"):
        assert f"_KUBELESSON_COMPLETE={shell}_source kubelesson" in section
