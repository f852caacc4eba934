"""The failure notification of every Pulla DAG, through Airflow's notifier interface.

The channel comes from the pipeline configuration (``notifications``): ``log`` (the default: an ERROR line a log
shipper can alert on), ``smtp`` (Airflow's ``smtp_default`` connection) or ``slack`` (an incoming-webhook URL kept
in an Airflow connection, never in the configuration file). A notification that cannot be sent is logged, never
raised: the callback must not hide the failure it reports.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from airflow.sdk.bases.notifier import BaseNotifier

SLACK_TIMEOUT_SECONDS = 10


def _exception_text(context: dict[str, Any]) -> str:
    exception = context.get("exception")
    if exception is None:
        reason = context.get("reason")
        return str(reason) if reason else "no exception recorded (time-out or upstream failure)"
    text = f"{type(exception).__name__}: {exception}"
    return text if len(text) <= 1500 else text[:1500] + " …"


def failure_message(context: dict[str, Any]) -> tuple[str, str]:
    """(subject, body) describing a failed task or DAG run from an Airflow callback context."""
    dag = context.get("dag")
    dag_id = getattr(dag, "dag_id", None) or "unknown DAG"
    task_instance = context.get("ti") or context.get("task_instance")
    run_id = context.get("run_id") or getattr(context.get("dag_run"), "run_id", None) or "unknown run"
    # Airflow 3 gives a DAG-run callback the context of the run's last task plus the run's ``reason``; a task
    # callback never has ``reason``. Only the latter is a task failure.
    dag_run_failure = "reason" in context or task_instance is None
    log_url = getattr(task_instance, "log_url", None) if task_instance is not None else None
    if not dag_run_failure:
        task_id = getattr(task_instance, "task_id", "?")
        try_number = getattr(task_instance, "try_number", "?")
        subject = f"[pulla-personalize] {dag_id}.{task_id} failed"
        lines = [f"Task {task_id} of DAG {dag_id} failed (run {run_id}, try {try_number})."]
    else:
        subject = f"[pulla-personalize] DAG {dag_id} failed"
        lines = [f"DAG {dag_id} run {run_id} failed."]
        if task_instance is not None:
            lines.append(f"Last task: {getattr(task_instance, 'task_id', '?')}.")
    lines.append(f"Error: {_exception_text(context)}")
    if log_url:
        lines.append(f"Log: {log_url}")
    lines.append("Runbook: README, section 'Operating the pipeline'.")
    return subject, "\n".join(lines)


def slack_webhook_url(connection: Any) -> str:
    """The webhook URL of an Airflow connection: ``extra.webhook_url``, else the host (a full https URL)."""
    extra = connection.extra_dejson or {}
    url = extra.get("webhook_url") or connection.host or ""
    if not url.startswith("https://") and not url.startswith("http://"):
        raise ValueError(f"connection {connection.conn_id!r} holds no webhook URL (set extra.webhook_url)")
    return url


def post_to_slack(url: str, text: str) -> None:
    request = urllib.request.Request(
        url, data=json.dumps({"text": text}).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=SLACK_TIMEOUT_SECONDS) as response:
        if response.status >= 300:
            raise OSError(f"Slack answered HTTP {response.status}")


class PullaFailureNotifier(BaseNotifier):
    """Sends the failure of a task or DAG run to the configured channel."""

    def notify(self, context: dict[str, Any]) -> None:
        subject, body = failure_message(context)
        try:
            from pulla_personalize.pipeline_config import load_pipeline_config

            settings = load_pipeline_config().notifications
        except Exception as error:  # a broken config must not swallow the failure report
            self.log.error("%s\n%s\n(notification config unreadable, logged only: %s)", subject, body, error)
            return
        try:
            if settings.channel == "smtp":
                from airflow.providers.smtp.hooks.smtp import SmtpHook

                with SmtpHook(smtp_conn_id="smtp_default") as smtp:
                    smtp.send_email_smtp(to=list(settings.smtp_to), subject=subject, html_content=f"<pre>{body}</pre>")
            elif settings.channel == "slack":
                from airflow.sdk import BaseHook

                connection = BaseHook.get_connection(settings.slack_webhook_conn_id)
                post_to_slack(slack_webhook_url(connection), f"*{subject}*\n{body}")
            else:
                self.log.error("%s\n%s", subject, body)
                return
            self.log.info("Failure notification sent by %s: %s", settings.channel, subject)
        except Exception as error:
            self.log.error("%s\n%s\n(sending by %s failed: %s)", subject, body, settings.channel, error)
