"""Who must leave Personalize, and what the pipeline remembers of it: the rules of the daily deletion.

A member who withdraws (or whose account becomes a test account) stops being exported at once, but what was
imported before, and her PutEvents clicks, stay in Personalize until a data deletion job removes them. The daily run
compares the members who departed (``departed_members.sql``) with its manifest, a small JSON document on S3 that
records every member a completed deletion job removed and the job still in flight, and deletes the others:

- a member is deleted once: a rerun or a backfill finds her in the manifest and starts no second job;
- a job that failed leaves its members out of the manifest, so the next run retries them (and says why it failed);
- a full reload replaces the bulk data but not the events, so it deletes every departed member again;
- the job is named after the window and the list it deletes (``DeletionJobName``), so a rerun with the same list
  adopts the job instead of starting another.

``read_departed_members`` runs the query; nothing here touches S3 or Personalize (the Airflow glue,
``pulla_airflow.deletions``, reads and writes the manifest and runs the job).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pulla_personalize.windows import NAME_MAX_LENGTH

MANIFEST_VERSION = 1
#: The statuses of a data deletion job (PENDING > IN_PROGRESS > COMPLETED or FAILED).
COMPLETED, FAILED = "COMPLETED", "FAILED"
DEPARTURE_REASONS = ("withdrawn", "test")


class ManifestError(ValueError):
    """The manifest on S3 is not one this pipeline wrote; the message names the key that is wrong."""


@dataclass(frozen=True)
class DeletionJobName:
    """``pulla-deletion-20261127-1a2b3c4d``: the dataset group, the window and a fingerprint of the members."""

    dataset_group: str
    label: str
    fingerprint: str

    def __post_init__(self) -> None:
        if len(str(self)) > NAME_MAX_LENGTH:
            raise ValueError(f"deletion job name {str(self)!r} is longer than Personalize's {NAME_MAX_LENGTH}")

    def __str__(self) -> str:
        return f"{self.dataset_group}-deletion-{self.label}-{self.fingerprint}"


@dataclass(frozen=True)
class PendingDeletion:
    """A deletion job started and not yet seen COMPLETED: its members are deleted only once it completes."""

    job_name: str
    label: str
    users: tuple[str, ...]


@dataclass(frozen=True)
class DeletionManifest:
    """Every member a completed job deleted (member id → the job's name), and the job in flight, if any."""

    deleted: dict[str, str] = field(default_factory=dict)
    pending: PendingDeletion | None = None

    def to_document(self) -> dict[str, Any]:
        pending = self.pending
        return {
            "version": MANIFEST_VERSION,
            "deleted": dict(sorted(self.deleted.items(), key=lambda item: _natural(item[0]))),
            "pending": None
            if pending is None
            else {"job_name": pending.job_name, "label": pending.label, "users": list(pending.users)},
        }

    @classmethod
    def from_document(cls, document: Any, where: str) -> DeletionManifest:
        """The manifest of a parsed JSON document; ``where`` (its S3 URI) names it in errors."""
        if not isinstance(document, Mapping) or document.get("version") != MANIFEST_VERSION:
            raise ManifestError(f"{where}: not a deletion manifest of version {MANIFEST_VERSION}")
        deleted = document.get("deleted")
        if not isinstance(deleted, Mapping) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in deleted.items()
        ):
            raise ManifestError(f"{where}: deleted: must map member ids to job names")
        pending = document.get("pending")
        if pending is not None:
            users = pending.get("users") if isinstance(pending, Mapping) else None
            if (
                not isinstance(users, list)
                or not all(isinstance(user, str) for user in users)
                or not isinstance(pending.get("job_name"), str)
                or not isinstance(pending.get("label"), str)
            ):
                raise ManifestError(f"{where}: pending: must hold job_name, label and the users of the job")
            return cls(dict(deleted), PendingDeletion(pending["job_name"], pending["label"], tuple(users)))
        return cls(dict(deleted))


@dataclass(frozen=True)
class DeletionPlan:
    """The members this run deletes (sorted), why they departed, and which of them an earlier failed job missed."""

    users: tuple[str, ...]
    reasons: dict[str, int]
    retried: tuple[str, ...]
    job_name: str | None

    def as_dict(self) -> dict[str, Any]:
        """For XCom: counts and the job name, never the member ids (they stay in the file the job reads)."""
        return {
            "users": len(self.users),
            "reasons": dict(self.reasons),
            "retried": len(self.retried),
            "job_name": self.job_name,
        }


def departed_members(rows: Iterable[tuple[Any, Any]]) -> dict[str, str]:
    """member id (as Personalize's USER_ID text) → withdrawn or test, from the rows of departed_members.sql."""
    departed: dict[str, str] = {}
    for member_id, reason in rows:
        if member_id is None:
            continue  # a member without an id never reached Personalize
        if reason not in DEPARTURE_REASONS:
            raise ValueError(
                f"departed_members.sql: member {member_id}: reason {reason!r} is not one of {DEPARTURE_REASONS}"
            )
        departed[str(member_id).strip()] = reason
    return departed


def read_departed_members(db_url: str, end_local: Any) -> dict[str, str]:
    """The departed members of the source database as of ``end_local`` (a naive local datetime, excluded).

    Raises ``SourceUnavailable`` naming the query and the database's message when it cannot be read.
    """
    import sqlalchemy as sa

    from pulla_personalize.copy_reader import first_line
    from pulla_personalize.extract import SourceUnavailable, check_connection, check_sqlite_file, make_engine
    from pulla_personalize.queries import DEPARTED_MEMBERS_QUERY, load_query

    engine = make_engine(db_url)
    try:
        check_sqlite_file(engine)
        check_connection(engine)
        with engine.connect() as connection:
            rows = connection.execute(load_query(DEPARTED_MEMBERS_QUERY), {"end": end_local}).all()
    except sa.exc.DBAPIError as error:
        reason = first_line(error.orig or error)
        raise SourceUnavailable(f"{DEPARTED_MEMBERS_QUERY}.sql failed on {engine.dialect.name}: {reason}") from None
    finally:
        engine.dispose()
    return departed_members(rows)


def plan_deletion(
    departed: Mapping[str, str],
    manifest: DeletionManifest,
    *,
    full_reload: bool,
    label: str,
    dataset_group: str,
    failed_users: Iterable[str] = (),
) -> DeletionPlan:
    """The members to delete now: every departed member a completed job has not deleted, or every departed member
    after a full reload (the events PutEvents recorded survive a FULL import). ``failed_users`` are the members of
    an earlier job that failed (reported as retried)."""
    if full_reload:
        users = sorted(departed, key=_natural)
    else:
        users = sorted((user for user in departed if user not in manifest.deleted), key=_natural)
    failed = set(failed_users)
    reasons = Counter(departed[user] for user in users)
    job_name = str(DeletionJobName(dataset_group, label, fingerprint(users))) if users else None
    return DeletionPlan(
        users=tuple(users),
        reasons={reason: reasons[reason] for reason in DEPARTURE_REASONS if reasons[reason]},
        retried=tuple(user for user in users if user in failed),
        job_name=job_name,
    )


def fingerprint(users: Iterable[str]) -> str:
    """8 hex digits of the SHA-256 of the list: the same members give the same job, other members another."""
    return hashlib.sha256("\n".join(users).encode()).hexdigest()[:8]


def users_file(users: Iterable[str]) -> bytes:
    """The CSV CreateDataDeletionJob reads: a USER_ID header, one member id a line."""
    return ("USER_ID\n" + "".join(f"{user}\n" for user in users)).encode()


def start(manifest: DeletionManifest, plan: DeletionPlan, label: str) -> DeletionManifest:
    """The manifest with the plan's job in flight (written before the job starts, so a crash forgets nothing)."""
    if plan.job_name is None:
        return manifest
    return DeletionManifest(dict(manifest.deleted), PendingDeletion(plan.job_name, label, plan.users))


def settle(manifest: DeletionManifest, job_name: str, status: str) -> DeletionManifest:
    """The manifest once the job in flight is seen in ``status``: COMPLETED adds its members to the deleted ones,
    FAILED forgets the job (its members are planned again), anything else keeps it pending."""
    pending = manifest.pending
    if pending is None or pending.job_name != job_name:
        return manifest
    if status == COMPLETED:
        deleted = dict(manifest.deleted)
        deleted.update(dict.fromkeys(pending.users, job_name))
        return DeletionManifest(deleted)
    if status == FAILED:
        return DeletionManifest(dict(manifest.deleted))
    return manifest


def _natural(member_id: str) -> tuple[int, int, str]:
    """Numeric ids in numeric order, then any other text (ids are text to Personalize)."""
    return (0, int(member_id), "") if member_id.isdigit() else (1, 0, member_id)
