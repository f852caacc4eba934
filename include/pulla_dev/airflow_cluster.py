"""Airflow as production runs it, on one machine: API server, scheduler, dag-processor and triggerer as separate
processes (and Celery workers with the CeleryExecutor), for ``make airflow`` and the end-to-end tests.

``airflow dags test`` runs every task inside its own process; the scheduler instead hands each task to an executor
whose task runner is a separate interpreter (a fork of the LocalExecutor's worker, or a Celery worker), and the
waits go to the triggerer. Only this path shows whether a task survives that.

Two profiles:

- ``LocalExecutor`` (``make airflow``): nothing listens beyond loopback. The scheduler and triggerer start without
  their log servers (Airflow binds those to every interface); ``log_server.main`` serves the same logs on
  127.0.0.1, on ports picked free, and task instances record 127.0.0.1 as their host.
- ``CeleryExecutor`` (the shape of ``docker-compose.yaml``): the same settings and component commands as the
  compose file (``CELERY_SETTINGS``, ``CELERY_COMMANDS``; a test keeps the two in step), Redis as broker and
  result backend, a queue of its own per cluster so clusters sharing a Redis never take each other's tasks.

Every component starts under ``guardian`` in a session of its own (so Ctrl-C in a terminal reaches us, and we stop
them in order); the guardian ends the component's whole process tree (executor workers, task processes) when it is
stopped or when the process that started it dies, so a killed test run or a killed ``make airflow`` leaves nothing
behind.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulla_dev.guardian import guarded_popen, stop_guarded
from pulla_dev.local_services import free_port
from pulla_personalize import INCLUDE_DIR

REPO_ROOT = INCLUDE_DIR.parent
START_TIMEOUT_SECONDS = 180

#: Settings docker-compose.yaml's Airflow services share with the Celery e2e run (compared by a test).
CELERY_SETTINGS = {
    "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "true",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
    "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "true",
}
#: docker-compose service -> the Airflow command it runs (compared by a test).
CELERY_COMMANDS = {
    "airflow-apiserver": ["api-server"],
    "airflow-scheduler": ["scheduler"],
    "airflow-dag-processor": ["dag-processor"],
    "airflow-triggerer": ["triggerer"],
    "airflow-worker": ["celery", "worker"],
}
LOCAL_COMMANDS = {
    "api-server": ["api-server"],
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
}


def loopback_hostname() -> str:
    """``[core] hostname_callable`` of the LocalExecutor profile: task logs are fetched from 127.0.0.1."""
    return "127.0.0.1"


@dataclass
class AirflowCluster:
    """One Airflow: its home under ``home``, a metadata database, and its components as processes.

    ``extra_env`` carries what the DAGs need (connections, ``PULLA_*``); ``database_url`` is a SQLAlchemy URL
    (``postgresql+psycopg://…`` or ``sqlite:///…``); ``broker_url`` is required with the CeleryExecutor.
    """

    home: Path
    database_url: str
    executor: str = "LocalExecutor"
    port: int = 0
    broker_url: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    parallelism: int = 4
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    queue: str = ""

    def __post_init__(self) -> None:
        if self.executor not in ("LocalExecutor", "CeleryExecutor"):
            raise ValueError(f"executor must be LocalExecutor or CeleryExecutor, got {self.executor!r}")
        if self.executor == "CeleryExecutor" and not self.broker_url:
            raise ValueError("the CeleryExecutor needs broker_url (e.g. redis://127.0.0.1:6379/0)")
        self.port = self.port or free_port()
        self.queue = self.queue or f"pulla-{secrets.token_hex(4)}"
        self._secret = secrets.token_hex(16)
        self._log_ports = (free_port(), free_port())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_dir(self) -> Path:
        return self.home / "processes"

    def environment(self) -> dict[str, str]:
        """The environment every component and every ``airflow`` command of this cluster runs with."""
        from pulla_dev.demo import airflow_environment

        worker_log_port, trigger_log_port = self._log_ports
        env = {
            **os.environ,
            **airflow_environment(self.home),
            "AIRFLOW__CORE__EXECUTOR": self.executor,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.database_url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            # Every component signs and checks the same tokens and log requests.
            "AIRFLOW__API__SECRET_KEY": self._secret,
            "AIRFLOW__API_AUTH__JWT_SECRET": self._secret,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "pulla_dev.airflow_cluster.loopback_hostname",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(worker_log_port),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(trigger_log_port),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            # The local endpoint finishes in seconds, but a trigger that fires before the deferring worker has
            # exited trips Airflow 3.3's scheduler (see triggers/personalize.py): leave the worker time to exit.
            "PULLA_WAITER_DELAY_SECONDS": "5",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "false",  # its port is fixed (8974): two clusters collide
            # Our own commands (`airflow ...` started by Airflow itself) come from this interpreter's folder.
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            **self.extra_env,
        }
        if self.database_url.startswith("postgresql+psycopg:"):
            # Airflow would derive asyncpg for the async engine; psycopg 3 speaks both.
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] = self.database_url
        if self.executor == "CeleryExecutor":
            env.update(
                {
                    key: value
                    for key, value in CELERY_SETTINGS.items()
                    if key != "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"
                }
            )
            env.update(
                {
                    "AIRFLOW__CELERY__BROKER_URL": str(self.broker_url),
                    "AIRFLOW__CELERY__RESULT_BACKEND": str(self.broker_url),
                    "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
                    "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.parallelism),
                }
            )
        return env

    def commands(self) -> dict[str, list[str]]:
        """Component name -> ``airflow`` arguments (or a Python module for the loopback log server)."""
        if self.executor == "CeleryExecutor":
            commands = {name.removeprefix("airflow-"): list(args) for name, args in CELERY_COMMANDS.items()}
            commands["worker"] = [*commands["worker"], "--queues", self.queue, "--concurrency", str(self.parallelism)]
            return commands
        return {name: list(args) for name, args in LOCAL_COMMANDS.items()}

    def airflow(self, *arguments: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Runs one ``airflow`` command of this cluster; raises with its output when it fails."""
        completed = subprocess.run(
            [_airflow_executable(), *arguments],
            env=self.environment(),
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
        if completed.returncode != 0:
            raise RuntimeError(
                f"airflow {' '.join(arguments)} failed with exit code {completed.returncode}:\n"
                f"{(completed.stdout + completed.stderr)[-4000:]}"
            )
        return completed

    def start(self) -> AirflowCluster:
        """Migrates the metadata database, starts every component and waits until the API answers and the DAGs
        are parsed; on any failure stops what it had started, then raises."""
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            self.log_dir.mkdir(parents=True, exist_ok=True)
            self.airflow("db", "migrate")
            env = self.environment()
            for name, arguments in self.commands().items():
                self._spawn(name, [_airflow_executable(), *arguments], env)
            if self.executor == "LocalExecutor":
                worker_log_port, trigger_log_port = self._log_ports
                for name, port in (("worker-log-server", worker_log_port), ("trigger-log-server", trigger_log_port)):
                    self._spawn(name, [sys.executable, "-m", "pulla_dev.log_server", "--port", str(port)], env)
            self.wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        with (self.log_dir / f"{name}.log").open("ab") as log:
            self.processes[name] = guarded_popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                tail = (self.log_dir / f"{name}.log").read_text(encoding="utf-8", errors="replace")[-3000:]
                raise RuntimeError(f"Airflow's {name} exited with code {process.returncode}:\n{tail}")

    def wait_until_ready(self, dag_ids: tuple[str, ...] = ()) -> None:
        """Until the API answers, the scheduler, triggerer (and a Celery worker) report healthy, and ``dag_ids``
        (by default every DAG file of ``dags/``) are parsed."""
        expected = set(dag_ids) or {path.stem for path in (REPO_ROOT / "dags").glob("pulla_*.py")}
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                health = self.api.get("/api/v2/monitor/health")
                parsed = {dag["dag_id"] for dag in self.api.get("/api/v2/dags", limit=100)["dags"]}
                components = ("scheduler", "triggerer")
                healthy = all((health.get(part) or {}).get("status") == "healthy" for part in components)
                if healthy and expected <= parsed and self._workers_ready():
                    return
                last_error = f"health {health}, parsed {sorted(parsed)}"
            except (OSError, ApiError) as error:
                last_error = str(error)
            time.sleep(1)
        raise RuntimeError(f"Airflow at {self.url} was not ready within {START_TIMEOUT_SECONDS} s: {last_error}")

    def _workers_ready(self) -> bool:
        if self.executor != "CeleryExecutor":
            return True
        log = (self.log_dir / "worker.log").read_text(encoding="utf-8", errors="replace")
        return " ready." in log

    def stop(self) -> None:
        """Stops every component and the task processes it started, newest first (``guardian.stop_guarded``)."""
        stop_guarded(list(self.processes.values()), timeout_seconds=30)
        self.processes.clear()

    def __enter__(self) -> AirflowCluster:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def api(self) -> ApiClient:
        if not hasattr(self, "_api"):
            self._api = ApiClient(self.url)
        return self._api


class ApiError(Exception):
    def __init__(self, status: int, method: str, path: str, body: str) -> None:
        super().__init__(f"{method} {path}: HTTP {status}: {body[:2000]}")
        self.status = status


class ApiClient:
    """A small client of Airflow's REST API v2 (the token comes from ``/auth/token``: all users are admins)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._token: str | None = None

    def _request(self, method: str, path: str, body: Any = None, **query: Any) -> Any:
        from urllib.parse import urlencode

        url = self.base_url + path + (f"?{urlencode(query, doseq=True)}" if query else "")
        headers = {"Accept": "application/json"}
        if not path.startswith("/auth/"):
            headers["Authorization"] = f"Bearer {self.token()}"
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                payload = response.read().decode("utf-8")
        except urllib.error.HTTPError as error:
            raise ApiError(error.code, method, path, error.read().decode("utf-8", "replace")) from None
        return json.loads(payload) if payload else None

    def token(self) -> str:
        if self._token is None:
            self._token = self._request("GET", "/auth/token")["access_token"]
        return self._token

    def get(self, path: str, **query: Any) -> Any:
        return self._request("GET", path, **query)

    def post(self, path: str, body: Any) -> Any:
        return self._request("POST", path, body)

    def patch(self, path: str, body: Any, **query: Any) -> Any:
        return self._request("PATCH", path, body, **query)

    def unpause(self, dag_id: str) -> None:
        self.patch(f"/api/v2/dags/{dag_id}", {"is_paused": False}, update_mask="is_paused")

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None, run_id: str | None = None) -> str:
        from datetime import UTC, datetime

        body: dict[str, Any] = {"logical_date": None, "conf": conf or {}}
        if run_id:
            body["dag_run_id"] = run_id
        body.setdefault("run_after", datetime.now(UTC).isoformat())
        return self.post(f"/api/v2/dags/{dag_id}/dagRuns", body)["dag_run_id"]

    def wait_for_run(
        self, dag_id: str, run_id: str, timeout: float = 600, cluster: AirflowCluster | None = None
    ) -> str:
        """Polls the run until it ends; returns its final state ("success" or "failed")."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cluster is not None:
                cluster.check_alive()
            state = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]
            if state in ("success", "failed"):
                return state
            time.sleep(2)
        raise TimeoutError(f"{dag_id} run {run_id} did not finish within {timeout} s")

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        items = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=100)["task_instances"]
        return {item["task_id"] + (f"[{item['map_index']}]" if item["map_index"] >= 0 else ""): item for item in items}

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> str:
        """The task attempt's log as text (the API's structured events joined into lines)."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        payload = self.get(path, **({"map_index": map_index} if map_index >= 0 else {}))
        lines = []
        for event in payload.get("content", []):
            if isinstance(event, dict):
                lines.append(" ".join(str(event[key]) for key in ("level", "event") if event.get(key) is not None))
                if event.get("error_detail"):
                    lines.append(json.dumps(event["error_detail"]))
            else:
                lines.append(str(event))
        return "\n".join(lines)


def _airflow_executable() -> str:
    return str(Path(sys.executable).with_name("airflow"))
