"""Step-by-step comparison of a transcript with a lesson's golden transcript (pure).

Two ways to line the entries up:

* :func:`compare` — a transcript kubelesson recorded: entry *i* is step *i*. A different
  command, output or exit code is a failing step; entries beyond the golden are ``extra``,
  golden steps beyond the transcript are ``missing``.
* :func:`compare_session` — a learner's own pasted terminal session: each lesson step is
  looked for by its command (see :func:`session_key`), in order, skipping whatever else the
  learner typed in between. Re-runs of a step count as retries: the step passes when any
  of them shows the expected output (typically ``kubectl get pods`` run again until the pod
  is Running). Exit codes are not compared (a pasted terminal does not show them), a
  trailing ``^C`` line is ignored, and a lesson step that is not a kubectl command (the
  ``curl`` probe that stands for opening the page in a browser) is only checked when the
  learner ran it. A command put in the background (``kubectl port-forward ... &``) is the
  same step; the shell's job lines (``[1] 4242``) are not its output, and what it printed
  where the shell drew the next prompt is. A kubectl command that is no step of the lesson
  (``kubectl describe pod caddy`` while looking around) is reported ``extra``, numbered
  after the lesson's steps; it does not fail the session.

Each failing step carries a ``reason`` code that the report layer turns into a hint:
``command-differs``, ``exit-differs``, ``still-starting`` (only Pending/ContainerCreating
where the lesson shows Running: run it again in a few seconds), ``status-differs``,
``output-differs``, ``missing``, ``extra``.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass
from typing import Literal

from kubelesson import normalize as norm
from kubelesson.transcript import Entry, Transcript, render

__all__ = [
    "Comparison",
    "StepResult",
    "Verdict",
    "compare",
    "compare_session",
    "session_key",
]

Verdict = Literal["pass", "fail", "missing", "extra"]

# What a pod shows on its way to Running; a step that expects Running but saw only these
# is probably a learner (or a slow cluster) that looked too early.
STARTING = frozenset({"Pending", "ContainerCreating", "PodInitializing"})


@dataclass(frozen=True)
class StepResult:
    index: int  # 1-based: the golden step (or, for "extra", the position in the transcript)
    command: str  # the golden step's command (for "extra": the command that was run)
    verdict: Verdict
    expected: str = ""  # the golden step, normalized, as transcript text ($ cmd, output, [exit N])
    actual: str = ""  # the step as run, normalized, same form
    raw_actual: str = ""  # the step as run, before normalization
    diff: str = ""  # unified diff expected -> actual, for a failing step
    reason: str | None = None  # why it failed (a code, see the module docstring)


@dataclass(frozen=True)
class Comparison:
    steps: tuple[StepResult, ...]
    passed: bool
    session: bool = False  # a learner's session: its extra commands do not fail it

    @property
    def counts(self) -> dict[str, int]:
        """How many steps have each verdict (every verdict present, 0 when none)."""
        found = Counter(step.verdict for step in self.steps)
        return {verdict: found.get(verdict, 0) for verdict in ("pass", "fail", "missing", "extra")}

    @property
    def failed(self) -> tuple[StepResult, ...]:
        return tuple(step for step in self.steps if step.verdict != "pass")


def _text(entry: Entry | None) -> str:
    return "" if entry is None else render(Transcript((entry,)))


def _diff(expected: str, actual: str) -> str:
    lines = difflib.unified_diff(expected.splitlines(), actual.splitlines(), "expected", "actual", lineterm="")
    return "\n".join(lines)


def _is_starting(output: str) -> bool:
    """Does every pod row of the output show a pod that is not up yet?"""
    statuses = norm.column_values(output, "STATUS")
    readies = norm.column_values(output, "READY")
    if not statuses:
        return False
    for k, status in enumerate(statuses):
        if status in STARTING or status.startswith("Init:"):
            continue
        ready = readies[k] if k < len(readies) else ""
        up, _, total = ready.partition("/")
        if status == "Running" and up != total:
            continue  # running, not ready yet
        return False
    return True


def _reason(golden: Entry, actual: Entry, *, exit_codes: bool = True) -> str:
    if golden.command != actual.command:
        return "command-differs"
    if exit_codes and golden.exit_code != actual.exit_code:
        return "exit-differs"
    if _is_starting(actual.output) and not _is_starting(golden.output):
        return "still-starting"
    expected_status = norm.column_values(golden.output, "STATUS")
    if expected_status and expected_status != norm.column_values(actual.output, "STATUS"):
        return "status-differs"
    return "output-differs"


def _result(index: int, golden: Entry, actual: Entry, raw: Entry, *, exit_codes: bool = True) -> StepResult:
    same = golden.command == actual.command and golden.output == actual.output
    if same and (golden.exit_code == actual.exit_code or not exit_codes):
        return StepResult(index, golden.command, "pass", _text(golden), _text(actual), _text(raw))
    if not exit_codes:
        actual = Entry(actual.command, actual.output, golden.exit_code)  # not shown: not compared
    # The diff lays both tables out alike, so it shows the cells that differ, not the spacing.
    expected_output, actual_output = norm.align_tables(golden.output, actual.output)
    diff = _diff(
        _text(Entry(golden.command, expected_output, golden.exit_code)),
        _text(Entry(actual.command, actual_output, actual.exit_code)),
    )
    return StepResult(
        index,
        golden.command,
        "fail",
        _text(golden),
        _text(actual),
        _text(raw),
        diff,
        _reason(golden, actual, exit_codes=exit_codes),
    )


def _missing(index: int, golden: Entry) -> StepResult:
    text = _text(golden)
    return StepResult(index, golden.command, "missing", text, "", "", _diff(text, ""), "missing")


def compare(golden: Transcript, actual: Transcript, ctx: norm.Context = norm.NO_CONTEXT) -> Comparison:
    """Compare a recorded transcript with the golden, entry by entry in order."""
    # The golden is normalized already; normalizing again is a no-op for a recorded golden
    # and gives a hand-edited one (other column spacing) its canonical form.
    expected = norm.normalize(golden).entries
    raw = actual.entries
    got = norm.normalize(actual, ctx).entries
    steps: list[StepResult] = []
    for k in range(max(len(expected), len(got))):
        if k >= len(got):
            steps.append(_missing(k + 1, expected[k]))
        elif k >= len(expected):
            text = _text(got[k])
            steps.append(
                StepResult(
                    k + 1,
                    got[k].command,
                    "extra",
                    "",
                    text,
                    _text(raw[k]),
                    _diff("", text),
                    "extra",
                )
            )
        else:
            steps.append(_result(k + 1, expected[k], got[k], raw[k]))
    return Comparison(tuple(steps), all(step.verdict == "pass" for step in steps))


# --- a learner's session -------------------------------------------------------------------

_PATH_DOT = re.compile(r"(?<=\s)\./(?=\S)")


def session_key(command: str) -> str:
    """How a learner's command is matched with a lesson step's (both normalized first).

    Deliberately simple: the alias ``k`` counts as ``kubectl`` and ``./x`` as ``x``; any other
    difference (``get po`` vs ``get pods``, other flags) makes a different command.
    """
    if command.startswith("k "):
        command = "kubectl " + command[2:]
    return _PATH_DOT.sub("", command)


def _is_probe(entry: Entry) -> bool:
    """A lesson step a learner does another way (opening the page in a browser)."""
    return not entry.command.startswith("kubectl ")


# Job control: "[1] 4242" when a command goes to the background, "[1]+  Done  ..." (bash)
# or "[1]  + 4242 terminated  ..." (zsh) when it ends.
_JOB = re.compile(
    r"\[\d+\][ \t]*[-+]?[ \t]+(?:\d+\b.*|(?:Done|Exit \d+|Terminated|Killed|Stopped|Running|Hangup|Interrupt)\b.*)"
)
# What a backgrounded port-forward prints; it may land where the shell drew a prompt.
_BACKGROUND_OUTPUT = re.compile(r"(?:Forwarding from |Handling connection for )")


def _background(command: str) -> str | None:
    """``command`` without a trailing ``&`` if it was put in the background, else None."""
    if command.endswith("&") and not command.endswith("&&"):
        return command[:-1].rstrip()
    return None


def _foreground(entries: tuple[Entry, ...]) -> tuple[Entry, ...]:
    """The session with each backgrounded command as if it had run in the foreground."""
    if not any(_background(entry.command) for entry in entries):
        return entries
    out: list[Entry] = []
    running: int | None = None  # position in ``out`` of the command in the background
    for entry in entries:
        if running is not None and _BACKGROUND_OUTPUT.match(entry.command):
            # Printed where the shell had just drawn a prompt: that command's output.
            before = out[running]
            lines = [line for line in (before.output, entry.command, entry.output) if line]
            out[running] = Entry(before.command, "\n".join(lines), before.exit_code)
            continue
        lines = [line for line in entry.output.split("\n") if not _JOB.fullmatch(line.strip())]
        if running is not None:
            moved = [line for line in lines if _BACKGROUND_OUTPUT.match(line)]
            if moved:
                before = out[running]
                out[running] = Entry(before.command, "\n".join([before.output, *moved]).strip("\n"), before.exit_code)
                lines = [line for line in lines if not _BACKGROUND_OUTPUT.match(line)]
        command = _background(entry.command)
        if command is not None:
            running = len(out)
        out.append(Entry(command or entry.command, "\n".join(lines), entry.exit_code))
    return tuple(out)


def _without_interrupt(entry: Entry) -> Entry:
    lines = entry.output.split("\n")
    # zsh marks an output cut short without a newline with "%": "^C%" is the same Ctrl-C.
    while lines and lines[-1].strip() in ("^C", "^C%", ""):
        lines.pop()
    return Entry(entry.command, "\n".join(lines), entry.exit_code)


def _window(keys: list[str], start: int, key: str, following: str | None, later: set[str]) -> list[int]:
    """The session entries that are attempts at one step: its command from ``start`` on, up
    to where a later step of the lesson (with another command) begins. When the next step's
    command comes before any attempt, the learner skipped this step: no attempts."""
    attempts: list[int] = []
    for k in range(start, len(keys)):
        if keys[k] == key:
            attempts.append(k)
        elif keys[k] in later if attempts else keys[k] == following:
            break
    return attempts


def compare_session(golden: Transcript, session: Transcript, ctx: norm.Context = norm.NO_CONTEXT) -> Comparison:
    """Compare a learner's terminal session with the golden, aligning steps by command."""
    expected = norm.normalize(golden).entries
    raw = tuple(_without_interrupt(entry) for entry in _foreground(session.entries))
    got = norm.normalize(Transcript(raw), ctx).entries
    keys = [session_key(entry.command) for entry in got]
    golden_keys = [session_key(entry.command) for entry in expected]
    # Where each result sits in the session, so extra commands show where they were typed.
    placed: list[tuple[float, StepResult]] = []
    used: set[int] = set()
    cursor = 0
    for j, step in enumerate(expected):
        key = golden_keys[j]
        later = set(golden_keys[j + 1 :]) - {key}
        following = golden_keys[j + 1] if j + 1 < len(golden_keys) else None
        attempts = _window(keys, cursor, key, following if following != key else None, later)
        # A later step with the same command (get pods before and after a delete) must keep
        # its own attempt: when the very next step repeats this command, take one attempt.
        if j + 1 < len(expected) and golden_keys[j + 1] == key:
            attempts = attempts[:1]
        if not attempts:
            if not _is_probe(step):
                placed.append((cursor - 0.5, _missing(j + 1, step)))
            continue
        cursor = attempts[-1] + 1
        used.update(attempts)
        chosen = next((k for k in attempts if got[k].output == step.output), attempts[-1])
        # The learner typed the command their way; the lesson's spelling is the one shown.
        actual = Entry(step.command, got[chosen].output, got[chosen].exit_code)
        placed.append((attempts[-1], _result(j + 1, step, actual, raw[chosen], exit_codes=False)))
    placed += _session_extras(got, raw, keys, set(golden_keys) | {keys[k] for k in used}, len(expected))
    steps = tuple(result for _, result in sorted(placed, key=lambda item: item[0]))
    passed = all(step.verdict == "pass" for step in steps if step.verdict != "extra")
    return Comparison(steps, passed, session=True)


def _session_extras(got: tuple[Entry, ...], raw: tuple[Entry, ...], keys: list[str], lesson_keys: set[str],
                    count: int) -> list[tuple[float, StepResult]]:
    """The kubectl commands of a session that are no step of the lesson (retries of a step
    and commands that are not kubectl, an ``ls`` or a typo, are neither)."""
    extras: list[tuple[float, StepResult]] = []
    for k, key in enumerate(keys):
        if key.startswith("kubectl ") and key not in lesson_keys:
            text = _text(got[k])
            index = count + len(extras) + 1
            extras.append((k, StepResult(index, got[k].command, "extra", "", text, _text(raw[k]), _diff("", text),
                                         "extra")))
    return extras
