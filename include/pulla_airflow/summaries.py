"""What a Pulla task says at the end of its log: a few lines a person reads, instead of the returned dict.

Each ``describe_*`` takes the plain values a task returns or receives (dicts and strings, as they travel in XCom)
and returns lines of text. Nothing here imports Airflow, so the wording is unit-tested directly;
``tasklog.log_summary`` writes the lines to the task log.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pulla_airflow import xcom_contract as keys
from pulla_personalize.business_rules import BUSINESS_METRICS
from pulla_personalize.datasets import DATASET_TYPES

#: How the offline metrics GetSolutionMetrics names are shown (others keep their name).
_METRIC_LABELS = {
    "normalized_discounted_cumulative_gain": "NDCG",
    "mean_reciprocal_rank": "MRR",
    "precision": "precision",
}
_EXAMPLES_SHOWN = 3


def count(value: Any) -> str:
    """``34086`` -> ``34,086``; anything that is not a whole number is shown as it is."""
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def metric_label(name: str) -> str:
    """``normalized_discounted_cumulative_gain_at_25`` -> ``NDCG@25``; ``coverage`` stays ``coverage``."""
    match = re.fullmatch(r"(.+)_at_(\d+)", name)
    if not match:
        return name
    base, k = match.groups()
    return f"{_METRIC_LABELS.get(base, base)}@{k}"


def _counts(mapping: Mapping[str, Any]) -> str:
    return ", ".join(f"{name} {count(value)}" for name, value in mapping.items())


# --- daily ---------------------------------------------------------------------------------------------------------


def describe_expectation(item: Mapping[str, Any]) -> str:
    """One failed expectation in words: which check on which dataset.column, expected vs observed, examples."""
    column = f".{item['column']}" if item.get("column") else ""
    parts = [f"{item.get('expectation', '?')} on {item.get('dataset', '?')}{column}"]
    if item.get("expected"):
        parts.append(f"expected {item['expected']}")
    if item.get("observed") is not None:
        parts.append(f"observed {item['observed']}")
    if item.get("unexpected_count"):
        parts.append(f"{count(item['unexpected_count'])} of {count(item.get('element_count', 0))} rows unexpected")
    examples = list(item.get("examples") or [])[:_EXAMPLES_SHOWN]
    if examples:
        parts.append("e.g. " + ", ".join(repr(example) for example in examples))
    if item.get("details"):
        parts.append(str(item["details"]))
    return parts[0] + (": " + "; ".join(parts[1:]) if len(parts) > 1 else "")


def describe_validation(validation: Mapping[str, Any]) -> list[str]:
    """The gate's verdict, then each blocking failure and each warning on its own line."""
    failures = list(validation.get("failures") or [])
    warnings = list(validation.get("warnings") or [])
    evaluated = count(validation.get("evaluated", 0))
    if validation.get("passed"):
        head = f"Validation passed: {evaluated} expectations checked"
        head += f", {len(warnings)} warning(s)" if warnings else ", no warnings"
    else:
        head = f"Validation FAILED: {len(failures)} of {evaluated} expectations failed and block the import"
    lines = [head]
    lines += [f"  failed:  {describe_expectation(item)}" for item in failures]
    lines += [f"  warning: {describe_expectation(item)}" for item in warnings]
    return lines


def describe_source(name: str, account: Mapping[str, Any]) -> str:
    """``web_logs: 105,448 rows -> 33,588 exported; excluded 71,541 (bot_session 1,667, ...); quarantined 319``."""
    excluded = dict(account.get("excluded") or {})
    quarantined = dict(account.get("quarantined") or {})
    text = f"{name}: {count(account.get('source_rows', 0))} rows -> {count(account.get('exported', 0))} exported"
    text += f"; excluded {count(sum(excluded.values()))}" + (f" ({_counts(excluded)})" if excluded else "")
    text += f"; quarantined {count(sum(quarantined.values()))}" + (f" ({_counts(quarantined)})" if quarantined else "")
    return text


def _window_text(window: Mapping[str, Any]) -> str:
    modes = window.get("import_modes") or {}
    text = f"window {window.get('label', '?')} ({window.get('start', '?')} .. {window.get('end', '?')})"
    if modes:
        text += ", imports " + ", ".join(f"{kind} {mode}" for kind, mode in modes.items())
    return text


def describe_export(summary: Mapping[str, Any]) -> list[str]:
    """export_window: rows per dataset, what was excluded or quarantined per source, the gate, the run archive."""
    window = summary.get("window") or {}
    datasets = summary.get("datasets") or {}
    lines = [f"Exported {_window_text(window)}"]
    lines.append("Rows: " + (", ".join(f"{name} {count(rows)}" for name, rows in datasets.items()) or "none"))
    lines += ["  " + describe_source(name, account) for name, account in (summary.get("sources") or {}).items()]
    validation = summary.get("validation")
    if validation is None:  # an export summary from before this field: the export's own lines
        validation = {"passed": summary.get("passed", False)}
    lines += describe_validation(validation)
    run_uri = summary.get("run_uri", "?")
    if summary.get("passed"):
        lines.append(f"Run archive: {run_uri} (CSVs, report.json, rejects/, data_docs/index.html)")
    else:
        lines.append("Nothing was published for import and no Personalize call was made.")
        lines.append(f"Run archive: {run_uri} (report.json, rejects/, data_docs/index.html; no CSVs)")
    return lines


def gate_failure_message(summary: Mapping[str, Any]) -> str:
    """The short reason a failed gate fails the task with (the full account is logged just before it)."""
    failures = list((summary.get("validation") or {}).get("failures") or [])
    label = (summary.get("window") or {}).get("label", "?")
    names = []
    for item in failures[:2]:
        column = f".{item['column']}" if item.get("column") else ""
        names.append(f"{item.get('expectation', '?')} on {item.get('dataset', '?')}{column}")
    if len(failures) > 2:
        names.append(f"{len(failures) - 2} more")
    which = f": {'; '.join(names)}" if names else ""
    return (
        f"The validation gate failed for window {label}{which}. Nothing was published for import and no "
        f"Personalize call was made; the task log lists each failed expectation. Report: "
        f"{summary.get('report_uri', '?')}"
    )


def describe_import_plan(values: Mapping[str, Any]) -> list[str]:
    """find_datasets: per dataset, the dataset found, the import mode and the job name chosen."""
    lines = [f"Found the Personalize datasets for window {values.get(keys.LABEL, '?')}; the imports will be:"]
    for kind in DATASET_TYPES:
        if keys.dataset_arn(kind) not in values:
            continue
        lines.append(
            f"  {kind}: {values.get(keys.import_mode(kind), '?')} into {values[keys.dataset_arn(kind)]} "
            f"as job {values.get(keys.job_name(kind), '?')}"
        )
    if values.get(keys.ROLE_ARN):
        lines.append(f"Personalize reads S3 as {values[keys.ROLE_ARN]}")
    return lines


def describe_publish(dataset_type: str, location: str, export: Mapping[str, Any]) -> list[str]:
    """publish_<dataset>: what was published where, and from which archived file."""
    rows = (export.get("datasets") or {}).get(dataset_type)
    rows_text = f" ({count(rows)} rows)" if rows is not None else ""
    source = f"{export.get('run_uri', '')}{dataset_type}.csv" if export.get("run_uri") else f"{dataset_type}.csv"
    return [
        f"Published {dataset_type}.csv{rows_text} for import at {location}",
        f"  copied from the run archive: {source}",
    ]


def describe_run_summary(summary: Mapping[str, Any]) -> list[str]:
    """summarize_run: the window, the gate, rows and import job per dataset, and where summary.json is."""
    window = summary.get("window") or {}
    datasets = summary.get("datasets") or {}
    jobs = summary.get("import_jobs") or {}
    verdict = "passed" if summary.get("validation_passed") else "FAILED"
    lines = [f"Run of {_window_text(window)}: validation {verdict}"]
    for kind in dict.fromkeys([*datasets, *jobs]):
        rows = datasets.get(kind)
        rows_text = f"{count(rows)} rows" if rows is not None else "rows unknown"
        lines.append(f"  {kind}: {rows_text}, import job {jobs.get(kind) or 'none'}")
    deletion = summary.get("deletion") or {}
    if deletion.get("job_name"):
        lines.append(f"Departed members deleted from Personalize: {deletion.get('deleted_users', 0)}")
    elif deletion:
        lines.append("Departed members deleted from Personalize: none (nobody new had departed)")
    lines.append(f"Summary: {summary.get('summary_uri', '?')} (run archive {summary.get('run_uri', '?')})")
    return lines


# --- retrain -------------------------------------------------------------------------------------------------------


def describe_rule(min_ratios: Mapping[str, Any] | None) -> str:
    """``NDCG@25 >= 98% and precision@25 >= 98% of the live version's``."""
    if not min_ratios:
        return "the provider's default rule"
    parts = [f"{metric_label(name)} >= {float(ratio):.0%}" for name, ratio in min_ratios.items()]
    return " and ".join(parts) + " of the live version's"


def describe_retrain_plan(values: Mapping[str, Any]) -> list[str]:
    """prepare_retrain: what is trained, where it would be deployed, and the rule that decides."""
    campaign = values.get(keys.CAMPAIGN_ARN)
    mode, solution = values.get(keys.TRAINING_MODE, "?"), values.get(keys.SOLUTION_ARN, "?")
    lines = [f"Training a {mode} version of solution {solution}"]
    if campaign:
        lines.append(f"Live campaign: {campaign} (updated only if the gate passes)")
    else:
        lines.append(f"No campaign yet: the first version creates campaign {values.get(keys.CAMPAIGN_NAME, '?')}")
    lines.append(f"Gate: deploy when {describe_rule(values.get(keys.MIN_RATIOS))}")
    if values.get(keys.FORCE_DEPLOY):
        lines.append("force_deploy is on: the new version is deployed whatever the gate says")
    return lines


def describe_training(solution_version_arn: str, training_mode: str) -> list[str]:
    """train_solution_version: the trained version."""
    return [f"Solution version {solution_version_arn} finished training ({training_mode}) and is ACTIVE"]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _shown(value: Any) -> str:
    return f"{value:.4f}" if _number(value) else "n/a"


def _metric_order(name: str) -> tuple[str, int]:
    """coverage, MRR@25, NDCG@5, NDCG@10, NDCG@25, precision@5, ...: by label, then by k as a number."""
    label, _, k = metric_label(name).partition("@")
    return label.lower(), int(k) if k.isdigit() else 0


def _metric_line(name: str, new: Any, live: Any, ratio: Any, *, live_exists: bool) -> str:
    text = f"  {metric_label(name)}: new {_shown(new)}"
    if not live_exists:
        return text
    text += f", live {_shown(live)}"
    comparable = _number(new) and _number(live)
    if comparable and live > 0:
        text += f" = {new / live:.1%} of live"
    if ratio is not None:
        verdict = ("ok" if new >= float(ratio) * live else "too low") if comparable else "cannot compare"
        text += f" (needs {float(ratio):.0%}: {verdict})"
    return text


def describe_gate(decision: Mapping[str, Any]) -> list[str]:
    """evaluate_gate: the metrics of the new and the live version, the decision and its reason."""
    new_metrics = dict(decision.get("new_metrics") or {})
    live_metrics = decision.get("live_metrics")
    ratios = dict(decision.get("min_ratios") or {})
    version = decision.get("solution_version_arn", "?")
    if live_metrics is None:
        lines = [f"Metrics of {version} (nothing is live to compare with):"]
    else:
        lines = [f"Metrics of {version} vs the live version {decision.get('live_solution_version_arn', '?')}:"]
    for name in ratios:
        live = None if live_metrics is None else live_metrics.get(name)
        lines.append(
            _metric_line(name, new_metrics.get(name), live, ratios[name], live_exists=live_metrics is not None)
        )
    others = sorted((name for name in new_metrics if name not in ratios), key=_metric_order)
    if others:

        def pair(name: str) -> str:
            new = _shown(new_metrics.get(name))
            return new if live_metrics is None else f"{new}/{_shown(live_metrics.get(name))}"

        label = "  not gated" + ("" if live_metrics is None else " (new/live)")
        lines.append(f"{label}: " + ", ".join(f"{metric_label(name)} {pair(name)}" for name in others))
    lines.extend(_business_lines(decision))
    if decision.get("deploy"):
        verdict = "DEPLOY the new version"
    elif live_metrics is None:
        verdict = "DO NOT DEPLOY (nothing is live: no campaign is created)"
    else:
        verdict = "KEEP the live version"
    if "decided_by" in decision:
        lines.append(f"Decision: {verdict} (decided by {decision['decided_by']})")
    else:  # evaluate_gate: Personalize's metrics only; decide_deployment adds the business rules
        lines.append(f"Personalize's metrics say: {verdict} (decide_deployment also applies the business rules)")
    lines.append(f"Reason: {decision.get('reason', '?')}")
    return lines


def _business_lines(decision: Mapping[str, Any]) -> list[str]:
    checks = decision.get("business_checks")
    if checks is None:
        return []
    new = decision.get("business_metrics") or {}
    live = decision.get("live_business_metrics")
    header = "Business metrics (evaluation sample, no filter)" + ("" if live is None else " new/live")
    lines = [f"{header}:"]
    for name in BUSINESS_METRICS:
        value = _shown(new.get(name))
        lines.append(f"  {name:<22} {value}" + ("" if live is None else f" / {_shown(live.get(name))}"))
    for sentence in checks.get("checks") or []:
        lines.append(f"  rule: {sentence}")
    return lines


def describe_evaluation_plan(values: Mapping[str, Any]) -> list[str]:
    """plan_evaluation: the sample and the versions measured on it."""
    roles = values.get("roles") or {}
    if values.get("skipped"):
        return [f"No evaluation jobs: {values['skipped']} (nothing would read the business measures)"]
    lines = [
        f"Evaluation sample: {count(values.get('members', 0))} members (export {values.get('export', '?')}), "
        f"{values.get(keys.JOB_INPUT, '?')}"
    ]
    lines.extend(f"  {role}: {version}" for role, version in roles.items())
    if "champion" not in roles:
        lines.append("  no champion: nothing else is live")
    return lines


def describe_business_metrics(measured: Mapping[str, Any]) -> list[str]:
    """measure_business_metrics: each version's measures."""
    if measured.get("skipped"):
        return [f"Business metrics not measured: {measured['skipped']}"]
    lines = [f"Business metrics on {count(measured.get('members', 0))} members (export {measured.get('export', '?')}):"]
    for role in ("challenger", "champion"):
        metrics = measured.get(role)
        if metrics is None:
            continue
        values = ", ".join(f"{name} {_shown(metrics.get(name))}" for name in BUSINESS_METRICS)
        lines.append(f"  {role} {measured.get(f'{role}_arn', '?')}: {values}")
    return lines


def describe_campaign_deployment(campaign_arn: str, solution_version_arn: str, *, created: bool) -> list[str]:
    """create_campaign / update_campaign: the new version is deployed."""
    action = "created, serving" if created else "now serves"
    return [f"Deployed: campaign {campaign_arn} {action} {solution_version_arn}"]


def describe_kept(decision: Mapping[str, Any]) -> list[str]:
    """keep_live_version: not deployed, and why."""
    live = decision.get("live_solution_version_arn") or "the live version"
    decided_by = f" (decided by {decision['decided_by']})" if decision.get("decided_by") else ""
    return [
        f"Keeping the live version: not deployed; campaign {decision.get('campaign_arn') or '?'} keeps serving "
        f"{live}{decided_by}",
        f"Reason: {decision.get('reason', '?')}",
    ]


def describe_metrics_record(result: Mapping[str, Any], solution_version_arn: str | None = None) -> list[str]:
    """record_metrics: deployed or not, the reason, and where the history and its chart are."""
    deployed = "deployed" if result.get("deployed") else "not deployed"
    version = solution_version_arn or "the new version"
    recorded = result.get("versions_recorded", 0)
    decided_by = f", decided by {result['decided_by']}" if result.get("decided_by") else ""
    return [
        f"Recorded {version} ({deployed}{decided_by}) in the metric history: {count(recorded)} "
        f"version{'' if recorded == 1 else 's'} so far",
        f"Reason: {result.get('reason', '?')}",
        f"History: {result.get('history_uri', '?')}; chart: {result.get('chart_uri', '?')} "
        "(task link 'Metrics history chart')",
    ]


def describe_deletion_plan(plan: Mapping[str, Any]) -> list[str]:
    """plan_deletion: who leaves Personalize in this run, and what became of the job an earlier run started."""
    lines: list[str] = []
    previous = plan.get("previous") or {}
    if previous:
        status = previous.get("status", "?")
        line = f"The deletion job {previous.get('job_name', '?')} of an earlier run is {status}"
        if status == "FAILED":
            line += f": {previous.get('failure_reason') or 'no reason given'}; its members are deleted again now"
        lines.append(line)
    if not plan.get(keys.DATA_LOCATION):
        lines.append("No departed member to delete from Personalize: no deletion job in this run")
        return lines
    reasons = ", ".join(f"{count} {reason}" for reason, count in (plan.get("reasons") or {}).items())
    text = f"Deleting {plan.get('users', 0)} departed member(s) from Personalize"
    text += f" ({reasons})" if reasons else ""
    if plan.get("retried"):
        text += f", {plan['retried']} of them retried after a failed job"
    lines.append(f"{text}: job {plan.get(keys.DELETION_JOB_NAME)} reads {plan.get(keys.DATA_LOCATION)}")
    return lines


def describe_deletion(result: Mapping[str, Any]) -> list[str]:
    """record_deletion: what the deletion job removed, as the manifest now records it."""
    if not result.get("job_name"):
        return ["No departed member was deleted in this run (nobody new had departed)"]
    line = f"Deleted {result.get('deleted_users', 0)} departed member(s) from Personalize with job {result['job_name']}"
    if result.get("num_deleted") is not None:
        line += f" (the service counted {result['num_deleted']} records)"
    return [line, "The deletion manifest records them: a rerun or a backfill will not delete them again"]


def describe_run_data_expiry(result: Mapping[str, Any]) -> list[str]:
    """expire_run_data: which folders of the bucket expire, after how long, and whether the rules changed."""
    state = "set" if result.get("changed") else "already in place"
    folders = ", ".join(result.get("prefixes") or [])
    return [
        f"Lifecycle rules {state} on s3://{result.get('bucket', '?')}: {folders} expire after {result.get('days')} days"
    ]


# --- CRM batch jobs ------------------------------------------------------------------------------------------------


def describe_picks_plan(values: Mapping[str, Any]) -> list[str]:
    """plan_picks: who gets picks, from which export, with which version and job."""
    lines = [
        f"Week {values.get(keys.WEEK, '?')}: {count(values.get('members', 0))} members active in the last "
        f"{values.get('active_days', '?')} days (exports up to {values.get('export', '?')}) get "
        f"{values.get(keys.NUM_RESULTS, '?')} picks each",
        f"Solution version (live): {values.get(keys.SOLUTION_VERSION_ARN, '?')}",
        f"Filter: {values.get(keys.FILTER_ARN) or 'none'}",
        f"Batch inference job {values.get(keys.JOB_NAME, '?')}: input {values.get(keys.JOB_INPUT, '?')}",
    ]
    if values.get("left_out"):
        lines.append(
            f"Left out before the job: {count(values['left_out'])} members (listed with the reason in unserved.csv)"
        )
    return lines


def describe_picks(result: Mapping[str, Any]) -> list[str]:
    """publish_picks: how many members got picks, who did not and why, and where the files are."""
    lines = [
        f"Week {result.get('week', '?')}: {count(result.get('members_with_picks', 0))} members got "
        f"{count(result.get('picks', 0))} picks from job {result.get('batch_inference_job', '?')}",
        f"Picks: {result.get('picks_uri', '?')} (also {result.get('latest_uri', '?')})",
    ]
    unserved = result.get("unserved", 0)
    if unserved:
        lines.append(f"Without picks: {count(unserved)} members, in {result.get('unserved_uri', '?')}:")
        lines.extend(f"  {count(n)} {reason}" for reason, n in (result.get("unserved_reasons") or {}).items())
    else:
        lines.append("Without picks: nobody")
    if result.get("departed_members_left_out"):
        lines.append(
            f"Left out, not named in any file: {count(result['departed_members_left_out'])} members no longer in "
            "the export's Users (withdrawn or test accounts)"
        )
    return lines
