"""S3 staging against moto's S3: all files or none at the import location, stale files removed, SSE applied."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from personalize_provider.staging import StagingError, sse_extra_args, stage_folder

from .conftest import REGION

BUCKET = "pulla-personalize"
DESTINATION = "imports/interactions/2026-11-27/"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield client


@pytest.fixture
def export_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "interactions"
    folder.mkdir()
    for part in range(3):
        (folder / f"part-{part:04d}.csv").write_text(
            "USER_ID,ITEM_ID,TIMESTAMP\n" + "".join(f"U{part}{n},P{n},17645{n:05d}\n" for n in range(50))
        )
    (folder / "report.json").write_text("{}")  # not a CSV: must not be published
    return folder


def keys(s3, prefix: str) -> list[str]:
    return sorted(item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []))


def fail_on_call(s3, event: str, call_number: int) -> list[list[str]]:
    """Make the ``call_number``-th ``event`` call fail; return what the destination held at each call."""
    seen: list[list[str]] = []

    def handler(**_: Any) -> None:
        seen.append(keys(s3, DESTINATION))
        if len(seen) == call_number:
            raise ConnectionError("network dropped")

    s3.meta.events.register(event, handler)
    return seen


def test_publishes_every_csv_and_nothing_else(s3, export_dir: Path) -> None:
    staged = stage_folder(s3, local_dir=export_dir, bucket=BUCKET, prefix=DESTINATION)
    expected = [f"{DESTINATION}part-{n:04d}.csv" for n in range(3)]
    assert keys(s3, DESTINATION) == expected
    assert staged.uri == f"s3://{BUCKET}/{DESTINATION}"
    assert sorted(staged.keys) == expected
    body = s3.get_object(Bucket=BUCKET, Key=expected[1])["Body"].read()
    assert body == (export_dir / "part-0001.csv").read_bytes()
    assert keys(s3, "_staging/") == []


def test_nothing_visible_at_the_destination_while_uploading(s3, export_dir: Path) -> None:
    seen = fail_on_call(s3, "before-call.s3.PutObject", call_number=99)  # observe only
    stage_folder(s3, local_dir=export_dir, bucket=BUCKET, prefix=DESTINATION)
    assert seen == [[], [], []]
    assert len(keys(s3, DESTINATION)) == 3


def test_failure_in_the_middle_of_the_upload_leaves_nothing(s3, export_dir: Path) -> None:
    fail_on_call(s3, "before-call.s3.PutObject", call_number=2)
    with pytest.raises(StagingError, match=r"uploading part-0001\.csv .* nothing was published"):
        stage_folder(s3, local_dir=export_dir, bucket=BUCKET, prefix=DESTINATION)
    assert keys(s3, DESTINATION) == []
    assert keys(s3, "_staging/") == []


def test_failure_while_copying_into_place_rolls_back(s3, export_dir: Path) -> None:
    fail_on_call(s3, "before-call.s3.CopyObject", call_number=3)
    with pytest.raises(StagingError, match=r"copying part-0002\.csv .* 2 object\(s\) already copied .* removed"):
        stage_folder(s3, local_dir=export_dir, bucket=BUCKET, prefix=DESTINATION)
    assert keys(s3, DESTINATION) == []
    assert keys(s3, "_staging/") == []


def test_rerun_replaces_and_removes_stale_files_but_not_subfolders(s3, export_dir: Path) -> None:
    s3.put_object(Bucket=BUCKET, Key=f"{DESTINATION}part-0009.csv", Body=b"old")
    s3.put_object(Bucket=BUCKET, Key=f"{DESTINATION}part-0000.csv", Body=b"old")
    s3.put_object(Bucket=BUCKET, Key=f"{DESTINATION}archive/keep.csv", Body=b"kept")
    staged = stage_folder(s3, local_dir=export_dir, bucket=BUCKET, prefix=DESTINATION)
    assert staged.removed_stale_keys == (f"{DESTINATION}part-0009.csv",)
    assert keys(s3, DESTINATION) == [f"{DESTINATION}archive/keep.csv"] + [
        f"{DESTINATION}part-{n:04d}.csv" for n in range(3)
    ]
    fresh = s3.get_object(Bucket=BUCKET, Key=f"{DESTINATION}part-0000.csv")["Body"].read()
    assert fresh == (export_dir / "part-0000.csv").read_bytes()


@pytest.mark.parametrize("sse", ["AES256", "aws:kms"])
def test_server_side_encryption_on_every_object(s3, export_dir: Path, sse: str) -> None:
    key_id = None
    if sse == "aws:kms":
        key_id = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    seen_staged: list[dict[str, Any]] = []

    def record_staged(params: dict[str, Any], **_: Any) -> None:
        seen_staged.append({k: params.get(k) for k in ("ServerSideEncryption", "SSEKMSKeyId")})

    s3.meta.events.register("provide-client-params.s3.PutObject", record_staged)
    stage_folder(s3, local_dir=export_dir, bucket=BUCKET, prefix=DESTINATION, sse=sse, sse_kms_key_id=key_id)
    assert seen_staged == [{"ServerSideEncryption": sse, "SSEKMSKeyId": key_id}] * 3
    for key in keys(s3, DESTINATION):
        head = s3.head_object(Bucket=BUCKET, Key=key)
        assert head["ServerSideEncryption"] == sse
        if key_id:
            assert head["SSEKMSKeyId"] == key_id


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        pytest.param({"prefix": "/"}, ValueError, "bucket root", id="root-prefix"),
        pytest.param({"staging_prefix": f"{DESTINATION}tmp/"}, ValueError, "overlap", id="staging-inside"),
        pytest.param({"sse": "DES"}, ValueError, "sse must be one of", id="bad-sse"),
        pytest.param({"sse_kms_key_id": "k"}, ValueError, "needs sse", id="key-without-kms"),
        pytest.param({"pattern": "*.parquet"}, StagingError, "no files matching", id="no-files"),
    ],
)
def test_bad_settings_fail_before_any_upload(s3, export_dir: Path, kwargs, error, message) -> None:
    arguments = {"local_dir": export_dir, "bucket": BUCKET, "prefix": DESTINATION, **kwargs}
    with pytest.raises(error, match=message):
        stage_folder(s3, **arguments)
    assert keys(s3, "") == []


def test_sse_extra_args() -> None:
    assert sse_extra_args(None) == {}
    assert sse_extra_args("aws:kms", "alias/pulla") == {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "alias/pulla"}


def test_a_tree_keeps_its_folders_and_loses_what_the_run_did_not_write(s3, tmp_path: Path) -> None:
    """A run archive (pattern ``**/*``): files keep their subfolders; a rerun's tree replaces the old one whole."""
    archive = tmp_path / "archive"
    (archive / "rejects").mkdir(parents=True)
    (archive / "report.json").write_text('{"passed": true}')
    (archive / "rejects" / "members.csv").write_text("member_id,rule\n7,too_young\n")
    s3.put_object(Bucket=BUCKET, Key=DESTINATION + "rejects/old.csv", Body=b"an earlier run's")
    s3.put_object(Bucket=BUCKET, Key=DESTINATION + "summary.json", Body=b"{}")
    staged = stage_folder(s3, local_dir=archive, bucket=BUCKET, prefix=DESTINATION, pattern="**/*")
    assert keys(s3, DESTINATION) == [DESTINATION + "rejects/members.csv", DESTINATION + "report.json"]
    assert sorted(staged.removed_stale_keys) == [DESTINATION + "rejects/old.csv", DESTINATION + "summary.json"]
    body = s3.get_object(Bucket=BUCKET, Key=DESTINATION + "rejects/members.csv")["Body"].read()
    assert body == (archive / "rejects" / "members.csv").read_bytes()
    assert keys(s3, "_staging/") == []


def test_a_tree_upload_that_fails_publishes_nothing(s3, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    (archive / "rejects").mkdir(parents=True)
    (archive / "report.json").write_text("{}")
    (archive / "rejects" / "members.csv").write_text("member_id\n7\n")
    s3.put_object(Bucket=BUCKET, Key=DESTINATION + "report.json", Body=b"an earlier run's")
    fail_on_call(s3, "before-call.s3.PutObject", 2)
    with pytest.raises(StagingError, match=r"uploading report\.json"):
        stage_folder(s3, local_dir=archive, bucket=BUCKET, prefix=DESTINATION, pattern="**/*")
    assert keys(s3, DESTINATION) == [DESTINATION + "report.json"]
    assert s3.get_object(Bucket=BUCKET, Key=DESTINATION + "report.json")["Body"].read() == b"an earlier run's"
