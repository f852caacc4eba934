"""The S3 side of the task bodies against moto: run archives, publishing for import, summaries, the metric history
and its chart."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import pytest

from personalize_provider.staging import StagingError, publish_s3_objects, stage_folder
from pulla_airflow.metrics_history import (
    CHART_LINK_SECONDS,
    append_metrics_history,
    draw_metrics_chart,
    record_solution_metrics,
)
from pulla_airflow.resources import publish_setup_resources
from pulla_airflow.run_archive import import_prefix, publish_dataset, run_prefix, staging_prefix, write_run_summary
from pulla_airflow.s3_documents import read_json_object
from pulla_personalize.pipeline_config import PipelineConfig

from .conftest import list_keys

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write_files(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def body(s3: Any, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def test_run_and_import_prefixes(config: PipelineConfig) -> None:
    assert run_prefix(config, "20261127") == "personalize/runs/window=20261127/"
    assert import_prefix(config, "users", "20261127") == "personalize/import/users/window=20261127/"


def archive_tree(s3: Any, local_dir: Path, bucket: str, prefix: str, sse: str | None = None) -> list[str]:
    """The run archive's upload (``export_to_run_archive``): the whole tree, all or nothing."""
    return sorted(
        stage_folder(
            s3,
            local_dir=local_dir,
            bucket=bucket,
            prefix=prefix,
            staging_prefix="personalize/_staging/",
            pattern="**/*",
            sse=sse,
        ).keys
    )


def test_the_staging_folder_is_below_the_prefix_outside_every_published_folder(config: PipelineConfig) -> None:
    assert staging_prefix(config) == "personalize/_staging/"
    assert not staging_prefix(config).startswith(run_prefix(config, "20261127"))
    assert not staging_prefix(config).startswith(config.s3.key("import") + "/")


def test_the_archive_tree_is_written_whole_stale_objects_go(s3: Any, config: PipelineConfig, tmp_path: Path) -> None:
    bucket, prefix = config.s3.bucket, "personalize/runs/window=20261127/"
    neighbour = "personalize/runs/window=20261127-20261128/users.csv"  # shares the text prefix, not the folder
    for key in (prefix + "old.csv", prefix + "docs/old.html", neighbour):
        s3.put_object(Bucket=bucket, Key=key, Body=b"old")
    write_files(tmp_path, {"users.csv": "USER_ID\nu1\n", "rejects/orders.csv": "reason\n", "docs/index.html": "<p>"})

    written = archive_tree(s3, tmp_path, bucket, prefix, "AES256")

    expected = [prefix + "docs/index.html", prefix + "rejects/orders.csv", prefix + "users.csv"]
    assert written == expected
    assert list_keys(s3, bucket, "personalize/runs/") == sorted([*expected, neighbour])
    assert body(s3, bucket, prefix + "users.csv") == b"USER_ID\nu1\n"
    assert all(s3.head_object(Bucket=bucket, Key=key)["ServerSideEncryption"] == "AES256" for key in expected)
    assert "ServerSideEncryption" not in s3.head_object(Bucket=bucket, Key=neighbour)


def test_the_archive_tree_without_encryption(s3: Any, config: PipelineConfig, tmp_path: Path) -> None:
    write_files(tmp_path, {"a.txt": "a"})
    archive_tree(s3, tmp_path, config.s3.bucket, "plain/")
    assert "ServerSideEncryption" not in s3.head_object(Bucket=config.s3.bucket, Key="plain/a.txt")


def test_the_archive_tree_removes_more_than_one_delete_batch(s3: Any, config: PipelineConfig, tmp_path: Path) -> None:
    bucket, prefix = config.s3.bucket, "many/"
    for number in range(1005):  # DeleteObjects takes 1000 keys a call
        s3.put_object(Bucket=bucket, Key=f"{prefix}stale-{number:04d}", Body=b"")
    write_files(tmp_path, {"keep.csv": "x"})
    archive_tree(s3, tmp_path, bucket, prefix)
    assert list_keys(s3, bucket, prefix) == [prefix + "keep.csv"]


def archive(s3: Any, config: PipelineConfig, label: str, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        s3.put_object(Bucket=config.s3.bucket, Key=run_prefix(config, label) + name, Body=data)


def test_publish_dataset_copies_only_that_csv(s3: Any, config: PipelineConfig) -> None:
    csv = b"USER_ID,ITEM_ID,TIMESTAMP\nu1,p1,1764000000\n"
    archive(s3, config, "20261127", {"interactions.csv": csv, "users.csv": b"USER_ID\n", "report.json": b"{}"})
    destination = import_prefix(config, "interactions", "20261127")
    s3.put_object(Bucket=config.s3.bucket, Key=destination + "part-old.csv", Body=b"stale")

    uri = publish_dataset(s3_client=s3, config=config, label="20261127", dataset_type="interactions")

    assert uri == f"s3://pulla-personalize/{destination}"
    assert list_keys(s3, config.s3.bucket, "personalize/import/") == [destination + "interactions.csv"]
    assert body(s3, config.s3.bucket, destination + "interactions.csv") == csv
    assert s3.head_object(Bucket=config.s3.bucket, Key=destination + "interactions.csv")["ServerSideEncryption"] == (
        "AES256"
    )
    # The archive keeps its copy.
    assert body(s3, config.s3.bucket, run_prefix(config, "20261127") + "interactions.csv") == csv


def test_publish_dataset_twice_gives_the_same_objects(s3: Any, config: PipelineConfig) -> None:
    archive(s3, config, "20261127", {"items.csv": b"ITEM_ID\np1\n"})
    first = publish_dataset(s3_client=s3, config=config, label="20261127", dataset_type="items")
    second = publish_dataset(s3_client=s3, config=config, label="20261127", dataset_type="items")
    assert first == second
    assert list_keys(s3, config.s3.bucket, "personalize/import/") == [
        import_prefix(config, "items", "20261127") + "items.csv"
    ]


def test_publish_dataset_with_missing_source_publishes_nothing(s3: Any, config: PipelineConfig) -> None:
    archive(s3, config, "20261127", {"report.json": b"{}"})  # a failed gate archives no CSV
    destination = import_prefix(config, "users", "20261127")
    s3.put_object(Bucket=config.s3.bucket, Key=destination + "users.csv", Body=b"earlier run")
    with pytest.raises(StagingError) as raised:
        publish_dataset(s3_client=s3, config=config, label="20261127", dataset_type="users")
    message = str(raised.value)
    assert "s3://pulla-personalize/personalize/runs/window=20261127/users.csv cannot be read" in message
    assert "nothing was published" in message
    # The earlier run's file is left alone; nothing else appeared.
    assert list_keys(s3, config.s3.bucket, "personalize/import/") == [destination + "users.csv"]
    assert body(s3, config.s3.bucket, destination + "users.csv") == b"earlier run"


def test_publish_s3_objects_checks_every_source_before_copying(s3: Any, config: PipelineConfig) -> None:
    bucket = config.s3.bucket
    s3.put_object(Bucket=bucket, Key="runs/a.csv", Body=b"a")
    with pytest.raises(StagingError, match=r"runs/missing\.csv cannot be read"):
        publish_s3_objects(
            s3, source_bucket=bucket, source_keys=["runs/a.csv", "runs/missing.csv"], bucket=bucket, prefix="import/x"
        )
    assert list_keys(s3, bucket, "import/") == []


def test_publish_s3_objects_across_buckets_with_kms(s3: Any, config: PipelineConfig) -> None:
    source_bucket = "pulla-archive"
    s3.create_bucket(Bucket=source_bucket, CreateBucketConfiguration={"LocationConstraint": "ap-northeast-2"})
    s3.put_object(Bucket=source_bucket, Key="runs/1/a.csv", Body=b"a")
    s3.put_object(Bucket=source_bucket, Key="runs/1/b.csv", Body=b"b")
    s3.put_object(Bucket=config.s3.bucket, Key="import/x/old.csv", Body=b"old")
    s3.put_object(Bucket=config.s3.bucket, Key="import/x/sub/keep.csv", Body=b"nested: not stale")

    published = publish_s3_objects(
        s3,
        source_bucket=source_bucket,
        source_keys=["runs/1/a.csv", "runs/1/b.csv"],
        bucket=config.s3.bucket,
        prefix="/import/x/",
        sse="aws:kms",
        sse_kms_key_id="alias/pulla",
    )

    assert published.uri == "s3://pulla-personalize/import/x/"
    assert published.keys == ("import/x/a.csv", "import/x/b.csv")
    assert published.removed_stale_keys == ("import/x/old.csv",)
    assert list_keys(s3, config.s3.bucket, "import/") == ["import/x/a.csv", "import/x/b.csv", "import/x/sub/keep.csv"]
    head = s3.head_object(Bucket=config.s3.bucket, Key="import/x/b.csv")
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", "alias/pulla")


@pytest.mark.parametrize(
    ("source_keys", "prefix", "message"),
    [
        ([], "import/x", "no source keys given"),
        (["runs/a.csv", "other/a.csv"], "import/x", "repeats one"),
        (["runs/"], "import/x", "has no file name"),
        (["runs/a.csv"], "/", "must not be empty or the bucket root"),
    ],
)
def test_publish_s3_objects_refuses_bad_requests(
    s3: Any, config: PipelineConfig, source_keys: list[str], prefix: str, message: str
) -> None:
    bucket = config.s3.bucket
    s3.put_object(Bucket=bucket, Key="runs/a.csv", Body=b"a")
    s3.put_object(Bucket=bucket, Key="other/a.csv", Body=b"a")
    s3.put_object(Bucket=bucket, Key="import/x/live.csv", Body=b"live")
    with pytest.raises(ValueError, match=message):
        publish_s3_objects(s3, source_bucket=bucket, source_keys=source_keys, bucket=bucket, prefix=prefix)
    assert list_keys(s3, bucket, "import/") == ["import/x/live.csv"]


def test_publish_s3_objects_rolls_back_a_failed_copy(s3: Any, config: PipelineConfig) -> None:
    bucket = config.s3.bucket
    for name in ("a.csv", "b.csv", "c.csv"):
        s3.put_object(Bucket=bucket, Key=f"runs/{name}", Body=name.encode())
    s3.put_object(Bucket=bucket, Key="import/x/a.csv", Body=b"earlier a")
    copies = 0

    def fail_third_copy(**_: Any) -> None:
        nonlocal copies
        copies += 1
        if copies == 3:
            raise ConnectionError("network dropped")

    s3.meta.events.register("before-call.s3.CopyObject", fail_third_copy)
    with pytest.raises(StagingError, match=r"copying c\.csv into s3://pulla-personalize/import/x/ failed"):
        publish_s3_objects(
            s3,
            source_bucket=bucket,
            source_keys=["runs/a.csv", "runs/b.csv", "runs/c.csv"],
            bucket=bucket,
            prefix="import/x",
        )
    s3.meta.events.unregister("before-call.s3.CopyObject", fail_third_copy)
    # b.csv (new) was removed again; a.csv existed before and holds the same window's bytes.
    assert list_keys(s3, bucket, "import/") == ["import/x/a.csv"]


EXPORT = {
    "window": {"start": "2026-11-26T15:00:00+00:00", "end": "2026-11-27T15:00:00+00:00", "label": "20261127"},
    "datasets": {"interactions": 1200, "users": 150, "items": 60},
    "sources": {"orders": {"source_rows": 10, "exported": 9, "excluded": {}, "quarantined": {"bad_price": 1}}},
    "passed": True,
    "run_uri": "s3://pulla-personalize/personalize/runs/window=20261127/",
}


def test_write_run_summary(s3: Any, config: PipelineConfig) -> None:
    jobs = {"interactions": "arn:job/i", "users": "arn:job/u", "items": "arn:job/p"}
    summary = write_run_summary(s3_client=s3, config=config, export=EXPORT, import_jobs=jobs)
    key = "personalize/runs/window=20261127/summary.json"
    assert summary["summary_uri"] == f"s3://pulla-personalize/{key}"
    stored = read_json_object(s3, config.s3.bucket, key)
    assert stored == {name: value for name, value in summary.items() if name != "summary_uri"}
    assert stored["validation_passed"] is True
    assert stored["import_jobs"] == jobs
    assert stored["sources"]["orders"]["quarantined"] == {"bad_price": 1}
    head = s3.head_object(Bucket=config.s3.bucket, Key=key)
    assert (head["ContentType"], head["ServerSideEncryption"]) == ("application/json", "AES256")


def test_publish_setup_resources(s3: Any, config: PipelineConfig) -> None:
    resources = {"campaign_arn": "arn:campaign/pulla", "tracking_id": "트래킹-id", "filter_arns": ["arn:filter/a"]}
    document = publish_setup_resources(s3_client=s3, config=config, resources=resources)
    key = "personalize/setup/resources.json"
    assert document["resources_uri"] == f"s3://pulla-personalize/{key}"
    raw = body(s3, config.s3.bucket, key)
    assert "트래킹-id".encode() in raw  # readable UTF-8, not \\u escapes
    stored = json.loads(raw)
    assert stored["tracking_id"] == "트래킹-id"
    assert stored["published_at"] == document["published_at"]
    assert stored["published_at"].endswith("+00:00")
    assert "resources_uri" not in resources  # the caller's mapping is not changed


def record(version: str, recorded_at: str, ndcg: float, *, deployed: bool = False) -> dict[str, Any]:
    return {
        "solution_version_arn": f"arn:aws:personalize:ap-northeast-2:1:solution/pulla/{version}",
        "recorded_at": recorded_at,
        "metrics": {"normalized_discounted_cumulative_gain_at_25": ndcg, "precision_at_25": ndcg / 4},
        "deployed": deployed,
    }


def test_metrics_history_appends_sorted_and_replaces_per_version(s3: Any, config: PipelineConfig) -> None:
    later = record("v2", "2026-11-29T04:10:00+00:00", 0.31)
    earlier = record("v1", "2026-11-22T04:10:00+00:00", 0.30, deployed=True)
    append_metrics_history(s3_client=s3, config=config, record=later)
    history = append_metrics_history(s3_client=s3, config=config, record=earlier)
    assert [entry["recorded_at"] for entry in history] == [earlier["recorded_at"], later["recorded_at"]]

    rerun = {**later, "recorded_at": "2026-11-29T05:00:00+00:00", "deployed": True}
    history = append_metrics_history(s3_client=s3, config=config, record=rerun)
    assert len(history) == 2
    assert history[-1] == rerun

    stored = body(s3, config.s3.bucket, "personalize/metrics/history.jsonl").decode()
    assert [json.loads(line) for line in stored.splitlines()] == history
    assert stored.endswith("\n")


def test_metrics_chart_is_a_png() -> None:
    import matplotlib.image

    history = [
        record("v1", "2026-11-22T04:10:00+00:00", 0.30, deployed=True),
        {**record("v2", "2026-11-29T04:10:00+00:00", 0.28), "metrics": {"coverage": 0.5}},  # missing metrics
    ]
    png = draw_metrics_chart(history)
    assert png.startswith(PNG_SIGNATURE)
    pixels = matplotlib.image.imread(io.BytesIO(png), format="png")
    assert pixels.shape[:2] == (450, 900)  # figsize 9 x 4.5 inches at 100 dpi
    assert pixels.std() > 0  # not a blank image


def test_record_solution_metrics(s3: Any, config: PipelineConfig) -> None:
    import requests

    decision = {
        "solution_version_arn": "arn:aws:personalize:ap-northeast-2:1:solution/pulla/abc",
        "new_metrics": {"normalized_discounted_cumulative_gain_at_25": 0.4, "precision_at_25": 0.1},
        "live_metrics": None,
    }
    result = record_solution_metrics(
        s3_client=s3, config=config, decision=decision, deployed=True, reason="no live campaign yet"
    )
    assert result["history_uri"] == "s3://pulla-personalize/personalize/metrics/history.jsonl"
    assert result["chart_uri"] == "s3://pulla-personalize/personalize/metrics/history.png"
    assert (result["versions_recorded"], result["deployed"], result["reason"]) == (1, True, "no live campaign yet")
    assert f"X-Amz-Expires={CHART_LINK_SECONDS}" in result["chart_url"]
    assert "personalize/metrics/history.png" in result["chart_url"]
    # The presigned link serves the chart (moto answers the HTTP request).
    response = requests.get(result["chart_url"], timeout=10)
    assert response.status_code == 200
    assert response.content.startswith(PNG_SIGNATURE)
    head = s3.head_object(Bucket=config.s3.bucket, Key="personalize/metrics/history.png")
    assert head["ContentType"] == "image/png"

    stored = read_json_object(s3, config.s3.bucket, "personalize/metrics/history.jsonl")
    assert stored["metrics"] == decision["new_metrics"]
    assert stored["live_metrics"] == {}
    assert stored["reason"] == "no live campaign yet"

    again = record_solution_metrics(s3_client=s3, config=config, decision=decision, deployed=False, reason="rerun")
    assert again["versions_recorded"] == 1  # the same version replaces its line


def test_tasks_honour_a_config_without_encryption(s3: Any, config: PipelineConfig) -> None:
    plain = dataclasses.replace(config, s3=dataclasses.replace(config.s3, server_side_encryption=None))
    write_run_summary(s3_client=s3, config=plain, export=EXPORT, import_jobs={})
    head = s3.head_object(Bucket=config.s3.bucket, Key="personalize/runs/window=20261127/summary.json")
    assert "ServerSideEncryption" not in head


def test_run_data_expiry_sets_our_rules_keeps_others_and_changes_nothing_the_second_time(
    s3: Any, config: PipelineConfig
) -> None:
    from pulla_airflow.run_archive import ensure_run_data_expiry

    foreign = {"ID": "logs-expiry", "Filter": {"Prefix": "logs/"}, "Status": "Enabled", "Expiration": {"Days": 7}}
    s3.put_bucket_lifecycle_configuration(Bucket=config.s3.bucket, LifecycleConfiguration={"Rules": [foreign]})
    first = ensure_run_data_expiry(s3_client=s3, config=config, days=90)
    assert first["changed"] is True
    assert first["prefixes"] == [
        "personalize/runs/",
        "personalize/import/",
        "personalize/deletions/window=",
        "personalize/crm/",
    ]
    rules = {rule["ID"]: rule for rule in s3.get_bucket_lifecycle_configuration(Bucket=config.s3.bucket)["Rules"]}
    assert rules["logs-expiry"]["Expiration"] == {"Days": 7}
    assert rules["pulla-personalize-expire-runs"]["Filter"] == {"Prefix": "personalize/runs/"}
    assert {rule["Expiration"]["Days"] for rule_id, rule in rules.items() if rule_id != "logs-expiry"} == {90}
    assert ensure_run_data_expiry(s3_client=s3, config=config, days=90)["changed"] is False
    shorter = ensure_run_data_expiry(s3_client=s3, config=config, days=30)
    assert shorter["changed"] is True
    rules = s3.get_bucket_lifecycle_configuration(Bucket=config.s3.bucket)["Rules"]
    assert sorted(rule["Expiration"]["Days"] for rule in rules) == [7, 30, 30, 30, 30]


def test_run_data_expiry_on_a_bucket_without_rules(s3: Any, config: PipelineConfig) -> None:
    from pulla_airflow.run_archive import ensure_run_data_expiry

    assert ensure_run_data_expiry(s3_client=s3, config=config, days=90)["changed"] is True
    assert len(s3.get_bucket_lifecycle_configuration(Bucket=config.s3.bucket)["Rules"]) == 4
