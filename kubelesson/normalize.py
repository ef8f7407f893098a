"""Normalization: the canonical form of a transcript, with what legitimately varies masked.

Pure functions over :class:`~kubelesson.transcript.Transcript`. The rules are data
(``kubelesson/rules.yaml``, loaded once); the engine here only knows four kinds of rule:

* text rules (regular expressions over the output or the command, some dropping or
  de-duplicating lines), e.g. the kubectl 1.34 delete wording or klog prefixes;
* generated-name rules, applied everywhere (``caddy-766687f85d-k5wx5`` ->
  ``caddy-<hash>-<id>``);
* column rules for ``kubectl get`` tables, applied by column name (AGE -> ``<age>``);
* the context of the run (:class:`Context`): the sandbox namespace and moved local ports
  mapped back to what the lesson shows.

Tables are recognised by their upper-case header, split into cells by the header's column
positions (falling back to gaps of two or more spaces for the ragged lines of ``get -w``),
masked, sorted unless their order means something (``-w``, ``--sort-by``) and laid out again
the way kubectl's tabwriter does (each column as wide as its widest cell plus 3 spaces), so
a longer name does not shift every row.

``normalize`` is idempotent, and never equates different statuses, READY or restart
counts, row counts, names, messages or exit codes.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeAlias, cast

import yaml

from kubelesson.transcript import Entry, Transcript

__all__ = [
    "Change",
    "NO_CONTEXT",
    "ColumnRule",
    "Context",
    "NameRule",
    "RuleFileError",
    "Rules",
    "TextRule",
    "align_tables",
    "column_values",
    "default_rules",
    "explain",
    "is_watch",
    "load_rules",
    "normalize",
    "normalize_command",
]


@dataclass(frozen=True)
class Context:
    """What the run did differently from the lesson, to be mapped back."""

    namespaces: Mapping[str, str] = field(default_factory=dict)  # used -> shown in the lesson
    ports: Mapping[int, int] = field(default_factory=dict)  # local port used -> the lesson's


# The empty context (a default argument: the lesson's own namespace and ports were used).
NO_CONTEXT = Context()


@dataclass(frozen=True)
class Change:
    """One change a rule made: ``before`` became ``after`` in entry ``entry_index`` (0-based)."""

    rule: str
    entry_index: int
    before: str
    after: str


class RuleFileError(ValueError):
    """The rule file is malformed (a packaging bug, or a maintainer's typo)."""


Action = Literal["replace", "drop", "dedupe", "dedupe-consecutive"]


@dataclass(frozen=True)
class TextRule:
    name: str
    pattern: re.Pattern[str]
    replace: str = ""
    action: Action = "replace"
    phase: Literal["raw", "text"] = "text"
    scope: Literal["output", "command", "both"] = "output"
    when: str = ""  # a literal that must occur for the rule to be tried (a fast pre-check)
    unescape: bool = False  # undo Go quoting (\" and \\) in the replacement (structured klog)


@dataclass(frozen=True)
class NameRule:
    name: str
    pattern: re.Pattern[str]
    replace: str
    hint: str = ""  # a fast regex that finds something wherever the pattern would (speed only)


@dataclass(frozen=True)
class ColumnRule:
    name: str
    columns: frozenset[str]
    pattern: re.Pattern[str]
    replace: str
    keep: frozenset[str] = frozenset()
    mode: Literal["fullmatch", "sub"] = "fullmatch"
    # drop: remove the whole column when every cell of it matches (a column newer servers
    # add with a value that says nothing, such as VOLUMEATTRIBUTESCLASS <unset>)
    action: Literal["replace", "drop"] = "replace"
    # The pattern anchored at the end: after a fullmatch, re.sub with the cached template
    # is much cheaper than Match.expand, which parses the template on every call.
    anchored: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        anchored = re.compile(rf"(?:{self.pattern.pattern})\Z", self.pattern.flags)
        object.__setattr__(self, "anchored", anchored)


@dataclass(frozen=True)
class Rules:
    text: tuple[TextRule, ...]
    names: tuple[NameRule, ...]
    columns: tuple[ColumnRule, ...]

    # Derived views, computed once, so the per-entry work is only the matching itself.
    def __post_init__(self) -> None:
        by_column: dict[str, list[ColumnRule]] = {}
        object.__setattr__(self, "drop_columns", tuple(r for r in self.columns if r.action == "drop"))
        for rule in self.columns:
            if rule.action == "drop":
                continue
            for column in rule.columns:
                by_column.setdefault(column, []).append(rule)
        object.__setattr__(self, "by_column", {k: tuple(v) for k, v in by_column.items()})
        object.__setattr__(
            self,
            "raw_output",
            tuple(r for r in self.text if r.phase == "raw" and r.scope != "command"),
        )
        text_output = [r for r in self.text if r.phase == "text" and r.scope != "command"]
        # Replacements first, line removals last: lines that differ only in what was masked
        # (a timestamp, an address, a generated name) are equal by the time they are compared.
        object.__setattr__(self, "text_output", tuple(r for r in text_output if r.action == "replace"))
        object.__setattr__(self, "line_output", tuple(r for r in text_output if r.action != "replace"))
        object.__setattr__(self, "command", tuple(r for r in self.text if r.scope != "output"))
        # One search that fails fast on texts no name rule would change (most of them): the
        # rules' hints when they all have one (a cheap necessary condition), else the rules.
        hints = sorted({rule.hint or rule.pattern.pattern for rule in self.names})
        # Each hint is a named alternative, so a hit also tells which hint matched.
        any_name = "|".join(f"(?P<_hint{k}>{hint})" for k, hint in enumerate(hints)) or "(?!)"
        object.__setattr__(self, "any_name", re.compile(any_name, re.MULTILINE))
        # Each name rule's own pre-check, one compiled object per distinct hint, so that a
        # hint shared by several rules is searched once per version of the text.
        compiled = {hint: re.compile(hint, re.MULTILINE) for hint in hints}
        object.__setattr__(self, "name_hints", tuple(compiled[r.hint or r.pattern.pattern] for r in self.names))
        object.__setattr__(self, "hint_groups", {f"_hint{k}": compiled[hint] for k, hint in enumerate(hints)})
        patterns = [rule.pattern for rule in self.names] + list(compiled.values())
        object.__setattr__(self, "names_line_local", all(_line_local(p) for p in patterns))
        object.__setattr__(self, "cell_cache", {})

    by_column: Mapping[str, tuple[ColumnRule, ...]] = field(init=False, repr=False, compare=False)
    drop_columns: tuple[ColumnRule, ...] = field(init=False, repr=False, compare=False)
    raw_output: tuple[TextRule, ...] = field(init=False, repr=False, compare=False)
    text_output: tuple[TextRule, ...] = field(init=False, repr=False, compare=False)
    line_output: tuple[TextRule, ...] = field(init=False, repr=False, compare=False)
    command: tuple[TextRule, ...] = field(init=False, repr=False, compare=False)
    any_name: re.Pattern[str] = field(init=False, repr=False, compare=False)
    name_hints: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)
    hint_groups: Mapping[str, re.Pattern[str]] = field(init=False, repr=False, compare=False)
    # Can the name rules run over many cells joined by line breaks at once (_mask_names_each)?
    names_line_local: bool = field(init=False, repr=False, compare=False)
    # (context key, column) -> {cell: masked cell}: tables repeat their values down a column.
    cell_cache: dict[tuple[object, str], dict[str, str]] = field(init=False, repr=False, compare=False)


# --- which patterns keep to one line ----------------------------------------------------------


def _line_local(pattern: re.Pattern[str]) -> bool:
    """Does ``pattern`` work on each line alone: no match can take in a line break, and what
    it asserts at the start or end of a line holds alike at the start or end of the text?
    Then replacing in lines joined by "\\n" gives the lines each replaced, which lets the name
    rules run once over a whole column of a table. Read from the parsed pattern (the ``re``
    module's own parser); anything not understood counts as not line-local (the safe side)."""
    try:
        sre = importlib.import_module("re._constants")
        tree = importlib.import_module("re._parser").parse(pattern.pattern, pattern.flags)
        flags = tree.state.flags
        if flags & re.DOTALL or not flags & re.MULTILINE:
            return False
        return _items_line_local(list(tree), sre)
    except Exception:  # a Python whose parser differs: just not the fast way
        return False


def _items_line_local(items: list[tuple[Any, Any]], sre: Any) -> bool:
    for op, av in items:
        if op is sre.LITERAL:
            ok = av != ord("\n")
        elif op is sre.NOT_LITERAL:
            ok = av == ord("\n")
        elif op is sre.ANY:  # without DOTALL (checked), "." stops at a line break
            ok = True
        elif op is sre.IN:
            ok = not _set_has_newline(av, sre)
        elif op is sre.AT:  # ^ $ are line anchors under MULTILINE; \b \B see "\n" as the edge
            ok = av in (sre.AT_BEGINNING, sre.AT_END, sre.AT_BOUNDARY, sre.AT_NON_BOUNDARY)
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            ok = _items_line_local(list(av[2]), sre)
        elif op is sre.SUBPATTERN:
            _group, add, remove, sub = av
            ok = not (add & re.DOTALL or remove & re.MULTILINE) and _items_line_local(list(sub), sre)
        elif op is sre.ATOMIC_GROUP:
            ok = _items_line_local(list(av), sre)
        elif op is sre.BRANCH:
            ok = all(_items_line_local(list(branch), sre) for branch in av[1])
        elif op in (sre.ASSERT, sre.ASSERT_NOT):  # look-arounds: their text must not cross either
            ok = _items_line_local(list(av[1]), sre)
        elif op is sre.GROUPREF:  # repeats a group, which kept to its line
            ok = True
        elif op is sre.GROUPREF_EXISTS:
            ok = _items_line_local(list(av[1]), sre) and _items_line_local(list(av[2] or []), sre)
        else:
            ok = False
        if not ok:
            return False
    return True


def _set_has_newline(items: list[tuple[Any, Any]], sre: Any) -> bool:
    """Does the character set ``[...]`` match a line break? (Unknown parts: assume it does.)"""
    matches_newline = {sre.CATEGORY_SPACE, sre.CATEGORY_NOT_DIGIT, sre.CATEGORY_NOT_WORD, sre.CATEGORY_LINEBREAK}
    never = {sre.CATEGORY_DIGIT, sre.CATEGORY_WORD, sre.CATEGORY_NOT_SPACE, sre.CATEGORY_NOT_LINEBREAK}
    negate, found = False, False
    for op, av in items:
        if op is sre.NEGATE:
            negate = True
        elif op is sre.LITERAL:
            found = found or av == ord("\n")
        elif op is sre.RANGE:
            found = found or av[0] <= ord("\n") <= av[1]
        elif op is sre.CATEGORY and av in matches_newline:
            found = True
        elif not (op is sre.CATEGORY and av in never):
            return True
    return found != negate


# --- loading the rule file --------------------------------------------------------------------

_TEXT_KEYS = {
    "name",
    "why",
    "pattern",
    "replace",
    "action",
    "phase",
    "scope",
    "when",
    "unescape",
    "enabled",
}
_NAME_KEYS = {"name", "why", "pattern", "replace", "hint", "enabled"}
_COLUMN_KEYS = {"name", "why", "columns", "pattern", "replace", "keep", "mode", "enabled", "action"}


def _compile(spec: Mapping[str, Any], allowed: set[str], where: str) -> tuple[str, re.Pattern[str]]:
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise RuleFileError(f"{where}: a rule without a name")
    unknown = set(spec) - allowed
    if unknown:
        raise RuleFileError(f"{where}: rule {name!r} has unknown keys {sorted(unknown)}")
    try:
        return name, re.compile(str(spec["pattern"]), re.MULTILINE)
    except KeyError:
        raise RuleFileError(f"{where}: rule {name!r} has no pattern") from None
    except re.error as exc:
        raise RuleFileError(f"{where}: rule {name!r}: bad pattern: {exc}") from None


def _choice(spec: Mapping[str, Any], key: str, choices: tuple[str, ...], name: str) -> Any:
    value = spec.get(key, choices[0])
    if value not in choices:
        raise RuleFileError(f"rule {name!r}: {key} must be one of {', '.join(choices)}")
    return value


def _enabled(specs: Any, section: str) -> list[Mapping[str, Any]]:
    if specs is None:
        return []
    if not isinstance(specs, list) or not all(isinstance(s, dict) for s in specs):
        raise RuleFileError(f"{section}: expected a list of rules")
    return [s for s in specs if s.get("enabled", True)]


def rules_from_data(data: Any) -> Rules:
    """Rules from the parsed YAML document (validated: unknown keys are errors)."""
    if not isinstance(data, dict):
        raise RuleFileError("the rule file must be a mapping")
    unknown = set(data) - {"text_rules", "names", "columns"}
    if unknown:
        raise RuleFileError(f"unknown sections {sorted(unknown)}")
    text: list[TextRule] = []
    for spec in _enabled(data.get("text_rules"), "text_rules"):
        name, pattern = _compile(spec, _TEXT_KEYS, "text_rules")
        action = _choice(spec, "action", ("replace", "drop", "dedupe", "dedupe-consecutive"), name)
        if action == "replace" and "replace" not in spec:
            raise RuleFileError(f"rule {name!r}: a replace rule needs `replace`")
        text.append(
            TextRule(
                name,
                pattern,
                str(spec.get("replace", "")),
                action,
                _choice(spec, "phase", ("text", "raw"), name),
                _choice(spec, "scope", ("output", "command", "both"), name),
                str(spec.get("when", "")),
                bool(spec.get("unescape", False)),
            )
        )
    names: list[NameRule] = []
    for spec in _enabled(data.get("names"), "names"):
        name, pattern = _compile(spec, _NAME_KEYS, "names")
        hint = str(spec.get("hint", ""))
        try:
            re.compile(hint)
        except re.error as exc:
            raise RuleFileError(f"names: rule {name!r}: bad hint: {exc}") from None
        names.append(NameRule(name, pattern, str(spec.get("replace", "")), hint))
    columns: list[ColumnRule] = []
    for spec in _enabled(data.get("columns"), "columns"):
        name, pattern = _compile(spec, _COLUMN_KEYS, "columns")
        cols = spec.get("columns")
        if not isinstance(cols, list) or not cols:
            raise RuleFileError(f"rule {name!r}: `columns` must name at least one column")
        columns.append(
            ColumnRule(
                name,
                frozenset(str(c) for c in cols),
                pattern,
                str(spec.get("replace", "")),
                frozenset(str(k) for k in spec.get("keep", ())),
                _choice(spec, "mode", ("fullmatch", "sub"), name),
                _choice(spec, "action", ("replace", "drop"), name),
            )
        )
    return Rules(tuple(text), tuple(names), tuple(columns))


def load_rules(path: Path) -> Rules:
    """Rules from a YAML file of the same form as ``kubelesson/rules.yaml``."""
    return rules_from_data(yaml.safe_load(path.read_text(encoding="utf-8")))


@functools.cache
def default_rules() -> Rules:
    """The packaged rules, read and compiled once per process."""
    text = resources.files("kubelesson").joinpath("rules.yaml").read_text(encoding="utf-8")
    return rules_from_data(yaml.safe_load(text))


# --- recording changes ------------------------------------------------------------------------

Log: TypeAlias = "list[Change] | None"


def _recording(rule: str, template: str, log: list[Change], index: int) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        after = match.expand(template)
        if after != match[0]:
            log.append(Change(rule, index, match[0], after))
        return after

    return replace


# A group reference in a re.sub template: \1 to \9 (not followed by a digit) or \g<...>.
_GROUP_REF = re.compile(r"\\(?:g<(\w+)>|([1-9])(?![0-9]))")


@functools.lru_cache(maxsize=512)
def _replacement(pattern: re.Pattern[str], template: str) -> str | Callable[[re.Match[str]], str]:
    """What to hand re.sub for ``template``: the template itself, or, for the name rules' form
    (literal text around one group reference, ``\\1-<hash>``), a function that builds the
    same text. Python 3.11 expands a template in Python code on each match; the function
    does the same work at about half the cost. Any other template goes to re as it is."""
    refs = list(_GROUP_REF.finditer(template))
    if len(refs) != 1:
        return template
    ref = refs[0]
    before, after = template[: ref.start()], template[ref.end() :]
    name = ref[1] or ref[2]
    group: int | str = int(name) if name.isdigit() else name
    known = group in pattern.groupindex if isinstance(group, str) else group <= pattern.groups
    if "\\" in before + after or not known:
        return template

    def expand(match: re.Match[str]) -> str:
        return before + (match[group] or "") + after

    return expand


def _sub(pattern: re.Pattern[str], template: str, text: str, rule: str, log: Log, index: int) -> str:
    if log is None:
        return pattern.sub(_replacement(pattern, template), text)
    return pattern.sub(_recording(rule, template, log, index), text)


# --- context: namespaces and ports ------------------------------------------------------------


@dataclass(frozen=True)
class _ContextSubs:
    """The context as two substitutions (namespace names, then local port numbers)."""

    subs: tuple[tuple[str, re.Pattern[str], Mapping[str, str]], ...]
    key: object = None  # the context as a hashable value, for caches of masked cells

    def apply(self, text: str, log: Log, index: int) -> str:
        for rule, pattern, mapping in self.subs:

            def replace(match: re.Match[str], rule: str = rule, mapping: Mapping[str, str] = mapping) -> str:
                after = mapping[match[0]]
                if log is not None:
                    log.append(Change(rule, index, match[0], after))
                return after

            text = pattern.sub(replace, text)
        return text


@functools.lru_cache(maxsize=64)
def _context_subs(namespaces: tuple[tuple[str, str], ...], ports: tuple[tuple[int, int], ...]) -> _ContextSubs:
    subs: list[tuple[str, re.Pattern[str], Mapping[str, str]]] = []
    ns = {used: shown for used, shown in namespaces if used and used != shown}
    if ns:
        # A namespace is a DNS label: it ends where letters, digits and dashes end.
        alternatives = "|".join(re.escape(n) for n in sorted(ns, key=len, reverse=True))
        subs.append(("namespace", re.compile(rf"(?<![a-z0-9-])(?:{alternatives})(?![a-z0-9-])"), ns))
    moved = {str(used): str(shown) for used, shown in ports if used != shown}
    if moved:
        alternatives = "|".join(sorted(moved, key=len, reverse=True))
        subs.append(("local-port", re.compile(rf"(?<![\d.])(?:{alternatives})(?!\d)"), moved))
    return _ContextSubs(tuple(subs), (namespaces, ports))


def _subs_for(ctx: Context) -> _ContextSubs:
    return _context_subs(tuple(sorted(ctx.namespaces.items())), tuple(sorted(ctx.ports.items())))


# --- text, names, commands --------------------------------------------------------------------


def _apply_text_rule(rule: TextRule, text: str, log: Log, index: int) -> str:
    if rule.when and rule.when not in text:
        return text
    if rule.action == "replace":
        if rule.unescape:
            return rule.pattern.sub(_unescaping(rule, log, index), text)
        return _sub(rule.pattern, rule.replace, text, rule.name, log, index)
    kept: list[str] = []
    seen: set[str] = set()
    for line in text.split("\n"):
        if rule.pattern.search(line) is None:
            kept.append(line)
            continue
        if rule.action == "drop":
            duplicate = True
        elif rule.action == "dedupe":
            duplicate = line in seen
            seen.add(line)
        else:  # dedupe-consecutive
            duplicate = bool(kept) and kept[-1] == line
        if duplicate:
            if log is not None:
                log.append(Change(rule.name, index, line, ""))
        else:
            kept.append(line)
    return "\n".join(kept) if kept else _NO_LINES


_GO_ESCAPE = re.compile(r"\\([\\\"])")


def _unescaping(rule: TextRule, log: Log, index: int) -> Callable[[re.Match[str]], str]:
    """A replacement that also undoes the quoting of a structured klog value (err="...")."""

    def replace(match: re.Match[str]) -> str:
        after = _GO_ESCAPE.sub(r"\1", match.expand(rule.replace))
        if log is not None and after != match[0]:
            log.append(Change(rule.name, index, match[0], after))
        return after

    return replace


# A text whose every line was dropped (distinct from one empty line).
_NO_LINES = "\x00"


def _mask_names(text: str, rules: Rules, log: Log, index: int) -> str:
    # Every generated name has a dash; most texts have no name any rule would change.
    if "-" not in text:
        return text
    hit = rules.any_name.search(text)
    if hit is None:
        return text
    # A rule whose hint finds nothing would change nothing: skip it. Usually the first rule
    # masks the name and the hints of the others then fail on the masked text, which is far
    # cheaper than running their patterns. Hint results hold until the text changes; the
    # one that `any_name` found is known already.
    seen: dict[re.Pattern[str], bool] = {}
    known = rules.hint_groups.get(hit.lastgroup or "")
    if known is not None:
        seen[known] = True
    for rule, hint in zip(rules.names, rules.name_hints, strict=True):
        found = seen.get(hint)
        if found is None:
            found = seen[hint] = hint.search(text) is not None
        if not found:
            continue
        after = _sub(rule.pattern, rule.replace, text, rule.name, log, index)
        if after != text:
            text = after
            seen.clear()
    return text


def _normalize_text(text: str, rules: Rules, subs: _ContextSubs, log: Log, index: int) -> str:
    text = subs.apply(text, log, index)
    for rule in rules.text_output:
        text = _apply_text_rule(rule, text, log, index)
    text = _mask_names(text, rules, log, index)
    for rule in rules.line_output:
        text = _apply_text_rule(rule, text, log, index)
        if text == _NO_LINES:
            break
    return text


def normalize_command(command: str, ctx: Context = NO_CONTEXT, *, rules: Rules | None = None) -> str:
    """The canonical form of a command line (used to align a learner's session too)."""
    return _command(command, rules or default_rules(), _subs_for(ctx), None, 0)


def _command(command: str, rules: Rules, subs: _ContextSubs, log: Log, index: int) -> str:
    command = subs.apply(command, log, index)
    for rule in rules.command:
        command = _apply_text_rule(rule, command, log, index)
    return _mask_names(command, rules, log, index).strip()


_WATCH = re.compile(r"(?:^|\s)(?:-w|--watch|--watch-only)(?:=(?:true|1))?(?=\s|$)")


def is_watch(command: str) -> bool:
    """Does the command stream changes (``get -w``), so the order of its rows is time?"""
    return _WATCH.search(command) is not None


def _keeps_order(command: str) -> bool:
    return is_watch(command) or "--sort-by" in command


# --- tables -----------------------------------------------------------------------------------

# A column name: upper case, digits and -_./: with an optional "(S)" or "(cores)" suffix;
# a name may have single spaces (NOMINATED NODE); columns are 2+ spaces apart (kubectl: 3+).
_COLUMN = r"[A-Z][A-Z0-9_./:-]*(?:\([A-Za-z]+\))?"
_COLUMN_NAME = re.compile(rf"{_COLUMN}(?: {_COLUMN})*")
_HEADER = re.compile(rf"{_COLUMN}(?: {_COLUMN})*(?: {{2,}}{_COLUMN}(?: {_COLUMN})*)+")
_GAP = re.compile(r" {2,}")
_ELISION = frozenset({"...", "…"})
_PAD = 3  # kubectl's tabwriter: padding 3, minimum cell width 6
_MIN_WIDTH = 6


def _is_header(line: str) -> bool:
    return line[:1].isupper() and "  " in line and _HEADER.fullmatch(line) is not None


# A row's cells: a list from splitting, a tuple after masking (both compare and sort alike).
Cells: TypeAlias = "list[str] | tuple[str, ...]"


@dataclass
class _Table:
    names: list[str]
    starts: list[int]
    rows: list[Cells | str]  # cells, or an elision line kept as it was
    original: list[str]  # the lines as they came, for --explain
    dropped_headers: list[str] = field(default_factory=list)
    plain: re.Pattern[str] | None = None  # see _plain_row


def _header(line: str) -> _Table:
    found = list(_COLUMN_NAME.finditer(line))
    return _Table([m[0] for m in found], [m.start() for m in found], [], [line], plain=_plain_row(len(found)))


# One cell of a row that kubectl laid out: non-blank at both ends, single spaces inside
# (possessive: a cell never gives back what it took, which makes a failed match short).
_CELL = r"(\S++(?: \S++)*+)"


@functools.lru_cache(maxsize=64)
def _plain_row(columns: int) -> re.Pattern[str]:
    """The usual row in one regular expression: as many cells as columns, all filled, 2+
    spaces apart. For such a line both ways of splitting agree: cut at the header's column
    positions it gives these cells or does not line up (a cell would hold two of them, or
    start off its column), and split at gaps of 2+ spaces it gives exactly these. So its
    groups are the row; any other line takes the general path."""
    return re.compile("  +".join([_CELL] * columns) + r"\Z")


def _split_at(line: str, starts: list[int]) -> list[str] | None:
    """Cells cut at the header's column positions, or None when the row does not line up."""
    cells: list[str] = []
    end_of_line = len(line)
    last = len(starts) - 1
    for k, start in enumerate(starts):
        if start >= end_of_line:
            cells.append("")
            continue
        segment = line[start : starts[k + 1]] if k < last else line[start:]
        cell = segment.strip()
        # Cells are 3+ spaces apart in kubectl's layout (2 are tolerated): a value that runs
        # into this column, starts elsewhere, or shares it with another, is not a table row
        # (prose that happens to have spaces at the column positions, a ragged watch line).
        if k and line[start - 1] != " ":
            return None
        if cell and (segment[0] == " " or "  " in cell or (k and line[start - 2 : start] != "  ")):
            return None
        cells.append(cell)
    return cells


def _split_row(line: str, table: _Table) -> list[str] | None:
    n = len(table.names)
    # Empty cells happen (a label column of -L, trailing empty columns); a line with too few
    # values is not a row. The same bar for both ways of splitting keeps a row a row after
    # its table was laid out again.
    enough = max(2, (n + 1) // 2)
    cells = _split_at(line, table.starts)
    if cells is not None and cells[0]:
        filled = sum(1 for c in cells if c)
        # A row lined up with the header whose first and last cells are there is a row even
        # when its middle is empty (`get pvc` of a Pending claim without a storage class).
        if filled >= enough or (filled >= 3 and cells[-1]):
            return cells
    if line[:1] == " ":
        return None
    # The ragged lines of `get -w` and hand-edited tables: gaps of 2+ spaces separate cells.
    parts = _GAP.split(line)
    if enough <= len(parts) <= n:
        return parts + [""] * (n - len(parts))
    return None


def _segments(lines: list[str], watch: bool) -> list[list[str] | _Table]:
    """Split an output into runs of plain lines and tables."""
    out: list[list[str] | _Table] = []
    text: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not _is_header(line):
            text.append(line)
            continue
        if text:
            out.append(text)
            text = []
        table = _header(line)
        plain = table.plain.match if table.plain is not None else None
        while i < len(lines):
            line = lines[i]
            if _is_header(line):
                if not (watch and _GAP.split(line) == table.names):
                    break  # another table (get all, several runs pasted one after another)
                table.dropped_headers.append(line)  # get -w of old kubectl repeats its header
            else:
                # The usual row first, inline: this loop runs once per line of every table.
                match = plain(line) if plain is not None else None
                cells = match.groups() if match is not None else _split_row(line, table)
                if cells is None and line.strip() not in _ELISION:
                    break
                table.rows.append(cells if cells is not None else line)
            table.original.append(line)
            i += 1
        out.append(table)
    if text:
        out.append(text)
    return out


def _widths(names: list[str], rows: list[Cells | str]) -> list[int]:
    """kubectl's layout: every column as wide as its widest cell plus 3 spaces, at least 6."""
    return _column_widths(names, list(zip(*[r for r in rows if not isinstance(r, str)], strict=False)))


def _column_widths(names: list[str], columns: list[tuple[str, ...]] | list[list[str]]) -> list[int]:
    """The widths of :func:`_widths` from the cells column by column (none when no rows)."""
    widths = [len(name) for name in names[:-1]]
    for k, column in enumerate(columns[: len(widths)]):
        widths[k] = max(widths[k], max(map(len, column)))
    return [max(_MIN_WIDTH, width + _PAD) for width in widths]


def _layout(names: list[str], rows: list[Cells | str], widths: list[int] | None = None) -> list[str]:
    widths = widths or _widths(names, rows)
    # Every row has a cell per column: the first ones padded to their width, the last as it is.
    template = "".join(f"%-{width}s" for width in widths) + "%s"
    lines = [(template % tuple(names)).rstrip()]
    for row in rows:
        lines.append(row if isinstance(row, str) else (template % tuple(row)).rstrip())
    return lines


# A cache of masked cells per context and column, and how large it may grow.
_CACHE_LIMIT = 20_000
_CACHES_LIMIT = 256


def _mask_column(cells: tuple[str, ...], column: str, rules: Rules, subs: _ContextSubs) -> list[str]:
    """The masked cells of one column (nothing logged): each distinct value is masked once."""
    key = (subs.key, column)
    cache = rules.cell_cache.get(key)
    if cache is None or len(cache) > _CACHE_LIMIT:
        if len(rules.cell_cache) > _CACHES_LIMIT:
            rules.cell_cache.clear()
        cache = rules.cell_cache[key] = {}
    found = list(map(cache.get, cells))
    if None not in found:
        return cast("list[str]", found)
    missing = list(dict.fromkeys(cell for cell, hit in zip(cells, found, strict=True) if hit is None))
    before_names = [_mask_cell_columns(cell, column, rules, subs, None, 0) for cell in missing]
    cache.update(zip(missing, _mask_names_each(before_names, rules), strict=True))
    return [cache[cell] for cell in cells]


def _mask_names_each(texts: list[str], rules: Rules) -> list[str]:
    """``_mask_names`` of each text (none logged). With line-local name rules, the texts that
    could hold a name (a dash, no line break) are masked in one pass over them joined by
    line breaks: one search per rule for a whole column instead of one per cell."""
    candidates = [k for k, text in enumerate(texts) if "-" in text and "\n" not in text]
    if not rules.names_line_local or len(candidates) < 2:
        return [_mask_names(text, rules, None, 0) for text in texts]
    masked = _mask_names("\n".join(texts[k] for k in candidates), rules, None, 0).split("\n")
    if len(masked) != len(candidates):  # a replacement that holds a line break: one by one
        return [_mask_names(text, rules, None, 0) for text in texts]
    out = list(texts)
    for k, text in zip(candidates, masked, strict=True):
        out[k] = text
    return out


def _mask_cell(cell: str, column: str, rules: Rules, subs: _ContextSubs, log: Log, index: int) -> str:
    return _mask_names(_mask_cell_columns(cell, column, rules, subs, log, index), rules, log, index)


def _mask_cell_columns(cell: str, column: str, rules: Rules, subs: _ContextSubs, log: Log, index: int) -> str:
    """A cell with the context mapped back and its column's rules applied (names not yet)."""
    if subs.subs:
        cell = subs.apply(cell, log, index)
    for rule in rules.by_column.get(column, ()):
        if cell in rule.keep:
            continue
        if rule.mode == "sub":
            cell = _sub(rule.pattern, rule.replace, cell, rule.name, log, index)
            continue
        if rule.pattern.fullmatch(cell) is not None:
            after = rule.anchored.sub(rule.replace, cell, count=1)
            if log is not None and after != cell:
                log.append(Change(rule.name, index, cell, after))
            cell = after
    return cell


def _without_columns(table: _Table, drops: tuple[ColumnRule, ...], log: Log, index: int) -> _Table:
    """The table without the columns a drop rule names whose every cell matches it."""
    gone = set()
    for rule in drops:
        for k, name in enumerate(table.names):
            cells = [row[k] for row in table.rows if not isinstance(row, str)]
            if name in rule.columns and cells and all(rule.pattern.fullmatch(cell) for cell in cells):
                gone.add(k)
                if log is not None:
                    log.append(Change(rule.name, index, name, ""))
    if not gone:
        return table
    keep = [k for k in range(len(table.names)) if k not in gone]
    rows: list[Cells | str] = [row if isinstance(row, str) else [row[k] for k in keep] for row in table.rows]
    return replace(table, names=[table.names[k] for k in keep], starts=[table.starts[k] for k in keep], rows=rows,
                   plain=None)


def _normalize_table(
    table: _Table, *, keep_order: bool, rules: Rules, subs: _ContextSubs, log: Log, index: int
) -> list[str]:
    if log is not None:
        return _normalize_table_logged(table, keep_order=keep_order, rules=rules, subs=subs, log=log, index=index)
    # Column by column: a column's rules are looked up once and its repeated values (AGE,
    # STATUS, READY) masked once; the widths come from the masked columns.
    names, rows = table.names, table.rows
    filled = [row for row in rows if not isinstance(row, str)]
    by_column = zip(*filled, strict=True)  # no rows: no columns, whatever the header says
    columns = [_mask_column(cells, name, rules, subs) for cells, name in zip(by_column, names, strict=False)]
    masked: list[Cells | str] = list(zip(*columns, strict=True))
    if len(masked) != len(rows):  # elision lines stay where they were, and the order with them
        cells = iter(masked)
        masked = [row if isinstance(row, str) else next(cells) for row in rows]
    elif not keep_order:
        # A plain `get` lists in the server's order, which is not part of the lesson.
        masked.sort()
    return _layout(names, masked, _column_widths(names, columns))


def _normalize_table_logged(
    table: _Table, *, keep_order: bool, rules: Rules, subs: _ContextSubs, log: list[Change], index: int
) -> list[str]:
    """:func:`_normalize_table` for ``explain``: row by row, so changes are logged in reading order."""
    for line in table.dropped_headers:
        log.append(Change("watch-repeated-header", index, line, ""))
    canonical = _layout(table.names, table.rows)
    shown = [line for line in table.original if line not in table.dropped_headers]
    if canonical != shown:
        log.append(Change("table-layout", index, "\n".join(shown), "\n".join(canonical)))
    names = table.names
    rows: list[Cells | str] = [
        row
        if isinstance(row, str)
        else [_mask_cell(cell, column, rules, subs, log, index) for cell, column in zip(row, names, strict=True)]
        for row in table.rows
    ]
    if not keep_order and all(not isinstance(row, str) for row in rows):
        ordered = sorted(rows)  # all rows are cells here
        if ordered != rows:
            before, after = _layout(names, rows)[1:], _layout(names, ordered)[1:]
            log.append(Change("table-sort", index, "\n".join(before), "\n".join(after)))
        rows = ordered
    return _layout(names, rows)


# --- entries ----------------------------------------------------------------------------------


def _output(text: str, command: str, rules: Rules, subs: _ContextSubs, log: Log, index: int) -> str:
    for rule in rules.raw_output:
        text = _apply_text_rule(rule, text, log, index)
    text = text.rstrip("\n")
    if not text or text == _NO_LINES:
        return ""
    # Dropping lines (the IPv6 forward, repeated klog lines) can bring a table header and
    # its rows together; the result is read again then, so that normalize stays idempotent.
    for _ in range(3):
        text, dropped = _output_once(text, command, rules, subs, log, index)
        if not dropped:
            break
    return text


def _output_once(text: str, command: str, rules: Rules, subs: _ContextSubs, log: Log, index: int) -> tuple[str, bool]:
    keep_order = _keeps_order(command)
    lines: list[str] = []
    dropped = False
    for segment in _segments(text.split("\n"), is_watch(command)):
        if isinstance(segment, _Table) and rules.drop_columns:
            segment = _without_columns(segment, rules.drop_columns, log, index)
        if isinstance(segment, _Table):
            lines += _normalize_table(segment, keep_order=keep_order, rules=rules, subs=subs, log=log, index=index)
            continue
        done = _normalize_text("\n".join(segment), rules, subs, log, index)
        kept = [] if done == _NO_LINES else done.split("\n")
        dropped = dropped or len(kept) < len(segment)
        lines += kept
    return "\n".join(lines).rstrip("\n"), dropped


def _entry(entry: Entry, rules: Rules, subs: _ContextSubs, log: Log, index: int) -> Entry:
    command = _command(entry.command, rules, subs, log, index)
    # Whether rows keep their order is read from the command as typed, before masking.
    output = _output(entry.output, entry.command, rules, subs, log, index)
    if command == entry.command and output == entry.output:
        return entry
    return Entry(command, output, entry.exit_code)


def normalize(t: Transcript, ctx: Context = NO_CONTEXT, *, rules: Rules | None = None) -> Transcript:
    """The canonical form of ``t``; the header is kept as it is."""
    chosen, subs = rules or default_rules(), _subs_for(ctx)
    return Transcript(tuple(_entry(e, chosen, subs, None, i) for i, e in enumerate(t.entries)), t.header)


def explain(t: Transcript, ctx: Context = NO_CONTEXT, *, rules: Rules | None = None) -> tuple[Transcript, list[Change]]:
    """Like :func:`normalize`, and every change made, in order, with the rule that made it."""
    chosen, subs = rules or default_rules(), _subs_for(ctx)
    log: list[Change] = []
    entries = tuple(_entry(e, chosen, subs, log, i) for i, e in enumerate(t.entries))
    return Transcript(entries, t.header), log


def align_tables(first: str, second: str) -> tuple[str, str]:
    """Two normalized outputs with their corresponding tables laid out to common column
    widths, so that a diff of the two shows the cells that differ rather than a header and
    every row that moved because one cell got wider."""
    a = _segments(first.split("\n"), watch=False)
    b = _segments(second.split("\n"), watch=False)
    widths: dict[int, list[int]] = {}
    tables_a = [seg for seg in a if isinstance(seg, _Table)]
    tables_b = [seg for seg in b if isinstance(seg, _Table)]
    for ta, tb in zip(tables_a, tables_b, strict=False):
        if ta.names == tb.names:
            common = [max(x, y) for x, y in zip(_widths(ta.names, ta.rows), _widths(tb.names, tb.rows), strict=True)]
            widths[id(ta)] = widths[id(tb)] = common
    return _join(a, widths), _join(b, widths)


def _join(segments: list[list[str] | _Table], widths: Mapping[int, list[int]]) -> str:
    lines: list[str] = []
    for seg in segments:
        if isinstance(seg, _Table):
            lines += _layout(seg.names, seg.rows, widths.get(id(seg))) if id(seg) in widths else seg.original
        else:
            lines += seg
    return "\n".join(lines)


def column_values(output: str, column: str) -> list[str]:
    """The cells of ``column`` in every table of ``output``, in order (e.g. all STATUS values)."""
    values: list[str] = []
    for segment in _segments(output.split("\n"), watch=True):
        if isinstance(segment, _Table) and column in segment.names:
            k = segment.names.index(column)
            values += [row[k] for row in segment.rows if not isinstance(row, str)]
    return values
