"""Serving's indexes and histories are built without holding up requests (issue 18), and lose no streamed event.

The end-to-end latency check is tests/faults/test_serving_isolation.py; these pin the mechanisms: a request meets
no lock held by a build (another version's index, or the same version's previous data while the new one builds),
and an event PutEvents streams while a history is being built is in that history once.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd

from personalize_local.kinds import ACTIVE, DATASET, DATASET_GROUP, EVENT_TRACKER
from personalize_local.service import EndpointSettings
from personalize_local.serving import Serving
from personalize_local.state import StateStore

GROUP = "arn:aws:personalize:us-east-1:123456789012:dataset-group/g"
DATASET_ARN = f"{GROUP}/INTERACTIONS"


def serving(tmp_path: Path) -> Serving:
    store = StateStore(tmp_path)
    store.put(DATASET_GROUP, {"datasetGroupArn": GROUP}, GROUP)
    dataset = {"datasetArn": DATASET_ARN, "datasetGroupArn": GROUP, "datasetType": "Interactions", "status": ACTIVE}
    store.put(DATASET, dataset, DATASET_ARN)
    tracker = {"eventTrackerArn": "t", "trackingId": "track", "status": ACTIVE, "datasetGroupArn": GROUP}
    store.put(EVENT_TRACKER, tracker, "t")
    bulk = {"USER_ID": ["u1"], "ITEM_ID": ["bulk-item"], "TIMESTAMP": ["1730000000"], "EVENT_TYPE": ["click"]}
    store.write_bulk(DATASET_ARN, pd.DataFrame(bulk))
    return Serving(EndpointSettings(data_dir=tmp_path), store)


def put_event(service: Serving, item: str, event_id: str) -> None:
    event = {"eventType": "click", "itemId": item, "sentAt": 1_730_000_100, "eventId": event_id}
    service.put_events({"trackingId": "track", "userId": "u1", "sessionId": "s1", "eventList": [event]})


def test_events_streamed_while_a_history_is_built_are_in_it_once(tmp_path: Path) -> None:
    service = serving(tmp_path)
    read = service.interactions

    def interactions_with_events_around_the_read(group_arn: str) -> Any:
        put_event(service, "before-read", "e1")  # in the file the build reads
        frames = read(group_arn)
        put_event(service, "after-read", "e2")  # not in what was read: PutEvents hands it to the build
        put_event(service, "after-read-again", "e1")  # an eventId already used: not used again, as on a rebuild
        return frames

    service.interactions = interactions_with_events_around_the_read  # type: ignore[method-assign]
    history = service._history(service.store.get(DATASET_GROUP, GROUP))
    assert [item for item, _, _ in history.get("u1")] == ["bulk-item", "before-read", "after-read"]
    assert [item for item, _, _ in history.get("s1")] == ["before-read", "after-read"]
    put_event(service, "later", "e3")  # a built history takes PutEvents' events at once, as before
    assert [item for item, _, _ in history.get("s1")][-1] == "later"


def test_a_build_holds_up_neither_other_versions_nor_the_previous_data_of_its_own(tmp_path: Path) -> None:
    service = serving(tmp_path)
    release = threading.Event()
    built: list[tuple[str, int]] = []

    def build(version_arn: str, group: dict[str, Any]) -> Any:
        key = (version_arn, group.get("_dataVersion", 0))
        if key == ("v1", 1):
            assert release.wait(10)
        built.append(key)
        return key  # stands for the index

    service._build_index = build  # type: ignore[method-assign]
    old = {"datasetGroupArn": GROUP, "_dataVersion": 0}
    new = {"datasetGroupArn": GROUP, "_dataVersion": 1}
    assert service._serving_index("v1", old) == ("v1", 0)
    assert service._serving_index("v2", new) == ("v2", 1)
    rebuild = threading.Thread(target=service._serving_index, args=("v1", new))
    rebuild.start()
    deadline = time.monotonic() + 10
    while not (service._index_builds.get(("v1", 1)) and service._index_builds[("v1", 1)].locked()):
        assert time.monotonic() < deadline
        time.sleep(0.005)
    # While v1's index for the new data builds: other versions answer, and v1 answers from its previous data.
    started = time.perf_counter()
    assert service._serving_index("v2", new) == ("v2", 1)
    assert service._serving_index("v1", new) == ("v1", 0)
    assert time.perf_counter() - started < 1.0
    release.set()
    rebuild.join(10)
    assert service._serving_index("v1", new) == ("v1", 1)  # swapped in once whole
    assert built == [("v1", 0), ("v2", 1), ("v1", 1)]
