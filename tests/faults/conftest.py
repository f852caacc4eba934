"""Helpers of the fault tests: a seeded source, the export CLI run as users run it (a process of its own), and
what "nothing published" and "the same export" mean for an --out folder.

An export looks complete when report.json is in --out: a run moves it in last, after the CSVs, and only when it
got to the end (``export._publish``); it is published when that report says ``"published": true`` and the three
dataset CSVs are beside it. A run that fails must leave neither behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import REPO_ROOT

SEED = {"end_date": date(2026, 1, 1), "scale": 0.1, "days": 30, "seed": 7}
START, END = "2025-12-02", "2026-01-01"
DATASETS = ("interactions.csv", "users.csv", "items.csv")
REJECTS = ("members.csv", "order_items.csv", "products.csv", "web_logs.csv")


def export_command(url: str, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pulla_personalize.cli",
        "export",
        "--db",
        url,
        "--start",
        START,
        "--end",
        END,
        "--out",
        str(out),
        *extra,
    ]


def cli_env() -> dict[str, str]:
    paths = [str(REPO_ROOT / "include"), str(REPO_ROOT / "plugins"), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in paths if path)}


def start_export(url: str, out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        export_command(url, out, *extra),
        cwd=REPO_ROOT,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_export(url: str, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        export_command(url, out, *extra), cwd=REPO_ROOT, env=cli_env(), capture_output=True, text=True, timeout=120
    )


def seed(url: str) -> None:
    from pulla_dev.demo_shop.seed import seed_demo_database

    seed_demo_database(url, **SEED)


def add_anonymous_page_views(url: str, copies: int) -> int:
    """Adds ``copies`` copies of every web_logs row as a page view of a session that never logs in (one session
    per row), so the table is long enough to kill its stream half-way; the export excludes them by rule, so the
    published CSVs stay those of the seed. Returns the table's row count."""
    engine = sa.create_engine(url)
    text_type = "TEXT" if engine.dialect.name == "postgresql" else "CHAR"
    try:
        with engine.begin() as connection:
            top = connection.execute(sa.text("SELECT MAX(log_id) FROM web_logs")).scalar_one()
            for copy in range(1, copies + 1):
                offset = copy * 10 ** len(str(top))
                connection.execute(
                    sa.text(
                        "INSERT INTO web_logs (log_id, session_id, member_id, event_name, product_id, user_agent, "
                        f"occurred_at_ms) SELECT log_id + {offset}, LPAD(CAST(log_id + {offset} AS {text_type}), 36, "
                        f"'0'), NULL, 'page_view', NULL, user_agent, occurred_at_ms FROM web_logs WHERE log_id <= {top}"
                    )
                )
            return connection.execute(sa.text("SELECT COUNT(*) FROM web_logs")).scalar_one()
    finally:
        engine.dispose()


def assert_nothing_published(out: Path) -> None:
    """No dataset CSV and no report (a report is what makes a folder look like a finished export)."""
    present = sorted(path.name for path in out.iterdir()) if out.exists() else []
    assert not set(present) & {*DATASETS, "report.json"}, present


def assert_no_staging_left(parent: Path) -> None:
    leftovers = [path.name for path in parent.iterdir() if ".staging-" in path.name]
    assert leftovers == []


def assert_same_export(out: Path, expected: Path) -> None:
    """The published files are byte for byte those of ``expected`` (report.json has no times or paths)."""
    for name in (*DATASETS, "report.json"):
        assert (out / name).read_bytes() == (expected / name).read_bytes(), name
    for name in REJECTS:
        assert (out / "rejects" / name).read_bytes() == (expected / "rejects" / name).read_bytes(), name


@pytest.fixture(scope="package")
def sqlite_reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A seeded SQLite database and a clean export of it, made once for the fault tests."""
    folder = tmp_path_factory.mktemp("faults-reference")
    url = f"sqlite:///{folder / 'pulla.db'}"
    seed(url)
    done = run_export(url, folder / "out")
    assert done.returncode == 0, done.stderr
    return url, folder / "out"
