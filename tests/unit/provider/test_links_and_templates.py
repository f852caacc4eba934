"""Console links, the plugin (loaded the way Airflow loads the plugins folder, and from the package), and template
fields of every operator."""

from __future__ import annotations

import inspect
import sys
from typing import Any

import pytest

from personalize_provider.links import personalize as links
from personalize_provider.operators import personalize as ops

from .conftest import REGION, REPO_ROOT, arn

PLUGINS_DIR = REPO_ROOT / "plugins"


@pytest.mark.parametrize(
    ("link_class", "resource_arn", "expected"),
    [
        pytest.param(
            links.PersonalizeDatasetGroupLink,
            arn("dataset-group/pulla"),
            f"https://console.aws.amazon.com/personalize/home?region={REGION}"
            f"#arn:aws:personalize:{REGION}:123456789012:dataset-group$pulla/setup",
            id="dataset-group",
        ),
        pytest.param(
            links.PersonalizeDatasetImportJobLink,
            arn("dataset-import-job/pulla-interactions-20261126T1800-20261127T1800"),
            f"https://console.aws.amazon.com/personalize/home?region={REGION}"
            f"#arn:aws:personalize:{REGION}:123456789012:dataset-import-job$pulla-interactions-20261126T1800-20261127T1800",
            id="import-job",
        ),
        pytest.param(
            links.PersonalizeDataDeletionJobLink,
            arn("dataset-group/pulla"),
            f"https://console.aws.amazon.com/personalize/home?region={REGION}"
            f"#arn:aws:personalize:{REGION}:123456789012:dataset-group$pulla/setup",
            id="data-deletion-job",
        ),
        pytest.param(
            links.PersonalizeSolutionVersionLink,
            arn("solution/pulla-up/5e6f7a8b"),
            f"https://console.aws.amazon.com/personalize/home?region={REGION}"
            f"#arn:aws:personalize:{REGION}:123456789012:solution$pulla-up/5e6f7a8b",
            id="solution-version",
        ),
        pytest.param(
            links.PersonalizeCampaignLink,
            arn("campaign/pulla"),
            f"https://console.aws.amazon.com/personalize/home?region={REGION}"
            f"#arn:aws:personalize:{REGION}:123456789012:campaign$pulla",
            id="campaign",
        ),
        pytest.param(
            links.PersonalizeBatchInferenceJobLink,
            arn("solution/pulla-user-personalization"),
            f"https://console.aws.amazon.com/personalize/home?region={REGION}"
            f"#arn:aws:personalize:{REGION}:123456789012:solution$pulla-user-personalization",
            id="batch-inference-job",
        ),
        pytest.param(
            links.PersonalizeBatchSegmentJobLink,
            arn("solution/pulla-item-affinity"),
            f"https://console.aws.amazon.com/personalize/home?region={REGION}"
            f"#arn:aws:personalize:{REGION}:123456789012:solution$pulla-item-affinity",
            id="batch-segment-job",
        ),
    ],
)
def test_console_urls(link_class, resource_arn: str, expected: str) -> None:
    link = link_class()
    assert link.format_link(aws_domain="aws.amazon.com", region_name=REGION, resource_arn=resource_arn) == expected


@pytest.mark.parametrize(
    ("given", "solution"),
    [
        pytest.param(arn("solution/pulla-up/5e6f7a8b"), arn("solution/pulla-up"), id="version"),
        pytest.param(arn("solution/pulla-up"), arn("solution/pulla-up"), id="already-a-solution"),
        pytest.param("not-an-arn", "not-an-arn", id="not-an-arn"),
    ],
)
def test_a_batch_jobs_link_opens_the_solution_of_its_version(given: str, solution: str) -> None:
    assert links.solution_arn_of(given) == solution


def test_china_partition_uses_its_console_domain() -> None:
    url = links.PersonalizeCampaignLink().format_link(
        aws_domain=links.BaseAwsLink.get_aws_domain("aws-cn"),
        region_name="cn-north-1",
        resource_arn="arn:aws-cn:personalize:cn-north-1:123456789012:campaign/pulla",
    )
    assert url.startswith("https://console.amazonaws.cn/personalize/home?region=cn-north-1#arn:aws-cn:")


def test_link_without_recorded_arn_is_empty() -> None:
    assert links.PersonalizeCampaignLink().format_link(region_name=REGION, aws_domain="aws.amazon.com") == ""


@pytest.mark.parametrize(
    ("endpoint_url", "stand_in"),
    [
        pytest.param(None, False, id="default-aws"),
        pytest.param("https://personalize.ap-northeast-2.amazonaws.com", False, id="regional"),
        pytest.param("https://vpce-0a1b.personalize.ap-northeast-2.vpce.amazonaws.com", False, id="vpc-endpoint"),
        pytest.param("https://personalize.cn-north-1.amazonaws.com.cn", False, id="china"),
        pytest.param("http://127.0.0.1:8765", True, id="loopback"),
        pytest.param("http://localhost:8765/", True, id="localhost"),
        pytest.param("http://personalize-local:8765", True, id="compose-service"),
        pytest.param("https://amazonaws.com.evil.example", True, id="look-alike"),
    ],
)
def test_stand_in_endpoints(endpoint_url: str | None, stand_in: bool) -> None:
    assert links.is_stand_in_endpoint(endpoint_url) is stand_in


def test_s3_locations_on_a_stand_in_endpoint() -> None:
    folder = "s3://pulla-personalize/personalize/import/users/window=20261127/"
    assert links.s3_endpoint_listing_url("http://127.0.0.1:5000/", folder) == (
        "http://127.0.0.1:5000/pulla-personalize?prefix=personalize%2Fimport%2Fusers%2Fwindow%3D20261127%2F"
    )
    assert links.s3_endpoint_listing_url("http://127.0.0.1:5000", folder + "users.csv") == (
        "http://127.0.0.1:5000/pulla-personalize?prefix=personalize%2Fimport%2Fusers%2Fwindow%3D20261127%2Fusers.csv"
    )
    assert links.s3_endpoint_listing_url("http://s3:5000", "s3://bucket") == "http://s3:5000/bucket?prefix="


LOCAL_CONN_ID = "pulla_local_aws"


def use_connection(monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any]) -> None:
    import json

    connection = {"conn_type": "aws", "login": "local", "password": "local", "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{LOCAL_CONN_ID.upper()}", json.dumps(connection))


def local_extra(s3_url: str, personalize_url: str) -> dict[str, Any]:
    """The AWS connection `make demo` and `make airflow` use (pulla_dev.local_services.aws_connection)."""
    return {
        "region_name": REGION,
        "service_config": {"s3": {"endpoint_url": s3_url}, "personalize": {"endpoint_url": personalize_url}},
    }


def persisted_link(operator: Any, link_class: type, resource_arn: str) -> str:
    """Persists the link as the operator does during execute, then formats it from what was stored."""
    from .conftest import RecordingTaskInstance

    ti = RecordingTaskInstance()
    link_class.persist(
        context={"ti": ti}, operator=operator, region_name=REGION, aws_partition="aws", resource_arn=resource_arn
    )
    return link_class().format_link(**ti.xcom[link_class.key])


IMPORT_LOCATION = "s3://pulla-personalize/personalize/import/users/window=20261127/"


def import_operator() -> ops.PersonalizeDatasetImportJobOperator:
    return ops.PersonalizeDatasetImportJobOperator(
        task_id="import_users",
        aws_conn_id=LOCAL_CONN_ID,
        dataset_arn=arn("dataset/pulla/USERS"),
        data_location=IMPORT_LOCATION,
        job_name="pulla-users-20261127-full-bbbbbbbb",
    )


def test_links_against_aws_open_the_console(monkeypatch: pytest.MonkeyPatch) -> None:
    use_connection(monkeypatch, {"region_name": REGION})
    job_arn = arn("dataset-import-job/pulla-users-20261127-full-bbbbbbbb")
    url = persisted_link(import_operator(), links.PersonalizeDatasetImportJobLink, job_arn)
    assert url == (
        f"https://console.aws.amazon.com/personalize/home?region={REGION}"
        f"#arn:aws:personalize:{REGION}:123456789012:dataset-import-job$pulla-users-20261127-full-bbbbbbbb"
    )


def test_links_against_the_local_endpoint_never_open_the_console(monkeypatch: pytest.MonkeyPatch) -> None:
    use_connection(monkeypatch, local_extra("http://127.0.0.1:5000", "http://127.0.0.1:8765"))
    job_arn = arn("dataset-import-job/pulla-users-20261127-full-bbbbbbbb")
    # The import job's link opens the data it imported, on the local S3.
    assert persisted_link(import_operator(), links.PersonalizeDatasetImportJobLink, job_arn) == (
        "http://127.0.0.1:5000/pulla-personalize?prefix=personalize%2Fimport%2Fusers%2Fwindow%3D20261127%2F"
    )
    # Resources with nothing to open locally get no link (the UI hides an empty one), never a made-up account.
    campaign = ops.PersonalizeUpdateCampaignOperator(
        task_id="update_campaign",
        aws_conn_id=LOCAL_CONN_ID,
        campaign_arn=arn("campaign/pulla-campaign"),
        solution_version_arn=arn("solution/pulla-up/1"),
    )
    assert persisted_link(campaign, links.PersonalizeCampaignLink, arn("campaign/pulla-campaign")) == ""
    group = ops.PersonalizeEnsureDatasetGroupOperator(task_id="g", aws_conn_id=LOCAL_CONN_ID, name="pulla")
    assert persisted_link(group, links.PersonalizeDatasetGroupLink, arn("dataset-group/pulla")) == ""


DELETION_FILE = "s3://pulla-personalize/personalize/deletions/window=20261127/users.csv"


def deletion_operator() -> ops.PersonalizeDataDeletionJobOperator:
    return ops.PersonalizeDataDeletionJobOperator(
        task_id="delete_departed_members",
        aws_conn_id=LOCAL_CONN_ID,
        job_name="pulla-deletion-20261127-9f8e7d6c",
        dataset_group_arn=arn("dataset-group/pulla"),
        data_location=DELETION_FILE,
        role_arn="arn:aws:iam::123456789012:role/PullaPersonalizeS3Access",
    )


def test_deletion_job_link_opens_its_dataset_group_or_its_users_file_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    use_connection(monkeypatch, {"region_name": REGION})
    group = arn("dataset-group/pulla")
    assert persisted_link(deletion_operator(), links.PersonalizeDataDeletionJobLink, group) == (
        f"https://console.aws.amazon.com/personalize/home?region={REGION}"
        f"#arn:aws:personalize:{REGION}:123456789012:dataset-group$pulla/setup"
    )
    use_connection(monkeypatch, local_extra("http://127.0.0.1:5000", "http://127.0.0.1:8765"))
    assert persisted_link(deletion_operator(), links.PersonalizeDataDeletionJobLink, group) == (
        "http://127.0.0.1:5000/pulla-personalize?prefix=personalize%2Fdeletions%2Fwindow%3D20261127%2Fusers.csv"
    )


CRM_INPUT = "s3://pulla-personalize/personalize/crm/input/window=20261127/users.json"
CRM_OUTPUT = "s3://pulla-personalize/personalize/crm/output/window=20261127/"


@pytest.mark.parametrize(
    ("operator_class", "link_class"),
    [
        pytest.param(ops.PersonalizeBatchInferenceJobOperator, links.PersonalizeBatchInferenceJobLink, id="inference"),
        pytest.param(ops.PersonalizeBatchSegmentJobOperator, links.PersonalizeBatchSegmentJobLink, id="segment"),
    ],
)
def test_batch_job_links_open_the_solution_or_the_output_folder_locally(
    monkeypatch: pytest.MonkeyPatch, operator_class, link_class
) -> None:
    def operator():
        return operator_class(
            task_id="crm_batch",
            aws_conn_id=LOCAL_CONN_ID,
            job_name="pulla-crm-20261127-1a2b3c4d",
            solution_version_arn=arn("solution/pulla-up/5e6f7a8b"),
            job_input_s3_path=CRM_INPUT,
            job_output_s3_path=CRM_OUTPUT,
            role_arn="arn:aws:iam::123456789012:role/PullaPersonalizeS3Access",
        )

    use_connection(monkeypatch, {"region_name": REGION})
    assert persisted_link(operator(), link_class, arn("solution/pulla-up")) == (
        f"https://console.aws.amazon.com/personalize/home?region={REGION}"
        f"#arn:aws:personalize:{REGION}:123456789012:solution$pulla-up"
    )
    # Locally, what the job wrote: its output folder, not the input it read.
    use_connection(monkeypatch, local_extra("http://127.0.0.1:5000", "http://127.0.0.1:8765"))
    assert persisted_link(operator(), link_class, arn("solution/pulla-up")) == (
        "http://127.0.0.1:5000/pulla-personalize?prefix=personalize%2Fcrm%2Foutput%2Fwindow%3D20261127%2F"
    )


def test_a_global_endpoint_url_counts_too(monkeypatch: pytest.MonkeyPatch) -> None:
    use_connection(monkeypatch, {"region_name": REGION, "endpoint_url": "http://localhost:4566"})
    url = persisted_link(import_operator(), links.PersonalizeDatasetImportJobLink, arn("dataset-import-job/j"))
    assert url == "http://localhost:4566/pulla-personalize?prefix=personalize%2Fimport%2Fusers%2Fwindow%3D20261127%2F"


def test_the_local_link_lists_the_imported_data_on_motos_server(monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib.request

    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        s3_url = f"http://{host}:{port}"
        s3 = boto3.client("s3", region_name=REGION, endpoint_url=s3_url)
        s3.create_bucket(Bucket="pulla-personalize", CreateBucketConfiguration={"LocationConstraint": REGION})
        key = "personalize/import/users/window=20261127/users.csv"
        s3.put_object(Bucket="pulla-personalize", Key=key, Body=b"USER_ID,AGE\n1,35\n")
        use_connection(monkeypatch, local_extra(s3_url, "http://127.0.0.1:8765"))

        s3.put_object(Bucket="pulla-personalize", Key="personalize/import/users/window=20261126/users.csv", Body=b"")
        url = persisted_link(import_operator(), links.PersonalizeDatasetImportJobLink, arn("dataset-import-job/j"))
        with urllib.request.urlopen(url, timeout=10) as response:  # what a browser gets, without credentials
            assert response.status == 200
            listing = response.read().decode()
        # The folder the job imported, with the file's size; not the other day's folder.
        assert f"<Key>{key}</Key>" in listing
        assert "<Size>17</Size>" in listing
        assert "window=20261126" not in listing
    finally:
        server.stop()


def test_link_keys_are_distinct() -> None:
    assert len({link.key for link in links.LINK_CLASSES}) == len(links.LINK_CLASSES)
    assert len({link.name for link in links.LINK_CLASSES}) == len(links.LINK_CLASSES)


def test_plugin_loads_from_the_plugins_folder_with_the_package_link_classes() -> None:
    from airflow._shared.plugins_manager.plugins_manager import _load_plugins_from_plugin_directory

    plugins, import_errors = _load_plugins_from_plugin_directory(str(PLUGINS_DIR))
    assert import_errors == {}
    by_name = {plugin.name: plugin for plugin in plugins}
    # The folder also holds the project's own pulla_links plugin; this provider's is one of them.
    assert set(by_name) == {"personalize_provider", "pulla_links"}
    assert [type(link) for link in by_name["personalize_provider"].operator_extra_links] == list(links.LINK_CLASSES)
    # .airflowignore keeps the loader from importing the rest of the package again under bare module names.
    package_dir = PLUGINS_DIR / "personalize_provider"
    loaded_by_path = {
        name
        for name, module in list(sys.modules.items())
        if str(getattr(module, "__file__", "") or "").startswith(str(package_dir))
        and not name.startswith("personalize_provider")
    }
    assert loaded_by_path == {"personalize"}
    assert sys.modules["personalize"].__file__ == str(package_dir / "links" / "personalize.py")


def test_plugin_imports_from_the_package() -> None:
    plugin = links.PersonalizeProviderPlugin()
    assert plugin.name == "personalize_provider"
    assert {type(link) for link in plugin.operator_extra_links} == set(links.LINK_CLASSES)


# Minimal constructor arguments per operator, with a Jinja expression in every templated string.
TEMPLATED = "{{ ds }}"
OPERATOR_ARGUMENTS: dict[type, dict[str, Any]] = {
    ops.PersonalizeEnsureDatasetGroupOperator: {"name": TEMPLATED},
    ops.PersonalizeEnsureSchemaOperator: {"name": TEMPLATED, "schema_path": TEMPLATED},
    ops.PersonalizeEnsureDatasetOperator: {
        "name": TEMPLATED,
        "dataset_group_arn": TEMPLATED,
        "dataset_type": TEMPLATED,
        "schema_arn": TEMPLATED,
    },
    ops.PersonalizeEnsureSolutionOperator: {"name": TEMPLATED, "dataset_group_arn": TEMPLATED, "recipe_arn": TEMPLATED},
    ops.PersonalizeEnsureCampaignOperator: {"name": TEMPLATED, "solution_version_arn": TEMPLATED},
    ops.PersonalizeEnsureEventTrackerOperator: {"name": TEMPLATED, "dataset_group_arn": TEMPLATED},
    ops.PersonalizeEnsureFilterOperator: {
        "name": TEMPLATED,
        "dataset_group_arn": TEMPLATED,
        "filter_expression": TEMPLATED,
    },
    ops.PersonalizeDatasetImportJobOperator: {
        "dataset_arn": TEMPLATED,
        "data_location": TEMPLATED,
        "job_name": TEMPLATED,
    },
    ops.PersonalizeDataDeletionJobOperator: {
        "job_name": TEMPLATED,
        "dataset_group_arn": TEMPLATED,
        "data_location": TEMPLATED,
        "role_arn": TEMPLATED,
    },
    ops.PersonalizeBatchInferenceJobOperator: {
        "job_name": TEMPLATED,
        "solution_version_arn": TEMPLATED,
        "job_input_s3_path": TEMPLATED,
        "job_output_s3_path": TEMPLATED,
        "role_arn": TEMPLATED,
        "filter_arn": TEMPLATED,
    },
    ops.PersonalizeBatchSegmentJobOperator: {
        "job_name": TEMPLATED,
        "solution_version_arn": TEMPLATED,
        "job_input_s3_path": TEMPLATED,
        "job_output_s3_path": TEMPLATED,
        "role_arn": TEMPLATED,
        "filter_arn": TEMPLATED,
    },
    ops.PersonalizeCreateSolutionVersionOperator: {"solution_arn": TEMPLATED},
    ops.PersonalizeEvaluateSolutionVersionOperator: {"solution_version_arn": TEMPLATED, "campaign_arn": TEMPLATED},
    ops.PersonalizeUpdateCampaignOperator: {"campaign_arn": TEMPLATED, "solution_version_arn": TEMPLATED},
}


def test_every_public_operator_is_covered() -> None:
    public = {
        cls
        for _, cls in inspect.getmembers(ops, inspect.isclass)
        if cls.__module__ == ops.__name__
        and cls.__name__.endswith("Operator")
        and not cls.__name__.startswith("_")
        and cls is not ops.PersonalizeBaseOperator
    }
    assert public == set(OPERATOR_ARGUMENTS)


@pytest.mark.parametrize("operator_class", list(OPERATOR_ARGUMENTS), ids=lambda cls: cls.__name__)
def test_template_fields_exist_and_render(operator_class) -> None:
    arguments = OPERATOR_ARGUMENTS[operator_class]
    op = operator_class(task_id="t", aws_conn_id="{{ params.conn }}", region_name=REGION, **arguments)
    assert {"aws_conn_id", "region_name", "verify"} <= set(op.template_fields)
    assert set(arguments) <= set(op.template_fields)
    for field in op.template_fields:
        assert hasattr(op, field), f"{operator_class.__name__}.{field} is a template field but not an attribute"
    op.render_template_fields({"ds": "2026-11-27", "params": {"conn": "pulla_aws"}})
    assert op.aws_conn_id == "pulla_aws"
    for field in arguments:
        assert getattr(op, field) == "2026-11-27", field
    if isinstance(op, ops._PersonalizeJobOperator):
        # What the job reads, whatever the operator calls it, is what its messages and stand-in links use.
        assert op.data_location == "2026-11-27"


def test_deferrable_defaults_to_the_airflow_setting(tmp_path) -> None:
    # The default is read when the module is imported (as in the amazon provider), so check it in a fresh process.
    import os
    import subprocess
    import sys

    code = (
        "from personalize_provider.operators.personalize import PersonalizeCreateSolutionVersionOperator as Op\n"
        "print(Op(task_id='t', solution_arn='x').deferrable)\n"
    )
    env = {**os.environ, "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "true", "AIRFLOW_HOME": str(tmp_path)}
    completed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert completed.stdout.strip().splitlines()[-1] == "True"
