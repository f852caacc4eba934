"""The summaries that end each task's log: what they say for real-shaped task results (the dicts the tasks return),
including a failed validation gate stated once in words, and the gate's metrics, decision and reason."""

from __future__ import annotations

from typing import Any

from personalize_provider.gate import decide_deployment
from pulla_airflow.failures import ValidationGateFailed
from pulla_airflow.run_archive import validation_outcome
from pulla_airflow.summaries import (
    count,
    describe_campaign_deployment,
    describe_expectation,
    describe_export,
    describe_gate,
    describe_import_plan,
    describe_kept,
    describe_metrics_record,
    describe_publish,
    describe_retrain_plan,
    describe_run_summary,
    describe_training,
    gate_failure_message,
    metric_label,
)

RUN_URI = "s3://pulla-personalize/personalize/runs/window=20261127/"
WINDOW = {
    "start": "2026-11-26T15:00:00+00:00",
    "end": "2026-11-27T15:00:00+00:00",
    "label": "20261127",
    "full_reload": False,
    "import_modes": {"interactions": "INCREMENTAL", "users": "FULL", "items": "FULL"},
}
SOURCES = {
    "web_logs": {
        "source_rows": 105448,
        "exported": 33588,
        "excluded": {"bot_session": 1667, "not_an_interaction": 44173},
        "quarantined": {"missing_id": 105, "unknown_product": 214},
    },
    "members": {"source_rows": 1000, "exported": 955, "excluded": {"test_account": 45}, "quarantined": {}},
}
TOO_FEW_USERS = {
    "dataset": "interactions_per_user",
    "expectation": "expect_enough_users_with_min_interactions",
    "column": "INTERACTIONS",
    "blocking": True,
    "success": False,
    "observed": 3,
    "element_count": 0,
    "unexpected_count": 0,
    "examples": [],
    "details": "",
    "expected": "at least 25 users with at least 2 interactions each",
}
BAD_EVENT = {
    "dataset": "interactions",
    "expectation": "expect_column_values_to_be_in_set",
    "column": "EVENT_TYPE",
    "blocking": True,
    "success": False,
    "observed": None,
    "element_count": 1200,
    "unexpected_count": 4,
    "examples": ["refund", "refund", "wish", "x"],
    "details": "",
    "expected": "value_set=['purchase', 'click', 'cart', 'wishlist']",
}
MISSING_ITEMS = {**BAD_EVENT, "expectation": "expect_column_pair_values_to_be_equal", "column": "ITEM_ID"}
MISSING_ITEMS.update(blocking=False, unexpected_count=2, examples=[["99", None]], expected="every ITEM_ID in Items")
PASSED_CHECK = {**TOO_FEW_USERS, "success": True}


def export_summary(expectations: list[dict[str, Any]], passed: bool) -> dict[str, Any]:
    """What export_to_run_archive returns (or puts in ValidationGateFailed), built from a report's validation."""
    validation = {"passed": passed, "evaluated": 63, "expectations": expectations}
    return {
        "window": WINDOW,
        "run_uri": RUN_URI,
        "report_uri": RUN_URI + "report.json",
        "passed": passed,
        "datasets": {"interactions": 34086, "users": 955, "items": 300},
        "fingerprints": {},
        "sources": SOURCES,
        "validation": validation_outcome(validation),
    }


def test_numbers_and_metric_names_read_well() -> None:
    assert count(34086) == "34,086"
    assert count(True) == "True"
    assert metric_label("normalized_discounted_cumulative_gain_at_25") == "NDCG@25"
    assert metric_label("precision_at_10") == "precision@10"
    assert metric_label("mean_reciprocal_rank_at_25") == "MRR@25"
    assert metric_label("coverage") == "coverage"


def test_validation_outcome_keeps_only_what_failed() -> None:
    outcome = validation_outcome(
        {"passed": False, "evaluated": 63, "expectations": [PASSED_CHECK, TOO_FEW_USERS, MISSING_ITEMS]}
    )
    assert outcome == {"passed": False, "evaluated": 63, "failures": [TOO_FEW_USERS], "warnings": [MISSING_ITEMS]}


def test_an_expectation_in_words() -> None:
    assert describe_expectation(BAD_EVENT) == (
        "expect_column_values_to_be_in_set on interactions.EVENT_TYPE: expected value_set=['purchase', 'click', "
        "'cart', 'wishlist']; 4 of 1,200 rows unexpected; e.g. 'refund', 'refund', 'wish'"
    )
    assert describe_expectation(TOO_FEW_USERS) == (
        "expect_enough_users_with_min_interactions on interactions_per_user.INTERACTIONS: "
        "expected at least 25 users with at least 2 interactions each; observed 3"
    )


def test_passing_export() -> None:
    lines = describe_export(export_summary([PASSED_CHECK, MISSING_ITEMS], passed=True))
    assert lines[0] == (
        "Exported window 20261127 (2026-11-26T15:00:00+00:00 .. 2026-11-27T15:00:00+00:00), "
        "imports interactions INCREMENTAL, users FULL, items FULL"
    )
    assert lines[1] == "Rows: interactions 34,086, users 955, items 300"
    assert lines[2] == (
        "  web_logs: 105,448 rows -> 33,588 exported; excluded 45,840 (bot_session 1,667, not_an_interaction "
        "44,173); quarantined 319 (missing_id 105, unknown_product 214)"
    )
    assert lines[3] == "  members: 1,000 rows -> 955 exported; excluded 45 (test_account 45); quarantined 0"
    assert lines[4] == "Validation passed: 63 expectations checked, 1 warning(s)"
    assert lines[5].startswith("  warning: expect_column_pair_values_to_be_equal on interactions.ITEM_ID: ")
    assert lines[-1] == f"Run archive: {RUN_URI} (CSVs, report.json, rejects/, data_docs/index.html)"
    assert not any("FAILED" in line for line in lines)


def test_failed_gate_is_stated_once_with_a_short_reason() -> None:
    summary = export_summary([PASSED_CHECK, TOO_FEW_USERS, BAD_EVENT], passed=False)
    failure = ValidationGateFailed(summary)

    assert failure.lines == describe_export(summary)
    assert "Validation FAILED: 2 of 63 expectations failed and block the import" in failure.lines
    failed = [line for line in failure.lines if line.startswith("  failed:  ")]
    assert failed == [
        "  failed:  " + describe_expectation(TOO_FEW_USERS),
        "  failed:  " + describe_expectation(BAD_EVENT),
    ]
    assert "Nothing was published for import and no Personalize call was made." in failure.lines
    assert failure.lines[-1] == f"Run archive: {RUN_URI} (report.json, rejects/, data_docs/index.html; no CSVs)"

    message = str(failure)
    assert message == gate_failure_message(summary)
    assert message.startswith(
        "The validation gate failed for window 20261127: expect_enough_users_with_min_interactions on "
        "interactions_per_user.INTERACTIONS; expect_column_values_to_be_in_set on interactions.EVENT_TYPE. "
    )
    assert message.endswith(f"Report: {RUN_URI}report.json")
    # The short reason names the checks; the observed and expected values are said once, in the log lines.
    assert "at least 25 users" not in message
    assert "\n" not in message


def test_gate_failure_message_counts_the_rest() -> None:
    summary = export_summary([TOO_FEW_USERS, BAD_EVENT, {**BAD_EVENT, "column": "DEVICE"}], passed=False)
    assert "; 1 more. Nothing was published" in gate_failure_message(summary)


def test_import_plan_publish_and_run_summary() -> None:
    plan = {
        "label": "20261127",
        "role_arn": "arn:aws:iam::123456789012:role/PullaPersonalizeS3Access",
        "interactions_dataset_arn": "arn:aws:personalize:ap-northeast-2:123456789012:dataset/pulla/INTERACTIONS",
        "interactions_import_mode": "INCREMENTAL",
        "interactions_job_name": "pulla-interactions-20261127-incremental-aaaaaaaa",
    }
    assert describe_import_plan(plan) == [
        "Found the Personalize datasets for window 20261127; the imports will be:",
        "  interactions: INCREMENTAL into arn:aws:personalize:ap-northeast-2:123456789012:dataset/pulla/INTERACTIONS "
        "as job pulla-interactions-20261127-incremental-aaaaaaaa",
        "Personalize reads S3 as arn:aws:iam::123456789012:role/PullaPersonalizeS3Access",
    ]

    location = "s3://pulla-personalize/personalize/import/users/window=20261127/"
    assert describe_publish("users", location, export_summary([], passed=True)) == [
        f"Published users.csv (955 rows) for import at {location}",
        f"  copied from the run archive: {RUN_URI}users.csv",
    ]

    jobs = {"interactions": "arn:job/i", "users": "arn:job/u", "items": "arn:job/t"}
    summary = {
        "window": WINDOW,
        "datasets": {"interactions": 34086, "users": 955, "items": 300},
        "validation_passed": True,
        "import_jobs": jobs,
        "run_uri": RUN_URI,
        "summary_uri": RUN_URI + "summary.json",
    }
    lines = describe_run_summary(summary)
    assert lines[0].endswith(": validation passed")
    assert lines[1:4] == [
        "  interactions: 34,086 rows, import job arn:job/i",
        "  users: 955 rows, import job arn:job/u",
        "  items: 300 rows, import job arn:job/t",
    ]
    assert lines[4] == f"Summary: {RUN_URI}summary.json (run archive {RUN_URI})"


NEW = "arn:aws:personalize:ap-northeast-2:123456789012:solution/pulla-up/new"
LIVE = "arn:aws:personalize:ap-northeast-2:123456789012:solution/pulla-up/live"
CAMPAIGN = "arn:aws:personalize:ap-northeast-2:123456789012:campaign/pulla-campaign"
RATIOS = {"normalized_discounted_cumulative_gain_at_25": 0.98, "precision_at_25": 0.98}


def gate_result(new: dict[str, float], live: dict[str, float] | None) -> dict[str, Any]:
    """What evaluate_gate returns: the provider's decision plus the ARNs the operator adds."""
    result = decide_deployment(new, live, RATIOS).as_dict()
    result.update(solution_version_arn=NEW, live_solution_version_arn=LIVE if live else None, campaign_arn=CAMPAIGN)
    return result


def test_retrain_plan() -> None:
    values = {
        "solution_arn": "arn:aws:personalize:ap-northeast-2:123456789012:solution/pulla-up",
        "campaign_arn": None,
        "campaign_name": "pulla-campaign",
        "training_mode": "FULL",
        "force_deploy": True,
        "min_ratios": RATIOS,
    }
    assert describe_retrain_plan(values) == [
        "Training a FULL version of solution arn:aws:personalize:ap-northeast-2:123456789012:solution/pulla-up",
        "No campaign yet: the first version creates campaign pulla-campaign",
        "Gate: deploy when NDCG@25 >= 98% and precision@25 >= 98% of the live version's",
        "force_deploy is on: the new version is deployed whatever the gate says",
    ]
    assert describe_retrain_plan({**values, "campaign_arn": CAMPAIGN, "force_deploy": False})[1] == (
        f"Live campaign: {CAMPAIGN} (updated only if the gate passes)"
    )
    assert describe_training(NEW, "UPDATE") == [f"Solution version {NEW} finished training (UPDATE) and is ACTIVE"]


def test_gate_that_keeps_the_live_version() -> None:
    new = {
        "normalized_discounted_cumulative_gain_at_25": 0.30,
        "precision_at_25": 0.08,
        "normalized_discounted_cumulative_gain_at_5": 0.4,
        "coverage": 0.5,
    }
    live = {"normalized_discounted_cumulative_gain_at_25": 0.30, "precision_at_25": 0.10, "coverage": 0.4}
    decision = gate_result(new, live)
    lines = describe_gate(decision)
    assert lines == [
        f"Metrics of {NEW} vs the live version {LIVE}:",
        "  NDCG@25: new 0.3000, live 0.3000 = 100.0% of live (needs 98%: ok)",
        "  precision@25: new 0.0800, live 0.1000 = 80.0% of live (needs 98%: too low)",
        "  not gated (new/live): coverage 0.5000/0.4000, NDCG@5 0.4000/n/a",
        "Personalize's metrics say: KEEP the live version (decide_deployment also applies the business rules)",
        f"Reason: {decision['reason']}",
    ]
    assert decision["reason"].startswith("keep the live version: precision_at_25 0.0800 < 98% of live")
    assert describe_kept(decision) == [
        f"Keeping the live version: not deployed; campaign {CAMPAIGN} keeps serving {LIVE}",
        f"Reason: {decision['reason']}",
    ]


def test_gate_with_nothing_live_and_a_missing_metric() -> None:
    new = {
        "normalized_discounted_cumulative_gain_at_25": 0.31,
        "normalized_discounted_cumulative_gain_at_10": 0.2,
        "normalized_discounted_cumulative_gain_at_5": 0.1,
        "mean_reciprocal_rank_at_25": 0.17,
    }
    lines = describe_gate(gate_result(new, None))
    assert lines == [
        f"Metrics of {NEW} (nothing is live to compare with):",
        "  NDCG@25: new 0.3100",
        "  precision@25: new n/a",
        "  not gated: MRR@25 0.1700, NDCG@5 0.1000, NDCG@10 0.2000",
        "Personalize's metrics say: DEPLOY the new version (decide_deployment also applies the business rules)",
        "Reason: nothing is live yet: deploy the first version",
    ]
    missing_live = describe_gate(gate_result({"precision_at_25": 0.1}, {"precision_at_25": 0.1}))
    assert "  NDCG@25: new n/a, live n/a (needs 98%: cannot compare)" in missing_live


def test_the_final_gate_shows_both_versions_business_measures_and_which_rule_decided() -> None:
    from pulla_airflow.evaluation import decide_deployment
    from pulla_personalize.business_rules import BusinessRule

    metrics = {"normalized_discounted_cumulative_gain_at_25": 0.3, "precision_at_25": 0.1}
    decision = gate_result(metrics, metrics)
    measured = {
        "challenger": {
            "size_fit_at_25": 0.87,
            "catalogue_coverage": 0.5,
            "new_item_share": 0.2,
            "already_bought_share": 0.01,
        },
        "champion": {
            "size_fit_at_25": 0.93,
            "catalogue_coverage": 0.4,
            "new_item_share": 0.1,
            "already_bought_share": 0.02,
        },
    }
    rules = {"size_fit_at_25": BusinessRule(at_least=0.85, max_drop=0.02)}
    final = decide_deployment(decision, measured, rules, force_deploy=False)
    lines = describe_gate(final)
    assert lines[-9:] == [
        "Business metrics (evaluation sample, no filter) new/live:",
        "  size_fit_at_25         0.8700 / 0.9300",
        "  catalogue_coverage     0.5000 / 0.4000",
        "  new_item_share         0.2000 / 0.1000",
        "  already_bought_share   0.0100 / 0.0200",
        "  rule: size_fit_at_25 0.8700 >= 0.85",
        "  rule: size_fit_at_25 0.8700 is 0.0600 below the live version's 0.9300 (at most 0.02 allowed)",
        "Decision: KEEP the live version (decided by business rules)",
        f"Reason: {final['reason']}",
    ]
    assert describe_kept(final)[0].endswith("(decided by business rules)")


def test_deployment_and_metrics_record() -> None:
    assert describe_campaign_deployment(CAMPAIGN, NEW, created=True) == [
        f"Deployed: campaign {CAMPAIGN} created, serving {NEW}"
    ]
    assert describe_campaign_deployment(CAMPAIGN, NEW, created=False) == [
        f"Deployed: campaign {CAMPAIGN} now serves {NEW}"
    ]
    record = {
        "history_uri": "s3://pulla-personalize/personalize/metrics/history.jsonl",
        "chart_uri": "s3://pulla-personalize/personalize/metrics/history.png",
        "chart_url": "https://signed",
        "versions_recorded": 3,
        "deployed": False,
        "reason": "keep the live version: precision_at_25 too low",
    }
    assert describe_metrics_record(record, NEW) == [
        f"Recorded {NEW} (not deployed) in the metric history: 3 versions so far",
        "Reason: keep the live version: precision_at_25 too low",
        "History: s3://pulla-personalize/personalize/metrics/history.jsonl; "
        "chart: s3://pulla-personalize/personalize/metrics/history.png (task link 'Metrics history chart')",
    ]
