"""Persistent state of the local endpoint: resources as JSON, dataset data as CSV, models as npz.

Layout of the data directory::

    resources.json                      every resource, keyed by kind then ARN (written atomically)
    datasets/<key>/bulk.csv             the dataset's bulk data after the last import (strings, '' = null)
    datasets/<key>/events.csv           interactions streamed by PutEvents (Interactions datasets only)
    datasets/<key>/records.jsonl        items or users sent by PutItems/PutUsers, one JSON object a line
    models/<key>.npz                    a trained solution version
    training/<key>.events.csv           the events a running training reads, copied when it started

Writes go to a temporary file in the same folder, flushed to disk, that then replaces the old one (and the folder
is flushed too), so a crash or a power loss leaves the old file or the new one, never half of one. PutEvents appends
to ``events.csv`` one whole batch of lines per ``os.write`` on an O_APPEND descriptor, and PutItems/PutUsers to
``records.jsonl`` the same way; a data deletion rewrites either file with appends held off.

At start the store checks what it reads (issue 18): a ``resources.json`` that is not valid JSON stops the endpoint
with :class:`StateFileError` naming the file (no bare traceback, no guessing); an ``events.csv`` that ends in half a
line (a crash mid-append on a file system that tore the write) loses that line, with a warning; a dataset's
``bulk.csv`` cut short or a model file that cannot be read makes its resource CREATE FAILED with a reason naming
the file, which is moved aside as ``<name>.damaged`` so nothing serves or trains on half of it. A ``Scheduler``
runs the delayed status steps that make resources move asynchronously as in the service.
"""

from __future__ import annotations

import csv
import hashlib
import heapq
import io
import itertools
import json
import logging
import os
import shutil
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from personalize_local.kinds import ACTIVE, CREATE_FAILED, DATASET, SOLUTION_VERSION
from personalize_local.kinds import KINDS as RESOURCE_KINDS

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

KINDS = tuple(RESOURCE_KINDS)  # resources.json's top-level keys
EVENT_COLUMNS = ("USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE", "SESSION_ID", "EVENT_ID", "PROPERTIES")


class StateFileError(RuntimeError):
    """A state file the endpoint cannot start from; the message names the file and what to do."""


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
        # One lock per events file: reading or rewriting one group's file holds up no other group's PutEvents.
        self._events_locks: dict[str, threading.Lock] = {}
        self._events_locks_guard = threading.Lock()
        self.resources: dict[str, dict[str, dict[str, Any]]] = {kind: {} for kind in KINDS}
        path = self.data_dir / "resources.json"
        if path.exists():
            saved = _read_resources(path)
            for kind in KINDS:
                self.resources[kind].update(saved.get(kind, {}))
        self._check_data_files()

    def save(self) -> None:
        with self.lock:
            text = json.dumps(self.resources, indent=1, sort_keys=True)
            _atomic_write(self.data_dir / "resources.json", text)

    # ---- resources ------------------------------------------------------------------------------------------

    def get(self, kind: str, arn: str) -> dict[str, Any] | None:
        return self.resources[kind].get(arn)

    # Readers (get, all) take no lock, so serving never waits on a writer's save (a json dump and an fsync): a
    # writer replaces a kind's dict with a new one instead of resizing the one a reader may be iterating.

    def put(self, kind: str, record: dict[str, Any], arn: str) -> None:
        with self.lock:
            self.resources[kind] = {**self.resources[kind], arn: record}
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
            self.resources[kind] = {key: record for key, record in self.resources[kind].items() if key != arn}
            self.save()

    def all(self, kind: str) -> list[dict[str, Any]]:
        return list(self.resources[kind].values())

    # ---- checks at start ---------------------------------------------------------------------------------------

    def _check_data_files(self) -> None:
        """Drop a cut last line of streamed events; fail the resource whose bulk data or model file is damaged."""
        for leftover in (
            *self.data_dir.glob("resources.json.tmp"),
            *self.data_dir.glob("datasets/*/*.tmp"),
            *self.data_dir.glob("models/*.tmp.npz"),
            *self.data_dir.glob("training/*"),  # a training's copy of the events, made for it alone
        ):
            # A write the last run did not finish; the file it was to replace is whole.
            log.warning("removing %s, left by a write that did not finish", leftover)
            leftover.unlink(missing_ok=True)
        for appended in sorted(
            [*self.data_dir.glob("datasets/*/events.csv"), *self.data_dir.glob("datasets/*/records.jsonl")]
        ):
            _drop_partial_last_line(appended)
        for arn in list(self.resources[DATASET]):
            path = self.data_dir / "datasets" / resource_key(arn) / "bulk.csv"
            problem = _csv_problem(path) if path.exists() else None
            if problem:
                reason = (
                    f"The dataset's data file {path} is damaged ({problem}); it was moved aside as "
                    f"{path.name}.damaged. Import the data again with a FULL import."
                )
                self._quarantine(DATASET, arn, path, reason, _hasBulk=False, _damaged=True)
        for arn, version in list(self.resources[SOLUTION_VERSION].items()):
            path = self.model_path(arn)
            if version.get("status") != ACTIVE:
                continue
            problem = "it is missing" if not path.exists() else _model_problem(path)
            if problem:
                reason = (
                    f"The trained model file {path} cannot be read ({problem}); the endpoint cannot serve this "
                    "version. Train a new solution version."
                )
                self._quarantine(SOLUTION_VERSION, arn, path, reason)

    def _quarantine(self, kind: str, arn: str, path: Path, reason: str, **changes: Any) -> None:
        log.error("%s %s: %s", kind, arn, reason)
        if path.exists():
            os.replace(path, path.with_name(path.name + ".damaged"))
        self.update(kind, arn, status=CREATE_FAILED, failureReason=reason, **changes)

    # ---- data files -----------------------------------------------------------------------------------------

    def dataset_dir(self, dataset_arn: str) -> Path:
        path = self.data_dir / "datasets" / resource_key(dataset_arn)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def training_dir(self) -> Path:
        """Where a training process finds its copy of the streamed events (removed when it ends)."""
        path = self.data_dir / "training"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def model_path(self, solution_version_arn: str) -> Path:
        return self.data_dir / "models" / f"{resource_key(solution_version_arn)}.npz"

    def bulk_path(self, dataset_arn: str) -> Path:
        return self.dataset_dir(dataset_arn) / "bulk.csv"

    def read_bulk(self, dataset_arn: str) -> pd.DataFrame | None:
        return read_data_file(self.bulk_path(dataset_arn))

    def write_bulk(self, dataset_arn: str, frame: pd.DataFrame) -> None:
        _atomic_write_csv(self.dataset_dir(dataset_arn) / "bulk.csv", frame)

    def _events_lock(self, dataset_arn: str) -> threading.Lock:
        with self._events_locks_guard:
            return self._events_locks.setdefault(dataset_arn, threading.Lock())

    def append_events(self, dataset_arn: str, rows: list[dict[str, str]]) -> None:
        path = self.dataset_dir(dataset_arn) / "events.csv"
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=EVENT_COLUMNS, lineterminator="\n")
        with self._events_lock(dataset_arn):
            if not path.exists():
                writer.writeheader()
            writer.writerows(rows)
            _append_whole(path, buffer.getvalue().encode("utf-8"))

    def read_events(self, dataset_arn: str) -> pd.DataFrame | None:
        import pandas as pd

        path = self.dataset_dir(dataset_arn) / "events.csv"
        with self._events_lock(dataset_arn):
            if not path.exists():
                return None
            # PutEvents waits for the copy only, not the parse (it is answered on the endpoint's event loop).
            data = path.read_bytes()
        return pd.read_csv(io.BytesIO(data), dtype="str", keep_default_na=False, na_filter=False)

    def copy_events(self, dataset_arn: str, target: Path) -> bool:
        """Copy the events file as it stands to ``target`` (whole lines only); False if there is none."""
        path = self.dataset_dir(dataset_arn) / "events.csv"
        with self._events_lock(dataset_arn):
            if not path.exists():
                return False
            shutil.copyfile(path, target)  # a kernel copy: PutEvents waits for it, without a GIL held
        return True

    def append_records(self, dataset_arn: str, rows: list[dict[str, str]]) -> None:
        """Items or users sent one by one (PutItems/PutUsers), kept beside the bulk data in one whole append."""
        data = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")
        with self._events_lock(dataset_arn):
            _append_whole(self.dataset_dir(dataset_arn) / "records.jsonl", data)

    def has_records(self, dataset_arn: str) -> bool:
        """Whether PutItems/PutUsers sent any record to the dataset (its records file exists)."""
        return (self.dataset_dir(dataset_arn) / "records.jsonl").exists()

    def read_records(self, dataset_arn: str) -> pd.DataFrame | None:
        """The records PutItems/PutUsers sent, oldest first (strings, '' = null); None when there are none."""
        import pandas as pd

        path = self.dataset_dir(dataset_arn) / "records.jsonl"
        with self._events_lock(dataset_arn):
            if not path.exists():
                return None
            lines = path.read_text(encoding="utf-8").splitlines()
        rows = [json.loads(line) for line in lines if line]
        return pd.DataFrame(rows, dtype="str").fillna("") if rows else None

    def read_current(self, dataset_arn: str, key: str) -> pd.DataFrame | None:
        """A Users or Items dataset as it stands: the bulk data, each record sent since replacing its id's row."""
        import pandas as pd

        bulk, records = self.read_bulk(dataset_arn), self.read_records(dataset_arn)
        if records is None:
            return bulk
        latest = records.drop_duplicates(subset=[key], keep="last")
        if bulk is None:
            return latest.reset_index(drop=True)
        kept = bulk[~bulk[key].isin(latest[key])]
        return pd.concat([kept, latest.reindex(columns=bulk.columns, fill_value="")], ignore_index=True)

    def remove_records(self, dataset_arn: str, key: str, ids: set[str]) -> int:
        """Rewrite the dataset's records file without those ids' records (a data deletion); the number removed."""
        path = self.dataset_dir(dataset_arn) / "records.jsonl"
        with self._events_lock(dataset_arn):
            if not path.exists():
                return 0
            lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line]
            kept = [line for line in lines if json.loads(line).get(key) not in ids]
            if len(kept) != len(lines):
                _atomic_write(path, "".join(line + "\n" for line in kept))
            return len(lines) - len(kept)

    def remove_events(self, dataset_arn: str, select: Callable[[pd.DataFrame], pd.Series]) -> int:
        """Rewrite the events file without the rows ``select`` marks; the number removed.

        PutEvents waits meanwhile, so no event streamed during the rewrite is lost.
        """
        import pandas as pd

        path = self.dataset_dir(dataset_arn) / "events.csv"
        with self._events_lock(dataset_arn):
            if not path.exists():
                return 0
            events = pd.read_csv(path, dtype="str", keep_default_na=False, na_filter=False)
            removed = select(events)
            count = int(removed.sum())
            if count:
                _atomic_write_csv(path, events[~removed])
            return count


def read_data_file(path: Path) -> pd.DataFrame | None:
    """A bulk data or events file as strings ('' for null); None if there is none."""
    import pandas as pd

    if not path.exists():
        return None
    return pd.read_csv(path, dtype="str", keep_default_na=False, na_filter=False)


def _atomic_write_csv(path: Path, frame: pd.DataFrame) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as handle:
        frame.to_csv(handle, index=False, lineterminator="\n")
        # On disk before it replaces the old file: after a power loss the file is the old one or the new one.
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    sync_folder(path.parent)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk: the old file stands; leave no half-written copy beside it
        raise
    sync_folder(path.parent)


def sync_folder(folder: Path) -> None:
    """Flush a folder's entries, so a file just renamed into it is still there after a power loss."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:  # some platforms cannot open a folder; the rename itself is still atomic
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _append_whole(path: Path, data: bytes) -> None:
    """Append ``data`` with one write on an O_APPEND descriptor: other appends never land inside it, and a crash
    leaves all of it or (on file systems that tear writes) a cut last line, which the next start drops."""
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        written = os.write(descriptor, data)
        while written < len(data):  # a short write (a full disk, a signal): finish it, never leave half a line
            written += os.write(descriptor, data[written:])
    finally:
        os.close(descriptor)


def _read_resources(path: Path) -> dict[str, Any]:
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StateFileError(
            f"{path} is damaged and the endpoint cannot start from it ({exc}); every resource of the endpoint is "
            "recorded there, so restore it from a backup, or move the data directory aside to start empty"
        ) from exc
    if not isinstance(saved, dict):
        raise StateFileError(f"{path} is damaged: it holds {type(saved).__name__}, not an object of resources")
    return saved


def _drop_partial_last_line(path: Path) -> None:
    """Cut ``path`` back to its last complete line, with a warning, when a crash left half a line at its end."""
    with path.open("rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return
        # Look back for the last newline; streamed event lines are short, the loop reads a few blocks at most.
        end = size
        keep = 0
        while end > 0:
            start = max(0, end - 65536)
            handle.seek(start)
            block = handle.read(end - start)
            position = block.rfind(b"\n")
            if position >= 0:
                keep = start + position + 1
                break
            end = start
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())
    log.warning("%s ended in a partial line (%d bytes, cut by a crash mid-append); it was dropped", path, size - keep)


def _csv_problem(path: Path) -> str | None:
    """Why a CSV the store wrote is damaged: cut short (no final newline, or a last line with too few columns)."""
    with path.open("rb") as handle:
        header = handle.readline()
        if not header.endswith(b"\n"):
            return "the header line is cut short"
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(len(header), size - 65536))
        tail = handle.read()
    if not tail:
        return None
    if not tail.endswith(b"\n"):
        return "its last line is cut short (no line end)"
    last = tail[:-1].rsplit(b"\n", 1)[-1].decode("utf-8", errors="replace")
    columns = len(next(csv.reader([header.decode("utf-8", errors="replace")])))
    found = len(next(csv.reader([last]), []))
    if found != columns:
        return f"its last line has {found} of {columns} columns"
    return None


def _model_problem(path: Path) -> str | None:
    """Why a saved model (an npz, a zip archive) cannot be read, or None; checks every member's CRC."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return f"member {bad} is corrupt" if bad else None


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
