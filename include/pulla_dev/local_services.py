"""Starts and stops the local stand-ins for AWS: moto's S3 server and our Personalize-compatible endpoint.

``make demo``, ``make airflow`` and the end-to-end tests use ``LocalServices``: it picks free loopback ports,
starts both servers as child processes, waits until they answer, creates the bucket, and gives the Airflow
environment (connections as ``AIRFLOW_CONN_*``) that points the pipeline at them. Leaving the ``with`` block, or
an exception or Ctrl-C inside it, stops both processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulla_dev.guardian import guarded_popen, stop_guarded

REGION = "ap-northeast-2"
# Credentials only the local servers see; boto3 insists on having some.
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local-secret"}
START_TIMEOUT_SECONDS = 60


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def ensure_port_free(port: int, name: str) -> None:
    """Fails when something already listens on the port: waiting for it to answer would mistake that for ours."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # The servers bind with SO_REUSEADDR too, so a port in TIME_WAIT counts as free, as it is for them.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            raise RuntimeError(f"{name} cannot start: 127.0.0.1:{port} is already in use ({error.strerror})") from None


def wait_for_port(port: int, process: subprocess.Popen, name: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with code {process.returncode}; see {log_path}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{name} did not listen on 127.0.0.1:{port} within {START_TIMEOUT_SECONDS} s; see {log_path}")


def aws_connection(s3_url: str, personalize_url: str) -> dict[str, Any]:
    """The Airflow AWS connection (JSON form) that sends S3 and Personalize calls to the local servers."""
    return {
        "conn_type": "aws",
        "login": LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "password": LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "extra": {
            "region_name": REGION,
            "service_config": {
                "s3": {"endpoint_url": s3_url},
                "personalize": {"endpoint_url": personalize_url},
                "personalize-runtime": {"endpoint_url": personalize_url},
                "personalize-events": {"endpoint_url": personalize_url},
            },
        },
    }


@dataclass
class LocalServices:
    """Moto's S3 server and the local Personalize endpoint, under ``work_dir``."""

    work_dir: Path
    bucket: str
    status_delay: float = 0.2
    s3_port: int = 0
    personalize_port: int = 0
    #: The endpoint's fault switch (``PERSONALIZE_LOCAL_FAULTS``, e.g. ``limit:CreateDatasetImportJob:1``); tests only.
    endpoint_faults: str | None = None
    processes: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    @property
    def s3_url(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def personalize_url(self) -> str:
        return f"http://127.0.0.1:{self.personalize_port}"

    def _start(self, name: str, command: list[str], port: int, env: dict[str, str] | None = None) -> None:
        ensure_port_free(port, name)
        log_path = self.work_dir / f"{name}.log"
        with log_path.open("ab") as log:
            # In a session of its own (Ctrl-C in the terminal reaches us, and we stop the children in order),
            # under a guardian that ends it when we die, even by SIGKILL.
            process = guarded_popen(
                command,
                grace_seconds=10,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **LOCAL_CREDENTIALS, **(env or {})},
            )
        self.processes.append((name, process))
        wait_for_port(port, process, name, log_path)

    def start(self) -> LocalServices:
        """Starts both servers and creates the bucket; on any failure stops what it had started, then raises."""
        try:
            return self._start_all()
        except BaseException:
            self.stop()
            raise

    def _start_all(self) -> LocalServices:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.s3_port = self.s3_port or free_port()
        if not self.personalize_port:
            # Two probes in a row can get the same free port; the second server must not land on the first's.
            self.personalize_port = free_port()
            while self.personalize_port == self.s3_port:
                self.personalize_port = free_port()
        self._start(
            "s3", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.s3_port)], self.s3_port
        )
        self._start_personalize(self.endpoint_faults)
        self.s3_client().create_bucket(Bucket=self.bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        return self

    def _start_personalize(self, faults: str | None) -> None:
        self._start(
            "personalize",
            [
                sys.executable,
                "-m",
                "pulla_personalize.cli",
                "local-endpoint",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.personalize_port),
                "--data-dir",
                str(self.work_dir / "personalize-data"),
                "--s3-endpoint",
                self.s3_url,
                "--region",
                REGION,
                "--status-delay",
                str(self.status_delay),
            ],
            self.personalize_port,
            env={"PERSONALIZE_LOCAL_FAULTS": faults} if faults else None,
        )

    def crash_personalize(self) -> None:
        """Kills the endpoint and its guardian with SIGKILL, as a crash would (no shutdown code runs); tests only."""
        for name, process in [entry for entry in self.processes if entry[0] == "personalize"]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)
            self.processes.remove((name, process))
            # The guardian is reaped at once; the endpoint, orphaned, may take a moment to die and free its port.
            deadline = time.monotonic() + 30
            while _group_alive(process.pid) and time.monotonic() < deadline:
                time.sleep(0.1)

    def restart_personalize(self, faults: str | None = None) -> None:
        """Starts the endpoint again on its port and data directory (after ``crash_personalize``), with
        ``faults`` as its fault switch; tests only."""
        self._start_personalize(faults)

    def stop(self) -> None:
        """Stops both servers and everything they started, newest first (``guardian.stop_guarded``)."""
        stop_guarded([process for _name, process in self.processes], timeout_seconds=15)
        self.processes.clear()

    def __enter__(self) -> LocalServices:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def client(self, service: str) -> Any:
        import boto3

        endpoint = self.s3_url if service == "s3" else self.personalize_url
        return boto3.client(service, region_name=REGION, endpoint_url=endpoint, **_boto_credentials())

    def s3_client(self) -> Any:
        return self.client("s3")

    def airflow_environment(self, db_url: str) -> dict[str, str]:
        """``AIRFLOW_CONN_*`` for the source database (a SQLAlchemy URL) and the local AWS stand-ins."""
        return {
            "AIRFLOW_CONN_PULLA_DB": json.dumps({"conn_type": "generic", "extra": {"sqlalchemy_url": db_url}}),
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(aws_connection(self.s3_url, self.personalize_url)),
            "AWS_DEFAULT_REGION": REGION,
            **LOCAL_CREDENTIALS,
        }


def _boto_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }
