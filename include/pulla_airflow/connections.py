"""The Airflow connections the Pulla DAGs use, and the SQLAlchemy URL the export takes from the database's.

An ``extra.sqlalchemy_url`` wins (any driver SQLAlchemy knows); otherwise the connection type picks the driver
this project pins: psycopg 3 for PostgreSQL, PyMySQL for MySQL/MariaDB, the standard library for SQLite.
"""

from __future__ import annotations

from typing import Any

#: Airflow connection ids: the Pulla database and the AWS connection whose extras pick AWS or local endpoints.
SOURCE_DB_CONN_ID = "pulla_db"
AWS_CONN_ID = "aws_default"

DRIVERS = {
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
}


def sqlalchemy_url(connection: Any) -> str:
    """The SQLAlchemy URL of an Airflow connection (``conn_type`` postgres, mysql or sqlite)."""
    import sqlalchemy as sa

    extra = connection.extra_dejson or {}
    if extra.get("sqlalchemy_url"):
        return str(extra["sqlalchemy_url"])
    conn_type = (connection.conn_type or "").lower()
    if conn_type == "sqlite":
        # Airflow parses sqlite:////abs/path.db with the path in ``schema`` (or ``host`` for older URIs).
        path = connection.schema or connection.host
        if not path:
            raise ValueError(f"connection {connection.conn_id!r}: a sqlite connection needs the database file path")
        return f"sqlite:///{path}"
    if conn_type not in DRIVERS:
        raise ValueError(
            f"connection {connection.conn_id!r}: type {conn_type!r} is not supported; use postgres, mysql or "
            "sqlite, or set extra.sqlalchemy_url"
        )
    url = sa.URL.create(
        DRIVERS[conn_type],
        username=connection.login or None,
        password=connection.password or None,
        host=connection.host or None,
        port=connection.port or None,
        database=connection.schema or None,
    )
    return url.render_as_string(hide_password=False)
