"""departed_members.sql on SQLite, PostgreSQL and MariaDB: the withdrawn members (before the window's end) and the
test accounts, the same rows on every engine, and only the columns its contract names."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest
import sqlalchemy as sa

from pulla_personalize import queries
from pulla_personalize.deletions import read_departed_members
from pulla_personalize.extract import SourceUnavailable

from .test_sourcedb import CONFIG, END_LOCAL, generated, seed_config

pytestmark = pytest.mark.db


def expected(end: datetime) -> dict[str, str]:
    members = generated(CONFIG)["members"]
    departed = {}
    for member in members:
        if member["deleted_at"] is not None and member["deleted_at"] < end:
            departed[str(member["member_id"])] = "withdrawn"
        elif member["is_test"] == 1:
            departed[str(member["member_id"])] = "test"
    return departed


def test_the_contract_names_the_columns_the_deletion_reads() -> None:
    assert [column for column, _, _ in queries.query_columns(queries.DEPARTED_MEMBERS_QUERY)] == ["member_id", "reason"]
    assert set(queries.load_query(queries.DEPARTED_MEMBERS_QUERY).compile().binds) == {"end"}


def test_departed_members_are_the_same_on_every_engine(make_database: Callable[[str], str]) -> None:
    urls = {engine: make_database(engine) for engine in ("sqlite", "postgresql", "mysql")}
    for url in urls.values():
        seed_config(url)
    withdrawals = sorted(
        m["deleted_at"] for m in generated(CONFIG)["members"] if m["deleted_at"] is not None and m["is_test"] == 0
    )
    assert len(withdrawals) >= 2, "the demo shop has members who withdrew"
    middle = withdrawals[len(withdrawals) // 2]
    for end in (END_LOCAL, middle):
        want = expected(end)
        assert "test" in want.values()
        for engine, url in urls.items():
            assert read_departed_members(url, end) == want, (engine, end)
    # A withdrawal at or after the end waits for its own day.
    assert (
        read_departed_members(urls["sqlite"], middle).keys() < read_departed_members(urls["sqlite"], END_LOCAL).keys()
    )


def test_a_database_without_the_members_table_names_the_query(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    sa.create_engine(url).connect().close()
    with pytest.raises(SourceUnavailable, match=r"^departed_members.sql failed on sqlite: no such table: members"):
        read_departed_members(url, END_LOCAL)
