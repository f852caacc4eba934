"""Helpers of the fault tests: a seeded source, the export CLI run as users run it (a process of its own), and
what "nothing published" and "the same export" mean for an --out folder.

An export looks complete when report.json is in --out: a run moves it in last, after the CSVs, and only when it
got to the end (``export._publish``); it is published when that report says ``"published": true`` and the three
dataset CSVs are beside it. A run that fails must leave neither behind.

The S3 and Personalize faults use servers they can kill and start again: moto's S3 server and the local
Personalize endpoint, each a child process of its own on a fixed loopback port, so a restart comes back where the
clients look for it.

Moto keeps its state in memory: after a restart its buckets are gone, and the tests create the bucket again. The
endpoint keeps its state in its data directory, which a restart reuses.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from pulla_dev.local_services import LOCAL_CREDENTIALS, free_port, wait_for_port
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


REGION = "us-east-1"
CREDENTIALS = {
    "region_name": REGION,
    "aws_access_key_id": LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
    "aws_secret_access_key": LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
}
ROLE_ARN = "arn:aws:iam::123456789012:role/PersonalizeS3Access"
SETTLED = ("ACTIVE", "CREATE FAILED")


@dataclass
class ServerProcess:
    """One server as a child process; ``kill()`` is SIGKILL (no cleanup, as a crash), ``start()`` again reuses
    the port."""

    name: str
    command: list[str]
    port: int
    log_path: Path
    environment: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, **environment: str) -> ServerProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **LOCAL_CREDENTIALS, **self.environment, **environment},
            )
        wait_for_port(self.port, self.process, self.name, self.log_path)
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def moto_process(tmp_path: Path) -> Iterator[ServerProcess]:
    port = free_port()
    server = ServerProcess(
        "moto S3", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], port, tmp_path / "s3.log"
    )
    yield server.start()
    server.kill()


def s3_client(url: str, **config: Any) -> Any:
    import boto3
    from botocore.config import Config

    # Few retries: a killed server must fail the call in well under a second, not after botocore's back-off.
    retries = {"total_max_attempts": 2, "mode": "standard"}
    settings = Config(retries=retries, connect_timeout=2, read_timeout=10, **config)
    return boto3.client("s3", endpoint_url=url, config=settings, **CREDENTIALS)


@pytest.fixture(scope="module")
def s3_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """Moto's S3 inside the test process with the test module's ``BUCKET`` created: where the endpoint reads its
    import files. It is never killed (test_s3_faults kills a moto process of its own)."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=url, **CREDENTIALS).create_bucket(Bucket=request.module.BUCKET)
    yield url
    server.stop()


def endpoint_process(data_dir: Path, s3_url: str, log_path: Path, status_delay: float = 0.05) -> ServerProcess:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "pulla_personalize.cli",
        "local-endpoint",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--s3-endpoint",
        s3_url,
        "--status-delay",
        str(status_delay),
        "--train-threads",
        "1",
    ]
    return ServerProcess("local Personalize endpoint", command, port, log_path)


def personalize_client(url: str) -> Any:
    import boto3
    from botocore.config import Config

    # No retries: the tests see each answer exactly as the endpoint gave it.
    config = Config(retries={"total_max_attempts": 1})
    return boto3.client("personalize", endpoint_url=url, config=config, **CREDENTIALS)


def wait_settled(describe: Any, *, timeout: float = 45.0) -> dict[str, Any]:
    """Poll until the resource is ACTIVE or CREATE FAILED; fail naming the status it was stuck in."""
    deadline = time.monotonic() + timeout
    while True:
        resource = describe()
        if resource["status"] in SETTLED:
            return resource
        if time.monotonic() > deadline:
            raise AssertionError(f"still {resource['status']} after {timeout} s: {resource}")
        time.sleep(0.05)


def wait_status(describe: Any, status: str, *, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        resource = describe()
        if resource["status"] == status:
            return resource
        if resource["status"] in SETTLED or time.monotonic() > deadline:
            raise AssertionError(f"expected {status}, got {resource['status']}: {resource}")
        time.sleep(0.02)


class TaskInstance:
    """The part of a task instance an operator touches when executed outside Airflow: the console link's XCom."""

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value
