"""MariaDB's client/server protocol (protocol 41 with the classic EOF packets), enough for
PyMySQL, Go's MySQL driver and the mysql command-line client: the handshake, authentication
with mysql_native_password (a client that starts with another plugin, such as mysql 8's
caching_sha2_password, is switched to it), COM_QUERY with text result sets and
multi-statements, COM_INIT_DB, COM_FIELD_LIST, COM_PING and COM_QUIT.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import struct
import threading
from typing import Any

from kubelesson.sim.apps.mariadb.sql import (
    ColumnMeta,
    Instance,
    Ok,
    ResultSet,
    Session,
    SqlError,
)
from kubelesson.sim.kubelet.backends import Backend

NATIVE = "mysql_native_password"
MAX_PACKET = 16 * 1024 * 1024
# Capabilities (include/mysql_com.h): long password, found rows, long flag, connect with db,
# no schema, ODBC, ignore space, protocol 41, interactive, ignore sigpipe, transactions,
# secure connection, multi statements/results, PS multi results, plugin auth, connect
# attributes, length-encoded auth data, expired passwords. No SSL, no compression, no
# DEPRECATE_EOF (results end with EOF packets).
CAPABILITIES = (1 | 2 | 4 | 8 | 16 | 64 | 256 | 512 | 1024 | 4096 | 8192 | 32768
                | (1 << 16) | (1 << 17) | (1 << 18) | (1 << 19) | (1 << 20) | (1 << 21) | (1 << 22))
CONNECT_WITH_DB, PROTOCOL_41, SECURE_CONNECTION = 8, 512, 32768
PLUGIN_AUTH, CONNECT_ATTRS, LENENC_AUTH = 1 << 19, 1 << 20, 1 << 21
STATUS_AUTOCOMMIT, MORE_RESULTS = 0x0002, 0x0008
UTF8MB4_GENERAL = 45


def lenenc_int(value: int) -> bytes:
    if value < 251:
        return bytes([value])
    if value < 1 << 16:
        return b"\xfc" + struct.pack("<H", value)
    if value < 1 << 24:
        return b"\xfd" + struct.pack("<I", value)[:3]
    return b"\xfe" + struct.pack("<Q", value)


def lenenc_str(data: bytes) -> bytes:
    return lenenc_int(len(data)) + data


def native_token(password: str, scramble: bytes) -> bytes:
    """What a client sends for mysql_native_password (for tests and the in-cluster clients)."""
    if not password:
        return b""
    stage1 = hashlib.sha1(password.encode()).digest()
    stage2 = hashlib.sha1(stage1).digest()
    mask = hashlib.sha1(scramble + stage2).digest()
    return bytes(a ^ b for a, b in zip(stage1, mask, strict=True))


def token_matches(token: bytes, scramble: bytes, stored_hex: str) -> bool:
    if not stored_hex:
        return not token
    if len(token) != 20:
        return False
    stage2 = bytes.fromhex(stored_hex)
    mask = hashlib.sha1(scramble + stage2).digest()
    stage1 = bytes(a ^ b for a, b in zip(token, mask, strict=True))
    return hashlib.sha1(stage1).digest() == stage2


class _Closed(Exception):
    pass


class Connection:
    """One client connection, read and written in packets."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.seq = 0

    def _read_exact(self, size: int) -> bytes:
        while len(self.buffer) < size:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                raise _Closed
            self.buffer += chunk
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def read(self) -> bytes:
        header = self._read_exact(4)
        length = header[0] | header[1] << 8 | header[2] << 16
        self.seq = (header[3] + 1) % 256
        if length > MAX_PACKET:
            raise _Closed
        return self._read_exact(length)

    def write(self, payload: bytes) -> None:
        header = struct.pack("<I", len(payload))[:3] + bytes([self.seq])
        self.seq = (self.seq + 1) % 256
        try:
            self.sock.sendall(header + payload)
        except OSError:
            raise _Closed from None

    def ok(self, ok: Ok, status: int = STATUS_AUTOCOMMIT) -> None:
        payload = (b"\x00" + lenenc_int(ok.affected) + lenenc_int(ok.insert_id)
                   + struct.pack("<HH", status, ok.warnings) + ok.info.encode())
        self.write(payload)

    def error(self, code: int, state: str, message: str) -> None:
        self.write(b"\xff" + struct.pack("<H", code) + b"#" + state.encode()[:5]
                   + message.encode("utf-8"))

    def eof(self, status: int = STATUS_AUTOCOMMIT) -> None:
        self.write(b"\xfe" + struct.pack("<HH", 0, status))

    def column(self, meta: ColumnMeta) -> None:
        self.write(b"".join(lenenc_str(part.encode()) for part in (
            "def", meta.schema, meta.table, meta.org_table, meta.name, meta.org_name))
            + b"\x0c" + struct.pack("<HIBHB", meta.charset, meta.length, meta.type, meta.flags,
                                    meta.decimals) + b"\x00\x00")

    def result(self, result: ResultSet, status: int) -> None:
        self.write(lenenc_int(len(result.columns)))
        for meta in result.columns:
            self.column(meta)
        self.eof(status)
        for row in result.rows:
            self.write(b"".join(b"\xfb" if v is None else lenenc_str(_text(v)) for v in row))
        self.eof(status)


def _text(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value)).encode()
    return str(value).encode("utf-8")


def _cstring(data: bytes, at: int) -> tuple[bytes, int]:
    end = data.find(b"\0", at)
    if end < 0:
        return data[at:], len(data)
    return data[at:end], end + 1


def _lenenc_at(data: bytes, at: int) -> tuple[int, int]:
    first = data[at] if at < len(data) else 0
    if first < 251:
        return first, at + 1
    size = {0xFC: 2, 0xFD: 3, 0xFE: 8}.get(first, 0)
    return int.from_bytes(data[at + 1:at + 1 + size], "little"), at + 1 + size


class MySQLServer(Backend):
    """The listening server of one MariaDB instance; every accepted connection gets its own
    Session. `serve` is a connection from inside the pod (kubectl port-forward connects to
    127.0.0.1 in the pod's network), `serve_from` one from another pod's address."""

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def serve(self, conn: socket.socket) -> None:
        self.serve_from(conn, "127.0.0.1")

    def serve_from(self, conn: socket.socket, client_host: str) -> None:
        with self._lock:
            self._open.add(conn)
        try:
            self._session(Connection(conn), client_host)
        except _Closed:
            pass
        finally:
            with self._lock:
                self._open.discard(conn)

    def shutdown(self) -> None:
        """The server stops: its clients lose their connections."""
        with self._lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    # -- connection phase ------------------------------------------------------------------
    def _session(self, conn: Connection, client_host: str) -> None:
        connection_id = self.instance.next_connection_id()
        scramble = bytes(b % 94 + 33 for b in os.urandom(20))  # printable, as the server's
        conn.seq = 0
        conn.write(self._handshake(connection_id, scramble))
        response = conn.read()
        if len(response) < 32:
            return
        flags = struct.unpack_from("<I", response)[0]
        user_raw, at = _cstring(response, 32)
        user = user_raw.decode("utf-8", "replace")
        if flags & LENENC_AUTH:
            size, at = _lenenc_at(response, at)
        elif flags & SECURE_CONNECTION:
            size, at = response[at], at + 1
        else:
            end = response.find(b"\0", at)
            size = (end if end >= 0 else len(response)) - at
        token = response[at:at + size]
        at += size + (0 if flags & (LENENC_AUTH | SECURE_CONNECTION) else 1)
        database = ""
        if flags & CONNECT_WITH_DB and at < len(response):
            raw_db, at = _cstring(response, at)
            database = raw_db.decode("utf-8", "replace")
        plugin = NATIVE
        if flags & PLUGIN_AUTH and at < len(response):
            raw_plugin, at = _cstring(response, at)
            plugin = raw_plugin.decode("ascii", "replace") or NATIVE
        if plugin != NATIVE:  # switch the client to the plugin the account uses
            conn.write(b"\xfe" + NATIVE.encode() + b"\0" + scramble + b"\0")
            token = conn.read()
        account = self.instance.authenticate(
            user, client_host, lambda stored: token_matches(token, scramble, stored))
        if account is None:
            using = "YES" if token else "NO"
            conn.error(1045, "28000", f"Access denied for user '{user}'@'{client_host}' "
                       f"(using password: {using})")
            return
        session = Session(self.instance, account, client_host, connection_id)
        if database:
            try:
                session.use(database)
            except SqlError as exc:
                conn.error(exc.code, exc.state, exc.message)
                return
        conn.ok(Ok())
        self._commands(conn, session)

    def _handshake(self, connection_id: int, scramble: bytes) -> bytes:
        # MariaDB prefixes its version with 5.5.5- for old clients; clients strip it.
        version = ("5.5.5-" + self.instance.version).encode()
        return (b"\x0a" + version + b"\0" + struct.pack("<I", connection_id) + scramble[:8]
                + b"\0" + struct.pack("<H", CAPABILITIES & 0xFFFF) + bytes([UTF8MB4_GENERAL])
                + struct.pack("<HH", STATUS_AUTOCOMMIT, CAPABILITIES >> 16) + bytes([21])
                + b"\0" * 10 + scramble[8:] + b"\0" + NATIVE.encode() + b"\0")

    # -- command phase ---------------------------------------------------------------------
    def _commands(self, conn: Connection, session: Session) -> None:
        while True:
            packet = conn.read()
            if not packet:
                continue
            command, body = packet[0], packet[1:]
            if command == 0x01:  # COM_QUIT
                return
            try:
                self._command(conn, session, command, body)
            except SqlError as exc:
                conn.error(exc.code, exc.state, exc.message)

    def _command(self, conn: Connection, session: Session, command: int, body: bytes) -> None:
        if command == 0x03:  # COM_QUERY
            self._query(conn, session, body.decode("utf-8", "replace"))
        elif command == 0x02:  # COM_INIT_DB
            conn.ok(session.use(body.decode("utf-8", "replace")))
        elif command in (0x0E, 0x1F):  # COM_PING, COM_RESET_CONNECTION
            conn.ok(Ok())
        elif command == 0x04:  # COM_FIELD_LIST (the mysql client's completion)
            self._field_list(conn, session, body)
        elif command == 0x16:  # COM_STMT_PREPARE
            raise SqlError(1295, "HY000", "This command is not supported in the prepared "
                           "statement protocol yet")
        else:
            raise SqlError(1047, "08S01", "Unknown command")

    def _query(self, conn: Connection, session: Session, sql: str) -> None:
        try:
            results = session.execute(sql)
            failure = None
        except SqlError as exc:
            results = getattr(exc, "partial", [])
            failure = exc
        for i, result in enumerate(results):
            more = failure is not None or i < len(results) - 1
            status = STATUS_AUTOCOMMIT | (MORE_RESULTS if more else 0)
            if isinstance(result, ResultSet):
                conn.result(result, status)
            else:
                conn.ok(result, status)
        if failure is not None:
            conn.error(failure.code, failure.state, failure.message)

    def _field_list(self, conn: Connection, session: Session, body: bytes) -> None:
        table, _ = _cstring(body, 0)
        described = session.execute(f"SHOW COLUMNS FROM `{table.decode('utf-8', 'replace')}`")
        result = described[0]
        if isinstance(result, ResultSet):
            db = session.database or ""
            for row in result.rows:
                conn.column(ColumnMeta(str(row[0]), 253, 256, table=table.decode(), org_table=table.decode(),
                                       schema=db, org_name=str(row[0])))
        conn.eof()
