"""The failure notifier: the message it writes, and each channel (log, slack over a real local HTTP socket, smtp
to a port nobody listens on); a channel that cannot send, or a broken configuration, is logged and never raised."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk import DAG as AirflowDag
from structlog.testing import capture_logs

from pulla_airflow.notify import (
    PullaFailureNotifier,
    dag_run_url,
    failure_message,
    slack_webhook_url,
    task_log_url,
    ui_base_url,
)
from pulla_personalize.pipeline_config import CONFIG_PATH_ENV

# A real DAG object: calling the notifier renders its templates with the DAG's Jinja environment.
DAG = AirflowDag(dag_id="pulla_personalize_daily", schedule=None)
RUN_ID = "scheduled__2026-11-27T18:00:00+00:00"
# Airflow's own log_url falls back to http://localhost:8080 when [api] base_url is unset: it must not be used.
TI = SimpleNamespace(
    task_id="export_window", try_number=3, map_index=-1, log_url="http://localhost:8080/dags/x/runs/y/tasks/z"
)
SLACK_CONN_ID = "pulla_test_slack"


@pytest.fixture(autouse=True)
def airflow_ui(monkeypatch: pytest.MonkeyPatch) -> None:
    """The UI as ``make airflow --port 8089`` runs it: host and port set, no base_url."""
    monkeypatch.delenv("AIRFLOW__API__BASE_URL", raising=False)
    monkeypatch.delenv("AIRFLOW__API__SSL_CERT", raising=False)
    monkeypatch.setenv("AIRFLOW__API__HOST", "127.0.0.1")
    monkeypatch.setenv("AIRFLOW__API__PORT", "8089")


def task_context(exception: BaseException | None = None) -> dict[str, Any]:
    return {"dag": DAG, "ti": TI, "run_id": RUN_ID, "exception": exception}


def test_task_failure_message() -> None:
    subject, body = failure_message(task_context(ValueError("the gate failed")))
    assert subject == "[pulla-personalize] pulla_personalize_daily.export_window failed"
    lines = body.splitlines()
    assert lines[0] == f"Task export_window of DAG pulla_personalize_daily failed (run {RUN_ID}, try 3)."
    assert "Error: ValueError: the gate failed" in lines
    assert (
        "Log: http://127.0.0.1:8089/dags/pulla_personalize_daily/runs/scheduled__2026-11-27T18%3A00%3A00%2B00%3A00"
        "/tasks/export_window?try_number=3"
    ) in lines
    assert lines[-1] == "Runbook: README, section 'Operating the pipeline'."
    assert "localhost:8080" not in body


def test_links_follow_the_configured_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.pulla.kr/")
    _, body = failure_message(task_context(ValueError("boom")))
    assert (
        "Log: https://airflow.pulla.kr/dags/pulla_personalize_daily/runs/"
        "scheduled__2026-11-27T18%3A00%3A00%2B00%3A00/tasks/export_window?try_number=3"
    ) in body.splitlines()


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        pytest.param({"base_url": "https://airflow.pulla.kr/ops/"}, "https://airflow.pulla.kr/ops", id="base_url"),
        pytest.param({"host": "127.0.0.1", "port": "8089"}, "http://127.0.0.1:8089", id="host-port"),
        pytest.param({"host": "0.0.0.0", "port": "8080"}, "http://localhost:8080", id="bind-all"),
        pytest.param({}, "http://localhost:8080", id="nothing-set"),
        pytest.param({"host": "::1", "port": "8080"}, "http://[::1]:8080", id="ipv6"),
        pytest.param({"host": "af.internal", "port": "443", "ssl_cert": "/c.pem"}, "https://af.internal:443", id="tls"),
    ],
)
def test_ui_base_url(settings: dict[str, str], expected: str) -> None:
    assert ui_base_url(lambda section, key: settings.get(key) if section == "api" else None) == expected


def test_ui_base_url_reads_airflow_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ui_base_url() == "http://127.0.0.1:8089"
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.pulla.kr")
    assert ui_base_url() == "https://airflow.pulla.kr"


def test_ui_routes_match_airflows_own() -> None:
    # The same route TaskInstance.log_url builds from [api] base_url (airflow/models/taskinstance.py).
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    ti = SimpleNamespace(dag_id="d", run_id="manual__2026-11-28T00:00:00+00:00", task_id="t", map_index=2, try_number=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW__API__BASE_URL", "https://af.example")
        airflows = RuntimeTaskInstance.log_url.fget(ti)
    assert task_log_url("https://af.example", "d", ti.run_id, "t", 2, 1) == airflows
    assert task_log_url("https://af.example", "d", "r1", "t", -1, 0) == "https://af.example/dags/d/runs/r1/tasks/t"
    assert dag_run_url("https://af.example", "d", "r+1") == "https://af.example/dags/d/runs/r%2B1"


def test_long_errors_are_cut() -> None:
    _, body = failure_message(task_context(RuntimeError("x" * 5000)))
    error_line = next(line for line in body.splitlines() if line.startswith("Error: "))
    assert len(error_line) < 1600
    assert error_line.endswith(" …")


def test_task_failure_without_exception() -> None:
    _, body = failure_message({"dag": DAG, "task_instance": TI, "run_id": "r1"})
    assert "Error: no exception recorded (time-out or upstream failure)" in body


def test_dag_failure_message_without_task() -> None:
    dag_run = SimpleNamespace(run_id="manual__2026-11-28")
    subject, body = failure_message({"dag": DAG, "dag_run": dag_run, "reason": "timed_out"})
    assert subject == "[pulla-personalize] DAG pulla_personalize_daily failed"
    assert body.splitlines()[:3] == [
        "DAG pulla_personalize_daily run manual__2026-11-28 failed.",
        "Error: timed_out",
        "Run: http://127.0.0.1:8089/dags/pulla_personalize_daily/runs/manual__2026-11-28",
    ]
    assert "Log:" not in body


def test_dag_failure_message_with_the_last_task() -> None:
    # Airflow 3 gives a DAG-run callback the template context of the run's last task, plus the run's reason.
    context = {"dag": DAG, "ti": TI, "run_id": "manual__2026-11-28", "reason": "task_failure"}
    subject, body = failure_message(context)
    assert subject == "[pulla-personalize] DAG pulla_personalize_daily failed"
    lines = body.splitlines()
    assert lines[0] == "DAG pulla_personalize_daily run manual__2026-11-28 failed."
    assert "Last task: export_window." in lines
    assert "Error: task_failure" in lines
    assert "Run: http://127.0.0.1:8089/dags/pulla_personalize_daily/runs/manual__2026-11-28" in lines


def test_unknown_context() -> None:
    subject, body = failure_message({})
    assert subject == "[pulla-personalize] DAG unknown DAG failed"
    assert body.startswith("DAG unknown DAG run unknown run failed.")
    assert "http" not in body  # no link to a run nobody knows


def test_unreadable_ui_configuration_still_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    from pulla_airflow import notify as notify_module

    def broken() -> str:
        raise RuntimeError("config unreadable")

    monkeypatch.setattr(notify_module, "ui_base_url", broken)
    subject, body = failure_message(task_context(ValueError("boom")))
    assert subject.endswith("export_window failed")
    assert "Error: ValueError: boom" in body
    assert "Log:" not in body


def use_config(monkeypatch: pytest.MonkeyPatch, write_config: Callable[..., Path], **notifications: Any) -> None:
    path = write_config(lambda data: data["notifications"].update(notifications))
    monkeypatch.setenv(CONFIG_PATH_ENV, str(path))


def notify(context: dict[str, Any]) -> list[dict[str, Any]]:
    """Runs the notifier as Airflow does (calling it with the context); returns what it logged."""
    with capture_logs() as logs:
        PullaFailureNotifier()(context)
    return logs


def test_log_channel_writes_an_error(monkeypatch: pytest.MonkeyPatch, write_config: Callable[..., Path]) -> None:
    use_config(monkeypatch, write_config, channel="log")
    logs = notify(task_context(ValueError("boom")))
    errors = [entry for entry in logs if entry["log_level"] == "error"]
    assert len(errors) == 1
    assert errors[0]["event"].startswith("[pulla-personalize] pulla_personalize_daily.export_window failed\n")
    assert "Error: ValueError: boom" in errors[0]["event"]


def test_dag_run_callback_with_a_serialized_dag_still_notifies(
    monkeypatch: pytest.MonkeyPatch, write_config: Callable[..., Path]
) -> None:
    # ``airflow dags test`` hands the DAG-run callback a SerializedDAG, which has no Jinja environment.
    from airflow.serialization.serialized_objects import DagSerialization

    use_config(monkeypatch, write_config, channel="log")
    serialized = DagSerialization.from_dict(DagSerialization.to_dict(DAG))
    assert not hasattr(serialized, "get_template_env")
    logs = notify({"dag": serialized, "run_id": "manual__2026-11-28", "reason": "task_failure"})
    assert [entry["log_level"] for entry in logs] == ["error"]
    assert logs[0]["event"].startswith("[pulla-personalize] DAG pulla_personalize_daily failed\n")


def test_broken_config_falls_back_to_the_log(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CONFIG_PATH_ENV, str(tmp_path / "missing.yaml"))
    logs = notify(task_context(ValueError("boom")))
    assert [entry["log_level"] for entry in logs] == ["error"]
    event = logs[0]["event"]
    assert "pulla_personalize_daily.export_window failed" in event
    assert "notification config unreadable, logged only" in event
    assert "missing.yaml" in event


class SlackStub:
    """A local HTTP server that records each POST and answers with ``status``."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.requests: list[dict[str, Any]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                stub.requests.append(
                    {
                        "path": self.path,
                        "content_type": self.headers["Content-Type"],
                        "body": json.loads(self.rfile.read(length)),
                    }
                )
                self.send_response(stub.status)
                self.end_headers()
                self.wfile.write(b"ok" if stub.status < 300 else b"server error")

            def log_message(self, *args: Any) -> None:  # keep the test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T000/B000/secret"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def slack(request: pytest.FixtureRequest) -> Iterator[SlackStub]:
    stub = SlackStub(getattr(request, "param", 200))
    yield stub
    stub.close()


def use_slack(monkeypatch: pytest.MonkeyPatch, write_config: Callable[..., Path], connection: dict[str, Any]) -> None:
    use_config(monkeypatch, write_config, channel="slack", slack_webhook_conn_id=SLACK_CONN_ID)
    monkeypatch.setenv(f"AIRFLOW_CONN_{SLACK_CONN_ID.upper()}", json.dumps(connection))


def test_slack_channel_posts_json(
    slack: SlackStub, monkeypatch: pytest.MonkeyPatch, write_config: Callable[..., Path]
) -> None:
    use_slack(monkeypatch, write_config, {"conn_type": "http", "extra": {"webhook_url": slack.url}})
    logs = notify(task_context(ValueError("boom")))
    assert len(slack.requests) == 1
    sent = slack.requests[0]
    assert sent["path"] == "/services/T000/B000/secret"
    assert sent["content_type"] == "application/json"
    text = sent["body"]["text"]
    assert text.startswith("*[pulla-personalize] pulla_personalize_daily.export_window failed*\n")
    assert "Error: ValueError: boom" in text
    assert [entry["log_level"] for entry in logs] == ["info"]
    assert "Failure notification sent by slack" in logs[0]["event"]


@pytest.mark.parametrize("slack", [500], indirect=True)
def test_slack_server_error_is_logged_not_raised(
    slack: SlackStub, monkeypatch: pytest.MonkeyPatch, write_config: Callable[..., Path]
) -> None:
    use_slack(monkeypatch, write_config, {"conn_type": "http", "extra": {"webhook_url": slack.url}})
    logs = notify(task_context(ValueError("boom")))
    assert len(slack.requests) == 1
    assert [entry["log_level"] for entry in logs] == ["error"]
    event = logs[0]["event"]
    assert "pulla_personalize_daily.export_window failed" in event  # the failure itself is still reported
    assert "sending by slack failed" in event
    assert "500" in event


def test_slack_connection_without_url_is_logged(
    monkeypatch: pytest.MonkeyPatch, write_config: Callable[..., Path]
) -> None:
    use_slack(monkeypatch, write_config, {"conn_type": "http", "host": "hooks.slack.com"})
    logs = notify(task_context(ValueError("boom")))
    assert [entry["log_level"] for entry in logs] == ["error"]
    assert "holds no webhook URL (set extra.webhook_url)" in logs[0]["event"]


def test_slack_webhook_url_from_host() -> None:
    from airflow.sdk import Connection

    connection = Connection(conn_id="c", conn_type="http", host="https://hooks.slack.com/services/T/B/x")
    assert slack_webhook_url(connection) == "https://hooks.slack.com/services/T/B/x"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_smtp_that_cannot_connect_is_logged(monkeypatch: pytest.MonkeyPatch, write_config: Callable[..., Path]) -> None:
    use_config(monkeypatch, write_config, channel="smtp", smtp_to=["ops@pulla.kr"])
    smtp = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": closed_port(),
        "extra": {"disable_ssl": True, "disable_tls": True, "timeout": 2, "retry_limit": 1},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(smtp))
    logs = notify(task_context(ValueError("boom")))
    errors = [entry for entry in logs if entry["log_level"] == "error"]
    assert len(errors) == 1
    assert "pulla_personalize_daily.export_window failed" in errors[0]["event"]
    assert "sending by smtp failed" in errors[0]["event"]
    assert "Connection refused" in errors[0]["event"]


class SmtpStub(socketserver.ThreadingTCPServer):
    """Just enough of an SMTP server on 127.0.0.1 to accept one plain-text message and keep it."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        super().__init__(("127.0.0.1", 0), SmtpHandler)


class SmtpHandler(socketserver.StreamRequestHandler):
    server: SmtpStub

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        envelope: dict[str, Any] = {"recipients": []}
        self.reply("220 pulla-test ESMTP")
        while line := self.rfile.readline():
            command = line.decode().strip()
            verb = command.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 pulla-test")  # no STARTTLS, no AUTH offered
            elif verb == "MAIL":
                envelope["sender"] = command
                self.reply("250 OK")
            elif verb == "RCPT":
                envelope["recipients"].append(command.split(":", 1)[1].strip(" <>"))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 end with .")
                data = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk
                envelope["data"] = data.decode()
                self.server.messages.append(envelope)
                envelope = {"recipients": []}
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 OK")


def test_smtp_channel_sends_the_mail(monkeypatch: pytest.MonkeyPatch, write_config: Callable[..., Path]) -> None:
    use_config(monkeypatch, write_config, channel="smtp", smtp_to=["ops@pulla.kr", "data@pulla.kr"])
    server = SmtpStub()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    smtp = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": server.server_address[1],
        "extra": {
            "disable_ssl": True,
            "disable_tls": True,
            "timeout": 5,
            "retry_limit": 1,
            "from_email": "af@pulla.kr",
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(smtp))
    try:
        logs = notify(task_context(ValueError("boom")))
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert [entry["log_level"] for entry in logs] == ["info"], logs
    assert "Failure notification sent by smtp" in logs[0]["event"]
    assert len(server.messages) == 1
    message = server.messages[0]
    assert sorted(message["recipients"]) == ["data@pulla.kr", "ops@pulla.kr"]
    assert "Subject: [pulla-personalize] pulla_personalize_daily.export_window failed" in message["data"]
