"""Persistent state of the local endpoint: resources as JSON, dataset data as CSV, models as npz.

Layout of the data directory::

    resources.json                      every resource, keyed by kind then ARN (written atomically)
    datasets/<key>/bulk.csv             the dataset's bulk data after the last import (strings, '' = null)
    datasets/<key>/events.csv           interactions streamed by PutEvents (Interactions datasets only)
    models/<key>.npz                    a trained solution version

Writes go to a temporary file that replaces the old one (data files flushed to disk first), so a crash never leaves
half a file behind; PutEvents appends to ``events.csv``, which a data deletion rewrites with appends held off. A
``Scheduler`` runs the delayed status steps that make resources move asynchronously as in the service.
"""

from __future__ import annotations

import csv
import hashlib
import heapq
import itertools
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from personalize_local.kinds import KINDS as RESOURCE_KINDS

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

KINDS = tuple(RESOURCE_KINDS)  # resources.json's top-level keys
EVENT_COLUMNS = ("USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE", "SESSION_ID", "EVENT_ID", "PROPERTIES")


def resource_key(arn: str) -> str:
    """A short, file-name-safe key for an ARN."""
    return hashlib.sha1(arn.encode()).hexdigest()[:20]


class StateStore:
    """Resources in memory, mirrored to ``resources.json`` after every change; data files beside it."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "datasets").mkdir(exist_ok=True)
        (self.data_dir / "models").mkdir(exist_ok=True)
        self.lock = threading.RLock()
        self._events_lock = threading.Lock()
        self.resources: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in KINDS}
        path = self.data_dir / "resources.json"
        if path.exists():
            saved = json.loads(path.read_text(encoding="utf-8"))
            for kind in KINDS:
                self.resources[kind].update(saved.get(kind, {}))

    def save(self) -> None:
        with self.lock:
            text = json.dumps(self.resources, indent=1, sort_keys=True)
            _atomic_write(self.data_dir / "resources.json", text)

    # ---- resources ------------------------------------------------------------------------------------------

    def get(self, kind: str, arn: str) -> dict[str, Any] | None:
        return self.resources[kind].get(arn)

    def put(self, kind: str, record: dict[str, Any], arn: str) -> None:
        with self.lock:
            self.resources[kind][arn] = record
            self.save()

    def update(self, kind: str, arn: str, **changes: Any) -> dict[str, Any] | None:
        with self.lock:
            record = self.resources[kind].get(arn)
            if record is None:
                return None
            record.update(changes)
            record["lastUpdatedDateTime"] = time.time()
            self.save()
            return record

    def remove(self, kind: str, arn: str) -> None:
        with self.lock:
            self.resources[kind].pop(arn, None)
            self.save()

    def all(self, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.resources[kind].values())

    # ---- data files -----------------------------------------------------------------------------------------

    def dataset_dir(self, dataset_arn: str) -> Path:
        path = self.data_dir / "datasets" / resource_key(dataset_arn)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def model_path(self, solution_version_arn: str) -> Path:
        return self.data_dir / "models" / f"{resource_key(solution_version_arn)}.npz"

    def read_bulk(self, dataset_arn: str) -> pd.DataFrame | None:
        import pandas as pd

        path = self.dataset_dir(dataset_arn) / "bulk.csv"
        if not path.exists():
            return None
        return pd.read_csv(path, dtype="str", keep_default_na=False, na_filter=False)

    def write_bulk(self, dataset_arn: str, frame: pd.DataFrame) -> None:
        _atomic_write_csv(self.dataset_dir(dataset_arn) / "bulk.csv", frame)

    def append_events(self, dataset_arn: str, rows: list[dict[str, str]]) -> None:
        path = self.dataset_dir(dataset_arn) / "events.csv"
        with self._events_lock:
            new_file = not path.exists()
            with path.open("a", encoding="utf-8", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=EVENT_COLUMNS, lineterminator="\n")
                if new_file:
                    writer.writeheader()
                writer.writerows(rows)

    def read_events(self, dataset_arn: str) -> pd.DataFrame | None:
        import pandas as pd

        path = self.dataset_dir(dataset_arn) / "events.csv"
        with self._events_lock:
            if not path.exists():
                return None
            return pd.read_csv(path, dtype="str", keep_default_na=False, na_filter=False)

    def remove_events(self, dataset_arn: str, select: Callable[[pd.DataFrame], pd.Series]) -> int:
        """Rewrite the events file without the rows ``select`` marks; the number removed.

        PutEvents waits meanwhile, so no event streamed during the rewrite is lost.
        """
        import pandas as pd

        path = self.dataset_dir(dataset_arn) / "events.csv"
        with self._events_lock:
            if not path.exists():
                return 0
            events = pd.read_csv(path, dtype="str", keep_default_na=False, na_filter=False)
            removed = select(events)
            count = int(removed.sum())
            if count:
                _atomic_write_csv(path, events[~removed])
            return count


def _atomic_write_csv(path: Path, frame: pd.DataFrame) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as handle:
        frame.to_csv(handle, index=False, lineterminator="\n")
        # On disk before it replaces the old file: after a power loss the file is the old one or the new one.
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class Scheduler:
    """Runs callables after a delay on one background thread; work that takes long hands itself to a pool."""

    def __init__(self) -> None:
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._counter = itertools.count()
        self._condition = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="personalize-local-scheduler", daemon=True)
        self._thread.start()

    def call_later(self, delay: float, action: Callable[[], None]) -> None:
        with self._condition:
            heapq.heappush(self._queue, (time.monotonic() + delay, next(self._counter), action))
            self._condition.notify()

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._stopped and (not self._queue or self._queue[0][0] > time.monotonic()):
                    timeout = self._queue[0][0] - time.monotonic() if self._queue else None
                    self._condition.wait(timeout)
                if self._stopped:
                    return
                _, _, action = heapq.heappop(self._queue)
            try:
                action()
            except Exception:  # a failing step must not stop every other resource's progress
                log.exception("scheduled step failed")
