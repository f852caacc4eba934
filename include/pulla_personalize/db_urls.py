"""Database URLs as people type them: the driver this project installs filled in, and shown without a password.

Heroku-style ``postgres://`` and a bare ``postgresql://`` or ``mysql://`` name a database but not a driver;
SQLAlchemy would pick psycopg2 or mysqlclient, which this project does not install (``postgres`` it does not
know at all). They are read as ``postgresql+psycopg://`` and ``mysql+pymysql://``, the drivers of
requirements.txt; a URL that names its driver is left as it is.
"""

from __future__ import annotations

import sqlalchemy as sa

#: scheme as typed → the scheme with this project's driver
DRIVERLESS_SCHEMES = {
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}


class BadDatabaseUrl(ValueError):
    """The text is not a database URL SQLAlchemy can parse; the message is one line for a person."""


def normalise_url(url: str | sa.URL) -> sa.URL:
    """The URL with this project's driver filled in when it names none (see the module docstring)."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise BadDatabaseUrl(
            f"{url!r} is not a database URL (examples: sqlite:///pulla.db, "
            "postgresql+psycopg://user@host/pulla, mysql+pymysql://user@host/pulla)"
        ) from None
    scheme = DRIVERLESS_SCHEMES.get(parsed.drivername)
    return parsed.set(drivername=scheme) if scheme else parsed


def shown(url: str | sa.URL) -> str:
    """The URL for messages and logs: the password masked as ``***``."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unparseable URL>"


def sqlite_file(url: sa.URL) -> str | None:
    """The file a SQLite URL opens, or None for another engine or an in-memory database."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or url.query.get("mode") == "memory":
        return None
    if database.startswith("file:"):  # a URI filename (?uri=true): the path runs up to its own query
        return database[len("file:") :].split("?", 1)[0] or None
    return database
