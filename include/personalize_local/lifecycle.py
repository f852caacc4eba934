"""The status engine: resources move through the service's statuses on the scheduler, as the kinds table says.

A created resource is pending (CREATE PENDING; a data deletion job PENDING); ``status_delay`` seconds later it is in
progress, and then either the step simply takes another ``status_delay`` or, for kinds with a worker pool (import
jobs, data deletion jobs, solution versions), the kind's work runs on that pool (:meth:`Lifecycle.set_work`;
jobs rewriting the same dataset take :class:`Turns`, training runs in a process of its own). It
ends done (ACTIVE; COMPLETED), taking on the members the work returned, or failed (CREATE FAILED; FAILED) with the
work's :class:`WorkFailed` message as ``failureReason``. Deletes pass DELETE PENDING. In-place updates
(``latestCampaignUpdate``, ``latestDatasetUpdate``) move through their own CREATE PENDING → CREATE IN_PROGRESS →
ACTIVE, and the kind's applier (:meth:`Lifecycle.set_update`) says what the resource takes on at ACTIVE. Other
modules hear of a resource becoming done or an update applied through listeners, so this engine knows no kind by
name. On start, :meth:`Lifecycle.resume` picks up every step that was pending when the endpoint stopped; work that
was in progress starts again, up to :data:`MAX_RESUMES` times, after which the resource fails with a reason saying
the endpoint kept restarting mid-job (never IN_PROGRESS forever).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from personalize_local import errors
from personalize_local.faults import Faults
from personalize_local.kinds import (
    ACTIVE,
    CREATE_FAILED,
    CREATE_IN_PROGRESS,
    CREATE_PENDING,
    DELETE_PENDING,
    DELETING,
    IN_FLIGHT,
    KINDS,
)
from personalize_local.state import Scheduler, StateStore

log = logging.getLogger(__name__)

#: Work for a resource's in-progress step: takes the resource's ARN, returns the members the resource takes on when
#: done (or None), raises WorkFailed to fail it.
Work = Callable[[str], dict[str, Any] | None]
#: Given the resource and its update, the members the resource takes on at ACTIVE; raises UpdateFailed.
Applier = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]
Listener = Callable[[str], None]
#: Given the resource and its update, slow work done before the update takes effect (loading a model), no lock held.
Preparer = Callable[[dict[str, Any], dict[str, Any]], None]


#: How often a resource's work is resumed after the endpoint stopped mid-way before it is failed instead.
MAX_RESUMES = 3
#: Workers per pool, where more than one: the import pool's jobs wait on S3 most of the time.
POOL_WORKERS = {"import": 8}


class WorkFailed(Exception):
    """An import or training failure whose message is the failureReason to show."""


class UpdateFailed(Exception):
    """An in-place update that cannot be applied; the message is its failureReason."""


class Turns:
    """Jobs that rewrite the same files take turns, in the order they asked; jobs on other files never wait.

    A job reserves its keys (dataset ARNs) when it starts, does what needs no turn (reading S3), then waits for its
    turn on every key it reserved; leaving the reservation gives its turns to the next job, even when it failed.
    """

    def __init__(self) -> None:
        self._queues: dict[str, list[object]] = {}
        self._condition = threading.Condition()

    @contextmanager
    def reserve(self, keys: Iterable[str]) -> Iterator[Callable[[], None]]:
        """Queue up on ``keys``; the block gets ``wait_turn()``, which returns once the job is first on each."""
        token = object()
        keys = sorted(set(keys))
        with self._condition:
            # All keys at once: every queue holds the jobs in one order, so no two jobs wait for each other.
            for key in keys:
                self._queues.setdefault(key, []).append(token)

        def wait_turn() -> None:
            with self._condition:
                self._condition.wait_for(lambda: all(self._queues[key][0] is token for key in keys))

        try:
            yield wait_turn
        finally:
            with self._condition:
                for key in keys:
                    queue = self._queues[key]
                    queue.remove(token)
                    if not queue:
                        del self._queues[key]
                self._condition.notify_all()


def now() -> float:
    return round(time.time(), 3)


class Lifecycle:
    def __init__(self, store: StateStore, scheduler: Scheduler, status_delay: float) -> None:
        self.store = store
        self.scheduler = scheduler
        self.delay = status_delay
        names = sorted({kind.pool for kind in KINDS.values() if kind.pool})
        # Trainings run one at a time, as memory allows. Jobs that rewrite a dataset's files (imports, data
        # deletions) run side by side, so one whose S3 read hangs holds up no other, and take turns per dataset
        # (self.turns) for the rewrite, so two never interleave on the same files.
        self._pools = {
            name: ThreadPoolExecutor(max_workers=POOL_WORKERS.get(name, 1), thread_name_prefix=f"personalize-{name}")
            for name in names
        }
        self.turns = Turns()
        self._work: dict[str, Work] = {}
        self._appliers: dict[str, Applier] = {}
        self._preparers: dict[str, Preparer] = {}
        self._when_active: dict[str, list[Listener]] = defaultdict(list)
        self._when_updated: dict[str, list[Listener]] = defaultdict(list)
        #: Test-only fault switches (off unless PERSONALIZE_LOCAL_FAULTS is set); the service asks it per call.
        self.faults = Faults.from_environment()
        from personalize_local.work_process import WorkProcesses  # it raises this module's WorkFailed

        #: Work too heavy for the endpoint's process (training) runs in processes of its own, through these.
        self.processes = WorkProcesses()

    def close(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)
        self.processes.close()

    # ---- what other modules plug in -------------------------------------------------------------------------

    def set_work(self, kind: str, work: Work) -> None:
        self._work[kind] = work

    def set_update(self, kind: str, applier: Applier, prepare: Preparer | None = None) -> None:
        self._appliers[kind] = applier
        if prepare is not None:
            self._preparers[kind] = prepare

    def when_active(self, kind: str, listener: Listener) -> None:
        """Call ``listener(arn)`` when a resource of ``kind`` is done (ACTIVE, or COMPLETED for a job)."""
        self._when_active[kind].append(listener)

    def when_updated(self, kind: str, listener: Listener) -> None:
        """Call ``listener(arn)`` when an in-place update of a resource of ``kind`` becomes ACTIVE."""
        self._when_updated[kind].append(listener)

    # ---- create, delete ---------------------------------------------------------------------------------------

    def create(self, kind: str, arn: str, record: dict[str, Any]) -> None:
        """Store a new resource, pending if its kind has a lifecycle; ResourceAlreadyExists if it exists."""
        lifecycle = KINDS[kind].lifecycle
        with self.store.lock:
            if self.store.get(kind, arn) is not None:
                raise errors.ResourceAlreadyExistsError(f"Resource {arn} already exists.")
            created = now()
            record.update(creationDateTime=created, lastUpdatedDateTime=created)
            if lifecycle:
                record["status"] = KINDS[kind].statuses.pending
            self.store.put(kind, record, arn)
        if lifecycle:
            self.scheduler.call_later(self.delay, lambda: self._step_in_progress(kind, arn))

    def start_delete(self, kind: str, arn: str, cleanup: Callable[[], None] | None = None) -> None:
        self.store.update(kind, arn, status=DELETE_PENDING)

        def remove() -> None:
            self.store.remove(kind, arn)
            if cleanup is not None:
                cleanup()

        self.scheduler.call_later(self.delay, remove)

    # ---- the create steps -----------------------------------------------------------------------------------

    def _step_in_progress(self, kind: str, arn: str) -> None:
        statuses = KINDS[kind].statuses
        record = self.store.get(kind, arn)
        if record is None or record.get("status") not in statuses.in_flight:
            return
        self.store.update(kind, arn, status=statuses.in_progress)
        pool = KINDS[kind].pool
        if pool is None:
            self.scheduler.call_later(self.delay, lambda: self._finish(kind, arn, None, {}))
            return
        self._pools[pool].submit(self._run_work, kind, arn, self._work[kind])

    def _run_work(self, kind: str, arn: str, work: Work) -> None:
        error, results = None, {}
        self.faults.before_work(kind)
        try:
            results = work(arn) or {}
        except WorkFailed as exc:
            error = str(exc)
        except Exception as exc:
            log.exception("%s %s failed", kind, arn)
            error = f"Internal error in the local endpoint: {type(exc).__name__}: {exc}"
        self.scheduler.call_later(self.delay, lambda: self._finish(kind, arn, error, results))

    def _finish(self, kind: str, arn: str, error: str | None, results: dict[str, Any]) -> None:
        statuses = KINDS[kind].statuses
        if self.store.get(kind, arn) is None:
            return
        if error:
            self.store.update(kind, arn, status=statuses.failed, failureReason=error)
            return
        # One update: the work's results never show before the done status, nor the status without them.
        self.store.update(kind, arn, status=statuses.done, **results)
        for listener in self._when_active[kind]:
            listener(arn)

    # ---- in-place updates -------------------------------------------------------------------------------------

    def start_update(self, kind: str, arn: str, changes: dict[str, Any]) -> None:
        """Record ``changes`` as the resource's pending update; they take effect when it reaches ACTIVE."""
        created = now()
        update = {**changes, "status": CREATE_PENDING, "creationDateTime": created, "lastUpdatedDateTime": created}
        self.store.update(kind, arn, **{KINDS[kind].update_key: update})
        self.scheduler.call_later(self.delay, lambda: self._update_step(kind, arn))

    def update_in_flight(self, kind: str, record: dict[str, Any]) -> bool:
        update = record.get(KINDS[kind].update_key)
        return bool(update) and update.get("status") in IN_FLIGHT

    def _update_step(self, kind: str, arn: str) -> None:
        """CREATE PENDING → CREATE IN_PROGRESS → ACTIVE; the resource takes on the update only at ACTIVE."""
        key = KINDS[kind].update_key
        record = self.store.get(kind, arn)
        prepare = self._preparers.get(kind)
        if prepare is not None and record and (record.get(key) or {}).get("status") == CREATE_IN_PROGRESS:
            # Before the lock, so nothing waits on it: the update's model is loaded before the resource serves it.
            prepare(record, dict(record[key]))
        with self.store.lock:
            record = self.store.get(kind, arn)
            if record is None or not record.get(key):
                return
            update = dict(record[key])
            if update["status"] == CREATE_PENDING:
                update.update(status=CREATE_IN_PROGRESS, lastUpdatedDateTime=now())
                self.store.update(kind, arn, **{key: update})
                self.scheduler.call_later(self.delay, lambda: self._update_step(kind, arn))
                return
            if update["status"] != CREATE_IN_PROGRESS:
                return
            try:
                changes = self._appliers[kind](record, update)
            except UpdateFailed as exc:
                update.update(status=CREATE_FAILED, failureReason=str(exc))
                self.store.update(kind, arn, **{key: update})
                return
            update.update(status=ACTIVE, lastUpdatedDateTime=now())
            self.store.update(kind, arn, **{key: update}, **changes)
        for listener in self._when_updated[kind]:
            listener(arn)

    # ---- restart ----------------------------------------------------------------------------------------------

    def resume(self) -> None:
        """Pick up every step that was pending when the endpoint last stopped."""
        for kind in self.store.resources:
            spec = KINDS[kind]
            for arn, record in list(self.store.resources[kind].items()):
                status = record.get("status")
                if status == spec.statuses.in_progress:
                    restarts = record.get("_restarts", 0) + 1
                    if restarts > MAX_RESUMES:
                        # Work that dies with the endpoint every time (a crash, an out-of-memory kill) must end,
                        # not leave the resource IN_PROGRESS forever, taking the endpoint down on every start.
                        reason = (
                            f"The local endpoint restarted while this {kind} was in progress, {restarts} times; "
                            "it was not resumed again. Check the endpoint's log, then create it anew."
                        )
                        self.store.update(kind, arn, status=spec.statuses.failed, failureReason=reason)
                        log.error("%s %s: %s", kind, arn, reason)
                        continue
                    # Its work (if any) was lost with the process: start the step again; outputs are atomic, and
                    # work that changes data in several files is written to be run again (see ops_data_deletion).
                    log.warning("%s %s was in progress when the endpoint stopped; resuming it", kind, arn)
                    self.store.update(kind, arn, status=spec.statuses.pending, _restarts=restarts)
                if status in spec.statuses.in_flight:
                    self.scheduler.call_later(self.delay, lambda k=kind, a=arn: self._step_in_progress(k, a))
                elif status in DELETING:
                    self.scheduler.call_later(self.delay, lambda k=kind, a=arn: self.store.remove(k, a))
                if spec.update_key and self.update_in_flight(kind, record):
                    self.scheduler.call_later(self.delay, lambda k=kind, a=arn: self._update_step(k, a))
