"""traQ (ghcr.io/traptitech/traq) and its web UI (ghcr.io/traptitech/traq-ui) as simulated
programs, for chapter 8.

traQ reads `/app/config.yml` and its `TRAQ_*` environment variables (viper: `TRAQ_PORT`
overrides `port`, `TRAQ_MARIADB_PASSWORD` overrides `mariadb.password` ...), connects to
its MariaDB over the cluster network and only then serves its API on port 3000. If the
database cannot be reached (not started yet, wrong password, no such Service) it logs the
error and exits 1, and the kubelet restarts it: RESTARTS grows while MariaDB initialises,
as on a real cluster. A Service named `traq` in the namespace without
`enableServiceLinks: false` injects `TRAQ_PORT=tcp://...`, which viper cannot read as the
port: traQ exits at once, every time (the reason the chapter's manifest turns service links
off).

On its first connection to an empty database traQ creates its tables and the first user
`traq` (password `traq`) and the channel #general; the API answers GET /api/v3/version,
POST /api/v3/login and GET /api/v3/users/me. Only a few of traQ's tables are created.

traq-ui is caddy serving the built web application from /usr/share/caddy, every unknown
path answered with index.html (a single-page application); at start-up its script copies
what is mounted in /app/override (the chapter's config.js) over the defaults.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import secrets
import socket
import threading
import time
import uuid
from typing import Any

import yaml

from kubelesson.sim.apps.network import DialError
from kubelesson.sim.apps.process import Host, Process, json_line, stamp
from kubelesson.sim.kubelet.backends import (
    Backend,
    CaddyBackend,
    HttpRequest,
    HttpServer,
    Reply,
    _caddy_content_type,
    _page,
)
from kubelesson.sim.kubelet.podfs import Filesystem, clean_path

VERSION = "v3.28.4"  # ghcr.io/traptitech/traq:latest is built from the latest release tag
REVISION = "8d96a1d0"
CONFIG = "/app/config.yml"
SESSION_COOKIE = "r_session"
_DEFAULTS: dict[str, Any] = {
    "origin": "http://localhost:3000", "port": 3000, "allowSignUp": False,
    "mariadb": {"host": "127.0.0.1", "port": 3306, "username": "root", "password": "password",
                "database": "traq"},
}
_INT_KEYS = ("port", "mariadb.port")
_TABLES = (
    "CREATE TABLE IF NOT EXISTS migrations (id VARCHAR(190) NOT NULL PRIMARY KEY)",
    "CREATE TABLE IF NOT EXISTS users (id CHAR(36) NOT NULL PRIMARY KEY, name VARCHAR(32) NOT "
    "NULL UNIQUE, display_name VARCHAR(32) NOT NULL DEFAULT '', password CHAR(128) NOT NULL "
    "DEFAULT '', salt CHAR(128) NOT NULL DEFAULT '', role VARCHAR(30) NOT NULL DEFAULT 'user', "
    "created_at DATETIME)",
    "CREATE TABLE IF NOT EXISTS channels (id CHAR(36) NOT NULL PRIMARY KEY, name VARCHAR(20) NOT "
    "NULL, parent_id CHAR(36) NOT NULL DEFAULT '', topic TEXT, created_at DATETIME)",
    "CREATE TABLE IF NOT EXISTS messages (id CHAR(36) NOT NULL PRIMARY KEY, user_id CHAR(36) NOT "
    "NULL, channel_id CHAR(36) NOT NULL, text TEXT, created_at DATETIME)",
)


def _hash(password: str, salt: str) -> str:
    return hashlib.pbkdf2_hmac("sha512", password.encode(), salt.encode(), 65536).hex()


class ConfigError(Exception):
    pass


def load_config(fs: Filesystem, env: dict[str, str]) -> dict[str, Any]:
    """The configuration as viper builds it: the file, then TRAQ_-prefixed variables for the
    keys it knows (`.` becomes `_`), integers parsed as mapstructure parses them."""
    config: dict[str, Any] = json.loads(json.dumps(_DEFAULTS))
    raw = fs.read(CONFIG)
    if raw is not None:
        try:
            loaded = yaml.safe_load(raw.decode("utf-8", "replace")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"failed to read config file: While parsing config: {exc}") from None
        if isinstance(loaded, dict):
            _merge(config, loaded)
    for key in _keys(config):
        variable = "TRAQ_" + key.replace(".", "_").upper()
        if variable in env:
            _set(config, key, env[variable])
    for key in _INT_KEYS:
        value = _get(config, key)
        if isinstance(value, str):
            if not re.fullmatch(r"[-+]?[0-9]+", value.strip()):
                raise ConfigError(
                    "decoding failed due to the following error(s):\n\n"
                    f"'{key}' cannot parse value as 'int': strconv.ParseInt: invalid syntax")
            _set(config, key, int(value))
    return config


def _merge(into: dict[str, Any], other: dict[str, Any]) -> None:
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _keys(config: dict[str, Any], prefix: str = "") -> list[str]:
    found = []
    for key, value in config.items():
        if isinstance(value, dict):
            found += _keys(value, f"{prefix}{key}.")
        else:
            found.append(prefix + key)
    return found


def _get(config: dict[str, Any], key: str) -> Any:
    value: Any = config
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _set(config: dict[str, Any], key: str, value: Any) -> None:
    *parents, last = key.split(".")
    target = config
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value


class Traq(Process):
    ports = (3000,)

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.config: dict[str, Any] = {}
        self.api: TraqApi | None = None
        self.database: Any = None

    def info(self, message: str, severity: str = "INFO", **fields: Any) -> None:
        self.host.log(json_line(severity=severity, timestamp=stamp("%Y-%m-%dT%H:%M:%S.000000000Z"),
                                caller="cmd/serve.go:0", message=message, **fields,
                                serviceContext={"service": "traq", "version": f"{VERSION}.{REVISION}"}))

    def start(self) -> None:
        try:
            self.config = load_config(self.host.fs, self.host.env)
        except ConfigError as exc:
            self.host.log(time.strftime("%Y/%m/%d %H:%M:%S ", time.gmtime()) + str(exc))
            self.after(0.05, self.fail)
            return
        self.info(f"traQ {VERSION} (revision {REVISION})")
        self.info("connecting database...")
        threading.Thread(target=self._connect, name="traq-db", daemon=True).start()

    def _connect(self) -> None:
        """On a thread of its own: the MySQL handshake waits for the database's answers."""
        import pymysql

        try:
            connection = self._open()
        except DialError as exc:
            return self._fatal("failed to connect database", str(exc))
        except pymysql.err.MySQLError as exc:  # as Go's MySQL driver words the server's error
            code, message = (exc.args + (0, ""))[:2]
            state = {1045: "28000", 1044: "42000", 1049: "42000"}.get(int(code), "HY000")
            return self._fatal("failed to connect database", f"Error {code} ({state}): {message}")
        if self.stopped:
            connection.close()
            return None
        self.database = connection
        self.info("database connection was established")
        self.info("checking file storage...")
        self.info("file storage is ok")
        self.info("setting up repository...")
        try:
            first = self._migrate(connection)
        except pymysql.err.MySQLError as exc:
            return self._fatal("failed to initialize repository", str(exc))
        self.info("repository was set up")
        self.info("a temporary key for QRCode JWT was generated. This key is valid only during "
                  "this running.", severity="WARNING")
        if first:
            self.info("data initializing...")
            self.info("traq user was created", uid=first[0])
            self.info("#general was created", cid=first[1])
            self.info("data initialization finished")
        self.api = TraqApi(self)
        self.info("traQ started")
        return None

    def _migrate(self, connection: Any) -> tuple[str, str] | None:
        """Create the tables; on an empty database the first user and #general too."""
        with connection.cursor() as cursor:
            for statement in _TABLES:
                cursor.execute(statement)
            cursor.execute("SELECT COUNT(*) FROM migrations")
            if cursor.fetchone()[0]:
                return None
            cursor.execute("INSERT INTO migrations (id) VALUES ('init')")
            user, channel, salt = str(uuid.uuid4()), str(uuid.uuid4()), secrets.token_hex(32)
            now = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
            cursor.execute("INSERT INTO users (id, name, display_name, password, salt, role, "
                           "created_at) VALUES (%s, 'traq', 'traq', %s, %s, 'admin', %s)",
                           (user, _hash("traq", salt), salt, now))
            cursor.execute("INSERT INTO channels (id, name, created_at) VALUES (%s, 'general', %s)",
                           (channel, now))
        return user, channel

    def _fatal(self, message: str, error: str) -> None:
        self.info(message, severity="EMERGENCY", error=error)
        self.fail(1)

    def listener(self, port: int) -> Backend | None:
        return self.api if port == 3000 and not self.stopped else None

    def stop(self) -> None:
        if self.stopped:
            return
        super().stop()
        self.info("traQ shutting down...")
        if self.database is not None:
            with contextlib.suppress(Exception):
                self.database.close()
        self.info("traQ shutdown")

    def user(self, name: str) -> tuple[str, str, str] | None:
        """(id, password hash, salt) of a user, read from the database; a connection the
        database dropped (MariaDB restarted) is opened again once, as Go's pool would."""
        import pymysql

        for attempt in range(2):
            if self.database is None or (attempt and not self._reconnect()):
                return None
            try:
                with self.database.cursor() as cursor:
                    cursor.execute("SELECT id, password, salt FROM users WHERE name = %s", (name,))
                    row = cursor.fetchone()
                return (str(row[0]), str(row[1]), str(row[2])) if row else None
            except (pymysql.err.OperationalError, pymysql.err.InterfaceError):
                continue
            except pymysql.err.MySQLError:
                return None
        return None

    def _open(self) -> Any:
        """A MySQL connection to the configured database over the cluster network (a real
        client, PyMySQL, on the socket the network gives); DialError or MySQLError."""
        import pymysql

        db = self.config["mariadb"]
        sock = self.host.network.dial(self.host.namespace, str(db.get("host")),
                                      int(db.get("port") or 3306), self.host.pod_ip)
        connection = pymysql.connect(user=str(db.get("username")),
                                     password=str(db.get("password") or ""),
                                     database=str(db.get("database")), defer_connect=True,
                                     autocommit=True, connect_timeout=5, read_timeout=10)
        try:
            connection.connect(sock)
        except BaseException:
            with contextlib.suppress(OSError):
                sock.close()
            raise
        return connection

    def _reconnect(self) -> bool:
        import pymysql

        try:
            self.database = self._open()
        except (DialError, pymysql.err.MySQLError):
            return False
        return True


class TraqApi(HttpServer):
    """traQ's HTTP server (echo): the few API routes a lesson or a browser visit needs."""

    def __init__(self, traq: Traq) -> None:
        self.traq = traq
        self.sessions: dict[str, str] = {}  # cookie -> user id
        self._db_lock = threading.Lock()

    def bad_request(self) -> bytes:
        return _http(400, {"message": "Bad Request"}, close=True)

    def respond(self, request: HttpRequest, body: bytes, conn: socket.socket, *,
                close: bool) -> bytes:
        return self.answer(request, body, close)

    def answer(self, request: HttpRequest, body: bytes, close: bool) -> bytes:
        path = request.target.split("?", 1)[0]
        method = request.method
        if path == "/api/v3/version" and method in ("GET", "HEAD"):
            flags = {"externalLogin": [], "signUpAllowed": bool(self.traq.config.get("allowSignUp"))}
            return _http(200, {"flags": flags, "revision": REVISION, "version": VERSION}, close,
                         head=method == "HEAD")
        if path == "/api/v3/login" and method == "POST":
            return self._login(body, close)
        if path == "/api/v3/users/me" and method == "GET":
            user = self.sessions.get(_cookie(request.headers.get("cookie", "")))
            if user is None:
                return _http(401, {"message": "You are not logged in"}, close)
            return _http(200, {"id": user, "name": "traq"}, close)
        return _http(404, {"message": "Not Found"}, close)

    def _login(self, body: bytes, close: bool) -> bytes:
        try:
            given = json.loads(body or b"{}")
        except ValueError:
            return _http(400, {"message": "Syntax error"}, close)
        if not isinstance(given, dict) or not given.get("name") or not given.get("password"):
            return _http(400, {"message": "name: cannot be blank."}, close)
        with self._db_lock:
            found = self.traq.user(str(given["name"]))
        if found is None:
            return _http(401, {"message": "invalid name"}, close)
        uid, stored, salt = found
        if _hash(str(given["password"]), salt) != stored:
            return _http(401, {"message": "password or id is wrong"}, close)
        token = secrets.token_urlsafe(32)
        self.sessions[token] = uid
        cookie = f"{SESSION_COOKIE}={token}; Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax"
        return _http(204, None, close, extra=(("Set-Cookie", cookie),))


def _cookie(header: str) -> str:
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name == SESSION_COOKIE:
            return value
    return ""


def _http(status: int, body: Any, close: bool, *, head: bool = False,
          extra: tuple[tuple[str, str], ...] = ()) -> bytes:
    reasons = {200: "OK", 204: "No Content", 400: "Bad Request", 401: "Unauthorized",
               404: "Not Found"}
    payload = b"" if body is None else (json.dumps(body, separators=(",", ":")) + "\n").encode()
    lines = [f"HTTP/1.1 {status} {reasons.get(status, 'Unknown')}",
             f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S GMT', time.gmtime())}"]
    if body is not None:
        lines.append("Content-Type: application/json")
    lines += [f"{name}: {value}" for name, value in extra]
    lines.append(f"Content-Length: {len(payload)}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (b"" if head else payload)


# --- the web UI ------------------------------------------------------------------------------

UI_ROOT = "/usr/share/caddy"
UI_FILES: dict[str, bytes] = {
    f"{UI_ROOT}/index.html": _page(
        "traQ", "traQ",
        ["The traQ web client, as the kubelesson simulated cluster serves it: the real image "
         "serves the built Vue application here.",
         "It talks to the traQ API under /api/v3 on the same host."],
    ).replace("<body>", '<body>\n    <div id="app"></div>\n    <script src="/config.js">'
              "</script>", 1).encode(),
    f"{UI_ROOT}/config.js": b";(() => {\n  const config = {}\n  self.traQConfig = config\n})()\n",
    f"{UI_ROOT}/defaultTheme.js": b"self.traQDefaultTheme = {}\n",
}


class TraqUI(Process):
    ports = (80,)

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.server: TraqUIServer | None = None

    def start(self) -> None:
        files = dict(UI_FILES)
        log = self.host.log
        log("Startup: copy default files")
        log("Startup: check override files")
        overrides = self._overrides()
        if overrides:
            log("Startup: copy override files")
            for relative, content in overrides.items():
                files[f"{UI_ROOT}/{relative}"] = content
        log("Startup: set app name to traQ")
        log("Startup: set theme color to #0D67EA")
        log("Startup: New Relic is not configured")
        log("Startup: start server")
        log(json_line(level="info", ts=round(time.time(), 7), msg="using config from file",
                      file="/etc/caddy/Caddyfile"))
        log(json_line(level="info", ts=round(time.time(), 7), msg="serving initial configuration"))
        self.server = TraqUIServer(Filesystem(files))

    def _overrides(self) -> dict[str, bytes]:
        """What is mounted under /app/override, copied at start-up (later changes to the
        ConfigMap do not reach the copy, as with the real script)."""
        found: dict[str, bytes] = {}
        for mount in self.host.fs.mounts:
            if not (mount.path == "/app/override" or mount.path.startswith("/app/override/")):
                continue
            below = mount.path[len("/app/override"):].strip("/")
            for relative, content in mount.files().items():
                found[clean_path(f"{below}/{relative}").lstrip("/")] = content
        return found

    def listener(self, port: int) -> Backend | None:
        return self.server if port == 80 and not self.stopped else None


class TraqUIServer(CaddyBackend):
    """caddy with `try_files {path} /index.html`: a path that is no file is the app."""

    web_root = UI_ROOT

    def route(self, path: str, query: str, request: HttpRequest) -> Reply:
        if self._stat(path) == "file":
            body = self._file(path) or b""
            return Reply(200, body, _caddy_content_type(path, body))
        index = self._file("/index.html") or b""
        return Reply(200, index, "text/html; charset=utf-8")
