"""Fixtures for the local Personalize endpoint: moto's S3 server, endpoints on free ports, boto3 clients.

Everything talks to the real running servers over HTTP with stock boto3 clients, as the pipeline does.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from personalize_local import synthetic

CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
ROLE_ARN = "arn:aws:iam::123456789012:role/PersonalizeS3Access"
RECIPE_ARN = "arn:aws:personalize:::recipe/aws-user-personalization"
#: Seconds per status step in tests: long enough to observe, short enough to keep the suite fast.
FAST_DELAY = 0.02
TERMINAL = ("ACTIVE", "CREATE FAILED")


@dataclass
class S3Server:
    url: str
    client: Any
    bucket: str

    def put_csv(self, key: str, text: str) -> str:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=text.encode("utf-8"))
        return f"s3://{self.bucket}/{key}"


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    client = boto3.client("s3", endpoint_url=url, **CREDENTIALS)
    bucket = "pulla-local-endpoint-tests"
    client.create_bucket(Bucket=bucket)
    yield S3Server(url, client, bucket)
    server.stop()


@dataclass
class Clients:
    url: str
    personalize: Any
    runtime: Any
    events: Any


def make_clients(url: str) -> Clients:
    import boto3
    from botocore.config import Config

    # No retries: an error must surface at once, exactly as the endpoint answered it.
    config = Config(retries={"max_attempts": 1, "mode": "standard"})
    return Clients(
        url,
        boto3.client("personalize", endpoint_url=url, config=config, **CREDENTIALS),
        boto3.client("personalize-runtime", endpoint_url=url, config=config, **CREDENTIALS),
        boto3.client("personalize-events", endpoint_url=url, config=config, **CREDENTIALS),
    )


@pytest.fixture(scope="session")
def start_endpoint(s3_server: S3Server) -> Iterator[Callable[..., Any]]:
    """start_endpoint(data_dir, status_delay=FAST_DELAY, server="auto") -> a started LocalEndpoint.

    Every endpoint started is stopped at the end of the session.
    """
    from personalize_local.server import LocalEndpoint
    from personalize_local.service import EndpointSettings

    started = []

    def start(data_dir: Path, status_delay: float = FAST_DELAY, server: str = "auto") -> LocalEndpoint:
        settings = EndpointSettings(data_dir=data_dir, s3_endpoint=s3_server.url, status_delay=status_delay)
        endpoint = LocalEndpoint(settings, server=server).start()
        started.append(endpoint)
        return endpoint

    yield start
    for endpoint in started:
        endpoint.stop()  # a no-op for endpoints a test already stopped


def wait_for(describe: Callable[[], dict[str, Any]], *, timeout: float = 30.0) -> dict[str, Any]:
    """Poll a describe call until the resource's status is ACTIVE or CREATE FAILED; return the resource."""
    deadline = time.monotonic() + timeout
    while True:
        resource = describe()
        if resource["status"] in TERMINAL:
            return resource
        if time.monotonic() > deadline:
            raise TimeoutError(f"still {resource['status']} after {timeout}s: {resource}")
        time.sleep(0.02)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Group:
    """A dataset group with its three datasets, as built by build_group."""

    arn: str
    datasets: dict[str, str]
    schemas: dict[str, str]


def build_group(clients: Clients, name: str | None = None) -> Group:
    """Dataset group, schemas and the three datasets, all ACTIVE."""
    p = clients.personalize
    name = name or unique("dg")
    group_arn = p.create_dataset_group(name=name)["datasetGroupArn"]
    wait_for(lambda: p.describe_dataset_group(datasetGroupArn=group_arn)["datasetGroup"])
    datasets, schemas = {}, {}
    for dataset_type in ("Interactions", "Users", "Items"):
        schemas[dataset_type] = p.create_schema(
            name=unique(f"{name}-{dataset_type.lower()}"), schema=synthetic.schema_text(dataset_type)
        )["schemaArn"]
        arn = p.create_dataset(
            name=f"{name}-{dataset_type.lower()}",
            schemaArn=schemas[dataset_type],
            datasetGroupArn=group_arn,
            datasetType=dataset_type,
        )["datasetArn"]
        wait_for(lambda arn=arn: p.describe_dataset(datasetArn=arn)["dataset"])
        datasets[dataset_type] = arn
    return Group(group_arn, datasets, schemas)


def import_csv(clients: Clients, dataset_arn: str, location: str, mode: str = "FULL") -> dict[str, Any]:
    """Run an import job to its end; return the described job."""
    p = clients.personalize
    job_arn = p.create_dataset_import_job(
        jobName=unique("import"),
        datasetArn=dataset_arn,
        dataSource={"dataLocation": location},
        roleArn=ROLE_ARN,
        importMode=mode,
    )["datasetImportJobArn"]
    return wait_for(lambda: p.describe_dataset_import_job(datasetImportJobArn=job_arn)["datasetImportJob"])


def train_version(clients: Clients, solution_arn: str, mode: str = "FULL") -> dict[str, Any]:
    p = clients.personalize
    arn = p.create_solution_version(solutionArn=solution_arn, trainingMode=mode)["solutionVersionArn"]
    return wait_for(lambda: p.describe_solution_version(solutionVersionArn=arn)["solutionVersion"], timeout=60)


@dataclass
class Shop:
    """A dataset group with imported synthetic data, a trained version and campaigns, on a running endpoint."""

    clients: Clients
    endpoint: Any
    data: synthetic.ShopData
    group: Group
    solution_arn: str
    version: dict[str, Any]
    campaign_arn: str  # exploration off, so rankings are the model's alone
    new_items: list[str]


def shop_data(seed: int = 7) -> tuple[synthetic.ShopData, list[str]]:
    """Synthetic data plus three brand-new items (no interactions, created at the latest interaction)."""
    import pandas as pd

    data = synthetic.make_shop_data(seed=seed)
    latest = data.interactions["TIMESTAMP"].astype("int64").max()
    new_items = [f"new{i}" for i in range(3)]
    extra = pd.DataFrame(
        {
            "ITEM_ID": new_items,
            "CREATION_TIMESTAMP": [str(latest - 86_400)] * 3,
            "CUP_SIZE": ["A|B", "B|C", "C|D"],
            "BAND_SIZE": ["70|75", "75|80", "80|85"],
        },
        dtype="str",
    ).reindex(columns=data.items.columns, fill_value="")
    items = pd.concat([data.items, extra], ignore_index=True)
    return synthetic.ShopData(users=data.users, items=items, interactions=data.interactions), new_items


def build_shop(clients: Clients, endpoint: Any, s3: S3Server, seed: int = 7) -> Shop:
    data, new_items = shop_data(seed)
    group = build_group(clients)
    prefix = unique("shop")
    for dataset_type, frame in (
        ("Interactions", data.interactions),
        ("Users", data.users),
        ("Items", data.items),
    ):
        location = s3.put_csv(f"{prefix}/{dataset_type.lower()}.csv", synthetic.to_csv(frame))
        job = import_csv(clients, group.datasets[dataset_type], location)
        assert job["status"] == "ACTIVE", job.get("failureReason")
    p = clients.personalize
    solution_arn = p.create_solution(name=unique("sol"), datasetGroupArn=group.arn, recipeArn=RECIPE_ARN)["solutionArn"]
    wait_for(lambda: p.describe_solution(solutionArn=solution_arn)["solution"])
    version = train_version(clients, solution_arn)
    assert version["status"] == "ACTIVE", version.get("failureReason")
    campaign_arn = p.create_campaign(
        name=unique("campaign"),
        solutionVersionArn=version["solutionVersionArn"],
        campaignConfig={"itemExplorationConfig": {"explorationWeight": "0", "explorationItemAgeCutOff": "30"}},
    )["campaignArn"]
    wait_for(lambda: p.describe_campaign(campaignArn=campaign_arn)["campaign"])
    return Shop(clients, endpoint, data, group, solution_arn, version, campaign_arn, new_items)


@pytest.fixture(scope="module")
def shop(start_endpoint: Callable[..., Any], s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Shop:
    endpoint = start_endpoint(tmp_path_factory.mktemp("endpoint"))
    return build_shop(make_clients(endpoint.url), endpoint, s3_server)


def recommend(shop: Shop, user_id: str, campaign_arn: str | None = None, **kwargs: Any) -> list[str]:
    """The item ids GetRecommendations answers for her (the shop's campaign unless another is given)."""
    response = shop.clients.runtime.get_recommendations(
        campaignArn=campaign_arn or shop.campaign_arn, userId=user_id, **kwargs
    )
    return [item["itemId"] for item in response["itemList"]]


def create_filter(shop: Shop, expression: str) -> str:
    """A filter on the shop's dataset group, waited for until ACTIVE."""
    p = shop.clients.personalize
    arn = p.create_filter(name=unique("filter"), datasetGroupArn=shop.group.arn, filterExpression=expression)[
        "filterArn"
    ]
    assert wait_for(lambda: p.describe_filter(filterArn=arn)["filter"])["status"] == "ACTIVE"
    return arn
