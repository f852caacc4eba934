"""What the operation handlers and serving share: request-member checks, the wire view of records, store lookups.

:class:`ResourceAccess` finds records (ResourceNotFoundException when missing), a dataset group's dataset of one
type and its interactions. :class:`Handlers`, the base of every ``ops_*`` module's class, adds what control-plane
handlers need: ARNs in the caller's region, creation through the status engine, Describe and List done once for
every kind from the kinds table, and counting a change of a dataset group's data (serving's caches are keyed by it).
"""

from __future__ import annotations

import logging
import re
import threading
from typing import TYPE_CHECKING, Any

from personalize_local import errors
from personalize_local.kinds import DATASET, DATASET_GROUP, DELETING, KINDS
from personalize_local.lifecycle import Lifecycle
from personalize_local.state import StateStore

if TYPE_CHECKING:
    import pandas as pd

    from personalize_local.service import EndpointSettings

log = logging.getLogger(__name__)

NAME_PATTERN = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9\-_]*")
ROLE_ARN_PATTERN = re.compile(r"arn:([a-z\d-]+):iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+")
DATA_LOCATION_PATTERN = re.compile(r"(s3|http|https)://.+")
MAX_RESULTS_DEFAULT = 100
#: datasetType as CreateDataset takes it (any case) → as the service shows it.
SERVICE_DATASET_TYPES = {"interactions": "Interactions", "users": "Users", "items": "Items"}


def public(record: dict[str, Any], fields: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The record as the wire shows it: internal keys (leading underscore) and None values left out."""
    keys = fields if fields is not None else tuple(record)
    return {k: record[k] for k in keys if k in record and not k.startswith("_") and record[k] is not None}


def required(params: dict[str, Any], key: str) -> Any:
    value = params.get(key)
    if value is None or value == "":
        raise errors.InvalidInputError(f"{key} is required")
    return value


def resource_name(params: dict[str, Any], key: str = "name") -> str:
    value = required(params, key)
    if not isinstance(value, str) or len(value) > 63 or not NAME_PATTERN.fullmatch(value):
        raise errors.InvalidInputError(
            f"{key} {value!r} must be 1-63 characters of letters, digits, '-' and '_', starting with a letter or digit"
        )
    return value


def role_arn(params: dict[str, Any]) -> str | None:
    role = params.get("roleArn")
    if role and not ROLE_ARN_PATTERN.fullmatch(role):
        raise errors.InvalidInputError(f"roleArn {role!r} is not an IAM role ARN")
    return role


def data_location(params: dict[str, Any]) -> str:
    """dataSource.dataLocation, checked against the API model's pattern and length."""
    location = (required(params, "dataSource") or {}).get("dataLocation") or ""
    if len(location) > 256 or not DATA_LOCATION_PATTERN.fullmatch(location):
        raise errors.InvalidInputError(f"dataSource.dataLocation {location!r} must look like s3://bucket/key")
    return location


#: Epoch seconds an event's TIMESTAMP must stay within to be used (int64 nanoseconds stop in 2262).
_LARGEST_TIMESTAMP = 9_000_000_000


def _readable_timestamps(events: pd.DataFrame) -> pd.DataFrame:
    """The events whose TIMESTAMP is epoch seconds that fit: PutEvents checks sentAt now, but an events file
    written before it did may hold a 300-digit one, which would fail every GetRecommendations and training."""
    import pandas as pd

    stamps = pd.to_numeric(events["TIMESTAMP"], errors="coerce")
    readable = stamps.between(-_LARGEST_TIMESTAMP, _LARGEST_TIMESTAMP)
    if readable.all():
        return events
    log.warning("ignoring %d streamed events whose TIMESTAMP is not epoch seconds", int((~readable).sum()))
    return events[readable]


def usable_events(events: pd.DataFrame | None) -> pd.DataFrame | None:
    """The streamed events that count for models and filters, as read from an events file."""
    if events is None:
        return None
    # A repeated eventId is not used again, as the service documents.
    return _readable_timestamps(events.drop_duplicates("EVENT_ID", keep="first"))


class ResourceAccess:
    def __init__(self, settings: EndpointSettings, store: StateStore) -> None:
        self.settings = settings
        self.store = store

    def get(self, kind: str, arn: Any) -> dict[str, Any]:
        record = self.store.get(kind, arn) if isinstance(arn, str) else None
        if record is None:
            raise errors.ResourceNotFoundError(f"Resource {arn} does not exist.")
        return record

    def dataset_of(self, group_arn: str, dataset_type: str) -> dict[str, Any] | None:
        """The group's dataset of that type (any case), unless it is being deleted."""
        return next(
            (
                d
                for d in self.store.all(DATASET)
                if d["datasetGroupArn"] == group_arn
                and d["datasetType"].lower() == dataset_type.lower()
                and d["status"] not in DELETING
            ),
            None,
        )

    def interactions(self, group_arn: str) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
        """(bulk, streamed events) of the group's Interactions dataset; Nones when it has none."""
        dataset = self.dataset_of(group_arn, "Interactions")
        if dataset is None:
            return None, None
        events = self.store.read_events(dataset["datasetArn"])
        return self.store.read_bulk(dataset["datasetArn"]), usable_events(events)


class Handlers(ResourceAccess):
    """The base of the operation handlers: ``op(params) -> response members``, raising ServiceError."""

    def __init__(
        self, settings: EndpointSettings, store: StateStore, lifecycle: Lifecycle, request: threading.local
    ) -> None:
        super().__init__(settings, store)
        self.lifecycle = lifecycle
        self._request = request  # the calling region, per request thread

    def arn(self, path: str) -> str:
        region = getattr(self._request, "region", None) or self.settings.default_region
        return f"arn:aws:personalize:{region}:{self.settings.account_id}:{path}"

    def new_arn(self, kind: str, name: str) -> str:
        return self.arn(f"{KINDS[kind].arn_path}/{name}")

    def create_resource(self, kind: str, arn: str, record: dict[str, Any]) -> None:
        self.lifecycle.create(kind, arn, record)

    def count_data_change(self, group_arn: str) -> None:
        """The group's data changed (an import, a deletion): serving builds new indexes for the next data version."""
        with self.store.lock:
            group = self.store.get(DATASET_GROUP, group_arn)
            if group is not None:
                self.store.update(DATASET_GROUP, group_arn, _dataVersion=group.get("_dataVersion", 0) + 1)

    def describe_resource(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        spec = KINDS[kind]
        return {spec.describe_key: public(self.get(kind, required(params, spec.arn_key)))}

    def list_resources(self, kind: str, params: dict[str, Any]) -> dict[str, Any]:
        """One page of the kind's records, newest first, filtered by the parent's ARN when the request gives it."""
        spec = KINDS[kind]
        records = self.store.all(kind)
        if spec.parent is not None:
            parent_arn = params.get(KINDS[spec.parent.kind].arn_key)
            if parent_arn:
                records = [r for r in records if r[spec.parent.record_key] == parent_arn]
        page, token = self._paginate(records, params, spec.summary_fields)
        return {spec.list_key: page, "nextToken": token}

    def _paginate(
        self, records: list[dict[str, Any]], params: dict[str, Any], fields: tuple[str, ...]
    ) -> tuple[list, str | None]:
        records = sorted(records, key=lambda r: r.get("creationDateTime", 0), reverse=True)
        max_results = int(params.get("maxResults") or MAX_RESULTS_DEFAULT)
        token = params.get("nextToken")
        try:
            start = int(token) if token else 0
        except ValueError:
            raise errors.InvalidNextTokenError(f"Invalid nextToken {token!r}") from None
        page = records[start : start + max_results]
        next_token = str(start + max_results) if start + max_results < len(records) else None
        return [public(r, fields) for r in page], next_token
