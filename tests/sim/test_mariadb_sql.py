"""The simulated MariaDB without a cluster: its SQL and error texts, its data directory, and
its protocol with a real client (PyMySQL) and with a client that starts with another
authentication plugin (the mysql 8 client's caching_sha2_password)."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest

from kubelesson.sim.apps.mariadb.datadir import Account, DataDir, password_hash
from kubelesson.sim.apps.mariadb.process import release, server_version
from kubelesson.sim.apps.mariadb.sql import Instance, ResultSet, Session, SqlError
from kubelesson.sim.apps.mariadb.wire import MySQLServer, native_token

VERSION = "11.8.2-MariaDB-ubu2404"


@pytest.fixture
def datadir(tmp_path: Path) -> DataDir:
    data = DataDir(tmp_path / "mysql")
    data.install(VERSION)
    data.save_accounts([*data.accounts(), Account("root", "%", password_hash("password"), ["*"]),
                        Account("traq", "%", password_hash("traq-password"), ["traq"])])
    data.create_database("traq")
    return data


def _session(datadir: DataDir, user: str = "root") -> Session:
    account = next(a for a in datadir.accounts() if a.user == user and a.host == "%")
    return Session(Instance(datadir, VERSION), account, "10.42.0.9", 5)


def _error(session: Session, sql: str) -> tuple[int, str, str]:
    with pytest.raises(SqlError) as failure:
        session.execute(sql)
    return failure.value.code, failure.value.state, failure.value.message


def test_rows_persist_in_the_data_directory(datadir: DataDir) -> None:
    first = _session(datadir)
    first.execute("CREATE DATABASE hands_on; USE hands_on; CREATE TABLE test (a INT);"
                  "INSERT INTO test VALUES (1), (2), (3)")
    later = _session(DataDir(datadir.root))  # a new server on the same volume
    result = later.execute("SELECT * FROM hands_on.test WHERE a > 1 ORDER BY a DESC")[0]
    assert isinstance(result, ResultSet) and result.rows == [[3], [2]]
    assert (datadir.root / "hands_on" / "test.ibd").exists()


def test_errors_as_mariadb_words_them(datadir: DataDir) -> None:
    session = _session(datadir)
    session.execute("CREATE DATABASE hands_on")
    assert _error(session, "CREATE DATABASE hands_on") == (
        1007, "HY000", "Can't create database 'hands_on'; database exists")
    assert _error(session, "USE nowhere")[:2] == (1049, "42000")
    assert _error(session, "SELECT * FROM t") == (1046, "3D000", "No database selected")
    session.execute("USE hands_on")
    assert _error(session, "SELECT * FROM t") == (1146, "42S02", "Table 'hands_on.t' doesn't exist")
    assert _error(session, "DROP DATABASE gone") == (
        1008, "HY000", "Can't drop database 'gone'; database doesn't exist")
    session.execute("CREATE TABLE t (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(3) NOT NULL)")
    assert _error(session, "CREATE TABLE t (a INT)") == (1050, "42S01", "Table 't' already exists")
    assert _error(session, "INSERT INTO t (name) VALUES ('toolong')")[0] == 1406
    assert _error(session, "INSERT INTO t (name) VALUES (NULL)")[0] == 1048
    assert _error(session, "INSERT INTO t VALUES (1)")[0] == 1136
    session.execute("INSERT INTO t (name) VALUES ('a')")
    assert _error(session, "INSERT INTO t VALUES (1, 'b')") == (
        1062, "23000", "Duplicate entry '1' for key 'PRIMARY'")
    assert _error(session, "SELECT nope FROM t") == (1054, "42S22", "Unknown column 'nope' in 'field list'")
    code, state, message = _error(session, "SELEC 1")
    assert (code, state) == (1064, "42000") and message.endswith("near 'SELEC 1' at line 1")
    assert _error(session, "  ") == (1065, "42000", "Query was empty")


def test_user_sees_only_its_database(datadir: DataDir) -> None:
    session = _session(datadir, "traq")
    shown = session.execute("SHOW DATABASES")[0]
    assert isinstance(shown, ResultSet) and shown.rows == [["information_schema"], ["traq"]]
    assert _error(session, "USE mysql") == (
        1044, "42000", "Access denied for user 'traq'@'%' to database 'mysql'")


def test_versions_of_the_image_tags() -> None:
    assert release("mariadb:11") == "11.8.2" and release("mariadb:latest") == "11.8.2"
    assert release("mariadb:11.4") == "11.4.5" and release("mariadb:10.6.20") == "10.6.20"
    assert release("mariadb:10") == "10.11.10"
    assert server_version("11.8.2") == "11.8.2-MariaDB-ubu2404"
    assert server_version("10.11.10") == "10.11.10-MariaDB-ubu2204"


@pytest.fixture
def server(datadir: DataDir) -> Iterator[int]:
    backend = MySQLServer(Instance(datadir, VERSION))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=backend.serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()
    backend.shutdown()


def test_pymysql_session(server: int) -> None:
    connection = pymysql.connect(host="127.0.0.1", port=server, user="traq", password="traq-password",
                                 database="traq", autocommit=True,
                                 client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS)
    with connection, connection.cursor() as cursor:
        assert connection.get_server_info() == f"5.5.5-{VERSION}"
        cursor.execute("CREATE TABLE m (id INT PRIMARY KEY AUTO_INCREMENT, text TEXT)")
        cursor.execute("INSERT INTO m (text) VALUES (%s), (%s)", ("hello", "it's"))
        assert cursor.lastrowid == 1
        cursor.execute("SELECT id, text FROM m WHERE text LIKE %s", ("it%",))
        assert cursor.fetchall() == ((2, "it's"),)
        cursor.execute("SELECT 1; SELECT 2")
        assert cursor.fetchall() == ((1,),) and cursor.nextset() and cursor.fetchall() == ((2,),)
    with pytest.raises(pymysql.err.OperationalError) as failure:
        pymysql.connect(host="127.0.0.1", port=server, user="traq", password="wrong")
    assert failure.value.args == (1045, "Access denied for user 'traq'@'127.0.0.1' (using password: YES)")


def _packet(sock: socket.socket) -> tuple[int, bytes]:
    header = sock.recv(4, socket.MSG_WAITALL)
    length = int.from_bytes(header[:3], "little")
    return header[3], sock.recv(length, socket.MSG_WAITALL) if length else b""


def test_client_with_another_plugin_is_switched(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server), timeout=5) as sock:
        _, greeting = _packet(sock)
        version_end = greeting.index(b"\0", 1)
        scramble = greeting[version_end + 5:version_end + 13] + greeting[version_end + 44:version_end + 56]
        flags = 0x0200 | 0x8000 | 0x80000  # protocol 41, secure connection, plugin auth
        response = (struct.pack("<IIB", flags, 1 << 24, 45) + b"\0" * 23 + b"root\0" + bytes([0])
                    + b"caching_sha2_password\0")
        sock.sendall(struct.pack("<I", len(response))[:3] + b"\x01" + response)
        seq, switch = _packet(sock)
        assert switch.startswith(b"\xfemysql_native_password\0")
        new_scramble = switch[len(b"\xfemysql_native_password\0"):-1]
        token = native_token("password", new_scramble)
        sock.sendall(struct.pack("<I", len(token))[:3] + bytes([seq + 1]) + token)
        _, ok = _packet(sock)
        assert ok[0] == 0 and scramble  # OK packet


def test_the_port_is_open_when_the_log_says_so(tmp_path: Path) -> None:
    """A client that waits for `port: 3306` in the log (lesson 7 does) must find the port
    open: mariadbd creates its sockets before it writes that line."""
    from kubelesson.sim.apps.mariadb.process import MariaDB
    from kubelesson.sim.apps.process import Host
    from kubelesson.sim.kubelet.podfs import Filesystem
    from kubelesson.sim.options import SimOptions

    seen: list[tuple[str, bool]] = []
    timers: list[tuple[float, Any]] = []
    host = Host(pod={"metadata": {"uid": "u", "namespace": "default"}}, container={"name": "mariadb"},
                image="mariadb:11.4", env={"MARIADB_ROOT_PASSWORD": "password"}, fs=Filesystem({}),
                scratch=tmp_path, options=SimOptions(database_init_seconds=0.0), network=None,  # type: ignore[arg-type]
                log=lambda line: seen.append((line, process.listening)),
                later=lambda delay, step: timers.append((delay, step)), exit=lambda code: None)
    process = MariaDB(host)
    process.start()
    while timers:  # run the start-up's timers in order, as the node's clock would
        timers.sort(key=lambda timer: timer[0])
        timers.pop(0)[1]()
    ready = [listening for line, listening in seen if "port: 3306" in line]
    assert ready == [True]
    assert process.listener(3306) is not None
