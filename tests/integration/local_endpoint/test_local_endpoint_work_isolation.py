"""Training and imports do not disturb serving or each other, as on the service (issue 17).

Training runs in a process of its own: a trainer swapped out in the endpoint's interpreter is not the one that
trains, and killing the training process (not the endpoint) fails the version with a reason instead of leaving it
IN_PROGRESS. An import whose S3 read hangs holds up no import into another dataset.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from personalize_local import synthetic

from .conftest import (
    RECIPE_ARN,
    ROLE_ARN,
    Clients,
    S3Server,
    build_group,
    import_csv,
    make_clients,
    unique,
    wait_for,
)


def trainable_group(clients: Clients, s3: S3Server) -> tuple[Any, str]:
    """A dataset group with interactions enough to train on, and an ACTIVE solution on it."""
    group = build_group(clients)
    data = synthetic.make_shop_data(seed=3)
    location = s3.put_csv(f"{unique('train')}/interactions.csv", synthetic.to_csv(data.interactions))
    job = import_csv(clients, group.datasets["Interactions"], location)
    assert job["status"] == "ACTIVE", job.get("failureReason")
    p = clients.personalize
    solution = p.create_solution(name=unique("sol"), datasetGroupArn=group.arn, recipeArn=RECIPE_ARN)["solutionArn"]
    wait_for(lambda: p.describe_solution(solutionArn=solution)["solution"])
    return group, solution


def test_training_does_not_run_in_the_endpoints_interpreter(
    start_endpoint, s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from personalize_local import trainer

    endpoint = start_endpoint(tmp_path / "data")
    clients = make_clients(endpoint.url)
    _, solution = trainable_group(clients, s3_server)

    def train_here(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("trained inside the endpoint's process")

    # Only this interpreter's trainer fails; a training process starts a fresh interpreter with the real one.
    monkeypatch.setattr(trainer, "train", train_here)
    p = clients.personalize
    version_arn = p.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    version = wait_for(lambda: p.describe_solution_version(solutionVersionArn=version_arn)["solutionVersion"])
    assert version["status"] == "ACTIVE", version.get("failureReason")
    metrics = p.get_solution_metrics(solutionVersionArn=version_arn)["metrics"]
    assert metrics["precision_at_25"] > 0


def test_a_killed_training_process_fails_its_version_with_a_reason(
    start_endpoint, s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The training process sleeps first, so the test finds it while it trains.
    monkeypatch.setenv("PERSONALIZE_LOCAL_FAULTS", "slow-process:solution-version:60")
    endpoint = start_endpoint(tmp_path / "data")
    clients = make_clients(endpoint.url)
    _, solution = trainable_group(clients, s3_server)
    p = clients.personalize
    version_arn = p.create_solution_version(solutionArn=solution)["solutionVersionArn"]

    deadline = time.monotonic() + 20
    while not (training := [c for c in multiprocessing.active_children() if c.name.startswith("personalize-train")]):
        assert time.monotonic() < deadline, "no training process started"
        time.sleep(0.02)
    (process,) = training
    assert process.pid != os.getpid()
    status = p.describe_solution_version(solutionVersionArn=version_arn)["solutionVersion"]["status"]
    assert status == "CREATE IN_PROGRESS"

    os.kill(process.pid, signal.SIGKILL)
    version = wait_for(lambda: p.describe_solution_version(solutionVersionArn=version_arn)["solutionVersion"])
    assert version["status"] == "CREATE FAILED"
    assert "training process ended without a result (stopped by signal SIGKILL)" in version["failureReason"]
    # The endpoint lives on, and the solution takes a new version.
    assert p.list_solution_versions(solutionArn=solution)["solutionVersions"]


def test_an_import_whose_s3_read_hangs_holds_up_no_import_into_another_dataset(
    start_endpoint, s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = start_endpoint(tmp_path / "data")
    clients = make_clients(endpoint.url)
    group = build_group(clients)
    data = synthetic.make_shop_data(seed=5)
    prefix = unique("hang")
    hanging = s3_server.put_csv(f"{prefix}/users.csv", synthetic.to_csv(data.users))
    items = s3_server.put_csv(f"{prefix}/items.csv", synthetic.to_csv(data.items))

    # The S3 seam of the endpoint's importer: a read of the hanging object waits as a silent S3 would.
    reader = endpoint.service.s3
    answer = threading.Event()
    read = reader.read

    def read_or_hang(location: str, **kwargs: Any) -> list[tuple[str, str]]:
        if location == hanging:
            answer.wait(60)
        return read(location, **kwargs)

    monkeypatch.setattr(reader, "read", read_or_hang)
    p = clients.personalize
    hung_arn = p.create_dataset_import_job(
        jobName=unique("hung"),
        datasetArn=group.datasets["Users"],
        dataSource={"dataLocation": hanging},
        roleArn=ROLE_ARN,
    )["datasetImportJobArn"]

    def hung_job() -> dict[str, Any]:
        return p.describe_dataset_import_job(datasetImportJobArn=hung_arn)["datasetImportJob"]

    deadline = time.monotonic() + 10
    while hung_job()["status"] != "CREATE IN_PROGRESS":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    try:
        job = import_csv(clients, group.datasets["Items"], items)
        assert job["status"] == "ACTIVE", job.get("failureReason")
        assert hung_job()["status"] == "CREATE IN_PROGRESS"
    finally:
        answer.set()
    assert wait_for(hung_job)["status"] == "ACTIVE"
