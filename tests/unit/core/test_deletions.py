"""The rules of the daily deletion (pulla_personalize.deletions): who is deleted, once, and what a failed job
leaves for the next run."""

from __future__ import annotations

import pytest

from pulla_personalize.deletions import (
    COMPLETED,
    FAILED,
    DeletionManifest,
    ManifestError,
    PendingDeletion,
    departed_members,
    fingerprint,
    plan_deletion,
    settle,
    start,
    users_file,
)

DEPARTED = {"7": "withdrawn", "12": "test", "101": "withdrawn"}


def plan(manifest: DeletionManifest, *, full_reload: bool = False, label: str = "20261127", **kwargs):
    return plan_deletion(DEPARTED, manifest, full_reload=full_reload, label=label, dataset_group="pulla", **kwargs)


def test_the_first_run_deletes_every_departed_member_in_numeric_order() -> None:
    first = plan(DeletionManifest())
    assert first.users == ("7", "12", "101")
    assert first.reasons == {"withdrawn": 2, "test": 1}
    assert first.job_name == f"pulla-deletion-20261127-{fingerprint(['7', '12', '101'])}"
    assert first.as_dict() == {
        "users": 3,
        "reasons": {"withdrawn": 2, "test": 1},
        "retried": 0,
        "job_name": first.job_name,
    }
    assert users_file(first.users) == b"USER_ID\n7\n12\n101\n"


def test_a_member_is_deleted_once_a_rerun_or_a_later_day_plans_no_second_job() -> None:
    manifest = settle(
        start(DeletionManifest(), plan(DeletionManifest()), "20261127"), plan(DeletionManifest()).job_name, COMPLETED
    )
    assert manifest.pending is None
    assert set(manifest.deleted) == {"7", "12", "101"}
    assert plan(manifest).users == ()
    assert plan(manifest).job_name is None
    assert plan(manifest, label="20261128").job_name is None


def test_only_the_newly_departed_are_deleted_the_next_day() -> None:
    manifest = DeletionManifest({"7": "job-a", "12": "job-a"})
    later = plan(manifest, label="20261128")
    assert later.users == ("101",)
    assert later.reasons == {"withdrawn": 1}


def test_a_full_reload_deletes_every_departed_member_again_and_its_rerun_gets_the_same_job() -> None:
    manifest = DeletionManifest(dict.fromkeys(DEPARTED, "job-a"))
    reload = plan(manifest, full_reload=True, label="20260101-20261128")
    assert reload.users == ("7", "12", "101")
    assert plan(manifest, full_reload=True, label="20260101-20261128").job_name == reload.job_name


def test_a_failed_job_leaves_its_members_for_the_next_run_which_says_they_are_retried() -> None:
    first = plan(DeletionManifest())
    in_flight = start(DeletionManifest(), first, "20261127")
    assert in_flight.pending == PendingDeletion(first.job_name, "20261127", ("7", "12", "101"))
    assert settle(in_flight, first.job_name, "IN_PROGRESS") == in_flight  # not settled yet
    after_failure = settle(in_flight, first.job_name, FAILED)
    assert after_failure == DeletionManifest()
    retry = plan(after_failure, label="20261128", failed_users=in_flight.pending.users)
    assert retry.users == ("7", "12", "101")
    assert retry.retried == ("7", "12", "101")
    assert retry.job_name != first.job_name  # a new window: a new name (the failed job's name stays taken)


def test_settling_another_job_changes_nothing() -> None:
    in_flight = start(DeletionManifest(), plan(DeletionManifest()), "20261127")
    assert settle(in_flight, "pulla-deletion-other", COMPLETED) == in_flight


def test_the_manifest_round_trips_and_refuses_what_it_did_not_write() -> None:
    manifest = start(
        DeletionManifest({"3": "job-a", "20": "job-a", "100": "job-b"}), plan(DeletionManifest()), "20261127"
    )
    document = manifest.to_document()
    assert list(document["deleted"]) == ["3", "20", "100"]
    assert DeletionManifest.from_document(document, "s3://b/m.json") == manifest
    for bad, key in (
        ({"version": 2}, "not a deletion manifest"),
        ({"version": 1, "deleted": {"7": 1}}, "deleted: must map"),
        ({"version": 1, "deleted": {}, "pending": {"job_name": "j", "users": "7"}}, "pending: must hold"),
    ):
        with pytest.raises(ManifestError, match=f"^s3://b/m.json: {key}"):
            DeletionManifest.from_document(bad, "s3://b/m.json")


def test_departed_rows_become_user_ids_and_an_unknown_reason_is_named() -> None:
    assert departed_members([(7, "withdrawn"), (None, "test"), (" 12", "test")]) == {"7": "withdrawn", "12": "test"}
    with pytest.raises(ValueError, match="member 9: reason 'banned' is not one of"):
        departed_members([(9, "banned")])


def test_a_deletion_job_name_fits_personalize() -> None:
    with pytest.raises(ValueError, match="longer than Personalize's 63"):
        plan_deletion(DEPARTED, DeletionManifest(), full_reload=False, label="20261127", dataset_group="p" * 40)
