"""The lesson model and the lesson files under ``transcripts/``.

A lesson file is YAML: what to run (``steps``, ``cleanup``) and what to expect (the
normalized golden ``transcript``). Loading validates strictly and reports the file and
line of anything wrong, because a typo in a key silently ignored would make a lesson
check less than its author thinks.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from kubelesson import policy
from kubelesson.errors import KubelessonError, LessonFileError, LessonNotFound, OutputNotWritable
from kubelesson.policy import YAML_LOADER

LESSON_FILE = re.compile(r"^(?P<number>\d+)\.ya?ml$")
# kubectl wait's conditions, and log=TEXT: a line the object's log must show (a database is
# Running well before it accepts connections, and says when it does).
WAIT_FOR = re.compile(r"^(condition=[\w.-]+(=\w+)?|delete|jsonpath=.+|log=.+)$")


@dataclass(frozen=True)
class Wait:
    """Before the step's command: ``kubectl wait --for=<condition> <target>``."""

    condition: str
    target: str
    timeout: float = 180.0


@dataclass(frozen=True)
class Probe:
    """While a background step runs: GET ``url`` and expect ``expect`` in the body (and,
    with ``reject``, not that text: a mounted page must replace the image's own); or, with
    ``send``, a Redis session at ``url`` (``localhost:PORT``) whose replies the golden holds."""

    url: str
    expect: str = ""
    timeout: float = 10.0
    reject: str | None = None
    send: tuple[str, ...] = ()  # Redis commands, as a learner types them at redis-cli
    host: str | None = None  # the Host header (an Ingress routes by it)
    mysql: bool = False  # ``send`` holds SQL for a MySQL/MariaDB session at ``url``
    user: str = ""
    password: str = ""  # the lesson's own demo password, never the learner's
    prepare: tuple[str, ...] = ()  # run before the session, not shown (leftovers of earlier runs)
    data: str | None = None  # a JSON body: the probe POSTs it and ``expect`` is the HTTP status

    @property
    def is_redis(self) -> bool:
        return bool(self.send) and not self.mysql

    def shell_command(self, address: str | None = None) -> str:
        """The command a learner would type to look at the same thing (the transcript entry's
        command); ``address`` is where the probe really went when the local port moved."""
        where = address or self.url
        if self.is_redis:
            host, _, port = where.partition(":")
            return f"redis-cli -h {host} -p {port}"
        if self.mysql:
            host, _, port = where.partition(":")
            return f"mysql -h {host} -P {port} -u {self.user} -p"
        header = f"-H {shlex.quote('Host: ' + self.host)} " if self.host else ""
        if self.data is not None:
            return (f"curl -s -o /dev/null -w '%{{http_code}}' {header}"
                    f"-H 'Content-Type: application/json' -d {shlex.quote(self.data)} {where}")
        return f"curl -s {header}{where} | grep -o {shlex.quote(self.expect)}"


@dataclass(frozen=True)
class Edit:
    """The chapter asks the learner to change a course file; kubelesson never edits the
    learner's files, so the step runs on a changed copy, shown with the file's own name."""

    file: str
    replace: str
    with_: str


@dataclass(frozen=True)
class During:
    """What must hold while a step's change rolls out, from a watch of the pods kept during
    the step (a rolling update is a process: any one snapshot of it is a random moment)."""

    pods: str  # label selector of the pods watched
    until: str  # the object whose `kubectl rollout status` ends the watch
    min_ready: int | None = None  # Ready pods never fewer than this
    max_live: int | None = None  # pods that are not terminating never more than this
    all_new: bool = False  # at the end, every pod is one that did not exist before
    final_replicas: int | None = None  # one ReplicaSet ends with this many, the others at 0
    timeout: float = 180.0


# What a step is: a kubectl command kubelesson runs and compares with the golden; a command
# the learner runs on their own machine (k3d, docker, a browser), shown but never run; or a
# read-only look at the learner's machine, run only where its program is installed.
StepKind = Literal["kubectl", "yourself", "host", "probe"]
STEP_KEYS: dict[str, str] = {"run": "kubectl", "yourself": "yourself", "host": "host"}


@dataclass(frozen=True)
class Step:
    run: str
    line: int
    wait: Wait | None = None
    background: bool = False
    ready: str | None = None
    probe: Probe | None = None
    kind: StepKind = "kubectl"
    needs: str | None = None  # host steps: the program that must be on PATH
    expect: tuple[str, ...] = ()  # host steps: lines their output must hold
    context: str | None = None  # host steps: a glob the current context must match (k3d-*)
    edit: Edit | None = None  # kubectl steps: run on a changed copy of a course file
    during: During | None = None  # kubectl steps: invariants watched while the step rolls out

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.run)

    @property
    def runs_kubectl(self) -> bool:
        """Is this a kubectl command kubelesson runs (its entry is in the golden)?"""
        return self.kind == "kubectl"

    @property
    def gives_entry(self) -> bool:
        """Does this step give the golden transcript an entry (a kubectl command, a probe)?"""
        return self.kind in ("kubectl", "probe")


@dataclass(frozen=True)
class Lesson:
    number: int
    title: Mapping[str, str]
    steps: tuple[Step, ...]
    path: Path
    cleanup: tuple[str, ...] = ()
    objects: tuple[str, ...] = ()
    golden: str | None = None
    shares: tuple[str, ...] = ()  # cluster-wide things the lesson uses (a host port, a host name)

    @property
    def root(self) -> Path:
        """The course directory: commands run here so ``./examples/...`` resolves."""
        return self.path.parent.parent

    def title_in(self, lang: str) -> str:
        return self.title.get(lang) or next(iter(self.title.values()))


# --- finding lessons -------------------------------------------------------------------


def lessons_dir(root: Path) -> Path:
    return root / "transcripts"


# --- where the course is (installed with kubelesson, or the current folder) ------------


def packaged_course() -> Path | None:
    """The course that comes with kubelesson: ``kubelesson/course/`` of an installed wheel
    (the repository's transcripts/ and examples/, copied there at build time by setup.py),
    or the checkout itself for a development install. It must be a real folder: lessons
    run their commands there (``kubectl apply -f ./examples/...``). None without one."""
    from importlib import resources

    package = resources.files("kubelesson")
    if not isinstance(package, Path):  # imported from a zip: no folder to run commands in
        return None
    installed, checkout = package / "course", package.parent
    if lessons_dir(installed).is_dir():
        return installed
    if lessons_dir(checkout).is_dir() and (checkout / "pyproject.toml").is_file():
        return checkout
    return None


def course_folder(root: Path | None) -> Path:
    """The course folder a command works on: ``--root`` when given (discover says when it
    holds no lessons); else the current folder when it holds transcripts/; else the course
    that comes with kubelesson, so a learner can run ``kubelesson check 3`` anywhere."""
    if root is not None:
        return root
    here = Path(".")
    if lessons_dir(here).is_dir():
        return here
    return packaged_course() or here


def discover(root: Path, *, required: bool = False) -> dict[int, Path]:
    """Lesson number -> file, for every ``transcripts/N.yaml`` under ``root``.

    Two files for one lesson (``3.yaml`` and ``3.yml``, or ``03.yaml``) are an error: which
    one runs is not for kubelesson to guess. With ``required``, so is a folder without
    lessons (run outside the course folder, say), rather than an empty answer."""
    folder = lessons_dir(root)
    if not folder.is_dir():
        if required:
            raise KubelessonError("error.no_lessons", folder=str(folder.absolute()))
        return {}
    found: dict[int, Path] = {}
    for path in sorted(folder.iterdir()):
        match = LESSON_FILE.match(path.name)
        if match:
            number = int(match["number"])
            if number in found:
                raise LessonFileError("error.lesson_duplicate", number=number, first=str(found[number]),
                                      second=str(path))
            found[number] = path
    if required and not found:
        raise KubelessonError("error.no_lesson_files", folder=str(folder.absolute()))
    return dict(sorted(found.items()))


def find(root: Path, number: int) -> Path:
    lessons = discover(root, required=True)
    if number not in lessons:
        available = ", ".join(str(n) for n in lessons) or "-"
        raise LessonNotFound(number=number, available=available, folder=str(lessons_dir(root)))
    return lessons[number]


def load_all(root: Path) -> list[Lesson]:
    return [load(path) for path in discover(root, required=True).values()]


# --- loading and validating ------------------------------------------------------------


class _Reader:
    """Turns composed YAML nodes into the model, raising errors that name file and line."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, node: Node | None, what: str) -> LessonFileError:
        line = node.start_mark.line + 1 if node is not None else 1
        return LessonFileError(file=str(self.path), line=line, what=what)

    def mapping(self, node: Node, allowed: set[str], required: set[str], where: str) -> dict[str, Node]:
        if not isinstance(node, MappingNode):
            raise self.fail(node, f"{where} must be a mapping")
        items: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if key not in allowed:
                raise self.fail(key_node, f"unknown key {key!r} in {where} (allowed: {', '.join(sorted(allowed))})")
            if key in items:
                raise self.fail(key_node, f"duplicate key {key!r} in {where}")
            items[key] = value_node
        for key in sorted(required - items.keys()):
            raise self.fail(node, f"{where} lacks the required key {key!r}")
        return items

    def string(self, node: Node, where: str) -> str:
        if not isinstance(node, ScalarNode) or not isinstance(node.value, str) or node.value == "":
            raise self.fail(node, f"{where} must be a non-empty string")
        return node.value

    def number(self, node: Node, where: str) -> float:
        try:
            value = float(self.string(node, where))
        except ValueError:
            raise self.fail(node, f"{where} must be a number of seconds") from None
        if not 0 < value <= 3600:
            raise self.fail(node, f"{where} must be between 0 and 3600 seconds")
        return value

    def boolean(self, node: Node, where: str) -> bool:
        value = self.string(node, where).lower()
        if value not in ("true", "false"):
            raise self.fail(node, f"{where} must be true or false")
        return value == "true"

    def sequence(self, node: Node, where: str) -> list[Node]:
        if not isinstance(node, SequenceNode):
            raise self.fail(node, f"{where} must be a list")
        return list(node.value)


def _read_title(r: _Reader, node: Node) -> dict[str, str]:
    if isinstance(node, ScalarNode):
        return {"en": r.string(node, "title")}
    items = r.mapping(node, {"ja", "en"}, set(), "title")
    if not items:
        raise r.fail(node, "title needs at least one of ja, en")
    return {lang: r.string(value, f"title.{lang}") for lang, value in items.items()}


def _read_wait(r: _Reader, node: Node) -> Wait:
    items = r.mapping(node, {"for", "object", "timeout"}, {"for", "object"}, "wait")
    condition = r.string(items["for"], "wait.for")
    if not WAIT_FOR.match(condition):
        raise r.fail(items["for"], f"wait.for {condition!r} is not one of condition=..., delete, jsonpath=..., log=...")
    timeout = r.number(items["timeout"], "wait.timeout") if "timeout" in items else 180.0
    return Wait(condition=condition, target=r.string(items["object"], "wait.object"), timeout=timeout)


def _read_redis_probe(r: _Reader, items: dict[str, Node]) -> Probe:
    address = r.string(items["redis"], "probe.redis")
    if not re.match(r"^(localhost|127\.0\.0\.1):\d+$", address):
        raise r.fail(items["redis"], "probe.redis must be localhost:PORT")
    if "send" not in items:
        raise r.fail(items["redis"], "a redis probe needs send: [commands]")
    send = tuple(r.string(n, "probe.send item") for n in r.sequence(items["send"], "probe.send"))
    timeout = r.number(items["timeout"], "probe.timeout") if "timeout" in items else 10.0
    return Probe(url=address, timeout=timeout, send=send)


def _read_mysql_probe(r: _Reader, items: dict[str, Node]) -> Probe:
    address = r.string(items["mysql"], "probe.mysql")
    if not re.match(r"^(localhost|127\.0\.0\.1):\d+$", address):
        raise r.fail(items["mysql"], "probe.mysql must be localhost:PORT")
    for key in ("user", "password", "send"):
        if key not in items:
            raise r.fail(items["mysql"], f"a mysql probe needs {key}")
    send = tuple(r.string(n, "probe.send item") for n in r.sequence(items["send"], "probe.send"))
    prepare = tuple(r.string(n, "probe.prepare item") for n in r.sequence(items["prepare"], "probe.prepare")) \
        if "prepare" in items else ()
    timeout = r.number(items["timeout"], "probe.timeout") if "timeout" in items else 180.0
    return Probe(url=address, timeout=timeout, send=send, mysql=True, user=r.string(items["user"], "probe.user"),
                 password=r.string(items["password"], "probe.password"), prepare=prepare)


PROBE_KEYS = {"get", "post", "data", "expect", "reject", "timeout", "redis", "send", "host", "mysql", "user",
              "password", "prepare"}


def _read_probe(r: _Reader, node: Node) -> Probe:
    items = r.mapping(node, PROBE_KEYS, set(), "probe")
    if "mysql" in items:
        return _read_mysql_probe(r, items)
    if "redis" in items:
        return _read_redis_probe(r, items)
    if "post" in items:
        return _read_post_probe(r, node, items)
    for key in ("get", "expect"):
        if key not in items:
            raise r.fail(node, f"probe lacks the required key {key!r}")
    url = _local_url(r, items["get"], "probe.get")
    timeout = r.number(items["timeout"], "probe.timeout") if "timeout" in items else 10.0
    reject = r.string(items["reject"], "probe.reject") if "reject" in items else None
    host = r.string(items["host"], "probe.host") if "host" in items else None
    return Probe(url=url, expect=r.string(items["expect"], "probe.expect"), timeout=timeout, reject=reject,
                 host=host)


def _local_url(r: _Reader, node: Node, where: str) -> str:
    url = r.string(node, where)
    if not re.match(r"^http://(localhost|127\.0\.0\.1)(:\d+)?(/|$)", url):
        raise r.fail(node, f"{where} must be an http://localhost[:PORT]/ URL")
    return url


def _read_post_probe(r: _Reader, node: Node, items: dict[str, Node]) -> Probe:
    """A form a learner sends (a login): the JSON ``data`` POSTed, ``expect`` the status."""
    for key in ("data", "expect"):
        if key not in items:
            raise r.fail(node, f"a post probe needs {key}")
    for key in ("get", "reject"):
        if key in items:
            raise r.fail(items[key], f"{key} does not apply to a post probe")
    expect = r.string(items["expect"], "probe.expect")
    if not re.fullmatch(r"[1-5]\d\d", expect):
        raise r.fail(items["expect"], "a post probe's expect is an HTTP status such as 204")
    data = r.string(items["data"], "probe.data")
    try:
        json.loads(data)
    except ValueError:
        raise r.fail(items["data"], "probe.data must be JSON") from None
    timeout = r.number(items["timeout"], "probe.timeout") if "timeout" in items else 10.0
    host = r.string(items["host"], "probe.host") if "host" in items else None
    return Probe(url=_local_url(r, items["post"], "probe.post"), expect=expect, timeout=timeout, host=host,
                 data=data)


def _read_edit(r: _Reader, node: Node, run: str) -> Edit:
    items = r.mapping(node, {"file", "replace", "with"}, {"file", "replace", "with"}, "edit")
    file = r.string(items["file"], "edit.file")
    if file not in shlex.split(run):
        raise r.fail(items["file"], f"edit.file {file!r} is not an argument of the step's command")
    return Edit(file, r.string(items["replace"], "edit.replace"), r.string(items["with"], "edit.with"))


def _count(r: _Reader, node: Node, where: str) -> int:
    value = r.string(node, where)
    if not value.isdigit():
        raise r.fail(node, f"{where} must be a whole number")
    return int(value)


def _read_during(r: _Reader, node: Node) -> During:
    keys = {"pods", "until", "min_ready", "max_live", "all_new", "final_replicas", "timeout"}
    items = r.mapping(node, keys, {"pods", "until"}, "during")
    counts = {key: _count(r, items[key], f"during.{key}") for key in ("min_ready", "max_live", "final_replicas")
              if key in items}
    return During(
        pods=r.string(items["pods"], "during.pods"),
        until=r.string(items["until"], "during.until"),
        all_new=r.boolean(items["all_new"], "during.all_new") if "all_new" in items else False,
        timeout=r.number(items["timeout"], "during.timeout") if "timeout" in items else 180.0,
        **counts,
    )


def _step_kind(r: _Reader, node: Node, items: dict[str, Node], where: str) -> tuple[StepKind, str, Node]:
    """Which of ``run``/``yourself``/``host`` the step has (exactly one), and its command."""
    present = [key for key in STEP_KEYS if key in items]
    if not present and "probe" in items:
        # A probe on its own: a page reached without a port-forward (a LoadBalancer's or an
        # Ingress's host port), shown as the command a learner would type.
        return "probe", "", items["probe"]
    if len(present) != 1:
        raise r.fail(node, f"{where} needs exactly one of run, yourself, host (or only a probe)")
    key = present[0]
    command = r.string(items[key], f"{where}.{key}")
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise r.fail(items[key], f"{where}.{key} cannot be split into words: {exc}") from None
    kind: StepKind = "kubectl" if key == "run" else "yourself" if key == "yourself" else "host"
    if kind == "kubectl" and argv[0] != "kubectl":
        raise r.fail(items[key], f"{where}.run must be a kubectl command (the learner's own go under yourself:)")
    return kind, command, items[key]


def _read_probe_step(r: _Reader, node: Node, items: dict[str, Node], where: str) -> Step:
    for key in sorted(set(items) - {"probe", "wait"}):
        raise r.fail(items[key], f"{where}: {key} does not apply to a probe step")
    probe = _read_probe(r, items["probe"])
    return Step(run=probe.shell_command(), line=node.start_mark.line + 1, kind="probe", probe=probe,
                wait=_read_wait(r, items["wait"]) if "wait" in items else None)


# Keys that only make sense for a kubectl step, and those only for a host step.
KUBECTL_ONLY = {"wait", "background", "ready", "probe", "edit", "during"}
HOST_ONLY = {"needs", "expect", "context"}


def _read_step(r: _Reader, node: Node, index: int) -> Step:
    where = f"step {index}"
    items = r.mapping(node, set(STEP_KEYS) | KUBECTL_ONLY | HOST_ONLY, set(), where)
    kind, command, _ = _step_kind(r, node, items, where)
    if kind == "probe":
        return _read_probe_step(r, node, items, where)
    misplaced = sorted((KUBECTL_ONLY if kind != "kubectl" else set()) | (HOST_ONLY if kind != "host" else set()))
    for key in misplaced:
        if key in items:
            raise r.fail(items[key], f"{where}: {key} does not apply to a {kind} step")
    if kind == "host":
        if "needs" not in items or "expect" not in items:
            raise r.fail(node, f"{where}: a host step needs both needs and expect")
        expect = tuple(r.string(n, f"{where}.expect item") for n in r.sequence(items["expect"], f"{where}.expect"))
        context = r.string(items["context"], f"{where}.context") if "context" in items else None
        return Step(run=command, line=node.start_mark.line + 1, kind="host",
                    needs=r.string(items["needs"], f"{where}.needs"), expect=expect, context=context)
    background = r.boolean(items["background"], f"{where}.background") if "background" in items else False
    probe = _read_probe(r, items["probe"]) if "probe" in items else None
    if probe and not background:
        raise r.fail(items["probe"], f"{where} has a probe but is not a background step")
    return Step(
        run=command,
        line=node.start_mark.line + 1,
        wait=_read_wait(r, items["wait"]) if "wait" in items else None,
        background=background,
        ready=r.string(items["ready"], f"{where}.ready") if "ready" in items else None,
        probe=probe,
        kind=kind,
        edit=_read_edit(r, items["edit"], command) if "edit" in items else None,
        during=_read_during(r, items["during"]) if "during" in items else None,
    )


TOP_KEYS = {"lesson", "title", "objects", "steps", "cleanup", "transcript", "shares"}


def parse_lesson(text: str, path: Path) -> Lesson:
    r = _Reader(path)
    try:
        root = yaml.compose(text, Loader=YAML_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        if "maximum nesting depth" in problem:  # libyaml stops at depth 1000
            raise LessonFileError("error.lesson_too_deep", file=str(path), line=line) from None
        raise LessonFileError(file=str(path), line=line, what=f"not valid YAML: {problem}") from None
    except RecursionError:
        # PyYAML's own composer is recursive: thousands of "[" end here without libyaml.
        raise LessonFileError("error.lesson_too_deep", file=str(path), line=1) from None
    if root is None:
        raise LessonFileError(file=str(path), line=1, what="the file is empty")
    items = r.mapping(root, TOP_KEYS, {"lesson", "title", "steps"}, "the lesson file")
    number = r.string(items["lesson"], "lesson")
    if not number.isdigit():
        raise r.fail(items["lesson"], "lesson must be a whole number")
    named = LESSON_FILE.match(path.name)
    if named and int(named["number"]) != int(number):
        raise LessonFileError("error.lesson_number", file=str(path), line=items["lesson"].start_mark.line + 1,
                              number=int(number), named=int(named["number"]))
    steps_nodes = r.sequence(items["steps"], "steps")
    if not steps_nodes:
        raise r.fail(items["steps"], "steps must not be empty")
    golden = items.get("transcript")
    if golden is not None and not (isinstance(golden, ScalarNode) and golden.tag in _GOLDEN_TAGS):
        found = "a list" if isinstance(golden, SequenceNode) else "a mapping" if isinstance(golden, MappingNode) \
            else repr(golden.value)
        raise LessonFileError("error.lesson_golden", file=str(path), line=golden.start_mark.line + 1, found=found)
    return Lesson(
        number=int(number),
        title=_read_title(r, items["title"]),
        steps=tuple(_read_step(r, n, i) for i, n in enumerate(steps_nodes, 1)),
        path=path,
        cleanup=tuple(r.string(n, "cleanup item") for n in r.sequence(items["cleanup"], "cleanup"))
        if "cleanup" in items
        else (),
        objects=tuple(r.string(n, "objects item") for n in r.sequence(items["objects"], "objects"))
        if "objects" in items
        else (),
        golden=golden.value if isinstance(golden, ScalarNode) and golden.tag == _STR else None,
        shares=tuple(r.string(n, "shares item") for n in r.sequence(items["shares"], "shares"))
        if "shares" in items
        else (),
    )


# The golden is text; an empty ``transcript:`` (null) means none recorded yet.
_STR = "tag:yaml.org,2002:str"
_GOLDEN_TAGS = {_STR, "tag:yaml.org,2002:null"}


def load(path: Path) -> Lesson:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LessonFileError(file=str(path), line=1, what=exc.strerror or str(exc)) from None
    except UnicodeDecodeError as exc:
        raise LessonFileError("error.lesson_encoding", file=str(path), line=1, byte=f"0x{exc.object[exc.start]:02x}",
                              position=exc.start) from None
    found = parse_lesson(text, path)
    policy.enforce(found, text)  # the safety policy: refuse before anything runs (docs/policy.md)
    return found


def load_number(root: Path, number: int) -> Lesson:
    return load(find(root, number))


# --- writing the golden ----------------------------------------------------------------


def _literal_block(text: str) -> str:
    """``transcript: |`` followed by the text indented two spaces (a YAML literal block)."""
    body = text if text.endswith("\n") else text + "\n"
    indented = "".join(f"  {line}" if line.strip() else "\n" for line in body.splitlines(keepends=True))
    indicator = "|2" if body[:1] == " " else "|"
    return f"{indicator}\n{indented}"


def replace_golden(text: str, golden: str) -> str:
    """The lesson file text with its ``transcript`` value replaced; everything else byte for byte.

    The position of the old value comes from the YAML composer, so comments, key order and
    formatting of the rest of the file are kept without a round-trip YAML library.
    """
    root = yaml.compose(text, Loader=YAML_LOADER)
    assert isinstance(root, MappingNode)
    for key_node, value_node in root.value:
        if key_node.value == "transcript":
            start, end = value_node.start_mark.index, value_node.end_mark.index
            return text[:start] + _literal_block(golden) + text[end:].lstrip(" ")
    separator = "" if text.endswith("\n") else "\n"
    return f"{text}{separator}transcript: {_literal_block(golden)}"


def _output_target(path: Path) -> Path:
    """The file writing ``path`` replaces: a symlink's target (the link stays a link), and
    never something that is not a regular file (a device such as /dev/full, a FIFO), which
    a rename would silently turn into one."""
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        mode = target.stat().st_mode
    except OSError:
        return target  # not there yet (or unreadable: the write itself will say why)
    if not stat.S_ISREG(mode):
        raise OutputNotWritable("error.output_not_regular", path=str(path))
    return target


def ensure_writable(path: Path) -> None:
    """Fail before a long run, not after it, when an output file cannot be written."""
    path = _output_target(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OutputNotWritable(path=str(path), why="no such directory")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise OutputNotWritable(path=str(path), why="permission denied")


def write_atomically(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder and a rename, so readers and an
    interrupted run only ever see the old file or the new one. A symlink is written
    through (its target is replaced, atomically); a device or a FIFO is refused."""
    shown, path = path, _output_target(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise OutputNotWritable(path=str(shown), why=exc.strerror or str(exc)) from None
    try:
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:  # a full disk, a quota: the environment, not a bug
            raise OutputNotWritable(path=str(shown), why=exc.strerror or str(exc)) from None
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def update_golden(lesson: Lesson, golden: str) -> None:
    text = lesson.path.read_text(encoding="utf-8")
    write_atomically(lesson.path, replace_golden(text, golden))
