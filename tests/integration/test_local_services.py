"""LocalServices: moto's S3 server and the local Personalize endpoint as child processes on loopback ports, the
Airflow connections that point at them, and stopping everything, also when starting fails half-way."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from pulla_dev.local_services import REGION, LocalServices

REPO_ROOT = Path(__file__).resolve().parents[2]
# Airflow fixes its home when first imported; keep it out of the user's ~/airflow.
os.environ.setdefault("AIRFLOW_HOME", str(REPO_ROOT / ".airflow_test_home"))

BUCKET = "pulla-personalize"


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def clean_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


@pytest.mark.usefixtures("clean_aws_environment")
def test_start_serve_and_stop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    services = LocalServices(tmp_path / "services", bucket=BUCKET, status_delay=0.1)
    with services:
        processes: list[subprocess.Popen] = [process for _, process in services.processes]
        assert [name for name, _ in services.processes] == ["s3", "personalize"]
        assert services.s3_port != services.personalize_port
        assert answers(services.s3_port)
        assert answers(services.personalize_port)
        assert services.s3_url == f"http://127.0.0.1:{services.s3_port}"

        s3 = services.s3_client()
        assert [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]] == [BUCKET]
        assert s3.get_bucket_location(Bucket=BUCKET)["LocationConstraint"] == REGION
        assert services.client("personalize").list_dataset_groups()["datasetGroups"] == []

        # The Airflow environment: connections in JSON form that Airflow's own hooks use as they are.
        environment = services.airflow_environment("sqlite:////tmp/pulla.db")
        assert environment["AWS_DEFAULT_REGION"] == REGION
        source = json.loads(environment["AIRFLOW_CONN_PULLA_DB"])
        assert source == {"conn_type": "generic", "extra": {"sqlalchemy_url": "sqlite:////tmp/pulla.db"}}
        aws = json.loads(environment["AIRFLOW_CONN_AWS_DEFAULT"])
        endpoints = aws["extra"]["service_config"]
        assert endpoints["s3"]["endpoint_url"] == services.s3_url
        assert {
            endpoints[name]["endpoint_url"] for name in ("personalize", "personalize-runtime", "personalize-events")
        } == {services.personalize_url}
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from personalize_provider.hooks.personalize import PersonalizeHook

        airflow_s3 = S3Hook(aws_conn_id="aws_default").get_conn()
        airflow_s3.put_object(Bucket=BUCKET, Key="probe.txt", Body=b"through Airflow's connection")
        assert s3.get_object(Bucket=BUCKET, Key="probe.txt")["Body"].read() == b"through Airflow's connection"
        assert PersonalizeHook(aws_conn_id="aws_default").conn.list_dataset_groups()["datasetGroups"] == []

    assert services.processes == []
    assert all(process.returncode is not None for process in processes)
    assert not answers(services.s3_port)
    assert not answers(services.personalize_port)
    assert (tmp_path / "services" / "s3.log").is_file()
    assert (tmp_path / "services" / "personalize.log").is_file()


@pytest.mark.usefixtures("clean_aws_environment")
def test_occupied_port_fails_and_stops_what_started(tmp_path: Path) -> None:
    with socket.socket() as occupier:
        occupier.bind(("127.0.0.1", 0))
        occupier.listen()
        taken = occupier.getsockname()[1]
        services = LocalServices(tmp_path / "services", bucket=BUCKET, personalize_port=taken)
        with pytest.raises(RuntimeError, match=rf"personalize cannot start: 127\.0\.0\.1:{taken} is already in use"):
            services.start()  # not in a with block: start itself must clean up
        # S3 had started (its log exists) and was stopped again.
        assert (tmp_path / "services" / "s3.log").is_file()
        assert not (tmp_path / "services" / "personalize.log").exists()
        assert services.processes == []
        assert not answers(services.s3_port)


@pytest.mark.usefixtures("clean_aws_environment")
def test_stop_without_start_and_twice(tmp_path: Path) -> None:
    services = LocalServices(tmp_path / "services", bucket=BUCKET)
    services.stop()
    with services:
        pass
    services.stop()
    assert services.processes == []


def two_free_ports() -> tuple[int, int]:
    with socket.socket() as first, socket.socket() as second:
        first.bind(("127.0.0.1", 0))
        second.bind(("127.0.0.1", 0))
        return first.getsockname()[1], second.getsockname()[1]


@pytest.mark.usefixtures("clean_aws_environment")
def test_two_servers_never_share_a_picked_port(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pulla_dev.local_services as local_services

    # The operating system may hand out the same free port to two probes in a row; make it do so.
    first, second = two_free_ports()
    answers_in_order = iter([first, first, second])
    monkeypatch.setattr(local_services, "free_port", lambda: next(answers_in_order))
    with LocalServices(tmp_path / "services", bucket=BUCKET) as services:
        assert (services.s3_port, services.personalize_port) == (first, second)
        assert services.client("personalize").list_dataset_groups()["datasetGroups"] == []


@pytest.mark.usefixtures("clean_aws_environment")
def test_explicit_ports_must_differ(tmp_path: Path) -> None:
    port, _ = two_free_ports()
    services = LocalServices(tmp_path / "services", bucket=BUCKET, s3_port=port, personalize_port=port)
    with pytest.raises(RuntimeError, match=rf"personalize cannot start: 127\.0\.0\.1:{port} is already in use"):
        services.start()
    assert services.processes == []
    assert not answers(port)
