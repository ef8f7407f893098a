"""Everything a user reads: the step-by-step report (ja/en), progress, JSON and JUnit.

The report is built from a :class:`~kubelesson.compare.Comparison` and, when the lesson
was run here, the runner's records (waits, probes, ports, timings). Colour and the live
progress line appear only on a terminal and never with ``NO_COLOR``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import IO, Any, Literal

import click

from kubelesson import hints, redact
from kubelesson.chapters import ChapterResult, DocsResult, Finding
from kubelesson.compare import Comparison, StepResult
from kubelesson.lesson import Lesson, Step, Wait
from kubelesson.messages import say
from kubelesson.runner import AsideOutcome, RunResult, StepRecord
from kubelesson.sandbox import Target

JSON_SCHEMA = "kubelesson.report/v1"
ReportVerdict = Literal["pass", "fail", "missing", "extra", "skipped", "own"]
MARKS = {"pass": "✓", "fail": "✗", "missing": "✗", "extra": "·", "skipped": "-", "own": "–"}
FAILING = ("fail", "missing", "skipped")
COLOURS = {"pass": "green", "fail": "red", "missing": "red", "extra": "yellow", "skipped": "yellow", "own": "cyan"}


def use_colour(stream: IO[str]) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


@dataclass(frozen=True)
class StepView:
    """One line of the report: a compared transcript entry with what the runner saw."""

    result: StepResult
    record: StepRecord | None
    hint: hints.Hint | None
    notes: tuple[str, ...] = ()
    skipped: bool = False  # not run because an earlier wait failed (compare saw it missing)
    aside: AsideOutcome | None = None  # a yourself/host step: no transcript entry, no golden

    @property
    def verdict(self) -> ReportVerdict:
        if self.aside is not None:
            return ("pass" if self.aside.ok else "fail") if self.aside.ran else "own"
        return "skipped" if self.skipped else self.result.verdict

    @property
    def seconds(self) -> float:
        return self.record.seconds if self.record else 0.0


@dataclass(frozen=True)
class Report:
    lesson: Lesson
    comparison: Comparison
    steps: tuple[StepView, ...]
    run: RunResult | None = None

    @property
    def passed(self) -> bool:
        return self.comparison.passed and not (self.run and (self.run.skipped or self.run.looks_failed
                                                             or self.run.checks_failed))

    @property
    def failed_count(self) -> int:
        """Steps that differ or are missing, and extra entries of a recorded run (a learner's
        session may hold extra commands); steps not run after a failed wait are apart."""
        extra_fails = not self.comparison.session
        return sum(1 for view in self.steps
                   if view.verdict in ("fail", "missing") or (extra_fails and view.verdict == "extra"))

    @property
    def skipped_count(self) -> int:
        return sum(1 for view in self.steps if view.verdict == "skipped")

    @property
    def total(self) -> int:
        """The lesson's steps that are checked: not extra commands, not the learner's own."""
        return sum(1 for view in self.steps if view.verdict not in ("extra", "own"))

    @property
    def seconds(self) -> float:
        return self.run.seconds if self.run else 0.0


def _records_by_entry(run: RunResult | None) -> list[StepRecord]:
    """The runner record behind each actual transcript entry (a probe shares its step's)."""
    if run is None:
        return []
    return [record for record in run.records for _ in record.entries]


def _notes(record: StepRecord | None, lang: str, first_entry: bool) -> tuple[str, ...]:
    if record is None or not first_entry:
        return ()
    notes = []
    if record.wait:
        what = f"{record.wait.wait.condition} {record.wait.wait.target}"
        if record.wait.ok:
            notes.append(say(lang, "report.waited", seconds=record.wait.seconds, what=what))
        else:
            notes.append(
                say(
                    lang,
                    "report.wait_failed",
                    seconds=record.wait.seconds,
                    what=what,
                    status=record.wait.last_status or record.wait.message,
                )
            )
    if record.port:
        key = "report.host_port" if record.step.kind == "probe" else "report.port_moved"
        notes.append(say(lang, key, wanted=record.port[0], used=record.port[1]))
    for check in record.checks:
        notes.append(f"{MARKS['pass' if check.ok else 'fail']} " + say(lang, f"check.{check.key}", **check.params))
    return tuple(notes)


_WRITES = ("CREATE", "INSERT", "UPDATE", "DELETE", "REPLACE", "DROP", "ALTER")


def _read_back(session: str, lang: str) -> tuple[str, ...]:
    """What a passing MySQL session's queries returned ("SELECT * FROM test; gave 3 rows in
    set"). Rows found by a session that wrote nothing were kept from an earlier one: after
    the Pod was re-created, that is lesson 7's point, so the report says it in words."""
    statements = [line[len("mysql> "):] for line in session.split("\n") if line.startswith("mysql> ")]
    wrote = any(s.lstrip().upper().startswith(_WRITES) for s in statements)
    notes: list[str] = []
    statement = ""
    for line in session.split("\n"):
        if line.startswith("mysql> "):
            statement = line[len("mysql> "):]
        elif statement and (line == "Empty set" or line.endswith((" row in set", " rows in set"))):
            key = "report.mysql_read" if wrote or line == "Empty set" else "report.mysql_kept"
            notes.append(say(lang, key, statement=statement, answer=line))
    return tuple(notes)


def build(lesson: Lesson, comparison: Comparison, run: RunResult | None, lang: str) -> Report:
    records = _records_by_entry(run)
    views: list[StepView] = []
    position = 0
    seen: set[int] = set()
    for result in comparison.steps:
        record = None
        if result.verdict != "missing" and position < len(records):
            record = records[position]
            position += 1
        first = record is not None and id(record) not in seen
        notes = _notes(record, lang, first)
        if record is not None:
            seen.add(id(record))
        if first and record is not None and any(not check.ok for check in record.checks):
            # The output may match the golden, but the rollout it started broke a rule.
            result = replace(result, verdict="fail", reason="invariant")
        if record and record.probe and not record.probe.ok and record.probe.probe.send:
            key = "report.mysql_failed" if record.probe.probe.mysql else "report.redis_failed"
            notes += (say(lang, key, address=record.probe.url, detail=record.probe.detail),)
        elif record and record.probe and record.probe.probe.mysql and not first and result.verdict == "pass":
            notes += _read_back(record.probe.session, lang)
        elif record and record.probe and not record.probe.ok and result.command.startswith("curl"):
            notes += (
                say(
                    lang,
                    "report.post_failed" if record.probe.probe.data is not None else "report.probe_failed",
                    url=record.probe.url,
                    expect=record.probe.probe.expect,
                    detail=record.probe.detail,
                ),
            )
        hint = None
        skipped = result.verdict == "missing" and run is not None and bool(run.skipped)
        if skipped:
            # Not the learner's omission: the run stopped after a failed wait.
            notes += (say(lang, "report.skipped"),)
        elif result.verdict == "missing" and views and views[-1].verdict == "missing":
            # One hint for a run of missing steps is enough; the rest would repeat it.
            pass
        elif result.reason == "invariant" and record is not None:
            hint = hints.for_checks(record)
        elif result.verdict in ("fail", "missing"):
            hint = hints.for_step(result.command, result.raw_actual, record, result.reason)
            if result.verdict == "missing" and _all_missing_after(comparison.steps, result.index):
                notes += (say(lang, "report.more_missing"),)
        elif result.verdict == "extra":
            # No step of the lesson, but maybe one of its traps (lesson 8: apply -f on the
            # kustomize folder): then say what went wrong there.
            hint = hints.for_extra(result.command, result.raw_actual)
        if hint and hint.kind == "other_cluster":
            found = hints.course_nodes_missing(result.command, result.raw_actual.partition("\n")[2]) or []
            notes += (say(lang, "report.other_cluster", nodes=", ".join(found)),)
        views.append(StepView(result, record, hint, notes, skipped))
    return Report(lesson, comparison, _with_asides(views, run, lang), run)


def _aside_view(record: StepRecord, lang: str) -> StepView:
    """The report line of a step that gives no transcript entry."""
    aside = record.aside
    assert aside is not None
    step = record.step
    if step.kind == "yourself":
        note = say(lang, "report.own_step")
    elif not aside.ran:
        why = say(lang, f"look.{aside.why}", detail=aside.detail, context=step.context, program=step.needs)
        note = say(lang, "report.look_skipped", why=why)
    elif aside.ok:
        note = say(lang, "report.look_ok", count=len(step.expect))
    else:
        note = say(lang, "report.look_failed", missing=aside.detail)
    hint = hints.Hint("look_failed", step.run) if aside.ran and not aside.ok else None
    result = StepResult(record.index, step.run, "pass" if aside.ok else "fail")
    return StepView(result, record, hint, (note,), aside=aside)


def _with_asides(views: list[StepView], run: RunResult | None, lang: str) -> tuple[StepView, ...]:
    """The compared views with the yourself/host steps put back where the lesson has them:
    before the view of the first entry recorded after them."""
    if run is None:
        return tuple(views)
    out: list[StepView] = []
    position = 0
    for record in run.records:
        if record.aside is not None:
            out.append(_aside_view(record, lang))
            continue
        take = len(record.entries)
        out += views[position : position + take]
        position += take
    return tuple(out + views[position:])


def _all_missing_after(steps: Sequence[StepResult], index: int) -> bool:
    later = [step for step in steps if step.index > index and step.verdict != "extra"]
    return bool(later) and all(step.verdict == "missing" for step in later)


# --- human -----------------------------------------------------------------------------


def _indent(text: str, prefix: str = "      ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def _step_lines(view: StepView, lang: str, colour: bool) -> list[str]:
    verdict = view.verdict
    mark = click.style(MARKS[verdict], fg=COLOURS[verdict]) if colour else MARKS[verdict]
    lines = [f"  {mark} {view.result.command}"]
    lines += [f"      {note}" for note in view.notes]
    if verdict == "missing":
        lines.append(f"      {say(lang, 'report.missing')}")
    elif verdict == "extra":
        lines.append(f"      {say(lang, 'report.extra')}")
    # Another cluster's nodes differ in every row: the note and the hint say it in one line.
    other_cluster = view.hint is not None and view.hint.kind == "other_cluster"
    if verdict == "fail" and view.result.diff and not other_cluster:
        lines.append(_indent(diff_in(lang, view.result.diff.rstrip("\n"))))
    if view.hint:
        lines.append(f"      {say(lang, 'report.hint')}: {say(lang, 'hint.' + view.hint.kind)}")
        lines.append(f"      {say(lang, 'report.try')}: {view.hint.try_command}")
    return lines


_DIFF_LABELS = "--- expected\n+++ actual"


def diff_in(lang: str, diff: str) -> str:
    """A step's unified diff with its two labels in the report's language."""
    if not diff.startswith(_DIFF_LABELS):
        return diff
    labels = f"--- {say(lang, 'report.diff_expected')}\n+++ {say(lang, 'report.diff_actual')}"
    return labels + diff[len(_DIFF_LABELS) :]


def target_line(target: Target, lang: str) -> str:
    """Which cluster a run used, shown before anything runs (never credentials)."""
    namespace = target.namespace
    if target.created:
        namespace = say(lang, "report.sandbox_namespace", namespace=namespace)
    server = redact.url(target.server)
    return redact.text(say(lang, "report.target", context=target.context, server=server, namespace=namespace))


def header_lines(lesson: Lesson, lang: str, target: Target | None = None) -> list[str]:
    lines = [say(lang, "report.lesson", number=lesson.number, title=lesson.title_in(lang))]
    if target is not None:
        lines.append(target_line(target, lang))
    return lines


def plan(lesson: Lesson) -> list[tuple[int, Step, str]]:
    """The lines ``check`` reports for a lesson, numbered as it numbers them: each step with
    its command, and after a background step with a probe, the probe as the command a learner
    would type to look at the same page (the runner's transcript entry for it)."""
    lines: list[tuple[int, Step, str]] = []
    for step in lesson.steps:
        lines.append((len(lines) + 1, step, step.run))
        if step.background and step.probe:
            lines.append((len(lines) + 1, step, step.probe.shell_command()))
    return lines


def human(report: Report, lang: str, *, colour: bool = False, with_header: bool = True) -> str:
    target = report.run.target if report.run else None
    lines = header_lines(report.lesson, lang, target) if with_header else []
    for view in report.steps:
        lines += _step_lines(view, lang, colour)
    total = report.total  # the learner's own steps and extra commands are not checked
    if report.run is None:
        lines.append(session_summary(report, lang))
    if report.passed:
        # A transcript compared without running it (`diff`) has no duration to show.
        key = "report.pass" if report.run else "report.pass_saved"
        summary = say(lang, key, total=total, seconds=report.seconds)
        lines.append(click.style(summary, fg="green", bold=True) if colour else summary)
    else:
        key = "report.fail" if report.run else "report.fail_saved"
        if report.skipped_count:
            key = "report.fail_skipped"  # not run is not "differs": counted apart
        summary = say(lang, key, failed=report.failed_count, total=total, skipped=report.skipped_count,
                      seconds=report.seconds)
        lines.append(click.style(summary, fg="red", bold=True) if colour else summary)
    return redact.text("\n".join(lines))


def session_summary(report: Report, lang: str) -> str:
    """For a transcript compared without running (``diff``): what was done, what is not."""
    counts = {"pass": 0, "fail": 0, "missing": 0}
    for view in report.steps:
        if view.verdict in counts:
            counts[view.verdict] += 1
    return say(
        lang,
        "report.session_summary",
        done=counts["pass"],
        differ=counts["fail"],
        missing=counts["missing"],
        total=sum(counts.values()),
    )


def overall_summary(reports: Sequence[Report], lang: str, *, colour: bool = False) -> str:
    """The one closing line of ``check --all``: how many lessons passed, which did not."""
    failed = [report for report in reports if not report.passed]
    if failed:
        lessons = ", ".join(str(report.lesson.number) for report in failed)
        line = say(lang, "report.all_fail", failed=len(failed), total=len(reports), lessons=lessons)
    else:
        line = say(lang, "report.all_pass", total=len(reports))
    return click.style(line, fg="red" if failed else "green", bold=True) if colour else line


# --- machine-readable ------------------------------------------------------------------


def as_dict(report: Report, lang: str) -> dict[str, Any]:
    target = report.run.target if report.run else None
    return {
        "schema": JSON_SCHEMA,
        "lesson": report.lesson.number,
        "title": report.lesson.title_in(lang),
        "passed": report.passed,
        "context": target.context if target else None,
        "server": redact.url(target.server) if target else None,
        "namespace": target.namespace if target else None,
        "duration": round(report.seconds, 3),
        "steps": [_step_dict(view, lang) for view in report.steps],
        "summary": {
            "total": report.total,
            "failed": report.failed_count,
            "skipped": report.skipped_count,
            "extra": sum(1 for view in report.steps if view.verdict == "extra"),
        },
    }


def _step_dict(view: StepView, lang: str) -> dict[str, Any]:
    result = view.result
    return {
        # A transcript entry's number; the learner's own steps and looks have no entry.
        "index": None if view.aside is not None else result.index,
        "command": result.command,
        "kind": view.record.step.kind if view.record else "kubectl",
        "verdict": view.verdict,
        "reason": result.reason,
        "expected": result.expected,
        "actual": result.actual,
        "raw_actual": result.raw_actual,
        "diff": result.diff,
        "duration": round(view.seconds, 3),
        "notes": list(view.notes),
        "hint": {
            "kind": view.hint.kind,
            "text": say(lang, "hint." + view.hint.kind),
            "try": view.hint.try_command,
        }
        if view.hint
        else None,
    }


def as_json(reports: Sequence[Report], lang: str, *, wrapped: bool = False) -> str:
    """One lesson's object, or with ``wrapped`` (``check --all``, whatever the number of
    lessons) the object that lists them: the shape never depends on the count."""
    body: dict[str, Any]
    if len(reports) == 1 and not wrapped:
        body = as_dict(reports[0], lang)
    else:
        body = {
            "schema": JSON_SCHEMA,
            "passed": all(r.passed for r in reports),
            "lessons": [as_dict(r, lang) for r in reports],
        }
    return json.dumps(redact.data(body), ensure_ascii=False, indent=2)


def as_junit(reports: Sequence[Report], lang: str) -> str:
    suites = ET.Element("testsuites", name="kubelesson")
    for report in reports:
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=f"lesson {report.lesson.number}",
            tests=str(len(report.steps)),
            failures=str(report.failed_count),
            skipped=str(sum(1 for view in report.steps if view.verdict in ("skipped", "own"))),
            time=f"{report.seconds:.3f}",
        )
        for position, view in enumerate(report.steps, 1):  # names must be unique in a suite
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"lesson{report.lesson.number}",
                name=f"{position}: {view.result.command}",
                time=f"{view.seconds:.3f}",
            )
            verdict = view.verdict
            if verdict in ("skipped", "own"):
                # Not run: an earlier wait failed (that step carries the failure), or the
                # step is the learner's own.
                ET.SubElement(case, "skipped", message=view.notes[-1] if view.notes else say(lang, "report.skipped"))
            elif verdict in FAILING or (verdict == "extra" and not report.comparison.session):
                if view.hint:
                    message = say(lang, "hint." + view.hint.kind)
                elif verdict in ("missing", "extra"):
                    message = say(lang, f"report.{verdict}")
                else:
                    message = "; ".join(view.notes) or verdict
                failure = ET.SubElement(case, "failure", message=message)
                failure.text = diff_in(lang, view.result.diff) or "\n".join(view.notes) or message
    ET.indent(suites)
    _redact_tree(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _redact_tree(element: ET.Element) -> None:
    """Every attribute and text of a JUnit tree through :func:`kubelesson.redact.text`."""
    for node in element.iter():
        node.attrib = {key: redact.text(value) for key, value in node.attrib.items()}
        if node.text:
            node.text = redact.text(node.text)


# --- kubelesson docs: the chapters against the goldens --------------------------------------

DOCS_SCHEMA = "kubelesson.docs/v1"
# Mark and colour of each kind of line; only "differs" and a missing path count as drift.
DOCS_MARKS = {"agrees": ("✓", "green"), "differs": ("✗", "red"), "no-step": ("?", "yellow"),
              "no-golden": ("–", "cyan"), "interactive": ("·", "cyan"), "uncovered": ("?", "yellow"),
              "missing-path": ("✗", "red"), "missing-path-no-lesson": ("–", "cyan")}


def _docs_notes(finding: Finding, lesson: Lesson, lang: str) -> list[str]:
    where = f"{lesson.path}:{finding.step_line}" if finding.step_line else str(lesson.path)
    if finding.verdict == "interactive":
        return [say(lang, "docs.interactive")]
    if finding.verdict == "no-step":
        return [say(lang, "docs.no_step", number=lesson.number)]
    if finding.verdict == "no-golden":
        key = {"kubectl": "docs.no_golden", "host": "docs.look_step"}.get(finding.kind or "", "docs.own_step")
        return [say(lang, key, step=finding.step, where=where)]
    key = f"docs.{finding.verdict}" if finding.step else f"docs.{finding.verdict}_entry"
    notes = [say(lang, key, step=finding.step, entry=finding.entry, where=where)]
    if finding.verdict == "differs":
        notes += finding.diff.splitlines()
    if finding.prefix:
        notes.append(say(lang, "docs.prefix"))
    return notes


def _docs_lines(result: ChapterResult, root: str, lang: str) -> list[tuple[int, str, str, list[str]]]:
    """A chapter's report lines in the chapter's order: (line, kind of mark, what, notes)."""
    lesson = result.lesson
    items: list[tuple[int, str, str, list[str]]] = []
    if lesson is not None:
        items += [(f.line, f.verdict, f.command, _docs_notes(f, lesson, lang)) for f in result.findings]
        items += [(b.line, "uncovered", b.text, [say(lang, "docs.uncovered", number=lesson.number)])
                  for b in result.uncovered]
    kind, key = ("missing-path", "docs.missing_path") if lesson else ("missing-path-no-lesson",
                                                                        "docs.missing_path_no_lesson")
    items += [(ref.line, kind, f"{ref.flag} {ref.path}", [say(lang, key, root=root)]) for ref in result.missing]
    return sorted(items, key=lambda item: item[0])


def docs_human(docs: DocsResult, lang: str, *, colour: bool = False) -> str:
    lines: list[str] = []
    for result in docs.chapters:
        chapter, lesson = result.chapter, result.lesson
        if lesson is None:
            lines.append(say(lang, "docs.no_lesson", number=chapter.number, file=chapter.path,
                             folder=docs.root / "transcripts"))
        else:
            lines.append(say(lang, "docs.chapter", number=chapter.number, file=chapter.path,
                             title=lesson.title_in(lang)))
        for line, kind, what, notes in _docs_lines(result, str(docs.root), lang):
            mark, fg = DOCS_MARKS[kind]
            lines.append(f"  {click.style(mark, fg=fg) if colour else mark} {chapter.path}:{line}  {what}")
            lines += [f"      {note}" for note in notes]
    counts = _docs_counts(docs)
    if docs.passed:
        summary = say(lang, "docs.pass", agrees=counts["agrees"], chapters=len(docs.chapters),
                      uncompared=counts["no_golden"] + counts["interactive"] + counts["no_step"])
    else:
        drifting = ", ".join(str(r.chapter.number) for r in docs.chapters if not r.passed)
        summary = say(lang, "docs.fail", drift=sum(r.drift for r in docs.chapters), chapters=drifting)
    lines.append(click.style(summary, fg="green" if docs.passed else "red", bold=True) if colour else summary)
    return "\n".join(lines)


def _docs_counts(docs: DocsResult) -> dict[str, int]:
    """How many of each verdict (keys with "_" for "-"), bullets not covered, missing paths that count."""
    counts = dict.fromkeys(("agrees", "differs", "no_step", "no_golden", "interactive"), 0)
    for result in docs.chapters:
        for finding in result.findings:
            counts[finding.verdict.replace("-", "_")] += 1
    counts["uncovered"] = sum(len(r.uncovered) for r in docs.chapters)
    counts["missing_paths"] = sum(len(r.missing) for r in docs.chapters if r.lesson is not None)
    return counts


def _docs_finding_dict(finding: Finding) -> dict[str, Any]:
    return {
        "line": finding.line,
        "command": finding.command,
        "verdict": finding.verdict,
        "step": finding.step,
        "step_line": finding.step_line,
        "kind": finding.kind,
        "entry": finding.entry,
        "prefix": finding.prefix,
        "expected": finding.expected,
        "actual": finding.actual,
        "diff": finding.diff,
    }


def docs_json(docs: DocsResult, lang: str) -> str:
    chapters = [
        {
            "file": str(result.chapter.path),
            "chapter": result.chapter.number,
            "lesson": result.lesson.number if result.lesson else None,
            "title": result.lesson.title_in(lang) if result.lesson else None,
            "passed": result.passed,
            "drift": result.drift,
            "blocks": [_docs_finding_dict(finding) for finding in result.findings],
            "uncovered": [{"line": b.line, "command": b.text} for b in result.uncovered],
            "missing_paths": [{"line": r.line, "flag": r.flag, "path": r.path} for r in result.missing],
        }
        for result in docs.chapters
    ]
    body = {"schema": DOCS_SCHEMA, "passed": docs.passed, "root": str(docs.root), "chapters": chapters,
            "summary": _docs_counts(docs)}
    return json.dumps(body, ensure_ascii=False, indent=2)


# --- progress (stderr, terminals only) ---------------------------------------------------


class TerminalProgress:
    """A single self-overwriting status line on a terminal; nothing when piped or in CI.

    With colour allowed, the line is redrawn with ``ESC[K`` and tinted; with ``NO_COLOR``
    (or ``TERM=dumb``) it is still live but drawn with a carriage return and spaces only,
    so not one escape code reaches the terminal.
    """

    def __init__(self, lang: str, stream: IO[str] | None = None) -> None:
        self.lang = lang
        self.stream = stream or sys.stderr
        self.live = _isatty(self.stream) and "CI" not in os.environ
        self.colour = self.live and use_colour(self.stream)
        self._last = 0.0
        self._shown = 0  # width of what is on the line now (to blank it without ESC[K)

    def _show(self, text: str) -> None:
        if not self.live:
            return
        text = _fit(text, max(20, shutil.get_terminal_size().columns - 1))
        if self.colour:
            self.stream.write("\r\033[K" + (click.style(text, fg="cyan") if text else ""))
        else:
            # Overwrite what was there with spaces (by display width: CJK takes two columns).
            blank = " " * max(0, self._shown - _columns(text))
            self.stream.write("\r" + text + (blank + "\r" + text if blank else ""))
        self._shown = _columns(text)
        self.stream.flush()

    def step_started(self, index: int, step: Step) -> None:
        self._last = 0.0
        self._show(say(self.lang, "report.running", command=step.run))

    def waiting(self, wait: Wait, elapsed: float, status: str = "") -> None:
        """Called on every tick of a wait; ``status`` is the object's state when known."""
        now = time.monotonic()
        if now - self._last >= 0.5:
            self._last = now
            what = f"{wait.condition} {wait.target}"
            if status:
                text = say(self.lang, "report.waiting_status", what=what, status=status, seconds=elapsed)
            else:
                text = say(self.lang, "report.waiting", what=what, seconds=elapsed)
            self._show("⏳ " + text)

    def step_finished(self, index: int, record: StepRecord) -> None:
        self._show("")

    def clear(self) -> None:
        """Leave the line blank with the cursor at its start, ready for the report."""
        self._show("")


def _columns(text: str) -> int:
    """How many terminal columns ``text`` takes (wide East Asian characters take two)."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _fit(text: str, width: int) -> str:
    while _columns(text) > width:
        text = text[:-1]
    return text


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or odd stream: not a terminal
        return False
