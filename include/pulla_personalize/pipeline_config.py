"""The pipeline configuration: one YAML file names everything the DAGs create and use.

``load_pipeline_config()`` reads ``include/config/personalize.yaml`` (or the file named by
``PULLA_PERSONALIZE_CONFIG``) into frozen dataclasses and checks it, so a typo fails at the first task with the file
and the key in the message instead of half-way through a Personalize call. Nothing here touches Airflow or AWS.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pulla_personalize import INCLUDE_DIR, SCHEMAS_DIR
from pulla_personalize.business_metrics import BusinessRule, parse_business_rules
from pulla_personalize.datasets import DATASET_TYPES
from pulla_personalize.windows import NAME_MAX_LENGTH

DEFAULT_CONFIG_PATH = INCLUDE_DIR / "config" / "personalize.yaml"
CONFIG_PATH_ENV = "PULLA_PERSONALIZE_CONFIG"
# Personalize resource names: 1-63 characters (botocore ``Name``).
RESOURCE_NAME = re.compile(rf"[a-zA-Z0-9][a-zA-Z0-9\-_]{{0,{NAME_MAX_LENGTH - 1}}}\Z")
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+\Z")
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z")
NOTIFICATION_CHANNELS = ("log", "smtp", "slack")
# A filter's placeholders: ``$CUP_SIZE`` in an expression (Personalize's syntax).
FILTER_PLACEHOLDER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
ITEM_AFFINITY_RECIPE = "arn:aws:personalize:::recipe/aws-item-affinity"
SSE_MODES = ("AES256", "aws:kms")


class ConfigError(ValueError):
    """The configuration file is missing, unreadable or has a bad value; the message names the file and key."""


@dataclass(frozen=True)
class S3Config:
    bucket: str
    prefix: str
    server_side_encryption: str | None
    kms_key_id: str | None

    def uri(self, *parts: str) -> str:
        """``s3://bucket/prefix/part/part/`` for a folder below the configured prefix."""
        path = self.prefix + "".join(part.strip("/") + "/" for part in parts if part)
        return f"s3://{self.bucket}/{path}"

    def key(self, *parts: str) -> str:
        """The object key (no bucket) of a folder or file below the prefix."""
        return self.prefix + "/".join(part.strip("/") for part in parts if part)


@dataclass(frozen=True)
class CampaignConfig:
    name: str
    min_provisioned_tps: int
    exploration_weight: float
    exploration_item_age_cut_off_days: float

    def campaign_config(self) -> dict[str, Any]:
        """The ``campaignConfig`` CreateCampaign and UpdateCampaign take (the service wants strings here)."""
        return {
            "itemExplorationConfig": {
                "explorationWeight": _number_text(self.exploration_weight),
                "explorationItemAgeCutOff": _number_text(self.exploration_item_age_cut_off_days),
            }
        }


@dataclass(frozen=True)
class SolutionConfig:
    name: str
    recipe_arn: str
    event_type: str | None
    solution_config: dict[str, Any]


@dataclass(frozen=True)
class PersonalizeConfig:
    role_arn: str
    dataset_group: str
    schemas: dict[str, str]
    datasets: dict[str, str]
    solution: SolutionConfig
    campaign: CampaignConfig
    event_tracker: str
    filters: dict[str, str]

    def schema_path(self, dataset_type: str) -> Path:
        return SCHEMAS_DIR / f"{dataset_type}.json"


@dataclass(frozen=True)
class NotificationConfig:
    channel: str
    smtp_to: tuple[str, ...]
    slack_webhook_conn_id: str | None


@dataclass(frozen=True)
class RetentionConfig:
    """How long data is kept (the ``retention`` section; each key optional, with these defaults)."""

    #: Interactions whose TIMESTAMP is older than the window end minus this many days are never exported, however
    #: long the window (``ExportSettings.interactions_retention_days``; rule beyond_retention).
    interactions_days: int = 730
    #: Days a run's archive (``runs/window=<label>/``: CSVs, report, rejects, Data Docs) stays on S3 before the
    #: bucket's lifecycle rule deletes it.
    run_archive_days: int = 90


@dataclass(frozen=True)
class PicksConfig:
    """The weekly CRM picks (``crm.picks``): who gets them, how many, through which filter."""

    #: Members with an interaction in the last this many days (up to the latest export) get picks.
    active_days: int = 30
    #: Items per member (the batch job's numResults).
    num_results: int = 25
    #: A configured filter; each member's input line fills its placeholders from her Users columns of the same
    #: name (``$CUP_SIZE`` from CUP_SIZE). None: no filter.
    filter: str | None = None
    #: The filter's placeholders (placeholder name = Users column), read from its expression.
    placeholders: tuple[str, ...] = ()


@dataclass(frozen=True)
class SegmentsConfig:
    """Launch audiences (``crm.segments``): an item-affinity solution trained beside the main one."""

    enabled: bool = False
    solution: SolutionConfig | None = None
    #: Members per audience when the form does not say.
    default_size: int = 1000


@dataclass(frozen=True)
class CrmConfig:
    picks: PicksConfig = field(default_factory=PicksConfig)
    segments: SegmentsConfig = field(default_factory=SegmentsConfig)


@dataclass(frozen=True)
class PipelineConfig:
    path: Path
    time_zone: str
    s3: S3Config
    personalize: PersonalizeConfig
    keep_anonymous_sessions: bool
    bot_events_per_minute: float
    min_ratios: dict[str, float]
    notifications: NotificationConfig
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    crm: CrmConfig = field(default_factory=CrmConfig)
    #: Members whose batch recommendations measure the business metrics of the champion and the challenger.
    evaluation_sample_size: int = 2000
    #: The gate's rule on those metrics (``quality_gate.business_rules``); empty: not measured.
    business_rules: dict[str, BusinessRule] = field(default_factory=dict)


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


class _Reader:
    """Typed access to nested keys, with errors naming the file and the dotted key."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.path.name}: {key}: {message}")

    def section(self, data: Mapping[str, Any], key: str, dotted: str) -> Mapping[str, Any]:
        value = data.get(key)
        if not isinstance(value, Mapping):
            raise self.fail(dotted, "missing, or not a mapping of keys to values")
        return value

    def text(self, data: Mapping[str, Any], key: str, dotted: str, *, optional: bool = False) -> str | None:
        value = data.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(dotted, f"must be a non-empty string, got {value!r}")
        return value.strip()

    def name(self, data: Mapping[str, Any], key: str, dotted: str) -> str:
        value = self.text(data, key, dotted)
        assert value is not None
        if not RESOURCE_NAME.match(value):
            raise self.fail(dotted, f"{value!r} is not a Personalize name (1-63 of letters, digits, '-', '_')")
        return value

    def number(
        self,
        data: Mapping[str, Any],
        key: str,
        dotted: str,
        low: float,
        high: float | None = None,
        default: Any = None,
        *,
        whole: bool = False,
    ) -> float:
        value = data.get(key, default)
        # YAML's .nan and .inf are floats too; NaN would pass every bound check below.
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.fail(dotted, f"must be a number, got {value!r}")
        if whole and not float(value).is_integer():
            raise self.fail(dotted, f"must be a whole number, got {value!r}")
        if value < low or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise self.fail(dotted, f"must be {bounds}, got {value}")
        return float(value)

    def flag(self, data: Mapping[str, Any], key: str, dotted: str, default: Any = None) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(dotted, f"must be true or false, got {value!r}")
        return value


def _time_zone(read: _Reader, data: Mapping[str, Any]) -> str:
    time_zone = read.text(data, "time_zone", "time_zone")
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError, OSError) as error:  # OSError: a folder of zones, like "Asia"
        raise read.fail("time_zone", f"unknown time zone {time_zone!r}") from error
    return time_zone


def _retention(read: _Reader, data: Mapping[str, Any]) -> RetentionConfig:
    """The ``retention`` section: whole numbers of days, at least 1; a missing key takes its default. An unknown
    key fails: a misspelt one would otherwise keep data for the default time without a word."""
    section = data.get("retention") or {}
    if not isinstance(section, Mapping):
        raise read.fail("retention", "must be a mapping of keys to values")
    known = [one.name for one in fields(RetentionConfig)]
    unknown = sorted(str(key) for key in section if key not in known)
    if unknown:
        raise read.fail("retention", f"unknown keys {unknown} (known: {', '.join(known)})")
    defaults = RetentionConfig()
    return RetentionConfig(
        **{
            name: int(read.number(section, name, f"retention.{name}", 1, default=getattr(defaults, name), whole=True))
            for name in known
        }
    )


def parse_pipeline_config(data: Any, path: Path) -> PipelineConfig:
    """Checks the parsed YAML ``data`` and builds the configuration; ``path`` only names the file in errors."""
    read = _Reader(path)
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path.name}: the file must hold a mapping of sections, got {type(data).__name__}")

    time_zone = _time_zone(read, data)

    s3 = read.section(data, "s3", "s3")
    bucket = read.text(s3, "bucket", "s3.bucket")
    if not BUCKET_NAME.match(bucket):
        raise read.fail("s3.bucket", f"{bucket!r} is not a valid S3 bucket name")
    prefix = (read.text(s3, "prefix", "s3.prefix", optional=True) or "").strip("/")
    sse = read.text(s3, "server_side_encryption", "s3.server_side_encryption", optional=True)
    if sse is not None and sse not in SSE_MODES:
        raise read.fail("s3.server_side_encryption", f"must be one of {', '.join(SSE_MODES)} or null, got {sse!r}")
    kms_key_id = read.text(s3, "kms_key_id", "s3.kms_key_id", optional=True)
    if sse == "aws:kms" and not kms_key_id:
        raise read.fail("s3.kms_key_id", "is required when server_side_encryption is aws:kms")

    personalize = read.section(data, "personalize", "personalize")
    role_arn = read.text(personalize, "role_arn", "personalize.role_arn")
    if not ROLE_ARN.match(role_arn):
        raise read.fail("personalize.role_arn", f"{role_arn!r} is not an IAM role ARN")
    per_type: dict[str, dict[str, str]] = {}
    for section_name in ("schemas", "datasets"):
        section = read.section(personalize, section_name, f"personalize.{section_name}")
        unknown = sorted(set(section) - set(DATASET_TYPES))
        if unknown:
            raise read.fail(f"personalize.{section_name}", f"unknown dataset types {unknown}")
        per_type[section_name] = {
            kind: read.name(section, kind, f"personalize.{section_name}.{kind}") for kind in DATASET_TYPES
        }
    solution = read.section(personalize, "solution", "personalize.solution")
    solution_config = solution.get("solution_config") or {}
    if not isinstance(solution_config, Mapping):
        raise read.fail("personalize.solution.solution_config", "must be a mapping")
    campaign = read.section(personalize, "campaign", "personalize.campaign")
    filters = read.section(personalize, "filters", "personalize.filters")
    for filter_name in filters:
        if not RESOURCE_NAME.match(str(filter_name)):
            raise read.fail(f"personalize.filters.{filter_name}", "is not a Personalize name")
        read.text(filters, filter_name, f"personalize.filters.{filter_name}")

    export = data.get("export") or {}
    if not isinstance(export, Mapping):
        raise read.fail("export", "must be a mapping of keys to values")
    gate = read.section(data, "quality_gate", "quality_gate")
    min_ratios = read.section(gate, "min_ratios", "quality_gate.min_ratios")
    if not min_ratios:
        raise read.fail("quality_gate.min_ratios", "name at least one metric")
    notifications = read.section(data, "notifications", "notifications")
    channel = read.text(notifications, "channel", "notifications.channel")
    if channel not in NOTIFICATION_CHANNELS:
        raise read.fail("notifications.channel", f"must be one of {', '.join(NOTIFICATION_CHANNELS)}, got {channel!r}")
    smtp_to = notifications.get("smtp_to") or []
    if not isinstance(smtp_to, list) or not all(isinstance(item, str) and "@" in item for item in smtp_to):
        raise read.fail("notifications.smtp_to", "must be a list of e-mail addresses")
    if channel == "smtp" and not smtp_to:
        raise read.fail("notifications.smtp_to", "needs at least one address when channel is smtp")
    slack_conn = read.text(
        notifications, "slack_webhook_conn_id", "notifications.slack_webhook_conn_id", optional=channel != "slack"
    )
    retention = _retention(read, data)
    crm = _crm(read, data, filters)
    if crm.segments.solution is not None and crm.segments.solution.name == read.name(
        solution, "name", "personalize.solution.name"
    ):
        raise read.fail("crm.segments.solution.name", "must differ from personalize.solution.name")
    rules = gate.get("business_rules") or {}
    if not isinstance(rules, Mapping):
        raise read.fail("quality_gate.business_rules", "must be a mapping of metric names to rules")
    try:
        business_rules = parse_business_rules(rules, where="quality_gate.business_rules")
    except ValueError as error:
        raise ConfigError(f"{path.name}: {error}") from error

    return PipelineConfig(
        path=path,
        time_zone=time_zone,
        s3=S3Config(
            bucket=bucket,
            prefix=f"{prefix}/" if prefix else "",
            server_side_encryption=sse,
            kms_key_id=kms_key_id,
        ),
        personalize=PersonalizeConfig(
            role_arn=role_arn,
            dataset_group=read.name(personalize, "dataset_group", "personalize.dataset_group"),
            schemas=per_type["schemas"],
            datasets=per_type["datasets"],
            solution=SolutionConfig(
                name=read.name(solution, "name", "personalize.solution.name"),
                recipe_arn=read.text(solution, "recipe_arn", "personalize.solution.recipe_arn"),
                event_type=read.text(solution, "event_type", "personalize.solution.event_type", optional=True),
                solution_config=dict(solution_config),
            ),
            campaign=CampaignConfig(
                name=read.name(campaign, "name", "personalize.campaign.name"),
                min_provisioned_tps=int(
                    read.number(
                        campaign, "min_provisioned_tps", "personalize.campaign.min_provisioned_tps", 1, whole=True
                    )
                ),
                exploration_weight=read.number(
                    campaign, "exploration_weight", "personalize.campaign.exploration_weight", 0, 1
                ),
                exploration_item_age_cut_off_days=read.number(
                    campaign,
                    "exploration_item_age_cut_off_days",
                    "personalize.campaign.exploration_item_age_cut_off_days",
                    0.0001,
                ),
            ),
            event_tracker=read.name(personalize, "event_tracker", "personalize.event_tracker"),
            filters={name: " ".join(str(expression).split()) for name, expression in filters.items()},
        ),
        keep_anonymous_sessions=read.flag(
            export, "keep_anonymous_sessions", "export.keep_anonymous_sessions", default=False
        ),
        bot_events_per_minute=read.number(
            export, "bot_events_per_minute", "export.bot_events_per_minute", 0.001, default=30
        ),
        min_ratios={
            name: read.number(min_ratios, name, f"quality_gate.min_ratios.{name}", 0.0001) for name in min_ratios
        },
        notifications=NotificationConfig(channel=channel, smtp_to=tuple(smtp_to), slack_webhook_conn_id=slack_conn),
        retention=retention,
        crm=crm,
        evaluation_sample_size=int(
            read.number(
                gate, "evaluation_sample_size", "quality_gate.evaluation_sample_size", 1, default=2000, whole=True
            )
        ),
        business_rules=business_rules,
    )


def config_path() -> Path:
    """``PULLA_PERSONALIZE_CONFIG`` or the shipped file. The variable must be an absolute path: tasks run in
    executor processes (a LocalExecutor worker, a Celery worker) whose working directory is not the one the
    variable was set in, so a relative path would name a different file, or none, depending on where a task ran."""
    override = os.environ.get(CONFIG_PATH_ENV)
    if not override:
        return DEFAULT_CONFIG_PATH
    path = Path(override).expanduser()
    if not path.is_absolute():
        raise ConfigError(
            f"{CONFIG_PATH_ENV}={override!r} must be an absolute path: Airflow tasks run in worker processes "
            "whose working directory is not yours"
        )
    return path


def _users_fields() -> set[str]:
    import json

    schema = json.loads((SCHEMAS_DIR / "users.json").read_text(encoding="utf-8"))
    return {one["name"] for one in schema["fields"]}


def _crm(read: _Reader, data: Mapping[str, Any], filters: Mapping[str, str]) -> CrmConfig:
    """The ``crm`` section (optional: without it there are no filtered picks and no segments)."""
    section = data.get("crm") or {}
    if not isinstance(section, Mapping):
        raise read.fail("crm", "must be a mapping of keys to values")
    unknown = sorted(str(key) for key in section if key not in ("picks", "segments"))
    if unknown:
        raise read.fail("crm", f"unknown keys {unknown} (known: picks, segments)")
    picks = section.get("picks") or {}
    if not isinstance(picks, Mapping):
        raise read.fail("crm.picks", "must be a mapping of keys to values")
    defaults = PicksConfig()
    filter_name = read.text(picks, "filter", "crm.picks.filter", optional=True)
    placeholders: tuple[str, ...] = ()
    if filter_name is not None:
        if filter_name not in filters:
            raise read.fail(
                "crm.picks.filter", f"{filter_name!r} is not one of personalize.filters ({', '.join(filters)})"
            )
        placeholders = tuple(dict.fromkeys(FILTER_PLACEHOLDER.findall(filters[filter_name])))
        missing = sorted(set(placeholders) - _users_fields())
        if missing:
            raise read.fail(
                "crm.picks.filter",
                f"filter {filter_name!r} has placeholders {missing} that are not Users fields: each member's line "
                "fills a placeholder from her Users column of the same name",
            )
    picks_config = PicksConfig(
        active_days=int(
            read.number(picks, "active_days", "crm.picks.active_days", 1, default=defaults.active_days, whole=True)
        ),
        # A batch inference job returns at most 500 items per user.
        num_results=int(
            read.number(picks, "num_results", "crm.picks.num_results", 1, 500, default=defaults.num_results, whole=True)
        ),
        filter=filter_name,
        placeholders=placeholders,
    )
    segments = section.get("segments") or {}
    if not isinstance(segments, Mapping):
        raise read.fail("crm.segments", "must be a mapping of keys to values")
    enabled = read.flag(segments, "enabled", "crm.segments.enabled", default=False)
    solution = None
    if enabled:
        solution_section = read.section(segments, "solution", "crm.segments.solution")
        solution = SolutionConfig(
            name=read.name(solution_section, "name", "crm.segments.solution.name"),
            recipe_arn=read.text(solution_section, "recipe_arn", "crm.segments.solution.recipe_arn")
            if "recipe_arn" in solution_section
            else ITEM_AFFINITY_RECIPE,
            event_type=read.text(solution_section, "event_type", "crm.segments.solution.event_type", optional=True),
            solution_config=dict(solution_section.get("solution_config") or {}),
        )
    return CrmConfig(
        picks=picks_config,
        segments=SegmentsConfig(
            enabled=enabled,
            solution=solution,
            default_size=int(
                read.number(segments, "default_size", "crm.segments.default_size", 1, default=1000, whole=True)
            ),
        ),
    )


def _read_document(path: Path) -> Any:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the pipeline configuration: {error.strerror or error}") from error
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path.name}: not valid YAML: {error}") from error


def load_pipeline_config(path: Path | str | None = None) -> PipelineConfig:
    """Reads and checks the configuration file (default: ``PULLA_PERSONALIZE_CONFIG`` or the shipped one)."""
    path = Path(path) if path is not None else config_path()
    return parse_pipeline_config(_read_document(path), path)


def config_snapshot(path: Path | str | None = None) -> dict[str, Any]:
    """The checked configuration as a small JSON-able dict: what a run's first task reads once and hands on, so
    every task of the run works with the same configuration even if the file changes while it runs."""
    path = Path(path) if path is not None else config_path()
    document = _read_document(path)
    parse_pipeline_config(document, path)  # a bad file fails here, in the first task
    return {"path": str(path), "document": document}


def config_from_snapshot(snapshot: Mapping[str, Any]) -> PipelineConfig:
    """The configuration a run's first task read (``config_snapshot``), without reading the file again."""
    return parse_pipeline_config(snapshot["document"], Path(snapshot["path"]))


def configured_time_zone(path: Path | str | None = None) -> str:
    """The configured ``time_zone`` alone, checked: the DAG schedules (read when a DAG file is parsed) and the
    CLI's defaults take the zone from here, so the configuration is its one owner."""
    path = Path(path) if path is not None else config_path()
    document = _read_document(path)
    read = _Reader(path)
    if not isinstance(document, Mapping):
        raise read.fail("(top level)", "must be a mapping of keys to values")
    return _time_zone(read, document)
