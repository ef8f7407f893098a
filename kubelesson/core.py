"""The operations behind the commands, free of any command-line concerns.

Each function takes plain values, does one job through the pipeline modules and returns
data; :mod:`kubelesson.cli` turns that into output and an exit code.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from kubelesson import bundle, chapters, compare, kubectl, lesson, locks, normalize, runner, sandbox, transcript
from kubelesson.errors import KubelessonError, SharedInUse, TranscriptFileError
from kubelesson.lesson import Lesson
from kubelesson.runner import Progress, RunResult

OnTarget = Callable[[sandbox.Session], None]


@dataclass(frozen=True)
class Options:
    root: Path = Path(".")
    context: str | None = None
    kubeconfig: str | None = None
    kubectl: str | None = None
    namespace: str | None = None
    timeout: float | None = None
    keep: bool = False


@dataclass(frozen=True)
class Checked:
    lesson: Lesson
    run: RunResult
    comparison: compare.Comparison
    diagnostics: str = ""  # describe and events, gathered in the sandbox when the check failed
    swept: tuple[str, ...] = ()  # sandboxes of killed runs removed on the way

    @property
    def passed(self) -> bool:
        return self.comparison.passed and not (self.run.skipped or self.run.looks_failed or self.run.checks_failed)


def user_kubectl(options: Options) -> kubectl.Kubectl:
    """kubectl as the user has it: their kubeconfig, the course folder as working directory."""
    path = kubectl.locate(options.kubectl)
    config = options.kubeconfig or os.environ.get("KUBECONFIG")
    extra = {"KUBECONFIG": config} if config else {}
    # kubectl's version is checked with the server's, in one call (sandbox.check_reachable).
    return kubectl.Kubectl(path, kubectl.build_env(extra), options.root.resolve())


def lesson_with_golden(root: Path, number: int) -> Lesson:
    found = lesson.load_number(root, number)
    if not found.golden:
        raise KubelessonError("error.no_golden", file=str(found.path), number=number)
    return found


@contextmanager
def _lesson_run(options: Options, found: Lesson, progress: Progress | None,
                on_target: OnTarget | None) -> Iterator[tuple[RunResult, sandbox.Session]]:
    """Run the lesson in its sandbox; the sandbox stays until the caller's block ends, so the
    caller can still ask the cluster about what the lesson left."""
    with sandbox.open_sandbox(user_kubectl(options), lesson=found.number, objects=found.objects,
                              context=options.context, namespace=options.namespace, keep=options.keep) as session, \
            locks.taking_turns(session.target.context + "@" + session.target.server, found.shares):
        _refuse_busy_shares(session, found.shares)
        if on_target:
            on_target(session)
        yield runner.run_lesson(found, session.kubectl, session.target, progress=progress,
                                wait_timeout=options.timeout, cleanup=not session.target.created), session


# Which message a thing held by someone else gets, and what the message names.
_IN_USE = {"hostpath": "error.hostpath_in_use", "host-port": "error.host_port_in_use",
           "ingress-host": "error.ingress_host_in_use"}


def _refuse_busy_shares(session: sandbox.Session, shares: tuple[str, ...]) -> None:
    """What the lesson shares (``shares:``) must not be held by an object outside its run:
    lesson 7's MariaDB cannot lock /data/mariadb while the chapter's own still runs there,
    lesson 5's LoadBalancer stays pending while the chapter's holds port 8080, and traefik
    may route the lesson's requests to the chapter's Ingress for the same host. Each would
    fail only after a long wait, or pass for the wrong reason. Other runs' sandboxes do not
    count (runs that share a thing take turns, and each deletes its sandbox as it ends),
    except those kept with --keep."""
    besides = {session.target.namespace, *sandbox.passing_sandboxes(session.kubectl)} if shares else set()
    for share in shares:
        users = sandbox.share_users(session.kubectl, share, besides=besides)
        if not users:
            continue
        kind, what = share.split(" ", 1)
        node, _, path = what.partition(":")  # hostpath NODE:PATH; a port or host name is `what`
        resource, first = users[0]
        namespace, _, name = first.partition("/")
        raise SharedInUse(_IN_USE[kind], users=", ".join(user for _, user in users), node=node, path=path,
                          port=what, host=what, delete=f"kubectl delete {resource} {name} -n {namespace}")


def run(options: Options, found: Lesson, *, progress: Progress | None = None,
        on_target: OnTarget | None = None) -> RunResult:
    with _lesson_run(options, found, progress, on_target) as (result, _):
        return result


def golden_of(result: RunResult) -> str:
    """The normalized transcript of a run, as stored in the lesson file (no header)."""
    normalized = normalize.normalize(result.transcript, result.context)
    return transcript.render(transcript.Transcript(normalized.entries))


def check(options: Options, number: int, *, progress: Progress | None = None,
          on_target: OnTarget | None = None) -> Checked:
    found = lesson_with_golden(options.root, number)
    golden = transcript.parse(found.golden or "")
    with _lesson_run(options, found, progress, on_target) as (result, session):
        checked = Checked(found, result, compare.compare(golden, result.transcript, result.context),
                          swept=tuple(session.swept_names()))
        if not checked.passed:
            # Still inside the sandbox: what the cluster says about the lesson's objects.
            checked = replace(checked, diagnostics=bundle.diagnostics(session.kubectl, found))
        return checked


def check_all(options: Options, jobs: int) -> list[Checked]:
    """Every lesson, each in its own sandbox, up to ``jobs`` at a time, in lesson order."""
    numbers = list(lesson.discover(options.root, required=True))
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(lambda n: check(options, n), numbers))


def record(options: Options, number: int, *, update: bool = False, progress: Progress | None = None,
           on_target: OnTarget | None = None) -> tuple[Lesson, RunResult, bool]:
    """Run the lesson; with ``update``, store its normalized transcript as the golden.
    Returns whether the golden changed."""
    found = lesson.load_number(options.root, number)
    result = run(options, found, progress=progress, on_target=on_target)
    changed = False
    if update:
        golden = golden_of(result)
        changed = golden != found.golden
        if changed:
            lesson.update_golden(found, golden)
    return found, result, changed


def read_transcript(path: Path | None, stdin_text: str | None = None) -> transcript.Transcript:
    if path is None:
        return transcript.parse(stdin_text or "")
    try:
        return transcript.parse(transcript.decode(path.read_bytes()))
    except OSError as exc:
        raise TranscriptFileError(path=str(path), why=exc.strerror or str(exc)) from None
    except transcript.NotText:
        raise KubelessonError("error.session_not_text", path=str(path)) from None


def diff(root: Path, number: int, path: Path) -> tuple[Lesson, compare.Comparison]:
    """A saved transcript (made by `record`) is compared strictly; anything else is read as a
    learner's own terminal session and aligned command by command."""
    found = lesson_with_golden(root, number)
    golden = transcript.parse(found.golden or "")
    saved = read_transcript(path)
    if dict(saved.header).get("kubelesson"):
        ctx = runner.context_from_header(saved.header)
        return found, compare.compare(golden, saved, ctx)
    if not saved.entries:
        # Not "every step missing": the file is not a session at all (empty, or no prompts).
        empty = not transcript.decode(path.read_bytes()).strip()
        raise KubelessonError("error.session_empty" if empty else "error.no_session", path=str(path))
    return found, compare.compare_session(golden, saved, normalize.Context())


def without_header(t: transcript.Transcript) -> transcript.Transcript:
    return replace(t, header=())


def docs(root: Path, paths: Sequence[Path] = ()) -> chapters.DocsResult:
    """``kubelesson docs``: the chapters (files ``N_*.md``, or folders holding them; default
    ``root/docs``) compared with the goldens of the lessons under ``root``."""
    files: dict[Path, tuple[int, Path]] = {}  # resolved -> (number, as given): a file named twice is read once
    for given in paths or (root / "docs",):
        if not given.exists():
            raise KubelessonError("error.docs_no_path", path=str(given))
        if given.is_dir():
            try:
                numbered = [(chapters.chapter_number(p.name), p) for p in given.iterdir() if p.is_file()]
            except OSError as exc:
                raise KubelessonError("error.docs_unreadable", path=str(given), why=exc.strerror or str(exc)) from None
            found = sorted((n, p) for n, p in numbered if n is not None)
            if not found:
                raise KubelessonError("error.docs_no_chapters", path=str(given))
        else:
            number = chapters.chapter_number(given.name)
            if number is None:
                raise KubelessonError("error.docs_not_chapter", path=str(given))
            found = [(number, given)]
        for number, path in found:
            files.setdefault(path.resolve(), (number, path))
    lessons = lesson.discover(root)
    results = []
    for number, path in files.values():
        try:
            text = path.read_bytes().decode("utf-8")
        except OSError as exc:
            raise KubelessonError("error.docs_unreadable", path=str(path), why=exc.strerror or str(exc)) from None
        except UnicodeDecodeError as exc:
            why = f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
            raise KubelessonError("error.docs_unreadable", path=str(path), why=why) from None
        found_lesson = lesson.load(lessons[number]) if number in lessons else None
        chapter = chapters.extract(text, path, number)
        results.append(chapters.check(chapter, found_lesson, lambda written: (root / written).exists()))
    return chapters.DocsResult(root.resolve(), tuple(results))
