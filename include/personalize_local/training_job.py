"""What a training process does: reads a dataset group's interaction files, trains, writes the model file.

:class:`TrainingJob` holds everything it needs as plain values (paths and the training configuration), so it runs
in a process of its own (:mod:`~personalize_local.work_process`) that shares nothing with the endpoint: it reads
the files, trains, writes the model atomically and returns the version's metrics, which the endpoint records when
the version becomes ACTIVE. FULL trains on the bulk and streamed interactions (sessions joined to the user who
logged in during them); UPDATE keeps the factors of the latest ACTIVE FULL version, as new items reach
recommendations through the serving index.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from personalize_local.lifecycle import WorkFailed

if TYPE_CHECKING:
    from personalize_local.trainer import TrainingConfig


@dataclass(frozen=True)
class TrainingJob:
    version_arn: str
    group_arn: str
    mode: str  # FULL or UPDATE
    config: TrainingConfig
    model_path: Path
    #: UPDATE: the model file of the FULL version whose factors it keeps.
    base_model_path: Path | None = None
    #: FULL: the group's Interactions bulk file, a copy of its events file, its Items bulk file (None: none).
    interactions_path: Path | None = None
    events_path: Path | None = None
    items_path: Path | None = None
    #: Test-only (fault switch ``slow-process``): seconds the process sleeps first, so a test can kill it.
    pause: float = 0.0


def run(job: TrainingJob) -> dict[str, Any]:
    """Train and write the model; the members the version takes on at ACTIVE. WorkFailed with the reason."""
    from personalize_local.resources import usable_events
    from personalize_local.state import read_data_file
    from personalize_local.trainer import InsufficientDataError, TrainedModel, prepare_interactions, train

    if job.pause:
        time.sleep(job.pause)
    if job.mode == "UPDATE":
        model = TrainedModel.load(job.base_model_path)
        model.metrics = {}
        model.save(job.model_path)
        return {"_metrics": {}}
    bulk = read_data_file(job.interactions_path) if job.interactions_path else None
    events = usable_events(read_data_file(job.events_path) if job.events_path else None)
    if bulk is None and events is None:
        raise WorkFailed(
            f"Dataset group {job.group_arn} has no Interactions data; import interactions before training."
        )
    links: dict[str, str] = {}
    if events is not None and len(events):
        # A streamed event with both ids joins the session's anonymous events to the user.
        linked = events[(events["SESSION_ID"] != "") & (events["USER_ID"] != "")]
        links = dict(zip(linked["SESSION_ID"], linked["USER_ID"], strict=True))
    frame = prepare_interactions(bulk, events, links)
    items = read_data_file(job.items_path) if job.items_path else None
    catalog = set(items["ITEM_ID"]) if items is not None else set()
    try:
        model, baseline = train(frame, job.config, catalog)
    except InsufficientDataError as exc:
        raise WorkFailed(str(exc)) from exc
    model.save(job.model_path)
    return {"_metrics": model.metrics, "_baselineMetrics": baseline}
