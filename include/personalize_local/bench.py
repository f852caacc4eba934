"""Benchmarks of the local endpoint against the issue's targets; prints figures, asserts nothing.

Data: the project's demo data, seeded at ``--demo-scale`` (31 gives about a million interactions) into a temporary
SQLite database and exported with ``pulla-personalize export``, exactly as the pipeline would; or an already
exported folder (``--demo-dir``); or ``--synthetic`` shop data (personalize_local.synthetic).

1. Training with the endpoint's trainer on those interactions: wall time of the whole solution-version training
   (rank search, evaluation model, final model, metrics). Target: at most 60 s on 2 cores.
2. NDCG@25 of that model against the popularity baseline on the same held-out users. Target: at least 1.5x.
3. GetRecommendations latency: the endpoint runs as its own process (``pulla-personalize local-endpoint``), gets
   the same CSVs through moto's S3 and import jobs, trains and deploys a campaign; then ``--clients`` (default 50)
   concurrent keep-alive HTTP clients, spread over a few processes, call it on loopback, first back to back (a
   saturation test) and then each pacing itself at ``--rate`` requests per second. Target: p99 at most 20 ms.
4. The same paced run while the endpoint trains another solution version of the same group: p99 during training
   as a ratio of the idle paced p99 (training runs in a process of its own, so serving should barely notice).

Run: ``python -m personalize_local.bench`` (the lead wires it as ``make bench``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

TARGET_TRAIN_SECONDS = 60.0
TARGET_P99_MS = 20.0
TARGET_NDCG_RATIO = 1.5
CLIENT_PROCESSES = 5
DEMO_DAYS = 30


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def prepare_data(args: argparse.Namespace, work_dir: Path) -> Path:
    """A folder with interactions.csv, users.csv and items.csv, as the export writes them."""
    if args.demo_dir:
        return Path(args.demo_dir)
    out = work_dir / "data"
    if args.synthetic:
        from personalize_local import synthetic

        data = synthetic.make_shop_data(
            n_users=args.interactions // 16, n_items=3000, n_interactions=args.interactions, seed=1
        )
        out.mkdir(parents=True)
        for name, frame in (("interactions", data.interactions), ("users", data.users), ("items", data.items)):
            (out / f"{name}.csv").write_text(synthetic.to_csv(frame), encoding="utf-8")
        print(f"data: synthetic, {args.interactions:,} interactions")
        return out
    end = date.today()
    start = end - timedelta(days=DEMO_DAYS + 1)
    database = f"sqlite:///{work_dir / 'demo.db'}"
    cli = [sys.executable, "-m", "pulla_personalize.cli"]
    started = time.perf_counter()
    subprocess.run(
        [
            *cli,
            "seed-demo-db",
            "--url",
            database,
            "--scale",
            str(args.demo_scale),
            "--end-date",
            end.isoformat(),
            "--days",
            str(DEMO_DAYS),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(
        [*cli, "export", "--db", database, "--start", start.isoformat(), "--end", end.isoformat(), "--out", str(out)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(f"data: demo data at scale {args.demo_scale}, seeded and exported in {time.perf_counter() - started:.0f} s")
    return out


def _read(folder: Path, name: str):
    import pandas as pd

    return pd.read_csv(folder / f"{name}.csv", dtype="str", keep_default_na=False, na_filter=False)


def bench_training(folder: Path) -> None:
    from personalize_local import trainer

    interactions = _read(folder, "interactions")
    items = _read(folder, "items")
    frame = trainer.prepare_interactions(interactions, None, {})
    config = trainer.TrainingConfig(threads=min(2, os.cpu_count() or 1))
    train_started = time.perf_counter()
    model, baseline = trainer.train(frame, config, set(items["ITEM_ID"]))
    trained = time.perf_counter() - train_started
    ndcg = "normalized_discounted_cumulative_gain_at_25"
    ratio = model.metrics[ndcg] / baseline[ndcg] if baseline[ndcg] else float("inf")
    print(
        f"data: {len(frame):,} interactions, {frame['USER_ID'].nunique():,} users, {len(items):,} items; "
        f"cpu count {os.cpu_count()}, ALS threads {config.threads}, chosen rank {model.item_factors.shape[1]}"
    )
    print(
        f"[train] training time: {trained:.1f} s (target <= {TARGET_TRAIN_SECONDS:.0f} s) "
        f"-> {'PASS' if trained <= TARGET_TRAIN_SECONDS else 'FAIL'}"
    )
    print(
        f"[ndcg]  NDCG@25 model {model.metrics[ndcg]:.4f} vs popularity {baseline[ndcg]:.4f}: "
        f"{ratio:.2f}x (target >= {TARGET_NDCG_RATIO}x) -> {'PASS' if ratio >= TARGET_NDCG_RATIO else 'FAIL'}"
    )
    print(f"        model metrics: {json.dumps(model.metrics)}")
    print(f"        popularity:    {json.dumps(baseline)}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(describe, key: str, timeout: float = 600) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        resource = describe()[key]
        if resource["status"] in ("ACTIVE", "CREATE FAILED"):
            if resource["status"] == "CREATE FAILED":
                raise RuntimeError(resource.get("failureReason"))
            return resource
        if time.monotonic() > deadline:
            raise TimeoutError(resource)
        time.sleep(0.1)


def _setup_campaign(endpoint_url: str, s3_url: str, folder: Path) -> tuple[str, list[str]]:
    import boto3

    from personalize_local import synthetic

    creds = {"region_name": "us-east-1", "aws_access_key_id": "bench", "aws_secret_access_key": "bench"}
    s3 = boto3.client("s3", endpoint_url=s3_url, **creds)
    p = boto3.client("personalize", endpoint_url=endpoint_url, **creds)
    s3.create_bucket(Bucket="pulla-bench")
    group = p.create_dataset_group(name="bench")["datasetGroupArn"]
    _wait(lambda: p.describe_dataset_group(datasetGroupArn=group), "datasetGroup")
    for dataset_type in ("Interactions", "Users", "Items"):
        schema = p.create_schema(name=f"bench-{dataset_type.lower()}", schema=synthetic.schema_text(dataset_type))
        dataset = p.create_dataset(
            name=f"bench-{dataset_type.lower()}",
            schemaArn=schema["schemaArn"],
            datasetGroupArn=group,
            datasetType=dataset_type,
        )["datasetArn"]
        _wait(lambda dataset=dataset: p.describe_dataset(datasetArn=dataset), "dataset")
        key = f"{dataset_type.lower()}.csv"
        s3.upload_file(str(folder / key), "pulla-bench", key)
        job = p.create_dataset_import_job(
            jobName=f"bench-{dataset_type.lower()}",
            datasetArn=dataset,
            dataSource={"dataLocation": f"s3://pulla-bench/{key}"},
        )["datasetImportJobArn"]
        _wait(lambda job=job: p.describe_dataset_import_job(datasetImportJobArn=job), "datasetImportJob")
    solution = p.create_solution(
        name="bench", datasetGroupArn=group, recipeArn="arn:aws:personalize:::recipe/aws-user-personalization"
    )["solutionArn"]
    _wait(lambda: p.describe_solution(solutionArn=solution), "solution")
    version = p.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    trained = _wait(lambda: p.describe_solution_version(solutionVersionArn=version), "solutionVersion")
    print(f"[serve] the endpoint trained its solution version in {trained['trainingHours'] * 3600:.1f} s")
    campaign = p.create_campaign(name="bench", solutionVersionArn=version)["campaignArn"]
    _wait(lambda: p.describe_campaign(campaignArn=campaign), "campaign")
    return campaign, _read(folder, "users")["USER_ID"].tolist()


def _client_worker(args: tuple[str, int, str, list[str], int, int, float]) -> list[float]:
    """One process: ``threads`` keep-alive clients, each sending ``requests`` GetRecommendations.

    The clients speak HTTP/1.1 over raw sockets, so the load generator spends little CPU of its own on the
    shared cores and the figures measure the endpoint.
    """
    host, port, campaign, users, threads, requests, rate = args

    def call(sock: socket.socket, user: str) -> int:
        body = json.dumps({"campaignArn": campaign, "userId": user, "numResults": 25}).encode()
        head = (
            f"POST /recommendations HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        sock.sendall(head.encode() + body)
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the endpoint closed the connection")
            buffer += chunk
        header, _, rest = buffer.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length:\s*(\d+)", header).group(1))
        while len(rest) < length:
            rest += sock.recv(65536)
        return int(header.split(b" ", 2)[1])

    def client(seed: int) -> list[float]:
        rng = random.Random(seed)
        sock = socket.create_connection((host, port), timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        latencies = []
        interval = 1.0 / rate if rate else 0.0
        next_send = time.perf_counter() + rng.random() * interval
        for _ in range(requests):
            if interval:
                delay = next_send - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                next_send += interval
            user = rng.choice(users) if rng.random() < 0.9 else f"anonymous-{rng.randrange(10**6)}"
            started = time.perf_counter()
            status = call(sock, user)
            latencies.append((time.perf_counter() - started) * 1000)
            if status != 200:
                raise RuntimeError(f"GetRecommendations answered HTTP {status}")
        sock.close()
        return latencies

    with ThreadPoolExecutor(threads) as pool:
        results = pool.map(client, [os.getpid() * 1000 + i for i in range(threads)])
    return [latency for result in results for latency in result]


def _load(
    port: int, campaign: str, users: list[str], clients: int, requests: int, rate: float, *, report: bool = True
) -> float:
    """The run's p99 in ms, printed with its other figures unless ``report`` is off."""
    per_process = [
        clients // CLIENT_PROCESSES + (1 if i < clients % CLIENT_PROCESSES else 0) for i in range(CLIENT_PROCESSES)
    ]
    jobs = [("127.0.0.1", port, campaign, users, n, requests, rate) for n in per_process if n]
    started = time.perf_counter()
    with ProcessPoolExecutor(len(jobs)) as pool:
        latencies = [latency for result in pool.map(_client_worker, jobs) for latency in result]
    elapsed = time.perf_counter() - started
    p99 = _percentile(latencies, 0.99)
    if not report:
        return p99
    mode = f"paced at {rate:g} req/s per client" if rate else "back to back"
    load = os.getloadavg()[0]
    print(
        f"[serve] {clients} clients {mode}: {len(latencies):,} requests, {len(latencies) / elapsed:,.0f} req/s, "
        f"p50 {_percentile(latencies, 0.5):.1f} ms, p95 {_percentile(latencies, 0.95):.1f} ms, p99 {p99:.1f} ms "
        f"(target <= {TARGET_P99_MS:.0f} ms) -> {'PASS' if p99 <= TARGET_P99_MS else 'FAIL'}; load average {load:.1f}"
    )
    return p99


def _load_while_training(
    endpoint_url: str, port: int, campaign: str, users: list[str], clients: int, requests: int, rate: float
) -> float:
    """The paced run's p99 while a new version of the campaign's solution trains; says how much of it overlapped."""
    import boto3

    creds = {"region_name": "us-east-1", "aws_access_key_id": "bench", "aws_secret_access_key": "bench"}
    p = boto3.client("personalize", endpoint_url=endpoint_url, **creds)
    solution = p.describe_campaign(campaignArn=campaign)["campaign"]["solutionVersionArn"].rsplit("/", 1)[0]
    version = p.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    # The load starts once the training does, not while the version waits in CREATE PENDING.
    while p.describe_solution_version(solutionVersionArn=version)["solutionVersion"]["status"] == "CREATE PENDING":
        time.sleep(0.05)
    started = time.monotonic()
    p99 = _load(port, campaign, users, clients, requests, rate, report=False)
    elapsed = time.monotonic() - started
    trained = _wait(lambda: p.describe_solution_version(solutionVersionArn=version), "solutionVersion")
    training = trained["trainingHours"] * 3600
    print(
        f"[serve] {clients} clients paced at {rate:g} req/s per client during a training: p99 {p99:.1f} ms; the "
        f"run took {elapsed:.1f} s, the training {training:.1f} s (covering {min(1.0, training / elapsed):.0%} of it)"
    )
    return p99


def bench_serving(folder: Path, clients: int, requests: int, rate: float) -> None:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log
    moto = ThreadedMotoServer(port=0, verbose=False)
    moto.start()
    host, moto_port = moto.get_host_and_port()
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="personalize-bench-endpoint-") as data_dir:
        command = [
            *(sys.executable, "-m", "pulla_personalize.cli", "local-endpoint", "--port", str(port)),
            *("--data-dir", data_dir, "--s3-endpoint", f"http://{host}:{moto_port}"),
            *("--status-delay", "0.1", "--log-level", "WARNING"),
        ]
        server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        try:
            print(f"[serve] {server.stdout.readline().strip()}")
            campaign, users = _setup_campaign(f"http://127.0.0.1:{port}", f"http://{host}:{moto_port}", folder)
            _load(port, campaign, users, clients, 20, 0, report=False)  # warm-up: model load, connections
            _load(port, campaign, users, clients, requests, 0)
            if rate:
                idle = _load(port, campaign, users, clients, requests, rate)
                training = _load_while_training(
                    f"http://127.0.0.1:{port}", port, campaign, users, clients, requests, rate
                )
                print(f"[serve] p99 during training / idle p99: {training / idle:.1f}x")
        finally:
            server.terminate()
            server.wait(timeout=30)
            moto.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo-scale", type=float, default=31, help="demo data scale (31: about 1M interactions)")
    parser.add_argument("--demo-dir", help="use CSVs already exported by pulla-personalize export")
    parser.add_argument("--synthetic", action="store_true", help="use synthetic shop data instead of demo data")
    parser.add_argument("--interactions", type=int, default=1_000_000, help="synthetic data size")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=200, help="requests per client")
    parser.add_argument("--rate", type=float, default=10.0, help="paced run: requests/s per client (0: skip)")
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--skip-serving", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="personalize-bench-") as work_dir:
        folder = prepare_data(args, Path(work_dir))
        if not args.skip_training:
            bench_training(folder)
        if not args.skip_serving:
            bench_serving(folder, args.clients, args.requests, args.rate)
    return 0


if __name__ == "__main__":
    sys.exit(main())
