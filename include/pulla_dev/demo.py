"""``make demo``: the whole pipeline, end to end, on the embedded default (no AWS account, no Docker).

It starts moto's S3 server and the local Personalize endpoint, seeds a demo Pulla database (SQLite), runs the
setup, daily, retrain and CRM batch DAGs with ``airflow dags test`` in a throwaway AIRFLOW_HOME, prints what happened
(rows, exclusions, quarantine, validation, import jobs, metrics, the business measures and the gate's decision, the
CRM picks file) and the top recommendations for three members of different sizes, then stops everything it
started, also on failure or Ctrl-C.
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
    say(f"  done in {elapsed:.0f} s (log: {log_path.name})")


def read_s3_text(s3_client: Any, bucket: str, key: str) -> str:
    return s3_client.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")


def read_csv_rows(s3_client: Any, bucket: str, key: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(read_s3_text(s3_client, bucket, key))))


def pick_members(
    users: list[dict[str, str]], items: list[dict[str, str]], interactions: list[dict[str, str]]
) -> list[dict[str, str]]:
    """Three members of different cup and band sizes that the catalogue serves, most active first."""
    activity: dict[str, int] = {}
    for row in interactions:
        activity[row["USER_ID"]] = activity.get(row["USER_ID"], 0) + 1

    def items_in_size(user: dict[str, str]) -> int:
        return sum(
            user["CUP_SIZE"] in item["CUP_SIZE"].split("|") and user["BAND_SIZE"] in item["BAND_SIZE"].split("|")
            for item in items
        )

    chosen: list[dict[str, str]] = []
    for user in sorted(users, key=lambda u: (-activity.get(u["USER_ID"], 0), u["USER_ID"])):
        if not user["CUP_SIZE"] or not user["BAND_SIZE"] or items_in_size(user) < TOP_N:
            continue
        if any(user["CUP_SIZE"] == c["CUP_SIZE"] or user["BAND_SIZE"] == c["BAND_SIZE"] for c in chosen):
            continue
        chosen.append(user)
        if len(chosen) == 3:
            break
    return chosen


def print_export_summary(summary: dict[str, Any]) -> None:
    say("Export (daily run)")
    say(f"  window   {summary['window']['start']} .. {summary['window']['end']} (label {summary['window']['label']})")
    for name, rows in summary["datasets"].items():
        say(f"  {name:<13}{rows:>8} rows")
    for source, account in summary["sources"].items():
        excluded = sum(account["excluded"].values())
        quarantined = sum(account["quarantined"].values())
        say(
            f"  {source:<13}{account['source_rows']:>8} source rows: {account['exported']} exported, "
            f"{excluded} excluded, {quarantined} quarantined"
        )
        for rule, count in {**account["excluded"], **account["quarantined"]}.items():
            say(f"  {'':<13}{'':>8}   {rule}: {count}")
    say(f"  validation {'PASSED' if summary['validation_passed'] else 'FAILED'}")
    for name, job in summary["import_jobs"].items():
        say(f"  import   {name:<13}{job}")
    deletion = summary.get("deletion") or {}
    if deletion.get("job_name"):
        say(f"  deleted  {deletion['deleted_users']} departed members (withdrawn or test) from Personalize")
    else:
        say("  deleted  nobody: no member had departed")


def print_recommendations(services: Any, resources: dict[str, Any], users, items, interactions) -> None:
    runtime = services.client("personalize-runtime")
    by_id = {item["ITEM_ID"]: item for item in items}
    size_filter = resources["filter_arns"].get("pulla-in-my-size")
    say(f"Recommendations (campaign {resources['campaign_arn']})")
    for user in pick_members(users, items, interactions):
        cup, band = user["CUP_SIZE"], user["BAND_SIZE"]
        say(f"  member {user['USER_ID']} (cup {cup}, band {band}, age {user['AGE'] or '?'})")
        for label, extra in (
            ("model", {}),
            (
                "size filter",
                {"filterArn": size_filter, "filterValues": {"CUP_SIZE": f'"{cup}"', "BAND_SIZE": f'"{band}"'}},
            ),
        ):
            if label == "size filter" and not size_filter:
                continue
            answer = runtime.get_recommendations(
                campaignArn=resources["campaign_arn"], userId=user["USER_ID"], numResults=TOP_N, **extra
            )
            fits = 0
            say(f"    {label}:")
            for entry in answer["itemList"]:
                item = by_id.get(entry["itemId"], {})
                cups, bands = item.get("CUP_SIZE", ""), item.get("BAND_SIZE", "")
                fit = cup in cups.split("|") and band in bands.split("|")
                fits += fit
                say(
                    f"      {'✓' if fit else ' '} item {entry['itemId']:>5}  score {entry.get('score', 0):.3f}  "
                    f"cups {cups or '-'}  bands {bands or '-'}  {item.get('CUP_TYPE') or ''}"
                )
            say(f"      {fits} of {len(answer['itemList'])} come in her size")


def print_picks(s3_client: Any, config: Any) -> None:
    """The CRM picks the batch DAG published: where, how many, and the first member's."""
    prefix = config.s3.key("crm", "picks", "latest") + "/"
    summary = json.loads(read_s3_text(s3_client, config.s3.bucket, prefix + "summary.json"))
    rows = read_csv_rows(s3_client, config.s3.bucket, prefix + "picks.csv")
    say(f"CRM picks (week {summary['week']}, batch inference job {summary['batch_inference_job']})")
    say(
        f"  {summary['members_with_picks']} members got {summary['picks']} picks in their size: "
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
    say(f"Working in {work_dir}")
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

        say()
        print_export_summary(summary)
        latest = history[-1]
        say("Training (retrain run)")
        say(f"  solution version {latest['solution_version_arn']}")
        for name, value in sorted(latest["metrics"].items()):
            say(f"  {name:<46}{value:.4f}")
        business = latest.get("business_metrics") or {}
        if business:
            say("  business measures (top 25 of the evaluation sample, model alone, no filter):")
            for name in ("size_fit_at_25", "catalogue_coverage", "new_item_share", "already_bought_share"):
                value = business.get(name)
                say(f"  {name:<46}{'n/a' if value is None else f'{value:.4f}'}")
        say(f"  gate: {'DEPLOY' if latest['deployed'] else 'KEEP'} — {latest['reason']}")
        print_picks(s3, config)
        print_audience(s3, config, DEMO_AUDIENCE["audience"])
        say(f"Web team: tracking id {resources['tracking_id']}, campaign {resources['campaign_arn']}")
        say()
        print_recommendations(services, resources, users, items, interactions)
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
        say(f"Kept {work_dir}")
    else:
        shutil.rmtree(work_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
