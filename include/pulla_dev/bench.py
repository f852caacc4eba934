"""Benchmark of the export against its floor: ``python -m pulla_dev.bench`` (what ``make bench`` runs).

For each size (default 1 million and 10 million web_logs rows) it seeds a fresh PostgreSQL database, runs
``pulla-personalize export`` over the whole seeded range in a child process, and in the same run measures the
floor: ``COPY (each extraction query) TO STDOUT`` for the same window, streamed into /dev/null (the fastest of
``--floor-runs`` runs, 3 by default). It prints the export's wall time, the ratio export/floor, the child's peak RSS
and the share of the export's wall time spent in Great Expectations (import, suites, Data Docs). GX runs in its own
process beside the export, so two shares are printed: "GX wait", the time the export waited for it (what GX adds to
the wall time), and "GX CPU", the GX process's own CPU time over the export's wall time (what it costs the
machine). Peak RSS is the largest of the export process and the processes it starts (GX, the COPY readers). A
second line gives the export's wall time by step. The database is vacuumed after seeding, so the floor's first
scan does not pay for setting hint bits. Targets from the issue: ratio ≤ 3, peak RSS ≤ 1.5 GB and about the same
at both sizes, validation ≤ 20 %. Not a test: it takes minutes at 10 million rows.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa

from pulla_dev.demo_shop.generator import WEB_LOGS_PER_SCALE_PER_30_DAYS
from pulla_dev.demo_shop.seed import seed_demo_database
from pulla_personalize.extract import QUERY_WINDOW_KIND, Window, make_engine, postgres_copy
from pulla_personalize.queries import load_query

DAYS = 30
END_DATE = date(2026, 1, 1)


def copy_floor(url: str, window: Window) -> tuple[float, int]:
    """Seconds and bytes to COPY every extraction query's rows for the window into /dev/null."""
    engine = make_engine(url)
    started = time.perf_counter()
    total = 0
    with engine.connect() as connection, open(os.devnull, "wb") as sink:
        driver_connection = connection.connection.driver_connection
        for name in QUERY_WINDOW_KIND:
            with postgres_copy(driver_connection, load_query(name), window.params(name)) as copy:
                for block in copy:
                    sink.write(block)
                    total += len(block)
            driver_connection.rollback()
    engine.dispose()
    return time.perf_counter() - started, total


def run_export(url: str, window_args: list[str], out: Path) -> tuple[float, int, dict[str, float], int]:
    """(wall seconds, peak RSS bytes, the export's own timings, exit code) of one export in a child process."""
    command = [sys.executable, "-m", "pulla_personalize.cli", "export", "--db", url, *window_args, "--out", str(out)]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    stdout = child.stdout.read() if child.stdout else ""
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    timings = {name: float(value) for name, value in re.findall(r"(\w+) ([\d.]+)s", _line(stdout, "timings"))}
    return wall, usage.ru_maxrss * 1024, timings, child.returncode


def _line(text: str, prefix: str) -> str:
    return next((line for line in text.splitlines() if line.startswith(prefix)), "")


def _database(admin_url: str, name: str, *, create: bool = True) -> str:
    """(Re)creates the benchmark database ``name`` (a fixed name made of digits: safe in DDL), or drops it."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if create:
            connection.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    return sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _vacuum(url: str) -> None:
    """VACUUM ANALYZE after seeding, as a production database is: otherwise the first scan (the floor's) pays for
    setting the fresh rows' hint bits and the export after it does not, which flatters the ratio."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pulla_dev.bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("PULLA_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
        help="PostgreSQL URL allowed to create databases",
    )
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000], help="web_logs rows")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark databases")
    parser.add_argument("--reuse", action="store_true", help="export databases kept by --keep without seeding")
    parser.add_argument("--floor-runs", type=int, default=3, help="COPY floor runs per size; the fastest counts")
    args = parser.parse_args(argv)

    start = (END_DATE - timedelta(days=DAYS)).isoformat()
    window_args = ["--start", start, "--end", END_DATE.isoformat()]
    window = Window.parse(start, END_DATE.isoformat())
    header = f"{'rows':>12} {'export s':>9} {'floor s':>8} {'ratio':>6} {'peak RSS':>9} {'GX wait':>8} {'GX CPU':>7}"
    print(f"{header}  exit")
    for rows in args.rows:
        name = f"pulla_bench_{rows}"
        if args.reuse:
            url = sa.make_url(args.admin_url).set(database=name).render_as_string(hide_password=False)
        else:
            url = _database(args.admin_url, name)
            seed_demo_database(url, end_date=END_DATE, scale=rows / WEB_LOGS_PER_SCALE_PER_30_DAYS, days=DAYS)
            _vacuum(url)
        # The floor is the fastest of a few runs: one slow run (a checkpoint, another process) would flatter the ratio.
        floor_seconds = min(copy_floor(url, window)[0] for _ in range(args.floor_runs))
        with tempfile.TemporaryDirectory(prefix="pulla-bench-") as folder:
            wall, rss, timings, code = run_export(url, window_args, Path(folder) / "out")
        total = timings.get("total") or float("nan")
        waited = (timings.get("validate", 0.0) + timings.get("data_docs", 0.0)) / total
        busy = timings.get("gx_busy", 0.0) / total
        print(
            f"{rows:>12,} {wall:>9.1f} {floor_seconds:>8.1f} {wall / floor_seconds:>6.1f}"
            f" {rss / 2**20:>7.0f}MB {waited:>7.0%} {busy:>6.0%}  {code}"
        )
        stages = ", ".join(
            f"{stage.removeprefix('stage_')} {seconds:.1f}s"
            for stage, seconds in timings.items()
            if stage.startswith("stage_")
        )
        print(f"{'':>12} wall time by step: {stages}")
        if not args.keep:
            _database(args.admin_url, name, create=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
