"""The pipeline's decisions (pulla_personalize.windows): daily windows and their labels, import modes, import
job names, the incremental-correction refusal, and what the gate's decision does to the campaign."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from pulla_personalize.pipeline_config import PipelineConfig
from pulla_personalize.windows import (
    ImportJobName,
    deployment_action,
    file_fingerprint,
    import_modes,
    plan_window,
    refuse_incremental_correction,
    window_label,
)

SEOUL = "Asia/Seoul"
KST = ZoneInfo(SEOUL)


def test_scheduled_run_exports_the_previous_local_day() -> None:
    # 03:00 in Seoul on 28 Nov is 18:00 UTC on 27 Nov: the window is 27 Nov 00:00-24:00 Seoul time.
    window = plan_window(datetime(2026, 11, 27, 18, 0, tzinfo=UTC), {}, SEOUL)
    assert window == {
        "start": "2026-11-26T15:00:00+00:00",
        "end": "2026-11-27T15:00:00+00:00",
        "label": "20261127",
        "full_reload": False,
        "import_modes": {"interactions": "INCREMENTAL", "users": "FULL", "items": "FULL"},
    }


def test_scheduled_run_across_a_month_boundary() -> None:
    # 1 Dec 03:00 Seoul exports 30 Nov; a run that starts late (10:00 Seoul) still exports the same day.
    on_time = plan_window(datetime(2026, 11, 30, 18, 0, tzinfo=UTC), {}, SEOUL)
    late = plan_window(datetime(2026, 12, 1, 1, 0, tzinfo=UTC), {}, SEOUL)
    assert on_time == late
    assert (on_time["start"], on_time["end"], on_time["label"]) == (
        "2026-11-29T15:00:00+00:00",
        "2026-11-30T15:00:00+00:00",
        "20261130",
    )


def test_scheduled_run_across_new_year() -> None:
    window = plan_window(datetime(2026, 12, 31, 18, 0, tzinfo=UTC), {}, SEOUL)
    assert window["label"] == "20261231"
    assert window["end"] == "2026-12-31T15:00:00+00:00"


def test_seoul_days_are_always_24_hours() -> None:
    # Korea has no daylight saving time: every scheduled window of a year is exactly one day long.
    run_after = datetime(2026, 1, 1, 18, 0, tzinfo=UTC)
    for day in range(365):
        window = plan_window(run_after + timedelta(days=day), {}, SEOUL)
        start, end = datetime.fromisoformat(window["start"]), datetime.fromisoformat(window["end"])
        assert end - start == timedelta(days=1)
        assert start.astimezone(KST).hour == 0


def test_manual_dates_are_local_days() -> None:
    params = {"window_start": "2026-11-01", "window_end": "2026-11-28", "full_reload": True}
    window = plan_window(datetime(2026, 11, 28, tzinfo=UTC), params, SEOUL)
    assert window["start"] == "2026-10-31T15:00:00+00:00"
    assert window["end"] == "2026-11-27T15:00:00+00:00"
    assert window["label"] == "20261101-20261128"


def test_manual_date_times_naive_local_and_with_offset() -> None:
    params = {"window_start": " 2026-11-27T03:00 ", "window_end": "2026-11-27T00:00:00Z", "full_reload": True}
    window = plan_window(datetime(2026, 11, 28, tzinfo=UTC), params, SEOUL)
    # Naive 03:00 is Seoul (18:00 UTC the day before); 00:00Z is 09:00 Seoul.
    assert window["start"] == "2026-11-26T18:00:00+00:00"
    assert window["end"] == "2026-11-27T00:00:00+00:00"
    assert window["label"] == "20261127T0300-20261127T0900"


def test_manual_window_ignores_run_after() -> None:
    params = {"window_start": "2026-11-20", "window_end": "2026-11-21"}
    first = plan_window(datetime(2026, 11, 28, tzinfo=UTC), params, SEOUL)
    later = plan_window(datetime(2027, 3, 1, tzinfo=UTC), params, SEOUL)
    assert first == later
    assert first["label"] == "20261120"


@pytest.mark.parametrize(
    "params",
    [
        {"window_start": "2026-11-20"},
        {"window_end": "2026-11-21"},
        {"window_start": "2026-11-20", "window_end": None},
        {"window_start": "", "window_end": "2026-11-21"},
    ],
)
def test_only_one_bound_is_an_error(params: dict) -> None:
    with pytest.raises(ValueError, match="give both window_start and window_end, or neither"):
        plan_window(datetime(2026, 11, 28, tzinfo=UTC), params, SEOUL)


@pytest.mark.parametrize(
    ("start", "end"),
    [("2026-11-21", "2026-11-20"), ("2026-11-21", "2026-11-21"), ("2026-11-21T09:00", "2026-11-21T00:00:00Z")],
)
def test_start_not_before_end_is_an_error(start: str, end: str) -> None:
    with pytest.raises(ValueError, match="is not before window_end"):
        plan_window(datetime(2026, 11, 28, tzinfo=UTC), {"window_start": start, "window_end": end}, SEOUL)


def test_unparseable_bound_names_the_param() -> None:
    with pytest.raises(ValueError, match=r"param window_end='yesterday' is not an ISO 8601"):
        plan_window(
            datetime(2026, 11, 28, tzinfo=UTC), {"window_start": "2026-11-20", "window_end": "yesterday"}, SEOUL
        )


@pytest.mark.parametrize("end", ["2026-11-27T09:00:30", "2026-11-27T09:00:00.5"])
def test_bounds_with_seconds_are_refused(end: str) -> None:
    # A label has minute resolution; a window a few seconds off would reuse another window's label and jobs.
    params = {"window_start": "2026-11-27T03:00:00", "window_end": end}
    with pytest.raises(ValueError, match=r"param window_end='.*' must be a whole minute"):
        plan_window(datetime(2026, 11, 28, tzinfo=UTC), params, SEOUL)


def test_manual_one_day_as_date_times_is_an_incremental_day() -> None:
    params = {"window_start": "2026-11-20T00:00", "window_end": "2026-11-20T15:00:00Z"}
    window = plan_window(datetime(2026, 11, 28, tzinfo=UTC), params, SEOUL)
    assert window["label"] == "20261120"
    assert window["import_modes"]["interactions"] == "INCREMENTAL"


@pytest.mark.parametrize(
    "params",
    [
        {"window_start": "2026-11-01", "window_end": "2026-11-28"},  # many days would append days again
        {"window_start": "2026-11-27T03:00", "window_end": "2026-11-27T09:00"},  # part of a day
        {"window_start": "2026-11-27T03:00", "window_end": "2026-11-28T03:00"},  # 24 h across two days
    ],
)
def test_an_incremental_window_must_be_exactly_one_local_day(params: dict) -> None:
    with pytest.raises(ValueError, match="exactly one local day"):
        plan_window(datetime(2026, 11, 28, tzinfo=UTC), params, SEOUL)


def test_full_reload_needs_an_explicit_window() -> None:
    with pytest.raises(ValueError, match="whole history"):
        plan_window(datetime(2026, 11, 27, 18, 0, tzinfo=UTC), {"full_reload": True}, SEOUL)


FULL_HISTORY = {"window_start": "2026-01-01", "window_end": "2026-11-28", "full_reload": True}


def test_full_reload_imports_everything_in_full() -> None:
    window = plan_window(datetime(2026, 11, 27, 18, 0, tzinfo=UTC), FULL_HISTORY, SEOUL)
    assert window["full_reload"] is True
    assert window["import_modes"] == {"interactions": "FULL", "users": "FULL", "items": "FULL"}
    assert import_modes(False) == {"interactions": "INCREMENTAL", "users": "FULL", "items": "FULL"}


@pytest.mark.parametrize(
    ("start", "end", "label"),
    [
        (datetime(2026, 11, 27, tzinfo=KST), datetime(2026, 11, 28, tzinfo=KST), "20261127"),
        (datetime(2026, 11, 1, tzinfo=KST), datetime(2026, 11, 28, tzinfo=KST), "20261101-20261128"),
        (datetime(2026, 11, 27, tzinfo=KST), datetime(2026, 11, 29, tzinfo=KST), "20261127-20261129"),
        (
            datetime(2026, 11, 27, 3, tzinfo=KST),
            datetime(2026, 11, 27, 9, 30, tzinfo=KST),
            "20261127T0300-20261127T0930",
        ),
        (datetime(2026, 11, 27, tzinfo=KST), datetime(2026, 11, 28, 1, tzinfo=KST), "20261127T0000-20261128T0100"),
        # The same instants given in UTC get the Seoul label.
        (datetime(2026, 11, 26, 15, tzinfo=UTC), datetime(2026, 11, 27, 15, tzinfo=UTC), "20261127"),
        (
            datetime(2026, 11, 27, 0, tzinfo=timezone(timedelta(hours=-5))),
            datetime(2026, 11, 27, 5, tzinfo=timezone(timedelta(hours=-5))),
            "20261127T1400-20261127T1900",
        ),
    ],
)
def test_window_label(start: datetime, end: datetime, label: str) -> None:
    assert window_label(start, end, KST) == label


def test_window_label_of_a_whole_day_in_a_zone_with_daylight_saving() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # 25 Oct 2026 has 25 hours in Berlin; it is still one local day.
    assert window_label(datetime(2026, 10, 25, tzinfo=berlin), datetime(2026, 10, 26, tzinfo=berlin), berlin) == (
        "20261025"
    )


def test_import_job_name_is_stable_and_bounded() -> None:
    job = ImportJobName("pulla-interactions", "20261127", "INCREMENTAL", "1a2b3c4d")
    assert str(job) == "pulla-interactions-20261127-incremental-1a2b3c4d"
    assert job.window_prefix == "pulla-interactions-20261127-incremental-"
    longest_label = "20261002-20261101"
    assert len(str(ImportJobName("pulla-interactions", longest_label, "INCREMENTAL", "1a2b3c4d"))) <= 63
    exactly_63 = "d" * (63 - len("-20261127-full-1a2b3c4d"))
    assert len(str(ImportJobName(exactly_63, "20261127", "FULL", "1a2b3c4d"))) == 63
    with pytest.raises(ValueError, match="longer than Personalize's 63 characters"):
        str(ImportJobName(exactly_63 + "d", "20261127", "FULL", "1a2b3c4d"))


def test_every_configured_dataset_fits_the_longest_label(config: PipelineConfig) -> None:
    # Incremental windows are one day ("20261127"); only a full reload can take a partial-day window.
    for name in config.personalize.datasets.values():
        assert len(str(ImportJobName(name, "20261127", "INCREMENTAL", "1a2b3c4d"))) <= 63
        assert len(str(ImportJobName(name, "20261127T0300-20261128T0930", "FULL", "1a2b3c4d"))) <= 63


def test_file_fingerprint_follows_the_bytes(tmp_path) -> None:
    first, same, other = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    first.write_bytes(b"USER_ID,ITEM_ID\n1,2\n")
    same.write_bytes(b"USER_ID,ITEM_ID\n1,2\n")
    other.write_bytes(b"USER_ID,ITEM_ID\n1,3\n")
    assert file_fingerprint(first) == file_fingerprint(same)
    assert file_fingerprint(first) != file_fingerprint(other)
    assert len(file_fingerprint(first)) == 8


DAY_JOB = ImportJobName("pulla-interactions", "20261127", "INCREMENTAL", "1a2b3c4d")
DAY_JOB_NAME = str(DAY_JOB)


@pytest.mark.parametrize(
    "existing",
    [
        [],
        [{"jobName": DAY_JOB_NAME, "status": "ACTIVE"}],  # the same data: the rerun adopts it
        [{"jobName": DAY_JOB_NAME + "-r2", "status": "ACTIVE"}],  # a retry of the same data
        [{"jobName": "pulla-interactions-20261127-incremental-99999999", "status": "CREATE FAILED"}],  # never landed
        [{"jobName": "pulla-interactions-20261126-incremental-99999999", "status": "ACTIVE"}],  # another day
        [{"jobName": "pulla-interactions-20261127-full-99999999", "status": "ACTIVE"}],  # a full reload
    ],
)
def test_an_incremental_import_may_go_ahead(existing: list) -> None:
    refuse_incremental_correction(existing, DAY_JOB)


@pytest.mark.parametrize("status", ["ACTIVE", "CREATE IN_PROGRESS"])
def test_a_corrected_day_cannot_be_imported_incrementally(status: str) -> None:
    existing = [{"jobName": "pulla-interactions-20261127-incremental-99999999", "status": status}]
    with pytest.raises(ValueError, match="full_reload"):
        refuse_incremental_correction(existing, DAY_JOB)


@pytest.mark.parametrize(
    ("decision", "campaign_arn", "action"),
    [
        ({"deploy": True}, "arn:campaign/pulla", "update"),
        ({"deploy": True}, None, "create"),
        ({"deploy": False}, "arn:campaign/pulla", "keep"),
        ({"deploy": False}, None, "keep"),
        ({}, None, "keep"),
    ],
)
def test_deployment_action(decision: dict, campaign_arn: str | None, action: str) -> None:
    assert deployment_action(decision, campaign_arn) == action
