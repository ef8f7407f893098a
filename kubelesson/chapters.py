"""The course's chapters (Markdown) read as tests: their command blocks against the goldens.

A chapter file ``N_*.md`` shows what the learner types and what the terminal prints, in
fenced blocks (any fence language)::

    ```plaintext
    $ kubectl get pods
    NAME    READY   STATUS    RESTARTS   AGE
    caddy   1/1     Running   0          12m
    ```

:func:`extract` reads the text of a chapter: the blocks that start with a ``$ command``
line (several commands may share a block, each ``$ `` line starts the next one; a line
``...`` cuts a command's output short), the blocks of an interactive session (a root shell
``# ``, ``mysql> ``, ``localhost:6379> ``), the commands the chapter lists as bullets
(``- `kubectl get pods` ``) and the ``-f``/``-k`` paths its kubectl commands name.

:func:`check` pairs each command with the step of lesson N that runs the same command
(normalized commands, exact equality: ``delete pods caddy`` is not ``delete pod caddy``),
then with that step's golden entry, normalizes the chapter's output the way a run's output
is normalized and compares. The k-th time a chapter shows a command goes with the k-th
step that runs it; when that one differs, any other step with the same command that
agrees is taken instead (a chapter may show ``get pods`` at another moment than the
lesson does).

Pure functions: nothing here reads files or runs anything (:func:`kubelesson.core.docs`
reads the chapters and the lessons; whether a path exists is asked through a callable).
"""

from __future__ import annotations

import difflib
import re
import shlex
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from kubelesson import normalize as norm
from kubelesson.lesson import Lesson
from kubelesson.transcript import Entry, Transcript, parse

__all__ = [
    "CHAPTER_FILE",
    "Block",
    "Chapter",
    "ChapterResult",
    "Command",
    "DocsResult",
    "Finding",
    "Mention",
    "PathRef",
    "Verdict",
    "chapter_number",
    "check",
    "extract",
    "path_refs",
]

CHAPTER_FILE = re.compile(r"^(?P<number>\d+)_.+\.md$")

Verdict = Literal["agrees", "differs", "no-step", "no-golden", "interactive"]


@dataclass(frozen=True)
class Command:
    """One ``$ command`` of a block and the lines the chapter shows after it."""

    line: int  # 1-based line of the "$ " line in the chapter
    text: str  # the command, without "$ " (continuation lines joined)
    output: tuple[str, ...] = ()  # trailing whitespace and trailing blank lines removed
    cut: bool = False  # the chapter cut the output short with "...": compare it as a prefix


@dataclass(frozen=True)
class Block:
    line: int  # the opening fence
    language: str  # the fence's info word, lower case ("" when none)
    commands: tuple[Command, ...] = ()
    # A block with prompts other than "$ " is a session inside a container or a client
    # program, not compared: its first line as written (None: a plain command block).
    interactive: str | None = None
    interactive_line: int = 0


@dataclass(frozen=True)
class Mention:
    """A command the chapter's prose asks the learner to run (a bullet)."""

    line: int
    text: str


@dataclass(frozen=True)
class PathRef:
    """A file or folder a kubectl command of the chapter names with ``-f``/``-k``."""

    line: int
    flag: str
    path: str


@dataclass(frozen=True)
class Chapter:
    path: Path
    number: int
    blocks: tuple[Block, ...] = ()
    bullets: tuple[Mention, ...] = ()
    paths: tuple[PathRef, ...] = ()


@dataclass(frozen=True)
class Finding:
    """What became of one command of the chapter (or one interactive block)."""

    line: int
    command: str
    verdict: Verdict
    step: int | None = None  # 1-based index in the lesson's steps (None: a golden-only entry)
    step_line: int | None = None  # the step's line in the lesson file
    kind: str | None = None  # the step's kind (kubectl, yourself, host), "probe" for a golden-only entry
    entry: int | None = None  # 1-based index of the golden entry compared with
    prefix: bool = False
    expected: str = ""  # the golden entry, normalized, as transcript text
    actual: str = ""  # the chapter's command and output, normalized, same form
    diff: str = ""  # unified diff golden -> chapter, for "differs"


@dataclass(frozen=True)
class ChapterResult:
    chapter: Chapter
    lesson: Lesson | None  # None: no lesson with the chapter's number
    findings: tuple[Finding, ...] = ()
    uncovered: tuple[Mention, ...] = ()  # bullets no step of the lesson runs
    missing: tuple[PathRef, ...] = ()  # -f/-k paths not in the course folder

    @property
    def drift(self) -> int:
        """Differing blocks and missing paths; a chapter without a lesson has none."""
        if self.lesson is None:
            return 0
        return sum(1 for finding in self.findings if finding.verdict == "differs") + len(self.missing)

    @property
    def passed(self) -> bool:
        return self.drift == 0


@dataclass(frozen=True)
class DocsResult:
    root: Path
    chapters: tuple[ChapterResult, ...]

    @property
    def passed(self) -> bool:
        return all(result.passed for result in self.chapters)


def chapter_number(name: str) -> int | None:
    """The chapter (and lesson) number of a file named ``N_*.md``, else None."""
    match = CHAPTER_FILE.match(name)
    return int(match["number"]) if match else None


# --- extraction --------------------------------------------------------------------------

_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\s]*)")
_DOLLAR = re.compile(r"^\$(?: +(?P<command>.*))?$")
# Prompts of interactive sessions. "# " (a root shell in a container) counts only as the
# first line of a block and never in a YAML block, where it is a comment; the others are
# specific enough to count anywhere ("/ # ls", "root@pod:/# ls", "sh-4.4# ls", "mysql> ",
# "localhost:6379> ").
_ROOT_PROMPT_FIRST = re.compile(r"^# +\S")
_ROOT_PROMPT = re.compile(r"^(?:(?:/\S*|~\S*|[\w.-]+@[\w.-]+:\S*) ?# |(?:ba)?sh-[\d.]+[#$] )")
_TOOL_PROMPT = re.compile(r"^[A-Za-z][\w.-]*(?::\d+)?> ")
_CUT = frozenset({"...", "…"})
_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+`(?P<code>[^`]+)`\s*$")
_COMMAND_WORD = re.compile(r"^[a-z][\w.-]*(?:\s|$)")
_CODE_SPAN = re.compile(r"(?<!`)`(?P<code>[^`\n]+)`(?!`)")
_YAML = frozenset({"yaml", "yml"})


def _fenced(lines: Sequence[str]) -> Iterator[tuple[int, str, list[tuple[int, str]]]]:
    """Each fenced block: its fence line (1-based), info word and content lines (numbered).

    A fence closes with the same character, at least as long, and nothing after it; an
    unclosed fence runs to the end of the file (as in CommonMark). Content lines lose the
    fence's own indentation (a block inside a list item).
    """
    k = 0
    while k < len(lines):
        opening = _FENCE.match(lines[k])
        if opening is None:
            k += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        closing = re.compile(rf"^ *{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        body: list[tuple[int, str]] = []
        j = k + 1
        while j < len(lines) and not closing.match(lines[j]):
            text = lines[j]
            strip = len(text) - len(text.lstrip(" "))
            body.append((j + 1, text[min(indent, strip) :]))
            j += 1
        yield k + 1, opening["info"].lower(), body
        k = j + 1


def _other_prompt(text: str, language: str, first: bool) -> bool:
    if _TOOL_PROMPT.match(text) or _ROOT_PROMPT.match(text):
        return True
    return first and language not in _YAML and _ROOT_PROMPT_FIRST.match(text) is not None


def _commands(body: list[tuple[int, str]]) -> tuple[Command, ...]:
    """Split a block at its ``$ `` lines; output ends at the next one, or at ``...``."""
    commands: list[Command] = []
    current: tuple[int, str] | None = None
    output: list[str] = []
    cut = continued = False

    def close() -> None:
        if current is not None and current[1]:
            while output and not output[-1]:
                output.pop()
            commands.append(Command(current[0], current[1], tuple(output), cut))

    for number, raw in body:
        text = raw.rstrip()
        if continued and current is not None:  # "$ kubectl apply \" and the rest of it
            current = (current[0], f"{current[1][:-1].rstrip()} {text.strip()}".strip())
            continued = current[1].endswith("\\")
            continue
        dollar = _DOLLAR.match(text)
        if dollar:
            close()
            current, output, cut = (number, (dollar["command"] or "").strip()), [], False
            continued = current[1].endswith("\\")
        elif current is not None and not cut:
            if text.strip() in _CUT:
                cut = True
            else:
                output.append(text)
    close()
    return tuple(commands)


def _block(fence_line: int, language: str, body: list[tuple[int, str]]) -> Block | None:
    """A command block, an interactive block, or None (a manifest, a screen without a command)."""
    content = [(number, text.rstrip()) for number, text in body if text.strip()]
    if not content:
        return None
    first_line, first = content[0]
    if _DOLLAR.match(first) is None:
        if _other_prompt(first, language, first=True):
            return Block(fence_line, language, (), first, first_line)
        return None
    if any(_DOLLAR.match(text) is None and _other_prompt(text, language, first=False) for _, text in content[1:]):
        # The command opens a session (a shell in a container, a client program).
        return Block(fence_line, language, _commands(body), first, first_line)
    return Block(fence_line, language, _commands(body))


def path_refs(command: str) -> list[tuple[str, str]]:
    """The ``-f``/``-k`` paths of the kubectl commands in a command line (pipes and ``&&``
    included), as (flag, path). Stdin (``-f -``) and URLs are not paths in the course
    folder; ``kubectl logs -f`` is ``--follow``."""
    found: list[tuple[str, str]] = []
    for part in re.split(r"\|\||&&|[|;]", command):
        try:
            words = shlex.split(part)
        except ValueError:
            words = part.split()
        if "kubectl" not in words:
            continue
        words = words[words.index("kubectl") + 1 :]
        subcommand = next((word for word in words if not word.startswith("-")), "")
        if subcommand == "logs":
            continue
        for k, word in enumerate(words):
            flag, value = word, None
            if word in ("-f", "--filename", "-k", "--kustomize"):
                value = words[k + 1] if k + 1 < len(words) else None
            elif word.startswith(("-f=", "-k=", "--filename=", "--kustomize=")):
                flag, _, value = word.partition("=")
            if value and value != "-" and "://" not in value:
                found.append((flag, value))
    return found


def extract(text: str, path: Path, number: int) -> Chapter:
    """Everything :func:`check` needs from the text of chapter ``number``."""
    lines = text.replace("\r\n", "\n").split("\n")
    blocks: list[Block] = []
    inside: set[int] = set()
    for fence_line, language, body in _fenced(lines):
        inside.add(fence_line)
        inside.update(number for number, _ in body)
        inside.add(fence_line + len(body) + 1)
        block = _block(fence_line, language, body)
        if block is not None:
            blocks.append(block)
    bullets: list[Mention] = []
    refs: list[PathRef] = []
    for k, line in enumerate(lines, 1):
        if k in inside:
            continue
        bullet = _BULLET.match(line)
        if bullet and _COMMAND_WORD.match(bullet["code"].strip()):
            bullets.append(Mention(k, bullet["code"].strip()))
        for span in _CODE_SPAN.finditer(line):
            refs += [PathRef(k, flag, value) for flag, value in path_refs(span["code"])]
    for block in blocks:
        for command in block.commands:
            refs += [PathRef(command.line, flag, value) for flag, value in path_refs(command.text)]
    unique = sorted(set(refs), key=lambda ref: (ref.line, ref.flag, ref.path))
    return Chapter(path, number, tuple(blocks), tuple(bullets), tuple(unique))


# --- pairing and comparing ---------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    """A place of the lesson a chapter command may be compared with."""

    step: int | None
    step_line: int | None
    kind: str
    entry: Entry | None  # the golden entry, normalized (None: the step has no golden)
    entry_index: int | None


def _normalized(entry: Entry) -> Entry:
    return norm.normalize(Transcript((entry,)), norm.NO_CONTEXT).entries[0]


def _candidates(lesson: Lesson) -> dict[str, list[_Candidate]]:
    """Normalized command -> the steps (in lesson order) that run it, each with its golden
    entry: the j-th kubectl step with a command goes with the j-th golden entry with it.
    Golden entries no step runs (the ``curl`` of an HTTP probe) are candidates too."""
    golden = parse(lesson.golden).entries if lesson.golden else ()
    entries: dict[str, list[tuple[int, Entry]]] = {}
    for index, item in enumerate(golden, 1):
        entries.setdefault(norm.normalize_command(item.command), []).append((index, item))
    found: dict[str, list[_Candidate]] = {}
    taken: Counter[str] = Counter()
    for index, step in enumerate(lesson.steps, 1):
        key = norm.normalize_command(step.run)
        entry: Entry | None = None
        entry_index: int | None = None
        if step.gives_entry and taken[key] < len(entries.get(key, [])):
            entry_index, raw = entries[key][taken[key]]
            entry = _normalized(raw)
        if step.gives_entry:
            taken[key] += 1
        found.setdefault(key, []).append(_Candidate(index, step.line, step.kind, entry, entry_index))
    for key, listed in entries.items():
        if key not in found:
            found[key] = [_Candidate(None, None, "probe", _normalized(raw), index) for index, raw in listed]
    return found


def _lines(output: str) -> list[str]:
    lines = [line.rstrip() for line in output.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _render(command: str, lines: list[str]) -> str:
    return "".join(f"{line}\n" for line in [f"$ {command}", *lines])


@dataclass(frozen=True)
class _Outcome:
    agrees: bool
    expected: list[str]  # the golden's output lines (only as many as the chapter shows, when cut)
    actual: list[str]


def _compare(command: Command, golden: Entry) -> _Outcome:
    mine = _lines(_normalized(Entry(command.text, "\n".join(command.output))).output)
    theirs = _lines(golden.output)
    if command.cut:
        theirs = theirs[: len(mine)]
    return _Outcome(mine == theirs, theirs, mine)


def _diff(command: str, outcome: _Outcome, golden_label: str, chapter_label: str) -> str:
    # Lay corresponding tables out alike, so the diff shows cells rather than spacing.
    expected, actual = norm.align_tables("\n".join(outcome.expected), "\n".join(outcome.actual))
    lines = difflib.unified_diff(
        [f"$ {command}", *expected.split("\n")],
        [f"$ {command}", *actual.split("\n")],
        golden_label,
        chapter_label,
        lineterm="",
    )
    return "\n".join(lines)


def _finding(command: Command, key: str, candidate: _Candidate, outcome: _Outcome | None,
             labels: tuple[str, str]) -> Finding:
    base = Finding(command.line, command.text, "no-golden", step=candidate.step, step_line=candidate.step_line,
                   kind=candidate.kind, entry=candidate.entry_index, prefix=command.cut)
    if outcome is None:
        return base
    expected, actual = _render(key, outcome.expected), _render(key, outcome.actual)
    if outcome.agrees:
        return replace(base, verdict="agrees", expected=expected, actual=actual)
    return replace(base, verdict="differs", expected=expected, actual=actual, diff=_diff(key, outcome, *labels))


def _pair(chapter: Chapter, lesson: Lesson, command: Command, key: str, options: list[_Candidate],
          occurrence: int) -> Finding:
    if not options:
        return Finding(command.line, command.text, "no-step")
    preferred = options[min(occurrence, len(options) - 1)]
    outcomes = {id(c): _compare(command, c.entry) for c in options if c.entry is not None}
    chosen = preferred
    if not (id(preferred) in outcomes and outcomes[id(preferred)].agrees):
        chosen = next((c for c in options if id(c) in outcomes and outcomes[id(c)].agrees), preferred)
    where = f"{lesson.path}:{chosen.step_line}" if chosen.step_line else str(lesson.path)
    labels = (f"{where} (golden)", f"{chapter.path}:{command.line}")
    return _finding(command, key, chosen, outcomes.get(id(chosen)), labels)


def check(chapter: Chapter, lesson: Lesson | None, exists: Callable[[str], bool]) -> ChapterResult:
    """Compare the chapter with its lesson; ``exists`` says whether a path of the chapter
    (as written, relative to the course folder) is there."""
    missing = tuple(ref for ref in chapter.paths if not exists(ref.path))
    if lesson is None:
        return ChapterResult(chapter, None, missing=missing)
    candidates = _candidates(lesson)
    seen: Counter[str] = Counter()
    findings: list[Finding] = []
    for block in chapter.blocks:
        if block.interactive is not None:
            findings.append(Finding(block.interactive_line, block.interactive, "interactive"))
            continue
        for command in block.commands:
            key = norm.normalize_command(command.text)
            findings.append(_pair(chapter, lesson, command, key, candidates.get(key, []), seen[key]))
            seen[key] += 1
    uncovered = tuple(b for b in chapter.bullets if norm.normalize_command(b.text) not in candidates)
    return ChapterResult(chapter, lesson, tuple(findings), uncovered, missing)
