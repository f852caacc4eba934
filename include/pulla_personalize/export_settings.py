"""Settings of an export run: the source time zone, the exclusion knobs, the Personalize limits and chunk sizes.

One frozen dataclass, so a run's behaviour is fully described by the values written into its report.json.
Defaults follow the design and the service rules (``docs/personalize-rules.md``): IDs at most 256
characters, categorical values at most 1,000, at least 1,000 interactions and 25 users with 2 or more of them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pulla_personalize import SCHEMAS_DIR
from pulla_personalize.pipeline_config import RetentionConfig, configured_time_zone


@dataclass(frozen=True)
class ExportSettings:
    #: Time zone of the naive TIMESTAMP columns in the source (orders.ordered_at, products.registered_at, ...);
    #: by default the pipeline configuration's ``time_zone``, the one owner of that fact.
    source_time_zone: str = dataclasses.field(default_factory=configured_time_zone)
    #: Keep events of sessions that never log in, with the session id as USER_ID (AWS allows it; off by default
    #: because such a history can never be merged with the member's later).
    keep_anonymous_sessions: bool = False
    #: A session whose events per minute (count / its span in minutes, the span counted as at least one minute)
    #: exceeds this is a bot. People browsing a shop stay far below one event every two seconds.
    bot_events_per_minute: float = 30.0
    #: Interactions whose TIMESTAMP is older than the window end minus this many days (local calendar days) are
    #: never exported, however long the window: rule beyond_retention. The default is the configuration's
    #: ``retention.interactions_days`` default; the Airflow glue passes the configured value.
    interactions_retention_days: int = RetentionConfig.interactions_days
    #: Rows fetched and transformed at a time; peak memory follows this, not the window. Per-chunk overheads
    #: (a pandas operation, a spill part per bucket) dominate below ~100k rows.
    chunk_rows: int = 200_000
    #: Number of on-disk buckets used to make session rules, de-duplication and per-user counts exact across
    #: chunks (a key always lands in the same bucket, so one bucket at a time fits in memory). 64 keeps a bucket
    #: near 100k rows at 10 million web_logs rows; raise it for much larger windows. The row order of
    #: interactions.csv depends on it (bucket by bucket), so keep it fixed between reruns.
    spill_buckets: int = 64
    #: Interactions rows handed to Great Expectations at once (whole buckets are never split). Peak memory at
    #: large windows follows this; each batch also costs GX ~0.1 s of fixed work per run with its checkpoint
    #: built (results, rendering), against ~0.3 s of checks per 300k rows; 200k-row batches measured no faster.
    validation_batch_rows: int = 500_000
    # Personalize limits.
    max_id_length: int = 256
    max_categorical_length: int = 1000
    min_interactions: int = 1000
    min_users_with_two_interactions: int = 25
    max_event_types_plus_optional_columns: int = 10
    users_metadata_limit: int = 5
    items_metadata_limit: int = 50
    #: Timestamps before this are out of range (no Pulla data predates it); after the window end they are too.
    earliest_timestamp: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    #: Oldest plausible birth date; an AGE above ~120 means a typo in the source.
    earliest_birth_date: str = "1900-01-01"
    schemas_dir: Path = SCHEMAS_DIR

    def __post_init__(self) -> None:
        if self.bot_events_per_minute <= 0:
            raise ValueError(f"bot_events_per_minute must be positive, got {self.bot_events_per_minute}")
        for name in ("interactions_retention_days", "chunk_rows", "spill_buckets", "validation_batch_rows"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")

    def as_report_dict(self) -> dict[str, Any]:
        """The settings as JSON-able values, for report.json (no paths of this machine)."""
        values = dataclasses.asdict(self)
        values["earliest_timestamp"] = self.earliest_timestamp.isoformat()
        values.pop("schemas_dir")
        return values


def field_default(name: str) -> Any:
    """An ExportSettings default without building one (building one reads the configured time zone)."""
    field = next(field for field in dataclasses.fields(ExportSettings) if field.name == name)
    return field.default
