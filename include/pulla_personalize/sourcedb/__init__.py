"""The Pulla source database: table definitions, a deterministic demo-data seeder and the extraction queries.

- :mod:`.tables`: the six tables as SQLAlchemy Core metadata (one DDL for SQLite, PostgreSQL and MariaDB).
- :mod:`.generator`: synthetic but realistic rows, deterministic for a seed.
- :mod:`.load`: bulk loading per engine (COPY on PostgreSQL).
- :mod:`.seed`: ``seed_demo_database`` and the ``seed-demo-db`` command.
- :mod:`.queries`: ``load_query`` for the SQL files in ``include/sql/``.
"""
