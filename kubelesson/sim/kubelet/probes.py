"""One probe of a container, as the kubelet's probers (pkg/probe/...) run it, and the probe
defaults kube-apiserver writes into the stored object.

`run` answers what one attempt gives: a result (success, warning, failure or unknown), the
output the kubelet puts into its `Unhealthy` event, and an error when the probe could not
be run at all (the kubelet then throws the attempt away). The programs probed are the
simulated ones (network/dataplane.py finds what listens on a pod's port; shell/ runs exec
probes), so a probe sees exactly what a port-forward or a wget from another pod sees.

* httpGet: GET over HTTP/1.1 to the pod IP (or `host`), `User-Agent: kube-probe/1.<minor>`,
  `Accept: */*`, the probe's headers (a `Host` header replaces the host); 200-399 succeed, a
  redirect to the same host name is followed (at most 10), one to another host ends the
  probe with a warning; failures read as Go's HTTP client words them (`Get "http://...":
  dial tcp ...: connect: connection refused`, `HTTP probe failed with statuscode: 404`).
* tcpSocket: succeeds when something listens on the port.
* exec: the command runs in the container's simulated shell (no shell involved, as the
  runtime execs argv); exit 0 succeeds, another exit fails with the command's output, a
  program the image lacks is containerd's exec error (the probe errored).
* grpc: no simulated program speaks gRPC, so the probe fails the way it fails against any
  server without the gRPC health service: after timeoutSeconds.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from kubelesson.sim.kubelet.backends import serve_client
from kubelesson.sim.network.dns import is_ip
from kubelesson.sim.store import Obj

KINDS = ("livenessProbe", "readinessProbe", "startupProbe")
SUCCESS, WARNING, FAILURE, UNKNOWN = "success", "warning", "failure", "unknown"
MAX_BODY = 10 * 1024  # the kubelet reads at most 10 KiB of a response body
MAX_REDIRECTS = 10
NODE_DNS = "127.0.0.11:53"  # the resolver of a k3d node (Docker's embedded DNS)

# Finds what listens on a port of the pod: (pod, port) -> a Backend or None.
Listener = Callable[[Obj, int], Any]
# Connects to an address of the cluster network: (ip, port) -> a Backend, "refused" or
# "timeout" (network/dataplane.py Dataplane.connect).
Connector = Callable[[str, int], Any]


@dataclass(frozen=True)
class Outcome:
    result: str
    output: str = ""
    error: str | None = None  # the probe could not run: the kubelet discards the attempt


# -- the apiserver's defaults ------------------------------------------------------------------
def set_defaults(container: Obj) -> None:
    """SetDefaults_Probe and SetDefaults_HTTPGetAction for a container's probes: what the
    stored object (and so `kubectl describe`) shows. initialDelaySeconds has no default: it
    stays out of the object, which means 0."""
    for kind in KINDS:
        probe = container.get(kind)
        if not isinstance(probe, dict):
            continue
        for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10),
                           ("successThreshold", 1), ("failureThreshold", 3)):
            if not probe.get(key):
                probe[key] = value
        action = probe.get("httpGet")
        if isinstance(action, dict):
            if not action.get("path"):
                action["path"] = "/"
            if not action.get("scheme"):
                action["scheme"] = "HTTP"
        grpc = probe.get("grpc")
        if isinstance(grpc, dict) and grpc.get("service") is None:
            grpc["service"] = ""


def set_pod_defaults(spec: Obj) -> None:
    for key in ("containers", "initContainers"):
        for container in spec.get(key) or []:
            if isinstance(container, dict):
                set_defaults(container)


# -- helpers ------------------------------------------------------------------------------------
def resolve_port(value: Any, container: Mapping[str, Any]) -> tuple[int, str | None]:
    """probe.ResolveContainerPort: a number, or a container port's name (or a number written
    as a string); the error is Go's."""
    if isinstance(value, bool) or value is None:
        return -1, f"intOrString had no kind: {value!r}"
    if isinstance(value, int):
        port = value
    else:
        text = str(value)
        named = [p.get("containerPort") for p in container.get("ports") or []
                 if isinstance(p, Mapping) and p.get("name") == text]
        if named and isinstance(named[0], int):
            port = named[0]
        elif re.fullmatch(r"[+-]?\d+", text):
            port = int(text)
        else:
            return -1, f'strconv.Atoi: parsing "{text}": invalid syntax'
    if 0 < port < 65536:
        return port, None
    return port, f"invalid port number: {port}"



def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def expand(command: list[Any], container: Mapping[str, Any]) -> list[str]:
    """ExpandContainerCommandOnlyStatic: $(VAR) from the container's literal env values;
    `$$` is a literal `$`; an unknown variable stays as written."""
    values = {str(e.get("name")): str(e.get("value", "")) for e in container.get("env") or []
              if isinstance(e, Mapping) and "valueFrom" not in e}

    def one(text: str) -> str:
        def sub(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name = match.group(1)
            return values.get(name, match.group(0))

        return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", sub, text)

    return [one(str(arg)) for arg in command]


# -- running a probe ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """What a probe of one container can reach."""

    pod: Obj
    container: Obj
    listener: Listener  # programs in this pod
    connect: Connector  # any other address
    store: Any  # for exec probes (the shell's view of the cluster)
    minor: int  # the kubelet's minor version (User-Agent)
    client: str = ""  # where the kubelet's connections come from: the node's bridge address
    stopping: threading.Event = field(default_factory=threading.Event)  # the kubelet stops


def run(probe: Mapping[str, Any], target: Target) -> Outcome:
    timeout = float(probe.get("timeoutSeconds") or 1)
    if isinstance(probe.get("exec"), Mapping):
        return _exec(probe["exec"], target, timeout)
    if isinstance(probe.get("httpGet"), Mapping):
        return _http(probe["httpGet"], target, timeout)
    if isinstance(probe.get("tcpSocket"), Mapping):
        return _tcp(probe["tcpSocket"], target)
    if isinstance(probe.get("grpc"), Mapping):
        return _grpc(probe["grpc"], target, timeout)
    meta = target.pod.get("metadata") or {}
    return Outcome(UNKNOWN, "", f"missing probe handler for {meta.get('name')}_"
                                f"{meta.get('namespace')}({meta.get('uid')}):"
                                f"{target.container.get('name')}")


def _pod_ip(target: Target) -> str:
    return str((target.pod.get("status") or {}).get("podIP") or "")


def _reach(target: Target, host: str, port: int) -> Any:
    """The program at host:port, "refused", "timeout" or a DNS error text."""
    if host == _pod_ip(target):
        found = target.listener(target.pod, port)
        return found if found is not None else "refused"
    if not is_ip(host):
        return f"dial tcp: lookup {host} on {NODE_DNS}: no such host"
    return target.connect(host, port)


def _dial_error(reached: Any, host: str, port: int) -> str | None:
    address = _join(host, port)
    if reached == "refused":
        return f"dial tcp {address}: connect: connection refused"
    if reached == "timeout":
        return f"dial tcp {address}: i/o timeout"
    if isinstance(reached, str):
        return reached
    return None


def _tcp(action: Mapping[str, Any], target: Target) -> Outcome:
    port, problem = resolve_port(action.get("port"), target.container)
    if problem:
        return Outcome(UNKNOWN, "", problem)
    host = str(action.get("host") or _pod_ip(target))
    failed = _dial_error(_reach(target, host, port), host, port)
    return Outcome(FAILURE, failed) if failed else Outcome(SUCCESS)


def _grpc(action: Mapping[str, Any], target: Target, timeout: float) -> Outcome:
    """The kubelet dials with WithBlock until the timeout; none of the simulated programs
    completes a gRPC handshake, and a refused connection is retried the same way."""
    port = action.get("port")
    address = _join(_pod_ip(target), int(port) if isinstance(port, int) else 0)
    target.stopping.wait(timeout)
    return Outcome(FAILURE, f'timeout: failed to connect service "{address}" within '
                            f"{_go_seconds(timeout)}: context deadline exceeded")


def _go_seconds(seconds: float) -> str:
    return f"{int(seconds)}s" if seconds == int(seconds) else f"{seconds}s"


# -- exec ------------------------------------------------------------------------------------
def exec_error(argv0: str) -> str:
    """What the kubelet gets from containerd's ExecSync for a program the image lacks."""
    return ("rpc error: code = Unknown desc = failed to exec in container: failed to start "
            f'exec "{uuid.uuid4().hex}{uuid.uuid4().hex}": OCI runtime exec failed: exec '
            "failed: unable to start container process: exec: "
            f'"{argv0}": executable file not found in $PATH: unknown')


def _exec(action: Mapping[str, Any], target: Target, timeout: float) -> Outcome:
    from kubelesson.sim.shell import process as processes
    from kubelesson.sim.shell.io import Killed, closed_stdin
    from kubelesson.sim.shell.sh import NotFound, run_argv

    argv = expand(list(action.get("command") or []), target.container)
    if not argv:
        return Outcome(UNKNOWN, "", exec_error(""))
    out: list[bytes] = []
    err: list[bytes] = []
    killed = threading.Event()
    done: dict[str, Any] = {}

    def execute() -> None:
        try:
            ctx = processes.make_context(target.store, target.pod, target.container,
                                         stdin=closed_stdin(), out=out.append,
                                         err=err.append, killed=killed)
            done["code"] = run_argv(ctx, argv)
        except NotFound:
            done["missing"] = True
        except Killed:
            done["code"] = 137
        except Exception as exc:  # a bug in a simulated program: an exec error
            done["error"] = f"rpc error: code = Unknown desc = {exc}"

    thread = threading.Thread(target=execute, name="sim-exec-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        killed.set()  # ExecSync's deadline: the kubelet reports a timed-out command
        thread.join(timeout)
        return Outcome(FAILURE, f'command "{" ".join(argv)}" timed out')
    if done.get("missing"):
        return Outcome(UNKNOWN, "", exec_error(argv[0]))
    if "error" in done:
        return Outcome(UNKNOWN, "", str(done["error"]))
    # RunInContainer returns stdout then stderr, and the prober keeps at most 10 KiB.
    output = (b"".join(out) + b"".join(err))[:MAX_BODY].decode("utf-8", "replace")
    return Outcome(SUCCESS if done.get("code") == 0 else FAILURE, output)


# -- httpGet ---------------------------------------------------------------------------------
def _url(scheme: str, host: str, port: int, path: str) -> str:
    """formatURL: the path parsed as a URL, scheme and host:port put in."""
    if not path.startswith("/"):
        path = "/" + path
    return f"{scheme}://{_join(host, port)}{path}"


def _http(action: Mapping[str, Any], target: Target, timeout: float) -> Outcome:
    port, problem = resolve_port(action.get("port"), target.container)
    if problem:
        return Outcome(UNKNOWN, "", problem)
    scheme = str(action.get("scheme") or "HTTP").lower()
    host = str(action.get("host") or _pod_ip(target))
    headers: list[tuple[str, str]] = []
    for header in action.get("httpHeaders") or []:
        if isinstance(header, Mapping):
            headers.append((str(header.get("name", "")), str(header.get("value", ""))))
    url = _url(scheme, host, port, str(action.get("path") or "/"))
    first_host = host
    for _ in range(MAX_REDIRECTS + 1):
        reply = _get(target, url, headers, timeout)
        if isinstance(reply, str):
            return Outcome(FAILURE, f'Get "{url}": {reply}')
        status, location, body = reply
        if status in (301, 302, 303, 307, 308) and location:
            following = _resolve(url, location)
            parts = urlsplit(following)
            if (parts.hostname or "") != first_host:
                text = body[:MAX_BODY].decode("utf-8", "replace")
                return Outcome(WARNING, f"Probe terminated redirects, Response body: {text}")
            url = following
            continue
        text = body[:MAX_BODY].decode("utf-8", "replace")
        if 200 <= status < 400:
            if status >= 300:
                return Outcome(WARNING, f"Probe terminated redirects, Response body: {text}")
            return Outcome(SUCCESS, text)
        return Outcome(FAILURE, f"HTTP probe failed with statuscode: {status}")
    return Outcome(FAILURE, f'Get "{url}": stopped after {MAX_REDIRECTS} redirects')


def _resolve(base: str, location: str) -> str:
    if "://" in location:
        return location
    parts = urlsplit(base)
    if location.startswith("/"):
        return f"{parts.scheme}://{parts.netloc}{location}"
    directory = parts.path.rsplit("/", 1)[0]
    return f"{parts.scheme}://{parts.netloc}{directory}/{location}"


def _get(target: Target, url: str, headers: list[tuple[str, str]],
         timeout: float) -> tuple[int, str, bytes] | str:
    """One GET: (status, Location, body), or the error Go's client gives after `Get "url": `."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    reached = _reach(target, host, port)
    failed = _dial_error(reached, host, port)
    if failed:
        return failed
    ours, theirs = socket.socketpair()
    ours.settimeout(timeout)
    server = threading.Thread(target=_serve, args=(reached, theirs, target.client),
                              name="sim-http-probe", daemon=True)
    server.start()
    try:
        if parts.scheme == "https":
            return _https(ours)
        ours.sendall(_request(parts, headers, _join(host, port), target.minor))
        return _response(ours)
    except TimeoutError:
        return "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
    except OSError:
        return "EOF"
    finally:
        with contextlib.suppress(OSError):
            ours.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            ours.close()
        server.join(timeout)  # the program sees the connection closed and is done with it


def _serve(backend: Any, conn: socket.socket, client: str) -> None:
    try:
        serve_client(backend, conn, client)
    except Exception:  # a simulated program's bug must not stop the prober
        pass
    finally:
        with contextlib.suppress(OSError):
            conn.close()


def _request(parts: Any, headers: list[tuple[str, str]], host: str, minor: int) -> bytes:
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    named = {name.lower() for name, _ in headers}
    lines = [f"GET {target} HTTP/1.1"]
    host_value = next((v for n, v in headers if n.lower() == "host"), host)
    lines.append(f"Host: {host_value}")
    if "user-agent" not in named:
        lines.append(f"User-Agent: kube-probe/1.{minor}")
    if "accept" not in named:
        lines.append("Accept: */*")
    lines += [f"{n}: {v}" for n, v in headers if n.lower() != "host"]
    lines.append("Connection: close")  # the probe's transport keeps no connection alive
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")


def _read_until(sock: socket.socket, data: bytes, marker: bytes) -> bytes:
    while marker not in data and len(data) < 1024 * 1024:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def go_quote(raw: bytes) -> str:
    """Go's %q of a string: printable ASCII as is, the rest escaped."""
    escapes = {0x07: "\\a", 0x08: "\\b", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r",
               0x09: "\\t", 0x0B: "\\v", 0x22: '\\"', 0x5C: "\\\\"}
    out = "".join(escapes.get(b, chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}") for b in raw)
    return f'"{out}"'


def _response(sock: socket.socket) -> tuple[int, str, bytes] | str:
    """Go's client reads the status line first: a reply that is not HTTP fails there."""
    data = _read_until(sock, b"", b"\n")
    if not data:
        return "EOF"
    first = data.split(b"\n", 1)[0].rstrip(b"\r")
    match = re.fullmatch(rb"HTTP/1\.[01] (\d{3})(?: .*)?", first)
    if match is None:
        return ("net/http: HTTP/1.x transport connection broken: malformed HTTP response "
                + go_quote(first))
    data = _read_until(sock, data, b"\r\n\r\n")
    head, _, body = data.partition(b"\r\n\r\n")
    fields = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    length = fields.get("content-length", "")
    want = int(length) if length.isdigit() else None
    while (want is None or len(body) < want) and len(body) <= MAX_BODY:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(match.group(1)), fields.get("location", ""), body


def _https(sock: socket.socket) -> str:
    """Go's TLS client against the simulated servers, none of which speaks TLS: an HTTP
    server answers the ClientHello with a 400, which net/http recognises."""
    sock.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n")
    head = _read_until(sock, b"", b"\n")
    if head.startswith(b"HTTP/"):
        return "http: server gave HTTP response to HTTPS client"
    if not head:
        return "EOF"
    return "tls: first record does not look like a TLS handshake"
