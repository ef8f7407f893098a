"""The lesson's probes: what a learner would do to look at the result of a step (open a
page, talk to Redis or MySQL), done by kubelesson and shown as the command the learner
would type. Every probe stays on this machine."""

from __future__ import annotations

import email.message
import http.client
import ipaddress
import re
import shlex
import socket
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import IO

from kubelesson import mysql, resp
from kubelesson.lesson import Probe
from kubelesson.ports import with_port
from kubelesson.transcript import Entry


@dataclass(frozen=True)
class ProbeOutcome:
    probe: Probe
    url: str  # the URL actually fetched (port substituted)
    ok: bool
    detail: str  # what came back: the status and a short excerpt, or the error
    rejected: bool = False  # the body held the probe's ``reject`` text (the image's own page)
    session: str = ""  # a Redis probe: the session as redis-cli shows it
    refused: bool = False  # a form the application itself turned down (asking again won't help)



class Prober:
    """Runs probes through the local ports the lesson's port-forwards use (``ports``: local
    port -> the lesson's port, shared with the runner)."""

    def __init__(self, ports: dict[int, int]) -> None:
        self.ports = ports

    def run(self, probe: Probe) -> ProbeOutcome:
        """GET the probe's page through the forwarded port. A probe never leaves this machine:
        no proxy, and a redirect is followed only to a loopback address, judged from the URL
        alone, so a redirect to a remote name is not even looked up."""
        if probe.is_redis:
            return self.redis(probe)
        if probe.mysql:
            return self.mysql(probe)
        url = with_port(probe.url, self.ports)
        if not _on_loopback(url):
            return ProbeOutcome(probe, url, False, f"{url}: {_OFF_LOOPBACK}")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _LoopbackRedirects())
        # An Ingress routes by the Host header; the connection itself stays on this machine.
        headers = {"Host": probe.host} if probe.host else {}
        data = None
        if probe.data is not None:
            headers["Content-Type"] = "application/json"
            data = probe.data.encode()
        request = urllib.request.Request(url, data=data, headers=headers)
        try:
            with opener.open(request, timeout=probe.timeout) as response:
                body = response.read(1 << 20).decode("utf-8", "replace")
                if probe.data is not None:  # a form: the status says how it went
                    ok = str(response.status) == probe.expect
                    return ProbeOutcome(probe, url, ok, _status_detail(response.status, body))
                rejected = bool(probe.reject) and probe.reject in body
                ok = probe.expect in body and not rejected
                return ProbeOutcome(probe, url, ok, f"HTTP {response.status}: {_excerpt(body)}", rejected)
        except _Refused as exc:
            return ProbeOutcome(probe, url, False, f"HTTP {exc.code} -> {exc.location}: {_OFF_LOOPBACK}")
        except urllib.error.HTTPError as exc:
            if probe.data is not None:
                body = exc.read(1 << 16).decode("utf-8", "replace")
                # 404 and 5xx are the way there (a route not set up yet, a backend starting);
                # another 4xx is the application's own answer to what was sent.
                refused = 400 <= exc.code < 500 and exc.code not in (404, 408, 429)
                return ProbeOutcome(probe, url, str(exc.code) == probe.expect, _status_detail(exc.code, body),
                                    refused=refused)
            return ProbeOutcome(probe, url, False, f"HTTP {exc.code}")
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            return ProbeOutcome(probe, url, False, str(reason))

    def _local(self, address: str) -> tuple[str, int, int]:
        """host, the lesson's port and the local port really used (a port-forward may have moved)."""
        host, _, port = address.partition(":")
        used = next((local for local, wanted in self.ports.items() if wanted == int(port)), int(port))
        return host, int(port), used

    def mysql(self, probe: Probe) -> ProbeOutcome:
        """A MySQL session through the forwarded port, shown as the mysql client shows it."""
        import pymysql

        host, _, used = self._local(probe.url)
        try:
            lines = mysql.session("127.0.0.1", used, probe.user, probe.password, probe.send,
                                  timeout=probe.timeout, prepare=probe.prepare)
        except (pymysql.err.MySQLError, OSError) as exc:
            return ProbeOutcome(probe, f"{host}:{used}", False, str(exc))
        return ProbeOutcome(probe, f"{host}:{used}", True, "", session="\n".join(lines))

    def redis(self, probe: Probe) -> ProbeOutcome:
        """A Redis session through the forwarded port, shown the way redis-cli shows it
        (its prompt names the lesson's port, whichever local port was used)."""
        host, port, used = self._local(probe.url)
        lines: list[str] = []
        try:
            with socket.create_connection(("127.0.0.1", used), timeout=probe.timeout) as sock:
                stream = sock.makefile("rb")
                for command in probe.send:
                    sock.sendall(resp.encode(shlex.split(command)))
                    lines += [f"{host}:{port}> {command}", *resp.render(resp.read(stream))]
        except (OSError, resp.ProtocolError, ValueError) as exc:
            return ProbeOutcome(probe, f"{host}:{used}", False, str(exc))
        return ProbeOutcome(probe, f"{host}:{used}", True, "", session="\n".join(lines))

    def entry(self, probe: Probe, outcome: ProbeOutcome | None) -> Entry:
        """The probe as the shell command a learner would type to check the same thing."""
        if probe.is_redis or probe.mysql:
            command = probe.shell_command(outcome.url if outcome else None)
            return Entry(command, outcome.session, 0) if outcome and outcome.ok else Entry(command, "", 1)
        command = probe.shell_command(outcome.url if outcome else with_port(probe.url, self.ports))
        if outcome and outcome.ok:
            return Entry(command, probe.expect, 0)
        return Entry(command, "", 1)


def at_port(url: str, port: int) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.hostname}:{port}"))


def _status_detail(status: int, body: str) -> str:
    return f"HTTP {status}: {_excerpt(body)}" if body.strip() else f"HTTP {status}"


def _excerpt(body: str) -> str:
    title = re.search(r"<title>(.*?)</title>", body, re.S | re.I)
    text = title.group(1) if title else body
    return " ".join(text.split())[:80]


# --- the probe stays on this machine (Runner.probe) -------------------------------------

_OFF_LOOPBACK = "not followed (not on this machine)"


def _on_loopback(url: str) -> bool:
    """Is ``url`` an http(s) URL on this machine: ``localhost``, 127.0.0.0/8 or ::1?
    Decided from the text, without a name lookup."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not host:
        return False
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name other than localhost: it would need a lookup, which we refuse
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


class _Refused(urllib.error.HTTPError):
    """A redirect off this machine, not followed."""

    def __init__(self, url: str, code: int, location: str) -> None:
        super().__init__(url, code, _OFF_LOOPBACK, email.message.Message(), None)
        self.location = location


class _LoopbackRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects like urllib does, but only to loopback URLs."""

    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
                         headers: http.client.HTTPMessage, newurl: str) -> urllib.request.Request | None:
        if not _on_loopback(newurl):
            raise _Refused(req.full_url, code, newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


