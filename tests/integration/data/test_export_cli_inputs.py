"""What ``pulla-personalize export`` says about input that cannot give an export: a missing SQLite file, a database
without the Pulla tables, a window without data, swapped dates; and that such a run leaves no folder behind."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from pulla_dev.demo_shop.seed import seed_demo_database
from pulla_personalize.cli import main


def export(db: str, out: Path, start: str = "2026-10-02", end: str = "2026-11-01") -> int:
    return main(["export", "--db", db, "--start", start, "--end", end, "--out", str(out)])


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    assert "sqlalche.me" not in err
    return err.strip()


def test_a_missing_sqlite_file_is_refused_not_created(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "pulla.db"
    assert export(f"sqlite:///{missing}", tmp_path / "new" / "deeper" / "oct") == 2
    err = one_line_error(capsys)
    assert f"no SQLite database at {missing}" in err
    assert f"seed-demo-db --url sqlite:///{missing}" in err
    assert not missing.exists()
    assert list(tmp_path.iterdir()) == []  # neither --out nor the parents it would have needed


def test_a_failed_export_keeps_a_folder_the_user_had(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "oct"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n", encoding="utf-8")
    empty = tmp_path / "other.db"
    sa.create_engine(f"sqlite:///{empty}").connect().close()
    assert export(f"sqlite:///{empty}", out) == 2
    assert "no Pulla tables here" in one_line_error(capsys)
    assert [path.name for path in out.iterdir()] == ["notes.txt"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["oct", "other.db"]  # no staging folder left


@pytest.mark.parametrize("engine_name", ["postgresql", "mysql"])
def test_a_server_database_without_pulla_tables_names_them_and_hides_the_password(
    engine_name: str, make_database: Callable[[str], str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = sa.make_url(make_database(engine_name))
    with sa.create_engine(url).begin() as connection:  # some tables, and one of Pulla's
        connection.exec_driver_sql("CREATE TABLE members (member_id INTEGER)")
        connection.exec_driver_sql("CREATE TABLE unrelated (x INTEGER)")
    # Typed without a driver, as hosting providers print them; trust auth ignores the password.
    typed = url.set(drivername="postgres" if engine_name == "postgresql" else "mysql")
    if engine_name == "postgresql":
        typed = typed.set(password="s3cret")
    assert export(typed.render_as_string(hide_password=False), tmp_path / "out") == 2
    err = one_line_error(capsys)
    assert "no Pulla tables here:" in err
    assert "has no products, product_options, web_logs, orders, order_items;" in err
    assert "s3cret" not in err
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('seeded') / 'pulla.db'}"
    seed_demo_database(url, end_date=date(2026, 1, 1), scale=0.05, seed=3, days=3)
    return url


def test_a_window_without_data_says_so_and_where_the_data_is(
    seeded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert export(seeded, tmp_path / "oct") == 2
    err = one_line_error(capsys)
    assert "the window 2026-10-02 → 2026-11-01 (Asia/Seoul) holds no orders or web-log rows" in err
    assert "the data runs from 2025-12-29 " in err
    assert " to 2025-12-31 " in err
    assert "Nothing was validated or published" in err
    assert list(tmp_path.iterdir()) == []


def test_swapped_dates_are_reported_as_typed(seeded: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert export(seeded, tmp_path / "out", start="2025-12-31", end="2025-12-29") == 2
    err = one_line_error(capsys)
    assert "--start 2025-12-31 is not before --end 2025-12-29" in err
    assert "T15:00" not in err
    assert list(tmp_path.iterdir()) == []


def test_validate_takes_a_relative_data_docs_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "oct").mkdir()  # no CSVs: every file_present check fails, and the docs say so
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "oct", "--data-docs", "docs"]) == 1
    assert "interactions.csv is missing" in capsys.readouterr().out
    assert (tmp_path / "docs" / "index.html").is_file()
