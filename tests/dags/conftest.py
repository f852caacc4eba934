"""Fixtures for the DAG tests: the DAG bag (no database needed), and a live local stack for ``airflow dags test``.

The end-to-end runs use the real pieces a person uses: moto's S3 server and the local Personalize endpoint as
processes (``LocalServices``), a seeded SQLite Pulla database, and ``airflow dags test`` in a throwaway
AIRFLOW_HOME, each run in its own process so its configuration cannot leak into other tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DAGS_DIR = REPO_ROOT / "dags"
END_DATE = date(2026, 11, 1)
DAYS = 30


@dataclass
class DagRunResult:
    returncode: int
    log: str

    @property
    def succeeded(self) -> bool:
        return self.returncode == 0


@dataclass
class AirflowStack:
    """A seeded source database, the local AWS stand-ins and an Airflow home, ready for ``airflow dags test``."""

    work_dir: Path
    services: Any
    env: dict[str, str]
    config: Any

    def run_dag(
        self, dag_id: str, conf: dict[str, Any] | None = None, env: dict[str, str] | None = None
    ) -> DagRunResult:
        command = [str(Path(sys.executable).with_name("airflow")), "dags", "test", dag_id]
        if conf is not None:
            command += ["-c", json.dumps(conf)]
        completed = subprocess.run(
            command,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=600,
            check=False,
        )
        log = completed.stdout + completed.stderr
        (self.work_dir / f"{dag_id}.log").open("a").write(log)
        return DagRunResult(completed.returncode, log)

    def s3_keys(self, prefix: str) -> dict[str, str]:
        """key -> ETag of every object under ``prefix`` in the pipeline bucket."""
        s3 = self.services.s3_client()
        keys: dict[str, str] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.config.s3.bucket, Prefix=prefix):
            keys.update({item["Key"]: item["ETag"] for item in page.get("Contents", [])})
        return keys


@pytest.fixture(scope="session")
def airflow_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowStack]:
    from pulla_dev.demo import airflow_environment
    from pulla_dev.demo_shop.seed import seed_demo_database
    from pulla_dev.local_services import LocalServices
    from pulla_personalize.pipeline_config import load_pipeline_config

    work_dir = tmp_path_factory.mktemp("dag-runs")
    config = load_pipeline_config()
    with LocalServices(work_dir / "services", bucket=config.s3.bucket) as services:
        db_url = f"sqlite:///{work_dir / 'pulla.db'}"
        seed_demo_database(db_url, end_date=END_DATE, scale=1, seed=7, days=DAYS)
        env = {**os.environ, **airflow_environment(work_dir / "airflow"), **services.airflow_environment(db_url)}
        env.pop("PULLA_PERSONALIZE_CONFIG", None)
        migrate = subprocess.run(
            [str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]
        yield AirflowStack(work_dir, services, env, config)
