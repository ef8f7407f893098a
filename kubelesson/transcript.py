"""The transcript text format: ``$ command`` lines, each followed by what the terminal showed.

A transcript is what the course itself prints::

    # kubectl-client: v1.30.0          <- optional header, "# key: value" lines
    $ kubectl get pods
    No resources found in default namespace.
    $ kubectl delete pod caddy
    Error from server (NotFound): pods "caddy" not found
    [exit 1]                            <- only when the exit code is not 0

``parse(render(t)) == t`` for every well-formed transcript (commands on one line, without
surrounding whitespace and not empty; outputs without a trailing newline and without ``\\r``;
header keys made of letters, digits, ``_ . -``; header values on one line). An output line
that would read as a command, an exit line or an escaped line is written with one extra
leading backslash, which :func:`parse` removes again.

:func:`parse` also reads a learner's pasted terminal session: common shell prompts are
recognised (``$ ``, ``% ``, ``❯ ``, ``user@host:~/dir$ ``, ``(venv) $ ``, ``PS C:\\> ``, ...),
``> `` continuation lines right after a command are joined to it, trailing blank lines of
an output and a bare prompt with no command are dropped, and anything else (``^C`` included)
is output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Entry", "Transcript", "is_command_line", "parse", "render", "split_prompt"]


@dataclass(frozen=True)
class Entry:
    command: str  # the command as typed, without the prompt
    output: str = ""  # stdout and stderr as a terminal showed them, no trailing newline
    exit_code: int = 0


@dataclass(frozen=True)
class Transcript:
    entries: tuple[Entry, ...]
    header: tuple[tuple[str, str], ...] = ()  # rendered as "# key: value" before the entries


_HEADER = re.compile(r"# ([\w.-]+):(?: (.*))?")
_EXIT = re.compile(r"\[exit (-?\d+)\]")

# Prompts, tried at the start of a line. Each alternative ends where the command begins.
# Kept deliberately specific: an output line that merely contains "$" or "%" must not be
# taken for a command (tables, curl progress meters and error texts never start like these).
_PROMPT = re.compile(
    r"""
    (?:\([\w.@ -]+\)\ )?                          # (venv) or (base) in front of any prompt
    (?:
        \$(?:\ |$)                                # $ cmd  (also the canonical format)
      | ➜\ +\S+\ +git:\([^)\n]*\)(?:\ ✗)?\ +        # oh-my-zsh: ➜  course git:(main) ✗ cmd
      | ➜\ +~\S*\ +                               # oh-my-zsh: ➜  ~/course cmd
      | [%❯➜λ»](?:\ +|$)                          # % cmd, ❯ cmd, ➜ cmd, λ cmd
      | [\w.-]+@[\w.-]+(?::\S*|\ [^\s$#%]+)?(?:\ \([^)\n]*\))?\ ?[$#%](?:\ |$)
                                                  # user@host:~/dir$ , u@h ~ % , u@h:~/d (main)$
      | \[[^\]\n]*\][$#%](?:\ |$)                 # [user@host dir]$  or  [~]$
      | (?:[\w.-]+\ +)?[~/][^\s]*(?:\ \([^)\n]*\))?\ +[$%❯➜λ](?:\ +|$)
                                                  # ~/dir $ , user ~/dir λ , ~/dir (main) ❯
      | [\w.-]+\ +~?\S*\ *➜(?:\ +|$)              # controlplane ~ ➜
      | PS\ [^>\n]*>\ ?                           # PS C:\Users\me>
      | [A-Za-z]:\\[^>\n]*>                       # C:\Users\me>
      | [╰└]─*[❯>$%]\ +                            # second line of a two-line prompt
    )
    """,
    re.VERBOSE,
)
# zsh (quote>, dquote>, heredoc>, pipe>) and POSIX (>) continuation prompts.
_CONTINUATION = re.compile(r"(?:[a-z]+)?> ")
# The first line of a two-line prompt (Git Bash on Windows, some zsh themes): not output.
_PROMPT_DECORATION = re.compile(r"\S+@\S+ (?:MINGW64|MINGW32|MSYS|UCRT64|CLANG64) .*|[╭┌]─.*")


def split_prompt(line: str) -> str | None:
    """The command typed on ``line`` if the line starts with a prompt, else None.

    A bare prompt gives ``""``.
    """
    match = _PROMPT.match(line)
    if match is None:
        return None
    return line[match.end() :].strip()


def is_command_line(line: str) -> bool:
    return _PROMPT.match(line) is not None


def _is_special(line: str) -> bool:
    """Would :func:`parse` read ``line`` as something other than plain output?"""
    while line.startswith("\\"):
        line = line[1:]
    return (
        is_command_line(line)
        or _EXIT.fullmatch(line) is not None
        or _CONTINUATION.match(line) is not None
        or _PROMPT_DECORATION.fullmatch(line) is not None
    )


def render(t: Transcript) -> str:
    """The text form of ``t``: header lines, then per entry ``$ cmd``, output, ``[exit N]``."""
    lines = [f"# {key}: {value}" for key, value in t.header]
    for entry in t.entries:
        lines.append(f"$ {entry.command}")
        if entry.output:
            lines.extend("\\" + line if _is_special(line) else line for line in entry.output.split("\n"))
        if entry.exit_code != 0:
            lines.append(f"[exit {entry.exit_code}]")
    return "".join(line + "\n" for line in lines)


@dataclass
class _Open:
    """An entry being read: its command and output lines so far."""

    command: str
    lines: list[str]
    exit_code: int = 0

    def close(self) -> Entry:
        lines = self.lines
        while lines and not lines[-1].strip():
            lines.pop()
        # "[exit N]" is the exit code only as the entry's last line.
        if lines:
            found = _EXIT.fullmatch(lines[-1])
            if found:
                self.exit_code = int(found[1])
                lines.pop()
                while lines and not lines[-1].strip():
                    lines.pop()
        return Entry(self.command, "\n".join(_unescape(line) for line in lines), self.exit_code)


def _unescape(line: str) -> str:
    if line.startswith("\\") and _is_special(line[1:]):
        return line[1:]
    return line


def parse(text: str) -> Transcript:
    """Read a transcript written by :func:`render`, or a pasted terminal session."""
    text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    header: list[tuple[str, str]] = []
    entries: list[Entry] = []
    current: _Open | None = None
    for line in lines:
        if _PROMPT_DECORATION.fullmatch(line):
            continue
        if current is None:
            command = split_prompt(line)
            if command is None:
                found = _HEADER.fullmatch(line)
                if found and not entries:
                    header.append((found[1], found[2] or ""))
                continue  # text before the first command (a banner, a note) is not kept
            if command:
                current = _Open(command, [])
            continue
        if not current.lines and _CONTINUATION.match(line):
            # Right after the command line: the shell asked for the rest of the command.
            current = _Open(_join(current.command, line.partition("> ")[2]), [])
            continue
        command = split_prompt(line)
        if command is None:
            current.lines.append(line)
            continue
        entries.append(current.close())
        current = _Open(command, []) if command else None
    if current is not None:
        entries.append(current.close())
    return Transcript(tuple(entries), tuple(header))


def _join(command: str, more: str) -> str:
    """A shell continuation line appended to the command it continues."""
    if command.endswith("\\"):
        command = command[:-1].rstrip()
    more = more.strip()
    return f"{command} {more}" if more else command
