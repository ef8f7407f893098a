"""The command line: parse arguments, call one core function, print, pick the exit code.

Heavy modules are imported inside the commands so that ``kubelesson --help`` and
``kubelesson list`` start fast.
"""

from __future__ import annotations

import contextlib
import errno
import gettext
import os
import re
import sys
import tempfile
import traceback
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from kubelesson import __version__, interrupts
from kubelesson.errors import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_MISMATCH,
    EXIT_PASS,
    EXIT_USAGE,
    KubelessonError,
)
from kubelesson.messages import MESSAGES, language, say

F = TypeVar("F", bound=Callable[..., Any])
_state = {"lang": "en"}


class Main(click.Group):
    """The top-level group; ``sim`` is loaded only when it is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*super().list_commands(ctx), "sim"]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name == "sim":
            from kubelesson.sim.cli import sim

            _localize(sim, _state["lang"])  # loaded after main() localized the rest
            return sim
        return super().get_command(ctx, name)


def _set_lang(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str:
    _state["lang"] = language(value)
    return _state["lang"]


def _course_folder(_ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path:
    from kubelesson.lesson import course_folder

    return course_folder(value)


def common(func: F) -> F:
    """--root and --lang, accepted by every command."""
    func = click.option("--lang", type=click.Choice(["ja", "en"]), callback=_set_lang, is_eager=True,
                        help="Language of messages and help (default: from LANG/LC_ALL).")(func)
    func = click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=None,
                        callback=_course_folder,
                        help="Course folder holding transcripts/ and examples/ (default: this folder if it "
                             "has transcripts/, else the course installed with kubelesson).")(func)
    return func


def cluster_options(func: F) -> F:
    """The options of commands that run a lesson against a cluster."""
    options = [
        click.option("--context", help="kubeconfig context to use (required for non-local clusters)."),
        click.option("--kubeconfig", type=click.Path(dir_okay=False), help="kubeconfig file (default: $KUBECONFIG)."),
        click.option("--kubectl", "kubectl_path", metavar="PATH", help="kubectl binary (default: kubectl on PATH)."),
        click.option("--namespace", help="Run in this existing namespace instead of a sandbox."),
        click.option("--timeout", type=click.FloatRange(1, 3600), help="Seconds to wait for each state."),
        click.option("--keep", is_flag=True, help="Leave the sandbox namespace for inspection."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _options(root: Path, **kw: Any) -> Any:
    from kubelesson.core import Options

    return Options(root=root, context=kw.get("context"), kubeconfig=kw.get("kubeconfig"),
                   kubectl=kw.get("kubectl_path"), namespace=kw.get("namespace"),
                   timeout=kw.get("timeout"), keep=bool(kw.get("keep")))


@click.group(cls=Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kubelesson")
def cli() -> None:
    """Check the lessons of a hands-on Kubernetes course against a real cluster.

    Exit codes: 0 pass, 1 mismatch, 2 usage or environment error, 3 internal error,
    130 interrupted.
    """


@cli.command("list")
@common
def list_cmd(root: Path, lang: str) -> int:
    """List the lessons found under transcripts/."""
    from kubelesson import lesson

    for found in lesson.load_all(root):
        click.echo(f"{found.number:>3}  {found.title_in(lang)}")
    return EXIT_PASS


@cli.command()
@click.argument("number", type=int)
@common
def show(number: int, root: Path, lang: str) -> int:
    """Show the steps of lesson NUMBER."""
    from kubelesson import lesson, report

    found = lesson.load_number(root, number)
    click.echo(say(lang, "report.lesson", number=found.number, title=found.title_in(lang)))
    # Numbered as `check` reports them: a probe is a line of its own, after its step.
    for index, step, command in report.plan(found):
        extra = []
        if command != step.run:
            # A Redis or MySQL probe talks to a server; the others open a page.
            key = "show.session" if step.probe is not None and step.probe.send else "show.probe"
            click.echo(f"  {index}. {command}   ({say(lang, key, step=index - 1)})")
            continue
        if step.kind == "yourself":
            extra.append(say(lang, "show.own_step"))
        if step.kind == "host":
            extra.append(say(lang, "show.look", program=step.needs))
        if step.wait:
            extra.append(f"wait {step.wait.condition} {step.wait.target}")
        if step.background:
            extra.append("background")
        suffix = f"   ({'; '.join(extra)})" if extra else ""
        click.echo(f"  {index}. {step.run}{suffix}")
    return EXIT_PASS


def _announce(lang: str, *, quiet: bool) -> Callable[[Any], None]:
    def on_target(session: Any) -> None:
        if quiet:
            return
        from kubelesson import report

        click.echo(report.target_line(session.target, lang))

    return on_target


@cli.command()
@click.argument("number", type=int, required=False)
@click.option("--all", "all_lessons", is_flag=True, help="Check every lesson, each in its own sandbox.")
@click.option("-j", "--jobs", type=click.IntRange(1, 16), default=1, show_default=True,
              help="With --all: lessons run at once.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), help="Also write a JUnit XML report.")
@click.option("--bundle", type=click.Path(dir_okay=False, path_type=Path),
              help="On failure, write a support bundle here.")
@click.option("--save", type=click.Path(file_okay=False, path_type=Path),
              help="Also save each lesson's raw transcript as DIR/N.txt (for CI artifacts).")
@cluster_options
@common
def check(number: int | None, all_lessons: bool, jobs: int, as_json: bool, junit: Path | None,
          bundle: Path | None, save: Path | None, root: Path, lang: str, **kw: Any) -> int:
    """Run lesson NUMBER against the cluster and compare it with its golden transcript."""
    from kubelesson import lesson, report

    if (number is None) == (not all_lessons):
        raise click.UsageError(say(lang, "error.need_lesson"))
    for path in (junit, bundle):
        if path:
            lesson.ensure_writable(path)
    options = _options(root, **kw)
    results = _run_checks(options, number, jobs=jobs, lang=lang, quiet=as_json)
    reports = [report.build(r.lesson, r.comparison, r.run, lang) for r in results]
    _emit(reports, lang, as_json=as_json, junit=junit, with_header=all_lessons, wrapped=all_lessons)
    if save:
        _save_transcripts(save, results)
    _tell_about_sandboxes(results, lang, keep=options.keep, quiet=as_json)
    failed = [r for r in results if not r.passed]
    if failed and (bundle or not as_json):
        _write_bundles(failed, bundle, lang)
    return EXIT_MISMATCH if failed else EXIT_PASS


def _run_checks(options: Any, number: int | None, *, jobs: int, lang: str, quiet: bool) -> list[Any]:
    """One lesson with a live progress line, or every lesson (number None) in parallel."""
    from kubelesson import core, report

    if number is None:
        return core.check_all(options, jobs)
    progress = report.TerminalProgress(lang)
    if not quiet:
        click.echo(say(lang, "report.lesson", number=number, title=_title(options.root, number, lang)))
    try:
        return [core.check(options, number, progress=progress, on_target=_announce(lang, quiet=quiet))]
    finally:
        progress.clear()


def _tell_about_sandboxes(results: list[Any], lang: str, *, keep: bool, quiet: bool) -> None:
    swept = [name for result in results for name in result.swept]
    if swept and not quiet:
        click.echo(say(lang, "report.swept", names=", ".join(swept)))
    if keep:
        for result in results:
            click.echo(say(lang, "report.kept", namespace=result.run.target.namespace), err=True)


def _write_bundles(failed: list[Any], bundle: Path | None, lang: str) -> None:
    from kubelesson import bundle as support

    for result in failed:
        # One file per failing lesson, so --all with --bundle keeps every one of them.
        path = _numbered(bundle, result.lesson.number) if bundle and len(failed) > 1 else bundle
        click.echo(say(lang, "report.bundle", path=support.write(result, path)), err=True)


def _numbered(path: Path, number: int) -> Path:
    return path.with_name(f"{path.stem}-{number}{path.suffix}")


def _save_transcripts(folder: Path, results: list[Any]) -> None:
    from kubelesson import lesson, redact, transcript

    folder.mkdir(parents=True, exist_ok=True)
    for result in results:
        text = redact.text(transcript.render(result.run.transcript))
        lesson.write_atomically(folder / f"{result.lesson.number}.txt", text)


def _title(root: Path, number: int, lang: str) -> str:
    from kubelesson import lesson

    return lesson.load_number(root, number).title_in(lang)


def _emit(reports: list[Any], lang: str, *, as_json: bool, junit: Path | None, with_header: bool,
          wrapped: bool = False) -> None:
    from kubelesson import lesson, report

    if as_json:
        click.echo(report.as_json(reports, lang, wrapped=wrapped))
    else:
        colour = report.use_colour(sys.stdout)
        for item in reports:
            click.echo(report.human(item, lang, colour=colour, with_header=with_header))
        if len(reports) > 1:
            click.echo(report.overall_summary(reports, lang, colour=colour))
    if junit:
        lesson.write_atomically(junit, report.as_junit(reports, lang))


@cli.command()
@click.argument("number", type=int)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the raw transcript to this file instead of stdout.")
@click.option("--update", is_flag=True, help="Rewrite the golden transcript in transcripts/NUMBER.yaml.")
@cluster_options
@common
def record(number: int, output: Path | None, update: bool, root: Path, lang: str, **kw: Any) -> int:
    """Run lesson NUMBER and print its raw transcript (or update its golden)."""
    from kubelesson import core, lesson, redact, report, transcript

    if output:
        lesson.ensure_writable(output)
    progress = report.TerminalProgress(lang)
    try:
        found, result, changed = core.record(_options(root, **kw), number, update=update, progress=progress,
                                             on_target=_announce(lang, quiet=not update and output is None))
    finally:
        progress.clear()
    text = redact.text(transcript.render(result.transcript))
    if output:
        lesson.write_atomically(output, text)
    elif not update:
        click.echo(text, nl=False)
    if update:
        key = "report.recorded" if changed else "report.unchanged"
        click.echo(say(lang, key, number=number, path=found.path))
    return EXIT_PASS


@cli.command()
@click.argument("number", type=int)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), help="Also write a JUnit XML report.")
@common
def diff(number: int, file: Path, as_json: bool, junit: Path | None, root: Path, lang: str) -> int:
    """Compare a saved transcript or your own terminal session (FILE) with lesson NUMBER.

    No cluster is needed. A transcript saved by `kubelesson record` is compared step by
    step; anything else is read as a pasted terminal session and aligned by command.
    """
    from kubelesson import core, report

    found, comparison = core.diff(root, number, file)
    reports = [report.build(found, comparison, None, lang)]
    _emit(reports, lang, as_json=as_json, junit=junit, with_header=True)
    return EXIT_PASS if comparison.passed else EXIT_MISMATCH


@cli.command("normalize")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path), required=False)
@click.option("--explain", is_flag=True, help="Also show which rule changed what (on stderr).")
@common
def normalize_cmd(file: Path | None, explain: bool, root: Path, lang: str) -> int:
    """Print the normalized form of a transcript (stdin when no FILE)."""
    from kubelesson import core, redact, runner, transcript
    from kubelesson.normalize import explain as explain_changes

    stdin_text = None if file else sys.stdin.read()
    raw = core.read_transcript(file, stdin_text)
    ctx = runner.context_from_header(raw.header)
    result, changes = explain_changes(raw, ctx)
    click.echo(redact.text(transcript.render(core.without_header(result))), nl=False)
    if explain:
        for change in changes:
            click.echo(redact.text(f"[{change.rule}] {change.before!r} -> {change.after!r}"), err=True)
    return EXIT_PASS


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@common
def docs(paths: tuple[Path, ...], as_json: bool, root: Path, lang: str) -> int:
    """Check the output the chapters show against the lessons' goldens (no cluster needed).

    PATH: chapter files named N_*.md, or folders holding them (default: ROOT/docs). Each
    block of chapter N that starts with a `$ command` line is compared with the golden of
    the step of lesson N that runs the same command.
    """
    from kubelesson import core, report

    result = core.docs(root, paths)
    if as_json:
        click.echo(report.docs_json(result, lang))
    else:
        click.echo(report.docs_human(result, lang, colour=report.use_colour(sys.stdout)))
    return EXIT_PASS if result.passed else EXIT_MISMATCH


@cli.command()
@cluster_options
@common
def doctor(root: Path, lang: str, **kw: Any) -> int:
    """Check kubectl, the context, the cluster, permissions and ports before a lesson."""
    from kubelesson import doctor as checks
    from kubelesson import redact

    failed = 0
    colour = sys.stdout.isatty()
    for finding in checks.run(_options(root, **kw)):
        mark = "✓" if finding.ok else "✗"
        if colour:
            mark = click.style(mark, fg="green" if finding.ok else "red")
        click.echo(f"{mark} {redact.text(say(lang, finding.key, **finding.params))}")
        failed += not finding.ok
    click.echo(say(lang, "doctor.failed", count=failed) if failed else say(lang, "doctor.ok"))
    return 2 if failed else EXIT_PASS


# --- error handling --------------------------------------------------------------------


def _crash_log() -> str:
    with tempfile.NamedTemporaryFile("w", prefix="kubelesson-crash-", suffix=".log", delete=False) as handle:
        traceback.print_exc(file=handle)
        return handle.name


def _click_text(message: str) -> str:
    """click's own words in the language of the messages (gettext's job, done here)."""
    forms = MESSAGES.get("click:" + message)
    return forms.get(_state["lang"], message) if forms else message


def _click_ntext(singular: str, plural: str, count: int) -> str:
    return _click_text(singular if count == 1 else plural)


def _help_in(lang: str, english: str) -> str:
    """A docstring or help= text in LANG, looked up by its English text with the docstring's
    line breaks collapsed (click's own --version text is in the click: block)."""
    forms = MESSAGES.get("help:" + " ".join(english.split())) or MESSAGES.get("click:" + english) or {}
    return forms.get(lang) or english


def _localize(command: click.Command, lang: str) -> None:
    """Put the help texts of COMMAND and of its subcommands in LANG. Done before click
    parses anything: --help is eager and may come before --lang. Running it twice changes
    nothing, as a translated text is no English key."""
    if lang == "en":
        return
    if command.help:
        translated = _help_in(lang, command.help)
        if translated != command.help:
            command.help = translated
            # click would cut the summary in the command list at an English ". ".
            first, stop, _rest = translated.split("\n\n")[0].partition("。")
            command.short_help = first + stop
    for param in command.params:
        if isinstance(param, click.Option) and param.help:
            param.help = _help_in(lang, param.help)
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _localize(sub, lang)


def _lang_in(args: list[str]) -> str | None:
    """The value of the last --lang X or --lang=X, read before click runs (it is also
    checked by click, so a value click would refuse is ignored here)."""
    found = None
    for index, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--lang" and index + 1 < len(args):
            value = args[index + 1]
        elif arg.startswith("--lang="):
            value = arg.removeprefix("--lang=")
        else:
            continue
        if value in ("ja", "en"):
            found = value
    return found


def _columns(text: str) -> int:
    """The terminal columns TEXT takes: a Japanese character takes two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in click.unstyle(text))


# Japanese may break after any character, but a line does not start with 。、), ー, a small
# kana and the like.
_JA_BREAK = re.compile(r"(?<=[^\x00-\x7f])(?=[^。、」』）):,.ーぁぃぅぇぉっゃゅょァィゥェォッャュョ])")


def _wrap_by_columns() -> None:
    """click wraps help at 78 characters and only at spaces, but a Japanese character takes
    two columns and a Japanese sentence has no spaces: measure in columns and break after
    Japanese characters, in the wrapper click imports each time it wraps."""
    from click import _textwrap, formatting

    class Wrapper(_textwrap.TextWrapper):
        def _split(self, text: str) -> list[str]:
            return [piece for chunk in super()._split(text) for piece in _JA_BREAK.split(chunk)]

    _textwrap.TextWrapper = Wrapper  # type: ignore[misc]
    for module in (_textwrap, formatting):
        module.term_len = _columns  # type: ignore[attr-defined]


def _translate_click() -> None:
    """click looks its usage errors and --help headings up through gettext, under the
    names its modules imported, at the moment it shows them: answer there."""
    for name, module in list(sys.modules.items()):
        if name.startswith("click.") and module is not None:
            if getattr(module, "_", None) is gettext.gettext:
                module._ = _click_text  # type: ignore[attr-defined]
            if getattr(module, "ngettext", None) is gettext.ngettext:
                module.ngettext = _click_ntext  # type: ignore[attr-defined]


# An output that cannot be written (a full disk, /dev/full, a vanished network drive) is
# the environment's problem, not a bug.
_OUTPUT_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EFBIG}


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so what is still buffered for it cannot fail at exit."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def main(argv: list[str] | None = None) -> None:
    """Entry point: every foreseeable problem becomes one line and a documented exit code."""
    lang = language(_lang_in(sys.argv[1:] if argv is None else argv))
    _state["lang"] = lang
    _translate_click()
    if lang != "en":
        _localize(cli, lang)
        _wrap_by_columns()
    try:
        with interrupts.handled():
            code = cli.main(args=argv, prog_name="kubelesson", standalone_mode=False)
            interrupts.check()  # a signal during the final cleanup still means exit 130
            sys.stdout.flush()  # here, where a full disk is one line, not at exit
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:
        exc.show()
        code = 2
    except (click.Abort, KeyboardInterrupt):
        click.echo(f"kubelesson: {say(_state['lang'], 'error.interrupted', signal='SIGINT')}", err=True)
        code = EXIT_INTERRUPTED
    except KubelessonError as exc:
        from kubelesson import redact  # an error may quote a server URL with its password

        click.echo(f"kubelesson: {redact.text(say(_state['lang'], exc.key, **exc.params))}", err=True)
        code = exc.exit_code
    except BrokenPipeError:
        code = EXIT_PASS
    except Exception as exc:  # a bug: say so in one line, keep the traceback in a file
        if isinstance(exc, OSError) and exc.errno in _OUTPUT_ERRORS:
            _drop_stdout()
            why = os.strerror(exc.errno)
            click.echo(f"kubelesson: {say(_state['lang'], 'error.output_failed', why=why)}", err=True)
            sys.exit(EXIT_USAGE)
        log = _crash_log()
        click.echo(f"kubelesson: {say(_state['lang'], 'error.internal', what=type(exc).__name__, log=log)}",
                   err=True)
        code = EXIT_INTERNAL
    sys.exit(code if isinstance(code, int) else EXIT_PASS)

