"""``make airflow``: the Airflow UI with our DAGs, on the embedded default (local S3 and Personalize endpoint).

It keeps its state in ``.airflow-local/`` at the project root (Airflow's home and metadata database, the demo Pulla
database, the local endpoint's data), starts moto's S3 server and the local Personalize endpoint, and runs Airflow
as production does: API server (and UI), scheduler with the LocalExecutor, dag-processor and triggerer as separate
processes (``airflow_cluster``), all bound to 127.0.0.1. Login is switched off because nothing listens beyond
loopback. Ctrl-C stops all of it.

The demo shop lives: the first start seeds 30 days up to yesterday (Asia/Seoul), and every later start adds the days
since, so an unpaused daily DAG's scheduled runs find their day's data. moto's S3 keeps nothing across restarts: the
next daily run publishes again.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from datetime import date
from pathlib import Path

from pulla_personalize import INCLUDE_DIR

STATE_DIR = INCLUDE_DIR.parent / ".airflow-local"
DEMO_SEED = 42
DEMO_DAYS = 30


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM (a supervisor, `kill`) stops everything like Ctrl-C does


def ensure_demo_shop(db_path: Path, through: date) -> str:
    """Seeds the demo Pulla database with the 30 days up to ``through`` on first use, or adds the days since its
    last one; returns a line saying which. An interrupted first seed never leaves a half-filled database."""
    from pulla_dev.demo_shop.living_shop import seed_living_shop, top_up_demo_database

    url = f"sqlite:///{db_path}"
    if not db_path.exists():
        partial = db_path.with_suffix(".seeding")
        partial.unlink(missing_ok=True)
        seed_living_shop(f"sqlite:///{partial}", through=through, seed=DEMO_SEED, days=DEMO_DAYS)
        os.replace(partial, db_path)
        return f"Seeded the demo Pulla database at {db_path}: {DEMO_DAYS} days up to {through}."
    added = top_up_demo_database(url, through=through)
    if not added:
        return f"The demo Pulla database at {db_path} already covers the days up to {through}."
    return f"Added {len(added)} day(s) of shop activity to the demo database: {added[0]} .. {added[-1]}."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make airflow", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080, help="port of the Airflow UI (default 8080)")
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR, help="where state is kept")
    args = parser.parse_args(argv)

    from pulla_dev.airflow_cluster import AirflowCluster
    from pulla_dev.demo_shop.living_shop import NotALivingShopError, yesterday_in
    from pulla_dev.local_services import LocalServices, ensure_port_free
    from pulla_personalize.pipeline_config import load_pipeline_config

    signal.signal(signal.SIGTERM, _interrupt)
    try:
        ensure_port_free(args.port, "the Airflow UI")
    except RuntimeError as error:
        print(f"make airflow: {error}; pick another with AIRFLOW_ARGS='--port 8089'", file=sys.stderr)
        return 2
    state_dir: Path = args.state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    config = load_pipeline_config()
    db_path = state_dir / "pulla.db"
    yesterday = yesterday_in(config.time_zone)
    try:
        print(ensure_demo_shop(db_path, yesterday), flush=True)
    except NotALivingShopError as error:
        print(f"make airflow: {db_path}: {error}", file=sys.stderr)
        return 2

    try:
        with LocalServices(state_dir / "services", bucket=config.s3.bucket) as services:
            home = state_dir / "airflow"
            cluster = AirflowCluster(
                home=home,
                database_url=f"sqlite:///{home / 'airflow.db'}",
                executor="LocalExecutor",
                port=args.port,
                extra_env={**services.airflow_environment(f"sqlite:///{db_path}"), "PULLA_TASK_RETRIES": "1"},
            )
            print(
                f"Local S3 at {services.s3_url}, local Personalize at {services.personalize_url}.\n"
                f"Starting Airflow (API server, scheduler, dag-processor, triggerer); logs in {cluster.log_dir} …",
                flush=True,
            )
            with cluster:
                print(
                    f"\nAirflow UI: {cluster.url} (no login: local only). Ctrl-C stops everything.\n"
                    "Unpause and trigger pulla_personalize_setup, then pulla_personalize_daily (the form's defaults "
                    f"export yesterday, {yesterday}; a first full load: window_start "
                    f"{date.fromordinal(yesterday.toordinal() - DEMO_DAYS + 1)}, window_end "
                    f"{date.fromordinal(yesterday.toordinal() + 1)}, full_reload on), then pulla_personalize_retrain.",
                    flush=True,
                )
                while True:
                    cluster.check_alive()
                    time.sleep(2)
    except KeyboardInterrupt:
        print("\nStopped Airflow and the local services.", flush=True)
        return 0
    except RuntimeError as error:
        print(f"make airflow: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
