"""Airflow's task-log server bound to 127.0.0.1, for the LocalExecutor profile of ``airflow_cluster``.

The scheduler and triggerer would start Airflow's own log server on every interface (its host is fixed); the
cluster starts them with ``--skip-serve-logs`` and runs this instead, once for worker logs and once for trigger
logs, so the UI can show a running task's log while nothing listens beyond loopback.
"""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pulla_dev.log_server", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)

    import uvicorn
    from airflow.utils.serve_logs.log_server import get_app

    uvicorn.run(get_app(), host="127.0.0.1", port=args.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
