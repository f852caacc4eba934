"""Loads the extraction queries in ``include/sql/`` and reads the column contract at the top of each file.

Each file begins with a comment block: the output columns (name, type, nullability) under ``Output columns``
and the bound parameters under ``Parameters``. The comment is the contract the transforms rely on and the
place a team with other tables adapts the SQL; :func:`query_columns` reads it so tests can hold the query to
it.

The bound parameters get the types the contract names, so a pandas ``Timestamp`` or a numpy integer binds like
a plain ``datetime`` or ``int`` on every driver, and a time-zone-aware datetime (a classic source of nine-hour
shifts against naive Asia/Seoul columns) is refused with a clear error.

Whole-line ``--`` comments are removed before the text is handed to SQLAlchemy: the contract mentions
``:start`` and ``:end``, and SQLAlchemy would otherwise take those for bind parameters inside the comment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path

import sqlalchemy as sa

from pulla_personalize import SQL_DIR

#: The extraction queries, one per source.
QUERY_NAMES: tuple[str, ...] = ("order_lines", "web_logs", "session_logins", "members", "products")
#: The members whose data must leave Personalize (withdrawn, test accounts): read by the daily deletion, not the export.
DEPARTED_MEMBERS_QUERY = "departed_members"

_COLUMN_LINE = re.compile(r"^--\s+([a-z_][a-z0-9_]*)\s+([A-Z]+(?:\(\d+\))?)\s+(not null|null)\b")
_PARAMETER_LINE = re.compile(r"^--\s+:([a-z_][a-z0-9_]*)\s+([A-Z]+)\b")


class SeoulTimestamp(sa.types.TypeDecorator):
    """A bound naive Asia/Seoul timestamp: accepts ``datetime``, pandas ``Timestamp`` or ``date``; refuses aware."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: object, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, date) and not isinstance(value, datetime):
            return datetime(value.year, value.month, value.day)
        if not isinstance(value, datetime):
            raise TypeError(f"a TIMESTAMP parameter needs a naive Asia/Seoul datetime, got {value!r}")
        if value.tzinfo is not None:
            raise ValueError(f"a TIMESTAMP parameter must be naive Asia/Seoul local time, got aware {value!r}")
        # A plain datetime: drivers know it, while some do not know subclasses such as pandas.Timestamp.
        return datetime(value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond)


class EpochMilliseconds(sa.types.TypeDecorator):
    """A bound UTC epoch-millisecond instant: any integral number (numpy integers too), never a float or bool."""

    impl = sa.BigInteger
    cache_ok = True

    def process_bind_param(self, value: object, dialect: sa.Dialect) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not hasattr(value, "__index__"):
            raise TypeError(f"a BIGINT epoch-ms parameter needs an integer, got {value!r}")
        return int(value)


_PARAMETER_TYPES: dict[str, type[sa.types.TypeDecorator]] = {
    "TIMESTAMP": SeoulTimestamp,
    "BIGINT": EpochMilliseconds,
}


def query_path(name: str) -> Path:
    known = (*QUERY_NAMES, DEPARTED_MEMBERS_QUERY)
    if name not in known:
        raise ValueError(f"unknown query {name!r}; known: {', '.join(known)}")
    return SQL_DIR / f"{name}.sql"


def query_text(name: str) -> str:
    """The SQL of a query without its whole-line comments."""
    path = query_path(name)
    lines = path.read_text(encoding="utf-8").splitlines()
    body = "\n".join(line for line in lines if not line.lstrip().startswith("--")).strip()
    if not body:
        raise ValueError(f"{path.name}: no SQL statement after the comment block")
    return body


def load_query(name: str) -> sa.TextClause:
    """The query as a SQLAlchemy text clause taking ``:start`` and ``:end``, typed as its contract says.

    Parameters the contract lists but the SQL does not use (``:start`` of members and products) may still be
    passed: SQLAlchemy ignores them.
    """
    clause = sa.text(query_text(name))
    used = set(clause.compile().params)
    typed = [
        sa.bindparam(parameter, type_=_PARAMETER_TYPES[sql_type]())
        for parameter, sql_type in query_parameters(name).items()
        if parameter in used
    ]
    return clause.bindparams(*typed)


_RESULT_TYPES: dict[str, type[sa.types.TypeEngine]] = {
    "BIGINT": sa.BigInteger,
    "INTEGER": sa.Integer,
    "SMALLINT": sa.SmallInteger,
    "VARCHAR": sa.String,
    "CHAR": sa.String,
    "TIMESTAMP": sa.DateTime,
    "DATE": sa.Date,
}


def load_typed_query(name: str) -> sa.TextualSelect:
    """:func:`load_query` with its result columns typed from the contract.

    SQLite has no date types: from raw SQL it returns TIMESTAMP and DATE columns as text. Typed, every engine
    returns ``datetime`` and ``date`` objects, so the same query gives the same Python values everywhere.
    """
    types = {}
    for column, sql_type, _nullable in query_columns(name):
        base = sql_type.split("(")[0]
        if base not in _RESULT_TYPES:
            known = ", ".join(_RESULT_TYPES)
            raise ValueError(f"{name}.sql: column {column} has type {sql_type}; the contract knows {known}")
        types[column] = _RESULT_TYPES[base]()
    return load_query(name).columns(**types)


def query_parameters(name: str) -> dict[str, str]:
    """``{parameter: SQL type}`` as the file's ``Parameters`` comment lists them."""
    path = query_path(name)
    parameters: dict[str, str] = {}
    in_parameters = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.startswith("--"):
            break
        if line.startswith("-- Parameters"):
            in_parameters = True
        elif in_parameters and line.strip() != "--":
            match = _PARAMETER_LINE.match(line)
            if not match or match[2] not in _PARAMETER_TYPES:
                raise ValueError(f"{path.name}:{number}: parameter line not understood: {line!r}")
            parameters[match[1]] = match[2]
    if not {"start", "end"} <= set(parameters):
        raise ValueError(f"{path.name}: the 'Parameters' comment must list :start and :end")
    return parameters


def query_columns(name: str) -> tuple[tuple[str, str, bool], ...]:
    """``(column, SQL type, nullable)`` for each output column, as the file's contract comment lists them."""
    path = query_path(name)
    columns: list[tuple[str, str, bool]] = []
    in_columns = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.startswith("--"):
            break
        if line.startswith("-- Output columns"):
            in_columns = True
        elif line.startswith("-- Parameters"):
            in_columns = False
        elif in_columns and line.strip() != "--":
            match = _COLUMN_LINE.match(line)
            if not match:
                raise ValueError(f"{path.name}:{number}: column contract line not understood: {line!r}")
            columns.append((match[1], match[2], match[3] == "null"))
    if not columns:
        raise ValueError(f"{path.name}: no 'Output columns' block in the leading comment")
    return tuple(columns)


# A table after FROM or JOIN (optionally schema-qualified); a sub-select's "(" does not match. And the names a
# WITH clause defines, which are not tables.
_TABLE_REFERENCE = re.compile(r"\b(?:FROM|JOIN)\s+([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)?)", re.IGNORECASE)
_CTE_NAME = re.compile(r"(?:\bWITH(?:\s+RECURSIVE)?|,)\s*([A-Za-z_]\w*)\s+AS\s*\(", re.IGNORECASE)


def source_tables(names: Iterable[str]) -> list[tuple[str | None, str]]:
    """The (schema or None, table) pairs the named queries read, in first-seen order: what a database needs
    before an export can run (``extract.check_source_tables``)."""
    found: dict[tuple[str | None, str], None] = {}
    for name in names:
        text = query_text(name)
        defined = {match.lower() for match in _CTE_NAME.findall(text)}
        for reference in _TABLE_REFERENCE.findall(text):
            schema, _, table = reference.rpartition(".")
            if reference.lower() not in defined:
                found[(schema or None, table)] = None
    return list(found)
