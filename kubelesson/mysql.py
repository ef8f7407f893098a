"""A lesson's MySQL session (MariaDB through a port-forward), shown the way the ``mysql``
client shows it on a terminal, without the timings: ``mysql> statement`` and its answer."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# SQLSTATEs of the errors a learner meets in the chapters (the client library keeps only the
# number; the mysql client prints both).
SQLSTATE = {1007: "HY000", 1008: "HY000", 1045: "28000", 1049: "42000", 1050: "42S01", 1051: "42S02",
            1062: "23000", 1064: "42000", 1146: "42S02"}
NUMERIC = {0, 1, 2, 3, 4, 5, 8, 9, 13, 246}  # DECIMAL TINY SHORT LONG FLOAT DOUBLE LONGLONG INT24 YEAR NEWDECIMAL


@dataclass(frozen=True)
class Answer:
    """What the server answered to one statement, as the client library hands it over."""

    affected: int = 0
    info: str = ""  # "Records: 3  Duplicates: 0  Warnings: 0"
    columns: tuple[tuple[str, bool, bool], ...] = ()  # (name, numeric, nullable) of a result set
    rows: tuple[tuple[Any, ...], ...] = ()
    error: tuple[int, str] | None = None
    changed_database: bool = False


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def table(columns: Sequence[tuple[str, bool, bool]], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A result set with the client's borders; a nullable column is at least 4 wide (NULL)."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = []
    for k, (name, _, nullable) in enumerate(columns):
        widths.append(max([len(name), 4 if nullable else 0, *(len(row[k]) for row in cells)]))
    border = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    head = "|" + "|".join(f" {name:<{w}} " for (name, _, _), w in zip(columns, widths, strict=True)) + "|"
    body = [
        "|" + "|".join(f" {c:>{w}} " if numeric else f" {c:<{w}} "
                       for c, w, (_, numeric, _) in zip(row, widths, columns, strict=True)) + "|"
        for row in cells
    ]
    return [border, head, border, *body, border]


def render(statement: str, answer: Answer) -> list[str]:
    lines = [f"mysql> {statement}"]
    if answer.error:
        code, message = answer.error
        lines.append(f"ERROR {code} ({SQLSTATE.get(code, 'HY000')}): {message}")
    elif answer.changed_database:
        lines.append("Database changed")
    elif answer.columns:
        if answer.rows:
            lines += table(answer.columns, answer.rows)
            count = len(answer.rows)
            lines.append(f"{count} row{'s' if count != 1 else ''} in set")
        else:
            lines.append("Empty set")
    else:
        lines.append(f"Query OK, {answer.affected} row{'s' if answer.affected != 1 else ''} affected")
        if answer.info:
            lines.append(answer.info)
    return lines


def _answer(cursor: Any, statement: str) -> Answer:
    import pymysql  # imported here: only lessons with a MySQL session need it

    try:
        affected = cursor.execute(statement)
    except pymysql.err.MySQLError as exc:
        code, message = (exc.args + (0, ""))[:2]
        return Answer(error=(int(code), str(message)))
    if statement.strip().rstrip(";").split()[0].upper() == "USE":
        return Answer(changed_database=True)
    if cursor.description:
        columns = tuple((d[0], d[1] in NUMERIC, bool(d[6])) for d in cursor.description)
        return Answer(columns=columns, rows=tuple(cursor.fetchall()))
    info = getattr(getattr(cursor, "_result", None), "message", b"") or b""
    return Answer(affected=affected, info=info.decode() if isinstance(info, bytes) else str(info))


def session(host: str, port: int, user: str, password: str, statements: Sequence[str], *,
            timeout: float, prepare: Sequence[str] = ()) -> list[str]:
    """Connect (retrying while the server starts: a new MariaDB initialises its data first),
    run ``prepare`` silently, then the statements; the session's lines as the client shows them."""
    import pymysql

    deadline = time.monotonic() + timeout
    while True:
        try:
            connection = pymysql.connect(host=host, port=port, user=user, password=password,
                                         connect_timeout=5, autocommit=True)
            break
        except pymysql.err.OperationalError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(1.0)
    with connection, connection.cursor() as cursor:
        for statement in prepare:
            cursor.execute(statement)
        lines: list[str] = []
        for statement in statements:
            lines += render(statement, _answer(cursor, statement))
        return lines
