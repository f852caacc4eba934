"""The pipeline configuration: the shipped file loads, every bad value fails with the file and dotted key, and the
configured time zone is read alone for the schedules and the CLI. (The gate's metric names are checked by the
Airflow glue, which knows the provider: tests/unit/pulla_airflow/test_run_config.py.)"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pulla_personalize import SCHEMAS_DIR
from pulla_personalize.export_settings import ExportSettings, field_default
from pulla_personalize.pipeline_config import (
    CONFIG_PATH_ENV,
    DEFAULT_CONFIG_PATH,
    CampaignConfig,
    ConfigError,
    RetentionConfig,
    S3Config,
    configured_time_zone,
    load_pipeline_config,
)


def test_shipped_file_loads_with_its_values() -> None:
    config = load_pipeline_config()
    assert config.path == DEFAULT_CONFIG_PATH
    assert config.time_zone == "Asia/Seoul"
    assert config.s3.bucket == "pulla-personalize"
    assert config.s3.prefix == "personalize/"  # always one trailing slash
    assert config.s3.server_side_encryption == "AES256"
    assert config.s3.kms_key_id is None
    names = config.personalize
    assert set(names.schemas) == set(names.datasets) == {"interactions", "users", "items"}
    assert all(name.endswith("-v1") for name in names.schemas.values())
    assert names.solution.recipe_arn.endswith("recipe/aws-user-personalization")
    assert names.solution.event_type is None
    assert names.campaign.min_provisioned_tps == 1
    # Folded YAML (>-) and any run of spaces collapse into one line.
    assert names.filters["pulla-exclude-purchased"] == 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")'
    assert all("\n" not in expression and "  " not in expression for expression in names.filters.values())
    assert config.min_ratios == {"normalized_discounted_cumulative_gain_at_25": 0.98, "precision_at_25": 0.98}
    assert config.notifications.channel == "log"
    assert config.notifications.smtp_to == ()
    assert names.schema_path("users") == SCHEMAS_DIR / "users.json"
    assert all(names.schema_path(kind).is_file() for kind in names.schemas)


def test_environment_variable_chooses_the_file(
    write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_config(lambda data: data.update(time_zone="Europe/Berlin"), name="other.yaml")
    monkeypatch.setenv(CONFIG_PATH_ENV, str(path))
    config = load_pipeline_config()
    assert config.path == path
    assert config.time_zone == "Europe/Berlin"
    # An explicit path still wins over the variable.
    assert load_pipeline_config(DEFAULT_CONFIG_PATH).time_zone == "Asia/Seoul"


def test_a_missing_environment_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CONFIG_PATH_ENV, str(tmp_path / "absent.yaml"))
    with pytest.raises(ConfigError, match=r"absent\.yaml: cannot read the pipeline configuration"):
        load_pipeline_config()


def test_a_relative_environment_path_is_refused_by_name(
    write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative path would be read against each worker's own working directory, not the one it was set in."""
    path = write_config(lambda data: None, name="relative.yaml")
    monkeypatch.chdir(path.parent)
    monkeypatch.setenv(CONFIG_PATH_ENV, path.name)  # it exists here, in this working directory
    with pytest.raises(ConfigError, match=r"PULLA_PERSONALIZE_CONFIG='relative\.yaml' must be an absolute path"):
        load_pipeline_config()


def test_unreadable_file_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "personalize.yaml"
    folder.mkdir()  # a folder where the file should be: reading it fails for any user, root included
    with pytest.raises(ConfigError, match=r"personalize\.yaml: cannot read the pipeline configuration"):
        load_pipeline_config(folder)


def test_invalid_yaml_is_named(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("time_zone: Asia/Seoul\ns3: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^broken\.yaml: not valid YAML"):
        load_pipeline_config(path)


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just text\n"])
def test_a_file_that_is_not_a_mapping(tmp_path: Path, text: str) -> None:
    path = tmp_path / "flat.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^flat\.yaml: the file must hold a mapping of sections"):
        load_pipeline_config(path)


def _set(dotted: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = dotted.split(".")
        node = data
        for part in parents:
            node = node[part]
        node[last] = value

    return change


def _delete(dotted: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = dotted.split(".")
        node = data
        for part in parents:
            node = node[part]
        del node[last]

    return change


def _both(*changes: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        for one in changes:
            one(data)

    return change


BAD_VALUES = [
    pytest.param(_set("time_zone", "Asia/Nowhere"), "time_zone", "unknown time zone", id="unknown-zone"),
    pytest.param(_set("time_zone", "Asia"), "time_zone", "unknown time zone", id="zone-folder"),
    pytest.param(_set("time_zone", "../etc/passwd"), "time_zone", "unknown time zone", id="zone-path"),
    pytest.param(_delete("time_zone"), "time_zone", "non-empty string", id="zone-missing"),
    pytest.param(_set("s3", "pulla-personalize"), "s3", "not a mapping", id="s3-not-mapping"),
    pytest.param(_set("s3.bucket", "Pulla_Bucket"), "s3.bucket", "not a valid S3 bucket name", id="bucket-case"),
    pytest.param(_set("s3.bucket", "ab"), "s3.bucket", "not a valid S3 bucket name", id="bucket-short"),
    pytest.param(_set("s3.server_side_encryption", "DES"), "s3.server_side_encryption", "must be one of", id="sse"),
    pytest.param(_set("s3.server_side_encryption", "aws:kms"), "s3.kms_key_id", "required when", id="kms-without-key"),
    pytest.param(_set("personalize", ["a"]), "personalize", "not a mapping", id="personalize-not-mapping"),
    pytest.param(
        _set("personalize.role_arn", "arn:aws:iam::123:role/short-account"),
        "personalize.role_arn",
        "not an IAM role ARN",
        id="role-account",
    ),
    pytest.param(
        _set("personalize.role_arn", "arn:aws:iam::000000000000:user/someone"),
        "personalize.role_arn",
        "not an IAM role ARN",
        id="role-user",
    ),
    pytest.param(
        _set("personalize.schemas.actions", "pulla-actions-v1"),
        "personalize.schemas",
        "unknown dataset types ['actions']",
        id="unknown-dataset-type",
    ),
    pytest.param(
        _delete("personalize.datasets.items"), "personalize.datasets.items", "non-empty string", id="dataset-missing"
    ),
    pytest.param(_set("personalize.datasets", None), "personalize.datasets", "not a mapping", id="datasets-null"),
    pytest.param(
        _set("personalize.dataset_group", "pulla group"),
        "personalize.dataset_group",
        "not a Personalize name",
        id="space",
    ),
    pytest.param(
        _set("personalize.schemas.users", "x" * 64),
        "personalize.schemas.users",
        "not a Personalize name",
        id="64-chars",
    ),
    pytest.param(
        _set("personalize.solution.name", "-leading-dash"),
        "personalize.solution.name",
        "not a Personalize name",
        id="leading-dash",
    ),
    pytest.param(
        _set("personalize.event_tracker", "web.events"), "personalize.event_tracker", "not a Personalize name", id="dot"
    ),
    pytest.param(
        _set("personalize.filters", {"bad name": "EXCLUDE ItemID"}),
        "personalize.filters.bad name",
        "not a Personalize name",
        id="filter-name",
    ),
    pytest.param(
        _set("personalize.filters", {"empty": ""}), "personalize.filters.empty", "non-empty string", id="filter-empty"
    ),
    pytest.param(
        _set("personalize.solution.solution_config", ["x"]),
        "personalize.solution.solution_config",
        "must be a mapping",
        id="solution-config",
    ),
    pytest.param(
        _set("personalize.campaign.exploration_weight", 1.5),
        "personalize.campaign.exploration_weight",
        "between 0 and 1",
        id="weight-high",
    ),
    pytest.param(
        _set("personalize.campaign.exploration_weight", float("nan")),
        "personalize.campaign.exploration_weight",
        "must be a number",
        id="weight-nan",
    ),
    pytest.param(
        _set("personalize.campaign.min_provisioned_tps", float("inf")),
        "personalize.campaign.min_provisioned_tps",
        "must be a number",
        id="tps-inf",
    ),
    pytest.param(
        _set("personalize.campaign.min_provisioned_tps", 1.5),
        "personalize.campaign.min_provisioned_tps",
        "whole number",
        id="tps-fraction",
    ),
    pytest.param(
        _set("personalize.campaign.min_provisioned_tps", True),
        "personalize.campaign.min_provisioned_tps",
        "must be a number",
        id="tps-bool",
    ),
    pytest.param(_set("export", "yes"), "export", "must be a mapping", id="export-not-mapping"),
    pytest.param(
        _set("export.keep_anonymous_sessions", "no"), "export.keep_anonymous_sessions", "true or false", id="flag"
    ),
    pytest.param(
        _set("export.bot_events_per_minute", 0), "export.bot_events_per_minute", "at least 0.001", id="bot-rate"
    ),
    pytest.param(_set("quality_gate", None), "quality_gate", "not a mapping", id="gate-missing"),
    pytest.param(_set("quality_gate.min_ratios", {}), "quality_gate.min_ratios", "at least one metric", id="no-ratio"),
    pytest.param(
        _set("quality_gate.min_ratios.precision_at_25", "high"),
        "quality_gate.min_ratios.precision_at_25",
        "must be a number",
        id="ratio-text",
    ),
    pytest.param(_set("retention", [730]), "retention", "must be a mapping", id="retention-not-mapping"),
    pytest.param(
        _set("retention.interaction_days", 365), "retention", "unknown keys ['interaction_days']", id="retention-typo"
    ),
    pytest.param(_set("retention.interactions_days", 0), "retention.interactions_days", "at least 1", id="keep-none"),
    pytest.param(
        _set("retention.interactions_days", 365.5), "retention.interactions_days", "whole number", id="keep-fraction"
    ),
    pytest.param(
        _set("retention.interactions_days", "730d"), "retention.interactions_days", "must be a number", id="keep-text"
    ),
    pytest.param(
        _set("retention.run_archive_days", -1), "retention.run_archive_days", "at least 1", id="archive-negative"
    ),
    pytest.param(
        _set("retention.run_archive_days", True), "retention.run_archive_days", "must be a number", id="archive-bool"
    ),
    pytest.param(_set("crm", "weekly"), "crm", "must be a mapping", id="crm-not-mapping"),
    pytest.param(_set("crm.pick", {}), "crm", "unknown keys ['pick']", id="crm-typo"),
    pytest.param(_set("crm.picks.active_days", 0), "crm.picks.active_days", "at least 1", id="active-days"),
    pytest.param(_set("crm.picks.num_results", 501), "crm.picks.num_results", "between 1 and 500", id="num-results"),
    pytest.param(
        _set("crm.picks.filter", "pulla-in-her-size"), "crm.picks.filter", "is not one of personalize.filters", id="f"
    ),
    pytest.param(
        _set("personalize.filters.pulla-in-my-size", "INCLUDE ItemID WHERE Items.WIRE IN ($WIRE)"),
        "crm.picks.filter",
        "placeholders ['WIRE'] that are not Users fields",
        id="filter-placeholder",
    ),
    pytest.param(
        _both(_set("crm.segments.enabled", True), _set("crm.segments.solution", None)),
        "crm.segments.solution",
        "not a mapping",
        id="segments-no-solution",
    ),
    pytest.param(
        _both(_set("crm.segments.enabled", True), _set("crm.segments.solution.name", "pulla-user-personalization")),
        "crm.segments.solution.name",
        "must differ from personalize.solution.name",
        id="segments-same-solution",
    ),
    pytest.param(
        _set("quality_gate.evaluation_sample_size", 0),
        "quality_gate.evaluation_sample_size",
        "at least 1",
        id="sample-size",
    ),
    pytest.param(_set("notifications", "log"), "notifications", "not a mapping", id="notifications-not-mapping"),
    pytest.param(_set("notifications.channel", "pager"), "notifications.channel", "must be one of", id="channel"),
    pytest.param(
        _set("notifications.channel", "smtp"), "notifications.smtp_to", "at least one address", id="smtp-no-recipient"
    ),
    pytest.param(
        _set("notifications.smtp_to", ["ops.pulla.kr"]), "notifications.smtp_to", "e-mail addresses", id="smtp-address"
    ),
    pytest.param(
        _set("notifications.smtp_to", "ops@pulla.kr"), "notifications.smtp_to", "must be a list", id="smtp-not-list"
    ),
    pytest.param(
        _both(_set("notifications.channel", "slack"), _set("notifications.slack_webhook_conn_id", None)),
        "notifications.slack_webhook_conn_id",
        "non-empty string",
        id="slack-no-connection",
    ),
]


@pytest.mark.parametrize(("change", "dotted_key", "reason"), BAD_VALUES)
def test_bad_value_names_file_and_key(
    write_config: Callable[..., Path], change: Callable[[dict[str, Any]], None], dotted_key: str, reason: str
) -> None:
    path = write_config(change, name="bad-config.yaml")
    with pytest.raises(ConfigError) as raised:
        load_pipeline_config(path)
    message = str(raised.value)
    assert message.startswith(f"bad-config.yaml: {dotted_key}: "), message
    assert reason in message


@pytest.mark.parametrize(
    ("rules", "reason"),
    [
        ({"size_fit_at_26": {"at_least": 0.9}}, "size_fit_at_26 is not a business metric"),
        ({"size_fit_at_25": {"atleast": 0.9}}, "size_fit_at_25.atleast is not a rule key"),
        ({"size_fit_at_25": {"at_least": 1.5}}, "size_fit_at_25.at_least must be a number between 0 and 1"),
        ({"size_fit_at_25": {}}, "size_fit_at_25 sets no bound"),
        ("strict", "must be a mapping"),
    ],
)
def test_a_bad_business_rule_names_the_file_metric_and_key(
    write_config: Callable[..., Path], rules: Any, reason: str
) -> None:
    path = write_config(_set("quality_gate.business_rules", rules), name="bad-config.yaml")
    with pytest.raises(ConfigError, match=r"^bad-config\.yaml: quality_gate\.business_rules") as raised:
        load_pipeline_config(path)
    assert reason in str(raised.value)


def test_the_shipped_crm_and_gate_settings() -> None:
    from pulla_personalize.business_rules import BusinessRule

    config = load_pipeline_config()
    assert config.crm.picks.filter == "pulla-in-my-size"
    assert config.crm.picks.placeholders == ("CUP_SIZE", "BAND_SIZE")
    assert (config.crm.picks.active_days, config.crm.picks.num_results) == (30, 25)
    assert config.evaluation_sample_size == 2000
    assert config.business_rules == {"size_fit_at_25": BusinessRule(at_least=0.85, max_drop=0.02)}


def test_without_a_crm_section_there_is_no_filter_and_no_segments(write_config: Callable[..., Path]) -> None:
    config = load_pipeline_config(write_config(lambda data: data.pop("crm")))
    assert (config.crm.picks.filter, config.crm.picks.placeholders) == (None, ())
    assert (config.crm.segments.enabled, config.crm.segments.solution) == (False, None)


def test_good_variants_load(write_config: Callable[..., Path]) -> None:
    def change(data: dict[str, Any]) -> None:
        data["s3"].update(prefix="/deep/er/", server_side_encryption="aws:kms", kms_key_id="alias/pulla")
        data["personalize"]["campaign"]["exploration_weight"] = 0
        data["personalize"]["solution"]["event_type"] = "purchase"
        data["notifications"].update(channel="smtp", smtp_to=["ops@pulla.kr", "data@pulla.kr"])
        del data["export"]  # optional: defaults apply

    config = load_pipeline_config(write_config(change))
    assert config.s3.prefix == "deep/er/"
    assert (config.s3.server_side_encryption, config.s3.kms_key_id) == ("aws:kms", "alias/pulla")
    assert config.personalize.solution.event_type == "purchase"
    assert config.notifications.smtp_to == ("ops@pulla.kr", "data@pulla.kr")
    assert config.keep_anonymous_sessions is False
    assert config.bot_events_per_minute == 30.0


@pytest.mark.parametrize(
    ("prefix", "parts", "uri", "key"),
    [
        ("personalize/", ("import", "users", "window=20261127"), "personalize/import/users/window=20261127/", None),
        ("personalize/", ("/runs/", "", "x.csv"), "personalize/runs/x.csv/", "personalize/runs/x.csv"),
        ("", ("metrics", "history.png"), "metrics/history.png/", "metrics/history.png"),
        ("a/b/", (), "a/b/", "a/b/"),
    ],
)
def test_s3_uri_and_key(prefix: str, parts: tuple[str, ...], uri: str, key: str | None) -> None:
    s3 = S3Config(bucket="pulla-personalize", prefix=prefix, server_side_encryption=None, kms_key_id=None)
    assert s3.uri(*parts) == f"s3://pulla-personalize/{uri}"
    expected_key = key if key is not None else uri.rstrip("/")
    assert s3.key(*parts) == expected_key


@pytest.mark.parametrize(
    ("weight", "days", "expected"),
    [(0.3, 30.0, ("0.3", "30")), (0.0, 1.5, ("0", "1.5")), (1, 7, ("1", "7"))],
)
def test_campaign_config_uses_strings(weight: float, days: float, expected: tuple[str, str]) -> None:
    campaign = CampaignConfig(
        name="c", min_provisioned_tps=1, exploration_weight=weight, exploration_item_age_cut_off_days=days
    )
    exploration = campaign.campaign_config()["itemExplorationConfig"]
    assert (exploration["explorationWeight"], exploration["explorationItemAgeCutOff"]) == expected
    assert all(re.fullmatch(r"\d+(\.\d+)?", text) for text in exploration.values())


def test_shipped_campaign_config() -> None:
    assert load_pipeline_config().personalize.campaign.campaign_config() == {
        "itemExplorationConfig": {"explorationWeight": "0.3", "explorationItemAgeCutOff": "30"}
    }


@pytest.mark.parametrize("zone", ["Europe/Berlin", "Asia/Seoul"])
def test_the_configured_time_zone_is_the_one_owner(write_config: Callable[..., Path], zone: str) -> None:
    path = write_config(lambda data: data.update(time_zone=zone), name="zone.yaml")
    assert configured_time_zone(path) == load_pipeline_config(path).time_zone == zone


def test_a_bad_time_zone_names_the_file_and_key(write_config: Callable[..., Path]) -> None:
    path = write_config(lambda data: data.update(time_zone="Asia/Nowhere"), name="zone.yaml")
    with pytest.raises(ConfigError, match=r"^zone.yaml: time_zone: unknown time zone 'Asia/Nowhere'"):
        configured_time_zone(path)


def test_retention_is_configured_in_whole_days_with_defaults(write_config: Callable[..., Path]) -> None:
    assert load_pipeline_config().retention == RetentionConfig(interactions_days=730, run_archive_days=90)
    # The export's default is the configuration's default: one owner of the number.
    assert field_default("interactions_retention_days") == RetentionConfig().interactions_days == 730
    absent = load_pipeline_config(write_config(_delete("retention"), name="absent.yaml"))
    assert absent.retention == RetentionConfig()
    partial = load_pipeline_config(write_config(_set("retention", {"run_archive_days": 30}), name="partial.yaml"))
    assert partial.retention == RetentionConfig(interactions_days=730, run_archive_days=30)
    whole = load_pipeline_config(write_config(_set("retention.interactions_days", 365.0), name="whole.yaml"))
    assert whole.retention.interactions_days == 365
    assert isinstance(whole.retention.interactions_days, int)


def test_export_settings_refuse_a_retention_under_one_day() -> None:
    with pytest.raises(ValueError, match="interactions_retention_days must be at least 1, got 0"):
        ExportSettings(source_time_zone="Asia/Seoul", interactions_retention_days=0)
