"""The HTTP front of the local endpoint: the three Personalize wire protocols on one port.

- ``POST /`` with ``X-Amz-Target: AmazonPersonalize.<Operation>``: the control plane, JSON 1.1. Errors are HTTP
  400 with ``{"__type": "<Code>", "message": ...}``, as botocore's JSON parser expects.
- ``POST /recommendations`` and ``POST /personalize-ranking``: personalize-runtime GetRecommendations and
  GetPersonalizedRanking, REST-JSON.
- ``POST /events``, ``POST /items``, ``POST /users``: personalize-events PutEvents, PutItems and PutUsers,
  REST-JSON (errors carry ``x-amzn-ErrorType`` and the model's HTTP status).

boto3 clients created with ``endpoint_url`` send every request to that host with the model's path, so one port
serves all three services. Signatures are not checked (so the endpoint must not be exposed beyond loopback or a
private network); the region in the SigV4 credential scope goes into ARNs.

A bad request gets the service's 4xx answer, never a 500: :func:`route` takes only POST on the JSON routes (405
otherwise) and checks every body against botocore's model of the operation before the operation runs
(:mod:`~personalize_local.request_validation`). The front ends refuse bodies over :data:`MAX_BODY_BYTES` with 413
without buffering them, and the default one also refuses oversized heads (431) and closes connections that go
:data:`IDLE_TIMEOUT` seconds without a complete request (uvicorn's keep-alive timeout and the standard library's
socket timeout play that part in the others).

Three front ends share :func:`route`. The default is a small HTTP/1.1 server on one event loop (uvloop when
installed) that parses with httptools (both come with the Airflow install's uvicorn): one loop answers 50
concurrent keep-alive clients with far less overhead than a thread each. Compared with uvicorn it skips the ASGI
machinery per request (about a sixth of a warm GetRecommendations' server time) and answers requests strictly in
arrival order (see :class:`_Dispatcher`), which halved the p99 latency under 50 back-to-back clients. Runtime calls
are answered on the loop (they take a fraction of a millisecond) and control-plane calls, which write files, go to
a thread pool. uvicorn itself (``server="uvicorn"``) runs the same routing as an ASGI app, and the standard
library's ThreadingHTTPServer is the fallback when neither is importable (``server="stdlib"``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import threading
import time
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from personalize_local import errors, request_validation, support
from personalize_local.service import EndpointSettings, PersonalizeService

log = logging.getLogger(__name__)

TARGET_PREFIX = "AmazonPersonalize."
JSON_1_1 = "application/x-amz-json-1.1"
REST_JSON = "application/json"
_REGION_IN_AUTH = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/")

Response = tuple[int, bytes, str, dict[str, str]]
#: personalize-events' PutItems and PutUsers, which rebuild serving indexes (off the event loop).
RECORD_PATHS = ("/items", "/users")
#: Largest request body taken. Personalize documents no byte limit for these APIs, but its models bound every
#: member: the largest real request (a CreateSchema at the model's 10,000 characters, or a PutEvents of 10 events
#: with 1 KB of properties each) is well under 100 KB. 10 MB refuses nothing real and keeps a hostile upload from
#: being buffered: a larger Content-Length is refused before the body is read, a chunked body once it passes this.
MAX_BODY_BYTES = 10 * 1024 * 1024
#: Largest request line plus headers (botocore sends under 2 KB, signature included).
MAX_HEAD_BYTES = 64 * 1024
#: Seconds a connection may go without a complete request (an idle keep-alive one, or a client sending slowly or
#: never finishing) before it is closed, so half-sent requests cannot hold connections open for ever.
IDLE_TIMEOUT = 30.0
#: Front ends: "auto" picks httptools, else uvicorn, else stdlib, by what is installed.
SERVER_KINDS = ("auto", "httptools", "uvicorn", "stdlib")


@dataclass(frozen=True)
class HttpLimits:
    """What one request may take: body and head sizes in bytes, and seconds without a complete request."""

    max_body_bytes: int = MAX_BODY_BYTES
    max_head_bytes: int = MAX_HEAD_BYTES
    idle_timeout: float = IDLE_TIMEOUT


def _too_large(limits: HttpLimits) -> errors.RequestTooLargeError:
    return errors.RequestTooLargeError(f"The request body is larger than {limits.max_body_bytes} bytes")


def _encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def _error(exc: errors.ServiceError, *, json_1_1: bool) -> Response:
    body = _encode({"__type": exc.code, "message": exc.message})
    extra = {"allow": "POST"} if isinstance(exc, errors.MethodNotAllowedError) else {}
    if json_1_1:
        # JSON 1.1 answers client errors with 400, except what the HTTP layer refuses before any operation.
        status = exc.rest_status if exc.rest_status in (405, 413) else 400
        return status, body, JSON_1_1, extra
    return exc.rest_status, body, REST_JSON, {"x-amzn-ErrorType": exc.code, **extra}


def _internal_error(exc: Exception, content_type: str) -> Response:
    log.exception("request failed")
    message = errors.shorten(f"Internal error in the local endpoint: {type(exc).__name__}: {exc}", 500)
    return 500, _encode({"__type": "InternalFailure", "message": message}), content_type, {}


def is_control_plane(headers: dict[str, str]) -> bool:
    return (headers.get("x-amz-target") or "").startswith(TARGET_PREFIX)


def route(
    service: PersonalizeService,
    method: str,
    path: str,
    headers: dict[str, str],
    raw: bytes,
    parsed: dict[str, Any] | None = None,
) -> Response:
    """(status, body, content type, extra headers) for one request; ``headers`` keys are lower case.

    ``parsed``: the JSON object of ``raw`` when the caller has already decoded it.
    """
    target = headers.get("x-amz-target") or ""
    path = path.split("?", 1)[0]
    if method == "GET":
        if path in ("/", "/health"):
            return 200, _encode({"status": "ok", "service": "personalize-local"}), REST_JSON, {}
        return 404, _encode({"message": f"no route for GET {path}"}), REST_JSON, {}
    json_1_1 = target.startswith(TARGET_PREFIX)
    if json_1_1:
        match = _REGION_IN_AUTH.search(headers.get("authorization") or "")
        operation = target[len(TARGET_PREFIX) :]
        region = match.group(1) if match else None
        invocation_id = headers.get("amz-sdk-invocation-id")
        model = request_validation.CONTROL_PLANE

        def action(body: dict[str, Any]) -> dict[str, Any]:
            return service.handle(operation, body, region, invocation_id)

    elif path == "/recommendations":
        action, model, operation = service.get_recommendations, request_validation.RUNTIME, "GetRecommendations"
    elif path == "/personalize-ranking":
        action, model = service.get_personalized_ranking, request_validation.RUNTIME
        operation = "GetPersonalizedRanking"
    elif path == "/events":
        action, model, operation = service.put_events, request_validation.EVENTS, "PutEvents"
    elif path == "/items":
        action, model, operation = service.put_items, request_validation.EVENTS, "PutItems"
    elif path == "/users":
        action, model, operation = service.put_users, request_validation.EVENTS, "PutUsers"
    else:
        rest = support.rest_operation(path)  # a runtime or events operation the endpoint does not implement
        message = (
            support.unknown_operation_message(rest)
            if rest
            else (
                f"Operation for {method} {errors.shorten(path)} (target {errors.shorten(target)!r}) "
                "is not supported by the local endpoint"
            )
        )
        return _error(errors.UnknownOperationError(message), json_1_1=not path.strip("/"))
    content_type = JSON_1_1 if json_1_1 else REST_JSON
    try:
        if method != "POST":
            raise errors.MethodNotAllowedError(f"{method} is not allowed on {errors.shorten(path)}: use POST")
        body = parsed if parsed is not None else request_validation.load_body(raw)
        # The model's checks come before the operation looks anything up, as the service's do.
        request_validation.validate(model, operation, body)
        return 200, _encode(action(body)), content_type, {}
    except errors.ServiceError as exc:
        return _error(exc, json_1_1=json_1_1)
    except Exception as exc:
        return _internal_error(exc, content_type)


#: Runtime calls that may need a model loaded first (see quick_request_body).
RUNTIME_PATHS = ("/recommendations", "/personalize-ranking")


def quick_request_body(
    service: PersonalizeService, path: str, headers: dict[str, str], raw: bytes
) -> dict[str, Any] | None:
    """None if the request must leave the event loop; else its JSON object, or {} when not decoded here.

    Control-plane calls write state files, PutItems and PutUsers build serving indexes anew, and a
    GetRecommendations whose model is not in memory yet loads it: all go to a thread pool. GetRecommendations
    bodies are decoded here once, to find the campaign, and handed to :func:`route` as ``parsed``.
    """
    if is_control_plane(headers) or path in RECORD_PATHS:
        return None
    if path not in RUNTIME_PATHS:
        return {}
    try:
        body = request_validation.load_body(raw)
    except errors.ServiceError:
        return {}  # answered at once with an error
    return body if service.runtime_is_warm(body.get("campaignArn")) else None


# ---- uvicorn (ASGI) front end ----------------------------------------------------------------------------------


class AsgiApp:
    """The endpoint as a bare ASGI application (no framework: routing is four cases)."""

    def __init__(self, service: PersonalizeService, control_workers: int = 8, limits: HttpLimits | None = None) -> None:
        self.service = service
        self.limits = limits or HttpLimits()
        self.pool = ThreadPoolExecutor(max_workers=control_workers, thread_name_prefix="personalize-control")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        chunks, size, limit = [], 0, self.limits.max_body_bytes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await self._send(send, _error(_too_large(self.limits), json_1_1=is_control_plane(headers)))
            return
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:  # a chunked body: refused once it passes the limit, not buffered whole
                await self._send(send, _error(_too_large(self.limits), json_1_1=is_control_plane(headers)))
                return
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        arguments = (self.service, scope["method"], scope["path"], headers, b"".join(chunks))
        parsed = quick_request_body(self.service, scope["path"], headers, arguments[-1])
        if parsed is None:
            # Control-plane calls write state files, and a cold GetRecommendations loads a model: keep both off
            # the event loop, which answers everything else.
            loop = asyncio.get_running_loop()
            status, body, content_type, extra = await loop.run_in_executor(self.pool, route, *arguments)
        else:
            status, body, content_type, extra = route(*arguments, parsed or None)
        await self._send(send, (status, body, content_type, extra))

    @staticmethod
    async def _send(send: Any, response: Response) -> None:
        status, body, content_type, extra = response
        response_headers = [
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"x-amzn-requestid", str(uuid.uuid4()).encode()),
            *((name.encode(), value.encode()) for name, value in extra.items()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": body})


class _UvicornFront:
    def __init__(self, service: PersonalizeService, sock: socket.socket, limits: HttpLimits) -> None:
        import uvicorn

        self.app = AsgiApp(service, limits=limits)
        loop = "uvloop" if _importable("uvloop") else "asyncio"
        http = "httptools" if _importable("httptools") else "h11"
        config = uvicorn.Config(
            self.app,
            loop=loop,
            http=http,
            lifespan="off",
            access_log=False,
            log_level="warning",
            backlog=512,
            proxy_headers=False,  # no proxy in front: skip the middleware on every request
            server_header=False,
            timeout_keep_alive=max(1, round(limits.idle_timeout)),
            h11_max_incomplete_event_size=limits.max_head_bytes,
        )
        self.server = uvicorn.Server(config)
        self.sock = sock
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.app.pool.shutdown(wait=False, cancel_futures=True)
        self.sock.close()


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


# ---- asyncio + httptools front end ------------------------------------------------------------------------------

_REASONS = {status.value: status.phrase.encode() for status in HTTPStatus}


class _DateHeader:
    """The Date header line, formatted once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._line = b""

    def line(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._line = b"date: " + formatdate(now, usegmt=True).encode() + b"\r\n"
        return self._line


class _Dispatcher:
    """Answers the connections' requests one at a time, first come first served, polling for new ones in between.

    Answering every request that one poll of the sockets returned before looking again would let a request that
    arrives just after the poll wait behind a whole round of others, and the socket order the kernel reports is not
    the order of arrival, so under load some clients would keep waiting two rounds. Reading between requests
    keeps the queue in arrival order (to within one request).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.ready: deque[_HttpProtocol] = deque()
        self.scheduled = False

    def enqueue(self, connection: _HttpProtocol) -> None:
        self.ready.append(connection)
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self._answer_one)

    def _answer_one(self) -> None:
        self.scheduled = False
        if self.ready:
            self.ready.popleft().answer_next()
        if self.ready and not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self._answer_one)  # after the loop's next (non-blocking) poll of the sockets


class _HttpProtocol(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, parsed by httptools; its requests are answered in order.

    Warm GetRecommendations (and PutEvents) calls are answered right on the event loop; control-plane calls, which
    write state files, and a GetRecommendations that must first load a model go to the app's thread pool.

    A request whose head or body passes the front's limits is answered at once (431 or 413) without reading the
    rest; the connection then only drains what the client still sends, for a moment, so the client sees the answer
    instead of a reset, and closes. The front's sweeper closes connections that stay without a complete request
    for the idle timeout.
    """

    def __init__(
        self, front: _HttptoolsFront, date: _DateHeader, dispatcher: _Dispatcher, open_connections: set[_HttpProtocol]
    ) -> None:
        import httptools

        self.front = front
        self.date = date
        self.dispatcher = dispatcher
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.pending: deque[tuple[str, str, dict[str, str], bytes, bool]] = deque()
        self.open_connections = open_connections
        self.busy = False  # a request of this connection is in the thread pool
        self.queued = False  # waiting in the dispatcher's queue
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self.limits: HttpLimits = front.limits
        self._head_size = 0
        self._body_size = 0
        self.refused = False  # answered with an error before the request was read: drain and close
        self.idle_since = 0.0  # loop time since when the connection has had no complete request to answer

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.open_connections.add(self)
        self.idle_since = self.dispatcher.loop.time()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.open_connections.discard(self)

    def data_received(self, data: bytes) -> None:
        import httptools

        if self.refused:
            return  # drained: the answer is already sent
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400, "protocol upgrades are not supported")
            return
        except httptools.HttpParserError as exc:
            self._fail(400, f"malformed HTTP request: {errors.shorten(str(exc))}")
            return
        self._queue()

    def idle_expired(self, now: float) -> bool:
        """Whether the connection has gone the idle timeout without a complete request (called by the sweeper)."""
        waiting = self.pending or self.busy or self.queued
        return not waiting and not self.refused and now - self.idle_since > self.limits.idle_timeout

    # httptools callbacks
    def on_message_begin(self) -> None:
        # A request has the idle timeout from its first byte to arrive whole: trickling bytes does not extend it.
        self.idle_since = self.dispatcher.loop.time()
        self._url = b""
        self._headers = {}
        self._body = []
        self._head_size = 0
        self._body_size = 0

    def _count_head(self, size: int) -> bool:
        self._head_size += size
        if self._head_size > self.limits.max_head_bytes and not self.refused:
            self._fail(431, f"The request line and headers are larger than {self.limits.max_head_bytes} bytes")
        return not self.refused

    def on_url(self, url: bytes) -> None:
        if self._count_head(len(url)):
            self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._count_head(len(name) + len(value)):
            return
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        self._headers[key] = f"{self._headers[key]}, {text}" if key in self._headers else text

    def on_headers_complete(self) -> None:
        if self.refused:
            return
        declared = self._headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.limits.max_body_bytes:
            # Refused on the declared size: not one byte of the body is read.
            self._refuse_body()
            return
        if self._headers.get("expect", "").lower() == "100-continue" and self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        if self.refused:
            return
        self._body_size += len(body)
        if self._body_size > self.limits.max_body_bytes:  # chunked: no size was declared
            self._body = []
            self._refuse_body()
            return
        self._body.append(body)

    def _refuse_body(self) -> None:
        response = _error(_too_large(self.limits), json_1_1=is_control_plane(self._headers))
        self._refuse(response)

    def on_message_complete(self) -> None:
        if self.refused:
            return
        method = self.parser.get_method().decode("ascii")
        path = self._url.decode("latin-1")
        self.pending.append((method, path, self._headers, b"".join(self._body), self.parser.should_keep_alive()))

    # answering
    def _queue(self) -> None:
        if self.pending and not self.busy and not self.queued and self.transport is not None:
            self.queued = True
            self.dispatcher.enqueue(self)

    def answer_next(self) -> None:
        """Answer the oldest pending request (called by the dispatcher)."""
        self.queued = False
        if not self.pending or self.busy or self.transport is None:
            return
        method, path, headers, raw, keep_alive = self.pending.popleft()
        arguments = (self.front.service, method, path, headers, raw)
        try:
            parsed = quick_request_body(self.front.service, path, headers, raw)
            response = route(*arguments, parsed or None) if parsed is not None else None
        except Exception as exc:  # route answers its own errors; this guards the connection against the rest
            response = _internal_error(exc, REST_JSON)
        if response is not None:
            self._respond(response, keep_alive)
            self._queue()  # a pipelined request goes to the back of the line
            return
        self.busy = True
        future = self.dispatcher.loop.run_in_executor(self.front.pool, route, *arguments)
        future.add_done_callback(lambda done: self._answered(done, keep_alive))

    def _answered(self, future: asyncio.Future, keep_alive: bool) -> None:
        self.busy = False
        if future.cancelled():
            return
        self._respond(future.result(), keep_alive)
        self._queue()

    def _respond(self, response: Response, keep_alive: bool, *, refusal: bool = False) -> None:
        if self.transport is None or (self.refused and not refusal):
            return  # gone, or refused: nothing more is written after the refusal
        self.idle_since = self.dispatcher.loop.time()
        status, body, content_type, extra = response
        head = [
            b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b"")),
            self.date.line(),
            b"content-type: %s\r\ncontent-length: %d\r\n" % (content_type.encode(), len(body)),
            b"x-amzn-requestid: %s\r\n" % str(uuid.uuid4()).encode(),
            *(b"%s: %s\r\n" % (name.encode(), value.encode()) for name, value in extra.items()),
            b"" if keep_alive else b"connection: close\r\n",
            b"\r\n",
            body,
        ]
        self.transport.write(b"".join(head))
        if not keep_alive and not refusal:
            self.transport.close()
            self.transport = None

    def _fail(self, status: int, message: str) -> None:
        self._refuse((status, _encode({"message": message}), REST_JSON, {}))

    def _refuse(self, response: Response) -> None:
        """Answer with an error before the request is read, then drain what the client still sends, and close.

        Closing at once with unread bytes would make the kernel reset the connection, and the client could lose
        the answer; draining for a moment (bounded, whatever the client does) lets it read it.
        """
        self.pending.clear()
        self.refused = True
        transport = self.transport
        if transport is None:
            return
        self._respond(response, keep_alive=False, refusal=True)  # the close comes after the drain
        if transport.can_write_eof():
            transport.write_eof()
        self.dispatcher.loop.call_later(_DRAIN_SECONDS, transport.close)


#: How long a connection refused before its request was read keeps draining the client's bytes before closing.
_DRAIN_SECONDS = 1.0


class _HttptoolsFront:
    """The endpoint on its own event loop (uvloop when installed): a lean HTTP/1.1 server for many keep-alive clients.

    Requests get the same routing as under uvicorn, without the ASGI machinery (a task, a scope and message dicts
    per request).
    """

    def __init__(
        self, service: PersonalizeService, sock: socket.socket, limits: HttpLimits, control_workers: int = 8
    ) -> None:
        self.service = service
        self.limits = limits
        self.pool = ThreadPoolExecutor(max_workers=control_workers, thread_name_prefix="personalize-control")
        self.sock = sock
        if _importable("uvloop"):
            import uvloop

            self.loop = uvloop.new_event_loop()
        else:
            self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True, name="personalize-http")

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        date = _DateHeader()
        dispatcher = _Dispatcher(self.loop)
        connections: set[_HttpProtocol] = set()
        server = self.loop.run_until_complete(
            self.loop.create_server(
                lambda: _HttpProtocol(self, date, dispatcher, connections), sock=self.sock, backlog=512
            )
        )
        self._sweep(connections)
        self.loop.run_forever()
        server.close()
        for connection in list(connections):
            if connection.transport is not None:
                connection.transport.close()
        self.loop.run_until_complete(asyncio.sleep(0.05))  # let the transports close
        self.loop.close()

    def _sweep(self, connections: set[_HttpProtocol]) -> None:
        """Close the connections that went the idle timeout without a complete request; again in a moment."""
        now = self.loop.time()
        for connection in [c for c in connections if c.idle_expired(now)]:
            if connection.transport is not None:
                connection.transport.close()
        interval = min(1.0, self.limits.idle_timeout / 4)
        self.loop.call_later(interval, self._sweep, connections)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
        self.sock.close()


# ---- standard-library front end -------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects
    # Headers and body leave in two writes; with Nagle on, delayed ACKs would add ~40 ms to every response.
    disable_nagle_algorithm = True
    server: _StdlibServer

    def log_message(self, format: str, *args: Any) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s - %s", self.address_string(), format % args)

    def setup(self) -> None:
        self.timeout = self.server.limits.idle_timeout  # a client that stops sending is dropped after this
        super().setup()

    def _respond(self, method: str) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        declared = self.headers.get("Content-Length") or "0"
        if not declared.isdigit():
            self.close_connection = True
            response = _error(errors.SerializationError("Content-Length is not a number"), json_1_1=False)
        elif int(declared) > self.server.limits.max_body_bytes:
            # Refused on the declared size, without reading the body; the connection cannot be reused after it.
            self.close_connection = True
            response = _error(_too_large(self.server.limits), json_1_1=is_control_plane(headers))
        else:
            length = int(declared)
            raw = self.rfile.read(length) if length else b""
            response = route(self.server.service, method, self.path, headers, raw)
        self._send(response)

    def _send(self, response: Response) -> None:
        status, body, content_type, extra = response
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._respond("GET")

    def do_POST(self) -> None:
        self._respond("POST")

    # Other methods get the router's 405 (the base class would answer 501, a server error).
    def do_PUT(self) -> None:
        self._respond("PUT")

    def do_DELETE(self) -> None:
        self._respond("DELETE")

    def do_PATCH(self) -> None:
        self._respond("PATCH")

    def do_OPTIONS(self) -> None:
        self._respond("OPTIONS")


class _StdlibServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512  # 50+ clients may connect at once

    def __init__(self, sock: socket.socket, service: PersonalizeService, limits: HttpLimits) -> None:
        super().__init__(sock.getsockname()[:2], _Handler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock
        self.server_activate()
        self.service = service
        self.limits = limits


class _StdlibFront:
    def __init__(self, service: PersonalizeService, sock: socket.socket, limits: HttpLimits) -> None:
        self.server = _StdlibServer(sock, service, limits)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


# ---- the endpoint ---------------------------------------------------------------------------------------------


class LocalEndpoint:
    """The endpoint on a background thread: ``with LocalEndpoint(settings) as endpoint: endpoint.url``."""

    def __init__(
        self,
        settings: EndpointSettings,
        host: str = "127.0.0.1",
        port: int = 0,
        server: str = "auto",
        limits: HttpLimits | None = None,
    ) -> None:
        if server not in SERVER_KINDS:
            raise ValueError(f"server must be one of {', '.join(SERVER_KINDS)}, got {server!r}")
        if server == "auto":
            server = next((kind for kind in ("httptools", "uvicorn") if _importable(kind)), "stdlib")
        self.service = PersonalizeService(settings)
        self.limits = limits or HttpLimits()
        # Bind here, so port 0 gives a known free port before the server thread starts.
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        if server == "stdlib":
            self.front: _HttptoolsFront | _UvicornFront | _StdlibFront = _StdlibFront(self.service, sock, self.limits)
        else:
            sock.listen(512)
            self.front = (_HttptoolsFront if server == "httptools" else _UvicornFront)(self.service, sock, self.limits)
        self.server_kind = server
        bound_host, bound_port = sock.getsockname()[:2]
        self.url = f"http://{'[' + bound_host + ']' if ':' in bound_host else bound_host}:{bound_port}"
        self._stopped = False

    def start(self) -> LocalEndpoint:
        self.front.start()
        return self

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.front.stop()
        self.service.close()

    @property
    def stopped(self) -> bool:
        return self._stopped

    def __enter__(self) -> LocalEndpoint:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


__all__ = ["AsgiApp", "EndpointSettings", "HttpLimits", "LocalEndpoint", "route"]
