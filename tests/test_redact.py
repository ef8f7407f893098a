"""Redaction (kubelesson/redact.py): credentials of every shape, in every position a diff
or a report puts them, never survive; real kubectl output is never touched; the rules are
idempotent. Property tests, plus the shapes a reviewer found missed."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kubelesson import redact

pytestmark = pytest.mark.usefixtures("no_assertion_pass_hook")

CASES = Path(__file__).parent / "normalize_cases"

# What a credential looks like: base64, hex, JWT-ish pieces; long enough not to occur by chance.
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_.-"
SECRETS = st.text(ALPHABET, min_size=12, max_size=40).filter(lambda s: s[0].isalnum() and s.strip(".-") == s)
KEYS = st.sampled_from(
    ["token", "id-token", "refresh-token", "access-token", "client-key-data", "client-secret", "password",
     "MYSQL_ROOT_PASSWORD", "apiKey", "secret"]
)
# Where a line can sit: bare, in a diff (+, -, space), in the human report (six spaces first).
MARKERS = st.sampled_from(["", "+", "-", " ", "      +", "      -", "      "])
INDENTS = st.sampled_from(["", "  ", "    ", "      ", "\t"])


def yaml_line(marker: str, indent: str, dash: bool, key: str, secret: str) -> str:
    return f"{marker}{indent}{'- ' if dash else ''}{key}: {secret}"


@st.composite
def shaped(draw: st.DrawFn) -> tuple[str, str]:
    """A text holding one secret in one of the shapes kubectl, kubeconfigs and diffs use."""
    secret = draw(SECRETS)
    key = draw(KEYS)
    marker = draw(MARKERS)
    indent = draw(INDENTS)
    shape = draw(st.sampled_from(["yaml", "json", "json-escaped", "flow", "flag", "env", "header", "url",
                                  "exec-yaml", "exec-json", "exec-flow"]))
    if shape == "yaml":
        line = yaml_line(marker, indent, draw(st.booleans()), key, secret)
    elif shape == "json":
        line = marker + json.dumps({"user": {key: secret, "name": "me"}}, indent=draw(st.sampled_from([None, 2])))
        line = line.replace("\n", "\n" + marker)
    elif shape == "json-escaped":
        line = marker + json.dumps(json.dumps({key: secret}))
    elif shape == "flow":
        line = f"{marker}{indent}user: {{name: me, {key}: {secret}}}"
    elif shape == "flag":
        flag = draw(st.sampled_from(["--token", "--password", "--oidc-client-secret", "--client-secret"]))
        line = f"{marker}$ kubectl {flag}{draw(st.sampled_from(['=', ' ']))}{secret} get pods"
    elif shape == "env":
        line = f"{marker}{indent}export AWS_SECRET_ACCESS_KEY={secret}"
    elif shape == "header":
        line = f"{marker}$ curl -H 'Authorization: Bearer {secret}' http://localhost:8000/"
    elif shape == "url":
        secret = quote(secret, safe="")  # as a URL carries it
        line = f'{marker}Get "https://admin:{secret}@127.0.0.1:6443/version?timeout=32s": dial tcp'
    elif shape == "exec-yaml":
        lines = ["users:", "- name: me", "  user:", "    exec:", "      command: aws", "      env:",
                 "      - name: AWS_PROFILE", f"        value: {secret}", "    username: me"]
        line = "\n".join(marker + indent + item for item in lines)
    elif shape == "exec-json":
        body = {"user": {"exec": {"command": "aws", "env": [{"name": "ANYTHING", "value": secret}]}}}
        line = marker + json.dumps(body, indent=draw(st.sampled_from([None, 2]))).replace("\n", "\n" + marker)
    else:  # exec-flow
        line = f"{marker}{indent}exec: {{command: aws, env: [{{name: ANYTHING, value: {secret}}}]}}"
    before = draw(st.sampled_from(["", "pod/caddy created\n", "NAME    READY   STATUS\n"]))
    after = draw(st.sampled_from(["", "\nNAME    READY   STATUS    RESTARTS   AGE", "\n"]))
    return before + line + after, secret


@settings(max_examples=600, deadline=None)
@given(shaped())
def test_no_secret_survives(case: tuple[str, str]) -> None:
    text, secret = case
    cleaned = redact.text(text)
    assert secret not in cleaned, cleaned
    assert redact.REDACTED in cleaned


@settings(max_examples=300, deadline=None)
@given(st.one_of(shaped().map(lambda case: case[0]), st.text(max_size=200)))
def test_idempotent(text: str) -> None:
    once = redact.text(text)
    assert redact.text(once) == once


@settings(max_examples=300, deadline=None)
@given(st.one_of(shaped().map(lambda case: case[0]), st.text(max_size=200)))
def test_never_adds_lines(text: str) -> None:
    assert redact.text(text).count("\n") <= text.count("\n")


def kubectl_outputs() -> list[str]:
    outputs = []
    for path in sorted(CASES.glob("*.yaml")):
        case = yaml.safe_load(path.read_text(encoding="utf-8"))
        for key in ("input", "expected"):
            if isinstance(case.get(key), str):
                # The commands of the corpus carry made-up --token flags; the output does not.
                outputs.append("\n".join(line for line in case[key].splitlines() if not line.startswith("$ ")))
    return outputs


def test_real_kubectl_output_is_untouched() -> None:
    outputs = kubectl_outputs()
    assert len(outputs) > 300
    for output in outputs:
        assert redact.text(output) == output


# --- the shapes the review found missed ----------------------------------------------------------


def test_diff_lines_that_start_with_plus_or_minus() -> None:
    diff = ("--- expected\n+++ actual\n@@ -1,3 +1,3 @@\n"
            "+    client-key-data: S0VZREFUQQ==\n+    password: hunter2hunter2\n-    refresh-token: rt-0123456789\n")
    cleaned = redact.text(diff)
    for secret in ("S0VZREFUQQ==", "hunter2hunter2", "rt-0123456789"):
        assert secret not in cleaned
    assert "--- expected\n+++ actual\n@@ -1,3 +1,3 @@" in cleaned


def test_oidc_exec_env_and_json_credentials() -> None:
    config = {
        "users": [
            {"name": "oidc", "user": {"auth-provider": {"name": "oidc", "config": {
                "client-id": "kubernetes", "client-secret": "oidc-client-secret-value",
                "id-token": "not-a-jwt-but-secret", "refresh-token": "refresh-value-0123"}}}},
            {"name": "eks", "user": {"exec": {"command": "aws", "env": [
                {"name": "AWS_ACCESS_KEY_ID", "value": "AKIAEXAMPLEKEYID"},
                {"name": "AWS_SESSION", "value": "session-value-0123"}]}}},
        ]
    }
    secrets = ("oidc-client-secret-value", "not-a-jwt-but-secret", "refresh-value-0123", "AKIAEXAMPLEKEYID",
               "session-value-0123")
    for text in (yaml.safe_dump(config), json.dumps(config), json.dumps(config, indent=2)):
        cleaned = redact.text(text)
        for secret in secrets:
            assert secret not in cleaned, (secret, cleaned)
        assert "client-id" in cleaned and "kubernetes" in cleaned  # not a secret, kept


def test_url_credentials() -> None:
    assert redact.url("https://admin:pw@10.0.0.1:6443") == "https://10.0.0.1:6443"
    line = 'Unable to connect to the server: dial tcp: lookup https://admin:s3cret@example.test:6443'
    assert "s3cret" not in redact.text(line) and "admin" not in redact.text(line)
    assert redact.text("http://localhost:8000/") == "http://localhost:8000/"


def test_structured_data() -> None:
    report = {"steps": [{"raw_actual": "$ kubectl config view --raw\n    token: abcdefabcdef", "duration": 1.5}],
              "passed": False}
    cleaned = redact.data(report)
    assert cleaned["steps"][0]["raw_actual"].endswith("token: <redacted>")
    assert cleaned["steps"][0]["duration"] == 1.5 and cleaned["passed"] is False
