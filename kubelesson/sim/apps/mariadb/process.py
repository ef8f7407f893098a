"""The `mariadb` image's entrypoint and server as a simulated program.

On a data directory without `mysql/` (a new volume, or no volume at all) the entrypoint
initialises it first, as docker-entrypoint.sh does: it needs MARIADB_ROOT_PASSWORD (or
MARIADB_ALLOW_EMPTY_ROOT_PASSWORD / MARIADB_RANDOM_ROOT_PASSWORD) or it exits 1; it starts a
temporary server without networking, creates root@'%', the MARIADB_DATABASE and the
MARIADB_USER with MARIADB_PASSWORD, stops it, and only then starts the real server on port
3306. That takes a while (`--database-init-seconds`), and the container is Running all the
time: a client that connects too early is refused. On a directory that is initialised the
server starts at once and the environment's passwords are ignored, as on a real node.

The log says what happens in the image's words; note that the temporary server logs
`ready for connections` too (with `port: 0`): only the line with `port: 3306` means clients
may connect.

A data directory is one server's: mariadbd locks its files, so a second server on a folder
another one is using (two pods on one node's hostPath) waits for the Aria lock, gives up
and exits 1, over and over until the first one stops.
"""

from __future__ import annotations

import secrets
import threading
from pathlib import Path

from kubelesson.sim.apps.mariadb.datadir import Account, DataDir, password_hash
from kubelesson.sim.apps.mariadb.sql import Instance
from kubelesson.sim.apps.mariadb.wire import MySQLServer
from kubelesson.sim.apps.process import Host, Process, stamp
from kubelesson.sim.kubelet import images
from kubelesson.sim.kubelet.backends import Backend

DATADIR = "/var/lib/mysql"
SOCKET = "/run/mysqld/mysqld.sock"
# The newest release of each line among the image tags images.py lists (mid-2025).
RELEASES = {"10.4": "10.4.34", "10.5": "10.5.27", "10.6": "10.6.20", "10.11": "10.11.10",
            "11.0": "11.0.6", "11.1": "11.1.6", "11.2": "11.2.6", "11.3": "11.3.2",
            "11.4": "11.4.5", "11.5": "11.5.2", "11.6": "11.6.2", "11.7": "11.7.2",
            "11.8": "11.8.2"}
LATEST = {"10": "10.11", "11": "11.8"}
ARIA_RETRY_SECONDS = 30.0  # how long mariadbd waits for the lock of a data folder in use

# Which server holds each data directory (by its real path on the node): mariadbd's file
# locks, which a second server on the same folder cannot take.
_holders: dict[Path, MariaDB] = {}
_holders_guard = threading.Lock()


def release(image: str) -> str:
    """The MariaDB version an image tag runs: `mariadb:11` is the newest 11.x."""
    _, tag = images.split_reference(image)
    base = tag.split("-", 1)[0]
    if base in ("latest", "lts", "noble", "jammy", "focal", "") or base.startswith("@"):
        base = "11"
    parts = base.split(".")
    line = LATEST.get(base, ".".join(parts[:2]))
    return base if len(parts) >= 3 else RELEASES.get(line, RELEASES["11.8"])


def server_version(version: str) -> str:
    """What `SELECT VERSION()` says: the Ubuntu build of the official image."""
    major, minor = (int(x) for x in version.split(".")[:2])
    distro = "ubu2404" if (major, minor) >= (11, 4) else "ubu2204"
    return f"{version}-MariaDB-{distro}"


class MariaDB(Process):
    ports = (3306,)

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.version = release(self.host.image)
        self.full = server_version(self.version)
        self.datadir = DataDir(self._data_path())
        self.server: MySQLServer | None = None
        self.listening = False

    def _data_path(self) -> Path:
        mounted = self.host.fs.host_path(DATADIR)
        return mounted if mounted is not None else self.host.scratch / DATADIR.lstrip("/")

    # -- the log ------------------------------------------------------------------------
    def note(self, text: str, kind: str = "Note") -> None:
        self.host.log(f"{stamp()}+00:00 [{kind}] [Entrypoint]: {text}")

    def server_log(self, text: str, kind: str = "Note") -> None:
        self.host.log(f"{stamp()} 0 [{kind}] {text}")

    # -- start-up -------------------------------------------------------------------------
    def start(self) -> None:
        distro = self.full.rsplit("-", 1)[-1]
        entrypoint = f"Entrypoint script for MariaDB Server 1:{self.version}+maria~{distro} started."
        self.note(entrypoint)
        self.note("Switching to dedicated user 'mysql'")
        self.note(entrypoint)
        if not self._lock():
            self._locked_out()
            return
        init = max(self.host.options.database_init_seconds, 0.0)
        if self.datadir.initialized:
            self.note("MariaDB upgrade not required")
            self.after(init * 0.2, lambda: self._serve(3306))
            return
        env = self.host.env
        if not any(env.get(k) for k in ("MARIADB_ROOT_PASSWORD", "MYSQL_ROOT_PASSWORD",
                                         "MARIADB_ALLOW_EMPTY_ROOT_PASSWORD",
                                         "MYSQL_ALLOW_EMPTY_PASSWORD", "MARIADB_RANDOM_ROOT_PASSWORD",
                                         "MYSQL_RANDOM_ROOT_PASSWORD", "MARIADB_ROOT_PASSWORD_HASH")):
            self.note("Database is uninitialized and password option is not specified", "ERROR")
            self.host.log("\tYou need to specify one of MARIADB_ROOT_PASSWORD, "
                          "MARIADB_ROOT_PASSWORD_HASH, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD and "
                          "MARIADB_RANDOM_ROOT_PASSWORD")
            self.after(0.05, self.fail)
            return
        self.note("Initializing database files")
        self.after(init * 0.4, self._install)
        self.after(init * 0.7, self._set_up)
        self.after(init, lambda: self._serve(3306))

    def _install(self) -> None:
        self.datadir.install(self.full)
        self.note("Database files initialized")
        self.note("Starting temporary server")
        self.note("Waiting for server startup")
        self._server_start_lines(0)
        self.note("Temporary server started.")

    def _set_up(self) -> None:
        env = self.host.env
        root = env.get("MARIADB_ROOT_PASSWORD") or env.get("MYSQL_ROOT_PASSWORD") or ""
        if not root and (env.get("MARIADB_RANDOM_ROOT_PASSWORD") or env.get("MYSQL_RANDOM_ROOT_PASSWORD")):
            root = secrets.token_urlsafe(24)
            self.note(f"GENERATED ROOT PASSWORD: {root}")
        root_host = env.get("MARIADB_ROOT_HOST") or env.get("MYSQL_ROOT_HOST") or "%"
        accounts = [a for a in self.datadir.accounts() if a.user != "root"]
        accounts.append(Account("root", "localhost", password_hash(root), ["*"]))
        if root_host != "localhost":
            accounts.append(Account("root", root_host, password_hash(root), ["*"]))
        self.note("Securing system users (equivalent to running mysql_secure_installation)")
        database = env.get("MARIADB_DATABASE") or env.get("MYSQL_DATABASE") or ""
        if database:
            self.note(f"Creating database {database}")
            if not self.datadir.has_database(database):
                self.datadir.create_database(database)
        user = env.get("MARIADB_USER") or env.get("MYSQL_USER") or ""
        password = env.get("MARIADB_PASSWORD") or env.get("MYSQL_PASSWORD") or ""
        if user and password:
            self.note(f"Creating user {user}")
            grants = []
            if database:
                self.note(f"Giving user {user} access to schema {database}")
                grants.append(database)
            accounts.append(Account(user, "%", password_hash(password), grants))
        self.datadir.save_accounts(accounts)
        self.note("Stopping temporary server")
        self.server_log("mariadbd (initiated by: unknown): Normal shutdown")
        self.server_log("InnoDB: FTS optimize thread exiting.")
        self.server_log("InnoDB: Starting shutdown...")
        self.server_log("InnoDB: Shutdown completed; log sequence number 47629; transaction id 15")
        self.server_log("mariadbd: Shutdown complete")
        self.host.log("")
        self.note("Temporary server stopped")
        self.host.log("")
        self.note("MariaDB init process done. Ready for start up.")
        self.host.log("")

    def _server_start_lines(self, port: int) -> None:
        self.server_log(f"Starting MariaDB {self.full} source revision "
                        f"{'0' * 40} server_uid {'0' * 28} as process {1 if port else 96}")
        self.server_log("InnoDB: Compressed tables use zlib 1.3")
        self.server_log("InnoDB: Number of transaction pools: 1")
        self.server_log("InnoDB: Using crc32 + pclmulqdq instructions")
        self.server_log("InnoDB: Initializing buffer pool, total size = 128.000MiB, chunk size "
                        "= 2.000MiB")
        self.server_log("InnoDB: Completed initialization of buffer pool")
        self.server_log("InnoDB: 128 rollback segments are active.")
        self.server_log("InnoDB: log sequence number 47629; transaction id 14")
        self.server_log("Plugin 'FEEDBACK' is disabled.")
        if port:
            self.server_log("Server socket created on IP: '0.0.0.0'.")
            self.server_log("Server socket created on IP: '::'.")
        self.server_log("mariadbd: ready for connections.")
        self.host.log(f"Version: '{self.full}'  socket: '{SOCKET}'  port: {port}  mariadb.org "
                      "binary distribution")

    def _serve(self, port: int) -> None:
        if not self.datadir.initialized:  # the volume was emptied under the server
            self.server_log("Can't open and lock privilege tables: Table 'mysql.servers' "
                            "doesn't exist", "ERROR")
            self.fail()
            return
        self.server = MySQLServer(Instance(self.datadir, self.full))
        # Listening before the line that says so, as mariadbd creates its sockets first: a
        # client that waits for `port: 3306` in the log must find the port open.
        self.listening = True
        self._server_start_lines(port)

    # -- the data directory's lock ---------------------------------------------------------
    def _lock(self) -> bool:
        """Take the data directory, unless a server that still runs has it."""
        key = self.datadir.root.resolve()
        with _holders_guard:
            holder = _holders.get(key)
            if holder is not None and holder is not self and not holder.stopped:
                return False
            _holders[key] = self
        return True

    def _unlock(self) -> None:
        key = self.datadir.root.resolve()
        with _holders_guard:
            if _holders.get(key) is self:
                del _holders[key]

    def _locked_out(self) -> None:
        """What mariadbd logs on a folder another server holds: it waits for the Aria lock,
        then InnoDB cannot lock ibdata1 either, and the server aborts."""
        control = f"{DATADIR}/aria_log_control"
        self.server_log(f"Starting MariaDB {self.full} source revision {'0' * 40} server_uid "
                        f"{'0' * 28} as process 1")
        self.server_log(f"mariadbd: Can't lock aria control file '{control}' for exclusive use, "
                        f"error: 11. Will retry for {ARIA_RETRY_SECONDS:.0f} seconds", "ERROR")

        def give_up() -> None:
            self.server_log("mariadbd: Got error 'Could not get an exclusive lock; file is probably "
                            f"in use by another process' when trying to use aria control file "
                            f"'{control}'", "ERROR")
            self.server_log("Plugin 'Aria' registration as a STORAGE ENGINE failed.", "ERROR")
            self.server_log("InnoDB: Unable to lock ./ibdata1 error: 11", "ERROR")
            self.server_log("InnoDB: Check that you do not already have another mariadbd process "
                            "using the same InnoDB data or log files.")
            self.server_log("InnoDB: Plugin initialization aborted with error Generic error", "ERROR")
            self.server_log("Plugin 'InnoDB' registration as a STORAGE ENGINE failed.", "ERROR")
            self.server_log("Unknown/unsupported storage engine: InnoDB", "ERROR")
            self.server_log("Aborting", "ERROR")
            self.fail()

        # The wait scales with the simulator's database times, so tests need not sit out 30 s.
        self.after(min(ARIA_RETRY_SECONDS, self.host.options.database_init_seconds * 2), give_up)

    # -- running --------------------------------------------------------------------------
    def listener(self, port: int) -> Backend | None:
        return self.server if self.listening and port == 3306 else None

    def stop(self) -> None:
        self._unlock()
        if self.stopped:
            return
        super().stop()
        self.listening = False
        if self.server is not None:
            self.server.shutdown()
            self.server_log("mariadbd (initiated by: unknown): Normal shutdown")
            self.server_log("InnoDB: Starting shutdown...")
            self.server_log("mariadbd: Shutdown complete")
