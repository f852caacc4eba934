"""End to end through the command line: the same seeded data on SQLite, PostgreSQL and MariaDB gives
byte-identical CSVs, reruns give the same bytes, a thin window fails the gate and publishes nothing, and
``validate`` re-checks files on disk."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from pulla_dev.demo_shop.seed import seed_demo_database
from pulla_personalize.cli import main
from pulla_personalize.extract import QUERY_COLUMNS, Window, iter_query, make_engine
from pulla_personalize.queries import load_query

SEED = {"end_date": date(2026, 1, 1), "scale": 0.1, "days": 30, "seed": 7}
START, END = "2025-12-02", "2026-01-01"
DATASETS = ("interactions.csv", "users.csv", "items.csv")


def export(url: str, out: Path, *extra: str) -> int:
    return main(["export", "--db", url, "--start", START, "--end", END, "--out", str(out), *extra])


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A seeded SQLite database and its export, made once for the module."""
    folder = tmp_path_factory.mktemp("reference")
    url = f"sqlite:///{folder / 'pulla.db'}"
    seed_demo_database(url, **SEED)
    assert export(url, folder / "out") == 0
    return url, folder / "out"


def test_reference_export_is_complete_and_balanced(reference: tuple[str, Path]) -> None:
    _, out = reference
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["published"] is True
    for source, account in report["sources"].items():
        outcomes = account["exported"] + sum(account["excluded"].values()) + sum(account["quarantined"].values())
        assert account["source_rows"] == outcomes > 0, source
    interactions = report["datasets"]["interactions"]
    assert interactions["rows"] >= 1000
    assert interactions["users_with_2_or_more"] >= 25
    assert set(interactions["event_types"]) == {"purchase", "click", "cart", "wishlist"}
    # The seed's traps all show up under their rules.
    web = report["sources"]["web_logs"]["excluded"]
    assert {"bot_session", "never_logged_in", "not_an_interaction", "test_account", "withdrawn_member"} <= set(web)
    orders = report["sources"]["order_items"]["excluded"]
    assert {"cancelled_order", "refunded_order"} <= set(orders)
    assert (out / "data_docs" / "index.html").is_file()
    lines = (out / "interactions.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE,DEVICE"
    assert len(lines) == interactions["rows"] + 1


def test_every_engine_gives_the_same_bytes(reference: tuple[str, Path], database_url: str, tmp_path: Path) -> None:
    _, expected = reference
    seed_demo_database(database_url, **SEED)
    assert export(database_url, tmp_path / "out") == 0
    for name in DATASETS:
        assert (tmp_path / "out" / name).read_bytes() == (expected / name).read_bytes(), name
    for name in ("members.csv", "order_items.csv", "products.csv", "web_logs.csv"):
        assert (tmp_path / "out" / "rejects" / name).read_bytes() == (expected / "rejects" / name).read_bytes()
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    reference_report = json.loads((expected / "report.json").read_text(encoding="utf-8"))
    assert report["sources"] == reference_report["sources"]
    assert report["datasets"] == reference_report["datasets"]

    # Extraction streams in chunks of at most chunk_rows on every engine (COPY on PostgreSQL).
    engine = make_engine(database_url)
    window = Window.parse(START, END)
    chunks = list(iter_query(engine, load_query("web_logs"), window.params("web_logs"), 1000))
    with engine.connect() as connection:
        total = connection.execute(
            sa.text("SELECT COUNT(*) FROM web_logs WHERE occurred_at_ms >= :start AND occurred_at_ms < :end"),
            window.params("web_logs"),
        ).scalar_one()
    engine.dispose()
    assert [len(chunk) for chunk in chunks[:-1]] == [1000] * (len(chunks) - 1)
    assert sum(len(chunk) for chunk in chunks) == total
    assert tuple(chunks[0].columns) == QUERY_COLUMNS["web_logs"]


def test_a_rerun_writes_the_same_bytes(reference: tuple[str, Path], tmp_path: Path) -> None:
    url, expected = reference
    shutil.copytree(expected, tmp_path / "out")
    assert export(url, tmp_path / "out") == 0
    for name in (*DATASETS, "report.json"):
        assert (tmp_path / "out" / name).read_bytes() == (expected / name).read_bytes(), name
    leftovers = [path.name for path in tmp_path.iterdir() if path.name != "out"]
    assert leftovers == []  # the staging folder beside --out is gone


def test_a_window_with_too_few_users_fails_the_gate_and_publishes_no_csv(
    reference: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = reference
    out = tmp_path / "out"
    out.mkdir()
    (out / "interactions.csv").write_text("left by an earlier run\n", encoding="utf-8")
    code = main(["export", "--db", url, "--start", "2025-12-30", "--end", "2025-12-31", "--out", str(out)])
    stdout = capsys.readouterr().out
    assert code == 1
    assert "validation FAILED" in stdout
    assert "BLOCKING expect_enough_users_with_min_interactions on interactions_per_user.INTERACTIONS" in stdout
    assert "at least 25 users with at least 2 interactions each" in stdout
    assert "NOT published" in stdout
    assert sorted(path.name for path in out.iterdir()) == ["data_docs", "rejects", "report.json"]
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["published"] is False
    failed = [item for item in report["validation"]["expectations"] if item["blocking"] and not item["success"]]
    users_rule = next(item for item in failed if item["expectation"] == "expect_enough_users_with_min_interactions")
    assert users_rule["observed"] < 25


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--db", "postgresql+psycopg://postgres@127.0.0.1:1/nothing"], "cannot reach database"),
        (["--db", "nosuchdb://x"], "cannot use database URL"),
        (["--db", "sqlite:///x.db", "--end", "2025-01-01"], f"--start {START} is not before --end 2025-01-01"),
        (["--db", "sqlite:///x.db", "--start", "last tuesday"], "is not an ISO 8601"),
        (["--db", "sqlite:///x.db", "--source-time-zone", "Mars/Olympus"], "unknown time zone"),
    ],
)
def test_bad_usage_and_unreachable_databases_exit_2_with_one_line(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    defaults = {"--start": START, "--end": END, "--out": str(tmp_path / "out")}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        defaults[flag] = value
    argv = ["export", *[part for flag, value in defaults.items() for part in (flag, value)]]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert len(captured.err.strip().splitlines()) == 1
    assert "Traceback" not in captured.err


def test_a_database_without_the_tables_exits_2_naming_the_query(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.db"
    sa.create_engine(f"sqlite:///{empty}").connect().close()
    assert export(f"sqlite:///{empty}", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert f"no Pulla tables here: sqlite:///{empty} has none of members, products" in err
    assert "Traceback" not in err


def _tamper(source: Path, target: Path, change: Callable[[list[str]], list[str]], name: str) -> None:
    shutil.copytree(source, target)
    lines = (target / name).read_text(encoding="utf-8").split("\n")
    (target / name).write_text("\n".join(change(lines)), encoding="utf-8")


def test_validate_passes_an_export_and_catches_edits(
    reference: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out = reference
    assert main(["validate", str(out)]) == 0
    assert "validation PASSED" in capsys.readouterr().out

    _tamper(out, tmp_path / "header", lambda lines: ["USER_ID,ITEM_ID,TIMESTAMP", *lines[1:]], "interactions.csv")
    assert main(["validate", str(tmp_path / "header")]) == 1
    assert "header_matches_schema" in capsys.readouterr().out

    def pipe_in_first_user(lines: list[str]) -> list[str]:
        return [lines[0], "a|b" + lines[1][lines[1].index(",") :], *lines[2:]]

    _tamper(out, tmp_path / "pipe", pipe_in_first_user, "users.csv")
    assert main(["validate", str(tmp_path / "pipe")]) == 1
    assert "expect_column_values_to_not_match_regex on users.USER_ID" in capsys.readouterr().out

    _tamper(out, tmp_path / "short", lambda lines: lines[:500], "interactions.csv")
    assert main(["validate", str(tmp_path / "short")]) == 1
    assert "expected at least 1000 interactions in total" in capsys.readouterr().out

    assert main(["validate", str(tmp_path / "nothing-here")]) == 2
