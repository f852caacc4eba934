"""``make airflow``: the Airflow UI with our DAGs, on the embedded default (local S3 and Personalize endpoint).

It keeps its state in ``.airflow-local/`` at the project root (Airflow's home and metadata database, the demo Pulla
database, the local endpoint's data), starts moto's S3 server and the local Personalize endpoint, seeds the demo
database on first use, and runs ``airflow standalone`` (scheduler, dag-processor, triggerer and the UI/API on
http://127.0.0.1:8080). Login is switched off because everything listens on 127.0.0.1 only. Ctrl-C stops all of it.
moto's S3 keeps nothing across restarts: the next daily run publishes again.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

from pulla_personalize import INCLUDE_DIR

STATE_DIR = INCLUDE_DIR.parent / ".airflow-local"
DEMO_END_DATE = date(2026, 11, 1)


def standalone_environment(state_dir: Path, port: int) -> dict[str, str]:
    from pulla_personalize.demo import airflow_environment

    env = airflow_environment(state_dir / "airflow")
    env.update(
        {
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            # Task processes report to the API server's execution API: same port.
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "AIRFLOW__CORE__PARALLELISM": "4",  # a laptop, not a cluster: 4 task processes at most
            "PULLA_TASK_RETRIES": "1",
        }
    )
    return env


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM (a supervisor, `kill`) stops everything like Ctrl-C does


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make airflow", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080, help="port of the Airflow UI (default 8080)")
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR, help="where state is kept")
    args = parser.parse_args(argv)

    from pulla_personalize.local_services import LocalServices
    from pulla_personalize.pipeline_config import load_pipeline_config
    from pulla_personalize.sourcedb.seed import seed_demo_database

    signal.signal(signal.SIGTERM, _interrupt)
    state_dir: Path = args.state_dir
    state_dir.mkdir(parents=True, exist_ok=True)
    config = load_pipeline_config()
    db_path = state_dir / "pulla.db"
    db_url = f"sqlite:///{db_path}"
    if not db_path.exists():
        # Seed beside it and rename: an interrupted seed never leaves a half-filled database to be reused.
        partial = db_path.with_suffix(".seeding")
        partial.unlink(missing_ok=True)
        seed_demo_database(f"sqlite:///{partial}", end_date=DEMO_END_DATE, scale=1, seed=42, days=30)
        os.replace(partial, db_path)
        print(f"Seeded the demo Pulla database at {db_path} (30 days before {DEMO_END_DATE}).", flush=True)

    with LocalServices(state_dir / "services", bucket=config.s3.bucket) as services:
        env = {
            **os.environ,
            **standalone_environment(state_dir, args.port),
            **services.airflow_environment(db_url),
            # standalone starts its components as `airflow ...` from the PATH: ours first.
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        print(
            f"Local S3 at {services.s3_url}, local Personalize at {services.personalize_url}.\n"
            f"Airflow UI: http://127.0.0.1:{args.port} (no login: local only). Ctrl-C stops everything.\n"
            "Start with pulla_personalize_setup, then pulla_personalize_daily with the form "
            f'{{"window_start": "2026-10-02", "window_end": "{DEMO_END_DATE}", "full_reload": true}}, '
            "then pulla_personalize_retrain.",
            flush=True,
        )
        airflow = str(Path(sys.executable).with_name("airflow"))
        process = subprocess.Popen([airflow, "standalone"], env=env, start_new_session=True)
        try:
            return process.wait()
        except KeyboardInterrupt:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
            print("\nStopped Airflow and the local services.", flush=True)
            return 0


if __name__ == "__main__":
    sys.exit(main())
