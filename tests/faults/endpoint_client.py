"""Raw HTTP to the local endpoint for the hostile-request tests: what no SDK would send, answered or not."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

JSON_1_1 = "application/x-amz-json-1.1"
REST_JSON = "application/json"
CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.raw) if self.raw else {}

    @property
    def code(self) -> str:
        """The error code as botocore reads it: the body's ``__type``, else the ``x-amzn-ErrorType`` header."""
        return self.body.get("__type") or self.headers.get("x-amzn-errortype", "")

    @property
    def message(self) -> str:
        return self.body.get("message", "")


def connect(url: str, timeout: float = 10.0) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)


def send(
    url: str,
    path: str,
    body: bytes | str | dict[str, Any] = b"{}",
    *,
    target: str | None = None,
    method: str = "POST",
    connection: http.client.HTTPConnection | None = None,
) -> Answer:
    """One request; ``target`` (an operation name) makes it a control-plane call. ``body`` may be raw bytes."""
    if isinstance(body, dict):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    headers = {"Content-Type": JSON_1_1 if target else REST_JSON}
    if target:
        headers["X-Amz-Target"] = f"AmazonPersonalize.{target}"
    own = connection is None
    conn = connect(url) if own else connection
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, raw)
    finally:
        if own:
            conn.close()


def control(url: str, operation: str, body: bytes | str | dict[str, Any] = b"{}", **kwargs: Any) -> Answer:
    return send(url, "/", body, target=operation, **kwargs)


def assert_still_serving(url: str) -> None:
    """The endpoint answers a good request after whatever came before."""
    answer = control(url, "ListDatasetGroups", {"maxResults": 1})
    assert answer.status == 200, (answer.status, answer.raw[:300])
    assert "datasetGroups" in answer.body


def wait_active(describe: Callable[[], dict[str, Any]], timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        resource = describe()
        if resource.get("status") == "ACTIVE":
            return resource
        assert time.monotonic() < deadline, f"not ACTIVE after {timeout}s: {resource}"
        time.sleep(0.02)


def boto_clients(url: str) -> tuple[Any, Any, Any]:
    """Stock boto3 clients (personalize, runtime, events) without retries, so each answer is the endpoint's own."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"max_attempts": 1, "mode": "standard"})
    return tuple(  # type: ignore[return-value]
        boto3.client(name, endpoint_url=url, config=config, **CREDENTIALS)
        for name in ("personalize", "personalize-runtime", "personalize-events")
    )
