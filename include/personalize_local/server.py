"""The HTTP front of the local endpoint: the three Personalize wire protocols on one port.

- ``POST /`` with ``X-Amz-Target: AmazonPersonalize.<Operation>``: the control plane, JSON 1.1. Errors are HTTP
  400 with ``{"__type": "<Code>", "message": ...}``, as botocore's JSON parser expects.
- ``POST /recommendations``: personalize-runtime GetRecommendations, REST-JSON.
- ``POST /events``: personalize-events PutEvents, REST-JSON (errors carry ``x-amzn-ErrorType`` and the model's
  HTTP status).

boto3 clients created with ``endpoint_url`` send every request to that host with the model's path, so one port
serves all three services. Signatures are not checked; the region in the SigV4 credential scope goes into ARNs.

Two front ends share :func:`route`: uvicorn (an ASGI server that the Airflow install already brings, with
httptools and uvloop) is the default because one event loop answers 50 concurrent keep-alive clients with far less
overhead than a thread each; runtime calls are answered on the loop (they take a fraction of a millisecond) and
control-plane calls, which write files, go to a thread pool. The standard library's ThreadingHTTPServer is the
fallback when uvicorn is not importable (``server="stdlib"``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from personalize_local import errors
from personalize_local.service import EndpointSettings, PersonalizeService

log = logging.getLogger(__name__)

TARGET_PREFIX = "AmazonPersonalize."
JSON_1_1 = "application/x-amz-json-1.1"
REST_JSON = "application/json"
_REGION_IN_AUTH = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/")

Response = tuple[int, bytes, str, dict[str, str]]


def _encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def _error(exc: errors.ServiceError, *, json_1_1: bool) -> Response:
    body = _encode({"__type": exc.code, "message": exc.message})
    if json_1_1:
        return 400, body, JSON_1_1, {}
    return exc.rest_status, body, REST_JSON, {"x-amzn-ErrorType": exc.code}


def is_control_plane(headers: dict[str, str]) -> bool:
    return (headers.get("x-amz-target") or "").startswith(TARGET_PREFIX)


def route(service: PersonalizeService, method: str, path: str, headers: dict[str, str], raw: bytes) -> Response:
    """(status, body, content type, extra headers) for one request; ``headers`` keys are lower case."""
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

        def action(body: dict[str, Any]) -> dict[str, Any]:
            return service.handle(operation, body, region)

    elif path == "/recommendations":
        action = service.get_recommendations
    elif path == "/events":
        action = service.put_events
    else:
        message = f"Operation for {method} {path} (target {target!r}) is not supported by the local endpoint"
        return _error(errors.UnknownOperationError(message), json_1_1=not path.strip("/"))
    content_type = JSON_1_1 if json_1_1 else REST_JSON
    try:
        body = json.loads(raw) if raw.strip() else {}
        if not isinstance(body, dict):
            raise errors.InvalidInputError("the request body must be a JSON object")
        return 200, _encode(action(body)), content_type, {}
    except json.JSONDecodeError as exc:
        return _error(errors.InvalidInputError(f"the request body is not valid JSON: {exc}"), json_1_1=json_1_1)
    except errors.ServiceError as exc:
        return _error(exc, json_1_1=json_1_1)
    except Exception as exc:
        log.exception("request failed")
        message = f"Internal error in the local endpoint: {type(exc).__name__}: {exc}"
        return 500, _encode({"__type": "InternalFailure", "message": message}), content_type, {}


# ---- uvicorn (ASGI) front end ----------------------------------------------------------------------------------


class AsgiApp:
    """The endpoint as a bare ASGI application (no framework: routing is four cases)."""

    def __init__(self, service: PersonalizeService, control_workers: int = 8) -> None:
        self.service = service
        self.pool = ThreadPoolExecutor(max_workers=control_workers, thread_name_prefix="personalize-control")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        arguments = (self.service, scope["method"], scope["path"], headers, b"".join(chunks))
        if is_control_plane(headers) or not self._warm(scope["path"], arguments[-1]):
            # Control-plane calls write state files, and a cold GetRecommendations loads a model: keep both off
            # the event loop, which answers everything else.
            loop = asyncio.get_running_loop()
            status, body, content_type, extra = await loop.run_in_executor(self.pool, route, *arguments)
        else:
            status, body, content_type, extra = route(*arguments)
        response_headers = [
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"x-amzn-requestid", str(uuid.uuid4()).encode()),
            *((name.encode(), value.encode()) for name, value in extra.items()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": body})

    def _warm(self, path: str, raw: bytes) -> bool:
        if path != "/recommendations":
            return True
        try:
            body = json.loads(raw)
        except ValueError:
            return True  # answered at once with an error
        return not isinstance(body, dict) or self.service.runtime_is_warm(body.get("campaignArn"))


class _UvicornFront:
    def __init__(self, service: PersonalizeService, sock: socket.socket) -> None:
        import uvicorn

        self.app = AsgiApp(service)
        loop = "uvloop" if _importable("uvloop") else "asyncio"
        http = "httptools" if _importable("httptools") else "h11"
        config = uvicorn.Config(
            self.app, loop=loop, http=http, lifespan="off", access_log=False, log_level="warning", backlog=512
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


# ---- standard-library front end -------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects
    # Headers and body leave in two writes; with Nagle on, delayed ACKs would add ~40 ms to every response.
    disable_nagle_algorithm = True
    server: _StdlibServer

    def log_message(self, format: str, *args: Any) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s - %s", self.address_string(), format % args)

    def _respond(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, body, content_type, extra = route(self.server.service, method, self.path, headers, raw)
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


class _StdlibServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512  # 50+ clients may connect at once

    def __init__(self, sock: socket.socket, service: PersonalizeService) -> None:
        super().__init__(sock.getsockname()[:2], _Handler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock
        self.server_activate()
        self.service = service


class _StdlibFront:
    def __init__(self, service: PersonalizeService, sock: socket.socket) -> None:
        self.server = _StdlibServer(sock, service)
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
        self, settings: EndpointSettings, host: str = "127.0.0.1", port: int = 0, server: str = "auto"
    ) -> None:
        if server not in ("auto", "uvicorn", "stdlib"):
            raise ValueError(f"server must be auto, uvicorn or stdlib, got {server!r}")
        if server == "auto":
            server = "uvicorn" if _importable("uvicorn") else "stdlib"
        self.service = PersonalizeService(settings)
        # Bind here, so port 0 gives a known free port before the server thread starts.
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        if server == "stdlib":
            self.front: _UvicornFront | _StdlibFront = _StdlibFront(self.service, sock)
        else:
            sock.listen(512)
            self.front = _UvicornFront(self.service, sock)
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


__all__ = ["AsgiApp", "EndpointSettings", "LocalEndpoint", "route"]
