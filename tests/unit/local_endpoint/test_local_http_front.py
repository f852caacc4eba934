"""The local endpoint's httptools front end, spoken to over raw sockets: keep-alive, pipelining, errors, fairness."""

from __future__ import annotations

import asyncio
import json
import re
import socket

import pytest

from personalize_local.server import LocalEndpoint, _Dispatcher
from personalize_local.service import EndpointSettings

pytest.importorskip("httptools")


@pytest.fixture
def endpoint(tmp_path):
    with LocalEndpoint(EndpointSettings(data_dir=tmp_path, status_delay=0.05), server="httptools") as running:
        yield running


def _connect(endpoint: LocalEndpoint) -> socket.socket:
    host, port = endpoint.url.removeprefix("http://").rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=10)


def _read_response(sock: socket.socket, buffer: bytearray) -> tuple[int, dict[str, str], bytes]:
    """(status, lower-case headers, body) of the next response; ``buffer`` keeps bytes read past it."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed before a full response: {bytes(buffer)!r}")
        buffer += chunk
    head, _, _ = bytes(buffer).partition(b"\r\n\r\n")
    del buffer[: len(head) + 4]
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value for name, value in (line.split(": ", 1) for line in lines)}
    length = int(headers.get("content-length", "0"))
    while len(buffer) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed inside a body")
        buffer += chunk
    body = bytes(buffer[:length])
    del buffer[:length]
    return int(status_line.split(" ")[1]), headers, body


def _closed_by_server(sock: socket.socket) -> bool:
    return sock.recv(1) == b""


def test_pipelined_requests_are_answered_in_order_on_a_kept_alive_connection(endpoint):
    with _connect(endpoint) as sock:
        sock.sendall(
            b"GET /health HTTP/1.1\r\nHost: local\r\n\r\n"
            b"GET /nowhere HTTP/1.1\r\nHost: local\r\n\r\n"
            b"POST / HTTP/1.1\r\nHost: local\r\nX-Amz-Target: AmazonPersonalize.ListDatasetGroups\r\n"
            b"Content-Type: application/x-amz-json-1.1\r\nContent-Length: 2\r\n\r\n{}"
        )
        buffer = bytearray()
        first, second, third = (_read_response(sock, buffer) for _ in range(3))
        assert first[0] == 200
        assert json.loads(first[2])["status"] == "ok"
        assert second[0] == 404
        assert "GET /nowhere" in json.loads(second[2])["message"]
        # The control-plane call went through the thread pool and still came back third, in JSON 1.1.
        assert third[0] == 200
        assert third[1]["content-type"] == "application/x-amz-json-1.1"
        assert json.loads(third[2])["datasetGroups"] == []
        assert re.fullmatch(r"[0-9a-f-]{36}", third[1]["x-amzn-requestid"])
        # Still open: a fourth request on the same connection.
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: local\r\n\r\n")
        assert _read_response(sock, buffer)[0] == 200


def test_connection_close_is_honoured(endpoint):
    with _connect(endpoint) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: local\r\nConnection: close\r\n\r\n")
        status, headers, _ = _read_response(sock, bytearray())
        assert status == 200
        assert headers["connection"] == "close"
        assert _closed_by_server(sock)


def test_a_malformed_request_gets_400_and_the_connection_closes(endpoint):
    with _connect(endpoint) as sock:
        sock.sendall(b"THIS IS NOT HTTP\r\n\r\n")
        status, _, body = _read_response(sock, bytearray())
        assert status == 400
        assert "malformed HTTP request" in json.loads(body)["message"]
        assert _closed_by_server(sock)


def test_expect_100_continue_gets_an_interim_response(endpoint):
    body = json.dumps({"name": "continued"}).encode()
    with _connect(endpoint) as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nHost: local\r\nX-Amz-Target: AmazonPersonalize.CreateDatasetGroup\r\n"
            b"Content-Type: application/x-amz-json-1.1\r\nExpect: 100-continue\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)
        )
        buffer = bytearray()
        interim = _read_response(sock, buffer)
        assert interim[0] == 100
        sock.sendall(body)
        status, _, answer = _read_response(sock, buffer)
        assert status == 200
        assert json.loads(answer)["datasetGroupArn"].endswith(":dataset-group/continued")


class _Connection:
    """Stands in for a connection in the dispatcher: records when it is answered, may queue another request."""

    def __init__(self, name: str, log: list[str], dispatcher: _Dispatcher, more: int = 0) -> None:
        self.name, self.log, self.dispatcher, self.more = name, log, dispatcher, more

    def answer_next(self) -> None:
        self.log.append(self.name)
        # What a socket read between two answers would do: schedule a callback on the loop.
        self.dispatcher.loop.call_soon(self.log.append, f"io-after-{self.name}")
        if self.more:
            self.more -= 1
            self.dispatcher.enqueue(self)


def test_the_dispatcher_answers_first_come_first_served_and_lets_the_loop_run_between_answers():
    loop = asyncio.new_event_loop()
    try:
        dispatcher = _Dispatcher(loop)
        log: list[str] = []
        a = _Connection("a", log, dispatcher, more=1)  # a pipelined second request goes to the back of the line
        b = _Connection("b", log, dispatcher)
        c = _Connection("c", log, dispatcher)
        for connection in (a, b, c):
            dispatcher.enqueue(connection)
        loop.run_until_complete(asyncio.sleep(0.01))
    finally:
        loop.close()
    answers = [entry for entry in log if not entry.startswith("io-")]
    assert answers == ["a", "b", "c", "a"]
    # Every answer's follow-up callback ran before the next answer: one request per pass of the loop.
    assert log == ["a", "io-after-a", "b", "io-after-b", "c", "io-after-c", "a", "io-after-a"]
