"""The gate's business measures (pulla_airflow.evaluation): one sample for both versions, one job per version,
each version measured from its own job's output, and the final decision saying which rule decided."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from pulla_airflow import xcom_contract as keys
from pulla_airflow.evaluation import decide_deployment, measure_business_metrics, plan_evaluation
from pulla_personalize.business_rules import BusinessRule
from pulla_personalize.pipeline_config import PipelineConfig

from .test_crm_picks import END, VERSION, FakePersonalize, archive_run, event

CHALLENGER = VERSION.rsplit("/", 1)[0] + "/99887766"
RULES = {"size_fit_at_25": BusinessRule(at_least=0.85, max_drop=0.02)}


@pytest.fixture
def archive(s3: Any, config: PipelineConfig) -> None:
    archive_run(
        s3,
        config,
        label="20261101-20261201",
        start=datetime(2026, 10, 31, 15, tzinfo=UTC),
        end=END,
        interactions=[
            event("m1", "p1", 2, "purchase"),
            event("m2", "p1", 3),
            event("m4", "p2", 1),
        ],
    )


def test_both_versions_get_a_job_on_the_same_sample(s3: Any, config: PipelineConfig, archive: None) -> None:
    plan = plan_evaluation(
        hook=FakePersonalize(), s3_client=s3, config=config, solution_version_arn=CHALLENGER, campaign_arn="c"
    )
    jobs = plan[keys.EVALUATION_JOBS]
    assert [job["solution_version_arn"] for job in jobs] == [CHALLENGER, VERSION]
    assert {job["job_input_s3_path"] for job in jobs} == {plan[keys.JOB_INPUT]}
    assert [job["job_name"].rsplit("-", 2)[1] for job in jobs] == ["99887766", "1a2b3c4d"]
    assert all(job["num_results"] == 25 and len(job["job_name"]) <= 63 for job in jobs)
    body = s3.get_object(Bucket=config.s3.bucket, Key=plan[keys.JOB_INPUT].split("/", 3)[3])["Body"].read()
    # The model alone: no filterValues, every member with an interaction in the last 30 days.
    assert body.decode().splitlines() == ['{"userId": "m1"}', '{"userId": "m2"}', '{"userId": "m4"}']
    assert plan[keys.LIVE_SOLUTION_VERSION_ARN] == VERSION
    again = plan_evaluation(
        hook=FakePersonalize(), s3_client=s3, config=config, solution_version_arn=CHALLENGER, campaign_arn="c"
    )
    assert again[keys.EVALUATION_JOBS] == jobs  # a rerun adopts the same jobs


def test_without_a_live_version_only_the_challenger_is_measured(s3: Any, config: PipelineConfig, archive: None) -> None:
    plan = plan_evaluation(
        hook=FakePersonalize(campaign_status=None),
        s3_client=s3,
        config=config,
        solution_version_arn=CHALLENGER,
        campaign_arn=None,
    )
    assert [job["solution_version_arn"] for job in plan[keys.EVALUATION_JOBS]] == [CHALLENGER]
    assert plan["roles"] == {"challenger": CHALLENGER}


def _job_output(s3: Any, config: PipelineConfig, job: dict[str, Any], items_by_member: dict[str, list[str]]) -> dict:
    key = job["job_output_s3_path"].split("/", 3)[3] + "members.json.out"
    lines = [
        {
            "input": {"userId": member},
            "output": {"recommendedItems": items, "scores": [0.5] * len(items)},
            "error": None,
        }
        for member, items in items_by_member.items()
    ]
    body = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)
    s3.put_object(Bucket=config.s3.bucket, Key=key, Body=body.encode())
    return {"job_name": job["job_name"], "status": "ACTIVE", "job_output_s3_path": job["job_output_s3_path"]}


def test_each_version_is_measured_from_its_own_output(s3: Any, config: PipelineConfig, archive: None) -> None:
    plan = plan_evaluation(
        hook=FakePersonalize(), s3_client=s3, config=config, solution_version_arn=CHALLENGER, campaign_arn="c"
    )
    challenger_job, champion_job = plan[keys.EVALUATION_JOBS]
    # Sizes (test_crm_picks.archive_run): m1 B/75, m2 C/80, m4 A/65; p1 comes in B|C, p2 in A|B; no band lists.
    results = [
        _job_output(s3, config, champion_job, {"m1": ["p1"], "m2": ["p1"], "m4": ["p2"]}),
        _job_output(s3, config, challenger_job, {"m1": ["p2"], "m2": ["p2"], "m4": ["p1"]}),
    ]
    measured = measure_business_metrics(s3_client=s3, config=config, plan=plan, job_results=results)
    assert measured["champion"]["size_fit_at_25"] == 1.0
    assert measured["champion"]["already_bought_share"] == pytest.approx(1 / 3, abs=1e-6)  # m1 bought p1
    assert measured["challenger"]["size_fit_at_25"] == pytest.approx(1 / 3, abs=1e-6)  # only m1 fits p2
    assert measured["challenger"]["already_bought_share"] == 0.0
    assert measured["challenger"]["new_item_share"] == pytest.approx(2 / 3, abs=1e-6)  # p2 is 5 days old
    assert (measured["challenger_arn"], measured["champion_arn"]) == (CHALLENGER, VERSION)


PASSED = {"deploy": True, "reason": "deploy: ndcg ok", "solution_version_arn": "new", "live_metrics": {"x": 1}}
MISSED = {**PASSED, "deploy": False, "reason": "keep the live version: ndcg too low"}


def business(new_fit: float, live_fit: float | None) -> dict[str, Any]:
    return {
        "challenger": {"size_fit_at_25": new_fit},
        "champion": None if live_fit is None else {"size_fit_at_25": live_fit},
    }


@pytest.mark.parametrize(
    ("decision", "measured", "deploy", "decided_by", "reason_has"),
    [
        (PASSED, business(0.95, 0.94), True, "personalize metrics and business rules", "0.9500 >= 0.85"),
        (PASSED, business(0.90, 0.95), False, "business rules", "0.0500 below the live version's 0.9500"),
        (PASSED, business(0.80, None), False, "business rules", "0.8000 < 0.85"),
        (MISSED, business(0.95, 0.94), False, "personalize metrics", "ndcg too low"),
        (MISSED, business(0.50, 0.94), False, "personalize metrics and business rules", "0.5000 < 0.85"),
    ],
)
def test_both_rules_must_pass_and_the_decision_says_which_decided(
    decision: dict, measured: dict, deploy: bool, decided_by: str, reason_has: str
) -> None:
    final = decide_deployment(decision, measured, RULES, force_deploy=False)
    assert (final["deploy"], final["decided_by"]) == (deploy, decided_by)
    assert reason_has in final["reason"]
    assert final["business_metrics"] == measured["challenger"]


def test_a_first_version_with_poor_size_fit_is_not_deployed_and_says_nothing_is_live() -> None:
    first = {"deploy": True, "reason": "nothing is live yet", "solution_version_arn": "new", "live_metrics": None}
    final = decide_deployment(first, business(0.6, None), RULES, force_deploy=False)
    assert final["deploy"] is False
    assert final["reason"].startswith("deploy nothing yet: ")
    assert final["live_business_metrics"] is None


def test_force_deploy_deploys_and_keeps_what_the_rules_said() -> None:
    final = decide_deployment(MISSED, business(0.5, 0.94), RULES, force_deploy=True)
    assert (final["deploy"], final["decided_by"]) == (True, "force_deploy")
    assert "0.5000 < 0.85" in final["reason"]


def test_the_live_version_is_never_redeployed() -> None:
    same = {**PASSED, "deploy": False, "live_solution_version_arn": "new", "reason": "new is already the live version"}
    final = decide_deployment(same, business(0.95, 0.95), RULES, force_deploy=True)
    assert (final["deploy"], final["decided_by"]) == (False, "already live")


def test_without_business_rules_personalize_metrics_decide() -> None:
    final = decide_deployment(PASSED, business(0.1, 0.9), {}, force_deploy=False)
    assert (final["deploy"], final["decided_by"]) == (True, "personalize metrics")
    assert "no business rule configured" in final["reason"]


@pytest.mark.parametrize(
    ("force", "rules", "reason"), [(True, RULES, "force_deploy is on"), (False, {}, "no business rule")]
)
def test_no_evaluation_jobs_when_nothing_would_read_them(
    s3: Any, config: PipelineConfig, force: bool, rules: dict, reason: str
) -> None:
    """A forced rollback needs no export and waits for no batch job; without rules nothing is measured."""
    import dataclasses

    configured = dataclasses.replace(config, business_rules=rules)
    plan = plan_evaluation(
        hook=FakePersonalize(),
        s3_client=s3,
        config=configured,
        solution_version_arn=CHALLENGER,
        campaign_arn="c",
        force_deploy=force,
    )
    assert (plan[keys.EVALUATION_JOBS], plan["skipped"]) == ([], reason)
    measured = measure_business_metrics(s3_client=s3, config=configured, plan=plan, job_results=[])
    assert (measured["challenger"], measured["skipped"]) == (None, reason)
    final = decide_deployment(PASSED, measured, rules, force_deploy=force)
    assert final["deploy"] is True


def test_an_output_of_errors_only_measures_nothing_and_fails_the_rule(
    s3: Any, config: PipelineConfig, archive: None
) -> None:
    plan = plan_evaluation(
        hook=FakePersonalize(campaign_status=None),
        s3_client=s3,
        config=config,
        solution_version_arn=CHALLENGER,
        campaign_arn=None,
    )
    (job,) = plan[keys.EVALUATION_JOBS]
    key = job["job_output_s3_path"].split("/", 3)[3] + "members.json.out"
    line = {"input": {"userId": "m1"}, "output": None, "error": "User not found"}
    s3.put_object(Bucket=config.s3.bucket, Key=key, Body=(json.dumps(line) + "\n").encode())
    result = {"job_name": job["job_name"], "status": "ACTIVE", "job_output_s3_path": job["job_output_s3_path"]}
    measured = measure_business_metrics(s3_client=s3, config=config, plan=plan, job_results=[result])
    assert measured["challenger"]["size_fit_at_25"] is None
    first = {"deploy": True, "reason": "nothing is live yet", "solution_version_arn": "new", "live_metrics": None}
    final = decide_deployment(first, measured, RULES, force_deploy=False)
    assert (final["deploy"], final["decided_by"]) == (False, "business rules")
    assert "no size_fit_at_25 measured" in final["reason"]
