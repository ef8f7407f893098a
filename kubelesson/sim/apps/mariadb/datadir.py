"""A MariaDB data directory (`/var/lib/mysql` in the container) as the simulated server
keeps it: one directory per database, each table a definition file (`<table>.frm`) and a
data file (`<table>.ibd`) as InnoDB names them, the accounts in `mysql/global_priv`.
The contents are JSON, not MariaDB's formats: what matters is that they live in the volume,
so they survive the container exactly as long as the volume does.

The entrypoint of the mariadb image decides whether a directory is initialised by whether
`mysql/` exists in it; so does `initialized` here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SYSTEM_DATABASES = ("information_schema", "mysql", "performance_schema", "sys")
COLLATION = "utf8mb4_uca1400_ai_ci"


def password_hash(password: str) -> str:
    """mysql_native_password's stored form, SHA1(SHA1(password)), as hex."""
    if not password:
        return ""
    return hashlib.sha1(hashlib.sha1(password.encode()).digest()).hexdigest()


@dataclass
class Account:
    user: str
    host: str
    password: str  # password_hash(); "" for none
    databases: list[str] = field(default_factory=list)  # "*" = every database (root)

    def may_use(self, database: str) -> bool:
        return "*" in self.databases or database in self.databases

    def matches_host(self, client: str) -> bool:
        """The image runs with skip-name-resolve: a TCP client is its address, so only the
        socket (inside the container) is 'localhost'."""
        return self.host in ("%", client)


@dataclass
class Column:
    name: str
    type: str  # upper-case SQL type name: INT, VARCHAR, TEXT ...
    length: int | None = None
    unsigned: bool = False
    nullable: bool = True
    default: Any = None
    auto_increment: bool = False
    primary: bool = False
    unique: bool = False


@dataclass
class Table:
    name: str
    columns: list[Column]
    rows: list[list[Any]] = field(default_factory=list)
    next_id: int = 1

    def index(self, column: str) -> int | None:
        for i, col in enumerate(self.columns):
            if col.name.lower() == column.lower():
                return i
        return None


def _write(path: Path, data: Any) -> None:
    """Atomically, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)
    os.replace(tmp, path)


def _read(path: Path) -> Any:
    return json.loads(path.read_text())


class DataDir:
    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def initialized(self) -> bool:
        return (self.root / "mysql").is_dir()

    # -- what mariadb-install-db and the entrypoint write ------------------------------
    def install(self, version: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        for name in ("mysql", "performance_schema", "sys"):
            (self.root / name).mkdir(exist_ok=True)
        for marker in ("ibdata1", "ib_logfile0", "aria_log_control", "ddl_recovery.log"):
            (self.root / marker).touch()
        (self.root / "mariadb_upgrade_info").write_text(version)
        self.save_accounts([Account("root", "localhost", "", ["*"]),
                            Account("mysql", "localhost", "", ["*"])])

    # -- accounts -------------------------------------------------------------------------
    def accounts(self) -> list[Account]:
        try:
            return [Account(**item) for item in _read(self.root / "mysql" / "global_priv.json")]
        except (OSError, ValueError, TypeError):
            return []

    def save_accounts(self, accounts: list[Account]) -> None:
        _write(self.root / "mysql" / "global_priv.json", [asdict(a) for a in accounts])

    # -- databases --------------------------------------------------------------------------
    def databases(self) -> list[str]:
        """Every database, the system ones included (information_schema has no directory)."""
        names = {"information_schema"}
        if self.root.is_dir():
            names |= {p.name for p in self.root.iterdir()
                      if p.is_dir() and not p.name.startswith((".", "#"))}
        return sorted(names)

    def has_database(self, name: str) -> bool:
        return name == "information_schema" or (self.root / name).is_dir()

    def create_database(self, name: str) -> None:
        folder = self.root / name
        folder.mkdir()
        (folder / "db.opt").write_text(f"default-character-set=utf8mb4\n"
                                       f"default-collation={COLLATION}\n")

    def drop_database(self, name: str) -> int:
        """Remove it; the number of tables that went with it."""
        count = len(self.tables(name))
        shutil.rmtree(self.root / name)
        return count

    # -- tables -----------------------------------------------------------------------------
    def tables(self, database: str) -> list[str]:
        folder = self.root / database
        if database in SYSTEM_DATABASES or not folder.is_dir():
            return []
        return sorted(p.stem for p in folder.glob("*.frm"))

    def load(self, database: str, name: str) -> Table | None:
        folder = self.root / database
        try:
            definition = _read(folder / f"{name}.frm")
            data = _read(folder / f"{name}.ibd")
        except (OSError, ValueError):
            return None
        columns = [Column(**c) for c in definition["columns"]]
        return Table(definition["name"], columns, data["rows"], data["next_id"])

    def save(self, database: str, table: Table, *, definition: bool = False) -> None:
        folder = self.root / database
        if definition:
            _write(folder / f"{table.name}.frm",
                   {"name": table.name, "columns": [asdict(c) for c in table.columns]})
        _write(folder / f"{table.name}.ibd", {"rows": table.rows, "next_id": table.next_id})

    def drop_table(self, database: str, name: str) -> None:
        for suffix in (".frm", ".ibd"):
            with contextlib.suppress(FileNotFoundError):
                (self.root / database / f"{name}{suffix}").unlink()
