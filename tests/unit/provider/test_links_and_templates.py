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
    ],
)
def test_console_urls(link_class, resource_arn: str, expected: str) -> None:
    link = link_class()
    assert link.format_link(aws_domain="aws.amazon.com", region_name=REGION, resource_arn=resource_arn) == expected


def test_china_partition_uses_its_console_domain() -> None:
    url = links.PersonalizeCampaignLink().format_link(
        aws_domain=links.BaseAwsLink.get_aws_domain("aws-cn"),
        region_name="cn-north-1",
        resource_arn="arn:aws-cn:personalize:cn-north-1:123456789012:campaign/pulla",
    )
    assert url.startswith("https://console.amazonaws.cn/personalize/home?region=cn-north-1#arn:aws-cn:")


def test_link_without_recorded_arn_is_empty() -> None:
    assert links.PersonalizeCampaignLink().format_link(region_name=REGION, aws_domain="aws.amazon.com") == ""


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
    ops.S3StageFolderOperator: {"local_dir": TEMPLATED, "bucket": TEMPLATED, "prefix": TEMPLATED},
    ops.PersonalizeDatasetImportJobOperator: {"dataset_arn": TEMPLATED, "data_location": TEMPLATED},
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
