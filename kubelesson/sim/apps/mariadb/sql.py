"""The SQL a lesson sends to MariaDB, run against a data directory (datadir.py).

Enough of MariaDB's dialect for the chapters' sessions and the usual first steps:
CREATE/DROP DATABASE, USE, CREATE/DROP TABLE (INT, VARCHAR, TEXT ..., PRIMARY KEY,
AUTO_INCREMENT, NOT NULL, DEFAULT), INSERT ... VALUES (...), (...), SELECT (columns,
expressions, WHERE, ORDER BY, LIMIT, COUNT/MIN/MAX/SUM), UPDATE, DELETE, SHOW
DATABASES/TABLES/COLUMNS, DESCRIBE, CREATE USER, GRANT, SET, and the functions clients ask
for on connecting (VERSION(), DATABASE(), @@version_comment). Errors carry MariaDB's
numbers, SQLSTATEs and wording. There are no transactions: every statement is committed
at once (BEGIN, COMMIT and ROLLBACK are accepted and do nothing).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubelesson.sim.apps.mariadb.datadir import (
    SYSTEM_DATABASES,
    Account,
    Column,
    DataDir,
    Table,
    password_hash,
)

# Column types of the protocol (include/mysql_com.h enum_field_types).
DECIMAL, TINY, SHORT, LONG, FLOAT, DOUBLE, NULL_TYPE, TIMESTAMP, LONGLONG, INT24 = range(10)
DATE, TIME, DATETIME, YEAR = 10, 11, 12, 13
NEWDECIMAL, BLOB, VAR_STRING, STRING = 246, 252, 253, 254
# Column flags.
NOT_NULL, PRI_KEY, UNIQUE_KEY, MULTIPLE_KEY, BLOB_FLAG, UNSIGNED = 1, 2, 4, 8, 16, 32
BINARY, AUTO_INCREMENT, NUM = 128, 512, 32768
BINARY_CHARSET, UTF8MB4 = 63, 45

# type name -> (protocol type, display length for a default width, integer?)
_TYPES: dict[str, tuple[int, int, bool]] = {
    "TINYINT": (TINY, 4, True), "BOOL": (TINY, 1, True), "BOOLEAN": (TINY, 1, True),
    "SMALLINT": (SHORT, 6, True), "MEDIUMINT": (INT24, 9, True), "INT": (LONG, 11, True),
    "INTEGER": (LONG, 11, True), "BIGINT": (LONGLONG, 20, True),
    "FLOAT": (FLOAT, 12, False), "DOUBLE": (DOUBLE, 22, False),
    "DECIMAL": (NEWDECIMAL, 12, False), "NUMERIC": (NEWDECIMAL, 12, False),
    "VARCHAR": (VAR_STRING, 255, False), "CHAR": (STRING, 1, False),
    "TEXT": (BLOB, 65535, False), "TINYTEXT": (BLOB, 255, False),
    "MEDIUMTEXT": (BLOB, 16777215, False), "LONGTEXT": (BLOB, 4294967295, False),
    "DATETIME": (DATETIME, 19, False), "TIMESTAMP": (TIMESTAMP, 19, False),
    "DATE": (DATE, 10, False), "TIME": (TIME, 10, False), "JSON": (BLOB, 4294967295, False),
}
_INT_RANGES = {"TINYINT": 7, "BOOL": 7, "BOOLEAN": 7, "SMALLINT": 15, "MEDIUMINT": 23,
               "INT": 31, "INTEGER": 31, "BIGINT": 63}
PARSE_ERROR = ("You have an error in your SQL syntax; check the manual that corresponds to "
               "your MariaDB server version for the right syntax to use near '{near}' at "
               "line {line}")


class SqlError(Exception):
    def __init__(self, code: int, state: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.state = state
        self.message = message


def _unknown_database(name: str) -> SqlError:
    return SqlError(1049, "42000", f"Unknown database '{name}'")


@dataclass
class ColumnMeta:
    name: str
    type: int
    length: int
    flags: int = 0
    charset: int = UTF8MB4
    decimals: int = 0
    table: str = ""
    org_table: str = ""
    schema: str = ""
    org_name: str = ""


@dataclass
class ResultSet:
    columns: list[ColumnMeta]
    rows: list[list[Any]]


@dataclass
class Ok:
    affected: int = 0
    insert_id: int = 0
    info: str = ""
    warnings: int = 0
    changed_database: str | None = None


Result = ResultSet | Ok


# --- tokens ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Token:
    kind: str  # word, ident (back-quoted), number, string, op, var (@@x / @x), end
    text: str
    start: int
    value: Any = None

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.text.upper() in words


_OPS = ("<=>", "<>", "!=", "<=", ">=", "||", "&&", "=", "<", ">", "(", ")", ",", ";", ".",
        "*", "+", "-", "/", "%")
_WORD = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*|[0-9]+[A-Za-z_$][A-Za-z0-9_$]*")
_NUMBER = re.compile(r"[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?|\.[0-9]+")
_ESCAPES = {"0": "\0", "'": "'", '"': '"', "b": "\b", "n": "\n", "r": "\r", "t": "\t",
            "Z": "\x1a", "\\": "\\", "%": "\\%", "_": "\\_"}


def tokenize(sql: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(sql):
        ch = sql[i]
        if ch.isspace():
            i += 1
        elif sql.startswith("-- ", i) or ch == "#" or sql.startswith("--\n", i) or (
                sql.startswith("--", i) and i + 2 == len(sql)):
            end = sql.find("\n", i)
            i = len(sql) if end < 0 else end + 1
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            if end < 0:
                raise _syntax(sql, i)
            i = end + 2
        elif ch in "'\"":
            value, i2 = _quoted(sql, i, ch)
            tokens.append(Token("string", sql[i:i2], i, value))
            i = i2
        elif ch == "`":
            end = sql.find("`", i + 1)
            if end < 0:
                raise _syntax(sql, i)
            tokens.append(Token("ident", sql[i:end + 1], i, sql[i + 1:end]))
            i = end + 1
        elif ch == "@":
            match = re.compile(r"@@?(?:(?:global|session|local)\.)?[A-Za-z0-9_$.]+").match(sql, i)
            if not match:
                raise _syntax(sql, i)
            tokens.append(Token("var", match.group(), i))
            i = match.end()
        elif (match := _NUMBER.match(sql, i)) and not _starts_word(sql, match.end()):
            text = match.group()
            number: Any = float(text) if any(c in text for c in ".eE") else int(text)
            tokens.append(Token("number", text, i, number))
            i = match.end()
        elif match := _WORD.match(sql, i):
            tokens.append(Token("word", match.group(), i))
            i = match.end()
        else:
            op = next((o for o in _OPS if sql.startswith(o, i)), None)
            if op is None:
                raise _syntax(sql, i)
            tokens.append(Token("op", op, i))
            i += len(op)
    tokens.append(Token("end", "", len(sql)))
    return tokens


def _starts_word(sql: str, at: int) -> bool:
    """`1abc` is a name, not the number 1 followed by a name."""
    return at < len(sql) and (sql[at].isalpha() or sql[at] in "_$")


def _quoted(sql: str, start: int, quote: str) -> tuple[str, int]:
    out: list[str] = []
    i = start + 1
    while i < len(sql):
        ch = sql[i]
        if ch == "\\" and i + 1 < len(sql):
            out.append(_ESCAPES.get(sql[i + 1], sql[i + 1]))
            i += 2
        elif ch == quote and sql.startswith(quote * 2, i):
            out.append(quote)
            i += 2
        elif ch == quote:
            return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    raise _syntax(sql, start)


def _syntax(sql: str, at: int) -> SqlError:
    line = sql.count("\n", 0, at) + 1
    return SqlError(1064, "42000", PARSE_ERROR.format(near=sql[at:at + 80], line=line))


# --- expressions -----------------------------------------------------------------------------

@dataclass
class Expr:
    kind: str  # lit, col, var, func, count_star, unary, binary, isnull, like, in, star
    value: Any = None
    args: list[Expr] = field(default_factory=list)
    text: str = ""  # as written, which names a result column


Row = dict[str, Any]  # lower-case column name -> value (the row being looked at)


class Parser:
    def __init__(self, sql: str) -> None:
        self.sql = sql
        self.tokens = tokenize(sql)
        self.pos = 0

    # -- helpers --
    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def error(self) -> SqlError:
        return _syntax(self.sql, self.tok.start)

    def take(self) -> Token:
        tok = self.tok
        if tok.kind != "end":
            self.pos += 1
        return tok

    def accept(self, *words: str) -> bool:
        if self.tok.is_word(*words):
            self.pos += 1
            return True
        return False

    def accept_op(self, op: str) -> bool:
        if self.tok.kind == "op" and self.tok.text == op:
            self.pos += 1
            return True
        return False

    def expect(self, *words: str) -> None:
        if not self.accept(*words):
            raise self.error()

    def expect_op(self, op: str) -> None:
        if not self.accept_op(op):
            raise self.error()

    def name(self) -> str:
        tok = self.tok
        if tok.kind == "ident":
            self.pos += 1
            return str(tok.value)
        if tok.kind == "word" and tok.text.upper() not in _RESERVED:
            self.pos += 1
            return tok.text
        raise self.error()

    def string_or_name(self) -> str:
        if self.tok.kind == "string":
            return str(self.take().value)
        return self.name()

    def end(self) -> None:
        self.accept_op(";")
        if self.tok.kind != "end":
            raise self.error()

    # -- expressions, lowest precedence first --
    def expr(self) -> Expr:
        left = self.and_expr()
        while self.tok.is_word("OR") or (self.tok.kind == "op" and self.tok.text == "||"):
            self.take()
            left = Expr("binary", "OR", [left, self.and_expr()])
        return left

    def and_expr(self) -> Expr:
        left = self.not_expr()
        while self.tok.is_word("AND") or (self.tok.kind == "op" and self.tok.text == "&&"):
            self.take()
            left = Expr("binary", "AND", [left, self.not_expr()])
        return left

    def not_expr(self) -> Expr:
        if self.accept("NOT"):
            return Expr("unary", "NOT", [self.not_expr()])
        return self.comparison()

    def comparison(self) -> Expr:
        left = self.additive()
        while True:
            tok = self.tok
            if tok.kind == "op" and tok.text in ("=", "<>", "!=", "<", ">", "<=", ">=", "<=>"):
                self.take()
                left = Expr("binary", tok.text, [left, self.additive()])
            elif tok.is_word("IS"):
                self.take()
                negate = self.accept("NOT")
                self.expect("NULL")
                left = Expr("isnull", negate, [left])
            elif tok.is_word("LIKE", "NOT", "IN", "BETWEEN"):
                negate = self.accept("NOT")
                if self.accept("LIKE"):
                    left = Expr("like", negate, [left, self.additive()])
                elif self.accept("IN"):
                    self.expect_op("(")
                    items = [self.expr()]
                    while self.accept_op(","):
                        items.append(self.expr())
                    self.expect_op(")")
                    left = Expr("in", negate, [left, *items])
                elif self.accept("BETWEEN"):
                    low = self.additive()
                    self.expect("AND")
                    left = Expr("between", negate, [left, low, self.additive()])
                else:
                    raise self.error()
            else:
                return left

    def additive(self) -> Expr:
        left = self.term()
        while self.tok.kind == "op" and self.tok.text in ("+", "-"):
            op = self.take().text
            left = Expr("binary", op, [left, self.term()])
        return left

    def term(self) -> Expr:
        left = self.unary()
        while (self.tok.kind == "op" and self.tok.text in ("*", "/", "%")) or self.tok.is_word("DIV", "MOD"):
            op = self.take().text.upper()
            left = Expr("binary", op, [left, self.unary()])
        return left

    def unary(self) -> Expr:
        if self.accept_op("-"):
            return Expr("unary", "-", [self.unary()])
        if self.accept_op("+"):
            return self.unary()
        return self.primary()

    def primary(self) -> Expr:
        start = self.tok.start
        tok = self.take()
        if tok.kind in ("number", "string"):
            return Expr("lit", tok.value, text=tok.text)
        if tok.kind == "var":
            return Expr("var", tok.text.lstrip("@").split(".")[-1].lower(), text=tok.text)
        if tok.kind == "op" and tok.text == "(":
            inner = self.expr()
            self.expect_op(")")
            return inner
        if tok.kind == "op" and tok.text == "*":
            return Expr("star", text="*")
        if tok.is_word("NULL"):
            return Expr("lit", None, text=tok.text)
        if tok.is_word("DEFAULT"):
            return Expr("func", "DEFAULT", text=tok.text)
        if tok.is_word("TRUE", "FALSE"):
            return Expr("lit", 1 if tok.text.upper() == "TRUE" else 0, text=tok.text)
        if tok.kind in ("word", "ident"):
            name = str(tok.value) if tok.kind == "ident" else tok.text
            if tok.kind == "word" and self.tok.kind == "op" and self.tok.text == "(":
                return self.call(name, start)
            if tok.kind == "word" and name.upper() in _RESERVED and name.upper() not in _NILADIC:
                self.pos -= 1
                raise self.error()
            if tok.kind == "word" and name.upper() in _NILADIC:
                return Expr("func", name.upper(), text=tok.text)
            if self.accept_op("."):
                if self.accept_op("*"):
                    return Expr("star", name, text=f"{name}.*")
                column = self.name()
                last = self.tokens[self.pos - 1]
                return Expr("col", column, [Expr("lit", name)],
                            text=self.sql[start:last.start + len(last.text)])
            return Expr("col", name, text=tok.text if tok.kind == "word" else name)
        self.pos -= 1
        raise self.error()

    def call(self, name: str, start: int) -> Expr:
        self.expect_op("(")
        upper = name.upper()
        args: list[Expr] = []
        if upper == "COUNT" and self.accept_op("*"):
            self.expect_op(")")
            return Expr("count_star", text=self.sql[start:self.tokens[self.pos - 1].start + 1])
        if not self.accept_op(")"):
            self.accept("DISTINCT")
            args.append(self.expr())
            while self.accept_op(","):
                args.append(self.expr())
            self.expect_op(")")
        return Expr("func", upper, args, text=self.sql[start:self.tokens[self.pos - 1].start + 1])


_RESERVED = {
    "SELECT", "FROM", "WHERE", "ORDER", "BY", "LIMIT", "INSERT", "INTO", "VALUES", "UPDATE",
    "SET", "DELETE", "CREATE", "DROP", "TABLE", "DATABASE", "AND", "OR", "NOT", "NULL", "IS",
    "LIKE", "IN", "AS", "ON", "DESC", "ASC", "GROUP", "HAVING", "PRIMARY", "KEY", "DEFAULT",
    "USE", "SHOW", "BETWEEN", "DISTINCT", "UNIQUE", "CURRENT_USER", "CURRENT_TIMESTAMP",
    "TRUE", "FALSE", "DIV", "MOD", "WITH", "TO", "GRANT", "OFFSET", "IF", "EXISTS",
}
_NILADIC = {"CURRENT_USER", "CURRENT_TIMESTAMP"}


# --- evaluation ------------------------------------------------------------------------------

def _truthy(value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return float(value) != 0
        except ValueError:
            return False
    return bool(value)


def _compare(op: str, a: Any, b: Any) -> Any:
    if op == "<=>":
        return int(a == b)
    if a is None or b is None:
        return None
    if isinstance(a, str) != isinstance(b, str):  # MariaDB compares a string and a number as numbers
        a, b = _number(a), _number(b)
    elif isinstance(a, str):
        a, b = a.lower(), b.lower()  # the default collations ignore case
    result = {"=": a == b, "<>": a != b, "!=": a != b, "<": a < b, ">": a > b,
              "<=": a <= b, ">=": a >= b}[op]
    return int(result)


def _number(value: Any) -> float | int:
    if isinstance(value, (int, float)):
        return value
    match = re.match(r"\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?", str(value))
    if not match:
        return 0
    text = match.group().strip()
    number = float(text)
    return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number


def _like(value: Any, pattern: Any) -> Any:
    if value is None or pattern is None:
        return None
    regex = ""
    text = str(pattern)
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            regex += re.escape(text[i + 1])
            i += 2
            continue
        regex += ".*" if ch == "%" else "." if ch == "_" else re.escape(ch)
        i += 1
    return int(re.fullmatch(regex, str(value), re.IGNORECASE | re.DOTALL) is not None)


# --- the engine --------------------------------------------------------------------------------

class Instance:
    """One running server: its data directory, shared by all its connections."""

    def __init__(self, datadir: DataDir, version: str) -> None:
        self.datadir = datadir
        self.version = version
        self.lock = threading.RLock()
        self._connections = 2  # ids 1 and 2 went to the server's own threads at start
        self.started = time.time()

    def next_connection_id(self) -> int:
        with self.lock:
            self._connections += 1
            return self._connections

    def authenticate(self, user: str, host: str, check: Callable[[str], bool]) -> Account | None:
        """The account for user@host whose stored password `check` accepts."""
        with self.lock:
            for account in self.datadir.accounts():
                if account.user == user and account.matches_host(host) and check(account.password):
                    return account
        return None


class Session:
    """One client connection: its account, current database, and statements."""

    def __init__(self, instance: Instance, account: Account, client_host: str,
                 connection_id: int) -> None:
        self.instance = instance
        self.data = instance.datadir
        self.account = account
        self.client_host = client_host
        self.connection_id = connection_id
        self.database: str | None = None

    @property
    def who(self) -> str:
        return f"'{self.account.user}'@'{self.account.host}'"

    # -- entry points --
    def use(self, name: str) -> Ok:
        with self.instance.lock:
            self._check_access(name)
            if not self.data.has_database(name):
                raise _unknown_database(name)
        self.database = name
        return Ok(changed_database=name)

    def execute(self, sql: str) -> list[Result]:
        """Each statement of `sql` (several when separated by `;`); stops at an error,
        which is raised after the results that came before it."""
        statements = split_statements(sql)
        if not statements:
            raise SqlError(1065, "42000", "Query was empty")
        results: list[Result] = []
        for statement in statements:
            try:
                results.append(self.run(statement))
            except SqlError as exc:
                exc.partial = results  # type: ignore[attr-defined]
                raise
        return results

    def run(self, sql: str) -> Result:
        parser = Parser(sql)
        head = parser.tok
        with self.instance.lock:
            handler = _STATEMENTS.get(head.text.upper()) if head.kind == "word" else None
            if handler is None:
                raise parser.error()
            return handler(self, parser)

    # -- access --
    def _check_access(self, database: str) -> None:
        if database.lower() == "information_schema":
            return
        if not self.account.may_use(database):
            raise SqlError(1044, "42000", f"Access denied for user {self.who} to database "
                           f"'{database}'")

    def _db(self, given: str | None) -> str:
        name = given or self.database
        if not name:
            raise SqlError(1046, "3D000", "No database selected")
        return name

    def _table(self, database: str | None, name: str) -> tuple[str, Table]:
        db = self._db(database)
        self._check_access(db)
        table = self.data.load(db, name) if self.data.has_database(db) else None
        if table is None:
            raise SqlError(1146, "42S02", f"Table '{db}.{name}' doesn't exist")
        return db, table

    def _qualified(self, parser: Parser) -> tuple[str | None, str]:
        first = parser.name()
        if parser.accept_op("."):
            return first, parser.name()
        return None, first

    # -- statements --
    def _select(self, parser: Parser) -> Result:
        parser.expect("SELECT")
        parser.accept("DISTINCT", "ALL", "SQL_NO_CACHE", "SQL_CALC_FOUND_ROWS")
        items: list[tuple[Expr, str | None]] = []
        while True:
            expr = parser.expr()
            alias = None
            if parser.accept("AS") or parser.tok.kind in ("ident", "string") or (
                    parser.tok.kind == "word" and parser.tok.text.upper() not in _RESERVED):
                alias = parser.string_or_name()
            items.append((expr, alias))
            if not parser.accept_op(","):
                break
        source: tuple[str, Table] | None = None
        if parser.accept("FROM"):
            db, name = self._qualified(parser)
            if (db or self.database or "").lower() == "mysql" and name.lower() == "user":
                source = ("mysql", self._user_table())
            else:
                source = self._table(db, name)
            if parser.accept("AS") or (parser.tok.kind in ("word", "ident")
                                       and parser.tok.text.upper() not in _RESERVED):
                parser.name()
        where = parser.expr() if parser.accept("WHERE") else None
        order: list[tuple[Expr, bool]] = []
        if parser.accept("ORDER"):
            parser.expect("BY")
            while True:
                expr = parser.expr()
                descending = parser.accept("DESC")
                if not descending:
                    parser.accept("ASC")
                order.append((expr, descending))
                if not parser.accept_op(","):
                    break
        limit = _limit(parser)
        parser.end()
        return self._query(items, source, where, order, limit)

    def _user_table(self) -> Table:
        """mysql.user, read-only: the accounts as the mysql.user view shows them."""
        columns = [Column("Host", "CHAR", 255, nullable=False), Column("User", "CHAR", 128, nullable=False)]
        return Table("user", columns, [[a.host, a.user] for a in self.data.accounts()])

    def _query(self, items: list[tuple[Expr, str | None]], source: tuple[str, Table] | None,
               where: Expr | None, order: list[tuple[Expr, bool]],
               limit: tuple[int, int] | None) -> ResultSet:
        db, table = source if source else ("", None)
        rows: list[Row] = [{}]
        if table is not None:
            rows = [{c.name.lower(): r[i] for i, c in enumerate(table.columns)} for r in table.rows]
        if where is not None:
            rows = [r for r in rows if _truthy(self._eval(where, r, table, "where clause"))]
        # Expand * and work out each output column's name and type.
        outputs: list[tuple[Expr, str, ColumnMeta]] = []
        for expr, alias in items:
            if expr.kind == "star":
                if table is None:
                    raise SqlError(1096, "HY000", "No tables used")
                for col in table.columns:
                    outputs.append((Expr("col", col.name, text=col.name), col.name,
                                    _column_meta(col, table.name, db)))
                continue
            name = alias or expr.text
            sample = rows[0] if rows and table is not None else {}
            outputs.append((expr, name, self._expr_meta(expr, name, table, db, sample)))
        aggregate = any(_has_aggregate(e) for e, _, _ in outputs)
        if order:
            for expr, descending in reversed(order):
                def key(row: Row, by: Expr = expr) -> tuple[int, Any]:
                    return _sort_key(self._eval(by, row, table, "order clause"))

                rows.sort(key=key, reverse=descending)
        if aggregate:
            result_rows = [[self._aggregate(e, rows, table) for e, _, _ in outputs]]
        else:
            result_rows = [[self._eval(e, r, table, "field list") for e, _, _ in outputs] for r in rows]
        if limit is not None:
            offset, count = limit
            result_rows = result_rows[offset:offset + count]
        return ResultSet([meta for _, _, meta in outputs], result_rows)

    def _expr_meta(self, expr: Expr, name: str, table: Table | None, db: str,
                   sample_row: Row) -> ColumnMeta:
        if expr.kind == "col" and table is not None:
            index = table.index(str(expr.value))
            if index is None:
                raise SqlError(1054, "42S22", f"Unknown column '{expr.text}' in 'field list'")
            meta = _column_meta(table.columns[index], table.name, db)
            meta.name = name
            return meta
        if expr.kind == "col":
            raise SqlError(1054, "42S22", f"Unknown column '{expr.text}' in 'field list'")
        sample = None if _has_aggregate(expr) else self._eval(expr, sample_row, table, "field list",
                                                              probe=True)
        if expr.kind == "count_star" or (expr.kind == "func" and expr.value == "COUNT"):
            return ColumnMeta(name, LONGLONG, 21, NOT_NULL | BINARY | NUM, BINARY_CHARSET)
        if isinstance(sample, int) or (expr.kind == "lit" and isinstance(expr.value, int)):
            return ColumnMeta(name, LONGLONG, max(len(expr.text), 1), NOT_NULL | BINARY | NUM,
                              BINARY_CHARSET)
        if isinstance(sample, float):
            return ColumnMeta(name, NEWDECIMAL, max(len(expr.text), 3), NOT_NULL | BINARY | NUM,
                              BINARY_CHARSET, decimals=1)
        flags = 0 if sample is None else NOT_NULL
        return ColumnMeta(name, VAR_STRING, max(len(str(sample or "")), 1) * 4, flags)

    def _eval(self, expr: Expr, row: Row, table: Table | None, where: str,
              probe: bool = False) -> Any:
        kind = expr.kind
        if kind == "lit":
            return expr.value
        if kind == "col":
            key = str(expr.value).lower()
            if table is None or key not in row:
                if probe:
                    return None
                raise SqlError(1054, "42S22", f"Unknown column '{expr.text}' in '{where}'")
            return row[key]
        if kind == "var":
            return self._variable(str(expr.value))
        if kind == "func":
            return self._function(str(expr.value), [self._eval(a, row, table, where, probe)
                                                    for a in expr.args])
        if kind == "unary":
            value = self._eval(expr.args[0], row, table, where, probe)
            if expr.value == "NOT":
                truth = _truthy(value)
                return None if truth is None else int(not truth)
            return None if value is None else -_number(value)
        if kind == "binary":
            return self._binary(expr, row, table, where, probe)
        if kind == "isnull":
            value = self._eval(expr.args[0], row, table, where, probe)
            return int((value is None) != bool(expr.value))
        if kind == "like":
            found = _like(*(self._eval(a, row, table, where, probe) for a in expr.args))
            return None if found is None else int(bool(found) != bool(expr.value))
        if kind == "in":
            value = self._eval(expr.args[0], row, table, where, probe)
            options = [self._eval(a, row, table, where, probe) for a in expr.args[1:]]
            found = any(_compare("=", value, o) == 1 for o in options)
            return None if value is None else int(found != bool(expr.value))
        if kind == "between":
            value, low, high = (self._eval(a, row, table, where, probe) for a in expr.args)
            inside = _compare(">=", value, low), _compare("<=", value, high)
            if None in inside:
                return None
            return int(all(inside) != bool(expr.value))
        if kind == "count_star":
            return 1
        raise SqlError(1064, "42000", PARSE_ERROR.format(near=expr.text, line=1))

    def _binary(self, expr: Expr, row: Row, table: Table | None, where: str, probe: bool) -> Any:
        op = str(expr.value)
        a = self._eval(expr.args[0], row, table, where, probe)
        if op in ("AND", "OR"):
            left = _truthy(a)
            if op == "AND" and left is False:
                return 0
            if op == "OR" and left is True:
                return 1
            right = _truthy(self._eval(expr.args[1], row, table, where, probe))
            if op == "AND":
                return None if None in (left, right) else int(bool(left and right))
            if left is None and right is not True:
                return None
            return int(bool(left or right))
        b = self._eval(expr.args[1], row, table, where, probe)
        if op in ("=", "<>", "!=", "<", ">", "<=", ">=", "<=>"):
            return _compare(op, a, b)
        if a is None or b is None:
            return None
        x, y = _number(a), _number(b)
        if op == "+":
            return x + y
        if op == "-":
            return x - y
        if op == "*":
            return x * y
        if op in ("/", "DIV", "%", "MOD") and y == 0:
            return None
        if op == "/":
            return round(x / y, 4)
        if op == "DIV":
            return int(x // y)
        return x % y

    def _variable(self, name: str) -> Any:
        known: dict[str, Any] = {
            "version": self.instance.version, "version_comment": "mariadb.org binary distribution",
            "autocommit": 1, "max_allowed_packet": 16777216, "sql_mode":
            "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION",
            "character_set_client": "utf8mb4", "character_set_connection": "utf8mb4",
            "character_set_results": "utf8mb4", "collation_connection": "utf8mb4_general_ci",
            "port": 3306, "hostname": "", "datadir": "/var/lib/mysql/",
            "transaction_isolation": "REPEATABLE-READ", "tx_isolation": "REPEATABLE-READ",
            "lower_case_table_names": 0, "time_zone": "SYSTEM", "system_time_zone": "UTC",
            "wait_timeout": 28800, "interactive_timeout": 28800, "license": "GPL",
        }
        if name not in known:
            raise SqlError(1193, "HY000", f"Unknown system variable '{name}'")
        return known[name]

    def _function(self, name: str, args: list[Any]) -> Any:
        if name == "VERSION":
            return self.instance.version
        if name in ("DATABASE", "SCHEMA"):
            return self.database
        if name in ("USER", "SESSION_USER", "SYSTEM_USER"):
            return f"{self.account.user}@{self.client_host}"
        if name == "CURRENT_USER":
            return f"{self.account.user}@{self.account.host}"
        if name == "CONNECTION_ID":
            return self.connection_id
        if name in ("NOW", "CURRENT_TIMESTAMP", "SYSDATE"):
            return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
        if name in ("UPPER", "UCASE") and args:
            return None if args[0] is None else str(args[0]).upper()
        if name in ("LOWER", "LCASE") and args:
            return None if args[0] is None else str(args[0]).lower()
        if name == "CONCAT":
            return None if None in args else "".join(str(a) for a in args)
        if name == "LENGTH" and args:
            return None if args[0] is None else len(str(args[0]).encode())
        if name in ("IFNULL", "COALESCE") and args:
            return next((a for a in args if a is not None), None)
        if name == "SLEEP":
            return 0
        raise SqlError(1305, "42000", f"FUNCTION {self.database or 'mysql'}.{name.lower()} "
                       "does not exist")

    def _aggregate(self, expr: Expr, rows: list[Row], table: Table | None) -> Any:
        if expr.kind == "count_star":
            return len(rows) if table is not None else 1
        if expr.kind == "func" and expr.value in ("COUNT", "MIN", "MAX", "SUM", "AVG"):
            values = [self._eval(expr.args[0], r, table, "field list") for r in rows]
            values = [v for v in values if v is not None]
            if expr.value == "COUNT":
                return len(values)
            if not values:
                return None
            if expr.value == "MIN":
                return min(values, key=_sort_key)
            if expr.value == "MAX":
                return max(values, key=_sort_key)
            total = sum(_number(v) for v in values)
            return total if expr.value == "SUM" else round(total / len(values), 4)
        return self._eval(expr, rows[0] if rows else {}, table, "field list", probe=not rows)

    def _insert(self, parser: Parser) -> Result:
        parser.expect("INSERT", "REPLACE")
        parser.accept("IGNORE")
        parser.accept("INTO")
        db, name = self._qualified(parser)
        db, table = self._table(db, name)
        targets = list(range(len(table.columns)))
        if parser.accept_op("("):
            targets = []
            while True:
                column = parser.name()
                index = table.index(column)
                if index is None:
                    raise SqlError(1054, "42S22", f"Unknown column '{column}' in 'field list'")
                targets.append(index)
                if not parser.accept_op(","):
                    break
            parser.expect_op(")")
        parser.expect("VALUES", "VALUE")
        tuples: list[list[Expr]] = []
        while True:
            parser.expect_op("(")
            values: list[Expr] = []
            if not parser.accept_op(")"):
                values.append(parser.expr())
                while parser.accept_op(","):
                    values.append(parser.expr())
                parser.expect_op(")")
            tuples.append(values)
            if not parser.accept_op(","):
                break
        parser.end()
        added: list[list[Any]] = []
        first_id = 0
        for number, values in enumerate(tuples, start=1):
            if len(values) != len(targets):
                raise SqlError(1136, "21S01", f"Column count doesn't match value count at row {number}")
            row = self._new_row(db, table, targets, values, number, added)
            if first_id == 0:
                first_id = next((row[i] for i, c in enumerate(table.columns) if c.auto_increment), 0)
            added.append(row)
        table.rows.extend(added)
        self.data.save(db, table)
        info = f"Records: {len(added)}  Duplicates: 0  Warnings: 0" if len(added) > 1 else ""
        return Ok(affected=len(added), insert_id=int(first_id or 0), info=info)

    def _new_row(self, db: str, table: Table, targets: list[int], values: list[Expr], number: int,
                 added: list[list[Any]]) -> list[Any]:
        row: list[Any] = [_MISSING] * len(table.columns)
        for index, expr in zip(targets, values, strict=True):
            if expr.kind == "func" and expr.value == "DEFAULT":
                continue  # stays missing: the column's default
            row[index] = self._eval(expr, {}, None, "field list")
        for index, col in enumerate(table.columns):
            value = row[index]
            if col.auto_increment and value in (None, 0, _MISSING):
                value = table.next_id
            if value is _MISSING:
                if col.default is not None or col.nullable:
                    value = col.default
                else:
                    raise SqlError(1364, "HY000", f"Field '{col.name}' doesn't have a default value")
            value = _coerce(col, value, db, table.name, number)
            if col.auto_increment and isinstance(value, int):
                table.next_id = max(table.next_id, value + 1)
            row[index] = value
        for index, col in enumerate(table.columns):
            if col.primary or col.unique:
                key = "PRIMARY" if col.primary else col.name
                if any(r[index] == row[index] for r in [*table.rows, *added]):
                    raise SqlError(1062, "23000", f"Duplicate entry '{row[index]}' for key '{key}'")
        return row

    def _update(self, parser: Parser) -> Result:
        parser.expect("UPDATE")
        db, name = self._qualified(parser)
        db, table = self._table(db, name)
        parser.expect("SET")
        changes: list[tuple[int, Expr]] = []
        while True:
            column = parser.name()
            index = table.index(column)
            if index is None:
                raise SqlError(1054, "42S22", f"Unknown column '{column}' in 'field list'")
            parser.expect_op("=")
            changes.append((index, parser.expr()))
            if not parser.accept_op(","):
                break
        where = parser.expr() if parser.accept("WHERE") else None
        parser.end()
        matched = changed = 0
        for row in table.rows:
            named = {c.name.lower(): row[i] for i, c in enumerate(table.columns)}
            if where is not None and not _truthy(self._eval(where, named, table, "where clause")):
                continue
            matched += 1
            new = list(row)
            for index, expr in changes:
                new[index] = _coerce(table.columns[index], self._eval(expr, named, table, "field list"),
                                     db, table.name, matched)
            if new != row:
                changed += 1
                row[:] = new
        self.data.save(db, table)
        return Ok(affected=changed, info=f"Rows matched: {matched}  Changed: {changed}  Warnings: 0")

    def _delete(self, parser: Parser) -> Result:
        parser.expect("DELETE")
        parser.expect("FROM")
        db, name = self._qualified(parser)
        db, table = self._table(db, name)
        where = parser.expr() if parser.accept("WHERE") else None
        parser.end()
        kept = []
        for row in table.rows:
            named = {c.name.lower(): row[i] for i, c in enumerate(table.columns)}
            if where is not None and not _truthy(self._eval(where, named, table, "where clause")):
                kept.append(row)
        removed = len(table.rows) - len(kept)
        table.rows = kept
        self.data.save(db, table)
        return Ok(affected=removed)

    def _create(self, parser: Parser) -> Result:
        parser.expect("CREATE")
        if parser.accept("OR"):  # CREATE OR REPLACE
            parser.expect("REPLACE")
        if parser.accept("DATABASE", "SCHEMA"):
            return self._create_database(parser)
        if parser.accept("TABLE"):
            return self._create_table(parser)
        if parser.accept("USER"):
            return self._create_user(parser)
        raise parser.error()

    def _create_database(self, parser: Parser) -> Result:
        exists_ok = _if_not_exists(parser)
        name = parser.name()
        while parser.tok.kind != "end" and not (parser.tok.kind == "op" and parser.tok.text == ";"):
            parser.take()  # CHARACTER SET ..., COLLATE ...: the server's defaults serve
        parser.end()
        if not self.account.may_use(name) or name.lower() in SYSTEM_DATABASES:
            self._check_access(name)
        if self.data.has_database(name):
            if exists_ok:
                return Ok(warnings=1)
            raise SqlError(1007, "HY000", f"Can't create database '{name}'; database exists")
        self.data.create_database(name)
        return Ok(affected=1)

    def _create_table(self, parser: Parser) -> Result:
        exists_ok = _if_not_exists(parser)
        db, name = self._qualified(parser)
        db = self._db(db)
        self._check_access(db)
        if not self.data.has_database(db):
            raise _unknown_database(db)
        parser.expect_op("(")
        columns: list[Column] = []
        primary: list[str] = []
        while True:
            if parser.accept("PRIMARY"):
                parser.expect("KEY")
                primary += _name_list(parser)
            elif parser.accept("UNIQUE", "KEY", "INDEX", "CONSTRAINT", "FOREIGN", "FULLTEXT"):
                _skip_balanced(parser)
            else:
                columns.append(_column_definition(parser))
            if not parser.accept_op(","):
                break
        parser.expect_op(")")
        while parser.tok.kind != "end" and not (parser.tok.kind == "op" and parser.tok.text == ";"):
            parser.take()  # ENGINE=..., DEFAULT CHARSET=...
        parser.end()
        for column in columns:
            if column.name.lower() in (p.lower() for p in primary):
                column.primary = True
            if column.primary:
                column.nullable = False
        if self.data.load(db, name) is not None:
            if exists_ok:
                return Ok(warnings=1)
            raise SqlError(1050, "42S01", f"Table '{name}' already exists")
        self.data.save(db, Table(name, columns), definition=True)
        return Ok()

    def _create_user(self, parser: Parser) -> Result:
        exists_ok = _if_not_exists(parser)
        user, host = _account_name(parser)
        password = ""
        if parser.accept("IDENTIFIED"):
            parser.expect("BY")
            password = str(parser.take().value or "")
        parser.end()
        self._require_root()
        accounts = self.data.accounts()
        if any(a.user == user and a.host == host for a in accounts):
            if exists_ok:
                return Ok(warnings=1)
            raise SqlError(1396, "HY000", f"Operation CREATE USER failed for '{user}'@'{host}'")
        accounts.append(Account(user, host, password_hash(password), []))
        self.data.save_accounts(accounts)
        return Ok()

    def _grant(self, parser: Parser) -> Result:
        parser.expect("GRANT")
        while not parser.tok.is_word("ON") and parser.tok.kind != "end":
            parser.take()
        parser.expect("ON")
        database = "*" if parser.accept_op("*") else parser.name().replace("\\_", "_")
        parser.expect_op(".")
        parser.expect_op("*")
        parser.expect("TO")
        user, host = _account_name(parser)
        while parser.tok.kind != "end" and not (parser.tok.kind == "op" and parser.tok.text == ";"):
            parser.take()  # WITH GRANT OPTION
        parser.end()
        self._require_root()
        accounts = self.data.accounts()
        for account in accounts:
            if account.user == user and account.host == host:
                if database not in account.databases:
                    account.databases.append(database)
                self.data.save_accounts(accounts)
                return Ok()
        raise SqlError(1133, "28000", "Can't find any matching row in the user table")

    def _require_root(self) -> None:
        if "*" not in self.account.databases:
            raise SqlError(1227, "42000", "Access denied; you need (at least one of) the CREATE "
                           "USER privilege(s) for this operation")

    def _drop(self, parser: Parser) -> Result:
        parser.expect("DROP")
        if parser.accept("DATABASE", "SCHEMA"):
            if_exists = _if_exists(parser)
            name = parser.name()
            parser.end()
            self._check_access(name)
            if not self.data.has_database(name) or name.lower() == "information_schema":
                if if_exists:
                    return Ok(warnings=1)
                raise SqlError(1008, "HY000", f"Can't drop database '{name}'; database doesn't exist")
            count = self.data.drop_database(name)
            if self.database == name:
                self.database = None
            return Ok(affected=count)
        if parser.accept("TABLE"):
            if_exists = _if_exists(parser)
            names = [self._qualified(parser)]
            while parser.accept_op(","):
                names.append(self._qualified(parser))
            parser.end()
            missing = []
            for db, name in names:
                database = self._db(db)
                self._check_access(database)
                if self.data.load(database, name) is None:
                    missing.append(f"{database}.{name}")
                else:
                    self.data.drop_table(database, name)
            if missing and not if_exists:
                raise SqlError(1051, "42S02", f"Unknown table '{','.join(missing)}'")
            return Ok(warnings=len(missing))
        if parser.accept("USER"):
            _if_exists(parser)
            user, host = _account_name(parser)
            parser.end()
            self._require_root()
            accounts = [a for a in self.data.accounts() if not (a.user == user and a.host == host)]
            self.data.save_accounts(accounts)
            return Ok()
        raise parser.error()

    def _use(self, parser: Parser) -> Result:
        parser.expect("USE")
        name = parser.name()
        parser.end()
        return self.use(name)

    def _show(self, parser: Parser) -> Result:
        parser.expect("SHOW")
        parser.accept("FULL")
        if parser.accept("DATABASES", "SCHEMAS"):
            pattern = _show_like(parser)
            names = [n for n in self.data.databases() if self.account.may_use(n)
                     or n == "information_schema"]
            rows = [[n] for n in names if pattern is None or _like(n, pattern)]
            label = "Database" + (f" ({pattern})" if pattern is not None else "")
            return ResultSet([ColumnMeta(label, VAR_STRING, 256, NOT_NULL, table="SCHEMATA",
                                         org_table="SCHEMATA", schema="information_schema",
                                         org_name="SCHEMA_NAME")], rows)
        if parser.accept("TABLES"):
            db = None
            if parser.accept("FROM", "IN"):
                db = parser.name()
            pattern = _show_like(parser)
            database = self._db(db)
            self._check_access(database)
            if not self.data.has_database(database):
                raise _unknown_database(database)
            label = f"Tables_in_{database}" + (f" ({pattern})" if pattern is not None else "")
            rows = [[t] for t in self.data.tables(database) if pattern is None or _like(t, pattern)]
            return ResultSet([ColumnMeta(label, VAR_STRING, 256, NOT_NULL, table="TABLE_NAMES",
                                         org_table="TABLE_NAMES", schema="information_schema",
                                         org_name="TABLE_NAME")], rows)
        if parser.accept("COLUMNS", "FIELDS"):
            parser.expect("FROM", "IN")
            db, name = self._qualified(parser)
            if parser.accept("FROM", "IN"):
                db = parser.name()
            _show_like(parser)
            return self._describe_table(db, name)
        if parser.accept("WARNINGS", "ERRORS"):
            parser.end()
            return ResultSet([ColumnMeta("Level", VAR_STRING, 28, NOT_NULL),
                              ColumnMeta("Code", LONG, 4, NOT_NULL | UNSIGNED | NUM, BINARY_CHARSET),
                              ColumnMeta("Message", VAR_STRING, 2048, NOT_NULL)], [])
        if parser.accept("VARIABLES", "STATUS", "ENGINES", "PLUGINS", "GRANTS", "PROCESSLIST"):
            while parser.tok.kind != "end":
                parser.take()
            return ResultSet([ColumnMeta("Variable_name", VAR_STRING, 256, NOT_NULL),
                              ColumnMeta("Value", VAR_STRING, 4096, 0)], [])
        raise parser.error()

    def _describe(self, parser: Parser) -> Result:
        parser.expect("DESCRIBE", "DESC", "EXPLAIN")
        db, name = self._qualified(parser)
        parser.end()
        return self._describe_table(db, name)

    def _describe_table(self, db: str | None, name: str) -> ResultSet:
        _, table = self._table(db, name)
        columns = [ColumnMeta(label, VAR_STRING, 256, flags) for label, flags in (
            ("Field", NOT_NULL), ("Type", NOT_NULL), ("Null", NOT_NULL), ("Key", NOT_NULL),
            ("Default", 0), ("Extra", NOT_NULL))]
        rows = [[c.name, _type_text(c), "YES" if c.nullable else "NO",
                 "PRI" if c.primary else "UNI" if c.unique else "",
                 None if c.default is None else str(c.default),
                 "auto_increment" if c.auto_increment else ""] for c in table.columns]
        return ResultSet(columns, rows)

    def _set(self, parser: Parser) -> Result:
        parser.expect("SET")
        while parser.tok.kind != "end":
            parser.take()  # SET NAMES, SET autocommit, SET sql_mode ...: accepted as they are
        return Ok()

    def _nothing(self, parser: Parser) -> Result:
        parser.take()
        while parser.tok.kind != "end":
            parser.take()  # BEGIN, COMMIT, ROLLBACK, FLUSH PRIVILEGES: no transactions here
        return Ok()


_STATEMENTS: dict[str, Callable[[Session, Parser], Result]] = {
    "SELECT": Session._select, "INSERT": Session._insert, "REPLACE": Session._insert,
    "UPDATE": Session._update, "DELETE": Session._delete, "CREATE": Session._create,
    "DROP": Session._drop, "USE": Session._use, "SHOW": Session._show,
    "DESCRIBE": Session._describe, "DESC": Session._describe, "EXPLAIN": Session._describe,
    "SET": Session._set, "GRANT": Session._grant, "BEGIN": Session._nothing,
    "START": Session._nothing, "COMMIT": Session._nothing, "ROLLBACK": Session._nothing,
    "FLUSH": Session._nothing,
}
_MISSING = object()


def split_statements(sql: str) -> list[str]:
    """Statements separated by `;` outside quotes and comments (a multi-statement query)."""
    parts: list[str] = []
    start = 0
    quote = ""
    i = 0
    while i < len(sql):
        ch = sql[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
        elif ch == ";":
            parts.append(sql[start:i])
            start = i + 1
        i += 1
    parts.append(sql[start:])
    return [p for p in parts if _has_code(p)]


def _has_code(text: str) -> bool:
    try:
        return len(tokenize(text)) > 1
    except SqlError:
        return True


def _limit(parser: Parser) -> tuple[int, int] | None:
    if not parser.accept("LIMIT"):
        return None
    first = parser.take()
    if first.kind != "number":
        parser.pos -= 1
        raise parser.error()
    if parser.accept_op(","):
        count = parser.take()
        return int(first.value), int(count.value)
    if parser.accept("OFFSET"):
        offset = parser.take()
        return int(offset.value), int(first.value)
    return 0, int(first.value)


def _if_not_exists(parser: Parser) -> bool:
    if parser.accept("IF"):
        parser.expect("NOT")
        parser.expect("EXISTS")
        return True
    return False


def _if_exists(parser: Parser) -> bool:
    if parser.accept("IF"):
        parser.expect("EXISTS")
        return True
    return False


def _show_like(parser: Parser) -> str | None:
    pattern = None
    if parser.accept("LIKE"):
        pattern = str(parser.take().value)
    parser.end()
    return pattern


def _name_list(parser: Parser) -> list[str]:
    parser.expect_op("(")
    names = [parser.name()]
    while parser.accept_op(","):
        names.append(parser.name())
    parser.expect_op(")")
    return names


def _skip_balanced(parser: Parser) -> None:
    """A key or constraint definition the simulator does not keep."""
    depth = 0
    while parser.tok.kind != "end":
        if parser.tok.kind == "op" and parser.tok.text == "(":
            depth += 1
        elif parser.tok.kind == "op" and parser.tok.text == ")":
            if depth == 0:
                return
            depth -= 1
        elif parser.tok.kind == "op" and parser.tok.text == "," and depth == 0:
            return
        parser.take()


def _account_name(parser: Parser) -> tuple[str, str]:
    user = parser.string_or_name()
    host = "%"
    if parser.tok.kind == "var":  # 'user'@'host' lexes as a string and an @-variable
        host = parser.take().text.lstrip("@").strip("'\"`")
    elif parser.accept_op("@"):
        host = parser.string_or_name()
    return user, host


def _column_definition(parser: Parser) -> Column:
    name = parser.name()
    type_token = parser.take()
    type_name = type_token.text.upper()
    if type_token.kind != "word" or type_name not in _TYPES:
        parser.pos -= 1
        raise parser.error()
    length = None
    if parser.accept_op("("):
        first = parser.take()
        length = int(first.value) if first.kind == "number" else None
        while not parser.accept_op(")"):
            if parser.tok.kind == "end":
                raise parser.error()
            parser.take()
    column = Column(name, type_name, length)
    while True:
        if parser.accept("UNSIGNED"):
            column.unsigned = True
        elif parser.accept("SIGNED", "ZEROFILL", "BINARY"):
            pass
        elif parser.accept("NOT"):
            parser.expect("NULL")
            column.nullable = False
        elif parser.accept("NULL"):
            column.nullable = True
        elif parser.accept("DEFAULT"):
            value = parser.take()
            column.default = None if value.is_word("NULL") else value.value if value.kind in (
                "number", "string") else value.text
        elif parser.accept("AUTO_INCREMENT"):
            column.auto_increment = True
        elif parser.accept("PRIMARY"):
            parser.expect("KEY")
            column.primary = True
        elif parser.accept("UNIQUE"):
            parser.accept("KEY")
            column.unique = True
        elif parser.accept("KEY"):
            column.primary = True
        elif parser.accept("COMMENT"):
            parser.take()
        elif parser.accept("CHARACTER", "CHARSET"):
            parser.accept("SET")
            parser.take()
        elif parser.accept("COLLATE"):
            parser.take()
        elif parser.accept("ON"):
            parser.expect("UPDATE")
            parser.take()
        else:
            return column


def _type_text(column: Column) -> str:
    name = column.type.lower()
    if name in ("integer",):
        name = "int"
    length = column.length
    if length is None and column.type in _INT_RANGES:
        length = _TYPES[column.type][1] - (1 if column.unsigned else 0)
    text = f"{name}({length})" if length is not None and column.type not in ("TEXT",) else name
    return text + (" unsigned" if column.unsigned else "")


def _column_meta(column: Column, table: str, db: str) -> ColumnMeta:
    type_code, default_length, integer = _TYPES[column.type]
    flags = 0
    if not column.nullable:
        flags |= NOT_NULL
    if column.primary:
        flags |= PRI_KEY
    if column.unique:
        flags |= UNIQUE_KEY
    if column.unsigned:
        flags |= UNSIGNED
    if column.auto_increment:
        flags |= AUTO_INCREMENT
    if integer or type_code in (NEWDECIMAL, FLOAT, DOUBLE):
        flags |= NUM
    charset = BINARY_CHARSET if integer or type_code in (NEWDECIMAL, FLOAT, DOUBLE) else UTF8MB4
    if type_code == BLOB:
        flags |= BLOB_FLAG
    if charset == BINARY_CHARSET:
        flags |= BINARY
    length = default_length
    if column.length is not None:
        length = column.length * (4 if charset == UTF8MB4 else 1)
    elif charset == UTF8MB4:
        length = default_length * 4
    return ColumnMeta(column.name, type_code, length, flags, charset, table=table,
                      org_table=table, schema=db, org_name=column.name)


def _coerce(column: Column, value: Any, db: str, table: str, row: int) -> Any:
    """A value as the column stores it, refused as strict mode refuses it."""
    if value is None:
        if not column.nullable and not column.auto_increment:
            raise SqlError(1048, "23000", f"Column '{column.name}' cannot be null")
        return None
    if column.type in _INT_RANGES:
        if isinstance(value, str):
            text = value.strip()
            if not re.fullmatch(r"[-+]?[0-9]+(\.[0-9]*)?", text):
                raise SqlError(1366, "22007", f"Incorrect integer value: '{value}' for column "
                               f"`{db}`.`{table}`.`{column.name}` at row {row}")
            value = float(text)
        number = int(round(value)) if isinstance(value, float) else int(value)
        bits = _INT_RANGES[column.type]
        low, high = (0, 2 ** (bits + 1) - 1) if column.unsigned else (-(2 ** bits), 2 ** bits - 1)
        if not low <= number <= high:
            raise SqlError(1264, "22003", f"Out of range value for column '{column.name}' at row {row}")
        return number
    if column.type in ("FLOAT", "DOUBLE", "DECIMAL", "NUMERIC"):
        return _number(value)
    text = str(value)
    if column.type in ("VARCHAR", "CHAR") and column.length is not None and len(text) > column.length:
        raise SqlError(1406, "22001", f"Data too long for column '{column.name}' at row {row}")
    return text


def _has_aggregate(expr: Expr) -> bool:
    if expr.kind == "count_star":
        return True
    if expr.kind == "func" and expr.value in ("COUNT", "MIN", "MAX", "SUM", "AVG"):
        return True
    return any(_has_aggregate(a) for a in expr.args)


def _sort_key(value: Any) -> tuple[int, Any]:
    """NULL first, then numbers, then strings (case-insensitively)."""
    if value is None:
        return (0, 0)
    if isinstance(value, (int, float)):
        return (1, value)
    return (2, str(value).lower())


def run_all(session: Session, statements: Sequence[str]) -> list[Result]:
    """For the server's own use (the entrypoint's set-up): each statement in turn."""
    return [session.run(s) for s in statements]
