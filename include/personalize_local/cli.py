"""``pulla-personalize local-endpoint``: serve the local Amazon Personalize-compatible endpoint until stopped."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

DEFAULT_PORT = 8765

EXIT_CODES = """exit codes:
  0  stopped by SIGTERM or Ctrl-C
  2  cannot start: a damaged state file in --data-dir or a malformed fault switch (the message names it)"""


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT}; 0 = any free)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--data-dir", type=Path, required=True, help="where resources, data and models persist")
    parser.add_argument("--s3-endpoint", default=None, help="S3 endpoint URL for import jobs (e.g. moto's server)")
    parser.add_argument("--account-id", default="123456789012", help="account id in ARNs (default 123456789012)")
    parser.add_argument("--region", default="us-east-1", help="region for ARNs when a request carries none")
    parser.add_argument(
        "--status-delay", type=float, default=1.0, help="seconds per status step, e.g. CREATE PENDING -> IN_PROGRESS"
    )
    parser.add_argument("--train-threads", type=int, default=2, help="threads for ALS training (default 2)")
    parser.add_argument(
        "--server",
        choices=("auto", "httptools", "uvicorn", "stdlib"),
        default="auto",
        help="HTTP server: httptools on an event loop when installed (auto), uvicorn, or the standard library's",
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=30.0,
        help="seconds a connection may go without a complete request before it is closed (default 30)",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")


def run(args: argparse.Namespace) -> int:
    # Before numpy loads: implicit runs its own threads; a threaded BLAS beneath it would oversubscribe the cores.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from personalize_local.faults import FaultSwitchError
    from personalize_local.server import HttpLimits, LocalEndpoint
    from personalize_local.service import EndpointSettings
    from personalize_local.state import StateFileError

    settings = EndpointSettings(
        data_dir=args.data_dir,
        s3_endpoint=args.s3_endpoint,
        account_id=args.account_id,
        default_region=args.region,
        status_delay=args.status_delay,
        train_threads=args.train_threads,
    )
    try:
        endpoint = LocalEndpoint(
            settings,
            host=args.host,
            port=args.port,
            server=args.server,
            limits=HttpLimits(idle_timeout=args.idle_timeout),
        )
    except (StateFileError, FaultSwitchError) as error:
        # A damaged state file or a malformed fault switch: the message names it; a traceback would bury it.
        print(f"Local Personalize endpoint cannot start: {error}", file=sys.stderr, flush=True)
        return 2
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    endpoint.start()
    print(f"Local Personalize endpoint serving at {endpoint.url} (data in {args.data_dir})", flush=True)
    stop.wait()
    endpoint.stop()
    print("Local Personalize endpoint stopped", flush=True)
    return 0
