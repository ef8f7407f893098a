"""traefik's Kubernetes Ingress provider and HTTP router, as the simulated traefik pod runs
them behind the host's port 80.

The routes are built from the stored objects for every request, the way traefik's provider
builds its configuration (traefik does it on every change, after its 2 s throttle):

* An Ingress is traefik's when its `ingressClassName` names an IngressClass whose
  controller is `traefik.io/ingress-controller`, or when it names no class and has no
  `kubernetes.io/ingress.class` annotation (or that annotation says `traefik`).
* Each path of each rule becomes a router with the rule `Host("h") && PathPrefix("/p")`
  (`Path` for pathType Exact; `PathPrefix` for Prefix and ImplementationSpecific: a
  character-wise prefix, so `/foo` also matches `/foobar`, as traefik does unless
  strictPrefixMatching is set). A rule without a host matches every host.
* A path whose Service does not exist, lacks the port, or has no ready endpoint gets no
  router at all ("Skipping service: no endpoints found"), so its requests fall through to
  the next router or to the 404.
* Routers are tried by priority, the length of the rule text (a longer path or a host
  beats a shorter or no one), or the `traefik.ingress.kubernetes.io/router.priority`
  annotation. Two Ingresses with the same host and path (two namespaces, say) have equal
  priorities; real traefik then serves either one, and may switch whenever it rebuilds its
  configuration; the simulator always takes the older Ingress.
* No router matches: traefik's `404 page not found` (Go's http.NotFound). The endpoint
  picked does not listen on the port: `502 Bad Gateway` with the body `Bad Gateway`.

A matched request goes to one of the Service's ready endpoints, round robin, as traefik's
load balancer sends it: to the same simulated program a port-forward reaches. The answer is
passed back as Go's reverse proxy passes it (headers in sorted order, hop-by-hop headers
dropped).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus

from kubelesson.sim.kubelet.backends import MAX_BODY, Backend, HttpRequest, HttpServer, _Buffered
from kubelesson.sim.network.dataplane import Dataplane, endpoints, service_port, target_port
from kubelesson.sim.store import Obj, Store

CONTROLLER = "traefik.io/ingress-controller"
CLASS_ANNOTATION = "kubernetes.io/ingress.class"
PRIORITY_ANNOTATION = "traefik.ingress.kubernetes.io/router.priority"
MATCHER_ANNOTATION = "traefik.ingress.kubernetes.io/router.pathmatcher"
INGRESSES = "ingresses.networking.k8s.io"
INGRESS_CLASSES = "ingressclasses.networking.k8s.io"
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authenticate",
              "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"}
BACKEND_JOIN_SECONDS = 2.0


@dataclass(frozen=True)
class Route:
    priority: int
    created: str
    namespace: str
    ingress: str
    host: str  # "" matches every host; "*.example.com" one label
    path: str  # "" matches every path
    matcher: str  # "Path" or "PathPrefix"
    service: str
    port_number: int
    port_name: str

    def matches(self, host: str, path: str) -> bool:
        if self.host and not _host_matches(host, self.host):
            return False
        if not self.path:
            return True
        return path == self.path if self.matcher == "Path" else path.startswith(self.path)


def _host_matches(requested: str, expression: str) -> bool:
    requested, expression = requested.lower().rstrip("."), expression.lower().rstrip(".")
    if expression.startswith("*"):
        labels = requested.split(".")
        labels[0] = "*"
        return ".".join(labels) == expression
    return requested == expression


def _rule_text(host: str, matcher: str, path: str) -> str:
    parts = [f'Host("{host}")'] if host else []
    if path:
        parts.append(f'{matcher}("{path}")')
    return " && ".join(parts)


def traefik_classes(store: Store) -> set[str]:
    classes, _ = store.list(INGRESS_CLASSES)
    return {c["metadata"]["name"] for c in classes
            if (c.get("spec") or {}).get("controller") == CONTROLLER}


def is_traefiks(ingress: Obj, classes: set[str]) -> bool:
    """shouldProcessIngress, for a traefik started without an ingressClass option."""
    name = (ingress.get("spec") or {}).get("ingressClassName")
    if name:
        return name in classes
    annotation = (ingress["metadata"].get("annotations") or {}).get(CLASS_ANNOTATION, "")
    return annotation in ("", "traefik")


def _backend_ready(store: Store, namespace: str, backend: Obj, allow_empty: bool) -> bool:
    """The Service exists, has the port and has at least one ready endpoint (or need not:
    allowEmptyServices)."""
    service = backend.get("service") if isinstance(backend, dict) else None
    if not isinstance(service, dict):
        return False  # resource backends are not supported by traefik
    svc = store.get("services", namespace, str(service.get("name") or ""))
    if svc is None:
        return False
    port = service.get("port") or {}
    found = service_port(svc, port=port.get("number") or None, name=port.get("name") or None)
    return found is not None and (allow_empty or bool(endpoints(store, svc)))


def _route(ingress: Obj, host: str, path: Obj | None, backend: Obj, priority: int) -> Route:
    annotations = ingress["metadata"].get("annotations") or {}
    value = str((path or {}).get("path") or "")
    matcher = "PathPrefix"
    if path is not None and path.get("pathType") == "Exact":
        matcher = "Path"
    elif annotations.get(MATCHER_ANNOTATION) in ("Path", "PathPrefix"):
        matcher = annotations[MATCHER_ANNOTATION]
    if path is None:
        value = "/"
    if not priority:
        raw = annotations.get(PRIORITY_ANNOTATION, "")
        priority = int(raw) if raw.lstrip("-").isdigit() else len(_rule_text(host, matcher, value))
    service = backend["service"]
    port = service.get("port") or {}
    return Route(priority, str(ingress["metadata"].get("creationTimestamp", "")),
                 ingress["metadata"].get("namespace", ""), ingress["metadata"]["name"], host,
                 value, matcher, str(service.get("name")), int(port.get("number") or 0),
                 str(port.get("name") or ""))


def routes(store: Store, allow_empty: bool = False) -> list[Route]:
    """Every router traefik has now, the one to try first first."""
    classes = traefik_classes(store)
    found: list[Route] = []
    default: Route | None = None
    ingresses, _ = store.list(INGRESSES)
    for ingress in sorted(ingresses, key=lambda i: i["metadata"].get("creationTimestamp", "")):
        if ingress["metadata"].get("deletionTimestamp") or not is_traefiks(ingress, classes):
            continue
        spec = ingress.get("spec") or {}
        namespace = ingress["metadata"].get("namespace", "")
        rules = [r for r in spec.get("rules") or [] if isinstance(r, dict)]
        backend = spec.get("defaultBackend")
        if not rules and isinstance(backend, dict) and default is None and _backend_ready(
                store, namespace, backend, allow_empty):
            default = _route(ingress, "", None, backend, -(2**31))  # math.MinInt32
        for rule in rules:
            http = rule.get("http")
            if not isinstance(http, dict):
                continue
            for path in http.get("paths") or []:
                if isinstance(path, dict) and _backend_ready(
                        store, namespace, path.get("backend") or {}, allow_empty):
                    found.append(_route(ingress, str(rule.get("host") or ""), path,
                                        path["backend"], 0))
    found.sort(key=lambda r: -r.priority)  # stable: equal priorities keep the older first
    return found + ([default] if default else [])


def choose(candidates: Iterable[Route], host: str, path: str) -> Route | None:
    return next((r for r in candidates if r.matches(host, path)), None)


# --- the HTTP side ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def go_error(status: int, body: bytes, *, plain: bool = True) -> Answer:
    """What Go's http.Error (and http.NotFound) writes: the handler's headers, then Date and
    Content-Length, in Go's order."""
    headers: list[tuple[str, str]] = [("Content-Type", "text/plain; charset=utf-8")]
    if plain:
        headers.append(("X-Content-Type-Options", "nosniff"))
    headers += [("Date", formatdate(usegmt=True)), ("Content-Length", str(len(body)))]
    return Answer(status, headers, body)


NOT_FOUND = b"404 page not found\n"
NO_SERVER = b"no available server\n"  # traefik's wrr balancer with no server


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def render(answer: Answer, *, close: bool, head: bool = False) -> bytes:
    """The answer on the wire (for HEAD, its headers only, Content-Length as given)."""
    lines = [f"HTTP/1.1 {answer.status} {_reason(answer.status)}"]
    lines += [f"{k}: {v}" for k, v in answer.headers]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if head else answer.body)


class TraefikRouter(HttpServer):
    """The traefik program on its `web` entry point (container port 8000)."""

    def __init__(self, dataplane: Dataplane, pod: Obj, *, allow_empty: bool = False) -> None:
        self.dataplane = dataplane
        self.allow_empty = allow_empty
        self.store = dataplane.store
        self.pod_name = str(pod["metadata"]["name"])
        self._turns: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def bad_request(self) -> bytes:
        return (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
                b"Connection: close\r\n\r\n400 Bad Request")

    def respond(self, request: HttpRequest, body: bytes, conn: socket.socket, *,
                close: bool) -> bytes:
        answer = self.answer(request, body, conn)
        return render(answer, close=close, head=request.method == "HEAD")

    def answer(self, request: HttpRequest, body: bytes, conn: socket.socket) -> Answer:
        host = request.headers.get("host", "")
        host = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        path = request.target.split("?", 1)[0] or "/"
        route = choose(routes(self.store, self.allow_empty), host, path)
        if route is None:
            return go_error(404, NOT_FOUND)
        service = self.store.get("services", route.namespace, route.service)
        svc_port = service and service_port(service, port=route.port_number or None,
                                             name=route.port_name or None)
        if not service or not svc_port:
            return go_error(404, NOT_FOUND)  # gone since the routes were read
        ready = endpoints(self.store, service)
        if not ready:  # an empty load balancer (allowEmptyServices)
            return go_error(503, NO_SERVER)
        with self._lock:
            turn = self._turns.get((route.namespace, route.service), 0)
            self._turns[(route.namespace, route.service)] = turn + 1
        pod = sorted(ready, key=lambda p: p["metadata"]["name"])[turn % len(ready)]
        port = target_port(pod, svc_port)
        app = self.dataplane.app(pod, port) if port else None
        if app is None:
            return go_error(502, b"Bad Gateway", plain=False)
        forwarded = _forwarded_head(request, host, _peer(conn), self.pod_name, len(body))
        reply = _exchange(app, forwarded + body, request.method == "HEAD")
        return reply if reply is not None else go_error(502, b"Bad Gateway", plain=False)


class TraefikPing(TraefikRouter):
    """traefik's `traefik` entry point with `--ping=true` (port 9000 in v2, 8080 in v3):
    `GET /ping` answers 200 `OK`, what the chart's readiness and liveness probes ask."""

    def answer(self, request: HttpRequest, body: bytes, conn: socket.socket) -> Answer:
        path = request.target.split("?", 1)[0]
        if path != "/ping" or request.method not in ("GET", "HEAD"):
            return go_error(404, NOT_FOUND)
        return Answer(200, [("Content-Type", "text/plain; charset=utf-8"),
                            ("Date", formatdate(usegmt=True)), ("Content-Length", "2")], b"OK")


def _peer(conn: socket.socket) -> str:
    try:
        return str(conn.getpeername()[0])
    except (OSError, IndexError, TypeError):
        return ""


def _forwarded_head(request: HttpRequest, host: str, client: str, server: str,
                    length: int) -> bytes:
    """The request as traefik sends it on: hop-by-hop headers dropped, X-Forwarded-* added."""
    listed = {t.strip().lower() for t in request.headers.get("connection", "").split(",")}
    headers = [(k, v) for k, v in request.headers.items()
               if k not in HOP_BY_HOP and k not in listed and k != "content-length"]
    previous = request.headers.get("x-forwarded-for")
    headers = [(k, v) for k, v in headers if not k.startswith("x-forwarded-")
               and k != "x-real-ip"]
    headers += [("x-forwarded-for", f"{previous}, {client}" if previous else client),
                ("x-forwarded-host", request.headers.get("host", host)),
                ("x-forwarded-port", "80"), ("x-forwarded-proto", "http"),
                ("x-forwarded-server", server), ("x-real-ip", client)]
    lines = [f"{request.method} {request.target} HTTP/1.1"]
    lines += ["-".join(part.capitalize() for part in k.split("-")) + f": {v}" for k, v in headers]
    if length or request.method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
        lines.append(f"Content-Length: {length}")
    text = "\r\n".join(lines) + "\r\n\r\n"
    return text.encode("latin-1")


def _exchange(app: Backend, request: bytes, head_only: bool) -> Answer | None:
    """Send one request to the program over a fresh connection and read its answer."""
    ours, theirs = socket.socketpair()
    worker = threading.Thread(target=_run, args=(app, theirs), name="traefik-backend",
                              daemon=True)
    worker.start()
    try:
        ours.settimeout(30)
        ours.sendall(request)
        ours.shutdown(socket.SHUT_WR)  # one request per connection: the program may close
        return _read_answer(_Buffered(ours), head_only)
    except OSError:
        return None
    finally:
        with contextlib.suppress(OSError):
            ours.shutdown(socket.SHUT_RDWR)
        ours.close()
        worker.join(BACKEND_JOIN_SECONDS)


def _run(app: Backend, sock: socket.socket) -> None:
    try:
        app.serve(sock)
    except Exception:  # a program's bug is a 502 for this request, never the router's end
        pass
    finally:
        sock.close()


def _read_answer(reader: _Buffered, head_only: bool) -> Answer | None:
    head = reader.read_until(b"\r\n\r\n")
    if head is None:
        return None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        return None
    status = int(parts[1])
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers.append((name.strip(), value.strip()))
    length = next((v for k, v in headers if k.lower() == "content-length"), None)
    if head_only or status in (204, 304) or 100 <= status < 200:
        body = b""
    elif length is not None and length.isdigit():
        found = reader.read_exact(int(length))
        if found is None:
            return None
        body = found
    else:  # no length: the body runs to the end of the connection
        while len(reader.buffer) <= MAX_BODY and reader.fill():
            pass
        body = bytes(reader.buffer)
        headers.append(("Content-Length", str(len(body))))
    listed = {t.strip().lower() for k, v in headers if k.lower() == "connection"
              for t in v.split(",")}
    kept = [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP and k.lower() not in listed]
    if not any(k.lower() == "date" for k, _ in kept):
        kept.append(("Date", formatdate(usegmt=True)))  # Go's server adds one
    kept.sort(key=lambda kv: kv[0].lower())  # Go writes a response's headers sorted by name
    return Answer(status, kept, body)
