"""A MySQL session shown as the mysql client shows it (the chapters' own layout, no timings)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubelesson import lesson, mysql
from kubelesson.errors import LessonFileError


def test_a_result_set_with_the_clients_borders() -> None:
    answer = mysql.Answer(columns=(("a", True, True),), rows=((1,), (2,), (3,)))
    assert mysql.render("SELECT * FROM test;", answer) == [
        "mysql> SELECT * FROM test;", "+------+", "| a    |", "+------+",
        "|    1 |", "|    2 |", "|    3 |", "+------+", "3 rows in set",
    ]


def test_strings_left_numbers_right_and_null() -> None:
    answer = mysql.Answer(columns=(("id", True, False), ("name", False, True)), rows=((10, "ab"), (2, None)))
    assert mysql.table(answer.columns, answer.rows) == [
        "+----+------+", "| id | name |", "+----+------+", "| 10 | ab   |", "|  2 | NULL |", "+----+------+",
    ]


@pytest.mark.parametrize(
    ("answer", "shown"),
    [
        (mysql.Answer(affected=1), ["Query OK, 1 row affected"]),
        (mysql.Answer(affected=0), ["Query OK, 0 rows affected"]),
        (mysql.Answer(affected=3, info="Records: 3  Duplicates: 0  Warnings: 0"),
         ["Query OK, 3 rows affected", "Records: 3  Duplicates: 0  Warnings: 0"]),
        (mysql.Answer(changed_database=True), ["Database changed"]),
        (mysql.Answer(columns=(("a", True, True),)), ["Empty set"]),
        (mysql.Answer(error=(1007, "Can't create database 'hands_on'; database exists")),
         ["ERROR 1007 (HY000): Can't create database 'hands_on'; database exists"]),
    ],
)
def test_answers(answer: mysql.Answer, shown: list[str]) -> None:
    assert mysql.render("X;", answer)[1:] == shown


MYSQL_STEP = """\
lesson: 9
title: {en: Db}
steps:
  - run: kubectl port-forward pod/mariadb 3306:3306
    wait: {for: 'log=ready for connections', object: pod/mariadb}
    background: true
    probe: {mysql: 'localhost:3306', user: root, password: password, send: ['SELECT 1;']}
"""


def test_a_mysql_probe_is_shown_without_its_password() -> None:
    step = lesson.parse_lesson(MYSQL_STEP, Path("9.yaml")).steps[0]
    assert step.probe and step.probe.mysql and not step.probe.is_redis
    assert step.probe.shell_command() == "mysql -h localhost -P 3306 -u root -p"
    assert step.wait and step.wait.condition == "log=ready for connections"


def test_a_mysql_probe_needs_its_user() -> None:
    with pytest.raises(LessonFileError) as info:
        lesson.parse_lesson(MYSQL_STEP.replace("user: root, ", ""), Path("9.yaml"))
    assert "needs user" in info.value.params["what"]
