"""Credentials out of everything kubelesson shows or writes (pure functions).

kubelesson itself never reads a credential, but what a lesson prints can hold one (a
``kubectl config view --raw``, a describe of a Secret, an error that names the server URL
with its user and password), and so can a learner's pasted session. Every output path
(the terminal report, JSON, JUnit, the support bundle, ``--save``, ``record -o``,
``doctor`` and error lines) passes its text through :func:`text` (or structured data
through :func:`data`), so the rules live here and only here.

The rules work on text of any origin: YAML (block and flow style), JSON (also escaped
once inside a JSON string), describe output, command-line flags, URLs, and each of them
also inside a unified diff, where a line starts with ``+``, ``-`` or a space.
:func:`text` is idempotent, and a text without anything of a credential's shape comes
back unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

__all__ = ["REDACTED", "data", "text", "url"]

REDACTED = "<redacted>"

# The end of a key or flag name that holds a secret: token, id-token, refresh-token,
# client-key-data, client-certificate-data, client-secret, password, MYSQL_ROOT_PASSWORD, api-key, ...
_WORD = (
    r"(?:token|password|passwd|passphrase|secret|key[-_]?data|api[-_]?key|access[-_]?key|"
    r"private[-_]?key|certificate[-_]?data|authorization|cookie)"
)
_KEY = rf"[\w./-]*{_WORD}"  # "/": annotation keys (example.com/api-token)
# Not a value: what this module put there before (keeps the rules idempotent).
_NOT_DONE = rf"(?!{re.escape(REDACTED)}(?:\s|$))"

# PEM private keys, possibly one per diff line ("+-----BEGIN ... -----" ... "+-----END").
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S)
# JSON, also escaped once inside a JSON string (last-applied-configuration): "key": "value".
_JSON = re.compile(rf'(?i)(\\?"{_KEY}\\?"\s*:\s*\\?")((?:[^"\\]|\\[^"])*)(?=\\?")')
# YAML block style and describe output: key: value, after an optional diff marker, an
# indentation and a list dash, or after describe's label ("Annotations:  x/token: v").
# The key is not quoted (quoted keys are JSON's rule's).
_YAML = re.compile(
    rf"(?im)^([ \t]*(?:[-+][ \t]*)?(?:-[ \t]+)?(?:[A-Z][A-Za-z ]*:[ \t]+)?{_KEY}[ \t]*:[ \t]*){_NOT_DONE}"
    r"(\S.*?)(?=[ \t]*$)"
)
# YAML flow style: {token: value, ...} and [{name: x, client-secret: y}].
_FLOW = re.compile(rf"(?i)([{{,][ \t]*{_KEY}[ \t]*:[ \t]*){_NOT_DONE}([^,}}\]\s][^,}}\]\n]*)")
# Flags: --token=x, --password x, --oidc-client-secret=x, and env-style PASSWORD=x.
_FLAG = re.compile(rf"(?i)((?<![\w-])--{_KEY}(?:=|[ \t]+)){_NOT_DONE}(\S+)")
_ENV = re.compile(rf"(?<![\w-])([A-Z][A-Z0-9_]*(?:TOKEN|PASSWORD|PASSWD|SECRET|API_KEY|ACCESS_KEY)=){_NOT_DONE}(\S+)")
# An Authorization header anywhere in a line (curl -H "Authorization: Bearer x").
_HEADER = re.compile(r"(?i)(authorization:[ \t]*(?:bearer|basic)[ \t]+)([^\s'\"]+)")
# JSON Web Tokens (service-account tokens, OIDC id-tokens) wherever they appear.
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
# The user and password part of a URL: https://user:pw@host -> https://<redacted>@host.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/\s@?#'\"]+)@")

# The start of an exec credential plugin's settings, whose env values are the user's
# (AWS keys, tokens): YAML "exec:" alone on its line, or JSON / flow "exec": {.
_EXEC_BLOCK = re.compile(r"(?m)^([ \t]*(?:[-+][ \t]*)?(?:-[ \t]+)?)exec:[ \t]*$")
_EXEC_OBJECT = re.compile(r'(?i)(?:\\?"exec\\?"|\bexec)[ \t]*:[ \t]*\{')
_VALUE_LINE = re.compile(rf"(?i)^([ \t]*(?:[-+][ \t]*)?(?:-[ \t]+)?value[ \t]*:[ \t]*){_NOT_DONE}(\S.*?)(?=[ \t]*$)")
_VALUE_JSON = re.compile(r'(?i)(\\?"value\\?"\s*:\s*\\?")((?:[^"\\]|\\[^"])*)(?=\\?")')
_VALUE_FLOW = re.compile(rf"(?i)([{{,][ \t]*value[ \t]*:[ \t]*){_NOT_DONE}([^,}}\]\s\"][^,}}\]\n]*)")


def _keep_key(match: re.Match[str]) -> str:
    return match.group(1) + REDACTED


def _indent(line: str) -> int:
    """Indentation of a YAML line, a diff marker and list dashes counted as indentation."""
    return len(line) - len(line.lstrip(" \t+-"))


def _exec_env_yaml(value: str) -> str:
    """``value:`` lines inside a YAML ``exec:`` block (its env list) are blanked."""
    if "exec:" not in value:
        return value
    lines = value.split("\n")
    inside_from: int | None = None  # indentation of the current exec: key
    for k, line in enumerate(lines):
        if inside_from is not None and line.strip() and _indent(line) <= inside_from:
            inside_from = None
        found = _EXEC_BLOCK.match(line)
        if found:
            inside_from = _indent(line)
            continue
        if inside_from is not None:
            lines[k] = _VALUE_LINE.sub(_keep_key, line)
    return "\n".join(lines)


def _closing_brace(value: str, start: int) -> int:
    """Index just past the ``}`` that closes the ``{`` at ``start`` (or the end of the text)."""
    depth = 0
    quoted = False
    k = start
    while k < len(value):
        char = value[k]
        if quoted:
            if char == "\\":
                k += 1
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return k + 1
        k += 1
    return len(value)


def _exec_env_objects(value: str) -> str:
    """``value`` entries inside a JSON or flow-style ``exec`` object are blanked."""
    if "exec" not in value:
        return value
    out: list[str] = []
    position = 0
    for found in _EXEC_OBJECT.finditer(value):
        if found.start() < position:
            continue  # inside an exec object already handled
        end = _closing_brace(value, found.end() - 1)
        body = _VALUE_JSON.sub(_keep_key, value[found.end() : end])
        body = _VALUE_FLOW.sub(_keep_key, body)
        out += [value[position : found.end()], body]
        position = end
    out.append(value[position:])
    return "".join(out)


_RULES: tuple[Callable[[str], str], ...] = (
    lambda value: _PEM.sub(REDACTED, value),
    _exec_env_yaml,
    _exec_env_objects,
    lambda value: _JSON.sub(_keep_key, value),
    lambda value: _YAML.sub(_keep_key, value),
    lambda value: _FLOW.sub(_keep_key, value),
    lambda value: _FLAG.sub(_keep_key, value),
    lambda value: _ENV.sub(_keep_key, value),
    lambda value: _HEADER.sub(_keep_key, value),
    lambda value: _USERINFO.sub(lambda m: m.group(1) + REDACTED + "@", value),
    lambda value: _JWT.sub(REDACTED, value),
)


def text(value: str) -> str:
    """``value`` with anything of a credential's shape replaced by ``<redacted>``."""
    for rule in _RULES:
        value = rule(value)
    return value


def url(value: str) -> str:
    """A server URL or address without the user and password it may carry."""
    return _USERINFO.sub(lambda m: m.group(1), value)


def data(value: Any) -> Any:
    """Structured data (a JSON report) with :func:`text` applied to every string in it."""
    if isinstance(value, str):
        return text(value)
    if isinstance(value, dict):
        return {key: data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [data(item) for item in value]
    return value
