"""The simulated shells and programs (kubelesson/sim/shell/) in-process: how a command
line is read, what each shell says, busybox wget's progress line, the DNS search path.
The same programs are driven through the real kubectl in test_exec_kubectl.py."""

from __future__ import annotations

import uuid

import pytest

from kubelesson.sim.shell.io import Stdin, closed_stdin
from kubelesson.sim.shell.netcmds import _size5, progress_line
from kubelesson.sim.shell.network import Network
from kubelesson.sim.shell.process import container_argv, make_context
from kubelesson.sim.shell.script import SyntaxProblem, expand, parse
from kubelesson.sim.shell.sh import execute
from kubelesson.sim.store import Store


def _run(script: str, image: str = "busybox:1.36", stdin: bytes | None = None,
         shell: str = "sh") -> tuple[str, str, int]:
    out, err = bytearray(), bytearray()
    pod = {"metadata": {"name": "box", "namespace": "default", "uid": str(uuid.uuid4())},
           "spec": {"containers": [{"name": "box", "image": image}]},
           "status": {"podIP": "10.42.0.9"}}
    pipe = closed_stdin()
    if stdin is not None:
        pipe = Stdin()
        pipe.feed(stdin)
        pipe.close()
    ctx = make_context(Store(), pod, pod["spec"]["containers"][0], stdin=pipe,
                       out=out.extend, err=err.extend).child(shell=shell)
    status = execute(ctx, script)
    return out.decode(), err.decode(), status


def test_words_quotes_and_variables() -> None:
    [(joiner, [command])] = parse("""echo 'a $HOME' "b $HOME" c\\ d $X""")
    assert joiner == ";"
    assert [expand(w, {"HOME": "/root"}) for w in command.argv] == [
        "echo", "a $HOME", "b /root", "c d", ""]
    with pytest.raises(SyntaxProblem):
        parse("echo 'open")


def test_lists_pipelines_and_redirections() -> None:
    script = parse("a && b || c; d | e > f 2>&1 # comment")
    assert [j for j, _ in script] == [";", "&&", "||", ";"]
    last = script[-1][1]
    assert [c.argv for c in last] == [["d"], ["e"]]
    assert [(r.fd, r.target) for r in last[1].redirects] == [(1, "f"), (2, "&1")]


def test_status_and_lists_run_in_order() -> None:
    assert _run("false; echo $?; false && echo no || echo yes") == ("1\nyes\n", "", 0)
    out, _, status = _run("sh -c 'exit 5'; echo $?")
    assert (out, status) == ("5\n", 0)


def test_each_shell_words_a_missing_program_its_own_way() -> None:
    assert _run("nosuch") == ("", "sh: nosuch: not found\n", 127)
    assert _run("nosuch", image="redis:7") == ("", "sh: 1: nosuch: not found\n", 127)
    assert _run("nosuch", image="redis:7", shell="bash") == (
        "", "bash: line 1: nosuch: command not found\n", 127)
    # busybox has wget; Debian's redis image has not.
    assert _run("wget", image="redis:7")[2] == 127


def test_files_cd_and_pipes() -> None:
    out, err, status = _run(
        "cd /tmp && echo hello > greeting && cat greeting | wc -c; echo x >/dev/null;"
        " cat /etc/resolv.conf | grep search; cd /nope")
    assert out == "6\nsearch default.svc.cluster.local svc.cluster.local cluster.local\n"
    assert (err, status) == ("sh: cd: can't cd to /nope: No such file or directory\n", 2)
    out, err, status = _run("cat /nope; cat", stdin=b"piped\n")
    assert out == "piped\n"
    assert err == "cat: can't open '/nope': No such file or directory\n"


def test_environment_and_hostname() -> None:
    out, _, _ = _run("hostname; printenv HOSTNAME HOME; A=1; echo $A")
    assert out == "box\nbox\n/root\n1\n"


def test_busybox_wget_progress_line() -> None:
    assert progress_line("-", 615) == (
        "-                    100% |********************************|   615  0:00:00 ETA\n")
    assert progress_line("a-very-long-file-name.html", 0) == (
        "a-very-long-file-nam     0 --:--:-- ETA\n")
    assert [_size5(n) for n in (0, 99999, 100000, 1048576, 123456789)] == [
        "    0", "99999", "97.6k", "1024k", " 117M"]


def test_dns_search_path() -> None:
    net = Network(Store(), "lesson")
    assert net.search_names("caddy") == [
        "caddy.lesson.svc.cluster.local", "caddy.svc.cluster.local", "caddy.cluster.local",
        "caddy"]
    assert net.search_names("caddy.lesson.svc.cluster.local.") == [
        "caddy.lesson.svc.cluster.local"]
    assert net.search_names("a.b.c.d.e.f")[0] == "a.b.c.d.e.f"  # ndots:5
    assert net.lookup("10.43.0.1") is not None
    assert net.lookup("example.com") is None  # no Internet


def test_a_containers_command() -> None:
    assert container_argv({"args": ["wget", "-qO-", "x"]}) == ["wget", "-qO-", "x"]
    assert container_argv({"command": ["sh", "-c"], "args": ["echo"]}) == ["sh", "-c", "echo"]
    assert container_argv({}) == ["sh"]


@pytest.mark.parametrize(
    ("script", "out", "status"),
    [
        ("echo -e 'a x a\\nb\\na' | grep -o a", "a\na\na\n", 0),
        ("echo -e 'a x a\\nb\\na' | grep -m1 -o a", "a\na\n", 0),
        ("echo -e 'a x a\\nb\\na' | grep -m 1 a", "a x a\n", 0),
        ("echo -e 'a.b\\naxb' | grep -F a.b", "a.b\n", 0),
        ("echo b | grep -o a", "", 1),
    ],
)
def test_grep_only_matching_and_max_count(script: str, out: str, status: int) -> None:
    got, _, code = _run(script)
    assert (got, code) == (out, status)
