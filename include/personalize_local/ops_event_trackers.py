"""Control-plane operations on event trackers: one per dataset group; its trackingId is what PutEvents sends.

The events themselves are serving's part (:mod:`personalize_local.serving`).
"""

from __future__ import annotations

import uuid
from typing import Any

from personalize_local import errors
from personalize_local.kinds import ACTIVE, DATASET_GROUP, EVENT_TRACKER
from personalize_local.resources import Handlers, required, resource_name


class EventTrackerOps(Handlers):
    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        name = resource_name(params)
        group = self.get(DATASET_GROUP, required(params, "datasetGroupArn"))
        if group["status"] != ACTIVE:
            raise errors.ResourceInUseError(
                f"Dataset group {group['datasetGroupArn']} is {group['status']}, not ACTIVE."
            )
        with self.store.lock:
            if any(t["datasetGroupArn"] == group["datasetGroupArn"] for t in self.store.all(EVENT_TRACKER)):
                raise errors.ResourceAlreadyExistsError(
                    f"Dataset group {group['datasetGroupArn']} already has an event tracker (one per dataset group)."
                )
            arn = self.new_arn(EVENT_TRACKER, uuid.uuid4().hex[:8])
            tracking_id = str(uuid.uuid4())
            record = {
                "name": name,
                "eventTrackerArn": arn,
                "accountId": self.settings.account_id,
                "trackingId": tracking_id,
                "datasetGroupArn": group["datasetGroupArn"],
            }
            self.create_resource(EVENT_TRACKER, arn, record)
        return {"eventTrackerArn": arn, "trackingId": tracking_id}

    def describe(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.describe_resource(EVENT_TRACKER, params)

    def list(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.list_resources(EVENT_TRACKER, params)

    def delete(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = required(params, "eventTrackerArn")
        self.get(EVENT_TRACKER, arn)
        self.lifecycle.start_delete(EVENT_TRACKER, arn)
        return {}
