"""export_to_run_archive on a small seeded SQLite Pulla database, with moto's S3: a passing window archives its
CSVs and report; a window that fails the gate archives only the report and publishes nothing for import."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from pulla_airflow.failures import ValidationGateFailed
from pulla_airflow.run_archive import export_to_run_archive, publish_dataset, run_prefix
from pulla_dev.demo_shop.seed import seed_demo_database
from pulla_personalize.pipeline_config import PipelineConfig
from pulla_personalize.windows import plan_window

from .conftest import list_keys

END_DATE = date(2026, 11, 28)
# Seven days at scale 0.2 give about 1,300 interactions from about 190 users: enough for the gate's 1,000
# interactions and 25 users with 2+ each (a many-day window is a full reload). A day after the data has none.
PASSING = {"window_start": "2026-11-21", "window_end": "2026-11-28", "full_reload": True}
FAILING = {"window_start": "2026-12-01", "window_end": "2026-12-02"}


@pytest.fixture(scope="module")
def pulla_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('pulla-db') / 'pulla.db'}"
    seed_demo_database(url, end_date=END_DATE, scale=0.2, seed=11, days=7)
    return url


def window(params: dict[str, str], config: PipelineConfig) -> dict[str, Any]:
    return plan_window(datetime(2026, 11, 28, tzinfo=UTC), params, config.time_zone)


def test_passing_window_is_archived_with_counts(pulla_db: str, s3: Any, config: PipelineConfig, tmp_path: Path) -> None:
    planned = window(PASSING, config)
    prefix = run_prefix(config, planned["label"])
    s3.put_object(Bucket=config.s3.bucket, Key=prefix + "part-from-an-old-layout.csv", Body=b"stale")

    summary = export_to_run_archive(db_url=pulla_db, window=planned, config=config, s3_client=s3, work_dir=tmp_path)

    assert summary["passed"] is True
    assert summary["validation"]["passed"] is True
    assert summary["validation"]["failures"] == []
    assert summary["validation"]["evaluated"] > 0
    assert summary["window"] == planned
    assert summary["run_uri"] == f"s3://pulla-personalize/{prefix}"
    assert summary["report_uri"] == f"s3://pulla-personalize/{prefix}report.json"
    counts = summary["datasets"]
    assert counts["interactions"] >= 1000
    assert counts["users"] >= 25
    assert counts["items"] > 0
    keys = list_keys(s3, config.s3.bucket, prefix)
    for name in ("interactions.csv", "users.csv", "items.csv", "report.json"):
        assert prefix + name in keys
    assert any(key.startswith(prefix + "rejects/") for key in keys)
    assert prefix + "part-from-an-old-layout.csv" not in keys  # the archive holds exactly this run's files
    # Nothing is published for import by the export itself.
    assert list_keys(s3, config.s3.bucket, "personalize/import/") == []
    # The archived CSV has one line per interaction (plus the header) and the report agrees with the summary.
    csv = s3.get_object(Bucket=config.s3.bucket, Key=prefix + "interactions.csv")["Body"].read().decode()
    assert len(csv.splitlines()) == counts["interactions"] + 1
    report = json.loads(s3.get_object(Bucket=config.s3.bucket, Key=prefix + "report.json")["Body"].read())
    assert report["published"] is True
    assert {name: info["rows"] for name, info in report["datasets"].items()} == counts
    assert summary["sources"] == report["sources"]
    head = s3.head_object(Bucket=config.s3.bucket, Key=prefix + "users.csv")
    assert head["ServerSideEncryption"] == "AES256"
    # The temporary export folder is gone.
    assert list(tmp_path.iterdir()) == []

    # The archived CSV is what publish_dataset puts at the import partition.
    uri = publish_dataset(s3_client=s3, config=config, label=planned["label"], dataset_type="interactions")
    assert uri == f"s3://pulla-personalize/personalize/import/interactions/window={planned['label']}/"


def test_failing_window_archives_report_only(pulla_db: str, s3: Any, config: PipelineConfig, tmp_path: Path) -> None:
    planned = window(FAILING, config)
    prefix = run_prefix(config, planned["label"])
    # An earlier run of the same window left CSVs in the archive: they must not stand next to a failed report.
    s3.put_object(Bucket=config.s3.bucket, Key=prefix + "interactions.csv", Body=b"earlier")

    with pytest.raises(ValidationGateFailed) as raised:
        export_to_run_archive(db_url=pulla_db, window=planned, config=config, s3_client=s3, work_dir=tmp_path)

    # A short reason for the exception (and the failure notification) ...
    message = str(raised.value)
    assert message.startswith(f"The validation gate failed for window {planned['label']}: ")
    assert "expect_enough_users_with_min_interactions on interactions_per_user.INTERACTIONS" in message
    assert "Nothing was published for import and no Personalize call was made" in message
    assert message.endswith(f"Report: s3://pulla-personalize/{prefix}report.json")
    assert "at least 25 users" not in message
    # ... and the full account, once, for the log: observed vs expected per failed expectation.
    lines = raised.value.lines
    assert lines[1].startswith("Rows: interactions 0, users ")
    failed = [line for line in lines if line.startswith("  failed:  ")]
    assert any(
        line.startswith("  failed:  expect_enough_users_with_min_interactions on interactions_per_user.INTERACTIONS: ")
        and "expected at least 25 users with at least 2 interactions" in line
        and line.endswith("observed 0")
        for line in failed
    ), failed
    assert (
        lines[-1]
        == f"Run archive: s3://pulla-personalize/{prefix} (report.json, rejects/, data_docs/index.html; no CSVs)"
    )
    assert raised.value.summary["validation"]["passed"] is False
    keys = list_keys(s3, config.s3.bucket, prefix)
    assert prefix + "report.json" in keys
    assert [key for key in keys if key.endswith(".csv") and "/rejects/" not in key] == []
    assert list_keys(s3, config.s3.bucket, "personalize/import/") == []
    report = json.loads(s3.get_object(Bucket=config.s3.bucket, Key=prefix + "report.json")["Body"].read())
    assert report["published"] is False
    failed = [item["expectation"] for item in report["validation"]["expectations"] if not item["success"]]
    assert "expect_enough_users_with_min_interactions" in failed


def test_unreachable_database_writes_nothing(s3: Any, config: PipelineConfig, tmp_path: Path) -> None:
    from pulla_personalize.extract import SourceUnavailable

    missing = tmp_path / "no-such-folder" / "pulla.db"
    with pytest.raises(SourceUnavailable, match=r"no SQLite database at .*no-such-folder/pulla.db"):
        export_to_run_archive(
            db_url=f"sqlite:///{missing}",
            window=window(PASSING, config),
            config=config,
            s3_client=s3,
            work_dir=tmp_path,
        )
    assert list_keys(s3, config.s3.bucket) == []
