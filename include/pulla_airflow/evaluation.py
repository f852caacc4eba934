"""The retrain gate's business measures: the new version (challenger) and the live one (champion) recommend for the
same sample of members with batch inference, and the shop's measures of both decide with Personalize's metrics.

``plan_evaluation`` writes the sample (``pulla_personalize.crm.evaluation_sample``: the same members for both
versions, the same members next week unless they stopped shopping), drawn from the members active in the last
``crm.picks.active_days`` days (those the CRM picks go to), and one batch job per version, named after the version
and the sample, so a champion measured on this sample before is not measured again. ``measure_business_metrics``
reads the jobs' output and measures each version (``pulla_personalize.business_metrics``). ``decide_deployment``
joins that with the Personalize-metric decision and says which rule decided.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulla_airflow import xcom_contract as keys
from pulla_airflow.batch_jobs import (
    content_fingerprint,
    job_name,
    live_solution_version,
    output_file_uri,
    read_job_output,
    version_id,
)
from pulla_airflow.crm_picks import INPUT_FILE, exploration_job_config
from pulla_airflow.export_archive import read_archived_csv, recent_interactions
from pulla_airflow.failures import PermanentFailure
from pulla_airflow.s3_documents import s3_uri, sse_args
from pulla_personalize.pipeline_config import PipelineConfig

#: The measures look at each member's top 25 (size_fit_at_25).
EVALUATION_NUM_RESULTS = 25
CHALLENGER = "challenger"
CHAMPION = "champion"


def plan_evaluation(
    *,
    hook: Any,
    s3_client: Any,
    config: PipelineConfig,
    solution_version_arn: str,
    campaign_arn: str | None,
    force_deploy: bool = False,
) -> dict[str, Any]:
    """Writes the evaluation sample and returns one batch job per version to measure (``EVALUATION_JOBS``).

    No jobs when nothing would read the measures: no business rule is configured, or the run forces the deployment
    (a rollback must not wait hours for batch jobs, nor fail because no export is archived).
    """
    from pulla_personalize.crm import evaluation_input, evaluation_sample

    live = live_solution_version(hook, campaign_arn, config.personalize.campaign.name)
    skipped = "force_deploy is on" if force_deploy else None if config.business_rules else "no business rule"
    if skipped:
        return {
            keys.EVALUATION_JOBS: [],
            keys.JOB_INPUT: None,
            keys.LIVE_SOLUTION_VERSION_ARN: live,
            "roles": {},
            "members": 0,
            "export": None,
            "skipped": skipped,
        }
    interactions, latest = recent_interactions(s3_client, config, days=config.crm.picks.active_days)
    if interactions.empty:
        raise PermanentFailure(
            f"no interactions in the {config.crm.picks.active_days} days up to {latest.end.isoformat()} "
            f"(export {latest.label}): no member to measure the new version on"
        )
    sample = evaluation_sample(interactions, config.evaluation_sample_size)
    body = evaluation_input(sample).body()
    fingerprint = content_fingerprint(body)
    input_key = config.s3.key("crm", "input", "evaluation", f"sample-{fingerprint}", INPUT_FILE)
    s3_client.put_object(
        Bucket=config.s3.bucket, Key=input_key, Body=body, ContentType="application/jsonl", **sse_args(config)
    )
    input_uri = s3_uri(config.s3.bucket, input_key)
    versions = {CHALLENGER: solution_version_arn}
    if live is not None and live != solution_version_arn:
        versions[CHAMPION] = live
    jobs = []
    for version in versions.values():
        name = job_name("pulla-eval", version_id(version), fingerprint)
        jobs.append(
            {
                "job_name": name,
                "solution_version_arn": version,
                "job_input_s3_path": input_uri,
                "job_output_s3_path": config.s3.uri("crm", "output", "evaluation", name),
                "role_arn": config.personalize.role_arn,
                "num_results": EVALUATION_NUM_RESULTS,
                # Measured as served: with the campaign's exploration of new items.
                "batch_inference_job_config": exploration_job_config(config),
            }
        )
    return {
        keys.EVALUATION_JOBS: jobs,
        keys.JOB_INPUT: input_uri,
        keys.LIVE_SOLUTION_VERSION_ARN: live,
        "roles": dict(versions),
        "members": len(sample),
        "export": latest.label,
    }


def measure_business_metrics(
    *, s3_client: Any, config: PipelineConfig, plan: Mapping[str, Any], job_results: list[Mapping[str, Any]]
) -> dict[str, Any]:
    """Each measured version's business metrics, from its job's output: ``{challenger: {...}, champion: {...} or
    None, challenger_arn, champion_arn, members}``."""
    from pulla_personalize.business_metrics import business_metrics
    from pulla_personalize.business_rules import BUSINESS_METRICS
    from pulla_personalize.crm import read_inference_output

    if plan.get("skipped"):
        return {CHALLENGER: None, CHAMPION: None, "members": 0, "export": None, "skipped": plan["skipped"]}
    interactions, latest = recent_interactions(s3_client, config, days=config.retention.interactions_days)
    users = read_archived_csv(s3_client, config, latest, "users")
    items = read_archived_csv(s3_client, config, latest, "items")
    outputs = {result["job_output_s3_path"].rstrip("/"): result for result in job_results}
    measured: dict[str, Any] = {CHALLENGER: None, CHAMPION: None}
    for role, version in plan["roles"].items():
        job = next(job for job in plan[keys.EVALUATION_JOBS] if job["solution_version_arn"] == version)
        result = outputs.get(job["job_output_s3_path"].rstrip("/"))
        if result is None:
            raise PermanentFailure(f"no batch inference job result for {role} {version} ({job['job_name']})")
        uri = output_file_uri(result["job_output_s3_path"], plan[keys.JOB_INPUT])
        output = read_inference_output(read_job_output(s3_client, uri, result), source=uri)
        recommendations = {member: [item for item, _ in ranked] for member, ranked in output.recommendations.items()}
        if any(recommendations.values()):
            metrics = business_metrics(
                recommendations,
                users=users,
                items=items,
                interactions=interactions,
                as_of_epoch=int(latest.end.timestamp()),
                k=EVALUATION_NUM_RESULTS,
            )
        else:  # every line an error or empty: nothing measured, so every business rule fails ("no ... measured")
            metrics = dict.fromkeys(BUSINESS_METRICS) | {"members_measured": 0, "members_with_size": 0}
        metrics["members_unserved"] = len(output.unserved)
        measured[role] = metrics
    return {
        **measured,
        "challenger_arn": plan["roles"][CHALLENGER],
        "champion_arn": plan["roles"].get(CHAMPION),
        "members": plan["members"],
        "export": latest.label,
    }


def decide_deployment(
    decision: Mapping[str, Any], business: Mapping[str, Any], rules: Mapping[str, Any], *, force_deploy: bool
) -> dict[str, Any]:
    """The gate's final decision: Personalize's metrics (``decision``, the evaluate operator's) and the business
    rules must both pass. Adds ``business_metrics``, ``live_business_metrics``, ``business_checks`` and
    ``decided_by`` (which rule decided) to the decision."""
    from pulla_personalize.business_rules import check_business_rules

    final = dict(decision)
    live_measured = business.get(CHAMPION) if decision.get("live_metrics") is not None else None
    verdict = check_business_rules(business.get(CHALLENGER) or {}, live_measured, rules)
    final.update(
        business_metrics=business.get(CHALLENGER),
        live_business_metrics=live_measured,
        business_checks=verdict.as_dict(),
    )
    personalize_reason = str(decision.get("reason", ""))
    solution_version = decision.get("solution_version_arn")
    if solution_version and solution_version == decision.get("live_solution_version_arn"):
        final.update(deploy=False, decided_by="already live")
        return final
    business_text = (
        "business rules: " + "; ".join(verdict.checks if verdict.passed else verdict.failures)
        if rules
        else "no business rule configured"
    )
    if force_deploy:
        final.update(
            deploy=True,
            decided_by="force_deploy",
            reason=f"{personalize_reason}; {business_text}",
        )
        return final
    personalize_passed = bool(decision.get("deploy"))
    if personalize_passed and verdict.passed:
        decided_by = "personalize metrics and business rules" if rules else "personalize metrics"
        final.update(deploy=True, decided_by=decided_by, reason=f"{personalize_reason}; {business_text}")
    elif personalize_passed:
        outcome = "keep the live version" if decision.get("live_metrics") is not None else "deploy nothing yet"
        final.update(
            deploy=False,
            decided_by="business rules",
            reason=f"{outcome}: {business_text} (Personalize's metrics passed: {personalize_reason})",
        )
    elif verdict.passed:
        final.update(deploy=False, decided_by="personalize metrics", reason=f"{personalize_reason}; {business_text}")
    else:
        final.update(
            deploy=False,
            decided_by="personalize metrics and business rules",
            reason=f"{personalize_reason}; {business_text}",
        )
    return final
