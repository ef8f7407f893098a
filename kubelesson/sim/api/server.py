"""The HTTP layer: a loopback-only ThreadingHTTPServer that routes Kubernetes API requests.

Every failure becomes a Kubernetes `Status` body; nothing a client sends may crash the
server or leave a connection half-answered.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kubelesson.sim import timeutil
from kubelesson.sim.api import discovery, errors, openapi, printers, protobuf, resources, schema
from kubelesson.sim.api.cluster import Cluster
from kubelesson.sim.api.connections import ConnectionTable
from kubelesson.sim.api.errors import ApiError
from kubelesson.sim.api.resources import POD, ResourceType
from kubelesson.sim.api.selectors import both, field_selector, label_selector
from kubelesson.sim.kubelet.lifecycle import PREVIOUS_LOG
from kubelesson.sim.store import Closed, Gone, Obj, Watcher
from kubelesson.sim.store.housekeeping import Housekeeping

log = logging.getLogger(__name__)

JSON = "application/json"
TABLE_CONTENT_TYPE = "application/json;as=Table;v=v1;g=meta.k8s.io"
MAX_BODY = 8 * 1024 * 1024
WATCH_WAKE_SECONDS = 2.0  # how often an idle watch checks whether its client went away
LOG_TICK_SECONDS = 0.25  # how often a followed log looks for lines its program wrote
DEFAULT_LOG_WAIT = 60.0


class SimHTTPServer(ThreadingHTTPServer):
    """Tracks its connections: how many, their deadlines (connections.py), and stopping,
    which closes idle keep-alive sockets too."""

    daemon_threads = True
    allow_reuse_address = False
    request_queue_size = 128  # 50+ kubectl processes connect at once; 5 would drop SYNs

    def __init__(self, port: int, cluster: Cluster) -> None:
        self.cluster = cluster
        # Set by the controllers (garbage collector): consulted before every DELETE with the
        # propagationPolicy; returns the object when it must stay for now (finalizers).
        self.delete_hook: Callable[[ResourceType, str, str, str | None, bool],
                                   Obj | None] | None = None
        self.started = time.time()
        options = cluster.options
        self.connections = ConnectionTable(max_connections=options.max_connections,
                                           header_timeout=options.header_timeout,
                                           idle_timeout=options.idle_timeout)
        # Expiring events and compacting the watch history (on the lifecycle's timer thread).
        self.housekeeping = Housekeeping(cluster.store, cluster.lifecycle.scheduler, options)
        self._conn_lock = threading.Lock()
        self.handler_threads: set[threading.Thread] = set()
        super().__init__(("127.0.0.1", port), Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.connections.admit(request):
            return
        try:
            super().process_request(request, client_address)
        except RuntimeError:  # no thread to be had: refuse instead of failing
            self.connections.forget(request)
            self.connections.refuse(request)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        me = threading.current_thread()
        with self._conn_lock:
            self.handler_threads.add(me)
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.connections.forget(request)
            with self._conn_lock:
                self.handler_threads.discard(me)

    def service_actions(self) -> None:
        """Called by the accept loop at every turn (at least every poll interval)."""
        self.connections.reap()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection from %s failed", client_address, exc_info=True)

    def close_connections(self) -> None:
        self.connections.close_all()

    def wait_handlers(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._conn_lock:
            threads = list(self.handler_threads)
        for thread in threads:
            thread.join(max(deadline - time.monotonic(), 0))


def _query(url_query: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(url_query, keep_blank_values=True).items()}


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("true", "1")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SimHTTPServer
    server_version = "kubelesson-sim"
    sys_version = ""

    # -- plumbing ------------------------------------------------------------------------
    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without NODELAY, Nagle plus the
        # client's delayed ACK adds ~40 ms to every request.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle_one_request(self) -> None:
        self.server.connections.waiting(self.connection)
        super().handle_one_request()

    def parse_request(self) -> bool:
        self.server.connections.started(self.connection)
        return super().parse_request()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Malformed request lines and unsupported methods get a Status body, not HTML."""
        reason = {400: "BadRequest", 404: "NotFound", 405: "MethodNotAllowed",
                  408: "Timeout", 413: "RequestEntityTooLarge", 414: "RequestURITooLong",
                  431: "RequestHeaderFieldsTooLarge", 501: "MethodNotAllowed"}.get(code, "Unknown")
        if code == 501:
            code = 405
        self.close_connection = True
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
            self.request_version = "HTTP/1.0"  # HTTP/0.9 replies have no status line
        if not hasattr(self, "_headers_sent"):
            self._headers_sent = False
        with contextlib.suppress(OSError):
            self._send_json(code, ApiError(code, reason, message or reason).status())

    def _send_bytes(self, code: int, body: bytes, content_type: str,
                    headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        for warning in getattr(self, "_warnings", []):
            self.send_header("Warning", '299 - "' + warning.replace('"', '\\"') + '"')
        if self.close_connection:
            self.send_header("Connection", "close")
        # One write for headers and body: one segment for small replies.
        pending: list[bytes] = self._headers_buffer  # type: ignore[attr-defined]
        pending.append(b"\r\n")
        if self.command != "HEAD":
            pending.append(body)
        self.flush_headers()

    def _send_json(self, code: int, obj: Any, content_type: str = JSON) -> None:
        self._send_bytes(code, json.dumps(obj, separators=(",", ":")).encode(), content_type)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            total = 0
            while True:
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";")[0].strip() or b"0", 16)
                except ValueError:
                    raise errors.bad_request("malformed chunked request body") from None
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > MAX_BODY:
                    self.close_connection = True
                    raise ApiError(413, "RequestEntityTooLarge", "request entity too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
            return b"".join(chunks)
        raw_length = self.headers.get("Content-Length")
        if not raw_length:
            return b""
        try:
            length = int(raw_length)
        except ValueError:
            self.close_connection = True
            raise errors.bad_request("invalid Content-Length") from None
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            raise ApiError(413, "RequestEntityTooLarge", "request entity too large")
        return self.rfile.read(length)

    def _validated_body(self, rt: ResourceType) -> Any:
        """The JSON body, checked for unknown fields as `fieldValidation` asks.

        Strict (kubectl's default) rejects like the apiserver's strict decoder; Warn
        answers with Warning headers, which kubectl prints as `Warning: …`.
        """
        body = self._json_body()
        mode = self.query.get("fieldValidation", "")
        unknown = schema.unknown_fields(rt.kind, body)
        if not unknown:
            return body
        texts = [f'unknown field "{path}"' for path in unknown]
        if mode != "Strict":
            if mode == "Warn":
                self._warnings.extend(texts)
            schema.prune(rt.kind, body)
            return body
        raise errors.bad_request(
            f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: strict '
            f"decoding error: {', '.join(texts)}")

    def _json_body(self) -> Any:
        raw = self._body
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if content_type == "application/vnd.kubernetes.protobuf":
            try:
                return protobuf.decode(raw)
            except protobuf.ProtobufError as exc:
                raise ApiError(415, "UnsupportedMediaType", f"the kubelesson simulator cannot "
                               f"read this protobuf body ({exc}); send JSON instead", {}) from None
        if not raw.strip():
            raise errors.bad_request("the request body is empty")
        try:
            value = json.loads(raw)
            too_deep = schema.depth(value) > schema.MAX_DEPTH
        except RecursionError:  # nested beyond what the parser can follow
            too_deep = True
        except (ValueError, UnicodeDecodeError) as exc:
            raise errors.bad_request(
                f"couldn't get version/kind; json parse error: {exc}") from None
        if too_deep:  # everything after this (copies, patches, printing) recurses
            raise errors.bad_request(
                "couldn't get version/kind; json parse error: the body nests more than "
                f"{schema.MAX_DEPTH} levels deep, more than the kubelesson simulator accepts")
        return value

    # -- dispatch ------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _dispatch(self) -> None:
        self._headers_sent = False
        self._warnings: list[str] = []
        try:
            try:
                self._body = self._read_body()
            except ApiError:
                self.close_connection = True  # the rest of a bad body would be read as a request
                raise
            if not self.server.connections.answering(self.connection):
                self.close_connection = True  # cut at its deadline: never run half a request
                return
            self._route()
        except ApiError as exc:
            self._answer_error(exc)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError):
            self.close_connection = True
        except Exception as exc:  # a bug: answer 500 and keep serving
            log.exception("simulator request failed: %s %s", self.command, self.path)
            self.close_connection = True
            self._answer_error(ApiError(500, "InternalError", f"internal error: {exc}"))

    def _answer_error(self, exc: ApiError) -> None:
        if self._headers_sent:
            self.close_connection = True
            return
        try:
            self._send_json(exc.code, exc.status())
        except OSError:
            self.close_connection = True

    def send_response(self, code: int, message: str | None = None) -> None:
        self._headers_sent = True
        super().send_response(code, message)

    def _route(self) -> None:
        url = urlsplit(self.path)
        self.query = _query(url.query)
        parts = [p for p in url.path.split("/") if p]
        method = self.command
        cluster = self.server.cluster
        if method == "OPTIONS":
            raise errors.method_not_allowed()
        if not parts:
            self._only(method, "GET")
            self._send_json(200, {"paths": ["/api", "/api/v1", "/apis", "/apis/apps",
                                            "/apis/apps/v1", "/openapi/v3", "/version"]})
            return
        head = parts[0]
        if head == "version" and len(parts) == 1:
            self._only(method, "GET")
            self._send_json(200, discovery.version_info(cluster.options))
        elif head in ("healthz", "livez", "readyz") and len(parts) == 1:
            self._only(method, "GET")
            self._send_bytes(200, b"ok", "text/plain; charset=utf-8")
        elif head == "_sim" and parts[1:] == ["identity"]:
            # Lets `kubelesson sim down` make sure the pid it was given is this server's.
            self._only(method, "GET")
            self._send_json(200, {"kind": "kubelesson-sim", "pid": os.getpid()})
        elif head == "_sim" and parts[1:] == ["events"]:
            self._only(method, "GET")
            self._send_bytes(200, cluster.transitions_json(), JSON)
        elif head == "openapi":
            self._only(method, "GET")
            self._openapi(parts[1:])
        elif head == "api":
            self._core(parts[1:])
        elif head == "apis":
            self._groups(parts[1:])
        else:
            raise errors.path_not_found()

    @staticmethod
    def _only(method: str, *allowed: str) -> None:
        if method not in allowed and not (method == "HEAD" and "GET" in allowed):
            raise errors.method_not_allowed()

    def _openapi(self, rest: list[str]) -> None:
        if rest == ["v3"]:
            self._send_json(200, openapi.index())
            return
        if rest == ["v2"] and "protobuf" in (self.headers.get("Accept") or ""):
            self._send_bytes(200, openapi.v2_document(), openapi.V2_CONTENT_TYPE)
            return
        if rest[:1] == ["v3"]:
            doc = openapi.lookup("/".join(rest[1:]))
            if doc is not None:
                self._send_json(200, doc)
                return
        raise errors.path_not_found()  # JSON /openapi/v2 and /swagger-2.0.0.pb-v1

    def _discovery(self, core: bool) -> None:
        self._only(self.command, "GET")
        version = discovery.aggregated_version(self.headers.get("Accept") or "")
        if version is not None:
            self._send_json(200, discovery.aggregated(core, version),
                            discovery.aggregated_content_type(version))
        elif core:
            host = f"127.0.0.1:{self.server.server_address[1]}"
            self._send_json(200, discovery.legacy_api(host))
        else:
            self._send_json(200, discovery.legacy_apis())

    def _core(self, rest: list[str]) -> None:
        if not rest:
            self._discovery(core=True)
            return
        if rest[0] != "v1":
            raise errors.path_not_found()
        self._group_version("", "v1", rest[1:])

    def _groups(self, rest: list[str]) -> None:
        if not rest:
            self._discovery(core=False)
            return
        if len(rest) == 1:
            if rest[0] not in resources.GROUPS:
                raise errors.path_not_found()
            gv = {"groupVersion": f"{rest[0]}/v1", "version": "v1"}
            self._only(self.command, "GET")
            self._send_json(200, {"kind": "APIGroup", "apiVersion": "v1", "name": rest[0],
                                  "versions": [gv], "preferredVersion": gv})
            return
        self._group_version(rest[0], rest[1], rest[2:])

    def _access_review(self) -> None:
        """`kubectl auth can-i`: allowed, except the verbs on resources SimOptions.forbidden
        names (only create is ever refused)."""
        self._only(self.command, "POST")
        review = self._json_body()
        if not isinstance(review, dict) or not isinstance(review.get("spec"), dict):
            raise errors.bad_request("a SelfSubjectAccessReview with a spec is required")
        problem = schema.decode_error("SelfSubjectAccessReview", review)
        if problem:
            raise errors.cannot_decode("SelfSubjectAccessReview", "v1", problem)
        attributes = review["spec"].get("resourceAttributes") or {}
        denied = (attributes.get("verb") == "create"
                  and attributes.get("resource") in self.server.cluster.options.forbidden)
        review["status"] = {"allowed": not denied, **({"denied": True} if denied else {})}
        self._send_json(201, review)

    # -- resources -----------------------------------------------------------------------
    def _group_version(self, group: str, version: str, rest: list[str]) -> None:
        if group == "authorization.k8s.io" and version == "v1" and rest == ["selfsubjectaccessreviews"]:
            self._access_review()
            return
        if not rest:
            doc = discovery.resource_list(group, version)
            if doc is None:
                raise errors.path_not_found()
            self._only(self.command, "GET")
            self._send_json(200, doc)
            return
        namespace: str | None = None
        if (rest[0] == "namespaces" and len(rest) >= 3
                and resources.find(group, version, rest[2]) is not None):
            namespace, rest = rest[1], rest[2:]
        if len(rest) > 3:
            raise errors.path_not_found()
        rt = resources.find(group, version, rest[0])
        if rt is None:
            raise errors.path_not_found()
        if namespace is not None and not rt.namespaced:
            raise errors.path_not_found()
        if rt.key == "endpoints" and self.server.cluster.options.minor >= 33:
            # KEP-4974: from 1.33 every request for v1 Endpoints carries this warning.
            self._warnings.append(
                "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice")
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if name is None:
            self._collection(rt, namespace)
        elif sub is None:
            self._item(rt, namespace, name)
        else:
            self._subresource(rt, namespace, name, sub)

    def _wants_table(self) -> bool:
        return "as=Table" in (self.headers.get("Accept") or "")

    def _dry_run(self) -> bool:
        return self.query.get("dryRun", "") == "All"

    def _namespace(self, rt: ResourceType, namespace: str | None) -> str:
        if rt.namespaced and namespace is None:
            raise errors.method_not_allowed()
        return namespace or ""

    def _collection(self, rt: ResourceType, namespace: str | None) -> None:
        method = self.command
        predicate = both(label_selector(self.query.get("labelSelector", "")),
                         field_selector(self.query.get("fieldSelector", "")))
        if method in ("GET", "HEAD"):
            if _truthy(self.query.get("watch")):
                self._watch(rt, namespace, predicate)
                return
            items, rv = self.server.cluster.list(rt, namespace, predicate)
            self._send_list(rt, items, rv)
        elif method == "POST":
            ns = self._namespace(rt, namespace)
            if rt.plural in self.server.cluster.options.forbidden:
                raise errors.rbac_denied(rt, "create", ns)
            created = self.server.cluster.create(rt, ns, self._validated_body(rt),
                                                 dry_run=self._dry_run())
            self._send_json(201, created)
        elif method == "DELETE":
            items, _ = self.server.cluster.list(rt, namespace, predicate)
            for obj in items:
                with contextlib.suppress(ApiError):
                    self.server.cluster.delete(rt, obj["metadata"].get("namespace", ""),
                                               obj["metadata"]["name"], dry_run=self._dry_run())
            _, rv = self.server.cluster.list(rt, namespace, predicate)
            self._send_list(rt, items, rv, table=False)
        else:
            raise errors.method_not_allowed()

    def _send_list(self, rt: ResourceType, items: list[Obj], rv: int, *,
                   table: bool | None = None) -> None:
        if table is None:
            table = self._wants_table()
        if table:
            body = printers.table(rt, items, now=timeutil.now(), resource_version=str(rv),
                                  include_object=self.query.get("includeObject", "Metadata"),
                                  minor=self.server.cluster.options.minor)
            self._send_json(200, body, TABLE_CONTENT_TYPE)
            return
        self._send_json(200, {
            "kind": rt.list_kind,
            "apiVersion": rt.api_version,
            "metadata": {"resourceVersion": str(rv)},
            "items": items,
        })

    def _item(self, rt: ResourceType, namespace: str | None, name: str) -> None:
        cluster = self.server.cluster
        method = self.command
        ns = self._namespace(rt, namespace)
        if method in ("GET", "HEAD"):
            obj = cluster.get(rt, ns, name)
            if self._wants_table():
                self._send_json(200, printers.table(
                    rt, [obj], now=timeutil.now(),
                    resource_version=obj["metadata"].get("resourceVersion", ""),
                    include_object=self.query.get("includeObject", "Metadata"),
                    minor=cluster.options.minor,
                ), TABLE_CONTENT_TYPE)
            else:
                self._send_json(200, obj)
        elif method == "PUT":
            self._send_json(200, cluster.update(rt, ns, name, self._validated_body(rt),
                                                dry_run=self._dry_run()))
        elif method == "PATCH":
            content_type = self.headers.get("Content-Type") or ""
            if content_type.startswith("application/apply-patch"):
                if not self.query.get("fieldManager"):
                    raise ApiError(400, "BadRequest", "PATCH /apply requests require a "
                                   "fieldManager query parameter", {})
                obj, created = cluster.server_side_apply(rt, ns, name, self._validated_body(rt),
                                                         dry_run=self._dry_run())
                self._send_json(201 if created else 200, obj)
                return
            body = (self._json_body() if content_type.startswith("application/json-patch")
                    else self._validated_body(rt))
            problem = (schema.json_patch_error(body)
                       if content_type.startswith("application/json-patch") else None)
            if problem:
                raise errors.bad_request(problem)
            self._send_json(200, cluster.patch(rt, ns, name, content_type, body,
                                               dry_run=self._dry_run()))
        elif method == "DELETE":
            self._delete(rt, ns, name)
        else:
            raise errors.method_not_allowed()

    def _delete(self, rt: ResourceType, ns: str, name: str) -> None:
        options: Any = {}
        if self._body.strip():
            options = self._json_body()
            if not isinstance(options, dict):
                raise errors.bad_request("DeleteOptions must be a JSON object")
            problem = schema.decode_error("DeleteOptions", options)
            if problem:
                raise errors.bad_request(problem)
        grace_raw = options.get("gracePeriodSeconds", self.query.get("gracePeriodSeconds"))
        try:
            grace = None if grace_raw in (None, "") else int(grace_raw)
        except (TypeError, ValueError):
            raise errors.bad_request(f"invalid gracePeriodSeconds {grace_raw!r}") from None
        dry_run = self._dry_run() or "All" in (options.get("dryRun") or [])
        policy = options.get("propagationPolicy") or self.query.get("propagationPolicy")
        hook = self.server.delete_hook
        held = hook(rt, ns, name, policy, dry_run) if hook is not None else None
        if held is not None:  # finalizers keep it for now (foreground deletion)
            self._send_json(200, held)
            return
        final = self.server.cluster.delete(rt, ns, name, grace=grace, dry_run=dry_run)
        if rt.plural in ("pods", "namespaces"):
            self._send_json(200, final)
        else:
            details: dict[str, Any] = {"name": name, "kind": rt.plural,
                                       "uid": final["metadata"].get("uid", "")}
            if rt.group:
                details["group"] = rt.group
            self._send_json(200, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                  "status": "Success", "details": details})

    def _subresource(self, rt: ResourceType, namespace: str | None, name: str,
                     sub: str) -> None:
        cluster = self.server.cluster
        ns = self._namespace(rt, namespace)
        known = {s.name for s in rt.subresources}
        if sub not in known:
            raise errors.path_not_found()
        if sub == "status":
            self._only(self.command, "GET")
            self._send_json(200, cluster.get(rt, ns, name))
        elif rt is POD and sub == "log":
            self._only(self.command, "GET")
            self._logs(ns, name)
        elif rt is POD and sub == "portforward":
            self._only(self.command, "GET", "POST")
            self._portforward(cluster.get(rt, ns, name))
        elif rt is POD and sub in ("exec", "attach"):
            self._only(self.command, "GET", "POST")
            self._stream(sub, cluster.get(rt, ns, name))
        elif sub == "scale":
            self._scale(rt, ns, name)
        else:
            cluster.get(rt, ns, name)
            raise errors.bad_request(
                f"the kubelesson simulator does not support {rt.plural}/{sub}: its containers "
                "are simulated")

    def _scale(self, rt: ResourceType, ns: str, name: str) -> None:
        """The scale subresource (`kubectl scale`): a Scale view of spec.replicas."""
        from kubelesson.sim.controllers import scale

        cluster = self.server.cluster
        self._only(self.command, "GET", "PUT", "PATCH")
        if self.command in ("GET", "HEAD"):
            self._send_json(200, scale.scale_of(cluster.get(rt, ns, name)))
            return
        content_type = self.headers.get("Content-Type") or ""
        self._send_json(200, scale.update_scale(cluster, rt, ns, name, self.command,
                                                content_type, self._json_body(),
                                                dry_run=self._dry_run()))

    # -- streaming -------------------------------------------------------------------------
    def _start_stream(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.wfile.flush()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _end_stream(self) -> None:
        try:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def _client_gone(self) -> bool:
        """True once the peer closed its side (a readable socket with nothing to read)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            peeked: bytes = self.connection.recv(1, socket.MSG_PEEK)
            return peeked == b""
        except (OSError, ValueError):
            return True

    def _watch(self, rt: ResourceType, namespace: str | None, predicate: Any) -> None:
        rv_raw = self.query.get("resourceVersion", "")
        initial = _truthy(self.query.get("sendInitialEvents"))
        since: int | None = None
        if rv_raw not in ("", "0") and not initial:
            try:
                since = int(rv_raw)
            except ValueError:
                raise errors.bad_request(f"invalid resource version: {rv_raw}") from None
        timeout_raw = self.query.get("timeoutSeconds", "")
        try:
            timeout = float(timeout_raw) if timeout_raw else None
        except ValueError:
            raise errors.bad_request(f"invalid timeoutSeconds {timeout_raw!r}") from None
        table = self._wants_table()
        store = self.server.cluster.store
        try:
            watcher = store.watch(rt.key, namespace if rt.namespaced else None, predicate,
                                  since=since, initial_events=initial)
        except Gone as exc:
            self._start_stream(JSON)
            self._chunk(self._event_line("ERROR", errors.expired(str(exc)).status()))
            self._end_stream()
            return
        except Closed:
            raise ApiError(503, "ServiceUnavailable", "the simulator is stopping") from None
        try:
            self._stream_watch(rt, watcher, table, timeout)
        finally:
            watcher.stop()

    @staticmethod
    def _event_line(type_: str, obj: Any) -> bytes:
        return json.dumps({"type": type_, "object": obj}, separators=(",", ":")).encode() + b"\n"

    def _stream_watch(self, rt: ResourceType, watcher: Watcher, table: bool,
                      timeout: float | None) -> None:
        self._start_stream(TABLE_CONTENT_TYPE if table else JSON)
        deadline = None if timeout is None else time.monotonic() + timeout
        first = True
        include = self.query.get("includeObject", "Metadata")
        for event in self._events(watcher, deadline):
            if event.type == "BOOKMARK":
                if table:
                    continue
                obj: Any = {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": {
                    "resourceVersion": str(event.rv),
                    "annotations": {"k8s.io/initial-events-end": "true"}}}
            elif table:
                obj = printers.table(rt, [event.object], now=timeutil.now(),
                                     resource_version=str(event.rv), include_object=include,
                                     headers=first, minor=self.server.cluster.options.minor)
                first = False
            else:
                obj = event.object
            self._chunk(self._event_line(event.type, obj))
        if not self._client_left:
            self._end_stream()

    def _events(self, watcher: Watcher, deadline: float | None,
                tick: float | None = None) -> Iterator[Any]:
        """A watch's events as they come, until the watch closes or the deadline passes. It
        also ends when the client has gone away, and then sets ``_client_left``, so that
        nothing more is written to the dead connection. With `tick`, None is yielded after
        every `tick` seconds without an event (a followed log looks for new lines then)."""
        self._client_left = False
        while True:
            wait = tick or WATCH_WAKE_SECONDS
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    return
            try:
                event = watcher.next(wait)
            except Closed:
                self.close_connection = True
                return
            if event is not None:
                yield event
            elif self._client_gone():
                self.close_connection = True
                self._client_left = True
                return
            elif tick:
                yield None

    def _logs(self, ns: str, name: str) -> None:
        cluster = self.server.cluster
        pod = cluster.get(POD, ns, name)
        containers = [c["name"] for c in pod["spec"].get("containers") or []]
        container = self.query.get("container") or ""
        if not container:
            if len(containers) != 1:
                raise errors.bad_request(
                    f"a container name must be specified for pod {name}, choose one of: "
                    f"[{' '.join(containers)}]")
            container = containers[0]
        if container not in containers:
            raise errors.bad_request(f"container {container} is not valid for pod {name}")
        previous = _truthy(self.query.get("previous"))  # the run before (apps/runtime.py)
        self._check_log_state(pod, container, previous=previous)
        lines = self._log_lines(pod, container + (PREVIOUS_LOG if previous else ""))
        tail = self.query.get("tailLines")
        if tail and tail.isdigit():
            lines = lines[-int(tail):] if int(tail) else []
        stamps = _truthy(self.query.get("timestamps"))

        def render(items: list[Any]) -> bytes:
            return "".join(
                (timeutil.rfc3339_nano(li.time) + " " if stamps else "") + li.text + "\n"
                for li in items
            ).encode()

        if not _truthy(self.query.get("follow")) or previous:
            self._send_bytes(200, render(lines), "text/plain")
            return
        self._follow_logs(pod, container, render, len(self._log_lines(pod, container)),
                          render(lines))

    def _log_lines(self, pod: Obj, container: str) -> list[Any]:
        logs = self.server.cluster.lifecycle.logs
        return list(logs.get((pod["metadata"]["uid"], container), []))

    @staticmethod
    def _check_log_state(pod: Obj, container: str, *, previous: bool = False) -> None:
        statuses = pod.get("status", {}).get("containerStatuses") or []
        cs = next((s for s in statuses if s.get("name") == container), None)
        state = (cs or {}).get("state") or {}
        waiting = state.get("waiting") if cs else {"reason": "ContainerCreating"}
        # The kubelet answers with the last run's log while a container waits to restart.
        last = ((cs or {}).get("lastState") or {}).get("terminated")
        if previous:
            if not last:
                raise errors.bad_request(f'previous terminated container "{container}" in pod '
                                         f'"{pod["metadata"]["name"]}" not found')
            return
        if waiting is not None and not last:
            reason = waiting.get("reason", "ContainerCreating")
            if reason in ("ErrImagePull", "ImagePullBackOff"):
                reason = "trying and failing to pull image"
            raise errors.bad_request(
                f'container "{container}" in pod "{pod["metadata"]["name"]}" is waiting to '
                f"start: {reason}")

    def _follow_logs(self, pod: Obj, container: str, render: Any, sent: int,
                     initial: bytes) -> None:
        store = self.server.cluster.store
        meta = pod["metadata"]
        watcher = store.watch(POD.key, meta["namespace"],
                              lambda o: o["metadata"].get("uid") == meta["uid"],
                              since=int(meta["resourceVersion"]))
        try:
            self._start_stream("text/plain")
            if initial:
                self._chunk(initial)
            latest = pod
            # A running program writes lines without changing its pod (a database that
            # finishes starting up): look for them every quarter second as well.
            for event in self._events(watcher, None, tick=LOG_TICK_SECONDS):
                if event is None:
                    lines = self._log_lines(latest, container)
                    if len(lines) > sent:
                        self._chunk(render(lines[sent:]))
                        sent = len(lines)
                    continue
                if event.type == "DELETED":
                    break
                latest = event.object
                lines = self._log_lines(event.object, container)
                if len(lines) > sent:
                    self._chunk(render(lines[sent:]))
                    sent = len(lines)
                statuses: list[Obj] = event.object.get("status", {}).get(
                    "containerStatuses") or []
                cs: Obj = next((s for s in statuses if s.get("name") == container), {})
                if (cs.get("state") or {}).get("terminated"):
                    break
            if not self._client_left:
                self._end_stream()
        finally:
            watcher.stop()

    def _stream(self, kind: str, pod: Obj) -> None:
        """`kubectl exec` and `attach` (streams/): the hand-off answers the upgrade."""
        from kubelesson.sim.streams import serve

        store = self.server.cluster.store
        meta = pod["metadata"]

        def current_pod() -> Obj | None:
            now = store.get(POD.key, meta.get("namespace", ""), meta["name"])
            return now if now is not None and now["metadata"].get("uid") == meta["uid"] else None

        self._headers_sent = True
        self.close_connection = True
        serve(self, kind, pod, store, self.server.cluster.options.minor, current_pod)

    def _portforward(self, pod: Obj) -> None:
        try:
            from kubelesson.sim.streams.portforward import serve_portforward
        except ImportError:
            raise errors.ApiError(404, "NotFound",
                                  "port-forward is not available in this simulator build",
                                  {}) from None
        store = self.server.cluster.store
        meta = pod["metadata"]

        def current_pod() -> Obj | None:
            """The pod as stored now, so a pod deleted mid-session stops being served."""
            now = store.get(POD.key, meta.get("namespace", ""), meta["name"])
            if now is None or now["metadata"].get("uid") != meta.get("uid"):
                return None
            return now

        self._headers_sent = True  # the hand-off writes its own 101 (or error)
        self.close_connection = True
        serve_portforward(self, pod, current_pod=current_pod)
