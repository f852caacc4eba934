"""The production-shaped tier: Airflow as separate processes (API server, scheduler, dag-processor, triggerer, and
Celery workers) on a throwaway PostgreSQL metadata database, driven only through the REST API v2.

One cluster per executor, module-scoped: the LocalExecutor (what ``make airflow`` runs) and the CeleryExecutor
with the Redis on 127.0.0.1:6379 (what docker-compose.yaml runs). Both use the local S3 and Personalize endpoint
(``LocalServices``) and a seeded SQLite Pulla database. Without PostgreSQL or Redis these tests skip with the
reason, unless ``PULLA_REQUIRE_DB_SERVERS=1``.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from pulla_dev.demo_shop.living_shop import yesterday_in
from tests.conftest import _create_server_database, servers_required

DAYS = 30
#: The source is a living demo shop, as `make airflow`'s: its days end yesterday in Seoul, so the scheduled daily
#: run that unpausing starts (for yesterday) finds its data. END_DATE is the first day without data.
END_DATE = date.fromordinal(yesterday_in("Asia/Seoul").toordinal() + 1)
REDIS_URL = os.environ.get("PULLA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _missing(message: str) -> None:
    if servers_required():
        pytest.fail(f"{message} (PULLA_REQUIRE_DB_SERVERS=1)")
    pytest.skip(message)


def _redis_reachable(url: str) -> bool:
    from urllib.parse import urlparse

    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="session")
def seeded_source(tmp_path_factory: pytest.TempPathFactory) -> str:
    from pulla_dev.demo_shop.living_shop import seed_living_shop

    url = f"sqlite:///{tmp_path_factory.mktemp('e2e-source') / 'pulla.db'}"
    seed_living_shop(url, through=date.fromordinal(END_DATE.toordinal() - 1), seed=7, days=DAYS)
    return url


@contextmanager
def metadata_database() -> Iterator[str]:
    """A PostgreSQL database of its own for Airflow's metadata, dropped afterwards."""
    url, drop = _create_server_database("postgresql")
    try:
        yield url
    finally:
        drop()


@dataclass
class E2E:
    """A running cluster with the local stand-ins it talks to."""

    cluster: Any
    services: Any
    config: Any
    source_url: str
    #: dag id -> the id of its successful run (filled by the first test, read by the ones after it).
    runs: dict[str, str] = field(default_factory=dict)

    @property
    def api(self) -> Any:
        return self.cluster.api

    def run(self, dag_id: str, conf: dict[str, Any] | None = None, timeout: float = 600) -> tuple[str, str]:
        """Unpauses, triggers and waits; returns (run id, final state)."""
        self.api.unpause(dag_id)
        run_id = self.api.trigger(dag_id, conf)
        return run_id, self.api.wait_for_run(dag_id, run_id, timeout=timeout, cluster=self.cluster)

    def import_jobs(self) -> list[str]:
        personalize = self.services.client("personalize")
        groups = personalize.list_dataset_groups()["datasetGroups"]
        return sorted(
            job["datasetImportJobArn"]
            for group in groups
            for dataset in personalize.list_datasets(datasetGroupArn=group["datasetGroupArn"])["datasets"]
            for job in personalize.list_dataset_import_jobs(datasetArn=dataset["datasetArn"])["datasetImportJobs"]
        )


@pytest.fixture(scope="module", params=["LocalExecutor", "CeleryExecutor"])
def e2e(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, seeded_source: str) -> Iterator[E2E]:
    """A started cluster per executor: its tests run against it, then it stops and its database goes."""
    work_dir = tmp_path_factory.mktemp(f"e2e-{request.param}")
    with metadata_database() as database_url:
        for e2e in start_e2e(request.param, work_dir, database_url, seeded_source):
            started = time.monotonic()
            yield e2e
            record_run_times(e2e, request.param, time.monotonic() - started)


#: Where the e2e tier leaves what a person may want to look at afterwards (run times, screenshots).
ARTEFACTS_DIR = Path(os.environ.get("PULLA_TEST_ARTEFACTS", Path(__file__).resolve().parents[2] / ".test-artefacts"))


def record_run_times(e2e: E2E, executor: str, tier_seconds: float) -> None:
    """Writes every DAG run's wall time (queued → end, as the REST API reports them) to
    ``.test-artefacts/e2e/<executor>.json``: the README's figures come from these files."""
    from datetime import datetime

    runs = []
    for dag_id in (
        "pulla_personalize_setup",
        "pulla_personalize_daily",
        "pulla_personalize_retrain",
        "pulla_personalize_batch",
    ):
        for run in e2e.api.get(f"/api/v2/dags/{dag_id}/dagRuns", limit=100)["dag_runs"]:
            if not (run.get("queued_at") and run.get("end_date")):
                continue
            seconds = datetime.fromisoformat(run["end_date"]) - datetime.fromisoformat(run["queued_at"])
            running = datetime.fromisoformat(run["end_date"]) - datetime.fromisoformat(run["start_date"])
            runs.append(
                {
                    "dag_id": dag_id,
                    "run_type": run["run_type"],
                    "state": run["state"],
                    "conf": run.get("conf") or {},
                    "queued_to_end_seconds": round(seconds.total_seconds(), 1),
                    "start_to_end_seconds": round(running.total_seconds(), 1),
                }
            )
    folder = ARTEFACTS_DIR / "e2e"
    folder.mkdir(parents=True, exist_ok=True)
    report = {"executor": executor, "tests_seconds": round(tier_seconds, 1), "runs": runs}
    (folder / f"{executor}.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


#: The endpoint's fault switch for each cluster (personalize_local.faults): its first CreateDatasetImportJob call is
#: refused with LimitExceededException on every retry botocore sends, so an import operator backs off on a timer the
#: triggerer fires; its first two DescribeDatasetImportJob requests are throttled, which botocore retries itself.
ENDPOINT_FAULTS = "limit:CreateDatasetImportJob:1,throttle:DescribeDatasetImportJob:2"


def start_e2e(executor: str, work_dir: Path, database_url: str, source_url: str) -> Iterator[E2E]:
    from pulla_dev.airflow_cluster import AirflowCluster
    from pulla_dev.local_services import LocalServices
    from pulla_personalize.pipeline_config import load_pipeline_config

    broker = None
    if executor == "CeleryExecutor":
        if not _redis_reachable(REDIS_URL):
            _missing(f"redis server not reachable at {REDIS_URL}")
        broker = REDIS_URL
    config = load_pipeline_config()
    with LocalServices(work_dir / "services", bucket=config.s3.bucket, endpoint_faults=ENDPOINT_FAULTS) as services:
        extra = {
            **services.airflow_environment(source_url),
            # One retry, so a test can see that a validation failure does not use it.
            "PULLA_TASK_RETRIES": "1",
            # The operators' first back-off after LimitExceededException (300 s on AWS, where a job slot frees in
            # minutes); the local endpoint refuses only once.
            "PULLA_LIMIT_RETRY_DELAY_SECONDS": "2",
        }
        cluster = AirflowCluster(
            home=work_dir / "airflow", database_url=database_url, executor=executor, broker_url=broker, extra_env=extra
        )
        with cluster:
            yield E2E(cluster, services, config, source_url)
