"""The transcript text format: render/parse round trip, and pasted terminal sessions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubelesson.transcript import Entry, NotText, Transcript, decode, parse, render, split_prompt

pytestmark = pytest.mark.usefixtures("no_assertion_pass_hook")


# --- round trip ---------------------------------------------------------------------------------

# Lines, including the tricky ones: lines that look like commands, prompts, exit lines,
# header comments, escaped lines, continuation prompts, blank and indented lines.
TRICKY = st.sampled_from(
    [
        "$ kubectl get pods",
        "$",
        "\\$ not a command",
        "\\\\$ two backslashes",
        "[exit 1]",
        "\\[exit 2]",
        "# key: value",
        "> continued",
        "quote> x",
        "% zsh",
        "❯ kubectl",
        "user@host:~/dir$ ls",
        "PS C:\\Users\\me> dir",
        "^C",
        "",
        "   ",
        "NAME    READY   STATUS    RESTARTS   AGE",
        "caddy   1/1     Running   0          12m",
        "\x1b[32mme@host\x1b[0m:~$ kubectl get pods",
        "\x1b]0;title\x07$ ls",
        "^C$ kubectl delete pod caddy",
        "^C%",
    ]
)
PLAIN = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=30)
LINE = st.one_of(TRICKY, PLAIN)


@st.composite
def outputs(draw: st.DrawFn) -> str:
    lines = draw(st.lists(LINE, max_size=6))
    # An output has no trailing newline and does not end with a blank line (see transcript.py).
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


# A command never holds a terminal escape sequence: parse() reads commands as the terminal
# showed them (see transcript.py). Outputs may hold escapes, and keep them.
COMMANDS = st.one_of(
    st.sampled_from(["kubectl get pods", "kubectl delete pod caddy", "curl -s http://localhost:8000/"]),
    PLAIN.map(lambda text: text.replace("\x1b", "").strip()).filter(bool),
)
ENTRIES = st.builds(Entry, COMMANDS, outputs(), st.integers(-5, 255))
HEADER = st.lists(st.tuples(st.from_regex(r"[a-z][a-z0-9_.-]{0,12}", fullmatch=True), PLAIN), max_size=4).map(tuple)
TRANSCRIPTS = st.builds(Transcript, st.lists(ENTRIES, max_size=6).map(tuple), HEADER)


@settings(max_examples=500, deadline=None)
@given(TRANSCRIPTS)
def test_parse_inverts_render(t: Transcript) -> None:
    assert parse(render(t)) == t


@settings(max_examples=200, deadline=None)
@given(TRANSCRIPTS)
def test_render_is_stable(t: Transcript) -> None:
    text = render(t)
    assert render(parse(text)) == text


def test_format() -> None:
    t = Transcript(
        (
            Entry("kubectl apply -f ./examples/3_pod.yaml", "pod/caddy created"),
            Entry("kubectl get pods", "No resources found in default namespace."),
            Entry(
                "kubectl delete pod caddy",
                'Error from server (NotFound): pods "caddy" not found',
                1,
            ),
            Entry("kubectl port-forward pod/caddy 8000:80"),
        ),
        (("kubelesson", "0.1.0"), ("context", "k3d-hands-on")),
    )
    assert render(t) == (
        "# kubelesson: 0.1.0\n"
        "# context: k3d-hands-on\n"
        "$ kubectl apply -f ./examples/3_pod.yaml\n"
        "pod/caddy created\n"
        "$ kubectl get pods\n"
        "No resources found in default namespace.\n"
        "$ kubectl delete pod caddy\n"
        'Error from server (NotFound): pods "caddy" not found\n'
        "[exit 1]\n"
        "$ kubectl port-forward pod/caddy 8000:80\n"
    )


def test_an_output_line_that_looks_like_a_command_is_escaped() -> None:
    t = Transcript((Entry("cat notes", "$ kubectl get pods\n[exit 3]\n\\$ x"),))
    assert render(t) == "$ cat notes\n\\$ kubectl get pods\n\\[exit 3]\n\\\\$ x\n"
    assert parse(render(t)) == t


def test_empty() -> None:
    assert render(Transcript(())) == ""
    assert parse("") == Transcript(())
    assert parse("\n\n") == Transcript(())


# --- pasted terminal sessions -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("$ kubectl get pods", "kubectl get pods"),
        ("% kubectl get pods", "kubectl get pods"),
        ("❯ kubectl get pods", "kubectl get pods"),
        ("➜  kubectl get pods", "kubectl get pods"),
        ("λ kubectl get pods", "kubectl get pods"),
        ("user@host:~/dir$ kubectl get pods", "kubectl get pods"),
        ("user@host:~/dir# kubectl get pods", "kubectl get pods"),
        ("thor@jump-host ~$ kubectl get pods", "kubectl get pods"),
        ("me@mac ~ % kubectl get pods", "kubectl get pods"),
        ("[centos@admin01 ~]$ kubectl get pods", "kubectl get pods"),
        ("[~]$ k get po", "k get po"),
        ("(venv) $ kubectl get pods", "kubectl get pods"),
        ("(base) user@host:~$ kubectl get pods", "kubectl get pods"),
        ("PS C:\\Users\\me> kubectl get pods", "kubectl get pods"),
        ("PS D:\\work\\k8s> kubectl get pods", "kubectl get pods"),
        ("C:\\Users\\me>kubectl get pods", "kubectl get pods"),
        ("controlplane ~ ➜  k get po", "k get po"),
        ("~/course ❯ kubectl get pods", "kubectl get pods"),
        ("user ~/dir λ kubectl get pods", "kubectl get pods"),
        ("╰─❯ kubectl get pods", "kubectl get pods"),
        ("➜  course git:(main) ✗ kubectl get pods", "kubectl get pods"),
        ("➜  course git:(main) kubectl get pods", "kubectl get pods"),
        ("➜  ~/course kubectl get pods", "kubectl get pods"),
        ("me@host:~/course (main)$ kubectl get pods", "kubectl get pods"),
        ("~/course (main) ❯ kubectl get pods", "kubectl get pods"),
        ("$ kubectl get pods   ", "kubectl get pods"),
        ("$ ", ""),
        ("user@host:~$", ""),
    ],
)
def test_prompts(line: str, command: str) -> None:
    assert split_prompt(line) == command


@pytest.mark.parametrize(
    "line",
    [
        "NAME    READY   STATUS    RESTARTS   AGE",
        "caddy   1/1     Running   0          12m",
        "pod/caddy created",
        "Forwarding from 127.0.0.1:8000 -> 80",
        "  % Total    % Received % Xferd  Average Speed",
        "Hello, world!%",
        "^C",
        "100%",
        'Error from server (NotFound): pods "caddy" not found',
        "# a comment",
    ],
)
def test_output_lines_are_not_prompts(line: str) -> None:
    assert split_prompt(line) is None


SESSION = """\
Last login: Tue Nov 25 19:02:11 on ttys001
me@laptop:~/course$ kubectl apply -f ./examples/3_pod.yaml
pod/caddy created
me@laptop:~/course$ kubectl get pods   \r
NAME    READY   STATUS    RESTARTS   AGE   \r
caddy   0/1     Pending   0          2s

me@laptop:~/course$ kubectl get pods \\
> -o wide
NAME    READY   STATUS    RESTARTS   AGE   IP          NODE
caddy   1/1     Running   0          9s    10.42.0.9   k3d-hands-on-agent-0
me@laptop:~/course$ kubectl port-forward pod/caddy 8000:80
Forwarding from 127.0.0.1:8000 -> 80
Forwarding from [::1]:8000 -> 80
Handling connection for 8000
^C
me@laptop:~/course$ kubectl delete pods caddy
pod "caddy" deleted
me@laptop:~/course$
"""


def test_a_pasted_session() -> None:
    t = parse(SESSION)
    assert [e.command for e in t.entries] == [
        "kubectl apply -f ./examples/3_pod.yaml",
        "kubectl get pods",
        "kubectl get pods -o wide",
        "kubectl port-forward pod/caddy 8000:80",
        "kubectl delete pods caddy",
    ]
    # the banner before the first prompt is not output; blank lines at the end are dropped
    assert t.entries[0].output == "pod/caddy created"
    assert t.entries[1].output.endswith("caddy   0/1     Pending   0          2s")
    # ^C is what the terminal showed: it stays (the comparison of sessions ignores it)
    assert t.entries[3].output.splitlines()[-1] == "^C"
    assert t.header == ()
    assert all(e.exit_code == 0 for e in t.entries)


def test_git_bash_two_line_prompt() -> None:
    text = (
        "diego@DESKTOP-1 MINGW64 ~/k3d-deployment\n$ kubectl get pods\n"
        "No resources found in default namespace.\n\n"
        "diego@DESKTOP-1 MINGW64 ~/k3d-deployment\n$ kubectl delete pod caddy\n"
        'Error from server (NotFound): pods "caddy" not found\n'
    )
    t = parse(text)
    assert [e.output for e in t.entries] == [
        "No resources found in default namespace.",
        'Error from server (NotFound): pods "caddy" not found',
    ]


def test_powershell_session() -> None:
    text = (
        "PS C:\\Users\\me\\course> kubectl apply -f .\\examples\\3_pod.yaml\r\n"
        "pod/caddy created\r\n"
        "PS C:\\Users\\me\\course> kubectl get pods\r\n"
        "NAME    READY   STATUS    RESTARTS   AGE\r\n"
        "caddy   1/1     Running   0          12m\r\n"
        "PS C:\\Users\\me\\course> \r\n"
    )
    t = parse(text)
    assert [e.command for e in t.entries] == [
        "kubectl apply -f .\\examples\\3_pod.yaml",
        "kubectl get pods",
    ]
    assert t.entries[1].output == ("NAME    READY   STATUS    RESTARTS   AGE\ncaddy   1/1     Running   0          12m")


def test_heredoc_continuation_is_part_of_the_command() -> None:
    text = "$ cat <<EOF | kubectl apply -f -\n> apiVersion: v1\n> kind: Pod\n> EOF\n"
    text += "pod/caddy created\n"
    t = parse(text)
    assert t.entries == (Entry("cat <<EOF | kubectl apply -f - apiVersion: v1 kind: Pod EOF", "pod/caddy created"),)


def test_header_only_before_the_first_command() -> None:
    t = parse("# kubelesson: 0.1.0\n# date: 2026-11-25T20:00:00Z\n$ echo\n# not: header\n")
    assert t.header == (("kubelesson", "0.1.0"), ("date", "2026-11-25T20:00:00Z"))
    assert t.entries == (Entry("echo", "# not: header"),)


def test_exit_line_only_counts_at_the_end_of_an_entry() -> None:
    t = parse("$ a\n[exit 2]\nmore\n$ b\nout\n[exit 1]\n\n$ c\n")
    assert t.entries == (Entry("a", "[exit 2]\nmore"), Entry("b", "out", 1), Entry("c"))


# --- what a terminal adds: escapes, redraws, Ctrl-C ------------------------------------------------

# bash with a coloured PS1 and the usual window-title sequence (Ubuntu's default .bashrc).
BASH_COLOUR = "\x1b]0;me@laptop: ~/course\x07\x1b[01;32mme@laptop\x1b[00m:\x1b[01;34m~/course\x1b[00m$ "
# zsh: PROMPT_SP's "%" and spaces redrawn over with \r, bracketed paste switched on and off.
ZSH_REDRAW = "\x1b[1m\x1b[7m%\x1b[27m\x1b[1m\x1b[0m                    \r \r\x1b]2;me@mac:~\x07me@mac ~ % \x1b[?2004h"


@pytest.mark.parametrize(
    ("line", "command"),
    [
        (BASH_COLOUR + "kubectl get pods", "kubectl get pods"),
        (ZSH_REDRAW + "kubectl get pods\x1b[?2004l", "kubectl get pods"),
        ("\x1b]133;A\x1b\\\x1b[1;36m❯\x1b[0m kubectl get pods", "kubectl get pods"),  # starship, OSC 133
        ("\x1b[?2004h$ kubectl get pods\x1b[?2004l\r", "kubectl get pods"),
        ("^C$ kubectl delete pod caddy", "kubectl delete pod caddy"),
        ("^C" + BASH_COLOUR + "kubectl delete pod caddy", "kubectl delete pod caddy"),
    ],
)
def test_prompts_behind_escapes(line: str, command: str) -> None:
    assert split_prompt(line) == command


def test_a_coloured_session_keeps_every_command() -> None:
    text = (
        f"{BASH_COLOUR}kubectl apply -f ./examples/3_pod.yaml\npod/caddy created\n"
        f"{BASH_COLOUR}kubectl port-forward pod/caddy 8000:80\nForwarding from 127.0.0.1:8000 -> 80\n"
        f"^C{BASH_COLOUR}kubectl delete pod caddy\npod \"caddy\" deleted\n{BASH_COLOUR}\n"
    )
    t = parse(text)
    assert [e.command for e in t.entries] == [
        "kubectl apply -f ./examples/3_pod.yaml", "kubectl port-forward pod/caddy 8000:80", "kubectl delete pod caddy"]
    # The Ctrl-C ended the port-forward: it is the end of that output, not lost.
    assert t.entries[1].output == "Forwarding from 127.0.0.1:8000 -> 80\n^C"
    assert t.entries[2].output == 'pod "caddy" deleted'


def test_an_output_line_with_a_prompt_behind_escapes_is_escaped() -> None:
    t = Transcript((Entry("cat log", "\x1b[32m$\x1b[0m kubectl get pods\n^C$ kubectl x"),))
    assert parse(render(t)) == t


# --- decoding a saved file -----------------------------------------------------------------------

SAVED = "PS C:\\course> kubectl get pods\r\nNo resources found in default namespace.\r\n"


@pytest.mark.parametrize(
    "data",
    [
        SAVED.encode("utf-8"),
        b"\xef\xbb\xbf" + SAVED.encode("utf-8"),
        SAVED.encode("utf-16"),  # with a BOM: Windows PowerShell 5.1's `>`
        b"\xff\xfe" + SAVED.encode("utf-16-le"),
        SAVED.encode("utf-16-be"),  # no BOM
        SAVED.encode("utf-16-le"),  # no BOM
    ],
)
def test_decode_text_encodings(data: bytes) -> None:
    assert decode(data) == SAVED
    assert parse(decode(data)).entries == (Entry("kubectl get pods", "No resources found in default namespace."),)


def test_decode_japanese_windows_console() -> None:
    text = "PS C:\\コース> kubectl get pods\r\nNo resources found in default namespace.\r\n"
    assert decode(text.encode("cp932")) == text


@pytest.mark.parametrize(
    "data",
    [
        bytes(range(256)) * 4,
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200),
        b"\xff\xfe\x00\xd8",  # UTF-16 BOM, then a lone surrogate
    ],
)
def test_decode_refuses_binary(data: bytes) -> None:
    with pytest.raises(NotText):
        decode(data)


def test_decode_keeps_text_with_one_garbled_byte() -> None:
    data = ("$ kubectl get pods\n" + "caddy   1/1     Running   0          12m\n" * 20).encode() + b"\xe3\x81\n"
    assert decode(data).startswith("$ kubectl get pods\ncaddy")
