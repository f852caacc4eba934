"""The demo shop: the Pulla source tables, a deterministic demo-data seeder and the living shop of `make airflow`.

- :mod:`.tables`: the six tables as SQLAlchemy Core metadata (one DDL for SQLite, PostgreSQL and MariaDB).
- :mod:`.generator`: synthetic but realistic rows, deterministic for a seed.
- :mod:`.load`: bulk loading per engine (COPY on PostgreSQL).
- :mod:`.seed`: ``seed_demo_database`` and the ``seed-demo-db`` command.
"""
