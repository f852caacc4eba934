"""The local endpoint's state files damaged behind its back, then the endpoint started again (issue 18).

A shop (interactions and items imported, a version trained, a campaign) is built once on an endpoint that is then
stopped; each test damages a copy of its data directory the way a crash, a full disk or a careless copy would, and
starts a new endpoint on it. Nothing may start half-broken: a damaged ``resources.json`` stops the endpoint with a
message naming the file; a cut data or model file fails its resource with a reason naming the file (never ACTIVE
answering 500s); a half line at the end of the streamed events is dropped with a warning; a write that fails half
way leaves the previous file whole; work that dies with the endpoint on every start is failed, not resumed forever.
"""

from __future__ import annotations

import csv
import errno
import json
import logging
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from personalize_local import synthetic
from personalize_local.state import StateStore, resource_key

from .conftest import CREDENTIALS, ROLE_ARN, personalize_client, wait_settled

pytestmark = pytest.mark.faults

BUCKET = "pulla-state-faults"
USER_PERSONALIZATION = "arn:aws:personalize:::recipe/aws-user-personalization"


@dataclass
class BuiltShop:
    data_dir: Path
    s3_url: str
    dataset_arns: dict[str, str]
    version_arn: str
    campaign_arn: str
    items_location: str


def start_endpoint(data_dir: Path, s3_url: str) -> Any:
    from personalize_local.server import LocalEndpoint
    from personalize_local.service import EndpointSettings

    settings = EndpointSettings(data_dir=data_dir, s3_endpoint=s3_url, status_delay=0.02, train_threads=1)
    return LocalEndpoint(settings).start()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, s3_url: str) -> BuiltShop:
    import boto3

    data_dir = tmp_path_factory.mktemp("built") / "personalize-data"
    data = synthetic.make_shop_data(seed=5)
    s3 = boto3.client("s3", endpoint_url=s3_url, **CREDENTIALS)
    endpoint = start_endpoint(data_dir, s3_url)
    try:
        p = personalize_client(endpoint.url)
        group = p.create_dataset_group(name="state")["datasetGroupArn"]
        wait_settled(lambda: p.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
        datasets, locations = {}, {}
        for dataset_type, frame in (("Interactions", data.interactions), ("Items", data.items)):
            key = f"state/{dataset_type.lower()}.csv"
            s3.put_object(Bucket=BUCKET, Key=key, Body=synthetic.to_csv(frame).encode())
            locations[dataset_type] = f"s3://{BUCKET}/{key}"
            schema = p.create_schema(name=f"state-{dataset_type}", schema=synthetic.schema_text(dataset_type))
            arn = p.create_dataset(
                name=f"state-{dataset_type}",
                schemaArn=schema["schemaArn"],
                datasetGroupArn=group,
                datasetType=dataset_type,
            )["datasetArn"]
            wait_settled(lambda arn=arn: p.describe_dataset(datasetArn=arn)["dataset"])
            job = p.create_dataset_import_job(
                jobName=f"state-{dataset_type}",
                datasetArn=arn,
                dataSource={"dataLocation": locations[dataset_type]},
                roleArn=ROLE_ARN,
            )["datasetImportJobArn"]
            done = wait_settled(
                lambda job=job: p.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"]
            )
            assert done["status"] == "ACTIVE", done.get("failureReason")
            datasets[dataset_type] = arn
        solution = p.create_solution(name="state", datasetGroupArn=group, recipeArn=USER_PERSONALIZATION)
        wait_settled(lambda: p.describe_solution(solutionArn=solution["solutionArn"])["solution"])
        version = p.create_solution_version(solutionArn=solution["solutionArn"])["solutionVersionArn"]
        trained = wait_settled(lambda: p.describe_solution_version(solutionVersionArn=version)["solutionVersion"])
        assert trained["status"] == "ACTIVE", trained.get("failureReason")
        campaign = p.create_campaign(name="state", solutionVersionArn=version)["campaignArn"]
        wait_settled(lambda: p.describe_campaign(campaignArn=campaign)["campaign"])
    finally:
        endpoint.stop()
    return BuiltShop(data_dir, s3_url, datasets, version, campaign, locations["Items"])


@pytest.fixture
def copy_of(built: BuiltShop, tmp_path: Path) -> Path:
    target = tmp_path / "personalize-data"
    shutil.copytree(built.data_dir, target)
    return target


def cut(path: Path, keep: int) -> None:
    """Keep only the first ``keep`` bytes, as a crash or a full disk during a non-atomic write would."""
    data = path.read_bytes()
    assert 0 < keep < len(data)
    path.write_bytes(data[:keep])


def test_truncated_resources_json_stops_the_endpoint_naming_the_file(copy_of: Path) -> None:
    resources = copy_of / "resources.json"
    cut(resources, resources.stat().st_size // 2)
    result = subprocess.run(
        [sys.executable, "-m", "pulla_personalize.cli", "local-endpoint", "--port", "0", "--data-dir", str(copy_of)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"cannot start: {resources} is damaged" in result.stderr
    assert "restore it from a backup" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_cut_model_file_fails_the_version_naming_the_file_and_the_campaign_says_so(
    built: BuiltShop, copy_of: Path
) -> None:
    model = copy_of / "models" / f"{resource_key(built.version_arn)}.npz"
    cut(model, model.stat().st_size - 100)
    endpoint = start_endpoint(copy_of, built.s3_url)
    try:
        p = personalize_client(endpoint.url)
        version = p.describe_solution_version(solutionVersionArn=built.version_arn)["solutionVersion"]
        assert version["status"] == "CREATE FAILED"
        assert str(model) in version["failureReason"]
        assert "Train a new solution version" in version["failureReason"]
        assert not model.exists()
        assert model.with_name(model.name + ".damaged").exists()
        runtime = _runtime_client(endpoint.url)
        with pytest.raises(ClientError) as error:
            runtime.get_recommendations(campaignArn=built.campaign_arn, userId="u1")
        assert error.value.response["Error"]["Code"] == "InvalidInputException"  # a 400 naming why, not a 500
        assert "CREATE FAILED" in error.value.response["Error"]["Message"]
    finally:
        endpoint.stop()


def test_cut_bulk_csv_line_fails_the_dataset_naming_the_file_and_a_full_import_repairs_it(
    built: BuiltShop, copy_of: Path
) -> None:
    items_arn = built.dataset_arns["Items"]
    bulk = copy_of / "datasets" / resource_key(items_arn) / "bulk.csv"
    text = bulk.read_bytes()
    cut(bulk, text.rstrip(b"\n").rfind(b",") + 1)  # the last record loses its last column and its line end
    endpoint = start_endpoint(copy_of, built.s3_url)
    try:
        p = personalize_client(endpoint.url)
        dataset = p.describe_dataset(datasetArn=items_arn)["dataset"]
        assert dataset["status"] == "CREATE FAILED"
        record = json.loads((copy_of / "resources.json").read_text())["dataset"][items_arn]
        assert str(bulk) in record["failureReason"]
        assert "FULL import" in record["failureReason"]
        assert not bulk.exists()
        # The other dataset and the version are untouched.
        assert p.describe_dataset(datasetArn=built.dataset_arns["Interactions"])["dataset"]["status"] == "ACTIVE"
        job = p.create_dataset_import_job(
            jobName="state-items-again",
            datasetArn=items_arn,
            dataSource={"dataLocation": built.items_location},
            roleArn=ROLE_ARN,
            importMode="FULL",
        )["datasetImportJobArn"]
        assert (
            wait_settled(lambda: p.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"])["status"]
            == "ACTIVE"
        )
        assert p.describe_dataset(datasetArn=items_arn)["dataset"]["status"] == "ACTIVE"
        assert bulk.read_bytes() == text
    finally:
        endpoint.stop()


def test_half_a_line_at_the_end_of_the_streamed_events_is_dropped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = StateStore(tmp_path)
    dataset = "arn:aws:personalize:us-east-1:123456789012:dataset/shop/INTERACTIONS"
    rows = [
        {"USER_ID": f"u{n}", "ITEM_ID": "i1", "TIMESTAMP": "1764500000", "EVENT_TYPE": "click", "EVENT_ID": f"e{n}"}
        for n in range(3)
    ]
    store.append_events(dataset, rows)
    events = store.dataset_dir(dataset) / "events.csv"
    whole = events.read_bytes()
    with events.open("ab") as handle:
        handle.write(b"u9,i1,17645")  # a crash in the middle of the next append
    with caplog.at_level(logging.WARNING, logger="personalize_local.state"):
        again = StateStore(tmp_path)
    assert events.read_bytes() == whole
    assert any(str(events) in message and "partial line" in message for message in caplog.messages)
    assert list(again.read_events(dataset)["USER_ID"]) == ["u0", "u1", "u2"]
    again.append_events(dataset, rows[:1])
    assert list(csv.reader(events.read_text().splitlines()))[-1][:2] == ["u0", "i1"]


def test_a_save_that_fails_half_way_leaves_the_previous_resources_json_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = StateStore(tmp_path)
    store.put("schema", {"name": "kept"}, "arn:schema/kept")
    before = (tmp_path / "resources.json").read_bytes()

    def disk_full(*_: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("personalize_local.state.os.fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        store.put("schema", {"name": "lost"}, "arn:schema/lost")
    monkeypatch.undo()
    assert (tmp_path / "resources.json").read_bytes() == before
    assert not (tmp_path / "resources.json.tmp").exists()
    # Temporary files a killed endpoint left mid-write are removed at the next start; the files they were to
    # replace stay as they were.
    (tmp_path / "resources.json.tmp").write_text('{"schema": {"arn:schema/half')
    (tmp_path / "models" / "0123.npz.tmp.npz").write_bytes(b"PK\x03\x04 half a model")
    assert set(StateStore(tmp_path).resources["schema"]) == {"arn:schema/kept"}
    assert sorted(path.name for path in tmp_path.rglob("*.tmp*")) == []


def test_work_that_dies_with_the_endpoint_every_time_is_failed_not_resumed_forever(tmp_path: Path) -> None:
    from personalize_local.lifecycle import MAX_RESUMES, Lifecycle
    from personalize_local.state import Scheduler

    job = "arn:aws:personalize:us-east-1:123456789012:dataset-import-job/crashes"
    store = StateStore(tmp_path)
    store.put("dataset-import-job", {"status": "CREATE IN_PROGRESS", "_restarts": MAX_RESUMES}, job)
    scheduler = Scheduler()
    lifecycle = Lifecycle(StateStore(tmp_path), scheduler, status_delay=0.01)
    try:
        lifecycle.resume()
        record = lifecycle.store.get("dataset-import-job", job)
        assert record["status"] == "CREATE FAILED"
        assert (
            f"restarted while this dataset-import-job was in progress, {MAX_RESUMES + 1} times"
            in record["failureReason"]
        )
    finally:
        scheduler.stop()
        lifecycle.close()


def _runtime_client(url: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "personalize-runtime", endpoint_url=url, config=Config(retries={"total_max_attempts": 1}), **CREDENTIALS
    )
