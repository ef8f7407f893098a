"""The transcript text format: ``$ command`` lines, each followed by what the terminal showed.

A transcript is what the course itself prints::

    # kubectl-client: v1.30.0          <- optional header, "# key: value" lines
    $ kubectl get pods
    No resources found in default namespace.
    $ kubectl delete pod caddy
    Error from server (NotFound): pods "caddy" not found
    [exit 1]                            <- only when the exit code is not 0

``parse(render(t)) == t`` for every well-formed transcript (commands on one line, not empty,
without surrounding whitespace or terminal escape sequences; outputs without a trailing
newline and without ``\\r``; header keys made of letters, digits, ``_ . -``; header values
on one line). An output line that would read as a command, an exit line or an escaped line
is written with one extra leading backslash, which :func:`parse` removes again.

:func:`parse` also reads a learner's pasted terminal session: common shell prompts are
recognised (``$ ``, ``% ``, ``❯ ``, ``user@host:~/dir$ ``, ``(venv) $ ``, ``PS C:\\> ``, ...),
``> `` continuation lines right after a command are joined to it, trailing blank lines of
an output and a bare prompt with no command are dropped, and anything else (``^C`` included)
is output. Prompts are looked for in what the terminal showed: colour, window-title and
other escape sequences and a line redrawn after ``\\r`` do not hide them, and commands never
keep them. A prompt right after ``^C`` on the same line (``^C$ kubectl get pods``) starts
a command; the ``^C`` stays the end of the previous output.

:func:`decode` turns a saved file's bytes into text: UTF-8 (with or without a BOM), UTF-16
with a BOM (what Windows PowerShell 5.1 writes with ``>``) or without, and Shift_JIS (cp932,
a Japanese Windows console); anything else is :class:`NotText`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Entry", "NotText", "Transcript", "decode", "is_command_line", "parse", "render", "split_prompt"]


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


# What a terminal interprets instead of showing: CSI (colours, cursor moves, bracketed
# paste), OSC (window title, shell-integration marks; ended by BEL or ST), character-set
# selection and the other two-character escapes.
_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b\n]*(?:\x07|\x1b\\)?|\x1b[()][0-9A-Za-z]|\x1b[@-_=>78]?")
_INTERRUPT = "^C"


def _visible(line: str) -> str:
    """What the terminal showed of ``line``: no escape sequences, and of a line redrawn
    after a carriage return (zsh's PROMPT_SP, a progress bar) only the last drawing."""
    if "\x1b" in line:
        line = _ESCAPE.sub("", line)
    if "\r" in line:
        line = line.rstrip("\r")
        last = line.rsplit("\r", 1)[-1]
        line = last if last.strip() else line.replace("\r", "")
    return line


def _command(line: str) -> tuple[str | None, bool]:
    """The command typed on ``line`` (None: not a prompt line; "": a bare prompt), and
    whether the line began with the ``^C`` of an interrupted command before the prompt."""
    shown = _visible(line)
    match = _PROMPT.match(shown)
    if match is not None:
        return shown[match.end() :].strip(), False
    if shown.startswith(_INTERRUPT):
        match = _PROMPT.match(shown, len(_INTERRUPT))
        # Only with a command: "^C%" alone is zsh marking the interrupted output.
        if match is not None and shown[match.end() :].strip():
            return shown[match.end() :].strip(), True
    return None, False


def split_prompt(line: str) -> str | None:
    """The command typed on ``line`` if the line starts with a prompt, else None.

    A bare prompt gives ``""``.
    """
    return _command(line)[0]


def is_command_line(line: str) -> bool:
    return _command(line)[0] is not None


def _is_special(line: str) -> bool:
    """Would :func:`parse` read ``line`` as something other than plain output?"""
    while line.startswith("\\"):
        line = line[1:]
    shown = _visible(line)
    return (
        is_command_line(line)
        or _EXIT.fullmatch(line) is not None
        or _CONTINUATION.match(shown) is not None
        or _PROMPT_DECORATION.fullmatch(shown) is not None
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
        shown = _visible(line)
        if _PROMPT_DECORATION.fullmatch(shown):
            continue
        if current is None:
            command, _ = _command(line)
            if command is None:
                found = _HEADER.fullmatch(line)
                if found and not entries:
                    header.append((found[1], found[2] or ""))
                continue  # text before the first command (a banner, a note) is not kept
            if command:
                current = _Open(command, [])
            continue
        if not current.lines and _CONTINUATION.match(shown):
            # Right after the command line: the shell asked for the rest of the command.
            current = _Open(_join(current.command, shown.partition("> ")[2]), [])
            continue
        command, interrupted = _command(line)
        if command is None:
            current.lines.append(line)
            continue
        if interrupted:
            current.lines.append(_INTERRUPT)  # the Ctrl-C ended this command's output
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


# --- reading a saved file ------------------------------------------------------------------


class NotText(ValueError):
    """The bytes of a file are not text in any encoding a terminal session is saved in."""


_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 without a BOM (mostly ASCII text, so every other byte is NUL), or None."""
    sample = data[:4096]
    pairs = len(sample) // 2
    if pairs < 2:
        return None
    even = sample[0::2].count(0)
    odd = sample[1::2].count(0)
    if odd >= 0.4 * pairs and even <= 0.05 * pairs:
        return "utf-16-le"
    if even >= 0.4 * pairs and odd <= 0.05 * pairs:
        return "utf-16-be"
    return None


def decode(data: bytes) -> str:
    """The text of a saved transcript or terminal session; :class:`NotText` for a binary
    file. A few undecodable bytes in otherwise UTF-8 text (a garbled character from a
    copy) are replaced rather than refused."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding)
            except UnicodeDecodeError:
                raise NotText(encoding) from None
    utf16 = _utf16_without_bom(data)
    if utf16 is not None:
        try:
            return data.decode(utf16)
        except UnicodeDecodeError:
            raise NotText(utf16) from None
    if b"\x00" in data:
        raise NotText("binary")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8", "replace")
    if text.count("\ufffd") <= max(2, len(text) // 1000):
        return text  # UTF-8 with a garbled character or two
    try:
        return data.decode("cp932")
    except UnicodeDecodeError:
        raise NotText("binary") from None
