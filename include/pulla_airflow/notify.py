"""The failure notification of every Pulla DAG, through Airflow's notifier interface.

The channel comes from the pipeline configuration (``notifications``): ``log`` (the default: an ERROR line a log
shipper can alert on), ``smtp`` (Airflow's ``smtp_default`` connection) or ``slack`` (an incoming-webhook URL kept
in an Airflow connection, never in the configuration file). A notification that cannot be sent is logged, never
raised: the callback must not hide the failure it reports.

The links point at the Airflow UI that actually runs: ``[api] base_url`` when set (what production sets, e.g.
``https://airflow.pulla.kr``), else ``http://<[api] host>:<[api] port>`` (``make airflow`` sets both, so
``--port 8089`` links to 8089). Airflow's own ``TaskInstance.log_url`` falls back to a fixed
``http://localhost:8080/`` when ``base_url`` is unset, so it is not used; the route is the same.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from airflow.sdk.bases.notifier import BaseNotifier

SLACK_TIMEOUT_SECONDS = 10
#: A bind-all address is where the API server listens, not an address a link can open.
_WILDCARD_HOSTS = ("", "0.0.0.0", "::", "[::]")


def _airflow_setting(section: str, key: str) -> str | None:
    from airflow.sdk import conf

    value = conf.get(section, key, fallback=None)
    return str(value) if value not in (None, "") else None


def ui_base_url(setting: Callable[[str, str], str | None] = _airflow_setting) -> str:
    """The Airflow UI's address, without a trailing slash: ``[api] base_url``, else built from host and port.

    ``setting(section, key)`` reads one configuration value (None when unset); the default reads Airflow's
    configuration (airflow.cfg or ``AIRFLOW__API__*`` variables).
    """
    base_url = setting("api", "base_url")
    if base_url:
        return base_url.rstrip("/")
    host = (setting("api", "host") or "").strip()
    if host in _WILDCARD_HOSTS:
        host = "localhost"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address in a URL
    port = (setting("api", "port") or "8080").strip()
    scheme = "https" if setting("api", "ssl_cert") else "http"
    return f"{scheme}://{host}:{port}"


def task_log_url(
    base_url: str, dag_id: str, run_id: str, task_id: str, map_index: int | None = -1, try_number: int | None = None
) -> str:
    """The task instance's log page in the Airflow 3 UI (the route ``TaskInstance.log_url`` builds)."""
    mapped = f"/mapped/{map_index}" if map_index is not None and map_index >= 0 else ""
    try_part = f"?try_number={try_number}" if isinstance(try_number, int) and try_number > 0 else ""
    return f"{base_url}/dags/{dag_id}/runs/{quote(run_id)}/tasks/{task_id}{mapped}{try_part}"


def dag_run_url(base_url: str, dag_id: str, run_id: str) -> str:
    """The DAG run's page in the Airflow 3 UI."""
    return f"{base_url}/dags/{dag_id}/runs/{quote(run_id)}"


def _exception_text(context: dict[str, Any]) -> str:
    exception = context.get("exception")
    if exception is None:
        reason = context.get("reason")
        return str(reason) if reason else "no exception recorded (time-out or upstream failure)"
    text = f"{type(exception).__name__}: {exception}"
    return text if len(text) <= 1500 else text[:1500] + " …"


def failure_message(context: dict[str, Any], base_url: str | None = None) -> tuple[str, str]:
    """(subject, body) describing a failed task or DAG run from an Airflow callback context.

    ``base_url`` is the UI's address for the links (default: ``ui_base_url()``).
    """
    dag = context.get("dag")
    dag_id = getattr(dag, "dag_id", None) or "unknown DAG"
    task_instance = context.get("ti") or context.get("task_instance")
    known_run_id = context.get("run_id") or getattr(context.get("dag_run"), "run_id", None)
    run_id = known_run_id or "unknown run"
    # Airflow 3 gives a DAG-run callback the context of the run's last task plus the run's ``reason``; a task
    # callback never has ``reason``. Only the latter is a task failure.
    dag_run_failure = "reason" in context or task_instance is None
    link = None
    if dag is not None and known_run_id:
        try:
            base = base_url or ui_base_url()
        except Exception:  # an unreadable configuration must not stop the report; it goes without a link
            base = None
        if base and dag_run_failure:
            link = "Run: " + dag_run_url(base, dag_id, known_run_id)
        elif base:
            link = "Log: " + task_log_url(
                base,
                dag_id,
                known_run_id,
                str(getattr(task_instance, "task_id", "?")),
                getattr(task_instance, "map_index", -1),
                getattr(task_instance, "try_number", None),
            )
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
    if link:
        lines.append(link)
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

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        # Nothing here is templated. Rendering anyway needs the DAG's Jinja environment, which the serialized DAG
        # a DAG-run callback may get (``airflow dags test`` in 3.3) does not have: the callback then failed with
        # AttributeError 'get_template_env' and no notification was sent.
        if self.template_fields:
            super().render_template_fields(context, jinja_env)

    def notify(self, context: dict[str, Any]) -> None:
        subject, body = failure_message(context)
        # The one reader of the file outside read_config: a failure callback also runs when read_config itself
        # failed (no run copy exists then), and on-call settings are best taken as they are now.
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
