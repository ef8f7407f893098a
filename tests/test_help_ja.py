"""`--help` in the language of the messages: every command's docstring and every option's
help= text in Japanese with `--lang ja` or a Japanese LANG, in English otherwise, wrapped
to the terminal's 80 columns (a Japanese character takes two)."""

from __future__ import annotations

import unicodedata

import click
import pytest

from kubelesson.cli import _help_in, cli
from tests.conftest import Cli

Words = tuple[str, ...]  # a command's path: ("sim", "up")


def tree() -> list[tuple[Words, click.Command]]:
    """Every visible command, the lazily loaded `sim` group and its commands included."""
    found: list[tuple[Words, click.Command]] = []

    def walk(command: click.Command, path: Words) -> None:
        found.append((path, command))
        if isinstance(command, click.Group):
            ctx = click.Context(command)
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    walk(sub, (*path, name))

    walk(cli, ())
    return found


def texts(command: click.Command) -> list[str]:
    """The English help texts --help shows for COMMAND: its docstring and its options'."""
    options = command.get_params(click.Context(command))
    helps = [p.help for p in options if isinstance(p, click.Option) and p.help and not p.hidden]
    return [text for text in (command.help, *helps) if text]


def squash(text: str) -> str:
    """TEXT without its whitespace: click re-wraps help, and Japanese lines break anywhere."""
    return "".join(text.split())


def columns(line: str) -> int:
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in line)


def assert_in_language(output: str, command: click.Command, lang: str) -> None:
    for english in texts(command):
        japanese = _help_in("ja", english)
        shown, hidden = (japanese, english) if lang == "ja" else (english, japanese)
        assert squash(shown) in squash(output), f"{shown!r} is missing from:\n{output}"
        assert squash(hidden) not in squash(output), f"{hidden!r} is shown in:\n{output}"


def command_at(path: Words) -> click.Command:
    return dict(tree())[path]


@pytest.fixture
def cli_80(cli: Cli) -> Cli:
    cli.env["COLUMNS"] = "80"
    return cli


def test_every_help_text_has_a_japanese_form() -> None:
    missing = [(" ".join(path), text) for path, command in tree() for text in texts(command)
               if _help_in("ja", text) == text]
    assert not missing, "add a help: entry in kubelesson/messages.py for: " + repr(missing)


def test_top_level_help_in_japanese(cli_80: Cli) -> None:
    cli_80.env["LANG"] = "ja_JP.UTF-8"
    result = cli_80("--help")
    assert result.returncode == 0, result.stderr
    assert_in_language(result.stdout, cli, "ja")
    # The command list: each command's first Japanese sentence, `sim` (loaded lazily) too.
    for name in ("check", "sim"):
        summary = command_at((name,)).help or ""
        first = _help_in("ja", summary).split("。")[0]
        assert squash(first) in squash(result.stdout), result.stdout


@pytest.mark.parametrize("args", [("check", "--help", "--lang", "ja"), ("check", "--lang=ja", "--help"),
                                  ("check", "--lang", "en", "--lang", "ja", "--help")])
def test_lang_ja_after_help_still_gives_japanese(cli_80: Cli, args: tuple[str, ...]) -> None:
    """--help is eager: the language has to be known before click reads --lang."""
    result = cli_80(*args)
    assert result.returncode == 0, result.stderr
    assert_in_language(result.stdout, command_at(("check",)), "ja")
    assert "オプション:" in result.stdout


def test_sim_help_follows_a_japanese_lang(cli_80: Cli) -> None:
    cli_80.env["LANG"] = "ja_JP.UTF-8"
    result = cli_80("sim", "up", "--help")
    assert result.returncode == 0, result.stderr
    assert_in_language(result.stdout, command_at(("sim", "up")), "ja")
    assert "シミュレーターをバックグラウンドで起動し" in result.stdout


@pytest.mark.parametrize(("env", "args"), [
    ({"LANG": "ja_JP.UTF-8"}, ("check", "--help", "--lang", "en")),
    ({"LANG": "C"}, ("check", "--help")),
    ({"LANG": "C"}, ("sim", "up", "--help")),
    ({"LC_ALL": "en_US.UTF-8", "LANG": "ja_JP.UTF-8"}, ("--help",)),
])
def test_help_stays_english_otherwise(cli_80: Cli, env: dict[str, str], args: tuple[str, ...]) -> None:
    cli_80.env.update(env)
    result = cli_80(*args)
    assert result.returncode == 0, result.stderr
    command = command_at(tuple(a for a in args if not a.startswith("-") and a not in ("ja", "en")))
    assert_in_language(result.stdout, command, "en")
    assert "Options:" in result.stdout


@pytest.mark.parametrize("path", [path for path, _ in tree()], ids=lambda path: " ".join(path) or "kubelesson")
def test_each_japanese_help_is_complete_and_fits_80_columns(cli_80: Cli, path: Words) -> None:
    cli_80.env["LANG"] = "ja_JP.UTF-8"
    result = cli_80(*path, "--help")
    assert result.returncode == 0, result.stderr
    assert_in_language(result.stdout, command_at(path), "ja")
    wide = [line for line in result.stdout.splitlines() if columns(line) > 80]
    assert not wide, "\n".join(wide)
