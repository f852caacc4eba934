"""The weekly CRM picks' glue (pulla_airflow.crm_picks) and the export archive it reads (export_archive), on moto S3
with a stand-in for the Personalize lookups: who gets picks, the job's name and input, and the published files."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from pulla_airflow import xcom_contract as keys
from pulla_airflow.crm_picks import NothingLive, plan_picks, publish_picks, week_label
from pulla_airflow.export_archive import NoExportYet, archived_runs
from pulla_personalize.pipeline_config import PipelineConfig

from .conftest import list_keys

GROUP = "arn:aws:personalize:ap-northeast-2:000000000000:dataset-group/pulla"
SOLUTION = "arn:aws:personalize:ap-northeast-2:000000000000:solution/pulla-user-personalization"
VERSION = SOLUTION + "/1a2b3c4d"
CAMPAIGN = "arn:aws:personalize:ap-northeast-2:000000000000:campaign/pulla-campaign"
FILTER = "arn:aws:personalize:ap-northeast-2:000000000000:filter/pulla-in-my-size"
# 1 Dec 2026 00:00 in Seoul.
END = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
DAY = 86_400


class FakePersonalize:
    """The hook lookups the picks plan makes, answering from a dict of what exists."""

    def __init__(self, *, campaign_status: str | None = "ACTIVE") -> None:
        self.campaign_status = campaign_status

    def find_dataset_group(self, *, name: str) -> dict[str, Any]:
        return {"datasetGroupArn": GROUP}

    def find_dataset(self, *, dataset_group_arn: str, name: str) -> dict[str, Any]:
        return {"datasetArn": f"{GROUP}/{name}"}

    def find_solution(self, *, dataset_group_arn: str, name: str) -> dict[str, Any]:
        return {"solutionArn": SOLUTION}

    def find_campaign(self, *, solution_arn: str, name: str) -> dict[str, Any] | None:
        return None if self.campaign_status is None else {"campaignArn": CAMPAIGN}

    def describe_campaign(self, *, campaign_arn: str) -> dict[str, Any]:
        return {"campaignArn": campaign_arn, "status": self.campaign_status, "solutionVersionArn": VERSION}

    def find_filter(self, *, dataset_group_arn: str, name: str) -> dict[str, Any] | None:
        return {"filterArn": FILTER} if name == "pulla-in-my-size" else None


def _csv(rows: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


def archive_run(
    s3: Any, config: PipelineConfig, *, label: str, start: datetime, end: datetime, interactions: list[dict], **extra
) -> None:
    """A daily run's archive as the daily DAG leaves it: the CSVs, then summary.json last."""
    prefix = config.s3.key("runs", f"window={label}") + "/"
    users = extra.get("users") or [
        {"USER_ID": "m1", "AGE": "30", "CUP_SIZE": "B", "BAND_SIZE": "75"},
        {"USER_ID": "m2", "AGE": "41", "CUP_SIZE": "C", "BAND_SIZE": "80"},
        {"USER_ID": "m3", "AGE": "", "CUP_SIZE": "", "BAND_SIZE": "70"},
        {"USER_ID": "m4", "AGE": "25", "CUP_SIZE": "A", "BAND_SIZE": "65"},
    ]
    items = [
        {
            "ITEM_ID": "p1",
            "CREATION_TIMESTAMP": str(int(end.timestamp()) - 100 * DAY),
            "CUP_SIZE": "B|C",
            "BAND_SIZE": "",
        },
        {
            "ITEM_ID": "p2",
            "CREATION_TIMESTAMP": str(int(end.timestamp()) - 5 * DAY),
            "CUP_SIZE": "A|B",
            "BAND_SIZE": "",
        },
    ]
    s3.put_object(Bucket=config.s3.bucket, Key=prefix + "users.csv", Body=_csv(users))
    s3.put_object(Bucket=config.s3.bucket, Key=prefix + "items.csv", Body=_csv(items))
    s3.put_object(Bucket=config.s3.bucket, Key=prefix + "interactions.csv", Body=_csv(interactions))
    if extra.get("passed", True) is not None:
        summary = {
            "window": {"start": start.isoformat(), "end": end.isoformat(), "label": label},
            "validation_passed": extra.get("passed", True),
        }
        s3.put_object(Bucket=config.s3.bucket, Key=prefix + "summary.json", Body=json.dumps(summary).encode())


def event(user: str, item: str, days_before_end: float, kind: str = "click") -> dict[str, str]:
    return {
        "USER_ID": user,
        "ITEM_ID": item,
        "EVENT_TYPE": kind,
        "TIMESTAMP": str(int(END.timestamp() - days_before_end * DAY)),
    }


@pytest.fixture
def archives(s3: Any, config: PipelineConfig) -> None:
    # A 60-day full reload up to 30 Nov, then the daily run of 30 Nov (which overlaps it), a failed run and a run
    # still going (no summary.json): only the first two count.
    archive_run(
        s3,
        config,
        label="20261001-20261130",
        start=datetime(2026, 9, 30, 15, tzinfo=UTC),
        end=datetime(2026, 11, 29, 15, tzinfo=UTC),
        interactions=[event("m1", "p1", 40), event("m2", "p1", 20), event("m5", "p2", 3)],
    )
    archive_run(
        s3,
        config,
        label="20261130",
        start=datetime(2026, 11, 29, 15, tzinfo=UTC),
        end=END,
        interactions=[event("m3", "p2", 0.5), event("m4", "p2", 0.2, "purchase")],
    )
    archive_run(
        s3,
        config,
        label="20261201",
        start=END,
        end=datetime(2026, 12, 1, 15, tzinfo=UTC),
        interactions=[event("m1", "p2", -0.5)],
        passed=False,
    )
    archive_run(
        s3,
        config,
        label="20261202",
        start=datetime(2026, 12, 1, 15, tzinfo=UTC),
        end=datetime(2026, 12, 2, 15, tzinfo=UTC),
        interactions=[event("m1", "p2", -1.5)],
        passed=None,
    )


def test_only_runs_that_passed_and_finished_are_exports(s3: Any, config: PipelineConfig, archives: None) -> None:
    assert [run.label for run in archived_runs(s3, config)] == ["20261001-20261130", "20261130"]


def test_week_labels_are_iso_weeks_in_the_configured_zone() -> None:
    # Sunday 6 Dec 23:30 UTC is Monday 7 Dec in Seoul: week 50, not 49.
    assert week_label(datetime(2026, 12, 6, 23, 30, tzinfo=UTC), "Asia/Seoul") == "2026-W50"
    assert week_label(datetime(2026, 12, 6, 23, 30, tzinfo=UTC), "UTC") == "2026-W49"
    assert week_label(datetime(2027, 1, 1, 3, 0, tzinfo=UTC), "Asia/Seoul") == "2026-W53"


def test_the_plan_takes_the_members_active_in_the_window_with_their_sizes(
    s3: Any, config: PipelineConfig, archives: None
) -> None:
    plan = plan_picks(hook=FakePersonalize(), s3_client=s3, config=config, run_after=END)
    # active_days 30 up to 1 Dec: m2 (20 days), m3, m4 (the daily run), m5 (3 days; not in users: withdrawn);
    # m1's click 40 days ago is too old.
    assert plan["members"] == 2
    assert (plan["left_out"], plan["departed_left_out"]) == (1, 1)
    assert plan[keys.SOLUTION_VERSION_ARN] == VERSION
    assert plan[keys.FILTER_ARN] == FILTER
    assert plan[keys.NUM_RESULTS] == 25
    assert plan[keys.WEEK] == "2026-W49"
    assert plan[keys.JOB_NAME].startswith("pulla-picks-2026-W49-1a2b3c4d-")
    assert len(plan[keys.JOB_NAME]) <= 63
    body = s3.get_object(Bucket=config.s3.bucket, Key=plan[keys.JOB_INPUT].split("/", 3)[3])["Body"].read()
    assert body.decode().splitlines() == [
        '{"userId": "m2", "filterValues": {"CUP_SIZE": "\\"C\\"", "BAND_SIZE": "\\"80\\""}}',
        '{"userId": "m4", "filterValues": {"CUP_SIZE": "\\"A\\"", "BAND_SIZE": "\\"65\\""}}',
    ]
    left_out = json.loads(
        s3.get_object(Bucket=config.s3.bucket, Key=plan["left_out_uri"].split("/", 3)[3])["Body"].read()
    )
    # m5 is not in the export's Users (withdrew): counted, never named in the marketing team's files.
    assert [row["member_id"] for row in left_out] == ["m3"]
    assert "CUP_SIZE" in left_out[0]["reason"]
    assert plan[keys.JOB_OUTPUT].endswith(f"/crm/output/picks/week=2026-W49/{plan[keys.JOB_NAME]}/")


def test_the_same_data_names_the_same_job_and_new_data_a_new_one(
    s3: Any, config: PipelineConfig, archives: None
) -> None:
    first = plan_picks(hook=FakePersonalize(), s3_client=s3, config=config, run_after=END)
    again = plan_picks(hook=FakePersonalize(), s3_client=s3, config=config, run_after=END)
    assert again[keys.JOB_NAME] == first[keys.JOB_NAME]
    archive_run(
        s3,
        config,
        label="20261201",
        start=END,
        end=datetime(2026, 12, 1, 15, tzinfo=UTC),
        interactions=[event("m1", "p2", -0.5)],
    )
    later = plan_picks(hook=FakePersonalize(), s3_client=s3, config=config, run_after=END)
    assert later[keys.JOB_NAME] != first[keys.JOB_NAME]
    assert later["members"] == 3  # m1 is back


def test_nothing_live_says_run_the_retrain(s3: Any, config: PipelineConfig, archives: None) -> None:
    for hook in (FakePersonalize(campaign_status=None), FakePersonalize(campaign_status="CREATE IN_PROGRESS")):
        with pytest.raises(NothingLive, match="run pulla_personalize_retrain first"):
            plan_picks(hook=hook, s3_client=s3, config=config, run_after=END)


def test_no_export_says_run_the_daily_dag(s3: Any, config: PipelineConfig) -> None:
    with pytest.raises(NoExportYet, match="run pulla_personalize_daily first"):
        plan_picks(hook=FakePersonalize(), s3_client=s3, config=config, run_after=END)
    assert list_keys(s3, config.s3.bucket, config.s3.key("crm")) == []


def _write_output(s3: Any, config: PipelineConfig, plan: dict[str, Any], lines: list[dict[str, Any]]) -> dict:
    """What the batch inference job leaves: <input name>.out under its output path, and the operator's result."""
    output_key = plan[keys.JOB_OUTPUT].split("/", 3)[3] + "members.json.out"
    body = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)
    s3.put_object(Bucket=config.s3.bucket, Key=output_key, Body=body.encode())
    return {"job_name": plan[keys.JOB_NAME], "status": "ACTIVE", "job_output_s3_path": plan[keys.JOB_OUTPUT]}


def test_publish_writes_picks_and_every_member_without_them(s3: Any, config: PipelineConfig, archives: None) -> None:
    plan = plan_picks(hook=FakePersonalize(), s3_client=s3, config=config, run_after=END)
    job = _write_output(
        s3,
        config,
        plan,
        [
            {
                "input": {"userId": "m2"},
                "output": {"recommendedItems": ["p1", "p2"], "scores": [0.6, 0.4]},
                "error": None,
            },
            {"input": {"userId": "m4"}, "output": None, "error": "Filter values are invalid"},
        ],
    )
    result = publish_picks(s3_client=s3, config=config, plan=plan, job=job)
    week = config.s3.key("crm", "picks", "week=2026-W49") + "/"
    latest = config.s3.key("crm", "picks", "latest") + "/"
    assert list_keys(s3, config.s3.bucket, config.s3.key("crm", "picks")) == sorted(
        prefix + name for prefix in (week, latest) for name in ("picks.csv", "summary.json", "unserved.csv")
    )

    def read(key: str) -> str:
        return s3.get_object(Bucket=config.s3.bucket, Key=key)["Body"].read().decode()

    assert read(week + "picks.csv") == "member_id,rank,item_id,score\nm2,1,p1,0.6\nm2,2,p2,0.4\n"
    unserved = read(week + "unserved.csv").splitlines()
    assert unserved[0] == "member_id,reason"
    assert [line.split(",")[0] for line in unserved[1:]] == ["m3", "m4"]
    assert "Filter values are invalid" in unserved[2]
    assert read(latest + "picks.csv") == read(week + "picks.csv")
    assert result["members_with_picks"] == 1
    assert (result["unserved"], result["departed_members_left_out"]) == (2, 1)
    assert result["picks_uri"] == f"s3://{config.s3.bucket}/{week}picks.csv"


def test_a_malformed_output_line_names_the_file_and_line_and_publishes_nothing(
    s3: Any, config: PipelineConfig, archives: None
) -> None:
    from pulla_airflow.failures import PermanentFailure

    plan = plan_picks(hook=FakePersonalize(), s3_client=s3, config=config, run_after=END)
    job = _write_output(s3, config, plan, [{"input": {"userId": "m2"}, "output": {"recommendedItems": ["p1"]}}])
    output_key = plan[keys.JOB_OUTPUT].split("/", 3)[3] + "members.json.out"
    s3.put_object(Bucket=config.s3.bucket, Key=output_key, Body=b'{"input": {"userId": "m2"}, "outp\n')
    with pytest.raises(PermanentFailure, match=r"members\.json\.out: line 1: not JSON.*no picks were published"):
        publish_picks(s3_client=s3, config=config, plan=plan, job=job)
    assert list_keys(s3, config.s3.bucket, config.s3.key("crm", "picks")) == []


def test_a_member_the_filter_left_nothing_for_is_listed_not_dropped(
    s3: Any, config: PipelineConfig, archives: None
) -> None:
    plan = plan_picks(hook=FakePersonalize(), s3_client=s3, config=config, run_after=END)
    job = _write_output(
        s3,
        config,
        plan,
        [
            {"input": {"userId": "m2"}, "output": {"recommendedItems": ["p1"], "scores": [0.9]}, "error": None},
            {"input": {"userId": "m4"}, "output": {"recommendedItems": [], "scores": []}, "error": None},
        ],
    )
    result = publish_picks(s3_client=s3, config=config, plan=plan, job=job)
    unserved = s3.get_object(Bucket=config.s3.bucket, Key=result["unserved_uri"].split("/", 3)[3])["Body"].read()
    assert "m4,the service returned no item for her: nothing passed the job's filter" in unserved.decode()
    assert (result["members_with_picks"], result["unserved"]) == (1, 2)


def test_a_member_without_an_output_line_is_listed_and_latest_only_moves_forward(
    s3: Any, config: PipelineConfig, archives: None
) -> None:
    plan = plan_picks(hook=FakePersonalize(), s3_client=s3, config=config, run_after=END)
    assert plan[keys.JOB_CONFIG] == {
        "itemExplorationConfig": {"explorationWeight": "0.3", "explorationItemAgeCutOff": "30"}
    }
    # The output holds m2 only: m4 was sent but has no line (a cut file).
    job = _write_output(
        s3,
        config,
        plan,
        [{"input": {"userId": "m2"}, "output": {"recommendedItems": ["p1"], "scores": [0.9]}, "error": None}],
    )
    result = publish_picks(s3_client=s3, config=config, plan=plan, job=job)
    unserved = s3.get_object(Bucket=config.s3.bucket, Key=result["unserved_uri"].split("/", 3)[3])["Body"].read()
    assert "m4,no line for her in the job's output s3://" in unserved.decode()
    assert result["latest_updated"] is True

    # Clearing an old week's run republishes that week, and leaves latest/ with the newer week.
    old = plan_picks(hook=FakePersonalize(), s3_client=s3, config=config, run_after=datetime(2026, 11, 20, tzinfo=UTC))
    job = _write_output(
        s3,
        config,
        old,
        [{"input": {"userId": "m2"}, "output": {"recommendedItems": ["p2"], "scores": [0.5]}, "error": None}],
    )
    again = publish_picks(s3_client=s3, config=config, plan=old, job=job)
    assert (again["week"], again["latest_updated"]) == ("2026-W47", False)
    latest = json.loads(
        s3.get_object(Bucket=config.s3.bucket, Key=config.s3.key("crm", "picks", "latest", "summary.json"))[
            "Body"
        ].read()
    )
    assert latest["week"] == "2026-W49"
