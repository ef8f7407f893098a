"""The HTTP probe (probes.Prober.run) stays on this machine: it follows a redirect to
another loopback page, refuses one to any other address, and a redirect to a remote name
is refused without a name lookup. A real HTTP server on 127.0.0.1 answers."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from kubelesson.lesson import Probe
from kubelesson.probes import Prober

PAGE = b"<html><head><title>Caddy works!</title></head><body>Caddy works!</body></html>"


class _Handler(http.server.BaseHTTPRequestHandler):
    # path -> where it redirects ({port} is the server's own port)
    redirects = {
        "/moved": "/",
        "/other-loopback": "http://127.0.0.1:{port}/",
        "/remote-name": "http://caddy.kubelesson-redirect-test.example/",
        "/remote-address": "http://192.0.2.10/",
        "/ipv4-mapped": "http://[::ffff:192.0.2.10]/",
        "/file": "file:///etc/passwd",
    }

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        target = self.redirects.get(self.path)
        if target is not None:
            self.send_response(302)
            self.send_header("Location", target.format(port=self.server.server_address[1]))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/by-host" and self.headers.get("Host") != "caddy.local.trapti.tech":
            self.send_error(404)  # as traefik answers a host no Ingress names
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        """A login form: 204 for the right JSON, 401 with a JSON message otherwise."""
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        right = (self.headers.get("Content-Type") == "application/json"
                 and body == b'{"name":"traq","password":"traq"}')
        answer = b"" if right else b'{"message":"password or id is wrong"}'
        self.send_response(204 if right else 401)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(httpd.server_address[1])
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def runner(tmp_path: Path) -> Prober:
    return Prober({})


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The host names anything in this process asks the resolver for (a spy, it still resolves)."""
    asked: list[str] = []
    real = socket.getaddrinfo

    def spy(host: Any, *args: Any, **kwargs: Any) -> Any:
        asked.append(str(host))
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", spy)
    return asked


def probe(runner: Prober, port: int, path: str) -> tuple[bool, str]:
    outcome = runner.run(Probe(url=f"http://localhost:{port}{path}", expect="Caddy works!", timeout=5))
    return outcome.ok, outcome.detail


def test_a_redirect_on_this_machine_is_followed(runner: Prober, server: int) -> None:
    assert probe(runner, server, "/moved") == (True, "HTTP 200: Caddy works!")
    assert probe(runner, server, "/other-loopback") == (True, "HTTP 200: Caddy works!")


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/remote-name", "http://caddy.kubelesson-redirect-test.example/"),
        ("/remote-address", "http://192.0.2.10/"),
        ("/ipv4-mapped", "http://[::ffff:192.0.2.10]/"),
    ],
)
def test_a_redirect_off_this_machine_is_refused(runner: Prober, server: int, lookups: list[str], path: str,
                                                location: str) -> None:
    ok, detail = probe(runner, server, path)
    assert not ok
    assert detail == f"HTTP 302 -> {location}: not followed (not on this machine)"
    # Only the probe's own address was looked up: never the name it was sent to.
    assert set(lookups) <= {"localhost"}, lookups


def test_a_redirect_to_another_scheme_is_refused(runner: Prober, server: int) -> None:
    assert probe(runner, server, "/file") == (False, "HTTP 302")  # urllib's own refusal


def test_a_probe_url_off_this_machine_is_not_fetched(runner: Prober, lookups: list[str]) -> None:
    outcome = runner.run(Probe(url="http://caddy.kubelesson-redirect-test.example:8000/", expect="x"))
    assert not outcome.ok and "not on this machine" in outcome.detail
    assert lookups == []


def test_the_host_header_is_sent_and_the_host_name_never_looked_up(runner: Prober, server: int,
                                                                  lookups: list[str]) -> None:
    """An Ingress routes by the Host header: the probe sends it to the loopback address."""
    url = f"http://localhost:{server}/by-host"
    assert not runner.run(Probe(url=url, expect="Caddy works!", timeout=5)).ok
    outcome = runner.run(Probe(url=url, expect="Caddy works!", timeout=5, host="caddy.local.trapti.tech"))
    assert (outcome.ok, outcome.detail) == (True, "HTTP 200: Caddy works!")
    assert "caddy.local.trapti.tech" not in lookups


def test_a_post_probe_sends_its_json_and_judges_the_status(runner: Prober, server: int) -> None:
    login = Probe(url=f"http://localhost:{server}/login", expect="204", timeout=5,
                  data='{"name":"traq","password":"traq"}')
    outcome = runner.run(login)
    assert (outcome.ok, outcome.detail) == (True, "HTTP 204")
    refused = runner.run(replace(login, data='{"name":"traq","password":"nope"}'))
    assert (refused.ok, refused.detail) == (False, 'HTTP 401: {"message":"password or id is wrong"}')
    assert refused.refused  # the application's own answer: asking again will not change it
    # What a lesson expects is the status: a 401 can be the expected answer too.
    assert runner.run(replace(login, data="{}", expect="401")).ok
