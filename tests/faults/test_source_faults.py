"""The source database fails under a running export: a connection killed while web_logs streams (PostgreSQL's
COPY, MariaDB's server-side cursor), and a server that is not there at all. The export exits 2 with one line
naming the source and the query file, publishes nothing, leaves no child process or COPY behind, and a rerun
into the same folder gives the bytes of a clean export."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
import sqlalchemy as sa

from tests.faults.conftest import (
    add_anonymous_page_views,
    assert_no_staging_left,
    assert_nothing_published,
    assert_same_export,
    run_export,
    seed,
    start_export,
)

#: web_logs rows after seeding: enough that the stream is still going when the kill lands (the reader stays at
#: most a few chunks ahead of the export, so the server waits on us for the rest).
COPIES = 5
CHUNK_ROWS = "1000"

# The web_logs query's statement on the server: only web_logs.sql reads user_agent.
_FIND = {
    "postgresql": "SELECT pid FROM pg_stat_activity WHERE datname = :db AND state = 'active' "
    "AND query LIKE 'COPY%%user_agent%%' AND pid <> pg_backend_pid()",
    "mysql": "SELECT id FROM information_schema.processlist WHERE db = :db AND info LIKE '%%user_agent%%' "
    "AND info NOT LIKE '%%processlist%%'",
}
_KILL = {"postgresql": "SELECT pg_terminate_backend({id})", "mysql": "KILL {id}"}


def _find_backend(admin: sa.Engine, database: str, export: subprocess.Popen[str], deadline: float) -> int:
    while time.monotonic() < deadline:
        if export.poll() is not None:
            _, err = export.communicate()
            pytest.fail(f"the export ended (exit {export.returncode}) before its web_logs query was seen:\n{err}")
        with admin.connect() as connection:
            found = connection.execute(sa.text(_FIND[admin.dialect.name]), {"db": database}).scalars().all()
        if found:
            return int(found[0])
        time.sleep(0.02)
    pytest.fail("the web_logs query never showed on the server")


@pytest.mark.db
@pytest.mark.faults
@pytest.mark.parametrize("engine_name", ["postgresql", "mysql"])
def test_a_connection_killed_mid_extract_publishes_nothing_and_a_rerun_is_clean(
    engine_name: str, make_database: Callable[[str], str], tmp_path: Path
) -> None:
    url = make_database(engine_name)
    seed(url)
    rows = add_anonymous_page_views(url, COPIES)
    assert rows > 50_000
    database = sa.make_url(url).database
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    out = tmp_path / "out"
    try:
        export = start_export(url, out, "--chunk-rows", CHUNK_ROWS)
        cli = psutil.Process(export.pid)
        backend = _find_backend(admin, database, export, time.monotonic() + 60)
        children = cli.children(recursive=True)  # the COPY readers and the GX process, while they run
        assert children, "the export runs no child process?"
        with admin.connect() as connection:
            connection.execute(sa.text(_KILL[engine_name].format(id=backend)))
        stdout, stderr = export.communicate(timeout=60)

        assert export.returncode == 2, stdout + stderr
        assert f"web_logs.sql failed on {engine_name}: " in stderr
        assert len(stderr.strip().splitlines()) == 1, stderr
        assert "Traceback" not in stderr
        assert_nothing_published(out)
        assert not out.exists()  # the run made the folder and took it away again
        assert_no_staging_left(tmp_path)
        alive = [child for child in children if child.is_running() and child.status() != psutil.STATUS_ZOMBIE]
        assert alive == [], [child.cmdline() for child in alive]
        if engine_name == "postgresql":  # no backend of ours still running a COPY for the dead export
            deadline = time.monotonic() + 10
            while True:
                with admin.connect() as connection:
                    copies = connection.execute(
                        sa.text(
                            "SELECT pid, query FROM pg_stat_activity WHERE datname = :db AND state = 'active' "
                            "AND query LIKE 'COPY%%'"
                        ),
                        {"db": database},
                    ).all()
                if not copies or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert copies == []
    finally:
        admin.dispose()

    rerun = run_export(url, out, "--chunk-rows", CHUNK_ROWS)
    assert rerun.returncode == 0, rerun.stderr
    clean = run_export(url, tmp_path / "clean", "--chunk-rows", CHUNK_ROWS)
    assert clean.returncode == 0, clean.stderr
    assert_same_export(out, tmp_path / "clean")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens once the probe closes


@pytest.mark.faults
@pytest.mark.parametrize(
    "url", ["postgresql+psycopg://postgres@127.0.0.1:{port}/pulla", "mysql+pymysql://root@127.0.0.1:{port}/pulla"]
)
def test_a_server_unreachable_at_start_exits_2_naming_it_and_writes_nothing(url: str, tmp_path: Path) -> None:
    url = url.format(port=_closed_port())
    done = run_export(url, tmp_path / "out")
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"pulla-personalize export: error: cannot reach database {url}: ")
    assert list(tmp_path.iterdir()) == []  # no --out, no staging folder
