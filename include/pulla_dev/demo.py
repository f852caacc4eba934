"""``make demo``: the whole pipeline, end to end, on the embedded default (no AWS account, no Docker).

It starts moto's S3 server and the local Personalize endpoint, seeds a demo Pulla database (SQLite), runs the
setup, daily, retrain, CRM batch and launch-audience DAGs with ``airflow dags test`` in a throwaway AIRFLOW_HOME,
and prints what happened for a shop owner to read: the window in Seoul days, what each source gave and lost and
why, the validation, the import jobs, the model's metrics beside a popularity baseline trained on the same data
and scored on the same held-out members, the shop's own measures beside the gate's rules, the CRM picks and the
launch audience, and for three members of different sizes the campaign's answers in the order it returns them,
from the model alone and through the size filter, with what the filter changed. It stops everything it started,
also on failure or Ctrl-C, and deletes its work folder unless ``--keep`` is given (``make demo DEMO_ARGS=--keep``).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pulla_personalize import INCLUDE_DIR

REPO_ROOT = INCLUDE_DIR.parent
DEMO_SEED = 42
DEMO_DAYS = 30
TOP_N = 5
#: How deep the model's own list is read to count what comes in a member's size: the gate's and the picks' depth.
TOP_K = 25
#: How many members are asked before the demo settles for members whose list the filter does not change.
MEMBER_CANDIDATES = 300
#: The baseline solution the demo trains beside the pipeline's, on the same dataset group.
BASELINE_SOLUTION = "pulla-demo-popularity-baseline"
BASELINE_RECIPE = "arn:aws:personalize:::recipe/aws-popularity-count"
#: What one row of each source is: the products query reads one row per product and size option.
SOURCE_ROWS = {
    "order_items": "order lines",
    "web_logs": "click-log rows",
    "members": "members",
    "products": "product × size options",
}
#: What a reader would otherwise wonder about a source's count.
SOURCE_NOTES = {"products": "one row per product and size option; a product without options counts once"}
#: Width of the cup type column: the longest cup type, three_quarter, and a space.
CUP_TYPE_WIDTH = 15
#: The launch audience the demo asks for: the 100 members most likely to buy a plunge bra.
DEMO_AUDIENCE = {"audience": "plunge-launch", "cup_type": "plunge", "size": 100}


def say(message: str = "") -> None:
    print(message, flush=True)


def airflow_environment(airflow_home: Path) -> dict[str, str]:
    """A throwaway Airflow: its own home and SQLite metadata database, our DAGs and plugins, no examples."""
    return {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        # The local endpoint moves statuses within seconds: poll every second instead of every 30-60 s.
        "PULLA_WAITER_DELAY_SECONDS": "1",
        "PULLA_TASK_RETRIES": "0",
    }


def run_airflow(arguments: list[str], env: dict[str, str], log_path: Path, title: str) -> None:
    """Runs ``airflow …`` with its output in ``log_path``; on failure shows the end of the log and raises."""
    started = time.monotonic()
    say(f"→ {title} …")
    airflow = str(Path(sys.executable).with_name("airflow"))
    with log_path.open("wb") as log:
        completed = subprocess.run(
            [airflow, *arguments], env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False
        )
    elapsed = time.monotonic() - started
    if completed.returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-40:]
        say("\n".join("    " + line for line in tail))
        raise RuntimeError(f"{title} failed (exit {completed.returncode}); full log: {log_path}")
    say(f"  done in {elapsed:.0f} s (log: logs/{log_path.name} in the work folder)")


def read_s3_text(s3_client: Any, bucket: str, key: str) -> str:
    return s3_client.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")


def read_csv_rows(s3_client: Any, bucket: str, key: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(read_s3_text(s3_client, bucket, key))))


def in_her_size(member: dict[str, str], item: dict[str, str]) -> bool:
    """True when the item comes in the member's cup and band (an item without a size list fits every size)."""
    cups, bands = item.get("CUP_SIZE", ""), item.get("BAND_SIZE", "")
    return (not cups or member["CUP_SIZE"] in cups.split("|")) and (
        not bands or member["BAND_SIZE"] in bands.split("|")
    )


def seoul_days(window: dict[str, str], zone: ZoneInfo) -> tuple[date, date, int]:
    """(first day, last day, number of days) of a window given as UTC instants, in the shop's local days."""
    first = datetime.fromisoformat(window["start"]).astimezone(zone).date()
    # The end is excluded: the last day is the one holding the window's last instant.
    last = (datetime.fromisoformat(window["end"]).astimezone(zone) - timedelta(microseconds=1)).date()
    return first, last, (last - first).days + 1


def metric_rows(model: dict[str, float], baseline: dict[str, float]) -> list[tuple[str, float, float | None]]:
    """(metric, the model's value, the popularity baseline's value or None), in the service's metric order."""
    return [(name, model[name], baseline.get(name)) for name in sorted(model)]


def choose_members(
    users: list[dict[str, str]],
    interactions: list[dict[str, str]],
    items_by_id: dict[str, dict[str, str]],
    top_picks: Any,
    wanted: int = 3,
) -> list[tuple[dict[str, str], list[str]]]:
    """Members of different cup and band sizes whose own top picks include items she cannot wear, most active
    first, with those picks (``top_picks(member)`` returns the model's item ids, best first).

    Members whose first TOP_N are all in her size show nothing the filter does, so they are taken only when too
    few others are found among the MEMBER_CANDIDATES most active members.
    """
    activity: dict[str, int] = {}
    for row in interactions:
        activity[row["USER_ID"]] = activity.get(row["USER_ID"], 0) + 1
    served = [
        user
        for user in sorted(users, key=lambda u: (-activity.get(u["USER_ID"], 0), u["USER_ID"]))
        if user["CUP_SIZE"]
        and user["BAND_SIZE"]
        and sum(in_her_size(user, item) for item in items_by_id.values()) >= TOP_N
    ][:MEMBER_CANDIDATES]
    chosen: list[tuple[dict[str, str], list[str]]] = []
    unchanged: list[tuple[dict[str, str], list[str]]] = []

    def new_size(user: dict[str, str]) -> bool:
        taken = [member for member, _ in chosen]
        return not any(user["CUP_SIZE"] == m["CUP_SIZE"] or user["BAND_SIZE"] == m["BAND_SIZE"] for m in taken)

    for user in served:
        if len(chosen) == wanted:
            break
        if not new_size(user):
            continue
        picks = top_picks(user)
        shown = [items_by_id.get(item, {}) for item in picks[:TOP_N]]
        if all(in_her_size(user, item) for item in shown):
            unchanged.append((user, picks))
        else:
            chosen.append((user, picks))
    for user, picks in unchanged:
        if len(chosen) == wanted:
            break
        if new_size(user):
            chosen.append((user, picks))
    return chosen


def rule_text(rule: Any) -> str:
    """A business rule in words: "at least 0.85, at most 0.02 below the live version"."""
    parts = []
    if rule.at_least is not None:
        parts.append(f"at least {rule.at_least:g}")
    if rule.at_most is not None:
        parts.append(f"at most {rule.at_most:g}")
    if rule.max_drop is not None:
        parts.append(f"at most {rule.max_drop:g} below the live version")
    if rule.max_rise is not None:
        parts.append(f"at most {rule.max_rise:g} above the live version")
    return ", ".join(parts)


def print_export_summary(summary: dict[str, Any], zone: ZoneInfo) -> None:
    first, last, days = seoul_days(summary["window"], zone)
    say("Export (daily run)")
    say(
        f"  window      {first} to {last}, {days} days in {zone.key} "
        f"(run label {summary['window']['label']}; the files' TIMESTAMPs are UTC)"
    )
    say("  datasets    " + ", ".join(f"{name} {rows:,} rows" for name, rows in summary["datasets"].items()))
    say(f"  {'source':<26}{'rows read':>10}{'exported':>10}{'excluded':>10}{'quarantined':>13}")
    for source, account in summary["sources"].items():
        excluded = sum(account["excluded"].values())
        quarantined = sum(account["quarantined"].values())
        say(
            f"  {SOURCE_ROWS.get(source, source):<26}{account['source_rows']:>10,}{account['exported']:>10,}"
            f"{excluded:>10,}{quarantined:>13,}"
        )
        if source in SOURCE_NOTES:
            say(f"  {'':<28}({SOURCE_NOTES[source]})")
        for rule, count in account["excluded"].items():
            say(f"  {'':<28}excluded {rule}: {count:,}")
        for reason, count in account["quarantined"].items():
            say(f"  {'':<28}quarantined {reason}: {count:,}")
    say(f"  validation  {'PASSED' if summary['validation_passed'] else 'FAILED'}")
    for name, job in summary["import_jobs"].items():
        say(f"  import      {name:<13}{job}")
    deletion = summary.get("deletion") or {}
    if deletion.get("job_name"):
        say(f"  deleted     {deletion['deleted_users']} departed members (withdrawn or test) from Personalize")
    else:
        say("  deleted     nobody: no member had departed")


def train_popularity_baseline(services: Any, resources: dict[str, Any]) -> dict[str, float]:
    """Trains Personalize's popularity-count recipe on the same dataset group, with the pipeline's solution's event
    type and threshold, and returns its GetSolutionMetrics: the same data and the same held-out members as the
    pipeline's version, ranked by best sellers alone."""
    personalize = services.client("personalize")
    ours = personalize.describe_solution(solutionArn=resources["solution_arn"])["solution"]
    request: dict[str, Any] = {
        "name": BASELINE_SOLUTION,
        "datasetGroupArn": resources["dataset_group_arn"],
        "recipeArn": BASELINE_RECIPE,
        "performAutoTraining": False,
    }
    if ours.get("eventType"):
        request["eventType"] = ours["eventType"]
    threshold = (ours.get("solutionConfig") or {}).get("eventValueThreshold")
    if threshold is not None:
        request["solutionConfig"] = {"eventValueThreshold": threshold}
    solution_arn = personalize.create_solution(**request)["solutionArn"]
    wait_until_active(lambda: personalize.describe_solution(solutionArn=solution_arn)["solution"], "solution")
    version_arn = personalize.create_solution_version(solutionArn=solution_arn, trainingMode="FULL")[
        "solutionVersionArn"
    ]
    wait_until_active(
        lambda: personalize.describe_solution_version(solutionVersionArn=version_arn)["solutionVersion"],
        "baseline solution version",
    )
    return personalize.get_solution_metrics(solutionVersionArn=version_arn)["metrics"]


def wait_until_active(describe: Any, what: str, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        resource = describe()
        if resource["status"] == "ACTIVE":
            return
        if "FAILED" in resource["status"]:
            raise RuntimeError(f"the {what} failed: {resource.get('failureReason', resource['status'])}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the {what} was not ACTIVE within {timeout:.0f} s (status {resource['status']})")
        time.sleep(0.5)


def print_training(latest: dict[str, Any], baseline: dict[str, float], config: Any) -> None:
    say(f"Training (retrain run): solution version {latest['solution_version_arn']}")
    say("  Personalize's offline metrics: 10% of members held out, the newest 10% of each one's history to predict.")
    say("  The baseline recommends the best sellers to everyone (aws-popularity-count), trained on the same data")
    say("  and scored on the same members: a model earns its keep by beating it.")
    say(f"  {'metric':<46}{'model':>9}{'popularity':>12}{'model ÷ popularity':>20}")
    for name, value, base in metric_rows(latest["metrics"], baseline):
        ratio = f"{value / base:.2f}×" if base else "-"
        say(f"  {name:<46}{value:>9.4f}{'-' if base is None else f'{base:.4f}':>12}{ratio:>20}")
    business = latest.get("business_metrics") or {}
    if business:
        say(
            f"  The shop's own measures, on the model's top {TOP_K} for an evaluation sample of "
            f"{config.evaluation_sample_size:,} members"
        )
        say("  (the model alone, no filter), beside the gate's rule:")
        for name in ("size_fit_at_25", "catalogue_coverage", "new_item_share", "already_bought_share"):
            value = business.get(name)
            rule = config.business_rules.get(name)
            say(
                f"  {name:<46}{'n/a' if value is None else f'{value:.4f}':>9}"
                f"   {rule_text(rule) if rule else 'not gated, for information'}"
            )
    say(f"  gate: {'DEPLOY' if latest['deployed'] else 'KEEP'} — {latest['reason']}")


def print_recommendation_rows(
    member: dict[str, str], item_ids: list[str], items_by_id: dict[str, dict[str, str]], scores: dict[str, float]
) -> None:
    say(
        f"      {'rank':>4}  {'item':>6}  {'score':>6}  {'cup sizes':<22}{'band sizes':<26}"
        f"{'cup type':<{CUP_TYPE_WIDTH}}her size"
    )
    for rank, item_id in enumerate(item_ids, 1):
        item = items_by_id.get(item_id, {})
        say(
            f"      {rank:>4}  {item_id:>6}  {scores.get(item_id, 0):>6.3f}  {item.get('CUP_SIZE') or '-':<22}"
            f"{item.get('BAND_SIZE') or '-':<26}{item.get('CUP_TYPE') or '-':<{CUP_TYPE_WIDTH}}"
            f"{'✓' if in_her_size(member, item) else '✗'}"
        )


def print_recommendations(services: Any, resources: dict[str, Any], config: Any, users, items, interactions) -> None:
    runtime = services.client("personalize-runtime")
    items_by_id = {item["ITEM_ID"]: item for item in items}
    size_filter = resources["filter_arns"].get("pulla-in-my-size")
    campaign = config.personalize.campaign
    answers: dict[str, list[dict[str, Any]]] = {}

    def top_picks(member: dict[str, str]) -> list[str]:
        answer = runtime.get_recommendations(
            campaignArn=resources["campaign_arn"], userId=member["USER_ID"], numResults=TOP_K
        )
        answers[member["USER_ID"]] = answer["itemList"]
        return [entry["itemId"] for entry in answer["itemList"]]

    say(f"Recommendations (campaign {campaign.name}), in the order the campaign returns them")
    say(
        f"  The campaign mixes young items into its answers (exploration weight {campaign.exploration_weight:g}, "
        f"items up to {campaign.exploration_item_age_cut_off_days:g} days old),"
    )
    say("  so a score need not fall from one row to the next: Personalize does the same. A score is the item's")
    say("  share of the items the answer ranked (they sum to 1), so the filtered answer, which ranks only items")
    say("  in her size, gives larger scores than the model alone.")
    chosen = choose_members(users, interactions, items_by_id, top_picks)
    for member, picks in chosen:
        cup, band = member["CUP_SIZE"], member["BAND_SIZE"]
        scores = {entry["itemId"]: entry.get("score", 0.0) for entry in answers[member["USER_ID"]]}
        fitting = sum(in_her_size(member, items_by_id.get(item, {})) for item in picks)
        say()
        say(f"  member {member['USER_ID']} (cup {cup}, band {band}, age {member['AGE'] or 'unknown'})")
        say(
            f"    the model alone: {fitting} of its top {len(picks)} come in her size ({cup}{band}); its first {TOP_N}:"
        )
        shown = picks[:TOP_N]
        print_recommendation_rows(member, shown, items_by_id, scores)
        if not size_filter:
            continue
        answer = runtime.get_recommendations(
            campaignArn=resources["campaign_arn"],
            userId=member["USER_ID"],
            numResults=TOP_N,
            filterArn=size_filter,
            filterValues={"CUP_SIZE": f'"{cup}"', "BAND_SIZE": f'"{band}"'},
        )
        filtered = [entry["itemId"] for entry in answer["itemList"]]
        say("    through the size filter (pulla-in-my-size, what the shop shows her):")
        print_recommendation_rows(
            member, filtered, items_by_id, {entry["itemId"]: entry.get("score", 0.0) for entry in answer["itemList"]}
        )
        removed = [item for item in shown if item not in filtered]
        added = [item for item in filtered if item not in shown]
        if removed or added:
            say(
                f"    the filter took out {', '.join(removed) or 'nothing'} (not in {cup}{band}) "
                f"and brought in {', '.join(added) or 'nothing'} from further down her list"
            )
        else:
            say(f"    the filter changed nothing: the model's first {TOP_N} all come in her size")


def print_picks(s3_client: Any, config: Any) -> None:
    """The CRM picks the batch DAG published: where, how many, and the first member's."""
    prefix = config.s3.key("crm", "picks", "latest") + "/"
    summary = json.loads(read_s3_text(s3_client, config.s3.bucket, prefix + "summary.json"))
    rows = read_csv_rows(s3_client, config.s3.bucket, prefix + "picks.csv")
    say(f"CRM picks (week {summary['week']}, batch inference job {summary['batch_inference_job']})")
    say(
        f"  {summary['members_with_picks']:,} members got {summary['picks']:,} picks in their size: "
        f"s3://{config.s3.bucket}/{config.s3.key('crm', 'picks', 'week=' + summary['week'])}/picks.csv"
    )
    say(f"  {summary['unserved']} active members without picks, with the reason, in unserved.csv")
    for reason, count in summary["unserved_reasons"].items():
        say(f"    {count:>5}  {reason}")
    if rows:
        first = rows[0]["member_id"]
        items = [row["item_id"] for row in rows if row["member_id"] == first][:TOP_N]
        say(f"  member {first}'s first picks: {', '.join(items)}")


def print_audience(s3_client: Any, config: Any, audience: str) -> None:
    """The launch audience the segment DAG published: its items, its size and its first members."""
    prefix = config.s3.key("crm", "segments", audience) + "/"
    summary = json.loads(read_s3_text(s3_client, config.s3.bucket, prefix + "summary.json"))
    members = read_csv_rows(s3_client, config.s3.bucket, prefix + "members.csv")
    say(f"Launch audience {audience!r} (batch segment job on the Item-Affinity solution)")
    say(
        f"  {len(members)} members most likely to buy {len(summary['items'])} items: "
        f"s3://{config.s3.bucket}/{prefix}members.csv"
    )
    say(f"  first members: {', '.join(row['member_id'] for row in members[:TOP_N])}")


def run_demo(work_dir: Path, end_date: date, scale: float) -> None:
    from pulla_airflow.metrics_history import METRICS_HISTORY_KEY
    from pulla_airflow.resources import SETUP_RESOURCES_KEY
    from pulla_airflow.run_archive import SUMMARY_NAME, run_prefix
    from pulla_airflow.s3_documents import read_json_object
    from pulla_dev.demo_shop.seed import seed_demo_database
    from pulla_dev.local_services import LocalServices
    from pulla_personalize.pipeline_config import load_pipeline_config
    from pulla_personalize.windows import window_label

    config = load_pipeline_config()
    bucket = config.s3.bucket
    say(f"Working in {work_dir} (deleted at the end unless --keep)")
    with LocalServices(work_dir / "services", bucket=bucket) as services:
        say(f"Local S3 at {services.s3_url}, local Personalize at {services.personalize_url}")
        db_url = f"sqlite:///{work_dir / 'pulla.db'}"
        counts = seed_demo_database(db_url, end_date=end_date, scale=scale, seed=DEMO_SEED, days=DEMO_DAYS)
        say("Seeded the demo Pulla database: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))

        env = {**os.environ, **airflow_environment(work_dir / "airflow"), **services.airflow_environment(db_url)}
        logs = work_dir / "logs"
        logs.mkdir(exist_ok=True)
        start = end_date - timedelta(days=DEMO_DAYS)
        run_airflow(["db", "migrate"], env, logs / "db-migrate.log", "airflow db migrate")
        run_airflow(["dags", "test", "pulla_personalize_setup"], env, logs / "setup.log", "DAG pulla_personalize_setup")
        conf = {"window_start": start.isoformat(), "window_end": end_date.isoformat(), "full_reload": True}
        run_airflow(
            ["dags", "test", "pulla_personalize_daily", "-c", json.dumps(conf)],
            env,
            logs / "daily.log",
            f"DAG pulla_personalize_daily (window {start} .. {end_date}, full reload)",
        )
        run_airflow(
            ["dags", "test", "pulla_personalize_retrain", "-c", json.dumps({"training_mode": "FULL"})],
            env,
            logs / "retrain.log",
            "DAG pulla_personalize_retrain (FULL)",
        )

        run_airflow(
            ["dags", "test", "pulla_personalize_batch"],
            env,
            logs / "batch.log",
            "DAG pulla_personalize_batch (CRM picks from the live version)",
        )
        run_airflow(
            ["dags", "test", "pulla_personalize_segment", "-c", json.dumps(DEMO_AUDIENCE)],
            env,
            logs / "segment.log",
            f"DAG pulla_personalize_segment (audience {DEMO_AUDIENCE['audience']}, the plunge bras)",
        )

        s3 = services.s3_client()
        zone = ZoneInfo(config.time_zone)
        label = window_label(
            datetime.combine(start, clock(0), tzinfo=zone), datetime.combine(end_date, clock(0), tzinfo=zone), zone
        )
        prefix = run_prefix(config, label)
        summary = read_json_object(s3, bucket, prefix + SUMMARY_NAME)
        resources = read_json_object(s3, bucket, config.s3.key(SETUP_RESOURCES_KEY))
        history = [
            json.loads(line) for line in read_s3_text(s3, bucket, config.s3.key(METRICS_HISTORY_KEY)).splitlines()
        ]
        users = read_csv_rows(s3, bucket, prefix + "users.csv")
        items = read_csv_rows(s3, bucket, prefix + "items.csv")
        interactions = read_csv_rows(s3, bucket, prefix + "interactions.csv")

        started = time.monotonic()
        say("→ popularity baseline: aws-popularity-count trained on the same dataset group …")
        baseline = train_popularity_baseline(services, resources)
        say(f"  done in {time.monotonic() - started:.0f} s")

        say()
        print_export_summary(summary, zone)
        say()
        print_training(history[-1], baseline, config)
        say()
        print_picks(s3, config)
        print_audience(s3, config, DEMO_AUDIENCE["audience"])
        say(f"Web team: tracking id {resources['tracking_id']}, campaign {resources['campaign_arn']}")
        say()
        print_recommendations(services, resources, config, users, items, interactions)
    say("\nStopped the local S3 and Personalize servers.")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the demo and what it started, like Ctrl-C


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.splitlines()[0])
    parser.add_argument("--end-date", type=date.fromisoformat, default=date(2026, 11, 1), help="last day + 1")
    parser.add_argument("--scale", type=float, default=1.0, help="demo data scale (1 ≈ 100,000 web log rows)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, Airflow home, data)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    work_dir = Path(tempfile.mkdtemp(prefix="pulla-demo-"))
    started = time.monotonic()
    try:
        run_demo(work_dir, args.end_date, args.scale)
    except KeyboardInterrupt:
        say("\nInterrupted: stopped what the demo started.")
        shutil.rmtree(work_dir, ignore_errors=True)
        return 130
    except Exception as error:
        say(f"\nDemo failed: {error}\nLogs are kept in {work_dir}")
        return 1
    finally:
        say(f"Total {time.monotonic() - started:.0f} s")
    if args.keep:
        say(f"Kept {work_dir}: each DAG run's log in logs/, the Airflow home in airflow/, the data in services/")
    else:
        shutil.rmtree(work_dir, ignore_errors=True)
        say("The work folder with each DAG run's log was deleted; `make demo DEMO_ARGS=--keep` keeps it.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
