"""Reading a shell command line the way a POSIX shell does, for the part a lesson types:
words with single and double quotes and backslashes, `$VAR`, `${VAR}` and `$?`
expansion, assignments before a command, pipelines (`|`), lists (`;`, `&&`, `||`, a
newline), redirections (`>`, `>>`, `<`, `2>`, `2>&1`) and `#` comments."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.DOTALL)


class SyntaxProblem(Exception):
    """What the shell prints for a line it cannot read (`unterminated quoted string`)."""


@dataclass
class Redirect:
    fd: int  # 0, 1 or 2
    target: str  # a file name, or "&1" / "&2"
    append: bool = False


@dataclass
class Command:
    argv: list[str] = field(default_factory=list)
    assignments: list[tuple[str, str]] = field(default_factory=list)
    redirects: list[Redirect] = field(default_factory=list)


Pipeline = list[Command]
Script = list[tuple[str, Pipeline]]  # (operator joining it to the previous one, pipeline)

_OPERATORS = ("&&", "||", ">>", "2>&1", "1>&2", "2>", ">&2", ";", "|", ">", "<", "\n")


class _Lexer:
    """Splits a line into words (expanded) and operators."""

    def __init__(self, text: str, variables: Callable[[str], str]) -> None:
        self.text = text
        self.variables = variables
        self.pos = 0
        self.tokens: list[tuple[str, str]] = []  # ("word"|"op", value)

    def run(self) -> list[tuple[str, str]]:
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch in " \t":
                self.pos += 1
            elif ch == "#":
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end < 0 else end
            elif op := self._operator():
                self.tokens.append(("op", op))
                self.pos += len(op)
            else:
                self.tokens.append(("word", self._word()))
        return self.tokens

    def _operator(self) -> str:
        rest = self.text[self.pos:]
        return next((op for op in _OPERATORS if rest.startswith(op)), "")

    def _word(self) -> str:
        out: list[str] = []
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch in " \t" or self._operator():
                break
            if ch == "'":
                end = self.text.find("'", self.pos + 1)
                if end < 0:
                    raise SyntaxProblem("unterminated quoted string")
                out.append(self.text[self.pos + 1:end])
                self.pos = end + 1
            elif ch == '"':
                self.pos += 1
                out.append(self._double_quoted())
            elif ch == "\\":
                if self.pos + 1 < len(self.text) and self.text[self.pos + 1] != "\n":
                    out.append(self.text[self.pos + 1])
                self.pos += 2
            elif ch == "$":
                out.append(self._dollar())
            else:
                out.append(ch)
                self.pos += 1
        return "".join(out)

    def _double_quoted(self) -> str:
        out: list[str] = []
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == '"':
                self.pos += 1
                return "".join(out)
            if ch == "\\" and self.pos + 1 < len(self.text) and self.text[self.pos + 1] in '"\\$`\n':
                if self.text[self.pos + 1] != "\n":
                    out.append(self.text[self.pos + 1])
                self.pos += 2
            elif ch == "$":
                out.append(self._dollar())
            else:
                out.append(ch)
                self.pos += 1
        raise SyntaxProblem("unterminated quoted string")

    def _dollar(self) -> str:
        rest = self.text[self.pos + 1:]
        if rest.startswith("{"):
            end = rest.find("}")
            if end < 0:
                raise SyntaxProblem("bad substitution")
            self.pos += end + 2
            return self.variables(rest[1:end])
        if rest[:1] in ("?", "$", "#"):
            self.pos += 2
            return self.variables(rest[0])
        match = _NAME.match(rest)
        if not match:
            self.pos += 1
            return "$"
        self.pos += 1 + match.end()
        return self.variables(match.group(0))


_MARK = "\x00"
_REFERENCE = re.compile(f"{_MARK}([^{_MARK}]*){_MARK}")


def expand(word: str, variables: Mapping[str, str] | Callable[[str], str]) -> str:
    """Put the variables' values in for the references `parse` left in a word. This
    happens when the command runs, so `false; echo $?` prints 1."""
    lookup = variables if callable(variables) else (lambda name: variables.get(name, ""))
    return _REFERENCE.sub(lambda m: lookup(m.group(1)), word)


def parse(text: str) -> Script:
    """The lists and pipelines of a command line. Variable references stay in the words
    as markers for `expand`."""
    tokens = _Lexer(text, lambda name: f"{_MARK}{name}{_MARK}").run()
    script: Script = []
    joiner = ";"
    pipeline: Pipeline = [Command()]
    index = 0
    while index < len(tokens):
        kind, value = tokens[index]
        current = pipeline[-1]
        if kind == "word":
            assignment = _ASSIGNMENT.match(value)
            if assignment and not current.argv:
                current.assignments.append((assignment.group(1), assignment.group(2)))
            else:
                current.argv.append(value)
        elif value in (">", ">>", "<", "2>"):
            if index + 1 >= len(tokens) or tokens[index + 1][0] != "word":
                raise SyntaxProblem("syntax error: unexpected newline")
            fd = {"<": 0, "2>": 2}.get(value, 1)
            current.redirects.append(Redirect(fd, tokens[index + 1][1], value == ">>"))
            index += 1
        elif value in ("2>&1", "1>&2", ">&2"):
            current.redirects.append(Redirect(2, "&1") if value == "2>&1"
                                     else Redirect(1, "&2"))
        elif value == "|":
            if not (current.argv or current.assignments):
                raise SyntaxProblem("syntax error: unexpected \"|\"")
            pipeline.append(Command())
        else:  # ; && || newline
            if current.argv or current.assignments or current.redirects or len(pipeline) > 1:
                script.append((joiner, pipeline))
            elif value in ("&&", "||"):
                raise SyntaxProblem(f'syntax error: unexpected "{value}"')
            joiner = ";" if value == "\n" else value
            pipeline = [Command()]
        index += 1
    last = pipeline[-1]
    if last.argv or last.assignments or last.redirects or len(pipeline) > 1:
        script.append((joiner, pipeline))
    return script
